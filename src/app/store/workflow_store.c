/*
 * workflow_store: the workflow table (see workflow_store.h).
 */
#include "app/store/workflow_store.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "app/store/job_store.h"
#include "common/mem.h"

static const char sql_insert[] = "INSERT INTO workflow (id, definition, create_time) VALUES (?1, ?2, ?3)";
static const char sql_get[] = "SELECT definition FROM workflow WHERE id = ?1";
static const char sql_list[] = "SELECT id, definition FROM workflow ORDER BY id";

int mt_workflow_store_insert(mt_db_t *db, const char *id, const char *definition)
{
    sqlite3_stmt *st = mt_db__stmt(db, sql_insert);
    if (!st)
        return mt_db__fail(db, SQLITE_ERROR, "insert workflow");
    sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, definition, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 3, mt_db_time_us(db));
    int rc = mt_db__step(db, st);
    int ret = 0;
    if (rc == SQLITE_CONSTRAINT_PRIMARYKEY)
        ret = -EEXIST;
    else if (rc != SQLITE_DONE)
        ret = mt_db__fail(db, rc, "insert workflow");
    mt_db__release(st);
    return ret;
}

int mt_workflow_store_get(mt_db_t *db, const char *id, char **definition)
{
    *definition = NULL;
    sqlite3_stmt *st = mt_db__stmt(db, sql_get);
    if (!st)
        return mt_db__fail(db, SQLITE_ERROR, "get workflow");
    sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    int rc = mt_db__step(db, st);
    int ret = 0;
    if (rc == SQLITE_ROW)
        *definition = mt_strdup((const char *)sqlite3_column_text(st, 0));
    else if (rc == SQLITE_DONE)
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
    sqlite3_stmt *st = mt_db__stmt(db, sql_list);
    if (!st)
        return mt_db__fail(db, SQLITE_ERROR, "list workflows");
    size_t cap = 0;
    int rc;
    while ((rc = *count == 0 ? mt_db__step(db, st) : sqlite3_step(st)) == SQLITE_ROW) {
        if (*count == cap) {
            cap = cap ? 2 * cap : 8;
            *ids = mt_realloc(*ids, cap * sizeof **ids);
            *definitions = mt_realloc(*definitions, cap * sizeof **definitions);
        }
        (*ids)[*count] = mt_strdup((const char *)sqlite3_column_text(st, 0));
        (*definitions)[*count] = mt_strdup((const char *)sqlite3_column_text(st, 1));
        (*count)++;
    }
    int ret = rc == SQLITE_DONE ? 0 : mt_db__fail(db, rc, "list workflows");
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
