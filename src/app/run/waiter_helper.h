/*
 * waiter_helper: start a job's waiter by fork alone, through a helper
 * process that each handler starts once.
 *
 * Every local command is watched by a waiter (muleteer-waiter, job_waiter.h).
 * Executing that program for every job costs more than all the rest of a
 * job's start together: a new address space, the dynamic loader, and libc's
 * start-up, which asks the CPU for its features and caches with CPUID, an
 * instruction a virtual machine traps on. So each process that starts
 * commands runs one waiter helper (`muleteer-waiter --helper`), executed
 * once; for each job it forks, and the copy becomes that job's waiter
 * without executing anything: it is the very program the handler would have
 * executed, with its libc already set up.
 *
 * The helper is the handler's child, in the handler's process group, and
 * ends with it: it exits when its socket is closed (the handler exited or
 * was killed) and is sent SIGKILL when the thread that started it ends. The
 * waiters it forks start sessions of their own, as an executed waiter does,
 * and outlive both; the helper reaps them. A forked waiter sets its command
 * line (prctl PR_SET_MM_MAP) to the one an executed waiter has
 * ("muleteer-waiter --job-dir DIR ..."), which is what a later handler
 * checks before adopting it and what an operator sees in ps.
 *
 * Protocol, on a SOCK_SEQPACKET socketpair (the helper's end is its
 * descriptor 0):
 *   helper -> handler, once at start: a reply {pid = the helper's pid,
 *     err = 0}, or {0, errno} if it cannot serve (then it exits: a kernel
 *     without PR_SET_MM_MAP, for one).
 *   handler -> helper, per job: "DIR\0ARG0\0ARG1\0...\0", the working
 *     directory then the waiter's argument vector (ARG0 the program), with
 *     the descriptors the waiter gets as 0, 1, 2, 3 (its start report) and,
 *     if its arguments say --fence-fd 4, 4, in SCM_RIGHTS.
 *   helper -> handler, per job: a reply {pid = the waiter's, err = 0} with
 *     a pidfd of the waiter in SCM_RIGHTS, or {0, errno}: no waiter was
 *     made (then nothing of the job has started).
 *
 * If the helper cannot be started or stops serving, waiters are executed
 * as before: a job is never held up or lost for it.
 */
#ifndef MT_WAITER_HELPER_H
#define MT_WAITER_HELPER_H

#include <stdint.h>
#include <sys/types.h>

#define MT_WAITER_HELPER_ARG "--helper"   /* muleteer-waiter --helper */
#define MT_WAITER_HELPER_MAX_REQUEST (192 * 1024) /* a larger one is executed instead (below AF_UNIX's default send buffer) */
#define MT_WAITER_HELPER_MAX_FDS 5

/* The helper's reply: to its start, and to each request. */
typedef struct mt_waiter_helper_reply {
    int32_t pid;
    int32_t err;
} mt_waiter_helper_reply_t;

/* What mt_waiter_helper_fork() did. */
typedef enum {
    MT_WAITER_HELPER_FORKED,   /* the waiter runs: *waiter_pid and *pidfd are set */
    MT_WAITER_HELPER_NOT_SENT, /* nothing was started: execute the waiter instead */
    MT_WAITER_HELPER_NO_ANSWER /* the helper took the request and then died: a waiter may run; its report tells */
} mt_waiter_helper_result_t;

/*
 * Have this process's helper fork a waiter: program is the waiter program
 * (its helper is started from it the first time, and again after it died),
 * dir the working directory, argv the waiter's NULL-terminated argument
 * vector (argv[0] is program), fds its descriptors 0..nfds-1 (nfds 4 or 5;
 * the caller keeps and closes its copies). Blocks until the helper has
 * forked; never for the command's start (that is the report's). Thread-safe
 * (one helper per process, under a lock); meant for the spawner's thread,
 * with every signal blocked.
 */
mt_waiter_helper_result_t mt_waiter_helper_fork(const char *program, const char *dir, char *const *argv,
                                                const int *fds, int nfds, pid_t *waiter_pid, int *pidfd);

#endif
