/*
 * built_waiter: the unit tests that start real jobs use the build's
 * muleteer-waiter, one directory above the test binary (build/tests/X ->
 * build/muleteer-waiter). Header-only: each test is one source file.
 */
#ifndef MT_TEST_BUILT_WAITER_H
#define MT_TEST_BUILT_WAITER_H

#include <criterion/criterion.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "app/run/runner_local.h"

/* Make the build's waiter the one every run starts; returns its path (static storage). */
static inline const char *use_built_waiter(void)
{
    static char path[PATH_MAX];
    char exe[PATH_MAX - 32];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    cr_assert_gt(n, 0);
    exe[n] = '\0';
    for (int up = 0; up < 2; up++)
        *strrchr(exe, '/') = '\0';
    snprintf(path, sizeof path, "%s/muleteer-waiter", exe);
    cr_assert_eq(access(path, X_OK), 0, "the waiter %s is not built", path);
    mt_run_set_waiter_program(path);
    return path;
}

#endif
