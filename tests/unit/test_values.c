/*
 * Unit tests for app/values: the id parser every route, data input and
 * handler message goes through (canonical decimal from 1 to INT64_MAX,
 * nothing else), its messages, and the number parsers beside it.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "app/model/values.h"

static int parse(const char *text, int64_t *out, const char **why)
{
    return mt_value_parse_id(text, strlen(text), out, why);
}

Test(values, canonical_ids_parse)
{
    static const struct {
        const char *text;
        int64_t id;
    } cases[] = {
        {"1", 1}, {"9", 9}, {"10", 10}, {"42", 42}, {"100000", 100000},
        {"9223372036854775807", INT64_MAX}, {"9223372036854775806", INT64_MAX - 1},
        {"1000000000000000000", 1000000000000000000LL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t id = -7;
        const char *why = "untouched";
        cr_assert_eq(parse(cases[i].text, &id, &why), 0, "%s", cases[i].text);
        cr_assert_eq(id, cases[i].id, "%s", cases[i].text);
        cr_assert_str_eq(why, "untouched");
    }
}

Test(values, every_other_spelling_is_refused_and_out_is_untouched)
{
    static const struct {
        const char *text;
        int rc;
        const char *why; /* a part of the reason */
    } cases[] = {
        {"", -EINVAL, "empty"},
        {"0", -EINVAL, "from 1 up"},
        {"00", -EINVAL, "leading zeros"},
        {"01", -EINVAL, "leading zeros"},
        {"007", -EINVAL, "leading zeros"},
        {"+1", -EINVAL, "without sign"},
        {"-1", -EINVAL, "without sign"},
        {"-0", -EINVAL, "without sign"},
        {" 1", -EINVAL, "blank"},
        {"1 ", -EINVAL, "blank"},
        {"1\t", -EINVAL, "blank"},
        {"\n1", -EINVAL, "blank"},
        {"0x1f", -EINVAL, "digits only"},
        {"1f", -EINVAL, "digits only"},
        {"1e3", -EINVAL, "digits only"},
        {"1.0", -EINVAL, "digits only"},
        {"abc", -EINVAL, "digits only"},
        {"1_000", -EINVAL, "digits only"},
        {"\xd9\xa1", -EINVAL, "digits only"}, /* ARABIC-INDIC DIGIT ONE */
        {"9223372036854775808", -ERANGE, "at most 9223372036854775807"},
        {"9223372036854775810", -ERANGE, "at most 9223372036854775807"},
        {"18446744073709551616", -ERANGE, "at most 9223372036854775807"},
        {"99999999999999999999", -ERANGE, "at most 9223372036854775807"},
        {"999999999999999999999999999999999999999999", -ERANGE, "at most"},
        {"99999999999999999999x", -EINVAL, "digits only"}, /* the stray character is the better reason */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t id = -7;
        const char *why = NULL;
        cr_assert_eq(parse(cases[i].text, &id, &why), cases[i].rc, "'%s'", cases[i].text);
        cr_assert_eq(id, -7, "'%s' changed *out", cases[i].text);
        cr_assert(why && strstr(why, cases[i].why), "'%s': %s", cases[i].text, why ? why : "(none)");
    }
}

Test(values, the_length_bounds_the_text_and_a_nul_is_refused)
{
    int64_t id = 0;
    cr_assert_eq(mt_value_parse_id("123", 2, &id, NULL), 0); /* bytes beyond len are not read */
    cr_assert_eq(id, 12);
    cr_assert_eq(mt_value_parse_id("1\0" "2", 3, &id, NULL), -EINVAL);
    cr_assert_eq(mt_value_parse_id("5", 0, &id, NULL), -EINVAL);
    cr_assert_eq(id, 12);
}

Test(values, the_message_names_the_value_as_given_and_why)
{
    char msg[256];
    cr_assert_str_eq(mt_value_id_error("01", 2, "job", msg, sizeof msg),
                     "'01' is not a job id: ids are decimal numbers without leading zeros");
    cr_assert_str_eq(mt_value_id_error("+1", 2, "invocation", msg, sizeof msg),
                     "'+1' is not an invocation id: ids are decimal digits only, without sign, blank or other character");
    cr_assert_str_eq(mt_value_id_error("99999999999999999999", 20, "job", msg, sizeof msg),
                     "'99999999999999999999' is not a job id: ids are at most 9223372036854775807");
    cr_assert_str_eq(mt_value_id_error("", 0, "job", msg, sizeof msg),
                     "'' is not a job id: ids are decimal numbers from 1 up, and this one is empty");
    /* control bytes are escaped: the message stays on one line */
    cr_assert_str_eq(mt_value_id_error("1\n", 2, "job", msg, sizeof msg),
                     "'1\\n' is not a job id: ids are decimal digits only, without sign, blank or other character");
    /* a short buffer truncates, never overflows */
    char small[8];
    mt_value_id_error("01", 2, "job", small, sizeof small);
    cr_assert_str_eq(small, "'01' is");
}

Test(values, integers_and_floats)
{
    json_int_t i = 0;
    cr_assert_eq(mt_value_parse_int("-12", &i), 0);
    cr_assert_eq(i, -12);
    cr_assert_eq(mt_value_parse_int("+12", &i), -1);
    cr_assert_eq(mt_value_parse_int("99999999999999999999", &i), -ERANGE);
    double d = 0;
    cr_assert_eq(mt_value_parse_float("2.5e1", &d), 0);
    cr_assert_float_eq(d, 25.0, 1e-12);
    cr_assert_eq(mt_value_parse_float("1e999", &d), -ERANGE);
    cr_assert_eq(mt_value_parse_float("nan", &d), -1);
}
