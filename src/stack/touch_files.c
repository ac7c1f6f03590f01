/*
 * touch_files: the files of touch-reload and touch-chain-reload (see
 * touch_files.h).
 */
#define MT_LOG_NAME "muleteer.stack.master"

#include "stack/touch_files.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "common/log.h"
#include "common/mem.h"

/* A file, and what was seen of it last. */
typedef struct touch_file {
    const char *path;
    bool chain; /* touch-chain-reload: web workers only */
    bool exists;
    struct timespec mtime;
} touch_file_t;

struct mt_touch_files {
    touch_file_t *files;
    size_t n;
};

static const char *const option_names[2] = {"touch-reload", "touch-chain-reload"};

static void look(touch_file_t *f)
{
    struct stat st;
    f->exists = stat(f->path, &st) == 0;
    f->mtime = f->exists ? st.st_mtim : (struct timespec){0};
}

mt_touch_files_t *mt_touch_files_open(const mt_config_t *cfg)
{
    size_t n = mt_config_list_count(cfg, NULL, option_names[0]) + mt_config_list_count(cfg, NULL, option_names[1]);
    if (n == 0)
        return NULL;
    mt_touch_files_t *t = mt_calloc(1, sizeof *t);
    t->files = mt_calloc(n, sizeof *t->files);
    for (int k = 0; k < 2; k++)
        for (size_t i = 0; i < mt_config_list_count(cfg, NULL, option_names[k]); i++) {
            touch_file_t *f = &t->files[t->n++];
            f->path = mt_config_list_get(cfg, NULL, option_names[k], i, NULL);
            f->chain = k == 1;
            look(f);
            if (!f->exists)
                mt_notice("%s: %s does not exist (yet): its creation will count as a change", option_names[k],
                          f->path);
        }
    mt_info("watching %zu file%s for touch-reload / touch-chain-reload", t->n, t->n == 1 ? "" : "s");
    return t;
}

mt_touch_change_t mt_touch_files_check(mt_touch_files_t *t, char *why, size_t whylen)
{
    if (!t)
        return MT_TOUCH_NONE;
    const touch_file_t *full = NULL, *chain = NULL;
    bool full_created = false, chain_created = false;
    for (size_t i = 0; i < t->n; i++) {
        touch_file_t *f = &t->files[i];
        bool was = f->exists;
        struct timespec before = f->mtime;
        look(f);
        if (!f->exists || (was && before.tv_sec == f->mtime.tv_sec && before.tv_nsec == f->mtime.tv_nsec))
            continue;
        if (f->chain && !chain) {
            chain = f;
            chain_created = !was;
        } else if (!f->chain && !full) {
            full = f;
            full_created = !was;
        }
    }
    if (!full && !chain)
        return MT_TOUCH_NONE;
    const touch_file_t *f = full ? full : chain;
    snprintf(why, whylen, "%s: %s %s", option_names[f->chain ? 1 : 0], f->path,
             (full ? full_created : chain_created) ? "created" : "modified");
    return full ? MT_TOUCH_RELOAD : MT_TOUCH_CHAIN;
}

void mt_touch_files_free(mt_touch_files_t *t)
{
    if (!t)
        return;
    free(t->files);
    free(t);
}
