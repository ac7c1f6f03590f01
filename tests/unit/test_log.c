/*
 * Unit tests for log.c: line format, levels, one write per line.
 */
#include <criterion/criterion.h>
#include <regex.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"

/* Run fn with stderr redirected to a pipe; return what it wrote. */
static void capture(void (*fn)(void), char *out, size_t outlen)
{
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    int saved = dup(2);
    dup2(fds[1], 2);
    close(fds[1]);
    fn();
    dup2(saved, 2);
    close(saved);
    ssize_t n = read(fds[0], out, outlen - 1);
    out[n > 0 ? n : 0] = '\0';
    close(fds[0]);
}

static void write_two(void)
{
    mt_log_set_name("main.job-handlers.2");
    mt_log_set_level(MT_LOG_INFO);
    mt_debug("hidden %d", 1);
    mt_warn("queue full for %s", "farm x");
    mt_alert("invariant broken");
}

Test(log, format_and_levels)
{
    char out[1024];
    capture(write_two, out, sizeof out);
    regex_t re;
    cr_assert_eq(regcomp(&re,
                         "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{6}Z \\[warn\\] "
                         "main\\.job-handlers\\.2\\[[0-9]+\\]: queue full for farm x\n",
                         REG_EXTENDED),
                 0);
    cr_assert_eq(regexec(&re, out, 0, NULL, 0), 0, "got: %s", out);
    regfree(&re);
    cr_assert_null(strstr(out, "hidden"));
    cr_assert_not_null(strstr(out, "[alert] main.job-handlers.2"));
}

static void write_long(void)
{
    char big[5000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    mt_log_set_level(MT_LOG_INFO);
    mt_info("%s", big);
}

Test(log, long_lines_are_cut_but_still_one_line)
{
    char out[8192];
    capture(write_long, out, sizeof out);
    cr_assert_eq(strchr(out, '\n'), out + strlen(out) - 1, "exactly one newline, at the end");
    cr_assert_lt(strlen(out), 2100);
}

Test(log, level_names)
{
    mt_log_level_t l;
    cr_assert_eq(mt_log_level_parse("WARN", &l), 0);
    cr_assert_eq(l, MT_LOG_WARN);
    cr_assert_eq(mt_log_level_parse("debug", &l), 0);
    cr_assert_eq(l, MT_LOG_DEBUG);
    cr_assert_eq(mt_log_level_parse("verbose", &l), -1);
}
