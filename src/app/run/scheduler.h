/*
 * scheduler: moving a workflow invocation forward, in the handler that
 * owns it.
 *
 * One call looks at every step once, in dependency order, inside one
 * transaction: a running step whose job has ended becomes ok or failed; a
 * waiting step whose upstream steps are all ok gets its job (assigned by
 * the job configuration exactly as the same tool's job posted alone
 * would be, this handler standing for the creating process, and linked to
 * the step in the same transaction: a crash either keeps both or neither,
 * so every step runs exactly once); a waiting step downstream of a failure
 * is not run, and one whose job no handler assignment can place fails
 * with the reason.
 * When every step has ended the invocation is ok, or failed naming the
 * steps that failed. Calling it again changes nothing until a job ends, so
 * it can be called after any event, after a restart, or from a poll.
 */
#ifndef MT_SCHEDULER_H
#define MT_SCHEDULER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "app/store/db.h"

/* A job created for a step, and what the caller does about it once the transaction is committed. */
typedef struct mt_step_job {
    int64_t id;
    bool mine;     /* assigned to the scheduling handler: it runs it */
    char farm[128];/* mule-message: send its id to this farm; "" otherwise (another handler finds it) */
} mt_step_job_t;

/*
 * Advance invocation id if `handler` owns it and it is scheduling. The jobs
 * it created are returned in a new array *new_jobs (free it), for the
 * caller to run or announce. Returns 0 (also when there was nothing to
 * do), or a negative value on a database error (nothing was changed).
 */
int mt_scheduler_advance(mt_db_t *db, int64_t id, const char *handler, mt_step_job_t **new_jobs, size_t *nnew);

#endif
