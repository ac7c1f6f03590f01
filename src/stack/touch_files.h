/*
 * touch_files: the files of touch-reload and touch-chain-reload (uWSGI's
 * names), whose modification starts a reload.
 *
 * The master reads both option lists once at start and, about once a
 * second, asks whether any file was modified (its mtime changed) or
 * created since the last look. A file that does not exist yet is allowed
 * (a notice says so) and its creation counts as a change; a file removed
 * is no change. A touch-reload file asks for a reload of every web worker
 * and mule; a touch-chain-reload file for a rolling restart of the web
 * workers alone; when both changed, the full reload wins. Master only.
 */
#ifndef MT_TOUCH_FILES_H
#define MT_TOUCH_FILES_H

#include <stddef.h>

#include "stack/config.h"

typedef enum {
    MT_TOUCH_NONE,   /* nothing changed */
    MT_TOUCH_RELOAD, /* a touch-reload file changed: reload every web worker and mule */
    MT_TOUCH_CHAIN,  /* only touch-chain-reload files changed: restart the web workers */
} mt_touch_change_t;

typedef struct mt_touch_files mt_touch_files_t;

/*
 * The files named by cfg's touch-reload and touch-chain-reload, as they
 * are now (a notice for each one missing, an info line for the set).
 * NULL when neither option is given. cfg must outlive the result (the
 * paths are not copied).
 */
mt_touch_files_t *mt_touch_files_open(const mt_config_t *cfg);

/*
 * Look at every file again. Returns what the changes ask for, with why
 * filled ("touch-reload: PATH modified" or "... created") unless
 * MT_TOUCH_NONE. Accepts NULL (MT_TOUCH_NONE).
 */
mt_touch_change_t mt_touch_files_check(mt_touch_files_t *files, char *why, size_t whylen);

/* Free the set. Accepts NULL. */
void mt_touch_files_free(mt_touch_files_t *files);

#endif
