/*
 * handler: a job handler, running on one libuv loop.
 *
 * A handler owns the jobs whose `handler` column holds its server name. It
 * takes jobs four ways, so that none is lost and none runs twice:
 *
 *   - a job-setup message from its farm (mule-message): it claims the job
 *     with one conditional UPDATE (handler IS NULL); a claim that finds the
 *     handler already set does nothing;
 *   - its poll (every poll-interval): jobs already assigned to it (db-self,
 *     db-preassign, explicit mappings) in state new, and jobs of its being
 *     cancelled (deleting);
 *   - the sweeper: jobs waiting in its pools (job_assign.h) that nobody
 *     claimed within sweep-delay, because the farm's queue was full or a
 *     message was lost with a dying mule;
 *   - db-skip-locked / db-transaction-isolation: the oldest job waiting in
 *     each of its pools, at once.
 *
 * It runs at most `workers` jobs at once with the local runner; the rest
 * wait in a FIFO. Jobs whose destination is a cluster's go to its Slurm
 * runner (runner_slurm.h) as soon as they are taken, whatever the local
 * load: they stay `queued` until Slurm runs them, and outlive the handler
 * (recovery and takeovers watch them again). A failed job whose
 * destination has a resubmit rule that holds runs again as its next
 * attempt at the rule's destination (job_resubmit.h), with either runner. At start it recovers the jobs its server name owns from
 * an earlier life: new and queued ones run; a job left running gets the
 * result its waiter recorded (run/job_waiter.h), or its waiter, still
 * waiting, is adopted; a run lost unfinished (no record, no waiter, or
 * stopped by its fence) runs again as the job's next attempt, up to
 * jobs.max-attempts; a job being cancelled ends deleted.
 */
#ifndef MT_HANDLER_H
#define MT_HANDLER_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "muleteer.h"

typedef struct mt_handler mt_handler_t;

/*
 * Start a handler named after the calling process (mt_stack_server_name)
 * on loop. pools: the queues ("job-handlers", "job-handlers.TAG",
 * "workflow-schedulers") whose unassigned jobs and invocations it takes:
 * at once when claim_now (db-skip-locked, db-transaction-isolation), else
 * only those nobody claimed within sweep-delay. fallback (a web worker's
 * handler): claim from the pools only while no other handler serving them
 * runs (mt_jobs_pool_has_handler). fence_deadline_ns: how long (CLOCK_MONOTONIC)
 * the handler's database lease lets its commands run (handler_lease.h);
 * mt_handler_fence_until() moves it at each renewal. Never returns NULL
 * (a database that cannot be opened is logged and retried by the poll).
 * Runs for the life of the process.
 */
mt_handler_t *mt_handler_start(mt_stack_t *stack, uv_loop_t *loop, const char *const *pools, size_t npools,
                               bool claim_now, bool fallback, int64_t fence_deadline_ns);

/*
 * Claim now from the pools (db-skip-locked, db-transaction-isolation) as
 * the poll does, while there is room: a job was committed in one of them
 * (store/db_listen.h). A no-op for a handler that does not claim.
 */
void mt_handler_claim(mt_handler_t *h);

/* The lease was renewed: the waiters of this handler's commands may run them until deadline_ns (monotonic). */
void mt_handler_fence_until(mt_handler_t *h, int64_t deadline_ns);

/*
 * The handler's name was taken over (its lease lapsed): every waiter of its
 * commands stops its command now, and the handler takes no more work. Its
 * writes are refused by the database anyway (the epoch moved on).
 */
void mt_handler_lost(mt_handler_t *h);

/* Claim (or, if assigned to this handler already, accept) job id and run it. Loop thread only. */
void mt_handler_take(mt_handler_t *h, int64_t id);

/*
 * Claim workflow invocation id (or accept it if it is assigned to this
 * handler) and schedule it: its steps' jobs are created here and run by
 * this handler. Loop thread only.
 */
void mt_handler_take_invocation(mt_handler_t *h, int64_t id);

/* mt_handler_take_invocation from any thread. */
void mt_handler_notify_invocation(mt_handler_t *h, int64_t id);

/*
 * Cluster jobs of this handler's name that it does not watch yet -- handed
 * over from a lost handler (handler_lease.h) -- are watched again (by their
 * Slurm id, or found by name). Loop thread only.
 */
void mt_handler_adopt_cluster_jobs(mt_handler_t *h);

/* mt_handler_adopt_cluster_jobs from any thread. */
void mt_handler_notify_handed_over(mt_handler_t *h);

/* Job id is being cancelled: stop it if it is ours. Loop thread only. */
void mt_handler_check_cancel(mt_handler_t *h, int64_t id);

/*
 * The process is stopping for good: stop the commands still running
 * (SIGTERM to their process groups, SIGKILL after cancel-grace) and put
 * their jobs back in `queued`, so that they run again, from the start, when
 * a handler of this name runs next. A command that had already ended by
 * itself when the stop came (its leader gone, its waiter's status written,
 * though the loop had not seen it yet) is not run again: its job gets that
 * real result. Removes the fence. Loop thread only; blocks at most
 * cancel-grace per command.
 */
void mt_handler_stop(mt_handler_t *h);

/*
 * The process is stopping for a reload (mt_stack_reloading): a handler of
 * the same name starts as soon as it has exited. Start nothing more, write
 * what is pending (results, pids: a spawn under way is waited for, so its
 * waiter's pid file is there), and leave the rest to the successor, whose
 * recovery takes it up: running commands run on, watched by their waiters
 * (not signalled; the fence file stays in place, closed but not removed,
 * and the successor renews it), and jobs queued here stay `queued` under
 * this name. Cluster jobs run on too. Does not block on commands. Loop
 * thread only.
 */
void mt_handler_leave(mt_handler_t *h);

/* mt_handler_take from any thread (for web threads creating db-self jobs). */
void mt_handler_notify(mt_handler_t *h, int64_t id);

#endif
