/*
 * helper: `muleteer-waiter --helper`, a handler's waiter helper (see
 * src/app/run/waiter_helper.h for why it exists and for the protocol).
 *
 * One loop on descriptor 0 and a signalfd for SIGCHLD: take a request,
 * fork a waiter for it, answer with the waiter's pid and a pidfd of it;
 * reap each waiter as it ends (a zombie waiter would still look adoptable
 * to pidfd_open); exit once the handler has closed its end.
 *
 * The forked child starts a session of its own, puts the descriptors it
 * was sent at 0..4, enters the job's working directory and sets its command
 * line to the waiter's arguments (PR_SET_MM_MAP, allowed to any process on
 * its own memory), then runs mt_waiter_run() on them: no exec. Should the
 * command line not take, it executes the waiter program instead, which has
 * that command line by construction. A step that fails before the waiter
 * runs is reported on the start report descriptor, as an executed waiter's
 * failure is.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/prctl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "app/run/job_waiter.h"
#include "app/run/waiter_helper.h"
#include "common/fd_passing.h"
#include "waiter/waiter.h"

#define HELPER_SOCKET 0

/* This process's memory map as the kernel has it, read once: every forked child has the same. */
static struct prctl_mm_map base_map;

/*
 * Where requests are received, and so where a forked waiter's command line
 * lies: allocated, since the kernel shows a command line only from an
 * anonymous mapping, which a static buffer's page (shared with .data,
 * mapped from the file) may not be.
 */
static char *request;
#define REQUEST_SIZE (MT_WAITER_HELPER_MAX_REQUEST + 1)

/* Fields 26-28 and 45-51 of /proc/self/stat (code, stack, data, brk, arguments, environment). 0 or -errno. */
static int read_mm_map(struct prctl_mm_map *m)
{
    char buf[2048];
    int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return -EIO;
    buf[n] = '\0';
    char *p = strrchr(buf, ')'); /* comm may hold anything; field 3 follows the last ')' */
    if (!p || p[1] != ' ')
        return -EPROTO;
    p += 2;
    unsigned long long field[52] = {0};
    p = strchr(p, ' '); /* past field 3, the state */
    for (int i = 4; i <= 51 && p; i++) {
        char *end;
        errno = 0;
        field[i] = strtoull(p + 1, &end, 10);
        if (errno || end == p + 1)
            return -EPROTO;
        p = end;
    }
    *m = (struct prctl_mm_map){
        .start_code = field[26], .end_code = field[27], .start_stack = field[28],
        .start_data = field[45], .end_data = field[46], .start_brk = field[47],
        .arg_start = field[48], .arg_end = field[49], .env_start = field[50], .env_end = field[51],
        .auxv = NULL, .auxv_size = 0, .exe_fd = (uint32_t)-1,
    };
    return 0;
}

/* Make [area, area + len) this process's command line (/proc/PID/cmdline, ps). 0 or -errno. */
static int set_cmdline(char *area, size_t len)
{
    struct prctl_mm_map m = base_map;
    m.brk = (uint64_t)syscall(SYS_brk, 0);
    m.arg_start = (uint64_t)(uintptr_t)area;
    m.arg_end = (uint64_t)(uintptr_t)area + len;
    return prctl(PR_SET_MM, PR_SET_MM_MAP, &m, sizeof m, 0) == 0 ? 0 : -errno;
}

/* Send a reply, with fd if it is >= 0. */
static void reply(int32_t pid, int32_t err, int fd)
{
    mt_waiter_helper_reply_t r = {.pid = pid, .err = err};
    struct iovec iov = {.iov_base = &r, .iov_len = sizeof r};
    (void)mt_fds_send(HELPER_SOCKET, &iov, 1, &fd, fd >= 0 ? 1 : 0);
}

/* The child, failing before the waiter runs: say why on the start report, as an executed waiter would. */
static void child_fail(int report_fd, int err) __attribute__((noreturn));
static void child_fail(int report_fd, int err)
{
    mt_waiter_report_t r = {.pid = 0, .err = err, .waiter_pid = (int32_t)getpid()};
    (void)!write(report_fd, &r, sizeof r);
    _exit(127);
}

/*
 * The forked child: become the job's waiter. args is the request's argument
 * area (argc strings, len bytes with their NULs), this process's own copy.
 */
static void child_run(const char *dir, char *args, size_t len, int argc, int *fds, int nfds) __attribute__((noreturn));
static void child_run(const char *dir, char *args, size_t len, int argc, int *fds, int nfds)
{
    int report_fd = fds[MT_WAITER_REPORT_FD];
    if (setsid() < 0)
        child_fail(report_fd, errno);
    /* Each source out of the way of the targets 0..nfds-1 first, so that no dup2 overwrites one not yet copied. */
    for (int i = 0; i < nfds; i++)
        if (fds[i] < nfds && (fds[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, nfds)) < 0)
            child_fail(report_fd, errno);
    report_fd = fds[MT_WAITER_REPORT_FD];
    for (int i = 0; i < nfds; i++)
        if (dup2(fds[i], i) < 0)
            child_fail(report_fd, errno);
    if (chdir(dir) < 0)
        child_fail(report_fd, errno);
    char **argv = calloc((size_t)argc + 1, sizeof *argv);
    if (!argv)
        child_fail(report_fd, ENOMEM);
    char *p = args;
    for (int i = 0; i < argc; i++, p += strlen(p) + 1)
        argv[i] = p;
    if (set_cmdline(args, len) < 0) {
        /* The adoption check and ps read the command line: take the one an executed waiter has. */
        execve(argv[0], argv, (char *const[]){NULL});
        child_fail(report_fd, errno);
    }
    _exit(mt_waiter_run(argc, argv));
}

/* Close the descriptors a request brought. */
static void close_all(const int *fds, int nfds)
{
    for (int i = 0; i < nfds; i++)
        close(fds[i]);
}

/* Take one request and answer it. 1 when served, 0 when the handler has closed its end, -1 on a broken socket. */
static int serve_one(void)
{
    int fds[MT_WAITER_HELPER_MAX_FDS], nfds;
    long n = mt_fds_recv(HELPER_SOCKET, request, REQUEST_SIZE - 1, fds, MT_WAITER_HELPER_MAX_FDS, &nfds);
    if (n == -EMSGSIZE) {
        reply(0, EMSGSIZE, -1);
        return 1;
    }
    if (n < 0)
        return -1;
    if (n == 0 && nfds == 0)
        return 0;
    /* "DIR\0ARG0\0...\0": at least a directory and the program, whole, with 4 or 5 descriptors. */
    int argc = -1;
    for (long i = 0; i < n; i++)
        if (request[i] == '\0')
            argc++;
    if (n == 0 || request[n - 1] != '\0' || argc < 2 || nfds < 4 || request[0] != '/') {
        close_all(fds, nfds);
        reply(0, EINVAL, -1);
        return 1;
    }
    const char *dir = request;
    char *args = request + strlen(dir) + 1;
    size_t len = (size_t)(request + n - args);
    pid_t pid = fork();
    if (pid == 0)
        child_run(dir, args, len, argc, fds, nfds);
    int err = pid < 0 ? errno : 0;
    close_all(fds, nfds);
    if (pid < 0) {
        reply(0, err, -1);
        return 1;
    }
    /* Before any reap of ours, so the pid cannot have been reused. */
    int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    reply(pid, 0, pidfd);
    if (pidfd >= 0)
        close(pidfd);
    return 1;
}

int mt_waiter_helper_main(void)
{
    /* Signals: every one at its default, then deaf to what is meant for a terminal or the stack. */
    struct sigaction dfl = {.sa_handler = SIG_DFL};
    for (int sig = 1; sig < NSIG; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            (void)sigaction(sig, &dfl, NULL);
    static const int deaf[] = {SIGHUP, SIGINT, SIGQUIT, SIGPIPE, SIGTSTP, SIGTTIN, SIGTTOU, SIGUSR1, SIGUSR2};
    for (size_t i = 0; i < sizeof deaf / sizeof deaf[0]; i++)
        signal(deaf[i], SIG_IGN);
    (void)syscall(SYS_close_range, 3u, ~0u, 0u);
    /* SIGCHLD comes as a descriptor to poll (a waiter unblocks it: mt_waiter_run sets an empty mask). */
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    sigprocmask(SIG_SETMASK, &chld, NULL);
    int sfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
    (void)prctl(PR_SET_PDEATHSIG, SIGKILL); /* the handler's thread that started us ended: so do we */

    request = malloc(REQUEST_SIZE);
    int rc = request ? read_mm_map(&base_map) : -ENOMEM;
    if (rc == 0) /* can we set our command line? try with the one we have */
        rc = set_cmdline((char *)(uintptr_t)base_map.arg_start, (size_t)(base_map.arg_end - base_map.arg_start));
    if (rc == 0 && sfd < 0)
        rc = -errno;
    if (rc < 0) {
        fprintf(stderr, "muleteer-waiter --helper: cannot set a forked waiter's command line (%s): waiters are "
                        "executed instead\n", strerror(-rc));
        reply(0, -rc, -1);
        return 3;
    }
    reply(getpid(), 0, -1);

    for (;;) {
        struct pollfd p[2] = {{.fd = HELPER_SOCKET, .events = POLLIN}, {.fd = sfd, .events = POLLIN}};
        if (poll(p, 2, -1) < 0 && errno != EINTR)
            return 1;
        if (p[1].revents) {
            struct signalfd_siginfo si[16];
            while (read(sfd, si, sizeof si) > 0)
                ;
            while (waitpid(-1, NULL, WNOHANG) > 0)
                ;
        }
        if (p[0].revents) {
            int served = serve_one();
            if (served <= 0)
                return served == 0 ? 0 : 1;
        }
    }
}
