/*
 * Unit tests for job_accept.c: jobs accepted by several threads at once are
 * committed together (counted with SQLite's commit hook), every caller gets
 * its own committed row, and a batch that cannot commit fails every job in
 * it with the reason.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "app/store/db.h"
#include "app/store/job_accept.h"
#include "app/store/job_store.h"

#define NTHREADS 4

static char dir[64];
static char path[128];
static char err[512];
static atomic_int commits;

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/mt_job_accept.XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/jobs.sqlite", dir);
    cr_assert_eq(mt_db_migrate(path, err, sizeof err), 0, "%s", err);
    atomic_store(&commits, 0);
}

static void teardown(void)
{
    static const char *const suffixes[] = {"", "-wal", "-shm"};
    char name[160];
    for (size_t i = 0; i < 3; i++) {
        snprintf(name, sizeof name, "%s%s", path, suffixes[i]);
        unlink(name);
    }
    rmdir(dir);
}

TestSuite(job_accept, .init = setup, .fini = teardown, .timeout = 60);

static int count_commit(void *data)
{
    (void)data;
    atomic_fetch_add(&commits, 1);
    return 0;
}

typedef struct {
    const char *tool;
    int busy_timeout_ms;
    int rc;
    int64_t id;
    mt_job_t stored;
    char err[256];
} caller_t;

static void *accept_one(void *arg)
{
    caller_t *c = arg;
    mt_db_t *db;
    char open_err[256];
    if (mt_db_open(path, MT_DB_SYNC_FULL, &db, open_err, sizeof open_err) < 0) {
        c->rc = -999;
        snprintf(c->err, sizeof c->err, "%s", open_err);
        return NULL;
    }
    if (c->busy_timeout_ms)
        mt_db_set_busy_timeout(db, c->busy_timeout_ms);
    sqlite3_commit_hook(mt_db__handle(db), count_commit, NULL);
    mt_job_t job = {.tool_id = (char *)c->tool, .queue = "job-handlers"};
    c->rc = mt_job_accept(db, &job, &c->id, &c->stored, c->err, sizeof c->err);
    mt_db_close(db);
    return NULL;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Poll until a round is being led and `waiting` jobs wait for the next one. */
static void wait_for_state(bool leading, size_t waiting)
{
    for (int i = 0; i < 2000; i++) {
        bool l;
        size_t w;
        mt_job_accept_state(&l, &w);
        if (l == leading && w == waiting)
            return;
        sleep_ms(5);
    }
    cr_assert_fail("the accept queue never reached leading=%d waiting=%zu", leading, waiting);
}

/* Hold the database's write lock from a plain connection. */
static sqlite3 *hold_write_lock(void)
{
    sqlite3 *raw;
    cr_assert_eq(sqlite3_open(path, &raw), SQLITE_OK);
    cr_assert_eq(sqlite3_exec(raw, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    return raw;
}

Test(job_accept, a_lone_job_is_committed_and_returned)
{
    caller_t c = {.tool = "true"};
    accept_one(&c);
    cr_assert_eq(c.rc, 0, "%s", c.err);
    cr_assert_gt(c.id, 0);
    cr_assert_eq(c.stored.id, c.id);
    cr_assert_str_eq(c.stored.tool_id, "true");
    cr_assert_eq(c.stored.state, MT_JOB_NEW);
    cr_assert_eq(atomic_load(&commits), 1);
    mt_job_clear(&c.stored);
}

Test(job_accept, jobs_arriving_during_a_commit_share_the_next_one)
{
    sqlite3 *raw = hold_write_lock();
    caller_t callers[NTHREADS];
    pthread_t threads[NTHREADS];
    static const char *const tools[NTHREADS] = {"t0", "t1", "t2", "t3"};
    for (int i = 0; i < NTHREADS; i++)
        callers[i] = (caller_t){.tool = tools[i]};
    /* The first leads a round that waits for the lock; the others queue behind it. */
    cr_assert_eq(pthread_create(&threads[0], NULL, accept_one, &callers[0]), 0);
    wait_for_state(true, 0);
    for (int i = 1; i < NTHREADS; i++)
        cr_assert_eq(pthread_create(&threads[i], NULL, accept_one, &callers[i]), 0);
    wait_for_state(true, NTHREADS - 1);
    cr_assert_eq(sqlite3_exec(raw, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(raw);
    for (int i = 0; i < NTHREADS; i++)
        pthread_join(threads[i], NULL);

    cr_assert_eq(atomic_load(&commits), 2, "%d jobs took %d commits, not 2", NTHREADS, atomic_load(&commits));
    mt_db_t *db;
    cr_assert_eq(mt_db_open(path, MT_DB_SYNC_NORMAL, &db, err, sizeof err), 0, "%s", err);
    for (int i = 0; i < NTHREADS; i++) {
        cr_assert_eq(callers[i].rc, 0, "%s", callers[i].err);
        cr_assert_str_eq(callers[i].stored.tool_id, tools[i], "each caller gets its own row back");
        for (int k = 0; k < i; k++)
            cr_assert_neq(callers[i].id, callers[k].id);
        mt_job_t read;
        cr_assert_eq(mt_job_store_get(db, callers[i].id, &read), 0, "%s", mt_db_errmsg(db));
        cr_assert_str_eq(read.tool_id, tools[i]);
        mt_job_clear(&read);
        mt_job_clear(&callers[i].stored);
    }
    mt_db_close(db);
    bool leading;
    size_t waiting;
    mt_job_accept_state(&leading, &waiting);
    cr_assert(!leading && waiting == 0);
}

Test(job_accept, a_batch_that_cannot_commit_fails_every_job_in_it_with_the_reason)
{
    sqlite3 *raw = hold_write_lock();
    caller_t callers[2];
    pthread_t threads[2];
    for (int i = 0; i < 2; i++)
        callers[i] = (caller_t){.tool = "true", .busy_timeout_ms = 300};
    cr_assert_eq(pthread_create(&threads[0], NULL, accept_one, &callers[0]), 0);
    wait_for_state(true, 0);
    cr_assert_eq(pthread_create(&threads[1], NULL, accept_one, &callers[1]), 0);
    for (int i = 0; i < 2; i++)
        pthread_join(threads[i], NULL);
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(callers[i].rc, -EBUSY, "caller %d: %d %s", i, callers[i].rc, callers[i].err);
        cr_assert(strstr(callers[i].err, "locked"), "caller %d: %s", i, callers[i].err);
        cr_assert_eq(callers[i].id, 0);
        cr_assert_null(callers[i].stored.tool_id);
    }
    cr_assert_eq(sqlite3_exec(raw, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(raw);
    cr_assert_eq(atomic_load(&commits), 0);
}
