/*
 * undertaker: the process that ends what a dead master leaves behind.
 *
 * Web workers and mules die with the master (PR_SET_PDEATHSIG), but what
 * they start outside the process table -- job commands, in sessions of
 * their own -- does not: nothing in the kernel ties those to the master.
 * So when the application has a stack_died hook, the master forks one more
 * child at start-up, outside the process table, that waits for the master
 * to end (EOF on a pipe only the master holds open) and then runs the hook.
 * A SIGKILLed master cannot clean up after itself; this process can.
 *
 * It is not in the master's process group (a Ctrl-C or `kill -- -PGID`
 * meant for the master does not end it before its work), holds no
 * listening socket (a restarted stack can bind at once), and is not tied
 * to the master by PDEATHSIG (that is the point).
 */
#ifndef MT_UNDERTAKER_H
#define MT_UNDERTAKER_H

#include <stddef.h>
#include <sys/types.h>

#include "muleteer.h"

/*
 * Fork the undertaker, if stack->app has a stack_died hook. In the master:
 * returns its pid (0 if there is no hook) and sets stack->undertaker_fd to
 * the write end of its pipe (close-on-exec; mt_spawn closes it in every
 * child). Returns -errno with err filled if pipe or fork failed. Call once,
 * from the master, before any other child is forked.
 */
pid_t mt_undertaker_start(mt_stack_t *stack, char *err, size_t errlen);

/*
 * At the master's own clean exit: close its end of the pipe (the
 * undertaker runs the hook now) and wait up to timeout_ms for it to
 * finish, so that the master exits last. No-op if pid <= 0.
 */
void mt_undertaker_finish(mt_stack_t *stack, pid_t pid, unsigned timeout_ms);

#endif
