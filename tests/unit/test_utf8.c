/*
 * Unit tests for common/utf8: the sequence lengths of valid UTF-8, and 0 for
 * every kind of invalid sequence.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "common/utf8.h"

static size_t seq(const char *s)
{
    return mt_utf8_sequence((const unsigned char *)s, strlen(s) ? strlen(s) : 1);
}

Test(utf8, valid_sequences_of_each_length)
{
    cr_assert_eq(seq("a"), 1);
    cr_assert_eq(mt_utf8_sequence((const unsigned char *)"", 1), 1, "NUL is ASCII");
    cr_assert_eq(seq("\xc3\xa9"), 2);          /* é */
    cr_assert_eq(seq("\xe2\x82\xac"), 3);      /* € */
    cr_assert_eq(seq("\xf0\x9f\x90\xb4"), 4);  /* 🐴 */
    cr_assert_eq(seq("\xf4\x8f\xbf\xbf"), 4);  /* U+10FFFF, the last */
    cr_assert_eq(seq("\xc3\xa9xyz"), 2, "only the sequence at the start counts");
}

Test(utf8, invalid_sequences_are_zero)
{
    cr_assert_eq(seq("\x80"), 0, "a continuation byte");
    cr_assert_eq(seq("\xff"), 0, "an undefined lead byte");
    cr_assert_eq(seq("\xc3"), 0, "cut short");
    cr_assert_eq(seq("\xe2\x82"), 0, "cut short");
    cr_assert_eq(seq("\xc3x"), 0, "not followed by a continuation");
    cr_assert_eq(seq("\xc0\xaf"), 0, "overlong '/'");
    cr_assert_eq(seq("\xe0\x80\xaf"), 0, "overlong, three bytes");
    cr_assert_eq(seq("\xed\xa0\x80"), 0, "a surrogate");
    cr_assert_eq(seq("\xf4\x90\x80\x80"), 0, "past U+10FFFF");
    cr_assert_eq(mt_utf8_sequence((const unsigned char *)"\xe2\x82\xac", 2), 0, "n bytes only");
}
