/*
 * Unit tests for common/decimal: every length of unsigned and signed value,
 * the extremes included, written as snprintf writes them.
 */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/decimal.h"

Test(decimal, unsigned_values_match_snprintf_at_every_length)
{
    uint64_t v = 0;
    for (int digits = 1; digits <= 20; digits++) {
        char got[MT_DECIMAL_MAX + 1], want[32];
        size_t n = mt_decimal_u64(got, v);
        got[n] = '\0';
        snprintf(want, sizeof want, "%" PRIu64, v);
        cr_assert_str_eq(got, want);
        v = digits < 20 ? v * 10 + 9 : v; /* 0, 9, 99, ... */
    }
    char got[MT_DECIMAL_MAX + 1];
    got[mt_decimal_u64(got, UINT64_MAX)] = '\0';
    cr_assert_str_eq(got, "18446744073709551615");
}

Test(decimal, signed_values_carry_their_sign)
{
    static const int64_t values[] = {0, 1, -1, 10, -10, INT64_MAX, INT64_MIN, INT64_MIN + 1};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        char got[MT_DECIMAL_MAX + 1], want[32];
        size_t n = mt_decimal_i64(got, values[i]);
        cr_assert_leq(n, MT_DECIMAL_MAX);
        got[n] = '\0';
        snprintf(want, sizeof want, "%" PRId64, values[i]);
        cr_assert_str_eq(got, want);
    }
}
