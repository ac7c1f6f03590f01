/*
 * db_backend: what db.c (the front every query module calls) shares with
 * the two backends, db_sqlite.c and db_pg.c. Private to src/app/store/:
 * the rest of the application sees only db.h.
 *
 * A connection and a statement are one struct each for both backends;
 * each backend uses its own fields. The front does what is common (the
 * statement cache, transaction times, error messages) and calls the
 * backend's function for the rest. A backend that fails records its
 * message in db->cause and returns a negative errno value; mt_db__fail()
 * then puts the caller's "what" in front of it.
 */
#ifndef MT_DB_BACKEND_H
#define MT_DB_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "app/store/db.h"

struct sqlite3;
struct sqlite3_stmt;
struct pg_conn;
struct pg_result;

typedef struct mt_db_cached {
    char *sql;        /* owned copy of the text: the cache key */
    uint32_t hash;    /* of sql */
    const char *seen; /* the caller's text it was last found by (a query's static string, mostly) */
    mt_db_stmt_t *stmt;
} mt_db_cached_t;

struct mt_db {
    mt_db_kind_t kind;
    mt_db_sync_t sync;
    int busy_timeout_ms;
    int64_t txn_time_us; /* of the transaction begun by mt_db_begin(); 0 outside one */
    int64_t txn_start_us; /* CLOCK_MONOTONIC when mt_db_begin() was called, for the metrics; 0: not timed */
    bool in_txn;         /* between mt_db_begin() and its commit or rollback */
    int64_t changes;     /* rows changed by the last completed statement */
    mt_db_cached_t *cache;
    size_t ncached;
    size_t cache_cap;
    char cause[256];     /* the backend's message for its last failure */
    char errmsg[320];    /* "<what>: <cause>", for mt_db_errmsg() */
    char *fence_handler; /* mt_db_set_fence(): NULL when off */
    int64_t fence_epoch;

    /* SQLite */
    struct sqlite3 *sqlite;

    /* PostgreSQL */
    struct pg_conn *pg;
    char *conninfo;        /* what to connect to again after the connection broke */
    unsigned generation;   /* bumped at each new connection: statements prepared before are gone */
    unsigned next_name;    /* for the server-side names of prepared statements */
};

struct mt_db_stmt {
    mt_db_t *db;

    /* SQLite */
    struct sqlite3_stmt *sqlite;

    int row;                 /* the current row (0-based), -1 before the first step */

    /* PostgreSQL */
    char *pg_sql;            /* the text with $N parameters */
    char name[24];           /* server-side name, "mt12" */
    unsigned prepared_in;    /* the connection generation it was prepared in; 0: not yet */
    int nparams;
    char **values;           /* owned text of each parameter, NULL for NULL */
    struct pg_result *res;   /* of the execution, until release */
    int nrows;
};

/* ---- SQLite (db_sqlite.c) ---- */
int mt_sqlite_migrate(const char *path, char *err, size_t errlen);
int mt_sqlite_open(mt_db_t *db, const char *path, char *err, size_t errlen);
int mt_sqlite_checkpoint(const char *path, int timeout_ms, char *err, size_t errlen);
void mt_sqlite_close(mt_db_t *db);
int mt_sqlite_prepare(mt_db_t *db, mt_db_stmt_t *st, const char *sql);
void mt_sqlite_finalize(mt_db_stmt_t *st);
int mt_sqlite_step(mt_db_t *db, mt_db_stmt_t *st);
void mt_sqlite_reset(mt_db_stmt_t *st);
int mt_sqlite_exec(mt_db_t *db, const char *sql); /* BEGIN IMMEDIATE, COMMIT, ROLLBACK: cached */
bool mt_sqlite_in_txn(const mt_db_t *db);
void mt_sqlite_set_busy_timeout(mt_db_t *db, int ms);
void mt_sqlite_bind_int64(mt_db_stmt_t *st, int i, int64_t v);
void mt_sqlite_bind_text(mt_db_stmt_t *st, int i, const char *s);
void mt_sqlite_bind_null(mt_db_stmt_t *st, int i);
int64_t mt_sqlite_col_int64(mt_db_stmt_t *st, int col);
const char *mt_sqlite_col_text(mt_db_stmt_t *st, int col);
bool mt_sqlite_col_null(mt_db_stmt_t *st, int col);

/* ---- PostgreSQL (db_pg.c) ---- */
bool mt_pg_is_conninfo(const char *location);
int mt_pg_migrate(const char *conninfo, char *err, size_t errlen);
int mt_pg_open(mt_db_t *db, const char *conninfo, char *err, size_t errlen);
void mt_pg_close(mt_db_t *db);
int mt_pg_prepare(mt_db_t *db, mt_db_stmt_t *st, const char *sql);
void mt_pg_finalize(mt_db_stmt_t *st);
int mt_pg_step(mt_db_t *db, mt_db_stmt_t *st);
void mt_pg_reset(mt_db_stmt_t *st);
int mt_pg_exec(mt_db_t *db, const char *sql); /* BEGIN, COMMIT, ROLLBACK */
void mt_pg_set_busy_timeout(mt_db_t *db, int ms);
const char *mt_pg_display(const char *conninfo, char *buf, size_t len);
void mt_pg_bind(mt_db_stmt_t *st, int i, const char *text); /* copies; NULL binds NULL */
int64_t mt_pg_col_int64(mt_db_stmt_t *st, int col);
const char *mt_pg_col_text(mt_db_stmt_t *st, int col);
bool mt_pg_col_null(mt_db_stmt_t *st, int col);

/* The schemas: migration N (1-based) takes a database from version N-1 to N (schema_*.c). */
extern const char *const mt_schema_sqlite[MT_DB_SCHEMA_VERSION];
/* PostgreSQL databases begin at MT_PG_SCHEMA_BASE: its entry creates that version's schema at once. */
#define MT_PG_SCHEMA_BASE 8
extern const char *const mt_schema_pg[MT_DB_SCHEMA_VERSION];

#endif
