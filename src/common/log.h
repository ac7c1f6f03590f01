/*
 * log: the log records of every process, each saying who wrote it, sent to
 * the handlers the logging configuration names.
 *
 * A record carries its time (microseconds), level, logger name (a dotted
 * name per module, "muleteer.stack.master", "muleteer.jobs.handler"), pid,
 * web worker id, mule id, server name, pool name, thread name and message.
 * Without a logging configuration every record at or above the root level
 * (--log-level, default info) goes to stderr as one line:
 *
 *   2026-11-29T09:00:00.123456Z [info] main.web.1[4242] muleteer.stack.web_worker: listening
 *
 * With one (INI or YAML, see log_config.h), loggers pick records by level
 * and name prefix and hand them to handlers -- stderr, stdout, a file, or a
 * file per process through filename_template -- each with its own format
 * (log_format.h: Python logging's %(name)s fields, or JSON lines).
 *
 * Every record is written with a single write(2) on an O_APPEND
 * descriptor, so lines from many processes and threads never interleave
 * mid-line. Writing never waits for long: a stream that cannot take the
 * line now (a full pipe) and a failed write (a full disk, a vanished
 * directory) drop the record; drops are counted and reported, on that
 * handler, once it writes again. SIGUSR1 makes a process reopen its files
 * (for logrotate): the new file replaces the old descriptor in one dup2(),
 * so no record is lost or written to a closed descriptor.
 *
 * Each source file that logs names its logger before using the macros:
 *
 *   #define MT_LOG_NAME "muleteer.jobs.handler"
 *
 * Levels, lowest first: debug, info, notice, warn, error, alert. `alert`
 * means a broken invariant: tests fail on it.
 *
 * Threading: configure (mt_log_configure, mt_log_set_identity) before
 * starting threads; emit from any thread. Not async-signal-safe: do not
 * log from signal handlers.
 */
#ifndef MT_LOG_H
#define MT_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    MT_LOG_DEBUG,
    MT_LOG_INFO,
    MT_LOG_NOTICE,
    MT_LOG_WARN,
    MT_LOG_ERROR,
    MT_LOG_ALERT,
} mt_log_level_t;

/* Who this process is, for the records and for file name templates. */
typedef struct mt_log_identity {
    const char *server_name;  /* "main.job-handlers.1" */
    const char *pool_name;    /* the record's pool: "web", a farm's name, "mule", "master" */
    const char *file_pool;    /* {pool_name} in file name templates (NULL: pool_name) */
    int file_server_id;       /* {server_id} in file name templates */
    int worker_id;            /* web worker id, 0 when not a web worker */
    int mule_id;              /* mule id, 0 when not a mule */
    int server_id;            /* the process's number in its pool */
} mt_log_identity_t;

struct mt_log_conf;

/*
 * Replace the configuration: conf (NULL or not present: one stderr handler
 * in the classic format) with root_level for a root logger that sets none.
 * classic_format: NULL, "classic", "json", or a %-format string for the
 * default stderr handler (--log-format). Compiles every format and checks
 * every template; files are opened by mt_log_set_identity(). Returns 0, or
 * -1 with the reason in err (the previous configuration stays).
 */
int mt_log_configure(const struct mt_log_conf *conf, mt_log_level_t root_level, const char *classic_format,
                     char *err, size_t errlen);

/*
 * Set this process's identity and open its files (templates expanded for
 * it). Call once in each process after fork, before it starts threads;
 * files inherited from the parent are closed here.
 */
void mt_log_set_identity(const mt_log_identity_t *id);

/* Name the calling thread in records ("MainThread" by default). Copied. */
void mt_log_set_thread_name(const char *name);

/* Catch SIGUSR1 in this process: files are reopened before the next record. */
void mt_log_catch_reopen_signal(void);

/* Reopen every file now (the master does this on SIGUSR1 from its own loop). */
void mt_log_reopen(void);

/*
 * logto: send this process's stdout and stderr (the default log, and
 * whatever else writes there) to the file at path, appended, created 0644
 * less the umask. Inherited by every child forked afterwards; SIGUSR1 /
 * mt_log_reopen() reopens it too (logrotate). Returns 0, or a negative
 * errno with the reason in err (descriptors unchanged).
 */
int mt_log_redirect_output(const char *path, char *err, size_t errlen);

/* The logto path in effect, or NULL. */
const char *mt_log_output_path(void);

/* Records dropped so far by this process (all handlers). */
uint64_t mt_log_dropped(void);
/*
 * Also count every record dropped from now on in *counter (a cell of the
 * stack's shared metrics, read by other processes); NULL stops. Any thread.
 */
void mt_log_count_drops_in(_Atomic uint64_t *counter);

/* The root level, when the configuration does not set it. */
void mt_log_set_level(mt_log_level_t level);

/* Would a record of this logger and level be written anywhere? */
bool mt_log_enabled(const char *logger, mt_log_level_t level);

/* Parse "debug".."alert" (also warning, critical); returns 0 and sets *out, or -1 for an unknown name. */
int mt_log_level_parse(const char *name, mt_log_level_t *out);

/* The lower-case name of a level ("warn"). */
const char *mt_log_level_name(mt_log_level_t level);

void mt_log_emit(const char *logger, mt_log_level_t level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#define mt_debug(...)  mt_log_emit(MT_LOG_NAME, MT_LOG_DEBUG, __VA_ARGS__)
#define mt_info(...)   mt_log_emit(MT_LOG_NAME, MT_LOG_INFO, __VA_ARGS__)
#define mt_notice(...) mt_log_emit(MT_LOG_NAME, MT_LOG_NOTICE, __VA_ARGS__)
#define mt_warn(...)   mt_log_emit(MT_LOG_NAME, MT_LOG_WARN, __VA_ARGS__)
#define mt_error(...)  mt_log_emit(MT_LOG_NAME, MT_LOG_ERROR, __VA_ARGS__)
#define mt_alert(...)  mt_log_emit(MT_LOG_NAME, MT_LOG_ALERT, __VA_ARGS__)

#endif
