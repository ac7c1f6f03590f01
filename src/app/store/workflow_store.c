/*
 * workflow_store: the workflow table (see workflow_store.h).
 */
#include "app/store/workflow_store.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "app/store/job_store.h"
#include "common/mem.h"

/* A taken id changes nothing (and is told by the count of changes): the same on both backends. */
static const char sql_insert[] =
    "INSERT INTO workflow (id, definition, create_time) VALUES (?1, ?2, ?3) ON CONFLICT (id) DO NOTHING";
static const char sql_get[] = "SELECT definition FROM workflow WHERE id = ?1";
static const char sql_list[] = "SELECT id, definition FROM workflow ORDER BY id";

int mt_workflow_store_insert(mt_db_t *db, const char *id, const char *definition)
{
    mt_db_stmt_t *st = mt_db__stmt(db, sql_insert);
    if (!st)
        return mt_db__fail(db, 0, "insert workflow");
    mt_db__bind_text(st, 1, id);
    mt_db__bind_text(st, 2, definition);
    mt_db__bind_int64(st, 3, mt_db_time_us(db));
    int rc = mt_db__step(db, st);
    int ret = 0;
    if (rc != MT_DB_DONE)
        ret = mt_db__fail(db, rc, "insert workflow");
    else if (mt_db__changes(db) == 0)
        ret = -EEXIST;
    mt_db__release(st);
    return ret;
}

int mt_workflow_store_get(mt_db_t *db, const char *id, char **definition)
{
    *definition = NULL;
    mt_db_stmt_t *st = mt_db__stmt(db, sql_get);
    if (!st)
        return mt_db__fail(db, 0, "get workflow");
    mt_db__bind_text(st, 1, id);
    int rc = mt_db__step(db, st);
    int ret = 0;
    if (rc == MT_DB_ROW)
        *definition = mt_strdup(mt_db__col_text(st, 0));
    else if (rc == MT_DB_DONE)
        ret = -ENOENT;
    else
        ret = mt_db__fail(db, rc, "get workflow");
    mt_db__release(st);
    return ret;
}

int mt_workflow_store_list(mt_db_t *db, char ***ids, char ***definitions, size_t *count)
{
    *ids = *definitions = NULL;
    *count = 0;
    mt_db_stmt_t *st = mt_db__stmt(db, sql_list);
    if (!st)
        return mt_db__fail(db, 0, "list workflows");
    size_t cap = 0;
    int rc;
    while ((rc = *count == 0 ? mt_db__step(db, st) : mt_db__step(db, st)) == MT_DB_ROW) {
        if (*count == cap) {
            cap = cap ? 2 * cap : 8;
            *ids = mt_realloc(*ids, cap * sizeof **ids);
            *definitions = mt_realloc(*definitions, cap * sizeof **definitions);
        }
        (*ids)[*count] = mt_strdup(mt_db__col_text(st, 0));
        (*definitions)[*count] = mt_strdup(mt_db__col_text(st, 1));
        (*count)++;
    }
    int ret = rc == MT_DB_DONE ? 0 : mt_db__fail(db, rc, "list workflows");
    mt_db__release(st);
    if (ret < 0) {
        mt_workflow_store_free(*ids, *definitions, *count);
        *ids = *definitions = NULL;
        *count = 0;
    }
    return ret;
}

void mt_workflow_store_free(char **ids, char **definitions, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        free(ids[i]);
        free(definitions[i]);
    }
    free(ids);
    free(definitions);
}
