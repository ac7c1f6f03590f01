/*
 * values: shared checks and conversions of the tool and workflow readers,
 * and the one parser of the numeric ids the API, the data inputs and the
 * handlers' messages carry (see values.h).
 */
#include "app/model/values.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"

const char *mt_value_quote(const char *value, size_t len, char *out)
{
    size_t n = 0, i;
    for (i = 0; i < len && i < MT_VALUE_QUOTE_MAX; i++) {
        unsigned char c = (unsigned char)value[i];
        if (c == '\n')
            n += (size_t)sprintf(out + n, "\\n");
        else if (c == '\t')
            n += (size_t)sprintf(out + n, "\\t");
        else if (c < 0x20 || c == 0x7f)
            n += (size_t)sprintf(out + n, "\\x%02x", c);
        else
            out[n++] = (char)c;
    }
    if (i < len) {
        while (n > 0 && ((unsigned char)out[n - 1] & 0xc0) == 0x80) /* continuation bytes of a cut character */
            n--;
        if (n > 0 && (unsigned char)out[n - 1] >= 0xc0)
            n--;
        memcpy(out + n, "...", 3);
        n += 3;
    }
    out[n] = '\0';
    return out;
}

bool mt_value_is_name(const char *s, size_t maxlen)
{
    size_t n = strlen(s);
    if (n == 0 || n > maxlen || !(s[0] == '_' || (s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z')))
        return false;
    for (size_t i = 1; i < n; i++) {
        char c = s[i];
        if (!(c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')))
            return false;
    }
    return true;
}

bool mt_value_is_id(const char *s, size_t maxlen)
{
    size_t n = strlen(s);
    if (n == 0 || n > maxlen)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!alnum && (i == 0 || (c != '.' && c != '_' && c != '-')))
            return false;
    }
    return true;
}

int mt_value_parse_int(const char *s, json_int_t *out)
{
    const char *p = s + (*s == '-');
    if (!*p)
        return -1;
    for (const char *q = p; *q; q++)
        if (*q < '0' || *q > '9')
            return -1;
    errno = 0;
    long long v = strtoll(s, NULL, 10);
    if (errno == ERANGE)
        return -ERANGE;
    *out = (json_int_t)v;
    return 0;
}

#define ID_NOT_DIGITS "ids are decimal digits only, without sign, blank or other character"

int mt_value_parse_id(const char *text, size_t len, int64_t *out, const char **why)
{
    const char *reason = NULL;
    int rc = -EINVAL;
    uint64_t v = 0;
    if (len == 0)
        reason = "ids are decimal numbers from 1 up, and this one is empty";
    else if (len == 1 && text[0] == '0')
        reason = "ids are decimal numbers from 1 up";
    else if (text[0] == '0' && text[1] >= '0' && text[1] <= '9')
        reason = "ids are decimal numbers without leading zeros";
    for (size_t i = 0; i < len && !reason; i++) {
        unsigned digit = (unsigned)((unsigned char)text[i] - '0'); /* not a digit: above 9 */
        if (digit > 9)
            reason = ID_NOT_DIGITS;
        else if (v > ((uint64_t)INT64_MAX - digit) / 10)
            reason = "ids are at most 9223372036854775807", rc = -ERANGE;
        else
            v = v * 10 + digit;
    }
    for (size_t i = 0; rc == -ERANGE && i < len; i++) /* a stray character is the better reason */
        if ((unsigned)((unsigned char)text[i] - '0') > 9)
            reason = ID_NOT_DIGITS, rc = -EINVAL;
    if (reason) {
        if (why)
            *why = reason;
        return rc;
    }
    *out = (int64_t)v;
    return 0;
}

const char *mt_value_id_error(const char *text, size_t len, const char *what, char *out, size_t outlen)
{
    char q[MT_VALUE_QUOTE_BUF];
    const char *why = "ids are decimal numbers";
    int64_t id;
    (void)mt_value_parse_id(text, len, &id, &why);
    snprintf(out, outlen, "'%s' is not %s %s id: %s", mt_value_quote(text, len, q),
             what[0] && strchr("aeiou", what[0]) ? "an" : "a", what, why);
    return out;
}

int mt_value_parse_float(const char *s, double *out)
{
    const char *p = s + (*s == '-');
    size_t digits = 0;
    while (*p >= '0' && *p <= '9')
        p++, digits++;
    if (*p == '.') {
        p++;
        while (*p >= '0' && *p <= '9')
            p++, digits++;
    }
    if (digits == 0)
        return -1;
    if (*p == 'e' || *p == 'E') {
        p++;
        p += *p == '+' || *p == '-';
        if (!(*p >= '0' && *p <= '9'))
            return -1;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    if (*p)
        return -1;
    double v = strtod(s, NULL);
    if (!isfinite(v))
        return -ERANGE;
    *out = v;
    return 0;
}

const char *mt_value_json_kind(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "an integer";
    case JSON_REAL:
        return "a real number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    case JSON_NULL:
        return "null";
    }
    return "an unknown value";
}

bool mt_value_json_has_nul(const json_t *str)
{
    return strlen(json_string_value(str)) != json_string_length(str);
}

void mt_value_buf_add(mt_value_buf_t *buf, const char *bytes, size_t n)
{
    if (buf->len + n + 1 > buf->cap) {
        size_t cap = buf->cap ? buf->cap : 64;
        while (cap < buf->len + n + 1)
            cap *= 2;
        buf->data = mt_realloc(buf->data, cap);
        buf->cap = cap;
    }
    if (n)
        memcpy(buf->data + buf->len, bytes, n);
    buf->len += n;
    buf->data[buf->len] = '\0';
}
