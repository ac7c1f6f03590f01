/*
 * db: the job application's SQLite database -- the schema, its migrations,
 * and connections.
 *
 * The database is the source of truth for jobs (design.md, "Messages"): a
 * lost or duplicated message is repaired from it, so what it promises about
 * durability and concurrency is spelled out here. The master calls
 * mt_db_migrate() once, before forking; then every process -- and every
 * thread in it -- opens its own connection with mt_db_open(). Queries live
 * in their modules (job_store.c); this one only hands them prepared
 * statements cached on the connection.
 *
 * The file is in WAL mode: readers never block writers nor each other, and
 * writers queue on SQLite's write lock for up to the busy timeout.
 */
#ifndef MT_DB_H
#define MT_DB_H

#include <stddef.h>

#include <sqlite3.h>
#include <stdint.h>

/* The schema version this binary creates and expects (PRAGMA user_version). */
#define MT_DB_SCHEMA_VERSION 8

/* How long a statement waits for another connection's lock before failing with -EBUSY. */
#define MT_DB_BUSY_TIMEOUT_MS 10000

/* An open connection. Opaque. */
typedef struct mt_db mt_db_t;

/* What a committed write survives (PRAGMA synchronous, per connection). */
typedef enum {
    /*
     * synchronous=NORMAL in WAL mode: the WAL is not fsynced at each commit.
     * A committed transaction survives a crash of any process (kill -9,
     * abort, OOM kill): it is in the OS page cache. On power loss or a
     * kernel crash, the last transactions before it may roll back; the
     * database stays consistent. Fast: thousands of commits per second.
     */
    MT_DB_SYNC_NORMAL,
    /*
     * synchronous=FULL: the WAL is fsynced at each commit, so a committed
     * transaction survives power loss too. Each commit costs an fsync.
     */
    MT_DB_SYNC_FULL,
} mt_db_sync_t;

/*
 * Create the database file at path if needed, put it in WAL mode, and
 * apply the migrations it lacks, each in its own transaction. Idempotent:
 * an up-to-date database is left alone. Refuses (and changes nothing in)
 * a database whose schema is newer than MT_DB_SCHEMA_VERSION.
 *
 * Call it once, in the master, before any fork: it opens and closes its own
 * connection. Returns 0, or a negative errno value after writing a
 * one-line message naming the file into err.
 */
int mt_db_migrate(const char *path, char *err, size_t errlen);

/*
 * Open a connection to a database that mt_db_migrate() has prepared (the
 * file must exist and have exactly MT_DB_SCHEMA_VERSION), with the given
 * durability and a busy timeout of MT_DB_BUSY_TIMEOUT_MS.
 *
 * Threading: a connection belongs to one thread of one process (it is
 * opened without SQLite's mutexes). Never use one across fork(): open it in
 * the child. Several connections to one file, from any processes on this
 * host, are safe together.
 *
 * Returns 0 and *out (close it with mt_db_close), or a negative errno
 * value after writing a message into err (*out is then NULL).
 */
int mt_db_open(const char *path, mt_db_sync_t sync, mt_db_t **out, char *err, size_t errlen);

/* Finalize the cached statements and close. Accepts NULL. */
void mt_db_close(mt_db_t *db);

/*
 * Group several writes into one commit: mt_db_begin() takes the write lock
 * at once (BEGIN IMMEDIATE, waiting up to the busy timeout), so no
 * statement inside can fail for want of it; the job_store functions called
 * until mt_db_commit() join the transaction instead of committing each on
 * its own. mt_db_commit() makes them durable together (with the
 * connection's mt_db_sync_t); mt_db_rollback() drops them all and never
 * fails. Returns 0 or a negative errno value with the message on the
 * connection. A failed mt_db_commit() has rolled back.
 */
int mt_db_begin(mt_db_t *db);
int mt_db_commit(mt_db_t *db);
void mt_db_rollback(mt_db_t *db);

/*
 * The time (microseconds since the epoch) to record for a change made now
 * through db. Inside a transaction begun with mt_db_begin(), the time it
 * began, taken once the write lock was held: every change of one
 * transaction carries one time, as PostgreSQL's now() does, and since
 * transactions hold the lock in turn, their times follow their order (as
 * far as the wall clock does). Outside one, the wall clock.
 */
int64_t mt_db_time_us(const mt_db_t *db);

/* Change the busy timeout of this connection (milliseconds, >= 0). */
void mt_db_set_busy_timeout(mt_db_t *db, int ms);

/*
 * The message of the last failure reported by a function taking this
 * connection (e.g. "claim job: database is locked"); "" if none. Valid
 * until the next call on the connection.
 */
const char *mt_db_errmsg(const mt_db_t *db);

/* ------------------------------------------------------------------ */
/* For the query modules (job_store.c): not for the rest of the app.   */
/* ------------------------------------------------------------------ */

/*
 * The statement for `sql`, prepared on first use and cached on the
 * connection (keyed by the SQL text, so a query built at run time is cached
 * too). It comes back reset, ready to bind. When done with it -- error or
 * not -- call mt_db__release() so that it holds no read snapshot.
 * Returns NULL on a prepare failure, with the message on the connection.
 */
sqlite3_stmt *mt_db__stmt(mt_db_t *db, const char *sql);

/* Reset a statement from mt_db__stmt() and drop its bindings. Accepts NULL. */
void mt_db__release(sqlite3_stmt *stmt);

/*
 * First sqlite3_step() of a statement. Under WAL, SQLite can return
 * SQLITE_BUSY without waiting out the busy timeout (a reader meeting WAL
 * recovery, a write lock that changed hands between snapshot and
 * upgrade): such a statement is reset and stepped again until the busy
 * timeout has elapsed. Returns SQLite's code (SQLITE_ROW, SQLITE_DONE, ...).
 */
int mt_db__step(mt_db_t *db, sqlite3_stmt *stmt);

/*
 * Record a failure: the message becomes "<what>: <sqlite's message>".
 * Returns the negative errno value matching rc (-EBUSY, -ENOSPC, -EROFS,
 * -EIO, ...).
 */
int mt_db__fail(mt_db_t *db, int rc, const char *what);

/* The underlying handle (for sqlite3_changes() and the like). */
sqlite3 *mt_db__handle(mt_db_t *db);

#endif
