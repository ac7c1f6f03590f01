/*
 * db: the job application's database -- where it is, its schema and
 * migrations, connections, transactions, and the statement interface the
 * query modules (job_store.c, invocation_store.c, ...) are written against.
 *
 * Two backends sit behind one interface: SQLite (a file on this host, the
 * default) and PostgreSQL (a server that stacks on several hosts share).
 * The query modules do not know which one they talk to: they prepare SQL
 * with numbered parameters (?1, ?2 ... or bare ?), bind, step and read
 * columns through the functions below. Where the two dialects differ
 * (SQLite's INDEXED BY, PostgreSQL's FOR UPDATE SKIP LOCKED), a module
 * gives both texts and mt_db__pick() chooses.
 *
 * The database is the source of truth for jobs (design.md, "Messages"): a
 * lost or duplicated message is repaired from it, so what it promises
 * about durability and concurrency is spelled out here. The master calls
 * mt_db_migrate() once, before forking; then every process -- and every
 * thread in it -- opens its own connection with mt_db_open().
 *
 * SQLite: the file is in WAL mode: readers never block writers nor each
 * other, and writers queue on SQLite's write lock for up to the busy
 * timeout. PostgreSQL: every statement outside mt_db_begin() is its own
 * transaction at READ COMMITTED; the store's conditional UPDATEs re-check
 * their condition on the row's latest version, so of two writers one wins
 * and the other changes nothing, as on SQLite.
 */
#ifndef MT_DB_H
#define MT_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The schema version this binary creates and expects (both backends). */
#define MT_DB_SCHEMA_VERSION 11

/* How long a statement waits for another connection's lock before failing with -EBUSY. */
#define MT_DB_BUSY_TIMEOUT_MS 10000

/* An open connection. Opaque. */
typedef struct mt_db mt_db_t;

typedef enum {
    MT_DB_SQLITE,
    MT_DB_POSTGRESQL,
} mt_db_kind_t;

/*
 * Which backend a `jobs.database` value names: PostgreSQL for a
 * postgresql:// or postgres:// URL, or a libpq connection string
 * ("host=db1 dbname=galaxy": words of the form key=value, the first key
 * one libpq knows); SQLite for anything else (a path, sqlite:///PATH).
 */
mt_db_kind_t mt_db_kind_of(const char *location);

/* The backend of an open connection. */
mt_db_kind_t mt_db_kind(const mt_db_t *db);

/*
 * A location fit for logs: a PostgreSQL URL or connection string with its
 * password replaced by "***"; a path as it is. Writes into buf (NUL
 * terminated, truncated to len) and returns it.
 */
const char *mt_db_display(const char *location, char *buf, size_t len);

/* What a committed write survives (per connection). */
typedef enum {
    /*
     * SQLite: synchronous=NORMAL in WAL mode: the WAL is not fsynced at
     * each commit. A committed transaction survives a crash of any process
     * (kill -9, abort, OOM kill): it is in the OS page cache. On power loss
     * or a kernel crash, the last transactions before it may roll back;
     * the database stays consistent. Fast: thousands of commits per second.
     * PostgreSQL: synchronous_commit=on as for FULL -- its "off" would lose
     * commits when the server's processes crash, less than SQLite NORMAL
     * promises.
     */
    MT_DB_SYNC_NORMAL,
    /*
     * SQLite: synchronous=FULL: the WAL is fsynced at each commit, so a
     * committed transaction survives power loss too. PostgreSQL:
     * synchronous_commit=on (what the server's own fsync setting allows).
     */
    MT_DB_SYNC_FULL,
} mt_db_sync_t;

/*
 * Bring the database at location (a SQLite path, or a PostgreSQL URL or
 * connection string: mt_db_kind_of) to MT_DB_SCHEMA_VERSION, applying the
 * migrations it lacks, each in its own transaction. SQLite: creates the
 * file if needed and puts it in WAL mode. PostgreSQL: the database must
 * exist; the tables are created in it. Idempotent, and safe when several
 * processes on several hosts migrate at once (SQLite's write lock;
 * PostgreSQL's advisory lock): one migrates, the others find it done.
 * Refuses (and changes nothing in) a database whose schema is newer.
 *
 * Call it once, in the master, before any fork: it opens and closes its own
 * connection. Returns 0, or a negative errno value after writing a
 * one-line message naming the database into err.
 */
int mt_db_migrate(const char *location, char *err, size_t errlen);

/*
 * The WAL of a SQLite database, kept below MT_DB_WAL_LIMIT_BYTES: each
 * connection sets journal_size_limit to it, so that the WAL, grown past it
 * by a burst of writes that kept checkpoints from completing, is cut back
 * to it when it next starts over from its beginning.
 */
#define MT_DB_WAL_LIMIT_BYTES (4 * 1024 * 1024)

/*
 * For a stack that has stopped: SQLite: copy every change still in the WAL
 * into the database file and truncate the WAL to nothing (wal_checkpoint
 * TRUNCATE), on a connection of its own, then close it -- if no other
 * connection is open, SQLite then removes the WAL and its index. Processes
 * that exit without closing their connections (every child of the stack
 * _exit()s) leave the WAL behind, whole; this is what cleans it. Waits up
 * to timeout_ms for another connection's lock (a process still ending),
 * then gives up with -EBUSY: the next start finds the WAL and uses it, so
 * nothing is lost either way. PostgreSQL: nothing to do, returns 0.
 * Returns 0 (also when there is no database file), or a negative errno
 * value after writing a one-line message naming the database into err.
 */
int mt_db_checkpoint(const char *location, int timeout_ms, char *err, size_t errlen);

/*
 * Open a connection to a database that mt_db_migrate() has prepared (it
 * must have exactly MT_DB_SCHEMA_VERSION), with the given durability and a
 * busy timeout of MT_DB_BUSY_TIMEOUT_MS.
 *
 * Threading: a connection belongs to one thread of one process. Never use
 * one across fork(): open it in the child. Several connections to one
 * database, from any processes (on this host for SQLite, on any for
 * PostgreSQL), are safe together.
 *
 * A PostgreSQL connection that breaks (the server restarted, the network
 * failed) makes the statement fail with -ENOTCONN; the next statement
 * tries to connect again, once, and fails with -ENOTCONN again while the
 * server cannot be reached.
 *
 * Returns 0 and *out (close it with mt_db_close), or a negative errno
 * value after writing a message into err (*out is then NULL).
 */
int mt_db_open(const char *location, mt_db_sync_t sync, mt_db_t **out, char *err, size_t errlen);

/* Finalize the cached statements and close. Accepts NULL. */
void mt_db_close(mt_db_t *db);

/*
 * Group several writes into one commit. SQLite: mt_db_begin() takes the
 * write lock at once (BEGIN IMMEDIATE, waiting up to the busy timeout), so
 * no statement inside can fail for want of it. PostgreSQL: BEGIN; row
 * locks are taken by each statement. The job_store functions called until
 * mt_db_commit() join the transaction instead of committing each on its
 * own. mt_db_commit() makes them durable together (with the connection's
 * mt_db_sync_t); mt_db_rollback() drops them all and never fails. Returns
 * 0 or a negative errno value with the message on the connection. A failed
 * mt_db_commit() has rolled back.
 */
int mt_db_begin(mt_db_t *db);
int mt_db_commit(mt_db_t *db);
void mt_db_rollback(mt_db_t *db);

/* Between mt_db_begin() and its commit or rollback? */
bool mt_db_in_transaction(const mt_db_t *db);

/*
 * The time (microseconds since the epoch) to record for a change made now
 * through db. Inside a transaction begun with mt_db_begin(), the time it
 * began (for SQLite, taken once the write lock was held): every change of
 * one transaction carries one time, as PostgreSQL's now() does. Outside
 * one, the wall clock of this host.
 */
int64_t mt_db_time_us(const mt_db_t *db);

/*
 * Fencing (handler_store.h): from now on, the job writes a handler makes
 * through this connection -- taking, claiming, moving a job through its
 * states, retrying it (job_store.h) -- change a job only if it is held by
 * `handler` at `epoch`, and a job taken or claimed gets that epoch. A
 * handler that lost its name (its lease lapsed and another took over, so
 * the name's epoch moved on) thus changes nothing. handler NULL (the
 * default) turns fencing off. The API's writes (create, cancel) are never
 * fenced. The name is copied.
 */
void mt_db_set_fence(mt_db_t *db, const char *handler, int64_t epoch);
/* The fence set, or NULL and 0. */
const char *mt_db_fence_handler(const mt_db_t *db);
int64_t mt_db_fence_epoch(const mt_db_t *db);

/* Change the busy timeout of this connection (milliseconds, >= 0). */
void mt_db_set_busy_timeout(mt_db_t *db, int ms);

/*
 * The message of the last failure reported by a function taking this
 * connection (e.g. "claim job: database is locked"); "" if none. Valid
 * until the next call on the connection.
 */
const char *mt_db_errmsg(const mt_db_t *db);

/* ------------------------------------------------------------------ */
/* For the query modules (store/): not for the rest of the app.        */
/* ------------------------------------------------------------------ */

/* A prepared statement, cached on its connection. Opaque. */
typedef struct mt_db_stmt mt_db_stmt_t;

/* What mt_db__step() returns besides a negative errno value. */
#define MT_DB_DONE 0 /* the statement has completed (a write has been applied) */
#define MT_DB_ROW 1  /* a row is ready to read */

/*
 * The text for this connection's backend: `sqlite` on SQLite, `pg` on
 * PostgreSQL (NULL: the same text serves both).
 */
const char *mt_db__pick(const mt_db_t *db, const char *sqlite, const char *pg);

/*
 * The statement for `sql`, prepared on first use and cached on the
 * connection (keyed by the SQL text, so a query built at run time is
 * cached too). Parameters are ?N or bare ? (numbered as SQLite does). It
 * comes back reset, ready to bind. When done with it -- error or not --
 * call mt_db__release(). Returns NULL on a prepare failure, with the
 * message on the connection (mt_db__fail(db, 0, what) keeps it).
 */
mt_db_stmt_t *mt_db__stmt(mt_db_t *db, const char *sql);

/* Bind parameter i (1-based). Text is copied if the backend needs it; NULL text binds NULL. */
void mt_db__bind_int64(mt_db_stmt_t *st, int i, int64_t v);
void mt_db__bind_text(mt_db_stmt_t *st, int i, const char *s);
void mt_db__bind_null(mt_db_stmt_t *st, int i);

/*
 * Run the statement (first call) or move to its next row. Returns MT_DB_ROW,
 * MT_DB_DONE, or a negative errno value (-EBUSY: locked for the busy
 * timeout; -ENOTCONN: the server cannot be reached; -ENOSPC, -EIO, ...) with
 * the backend's message kept for mt_db__fail(). A write's changes are
 * committed (outside mt_db_begin) when it returns MT_DB_DONE -- for a
 * statement with RETURNING, step it to MT_DB_DONE after reading its row.
 *
 * SQLite: a statement that meets SQLITE_BUSY without SQLite waiting out the
 * busy timeout (a reader meeting WAL recovery) is reset and stepped again
 * until the timeout has elapsed.
 */
int mt_db__step(mt_db_t *db, mt_db_stmt_t *st);

/* Columns of the current row (0-based). Text is valid until the next step or release; NULL for NULL. */
int64_t mt_db__col_int64(mt_db_stmt_t *st, int col);
const char *mt_db__col_text(mt_db_stmt_t *st, int col);
bool mt_db__col_null(mt_db_stmt_t *st, int col);
/* A new copy of a text column (NULL for NULL). */
char *mt_db__col_strdup(mt_db_stmt_t *st, int col);

/*
 * Bind a page's "LIMIT ? OFFSET ?" as parameters i and i + 1: limit < 0
 * for no limit (each backend has its own way of saying it), offset < 0 as 0.
 */
void mt_db__bind_page(mt_db_stmt_t *st, int i, int64_t limit, int64_t offset);

/* Rows changed by the statement that last completed (MT_DB_DONE) on this connection. */
int64_t mt_db__changes(mt_db_t *db);

/* Reset a statement from mt_db__stmt() and drop its bindings and result. Accepts NULL. */
void mt_db__release(mt_db_stmt_t *st);

/* The SQLite handle of a SQLite connection (NULL on PostgreSQL): for tests that watch commits. */
struct sqlite3;
struct sqlite3 *mt_db__handle(mt_db_t *db);

/*
 * Record a failure: the message becomes "<what>: <the backend's message>".
 * err is what the failing call returned (a negative errno value), or 0 for
 * a failed mt_db__stmt(). Returns the negative errno value to pass on
 * (err, or the cause the backend reported).
 */
int mt_db__fail(mt_db_t *db, int err, const char *what);

#endif
