/*
 * db_pg: the PostgreSQL backend of db.h, on libpq (see db_backend.h for
 * how it shares the work with db.c).
 *
 * Statements are written with SQLite's ?N parameters; prepare turns them
 * into $N and prepares them on the server under a name of this
 * connection's ("mt12"), lazily, at their first execution on each
 * connection. Parameters and results travel as text: the store's columns
 * are integers and text, so nothing is lost, and libpq's text format needs
 * no type OIDs.
 *
 * A broken connection (the server restarted or shut down, the network
 * failed) fails the statement with -ENOTCONN. The next statement connects
 * again, once; the statements prepared on the old connection are prepared
 * again on the new one (db->generation). Connecting has a timeout
 * (MT_PG_CONNECT_TIMEOUT_S), and the socket TCP keepalives (an idle
 * connection) and a TCP user timeout (MT_PG_TCP_USER_TIMEOUT_MS: a
 * statement sent and never acknowledged), so that a dead network is noticed
 * rather than waited on for ever -- without the user timeout, a statement
 * sent into a dead network waits for TCP's retransmissions to give up,
 * about 15 minutes, keepalives being only for idle connections. A URL's own
 * settings win over all of these.
 *
 * A statement waits for its reply MT_PG_REPLY_MARGIN_MS longer than a lock
 * may keep it waiting (the busy timeout, the server's lock_timeout) and no
 * more: then the connection is given up (-ENOTCONN; the next statement
 * connects again) and the server, told the same as statement_timeout,
 * stops what it still runs of it. A path to the server that holds what
 * it is sent without failing (a proxy or a server that hangs, a dead
 * network while the kernel still acknowledges) would otherwise keep the
 * thread waiting as long as the path does: a web thread could not answer
 * 503, nor a handler stop.
 *
 * The server ends a session left idle inside a transaction for
 * MT_PG_IDLE_IN_TXN_TIMEOUT_MS (idle_in_transaction_session_timeout): a
 * handler paused or cut off in the middle of a transaction would otherwise
 * keep the rows it wrote locked, and the takeover of its jobs by the
 * others waiting on them, for as long as its connection lives. A healthy
 * muleteer sends the statements of a transaction back to back.
 *
 * Errors map to db.h's errno values by SQLSTATE: a lock timeout,
 * serialization failure or deadlock is -EBUSY (try again), a connection
 * failure or a server shutting down -ENOTCONN, a full disk -ENOSPC, a
 * constraint -EINVAL, the rest -EIO.
 */
#include "app/store/db_backend.h"

#include <ctype.h>
#include <errno.h>
#include <libpq-fe.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/mem.h"

/* Seconds libpq may take to connect (the URL's connect_timeout wins). */
#define MT_PG_CONNECT_TIMEOUT_S "5"
/* Milliseconds what a connection sent may stay unacknowledged before the connection is given up (the URL's
 * tcp_user_timeout wins): about the time the keepalives take to give up an idle one (5 s + 3 x 2 s). */
#define MT_PG_TCP_USER_TIMEOUT_MS "10000"
/* Milliseconds the server lets a session of ours sit idle inside a transaction before it ends it. */
#define MT_PG_IDLE_IN_TXN_TIMEOUT_MS 5000
/* Milliseconds a statement may wait for its reply beyond the busy timeout (the lock waits it allows). */
#define MT_PG_REPLY_MARGIN_MS 5000
/* The key of the advisory lock that migrations hold: any constant, the same in every muleteer. */
#define MT_PG_MIGRATION_LOCK 0x6d756c6574656572LL /* "muleteer" */

/* ------------------------------------------------------------------ */
/* Locations                                                           */
/* ------------------------------------------------------------------ */

bool mt_pg_is_conninfo(const char *location)
{
    /* "key=value ...": the first key must be one libpq knows, so a SQLite path with '=' in it stays one. */
    const char *p = location;
    while (isspace((unsigned char)*p))
        p++;
    const char *key = p;
    while (isalnum((unsigned char)*p) || *p == '_')
        p++;
    size_t keylen = (size_t)(p - key);
    while (isspace((unsigned char)*p))
        p++;
    if (keylen == 0 || *p != '=')
        return false;
    PQconninfoOption *opts = PQconndefaults();
    bool known = false;
    for (PQconninfoOption *o = opts; o && o->keyword; o++)
        if (strlen(o->keyword) == keylen && strncmp(o->keyword, key, keylen) == 0)
            known = true;
    PQconninfoFree(opts);
    return known;
}

const char *mt_pg_display(const char *conninfo, char *buf, size_t len)
{
    snprintf(buf, len, "%s", conninfo);
    /* URL: postgresql://user:secret@host/db -> postgresql://user:***@host/db */
    char *scheme = strstr(buf, "://");
    if (scheme) {
        char *auth = scheme + 3;
        char *at = strchr(auth, '@');
        char *slash = strchr(auth, '/');
        char *colon = strchr(auth, ':');
        if (at && (!slash || at < slash) && colon && colon < at) {
            char rest[1024];
            snprintf(rest, sizeof rest, "%s", at);
            snprintf(colon + 1, len - (size_t)(colon + 1 - buf), "***%s", rest);
        }
    }
    /* password=secret anywhere (a connection string, or a URL's ?password=) -> password=*** */
    for (char *p = strstr(buf, "password="); p; p = strstr(p + 1, "password=")) {
        char *value = p + 9, *end = value;
        while (*end && !isspace((unsigned char)*end) && *end != '&')
            end++;
        char rest[1024];
        snprintf(rest, sizeof rest, "%s", end);
        snprintf(value, len - (size_t)(value - buf), "***%s", rest);
    }
    return buf;
}

/* Connect with our defaults, which the location's own settings override (they come later). */
static PGconn *connect_to(const char *conninfo)
{
    static const char *const keys[] = {"connect_timeout", "application_name", "keepalives_idle",
                                       "keepalives_interval", "keepalives_count", "tcp_user_timeout",
                                       "dbname", NULL};
    const char *values[] = {MT_PG_CONNECT_TIMEOUT_S, "muleteer", "5", "2", "3", MT_PG_TCP_USER_TIMEOUT_MS,
                            conninfo, NULL};
    return PQconnectdbParams(keys, values, 1);
}

/* libpq's message without its trailing newline. */
static void copy_message(char *out, size_t len, const char *msg)
{
    snprintf(out, len, "%s", msg && *msg ? msg : "unknown error");
    size_t n = strlen(out);
    while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == ' '))
        out[--n] = '\0';
    for (char *p = out; *p; p++)
        if (*p == '\n')
            *p = ' ';
}

/* ------------------------------------------------------------------ */
/* Migrations                                                          */
/* ------------------------------------------------------------------ */

/* Run sql (no parameters; may be several statements); 0, or -EIO with the server's message in err. */
static int run(PGconn *conn, const char *sql, char *err, size_t errlen)
{
    PGresult *res = PQexec(conn, sql);
    ExecStatusType status = PQresultStatus(res);
    int ret = 0;
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
        copy_message(err, errlen, PQresultErrorMessage(res));
        ret = PQstatus(conn) == CONNECTION_OK ? -EIO : -ENOTCONN;
    }
    PQclear(res);
    return ret;
}

/* The schema version recorded in the database, 0 if none; or a negative value. */
static int read_version(PGconn *conn, int *version, char *err, size_t errlen)
{
    *version = 0;
    PGresult *res = PQexec(conn, "SELECT version FROM schema_version");
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        /* 42P01: undefined_table, a database muleteer never migrated. */
        const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        int ret = state && strcmp(state, "42P01") == 0 ? 0 : -EIO;
        if (ret)
            copy_message(err, errlen, PQresultErrorMessage(res));
        PQclear(res);
        return ret;
    }
    if (PQntuples(res) > 0)
        *version = atoi(PQgetvalue(res, 0, 0));
    PQclear(res);
    return 0;
}

int mt_pg_migrate(const char *conninfo, char *err, size_t errlen)
{
    char shown[512], why[512];
    mt_pg_display(conninfo, shown, sizeof shown);
    PGconn *conn = connect_to(conninfo);
    if (PQstatus(conn) != CONNECTION_OK) {
        copy_message(why, sizeof why, PQerrorMessage(conn));
        snprintf(err, errlen, "cannot connect to database %s: %s", shown, why);
        PQfinish(conn);
        return -ENOTCONN;
    }
    int ret = 0;
    for (;;) {
        char lock[96];
        snprintf(lock, sizeof lock, "BEGIN; SELECT pg_advisory_xact_lock(%lld)", MT_PG_MIGRATION_LOCK);
        int version = 0;
        ret = run(conn, lock, why, sizeof why);
        if (ret == 0)
            ret = run(conn, "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)", why, sizeof why);
        if (ret == 0)
            ret = read_version(conn, &version, why, sizeof why);
        if (ret < 0) {
            snprintf(err, errlen, "database %s: cannot read its schema version: %s", shown, why);
            break;
        }
        if (version > MT_DB_SCHEMA_VERSION) {
            snprintf(err, errlen, "database %s has schema version %d but this muleteer knows up to %d: upgrade muleteer",
                     shown, version, MT_DB_SCHEMA_VERSION);
            ret = -EPROTO;
            break;
        }
        if (version == MT_DB_SCHEMA_VERSION) {
            run(conn, "COMMIT", why, sizeof why);
            break;
        }
        int next = version < MT_PG_SCHEMA_BASE ? MT_PG_SCHEMA_BASE : version + 1;
        char set_version[96];
        snprintf(set_version, sizeof set_version, "DELETE FROM schema_version; INSERT INTO schema_version VALUES (%d)",
                 next);
        ret = run(conn, mt_schema_pg[next - 1], why, sizeof why);
        if (ret == 0)
            ret = run(conn, set_version, why, sizeof why);
        if (ret == 0)
            ret = run(conn, "COMMIT", why, sizeof why);
        if (ret < 0) {
            snprintf(err, errlen, "database %s: migration to schema version %d failed: %s", shown, next, why);
            break;
        }
    }
    if (ret < 0)
        run(conn, "ROLLBACK", why, sizeof why);
    PQfinish(conn);
    return ret;
}

/* ------------------------------------------------------------------ */
/* Connections                                                         */
/* ------------------------------------------------------------------ */

/* The errno value for a failed result (see the top of this file). */
static int errno_of(PGconn *conn, const PGresult *res)
{
    if (PQstatus(conn) != CONNECTION_OK)
        return -ENOTCONN;
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    if (!state)
        return -EIO;
    if (strncmp(state, "08", 2) == 0 || strncmp(state, "57P", 3) == 0) /* connection; admin/crash shutdown */
        return -ENOTCONN;
    if (strcmp(state, "55P03") == 0 || strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0 ||
        strcmp(state, "57014") == 0) /* lock_not_available, serialization, deadlock, timeout */
        return -EBUSY;
    if (strcmp(state, "53100") == 0)
        return -ENOSPC;
    if (strncmp(state, "23", 2) == 0)
        return -EINVAL;
    return -EIO;
}

static int failed(mt_db_t *db, PGresult *res)
{
    copy_message(db->cause, sizeof db->cause, res ? PQresultErrorMessage(res) : PQerrorMessage(db->pg));
    if (!res || !*PQresultErrorMessage(res))
        copy_message(db->cause, sizeof db->cause, PQerrorMessage(db->pg));
    return errno_of(db->pg, res);
}

static int reply_timeout_ms(const mt_db_t *db)
{
    return db->busy_timeout_ms + MT_PG_REPLY_MARGIN_MS;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Read until a whole result is in, or until deadline (false). A broken connection is true: PQgetResult says so. */
static bool await_result(PGconn *conn, int64_t deadline)
{
    while (PQisBusy(conn)) {
        int64_t left = deadline - now_ms();
        if (left <= 0)
            return false;
        struct pollfd p = {.fd = PQsocket(conn), .events = POLLIN};
        int rc = poll(&p, 1, (int)left);
        if (rc < 0 && errno != EINTR)
            return true;
        if (rc > 0 && !PQconsumeInput(conn))
            return true;
    }
    return true;
}

/*
 * The reply to what was just sent, as PQexec gives it (the first error, or
 * the last result); NULL when the send failed or no reply came in time --
 * then the connection is closed and db->cause says why.
 */
static PGresult *reply(mt_db_t *db, int sent)
{
    if (!sent) {
        copy_message(db->cause, sizeof db->cause, PQerrorMessage(db->pg));
        return NULL;
    }
    int64_t deadline = now_ms() + reply_timeout_ms(db);
    PGresult *kept = NULL;
    for (;;) {
        if (!await_result(db->pg, deadline)) {
            PQclear(kept);
            snprintf(db->cause, sizeof db->cause,
                     "no reply from the database server within %.1f s: the connection is given up",
                     reply_timeout_ms(db) / 1000.0);
            PQfinish(db->pg);
            db->pg = NULL;
            return NULL;
        }
        PGresult *res = PQgetResult(db->pg);
        if (!res)
            return kept;
        if (kept && PQresultStatus(kept) == PGRES_FATAL_ERROR) {
            PQclear(res);
            continue;
        }
        PQclear(kept);
        kept = res;
    }
}

/* The errno value of a NULL reply (see reply()). */
static int no_reply(mt_db_t *db)
{
    if (db->pg && PQstatus(db->pg) == CONNECTION_OK)
        return -EIO;
    return -ENOTCONN;
}

/* Settings of a new connection. */
static int set_up(mt_db_t *db)
{
    char sql[192];
    snprintf(sql, sizeof sql,
             "SET lock_timeout = %d; SET idle_in_transaction_session_timeout = %d; SET statement_timeout = %d",
             db->busy_timeout_ms, MT_PG_IDLE_IN_TXN_TIMEOUT_MS, reply_timeout_ms(db));
    PGresult *res = reply(db, PQsendQuery(db->pg, sql));
    if (!res)
        return no_reply(db);
    int ret = PQresultStatus(res) == PGRES_COMMAND_OK ? 0 : failed(db, res);
    PQclear(res);
    return ret;
}

int mt_pg_open(mt_db_t *db, const char *conninfo, char *err, size_t errlen)
{
    char shown[512], why[512];
    mt_pg_display(conninfo, shown, sizeof shown);
    db->pg = connect_to(conninfo);
    if (PQstatus(db->pg) != CONNECTION_OK) {
        copy_message(why, sizeof why, PQerrorMessage(db->pg));
        snprintf(err, errlen, "cannot connect to database %s: %s", shown, why);
        PQfinish(db->pg);
        db->pg = NULL;
        return -ENOTCONN;
    }
    int version = 0;
    int ret = read_version(db->pg, &version, why, sizeof why);
    if (ret < 0)
        snprintf(err, errlen, "database %s: cannot read its schema version: %s", shown, why);
    else if (version > MT_DB_SCHEMA_VERSION)
        snprintf(err, errlen, "database %s has schema version %d but this muleteer knows up to %d: upgrade muleteer",
                 shown, version, MT_DB_SCHEMA_VERSION);
    else if (version < MT_DB_SCHEMA_VERSION)
        snprintf(err, errlen, "database %s has schema version %d, this muleteer needs %d: it was not migrated", shown,
                 version, MT_DB_SCHEMA_VERSION);
    if (ret == 0 && version != MT_DB_SCHEMA_VERSION)
        ret = -EPROTO;
    if (ret == 0 && set_up(db) < 0) {
        snprintf(err, errlen, "database %s: %s", shown, db->cause);
        ret = -EIO;
    }
    if (ret < 0) {
        PQfinish(db->pg);
        db->pg = NULL;
        return ret;
    }
    db->conninfo = mt_strdup(conninfo);
    db->generation = 1;
    return 0;
}

void mt_pg_close(mt_db_t *db)
{
    PQfinish(db->pg);
    db->pg = NULL;
    free(db->conninfo);
    db->conninfo = NULL;
}

/* A connection fit for a statement: the current one, or a new one if it broke. 0 or -ENOTCONN. */
static int ensure_connected(mt_db_t *db)
{
    if (db->pg && PQstatus(db->pg) == CONNECTION_OK)
        return 0;
    PQfinish(db->pg);
    db->pg = connect_to(db->conninfo);
    db->generation++; /* what was prepared on the old connection is gone */
    db->in_txn = false;
    if (PQstatus(db->pg) != CONNECTION_OK) {
        copy_message(db->cause, sizeof db->cause, PQerrorMessage(db->pg));
        return -ENOTCONN;
    }
    return set_up(db);
}

int mt_pg_exec(mt_db_t *db, const char *sql)
{
    int rc = ensure_connected(db);
    if (rc < 0)
        return rc;
    PGresult *res = reply(db, PQsendQuery(db->pg, sql));
    if (!res)
        return no_reply(db);
    int ret = 0;
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        ret = failed(db, res);
    else if (strcmp(sql, "COMMIT") == 0 && strcmp(PQcmdStatus(res), "ROLLBACK") == 0) {
        /* COMMIT of a transaction that had failed: the server rolled it back. */
        snprintf(db->cause, sizeof db->cause, "the transaction had failed and was rolled back");
        ret = -EIO;
    }
    PQclear(res);
    return ret;
}

void mt_pg_set_busy_timeout(mt_db_t *db, int ms)
{
    if (db->pg && PQstatus(db->pg) == CONNECTION_OK)
        set_up(db);
    (void)ms; /* set_up() reads db->busy_timeout_ms, which the front has set */
}

/* ------------------------------------------------------------------ */
/* Statements                                                          */
/* ------------------------------------------------------------------ */

/*
 * SQLite's parameters to PostgreSQL's: ?N -> $N, and a bare ? -> one more
 * than the largest number so far (SQLite's rule). Quoted text and
 * identifiers are copied as they are. Returns the new text and the number
 * of parameters in *nparams.
 */
static char *translate(const char *sql, int *nparams)
{
    size_t len = strlen(sql);
    char *out = mt_malloc(2 * len + 1); /* "?" -> "$NNN": at most 4 bytes for 1 up to 999 params */
    char *o = out;
    int max = 0;
    char quote = 0;
    for (const char *p = sql; *p; p++) {
        if (quote) {
            if (*p == quote)
                quote = 0;
            *o++ = *p;
            continue;
        }
        if (*p == '\'' || *p == '"') {
            quote = *p;
            *o++ = *p;
            continue;
        }
        if (*p != '?') {
            *o++ = *p;
            continue;
        }
        int n;
        if (isdigit((unsigned char)p[1])) {
            n = (int)strtol(p + 1, (char **)&p, 10);
            p--; /* the loop's p++ moves past the number */
        } else {
            n = max + 1;
        }
        if (n > max)
            max = n;
        o += sprintf(o, "$%d", n);
    }
    *o = '\0';
    *nparams = max;
    return out;
}

int mt_pg_prepare(mt_db_t *db, mt_db_stmt_t *st, const char *sql)
{
    st->pg_sql = translate(sql, &st->nparams);
    st->values = mt_calloc(st->nparams ? (size_t)st->nparams : 1, sizeof *st->values);
    snprintf(st->name, sizeof st->name, "mt%u", ++db->next_name);
    return 0; /* on the server at its first execution: see mt_pg_step() */
}

void mt_pg_finalize(mt_db_stmt_t *st)
{
    PQclear(st->res);
    for (int i = 0; i < st->nparams; i++)
        free(st->values[i]);
    free(st->values);
    free(st->pg_sql);
}

void mt_pg_bind(mt_db_stmt_t *st, int i, const char *text)
{
    if (i < 1 || i > st->nparams)
        return;
    free(st->values[i - 1]);
    st->values[i - 1] = text ? mt_strdup(text) : NULL;
}

int mt_pg_step(mt_db_t *db, mt_db_stmt_t *st)
{
    if (!st->res) {
        int rc = ensure_connected(db);
        if (rc < 0)
            return rc;
        if (st->prepared_in != db->generation) {
            PGresult *res = reply(db, PQsendPrepare(db->pg, st->name, st->pg_sql, st->nparams, NULL));
            if (!res)
                return no_reply(db);
            if (PQresultStatus(res) != PGRES_COMMAND_OK) {
                rc = failed(db, res);
                PQclear(res);
                return rc;
            }
            PQclear(res);
            st->prepared_in = db->generation;
        }
        st->res = reply(db, PQsendQueryPrepared(db->pg, st->name, st->nparams, (const char *const *)st->values, NULL,
                                                NULL, 0));
        if (!st->res)
            return no_reply(db);
        ExecStatusType status = PQresultStatus(st->res);
        if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) {
            rc = failed(db, st->res);
            PQclear(st->res);
            st->res = NULL;
            return rc;
        }
        st->nrows = status == PGRES_TUPLES_OK ? PQntuples(st->res) : 0;
        st->row = -1;
    }
    if (st->row + 1 < st->nrows) {
        st->row++;
        return MT_DB_ROW;
    }
    st->row = st->nrows;
    const char *tuples = PQcmdTuples(st->res);
    db->changes = tuples && *tuples ? atoll(tuples) : 0;
    return MT_DB_DONE;
}

void mt_pg_reset(mt_db_stmt_t *st)
{
    PQclear(st->res);
    st->res = NULL;
    st->nrows = 0;
    for (int i = 0; i < st->nparams; i++) {
        free(st->values[i]);
        st->values[i] = NULL;
    }
}

int64_t mt_pg_col_int64(mt_db_stmt_t *st, int col)
{
    if (!st->res || st->row < 0 || st->row >= st->nrows || PQgetisnull(st->res, st->row, col))
        return 0;
    return atoll(PQgetvalue(st->res, st->row, col));
}

const char *mt_pg_col_text(mt_db_stmt_t *st, int col)
{
    if (!st->res || st->row < 0 || st->row >= st->nrows || PQgetisnull(st->res, st->row, col))
        return NULL;
    return PQgetvalue(st->res, st->row, col);
}

bool mt_pg_col_null(mt_db_stmt_t *st, int col)
{
    return !st->res || st->row < 0 || st->row >= st->nrows || PQgetisnull(st->res, st->row, col);
}
