/*
 * muleteer-waiter: starts one job's command, waits for it, and writes how it
 * ended beside its outputs, outliving the handler that started it (see
 * src/app/run/job_waiter.h for the files, src/app/run/fence.h for the fence).
 *
 *   muleteer-waiter --job-dir DIR --attempt N --fence-fd FD --grace-ms MS
 *                   [-e KEY=VALUE]... -- PROGRAM [ARG]...
 *   muleteer-waiter --helper     (helper.c: forks waiters for a handler)
 *
 * Started by the local runner in the job's working directory (executed, or
 * forked by the handler's waiter helper, which then runs mt_waiter_run()
 * on the same arguments), with the
 * command's stdin, stdout and stderr as its own 0, 1 and 2, its start report
 * pipe as descriptor 3 and the handler's fence as FD (-1: no fence). Its
 * own environment is empty: the command's comes as -e arguments, so that
 * nothing looking for a job's processes by their environment
 * (MULETEER_JOB_DIR, MULETEER_STACK_ID) ever takes the waiter for one.
 *
 * It starts the command in a session of its own (one kill(-pid) reaches all
 * it starts), writes DIR/waiter, reports the pid on descriptor 3, then
 * waits. Every MT_WAITER_FENCE_CHECK_MS it reads the fence: once its
 * deadline has passed or it was removed, it stops the command's group
 * (SIGTERM, MS of grace, SIGKILL). When the command has ended it kills
 * what the command left in its group, writes DIR/exit_status -- with its
 * own CPU time so far, which the handler counts
 * (muleteer_job_waiter_cpu_seconds_total) since no figure of the server's
 * processes includes it -- and exits 0 (1 if the status could not be
 * written).
 *
 * It is a process of its own, in a session of its own, so that neither a
 * signal to the handler's group nor the handler's death reaches it.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "app/run/job_waiter.h"
#include "app/run/waiter_helper.h"
#include "waiter/waiter.h"

typedef struct waiter_args {
    const char *job_dir;
    int attempt;
    int fence_fd;
    long grace_ms;
    char **envp;      /* the command's environment, NULL-terminated */
    char **argv;      /* the command */
} waiter_args_t;

static void usage(const char *why) __attribute__((noreturn));
static void usage(const char *why)
{
    fprintf(stderr, "muleteer-waiter: %s\nusage: muleteer-waiter --job-dir DIR --attempt N --fence-fd FD "
                    "--grace-ms MS [-e KEY=VALUE]... -- PROGRAM [ARG]...\n", why);
    exit(2);
}

static long number(const char *s, long min, long max, const char *what)
{
    char *end;
    errno = 0;
    long v = s ? strtol(s, &end, 10) : 0;
    if (!s || errno || *end || end == s || v < min || v > max)
        usage(what);
    return v;
}

static void parse_args(int argc, char **argv, waiter_args_t *a)
{
    *a = (waiter_args_t){.fence_fd = -2, .attempt = 0, .grace_ms = -1};
    a->envp = calloc((size_t)argc + 1, sizeof *a->envp);
    if (!a->envp)
        exit(1);
    size_t nenv = 0;
    int i = 1;
    for (; i < argc; i++) {
        const char *opt = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(opt, "--") == 0) {
            i++;
            break;
        }
        if (!val)
            usage("an option without its value");
        if (strcmp(opt, "--job-dir") == 0)
            a->job_dir = val;
        else if (strcmp(opt, "--attempt") == 0)
            a->attempt = (int)number(val, 1, INT_MAX, "--attempt must be a positive number");
        else if (strcmp(opt, "--fence-fd") == 0)
            a->fence_fd = (int)number(val, -1, INT_MAX, "--fence-fd must be a descriptor or -1");
        else if (strcmp(opt, "--grace-ms") == 0)
            a->grace_ms = number(val, 0, 24L * 3600 * 1000, "--grace-ms must be a number of milliseconds");
        else if (strcmp(opt, "-e") == 0 && strchr(val, '=') && val[0] != '=')
            a->envp[nenv++] = (char *)val;
        else
            usage("unknown option");
        i++;
    }
    if (!a->job_dir || a->job_dir[0] != '/' || a->attempt < 1 || a->fence_fd == -2 || a->grace_ms < 0)
        usage("--job-dir (absolute), --attempt, --fence-fd and --grace-ms are required");
    if (i >= argc || argv[i][0] != '/')
        usage("the program must follow -- as an absolute path");
    a->argv = argv + i;
}

/* The signals the command must not inherit as ignored (the waiter ignores them, the handler too). */
static void ignored_set(sigset_t *set)
{
    static const int sigs[] = {SIGPIPE, SIGHUP, SIGINT, SIGQUIT, SIGTSTP, SIGTTIN, SIGTTOU, SIGUSR1, SIGUSR2,
                               SIGALRM, SIGXFSZ, SIGURG, SIGTERM, SIGCHLD};
    sigemptyset(set);
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        sigaddset(set, sigs[i]);
}

/* Close every descriptor from 3 up except keep1 and keep2 (inherited ones must not be held for the command's life). */
static void close_others(int keep1, int keep2)
{
    int lo = keep1 < keep2 ? keep1 : keep2, hi = keep1 < keep2 ? keep2 : keep1;
    int from = 3;
    int keeps[2] = {lo, hi};
    for (int k = 0; k < 2; k++) {
        if (keeps[k] < from)
            continue;
        if (keeps[k] > from)
            (void)syscall(SYS_close_range, (unsigned)from, (unsigned)keeps[k] - 1, 0u);
        from = keeps[k] + 1;
    }
    (void)syscall(SYS_close_range, (unsigned)from, ~0u, 0u);
}

/* Has the fence lapsed (deadline passed, or the file removed)? An unreadable fence counts as lapsed. */
static bool fence_lapsed(int fd)
{
    if (fd < 0)
        return false;
    int64_t deadline = 0;
    int rc;
    for (int tries = 0; (rc = mt_waiter_fence_read(fd, &deadline)) == -EAGAIN && tries < 5; tries++)
        ; /* a read that raced a renewal: read again */
    if (rc == -EAGAIN)
        return false; /* being written again and again: a live handler */
    return rc <= 0 || mt_waiter_now_ns() >= deadline;
}

static void report(int32_t pid, int32_t err)
{
    mt_waiter_report_t r = {.pid = pid, .err = err, .waiter_pid = (int32_t)getpid()};
    ssize_t n;
    do
        n = write(MT_WAITER_REPORT_FD, &r, sizeof r);
    while (n < 0 && errno == EINTR);
    close(MT_WAITER_REPORT_FD);
}

/*
 * Start the command: vfork, then in the child a new session, the ignored
 * signals back to their default, an empty mask, exec. Not posix_spawn():
 * glibc's walks every signal in its child (some 100 sigaction calls per
 * job) in case the caller had handlers; the waiter has none, only the
 * ignored signals of ignored_set(). The child shares our memory until it
 * execs: it only makes system calls, and says why an exec failed in
 * *err (which it shares).
 */
static pid_t start_command(const waiter_args_t *a, int *err)
{
    volatile int child_err = 0;
    sigset_t ignores;
    ignored_set(&ignores);
    pid_t pid = vfork();
    if (pid == 0) {
        if (setsid() < 0) {
            child_err = errno;
            _exit(127);
        }
        struct sigaction dfl = {.sa_handler = SIG_DFL};
        for (int sig = 1; sig < NSIG; sig++)
            if (sigismember(&ignores, sig) == 1)
                (void)sigaction(sig, &dfl, NULL);
        execve(a->argv[0], a->argv, a->envp);
        child_err = errno;
        _exit(127);
    }
    if (pid < 0) {
        *err = errno;
        return 0;
    }
    if (child_err != 0) {
        *err = child_err;
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
            ;
        return 0;
    }
    *err = 0;
    return pid;
}

/*
 * Record how the command ended. On a full disk (or quota) the record waits
 * for space, tried again every second: the handler keeps the job running
 * meanwhile, as it keeps its own unwritten changes, and takes the result
 * once it is written; the record then says the disk was full
 * (st->disk_full), which explains a command that failed for it. Any other
 * failure is final (the handler then counts the run as lost). Returns 0 or
 * -errno.
 */
static int write_status(const char *dir, mt_waiter_status_t *st)
{
    int rc;
    while ((rc = mt_waiter_status_write(dir, st)) == -ENOSPC || rc == -EDQUOT) {
        st->disk_full = true; /* said in the record, since the handler reads it once there is space again */
        nanosleep(&(struct timespec){.tv_sec = 1}, NULL);
    }
    return rc;
}

/* This process's CPU so far (user + system), in microseconds: its status reports it (the handler counts it). */
static int64_t own_cpu_us(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) < 0)
        return 0;
    int64_t us = (int64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000 + ru.ru_utime.tv_usec + ru.ru_stime.tv_usec;
    return us > 0 ? us : 1; /* 0 reads as "unknown" */
}

static int64_t now_ms(void)
{
    return mt_waiter_now_ns() / 1000000;
}

/* Wait for pid to end, stopping its group if the fence lapses. Returns its wait status; *fenced says if it was stopped. */
static int wait_command(const waiter_args_t *a, pid_t pid, bool *fenced)
{
    int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    int64_t kill_at = 0; /* once SIGTERM is sent: when SIGKILL follows */
    int64_t next_check = now_ms() + MT_WAITER_FENCE_CHECK_MS;
    for (;;) {
        int status;
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            return status;
        if (r < 0 && errno != EINTR)
            return 0; /* cannot happen for our own child; treat as exited 0 rather than spin */
        int64_t now = now_ms();
        if (kill_at && now >= kill_at) {
            (void)kill(-pid, SIGKILL);
            kill_at = 0;
        }
        if (!*fenced && now >= next_check) {
            next_check = now + MT_WAITER_FENCE_CHECK_MS;
            if (fence_lapsed(a->fence_fd)) {
                *fenced = true;
                (void)kill(-pid, SIGTERM);
                (void)kill(-pid, SIGCONT); /* a stopped group takes its SIGTERM too */
                kill_at = now + a->grace_ms;
                if (a->grace_ms == 0)
                    continue;
            }
        }
        int64_t until = kill_at ? kill_at : next_check;
        int timeout = (int)(until > now ? until - now : 0);
        if (*fenced && !kill_at)
            timeout = MT_WAITER_FENCE_CHECK_MS;
        if (pidfd >= 0) {
            struct pollfd p = {.fd = pidfd, .events = POLLIN};
            (void)poll(&p, 1, timeout);
        } else {
            int step = timeout < 20 ? timeout : 20; /* no pidfd (kernel < 5.3): look often */
            nanosleep(&(struct timespec){.tv_nsec = (long)step * 1000000L}, NULL);
        }
    }
}

int mt_waiter_run(int argc, char **argv)
{
    waiter_args_t a;
    parse_args(argc, argv, &a);
    /* Deaf to what is meant for a terminal or the stack; SIGTERM and SIGKILL still end it. */
    static const int deaf[] = {SIGHUP, SIGINT, SIGQUIT, SIGPIPE, SIGTSTP, SIGTTIN, SIGTTOU, SIGUSR1, SIGUSR2};
    for (size_t i = 0; i < sizeof deaf / sizeof deaf[0]; i++)
        signal(deaf[i], SIG_IGN);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    close_others(MT_WAITER_REPORT_FD, a.fence_fd);
    (void)fcntl(MT_WAITER_REPORT_FD, F_SETFD, FD_CLOEXEC);
    if (a.fence_fd >= 0)
        (void)fcntl(a.fence_fd, F_SETFD, FD_CLOEXEC);

    int err = 0;
    pid_t pid = start_command(&a, &err);
    free(a.envp); /* the command has its copy */
    a.envp = NULL;
    if (pid <= 0) {
        mt_waiter_status_t st = {.end = MT_WAITER_FAILED, .value = err, .attempt = a.attempt, .cpu_us = own_cpu_us()};
        (void)write_status(a.job_dir, &st);
        report(0, err);
        return 0;
    }
    /* Who waits, before anyone hears of the command: a handler that records its pid can always find us. */
    mt_waiter_id_t id = {.waiter_pid = getpid(), .start_ticks = mt_waiter_start_ticks(getpid()), .command_pid = pid,
                         .attempt = a.attempt};
    (void)mt_waiter_id_write(a.job_dir, &id);
    report(pid, 0);

    bool fenced = false;
    int status = wait_command(&a, pid, &fenced);
    /* What it left in its group goes with it (the group's id cannot be reused while a member lives). */
    (void)kill(-pid, SIGKILL);
    mt_waiter_status_t st = {.attempt = a.attempt, .pid = pid, .cpu_us = own_cpu_us()};
    if (fenced) {
        st.end = MT_WAITER_FENCED;
        st.value = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
    } else if (WIFSIGNALED(status)) {
        st.end = MT_WAITER_SIGNALED;
        st.value = WTERMSIG(status);
    } else {
        st.end = MT_WAITER_EXITED;
        st.value = WEXITSTATUS(status);
    }
    return write_status(a.job_dir, &st) == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], MT_WAITER_HELPER_ARG) == 0)
        return mt_waiter_helper_main();
    return mt_waiter_run(argc, argv);
}
