/*
 * job_store: the job queries (see job_store.h).
 *
 * Each function fetches its statement from the connection's cache, binds,
 * steps and releases it; nothing is prepared twice on a connection. Writes
 * are single autocommit statements: the state history comes from triggers
 * (db.c), and claim-next finds and takes a job in one UPDATE, which SQLite's
 * single writer makes the equivalent of SELECT ... FOR UPDATE SKIP LOCKED.
 */
#include "app/store/job_store.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app/store/store_metrics.h"
#include "common/mem.h"

/* Column list read by read_job(), in its order. */
#define JOB_COLUMNS                                                                                 \
    "id, tool_id, tool_version, params, state, handler, queue, create_time, update_time, "   \
    "claim_time, start_time, end_time, exit_code, runner, external_id, working_dir, info, invocation_id, \"user\", destination, attempt"

#define TERMINAL_STATES "('ok','error','deleted')"
#define TERMINAL_STATE_BITS (MT_JOB_BIT(MT_JOB_OK) | MT_JOB_BIT(MT_JOB_ERROR) | MT_JOB_BIT(MT_JOB_DELETED))

/*
 * Unassigned jobs. On SQLite, index choices are spelled out, so the
 * planner cannot wander into a primary-key scan over every finished job:
 * at a queue, the partial index (queue, rowid) gives the oldest in one
 * seek; across queues, the state index walks 'new' jobs in id order and
 * stops at the first (or limit-th) unassigned one. PostgreSQL has the same
 * indexes (with id in them) and no hints.
 */
#define UNASSIGNED_AT "job INDEXED BY job_unassigned WHERE handler IS NULL AND state = 'new'"
#define UNASSIGNED_ANY "job INDEXED BY job_state WHERE state = 'new' AND handler IS NULL"
#define PG_UNASSIGNED_AT "job WHERE handler IS NULL AND state = 'new'"
#define PG_UNASSIGNED_ANY "job WHERE state = 'new' AND handler IS NULL"

/*
 * The state history. On SQLite (schema 11) each statement that changes a job's state or handler appends
 * the event [state, time, handler, info] to the job's history column itself, in the row it writes (a
 * trigger would find the row and write it a second time), and the trigger job_history_guard refuses a
 * change that forgets it. Within an UPDATE the columns read are the row's old values. Info is recorded
 * when the statement changes it, as the old triggers (still PostgreSQL's) do. H_SET(x) is
 * ", history = x" on SQLite and nothing on PostgreSQL.
 */
#define H_EVENT(S, T, H, I) "json_array(" S ", " T ", " H ", " I ")"
#define H_APPEND(S, T, H, I) "COALESCE(history || ',', '') || " H_EVENT(S, T, H, I)
#define H_SET(x) ", history = " x
#define NO_H(x) ""

#define INSERT_JOB(HCOL, HVAL)                                                                               \
    "INSERT INTO job (tool_id, tool_version, params, state, handler, queue, create_time, "                  \
    "update_time, invocation_id, \"user\", destination, info" HCOL ") VALUES (?1, ?2, COALESCE(?3, '{}'), " \
    "'new', ?4, ?5, ?6, ?6, ?7, ?8, ?9, ?10" HVAL ") RETURNING " JOB_COLUMNS
static const char sql_insert[] = INSERT_JOB(", history", ", " H_EVENT("'new'", "?6", "?4", "?10"));
static const char pg_insert[] = INSERT_JOB("", "");

static const char sql_get[] = "SELECT " JOB_COLUMNS " FROM job WHERE id = ?1";

/*
 * A fenced handler (?E > 0) takes a job only while it holds its name ?H at
 * that epoch: one that resumes after its name was taken over (it was
 * paused, or cut off) takes none before its next renewal tells it so. On
 * PostgreSQL the handler's row is read FOR SHARE: a takeover marking the
 * name lost meanwhile either waits for the claim to commit (and then puts
 * the job back in its pool with the rest) or committed first (and the
 * claim finds the name lost).
 */
#define HOLDS_NAME(H, E, LOCK)                                                                        \
    "AND (CAST(?" #E " AS INTEGER) = 0 OR EXISTS (SELECT 1 FROM handler WHERE name = ?" #H           \
    " AND epoch = CAST(?" #E " AS INTEGER) AND state = 'running'" LOCK ")) "

/* Claimed (unassigned) or accepted (already this handler's): either way queued here, in one statement. */
#define TAKE(LOCK, HIST)                                                                              \
    "UPDATE job SET handler = ?1, state = 'queued', epoch = ?4, "                                     \
    "claim_time = CASE WHEN handler IS NULL THEN ?2 ELSE claim_time END, update_time = ?2 "          \
    HIST(H_APPEND("'queued'", "?2", "?1", "NULL")) " "                                               \
    "WHERE id = ?3 AND state = 'new' AND (handler IS NULL OR handler = ?1) " HOLDS_NAME(1, 4, LOCK) \
    "RETURNING " JOB_COLUMNS
static const char sql_take[] = TAKE("", H_SET);
static const char pg_take[] = TAKE(" FOR SHARE", NO_H);

/*
 * Claim the oldest waiting job. SQLite's single writer makes the
 * sub-select and the UPDATE one atomic step. On PostgreSQL, FOR UPDATE
 * SKIP LOCKED: a job another handler is claiming right now is passed over,
 * not waited for, so concurrent claimers each get a different job.
 */
static const char sql_claim_next_at[] =
    "UPDATE job SET handler = ?1, state = 'queued', epoch = ?4, claim_time = ?2, update_time = ?2 "
    H_SET(H_APPEND("'queued'", "?2", "?1", "NULL")) " "
    "WHERE id = (SELECT id FROM " UNASSIGNED_AT " AND queue = ?3 ORDER BY id LIMIT 1) "
    "AND handler IS NULL AND state = 'new' " HOLDS_NAME(1, 4, "") "RETURNING id";
static const char pg_claim_next_at[] =
    "UPDATE job SET handler = ?1, state = 'queued', epoch = ?4, claim_time = ?2, update_time = ?2 "
    "WHERE id = (SELECT id FROM " PG_UNASSIGNED_AT " AND queue = ?3 ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED) "
    HOLDS_NAME(1, 4, " FOR SHARE") "RETURNING id";

static const char sql_claim_next_any[] =
    "UPDATE job SET handler = ?1, state = 'queued', epoch = ?3, claim_time = ?2, update_time = ?2 "
    H_SET(H_APPEND("'queued'", "?2", "?1", "NULL")) " "
    "WHERE id = (SELECT id FROM " UNASSIGNED_ANY " ORDER BY id LIMIT 1) "
    "AND handler IS NULL AND state = 'new' " HOLDS_NAME(1, 3, "") "RETURNING id";
static const char pg_claim_next_any[] =
    "UPDATE job SET handler = ?1, state = 'queued', epoch = ?3, claim_time = ?2, update_time = ?2 "
    "WHERE id = (SELECT id FROM " PG_UNASSIGNED_ANY " ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED) "
    HOLDS_NAME(1, 3, " FOR SHARE") "RETURNING id";

/*
 * Fencing (db.h, mt_db_set_fence): with a fence set, a handler's write
 * changes a job only if the job is held by that handler at that epoch.
 * ?E is the epoch (0: no fence), ?H the handler.
 */
#define FENCED(E, H) "AND (CAST(?" #E " AS INTEGER) = 0 OR (handler = ?" #H " AND epoch = CAST(?" #E " AS INTEGER)))"

/* Bind the connection's fence (or none) as parameters e and h. */
static void bind_fence(mt_db_t *db, mt_db_stmt_t *st, int e, int h, bool fenced)
{
    const char *handler = fenced ? mt_db_fence_handler(db) : NULL;
    mt_db__bind_int64(st, e, handler ? mt_db_fence_epoch(db) : 0);
    mt_db__bind_text(st, h, handler);
}

/*
 * The allowed-from mask is tested in SQL, so one statement serves every
 * transition. The CASE maps a state name to its mt_job_state_t value.
 */
_Static_assert(MT_JOB_NEW == 0 && MT_JOB_QUEUED == 1 && MT_JOB_RUNNING == 2 && MT_JOB_OK == 3 &&
                   MT_JOB_ERROR == 4 && MT_JOB_DELETING == 5 && MT_JOB_DELETED == 6,
               "sql_transition's CASE follows mt_job_state_t");
#define TRANSITION(HIST)                                                                                    \
    "UPDATE job SET state = ?1, update_time = ?2, "                                                        \
    /* start_time: on entering a state only */                                                           \
    "start_time = CASE WHEN state = ?1 THEN start_time ELSE COALESCE(?3, start_time) END, "                \
    "end_time = COALESCE(?4, end_time), "                                                                  \
    "exit_code = COALESCE(?5, exit_code), runner = COALESCE(?6, runner), "                                 \
    "external_id = COALESCE(?7, external_id), working_dir = COALESCE(?8, working_dir), "                   \
    "info = COALESCE(?9, info) "                                                                           \
    HIST("CASE WHEN ?1 IS NOT state THEN " H_APPEND("?1", "?2", "handler", "CASE WHEN ?9 IS NOT info THEN ?9 END") \
         " ELSE history END") " "                                                                            \
    "WHERE id = ?10 AND state NOT IN " TERMINAL_STATES " "                                                  \
    "AND (CAST(?11 AS INTEGER) >> CASE state WHEN 'new' THEN 0 WHEN 'queued' THEN 1 WHEN 'running' THEN 2 " \
    "WHEN 'ok' THEN 3 WHEN 'error' THEN 4 WHEN 'deleting' THEN 5 WHEN 'deleted' THEN 6 "                   \
    "ELSE 31 END) & 1 = 1 " FENCED(12, 13) " RETURNING create_time, start_time"
static const char sql_transition[] = TRANSITION(H_SET);
static const char pg_transition[] = TRANSITION(NO_H);

/* How many jobs are in one state (the job_state index: a count of live states costs what they hold). */
static const char sql_count_state[] = "SELECT COUNT(*) FROM job WHERE state = ?1";

/* A new attempt: back to queued at the same handler, with what the lost run left cleared. */
#define RETRY(HIST)                                                                                          \
    "UPDATE job SET state = 'queued', update_time = ?1, attempt = attempt + 1, start_time = NULL, "          \
    "end_time = NULL, exit_code = NULL, external_id = NULL, info = ?2 "                                      \
    HIST("CASE WHEN state IS NOT 'queued' THEN "                                                             \
         H_APPEND("'queued'", "?1", "handler", "CASE WHEN ?2 IS NOT info THEN ?2 END") " ELSE history END") " " \
    "WHERE id = ?3 AND state NOT IN " TERMINAL_STATES " "                                                   \
    "AND (CAST(?4 AS INTEGER) >> CASE state WHEN 'new' THEN 0 WHEN 'queued' THEN 1 WHEN 'running' THEN 2 "  \
    "WHEN 'deleting' THEN 5 ELSE 31 END) & 1 = 1 " FENCED(5, 6) " RETURNING attempt"
static const char sql_retry[] = RETRY(H_SET);
static const char pg_retry[] = RETRY(NO_H);

/* A handler's jobs, taken up again under its new epoch (it took its name again, after a restart). */
static const char sql_adopt[] =
    "UPDATE job SET epoch = ?2 WHERE handler = ?1 AND state IN ('new','queued','running','deleting')";

/*
 * The waiting jobs of a lost handler, back in their pool (or the given one) for live handlers to take --
 * but not a queued cluster job (its runner is set: it was given to the cluster, or is being given): that
 * one is handed over (sql_hand_over), never submitted twice.
 */
#define RELEASE_WAITING(HIST)                                                                                 \
    "UPDATE job SET handler = NULL, state = 'new', queue = COALESCE(queue, ?2), epoch = 0, claim_time = NULL, " \
    "update_time = ?3, info = ?4 " HIST(H_APPEND("'new'", "?3", "NULL", "CASE WHEN ?4 IS NOT info THEN ?4 END")) \
    " WHERE handler = ?1 AND (state = 'new' OR (state = 'queued' AND (runner IS NULL OR runner = 'local')))"
static const char sql_release_waiting[] = RELEASE_WAITING(H_SET);
static const char pg_release_waiting[] = RELEASE_WAITING(NO_H);

/* A job of a lost handler that lives on without it (a cluster job): now another handler's, under its epoch. */
#define HAND_OVER(HIST)                                                                                      \
    "UPDATE job SET handler = ?3, epoch = ?4, update_time = ?5, info = ?6 "                                  \
    HIST("CASE WHEN ?3 IS NOT handler THEN "                                                                 \
         H_APPEND("state", "?5", "?3", "CASE WHEN ?6 IS NOT info THEN ?6 END") " ELSE history END") " "      \
    "WHERE id = ?1 AND handler = ?2 AND state IN ('queued','running','deleting')"
static const char sql_hand_over[] = HAND_OVER(H_SET);
static const char pg_hand_over[] = HAND_OVER(NO_H);

/* A failed run sent elsewhere (a destination's resubmit rule): queued again as the next attempt. */
#define RESUBMIT(HIST)                                                                                       \
    "UPDATE job SET state = 'queued', update_time = ?1, attempt = attempt + 1, start_time = NULL, "          \
    "end_time = NULL, exit_code = NULL, external_id = NULL, runner = NULL, destination = ?2, info = ?3 "    \
    HIST("CASE WHEN state IS NOT 'queued' THEN "                                                             \
         H_APPEND("'queued'", "?1", "handler", "CASE WHEN ?3 IS NOT info THEN ?3 END") " ELSE history END") " " \
    "WHERE id = ?4 AND state NOT IN " TERMINAL_STATES " "                                                   \
    "AND (CAST(?5 AS INTEGER) >> CASE state WHEN 'new' THEN 0 WHEN 'queued' THEN 1 WHEN 'running' THEN 2 "  \
    "WHEN 'deleting' THEN 5 ELSE 31 END) & 1 = 1 " FENCED(6, 7) " RETURNING attempt"
static const char sql_resubmit[] = RESUBMIT(H_SET);
static const char pg_resubmit[] = RESUBMIT(NO_H);

/* A running job of a lost handler, back in its pool as its next attempt. */
#define RELEASE_RUNNING(HIST)                                                                                \
    "UPDATE job SET handler = NULL, state = 'new', queue = COALESCE(queue, ?3), epoch = 0, claim_time = NULL, " \
    "attempt = attempt + 1, start_time = NULL, end_time = NULL, exit_code = NULL, external_id = NULL, "     \
    "update_time = ?4, info = ?5 " HIST(H_APPEND("'new'", "?4", "NULL", "CASE WHEN ?5 IS NOT info THEN ?5 END")) \
    " WHERE id = ?1 AND handler = ?2 AND state = 'running' RETURNING attempt"
static const char sql_release_running[] = RELEASE_RUNNING(H_SET);
static const char pg_release_running[] = RELEASE_RUNNING(NO_H);

static const char sql_unassigned[] =
    "SELECT " JOB_COLUMNS " FROM " UNASSIGNED_ANY " AND create_time < ?1 ORDER BY id LIMIT ?2";
static const char pg_unassigned[] =
    "SELECT " JOB_COLUMNS " FROM " PG_UNASSIGNED_ANY " AND create_time < ?1 ORDER BY id LIMIT ?2";
static const char sql_unassigned_at[] =
    "SELECT " JOB_COLUMNS " FROM " UNASSIGNED_AT " AND queue = ?3 AND create_time < ?1 ORDER BY id LIMIT ?2";
static const char pg_unassigned_at[] =
    "SELECT " JOB_COLUMNS " FROM " PG_UNASSIGNED_AT " AND queue = ?3 AND create_time < ?1 ORDER BY id LIMIT ?2";

/* Through the state index: the non-terminal jobs of all handlers are few next to the whole past of
 * one handler, which the handler index would walk. */
static const char sql_of_handler[] =
    "SELECT " JOB_COLUMNS " FROM job INDEXED BY job_state WHERE handler = ?1 "
    "AND state IN ('new','queued','running','deleting') ORDER BY id";
static const char pg_of_handler[] =
    "SELECT " JOB_COLUMNS " FROM job WHERE handler = ?1 "
    "AND state IN ('new','queued','running','deleting') ORDER BY id";

/* The order rows were written in: SQLite's rowid, PostgreSQL's identity column. */
static const char sql_history[] =
    "SELECT state, time, handler, info FROM job_state_history WHERE job_id = ?1 ORDER BY seq"; /* a view (schema 11) */
static const char pg_history[] =
    "SELECT state, time, handler, info FROM job_state_history WHERE job_id = ?1 ORDER BY id";

/* ------------------------------------------------------------------ */
/* Time                                                                */
/* ------------------------------------------------------------------ */

/* The proleptic Gregorian date of a day counted from 1970-01-01 (H. Hinnant's civil_from_days). */
static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);                     /* [0, 146096] */
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365; /* [0, 399] */
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);         /* [0, 365] */
    unsigned mp = (5 * doy + 2) / 153;                              /* [0, 11] */
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static char *put_digits(char *p, unsigned v, int width)
{
    for (int i = width - 1; i >= 0; i--) {
        p[i] = (char)('0' + v % 10);
        v /= 10;
    }
    return p + width;
}

/*
 * By arithmetic, not gmtime_r() + strftime(): those take glibc's time zone
 * lock on every call, and a job's JSON has five times, on every web thread.
 */
char *mt_time_iso8601(int64_t us, char *buf)
{
    /* Floor division, so times before the epoch keep a positive fraction. */
    int64_t secs = us / 1000000, frac = us % 1000000;
    if (frac < 0) {
        secs--;
        frac += 1000000;
    }
    int64_t days = secs / 86400, rem = secs % 86400;
    if (rem < 0) {
        days--;
        rem += 86400;
    }
    int64_t year;
    unsigned month, day;
    civil_from_days(days, &year, &month, &day);
    if (year < 0 || year > 9999) {
        snprintf(buf, MT_TIME_ISO8601_SIZE, "invalid");
        return buf;
    }
    char *p = put_digits(buf, (unsigned)year, 4);
    *p++ = '-';
    p = put_digits(p, month, 2);
    *p++ = '-';
    p = put_digits(p, day, 2);
    *p++ = 'T';
    p = put_digits(p, (unsigned)(rem / 3600), 2);
    *p++ = ':';
    p = put_digits(p, (unsigned)(rem / 60 % 60), 2);
    *p++ = ':';
    p = put_digits(p, (unsigned)(rem % 60), 2);
    *p++ = '.';
    p = put_digits(p, (unsigned)frac, 6);
    *p++ = 'Z';
    *p = '\0';
    return buf;
}

/* Days from 1970-01-01 to a proleptic Gregorian date (H. Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

/* n decimal digits at *p into *v; advances *p. Returns false if they are not all digits. */
static bool take_digits(const char **p, int n, unsigned *v)
{
    *v = 0;
    for (int i = 0; i < n; i++) {
        if ((*p)[i] < '0' || (*p)[i] > '9')
            return false;
        *v = *v * 10 + (unsigned)((*p)[i] - '0');
    }
    *p += n;
    return true;
}

int mt_time_parse_iso8601(const char *text, int64_t *us)
{
    const char *p = text;
    unsigned year, month, day, hour = 0, minute = 0, second = 0, frac = 0;
    if (!take_digits(&p, 4, &year) || *p++ != '-' || !take_digits(&p, 2, &month) || *p++ != '-' ||
        !take_digits(&p, 2, &day))
        return -EINVAL;
    static const unsigned month_days[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (month < 1 || month > 12 || day < 1 || day > month_days[month - 1])
        return -EINVAL;
    if (*p == 'T') {
        p++;
        if (!take_digits(&p, 2, &hour) || *p++ != ':' || !take_digits(&p, 2, &minute))
            return -EINVAL;
        if (*p == ':') {
            p++;
            if (!take_digits(&p, 2, &second))
                return -EINVAL;
            if (*p == '.') {
                p++;
                int n = 0;
                while (p[n] >= '0' && p[n] <= '9')
                    n++;
                if (n < 1 || n > 6 || !take_digits(&p, n, &frac))
                    return -EINVAL;
                for (; n < 6; n++)
                    frac *= 10;
            }
        }
        if (hour > 23 || minute > 59 || second > 59)
            return -EINVAL;
        if (strcmp(p, "Z") != 0 && strcmp(p, "+00:00") != 0)
            return -EINVAL;
    } else if (*p != '\0' && strcmp(p, "Z") != 0) {
        return -EINVAL;
    }
    int64_t days = days_from_civil(year, month, day);
    if (month == 2 && day == 29 && days_from_civil(year, 3, 1) - days != 1)
        return -EINVAL; /* not a leap year */
    *us = ((days * 86400) + hour * 3600 + minute * 60 + second) * 1000000 + frac;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Rows                                                                */
/* ------------------------------------------------------------------ */

static char *column_str(mt_db_stmt_t *st, int col)
{
    return mt_db__col_strdup(st, col);
}

static mt_job_state_t column_state(mt_db_stmt_t *st, int col)
{
    const char *name = mt_db__col_text(st, col);
    mt_job_state_t state = MT_JOB_ERROR;
    /* The CHECK constraint keeps unknown names out; should one appear, error is the safe reading. */
    if (name)
        mt_job_state_parse(name, &state);
    return state;
}

static void read_job(mt_db_stmt_t *st, mt_job_t *job)
{
    job->id = mt_db__col_int64(st, 0);
    job->tool_id = column_str(st, 1);
    job->tool_version = column_str(st, 2);
    job->params = column_str(st, 3);
    job->state = column_state(st, 4);
    job->handler = column_str(st, 5);
    job->queue = column_str(st, 6);
    job->create_us = mt_db__col_int64(st, 7);
    job->update_us = mt_db__col_int64(st, 8);
    job->claim_us = mt_db__col_int64(st, 9);
    job->start_us = mt_db__col_int64(st, 10);
    job->end_us = mt_db__col_int64(st, 11);
    job->has_exit_code = !mt_db__col_null(st, 12);
    job->exit_code = (int)mt_db__col_int64(st, 12);
    job->runner = column_str(st, 13);
    job->external_id = column_str(st, 14);
    job->working_dir = column_str(st, 15);
    job->info = column_str(st, 16);
    job->invocation_id = mt_db__col_int64(st, 17);
    job->user = column_str(st, 18);
    job->destination = column_str(st, 19);
    job->attempt = (int)mt_db__col_int64(st, 20);
}

/* Bind a time, 0 meaning NULL (unset / unchanged). */
static void bind_time(mt_db_stmt_t *st, int i, int64_t us)
{
    if (us)
        mt_db__bind_int64(st, i, us);
    else
        mt_db__bind_null(st, i);
}

/* The caller's strings outlive the statement's use (db.h): NULL binds NULL. */
static void bind_str(mt_db_stmt_t *st, int i, const char *s)
{
    mt_db__bind_text(st, i, s);
}

/* Step a bound SELECT to the end, appending every row to a new array. Releases st. */
static int collect_jobs(mt_db_t *db, mt_db_stmt_t *st, const char *what, mt_job_t **jobs,
                        size_t *count)
{
    mt_job_t *arr = NULL;
    size_t n = 0, cap = 0;
    int rc = mt_db__step(db, st);
    for (; rc == MT_DB_ROW; rc = mt_db__step(db, st)) {
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            arr = mt_realloc(arr, cap * sizeof *arr);
        }
        memset(&arr[n], 0, sizeof arr[n]);
        read_job(st, &arr[n++]);
    }
    if (rc != MT_DB_DONE) {
        int ret = mt_db__fail(db, rc, what);
        mt_db__release(st);
        mt_job_store_free(arr, n);
        *jobs = NULL;
        *count = 0;
        return ret;
    }
    mt_db__release(st);
    *jobs = arr;
    *count = n;
    return 0;
}

void mt_job_store_free(mt_job_t *jobs, size_t count)
{
    if (!jobs)
        return;
    for (size_t i = 0; i < count; i++)
        mt_job_clear(&jobs[i]);
    free(jobs);
}

/* ------------------------------------------------------------------ */
/* Queries                                                             */
/* ------------------------------------------------------------------ */

int mt_job_store_insert(mt_db_t *db, const mt_job_t *job, int64_t *id, mt_job_t *stored)
{
    *id = 0;
    if (stored)
        memset(stored, 0, sizeof *stored);
    if (!job->tool_id)
        return -EINVAL;
    mt_db_stmt_t *st = mt_db__stmt(db, mt_db__pick(db, sql_insert, pg_insert));
    if (!st)
        return mt_db__fail(db, 0, "insert job");
    bind_str(st, 1, job->tool_id);
    bind_str(st, 2, job->tool_version);
    bind_str(st, 3, job->params);
    bind_str(st, 4, job->handler);
    bind_str(st, 5, job->queue);
    mt_db__bind_int64(st, 6, mt_db_time_us(db));
    if (job->invocation_id)
        mt_db__bind_int64(st, 7, job->invocation_id);
    else
        mt_db__bind_null(st, 7);
    bind_str(st, 8, job->user);
    bind_str(st, 9, job->destination);
    bind_str(st, 10, job->info);
    int rc = mt_db__step(db, st);
    if (rc == MT_DB_ROW) {
        *id = mt_db__col_int64(st, 0);
        if (stored)
            read_job(st, stored);
        /* The commit happens when the statement completes, not at its RETURNING row. */
        rc = mt_db__step(db, st);
    }
    int ret = rc == MT_DB_DONE ? 0 : mt_db__fail(db, rc, "insert job");
    if (ret == 0)
        mt_store_metrics_job_created();
    if (ret) {
        *id = 0;
        if (stored)
            mt_job_clear(stored);
    }
    mt_db__release(st);
    return ret;
}

static int transition(mt_db_t *db, int64_t id, unsigned allowed_from, mt_job_state_t to,
                      const mt_job_update_t *update, bool fenced);

int mt_job_store_cancel(mt_db_t *db, int64_t id, const char *info)
{
    mt_job_update_t u = {.info = info};
    int rc = transition(db, id, MT_JOB_BIT(MT_JOB_NEW), MT_JOB_DELETED, &u, false);
    if (rc == 1)
        return MT_JOB_DELETED;
    if (rc == 0)
        rc = transition(db, id, MT_JOB_BIT(MT_JOB_QUEUED) | MT_JOB_BIT(MT_JOB_RUNNING), MT_JOB_DELETING,
                                     &u, false);
    if (rc == 1)
        return MT_JOB_DELETING;
    if (rc < 0)
        return rc;
    mt_job_t job;
    rc = mt_job_store_get(db, id, &job);
    if (rc < 0)
        return rc;
    rc = job.state == MT_JOB_DELETING ? MT_JOB_DELETING : -EALREADY;
    mt_job_clear(&job);
    return rc;
}

int mt_job_store_get(mt_db_t *db, int64_t id, mt_job_t *out)
{
    memset(out, 0, sizeof *out);
    mt_db_stmt_t *st = mt_db__stmt(db, sql_get);
    if (!st)
        return mt_db__fail(db, 0, "get job");
    mt_db__bind_int64(st, 1, id);
    int rc = mt_db__step(db, st);
    int ret = 0;
    if (rc == MT_DB_ROW)
        read_job(st, out);
    else if (rc == MT_DB_DONE)
        ret = -ENOENT;
    else
        ret = mt_db__fail(db, rc, "get job");
    mt_db__release(st);
    return ret;
}

/* Append the WHERE clause for filter to sql (which has room for it). */
/* Whether the filter names anything but the keyset bound. */
static bool filter_narrows(const mt_job_filter_t *filter)
{
    return filter->states || filter->tool_id || filter->handler || filter->user || filter->created_after > 0 ||
           filter->created_before > 0;
}

/*
 * Append the filter's WHERE clause to sql: with keyset, before_id too, and
 * with max_id > 0 "id <= max_id" (a bound that only speeds the scan up; its
 * caller appends the lower one).
 */
static void build_where(const mt_db_t *db, char *sql, size_t size, const mt_job_filter_t *filter, bool keyset,
                        int64_t max_id)
{
    size_t len = strlen(sql);
    const char *sep = " WHERE ";
    if (filter->states) {
        len += (size_t)snprintf(sql + len, size - len, "%sstate IN (", sep);
        const char *comma = "";
        for (int s = 0; s < MT_JOB_STATE_COUNT; s++) {
            if (filter->states & MT_JOB_BIT(s)) {
                len += (size_t)snprintf(sql + len, size - len, "%s?", comma);
                comma = ",";
            }
        }
        len += (size_t)snprintf(sql + len, size - len, ")");
        sep = " AND ";
        /* The partial index job_tool_state (schema 11) serves ended states only; a planner uses it when
         * the query repeats its condition word for word. */
        if (filter->tool_id && !(filter->states & ~TERMINAL_STATE_BITS))
            len += (size_t)snprintf(sql + len, size - len, " AND (state = 'ok' OR state = 'error' OR state = 'deleted')");
    }
    if (filter->tool_id) {
        /* Live states with a tool: the state index finds the few live jobs, where SQLite's planner (with no
         * statistics) would walk job_tool through every job of the tool (70 ms for a tool with 100,000
         * jobs among 1,000,000). A unary + keeps it off job_tool; PostgreSQL's planner has statistics. */
        bool live_only = filter->states && !(filter->states & TERMINAL_STATE_BITS);
        len += (size_t)snprintf(sql + len, size - len, "%s%stool_id = ?", sep, live_only ? mt_db__pick(db, "+", "") : "");
        sep = " AND ";
    }
    if (filter->handler) {
        len += (size_t)snprintf(sql + len, size - len, "%shandler = ?", sep);
        sep = " AND ";
    }
    if (filter->user) {
        len += (size_t)snprintf(sql + len, size - len, "%s\"user\" = ?", sep);
        sep = " AND ";
    }
    if (filter->created_after > 0) {
        len += (size_t)snprintf(sql + len, size - len, "%screate_time >= ?", sep);
        sep = " AND ";
    }
    if (filter->created_before > 0) {
        len += (size_t)snprintf(sql + len, size - len, "%screate_time < ?", sep);
        sep = " AND ";
    }
    if (keyset && filter->before_id > 0) {
        len += (size_t)snprintf(sql + len, size - len, "%sid < ?", sep);
        sep = " AND ";
    }
    if (max_id > 0)
        snprintf(sql + len, size - len, "%sid <= ?", sep);
}

/* Bind the filter's values in build_where()'s order; returns the next parameter number. */
static int bind_filter(mt_db_stmt_t *st, const mt_job_filter_t *filter, bool keyset, int64_t max_id)
{
    int i = 1;
    for (int s = 0; s < MT_JOB_STATE_COUNT; s++)
        if (filter->states & MT_JOB_BIT(s))
            mt_db__bind_text(st, i++, mt_job_state_name((mt_job_state_t)s));
    if (filter->tool_id)
        bind_str(st, i++, filter->tool_id);
    if (filter->handler)
        bind_str(st, i++, filter->handler);
    if (filter->user)
        bind_str(st, i++, filter->user);
    if (filter->created_after > 0)
        mt_db__bind_int64(st, i++, filter->created_after);
    if (filter->created_before > 0)
        mt_db__bind_int64(st, i++, filter->created_before);
    if (keyset && filter->before_id > 0)
        mt_db__bind_int64(st, i++, filter->before_id);
    if (max_id > 0)
        mt_db__bind_int64(st, i++, max_id);
    return i;
}

/* One row of int64 columns from sql with the filter bound (parameters after the filter's: extra). */
static int query_int64s(mt_db_t *db, const char *sql, const mt_job_filter_t *filter, bool keyset, int64_t extra,
                        int64_t *out, int ncols, const char *what)
{
    mt_db_stmt_t *st = mt_db__stmt(db, sql);
    if (!st)
        return mt_db__fail(db, 0, what);
    int i = filter ? bind_filter(st, filter, keyset, 0) : 1;
    if (extra >= 0)
        mt_db__bind_int64(st, i, extra);
    int rc = mt_db__step(db, st);
    if (rc != MT_DB_ROW) {
        int ret = mt_db__fail(db, rc, what);
        mt_db__release(st);
        return ret;
    }
    for (int c = 0; c < ncols; c++)
        out[c] = mt_db__col_int64(st, c);
    mt_db__release(st);
    return 0;
}

/* Jobs of a time range looked at to bound the id scan (see mt_job_store_list): 100,000 entries of the
 * create_time index cost about 10 ms. */
#define TIME_RANGE_PROBE 100000

int mt_job_store_list(mt_db_t *db, const mt_job_filter_t *filter, int64_t limit, int64_t offset,
                      mt_job_t **jobs, size_t *count, int64_t *total)
{
    static const mt_job_filter_t all = {0};
    if (!filter)
        filter = &all;
    *jobs = NULL;
    *count = 0;
    /* The text depends on how many states and which other filters are set: a bounded number of
     * variants per query, each cached on the connection. */
    char sql[768];
    if (total) {
        /* Without a filter, the count the triggers keep (schema 6; on PostgreSQL in 16 rows, schema_pg.c)
         * instead of counting every row. */
        bool filtered = filter_narrows(filter);
        snprintf(sql, sizeof sql, "%s",
                 filtered ? "SELECT count(*) FROM job"
                          : mt_db__pick(db, "SELECT n FROM job_count", "SELECT sum(n) FROM job_count"));
        if (filtered)
            build_where(db, sql, sizeof sql, filter, false, 0);
        int rc = query_int64s(db, sql, filtered ? filter : NULL, false, -1, total, 1, "count jobs");
        if (rc < 0)
            return rc;
    }
    /*
     * A page newest first is a scan down the ids (or down an index in id order) that stops after
     * offset + limit matches. With created_before, the matches may lie deep in a long table, below
     * every newer job the scan would read first: when the time range holds at most TIME_RANGE_PROBE
     * jobs (counted on the create_time index), the smallest and the largest id among them bound
     * the scan, exactly (no matching job lies outside them).
     */
    int64_t min_id = 0, max_id = 0;
    if (filter->created_before > 0) {
        int64_t probe[3];
        mt_job_filter_t only_time = {.created_after = filter->created_after, .created_before = filter->created_before};
        snprintf(sql, sizeof sql, "SELECT count(*), coalesce(min(id), 0), coalesce(max(id), 0) FROM (SELECT id FROM job");
        build_where(db, sql, sizeof sql, &only_time, false, 0);
        strcat(sql, " LIMIT ?) p");
        int rc = query_int64s(db, sql, &only_time, false, TIME_RANGE_PROBE + 1, probe, 3, "bound jobs");
        if (rc < 0)
            return rc;
        if (probe[0] == 0)
            return 0;
        if (probe[0] <= TIME_RANGE_PROBE) {
            min_id = probe[1];
            max_id = probe[2];
        }
    }
    snprintf(sql, sizeof sql, "SELECT " JOB_COLUMNS " FROM job");
    build_where(db, sql, sizeof sql, filter, true, max_id);
    if (max_id > 0)
        strcat(sql, " AND id >= ?");
    strcat(sql, " ORDER BY id DESC LIMIT ? OFFSET ?");
    mt_db_stmt_t *st = mt_db__stmt(db, sql);
    if (!st)
        return mt_db__fail(db, 0, "list jobs");
    int i = bind_filter(st, filter, true, max_id);
    if (max_id > 0)
        mt_db__bind_int64(st, i++, min_id);
    mt_db__bind_page(st, i, limit, offset);
    return collect_jobs(db, st, "list jobs", jobs, count);
}

int mt_job_store_count_capped(mt_db_t *db, const mt_job_filter_t *filter, int64_t cap, int64_t *total, bool *capped)
{
    static const mt_job_filter_t all = {0};
    if (!filter)
        filter = &all;
    *capped = false;
    char sql[768];
    if (!filter_narrows(filter)) {
        snprintf(sql, sizeof sql, "%s", mt_db__pick(db, "SELECT n FROM job_count", "SELECT sum(n) FROM job_count"));
        return query_int64s(db, sql, NULL, false, -1, total, 1, "count jobs");
    }
    snprintf(sql, sizeof sql, "SELECT count(*) FROM (SELECT 1 FROM job");
    build_where(db, sql, sizeof sql, filter, false, 0);
    strcat(sql, " LIMIT ?) c");
    int rc = query_int64s(db, sql, filter, false, cap + 1, total, 1, "count jobs");
    if (rc == 0 && *total > cap) {
        *total = cap;
        *capped = true;
    }
    return rc;
}

int mt_job_store_take(mt_db_t *db, int64_t id, const char *handler, mt_job_t *taken)
{
    memset(taken, 0, sizeof *taken);
    mt_db_stmt_t *st = mt_db__stmt(db, mt_db__pick(db, sql_take, pg_take));
    if (!st)
        return mt_db__fail(db, 0, "take job");
    bind_str(st, 1, handler);
    mt_db__bind_int64(st, 2, mt_db_time_us(db));
    mt_db__bind_int64(st, 3, id);
    mt_db__bind_int64(st, 4, mt_db_fence_epoch(db));
    int rc = mt_db__step(db, st);
    bool row = rc == MT_DB_ROW;
    if (row) {
        read_job(st, taken);
        rc = mt_db__step(db, st); /* to MT_DB_DONE: the statement's end */
    }
    int ret = rc == MT_DB_DONE ? row : mt_db__fail(db, rc, "take job");
    if (ret <= 0)
        mt_job_clear(taken);
    mt_db__release(st);
    return ret;
}

int mt_job_store_claim_next(mt_db_t *db, const char *queue, const char *handler, int64_t *id)
{
    *id = 0;
    mt_db_stmt_t *st = mt_db__stmt(db, queue ? mt_db__pick(db, sql_claim_next_at, pg_claim_next_at)
                                               : mt_db__pick(db, sql_claim_next_any, pg_claim_next_any));
    if (!st)
        return mt_db__fail(db, 0, "claim next job");
    bind_str(st, 1, handler);
    mt_db__bind_int64(st, 2, mt_db_time_us(db));
    if (queue) {
        bind_str(st, 3, queue);
        mt_db__bind_int64(st, 4, mt_db_fence_epoch(db));
    } else {
        mt_db__bind_int64(st, 3, mt_db_fence_epoch(db));
    }
    int64_t claimed = 0;
    int rc = mt_db__step(db, st);
    if (rc == MT_DB_ROW) {
        claimed = mt_db__col_int64(st, 0);
        rc = mt_db__step(db, st); /* to MT_DB_DONE: the commit */
    }
    int ret;
    if (rc == MT_DB_DONE) {
        *id = claimed;
        ret = claimed != 0;
    } else {
        ret = mt_db__fail(db, rc, "claim next job");
    }
    mt_db__release(st);
    return ret;
}

/* A transition, fenced (a handler's, through mt_job_store_transition) or not (the API's cancel). */
static int transition(mt_db_t *db, int64_t id, unsigned allowed_from, mt_job_state_t to,
                      const mt_job_update_t *update, bool fenced)
{
    static const mt_job_update_t none = {0};
    if (!update)
        update = &none;
    if ((unsigned)to >= MT_JOB_STATE_COUNT)
        return -EINVAL;
    mt_db_stmt_t *st = mt_db__stmt(db, mt_db__pick(db, sql_transition, pg_transition));
    if (!st)
        return mt_db__fail(db, 0, "change job state");
    int64_t now = mt_db_time_us(db);
    int64_t start = update->start_us ? update->start_us : to == MT_JOB_RUNNING ? now : 0;
    int64_t end = update->end_us ? update->end_us : mt_job_state_terminal(to) ? now : 0;
    mt_db__bind_text(st, 1, mt_job_state_name(to));
    mt_db__bind_int64(st, 2, now);
    bind_time(st, 3, start);
    bind_time(st, 4, end);
    if (update->has_exit_code)
        mt_db__bind_int64(st, 5, update->exit_code);
    else
        mt_db__bind_null(st, 5);
    bind_str(st, 6, update->runner);
    bind_str(st, 7, update->external_id);
    bind_str(st, 8, update->working_dir);
    bind_str(st, 9, update->info);
    mt_db__bind_int64(st, 10, id);
    mt_db__bind_int64(st, 11, allowed_from & ((1u << MT_JOB_STATE_COUNT) - 1));
    bind_fence(db, st, 12, 13, fenced);
    int rc = mt_db__step(db, st);
    bool row = rc == MT_DB_ROW;
    int64_t created = 0, started = 0;
    if (row) {
        created = mt_db__col_int64(st, 0);
        started = mt_db__col_int64(st, 1);
        rc = mt_db__step(db, st); /* to MT_DB_DONE: the statement's end */
    }
    int ret = rc == MT_DB_DONE ? row : mt_db__fail(db, rc, "change job state");
    if (ret == 1 && !(allowed_from & MT_JOB_BIT(to))) /* it entered `to`: not an update within one state */
        mt_store_metrics_job_entered(to, now, created, started);
    mt_db__release(st);
    return ret;
}

int mt_job_store_count_state(mt_db_t *db, mt_job_state_t state, int64_t *count)
{
    *count = 0;
    mt_db_stmt_t *st = mt_db__stmt(db, sql_count_state);
    if (!st)
        return mt_db__fail(db, 0, "count jobs");
    mt_db__bind_text(st, 1, mt_job_state_name(state));
    int rc = mt_db__step(db, st);
    if (rc == MT_DB_ROW) {
        *count = mt_db__col_int64(st, 0);
        rc = mt_db__step(db, st);
    }
    int ret = rc == MT_DB_DONE ? 0 : mt_db__fail(db, rc, "count jobs");
    mt_db__release(st);
    return ret;
}

int mt_job_store_transition(mt_db_t *db, int64_t id, unsigned allowed_from, mt_job_state_t to,
                            const mt_job_update_t *update)
{
    return transition(db, id, allowed_from, to, update, true);
}

int mt_job_store_transition_unfenced(mt_db_t *db, int64_t id, unsigned allowed_from, mt_job_state_t to,
                                     const mt_job_update_t *update)
{
    return transition(db, id, allowed_from, to, update, false);
}

int mt_job_store_retry(mt_db_t *db, int64_t id, unsigned allowed_from, const char *info, int *attempt)
{
    *attempt = 0;
    mt_db_stmt_t *st = mt_db__stmt(db, mt_db__pick(db, sql_retry, pg_retry));
    if (!st)
        return mt_db__fail(db, 0, "retry job");
    mt_db__bind_int64(st, 1, mt_db_time_us(db));
    bind_str(st, 2, info);
    mt_db__bind_int64(st, 3, id);
    mt_db__bind_int64(st, 4, allowed_from & ((1u << MT_JOB_STATE_COUNT) - 1));
    bind_fence(db, st, 5, 6, true);
    int rc = mt_db__step(db, st);
    int changed = 0;
    if (rc == MT_DB_ROW) {
        *attempt = (int)mt_db__col_int64(st, 0);
        changed = 1;
        rc = mt_db__step(db, st); /* to MT_DB_DONE: the commit */
    }
    int ret = rc == MT_DB_DONE ? changed : mt_db__fail(db, rc, "retry job");
    if (ret <= 0)
        *attempt = 0;
    mt_db__release(st);
    return ret;
}

int mt_job_store_adopt(mt_db_t *db, const char *handler, int64_t epoch)
{
    mt_db_stmt_t *st = mt_db__stmt(db, sql_adopt);
    if (!st)
        return mt_db__fail(db, 0, "adopt jobs");
    bind_str(st, 1, handler);
    mt_db__bind_int64(st, 2, epoch);
    int rc = mt_db__step(db, st);
    int ret = rc == MT_DB_DONE ? (int)mt_db__changes(db) : mt_db__fail(db, rc, "adopt jobs");
    mt_db__release(st);
    return ret;
}

int mt_job_store_release_waiting(mt_db_t *db, const char *handler, const char *queue, const char *info)
{
    mt_db_stmt_t *st = mt_db__stmt(db, mt_db__pick(db, sql_release_waiting, pg_release_waiting));
    if (!st)
        return mt_db__fail(db, 0, "release jobs");
    bind_str(st, 1, handler);
    bind_str(st, 2, queue);
    mt_db__bind_int64(st, 3, mt_db_time_us(db));
    bind_str(st, 4, info);
    int rc = mt_db__step(db, st);
    int ret = rc == MT_DB_DONE ? (int)mt_db__changes(db) : mt_db__fail(db, rc, "release jobs");
    mt_db__release(st);
    return ret;
}

int mt_job_store_hand_over(mt_db_t *db, int64_t id, const char *from, const char *to, int64_t epoch,
                           const char *info)
{
    mt_db_stmt_t *st = mt_db__stmt(db, mt_db__pick(db, sql_hand_over, pg_hand_over));
    if (!st)
        return mt_db__fail(db, 0, "hand over job");
    mt_db__bind_int64(st, 1, id);
    bind_str(st, 2, from);
    bind_str(st, 3, to);
    mt_db__bind_int64(st, 4, epoch);
    mt_db__bind_int64(st, 5, mt_db_time_us(db));
    bind_str(st, 6, info);
    int rc = mt_db__step(db, st);
    int ret = rc == MT_DB_DONE ? (mt_db__changes(db) > 0) : mt_db__fail(db, rc, "hand over job");
    mt_db__release(st);
    return ret;
}

int mt_job_store_resubmit(mt_db_t *db, int64_t id, unsigned allowed_from, const char *destination, const char *info,
                          int *attempt)
{
    *attempt = 0;
    mt_db_stmt_t *st = mt_db__stmt(db, mt_db__pick(db, sql_resubmit, pg_resubmit));
    if (!st)
        return mt_db__fail(db, 0, "resubmit job");
    mt_db__bind_int64(st, 1, mt_db_time_us(db));
    bind_str(st, 2, destination);
    bind_str(st, 3, info);
    mt_db__bind_int64(st, 4, id);
    mt_db__bind_int64(st, 5, allowed_from & ((1u << MT_JOB_STATE_COUNT) - 1));
    bind_fence(db, st, 6, 7, true);
    int rc = mt_db__step(db, st);
    int changed = 0;
    if (rc == MT_DB_ROW) {
        *attempt = (int)mt_db__col_int64(st, 0);
        changed = 1;
        rc = mt_db__step(db, st);
    }
    int ret = rc == MT_DB_DONE ? changed : mt_db__fail(db, rc, "resubmit job");
    if (ret <= 0)
        *attempt = 0;
    mt_db__release(st);
    return ret;
}

int mt_job_store_release_running(mt_db_t *db, int64_t id, const char *handler, const char *queue, const char *info,
                                 int *attempt)
{
    *attempt = 0;
    mt_db_stmt_t *st = mt_db__stmt(db, mt_db__pick(db, sql_release_running, pg_release_running));
    if (!st)
        return mt_db__fail(db, 0, "release job");
    mt_db__bind_int64(st, 1, id);
    bind_str(st, 2, handler);
    bind_str(st, 3, queue);
    mt_db__bind_int64(st, 4, mt_db_time_us(db));
    bind_str(st, 5, info);
    int rc = mt_db__step(db, st);
    int ret = 0;
    if (rc == MT_DB_ROW) {
        *attempt = (int)mt_db__col_int64(st, 0);
        rc = mt_db__step(db, st);
        ret = rc == MT_DB_DONE ? 1 : mt_db__fail(db, rc, "release job");
    } else if (rc != MT_DB_DONE) {
        ret = mt_db__fail(db, rc, "release job");
    }
    mt_db__release(st);
    if (ret <= 0)
        *attempt = 0;
    return ret;
}

int mt_job_store_unassigned(mt_db_t *db, int64_t created_before_us, size_t limit, mt_job_t **jobs,
                            size_t *count)
{
    *jobs = NULL;
    *count = 0;
    mt_db_stmt_t *st = mt_db__stmt(db, mt_db__pick(db, sql_unassigned, pg_unassigned));
    if (!st)
        return mt_db__fail(db, 0, "list unassigned jobs");
    mt_db__bind_int64(st, 1, created_before_us);
    mt_db__bind_int64(st, 2, limit > INT64_MAX ? INT64_MAX : (int64_t)limit);
    return collect_jobs(db, st, "list unassigned jobs", jobs, count);
}

int mt_job_store_unassigned_at(mt_db_t *db, const char *queue, int64_t created_before_us, size_t limit,
                               mt_job_t **jobs, size_t *count)
{
    *jobs = NULL;
    *count = 0;
    mt_db_stmt_t *st = mt_db__stmt(db, mt_db__pick(db, sql_unassigned_at, pg_unassigned_at));
    if (!st)
        return mt_db__fail(db, 0, "list unassigned jobs");
    mt_db__bind_int64(st, 1, created_before_us);
    mt_db__bind_int64(st, 2, limit > INT64_MAX ? INT64_MAX : (int64_t)limit);
    bind_str(st, 3, queue);
    return collect_jobs(db, st, "list unassigned jobs", jobs, count);
}

int mt_job_store_of_handler(mt_db_t *db, const char *handler, mt_job_t **jobs, size_t *count)
{
    *jobs = NULL;
    *count = 0;
    mt_db_stmt_t *st = mt_db__stmt(db, mt_db__pick(db, sql_of_handler, pg_of_handler));
    if (!st)
        return mt_db__fail(db, 0, "list jobs of handler");
    bind_str(st, 1, handler);
    return collect_jobs(db, st, "list jobs of handler", jobs, count);
}

int mt_job_store_history(mt_db_t *db, int64_t id, mt_job_event_t **events, size_t *count)
{
    *events = NULL;
    *count = 0;
    mt_db_stmt_t *st = mt_db__stmt(db, mt_db__pick(db, sql_history, pg_history));
    if (!st)
        return mt_db__fail(db, 0, "job history");
    mt_db__bind_int64(st, 1, id);
    mt_job_event_t *arr = NULL;
    size_t n = 0, cap = 0;
    int rc = mt_db__step(db, st);
    for (; rc == MT_DB_ROW; rc = mt_db__step(db, st)) {
        if (n == cap) {
            cap = cap ? 2 * cap : 8;
            arr = mt_realloc(arr, cap * sizeof *arr);
        }
        arr[n++] = (mt_job_event_t){
            .state = column_state(st, 0),
            .time_us = mt_db__col_int64(st, 1),
            .handler = column_str(st, 2),
            .info = column_str(st, 3),
        };
    }
    if (rc != MT_DB_DONE) {
        int ret = mt_db__fail(db, rc, "job history");
        mt_db__release(st);
        mt_job_store_free_events(arr, n);
        return ret;
    }
    mt_db__release(st);
    *events = arr;
    *count = n;
    return 0;
}

void mt_job_store_free_events(mt_job_event_t *events, size_t count)
{
    if (!events)
        return;
    for (size_t i = 0; i < count; i++) {
        free(events[i].handler);
        free(events[i].info);
    }
    free(events);
}
