/*
 * slurm_command: one Slurm client command run on a libuv loop (see
 * slurm_command.h).
 *
 * The posix_spawn() runs on a thread of its own, one per process, as the
 * local runner's does (runner_local.c; the thread is common/spawner.h's):
 * glibc's posix_spawn is clone(CLONE_VM | CLONE_VFORK), which returns only
 * once the child has exec'd. On the loop's own thread that cost, measured on a 2-CPU machine
 * (200 squeue one after the other), p50 0.14 ms and p99 2.4-3.4 ms, but
 * 11 ms when 100 were started back to back and 24.5 ms on a machine busy
 * with other work: the vfork child has to be scheduled before the loop can
 * go on. So the loop only checks the program, makes the pipes and queues
 * the command (tests/unit/test_slurm_command.c measures what that holds
 * the loop); the spawner thread does the posix_spawn() and pidfd_open()
 * and tells the loop through the command's uv_async_t. uv_spawn() would
 * block the loop like posix_spawn() (it waits on a pipe for the exec), fork
 * rather than vfork, and install a SIGCHLD handler in the process.
 *
 * A command owns up to five handles: the uv_async_t of the spawner's
 * answer, closed once it came; a uv_poll_t on its pidfd (readable once it
 * has exited: we reap exactly its pid, so the waiters of the local runner
 * and any other child are left alone); one uv_poll_t per output pipe; and a
 * uv_timer_t that first counts the timeout (from the spawn), then the grace
 * after SIGKILL.
 * When it has been reaped and both pipes are at end of file, the handles
 * are closed and the last close reports the result, so the callback runs
 * with nothing of the command left on the loop.
 *
 * A program that cannot be executed is reported through the callback too
 * (started false): from a zero timeout when it is not found, from the
 * spawner's answer when exec fails; never from inside mt_slurm_cmd_run().
 */
#define MT_LOG_NAME "muleteer.jobs.slurm"

#include "app/run/slurm_command.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/message.h"
#include "common/mem.h"
#include "common/spawner.h"

/* The PATH searched when envp has none (runner_local.h's default). */
#define CMD_DEFAULT_PATH "/usr/local/bin:/usr/bin:/bin"
/* Output kept per stream when the caller says 0. */
#define CMD_DEFAULT_CAP (1024 * 1024)
/* After SIGKILL: how long the process may take to die before its result is reported without it. */
#define CMD_KILL_GRACE_MS 2000

typedef struct cmd_buf {
    char *data;   /* NUL-terminated */
    size_t len;
    size_t size;  /* allocated */
} cmd_buf_t;

typedef struct cmd {
    uv_async_t spawned;    /* the spawner's word that pid and pidfd (or spawn_error) are set */
    uv_poll_t exit_poll;   /* on pidfd */
    uv_poll_t out_poll, err_poll;
    uv_timer_t timer;      /* the timeout, then the grace after SIGKILL; a zero timeout for a command not started */
    int pidfd, out_fd, err_fd;
    pid_t pid;
    bool started;
    bool exit_open, out_open, err_open; /* not yet uv_close'd */
    bool reaped, killed, gave_up, closing, reported;
    int status;            /* waitpid's */
    int open_handles;      /* initialized and not yet closed */
    size_t cap;
    cmd_buf_t out, err;
    int64_t start_us, end_us;
    mt_slurm_cmd_cb cb;
    void *data;
    char name[64];         /* argv[0], for messages */
    char why[256];         /* started false: why */
    bool counted;          /* in cmds_running */
    unsigned timeout_ms;

    /* What the spawner needs and sets, the command's until the spawner has answered. */
    char *path;            /* the program found */
    char **argv, **envp;   /* copies: the caller's need not outlive the call */
    int out_w, err_w;      /* the child's ends of the pipes; the spawner closes them */
    pid_t spawned_pid;
    int spawned_pidfd;
    int spawn_error;       /* 0, or the errno of posix_spawn() (or of pidfd_open(), with spawn_step) */
    atomic_bool answered;  /* the spawner's fields above are set (its last write before the uv_async_send) */
    const char *spawn_step;
    mt_spawn_request_t spawn_req; /* in the spawner's queue until spawn_one */
    struct cmd *live_prev, *live_next; /* in `live` while its process may run (pid set, not reported) */
    bool live;
} cmd_t;

static atomic_int cmds_running;

/* The commands whose process may still run, for mt_slurm_cmd_kill_all (any thread). */
static pthread_mutex_t live_lock = PTHREAD_MUTEX_INITIALIZER;
static cmd_t *live;

static void live_add(cmd_t *c)
{
    pthread_mutex_lock(&live_lock);
    c->live_prev = NULL;
    c->live_next = live;
    if (live)
        live->live_prev = c;
    live = c;
    c->live = true;
    pthread_mutex_unlock(&live_lock);
}

static void live_remove(cmd_t *c)
{
    pthread_mutex_lock(&live_lock);
    if (c->live) {
        if (c->live_prev)
            c->live_prev->live_next = c->live_next;
        else
            live = c->live_next;
        if (c->live_next)
            c->live_next->live_prev = c->live_prev;
        c->live = false;
    }
    pthread_mutex_unlock(&live_lock);
}

int mt_slurm_cmd_kill_all(void)
{
    int n = 0;
    pthread_mutex_lock(&live_lock);
    for (cmd_t *c = live; c; c = c->live_next)
        if (c->pid > 0 && !c->reaped && kill(-c->pid, SIGKILL) == 0)
            n++;
    pthread_mutex_unlock(&live_lock);
    return n;
}


int mt_slurm_cmd_running(void)
{
    return atomic_load(&cmds_running);
}

/* ------------------------------------------------------------------ */
/* The end: report, free                                               */
/* ------------------------------------------------------------------ */

static void buf_free(cmd_buf_t *b)
{
    free(b->data);
}

static void report(cmd_t *c)
{
    c->reported = true;
    live_remove(c);
    mt_slurm_cmd_result_t r = {0};
    r.started = c->started;
    if (c->started && c->reaped) {
        r.exited = WIFEXITED(c->status);
        r.exit_status = r.exited ? WEXITSTATUS(c->status) : 0;
        r.term_signal = WIFSIGNALED(c->status) ? WTERMSIG(c->status) : 0;
    }
    r.timed_out = c->killed;
    r.out = c->started ? c->out.data : "";
    r.out_len = c->started ? c->out.len : 0;
    r.err = c->started ? c->err.data : c->why;
    r.err_len = c->started ? c->err.len : strlen(c->why);
    r.seconds = c->started ? (double)((c->end_us ? c->end_us : mt_clock_us()) - c->start_us) / 1e6 : 0;
    if (c->counted)
        atomic_fetch_sub(&cmds_running, 1);
    c->cb(&r, c->data);
}

static void strv_free(char **v)
{
    if (!v)
        return;
    for (char **p = v; *p; p++)
        free(*p);
    free(v);
}

static char **strv_copy(char *const *v)
{
    size_t n = 0;
    while (v[n])
        n++;
    char **copy = mt_calloc(n + 1, sizeof *copy);
    for (size_t i = 0; i < n; i++)
        copy[i] = mt_strdup(v[i]);
    return copy;
}

/* What only the spawner needed. */
static void release_spawn_inputs(cmd_t *c)
{
    strv_free(c->argv);
    strv_free(c->envp);
    free(c->path);
    c->argv = c->envp = NULL;
    c->path = NULL;
}

static void cmd_free(cmd_t *c)
{
    release_spawn_inputs(c);
    buf_free(&c->out);
    buf_free(&c->err);
    free(c);
}

static void on_close(uv_handle_t *h)
{
    cmd_t *c = h->data;
    c->open_handles--;
    /* A process that outlived its SIGKILL keeps its pidfd poll: the result goes out without it. */
    if (!c->reported && c->closing && c->open_handles == (c->exit_open ? 1 : 0))
        report(c);
    if (c->reported && c->open_handles == 0)
        cmd_free(c);
}

static void close_pipe(cmd_t *c, uv_poll_t *poll, int *fd, bool *open)
{
    if (!*open)
        return;
    *open = false;
    uv_poll_stop(poll);
    close(*fd);
    *fd = -1;
    uv_close((uv_handle_t *)poll, on_close);
}

/* Ended: reaped (or given up on after SIGKILL) and both pipes closed. */
static void check_done(cmd_t *c)
{
    if (c->closing || c->out_open || c->err_open || !(c->reaped || c->gave_up))
        return;
    c->closing = true;
    if (!c->end_us)
        c->end_us = mt_clock_us();
    uv_close((uv_handle_t *)&c->timer, on_close);
}

/* ------------------------------------------------------------------ */
/* Events                                                              */
/* ------------------------------------------------------------------ */

/* Read what the pipe has; past cap, read and drop. Returns true at end of file (or an error). */
static bool drain(int fd, cmd_buf_t *b, size_t cap)
{
    char scratch[16384];
    for (;;) {
        char *into = scratch;
        size_t room = sizeof scratch;
        if (b->len < cap) {
            size_t want = b->len + sizeof scratch < cap ? b->len + sizeof scratch : cap;
            if (want + 1 > b->size) {
                b->size = want + 1;
                b->data = mt_realloc(b->data, b->size);
            }
            into = b->data + b->len;
            room = want - b->len;
        }
        ssize_t n = read(fd, into, room);
        if (n > 0) {
            if (into != scratch) {
                b->len += (size_t)n;
                b->data[b->len] = '\0';
            }
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return false;
        return true; /* 0: end of file; another error: nothing more will come */
    }
}

static void on_output(uv_poll_t *poll, int status, int events)
{
    cmd_t *c = poll->data;
    bool is_out = poll == &c->out_poll;
    int fd = is_out ? c->out_fd : c->err_fd;
    if (status < 0 || drain(fd, is_out ? &c->out : &c->err, c->cap)) {
        if (is_out)
            close_pipe(c, &c->out_poll, &c->out_fd, &c->out_open);
        else
            close_pipe(c, &c->err_poll, &c->err_fd, &c->err_open);
        check_done(c);
    }
}

static void close_exit_poll(cmd_t *c)
{
    if (!c->exit_open)
        return;
    c->exit_open = false;
    uv_poll_stop(&c->exit_poll);
    close(c->pidfd);
    c->pidfd = -1;
    uv_close((uv_handle_t *)&c->exit_poll, on_close);
}

static void on_exit_poll(uv_poll_t *poll, int status, int events)
{
    cmd_t *c = poll->data;
    int st = 0;
    pid_t r;
    while ((r = waitpid(c->pid, &st, WNOHANG)) < 0 && errno == EINTR)
        ;
    if (r == 0)
        return; /* not yet (a spurious wake-up) */
    if (r < 0) {
        /* ECHILD: someone reaped it (SIGCHLD ignored in this process): the status is lost. */
        mt_error("%s (pid %d): waitpid: %s", c->name, (int)c->pid, strerror(errno));
        st = 0xff00; /* reads as "exited 255" */
    }
    c->status = st;
    c->reaped = true;
    c->end_us = mt_clock_us();
    close_exit_poll(c);
    check_done(c);
}

static void on_timer(uv_timer_t *t)
{
    cmd_t *c = t->data;
    if (!c->started) {
        /* Could not be executed: say so from the loop, as promised. */
        c->closing = true;
        uv_close((uv_handle_t *)&c->timer, on_close);
        return;
    }
    if (!c->reaped && !c->killed) {
        c->killed = true;
        if (kill(-c->pid, SIGKILL) < 0 && errno != ESRCH)
            mt_error("%s (process group %d): kill: %s", c->name, (int)c->pid, strerror(errno));
        uv_timer_start(&c->timer, on_timer, CMD_KILL_GRACE_MS, 0);
        return;
    }
    if (!c->reaped) {
        mt_error("%s (pid %d) still alive %d ms after SIGKILL: its result is reported without its exit status",
                 c->name, (int)c->pid, CMD_KILL_GRACE_MS);
        c->gave_up = true;
    }
    /* Ended (or given up on), but something it started holds a pipe open: stop reading. */
    close_pipe(c, &c->out_poll, &c->out_fd, &c->out_open);
    close_pipe(c, &c->err_poll, &c->err_fd, &c->err_open);
    check_done(c);
}

/* ------------------------------------------------------------------ */
/* Start                                                               */
/* ------------------------------------------------------------------ */

/* argv[0] as exec would find it in envp's PATH: 0 and the path in out, or an errno (ENOENT, EACCES). */
static int find_program(const char *name, char *const envp[], char *out, size_t outlen)
{
    if (strchr(name, '/')) {
        snprintf(out, outlen, "%s", name);
        return 0;
    }
    const char *path = CMD_DEFAULT_PATH;
    for (size_t i = 0; envp[i]; i++)
        if (strncmp(envp[i], "PATH=", 5) == 0)
            path = envp[i] + 5;
    int e = ENOENT;
    for (const char *p = path; *p;) {
        const char *colon = strchr(p, ':');
        size_t n = colon ? (size_t)(colon - p) : strlen(p);
        if (n > 0) { /* an empty entry (the current directory) is never searched */
            snprintf(out, outlen, "%.*s/%s", (int)n, p, name);
            struct stat st;
            if (stat(out, &st) == 0 && S_ISREG(st.st_mode)) {
                if (access(out, X_OK) == 0)
                    return 0;
                e = EACCES;
            }
        }
        p += n + (colon ? 1 : 0);
    }
    return e;
}

static void signals_to_reset(sigset_t *set)
{
    static const int sigs[] = {SIGPIPE, SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2,
                               SIGCHLD, SIGALRM, SIGTSTP, SIGTTIN, SIGTTOU, SIGXFSZ, SIGURG};
    sigemptyset(set);
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        sigaddset(set, sigs[i]);
}

/* A pipe whose read end (ours, non-blocking) and write end (the child's, blocking) are both >= 3 and CLOEXEC. */
static int make_pipe(int fds[2])
{
    if (pipe2(fds, O_CLOEXEC) < 0)
        return -errno;
    for (int i = 0; i < 2; i++) {
        if (fds[i] < 3) { /* stdio closed in this process: keep clear of the descriptors the child's dup2s target */
            int moved = fcntl(fds[i], F_DUPFD_CLOEXEC, 3);
            int e = errno;
            close(fds[i]);
            fds[i] = moved;
            if (moved < 0) {
                close(fds[1 - i]);
                return -e;
            }
        }
    }
    int fl = fcntl(fds[0], F_GETFL);
    fcntl(fds[0], F_SETFL, fl | O_NONBLOCK);
    return 0;
}

/* posix_spawn with stdin /dev/null, stdout and stderr to the pipes, its own process group, default signals. */
static int spawn(const char *path, char *const argv[], char *const envp[], int out_w, int err_w, pid_t *pid)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, out_w, 1);
    posix_spawn_file_actions_adddup2(&fa, err_w, 2);
    posix_spawnattr_init(&attr);
    sigset_t reset, none;
    signals_to_reset(&reset);
    sigemptyset(&none);
    posix_spawnattr_setsigdefault(&attr, &reset);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setpgroup(&attr, 0);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
    int e = posix_spawn(pid, path, &fa, &attr, argv, envp);
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&fa);
    return e;
}

/* On the spawner's thread: start c, then tell its loop. The last touch of c there. */
static void spawn_one(mt_spawn_request_t *req)
{
    cmd_t *c = (cmd_t *)((char *)req - offsetof(cmd_t, spawn_req));
    pid_t pid = -1;
    int pidfd = -1;
    const char *step = NULL;
    int e = spawn(c->path, c->argv, c->envp, c->out_w, c->err_w, &pid);
    close(c->out_w);
    close(c->err_w);
    if (e == 0 && (pidfd = (int)syscall(SYS_pidfd_open, pid, 0)) < 0) {
        /* Cannot be watched: do not leave it running unwatched. */
        e = errno;
        step = "pidfd_open: ";
        kill(-pid, SIGKILL);
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
            ;
    }
    c->spawned_pid = pid;
    c->spawned_pidfd = pidfd;
    c->spawn_error = e;
    c->spawn_step = step;
    atomic_store_explicit(&c->answered, true, memory_order_release);
    uv_async_send(&c->spawned);
}

static mt_spawner_t spawner = MT_SPAWNER_INIT;

/* The spawner's answer, on the command's loop: watch the command, or report why it did not start. */
static void on_spawned(uv_async_t *async)
{
    cmd_t *c = async->data;
    if (!atomic_load_explicit(&c->answered, memory_order_acquire))
        return; /* cannot happen: one send per command, after the answer */
    uv_close((uv_handle_t *)&c->spawned, on_close);
    release_spawn_inputs(c);
    if (c->spawn_error != 0) {
        close(c->out_fd);
        close(c->err_fd);
        c->out_fd = c->err_fd = -1;
        snprintf(c->why, sizeof c->why, "cannot run %s: %s%s", c->name, c->spawn_step ? c->spawn_step : "",
                 strerror(c->spawn_error));
        c->closing = true;
        uv_close((uv_handle_t *)&c->timer, on_close);
        return;
    }
    uv_loop_t *loop = async->loop;
    c->started = true;
    c->pid = c->spawned_pid;
    c->pidfd = c->spawned_pidfd;
    live_add(c);
    c->start_us = mt_clock_us();
    uv_poll_init(loop, &c->exit_poll, c->pidfd);
    uv_poll_init(loop, &c->out_poll, c->out_fd);
    uv_poll_init(loop, &c->err_poll, c->err_fd);
    c->exit_poll.data = c->out_poll.data = c->err_poll.data = c;
    c->open_handles += 3;
    c->exit_open = c->out_open = c->err_open = true;
    uv_poll_start(&c->exit_poll, UV_READABLE, on_exit_poll);
    uv_poll_start(&c->out_poll, UV_READABLE, on_output);
    uv_poll_start(&c->err_poll, UV_READABLE, on_output);
    uv_timer_start(&c->timer, on_timer, c->timeout_ms, 0);
}

static cmd_t *cmd_new(uv_loop_t *loop, const char *name, mt_slurm_cmd_cb cb, void *data)
{
    cmd_t *c = mt_calloc(1, sizeof *c);
    c->cb = cb;
    c->data = data;
    c->pidfd = c->out_fd = c->err_fd = c->out_w = c->err_w = -1;
    snprintf(c->name, sizeof c->name, "%s", name);
    uv_timer_init(loop, &c->timer);
    c->timer.data = c;
    c->open_handles = 1;
    return c;
}

int mt_slurm_cmd_run(uv_loop_t *loop, char *const argv[], char *const envp[], unsigned timeout_ms, size_t out_cap,
                     mt_slurm_cmd_cb cb, void *data, char *err, size_t errlen)
{
    if (!loop || !argv || !argv[0] || !argv[0][0] || !envp || !cb || timeout_ms == 0)
        return mt_message_fail_rc(err, errlen, -EINVAL, "cannot run %s: %s", argv && argv[0] ? argv[0] : "a command",
                    !argv || !argv[0] || !argv[0][0] ? "no program" : !envp ? "no environment" : !cb ? "no callback"
                                                                                                  : "no timeout");
    const char *name = argv[0];
    char path[4096];
    int e = find_program(name, envp, path, sizeof path);
    if (e != 0) {
        /* Not executable: the callback says so, from the loop. */
        cmd_t *c = cmd_new(loop, name, cb, data);
        snprintf(c->why, sizeof c->why, "cannot run %s: %s", name, strerror(e));
        uv_timer_start(&c->timer, on_timer, 0, 0);
        return 0;
    }
    int out[2], errp[2];
    int rc = make_pipe(out);
    if (rc < 0)
        return mt_message_fail_rc(err, errlen, rc, "cannot run %s: pipe: %s", name, strerror(-rc));
    if ((rc = make_pipe(errp)) < 0) {
        close(out[0]);
        close(out[1]);
        return mt_message_fail_rc(err, errlen, rc, "cannot run %s: pipe: %s", name, strerror(-rc));
    }
    cmd_t *c = cmd_new(loop, name, cb, data);
    if ((rc = uv_async_init(loop, &c->spawned, on_spawned)) < 0) {
        close(out[0]);
        close(out[1]);
        close(errp[0]);
        close(errp[1]);
        c->closing = c->reported = true; /* nothing to report: the caller hears of it now */
        uv_close((uv_handle_t *)&c->timer, on_close);
        return mt_message_fail_rc(err, errlen, rc, "cannot run %s: %s", name, uv_strerror(rc));
    }
    c->spawned.data = c;
    c->open_handles++;
    c->timeout_ms = timeout_ms;
    c->cap = out_cap ? out_cap : CMD_DEFAULT_CAP;
    c->out.data = mt_calloc(1, 1);
    c->out.size = 1;
    c->err.data = mt_calloc(1, 1);
    c->err.size = 1;
    c->out_fd = out[0];
    c->err_fd = errp[0];
    c->out_w = out[1];
    c->err_w = errp[1];
    c->path = mt_strdup(path);
    c->argv = strv_copy(argv);
    c->envp = strv_copy(envp);
    c->spawn_req.run = spawn_one;
    if ((rc = mt_spawner_submit(&spawner, &c->spawn_req)) != 0) {
        close(c->out_fd);
        close(c->err_fd);
        close(c->out_w);
        close(c->err_w);
        c->closing = c->reported = true;
        uv_close((uv_handle_t *)&c->spawned, on_close);
        uv_close((uv_handle_t *)&c->timer, on_close);
        return mt_message_fail_rc(err, errlen, rc, "cannot run %s: no thread to start it: %s", name, strerror(-rc));
    }
    c->counted = true;
    atomic_fetch_add(&cmds_running, 1);
    return 0;
}
