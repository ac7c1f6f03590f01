/*
 * spawn: fork one child and enter its role (see spawn.h).
 */
#define MT_LOG_NAME "muleteer.stack.spawn"

#include "stack/spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/log.h"
#include "common/mem.h"
#include "stack/mule.h"
#include "stack/stack.h"
#include "stack/web_worker.h"

/* Restore what the master changed: default dispositions, nothing blocked; SIGPIPE (and SIGUSR1 until the log
 * catches it) ignored. */
static void reset_signals(void)
{
    struct sigaction sa = {.sa_handler = SIG_DFL};
    sigemptyset(&sa.sa_mask);
    for (int sig = 1; sig < NSIG; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            (void)sigaction(sig, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGUSR1, SIG_IGN); /* a log reopen must not kill a child before its handler is in place */
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

/* Close the read ends that are not this process's: a reader only holds its own queues. */
static void close_foreign_fds(mt_stack_t *stack, size_t slot)
{
    mt_proctable_t *t = &stack->procs;
    mt_proc_t *self = &t->procs[slot];
    for (size_t i = 0; i < t->nmules; i++) {
        mt_proc_t *m = &t->procs[t->first_mule + i];
        if (m != self && m->channel.recv_fd >= 0) {
            close(m->channel.recv_fd);
            m->channel.recv_fd = -1;
        }
    }
    for (size_t f = 0; f < t->nfarms; f++) {
        bool mine = false;
        for (size_t k = 0; k < self->nfarms; k++)
            mine = mine || self->farms[k] == f;
        if (!mine && t->farms[f].channel.recv_fd >= 0) {
            close(t->farms[f].channel.recv_fd);
            t->farms[f].channel.recv_fd = -1;
        }
    }
    if (self->role != MT_ROLE_WEB)
        mt_listeners_close(stack->listeners);
}

static void keep_across_exec(int fd)
{
    (void)fcntl(fd, F_SETFD, 0);
}

/* Child side of an external mule: describe its channels in the environment and exec. */
static void exec_program(mt_stack_t *stack, size_t slot, int report_fd)
{
    mt_proctable_t *t = &stack->procs;
    mt_proc_t *self = &t->procs[slot];
    char buf[4096];
    size_t n = 0;

    keep_across_exec(self->channel.recv_fd);
    snprintf(buf, sizeof buf, "%d", self->channel.recv_fd);
    setenv("MULETEER_MULE_FD", buf, 1);
    n = (size_t)snprintf(buf, sizeof buf, "%d", self->channel.recv_fd);
    char farms[4096] = "";
    size_t fn = 0;
    for (size_t k = 0; k < self->nfarms; k++) {
        mt_farm_t *f = &t->farms[self->farms[k]];
        keep_across_exec(f->channel.recv_fd);
        n += (size_t)snprintf(buf + n, sizeof buf - n, ",%d", f->channel.recv_fd);
        fn += (size_t)snprintf(farms + fn, sizeof farms - fn, "%s%s=%d", k ? "," : "", f->name, f->channel.recv_fd);
    }
    setenv("MULETEER_MSG_FDS", buf, 1);
    setenv("MULETEER_FARM_FDS", farms, 1);
    setenv("MULETEER_SERVER_NAME", mt_proctable_server_name(t, slot), 1);
    snprintf(buf, sizeof buf, "%d", self->mule_id);
    setenv("MULETEER_MULE_ID", buf, 1);
    snprintf(buf, sizeof buf, "%d", MT_MSG_MAX_SIZE);
    setenv("MULETEER_MSG_MAX", buf, 1);

    /* argv: the program's words split on blanks (no shell, no quoting). */
    char *copy = mt_strdup(self->program);
    char *argv[64];
    int argc = 0;
    for (char *save = NULL, *w = strtok_r(copy, " \t", &save); w && argc < 63; w = strtok_r(NULL, " \t", &save))
        argv[argc++] = w;
    argv[argc] = NULL;
    execv(argv[0], argv);
    int e = errno;
    (void)!write(report_fd, &e, sizeof e);
    _exit(MT_EXIT_FATAL);
}

pid_t mt_spawn(mt_stack_t *stack, size_t slot, int master_only_fd, char *err, size_t errlen)
{
    mt_proc_t *self = &stack->procs.procs[slot];
    int report[2] = {-1, -1};
    if (self->program && pipe2(report, O_CLOEXEC) < 0) {
        snprintf(err, errlen, "pipe2() failed while spawning \"%s\": %s", self->server_name, strerror(errno));
        return -errno;
    }
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        snprintf(err, errlen, "fork() failed while spawning \"%s\": %s", self->server_name, strerror(e));
        if (report[0] >= 0) {
            close(report[0]);
            close(report[1]);
        }
        return -e;
    }
    if (pid == 0) {
        /* Die with the master, whatever kills it; if it is already gone, go too. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != stack->master_pid)
            _exit(0);
        /*
         * A process group of its own: signals sent to the master's group
         * (Ctrl-C in a terminal, `timeout`, `kill -- -PGID`) reach only the
         * master, which then stops the children in order (web workers
         * first, mules after). PDEATHSIG above still ties them to it.
         */
        setpgid(0, 0);
        reset_signals();
        if (master_only_fd >= 0)
            close(master_only_fd);
        if (stack->undertaker_fd >= 0)
            close(stack->undertaker_fd); /* the undertaker must see EOF when the master goes, not later */
        mt_daemon_close_in_child(&stack->daemon); /* the master FIFO and daemonize's pipe are the master's */
        close_foreign_fds(stack, slot);
        mt_stack__become(stack, slot);
        /* The master dropped --uid / --gid before forking: make sure, before any application code runs. */
        const char *step = "";
        if (mt_creds_given(&stack->creds) && mt_creds_verify(&stack->creds, &step) < 0) {
            mt_error("%s does not run as user %s, group %s as configured (%s failed): refusing to run",
                     mt_proctable_server_name(&stack->procs, slot), stack->creds.set_uid ? stack->creds.user : "-",
                     stack->creds.group, step);
            _exit(MT_EXIT_FATAL);
        }
        if (self->role == MT_ROLE_WEB)
            _exit(mt_web_worker_run(stack));
        if (self->program) {
            close(report[0]);
            exec_program(stack, slot, report[1]);
        }
        _exit(mt_mule_run(stack));
    }
    if (report[0] < 0)
        return pid;
    /* Wait for exec: EOF means it succeeded (the pipe was close-on-exec). */
    close(report[1]);
    int child_errno = 0;
    ssize_t r;
    do
        r = read(report[0], &child_errno, sizeof child_errno);
    while (r < 0 && errno == EINTR);
    close(report[0]);
    if (r == (ssize_t)sizeof child_errno) {
        snprintf(err, errlen, "exec of mule program \"%s\" for %s failed: %s", self->program, self->server_name,
                 strerror(child_errno));
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
            ; /* it exits right away with MT_EXIT_FATAL */
        return -child_errno;
    }
    return pid;
}
