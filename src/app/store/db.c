/*
 * db: the front of the database interface (see db.h): picks the backend
 * from the location, keeps the statement cache, transaction times and
 * error messages, and hands the rest to db_sqlite.c or db_pg.c.
 *
 * The statement calls are the query modules' inner loop (a job read is 21
 * column reads), so the choice of backend is a branch on the statement's
 * own fields, not a table of function pointers.
 */
#include "app/store/db.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/store/db_backend.h"
#include "app/store/store_metrics.h"
#include "common/clock.h"
#include "common/mem.h"

mt_db_kind_t mt_db_kind_of(const char *location)
{
    if (!location)
        return MT_DB_SQLITE;
    if (strncmp(location, "postgresql://", 13) == 0 || strncmp(location, "postgres://", 11) == 0)
        return MT_DB_POSTGRESQL;
    return mt_pg_is_conninfo(location) ? MT_DB_POSTGRESQL : MT_DB_SQLITE;
}

mt_db_kind_t mt_db_kind(const mt_db_t *db)
{
    return db->kind;
}

const char *mt_db_display(const char *location, char *buf, size_t len)
{
    if (mt_db_kind_of(location) == MT_DB_POSTGRESQL)
        return mt_pg_display(location, buf, len);
    snprintf(buf, len, "%s", location ? location : "");
    return buf;
}

int mt_db_migrate(const char *location, char *err, size_t errlen)
{
    return mt_db_kind_of(location) == MT_DB_POSTGRESQL ? mt_pg_migrate(location, err, errlen)
                                                        : mt_sqlite_migrate(location, err, errlen);
}

int mt_db_checkpoint(const char *location, int timeout_ms, char *err, size_t errlen)
{
    return mt_db_kind_of(location) == MT_DB_POSTGRESQL ? 0 : mt_sqlite_checkpoint(location, timeout_ms, err, errlen);
}

int mt_db_open(const char *location, mt_db_sync_t sync, mt_db_t **out, char *err, size_t errlen)
{
    *out = NULL;
    mt_db_t *db = mt_calloc(1, sizeof *db);
    db->kind = mt_db_kind_of(location);
    db->sync = sync;
    db->busy_timeout_ms = MT_DB_BUSY_TIMEOUT_MS;
    int rc = db->kind == MT_DB_POSTGRESQL ? mt_pg_open(db, location, err, errlen)
                                          : mt_sqlite_open(db, location, err, errlen);
    if (rc < 0) {
        free(db);
        return rc;
    }
    *out = db;
    return 0;
}

static void finalize(mt_db_stmt_t *st)
{
    if (st->db->kind == MT_DB_POSTGRESQL)
        mt_pg_finalize(st);
    else
        mt_sqlite_finalize(st);
    free(st);
}

void mt_db_close(mt_db_t *db)
{
    if (!db)
        return;
    for (size_t i = 0; i < db->ncached; i++) {
        finalize(db->cache[i].stmt);
        free(db->cache[i].sql);
    }
    free(db->cache);
    if (db->kind == MT_DB_POSTGRESQL)
        mt_pg_close(db);
    else
        mt_sqlite_close(db);
    free(db->fence_handler);
    free(db);
}

/* ------------------------------------------------------------------ */
/* Transactions                                                        */
/* ------------------------------------------------------------------ */

static int exec(mt_db_t *db, const char *sql)
{
    return db->kind == MT_DB_POSTGRESQL ? mt_pg_exec(db, sql) : mt_sqlite_exec(db, sql);
}

int mt_db_begin(mt_db_t *db)
{
    db->txn_start_us = mt_store_metrics_clock();
    int rc = exec(db, db->kind == MT_DB_POSTGRESQL ? "BEGIN" : "BEGIN IMMEDIATE");
    if (rc < 0)
        return mt_db__fail(db, rc, "begin a transaction");
    db->in_txn = true;
    db->txn_time_us = mt_wall_us(); /* SQLite: now that the write lock is ours, see mt_db_time_us() */
    return 0;
}

int mt_db_commit(mt_db_t *db)
{
    int rc = exec(db, "COMMIT");
    if (rc == 0) {
        db->in_txn = false;
        db->txn_time_us = 0;
        mt_store_metrics_txn(db->kind, &db->txn_start_us);
        return 0;
    }
    rc = mt_db__fail(db, rc, "commit");
    mt_db_rollback(db);
    return rc;
}

void mt_db_rollback(mt_db_t *db)
{
    bool open = db->kind == MT_DB_POSTGRESQL ? db->in_txn : mt_sqlite_in_txn(db);
    db->in_txn = false;
    db->txn_time_us = 0;
    if (open)
        exec(db, "ROLLBACK");
    mt_store_metrics_txn(db->kind, &db->txn_start_us);
}

bool mt_db_in_transaction(const mt_db_t *db)
{
    return db->kind == MT_DB_POSTGRESQL ? db->in_txn : mt_sqlite_in_txn(db);
}

int64_t mt_db_time_us(const mt_db_t *db)
{
    bool open = db->kind == MT_DB_POSTGRESQL ? db->in_txn : db->txn_time_us && mt_sqlite_in_txn(db);
    return open && db->txn_time_us ? db->txn_time_us : mt_wall_us();
}

void mt_db_set_fence(mt_db_t *db, const char *handler, int64_t epoch)
{
    free(db->fence_handler);
    db->fence_handler = handler ? mt_strdup(handler) : NULL;
    db->fence_epoch = handler ? epoch : 0;
}

const char *mt_db_fence_handler(const mt_db_t *db)
{
    return db->fence_handler;
}

int64_t mt_db_fence_epoch(const mt_db_t *db)
{
    return db->fence_epoch;
}

void mt_db_set_busy_timeout(mt_db_t *db, int ms)
{
    db->busy_timeout_ms = ms < 0 ? 0 : ms;
    if (db->kind == MT_DB_POSTGRESQL)
        mt_pg_set_busy_timeout(db, db->busy_timeout_ms);
    else
        mt_sqlite_set_busy_timeout(db, db->busy_timeout_ms);
}

const char *mt_db_errmsg(const mt_db_t *db)
{
    return db->errmsg;
}

struct sqlite3 *mt_db__handle(mt_db_t *db)
{
    return db->sqlite;
}

int mt_db__fail(mt_db_t *db, int err, const char *what)
{
    snprintf(db->errmsg, sizeof db->errmsg, "%s: %s", what, db->cause[0] ? db->cause : "failed");
    if (err == -EBUSY)
        mt_store_metrics_busy_failure(db->kind);
    return err < 0 ? err : -EIO;
}

/* ------------------------------------------------------------------ */
/* Statements                                                          */
/* ------------------------------------------------------------------ */

const char *mt_db__pick(const mt_db_t *db, const char *sqlite, const char *pg)
{
    return db->kind == MT_DB_POSTGRESQL && pg ? pg : sqlite;
}

static uint32_t hash_sql(const char *s)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

mt_db_stmt_t *mt_db__stmt(mt_db_t *db, const char *sql)
{
    /* Keyed by text, not by pointer: a query built in a reused buffer has a new text at an old
     * address. The address comes first all the same, confirmed by the text (a compare costs less
     * than the hash, and a read of one job is a few microseconds in all). */
    for (size_t i = 0; i < db->ncached; i++) {
        mt_db_cached_t *c = &db->cache[i];
        if (c->seen == sql && strcmp(c->sql, sql) == 0)
            return c->stmt;
    }
    uint32_t h = hash_sql(sql);
    for (size_t i = 0; i < db->ncached; i++) {
        mt_db_cached_t *c = &db->cache[i];
        if (c->hash == h && strcmp(c->sql, sql) == 0) {
            c->seen = sql;
            return c->stmt;
        }
    }
    mt_db_stmt_t *st = mt_calloc(1, sizeof *st);
    st->db = db;
    st->row = -1;
    int rc = db->kind == MT_DB_POSTGRESQL ? mt_pg_prepare(db, st, sql) : mt_sqlite_prepare(db, st, sql);
    if (rc < 0) {
        finalize(st);
        mt_db__fail(db, rc, "prepare");
        return NULL;
    }
    if (db->ncached == db->cache_cap) {
        db->cache_cap = db->cache_cap ? 2 * db->cache_cap : 16;
        db->cache = mt_realloc(db->cache, db->cache_cap * sizeof *db->cache);
    }
    db->cache[db->ncached++] = (mt_db_cached_t){
        .sql = mt_strdup(sql), .hash = h, .seen = sql, .stmt = st,
    };
    return st;
}

void mt_db__bind_int64(mt_db_stmt_t *st, int i, int64_t v)
{
    if (st->sqlite) {
        mt_sqlite_bind_int64(st, i, v);
        return;
    }
    char text[24];
    snprintf(text, sizeof text, "%lld", (long long)v);
    mt_pg_bind(st, i, text);
}

void mt_db__bind_text(mt_db_stmt_t *st, int i, const char *s)
{
    if (st->sqlite)
        mt_sqlite_bind_text(st, i, s);
    else
        mt_pg_bind(st, i, s);
}

void mt_db__bind_null(mt_db_stmt_t *st, int i)
{
    if (st->sqlite)
        mt_sqlite_bind_null(st, i);
    else
        mt_pg_bind(st, i, NULL);
}

void mt_db__bind_page(mt_db_stmt_t *st, int i, int64_t limit, int64_t offset)
{
    if (limit >= 0)
        mt_db__bind_int64(st, i, limit);
    else if (st->db->kind == MT_DB_POSTGRESQL)
        mt_db__bind_null(st, i); /* LIMIT NULL: no limit */
    else
        mt_db__bind_int64(st, i, -1); /* SQLite's "no limit" */
    mt_db__bind_int64(st, i + 1, offset < 0 ? 0 : offset);
}

int mt_db__step(mt_db_t *db, mt_db_stmt_t *st)
{
    db->cause[0] = '\0';
    return st->sqlite ? mt_sqlite_step(db, st) : mt_pg_step(db, st);
}

int64_t mt_db__col_int64(mt_db_stmt_t *st, int col)
{
    return st->sqlite ? mt_sqlite_col_int64(st, col) : mt_pg_col_int64(st, col);
}

const char *mt_db__col_text(mt_db_stmt_t *st, int col)
{
    return st->sqlite ? mt_sqlite_col_text(st, col) : mt_pg_col_text(st, col);
}

bool mt_db__col_null(mt_db_stmt_t *st, int col)
{
    return st->sqlite ? mt_sqlite_col_null(st, col) : mt_pg_col_null(st, col);
}

char *mt_db__col_strdup(mt_db_stmt_t *st, int col)
{
    const char *text = mt_db__col_text(st, col);
    return text ? mt_strdup(text) : NULL;
}

int64_t mt_db__changes(mt_db_t *db)
{
    return db->changes;
}

void mt_db__release(mt_db_stmt_t *st)
{
    if (!st)
        return;
    st->row = -1;
    if (st->sqlite)
        mt_sqlite_reset(st);
    else
        mt_pg_reset(st);
}
