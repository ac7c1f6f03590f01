/*
 * decimal: integers written in decimal by hand, for the paths that write one
 * on every request (the HTTP status line and Content-Length, a job's JSON),
 * where snprintf's format parsing showed in the profiles.
 */
#ifndef MT_COMMON_DECIMAL_H
#define MT_COMMON_DECIMAL_H

#include <stddef.h>
#include <stdint.h>

/* Room for any int64_t or uint64_t in decimal, sign included, no terminator. */
#define MT_DECIMAL_MAX 20

/* v in decimal into buf (MT_DECIMAL_MAX bytes; no terminator). Returns its length. */
static inline size_t mt_decimal_u64(char *buf, uint64_t v)
{
    char digits[MT_DECIMAL_MAX];
    size_t n = 0;
    do {
        digits[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    for (size_t i = 0; i < n; i++)
        buf[i] = digits[n - 1 - i];
    return n;
}

/* The same for a signed value, with a '-' before a negative one (INT64_MIN included). */
static inline size_t mt_decimal_i64(char *buf, int64_t v)
{
    if (v >= 0)
        return mt_decimal_u64(buf, (uint64_t)v);
    buf[0] = '-';
    return 1 + mt_decimal_u64(buf + 1, (uint64_t)0 - (uint64_t)v);
}

#endif
