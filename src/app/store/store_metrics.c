/*
 * store_metrics: the database's and the jobs' counters (see store_metrics.h).
 */
#include "app/store/store_metrics.h"

#include "common/clock.h"

static int created_id = -1, started_id = -1, finished_id = -1, wait_id = -1, run_id = -1;
static int txn_id = -1, busy_wait_id = -1, busy_fail_id = -1, waiter_cpu_id = -1;

/* Label values, in the order of the indices below. */
static const char *const finished_states[] = {"ok", "error", "deleted"};
static const char *const backends[] = {"sqlite", "postgresql"};

/* Seconds: a job waits from a blink to hours, runs from a second to a day. */
static const double job_bounds[] = {0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 14400, 86400};
/* A transaction: tens of microseconds alone, up to the busy timeout (10 s) under contention. */
static const double txn_bounds[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                    0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,    10};
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

int mt_store_metrics_register(mt_stack_t *stack)
{
    int rc;
    if ((rc = created_id = mt_metric_counter(stack, "muleteer_jobs_created_total", "Jobs created.", NULL, NULL, 0)) < 0 ||
        (rc = started_id = mt_metric_counter(stack, "muleteer_jobs_started_total",
                                             "Job runs started (queued to running; a job run again counts again).",
                                             NULL, NULL, 0)) < 0 ||
        (rc = finished_id = mt_metric_counter(stack, "muleteer_jobs_finished_total",
                                              "Jobs that reached an end state, by that state.", "state",
                                              finished_states, COUNT(finished_states))) < 0 ||
        (rc = wait_id = mt_metric_histogram(stack, "muleteer_job_wait_seconds",
                                            "Time from a job's creation to the start of its run.", NULL, NULL, 0,
                                            job_bounds, COUNT(job_bounds))) < 0 ||
        (rc = run_id = mt_metric_histogram(stack, "muleteer_job_run_seconds",
                                           "Time from the start of a job's run to its end state.", NULL, NULL, 0,
                                           job_bounds, COUNT(job_bounds))) < 0 ||
        (rc = txn_id = mt_metric_histogram(stack, "muleteer_db_transaction_seconds",
                                           "Time from a transaction's BEGIN (its wait for the lock included) to "
                                           "its COMMIT or ROLLBACK.",
                                           "backend", backends, COUNT(backends), txn_bounds, COUNT(txn_bounds))) < 0 ||
        (rc = busy_wait_id = mt_metric_counter(stack, "muleteer_db_busy_waits_total",
                                               "Waits for another connection's lock before trying again "
                                               "(SQLite's busy handler and statement retries).",
                                               "backend", backends, COUNT(backends))) < 0 ||
        (rc = busy_fail_id = mt_metric_counter(stack, "muleteer_db_busy_failures_total",
                                               "Statements that failed busy: SQLite's busy timeout; PostgreSQL's "
                                               "lock timeout, serialization failure or deadlock.",
                                               "backend", backends, COUNT(backends))) < 0 ||
        (rc = waiter_cpu_id = mt_metric_counter_us(stack, "muleteer_job_waiter_cpu_seconds_total",
                                                   "CPU time (user + system) of the local jobs' waiters, which run "
                                                   "outside the server's processes (their commands' not counted).",
                                                   NULL, NULL, 0)) < 0)
        return rc;
    return 0;
}

static size_t backend_index(mt_db_kind_t kind)
{
    return kind == MT_DB_POSTGRESQL ? 1 : 0;
}

int64_t mt_store_metrics_clock(void)
{
    return mt_metrics_collecting() ? mt_clock_us() : 0;
}

void mt_store_metrics_txn(mt_db_kind_t kind, int64_t *start_us)
{
    if (*start_us == 0)
        return;
    mt_metric_observe_us(txn_id, backend_index(kind), mt_clock_us() - *start_us);
    *start_us = 0;
}

void mt_store_metrics_busy_wait(void)
{
    mt_metric_add(busy_wait_id, 0, 1);
}

void mt_store_metrics_busy_failure(mt_db_kind_t kind)
{
    mt_metric_add(busy_fail_id, backend_index(kind), 1);
}

void mt_store_metrics_job_created(void)
{
    mt_metric_add(created_id, 0, 1);
}

void mt_store_metrics_job_entered(mt_job_state_t to, int64_t now_us, int64_t create_us, int64_t start_us)
{
    switch (to) {
    case MT_JOB_RUNNING:
        mt_metric_add(started_id, 0, 1);
        if (create_us > 0)
            mt_metric_observe_us(wait_id, 0, now_us - create_us);
        return;
    case MT_JOB_OK:
    case MT_JOB_ERROR:
    case MT_JOB_DELETED:
        mt_metric_add(finished_id, to == MT_JOB_OK ? 0 : to == MT_JOB_ERROR ? 1 : 2, 1);
        if (start_us > 0)
            mt_metric_observe_us(run_id, 0, now_us - start_us);
        return;
    default:
        return;
    }
}

void mt_store_metrics_waiter_cpu(int64_t us)
{
    if (us > 0)
        mt_metric_add(waiter_cpu_id, 0, (uint64_t)us);
}
