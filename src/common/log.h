/*
 * log: one line per event on stderr, tagged with the process's server name.
 *
 *   2026-11-29T09:00:00.123456Z [info] main.web.1[4242]: listening on 127.0.0.1:8080
 *
 * Every process (master, web worker, mule) writes to the same stream, so the
 * server name and pid in each line tell which process spoke. Lines are
 * written with a single write(2) so lines from different processes never
 * interleave mid-line. Levels, lowest first: debug, info, notice, warn,
 * error, alert. `alert` means a broken invariant: tests fail on it.
 *
 * Thread-safe; async-signal-safe it is not (do not log from signal handlers).
 */
#ifndef MT_LOG_H
#define MT_LOG_H

typedef enum {
    MT_LOG_DEBUG,
    MT_LOG_INFO,
    MT_LOG_NOTICE,
    MT_LOG_WARN,
    MT_LOG_ERROR,
    MT_LOG_ALERT,
} mt_log_level_t;

/* Set the name printed in each line (copied; default "muleteer"). Call after fork. */
void mt_log_set_name(const char *server_name);
/* Messages below this level are not written. Default MT_LOG_INFO. */
void mt_log_set_level(mt_log_level_t level);
/* Parse "debug".."alert"; returns 0 and sets *out, or -1 for an unknown name. */
int mt_log_level_parse(const char *name, mt_log_level_t *out);

void mt_log(mt_log_level_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define mt_debug(...)  mt_log(MT_LOG_DEBUG, __VA_ARGS__)
#define mt_info(...)   mt_log(MT_LOG_INFO, __VA_ARGS__)
#define mt_notice(...) mt_log(MT_LOG_NOTICE, __VA_ARGS__)
#define mt_warn(...)   mt_log(MT_LOG_WARN, __VA_ARGS__)
#define mt_error(...)  mt_log(MT_LOG_ERROR, __VA_ARGS__)
#define mt_alert(...)  mt_log(MT_LOG_ALERT, __VA_ARGS__)

#endif
