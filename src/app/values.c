/*
 * values: shared checks and conversions of the tool and workflow readers
 * (see values.h).
 */
#include "app/values.h"

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
