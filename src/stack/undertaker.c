/*
 * undertaker: the process that ends what a dead master leaves behind (see undertaker.h).
 */
#define MT_LOG_NAME "muleteer.stack.undertaker"

#include "stack/undertaker.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "stack/stack.h"

/* Child side: wait for EOF, run the hook, exit. */
static void undertaker_main(mt_stack_t *stack, int read_fd)
{
    /* Out of the master's group, deaf to the stop signals meant for the stack: it stops by itself. */
    setpgid(0, 0);
    static const int ignored[] = {SIGINT, SIGTERM, SIGQUIT, SIGHUP, SIGUSR1, SIGPIPE};
    for (size_t i = 0; i < sizeof ignored / sizeof ignored[0]; i++)
        signal(ignored[i], SIG_IGN);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    mt_listeners_close(stack->listeners);
    char byte;
    ssize_t r;
    do
        r = read(read_fd, &byte, 1);
    while (r > 0 || (r < 0 && errno == EINTR));
    close(read_fd);
    stack->app->stack_died(stack, stack->app->app_data);
    _exit(0);
}

pid_t mt_undertaker_start(mt_stack_t *stack, char *err, size_t errlen)
{
    if (!stack->app || !stack->app->stack_died)
        return 0;
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0) {
        int e = errno;
        snprintf(err, errlen, "pipe2() failed while starting the undertaker: %s", strerror(e));
        return -e;
    }
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        snprintf(err, errlen, "fork() failed while starting the undertaker: %s", strerror(e));
        close(fds[0]);
        close(fds[1]);
        return -e;
    }
    if (pid == 0) {
        close(fds[1]);
        undertaker_main(stack, fds[0]);
    }
    close(fds[0]);
    stack->undertaker_fd = fds[1];
    return pid;
}

void mt_undertaker_finish(mt_stack_t *stack, pid_t pid, unsigned timeout_ms)
{
    if (stack->undertaker_fd >= 0) {
        close(stack->undertaker_fd);
        stack->undertaker_fd = -1;
    }
    if (pid <= 0)
        return;
    int64_t deadline = mt_clock_ms() + timeout_ms;
    for (;;) {
        pid_t r = waitpid(pid, NULL, WNOHANG);
        if (r == pid || (r < 0 && errno != EINTR))
            return; /* done, or reaped earlier (it died while the master ran) */
        if (mt_clock_ms() >= deadline) {
            mt_warn("the undertaker (pid %d) is still busy after %u ms: exiting without waiting for it", (int)pid,
                    timeout_ms);
            return;
        }
        nanosleep(&(struct timespec){.tv_nsec = 10 * 1000 * 1000}, NULL);
    }
}
