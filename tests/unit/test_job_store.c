/*
 * Unit tests for db.c and job_store.c against real SQLite files in a
 * temporary directory: migrations (idempotent, newer schema refused),
 * insert/get/list, claims -- including two processes racing over the same
 * jobs -- state transitions and their history, the sweeper's and recovery's
 * queries, and the time format.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "app/store/db.h"
#include "app/store/invocation_store.h"
#include "app/store/job_store.h"
#include "app/store/workflow_store.h"
#include "common/clock.h"

static char dir[64];
static char path[128];
static char err[512];
static mt_db_t *db;

static void remove_db_files(void)
{
    static const char *const suffixes[] = {"", "-wal", "-shm", "-journal"};
    char name[160];
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        snprintf(name, sizeof name, "%s%s", path, suffixes[i]);
        unlink(name);
    }
}

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/mt_job_store.XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/jobs.sqlite", dir);
    cr_assert_eq(mt_db_migrate(path, err, sizeof err), 0, "%s", err);
    cr_assert_eq(mt_db_open(path, MT_DB_SYNC_NORMAL, &db, err, sizeof err), 0, "%s", err);
}

static void teardown(void)
{
    mt_db_close(db);
    db = NULL;
    remove_db_files();
    rmdir(dir);
}

TestSuite(job_store, .init = setup, .fini = teardown);

/* A plain SQLite connection, to look under the module or to tamper with the file. */
static sqlite3 *raw_open(void)
{
    sqlite3 *raw;
    cr_assert_eq(sqlite3_open(path, &raw), SQLITE_OK);
    sqlite3_busy_timeout(raw, 5000);
    return raw;
}

static int64_t raw_int(sqlite3 *raw, const char *sql)
{
    sqlite3_stmt *st;
    cr_assert_eq(sqlite3_prepare_v2(raw, sql, -1, &st, NULL), SQLITE_OK, "%s", sqlite3_errmsg(raw));
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW, "%s", sqlite3_errmsg(raw));
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static int64_t add_job(mt_db_t *conn, const char *tool, const char *handler, const char *queue)
{
    mt_job_t job = {.tool_id = (char *)tool, .tool_version = "1.0", .params = "{\"n\": 1}",
                    .handler = (char *)handler, .queue = (char *)queue};
    int64_t id;
    cr_assert_eq(mt_job_store_insert(conn, &job, &id, NULL), 0, "%s", mt_db_errmsg(conn));
    cr_assert_gt(id, 0);
    return id;
}

/* Take job id for handler through conn (the handler's claim), dropping the row it returns: 1, 0 or < 0. */
static int claim(mt_db_t *conn, int64_t id, const char *handler)
{
    mt_job_t taken;
    int rc = mt_job_store_take(conn, id, handler, &taken);
    mt_job_clear(&taken);
    return rc;
}

static mt_job_state_t state_of(int64_t id)
{
    mt_job_t job;
    cr_assert_eq(mt_job_store_get(db, id, &job), 0, "%s", mt_db_errmsg(db));
    mt_job_state_t s = job.state;
    mt_job_clear(&job);
    return s;
}

/* ------------------------------------------------------------------ */
/* Migrations and connections                                          */
/* ------------------------------------------------------------------ */

Test(job_store, migrate_is_idempotent_and_sets_wal)
{
    add_job(db, "true", NULL, NULL);
    cr_assert_eq(mt_db_migrate(path, err, sizeof err), 0, "%s", err);
    cr_assert_eq(mt_db_migrate(path, err, sizeof err), 0, "%s", err);

    sqlite3 *raw = raw_open();
    cr_assert_eq(raw_int(raw, "PRAGMA user_version"), MT_DB_SCHEMA_VERSION);
    cr_assert_eq(raw_int(raw, "SELECT count(*) FROM job"), 1, "migrating again keeps the data");
    sqlite3_stmt *st;
    cr_assert_eq(sqlite3_prepare_v2(raw, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
    cr_assert_str_eq((const char *)sqlite3_column_text(st, 0), "wal");
    sqlite3_finalize(st);
    sqlite3_close(raw);
}

/* The plan SQLite picks for a statement, its detail lines joined by " | ". */
static void query_plan(sqlite3 *raw, const char *sql, char *out, size_t len)
{
    char explain[512];
    snprintf(explain, sizeof explain, "EXPLAIN QUERY PLAN %s", sql);
    sqlite3_stmt *st;
    cr_assert_eq(sqlite3_prepare_v2(raw, explain, -1, &st, NULL), SQLITE_OK, "%s", sqlite3_errmsg(raw));
    out[0] = '\0';
    while (sqlite3_step(st) == SQLITE_ROW) {
        size_t n = strlen(out);
        snprintf(out + n, len - n, "%s%s", n ? " | " : "", (const char *)sqlite3_column_text(st, 3));
    }
    sqlite3_finalize(st);
}

Test(job_store, a_handlers_poll_finds_its_new_jobs_by_handler_and_state_not_by_walking_all_its_jobs)
{
    /* The shape mt_job_store_list gives the poll (handler.c: states new and deleting, the handler). */
    sqlite3 *raw = raw_open();
    char plan[1024];
    query_plan(raw, "SELECT id FROM job WHERE state IN (?,?) AND handler = ? ORDER BY id DESC LIMIT ? OFFSET ?",
               plan, sizeof plan);
    cr_assert(strstr(plan, "INDEX job_handler_state (handler=? AND state=?)") != NULL, "plan: %s", plan);
    /* ... and a list by handler alone (GET /api/jobs?handler=) still uses an index. */
    query_plan(raw, "SELECT id FROM job WHERE handler = ? ORDER BY id DESC LIMIT ? OFFSET ?", plan, sizeof plan);
    cr_assert(strstr(plan, "INDEX job_handler_state (handler=?)") != NULL, "plan: %s", plan);
    sqlite3_close(raw);
}

Test(job_store, a_version_1_database_is_migrated_to_the_current_schema_and_keeps_its_jobs)
{
    add_job(db, "true", NULL, NULL);
    mt_db_close(db);
    db = NULL;
    sqlite3 *raw = raw_open();
    cr_assert_eq(sqlite3_exec(raw,
                              /* back to the history table of version 1, with two events of the job */
                              "DROP VIEW job_state_history; DROP TRIGGER job_history_guard;"
                              "ALTER TABLE job DROP COLUMN history;"
                              "CREATE TABLE job_state_history (job_id INTEGER NOT NULL, state TEXT NOT NULL,"
                              "  time INTEGER NOT NULL, handler TEXT, info TEXT);"
                              "CREATE INDEX job_state_history_job ON job_state_history (job_id);"
                              "CREATE TRIGGER job_history_insert AFTER INSERT ON job BEGIN SELECT 1; END;"
                              "CREATE TRIGGER job_history_update AFTER UPDATE OF state, handler ON job BEGIN SELECT 1; END;"
                              "INSERT INTO job_state_history SELECT id, 'new', 5, NULL, 'it said \"hi\", then' FROM job;"
                              "INSERT INTO job_state_history SELECT id, 'queued', 7, 'main.h.1', NULL FROM job;"
                              "DROP INDEX job_tool; DROP INDEX job_tool_state; DROP INDEX job_create;"
                              "DROP TABLE handler; ALTER TABLE job DROP COLUMN epoch;"
                              "ALTER TABLE job DROP COLUMN attempt;"
                              "ALTER TABLE job DROP COLUMN destination;"
                              "ALTER TABLE job RENAME COLUMN queue TO destination;"
                              "UPDATE job SET destination = 'db';" /* skip-locked's old queue */
                              "DROP TRIGGER job_count_insert; DROP TRIGGER job_count_delete; DROP TABLE job_count;"
                              "DROP INDEX job_handler_state;"
                              "CREATE INDEX job_handler ON job (handler) WHERE handler IS NOT NULL;"
                              "DROP INDEX job_user; ALTER TABLE job DROP COLUMN user;"
                              "DROP INDEX job_invocation; ALTER TABLE job DROP COLUMN invocation_id;"
                              "DROP TABLE invocation_step; DROP TABLE invocation; DROP TABLE workflow;"
                              "PRAGMA user_version = 1",
                              NULL, NULL, NULL),
                 SQLITE_OK, "%s", sqlite3_errmsg(raw));
    sqlite3_close(raw);
    cr_assert_eq(mt_db_migrate(path, err, sizeof err), 0, "%s", err);
    raw = raw_open();
    cr_assert_eq(raw_int(raw, "PRAGMA user_version"), MT_DB_SCHEMA_VERSION);
    cr_assert_eq(raw_int(raw, "SELECT count(*) FROM job"), 1);
    cr_assert_eq(raw_int(raw, "SELECT count(*) FROM job WHERE invocation_id IS NULL"), 1);
    cr_assert_eq(raw_int(raw, "SELECT count(*) FROM job WHERE user IS NULL"), 1, "jobs from before have no owner");
    cr_assert_eq(raw_int(raw, "SELECT count(*) FROM workflow"), 0);
    cr_assert_eq(raw_int(raw, "SELECT count(*) FROM invocation"), 0);
    cr_assert_eq(raw_int(raw, "SELECT n FROM job_count"), 1, "the kept count starts from the jobs there are");
    cr_assert_eq(raw_int(raw, "SELECT count(*) FROM job WHERE queue = 'job-handlers' AND destination IS NULL"), 1,
                 "skip-locked's 'db' is the default pool now; no execution destination");
    cr_assert_eq(raw_int(raw, "SELECT count(*) FROM job WHERE attempt = 1"), 1, "a job from before is on its first attempt");
    sqlite3_close(raw);
    cr_assert_eq(mt_db_open(path, MT_DB_SYNC_NORMAL, &db, err, sizeof err), 0, "%s", err);
    mt_job_event_t *ev = NULL;
    size_t nev = 0;
    cr_assert_eq(mt_job_store_history(db, 1, &ev, &nev), 0, "%s", mt_db_errmsg(db));
    cr_assert_eq(nev, 2, "the history rows of before are the job's events, in their order");
    cr_assert(ev[0].state == MT_JOB_NEW && ev[0].time_us == 5 && !ev[0].handler);
    cr_assert_str_eq(ev[0].info, "it said \"hi\", then");
    cr_assert(ev[1].state == MT_JOB_QUEUED && ev[1].time_us == 7 && !ev[1].info);
    cr_assert_str_eq(ev[1].handler, "main.h.1");
    mt_job_store_free_events(ev, nev);
    add_job(db, "true", NULL, NULL);
    mt_job_t *jobs = NULL;
    size_t n = 0;
    int64_t total = -1;
    cr_assert_eq(mt_job_store_list(db, NULL, 10, 0, &jobs, &n, &total), 0, "%s", mt_db_errmsg(db));
    cr_assert_eq(total, 2, "the unfiltered total is the kept count, and an insert counts");
    cr_assert_eq(n, 2);
    for (size_t i = 0; i < n; i++)
        mt_job_clear(&jobs[i]);
    free(jobs);
}

Test(job_store, workflows_are_stored_once_per_id_and_listed_in_id_order)
{
    cr_assert_eq(mt_workflow_store_insert(db, "zeta", "id: zeta"), 0, "%s", mt_db_errmsg(db));
    cr_assert_eq(mt_workflow_store_insert(db, "alpha", "id: alpha\nsteps: []"), 0, "%s", mt_db_errmsg(db));
    cr_assert_eq(mt_workflow_store_insert(db, "zeta", "id: zeta again"), -EEXIST);
    char *def = NULL;
    cr_assert_eq(mt_workflow_store_get(db, "alpha", &def), 0);
    cr_assert_str_eq(def, "id: alpha\nsteps: []");
    free(def);
    cr_assert_eq(mt_workflow_store_get(db, "nope", &def), -ENOENT);
    cr_assert_null(def);
    char **ids, **defs;
    size_t n;
    cr_assert_eq(mt_workflow_store_list(db, &ids, &defs, &n), 0, "%s", mt_db_errmsg(db));
    cr_assert_eq(n, 2);
    cr_assert_str_eq(ids[0], "alpha");
    cr_assert_str_eq(ids[1], "zeta");
    cr_assert_str_eq(defs[1], "id: zeta", "the first definition stays");
    mt_workflow_store_free(ids, defs, n);
}

Test(job_store, newer_schema_is_refused_with_a_clear_message)
{
    sqlite3 *raw = raw_open();
    cr_assert_eq(sqlite3_exec(raw, "PRAGMA user_version=99", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(raw);

    cr_assert_lt(mt_db_migrate(path, err, sizeof err), 0);
    char want[512];
    snprintf(want, sizeof want,
             "database %s has schema version 99 but this muleteer knows up to %d: upgrade muleteer",
             path, MT_DB_SCHEMA_VERSION);
    cr_assert_str_eq(err, want);

    mt_db_t *other = NULL;
    cr_assert_lt(mt_db_open(path, MT_DB_SYNC_FULL, &other, err, sizeof err), 0);
    cr_assert_null(other);
    cr_assert_str_eq(err, want);

    raw = raw_open();
    cr_assert_eq(raw_int(raw, "PRAGMA user_version"), 99, "a refused database is left alone");
    sqlite3_close(raw);
}

Test(job_store, open_refuses_a_missing_or_unmigrated_database)
{
    char other_path[160];
    mt_db_t *other = NULL;
    snprintf(other_path, sizeof other_path, "%s/missing.sqlite", dir);
    cr_assert_lt(mt_db_open(other_path, MT_DB_SYNC_NORMAL, &other, err, sizeof err), 0);
    cr_assert_null(other);
    cr_assert(strstr(err, other_path), "%s", err);

    snprintf(other_path, sizeof other_path, "%s/empty.sqlite", dir);
    sqlite3 *raw;
    cr_assert_eq(sqlite3_open(other_path, &raw), SQLITE_OK);
    cr_assert_eq(sqlite3_exec(raw, "CREATE TABLE t (x)", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(raw);
    cr_assert_lt(mt_db_open(other_path, MT_DB_SYNC_NORMAL, &other, err, sizeof err), 0);
    cr_assert(strstr(err, "not migrated"), "%s", err);
    unlink(other_path);
}

Test(job_store, close_accepts_null)
{
    mt_db_close(NULL);
}

Test(job_store, a_locked_database_fails_with_ebusy_after_the_timeout)
{
    sqlite3 *raw = raw_open();
    cr_assert_eq(sqlite3_exec(raw, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    mt_db_set_busy_timeout(db, 100);
    mt_job_t job = {.tool_id = "true"};
    int64_t id = -1;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    cr_assert_eq(mt_job_store_insert(db, &job, &id, NULL), -EBUSY);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double waited = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    cr_assert(waited >= 0.09 && waited < 2.0, "waited %.3f s", waited);
    cr_assert_eq(id, 0);
    cr_assert(strstr(mt_db_errmsg(db), "insert job"), "%s", mt_db_errmsg(db));

    /* Reads go on under WAL while a writer holds the lock. */
    mt_job_t *jobs;
    size_t n;
    cr_assert_eq(mt_job_store_list(db, NULL, -1, 0, &jobs, &n, NULL), 0, "%s", mt_db_errmsg(db));
    cr_assert_eq(n, 0);

    cr_assert_eq(sqlite3_exec(raw, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(raw);
    cr_assert_eq(mt_job_store_insert(db, &job, &id, NULL), 0, "%s", mt_db_errmsg(db));
}

/* The database cannot grow (max_page_count stands in for a full disk): -ENOSPC, nothing half-written. */
static int64_t count_jobs(void)
{
    mt_job_t *jobs;
    size_t n;
    int64_t total = -1;
    cr_assert_eq(mt_job_store_list(db, NULL, 1, 0, &jobs, &n, &total), 0, "%s", mt_db_errmsg(db));
    mt_job_store_free(jobs, n);
    return total;
}

Test(job_store, a_full_database_fails_with_enospc_and_stores_nothing)
{
    sqlite3 *handle = mt_db__handle(db);
    cr_assert_eq(sqlite3_exec(handle, "PRAGMA max_page_count = 40", NULL, NULL, NULL), SQLITE_OK);
    static char params[3000];
    memset(params, 'x', sizeof params - 3);
    params[0] = '"';
    params[sizeof params - 2] = '"';
    mt_job_t job = {.tool_id = "true", .params = params};
    int64_t id = 0;
    int rc = 0, inserted = 0;
    while ((rc = mt_job_store_insert(db, &job, &id, NULL)) == 0)
        cr_assert_lt(++inserted, 1000, "the database kept growing past max_page_count");
    cr_assert_eq(rc, -ENOSPC, "%d %s", rc, mt_db_errmsg(db));
    cr_assert(strstr(mt_db_errmsg(db), "full"), "%s", mt_db_errmsg(db));
    cr_assert_eq(id, 0);
    cr_assert_eq(count_jobs(), inserted);
    cr_assert_eq(mt_db_begin(db), 0);
    cr_assert_eq(mt_job_store_insert(db, &job, &id, NULL), -ENOSPC);
    mt_db_rollback(db);
    cr_assert_eq(count_jobs(), inserted);
    {
        sqlite3_stmt *st;
        cr_assert_eq(sqlite3_prepare_v2(handle, "PRAGMA integrity_check", -1, &st, NULL), SQLITE_OK);
        cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
        cr_assert_str_eq((const char *)sqlite3_column_text(st, 0), "ok");
        sqlite3_finalize(st);
    }
    /* Space returns: it writes again. */
    cr_assert_eq(sqlite3_exec(handle, "PRAGMA max_page_count = 100000", NULL, NULL, NULL), SQLITE_OK);
    cr_assert_eq(mt_job_store_insert(db, &job, &id, NULL), 0, "%s", mt_db_errmsg(db));
    cr_assert_eq(count_jobs(), inserted + 1);
}

/* ------------------------------------------------------------------ */
/* Insert, get, list                                                   */
/* ------------------------------------------------------------------ */

Test(job_store, insert_returns_the_row_as_stored)
{
    mt_job_t job = {.tool_id = "cat1", .tool_version = "2.0", .params = "{\"n\":1}", .queue = "job-handlers"};
    mt_job_t stored;
    int64_t id = 0;
    cr_assert_eq(mt_job_store_insert(db, &job, &id, &stored), 0, "%s", mt_db_errmsg(db));
    mt_job_t read;
    cr_assert_eq(mt_job_store_get(db, id, &read), 0, "%s", mt_db_errmsg(db));
    cr_assert_eq(stored.id, id);
    cr_assert_eq(stored.state, MT_JOB_NEW);
    cr_assert_null(stored.handler);
    cr_assert_str_eq(stored.tool_id, read.tool_id);
    cr_assert_str_eq(stored.tool_version, read.tool_version);
    cr_assert_str_eq(stored.params, read.params);
    cr_assert_str_eq(stored.queue, read.queue);
    cr_assert_eq(stored.create_us, read.create_us);
    cr_assert_gt(stored.create_us, 0);
    mt_job_clear(&stored);
    mt_job_clear(&read);
}

Test(job_store, insert_then_get_round_trips_and_is_visible_to_other_connections)
{
    int64_t before = mt_wall_us();
    int64_t id = add_job(db, "cat1", NULL, "job-handlers");
    int64_t after = mt_wall_us();

    mt_db_t *other;
    cr_assert_eq(mt_db_open(path, MT_DB_SYNC_FULL, &other, err, sizeof err), 0, "%s", err);
    mt_job_t job;
    cr_assert_eq(mt_job_store_get(other, id, &job), 0, "%s", mt_db_errmsg(other));
    cr_assert_eq(job.id, id);
    cr_assert_str_eq(job.tool_id, "cat1");
    cr_assert_str_eq(job.tool_version, "1.0");
    cr_assert_str_eq(job.params, "{\"n\": 1}");
    cr_assert_eq(job.state, MT_JOB_NEW);
    cr_assert_null(job.handler);
    cr_assert_str_eq(job.queue, "job-handlers");
    cr_assert(job.create_us >= before && job.create_us <= after);
    cr_assert_eq(job.update_us, job.create_us);
    cr_assert_eq(job.claim_us, 0);
    cr_assert_eq(job.start_us, 0);
    cr_assert_eq(job.end_us, 0);
    cr_assert_not(job.has_exit_code);
    cr_assert_null(job.runner);
    cr_assert_null(job.external_id);
    cr_assert_null(job.working_dir);
    cr_assert_null(job.info);
    mt_job_clear(&job);
    mt_db_close(other);

    /* A preassigned job keeps its handler; params default to an empty object. */
    mt_job_t pre = {.tool_id = "true", .handler = "main.handler0"};
    int64_t id2;
    cr_assert_eq(mt_job_store_insert(db, &pre, &id2, NULL), 0, "%s", mt_db_errmsg(db));
    cr_assert_gt(id2, id);
    cr_assert_eq(mt_job_store_get(db, id2, &job), 0);
    cr_assert_str_eq(job.handler, "main.handler0");
    cr_assert_str_eq(job.params, "{}");
    cr_assert_null(job.tool_version);
    cr_assert_eq(job.state, MT_JOB_NEW);
    mt_job_clear(&job);
}

Test(job_store, get_unknown_is_enoent_and_insert_needs_a_tool)
{
    mt_job_t job;
    cr_assert_eq(mt_job_store_get(db, 12345, &job), -ENOENT);
    cr_assert_null(job.tool_id);
    mt_job_t none = {0};
    int64_t id = 7;
    cr_assert_eq(mt_job_store_insert(db, &none, &id, NULL), -EINVAL);
    cr_assert_eq(id, 0);
}

static void assert_ids(mt_job_t *jobs, size_t n, const int64_t *want, size_t nwant)
{
    cr_assert_eq(n, nwant, "got %zu jobs, want %zu", n, nwant);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(jobs[i].id, want[i], "job %zu: id %lld, want %lld", i, (long long)jobs[i].id,
                     (long long)want[i]);
}

Test(job_store, list_filters_pages_and_counts)
{
    int64_t ids[25];
    for (int i = 0; i < 25; i++)
        ids[i] = add_job(db, i % 2 ? "cat" : "true", NULL, NULL);
    /* Jobs 0, 3, 6, ... 24 claimed by h1; 24 also running. */
    for (int i = 0; i < 25; i += 3)
        cr_assert_eq(claim(db, ids[i], "h1"), 1);
    cr_assert_eq(mt_job_store_transition(db, ids[24], MT_JOB_BIT(MT_JOB_QUEUED), MT_JOB_RUNNING, NULL), 1);

    mt_job_t *jobs;
    size_t n;
    int64_t total = -1;

    cr_assert_eq(mt_job_store_list(db, NULL, 10, 0, &jobs, &n, &total), 0, "%s", mt_db_errmsg(db));
    cr_assert_eq(total, 25);
    int64_t want[25];
    for (int i = 0; i < 10; i++)
        want[i] = ids[24 - i];
    assert_ids(jobs, n, want, 10);
    mt_job_store_free(jobs, n);

    cr_assert_eq(mt_job_store_list(db, NULL, 10, 20, &jobs, &n, &total), 0);
    cr_assert_eq(total, 25);
    for (int i = 0; i < 5; i++)
        want[i] = ids[4 - i];
    assert_ids(jobs, n, want, 5);
    mt_job_store_free(jobs, n);

    cr_assert_eq(mt_job_store_list(db, NULL, 10, 30, &jobs, &n, &total), 0);
    cr_assert_eq(n, 0);
    cr_assert_null(jobs);
    cr_assert_eq(total, 25);

    cr_assert_eq(mt_job_store_list(db, NULL, -1, 0, &jobs, &n, NULL), 0);
    cr_assert_eq(n, 25);
    mt_job_store_free(jobs, n);

    /* tool: the 12 odd ones, newest first, paged by 5. */
    mt_job_filter_t f = {.tool_id = "cat"};
    cr_assert_eq(mt_job_store_list(db, &f, 5, 5, &jobs, &n, &total), 0);
    cr_assert_eq(total, 12);
    int64_t want_cat[] = {ids[13], ids[11], ids[9], ids[7], ids[5]};
    assert_ids(jobs, n, want_cat, 5);
    for (size_t i = 0; i < n; i++)
        cr_assert_str_eq(jobs[i].tool_id, "cat");
    mt_job_store_free(jobs, n);

    /* handler h1: 9 jobs; h1 and queued: 8; h1, cat and queued: 0, 3.. odd -> 3, 9, 15, 21. */
    f = (mt_job_filter_t){.handler = "h1"};
    cr_assert_eq(mt_job_store_list(db, &f, -1, 0, &jobs, &n, &total), 0);
    cr_assert_eq(total, 9);
    cr_assert_eq(n, 9);
    mt_job_store_free(jobs, n);
    f.states = MT_JOB_BIT(MT_JOB_QUEUED);
    cr_assert_eq(mt_job_store_list(db, &f, -1, 0, &jobs, &n, &total), 0);
    cr_assert_eq(total, 8);
    mt_job_store_free(jobs, n);
    f.tool_id = "cat";
    cr_assert_eq(mt_job_store_list(db, &f, -1, 0, &jobs, &n, &total), 0);
    int64_t want_h1_cat[] = {ids[21], ids[15], ids[9], ids[3]};
    assert_ids(jobs, n, want_h1_cat, 4);
    cr_assert_eq(total, 4);
    mt_job_store_free(jobs, n);

    /* Several states at once. */
    f = (mt_job_filter_t){.states = MT_JOB_BIT(MT_JOB_NEW) | MT_JOB_BIT(MT_JOB_RUNNING)};
    cr_assert_eq(mt_job_store_list(db, &f, 3, 0, &jobs, &n, &total), 0);
    cr_assert_eq(total, 17);
    int64_t want_nr[] = {ids[24], ids[23], ids[22]};
    assert_ids(jobs, n, want_nr, 3);
    cr_assert_eq(jobs[0].state, MT_JOB_RUNNING);
    cr_assert_eq(jobs[1].state, MT_JOB_NEW);
    mt_job_store_free(jobs, n);

    f = (mt_job_filter_t){.states = MT_JOB_BIT(MT_JOB_OK)};
    cr_assert_eq(mt_job_store_list(db, &f, 10, 0, &jobs, &n, &total), 0);
    cr_assert_eq(n, 0);
    cr_assert_eq(total, 0);
}

Test(job_store, a_job_keeps_its_owner_and_lists_filter_by_owner)
{
    int64_t ids[6];
    const char *owners[6] = {"alice", "bob", NULL, "alice", "bob", "alice"};
    for (int i = 0; i < 6; i++) {
        mt_job_t job = {.tool_id = i % 2 ? "cat" : "true", .user = (char *)owners[i]};
        mt_job_t stored;
        cr_assert_eq(mt_job_store_insert(db, &job, &ids[i], &stored), 0, "%s", mt_db_errmsg(db));
        if (owners[i])
            cr_assert_str_eq(stored.user, owners[i]);
        else
            cr_assert_null(stored.user);
        mt_job_clear(&stored);
    }
    mt_job_t got;
    cr_assert_eq(mt_job_store_get(db, ids[1], &got), 0);
    cr_assert_str_eq(got.user, "bob");
    mt_job_clear(&got);

    mt_job_t *jobs;
    size_t n;
    int64_t total = -1;
    mt_job_filter_t f = {.user = "alice"};
    cr_assert_eq(mt_job_store_list(db, &f, -1, 0, &jobs, &n, &total), 0, "%s", mt_db_errmsg(db));
    int64_t want_alice[] = {ids[5], ids[3], ids[0]};
    assert_ids(jobs, n, want_alice, 3);
    cr_assert_eq(total, 3);
    mt_job_store_free(jobs, n);

    f.tool_id = "cat"; /* alice's cat jobs: 3, 5 */
    f.states = MT_JOB_BIT(MT_JOB_NEW);
    cr_assert_eq(mt_job_store_list(db, &f, 1, 1, &jobs, &n, &total), 0, "%s", mt_db_errmsg(db));
    int64_t want_page[] = {ids[3]};
    assert_ids(jobs, n, want_page, 1);
    cr_assert_eq(total, 2);
    mt_job_store_free(jobs, n);

    f = (mt_job_filter_t){.user = "carol"};
    cr_assert_eq(mt_job_store_list(db, &f, -1, 0, &jobs, &n, &total), 0);
    cr_assert_eq(n, 0);
    cr_assert_eq(total, 0);
    cr_assert_eq(mt_job_store_list(db, NULL, -1, 0, &jobs, &n, &total), 0);
    cr_assert_eq(total, 6, "no owner filter: everyone's and nobody's");
    mt_job_store_free(jobs, n);
}

Test(job_store, invocations_keep_their_owner_and_list_by_owner_workflow_and_state)
{
    const char *owners[4] = {"alice", "bob", "alice", NULL};
    const char *workflows[4] = {"w1", "w1", "w2", "w1"};
    const char *steps[] = {"a"};
    int64_t ids[4];
    for (int i = 0; i < 4; i++) {
        mt_invocation_t inv = {.workflow_id = (char *)workflows[i], .definition = "{}", .inputs = "{}",
                               .user = (char *)owners[i]};
        cr_assert_eq(mt_invocation_store_insert(db, &inv, steps, 1, &ids[i]), 0, "%s", mt_db_errmsg(db));
    }
    cr_assert_eq(mt_invocation_store_set_state(db, ids[2], MT_INV_BIT(MT_INV_NEW), MT_INV_CANCELLED, NULL), 1);
    mt_invocation_t got;
    cr_assert_eq(mt_invocation_store_get(db, ids[1], &got), 0);
    cr_assert_str_eq(got.user, "bob");
    mt_invocation_clear(&got);
    cr_assert_eq(mt_invocation_store_get(db, ids[3], &got), 0);
    cr_assert_null(got.user);
    mt_invocation_clear(&got);

    mt_invocation_t *invs;
    size_t n;
    int64_t total = -1;
    cr_assert_eq(mt_invocation_store_list(db, "alice", NULL, 0, -1, 0, &invs, &n, &total), 0, "%s",
                 mt_db_errmsg(db));
    cr_assert_eq(n, 2);
    cr_assert_eq(total, 2);
    cr_assert_eq(invs[0].id, ids[2], "newest first");
    cr_assert_eq(invs[1].id, ids[0]);
    cr_assert_str_eq(invs[0].user, "alice");
    for (size_t i = 0; i < n; i++)
        mt_invocation_clear(&invs[i]);
    free(invs);

    cr_assert_eq(mt_invocation_store_list(db, "alice", "w1", MT_INV_BIT(MT_INV_NEW), -1, 0, &invs, &n, &total), 0);
    cr_assert_eq(n, 1);
    cr_assert_eq(invs[0].id, ids[0]);
    mt_invocation_clear(&invs[0]);
    free(invs);

    cr_assert_eq(mt_invocation_store_list(db, NULL, "w1", 0, 1, 1, &invs, &n, &total), 0);
    cr_assert_eq(total, 3, "everyone's w1 invocations");
    cr_assert_eq(n, 1);
    cr_assert_eq(invs[0].id, ids[1]);
    mt_invocation_clear(&invs[0]);
    free(invs);

    mt_invocation_state_t s;
    cr_assert_eq(mt_invocation_state_parse("cancelled", &s), 0);
    cr_assert_eq(s, MT_INV_CANCELLED);
    cr_assert_eq(mt_invocation_state_parse("bogus", &s), -1);
}

/* ------------------------------------------------------------------ */
/* Claims                                                              */
/* ------------------------------------------------------------------ */

Test(job_store, an_unassigned_job_is_taken_once)
{
    int64_t id = add_job(db, "true", NULL, "job-handlers");
    int64_t before = mt_wall_us();
    cr_assert_eq(claim(db, id, "main.job-handlers.1"), 1, "%s", mt_db_errmsg(db));
    cr_assert_eq(claim(db, id, "main.job-handlers.2"), 0);
    cr_assert_eq(claim(db, id, "main.job-handlers.1"), 0, "claiming twice is not winning twice");
    cr_assert_eq(claim(db, id + 100, "main.job-handlers.1"), 0, "no such job");

    mt_job_t job;
    cr_assert_eq(mt_job_store_get(db, id, &job), 0);
    cr_assert_str_eq(job.handler, "main.job-handlers.1");
    cr_assert_eq(job.state, MT_JOB_QUEUED);
    cr_assert_geq(job.claim_us, before);
    cr_assert_eq(job.update_us, job.claim_us);
    mt_job_clear(&job);

    /* A cancelled job that no one claimed cannot be claimed any more. */
    int64_t id2 = add_job(db, "true", NULL, "job-handlers");
    cr_assert_eq(mt_job_store_transition(db, id2, MT_JOB_BIT(MT_JOB_NEW), MT_JOB_DELETED, NULL), 1);
    cr_assert_eq(claim(db, id2, "main.job-handlers.1"), 0);
}

Test(job_store, take_claims_an_unassigned_job_or_accepts_one_already_assigned_here_and_returns_it)
{
    int64_t farm = add_job(db, "true", NULL, "job-handlers");
    int64_t mine = add_job(db, "true", "main.job-handlers.1", "db");
    int64_t theirs = add_job(db, "true", "main.job-handlers.2", "db");
    mt_job_t job;

    cr_assert_eq(mt_job_store_take(db, farm, "main.job-handlers.1", &job), 1, "%s", mt_db_errmsg(db));
    cr_assert_eq(job.id, farm);
    cr_assert_eq(job.state, MT_JOB_QUEUED);
    cr_assert_str_eq(job.handler, "main.job-handlers.1");
    cr_assert_str_eq(job.tool_id, "true");
    cr_assert_gt(job.claim_us, 0, "claimed from the farm: it has a claim time");
    mt_job_clear(&job);
    cr_assert_eq(mt_job_store_take(db, farm, "main.job-handlers.2", &job), 0, "taken once only");
    cr_assert_null(job.tool_id);

    cr_assert_eq(mt_job_store_take(db, mine, "main.job-handlers.1", &job), 1, "%s", mt_db_errmsg(db));
    cr_assert_eq(job.state, MT_JOB_QUEUED);
    cr_assert_eq(job.claim_us, 0, "assigned at creation: no claim");
    mt_job_clear(&job);
    cr_assert_eq(mt_job_store_take(db, mine, "main.job-handlers.1", &job), 0, "no longer new");

    cr_assert_eq(mt_job_store_take(db, theirs, "main.job-handlers.1", &job), 0, "another handler's job");
    cr_assert_eq(state_of(theirs), MT_JOB_NEW);
    cr_assert_eq(mt_job_store_take(db, theirs + 100, "main.job-handlers.1", &job), 0, "no such job");

    mt_job_event_t *ev;
    size_t n;
    cr_assert_eq(mt_job_store_history(db, farm, &ev, &n), 0);
    cr_assert_eq(n, 2, "new, then queued: one history row for the take");
    cr_assert_eq(ev[1].state, MT_JOB_QUEUED);
    cr_assert_str_eq(ev[1].handler, "main.job-handlers.1");
    mt_job_store_free_events(ev, n);
}

Test(job_store, the_changes_of_one_transaction_carry_the_time_it_began)
{
    int64_t id = add_job(db, "true", NULL, "job-handlers");
    int64_t before = mt_wall_us();
    cr_assert_eq(mt_db_begin(db), 0, "%s", mt_db_errmsg(db));
    int64_t t = mt_db_time_us(db);
    cr_assert_geq(t, before);
    cr_assert_eq(claim(db, id, "h1"), 1);
    usleep(2000);
    cr_assert_eq(mt_db_time_us(db), t, "the same time throughout the transaction");
    cr_assert_eq(mt_job_store_transition(db, id, MT_JOB_BIT(MT_JOB_QUEUED), MT_JOB_RUNNING, NULL), 1);
    cr_assert_eq(mt_db_commit(db), 0, "%s", mt_db_errmsg(db));

    mt_job_t job;
    cr_assert_eq(mt_job_store_get(db, id, &job), 0);
    cr_assert_eq(job.claim_us, t);
    cr_assert_eq(job.start_us, t);
    cr_assert_eq(job.update_us, t);
    mt_job_clear(&job);

    /* Outside a transaction: the clock, and the next transaction's time follows the last. */
    int64_t outside = mt_db_time_us(db);
    cr_assert_geq(outside, t + 2000);
    cr_assert_eq(mt_db_begin(db), 0);
    cr_assert_geq(mt_db_time_us(db), outside);
    mt_db_rollback(db);
    usleep(1000);
    cr_assert_gt(mt_db_time_us(db), outside, "after a rollback: the clock again");
}

Test(job_store, claim_next_takes_the_oldest_at_its_queue)
{
    int64_t a = add_job(db, "true", NULL, "db");
    int64_t b = add_job(db, "true", NULL, "job-handlers");
    int64_t c = add_job(db, "true", NULL, "db");
    add_job(db, "true", "main.web.1", "db"); /* preassigned: not claimable */

    int64_t id = -1;
    cr_assert_eq(mt_job_store_claim_next(db, "db", "h1", &id), 1, "%s", mt_db_errmsg(db));
    cr_assert_eq(id, a);
    cr_assert_eq(mt_job_store_claim_next(db, "db", "h2", &id), 1);
    cr_assert_eq(id, c);
    cr_assert_eq(mt_job_store_claim_next(db, "db", "h1", &id), 0);
    cr_assert_eq(id, 0);
    cr_assert_eq(mt_job_store_claim_next(db, NULL, "h3", &id), 1);
    cr_assert_eq(id, b);
    cr_assert_eq(mt_job_store_claim_next(db, NULL, "h3", &id), 0);

    mt_job_t job;
    cr_assert_eq(mt_job_store_get(db, c, &job), 0);
    cr_assert_str_eq(job.handler, "h2");
    cr_assert_eq(job.state, MT_JOB_QUEUED);
    cr_assert_gt(job.claim_us, 0);
    mt_job_clear(&job);
}

#define RACE_JOBS 500
#define RACERS 2

/*
 * Fork RACERS children that wait on a common barrier, then each runs
 * body(conn, handler, out_fd) with its own connection; returns after all
 * exited 0. Each child writes the ids it won to out_fd; won[k] collects them.
 */
typedef void (*race_body_t)(mt_db_t *conn, const char *handler, int out_fd);

static void race(race_body_t body, int64_t won[RACERS][RACE_JOBS], size_t nwon[RACERS])
{
    int barrier[2];
    cr_assert_eq(pipe(barrier), 0);
    int outs[RACERS];
    pid_t pids[RACERS];
    for (int k = 0; k < RACERS; k++) {
        int out[2];
        cr_assert_eq(pipe(out), 0);
        pids[k] = fork();
        cr_assert_geq(pids[k], 0);
        if (pids[k] == 0) {
            close(barrier[1]);
            close(out[0]);
            char handler[32];
            snprintf(handler, sizeof handler, "main.job-handlers.%d", k + 1);
            char cerr[512];
            mt_db_t *conn;
            if (mt_db_open(path, MT_DB_SYNC_NORMAL, &conn, cerr, sizeof cerr) != 0) {
                fprintf(stderr, "%s\n", cerr);
                _exit(2);
            }
            char go;
            if (read(barrier[0], &go, 1) != 0) /* EOF: the parent closed the write end */
                _exit(3);
            body(conn, handler, out[1]);
            mt_db_close(conn);
            _exit(0);
        }
        close(out[1]);
        outs[k] = out[0];
        nwon[k] = 0;
    }
    close(barrier[0]);
    close(barrier[1]); /* go */

    /* Drain both pipes as the children write (each holds up to RACE_JOBS ids). */
    int open_count = RACERS;
    struct pollfd pfd[RACERS];
    for (int k = 0; k < RACERS; k++)
        pfd[k] = (struct pollfd){.fd = outs[k], .events = POLLIN};
    size_t partial[RACERS] = {0};
    char buf[RACERS][RACE_JOBS * sizeof(int64_t)];
    while (open_count > 0) {
        cr_assert_geq(poll(pfd, RACERS, 30000), 1, "racers stalled");
        for (int k = 0; k < RACERS; k++) {
            if (pfd[k].fd < 0 || !(pfd[k].revents & (POLLIN | POLLHUP)))
                continue;
            ssize_t r = read(outs[k], buf[k] + partial[k], sizeof buf[k] - partial[k]);
            cr_assert_geq(r, 0);
            if (r == 0) {
                close(outs[k]);
                pfd[k].fd = -1;
                open_count--;
            }
            partial[k] += (size_t)r;
        }
    }
    for (int k = 0; k < RACERS; k++) {
        int status;
        cr_assert_eq(waitpid(pids[k], &status, 0), pids[k]);
        cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "racer %d: status %d", k, status);
        cr_assert_eq(partial[k] % sizeof(int64_t), 0);
        nwon[k] = partial[k] / sizeof(int64_t);
        memcpy(won[k], buf[k], partial[k]);
    }
}

static void write_id(int fd, int64_t id)
{
    if (write(fd, &id, sizeof id) != (ssize_t)sizeof id)
        _exit(4);
}

static void claim_every_id(mt_db_t *conn, const char *handler, int out_fd)
{
    for (int64_t id = 1; id <= RACE_JOBS; id++) {
        int r = claim(conn, id, handler);
        if (r < 0) {
            fprintf(stderr, "claim %lld: %s\n", (long long)id, mt_db_errmsg(conn));
            _exit(1);
        }
        if (r == 1)
            write_id(out_fd, id);
    }
}

static void claim_until_none(mt_db_t *conn, const char *handler, int out_fd)
{
    for (;;) {
        int64_t id;
        int r = mt_job_store_claim_next(conn, "db", handler, &id);
        if (r < 0) {
            fprintf(stderr, "claim next: %s\n", mt_db_errmsg(conn));
            _exit(1);
        }
        if (r == 0)
            return;
        write_id(out_fd, id);
    }
}

/* Every job won exactly once overall, and the database agrees on who won it. */
static void check_race(int64_t won[RACERS][RACE_JOBS], size_t nwon[RACERS])
{
    static int owner[RACE_JOBS + 1];
    memset(owner, 0, sizeof owner);
    size_t sum = 0;
    for (int k = 0; k < RACERS; k++) {
        sum += nwon[k];
        for (size_t i = 0; i < nwon[k]; i++) {
            int64_t id = won[k][i];
            cr_assert(id >= 1 && id <= RACE_JOBS, "id %lld", (long long)id);
            cr_assert_eq(owner[id], 0, "job %lld won twice", (long long)id);
            owner[id] = k + 1;
        }
    }
    cr_assert_eq(sum, RACE_JOBS);
    for (int64_t id = 1; id <= RACE_JOBS; id++) {
        mt_job_t job;
        cr_assert_eq(mt_job_store_get(db, id, &job), 0);
        char want[32];
        snprintf(want, sizeof want, "main.job-handlers.%d", owner[id]);
        cr_assert_str_eq(job.handler, want);
        cr_assert_eq(job.state, MT_JOB_QUEUED);
        mt_job_clear(&job);
    }
    sqlite3 *raw = raw_open();
    cr_assert_eq(raw_int(raw, "SELECT count(*) FROM job_state_history WHERE state = 'queued'"), RACE_JOBS,
                 "one claim recorded per job");
    sqlite3_close(raw);
    /* Both racers took part: with 500 jobs, a racer that won nothing means no race was run. */
    for (int k = 0; k < RACERS; k++)
        cr_log_info("racer %d won %zu jobs", k + 1, nwon[k]);
}

static int64_t won[RACERS][RACE_JOBS];
static size_t nwon[RACERS];

Test(job_store, two_processes_claiming_every_job_claim_each_once, .timeout = 60)
{
    for (int i = 0; i < RACE_JOBS; i++)
        add_job(db, "true", NULL, "job-handlers");
    mt_db_close(db); /* no connection crosses the fork */
    db = NULL;
    race(claim_every_id, won, nwon);
    cr_assert_eq(mt_db_open(path, MT_DB_SYNC_NORMAL, &db, err, sizeof err), 0, "%s", err);
    check_race(won, nwon);
}

Test(job_store, two_processes_claiming_next_take_each_job_once, .timeout = 60)
{
    for (int i = 0; i < RACE_JOBS; i++)
        add_job(db, "true", NULL, "db");
    int64_t elsewhere = add_job(db, "true", NULL, "job-handlers");
    mt_db_close(db);
    db = NULL;
    race(claim_until_none, won, nwon);
    cr_assert_eq(mt_db_open(path, MT_DB_SYNC_NORMAL, &db, err, sizeof err), 0, "%s", err);
    check_race(won, nwon);
    cr_assert_eq(state_of(elsewhere), MT_JOB_NEW, "a job at another queue stays put");
}

/* ------------------------------------------------------------------ */
/* Transitions and history                                             */
/* ------------------------------------------------------------------ */

Test(job_store, queued_running_ok_then_terminal)
{
    int64_t id = add_job(db, "true", NULL, NULL);
    cr_assert_eq(mt_job_store_transition(db, id, MT_JOB_BIT(MT_JOB_QUEUED), MT_JOB_RUNNING, NULL), 0,
                 "new is not queued");
    cr_assert_eq(claim(db, id, "h1"), 1);

    mt_job_update_t up = {.runner = "local", .external_id = "4242", .working_dir = "/tmp/jobs/1"};
    cr_assert_eq(mt_job_store_transition(db, id, MT_JOB_BIT(MT_JOB_QUEUED), MT_JOB_RUNNING, &up), 1,
                 "%s", mt_db_errmsg(db));
    mt_job_t job;
    cr_assert_eq(mt_job_store_get(db, id, &job), 0);
    cr_assert_eq(job.state, MT_JOB_RUNNING);
    cr_assert_gt(job.start_us, 0, "entering running sets the start time");
    cr_assert_eq(job.end_us, 0);
    cr_assert_str_eq(job.runner, "local");
    cr_assert_str_eq(job.external_id, "4242");
    cr_assert_str_eq(job.working_dir, "/tmp/jobs/1");
    int64_t started = job.start_us;
    mt_job_clear(&job);

    /* Staying in running (recording a pid after the start) keeps the start time. */
    usleep(2000);
    up = (mt_job_update_t){.external_id = "4343"};
    cr_assert_eq(mt_job_store_transition(db, id, MT_JOB_BIT(MT_JOB_RUNNING), MT_JOB_RUNNING, &up), 1);
    cr_assert_eq(mt_job_store_get(db, id, &job), 0);
    cr_assert_eq(job.start_us, started, "running -> running moved the start time");
    cr_assert_str_eq(job.external_id, "4343");
    mt_job_clear(&job);

    up = (mt_job_update_t){.has_exit_code = true, .exit_code = 0, .end_us = started + 5};
    cr_assert_eq(mt_job_store_transition(db, id, MT_JOB_BIT(MT_JOB_RUNNING), MT_JOB_OK, &up), 1);
    cr_assert_eq(mt_job_store_get(db, id, &job), 0);
    cr_assert_eq(job.state, MT_JOB_OK);
    cr_assert_eq(job.start_us, started, "fields not given are kept");
    cr_assert_eq(job.end_us, started + 5, "a given end time wins");
    cr_assert(job.has_exit_code);
    cr_assert_eq(job.exit_code, 0);
    cr_assert_str_eq(job.external_id, "4343");
    mt_job_clear(&job);

    /* ok -> running refused, even when the mask allows every state. */
    cr_assert_eq(mt_job_store_transition(db, id, MT_JOB_BIT(MT_JOB_OK), MT_JOB_RUNNING, NULL), 0);
    cr_assert_eq(mt_job_store_transition(db, id, ~0u, MT_JOB_ERROR, NULL), 0);
    up = (mt_job_update_t){.info = "late", .has_exit_code = true, .exit_code = 9};
    cr_assert_eq(mt_job_store_transition(db, id, ~0u, MT_JOB_OK, &up), 0, "not even its fields");
    cr_assert_eq(mt_job_store_get(db, id, &job), 0);
    cr_assert_eq(job.state, MT_JOB_OK);
    cr_assert_eq(job.exit_code, 0);
    cr_assert_null(job.info);
    mt_job_clear(&job);

    cr_assert_eq(mt_job_store_transition(db, id + 1000, ~0u, MT_JOB_ERROR, NULL), 0, "no such job");
}

Test(job_store, cancellation_goes_through_deleting_to_deleted)
{
    int64_t id = add_job(db, "sleep", NULL, NULL);
    cr_assert_eq(claim(db, id, "h1"), 1);
    cr_assert_eq(mt_job_store_transition(db, id, MT_JOB_BIT(MT_JOB_QUEUED), MT_JOB_RUNNING, NULL), 1);
    cr_assert_eq(mt_job_store_transition(db, id, MT_JOB_ACTIVE_MASK, MT_JOB_DELETING, NULL), 1);
    /* The command's exit no longer counts: running -> ok is not allowed from deleting. */
    cr_assert_eq(mt_job_store_transition(db, id, MT_JOB_BIT(MT_JOB_RUNNING), MT_JOB_OK, NULL), 0);
    cr_assert_eq(mt_job_store_transition(db, id, MT_JOB_BIT(MT_JOB_DELETING), MT_JOB_DELETED, NULL), 1);
    cr_assert_eq(state_of(id), MT_JOB_DELETED);
    cr_assert_eq(mt_job_store_transition(db, id, ~0u, MT_JOB_DELETING, NULL), 0);
    cr_assert_eq(mt_job_store_transition(db, id, ~0u, MT_JOB_NEW, NULL), 0);
    cr_assert_eq(state_of(id), MT_JOB_DELETED);
}

Test(job_store, a_lost_run_is_retried_as_the_next_attempt_with_its_history)
{
    int64_t id = add_job(db, "sleep", NULL, NULL);
    cr_assert_eq(claim(db, id, "h1"), 1);
    mt_job_update_t up = {.external_id = "4242", .working_dir = "/jobs/1"};
    cr_assert_eq(mt_job_store_transition(db, id, MT_JOB_BIT(MT_JOB_QUEUED), MT_JOB_RUNNING, &up), 1);
    int attempt = -1;
    cr_assert_eq(mt_job_store_retry(db, id, MT_JOB_BIT(MT_JOB_QUEUED), "no", &attempt), 0, "not from running");
    cr_assert_eq(attempt, 0);
    cr_assert_eq(mt_job_store_retry(db, id, MT_JOB_BIT(MT_JOB_RUNNING), "attempt 2: lost", &attempt), 1,
                 "%s", mt_db_errmsg(db));
    cr_assert_eq(attempt, 2);
    mt_job_t job;
    cr_assert_eq(mt_job_store_get(db, id, &job), 0);
    cr_assert_eq(job.state, MT_JOB_QUEUED);
    cr_assert_eq(job.attempt, 2);
    cr_assert_str_eq(job.handler, "h1", "the same handler runs it again");
    cr_assert_null(job.external_id, "the lost run's pid is gone");
    cr_assert_eq(job.start_us, 0);
    cr_assert_str_eq(job.working_dir, "/jobs/1");
    cr_assert_str_eq(job.info, "attempt 2: lost");
    mt_job_clear(&job);
    mt_job_event_t *ev;
    size_t n;
    cr_assert_eq(mt_job_store_history(db, id, &ev, &n), 0);
    cr_assert_eq(n, 4, "new, queued, running, queued again");
    cr_assert_eq(ev[3].state, MT_JOB_QUEUED);
    cr_assert_str_eq(ev[3].info, "attempt 2: lost");
    mt_job_store_free_events(ev, n);
    cr_assert_eq(mt_job_store_transition(db, id, MT_JOB_BIT(MT_JOB_QUEUED), MT_JOB_ERROR, NULL), 1);
    cr_assert_eq(mt_job_store_retry(db, id, ~0u, "late", &attempt), 0, "a terminal job is never retried");
}

Test(job_store, terminal_jobs_resist_raw_sql_too)
{
    int64_t id = add_job(db, "true", NULL, NULL);
    cr_assert_eq(mt_job_store_transition(db, id, MT_JOB_BIT(MT_JOB_NEW), MT_JOB_ERROR, NULL), 1);
    sqlite3 *raw = raw_open();
    char sql[160];
    snprintf(sql, sizeof sql, "UPDATE job SET state = 'running', history = history || ',[\"running\",1,null,null]' "
             "WHERE id = %lld", (long long)id);
    cr_assert_eq(sqlite3_exec(raw, sql, NULL, NULL, NULL) & 0xff, SQLITE_CONSTRAINT);
    cr_assert(strstr(sqlite3_errmsg(raw), "terminal"), "%s", sqlite3_errmsg(raw));
    sqlite3_close(raw);
    cr_assert_eq(state_of(id), MT_JOB_ERROR);
}

Test(job_store, a_state_change_by_raw_sql_must_record_its_event)
{
    int64_t id = add_job(db, "true", NULL, NULL);
    sqlite3 *raw = raw_open();
    char sql[160];
    snprintf(sql, sizeof sql, "UPDATE job SET state = 'queued', handler = 'h9' WHERE id = %lld", (long long)id);
    cr_assert_eq(sqlite3_exec(raw, sql, NULL, NULL, NULL) & 0xff, SQLITE_CONSTRAINT);
    cr_assert(strstr(sqlite3_errmsg(raw), "job.history"), "%s", sqlite3_errmsg(raw));
    snprintf(sql, sizeof sql, "UPDATE job SET info = 'a note', update_time = update_time + 1 WHERE id = %lld",
             (long long)id);
    cr_assert_eq(sqlite3_exec(raw, sql, NULL, NULL, NULL), SQLITE_OK, "neither state nor handler: no event due");
    snprintf(sql, sizeof sql, "UPDATE job SET state = 'queued', history = history || ',[\"queued\",9,\"h9\",null]' "
             "WHERE id = %lld", (long long)id);
    cr_assert_eq(sqlite3_exec(raw, sql, NULL, NULL, NULL), SQLITE_OK, "%s", sqlite3_errmsg(raw));
    cr_assert_eq(raw_int(raw, "SELECT count(*) FROM job_state_history WHERE state = 'queued' AND time = 9"), 1,
                 "the view reads the event appended by hand");
    sqlite3_close(raw);
    mt_job_event_t *ev;
    size_t n;
    cr_assert_eq(mt_job_store_history(db, id, &ev, &n), 0, "%s", mt_db_errmsg(db));
    cr_assert_eq(n, 2);
    cr_assert(ev[0].state == MT_JOB_NEW && ev[1].state == MT_JOB_QUEUED && ev[1].time_us == 9);
    mt_job_store_free_events(ev, n);
}

Test(job_store, history_is_recorded_in_order)
{
    int64_t id = add_job(db, "false", NULL, NULL);
    add_job(db, "other", NULL, NULL);
    cr_assert_eq(claim(db, id, "h1"), 1);
    cr_assert_eq(mt_job_store_transition(db, id, MT_JOB_BIT(MT_JOB_QUEUED), MT_JOB_RUNNING, NULL), 1);
    /* Same state: fields change, no history row. */
    mt_job_update_t up = {.external_id = "77"};
    cr_assert_eq(mt_job_store_transition(db, id, MT_JOB_BIT(MT_JOB_RUNNING), MT_JOB_RUNNING, &up), 1);
    up = (mt_job_update_t){.has_exit_code = true, .exit_code = 1, .info = "exit status 1"};
    cr_assert_eq(mt_job_store_transition(db, id, MT_JOB_BIT(MT_JOB_RUNNING), MT_JOB_ERROR, &up), 1);

    mt_job_event_t *ev;
    size_t n;
    cr_assert_eq(mt_job_store_history(db, id, &ev, &n), 0, "%s", mt_db_errmsg(db));
    cr_assert_eq(n, 4);
    mt_job_state_t want[] = {MT_JOB_NEW, MT_JOB_QUEUED, MT_JOB_RUNNING, MT_JOB_ERROR};
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(ev[i].state, want[i], "event %zu", i);
        if (i)
            cr_assert_geq(ev[i].time_us, ev[i - 1].time_us);
    }
    cr_assert_null(ev[0].handler);
    cr_assert_str_eq(ev[1].handler, "h1");
    cr_assert_str_eq(ev[3].handler, "h1");
    cr_assert_null(ev[2].info);
    cr_assert_str_eq(ev[3].info, "exit status 1");

    mt_job_t job;
    cr_assert_eq(mt_job_store_get(db, id, &job), 0);
    cr_assert_eq(ev[3].time_us, job.end_us);
    cr_assert_eq(job.exit_code, 1);
    mt_job_clear(&job);
    mt_job_store_free_events(ev, n);

    cr_assert_eq(mt_job_store_history(db, id + 1000, &ev, &n), 0);
    cr_assert_eq(n, 0);
    cr_assert_null(ev);
}

/* ------------------------------------------------------------------ */
/* Sweeper and recovery                                                */
/* ------------------------------------------------------------------ */

Test(job_store, unassigned_older_than_a_cutoff)
{
    int64_t old1 = add_job(db, "true", NULL, "job-handlers");
    int64_t old2 = add_job(db, "true", NULL, "job-handlers.gpu");
    int64_t claimed = add_job(db, "true", NULL, "job-handlers");
    int64_t cancelled = add_job(db, "true", NULL, "job-handlers");
    int64_t preassigned = add_job(db, "true", "main.web.1", NULL);
    cr_assert_eq(claim(db, claimed, "h1"), 1);
    cr_assert_eq(mt_job_store_transition(db, cancelled, MT_JOB_BIT(MT_JOB_NEW), MT_JOB_DELETED, NULL), 1);
    usleep(2000);
    int64_t cutoff = mt_wall_us();
    usleep(2000);
    add_job(db, "true", NULL, "job-handlers"); /* too young */
    (void)preassigned;

    mt_job_t *jobs;
    size_t n;
    cr_assert_eq(mt_job_store_unassigned(db, cutoff, 100, &jobs, &n), 0, "%s", mt_db_errmsg(db));
    int64_t want[] = {old1, old2};
    assert_ids(jobs, n, want, 2);
    cr_assert_str_eq(jobs[0].queue, "job-handlers");
    cr_assert_str_eq(jobs[1].queue, "job-handlers.gpu");
    mt_job_store_free(jobs, n);

    cr_assert_eq(mt_job_store_unassigned(db, cutoff, 1, &jobs, &n), 0);
    assert_ids(jobs, n, want, 1);
    mt_job_store_free(jobs, n);

    cr_assert_eq(mt_job_store_unassigned(db, 1, 100, &jobs, &n), 0);
    cr_assert_eq(n, 0);
}

Test(job_store, jobs_of_a_handler_that_are_not_terminal)
{
    int64_t pre = add_job(db, "true", "h1", NULL);
    int64_t q = add_job(db, "true", NULL, NULL);
    int64_t r = add_job(db, "true", NULL, NULL);
    int64_t done = add_job(db, "true", NULL, NULL);
    int64_t del = add_job(db, "true", NULL, NULL);
    int64_t other = add_job(db, "true", NULL, NULL);
    for (int64_t id = q; id <= del; id++)
        cr_assert_eq(claim(db, id, "h1"), 1);
    cr_assert_eq(claim(db, other, "h2"), 1);
    cr_assert_eq(mt_job_store_transition(db, r, MT_JOB_BIT(MT_JOB_QUEUED), MT_JOB_RUNNING, NULL), 1);
    cr_assert_eq(mt_job_store_transition(db, done, MT_JOB_BIT(MT_JOB_QUEUED), MT_JOB_OK, NULL), 1);
    cr_assert_eq(mt_job_store_transition(db, del, MT_JOB_BIT(MT_JOB_QUEUED), MT_JOB_DELETING, NULL), 1);

    mt_job_t *jobs;
    size_t n;
    cr_assert_eq(mt_job_store_of_handler(db, "h1", &jobs, &n), 0, "%s", mt_db_errmsg(db));
    int64_t want[] = {pre, q, r, del};
    assert_ids(jobs, n, want, 4);
    cr_assert_eq(jobs[0].state, MT_JOB_NEW);
    cr_assert_eq(jobs[2].state, MT_JOB_RUNNING);
    cr_assert_eq(jobs[3].state, MT_JOB_DELETING);
    mt_job_store_free(jobs, n);

    cr_assert_eq(mt_job_store_of_handler(db, "h3", &jobs, &n), 0);
    cr_assert_eq(n, 0);
}

Test(job_store, a_capped_count_says_when_it_stopped_and_keyset_pages_go_below_the_key)
{
    int64_t ids[5];
    for (int i = 0; i < 5; i++)
        ids[i] = add_job(db, i < 4 ? "a" : "b", NULL, NULL);
    mt_job_filter_t f = {.tool_id = "a"};
    int64_t total = -1;
    bool capped = true;
    cr_assert_eq(mt_job_store_count_capped(db, &f, 4, &total, &capped), 0, "%s", mt_db_errmsg(db));
    cr_assert(total == 4 && !capped, "exactly the cap: exact");
    cr_assert_eq(mt_job_store_count_capped(db, &f, 3, &total, &capped), 0);
    cr_assert(total == 3 && capped, "past the cap: the cap, and said so");
    cr_assert_eq(mt_job_store_count_capped(db, NULL, 2, &total, &capped), 0);
    cr_assert(total == 5 && !capped, "no filter: the kept count, whatever the cap");
    f.before_id = ids[2];
    cr_assert_eq(mt_job_store_count_capped(db, &f, 10, &total, &capped), 0);
    cr_assert_eq(total, 4, "the count ignores the key");
    mt_job_t *jobs = NULL;
    size_t n = 0;
    cr_assert_eq(mt_job_store_list(db, &f, 10, 0, &jobs, &n, &total), 0, "%s", mt_db_errmsg(db));
    cr_assert(n == 2 && jobs[0].id == ids[1] && jobs[1].id == ids[0], "below the key, newest first");
    cr_assert_eq(total, 4, "the exact total ignores the key too");
    mt_job_store_free(jobs, n);
}

/* ------------------------------------------------------------------ */
/* Time                                                                */
/* ------------------------------------------------------------------ */

Test(job_store, iso8601_utc_with_microseconds)
{
    char buf[MT_TIME_ISO8601_SIZE];
    cr_assert_str_eq(mt_time_iso8601(1795942800123456, buf), "2026-11-29T09:00:00.123456Z");
    cr_assert_str_eq(mt_time_iso8601(0, buf), "1970-01-01T00:00:00.000000Z");
    cr_assert_str_eq(mt_time_iso8601(7, buf), "1970-01-01T00:00:00.000007Z");
    cr_assert_str_eq(mt_time_iso8601(-1, buf), "1969-12-31T23:59:59.999999Z");
    cr_assert_str_eq(mt_time_iso8601(951782400000000, buf), "2000-02-29T00:00:00.000000Z"); /* leap day */
    cr_assert_str_eq(mt_time_iso8601(253402300799999999, buf), "9999-12-31T23:59:59.999999Z");
    cr_assert_str_eq(mt_time_iso8601(-62167219200000000, buf), "0000-01-01T00:00:00.000000Z");
    cr_assert_str_eq(mt_time_iso8601(253402300800000000, buf), "invalid", "year 10000 has no 4-digit form");
    cr_assert_str_eq(mt_time_iso8601(INT64_MAX, buf), "invalid");
    cr_assert_str_eq(mt_time_iso8601(INT64_MIN, buf), "invalid");

    int64_t now = mt_wall_us();
    cr_assert_gt(now, 1700000000LL * 1000000);
    cr_assert_eq(strlen(mt_time_iso8601(now, buf)), 27);
}

Test(job_store, iso8601_parses_what_it_writes_and_refuses_the_rest)
{
    char buf[MT_TIME_ISO8601_SIZE];
    int64_t us = 0;
    /* round trip over times spread from 1970 to 9999 */
    uint64_t x = 2463534242ULL;
    for (int i = 0; i < 100000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        int64_t t = (int64_t)(x % 253402300800000000ULL);
        cr_assert_eq(mt_time_parse_iso8601(mt_time_iso8601(t, buf), &us), 0, "%s", buf);
        cr_assert_eq(us, t, "%s", buf);
    }
    cr_assert_eq(mt_time_parse_iso8601("2026-11-29T09:00:00Z", &us), 0);
    cr_assert_eq(us, 1795942800000000);
    cr_assert_eq(mt_time_parse_iso8601("2026-11-29T09:00Z", &us), 0);
    cr_assert_eq(us, 1795942800000000);
    cr_assert_eq(mt_time_parse_iso8601("2026-11-29T09:00:00.5+00:00", &us), 0);
    cr_assert_eq(us, 1795942800500000);
    cr_assert_eq(mt_time_parse_iso8601("2026-11-29", &us), 0);
    cr_assert_eq(us, 1795910400000000);
    cr_assert_eq(mt_time_parse_iso8601("2024-02-29", &us), 0, "a leap day");
    cr_assert_eq(mt_time_parse_iso8601("2000-02-29", &us), 0, "a leap day (divisible by 400)");
    static const char *const bad[] = {"", "2026", "2026-11", "2025-02-29", "1900-02-29", "2026-13-01", "2026-11-31",
                                      "2026-00-10", "2026-11-29T09:00:00", "2026-11-29T24:00Z", "2026-11-29T09:60Z",
                                      "2026-11-29T09:00:60Z", "2026-11-29T09:00:00.Z", "2026-11-29T09:00:00.1234567Z",
                                      "2026-11-29T09:00:00+01:00", "2026-11-29 09:00:00Z", "2026-11-29T9:00Z",
                                      "+2026-11-29", "2026-11-29Zjunk", "2026-11-29T09:00:00Zjunk", "yesterday"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_eq(mt_time_parse_iso8601(bad[i], &us), -EINVAL, "'%s' is refused", bad[i]);
}

Test(job_store, iso8601_agrees_with_gmtime_and_strftime)
{
    /* The arithmetic against the C library, on times spread over 1000..9999 (where %Y has four digits). */
    char buf[MT_TIME_ISO8601_SIZE], want[MT_TIME_ISO8601_SIZE + 16];
    uint64_t x = 88172645463325252ULL; /* xorshift: the same spread at every run */
    for (int i = 0; i < 200000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        int64_t secs = -30610224000LL + (int64_t)(x % (253402300800ULL + 30610224000ULL));
        int64_t us = secs * 1000000 + (int64_t)(x % 1000000);
        time_t t = (time_t)secs;
        struct tm tm;
        cr_assert_not_null(gmtime_r(&t, &tm));
        size_t n = strftime(want, sizeof want, "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(want + n, sizeof want - n, ".%06dZ", (int)(x % 1000000));
        cr_assert_str_eq(mt_time_iso8601(us, buf), want, "at %lld us", (long long)us);
    }
}

Test(job_store, history_keeps_any_text_of_an_event_and_a_job_without_events_has_none)
{
    int64_t id = add_job(db, "false", NULL, NULL);
    cr_assert_eq(claim(db, id, "h\"1\\"), 1);
    cr_assert_eq(mt_job_store_transition(db, id, MT_JOB_BIT(MT_JOB_QUEUED), MT_JOB_RUNNING, NULL), 1);
    static const char info[] = "line one\nline \"two\", [three] \\ caf\xc3\xa9 \xe2\x9c\x93 {\"x\": 1}";
    mt_job_update_t up = {.has_exit_code = true, .exit_code = 2, .info = info};
    cr_assert_eq(mt_job_store_transition(db, id, MT_JOB_BIT(MT_JOB_RUNNING), MT_JOB_ERROR, &up), 1);
    mt_job_event_t *ev;
    size_t n;
    cr_assert_eq(mt_job_store_history(db, id, &ev, &n), 0, "%s", mt_db_errmsg(db));
    cr_assert_eq(n, 4);
    cr_assert_str_eq(ev[1].handler, "h\"1\\");
    cr_assert_str_eq(ev[3].info, info);
    cr_assert_gt(ev[3].time_us, 1000000000000000LL, "a time in microseconds, read back whole");
    mt_job_store_free_events(ev, n);
    cr_assert_eq(mt_job_store_history(db, id + 100, &ev, &n), 0);
    cr_assert_eq(n, 0, "no job, no events");
    mt_job_store_free_events(ev, n);
}

Test(job_store, a_tool_filter_with_ended_states_finds_exactly_those_jobs)
{
    /* job_tool_state holds ended jobs only: filters of ended states, of live ones and of both. */
    int64_t ids[12];
    for (int i = 0; i < 12; i++) {
        ids[i] = add_job(db, i % 2 ? "cat" : "wc", NULL, NULL);
        cr_assert_eq(claim(db, ids[i], "h1"), 1);
        if (i % 3 == 0)
            continue; /* stays queued */
        cr_assert_eq(mt_job_store_transition(db, ids[i], MT_JOB_BIT(MT_JOB_QUEUED), MT_JOB_RUNNING, NULL), 1);
        cr_assert_eq(mt_job_store_transition(db, ids[i], MT_JOB_BIT(MT_JOB_RUNNING), i % 3 == 1 ? MT_JOB_OK : MT_JOB_ERROR,
                                             NULL), 1);
    }
    /* cat: 1 ok, 3 queued, 5 error, 7 ok, 9 queued, 11 error */
    struct {
        unsigned states;
        int64_t want[6];
        size_t n;
    } cases[] = {
        {MT_JOB_BIT(MT_JOB_ERROR), {ids[11], ids[5]}, 2},
        {MT_JOB_BIT(MT_JOB_OK) | MT_JOB_BIT(MT_JOB_ERROR), {ids[11], ids[7], ids[5], ids[1]}, 4},
        {MT_JOB_BIT(MT_JOB_QUEUED), {ids[9], ids[3]}, 2},
        {MT_JOB_BIT(MT_JOB_QUEUED) | MT_JOB_BIT(MT_JOB_OK), {ids[9], ids[7], ids[3], ids[1]}, 4},
        {MT_JOB_BIT(MT_JOB_DELETED), {0}, 0},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        mt_job_filter_t f = {.tool_id = "cat", .states = cases[c].states};
        mt_job_t *jobs;
        size_t n;
        int64_t total;
        cr_assert_eq(mt_job_store_list(db, &f, -1, 0, &jobs, &n, &total), 0, "%s", mt_db_errmsg(db));
        cr_assert_eq(total, (int64_t)cases[c].n, "case %zu", c);
        assert_ids(jobs, n, cases[c].want, cases[c].n);
        mt_job_store_free(jobs, n);
    }
}
