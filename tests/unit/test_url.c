/*
 * Unit tests for url.c: strict path decoding and lenient query decoding.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "stack/url.h"

Test(url, hex_digits)
{
    cr_assert_eq(mt_url_hex_digit('0'), 0);
    cr_assert_eq(mt_url_hex_digit('9'), 9);
    cr_assert_eq(mt_url_hex_digit('a'), 10);
    cr_assert_eq(mt_url_hex_digit('F'), 15);
    cr_assert_eq(mt_url_hex_digit('g'), -1);
    cr_assert_eq(mt_url_hex_digit('\0'), -1);
}

Test(url, path_decoding_is_strict)
{
    char out[32];
    cr_assert_eq(mt_url_decode_path("a%20b/%2e%2E/c+d", out, sizeof out), 0);
    cr_assert_str_eq(out, "a b/../c+d");
    cr_assert_eq(mt_url_decode_path("bad%2", out, sizeof out), -EACCES);
    cr_assert_eq(mt_url_decode_path("bad%zz", out, sizeof out), -EACCES);
    cr_assert_eq(mt_url_decode_path("nul%00.txt", out, sizeof out), -EACCES);
    cr_assert_eq(mt_url_decode_path("0123456789", out, 10), -ENOENT);
    cr_assert_eq(mt_url_decode_path("012345678", out, 10), 0);
}

static void decode_all(const char *in, char *out)
{
    const char *p = in;
    size_t n = 0;
    while (*p)
        out[n++] = mt_url_form_next(&p);
    out[n] = '\0';
}

Test(url, form_decoding_is_lenient)
{
    char out[64];
    decode_all("a+b%3Dc%zz%2", out);
    cr_assert_str_eq(out, "a b=c%zz%2");
    decode_all("%41%42", out);
    cr_assert_str_eq(out, "AB");
}
