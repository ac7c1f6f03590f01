/*
 * url: percent-decoding, shared by the request API (query parameters) and
 * the static file resolver (paths). The two differ on purpose: a query
 * component is decoded leniently ('+' is a space, a bad escape stays
 * literal), a path strictly (a bad escape or an encoded NUL is refused).
 */
#include "stack/url.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

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

/* Whether the form-encoded component [s, end) decodes to name. */
static bool component_is(const char *s, const char *end, const char *name)
{
    while (s < end) {
        if (*name == '\0' || mt_url_form_next(&s) != *name)
            return false;
        name++;
    }
    return *name == '\0';
}

/* Append n bytes of src at out[*len], as far as outlen allows; *len counts them all. */
static void append(char *out, size_t outlen, size_t *len, const char *src, size_t n)
{
    if (*len + 1 < outlen) {
        size_t room = outlen - 1 - *len;
        memcpy(out + *len, src, n < room ? n : room);
    }
    *len += n;
}

size_t mt_url_redact_param(const char *query, const char *name, const char *mask, char *out, size_t outlen)
{
    size_t len = 0;
    const char *p = query;
    while (*p != '\0') {
        size_t seg_len = strcspn(p, "&");
        const char *eq = memchr(p, '=', seg_len);
        if (eq != NULL && component_is(p, eq, name)) {
            append(out, outlen, &len, p, (size_t)(eq - p) + 1);
            append(out, outlen, &len, mask, strlen(mask));
        } else {
            append(out, outlen, &len, p, seg_len);
        }
        p += seg_len;
        if (*p == '&') {
            append(out, outlen, &len, "&", 1);
            p++;
        }
    }
    if (outlen > 0)
        out[len < outlen ? len : outlen - 1] = '\0';
    return len;
}
