/*
 * job_accept: group commit for new jobs across the web threads of one
 * process.
 *
 * Every web thread has its own database connection, and a durable accept
 * (accept-sync=full) costs an fsync while the database's single write lock
 * is held. Committing each new job on its own would make concurrent
 * requests queue for that lock one fsync at a time. Instead, a thread that
 * finds no commit in progress becomes the leader: it takes every job
 * waiting at that moment, its own included, inserts them in one
 * transaction with one commit, and wakes their threads. Jobs that arrive
 * meanwhile wait for the next round, which one of their threads leads. A
 * lone request is committed at once, exactly as before.
 *
 * Each caller returns only once its job is committed (or the batch failed),
 * so "commit before answering, and before sending the message" holds per
 * job. A batch succeeds or fails as a whole: after validation, an insert
 * can only fail for reasons (a full disk, a lock held past the busy
 * timeout) that would fail the others too.
 */
#ifndef MT_JOB_ACCEPT_H
#define MT_JOB_ACCEPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "app/store/db.h"
#include "app/model/job.h"

/*
 * Insert *job as mt_job_store_insert() does (same fields, same results in
 * *id and *stored), sharing the commit with jobs other threads of this
 * process accept at the same time. db is the calling thread's own
 * connection; the leader of a round writes through its own. On failure
 * returns a negative errno value and writes the reason into err.
 * Thread-safe; blocks until the job is committed.
 */
int mt_job_accept(mt_db_t *db, const mt_job_t *job, int64_t *id, mt_job_t *stored, char *err, size_t errlen);

/* For tests and diagnostics: is a round being committed, and how many jobs wait for the next. */
void mt_job_accept_state(bool *leading, size_t *waiting);

#endif
