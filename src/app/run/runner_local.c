/*
 * runner_local: run one job's command on a libuv loop (see runner_local.h).
 *
 * The command's waiter (muleteer-waiter, job_waiter.h) is forked by this
 * process's waiter helper (waiter_helper.h), which saves executing a
 * program per job; where the helper cannot serve, the waiter is executed,
 * with vfork() and exec -- as glibc's posix_spawn() does, without its walk
 * of every signal, its file actions' checks and its child stack
 * (spawn_exec). Either way it runs in a new session; it starts the command
 * in a session of its own and reports its pid (and its own) on a pipe. The
 * run is watched through a pidfd of the waiter: readable when the waiter
 * exits, which it does once the command has ended and its status file is
 * written; then we read the file, after reaping the waiter if it is our
 * child (an executed one; the helper reaps those it forked).
 *
 * The waiter's report comes after the command's exec: milliseconds on a
 * busy machine. A loop blocked that long would hold back every message and
 * claim behind it. So mt_run_start() does the checks and opens the files on
 * the loop, then hands the waiter's start and the wait for the report to the
 * spawner (common/spawner.h), a thread of this runner's own in each
 * process, which tells the run's loop through a uv_async_t once the command
 * is running (or could not be started). Only the calling thread waits: the
 * loop runs on.
 *
 * A run owns three handles: that uv_async_t; a uv_poll_t on the waiter's
 * pidfd, once there is one; and one uv_timer_t that first counts the
 * walltime, then -- once SIGTERM has been sent, by the walltime or by a
 * cancel -- the grace before SIGKILL. Signals go to the command's process
 * group directly. When the waiter exits, the handles are closed, and the
 * last close callback reports the result and frees the run. An adopted run
 * (mt_run_adopt) has no uv_async_t and its waiter is not ours to reap.
 *
 * With a job user (spec->run_as) the waiter is forked instead, since
 * posix_spawn() cannot switch credentials, and runs as that user: that
 * costs a copy of the page tables per job, the price of running jobs as
 * another user.
 */
#define MT_LOG_NAME "muleteer.jobs.runner"

#include "app/run/runner_local.h"

#include "app/run/job_script.h"
#include "app/run/job_waiter.h"
#include "app/run/waiter_helper.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/message.h"
#include "common/mem.h"
#include "common/spawner.h"

/* The waiter's descriptor for the fence (its report is MT_WAITER_REPORT_FD). */
#define MT_RUN_WAITER_FENCE_FD 4
#define MT_RUN_WAITER_FENCE_FD_TEXT "4"

/* Why the runner itself stopped the command, whichever came first. */
typedef enum {
    MT_RUN_STOP_NONE,
    MT_RUN_STOP_WALLTIME,
    MT_RUN_STOP_CANCEL,
} mt_run_stop_t;

struct mt_run {
    uv_async_t spawned;      /* the spawner's word that pid (or spawn_error) is set */
    uv_poll_t exit_poll;     /* on pidfd: readable once the waiter has exited (the command ended) */
    int pidfd;               /* the waiter's */
    pid_t waiter_pid;        /* the process that started the command and writes its status (job_waiter.h) */
    bool waiter_child;       /* the waiter is our child (executed): reaped here; not one the helper forked or adopted */
    bool waiter_reaped;      /* mt_run_wait_waiter reaped it already (a handler stopping) */
    int attempt;             /* the job's attempt, which the status file must name */
    mt_run_started_cb started_cb;
    uv_timer_t timer;        /* walltime, then the grace between SIGTERM and SIGKILL */
    mt_run_done_cb done_cb;
    void *data;
    const char *prog;        /* argv[0] (in argv), for log lines */
    char *job_dir_env;       /* "MULETEER_JOB_DIR=...": finds what left the group, after a cancel or walltime */
    int pid;                 /* leader = process group = session */
    double walltime_s;
    unsigned kill_grace_ms;
    mt_run_stop_t stop;      /* first reason the runner sent SIGTERM */
    bool term_sent;          /* the timer now counts the grace */
    bool ended;              /* exit_cb ran: no more signals */
    int open_handles;        /* handles not yet closed; the result goes out at 0 */
    mt_run_result_t result;

    /* What the spawner needs, owned by the run until the spawner has answered. */
    char **argv, **envp;     /* packed copies: one allocation each */
    char **wargv;            /* the waiter's command line, with argv and envp in it (packed) */
    char *working_dir;
    int in_fd, out_fd, err_fd;
    int report_fd;           /* read end of the waiter's start report (spawner side) */
    int report_child_fd;     /* its write end, the waiter's descriptor 3; closed once spawned */
    int fence_child_fd;      /* a copy of the fence, the waiter's descriptor 4; -1: none */
    pid_t spawned_waiter;    /* set by the spawner with spawned_pid */
    int spawned_pidfd;       /* likewise: the waiter's pidfd from the helper, or -1 */
    bool spawned_child;      /* likewise: whether the waiter is our child (waiter_child takes it) */
    int spawn_error;         /* set by the spawner: 0, or the errno of the waiter's start */
    pid_t spawned_pid;       /* set by the spawner; pid takes it on the loop (on_spawned) */
    atomic_bool spawn_answered; /* spawn_error and pid are set (the spawner's last write) */
    mt_spawn_request_t spawn_req; /* in the spawner's queue until spawn_run */
};


/* ------------------------------------------------------------------ */
/* Signals and the end of a run                                        */
/* ------------------------------------------------------------------ */

static void run_signal_group(mt_run_t *run, int sig)
{
    if (run->pid <= 0)
        return; /* not started yet: kill(-0) would reach our own group */
    if (kill(-run->pid, sig) < 0 && errno != ESRCH)
        mt_error("job process group %d (%s): kill(%d) failed: %s", run->pid, run->prog, sig, strerror(errno));
}

static void on_timer(uv_timer_t *timer);

/* SIGTERM to the group now, SIGKILL after the grace (unless it exits first). */
static void run_terminate(mt_run_t *run, mt_run_stop_t why)
{
    if (run->stop == MT_RUN_STOP_NONE)
        run->stop = why;
    if (run->term_sent || run->ended || run->pid <= 0)
        return; /* a run still being spawned is terminated as soon as it is running (on_spawned) */
    run->term_sent = true;
    run_signal_group(run, SIGTERM);
    uv_timer_start(&run->timer, on_timer, run->kill_grace_ms, 0);
}

static void on_timer(uv_timer_t *timer)
{
    mt_run_t *run = timer->data;
    if (run->ended)
        return;
    if (!run->term_sent) {
        mt_info("job process group %d (%s): walltime of %g s exceeded, sending SIGTERM", run->pid, run->prog,
                run->walltime_s);
        run->result.walltime_exceeded = true;
        run_terminate(run, MT_RUN_STOP_WALLTIME);
        return;
    }
    mt_notice("job process group %d (%s): still alive %u ms after SIGTERM, sending SIGKILL", run->pid, run->prog,
              run->kill_grace_ms);
    run_signal_group(run, SIGKILL);
}

static void run_free(mt_run_t *run)
{
    free(run->wargv);
    free(run->job_dir_env);
    free(run->argv);
    free(run->envp);
    free(run->working_dir);
    free(run);
}

static void on_close(uv_handle_t *handle)
{
    mt_run_t *run = handle->data;
    assert(run->open_handles > 0);
    if (--run->open_handles > 0)
        return;
    if (run->pidfd >= 0)
        close(run->pidfd);
    if (run->done_cb)
        run->done_cb(run, &run->result, run->data);
    run_free(run);
}

static void describe_result(mt_run_t *run)
{
    mt_run_result_t *r = &run->result;
    if (!r->started)
        return; /* why says so already */
    if (run->stop == MT_RUN_STOP_CANCEL)
        snprintf(r->why, sizeof r->why, "cancelled");
    else if (run->stop == MT_RUN_STOP_WALLTIME)
        snprintf(r->why, sizeof r->why, "walltime of %g s exceeded", run->walltime_s);
    else if (r->fenced)
        snprintf(r->why, sizeof r->why, "stopped unfinished by its waiter: the handler's fence lapsed");
    else if (r->term_signal != 0)
        snprintf(r->why, sizeof r->why, "killed by signal %d (%s)", r->term_signal, strsignal(r->term_signal));
    else if (r->exit_code != 0)
        snprintf(r->why, sizeof r->why, "exited with status %d", r->exit_code);
    else
        r->why[0] = '\0';
}

/* The result from the waiter's status file (job_waiter.h); false if there is none for this attempt. */
static bool read_status(mt_run_t *run)
{
    mt_waiter_status_t st;
    mt_run_result_t *r = &run->result;
    int rc = mt_waiter_status_read(run->working_dir, &st);
    if (rc < 0 || st.attempt != run->attempt || (st.pid != 0 && st.pid != run->pid)) {
        mt_error("job process %d (%s): its waiter %d ended without recording how it ended (%s)", run->pid, run->prog,
                 (int)run->waiter_pid, rc < 0 ? strerror(-rc) : "a status of another run");
        return false;
    }
    r->started = st.end != MT_WAITER_FAILED;
    r->exited = st.end == MT_WAITER_EXITED;
    r->exit_code = st.end == MT_WAITER_EXITED ? st.value : 0;
    r->term_signal = st.end == MT_WAITER_SIGNALED || st.end == MT_WAITER_FENCED ? st.value : 0;
    r->fenced = st.end == MT_WAITER_FENCED;
    r->disk_full = st.disk_full;
    r->waiter_cpu_us = st.cpu_us;
    if (st.end == MT_WAITER_FAILED)
        snprintf(r->why, sizeof r->why, "cannot start %s: %s", run->prog, strerror(st.value));
    return true;
}

static void on_process_exit(uv_poll_t *poll, int status, int events)
{
    (void)status;
    (void)events;
    mt_run_t *run = poll->data;
    if (run->waiter_child && !run->waiter_reaped) {
        int wstatus = 0;
        pid_t r;
        do
            r = waitpid(run->waiter_pid, &wstatus, WNOHANG);
        while (r < 0 && errno == EINTR);
        if (r == 0)
            return; /* not yet: a spurious wakeup */
        if (r < 0)
            mt_error("job waiter %d (%s): waitpid: %s", (int)run->waiter_pid, run->prog, strerror(errno));
    }
    /*
     * No uv_poll_stop(): the uv_close() below stops it, in this callback, and
     * each of them asks epoll to forget the pidfd (the second one fails).
     */
    run->ended = true;
    if (read_status(run)) {
        describe_result(run);
    } else {
        /* Nobody watches the command now: it must not run on unrecorded. */
        run_signal_group(run, SIGKILL);
        run->result.started = true;
        run->result.lost = true;
        snprintf(run->result.why, sizeof run->result.why, "its waiter ended without recording how the command ended");
    }
    /*
     * A run the runner stopped (cancel, walltime) must end whole, even what
     * left its group and session (setsid): that still names its working
     * directory. A /proc scan, so only on this rare path. (What stayed in
     * the group was killed by the waiter.)
     */
    if (run->stop != MT_RUN_STOP_NONE) {
        int n = mt_run_end_tagged(run->job_dir_env, 1000, NULL, NULL);
        if (n > 0)
            mt_notice("job process group %d (%s): killed %d process%s that had left the group", run->pid, run->prog,
                      n, n == 1 ? "" : "es");
    }

    mt_debug("job process %d (%s) ended: %s", run->pid, run->prog, run->result.why[0] ? run->result.why : "exited 0");
    uv_close((uv_handle_t *)&run->exit_poll, on_close);
    uv_close((uv_handle_t *)&run->timer, on_close);
}

/* ------------------------------------------------------------------ */
/* Starting                                                            */
/* ------------------------------------------------------------------ */

static bool env_overrides(const mt_run_spec_t *spec, const char *def)
{
    size_t keylen = (size_t)(strchr(def, '=') - def) + 1; /* with the '=' */
    for (size_t i = 0; i < spec->env_count; i++)
        if (strncmp(spec->env[i], def, keylen) == 0)
            return true;
    return false;
}

/*
 * The minimal environment plus spec->env, then MULETEER_JOB_DIR (last, so
 * no tool setting can hide it from recovery), NULL-terminated. Only
 * *job_dir is allocated (free it); the other strings are borrowed.
 */
static char **build_env(const mt_run_spec_t *spec, char **job_dir)
{
    static const char *const defaults[] = {MT_RUN_DEFAULT_PATH, MT_RUN_DEFAULT_LC_ALL};
    size_t ndefaults = sizeof defaults / sizeof defaults[0];
    char **envp = mt_calloc(ndefaults + spec->env_count + 2, sizeof *envp);
    size_t n = 0;
    for (size_t i = 0; i < ndefaults; i++)
        if (!env_overrides(spec, defaults[i]))
            envp[n++] = (char *)defaults[i];
    for (size_t i = 0; i < spec->env_count; i++)
        if (strncmp(spec->env[i], MT_RUN_JOB_DIR_VAR "=", sizeof MT_RUN_JOB_DIR_VAR) != 0)
            envp[n++] = (char *)spec->env[i];
    size_t len = sizeof MT_RUN_JOB_DIR_VAR + strlen(spec->working_dir) + 1;
    *job_dir = mt_malloc(len);
    snprintf(*job_dir, len, "%s=%s", MT_RUN_JOB_DIR_VAR, spec->working_dir);
    envp[n++] = *job_dir;
    envp[n] = NULL;
    return envp;
}

/*
 * The signals a command must not inherit as ignored. Exec resets caught
 * signals to their default by itself; only ignored ones (SIGPIPE in every
 * process here) survive it. Naming just these instead of every signal
 * spares the child dozens of sigaction() calls while the handler waits for
 * it to exec.
 */
static void inherited_ignores(sigset_t *set)
{
    static const int candidates[] = {SIGPIPE, SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2,
                                     SIGCHLD, SIGALRM, SIGTSTP, SIGTTIN, SIGTTOU, SIGXFSZ, SIGURG};
    sigemptyset(set);
    for (size_t i = 0; i < sizeof candidates / sizeof candidates[0]; i++)
        sigaddset(set, candidates[i]);
}

static int check_spec(const mt_run_spec_t *spec, char *err, size_t errlen)
{
    if (!spec || !spec->argv || !spec->argv[0] || spec->argv[0][0] != '/')
        return mt_message_fail_rc(err, errlen, -EINVAL, "the program must be given by an absolute path (got '%s')",
                        spec && spec->argv && spec->argv[0] ? spec->argv[0] : "");
    if (!spec->working_dir || !spec->stdout_path || !spec->stderr_path)
        return mt_message_fail_rc(err, errlen, -EINVAL, "cannot start %s: working directory and output files are required",
                        spec->argv[0]);
    if (!(spec->walltime_s >= 0) || isinf(spec->walltime_s))
        return mt_message_fail_rc(err, errlen, -EINVAL, "cannot start %s: invalid walltime %g", spec->argv[0],
                        spec->walltime_s);
    if (spec->env_count > 0 && !spec->env)
        return mt_message_fail_rc(err, errlen, -EINVAL, "cannot start %s: %zu environment entries but no array", spec->argv[0],
                        spec->env_count);
    for (size_t i = 0; i < spec->env_count; i++) {
        const char *kv = spec->env[i];
        if (!kv || kv[0] == '=' || !strchr(kv, '='))
            return mt_message_fail_rc(err, errlen, -EINVAL, "cannot start %s: environment entry '%s' is not KEY=VALUE",
                            spec->argv[0], kv ? kv : "(null)");
    }
    return 0;
}

/*
 * Create or truncate an output file. The working directory may hold what an
 * earlier run of the job left there (a job re-run after recovery): a link
 * is not followed (the handler may be root), and a FIFO does not block. In
 * a directory just created (fresh) the file is created exclusively, which
 * rules both out at once and spares the two fcntl() of clearing O_NONBLOCK.
 */
static int open_output(int dirfd, const char *path, const char *what, const mt_creds_t *run_as, bool fresh, int *fd,
                       char *err, size_t errlen)
{
    int flags = O_WRONLY | O_CREAT | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW | (fresh ? O_EXCL : O_TRUNC | O_NONBLOCK);
    *fd = openat(dirfd, path, flags, 0644);
    if (*fd < 0)
        return mt_message_fail_rc(err, errlen, -errno, "cannot open %s file %s: %s", what, path, strerror(errno));
    int fl = fresh ? -1 : fcntl(*fd, F_GETFL);
    if (fl >= 0)
        (void)fcntl(*fd, F_SETFL, fl & ~O_NONBLOCK);
    if (run_as && fchown(*fd, run_as->set_uid ? run_as->uid : (uid_t)-1, run_as->set_gid ? run_as->gid : (gid_t)-1) < 0) {
        int e = errno;
        close(*fd);
        *fd = -1;
        return mt_message_fail_rc(err, errlen, -e, "cannot give %s file %s to user %s: %s", what, path, run_as->user, strerror(e));
    }
    return 0;
}

/* The waiter's descriptors given away: the handler keeps none of their write ends. */
static void close_child_fds(mt_run_t *run)
{
    if (run->report_child_fd >= 0)
        close(run->report_child_fd);
    if (run->fence_child_fd >= 0)
        close(run->fence_child_fd);
    run->report_child_fd = run->fence_child_fd = -1;
}

/*
 * The waiter (pid wpid; 0: the report names it) is running: read its start
 * report. 0 with spawned_pid (the command's), spawned_waiter and
 * spawned_child set; else an errno value, the waiter reaped if it is our
 * child, and spawned_pidfd closed. Blocks for the command's exec. Any thread.
 */
static int read_report(mt_run_t *run, pid_t wpid, bool our_child)
{
    mt_waiter_report_t r = {0};
    ssize_t n;
    do
        n = read(run->report_fd, &r, sizeof r);
    while (n < 0 && errno == EINTR);
    close(run->report_fd);
    run->report_fd = -1;
    if (n == (ssize_t)sizeof r && r.pid > 0 && (wpid > 0 || r.waiter_pid > 1)) {
        run->spawned_pid = r.pid;
        run->spawned_waiter = wpid > 0 ? wpid : r.waiter_pid;
        run->spawned_child = our_child;
        return 0;
    }
    if (our_child)
        while (waitpid(wpid, NULL, 0) < 0 && errno == EINTR)
            ; /* it exits right after a failed start, or has died */
    if (run->spawned_pidfd >= 0)
        close(run->spawned_pidfd);
    run->spawned_pidfd = -1;
    return n == (ssize_t)sizeof r && r.err > 0 ? r.err : EPIPE;
}

/*
 * The signals a waiter must start with at their default: those of
 * inherited_ignores(), and every other one this process catches or
 * ignores, found once per process (a walk of every signal, which glibc's
 * posix_spawn() makes at each spawn). A caught signal cannot reach the
 * vforked child before it is reset (every signal is blocked on the
 * spawner's thread, and so in the child), and exec resets caught ones
 * anyway; the reset is for the moment the child unblocks them.
 */
static pthread_mutex_t reset_lock = PTHREAD_MUTEX_INITIALIZER;
static pid_t reset_owner;
static int reset_sigs[NSIG];
static int nreset_sigs;

static void signals_to_reset(void)
{
    pthread_mutex_lock(&reset_lock);
    if (reset_owner != getpid()) {
        sigset_t set;
        inherited_ignores(&set);
        nreset_sigs = 0;
        for (int sig = 1; sig < NSIG; sig++) {
            struct sigaction sa;
            if (sig == SIGKILL || sig == SIGSTOP)
                continue;
            if (sigismember(&set, sig) == 1 || (sigaction(sig, NULL, &sa) == 0 && sa.sa_handler != SIG_DFL))
                reset_sigs[nreset_sigs++] = sig;
        }
        reset_owner = getpid();
    }
    pthread_mutex_unlock(&reset_lock);
}

/*
 * The vforked child: it shares the handler's memory until it execs, so
 * only system calls, and its one write is *err. A new session (its own
 * process group: one kill(-pid) reaches the waiter and nothing of ours),
 * the descriptors at 0..4 (every source is above 4 or copied before it is
 * overwritten: prepare_waiter), the working directory, the signals, exec.
 */
static void spawn_child(mt_run_t *run, volatile int *err) __attribute__((noreturn, noinline));
static void spawn_child(mt_run_t *run, volatile int *err)
{
    if (setsid() < 0 || dup2(run->in_fd, 0) < 0 || dup2(run->out_fd, 1) < 0 || dup2(run->err_fd, 2) < 0 ||
        dup2(run->report_child_fd, MT_WAITER_REPORT_FD) < 0 ||
        (run->fence_child_fd >= 0 && dup2(run->fence_child_fd, MT_RUN_WAITER_FENCE_FD) < 0) ||
        chdir(run->working_dir) < 0) {
        *err = errno;
        _exit(127);
    }
    struct sigaction dfl = {.sa_handler = SIG_DFL};
    for (int i = 0; i < nreset_sigs; i++)
        (void)sigaction(reset_sigs[i], &dfl, NULL);
    sigset_t none;
    sigemptyset(&none);
    (void)sigprocmask(SIG_SETMASK, &none, NULL);
    execve(run->wargv[0], run->wargv, (char *const[]){NULL});
    *err = errno;
    _exit(127);
}

/*
 * Start the waiter, then wait for its report: 0 with run->spawned_pid set,
 * or an errno value. Any thread with every signal blocked (the spawner's).
 * vfork() rather than posix_spawn(): the same CLONE_VM | CLONE_VFORK, without
 * the per-spawn walk of every signal, the file actions' descriptor checks
 * (a getrlimit each) and the child's own stack mapping.
 */
static int spawn_exec(mt_run_t *run)
{
    signals_to_reset();
    /* Blocked already on the spawner's thread; not on a loop's that spawns itself (no thread could start). */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    volatile int child_err = 0;
    pid_t wpid = vfork();
    if (wpid == 0)
        spawn_child(run, &child_err);
    int rc = wpid < 0 ? errno : child_err;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    close_child_fds(run);
    if (rc != 0) {
        if (wpid > 0)
            while (waitpid(wpid, NULL, 0) < 0 && errno == EINTR)
                ;
        return rc;
    }
    return read_report(run, wpid, true);
}

/*
 * Start the waiter and wait for its report, as spawn_exec() does: forked by
 * this process's waiter helper, or executed where the helper cannot serve.
 * A helper that took the request and died leaves a waiter or not: its
 * report says which, and names it.
 */
static int spawn_waiter(mt_run_t *run)
{
    int fds[MT_WAITER_HELPER_MAX_FDS] = {run->in_fd, run->out_fd, run->err_fd, run->report_child_fd,
                                         run->fence_child_fd};
    int nfds = run->fence_child_fd >= 0 ? MT_RUN_WAITER_FENCE_FD + 1 : MT_WAITER_REPORT_FD + 1;
    pid_t wpid;
    int pidfd;
    switch (mt_waiter_helper_fork(run->wargv[0], run->working_dir, run->wargv, fds, nfds, &wpid, &pidfd)) {
    case MT_WAITER_HELPER_FORKED:
        close_child_fds(run);
        run->spawned_pidfd = pidfd;
        return read_report(run, wpid, false);
    case MT_WAITER_HELPER_NO_ANSWER:
        close_child_fds(run);
        return read_report(run, 0, false);
    case MT_WAITER_HELPER_NOT_SENT:
        break;
    }
    return spawn_exec(run);
}

/* ------------------------------------------------------------------ */
/* The spawner (common/spawner.h): one thread that waits out the vforks */
/* ------------------------------------------------------------------ */

/* Tell the run's loop how its spawn went (0 or an errno value): the last touch of run by whoever spawned it. */
static void spawn_answer(mt_run_t *run, int error)
{
    run->spawn_error = error;
    atomic_store(&run->spawn_answered, true);
    uv_async_send(&run->spawned);
}

/* On the spawner's thread: start the run, then tell its loop. */
static void spawn_run(mt_spawn_request_t *req)
{
    mt_run_t *run = (mt_run_t *)((char *)req - offsetof(mt_run_t, spawn_req));
    spawn_answer(run, spawn_waiter(run));
}

static mt_spawner_t spawner = MT_SPAWNER_INIT;

/* ------------------------------------------------------------------ */
/* Starting as another user: fork, switch, exec                        */
/* ------------------------------------------------------------------ */

/* What the child writes to the report pipe when it cannot exec. */
typedef struct child_report {
    int err;        /* errno */
    char what[96];  /* the step: "setuid", "chdir /data/jobs/7", "exec" */
} child_report_t;

static void child_fail(int report_fd, const char *what, const char *arg, int e) __attribute__((noreturn));

/* Async-signal-safe: no stdio, no allocation. */
static void child_fail(int report_fd, const char *what, const char *arg, int e)
{
    child_report_t r = {.err = e};
    size_t n = 0;
    for (const char *p = what; *p && n + 1 < sizeof r.what; p++)
        r.what[n++] = *p;
    if (arg && n + 2 < sizeof r.what) {
        r.what[n++] = ' ';
        for (const char *p = arg; *p && n + 1 < sizeof r.what; p++)
            r.what[n++] = *p;
    }
    r.what[n] = '\0';
    (void)!write(report_fd, &r, sizeof r);
    _exit(127);
}

/*
 * The child between fork and exec: only system calls, since the handler
 * may have other threads (holding locks this copy would never see released).
 */
static void child_exec_as(const mt_run_spec_t *spec, char *const *wargv, int in_fd, int out_fd, int err_fd,
                          int waiter_report_fd, int waiter_fence_fd, int report_fd)
{
    if (setsid() < 0)
        child_fail(report_fd, "setsid", NULL, errno);
    if (dup2(in_fd, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(err_fd, 2) < 0 ||
        dup2(waiter_report_fd, MT_WAITER_REPORT_FD) < 0 ||
        (waiter_fence_fd >= 0 && dup2(waiter_fence_fd, MT_RUN_WAITER_FENCE_FD) < 0))
        child_fail(report_fd, "dup2", NULL, errno);
    const char *step = "";
    int rc = mt_creds_apply(spec->run_as, &step);
    if (rc < 0)
        child_fail(report_fd, step, NULL, -rc);
    /* As the job's user: a directory that user cannot enter is that user's problem, reported as such. */
    if (chdir(spec->working_dir) < 0)
        child_fail(report_fd, "chdir", spec->working_dir, errno);
    sigset_t ignores, none;
    inherited_ignores(&ignores);
    struct sigaction dfl = {.sa_handler = SIG_DFL};
    sigemptyset(&dfl.sa_mask);
    for (int sig = 1; sig < NSIG; sig++)
        if (sigismember(&ignores, sig) == 1)
            (void)sigaction(sig, &dfl, NULL);
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    execve(wargv[0], wargv, (char *const[]){NULL});
    child_fail(report_fd, "exec", NULL, errno);
}

/*
 * Fork the waiter as spec->run_as (so that it starts the command as that
 * user too). Returns its pid once it runs, or -errno with err set.
 */
static pid_t spawn_as(const mt_run_spec_t *spec, char *const *wargv, int in_fd, int out_fd, int err_fd,
                      int waiter_report_fd, int waiter_fence_fd, char *err, size_t errlen)
{
    int report[2];
    if (pipe2(report, O_CLOEXEC) < 0)
        return mt_message_fail_rc(err, errlen, -errno, "cannot start %s: pipe2: %s", spec->argv[0], strerror(errno));
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(report[0]);
        close(report[1]);
        return mt_message_fail_rc(err, errlen, -e, "cannot start %s: fork: %s", spec->argv[0], strerror(e));
    }
    if (pid == 0) {
        close(report[0]);
        child_exec_as(spec, wargv, in_fd, out_fd, err_fd, waiter_report_fd, waiter_fence_fd, report[1]);
    }
    close(report[1]);
    /* EOF: the exec happened (the pipe was close-on-exec). */
    child_report_t r;
    ssize_t n;
    do
        n = read(report[0], &r, sizeof r);
    while (n < 0 && errno == EINTR);
    close(report[0]);
    if (n != (ssize_t)sizeof r)
        return pid;
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ; /* it has exited already, or is about to */
    r.what[sizeof r.what - 1] = '\0';
    return mt_message_fail_rc(err, errlen, -r.err, "cannot start %s as user %s: %s: %s", spec->argv[0],
                    spec->run_as->set_uid ? spec->run_as->user : "(unchanged)", r.what, strerror(r.err));
}

static uint64_t walltime_ms(double s)
{
    double ms = s * 1000.0;
    if (ms > 1e12) /* ~30 years: beyond any loop's lifetime, and no uint64_t overflow */
        ms = 1e12;
    uint64_t whole = (uint64_t)ms;
    if ((double)whole < ms)
        whole++;
    return whole > 0 ? whole : 1;
}

/* A NULL-terminated copy of the n strings of v in one allocation (one free()). */
static char **pack_strings(char *const *v, size_t n)
{
    size_t bytes = (n + 1) * sizeof(char *);
    for (size_t i = 0; i < n; i++)
        bytes += strlen(v[i]) + 1;
    char **out = mt_malloc(bytes);
    char *p = (char *)(out + n + 1);
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(v[i]) + 1;
        memcpy(p, v[i], len);
        out[i] = p;
        p += len;
    }
    out[n] = NULL;
    return out;
}

static size_t count_strings(char *const *v)
{
    size_t n = 0;
    while (v[n])
        n++;
    return n;
}

/* What only the spawn needed: its file actions and attributes, and the descriptors it passed on. */
static void release_spawn_inputs(mt_run_t *run)
{
    if (run->err_fd >= 0 && run->err_fd != run->out_fd)
        close(run->err_fd);
    if (run->out_fd >= 0)
        close(run->out_fd);
    if (run->in_fd >= 0)
        close(run->in_fd);
    run->in_fd = run->out_fd = run->err_fd = -1;
    close_child_fds(run);
    if (run->report_fd >= 0)
        close(run->report_fd);
    run->report_fd = -1;
}

/* Watch a command that is now running: its waiter's pidfd, its walltime, a cancel that came first. */
static int watch_started(mt_run_t *run, uv_loop_t *loop)
{
    if (run->pidfd < 0)
        run->pidfd = (int)syscall(SYS_pidfd_open, run->waiter_pid, 0);
    if (run->pidfd < 0 || uv_poll_init(loop, &run->exit_poll, run->pidfd) < 0)
        return run->pidfd < 0 ? errno : EIO;
    run->open_handles++;
    run->exit_poll.data = run;
    uv_poll_start(&run->exit_poll, UV_READABLE, on_process_exit);
    if (run->walltime_s > 0)
        uv_timer_start(&run->timer, on_timer, walltime_ms(run->walltime_s), 0);
    return 0;
}

/* The spawner's answer, on the run's loop. */
static void on_spawned(uv_async_t *async)
{
    mt_run_t *run = async->data;
    uv_close((uv_handle_t *)&run->spawned, on_close);
    release_spawn_inputs(run);
    int e = run->spawn_error;
    if (e == 0) {
        run->pid = run->spawned_pid;
        run->waiter_pid = run->spawned_waiter;
        run->waiter_child = run->spawned_child;
        run->pidfd = run->spawned_pidfd; /* the helper's, or -1: watch_started opens one */
        run->spawned_pidfd = -1;
    }
    if (e == 0 && (e = watch_started(run, async->loop)) != 0) {
        /* Cannot watch it: do not leave it running unwatched. */
        mt_error("cannot watch %s (pid %d, waiter %d): pidfd_open: %s", run->prog, run->pid, (int)run->waiter_pid,
                 strerror(e));
        kill(-run->pid, SIGKILL);
        if (run->waiter_child)
            while (waitpid(run->waiter_pid, NULL, 0) < 0 && errno == EINTR)
                ;
    }
    if (e != 0) {
        run->ended = true;
        run->result.started = false;
        snprintf(run->result.why, sizeof run->result.why, "cannot start %s: %s", run->prog, strerror(e));
        uv_close((uv_handle_t *)&run->timer, on_close);
        return;
    }
    mt_debug("job process %d started: %s in %s", run->pid, run->prog, run->working_dir);
    if (run->started_cb)
        run->started_cb(run, run->pid, run->data);
    if (run->result.cancelled && !run->ended)
        run_terminate(run, MT_RUN_STOP_CANCEL); /* cancelled while it was being spawned */
}

/*
 * What the job's destination adds (spec->route, job_route.h): the walltime
 * limit (the smaller of it and the tool's), GALAXY_SLOTS for local_slots as
 * Galaxy's local runner sets it, and the destination's <env> lines. Galaxy
 * writes those as lines of the job's shell script (NAME="value"; export
 * NAME -- so $VAR in a value is expanded --, . "FILE", or a command such as
 * "module load x"; job_script.h renders them); here the same lines run in a shell
 * (`SHELL -c 'LINES; exec "$@"' muleteer-job ARGV...`) that then execs the
 * command: the command's own arguments never pass through the shell.
 */
typedef struct route_parts {
    char **argv;        /* the wrapped argv, or NULL */
    char *script;
    const char **env;   /* spec->env plus the slots entries, or NULL */
    char slots[2][48];
} route_parts_t;

static void route_parts_free(route_parts_t *rp)
{
    free(rp->argv);
    free(rp->script);
    free(rp->env);
}

static int apply_route(const mt_run_spec_t *spec, mt_run_spec_t *eff, route_parts_t *rp, char *err, size_t errlen)
{
    memset(rp, 0, sizeof *rp);
    *eff = *spec;
    const mt_job_route_t *route = spec->route;
    if (!route)
        return 0;
    if (route->walltime_s > 0 && (eff->walltime_s == 0 || route->walltime_s < eff->walltime_s))
        eff->walltime_s = route->walltime_s;
    if (route->slots > 0) {
        rp->env = mt_calloc(spec->env_count + 2, sizeof *rp->env);
        for (size_t i = 0; i < spec->env_count; i++)
            rp->env[i] = spec->env[i];
        snprintf(rp->slots[0], sizeof rp->slots[0], "GALAXY_SLOTS=%u", route->slots);
        snprintf(rp->slots[1], sizeof rp->slots[1], "GALAXY_SLOTS_CONFIGURED=1");
        rp->env[spec->env_count] = rp->slots[0];
        rp->env[spec->env_count + 1] = rp->slots[1];
        eff->env = rp->env;
        eff->env_count = spec->env_count + 2;
    }
    rp->script = mt_job_script_lines(route);
    if (!rp->script)
        return 0;
    const char *shell = mt_job_script_shell(route);
    if (access(shell, X_OK) < 0)
        return mt_message_fail_rc(err, errlen, -errno, "cannot start %s: destination '%s' runs its env lines with %s: %s",
                        spec->argv[0], route->destination, shell, strerror(errno));
    size_t len = strlen(rp->script);
    mt_job_script_append(&rp->script, &len, "exec \"$@\"\n");
    size_t argc = count_strings(spec->argv);
    rp->argv = mt_calloc(argc + 5, sizeof *rp->argv);
    rp->argv[0] = (char *)shell;
    rp->argv[1] = (char *)"-c";
    rp->argv[2] = rp->script;
    rp->argv[3] = (char *)"muleteer-job"; /* $0 */
    for (size_t i = 0; i < argc; i++)
        rp->argv[4 + i] = spec->argv[i];
    eff->argv = rp->argv;
    return 0;
}

/* ------------------------------------------------------------------ */
/* The waiter (job_waiter.h)                                           */
/* ------------------------------------------------------------------ */

static char waiter_program[4096];
static pthread_once_t waiter_once = PTHREAD_ONCE_INIT;

/* Beside the running binary: DIR_OF(/proc/self/exe)/muleteer-waiter. */
static void find_waiter(void)
{
    if (waiter_program[0])
        return;
    char exe[sizeof waiter_program - sizeof MT_WAITER_PROGRAM];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) {
        snprintf(waiter_program, sizeof waiter_program, "%s", MT_WAITER_PROGRAM);
        return;
    }
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash)
        slash[1] = '\0';
    snprintf(waiter_program, sizeof waiter_program, "%s%s", slash ? exe : "", MT_WAITER_PROGRAM);
}

void mt_run_set_waiter_program(const char *path)
{
    snprintf(waiter_program, sizeof waiter_program, "%s", path);
}

const char *mt_run_waiter_program(void)
{
    pthread_once(&waiter_once, find_waiter);
    return waiter_program;
}

/*
 * The waiter's command line (muleteer-waiter --job-dir DIR --attempt N
 * --fence-fd 4|-1 --grace-ms G -e K=V ... -- ARGV...) and its descriptors:
 * the report pipe, and a copy of the fence. Both child ends are put at 10
 * or above, so that the dup2s to 0..4 in the child never overwrite a source
 * before it is copied. Returns 0 or -errno.
 */
static int prepare_waiter(mt_run_t *run, const char *waiter, int fence_fd)
{
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) < 0)
        return -errno;
    run->report_fd = pipefd[0];
    run->report_child_fd = fcntl(pipefd[1], F_DUPFD_CLOEXEC, 10);
    close(pipefd[1]);
    if (run->report_child_fd < 0)
        return -errno;
    if (fence_fd > 0 && (run->fence_child_fd = fcntl(fence_fd, F_DUPFD_CLOEXEC, 10)) < 0)
        return -errno;
    size_t nargv = count_strings(run->argv), nenv = count_strings(run->envp);
    char **v = mt_calloc(10 + 2 * nenv + 1 + nargv + 1, sizeof *v);
    char attempt[16], grace[16];
    snprintf(attempt, sizeof attempt, "%d", run->attempt);
    snprintf(grace, sizeof grace, "%u", run->kill_grace_ms);
    size_t k = 0;
    v[k++] = (char *)waiter;
    v[k++] = "--job-dir";
    v[k++] = run->working_dir;
    v[k++] = "--attempt";
    v[k++] = attempt;
    v[k++] = "--fence-fd";
    v[k++] = run->fence_child_fd >= 0 ? MT_RUN_WAITER_FENCE_FD_TEXT : "-1";
    v[k++] = "--grace-ms";
    v[k++] = grace;
    for (size_t i = 0; i < nenv; i++) {
        v[k++] = "-e";
        v[k++] = run->envp[i];
    }
    v[k++] = "--";
    for (size_t i = 0; i < nargv; i++)
        v[k++] = run->argv[i];
    v[k] = NULL;
    run->wargv = pack_strings(v, k);
    free(v);
    return 0;
}

int mt_run_start(uv_loop_t *loop, const mt_run_spec_t *spec, mt_run_done_cb done_cb, void *data, mt_run_t **out,
                 char *err, size_t errlen)
{
    assert(loop && done_cb && out);
    int rc = check_spec(spec, err, errlen);
    if (rc < 0)
        return rc;
    /* What exec would refuse, said now and plainly; anything stranger comes back through done_cb. */
    if (!spec->run_as && access(spec->argv[0], X_OK) < 0)
        return mt_message_fail_rc(err, errlen, -errno, "cannot start %s: %s", spec->argv[0], strerror(errno));
    const char *waiter = mt_run_waiter_program();
    if (access(waiter, X_OK) < 0)
        return mt_message_fail_rc(err, errlen, -errno, "cannot start %s: its waiter %s: %s", spec->argv[0], waiter,
                        strerror(errno));
    route_parts_t parts;
    mt_run_spec_t effective;
    if ((rc = apply_route(spec, &effective, &parts, err, errlen)) < 0) {
        route_parts_free(&parts);
        return rc;
    }
    spec = &effective; /* from here on, the command as the destination runs it */

    int dirfd = -1, in_fd = -1, out_fd = -1, err_fd = -1;
    char **envp = NULL, *job_dir_env = NULL;
    mt_run_t *run = NULL;

    dirfd = open(spec->working_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0) {
        rc = mt_message_fail_rc(err, errlen, -errno, "cannot start %s: working directory %s: %s", spec->argv[0],
                      spec->working_dir, strerror(errno));
        goto error;
    }
    in_fd = open("/dev/null", O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (in_fd < 0) {
        rc = mt_message_fail_rc(err, errlen, -errno, "cannot open /dev/null: %s", strerror(errno));
        goto error;
    }
    if ((rc = open_output(dirfd, spec->stdout_path, "stdout", spec->run_as, spec->fresh_dir, &out_fd, err, errlen)) < 0)
        goto error;
    if (strcmp(spec->stdout_path, spec->stderr_path) == 0) {
        /* Two descriptions of one file would overwrite each other's output: share one, as 2>&1 does. */
        err_fd = out_fd;
    } else if ((rc = open_output(dirfd, spec->stderr_path, "stderr", spec->run_as, spec->fresh_dir, &err_fd, err, errlen)) < 0) {
        goto error;
    }
    close(dirfd);
    dirfd = -1;

    envp = build_env(spec, &job_dir_env);
    run = mt_calloc(1, sizeof *run);
    run->done_cb = done_cb;
    run->started_cb = spec->started_cb;
    run->data = data;
    run->walltime_s = spec->walltime_s;
    run->kill_grace_ms = spec->kill_grace_ms;
    run->pidfd = -1;
    run->job_dir_env = job_dir_env;
    job_dir_env = NULL;
    run->in_fd = in_fd;
    run->out_fd = out_fd;
    run->err_fd = err_fd;
    in_fd = out_fd = err_fd = -1; /* the run's now */
    run->argv = pack_strings(spec->argv, count_strings(spec->argv));
    run->prog = run->argv[parts.argv ? 4 : 0]; /* the command, not the shell running the env lines */
    run->envp = pack_strings(envp, count_strings(envp));
    run->working_dir = mt_strdup(spec->working_dir);
    run->attempt = spec->attempt > 0 ? spec->attempt : 1;
    free(envp);
    envp = NULL;
    run->report_fd = run->report_child_fd = run->fence_child_fd = run->spawned_pidfd = -1;
    if ((rc = prepare_waiter(run, waiter, spec->fence_fd)) < 0) {
        rc = mt_message_fail_rc(err, errlen, rc, "cannot start %s: the waiter's descriptors: %s", run->prog, strerror(-rc));
        goto free_run;
    }
    if (!spec->fresh_dir)
        mt_waiter_files_remove(run->working_dir); /* what an earlier attempt left says nothing of this one */

    if (spec->run_as) {
        /* fork() + setuid: never shares the loop's memory, and is rare: done here, report and all. */
        pid_t wpid = spawn_as(spec, run->wargv, run->in_fd, run->out_fd, run->err_fd, run->report_child_fd,
                              run->fence_child_fd, err, errlen);
        close_child_fds(run);
        if (wpid < 0) {
            rc = wpid;
            goto free_run;
        }
        int e = read_report(run, wpid, true);
        if (e != 0) {
            rc = mt_message_fail_rc(err, errlen, -e, "cannot start %s as user %s: exec: %s", spec->argv[0],
                          spec->run_as->set_uid ? spec->run_as->user : "(unchanged)", strerror(e));
            goto free_run;
        }
    }
    uv_timer_init(loop, &run->timer);
    run->timer.data = run;
    uv_async_init(loop, &run->spawned, on_spawned);
    run->spawned.data = run;
    run->open_handles = 2;
    if (spec->run_as) {
        spawn_answer(run, 0); /* already running: on_spawned watches it from the loop */
    } else {
        run->spawn_req.run = spawn_run;
        if ((rc = mt_spawner_submit(&spawner, &run->spawn_req)) != 0) {
            /* No thread to wait for the vfork: spawn right here, as the loop's own caller. */
            mt_warn("cannot start the spawner thread (%s): spawning on the loop", strerror(-rc));
            spawn_answer(run, spawn_waiter(run));
        }
    }
    route_parts_free(&parts);
    *out = run;
    return 0;

free_run:
    release_spawn_inputs(run);
    run_free(run);
error:
    free(envp);
    free(job_dir_env);
    if (err_fd >= 0 && err_fd != out_fd)
        close(err_fd);
    if (out_fd >= 0)
        close(out_fd);
    if (in_fd >= 0)
        close(in_fd);
    if (dirfd >= 0)
        close(dirfd);
    route_parts_free(&parts);
    return rc;
}

int mt_run_adopt(uv_loop_t *loop, const mt_run_adoption_t *a, mt_run_done_cb done_cb, void *data, mt_run_t **out,
                 char *err, size_t errlen)
{
    assert(loop && a && done_cb && out);
    if (a->waiter_pid <= 1 || a->command_pid <= 1 || !a->working_dir)
        return mt_message_fail_rc(err, errlen, -EINVAL, "cannot adopt a run without its waiter, command and directory");
    mt_run_t *run = mt_calloc(1, sizeof *run);
    run->done_cb = done_cb;
    run->data = data;
    run->walltime_s = a->walltime_s;
    run->kill_grace_ms = a->kill_grace_ms;
    run->in_fd = run->out_fd = run->err_fd = run->report_fd = run->report_child_fd = run->fence_child_fd = -1;
    run->spawned_pidfd = -1;
    run->argv = pack_strings((char *[]){(char *)(a->prog ? a->prog : "(adopted)"), NULL}, 1);
    run->prog = run->argv[0];
    run->working_dir = mt_strdup(a->working_dir);
    size_t len = sizeof MT_RUN_JOB_DIR_VAR + strlen(a->working_dir) + 1;
    run->job_dir_env = mt_malloc(len);
    snprintf(run->job_dir_env, len, "%s=%s", MT_RUN_JOB_DIR_VAR, a->working_dir);
    run->pid = run->spawned_pid = a->command_pid;
    run->waiter_pid = run->spawned_waiter = a->waiter_pid;
    run->attempt = a->attempt > 0 ? a->attempt : 1;
    atomic_store(&run->spawn_answered, true);
    run->pidfd = -1;
    uv_timer_init(loop, &run->timer);
    run->timer.data = run;
    run->open_handles = 1;
    int e = watch_started(run, loop);
    if (e != 0) {
        /* Only the timer is open: close it, and free the run without reporting anything. */
        run->done_cb = NULL;
        uv_close((uv_handle_t *)&run->timer, on_close);
        return mt_message_fail_rc(err, errlen, -e, "cannot watch the waiter %d of %s: %s", a->waiter_pid, a->working_dir,
                        strerror(e));
    }
    mt_info("job process %d (%s): adopted, with its waiter %d", run->pid, run->prog, a->waiter_pid);
    *out = run;
    return 0;
}

void mt_run_wait_waiter(mt_run_t *run, unsigned ms)
{
    pid_t w = run->waiter_pid ? run->waiter_pid : (atomic_load(&run->spawn_answered) ? run->spawned_waiter : 0);
    if (w <= 1 || run->ended)
        return;
    /* A pidfd says when it has ended even if it is a zombie nobody reaps (an adopted one's parent is not us). */
    int pidfd = run->pidfd >= 0 ? run->pidfd : (int)syscall(SYS_pidfd_open, w, 0);
    struct pollfd p = {.fd = pidfd, .events = POLLIN};
    bool gone = pidfd < 0 || poll(&p, 1, (int)ms) > 0;
    if (!gone) {
        mt_warn("job waiter %d (%s) still there %u ms after its command was stopped: SIGKILL", (int)w, run->prog, ms);
        kill(w, SIGKILL);
    }
    bool child = run->waiter_pid ? run->waiter_child : run->spawned_child;
    if (child) {
        while (waitpid(w, NULL, 0) < 0 && errno == EINTR)
            ;
        run->waiter_reaped = true;
    }
    if (pidfd >= 0 && pidfd != run->pidfd)
        close(pidfd);
}

int mt_run_pid(const mt_run_t *run)
{
    return run->pid;
}

int mt_run_wait_pid(mt_run_t *run)
{
    while (!atomic_load(&run->spawn_answered))
        usleep(200); /* an exec: milliseconds at most */
    return run->spawn_error == 0 ? run->spawned_pid : 0;
}

void mt_run_cancel(mt_run_t *run)
{
    if (run->ended)
        return;
    if (!run->result.cancelled && run->pid > 0)
        mt_info("job process group %d (%s): cancelled, sending SIGTERM", run->pid, run->prog);
    else if (!run->result.cancelled)
        mt_info("job command %s: cancelled while starting, SIGTERM as soon as it runs", run->prog);
    run->result.cancelled = true;
    run_terminate(run, MT_RUN_STOP_CANCEL);
}

/* ------------------------------------------------------------------ */
/* Orphans of a previous handler                                       */
/* ------------------------------------------------------------------ */

/*
 * Does process group pgid have a member that is not a zombie? A zombie is
 * dead already; it merely waits for a parent to reap it, and in a container
 * whose PID 1 never reaps, it waits forever. kill(-pgid, 0) counts zombies,
 * so /proc decides; without /proc, kill()'s answer stands.
 */
static bool group_alive(int pgid)
{
    if (kill(-pgid, 0) < 0)
        return false;
    DIR *proc = opendir("/proc");
    if (!proc)
        return true;
    bool alive = false;
    struct dirent *de;
    while (!alive && (de = readdir(proc)) != NULL) {
        char *end;
        long member = strtol(de->d_name, &end, 10);
        if (member <= 0 || *end != '\0')
            continue;
        char path[64], buf[512];
        snprintf(path, sizeof path, "/proc/%ld/stat", member);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            continue; /* it exited meanwhile */
        ssize_t n = read(fd, buf, sizeof buf - 1);
        close(fd);
        if (n <= 0)
            continue;
        buf[n] = '\0';
        /* "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses. */
        char *rparen = strrchr(buf, ')');
        char state;
        int ppid, pgrp;
        if (rparen && sscanf(rparen + 1, " %c %d %d", &state, &ppid, &pgrp) == 3 && pgrp == pgid && state != 'Z' &&
            state != 'X')
            alive = true;
    }
    closedir(proc);
    return alive;
}

/* Poll until the group has no live member, for up to ms. True if it is gone. */
static bool wait_group_gone(int pgid, unsigned ms)
{
    int64_t deadline = mt_clock_ms() + ms;
    for (;;) {
        if (!group_alive(pgid))
            return true;
        if (mt_clock_ms() >= deadline)
            return false;
        struct timespec tick = {.tv_sec = 0, .tv_nsec = 10 * 1000 * 1000};
        nanosleep(&tick, NULL);
    }
}

bool mt_run_stop_orphan(int pid, unsigned grace_ms)
{
    if (pid <= 1)
        return false;
    if (kill(-pid, 0) < 0) {
        /* Our commands run as we do, or we are root: a group we may not signal is someone else's. */
        if (errno == EPERM)
            mt_notice("process group %d belongs to another user: not a job of ours, left alone", pid);
        return false;
    }
    /*
     * A job's leader is its own session leader (setsid()) and can never stop
     * being one. A live leader that is not means the pid was reused by an
     * unrelated group (a shell's pipeline, say). A dead leader (ESRCH) with
     * members left is what a job that put children in the background leaves.
     */
    pid_t sid = getsid(pid);
    if (sid >= 0 && sid != pid) {
        mt_notice("process %d is not a session leader: not a job of ours (pid reused), left alone", pid);
        return false;
    }
    if (!group_alive(pid))
        return false;

    mt_notice("stopping job process group %d left by a previous handler: SIGTERM", pid);
    if (kill(-pid, SIGTERM) < 0 && errno != ESRCH)
        mt_error("process group %d: kill(SIGTERM) failed: %s", pid, strerror(errno));
    (void)kill(-pid, SIGCONT); /* frozen by mt_run_freeze_unfinished(): let it take the SIGTERM */
    if (wait_group_gone(pid, grace_ms))
        return true;
    mt_notice("job process group %d still alive %u ms after SIGTERM: SIGKILL", pid, grace_ms);
    if (kill(-pid, SIGKILL) < 0 && errno != ESRCH)
        mt_error("process group %d: kill(SIGKILL) failed: %s", pid, strerror(errno));
    if (!wait_group_gone(pid, 1000))
        mt_warn("job process group %d still alive 1 s after SIGKILL", pid);
    return true;
}

static char proc_state(long pid);
static bool state_settled(char st);

bool mt_run_freeze_unfinished(int pid)
{
    if (pid <= 1 || getsid(pid) != pid)
        return false; /* leader gone (the command ended), or the pid is not a job's leader any more */
    if (kill(-pid, SIGSTOP) < 0)
        return false;
    int64_t settle_by = mt_clock_ms() + 200;
    char st;
    while (!state_settled(st = proc_state(pid)) && mt_clock_ms() < settle_by)
        nanosleep(&(struct timespec){.tv_nsec = 1000 * 1000}, NULL);
    return st != 0 && st != 'Z' && st != 'X';
}

static bool environ_has(long pid, const char *entry, size_t entry_len);

bool mt_run_is_ours(int pid, const char *working_dir)
{
    char st = proc_state(pid);
    if (st == 0 || st == 'Z' || st == 'X')
        return true; /* no live leader: while any member of its group lives, the pid cannot be reused */
    size_t len = sizeof MT_RUN_JOB_DIR_VAR + strlen(working_dir);
    char *entry = mt_malloc(len + 1);
    snprintf(entry, len + 1, "%s=%s", MT_RUN_JOB_DIR_VAR, working_dir);
    bool ours = environ_has(pid, entry, len);
    free(entry);
    return ours;
}

/* Does /proc/PID/environ hold `entry` (KEY=VALUE) as one whole entry? */
static bool environ_has(long pid, const char *entry, size_t entry_len)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/environ", pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    /* Entries are NUL-terminated; compare each whole entry, carrying a partial one across reads. */
    char buf[8192];
    size_t have = 0;
    bool found = false;
    for (;;) {
        ssize_t n = read(fd, buf + have, sizeof buf - have);
        if (n <= 0)
            break;
        have += (size_t)n;
        size_t start = 0;
        for (size_t i = 0; i < have; i++) {
            if (buf[i] != '\0')
                continue;
            if (i - start == entry_len && memcmp(buf + start, entry, entry_len) == 0)
                found = true;
            start = i + 1;
        }
        if (found)
            break;
        if (start == 0 && have == sizeof buf)
            have = 0; /* an entry longer than the buffer is not ours (ours fits): skip it */
        else {
            memmove(buf, buf + start, have - start);
            have -= start;
        }
    }
    close(fd);
    return found;
}

int mt_run_find_session(const char *working_dir)
{
    size_t len = sizeof MT_RUN_JOB_DIR_VAR + strlen(working_dir);
    char *entry = mt_malloc(len + 1);
    snprintf(entry, len + 1, "%s=%s", MT_RUN_JOB_DIR_VAR, working_dir);
    DIR *proc = opendir("/proc");
    int sid = 0;
    struct dirent *de;
    while (proc && sid == 0 && (de = readdir(proc)) != NULL) {
        char *end;
        long pid = strtol(de->d_name, &end, 10);
        if (pid <= 1 || *end != '\0' || pid == (long)getpid() || !environ_has(pid, entry, len))
            continue;
        pid_t s = getsid((pid_t)pid);
        if (s > 1)
            sid = (int)s;
    }
    if (proc)
        closedir(proc);
    free(entry);
    return sid;
}

/* ------------------------------------------------------------------ */
/* The end of a stack                                                  */
/* ------------------------------------------------------------------ */

/* The whole /proc/PID/environ, NUL-terminated entries plus one more NUL; NULL if unreadable or empty (zombies). */
static char *read_environ(long pid, size_t *len)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/environ", pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    size_t cap = 8192, n = 0;
    char *buf = mt_malloc(cap + 1);
    for (;;) {
        if (n == cap) {
            cap *= 2;
            buf = mt_realloc(buf, cap + 1);
        }
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    if (n == 0) {
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* The entry of env (from read_environ) that starts with prefix, or NULL. */
static const char *environ_find(const char *env, size_t len, const char *prefix, size_t prefix_len, bool whole)
{
    for (const char *e = env; e < env + len; e += strlen(e) + 1)
        if (strncmp(e, prefix, prefix_len) == 0 && (!whole || e[prefix_len] == '\0'))
            return e;
    return NULL;
}

/* The state letter of /proc/PID/stat, or 0 if the process is gone. */
static char proc_state(long pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    char *rparen = strrchr(buf, ')');
    char state = 0;
    if (!rparen || sscanf(rparen + 1, " %c", &state) != 1)
        return 0;
    return state;
}

static bool state_settled(char st)
{
    return st == 0 || st == 'T' || st == 't' || st == 'Z' || st == 'X';
}

/*
 * Is the run in job_dir watched: its waiter alive, and its handler's fence
 * still there (a removed fence means its handler stopped for good: the
 * waiter stops the command itself in a moment)?
 */
static bool run_watched(const char *job_dir)
{
    mt_waiter_id_t wid;
    if (!job_dir || mt_waiter_id_read(job_dir, &wid) != 0 || !mt_waiter_alive(&wid, job_dir))
        return false;
    char path[64], target[4200];
    snprintf(path, sizeof path, "/proc/%d/fd/%d", (int)wid.waiter_pid, MT_RUN_WAITER_FENCE_FD);
    ssize_t n = readlink(path, target, sizeof target - 1);
    if (n <= 0)
        return true; /* no fence to read (or none given): its waiter decides */
    target[n] = '\0';
    return !strstr(target, " (deleted)");
}

static int end_tagged(const char *entry, unsigned ms, bool spare_watched,
                      void (*interrupted_cb)(const char *job_dir, void *data), void *data);

int mt_run_end_tagged(const char *entry, unsigned ms, void (*interrupted_cb)(const char *job_dir, void *data),
                      void *data)
{
    return end_tagged(entry, ms, false, interrupted_cb, data);
}

int mt_run_end_unwatched(const char *entry, unsigned ms, void (*interrupted_cb)(const char *job_dir, void *data),
                         void *data)
{
    return end_tagged(entry, ms, true, interrupted_cb, data);
}

static int end_tagged(const char *entry, unsigned ms, bool spare_watched,
                      void (*interrupted_cb)(const char *job_dir, void *data), void *data)
{
    size_t entry_len = strlen(entry);
    int64_t deadline = mt_clock_ms() + ms;
    int killed = 0;
    long self = (long)getpid();
    for (;;) {
        /* Find them, with their job directories (read now: a killed process's environ is gone). */
        long *pids = NULL;
        char **dirs = NULL;
        size_t n = 0, cap = 0;
        DIR *proc = opendir("/proc");
        struct dirent *de;
        while (proc && (de = readdir(proc)) != NULL) {
            char *end;
            long pid = strtol(de->d_name, &end, 10);
            if (pid <= 1 || *end != '\0' || pid == self)
                continue;
            size_t len;
            char *env = read_environ(pid, &len);
            if (!env)
                continue;
            bool tagged = environ_find(env, len, entry, entry_len, true) != NULL;
            const char *dir = tagged ? environ_find(env, len, MT_RUN_JOB_DIR_VAR "=", sizeof MT_RUN_JOB_DIR_VAR, false)
                                     : NULL;
            if (tagged && spare_watched && dir && run_watched(dir + sizeof MT_RUN_JOB_DIR_VAR))
                tagged = false; /* its waiter answers for it */
            if (tagged) {
                if (n == cap) {
                    cap = cap ? 2 * cap : 16;
                    pids = mt_realloc(pids, cap * sizeof *pids);
                    dirs = mt_realloc(dirs, cap * sizeof *dirs);
                }
                pids[n] = pid;
                dirs[n++] = dir ? mt_strdup(dir + sizeof MT_RUN_JOB_DIR_VAR) : NULL;
            }
            free(env);
        }
        if (proc)
            closedir(proc);
        if (n == 0)
            break;

        /* Freeze them: a frozen process can neither finish nor start another. */
        for (size_t i = 0; i < n; i++)
            kill((pid_t)pids[i], SIGSTOP);
        int64_t settle_by = mt_clock_ms() + 200;
        for (size_t i = 0; i < n; i++)
            while (!state_settled(proc_state(pids[i])) && mt_clock_ms() < settle_by)
                nanosleep(&(struct timespec){.tv_nsec = 1000 * 1000}, NULL);
        /* Alive once frozen (or not yet settled: not finished either): its run was interrupted. */
        for (size_t i = 0; i < n; i++) {
            char st = proc_state(pids[i]);
            if (st != 0 && st != 'Z' && st != 'X' && dirs[i] && interrupted_cb)
                interrupted_cb(dirs[i], data);
        }
        for (size_t i = 0; i < n; i++) {
            pid_t pgid = getpgid((pid_t)pids[i]);
            kill((pid_t)pids[i], SIGKILL);
            if (pgid > 1 && pgid != getpgrp())
                kill(-pgid, SIGKILL); /* members that dropped the environment go with their group */
            free(dirs[i]);
        }
        killed += (int)n;
        free(pids);
        free(dirs);
        if (mt_clock_ms() >= deadline) {
            mt_warn("processes of this stack's jobs still appear after %u ms of killing them", ms);
            break;
        }
        nanosleep(&(struct timespec){.tv_nsec = 10 * 1000 * 1000}, NULL);
    }
    return killed;
}
