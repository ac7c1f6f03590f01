/*
 * log: timestamped, process-tagged log lines on stderr (see log.h).
 */
#include "common/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static char log_name[128] = "muleteer";
static mt_log_level_t log_min_level = MT_LOG_INFO;
static const char *const level_names[] = {"debug", "info", "notice", "warn", "error", "alert"};

void mt_log_set_name(const char *server_name)
{
    snprintf(log_name, sizeof log_name, "%s", server_name);
}

void mt_log_set_level(mt_log_level_t level)
{
    log_min_level = level;
}

int mt_log_level_parse(const char *name, mt_log_level_t *out)
{
    for (size_t i = 0; i < sizeof level_names / sizeof level_names[0]; i++) {
        if (strcasecmp(name, level_names[i]) == 0) {
            *out = (mt_log_level_t)i;
            return 0;
        }
    }
    return -1;
}

void mt_log(mt_log_level_t level, const char *fmt, ...)
{
    if (level < log_min_level)
        return;
    char line[2048];
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    size_t n = strftime(line, sizeof line, "%Y-%m-%dT%H:%M:%S", &tm);
    int k = snprintf(line + n, sizeof line - n, ".%06ldZ [%s] %s[%d]: ", (long)tv.tv_usec,
                     level_names[level], log_name, (int)getpid());
    if (k > 0)
        n += (size_t)k;
    va_list ap;
    va_start(ap, fmt);
    k = vsnprintf(line + n, sizeof line - n - 1, fmt, ap);
    va_end(ap);
    if (k > 0)
        n += (size_t)k < sizeof line - n - 1 ? (size_t)k : sizeof line - n - 2;
    line[n++] = '\n';
    (void)!write(2, line, n);
}
