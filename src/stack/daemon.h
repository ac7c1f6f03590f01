/*
 * daemon: the master as a process of the system -- its umask, its working
 * directory, its log file (logto), its pidfiles, running in the background
 * (daemonize) and its command FIFO (master-fifo).
 *
 * mt_main() (stack.c) calls these in this order, all before the first
 * fork, so that every problem is reported in the terminal:
 *
 *   mt_daemon_setup()            umask, then chdir: once the configuration
 *                                files (and their logging sections) are
 *                                read, before anything is created or opened
 *                                by a relative path
 *   mt_daemon_logto("logto")     before privileges are dropped
 *   mt_daemon_open_pidfile(0)    "pidfile": created before the drop
 *   mt_daemon_open_fifo()        master-fifo, before the drop
 *   ... privileges dropped ...
 *   mt_daemon_logto("logto2"), mt_daemon_open_pidfile(1) ("pidfile2")
 *   ... the application loaded ...
 *   mt_daemon_detach()           daemonize: the one fork into the background
 *   mt_daemon_write_pidfiles()   the pid of the process that will supervise
 *
 * and the master calls mt_daemon_ready() once its children are started,
 * and mt_daemon_finish() at exit (vacuum: pidfiles and the FIFO removed).
 *
 * Daemonizing is done last, after the application has loaded and the
 * sockets are bound, not first as uWSGI's daemonize does: the command
 * returns only once the stack is up (status 0) or has failed (status 1,
 * the errors printed before the fork or in the log file), so scripts and
 * init systems see a failure instead of a daemon that died at once.
 */
#ifndef MT_DAEMON_H
#define MT_DAEMON_H

#include <stdbool.h>
#include <stddef.h>

#include "stack/config.h"
#include "stack/options.h"

typedef struct mt_daemon {
    int pid_fds[2];      /* pidfile, pidfile2: open until the pid is written; -1 if none */
    char *pid_paths[2];  /* as configured, for vacuum; NULL if none */
    int fifo_fd;         /* master-fifo, read by the master; -1 if none */
    char *fifo_path;     /* NULL if none */
    bool fifo_created;   /* we made the FIFO (vacuum removes only what we made) */
    int ready_fd;        /* daemonize: tells the waiting parent "up"; -1 if none */
} mt_daemon_t;

/* A daemon with nothing open. */
void mt_daemon_init(mt_daemon_t *d);

/* Apply umask (settings->umask >= 0) and chdir. Returns 0, or a negative errno with err naming the option. */
int mt_daemon_setup(const mt_config_t *cfg, const mt_stack_settings_t *settings, char *err, size_t errlen);

/* Send stdout/stderr to the file of option `name` ("logto", "logto2", or "daemonize[2]"'s), if set. 0 or -errno. */
int mt_daemon_logto(const mt_config_t *cfg, const char *name, char *err, size_t errlen);

/* Create (truncate) the file of "pidfile" (which 0) or "pidfile2" (which 1), if set. 0 or -errno. */
int mt_daemon_open_pidfile(mt_daemon_t *d, const mt_config_t *cfg, int which, char *err, size_t errlen);

/*
 * master-fifo, if set: create the FIFO (0600) unless a FIFO is there
 * already, and open it for reading. Anything else at that path is an
 * error. 0 or -errno.
 */
int mt_daemon_open_fifo(mt_daemon_t *d, const mt_config_t *cfg, char *err, size_t errlen);

/*
 * daemonize / daemonize2, if set: fork; the child leaves the terminal
 * (setsid, stdin from /dev/null, stdout and stderr to the option's file)
 * and returns 0 to carry on as the master. The parent waits until the
 * child calls mt_daemon_ready() (status 0) or exits (status 1), and
 * returns 1 with that status in *status: the caller returns it at once.
 * Without daemonize returns 0. A negative errno if the fork fails.
 */
int mt_daemon_detach(mt_daemon_t *d, const mt_config_t *cfg, int *status, char *err, size_t errlen);

/* Write this process's pid into the pidfiles opened, and close them. 0 or -errno (err names the option). */
int mt_daemon_write_pidfiles(mt_daemon_t *d, const mt_config_t *cfg, char *err, size_t errlen);

/* The stack is up: release a waiting daemonize parent. Safe to call more than once. */
void mt_daemon_ready(mt_daemon_t *d);

/* Close in a child what only the master holds (the FIFO, the ready pipe). */
void mt_daemon_close_in_child(mt_daemon_t *d);

/*
 * For --print-config, which creates nothing: whether the directory of each
 * file the options name (pidfiles, log files, the FIFO) exists and is
 * writable by this process. Each problem is recorded in cfg; returns 0 or
 * a negative errno.
 */
int mt_daemon_check(mt_config_t *cfg);

/*
 * At the master's exit: close everything; with vacuum, remove the pidfiles
 * and the FIFO we made. A pidfile opened but never written (start-up
 * failed before) is removed anyway. cfg NULL (the parent of a daemonize
 * fork): close only, remove nothing.
 */
void mt_daemon_finish(mt_daemon_t *d, const mt_config_t *cfg);

#endif
