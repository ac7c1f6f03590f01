/*
 * api_error: the HTTP answer to a database failure (see api_error.h).
 */
#define MT_LOG_NAME "muleteer.jobs.api"

#include "app/api/api_error.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>

#include "app/store/job_store.h"
#include "common/clock.h"
#include "common/log.h"

/*
 * A fault lasting minutes refuses every request: its first refusal is
 * logged, then one a minute per process (the routes run on several route
 * threads: the last logged time and status are shared, and a thread that
 * loses the race to log simply does not).
 */
#define LOG_EVERY_US (60 * 1000000LL)

void mt_api_respond_db_error(mt_request_t *req, int rc, const char *detail, const char *fmt, ...)
{
    char what[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    int status = 503, retry_s = 0;
    const char *cause = "the database failed";
    if (rc == -EBUSY) {
        cause = "the database is busy";
        retry_s = MT_API_RETRY_AFTER_BUSY_S;
    } else if (rc == -ENOTCONN) {
        cause = "the database server cannot be reached";
        retry_s = MT_API_RETRY_AFTER_BUSY_S;
    } else if (rc == -ENOSPC) {
        cause = "the disk is full";
        status = 507;
        retry_s = MT_API_RETRY_AFTER_FULL_S;
    }
    if (retry_s) {
        char secs[16];
        snprintf(secs, sizeof secs, "%d", retry_s);
        mt_response_header(req, "Retry-After", secs);
    }
    static _Atomic int64_t last_log_us;
    static atomic_int last_status;
    int64_t now = mt_wall_us(), last = atomic_load(&last_log_us);
    if ((status != atomic_load(&last_status) || now - last >= LOG_EVERY_US) &&
        atomic_compare_exchange_strong(&last_log_us, &last, now)) {
        atomic_store(&last_status, status);
        mt_warn("%s %s: %d: %s: %s (%s)", mt_request_method(req), mt_request_path(req), status, what, cause,
                detail && *detail ? detail : "no detail");
    }
    if (detail && *detail)
        mt_respond_error(req, status, "%s: %s (%s)", what, cause, detail);
    else
        mt_respond_error(req, status, "%s: %s", what, cause);
}

void mt_api_respond_no_db(mt_request_t *req, const char *which)
{
    char secs[16];
    snprintf(secs, sizeof secs, "%d", MT_API_RETRY_AFTER_BUSY_S);
    mt_response_header(req, "Retry-After", secs);
    mt_respond_error(req, 503, "the %s database is not available", which);
}
