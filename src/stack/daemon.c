/*
 * daemon: umask, chdir, logto, pidfiles, daemonize and the master FIFO (see daemon.h).
 */
#define MT_LOG_NAME "muleteer.stack.daemon"

#include "stack/daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/log.h"
#include "common/mem.h"

static const char *const pid_options[2] = {"pidfile", "pidfile2"};

/* "FILE:LINE: option 'NAME': " for an error about option `name`. */
static void option_error(char *err, size_t errlen, const mt_config_t *cfg, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void option_error(char *err, size_t errlen, const mt_config_t *cfg, const char *name, const char *fmt, ...)
{
    mt_source_t src;
    char where[512], msg[1024];
    mt_config_get(cfg, NULL, name, &src);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(err, errlen, "%s: option '%s%s': %s", mt_source_format(&src, where, sizeof where),
             src.kind == MT_SRC_CMDLINE ? "--" : "", name, msg);
}

void mt_daemon_init(mt_daemon_t *d)
{
    memset(d, 0, sizeof *d);
    d->pid_fds[0] = d->pid_fds[1] = -1;
    d->fifo_fd = -1;
    d->ready_fd = -1;
}

int mt_daemon_setup(const mt_config_t *cfg, const mt_stack_settings_t *settings, char *err, size_t errlen)
{
    if (settings->umask >= 0)
        umask((mode_t)settings->umask);
    const char *dir = mt_config_get(cfg, NULL, "chdir", NULL);
    if (dir && chdir(dir) < 0) {
        int e = errno;
        option_error(err, errlen, cfg, "chdir", "cannot change to %s: %s", dir, strerror(e));
        return -e;
    }
    return 0;
}

int mt_daemon_logto(const mt_config_t *cfg, const char *name, char *err, size_t errlen)
{
    const char *path = mt_config_get(cfg, NULL, name, NULL);
    if (!path)
        return 0;
    char why[512];
    int rc = mt_log_redirect_output(path, why, sizeof why);
    if (rc < 0)
        option_error(err, errlen, cfg, name, "%s", why);
    return rc;
}

int mt_daemon_open_pidfile(mt_daemon_t *d, const mt_config_t *cfg, int which, char *err, size_t errlen)
{
    const char *path = mt_config_get(cfg, NULL, pid_options[which], NULL);
    if (!path)
        return 0;
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOCTTY, 0644);
    if (fd < 0) {
        int e = errno;
        option_error(err, errlen, cfg, pid_options[which], "cannot create %s: %s", path, strerror(e));
        return -e;
    }
    d->pid_fds[which] = fd;
    free(d->pid_paths[which]);
    d->pid_paths[which] = mt_strdup(path);
    return 0;
}

int mt_daemon_open_fifo(mt_daemon_t *d, const mt_config_t *cfg, char *err, size_t errlen)
{
    const char *path = mt_config_get(cfg, NULL, "master-fifo", NULL);
    if (!path)
        return 0;
    bool created = false;
    if (mkfifo(path, 0600) == 0) {
        created = true;
    } else if (errno != EEXIST) {
        int e = errno;
        option_error(err, errlen, cfg, "master-fifo", "cannot create the FIFO %s: %s", path, strerror(e));
        return -e;
    }
    /* O_RDWR: the master holds a writer itself, so a client closing its end is no end of file. */
    int fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0 || !S_ISFIFO(st.st_mode)) {
        int e = fd < 0 ? errno : EEXIST;
        if (fd >= 0)
            close(fd);
        option_error(err, errlen, cfg, "master-fifo", "%s: %s", path,
                     e == EEXIST ? "exists and is not a FIFO" : strerror(e));
        return -e;
    }
    d->fifo_fd = fd;
    d->fifo_path = mt_strdup(path);
    d->fifo_created = created;
    return 0;
}

/* The parent of a daemonize fork: wait for "up" on the pipe, or for the child's end. */
static int wait_for_daemon(pid_t child, int ready_fd, const char *logfile)
{
    for (;;) {
        struct pollfd pfd = {.fd = ready_fd, .events = POLLIN};
        int r = poll(&pfd, 1, 200);
        if (r > 0) {
            char byte;
            ssize_t n = read(ready_fd, &byte, 1);
            if (n == 1) {
                printf("muleteer: running in the background, pid %d, logging to %s\n", (int)child, logfile);
                return 0;
            }
            if (n == 0)
                break; /* every writer gone without a word */
        }
        int status;
        if (waitpid(child, &status, WNOHANG) == child)
            break;
    }
    fprintf(stderr, "muleteer: the stack did not start in the background; see %s\n", logfile);
    return 1;
}

int mt_daemon_detach(mt_daemon_t *d, const mt_config_t *cfg, int *status, char *err, size_t errlen)
{
    const char *name = "daemonize";
    const char *logfile = mt_config_get(cfg, NULL, name, NULL);
    if (!logfile) {
        name = "daemonize2";
        logfile = mt_config_get(cfg, NULL, name, NULL);
    }
    if (!logfile)
        return 0;
    /* The log file is tried here, in the terminal, rather than found unwritable in the background. */
    int probe = open(logfile, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0644);
    if (probe < 0) {
        int e = errno;
        option_error(err, errlen, cfg, name, "cannot open %s for the log: %s", logfile, strerror(e));
        return -e;
    }
    close(probe);
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) < 0) {
        int e = errno;
        option_error(err, errlen, cfg, name, "pipe2(): %s", strerror(e));
        return -e;
    }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        option_error(err, errlen, cfg, name, "fork(): %s", strerror(e));
        close(pipefd[0]);
        close(pipefd[1]);
        return -e;
    }
    if (pid > 0) {
        close(pipefd[1]);
        for (int i = 0; i < 2; i++)
            if (d->pid_fds[i] >= 0)
                close(d->pid_fds[i]);
        *status = wait_for_daemon(pid, pipefd[0], logfile);
        close(pipefd[0]);
        return 1;
    }
    close(pipefd[0]);
    d->ready_fd = pipefd[1];
    setsid();
    int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (devnull >= 0) {
        dup2(devnull, 0);
        close(devnull);
    }
    char why[512];
    if (mt_log_redirect_output(logfile, why, sizeof why) < 0)
        _exit(1); /* opened a moment ago in the parent: gone since; the parent reports the failure */
    return 0;
}

int mt_daemon_write_pidfiles(mt_daemon_t *d, const mt_config_t *cfg, char *err, size_t errlen)
{
    int rc = 0;
    for (int i = 0; i < 2; i++) {
        if (d->pid_fds[i] < 0)
            continue;
        char buf[32];
        int n = snprintf(buf, sizeof buf, "%d\n", (int)getpid());
        if (write(d->pid_fds[i], buf, (size_t)n) != n && rc == 0) {
            rc = -(errno ? errno : EIO);
            option_error(err, errlen, cfg, pid_options[i], "cannot write %s: %s", d->pid_paths[i], strerror(-rc));
        }
        close(d->pid_fds[i]);
        d->pid_fds[i] = -1;
    }
    return rc;
}

void mt_daemon_ready(mt_daemon_t *d)
{
    if (d->ready_fd < 0)
        return;
    char byte = 'u';
    (void)!write(d->ready_fd, &byte, 1);
    close(d->ready_fd);
    d->ready_fd = -1;
}

void mt_daemon_close_in_child(mt_daemon_t *d)
{
    if (d->fifo_fd >= 0)
        close(d->fifo_fd);
    if (d->ready_fd >= 0)
        close(d->ready_fd);
    d->fifo_fd = d->ready_fd = -1;
}

void mt_daemon_finish(mt_daemon_t *d, const mt_config_t *cfg)
{
    bool vacuum = cfg && mt_config_get_bool(cfg, NULL, "vacuum");
    for (int i = 0; i < 2; i++) {
        bool never_written = d->pid_fds[i] >= 0; /* start-up failed first: an empty pidfile helps no one */
        if (d->pid_fds[i] >= 0)
            close(d->pid_fds[i]);
        d->pid_fds[i] = -1;
        if ((vacuum || (never_written && cfg)) && d->pid_paths[i])
            unlink(d->pid_paths[i]);
        free(d->pid_paths[i]);
        d->pid_paths[i] = NULL;
    }
    if (d->fifo_fd >= 0)
        close(d->fifo_fd);
    d->fifo_fd = -1;
    if (vacuum && d->fifo_created && d->fifo_path)
        unlink(d->fifo_path);
    free(d->fifo_path);
    d->fifo_path = NULL;
    if (d->ready_fd >= 0)
        close(d->ready_fd); /* a start that failed after the fork: the parent sees the pipe close, not "up" */
    d->ready_fd = -1;
}

int mt_daemon_check(mt_config_t *cfg)
{
    static const char *const names[] = {"pidfile", "pidfile2", "logto", "logto2", "daemonize", "daemonize2",
                                        "master-fifo"};
    int rc = 0;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        mt_source_t src;
        const char *path = mt_config_get(cfg, NULL, names[i], &src);
        if (!path || !*path)
            continue;
        char copy[4096];
        snprintf(copy, sizeof copy, "%s", path);
        const char *parent = dirname(copy);
        if (access(parent, W_OK | X_OK) < 0) {
            mt_config_add_error(cfg, &src, names[i], "cannot create files in %s: %s", parent, strerror(errno));
            rc = -EACCES;
        }
    }
    return rc;
}
