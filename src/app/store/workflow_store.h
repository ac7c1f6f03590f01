/*
 * workflow_store: workflows created through the API, kept in the database
 * so that every process (web workers, mules, other hosts) sees them. Their
 * definition is stored as it was sent and parsed again where it is used.
 * Errors as job_store.h: negative errno values, detail in mt_db_errmsg().
 */
#ifndef MT_WORKFLOW_STORE_H
#define MT_WORKFLOW_STORE_H

#include <stddef.h>

#include "app/store/db.h"

/* Store a definition under id. Returns 0, -EEXIST if that id is taken, or another negative value. */
int mt_workflow_store_insert(mt_db_t *db, const char *id, const char *definition);

/* The definition stored under id in *definition (free it), or -ENOENT. */
int mt_workflow_store_get(mt_db_t *db, const char *id, char **definition);

/* Every stored workflow, in id order: parallel arrays of ids and definitions (free with mt_workflow_store_free). */
int mt_workflow_store_list(mt_db_t *db, char ***ids, char ***definitions, size_t *count);
void mt_workflow_store_free(char **ids, char **definitions, size_t count);

#endif
