/*
 * db: schema migrations, connections and their statement cache (see db.h).
 *
 * The schema version is PRAGMA user_version: it lives in the database
 * header, so reading it needs no table and a half-created schema cannot
 * claim a version (each migration sets it inside its own transaction).
 *
 * Job state history is written by triggers, not by the callers: every
 * INSERT into job and every UPDATE that changes a job's state or handler
 * adds its history row inside the same statement, hence the same
 * transaction. That keeps the hot writes (insert, claim, claim-next) down to
 * one autocommit statement each, and no future writer can forget it.
 */
#include "app/store/db.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>
#include <time.h>

#include "common/clock.h"
#include "common/mem.h"

/*
 * Migration N (1-based) takes a database from version N-1 to N. Append
 * only: a released migration never changes.
 */
static const char *const migrations[] = {
    /* 1: jobs and their state history. Times are microseconds since the epoch. */
    "CREATE TABLE job ("
    "  id INTEGER PRIMARY KEY,"
    "  tool_id TEXT NOT NULL,"
    "  tool_version TEXT,"
    "  params TEXT NOT NULL DEFAULT '{}',"
    "  state TEXT NOT NULL CHECK (state IN"
    "    ('new','queued','running','ok','error','deleting','deleted')),"
    "  handler TEXT,"
    "  destination TEXT,"
    "  create_time INTEGER NOT NULL,"
    "  update_time INTEGER NOT NULL,"
    "  claim_time INTEGER,"
    "  start_time INTEGER,"
    "  end_time INTEGER,"
    "  exit_code INTEGER,"
    "  runner TEXT,"
    "  external_id TEXT,"
    "  working_dir TEXT,"
    "  info TEXT"
    ");"
    /* Both in rowid order within a key, so a page of 'handler = ?' or
     * 'state = ?' ORDER BY id DESC reads only that page. Unassigned jobs
     * stay out of the handler index ('handler = ?' implies NOT NULL, so
     * the planner still uses it): one page less to write per submission. */
    "CREATE INDEX job_handler ON job (handler) WHERE handler IS NOT NULL;"
    "CREATE INDEX job_state ON job (state);"
    /* Jobs waiting for a claim. Also limited to state 'new', or jobs
     * cancelled before any claim would stay in it for ever. The rowid is
     * implicit, so 'destination = ? ORDER BY id' is one index seek. */
    "CREATE INDEX job_unassigned ON job (destination)"
    "  WHERE handler IS NULL AND state = 'new';"
    "CREATE TABLE job_state_history ("
    "  job_id INTEGER NOT NULL,"
    "  state TEXT NOT NULL,"
    "  time INTEGER NOT NULL,"
    "  handler TEXT,"
    "  info TEXT"
    ");"
    "CREATE INDEX job_state_history_job ON job_state_history (job_id);"
    "CREATE TRIGGER job_history_insert AFTER INSERT ON job BEGIN"
    "  INSERT INTO job_state_history (job_id, state, time, handler, info)"
    "  VALUES (new.id, new.state, new.update_time, new.handler, new.info);"
    "END;"
    "CREATE TRIGGER job_history_update AFTER UPDATE OF state, handler ON job"
    "  WHEN new.state IS NOT old.state OR new.handler IS NOT old.handler BEGIN"
    "  INSERT INTO job_state_history (job_id, state, time, handler, info)"
    "  VALUES (new.id, new.state, new.update_time, new.handler,"
    "          CASE WHEN new.info IS NOT old.info THEN new.info END);"
    "END;"
    /* The store's UPDATEs already exclude terminal jobs in their WHERE
     * clause; this catches any other writer. */
    "CREATE TRIGGER job_terminal_guard BEFORE UPDATE OF state ON job"
    "  WHEN old.state IN ('ok','error','deleted') AND new.state IS NOT old.state BEGIN"
    "  SELECT RAISE(ABORT, 'a job in a terminal state never changes state');"
    "END;",
    /* 2: workflows created through the API (those in the workflows directory are files). */
    "CREATE TABLE workflow ("
    "  id TEXT PRIMARY KEY,"
    "  definition TEXT NOT NULL,"
    "  create_time INTEGER NOT NULL"
    ");",
    /* 3: workflow invocations, their steps, and the step a job was created for. */
    "CREATE TABLE invocation ("
    "  id INTEGER PRIMARY KEY,"
    "  workflow_id TEXT NOT NULL,"
    "  definition TEXT NOT NULL," /* the workflow as invoked (JSON): later edits do not change a run */
    "  inputs TEXT NOT NULL,"
    "  state TEXT NOT NULL CHECK (state IN ('new','scheduling','ok','failed','cancelled')),"
    "  handler TEXT,"
    "  destination TEXT,"
    "  create_time INTEGER NOT NULL,"
    "  update_time INTEGER NOT NULL,"
    "  claim_time INTEGER,"
    "  end_time INTEGER,"
    "  info TEXT"
    ");"
    "CREATE INDEX invocation_handler ON invocation (handler, state) WHERE handler IS NOT NULL;"
    "CREATE INDEX invocation_unassigned ON invocation (destination) WHERE handler IS NULL AND state = 'new';"
    "CREATE TABLE invocation_step ("
    "  invocation_id INTEGER NOT NULL,"
    "  step_index INTEGER NOT NULL," /* in the workflow's dependency order */
    "  step_id TEXT NOT NULL,"
    "  state TEXT NOT NULL CHECK (state IN ('waiting','running','ok','failed','not_run','cancelled')),"
    "  job_id INTEGER,"
    "  info TEXT,"
    "  PRIMARY KEY (invocation_id, step_index)"
    ") WITHOUT ROWID;"
    "ALTER TABLE job ADD COLUMN invocation_id INTEGER;"
    "CREATE INDEX job_invocation ON job (invocation_id) WHERE invocation_id IS NOT NULL;",
    /* 4: the user who owns a job or an invocation (its API key's); NULL when created with the API open.
     * A user's list is 'user = ? ORDER BY id DESC': the index's implicit rowid gives that order. */
    "ALTER TABLE job ADD COLUMN user TEXT;"
    "CREATE INDEX job_user ON job (user) WHERE user IS NOT NULL;"
    "ALTER TABLE invocation ADD COLUMN user TEXT;"
    "CREATE INDEX invocation_user ON invocation (user) WHERE user IS NOT NULL;",
    /* 5: a handler's jobs by state. Every poll asks for its jobs in 'new' or 'deleting'; on the
     * handler-only index that walked every job the handler ever ran (half a second per poll with
     * 500,000 finished jobs). The pair finds them directly, and still serves 'handler = ?' alone. */
    "DROP INDEX job_handler;"
    "CREATE INDEX job_handler_state ON job (handler, state) WHERE handler IS NOT NULL;",
    /* 6: the number of jobs, kept by triggers, so that the unfiltered list's total does not count
     * every row (7.6 ms with 1,000,000 jobs). One row; a job insert updates it in the same page. */
    "CREATE TABLE job_count (n INTEGER NOT NULL);"
    "INSERT INTO job_count SELECT count(*) FROM job;"
    "CREATE TRIGGER job_count_insert AFTER INSERT ON job BEGIN UPDATE job_count SET n = n + 1; END;"
    "CREATE TRIGGER job_count_delete AFTER DELETE ON job BEGIN UPDATE job_count SET n = n - 1; END;",
    /* 7: Galaxy's words. The pool an unassigned job or invocation waits in is its 'queue' (a farm
     * name, or the pool handlers claim from: skip-locked's old 'db' is the default pool);
     * 'destination' is now the job configuration's destination, where the job runs. */
    "ALTER TABLE job RENAME COLUMN destination TO queue;"
    "ALTER TABLE invocation RENAME COLUMN destination TO queue;"
    "UPDATE job SET queue = 'job-handlers' WHERE queue = 'db';"
    "UPDATE invocation SET queue = 'job-handlers' WHERE queue = 'db';"
    "ALTER TABLE job ADD COLUMN destination TEXT;",
    /* 8: a job's attempt: 1 for its first run; a run lost with its handler's host (the command died
     * unfinished) is run again as the next attempt, up to jobs.max-attempts. */
    "ALTER TABLE job ADD COLUMN attempt INTEGER NOT NULL DEFAULT 1;",
};

_Static_assert(sizeof migrations / sizeof migrations[0] == MT_DB_SCHEMA_VERSION,
               "one migration per schema version");

typedef struct {
    char *sql;          /* owned copy of the text: the cache key */
    uint32_t hash;      /* of sql */
    const char *seen;   /* the caller's text it was last found by (a query's static string, mostly) */
    sqlite3_stmt *stmt;
} mt_db_cached_t;

struct mt_db {
    sqlite3 *sqlite;
    int busy_timeout_ms;
    int64_t txn_time_us; /* of the transaction begun by mt_db_begin(); 0 outside one */
    mt_db_cached_t *cache;
    size_t ncached;
    size_t cache_cap;
    char errmsg[256];
};

static int errno_of(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_OK:
        return 0;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return -EBUSY;
    case SQLITE_FULL:
        return -ENOSPC;
    case SQLITE_READONLY:
        return -EROFS;
    case SQLITE_PERM:
    case SQLITE_AUTH:
        return -EACCES;
    case SQLITE_CANTOPEN:
        return -ENOENT;
    case SQLITE_CONSTRAINT:
    case SQLITE_MISMATCH:
    case SQLITE_RANGE:
        return -EINVAL;
    case SQLITE_NOMEM:
        return -ENOMEM;
    case SQLITE_TOOBIG:
        return -E2BIG;
    default:
        return -EIO;
    }
}

/* Is the filesystem holding the file at path out of blocks or inodes? */
static bool filesystem_full(const char *path)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *(slash == dir ? slash + 1 : slash) = '\0';
    struct statvfs st;
    return statvfs(slash ? dir : ".", &st) == 0 && (st.f_bavail == 0 || (st.f_files > 0 && st.f_favail == 0));
}

/*
 * SQLite's message for the last failure on the database at path, with the
 * reason when an I/O error has one: "unable to open database file" alone
 * does not say that the disk is full (and the system's last errno may be
 * that of a fallback that failed after it, such as ENOENT).
 */
static const char *why_failed(sqlite3 *sqlite, const char *path, char *buf, size_t len)
{
    int sys = sqlite3_system_errno(sqlite);
    int rc = sqlite3_errcode(sqlite) & 0xff; /* extended codes are on in mt_db_open's connections */
    bool io = rc == SQLITE_IOERR || rc == SQLITE_FULL || rc == SQLITE_CANTOPEN;
    if (io && filesystem_full(path))
        snprintf(buf, len, "%s: the filesystem holding it is full (%s)", sqlite3_errmsg(sqlite), strerror(ENOSPC));
    else if (io && sys)
        snprintf(buf, len, "%s (%s)", sqlite3_errmsg(sqlite), strerror(sys));
    else
        snprintf(buf, len, "%s", sqlite3_errmsg(sqlite));
    return buf;
}

static int64_t monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ------------------------------------------------------------------ */
/* Migrations                                                          */
/* ------------------------------------------------------------------ */

static int read_user_version(sqlite3 *sqlite, int *version)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(sqlite, "PRAGMA user_version", -1, &st, NULL);
    if (rc != SQLITE_OK)
        return rc;
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *version = sqlite3_column_int(st, 0);
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    return rc;
}

/* BEGIN IMMEDIATE takes the write lock at once, so two migrators queue instead of deadlocking. */
static int begin_immediate(sqlite3 *sqlite, int timeout_ms)
{
    int64_t deadline = monotonic_ms() + timeout_ms;
    for (;;) {
        int rc = sqlite3_exec(sqlite, "BEGIN IMMEDIATE", NULL, NULL, NULL);
        if ((rc & 0xff) != SQLITE_BUSY || monotonic_ms() >= deadline)
            return rc;
        sqlite3_sleep(1);
    }
}

int mt_db_migrate(const char *path, char *err, size_t errlen)
{
    char why[320];
    sqlite3 *sqlite = NULL;
    char *errtext = NULL;
    int ret = 0;
    int rc = sqlite3_open_v2(path, &sqlite, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "cannot open database %s: %s", path,
                 sqlite ? why_failed(sqlite, path, why, sizeof why) : sqlite3_errstr(rc));
        ret = errno_of(rc);
        goto done;
    }
    sqlite3_busy_timeout(sqlite, MT_DB_BUSY_TIMEOUT_MS);

    /* Refuse a newer schema before touching anything, journal mode included. */
    int version = 0;
    rc = read_user_version(sqlite, &version);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "database %s: cannot read its schema version: %s", path,
                 why_failed(sqlite, path, why, sizeof why));
        ret = errno_of(rc);
        goto done;
    }
    if (version > MT_DB_SCHEMA_VERSION)
        goto too_new;

    /* journal_mode=WAL persists in the file; it answers the mode it ended up in. */
    sqlite3_stmt *st;
    rc = sqlite3_prepare_v2(sqlite, "PRAGMA journal_mode=WAL", -1, &st, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            const char *mode = (const char *)sqlite3_column_text(st, 0);
            if (!mode || strcmp(mode, "wal") != 0) {
                snprintf(err, errlen, "database %s: cannot use WAL mode (journal mode is %s)", path,
                         mode ? mode : "unknown");
                sqlite3_finalize(st);
                ret = -EINVAL;
                goto done;
            }
            rc = SQLITE_OK;
        }
        sqlite3_finalize(st);
    }
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "database %s: cannot set WAL mode: %s", path, why_failed(sqlite, path, why, sizeof why));
        ret = errno_of(rc);
        goto done;
    }

    for (;;) {
        rc = begin_immediate(sqlite, MT_DB_BUSY_TIMEOUT_MS);
        if (rc != SQLITE_OK) {
            snprintf(err, errlen, "database %s: cannot begin a migration: %s", path,
                     why_failed(sqlite, path, why, sizeof why));
            ret = errno_of(rc);
            goto done;
        }
        /* Read again under the write lock: another migrator may have been first. */
        rc = read_user_version(sqlite, &version);
        if (rc != SQLITE_OK) {
            snprintf(err, errlen, "database %s: cannot read its schema version: %s", path,
                     why_failed(sqlite, path, why, sizeof why));
            ret = errno_of(rc);
            goto rollback;
        }
        if (version > MT_DB_SCHEMA_VERSION) {
            sqlite3_exec(sqlite, "ROLLBACK", NULL, NULL, NULL);
            goto too_new;
        }
        if (version == MT_DB_SCHEMA_VERSION) {
            sqlite3_exec(sqlite, "ROLLBACK", NULL, NULL, NULL);
            goto done;
        }
        int next = version + 1;
        char set_version[64];
        snprintf(set_version, sizeof set_version, "PRAGMA user_version=%d", next);
        rc = sqlite3_exec(sqlite, migrations[next - 1], NULL, NULL, &errtext);
        if (rc == SQLITE_OK)
            rc = sqlite3_exec(sqlite, set_version, NULL, NULL, &errtext);
        if (rc == SQLITE_OK)
            rc = sqlite3_exec(sqlite, "COMMIT", NULL, NULL, &errtext);
        if (rc != SQLITE_OK) {
            snprintf(err, errlen, "database %s: migration to schema version %d failed: %s", path,
                     next, errtext ? errtext : why_failed(sqlite, path, why, sizeof why));
            ret = errno_of(rc);
            goto rollback;
        }
    }

too_new:
    snprintf(err, errlen,
             "database %s has schema version %d but this muleteer knows up to %d: upgrade muleteer",
             path, version, MT_DB_SCHEMA_VERSION);
    ret = -EPROTO;
    goto done;

rollback:
    if (!sqlite3_get_autocommit(sqlite))
        sqlite3_exec(sqlite, "ROLLBACK", NULL, NULL, NULL);
done:
    sqlite3_free(errtext);
    sqlite3_close(sqlite);
    return ret;
}

/* ------------------------------------------------------------------ */
/* Connections                                                         */
/* ------------------------------------------------------------------ */

/*
 * Waiting for the write lock. SQLite's own busy timeout sleeps 1, 2, 5, 10
 * ... up to 100 ms between tries, which under a burst of short write
 * transactions (every job is a few) turns a wait of microseconds into
 * milliseconds. Writers here hold the lock for tens to hundreds of
 * microseconds: the first tries come 20, 40, 80 microseconds apart. The
 * gaps double up to 1 ms, with a random quarter off each, so that many
 * waiters (32 mules on 2 cores) neither wake in step nor spend their CPU
 * waking: with gaps growing by 10 us up to 520 us, a third of such mules'
 * CPU went to sleeping and waking.
 */
static unsigned busy_gap_us(int count)
{
    static __thread uint32_t rand_state;
    if (rand_state == 0)
        rand_state = (uint32_t)(uintptr_t)&rand_state ^ (uint32_t)getpid() ^ 0x9e3779b9u;
    rand_state ^= rand_state << 13, rand_state ^= rand_state >> 17, rand_state ^= rand_state << 5; /* xorshift32 */
    unsigned gap = count < 6 ? 20u << count : 1000u;
    return gap - (gap / 4) * (rand_state % 256) / 256;
}

static int busy_wait_cb(void *arg, int count)
{
    static __thread int64_t waiting_since_us;
    int timeout_ms = (int)(intptr_t)arg;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    int64_t now_us = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
    if (count == 0)
        waiting_since_us = now_us;
    if (now_us - waiting_since_us >= (int64_t)timeout_ms * 1000)
        return 0;
    usleep(busy_gap_us(count));
    return 1;
}

static void set_busy_wait(sqlite3 *sqlite, int timeout_ms)
{
    sqlite3_busy_handler(sqlite, busy_wait_cb, (void *)(intptr_t)timeout_ms);
}

int mt_db_open(const char *path, mt_db_sync_t sync, mt_db_t **out, char *err, size_t errlen)
{
    *out = NULL;
    char why[320];
    sqlite3 *sqlite = NULL;
    int ret;
    /* NOMUTEX: a connection belongs to one thread, so SQLite's locking is pure cost. */
    int rc = sqlite3_open_v2(path, &sqlite, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "cannot open database %s: %s", path,
                 sqlite ? why_failed(sqlite, path, why, sizeof why) : sqlite3_errstr(rc));
        ret = errno_of(rc);
        goto error;
    }
    set_busy_wait(sqlite, MT_DB_BUSY_TIMEOUT_MS);
    sqlite3_extended_result_codes(sqlite, 1);

    const char *pragmas = sync == MT_DB_SYNC_FULL ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL";
    rc = sqlite3_exec(sqlite, pragmas, NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "database %s: %s: %s", path, pragmas, why_failed(sqlite, path, why, sizeof why));
        ret = errno_of(rc);
        goto error;
    }
    int version = 0;
    rc = read_user_version(sqlite, &version);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "database %s: cannot read its schema version: %s", path,
                 why_failed(sqlite, path, why, sizeof why));
        ret = errno_of(rc);
        goto error;
    }
    if (version > MT_DB_SCHEMA_VERSION) {
        snprintf(err, errlen,
                 "database %s has schema version %d but this muleteer knows up to %d: upgrade muleteer",
                 path, version, MT_DB_SCHEMA_VERSION);
        ret = -EPROTO;
        goto error;
    }
    if (version < MT_DB_SCHEMA_VERSION) {
        snprintf(err, errlen,
                 "database %s has schema version %d, this muleteer needs %d: it was not migrated", path,
                 version, MT_DB_SCHEMA_VERSION);
        ret = -EPROTO;
        goto error;
    }

    mt_db_t *db = mt_calloc(1, sizeof *db);
    db->sqlite = sqlite;
    db->busy_timeout_ms = MT_DB_BUSY_TIMEOUT_MS;
    *out = db;
    return 0;

error:
    sqlite3_close(sqlite);
    return ret;
}

void mt_db_close(mt_db_t *db)
{
    if (!db)
        return;
    for (size_t i = 0; i < db->ncached; i++) {
        sqlite3_finalize(db->cache[i].stmt);
        free(db->cache[i].sql);
    }
    free(db->cache);
    sqlite3_close(db->sqlite);
    free(db);
}

/* Run one of the cached transaction statements (BEGIN IMMEDIATE, COMMIT, ROLLBACK): SQLite's code. */
static int run_cached(mt_db_t *db, const char *sql)
{
    sqlite3_stmt *st = mt_db__stmt(db, sql);
    if (!st)
        return SQLITE_ERROR;
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

int mt_db_begin(mt_db_t *db)
{
    int64_t deadline = monotonic_ms() + db->busy_timeout_ms;
    int rc;
    /* The busy handler waits inside; this loop covers the BUSY that SQLite returns without calling it. */
    while ((rc = run_cached(db, "BEGIN IMMEDIATE")) != SQLITE_OK && (rc & 0xff) == SQLITE_BUSY &&
           monotonic_ms() < deadline)
        sqlite3_sleep(1);
    if (rc != SQLITE_OK)
        return mt_db__fail(db, rc, "begin a transaction");
    db->txn_time_us = mt_wall_us(); /* now that the write lock is ours: see mt_db_time_us() */
    return 0;
}

int mt_db_commit(mt_db_t *db)
{
    int rc = run_cached(db, "COMMIT");
    if (rc == SQLITE_OK) {
        db->txn_time_us = 0;
        return 0;
    }
    int ret = mt_db__fail(db, rc, "commit");
    mt_db_rollback(db);
    return ret;
}

void mt_db_rollback(mt_db_t *db)
{
    db->txn_time_us = 0;
    if (!sqlite3_get_autocommit(db->sqlite))
        run_cached(db, "ROLLBACK");
}

int64_t mt_db_time_us(const mt_db_t *db)
{
    return db->txn_time_us && !sqlite3_get_autocommit(db->sqlite) ? db->txn_time_us : mt_wall_us();
}

void mt_db_set_busy_timeout(mt_db_t *db, int ms)
{
    db->busy_timeout_ms = ms < 0 ? 0 : ms;
    set_busy_wait(db->sqlite, db->busy_timeout_ms);
}

const char *mt_db_errmsg(const mt_db_t *db)
{
    return db->errmsg;
}

sqlite3 *mt_db__handle(mt_db_t *db)
{
    return db->sqlite;
}

int mt_db__fail(mt_db_t *db, int rc, const char *what)
{
    /* A caller passing the generic SQLITE_ERROR (a failed prepare, say) hides the cause: a lock, a full disk. */
    int last = sqlite3_extended_errcode(db->sqlite);
    if ((rc & 0xff) == SQLITE_ERROR && last != SQLITE_OK)
        rc = last;
    /* An I/O error is often a full disk in disguise (the wal-index growing, a temporary file). */
    int sys = sqlite3_system_errno(db->sqlite);
    bool io = (rc & 0xff) == SQLITE_IOERR || (rc & 0xff) == SQLITE_FULL || (rc & 0xff) == SQLITE_CANTOPEN;
    if (io && sys == ENOSPC)
        rc = SQLITE_FULL;
    if ((rc & 0xff) == SQLITE_FULL && !sys)
        sys = ENOSPC; /* a write that hit the end of the disk leaves no errno behind */
    if (io && sys)
        snprintf(db->errmsg, sizeof db->errmsg, "%s: %s (%s)", what, sqlite3_errmsg(db->sqlite), strerror(sys));
    else
        snprintf(db->errmsg, sizeof db->errmsg, "%s: %s", what, sqlite3_errmsg(db->sqlite));
    int ret = errno_of(rc);
    return ret ? ret : -EIO;
}

/* ------------------------------------------------------------------ */
/* Statement cache                                                     */
/* ------------------------------------------------------------------ */

static uint32_t hash_sql(const char *s)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

sqlite3_stmt *mt_db__stmt(mt_db_t *db, const char *sql)
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
    sqlite3_stmt *stmt;
    int rc = sqlite3_prepare_v3(db->sqlite, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, NULL);
    if (rc != SQLITE_OK) {
        mt_db__fail(db, rc, "prepare");
        return NULL;
    }
    if (db->ncached == db->cache_cap) {
        db->cache_cap = db->cache_cap ? 2 * db->cache_cap : 16;
        db->cache = mt_realloc(db->cache, db->cache_cap * sizeof *db->cache);
    }
    db->cache[db->ncached++] = (mt_db_cached_t){
        .sql = mt_strdup(sql), .hash = h, .seen = sql, .stmt = stmt,
    };
    return stmt;
}

void mt_db__release(sqlite3_stmt *stmt)
{
    if (!stmt)
        return;
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
}

int mt_db__step(mt_db_t *db, sqlite3_stmt *stmt)
{
    int64_t deadline = monotonic_ms() + db->busy_timeout_ms;
    for (;;) {
        int rc = sqlite3_step(stmt);
        /* Inside an explicit transaction a retry could not help: the snapshot is already taken. */
        if ((rc & 0xff) != SQLITE_BUSY || !sqlite3_get_autocommit(db->sqlite))
            return rc;
        if (monotonic_ms() >= deadline)
            return rc;
        sqlite3_reset(stmt);
        usleep(100);
    }
}
