/*
 * log_format: turning one log record into one line of text.
 *
 * Two kinds of format:
 *
 *   - Python logging's %-style format strings with named fields, so that a
 *     Galaxy or uWSGI operator's existing format works as written:
 *
 *       %(name)s %(levelname)-5.5s %(asctime)s [p:%(process)s,w:%(worker_id)s,m:%(mule_id)s] [%(threadName)s] %(message)s
 *
 *     A field is %(NAME)[flags][width][.precision]TYPE with flags from
 *     "-0 +#", TYPE one of s d i f (d and i only for integer fields, f only
 *     for `created` and `relativeCreated`; s for any field). "%%" is a
 *     literal '%'. Fields: name, levelname, levelno, asctime, created,
 *     msecs, relativeCreated, process, thread, threadName, message,
 *     worker_id, mule_id, server_name, pool_name, server_id, module
 *     (= name), processName (= server_name).
 *
 *   - JSON lines, for log shippers: one object per line with the keys
 *     time (ISO 8601 UTC with microseconds), level, logger, pid, worker_id,
 *     mule_id, server_name, pool_name, thread, message.
 *
 * Levels print as Python's names: DEBUG, INFO, NOTICE, WARNING, ERROR,
 * CRITICAL (levelno 10, 20, 25, 30, 40, 50). asctime is local time as
 * "2026-11-29 09:00:00,123" unless a datefmt (strftime) is given, which is
 * then followed by nothing (as in Python, msecs is a field of its own).
 *
 * A rendered record is always exactly one line ending in '\n': newlines and
 * other control characters inside the message become spaces (JSON escapes
 * them instead), and a record longer than the buffer is cut, keeping the
 * final '\n'.
 *
 * Threading: a compiled format is immutable; render from any thread.
 */
#ifndef MT_LOG_FORMAT_H
#define MT_LOG_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#include "common/log.h"

/* One event, as the log core hands it to a format. Strings may be NULL (printed as ""). */
typedef struct mt_log_record {
    int64_t time_us;          /* wall clock, microseconds since the epoch */
    int64_t start_us;         /* when logging started in this process (relativeCreated) */
    mt_log_level_t level;
    const char *logger;       /* dotted logger name, e.g. "muleteer.jobs.handler" */
    int pid;
    long thread_id;           /* the kernel's thread id */
    const char *thread_name;  /* "MainThread", "web-2", ... */
    int worker_id;            /* web worker id, 0 when not a web worker */
    int mule_id;              /* mule id, 0 when not a mule */
    int server_id;            /* the process's number in its pool (worker or mule id; 0 for the master) */
    const char *server_name;  /* "main.job-handlers.1" */
    const char *pool_name;    /* "job-handlers", "web", "master" */
    const char *message;      /* the formatted message; may hold newlines */
} mt_log_record_t;

typedef struct mt_log_format mt_log_format_t;

/*
 * Compile a %-style format string. datefmt: strftime(3) format for asctime,
 * or NULL for the default. Returns NULL and a message naming the problem
 * and its offset in the string ("unknown field 'foo' at offset 12",
 * "field 'process' cannot be shown with %f", "unterminated field at offset
 * 3", ...) for a bad format.
 */
mt_log_format_t *mt_log_format_compile(const char *fmt, const char *datefmt, char *err, size_t errlen);

/* The JSON-lines format. Never NULL. */
mt_log_format_t *mt_log_format_json(void);

/*
 * Render r into buf (size >= 2): one line ending in '\n', NUL-terminated.
 * Returns the length written, '\n' included, NUL excluded.
 */
size_t mt_log_format_render(const mt_log_format_t *f, const mt_log_record_t *r, char *buf, size_t size);

/* Python's name for a level ("WARNING") and its number (30). */
const char *mt_log_level_python_name(mt_log_level_t level);
int mt_log_level_python_number(mt_log_level_t level);

/* Accepts NULL. */
void mt_log_format_free(mt_log_format_t *f);

#endif
