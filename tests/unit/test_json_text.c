/*
 * Unit tests for common/json_text: every text the writer produces is read
 * back with jansson, so "valid JSON" is checked by the library, not by us.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "common/json_text.h"

/* The writer's text, parsed; fails the test if it is not JSON. */
static json_t *parse(const mt_json_text_t *w)
{
    json_error_t e;
    json_t *v = json_loadb(w->data, w->len, JSON_DECODE_ANY, &e);
    cr_assert_not_null(v, "not JSON (%s): %.*s", e.text, (int)w->len, w->data);
    return v;
}

Test(json_text, an_object_with_every_kind_of_value)
{
    mt_json_text_t w;
    mt_json_text_init(&w, NULL, 0);
    mt_json_text_begin_object(&w);
    mt_json_text_key(&w, "s");
    mt_json_text_string(&w, "text");
    mt_json_text_key(&w, "n");
    mt_json_text_int(&w, INT64_MIN);
    mt_json_text_key(&w, "z");
    mt_json_text_null(&w);
    mt_json_text_key(&w, "absent");
    mt_json_text_string(&w, NULL);
    mt_json_text_key(&w, "a");
    mt_json_text_begin_array(&w);
    mt_json_text_int(&w, 1);
    mt_json_text_begin_object(&w);
    mt_json_text_end_object(&w);
    mt_json_text_begin_array(&w);
    mt_json_text_end_array(&w);
    mt_json_text_end_array(&w);
    mt_json_text_end_object(&w);
    cr_assert(mt_json_text_ok(&w));
    cr_assert_eq(w.len, strlen("{\"s\":\"text\",\"n\":-9223372036854775808,\"z\":null,\"absent\":null,"
                               "\"a\":[1,{},[]]}"));
    cr_assert_eq(memcmp(w.data, "{\"s\":\"text\",\"n\":-9223372036854775808,\"z\":null,\"absent\":null,\"a\":[1,{},[]]}",
                        w.len),
                 0, "%.*s", (int)w.len, w.data);
    json_t *v = parse(&w);
    cr_assert_eq(json_integer_value(json_object_get(v, "n")), INT64_MIN);
    json_decref(v);
    mt_json_text_free(&w);
}

Test(json_text, integers_and_integer_strings_are_written_in_decimal)
{
    static const int64_t values[] = {0, 7, -7, 10, -10, 42, 1000000007, INT64_MAX, INT64_MIN, INT64_MIN + 1};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        char expect[32];
        snprintf(expect, sizeof expect, "%lld", (long long)values[i]);
        mt_json_text_t w;
        mt_json_text_init(&w, NULL, 0);
        mt_json_text_begin_array(&w);
        mt_json_text_int(&w, values[i]);
        mt_json_text_int_string(&w, values[i]);
        mt_json_text_end_array(&w);
        char text[80];
        snprintf(text, sizeof text, "[%s,\"%s\"]", expect, expect);
        cr_assert(mt_json_text_ok(&w));
        cr_assert_eq(w.len, strlen(text), "%.*s", (int)w.len, w.data);
        cr_assert(memcmp(w.data, text, w.len) == 0, "%.*s is not %s", (int)w.len, w.data, text);
        mt_json_text_free(&w);
    }
}

Test(json_text, strings_are_escaped_and_read_back_the_same)
{
    const char *s = "quote \" backslash \\ slash / tab \t nl \n cr \r bell \a del \x7f \xc3\xa9 \xe2\x82\xac \xf0\x9f\x90\xb4";
    mt_json_text_t w;
    mt_json_text_init(&w, NULL, 0);
    mt_json_text_string(&w, s);
    cr_assert(mt_json_text_ok(&w));
    json_t *v = parse(&w);
    cr_assert_str_eq(json_string_value(v), s);
    json_decref(v);
    mt_json_text_free(&w);
}

Test(json_text, invalid_utf8_becomes_replacement_characters)
{
    /* A lone continuation byte, a truncated sequence, an overlong '/', a surrogate, beyond U+10FFFF. */
    const char *s = "a\x80" "b\xc3" "c\xc0\xaf" "d\xed\xa0\x80" "e\xf4\x90\x80\x80" "f";
    mt_json_text_t w;
    mt_json_text_init(&w, NULL, 0);
    mt_json_text_string(&w, s);
    json_t *v = parse(&w);
    const char *r = json_string_value(v);
    cr_assert_not_null(r);
    cr_assert_eq(r[0], 'a');
    cr_assert(strstr(r, "\xef\xbf\xbd" "b"), "%s", r);
    cr_assert_eq(r[strlen(r) - 1], 'f');
    cr_assert_null(strchr(r, '\x80'), "no invalid byte went through");
    json_decref(v);
    mt_json_text_free(&w);
}

Test(json_text, outgrows_the_callers_buffer_onto_the_heap)
{
    char small[8];
    mt_json_text_t w;
    mt_json_text_init(&w, small, sizeof small);
    mt_json_text_begin_array(&w);
    for (int i = 0; i < 1000; i++)
        mt_json_text_int(&w, i);
    mt_json_text_end_array(&w);
    cr_assert(w.on_heap);
    cr_assert(mt_json_text_ok(&w));
    json_t *v = parse(&w);
    cr_assert_eq(json_array_size(v), 1000);
    cr_assert_eq(json_integer_value(json_array_get(v, 999)), 999);
    json_decref(v);
    mt_json_text_free(&w);
}

Test(json_text, a_small_text_stays_in_the_callers_buffer)
{
    char buf[64];
    mt_json_text_t w;
    mt_json_text_init(&w, buf, sizeof buf);
    mt_json_text_begin_object(&w);
    mt_json_text_key(&w, "k");
    mt_json_text_int(&w, 1);
    mt_json_text_end_object(&w);
    cr_assert_not(w.on_heap);
    cr_assert_eq(w.data, buf);
    cr_assert(mt_json_text_ok(&w));
    mt_json_text_free(&w);
}

Test(json_text, a_jansson_value_is_written_in_place)
{
    json_t *params = json_pack("{s:i, s:[s, n]}", "x", 3, "y", "z");
    mt_json_text_t w;
    mt_json_text_init(&w, NULL, 0);
    mt_json_text_begin_object(&w);
    mt_json_text_key(&w, "params");
    mt_json_text_value(&w, params);
    mt_json_text_key(&w, "none");
    mt_json_text_value(&w, NULL);
    mt_json_text_end_object(&w);
    cr_assert(mt_json_text_ok(&w));
    json_t *v = parse(&w);
    cr_assert(json_equal(json_object_get(v, "params"), params));
    cr_assert(json_is_null(json_object_get(v, "none")));
    json_decref(v);
    json_decref(params);
    mt_json_text_free(&w);
}

Test(json_text, unbalanced_or_misplaced_calls_are_not_ok)
{
    mt_json_text_t w;

    mt_json_text_init(&w, NULL, 0);
    cr_assert_not(mt_json_text_ok(&w), "nothing written");
    mt_json_text_free(&w);

    mt_json_text_init(&w, NULL, 0);
    mt_json_text_begin_object(&w);
    cr_assert_not(mt_json_text_ok(&w), "an object left open");
    mt_json_text_free(&w);

    mt_json_text_init(&w, NULL, 0);
    mt_json_text_begin_object(&w);
    mt_json_text_key(&w, "k");
    mt_json_text_end_object(&w);
    cr_assert_not(mt_json_text_ok(&w), "a key without its value");
    mt_json_text_free(&w);

    mt_json_text_init(&w, NULL, 0);
    mt_json_text_key(&w, "k");
    mt_json_text_int(&w, 1);
    cr_assert_not(mt_json_text_ok(&w), "a key outside any object");
    mt_json_text_free(&w);

    mt_json_text_init(&w, NULL, 0);
    mt_json_text_end_array(&w);
    cr_assert_not(mt_json_text_ok(&w), "a close without an open");
    mt_json_text_free(&w);

    mt_json_text_init(&w, NULL, 0);
    for (int i = 0; i < MT_JSON_TEXT_MAX_DEPTH + 2; i++)
        mt_json_text_begin_array(&w);
    for (int i = 0; i < MT_JSON_TEXT_MAX_DEPTH + 2; i++)
        mt_json_text_end_array(&w);
    cr_assert_not(mt_json_text_ok(&w), "nested deeper than the writer keeps track of");
    mt_json_text_free(&w);
}
