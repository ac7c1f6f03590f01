/*
 * invocation_store: the invocation and invocation_step tables (see
 * invocation_store.h). Same conventions as job_store.c: cached statements,
 * conditional UPDATEs, states as names in the database.
 */
#include "app/store/invocation_store.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/store/job_store.h"
#include "common/mem.h"

static const char *const inv_state_names[] = {"new", "scheduling", "ok", "failed", "cancelled"};
static const char *const step_state_names[] = {"waiting", "running", "ok", "failed", "not_run", "cancelled"};

#define INV_COLUMNS                                                                                   \
    "id, workflow_id, definition, inputs, state, handler, queue, create_time, update_time, "  \
    "claim_time, end_time, info, \"user\""

static const char sql_insert[] =
    "INSERT INTO invocation (workflow_id, definition, inputs, state, handler, queue, create_time, "
    "update_time, \"user\") VALUES (?1, ?2, ?3, 'new', ?4, ?5, ?6, ?6, ?7) RETURNING id";
static const char sql_insert_step[] =
    "INSERT INTO invocation_step (invocation_id, step_index, step_id, state) VALUES (?1, ?2, ?3, 'waiting')";
static const char sql_get[] = "SELECT " INV_COLUMNS " FROM invocation WHERE id = ?1";
static const char sql_steps[] =
    "SELECT step_index, step_id, state, job_id, info FROM invocation_step WHERE invocation_id = ?1 "
    "ORDER BY step_index";
static const char sql_claim[] =
    "UPDATE invocation SET handler = ?2, state = 'scheduling', claim_time = ?3, update_time = ?3 "
    "WHERE id = ?1 AND state = 'new' AND (handler IS NULL OR handler = ?2)";
static const char sql_owned[] = "SELECT 1 FROM invocation WHERE id = ?1 AND handler = ?2 AND state = 'scheduling'";
static const char sql_set_state[] =
    "UPDATE invocation SET state = ?3, update_time = ?4, info = COALESCE(?5, info), "
    "end_time = CASE WHEN ?3 IN ('ok','failed','cancelled') THEN ?4 ELSE end_time END "
    "WHERE id = ?1 AND (CAST(?2 AS INTEGER) >> CASE state WHEN 'new' THEN 0 WHEN 'scheduling' THEN 1 WHEN 'ok' THEN 2 "
    "WHEN 'failed' THEN 3 WHEN 'cancelled' THEN 4 ELSE 31 END) & 1 = 1";
static const char sql_set_step[] =
    "UPDATE invocation_step SET state = ?4, job_id = COALESCE(?5, job_id), info = COALESCE(?6, info) "
    "WHERE invocation_id = ?1 AND step_index = ?2 AND (CAST(?3 AS INTEGER) >> CASE state WHEN 'waiting' THEN 0 "
    "WHEN 'running' THEN 1 WHEN 'ok' THEN 2 WHEN 'failed' THEN 3 WHEN 'not_run' THEN 4 "
    "WHEN 'cancelled' THEN 5 ELSE 31 END) & 1 = 1";
static const char sql_of_handler[] =
    "SELECT id FROM invocation INDEXED BY invocation_handler WHERE handler = ?1 "
    "AND state IN ('new','scheduling') ORDER BY id";
static const char pg_of_handler[] =
    "SELECT id FROM invocation WHERE handler = ?1 AND state IN ('new','scheduling') ORDER BY id";
static const char sql_new_of_handler[] =
    "SELECT id FROM invocation INDEXED BY invocation_handler WHERE handler = ?1 AND state = 'new' ORDER BY id";
static const char pg_new_of_handler[] =
    "SELECT id FROM invocation WHERE handler = ?1 AND state = 'new' ORDER BY id";
/* Invocations of a handler with a step whose job has ended elsewhere (not yet settled). */
static const char sql_settle_due[] =
    "SELECT DISTINCT i.id FROM invocation i INDEXED BY invocation_handler "
    "JOIN invocation_step s ON s.invocation_id = i.id JOIN job j ON j.id = s.job_id "
    "WHERE i.handler = ?1 AND i.state = 'scheduling' AND s.state = 'running' "
    "AND j.state IN ('ok','error','deleted') ORDER BY i.id";
static const char pg_settle_due[] =
    "SELECT DISTINCT i.id FROM invocation i "
    "JOIN invocation_step s ON s.invocation_id = i.id JOIN job j ON j.id = s.job_id "
    "WHERE i.handler = ?1 AND i.state = 'scheduling' AND s.state = 'running' "
    "AND j.state IN ('ok','error','deleted') ORDER BY i.id";
static const char sql_claim_next[] =
    "UPDATE invocation SET handler = ?2, state = 'scheduling', claim_time = ?3, update_time = ?3 "
    "WHERE id = (SELECT id FROM invocation INDEXED BY invocation_unassigned WHERE handler IS NULL "
    "AND state = 'new' AND queue = ?1 ORDER BY id LIMIT 1) AND handler IS NULL AND state = 'new' RETURNING id";
static const char pg_claim_next[] =
    "UPDATE invocation SET handler = ?2, state = 'scheduling', claim_time = ?3, update_time = ?3 "
    "WHERE id = (SELECT id FROM invocation WHERE handler IS NULL "
    "AND state = 'new' AND queue = ?1 ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING id";
static const char sql_unassigned[] =
    "SELECT id FROM invocation INDEXED BY invocation_unassigned WHERE handler IS NULL AND state = 'new' "
    "AND queue = ?1 AND create_time < ?2 ORDER BY id LIMIT ?3";
static const char pg_unassigned[] =
    "SELECT id FROM invocation WHERE handler IS NULL AND state = 'new' "
    "AND queue = ?1 AND create_time < ?2 ORDER BY id LIMIT ?3";

_Static_assert(MT_INV_NEW == 0 && MT_INV_SCHEDULING == 1 && MT_INV_OK == 2 && MT_INV_FAILED == 3 &&
                   MT_INV_CANCELLED == 4,
               "sql_set_state's CASE follows mt_invocation_state_t");
_Static_assert(MT_STEP_WAITING == 0 && MT_STEP_RUNNING == 1 && MT_STEP_OK == 2 && MT_STEP_FAILED == 3 &&
                   MT_STEP_NOT_RUN == 4 && MT_STEP_CANCELLED == 5,
               "sql_set_step's CASE follows mt_step_state_t");

const char *mt_invocation_state_name(mt_invocation_state_t state)
{
    return (unsigned)state < 5 ? inv_state_names[state] : "?";
}

const char *mt_step_state_name(mt_step_state_t state)
{
    return (unsigned)state < 6 ? step_state_names[state] : "?";
}

bool mt_step_state_terminal(mt_step_state_t state)
{
    return state != MT_STEP_WAITING && state != MT_STEP_RUNNING;
}

static int parse_name(const char *name, const char *const *names, int n)
{
    for (int i = 0; name && i < n; i++)
        if (strcmp(name, names[i]) == 0)
            return i;
    return -1;
}

static char *column_str(mt_db_stmt_t *st, int col)
{
    return mt_db__col_strdup(st, col);
}

/* The caller's strings outlive the statement's use (db.h): NULL binds NULL. */
static void bind_str(mt_db_stmt_t *st, int i, const char *s)
{
    mt_db__bind_text(st, i, s);
}

void mt_invocation_clear(mt_invocation_t *inv)
{
    free(inv->workflow_id);
    free(inv->definition);
    free(inv->inputs);
    free(inv->handler);
    free(inv->queue);
    free(inv->info);
    free(inv->user);
    memset(inv, 0, sizeof *inv);
}

void mt_invocation_steps_free(mt_invocation_step_t *steps, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(steps[i].step_id);
        free(steps[i].info);
    }
    free(steps);
}

int mt_invocation_store_insert(mt_db_t *db, const mt_invocation_t *inv, const char *const *step_ids, size_t nsteps,
                               int64_t *id)
{
    *id = 0;
    bool own_txn = !mt_db_in_transaction(db);
    int rc = own_txn ? mt_db_begin(db) : 0;
    if (rc < 0)
        return rc;
    mt_db_stmt_t *st = mt_db__stmt(db, sql_insert);
    if (!st) {
        rc = mt_db__fail(db, 0, "insert invocation");
        goto out;
    }
    bind_str(st, 1, inv->workflow_id);
    bind_str(st, 2, inv->definition);
    bind_str(st, 3, inv->inputs);
    bind_str(st, 4, inv->handler);
    bind_str(st, 5, inv->queue);
    mt_db__bind_int64(st, 6, mt_db_time_us(db));
    bind_str(st, 7, inv->user);
    int step = mt_db__step(db, st);
    if (step == MT_DB_ROW) {
        *id = mt_db__col_int64(st, 0);
        step = mt_db__step(db, st);
    }
    rc = step == MT_DB_DONE ? 0 : mt_db__fail(db, step, "insert invocation");
    mt_db__release(st);
    for (size_t i = 0; i < nsteps && rc == 0; i++) {
        st = mt_db__stmt(db, sql_insert_step);
        if (!st) {
            rc = mt_db__fail(db, 0, "insert invocation step");
            break;
        }
        mt_db__bind_int64(st, 1, *id);
        mt_db__bind_int64(st, 2, (int)i);
        bind_str(st, 3, step_ids[i]);
        step = mt_db__step(db, st);
        rc = step == MT_DB_DONE ? 0 : mt_db__fail(db, step, "insert invocation step");
        mt_db__release(st);
    }
out:
    if (own_txn)
        rc = rc == 0 ? mt_db_commit(db) : (mt_db_rollback(db), rc);
    if (rc < 0)
        *id = 0;
    return rc;
}

/* A row of INV_COLUMNS into *out. */
static void read_invocation(mt_db_stmt_t *st, mt_invocation_t *out)
{
    out->id = mt_db__col_int64(st, 0);
    out->workflow_id = column_str(st, 1);
    out->definition = column_str(st, 2);
    out->inputs = column_str(st, 3);
    int state = parse_name(mt_db__col_text(st, 4), inv_state_names, 5);
    out->state = state < 0 ? MT_INV_FAILED : (mt_invocation_state_t)state;
    out->handler = column_str(st, 5);
    out->queue = column_str(st, 6);
    out->create_us = mt_db__col_int64(st, 7);
    out->update_us = mt_db__col_int64(st, 8);
    out->claim_us = mt_db__col_int64(st, 9);
    out->end_us = mt_db__col_int64(st, 10);
    out->info = column_str(st, 11);
    out->user = column_str(st, 12);
}

int mt_invocation_state_parse(const char *name, mt_invocation_state_t *out)
{
    int state = parse_name(name, inv_state_names, 5);
    if (state < 0)
        return -1;
    *out = (mt_invocation_state_t)state;
    return 0;
}

/* " WHERE ..." for the list filters, in the order list_bind() binds them. */
static void list_where(char *sql, size_t size, const char *user, const char *workflow_id, unsigned states)
{
    size_t len = strlen(sql);
    const char *sep = " WHERE ";
    if (user) {
        len += (size_t)snprintf(sql + len, size - len, "%s\"user\" = ?", sep);
        sep = " AND ";
    }
    if (workflow_id) {
        len += (size_t)snprintf(sql + len, size - len, "%sworkflow_id = ?", sep);
        sep = " AND ";
    }
    if (states) {
        len += (size_t)snprintf(sql + len, size - len, "%sstate IN (", sep);
        const char *comma = "";
        for (int s = 0; s < 5; s++) {
            if (states & MT_INV_BIT(s)) {
                len += (size_t)snprintf(sql + len, size - len, "%s?", comma);
                comma = ",";
            }
        }
        snprintf(sql + len, size - len, ")");
    }
}

static int list_bind(mt_db_stmt_t *st, const char *user, const char *workflow_id, unsigned states)
{
    int i = 1;
    if (user)
        bind_str(st, i++, user);
    if (workflow_id)
        bind_str(st, i++, workflow_id);
    for (int s = 0; s < 5; s++)
        if (states & MT_INV_BIT(s))
            mt_db__bind_text(st, i++, inv_state_names[s]);
    return i;
}

int mt_invocation_store_list(mt_db_t *db, const char *user, const char *workflow_id, unsigned states, int64_t limit,
                             int64_t offset, mt_invocation_t **out, size_t *n, int64_t *total)
{
    *out = NULL;
    *n = 0;
    char sql[512];
    if (total) {
        snprintf(sql, sizeof sql, "SELECT count(*) FROM invocation");
        list_where(sql, sizeof sql, user, workflow_id, states);
        mt_db_stmt_t *st = mt_db__stmt(db, sql);
        if (!st)
            return mt_db__fail(db, 0, "count invocations");
        list_bind(st, user, workflow_id, states);
        int rc = mt_db__step(db, st);
        int ret = rc == MT_DB_ROW ? 0 : mt_db__fail(db, rc, "count invocations");
        if (ret == 0)
            *total = mt_db__col_int64(st, 0);
        mt_db__release(st);
        if (ret < 0)
            return ret;
    }
    snprintf(sql, sizeof sql, "SELECT " INV_COLUMNS " FROM invocation");
    list_where(sql, sizeof sql, user, workflow_id, states);
    strcat(sql, " ORDER BY id DESC LIMIT ? OFFSET ?");
    mt_db_stmt_t *st = mt_db__stmt(db, sql);
    if (!st)
        return mt_db__fail(db, 0, "list invocations");
    int i = list_bind(st, user, workflow_id, states);
    mt_db__bind_page(st, i, limit, offset);
    size_t cap = 0;
    int rc = mt_db__step(db, st);
    for (; rc == MT_DB_ROW; rc = mt_db__step(db, st)) {
        if (*n == cap) {
            cap = cap ? 2 * cap : 16;
            *out = mt_realloc(*out, cap * sizeof **out);
        }
        memset(&(*out)[*n], 0, sizeof **out);
        read_invocation(st, &(*out)[(*n)++]);
    }
    int ret = rc == MT_DB_DONE ? 0 : mt_db__fail(db, rc, "list invocations");
    mt_db__release(st);
    if (ret < 0) {
        for (size_t k = 0; k < *n; k++)
            mt_invocation_clear(&(*out)[k]);
        free(*out);
        *out = NULL;
        *n = 0;
    }
    return ret;
}

int mt_invocation_store_get(mt_db_t *db, int64_t id, mt_invocation_t *out)
{
    memset(out, 0, sizeof *out);
    mt_db_stmt_t *st = mt_db__stmt(db, sql_get);
    if (!st)
        return mt_db__fail(db, 0, "get invocation");
    mt_db__bind_int64(st, 1, id);
    int rc = mt_db__step(db, st);
    int ret = 0;
    if (rc == MT_DB_ROW) {
        read_invocation(st, out);
    } else if (rc == MT_DB_DONE) {
        ret = -ENOENT;
    } else {
        ret = mt_db__fail(db, rc, "get invocation");
    }
    mt_db__release(st);
    return ret;
}

int mt_invocation_store_steps(mt_db_t *db, int64_t id, mt_invocation_step_t **steps, size_t *n)
{
    *steps = NULL;
    *n = 0;
    mt_db_stmt_t *st = mt_db__stmt(db, sql_steps);
    if (!st)
        return mt_db__fail(db, 0, "get invocation steps");
    mt_db__bind_int64(st, 1, id);
    size_t cap = 0;
    int rc = mt_db__step(db, st);
    for (; rc == MT_DB_ROW; rc = mt_db__step(db, st)) {
        if (*n == cap) {
            cap = cap ? 2 * cap : 8;
            *steps = mt_realloc(*steps, cap * sizeof **steps);
        }
        mt_invocation_step_t *s = &(*steps)[(*n)++];
        s->index = (int)mt_db__col_int64(st, 0);
        s->step_id = column_str(st, 1);
        int state = parse_name(mt_db__col_text(st, 2), step_state_names, 6);
        s->state = state < 0 ? MT_STEP_FAILED : (mt_step_state_t)state;
        s->job_id = mt_db__col_int64(st, 3);
        s->info = column_str(st, 4);
    }
    int ret = rc == MT_DB_DONE ? 0 : mt_db__fail(db, rc, "get invocation steps");
    mt_db__release(st);
    if (ret < 0) {
        mt_invocation_steps_free(*steps, *n);
        *steps = NULL;
        *n = 0;
    }
    return ret;
}

int mt_invocation_store_claim(mt_db_t *db, int64_t id, const char *handler)
{
    mt_db_stmt_t *st = mt_db__stmt(db, sql_claim);
    if (!st)
        return mt_db__fail(db, 0, "claim invocation");
    mt_db__bind_int64(st, 1, id);
    bind_str(st, 2, handler);
    mt_db__bind_int64(st, 3, mt_db_time_us(db));
    int rc = mt_db__step(db, st);
    int ret = rc == MT_DB_DONE ? (int)mt_db__changes(db) : mt_db__fail(db, rc, "claim invocation");
    mt_db__release(st);
    if (ret != 0)
        return ret;
    /* Not new: perhaps ours already (a second message, recovery). */
    st = mt_db__stmt(db, sql_owned);
    if (!st)
        return mt_db__fail(db, 0, "claim invocation");
    mt_db__bind_int64(st, 1, id);
    bind_str(st, 2, handler);
    rc = mt_db__step(db, st);
    ret = rc == MT_DB_ROW ? 1 : rc == MT_DB_DONE ? 0 : mt_db__fail(db, rc, "claim invocation");
    mt_db__release(st);
    return ret;
}

int mt_invocation_store_set_state(mt_db_t *db, int64_t id, unsigned from, mt_invocation_state_t to, const char *info)
{
    mt_db_stmt_t *st = mt_db__stmt(db, sql_set_state);
    if (!st)
        return mt_db__fail(db, 0, "update invocation");
    mt_db__bind_int64(st, 1, id);
    mt_db__bind_int64(st, 2, (int)from);
    mt_db__bind_text(st, 3, mt_invocation_state_name(to));
    mt_db__bind_int64(st, 4, mt_db_time_us(db));
    bind_str(st, 5, info);
    int rc = mt_db__step(db, st);
    int ret = rc == MT_DB_DONE ? (int)mt_db__changes(db) : mt_db__fail(db, rc, "update invocation");
    mt_db__release(st);
    return ret;
}

int mt_invocation_store_set_step(mt_db_t *db, int64_t id, int index, unsigned from, mt_step_state_t to,
                                 int64_t job_id, const char *info)
{
    mt_db_stmt_t *st = mt_db__stmt(db, sql_set_step);
    if (!st)
        return mt_db__fail(db, 0, "update invocation step");
    mt_db__bind_int64(st, 1, id);
    mt_db__bind_int64(st, 2, index);
    mt_db__bind_int64(st, 3, (int)from);
    mt_db__bind_text(st, 4, mt_step_state_name(to));
    if (job_id)
        mt_db__bind_int64(st, 5, job_id);
    else
        mt_db__bind_null(st, 5);
    bind_str(st, 6, info);
    int rc = mt_db__step(db, st);
    int ret = rc == MT_DB_DONE ? (int)mt_db__changes(db) : mt_db__fail(db, rc, "update invocation step");
    mt_db__release(st);
    return ret;
}

static int collect_ids(mt_db_t *db, mt_db_stmt_t *st, const char *what, int64_t **ids, size_t *n)
{
    *ids = NULL;
    *n = 0;
    size_t cap = 0;
    int rc = mt_db__step(db, st);
    for (; rc == MT_DB_ROW; rc = mt_db__step(db, st)) {
        if (*n == cap) {
            cap = cap ? 2 * cap : 16;
            *ids = mt_realloc(*ids, cap * sizeof **ids);
        }
        (*ids)[(*n)++] = mt_db__col_int64(st, 0);
    }
    int ret = rc == MT_DB_DONE ? 0 : mt_db__fail(db, rc, what);
    mt_db__release(st);
    if (ret < 0) {
        free(*ids);
        *ids = NULL;
        *n = 0;
    }
    return ret;
}

int mt_invocation_store_of_handler(mt_db_t *db, const char *handler, bool new_only, int64_t **ids, size_t *n)
{
    mt_db_stmt_t *st = mt_db__stmt(db, new_only ? mt_db__pick(db, sql_new_of_handler, pg_new_of_handler)
                                              : mt_db__pick(db, sql_of_handler, pg_of_handler));
    if (!st)
        return mt_db__fail(db, 0, "list invocations");
    bind_str(st, 1, handler);
    return collect_ids(db, st, "list invocations", ids, n);
}

int mt_invocation_store_settle_due(mt_db_t *db, const char *handler, int64_t **ids, size_t *n)
{
    mt_db_stmt_t *st = mt_db__stmt(db, mt_db__pick(db, sql_settle_due, pg_settle_due));
    if (!st)
        return mt_db__fail(db, 0, "list invocations to settle");
    bind_str(st, 1, handler);
    return collect_ids(db, st, "list invocations to settle", ids, n);
}

int mt_invocation_store_unassigned(mt_db_t *db, const char *queue, int64_t created_before_us, size_t limit,
                                   int64_t **ids, size_t *n)
{
    mt_db_stmt_t *st = mt_db__stmt(db, mt_db__pick(db, sql_unassigned, pg_unassigned));
    if (!st)
        return mt_db__fail(db, 0, "list unassigned invocations");
    bind_str(st, 1, queue);
    mt_db__bind_int64(st, 2, created_before_us);
    mt_db__bind_int64(st, 3, (int64_t)limit);
    return collect_ids(db, st, "list unassigned invocations", ids, n);
}

int mt_invocation_store_claim_next(mt_db_t *db, const char *queue, const char *handler, int64_t *id)
{
    *id = 0;
    mt_db_stmt_t *st = mt_db__stmt(db, mt_db__pick(db, sql_claim_next, pg_claim_next));
    if (!st)
        return mt_db__fail(db, 0, "claim the next invocation");
    bind_str(st, 1, queue);
    bind_str(st, 2, handler);
    mt_db__bind_int64(st, 3, mt_db_time_us(db));
    int rc = mt_db__step(db, st);
    int ret = 0;
    if (rc == MT_DB_ROW) {
        *id = mt_db__col_int64(st, 0);
        rc = mt_db__step(db, st);
        ret = rc == MT_DB_DONE ? 1 : mt_db__fail(db, rc, "claim the next invocation");
    } else if (rc != MT_DB_DONE) {
        ret = mt_db__fail(db, rc, "claim the next invocation");
    }
    mt_db__release(st);
    if (ret != 1)
        *id = 0;
    return ret;
}
