/*
 * api_error: the HTTP answer to a database failure, the same in every part
 * of the API (docs/http-api.md, "Errors").
 *
 * A database failure is not the client's fault, and whether retrying helps
 * depends on the cause: a lock held by another process past the busy
 * timeout goes away by itself (503 with Retry-After), a full disk needs an
 * operator (507, with Retry-After too, since the service resumes by itself
 * once space returns). Anything else is 503 without a promise.
 *
 * Callers answer with it only when nothing was committed: a retry must not
 * create a second copy of what a first attempt already stored.
 */
#ifndef MT_API_ERROR_H
#define MT_API_ERROR_H

#include "muleteer.h"

/* Seconds in Retry-After: for a busy database, and for a full disk. */
#define MT_API_RETRY_AFTER_BUSY_S 1
#define MT_API_RETRY_AFTER_FULL_S 10

/*
 * Answer req for a failure rc (a negative errno value from db.c or a
 * store: -EBUSY, -ENOSPC, ...). The message is "<what>: <cause> (<detail>)",
 * with what formatted from fmt, cause "the database is busy", "the disk is
 * full" or "the database failed", and detail the connection's message
 * (mt_db_errmsg), or "" for none. Status: 503 + Retry-After for -EBUSY and
 * -ENOTCONN (a database server that cannot be reached, being restarted),
 * 507 + Retry-After for -ENOSPC, 503 otherwise.
 */
void mt_api_respond_db_error(mt_request_t *req, int rc, const char *detail, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/*
 * Answer req when the calling thread has no database connection (it could
 * not be opened: a database server down, say): 503 + Retry-After, "the
 * <which> database is not available". The opening failure is logged where
 * it happens (mt_jobs_db).
 */
void mt_api_respond_no_db(mt_request_t *req, const char *which);

#endif
