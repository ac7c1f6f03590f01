/*
 * Unit tests for handler_store.c and the fencing of job writes (job_store.c)
 * against a real SQLite file: names taken under a lease and refused while
 * a live holder has them, reclaimed from a dead holder of this host,
 * renewals, lapses and takeovers (the epoch moves on), and a handler that
 * lost its name changing no job. (The same queries run on PostgreSQL in
 * the integration tests.)
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "app/store/db.h"
#include "app/store/handler_store.h"
#include "app/store/job_store.h"

static char dir[64];
static char path[128];
static char err[512];
static mt_db_t *db;

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/mt_handler_store.XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/jobs.sqlite", dir);
    cr_assert_eq(mt_db_migrate(path, err, sizeof err), 0, "%s", err);
    cr_assert_eq(mt_db_open(path, MT_DB_SYNC_NORMAL, &db, err, sizeof err), 0, "%s", err);
}

static void teardown(void)
{
    mt_db_close(db);
    db = NULL;
    char name[160];
    static const char *const suffixes[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(name, sizeof name, "%s%s", path, suffixes[i]);
        unlink(name);
    }
    rmdir(dir);
}

TestSuite(handler_store, .init = setup, .fini = teardown);

static void sleep_ms(int ms)
{
    nanosleep(&(struct timespec){.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L}, NULL);
}

static int64_t take(const char *name, const char *host, int pid, int64_t lease_ms, int dead_pid)
{
    int64_t epoch = -1;
    mt_handler_row_t holder;
    int rc = mt_handler_store_take(db, name, host, pid, ",job-handlers,", lease_ms, dead_pid, &epoch, &holder);
    cr_assert_geq(rc, 0, "%s", mt_db_errmsg(db));
    int64_t ret = rc == 1 ? epoch : -holder.pid;
    mt_handler_row_clear(&holder);
    return ret;
}

Test(handler_store, a_name_is_refused_while_its_holder_lives_and_its_epoch_grows_at_each_take)
{
    cr_assert_eq(take("h1", "hostA", 100, 10000, 0), 1, "a free name: epoch 1");
    cr_assert_eq(take("h1", "hostB", 200, 10000, 0), -100, "held by a live holder: refused, naming its pid");
    cr_assert_eq(take("h1", "hostB", 200, 10000, 100), -100, "a dead pid counts only on the holder's own host");
    cr_assert_eq(take("h1", "hostA", 300, 10000, 100), 2, "its host says pid 100 is gone: taken, epoch 2");
    cr_assert_eq(mt_handler_store_live(db, "h1"), 1);
    cr_assert_eq(mt_handler_store_pool_served(db, "job-handlers"), 1);
    cr_assert_eq(mt_handler_store_pool_served(db, "job-handlers.x"), 0, "pools match whole names");
    cr_assert_eq(mt_handler_store_release(db, "h1", 1), 0, "an old epoch cannot release it");
    cr_assert_eq(mt_handler_store_release(db, "h1", 2), 1);
    cr_assert_eq(mt_handler_store_live(db, "h1"), 0, "stopped");
    cr_assert_eq(take("h1", "hostB", 200, 10000, 0), 3, "a stopped name is free");
}

Test(handler_store, a_lapsed_lease_is_taken_over_once_and_its_holder_can_neither_renew_nor_write)
{
    int64_t e = take("h1", "hostA", 100, 200, 0);
    cr_assert_eq(e, 1);
    mt_db_set_fence(db, "h1", e);
    mt_job_t job = {.tool_id = "true", .queue = "job-handlers"};
    int64_t id;
    cr_assert_eq(mt_job_store_insert(db, &job, &id, NULL), 0);
    int64_t claimed;
    cr_assert_eq(mt_job_store_claim_next(db, "job-handlers", "h1", &claimed), 1);
    cr_assert_eq(claimed, id);
    cr_assert_eq(mt_job_store_transition(db, id, MT_JOB_BIT(MT_JOB_QUEUED), MT_JOB_RUNNING, NULL), 1,
                 "its own epoch: allowed");
    cr_assert_eq(mt_handler_store_renew(db, "h1", e, 200), 1);

    mt_handler_row_t *rows;
    size_t n;
    cr_assert_eq(mt_handler_store_lapsed(db, &rows, &n), 0);
    cr_assert_eq(n, 0, "not lapsed yet");
    mt_handler_rows_free(rows, n);
    sleep_ms(300);
    cr_assert_eq(mt_handler_store_live(db, "h1"), 0, "its lease lapsed");
    cr_assert_eq(mt_handler_store_lapsed(db, &rows, &n), 0);
    cr_assert_eq(n, 1);
    cr_assert_str_eq(rows[0].name, "h1");
    cr_assert_eq(rows[0].epoch, e);
    cr_assert_lt(rows[0].lease_until_us, rows[0].now_us);
    mt_handler_rows_free(rows, n);

    cr_assert_eq(mt_handler_store_mark_lost(db, "h1", e), 1, "the first taker wins");
    cr_assert_eq(mt_handler_store_mark_lost(db, "h1", e), 0, "a second taker finds it done");
    cr_assert_eq(mt_handler_store_renew(db, "h1", e, 200), 0, "the lost holder cannot renew");
    int attempt;
    cr_assert_eq(mt_job_store_release_running(db, id, "h1", "job-handlers", "attempt 2: lost", &attempt), 1);
    cr_assert_eq(attempt, 2);
    mt_job_t got;
    cr_assert_eq(mt_job_store_get(db, id, &got), 0);
    cr_assert_eq(got.state, MT_JOB_NEW);
    cr_assert_null(got.handler, "back in its pool");
    cr_assert_str_eq(got.queue, "job-handlers");
    mt_job_clear(&got);

    /* The lost holder comes back and tries to finish the job: refused, whatever its state. */
    cr_assert_eq(mt_job_store_transition(db, id, MT_JOB_ACTIVE_MASK, MT_JOB_OK, NULL), 0);
    /* A live handler claims it under its own epoch, and the old one still cannot touch it. */
    int64_t e2 = take("h2", "hostB", 200, 10000, 0);
    mt_db_set_fence(db, "h2", e2);
    cr_assert_eq(mt_job_store_claim_next(db, "job-handlers", "h2", &claimed), 1);
    cr_assert_eq(claimed, id);
    mt_db_set_fence(db, "h1", e);
    cr_assert_eq(mt_job_store_transition(db, id, MT_JOB_ACTIVE_MASK, MT_JOB_ERROR, NULL), 0);
    mt_db_set_fence(db, "h2", e2);
    cr_assert_eq(mt_job_store_transition(db, id, MT_JOB_BIT(MT_JOB_QUEUED), MT_JOB_RUNNING, NULL), 1);
    cr_assert_eq(mt_job_store_transition(db, id, MT_JOB_BIT(MT_JOB_RUNNING), MT_JOB_OK, NULL), 1);
    /* The API's cancel is never fenced. */
    mt_db_set_fence(db, "nobody", 99);
    cr_assert_eq(mt_job_store_insert(db, &job, &id, NULL), 0);
    cr_assert_eq(mt_job_store_cancel(db, id, "by the user"), MT_JOB_DELETED);
}

Test(handler_store, a_restarted_handler_adopts_its_jobs_under_its_new_epoch)
{
    int64_t e1 = take("h1", "hostA", 100, 10000, 0);
    mt_db_set_fence(db, "h1", e1);
    mt_job_t job = {.tool_id = "true", .handler = "h1"};
    int64_t id;
    cr_assert_eq(mt_job_store_insert(db, &job, &id, NULL), 0);
    mt_job_t taken;
    cr_assert_eq(mt_job_store_take(db, id, "h1", &taken), 1);
    mt_job_clear(&taken);
    int64_t e2 = take("h1", "hostA", 101, 10000, 100);
    cr_assert_eq(e2, e1 + 1);
    mt_db_set_fence(db, "h1", e2);
    cr_assert_eq(mt_job_store_transition(db, id, MT_JOB_BIT(MT_JOB_QUEUED), MT_JOB_RUNNING, NULL), 0,
                 "held under the old epoch until adopted");
    cr_assert_eq(mt_job_store_adopt(db, "h1", e2), 1);
    cr_assert_eq(mt_job_store_transition(db, id, MT_JOB_BIT(MT_JOB_QUEUED), MT_JOB_RUNNING, NULL), 1);
    mt_handler_row_t *rows;
    size_t n;
    cr_assert_eq(mt_handler_store_list(db, &rows, &n), 0);
    cr_assert_eq(n, 1);
    cr_assert_eq(rows[0].pid, 101);
    cr_assert_str_eq(rows[0].state, "running");
    cr_assert_str_eq(rows[0].pools, ",job-handlers,");
    mt_handler_rows_free(rows, n);
}
