/*
 * api_error: the HTTP answer to a database failure (see api_error.h).
 */
#include "app/api_error.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

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
    if (detail && *detail)
        mt_respond_error(req, status, "%s: %s (%s)", what, cause, detail);
    else
        mt_respond_error(req, status, "%s: %s", what, cause);
}
