/*
 * handler_store: the handler table (see handler_store.h).
 *
 * "Now" is the database's: NOW_US below is PostgreSQL's clock_timestamp()
 * or SQLite's julianday('now') (this host's clock: SQLite lives on one
 * host), in microseconds since the epoch like every time in the schema.
 * Each query therefore has two texts, chosen by mt_db__pick().
 */
#include "app/store/handler_store.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"

#define SQLITE_NOW_US "CAST((julianday('now') - 2440587.5) * 86400000000.0 AS INTEGER)"
#define PG_NOW_US "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000000 AS BIGINT)"

#define ROW_COLUMNS "name, host, pid, pools, state, epoch, start_time, renew_time, lease_until"

/*
 * The name is free when it is not running, or its lease has lapsed, or its
 * holder is the very process the caller found dead (?6 = its pid, 0: none).
 */
#define TAKE(NOW)                                                                                      \
    "INSERT INTO handler (" ROW_COLUMNS ") VALUES (?1, ?2, ?3, ?4, 'running', 1, " NOW ", " NOW ", "   \
    NOW " + ?5) "                                                                                      \
    "ON CONFLICT (name) DO UPDATE SET host = excluded.host, pid = excluded.pid, pools = excluded.pools, " \
    "state = 'running', epoch = handler.epoch + 1, start_time = excluded.start_time, "                \
    "renew_time = excluded.renew_time, lease_until = excluded.lease_until "                           \
    "WHERE handler.state <> 'running' OR handler.lease_until < excluded.renew_time "                  \
    "OR (CAST(?6 AS INTEGER) > 0 AND handler.host = excluded.host AND handler.pid = CAST(?6 AS INTEGER)) " \
    "RETURNING epoch"
static const char sql_take[] = TAKE(SQLITE_NOW_US);
static const char pg_take[] = TAKE(PG_NOW_US);

#define RENEW(NOW)                                                                                     \
    "UPDATE handler SET renew_time = " NOW ", lease_until = " NOW " + ?3 "                             \
    "WHERE name = ?1 AND epoch = ?2 AND state = 'running'"
static const char sql_renew[] = RENEW(SQLITE_NOW_US);
static const char pg_renew[] = RENEW(PG_NOW_US);

#define RELEASE(NOW)                                                                                   \
    "UPDATE handler SET state = 'stopped', lease_until = " NOW " WHERE name = ?1 AND epoch = ?2 "      \
    "AND state = 'running'"
static const char sql_release[] = RELEASE(SQLITE_NOW_US);
static const char pg_release[] = RELEASE(PG_NOW_US);

static const char sql_holder[] = "SELECT " ROW_COLUMNS ", " SQLITE_NOW_US " FROM handler WHERE name = ?1";
static const char pg_holder[] = "SELECT " ROW_COLUMNS ", " PG_NOW_US " FROM handler WHERE name = ?1";
static const char sql_list[] = "SELECT " ROW_COLUMNS ", " SQLITE_NOW_US " FROM handler ORDER BY name";
static const char pg_list[] = "SELECT " ROW_COLUMNS ", " PG_NOW_US " FROM handler ORDER BY name";
static const char sql_lapsed[] = "SELECT " ROW_COLUMNS ", " SQLITE_NOW_US " FROM handler "
                                 "WHERE state = 'running' AND lease_until < " SQLITE_NOW_US " ORDER BY lease_until";
static const char pg_lapsed[] = "SELECT " ROW_COLUMNS ", " PG_NOW_US " FROM handler "
                                "WHERE state = 'running' AND lease_until < " PG_NOW_US " ORDER BY lease_until";
static const char sql_live[] =
    "SELECT 1 FROM handler WHERE name = ?1 AND state = 'running' AND lease_until >= " SQLITE_NOW_US;
static const char pg_live[] =
    "SELECT 1 FROM handler WHERE name = ?1 AND state = 'running' AND lease_until >= " PG_NOW_US;
static const char sql_pool_served[] =
    "SELECT 1 FROM handler WHERE state = 'running' AND pools LIKE '%,' || ?1 || ',%' "
    "AND lease_until >= " SQLITE_NOW_US " LIMIT 1";
static const char pg_pool_served[] =
    "SELECT 1 FROM handler WHERE state = 'running' AND pools LIKE '%,' || ?1 || ',%' "
    "AND lease_until >= " PG_NOW_US " LIMIT 1";
static const char sql_mark_lost[] =
    "UPDATE handler SET state = 'lost', epoch = epoch + 1 WHERE name = ?1 AND epoch = ?2 AND state = 'running' "
    "AND lease_until < " SQLITE_NOW_US;
static const char pg_mark_lost[] =
    "UPDATE handler SET state = 'lost', epoch = epoch + 1 WHERE name = ?1 AND epoch = ?2 AND state = 'running' "
    "AND lease_until < " PG_NOW_US;

void mt_handler_row_clear(mt_handler_row_t *row)
{
    free(row->name);
    free(row->host);
    free(row->pools);
    free(row->state);
    memset(row, 0, sizeof *row);
}

void mt_handler_rows_free(mt_handler_row_t *rows, size_t n)
{
    for (size_t i = 0; rows && i < n; i++)
        mt_handler_row_clear(&rows[i]);
    free(rows);
}

static void read_row(mt_db_stmt_t *st, mt_handler_row_t *row)
{
    row->name = mt_db__col_strdup(st, 0);
    row->host = mt_db__col_strdup(st, 1);
    row->pid = (int)mt_db__col_int64(st, 2);
    row->pools = mt_db__col_strdup(st, 3);
    row->state = mt_db__col_strdup(st, 4);
    row->epoch = mt_db__col_int64(st, 5);
    row->start_us = mt_db__col_int64(st, 6);
    row->renew_us = mt_db__col_int64(st, 7);
    row->lease_until_us = mt_db__col_int64(st, 8);
    row->now_us = mt_db__col_int64(st, 9);
}

/* Run a statement that changes rows: the count changed, or a negative value. Releases st. */
static int changed(mt_db_t *db, mt_db_stmt_t *st, const char *what)
{
    int rc = mt_db__step(db, st);
    int ret = rc == MT_DB_DONE ? (int)mt_db__changes(db) : mt_db__fail(db, rc, what);
    mt_db__release(st);
    return ret;
}

/* Run a SELECT 1 ...: 1 if it has a row, 0 if not, or a negative value. Releases st. */
static int exists(mt_db_t *db, mt_db_stmt_t *st, const char *what)
{
    int rc = mt_db__step(db, st);
    int ret = rc == MT_DB_ROW ? 1 : rc == MT_DB_DONE ? 0 : mt_db__fail(db, rc, what);
    mt_db__release(st);
    return ret;
}

/* Every row of a SELECT of ROW_COLUMNS + now (st NULL: its prepare failed). Releases st. */
static int collect(mt_db_t *db, mt_db_stmt_t *st, const char *what, mt_handler_row_t **rows, size_t *n)
{
    *rows = NULL;
    *n = 0;
    if (!st)
        return mt_db__fail(db, 0, what);
    size_t cap = 0;
    int rc = mt_db__step(db, st);
    for (; rc == MT_DB_ROW; rc = mt_db__step(db, st)) {
        if (*n == cap) {
            cap = cap ? 2 * cap : 8;
            *rows = mt_realloc(*rows, cap * sizeof **rows);
        }
        memset(&(*rows)[*n], 0, sizeof **rows);
        read_row(st, &(*rows)[(*n)++]);
    }
    int ret = rc == MT_DB_DONE ? 0 : mt_db__fail(db, rc, what);
    mt_db__release(st);
    if (ret < 0) {
        mt_handler_rows_free(*rows, *n);
        *rows = NULL;
        *n = 0;
    }
    return ret;
}

int mt_handler_store_take(mt_db_t *db, const char *name, const char *host, int pid, const char *pools,
                          int64_t lease_ms, int dead_pid, int64_t *epoch, mt_handler_row_t *holder)
{
    *epoch = 0;
    memset(holder, 0, sizeof *holder);
    mt_db_stmt_t *st = mt_db__stmt(db, mt_db__pick(db, sql_take, pg_take));
    if (!st)
        return mt_db__fail(db, 0, "register handler");
    mt_db__bind_text(st, 1, name);
    mt_db__bind_text(st, 2, host);
    mt_db__bind_int64(st, 3, pid);
    mt_db__bind_text(st, 4, pools);
    mt_db__bind_int64(st, 5, lease_ms * 1000);
    mt_db__bind_int64(st, 6, dead_pid > 0 ? dead_pid : 0);
    int rc = mt_db__step(db, st);
    int ret = 0;
    if (rc == MT_DB_ROW) {
        *epoch = mt_db__col_int64(st, 0);
        rc = mt_db__step(db, st); /* to MT_DB_DONE: the commit */
        ret = rc == MT_DB_DONE ? 1 : mt_db__fail(db, rc, "register handler");
    } else if (rc != MT_DB_DONE) {
        ret = mt_db__fail(db, rc, "register handler");
    }
    mt_db__release(st);
    if (ret != 0) {
        if (ret < 0)
            *epoch = 0;
        return ret;
    }
    /* Held: say by whom. */
    st = mt_db__stmt(db, mt_db__pick(db, sql_holder, pg_holder));
    if (!st)
        return mt_db__fail(db, 0, "read handler");
    mt_db__bind_text(st, 1, name);
    rc = mt_db__step(db, st);
    if (rc == MT_DB_ROW)
        read_row(st, holder);
    ret = rc == MT_DB_ROW || rc == MT_DB_DONE ? 0 : mt_db__fail(db, rc, "read handler");
    mt_db__release(st);
    return ret;
}

int mt_handler_store_renew(mt_db_t *db, const char *name, int64_t epoch, int64_t lease_ms)
{
    mt_db_stmt_t *st = mt_db__stmt(db, mt_db__pick(db, sql_renew, pg_renew));
    if (!st)
        return mt_db__fail(db, 0, "renew handler lease");
    mt_db__bind_text(st, 1, name);
    mt_db__bind_int64(st, 2, epoch);
    mt_db__bind_int64(st, 3, lease_ms * 1000);
    int ret = changed(db, st, "renew handler lease");
    return ret > 0 ? 1 : ret;
}

int mt_handler_store_release(mt_db_t *db, const char *name, int64_t epoch)
{
    mt_db_stmt_t *st = mt_db__stmt(db, mt_db__pick(db, sql_release, pg_release));
    if (!st)
        return mt_db__fail(db, 0, "release handler");
    mt_db__bind_text(st, 1, name);
    mt_db__bind_int64(st, 2, epoch);
    int ret = changed(db, st, "release handler");
    return ret > 0 ? 1 : ret;
}

int mt_handler_store_list(mt_db_t *db, mt_handler_row_t **rows, size_t *n)
{
    return collect(db, mt_db__stmt(db, mt_db__pick(db, sql_list, pg_list)), "list handlers", rows, n);
}

int mt_handler_store_lapsed(mt_db_t *db, mt_handler_row_t **rows, size_t *n)
{
    return collect(db, mt_db__stmt(db, mt_db__pick(db, sql_lapsed, pg_lapsed)), "list lapsed handlers", rows, n);
}

int mt_handler_store_live(mt_db_t *db, const char *name)
{
    mt_db_stmt_t *st = mt_db__stmt(db, mt_db__pick(db, sql_live, pg_live));
    if (!st)
        return mt_db__fail(db, 0, "look up handler");
    mt_db__bind_text(st, 1, name);
    return exists(db, st, "look up handler");
}

int mt_handler_store_pool_served(mt_db_t *db, const char *pool)
{
    mt_db_stmt_t *st = mt_db__stmt(db, mt_db__pick(db, sql_pool_served, pg_pool_served));
    if (!st)
        return mt_db__fail(db, 0, "look up pool");
    mt_db__bind_text(st, 1, pool);
    return exists(db, st, "look up pool");
}

int mt_handler_store_mark_lost(mt_db_t *db, const char *name, int64_t epoch)
{
    mt_db_stmt_t *st = mt_db__stmt(db, mt_db__pick(db, sql_mark_lost, pg_mark_lost));
    if (!st)
        return mt_db__fail(db, 0, "take over handler");
    mt_db__bind_text(st, 1, name);
    mt_db__bind_int64(st, 2, epoch);
    int ret = changed(db, st, "take over handler");
    return ret > 0 ? 1 : ret;
}
