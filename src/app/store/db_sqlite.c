/*
 * db_sqlite: the SQLite backend of db.h (see db_backend.h for how it
 * shares the work with db.c).
 *
 * A connection is opened without SQLite's mutexes (it belongs to one
 * thread), in WAL mode, with a busy handler of our own (busy_wait_cb) that
 * retries far sooner than SQLite's. Statements are prepared persistent and
 * cached by db.c. A failure's message says why when SQLite's own does not
 * (a full disk behind "unable to open database file").
 */
#include "app/store/db_backend.h"

#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "app/store/store_metrics.h"
#include "common/clock.h"

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

/*
 * Before SQLite's first use in the process: no memory statistics. They are
 * kept under a global mutex that every sqlite3_malloc() and sqlite3_free()
 * takes (the connections' own mutexes are off, see mt_sqlite_open), which
 * was 3% of a web worker's CPU answering GET /api/jobs/{id}, and nothing
 * here reads them. sqlite3_config() may only run before SQLite initializes:
 * every entry point of this file calls this first.
 */
static void configure_once_cb(void)
{
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

static void configure_once(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, configure_once_cb);
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

int mt_sqlite_migrate(const char *path, char *err, size_t errlen)
{
    configure_once();
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
        rc = sqlite3_exec(sqlite, mt_schema_sqlite[next - 1], NULL, NULL, &errtext);
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
    mt_store_metrics_busy_wait();
    usleep(busy_gap_us(count));
    return 1;
}

static void set_busy_wait(sqlite3 *sqlite, int timeout_ms)
{
    sqlite3_busy_handler(sqlite, busy_wait_cb, (void *)(intptr_t)timeout_ms);
}

/*
 * A failure on db's connection: keep SQLite's message, with the reason an
 * I/O error hides (a full disk), in db->cause. Returns the negative errno
 * value matching rc (-EBUSY, -ENOSPC, -EROFS, -EIO, ...).
 */
static int failed(mt_db_t *db, int rc)
{
    /* A generic SQLITE_ERROR (a failed prepare, say) hides the cause: a lock, a full disk. */
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
        snprintf(db->cause, sizeof db->cause, "%s (%s)", sqlite3_errmsg(db->sqlite), strerror(sys));
    else
        snprintf(db->cause, sizeof db->cause, "%s", sqlite3_errmsg(db->sqlite));
    int ret = errno_of(rc);
    return ret ? ret : -EIO;
}

int mt_sqlite_open(mt_db_t *db, const char *path, char *err, size_t errlen)
{
    configure_once();
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
    set_busy_wait(sqlite, db->busy_timeout_ms);
    sqlite3_extended_result_codes(sqlite, 1);

    /* journal_size_limit: see MT_DB_WAL_LIMIT_BYTES (db.h). */
    char pragmas[128];
    snprintf(pragmas, sizeof pragmas, "PRAGMA synchronous=%s; PRAGMA journal_size_limit=%d",
             db->sync == MT_DB_SYNC_FULL ? "FULL" : "NORMAL", MT_DB_WAL_LIMIT_BYTES);
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
    db->sqlite = sqlite;
    return 0;

error:
    sqlite3_close(sqlite);
    return ret ? ret : -EIO;
}

int mt_sqlite_checkpoint(const char *path, int timeout_ms, char *err, size_t errlen)
{
    configure_once();
    char why[320];
    sqlite3 *sqlite = NULL;
    int ret = 0;
    /* No SQLITE_OPEN_CREATE: a stack that never made its database has nothing to clean. */
    int rc = sqlite3_open_v2(path, &sqlite, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
    if ((rc & 0xff) == SQLITE_CANTOPEN && access(path, F_OK) < 0)
        goto done;
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "cannot open database %s: %s", path,
                 sqlite ? why_failed(sqlite, path, why, sizeof why) : sqlite3_errstr(rc));
        ret = errno_of(rc);
        goto done;
    }
    set_busy_wait(sqlite, timeout_ms);
    /* A read first: a connection learns that the file is in WAL mode (and opens the WAL) on its first read;
     * before it, a checkpoint has nothing to do, and the close leaves the WAL where it is. */
    int version = 0, wal_frames = 0, copied = 0;
    rc = read_user_version(sqlite, &version);
    if (rc == SQLITE_OK)
        rc = sqlite3_wal_checkpoint_v2(sqlite, NULL, SQLITE_CHECKPOINT_TRUNCATE, &wal_frames, &copied);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "database %s: the WAL could not be checkpointed: %s", path,
                 why_failed(sqlite, path, why, sizeof why));
        ret = errno_of(rc);
    }
done:
    /* The last connection to close removes the WAL (and its index) once it is checkpointed. */
    if (sqlite3_close(sqlite) != SQLITE_OK && ret == 0) {
        snprintf(err, errlen, "database %s: close failed: %s", path, sqlite3_errmsg(sqlite));
        ret = -EIO;
    }
    return ret;
}

void mt_sqlite_close(mt_db_t *db)
{
    sqlite3_close(db->sqlite);
    db->sqlite = NULL;
}

int mt_sqlite_prepare(mt_db_t *db, mt_db_stmt_t *st, const char *sql)
{
    int rc = sqlite3_prepare_v3(db->sqlite, sql, -1, SQLITE_PREPARE_PERSISTENT, &st->sqlite, NULL);
    return rc == SQLITE_OK ? 0 : failed(db, rc);
}

void mt_sqlite_finalize(mt_db_stmt_t *st)
{
    sqlite3_finalize(st->sqlite);
    st->sqlite = NULL;
}

int mt_sqlite_step(mt_db_t *db, mt_db_stmt_t *st)
{
    int rc;
    if (st->row >= 0) {
        rc = sqlite3_step(st->sqlite);
    } else {
        /* First step. Under WAL, SQLite can return SQLITE_BUSY without waiting out the busy timeout
         * (a reader meeting WAL recovery, a write lock that changed hands between snapshot and
         * upgrade): reset and step again until the busy timeout has elapsed. Inside an explicit
         * transaction a retry could not help: the snapshot is already taken. */
        int64_t deadline = monotonic_ms() + db->busy_timeout_ms;
        for (;;) {
            rc = sqlite3_step(st->sqlite);
            if ((rc & 0xff) != SQLITE_BUSY || !sqlite3_get_autocommit(db->sqlite) || monotonic_ms() >= deadline)
                break;
            sqlite3_reset(st->sqlite);
            mt_store_metrics_busy_wait();
            usleep(100);
        }
    }
    if (rc == SQLITE_ROW) {
        st->row++;
        return MT_DB_ROW;
    }
    if (rc == SQLITE_DONE) {
        db->changes = sqlite3_changes(db->sqlite);
        return MT_DB_DONE;
    }
    return failed(db, rc);
}

void mt_sqlite_reset(mt_db_stmt_t *st)
{
    sqlite3_reset(st->sqlite);
    sqlite3_clear_bindings(st->sqlite);
}

int mt_sqlite_exec(mt_db_t *db, const char *sql)
{
    mt_db_stmt_t *st = mt_db__stmt(db, sql);
    if (!st)
        return -EIO;
    int64_t deadline = monotonic_ms() + db->busy_timeout_ms;
    int rc;
    /* The busy handler waits inside; this loop covers the BUSY that SQLite returns without calling it
     * (BEGIN IMMEDIATE meeting a lock that changed hands). */
    while ((rc = sqlite3_step(st->sqlite)) == SQLITE_BUSY && strncmp(sql, "BEGIN", 5) == 0 &&
           monotonic_ms() < deadline) {
        sqlite3_reset(st->sqlite);
        mt_store_metrics_busy_wait();
        sqlite3_sleep(1);
    }
    sqlite3_reset(st->sqlite);
    return rc == SQLITE_DONE ? 0 : failed(db, rc);
}

bool mt_sqlite_in_txn(const mt_db_t *db)
{
    return !sqlite3_get_autocommit(db->sqlite);
}

void mt_sqlite_set_busy_timeout(mt_db_t *db, int ms)
{
    set_busy_wait(db->sqlite, ms);
}

/* ---- binding and columns: called by db.c for a statement of this backend ---- */

void mt_sqlite_bind_int64(mt_db_stmt_t *st, int i, int64_t v)
{
    sqlite3_bind_int64(st->sqlite, i, v);
}

void mt_sqlite_bind_text(mt_db_stmt_t *st, int i, const char *s)
{
    /* The caller's strings outlive the statement's use (db.h): SQLITE_STATIC spares a copy. */
    sqlite3_bind_text(st->sqlite, i, s, -1, SQLITE_STATIC);
}

void mt_sqlite_bind_null(mt_db_stmt_t *st, int i)
{
    sqlite3_bind_null(st->sqlite, i);
}

int64_t mt_sqlite_col_int64(mt_db_stmt_t *st, int col)
{
    return sqlite3_column_int64(st->sqlite, col);
}

const char *mt_sqlite_col_text(mt_db_stmt_t *st, int col)
{
    return (const char *)sqlite3_column_text(st->sqlite, col);
}

bool mt_sqlite_col_null(mt_db_stmt_t *st, int col)
{
    return sqlite3_column_type(st->sqlite, col) == SQLITE_NULL;
}
