/*
 * store_metrics: the figures of the job database and of the jobs' life,
 * counted where the store writes them (muleteer_metrics.h), so that every
 * path -- the API's, a handler's, a takeover's, a workflow's -- is counted
 * once, by the process whose statement did it.
 *
 *   muleteer_jobs_created_total            jobs inserted
 *   muleteer_jobs_started_total            runs started (queued -> running; a job run again counts again)
 *   muleteer_jobs_finished_total{state}    jobs that reached ok, error or deleted
 *   muleteer_job_wait_seconds              from a job's creation to the start of its run
 *   muleteer_job_run_seconds               from the start of its run to its end (jobs that started)
 *   muleteer_job_waiter_cpu_seconds_total  CPU (user + system) of the local jobs' waiters (muleteer-waiter),
 *                                          which run in sessions of their own, outside the server's
 *                                          processes: reported by each waiter, counted when its run ends
 *   muleteer_db_transaction_seconds{backend}  from mt_db_begin() to its commit or rollback
 *   muleteer_db_busy_waits_total{backend}  SQLite: waits for the write lock before a retry
 *   muleteer_db_busy_failures_total{backend}  statements that failed busy: SQLite's busy timeout,
 *                                          PostgreSQL's lock timeout, serialization failure, deadlock
 *
 * Declared once in the master while the application loads
 * (mt_store_metrics_register); every other call costs a test and, when
 * collecting, a relaxed atomic add. Before the declaration, and with
 * metrics off, they do nothing.
 */
#ifndef MT_STORE_METRICS_H
#define MT_STORE_METRICS_H

#include <stdint.h>

#include "app/model/job.h"
#include "app/store/db.h"
#include "muleteer_metrics.h"

/* Declare the families above. Only in app->load(). 0 or a negative value (mt_metric_counter's). */
int mt_store_metrics_register(mt_stack_t *stack);

/* CLOCK_MONOTONIC microseconds when collecting, else 0: the start of a transaction. */
int64_t mt_store_metrics_clock(void);
/* A transaction begun at *start_us (mt_store_metrics_clock; 0: not timed) ended: observe it and zero *start_us. */
void mt_store_metrics_txn(mt_db_kind_t kind, int64_t *start_us);
/* SQLite waited for its write lock once more. */
void mt_store_metrics_busy_wait(void);
/* A statement gave up busy (-EBUSY). */
void mt_store_metrics_busy_failure(mt_db_kind_t kind);

/* A job was inserted. */
void mt_store_metrics_job_created(void);
/*
 * A job entered state `to` (from another state) at now_us; create_us and
 * start_us are its creation and run start times (wall clock, 0: none).
 */
void mt_store_metrics_job_entered(mt_job_state_t to, int64_t now_us, int64_t create_us, int64_t start_us);

/* A local job's waiter used us microseconds of CPU (its own, not its command's). */
void mt_store_metrics_waiter_cpu(int64_t us);

#endif
