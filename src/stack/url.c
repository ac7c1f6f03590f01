/*
 * url: percent-decoding, shared by the request API (query parameters) and
 * the static file resolver (paths). The two differ on purpose: a query
 * component is decoded leniently ('+' is a space, a bad escape stays
 * literal), a path strictly (a bad escape or an encoded NUL is refused).
 */
#include "stack/url.h"

#include <errno.h>

int mt_url_hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Next byte of a form-encoded component: '+' is a space, a bad escape stays literal. */
char mt_url_form_next(const char **p)
{
    const char *s = *p;
    if (*s == '+') {
        *p = s + 1;
        return ' ';
    }
    if (*s == '%') {
        int hi = mt_url_hex_digit(s[1]);
        int lo = hi < 0 ? -1 : mt_url_hex_digit(s[2]);
        if (lo >= 0) {
            *p = s + 3;
            return (char)(hi << 4 | lo);
        }
    }
    *p = s + 1;
    return *s;
}

/*
 * Percent-decode src into out (outlen bytes, NUL-terminated). '+' stays '+'
 * in a path. Returns 0, -EACCES for a bad escape or an encoded NUL, -ENOENT
 * if the result does not fit (no file has such a name).
 */
int mt_url_decode_path(const char *src, char *out, size_t outlen)
{
    size_t n = 0;
    for (const char *p = src; *p != '\0'; p++) {
        char c = *p;
        if (c == '%') {
            int hi = mt_url_hex_digit(p[1]);
            int lo = hi < 0 ? -1 : mt_url_hex_digit(p[2]);
            if (lo < 0)
                return -EACCES;
            c = (char)(hi << 4 | lo);
            if (c == '\0')
                return -EACCES;
            p += 2;
        }
        if (n + 1 >= outlen)
            return -ENOENT;
        out[n++] = c;
    }
    out[n] = '\0';
    return 0;
}
