/*
 * waiter_helper: the handler's side of the waiter helper (see
 * waiter_helper.h): start it, hand it one job at a time, and fall back to
 * executing waiters when it cannot serve.
 *
 * One helper per process, found through owner (a forked child starts its
 * own and closes the copy of its parent's socket). A helper that said at
 * start it cannot serve disables the helper for the process (said once in
 * the log); one that died is started again at the next job.
 */
#define MT_LOG_NAME "muleteer.jobs.runner"

#include "app/run/waiter_helper.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/fd_passing.h"
#include "common/log.h"

static pthread_mutex_t helper_lock = PTHREAD_MUTEX_INITIALIZER;
static pid_t helper_owner; /* the process the fields below belong to */
static pid_t helper_pid;   /* 0: none running */
static int helper_sock = -1;
static bool helper_disabled; /* it said it cannot serve: execute waiters in this process */

/* Read one reply, and the descriptor that may come with it (-1 if none). 0 or -errno (-EPIPE: the helper is gone). */
static int recv_reply(int sock, mt_waiter_helper_reply_t *reply, int *fd)
{
    int nfds;
    long n = mt_fds_recv(sock, reply, sizeof *reply, fd, 1, &nfds);
    if (nfds == 0)
        *fd = -1;
    if (n == (long)sizeof *reply)
        return 0;
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
    return n < 0 && n != -EMSGSIZE ? (int)n : -EPIPE;
}

/* The helper has ended or cannot go on: close our end (so that it exits) and reap it. Lock held. */
static void helper_forget(void)
{
    if (helper_sock >= 0)
        close(helper_sock);
    helper_sock = -1;
    if (helper_pid > 0)
        (void)kill(helper_pid, SIGKILL); /* if it is still there: it cannot be trusted with the next job */
    if (helper_pid > 0)
        while (waitpid(helper_pid, NULL, 0) < 0 && errno == EINTR)
            ;
    helper_pid = 0;
}

/*
 * Start the helper from program, then read its word that it serves. Lock
 * held, every signal blocked (the vfork child starts with the mask; the
 * helper sets its own). 0 or -errno.
 */
static int helper_start(const char *program)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
        return -errno;
    volatile int child_err = 0;
    pid_t pid = vfork();
    if (pid == 0) {
        /* Shares our memory until exec: system calls only. Descriptor 0 is its socket; 1 and 2 stay ours. */
        if (dup2(sv[1], 0) < 0) {
            child_err = errno;
            _exit(127);
        }
        execve(program, (char *const[]){(char *)program, MT_WAITER_HELPER_ARG, NULL}, (char *const[]){NULL});
        child_err = errno;
        _exit(127);
    }
    int e = pid < 0 ? errno : child_err;
    close(sv[1]);
    if (e != 0) {
        close(sv[0]);
        if (pid > 0)
            while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
                ;
        return -e;
    }
    helper_pid = pid;
    helper_sock = sv[0];
    mt_waiter_helper_reply_t hello;
    int fd;
    int rc = recv_reply(helper_sock, &hello, &fd);
    if (fd >= 0)
        close(fd);
    if (rc == 0 && hello.pid != pid)
        rc = hello.err > 0 ? -hello.err : -EPROTO;
    if (rc < 0) {
        helper_forget();
        return rc;
    }
    return 0;
}

/* Send the request; 0 or -errno (-EMSGSIZE: too large for one message). */
static int send_request(const char *dir, char *const *argv, const int *fds, int nfds)
{
    size_t niov = 1;
    while (argv[niov - 1])
        niov++;
    struct iovec iov[niov];
    iov[0] = (struct iovec){.iov_base = (void *)dir, .iov_len = strlen(dir) + 1};
    size_t len = iov[0].iov_len;
    for (size_t i = 1; i < niov; i++) {
        iov[i] = (struct iovec){.iov_base = argv[i - 1], .iov_len = strlen(argv[i - 1]) + 1};
        len += iov[i].iov_len;
    }
    if (len > MT_WAITER_HELPER_MAX_REQUEST || nfds < 4 || nfds > MT_WAITER_HELPER_MAX_FDS)
        return -EMSGSIZE;
    return mt_fds_send(helper_sock, iov, niov, fds, nfds);
}

mt_waiter_helper_result_t mt_waiter_helper_fork(const char *program, const char *dir, char *const *argv,
                                                const int *fds, int nfds, pid_t *waiter_pid, int *pidfd)
{
    *waiter_pid = 0;
    *pidfd = -1;
    pthread_mutex_lock(&helper_lock);
    if (helper_owner != getpid()) {
        /* A forked copy of a process with a helper: its socket is the parent's helper's, not ours. */
        if (helper_sock >= 0)
            close(helper_sock);
        helper_sock = -1;
        helper_pid = 0;
        helper_disabled = false;
        helper_owner = getpid();
    }
    mt_waiter_helper_result_t result = MT_WAITER_HELPER_NOT_SENT;
    if (helper_disabled)
        goto out;
    if (helper_pid == 0) {
        int rc = helper_start(program);
        if (rc < 0) {
            helper_disabled = true;
            mt_notice("job waiters are executed one by one: the waiter helper (%s %s) cannot serve: %s", program,
                      MT_WAITER_HELPER_ARG, strerror(-rc));
            goto out;
        }
    }
    int rc = send_request(dir, argv, fds, nfds);
    if (rc == -EMSGSIZE)
        goto out; /* this one is executed; the helper serves the next */
    if (rc < 0) {
        mt_warn("the waiter helper %d is gone (%s): this job's waiter is executed, the next one's forked by a new helper",
                (int)helper_pid, strerror(-rc));
        helper_forget();
        goto out;
    }
    mt_waiter_helper_reply_t reply;
    int fd;
    rc = recv_reply(helper_sock, &reply, &fd);
    if (rc < 0) {
        mt_warn("the waiter helper %d ended after taking a job (%s): its waiter's report tells whether it started",
                (int)helper_pid, strerror(-rc));
        helper_forget();
        result = MT_WAITER_HELPER_NO_ANSWER;
        goto out;
    }
    if (reply.pid <= 0) {
        if (fd >= 0)
            close(fd);
        mt_warn("the waiter helper could not fork a waiter (%s): this one is executed",
                strerror(reply.err > 0 ? reply.err : EPROTO));
        goto out;
    }
    *waiter_pid = reply.pid;
    *pidfd = fd; /* -1 if the helper could not open one: the caller opens one from the pid */
    result = MT_WAITER_HELPER_FORKED;
out:
    pthread_mutex_unlock(&helper_lock);
    return result;
}
