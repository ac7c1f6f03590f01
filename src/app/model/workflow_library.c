/*
 * workflow_library: the workflows directory (see workflow_library.h).
 */
#include "app/model/workflow_library.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"

struct mt_workflow_library {
    mt_workflow_t **workflows;
    char **origins; /* the file each came from, for duplicate-id errors */
    size_t count;
};

static bool is_workflow_file(const char *name)
{
    size_t n = strlen(name);
    if (name[0] == '.')
        return false;
    return (n > 4 && strcmp(name + n - 4, ".yml") == 0) || (n > 5 && strcmp(name + n - 5, ".yaml") == 0);
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int mt_workflow_library_load(const char *dir, bool optional, const mt_toolbox_t *tools, mt_workflow_library_t **out,
                             char *err, size_t errlen)
{
    *out = NULL;
    mt_workflow_library_t *lib = mt_calloc(1, sizeof *lib);
    if (!dir) {
        *out = lib;
        return 0;
    }
    DIR *d = opendir(dir);
    if (!d) {
        if (errno == ENOENT && optional) {
            *out = lib;
            return 0;
        }
        snprintf(err, errlen, "%s: %s", dir, strerror(errno));
        free(lib);
        return -1;
    }
    char **names = NULL;
    size_t nnames = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (!is_workflow_file(de->d_name))
            continue;
        if (nnames == cap) {
            cap = cap ? 2 * cap : 16;
            names = mt_realloc(names, cap * sizeof *names);
        }
        names[nnames++] = mt_strdup(de->d_name);
    }
    closedir(d);
    qsort(names, nnames, sizeof *names, by_name); /* a stable order, so errors do not depend on readdir */
    int rc = 0;
    lib->workflows = mt_calloc(nnames ? nnames : 1, sizeof *lib->workflows);
    lib->origins = mt_calloc(nnames ? nnames : 1, sizeof *lib->origins);
    for (size_t i = 0; i < nnames && rc == 0; i++) {
        char *path = mt_asprintf("%s/%s", dir, names[i]);
        mt_workflow_t *wf = NULL;
        if (mt_workflow_load_file(path, tools, &wf, err, errlen) < 0) {
            rc = -1;
        } else if (mt_workflow_library_find(lib, mt_workflow_id(wf))) {
            size_t k = 0;
            while (strcmp(mt_workflow_id(lib->workflows[k]), mt_workflow_id(wf)) != 0)
                k++;
            snprintf(err, errlen, "%s: workflow id '%s' is already defined in %s", path, mt_workflow_id(wf),
                     lib->origins[k]);
            mt_workflow_free(wf);
            rc = -1;
        } else {
            lib->workflows[lib->count] = wf;
            lib->origins[lib->count++] = mt_strdup(path);
        }
        free(path);
    }
    for (size_t i = 0; i < nnames; i++)
        free(names[i]);
    free(names);
    if (rc < 0) {
        mt_workflow_library_free(lib);
        return -1;
    }
    *out = lib;
    return 0;
}

void mt_workflow_library_free(mt_workflow_library_t *lib)
{
    if (!lib)
        return;
    for (size_t i = 0; i < lib->count; i++) {
        mt_workflow_free(lib->workflows[i]);
        free(lib->origins[i]);
    }
    free(lib->workflows);
    free(lib->origins);
    free(lib);
}

size_t mt_workflow_library_count(const mt_workflow_library_t *lib)
{
    return lib ? lib->count : 0;
}

const mt_workflow_t *mt_workflow_library_get(const mt_workflow_library_t *lib, size_t i)
{
    return lib && i < lib->count ? lib->workflows[i] : NULL;
}

const mt_workflow_t *mt_workflow_library_find(const mt_workflow_library_t *lib, const char *id)
{
    for (size_t i = 0; lib && i < lib->count; i++)
        if (strcmp(mt_workflow_id(lib->workflows[i]), id) == 0)
            return lib->workflows[i];
    return NULL;
}
