/*
 * workflow_library: the workflows of the workflows directory, loaded once
 * by the master before it forks (every process inherits them), and looked
 * up by id. Workflows created through the API live in the database instead
 * (workflow_store.h); the HTTP layer asks both.
 */
#ifndef MT_WORKFLOW_LIBRARY_H
#define MT_WORKFLOW_LIBRARY_H

#include <stdbool.h>
#include <stddef.h>

#include "app/model/tools.h"
#include "app/model/workflow.h"

typedef struct mt_workflow_library mt_workflow_library_t;

/*
 * Load every *.yml / *.yaml file of dir (names starting with '.' skipped),
 * each one workflow, checked against tools. A missing directory is an
 * empty library when `optional` (the default directory), an error
 * otherwise; a NULL dir is an empty library. Two files with one id are an error. Returns 0 and *out, or -1
 * with one line in err ("workflows/diamond.yml:7: step 'b': ...").
 */
int mt_workflow_library_load(const char *dir, bool optional, const mt_toolbox_t *tools, mt_workflow_library_t **out,
                             char *err, size_t errlen);

void mt_workflow_library_free(mt_workflow_library_t *lib); /* accepts NULL */

size_t mt_workflow_library_count(const mt_workflow_library_t *lib);
const mt_workflow_t *mt_workflow_library_get(const mt_workflow_library_t *lib, size_t i);
const mt_workflow_t *mt_workflow_library_find(const mt_workflow_library_t *lib, const char *id);

#endif
