/*
 * config_yaml: the YAML loader (--yaml FILE), built on libfyaml.
 *
 * uWSGI configs repeat keys ("mule:" three times, "farm:" twice), which
 * strict YAML forbids; the document is parsed with duplicate keys allowed
 * and each mapping is walked pair by pair in document order, never looked
 * up by key. libfyaml's diagnostics are collected rather than printed, and
 * the first one becomes a one-line "FILE:LINE: ..." error.
 *
 * libfyaml 0.7 (Debian) has no public fy_node_get_start_mark(): line
 * numbers come from scalar tokens, and a collection's line is that of its
 * first scalar (its first key or item), falling back to its parent key's.
 *
 * A bad option, list item or pool does not stop the file: its error is
 * recorded in the config and the walk goes on, so every problem of the
 * file is reported in one run (a YAML syntax error ends the file).
 *
 * Besides the option sections, this file reads the hierarchical pools form
 * ("stack: workers: [...]" at the top, "pools: [...]" in the main section)
 * into mt_config_pool_t records.
 */
#define MT_LOG_NAME "muleteer.stack.config"

#include <errno.h>
#include <libfyaml.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stack/config.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/yaml.h"
#include "common/message.h"

/* Upper bound of a pool's processes, as for --mules. */
#define MT__POOL_PROCESSES_MAX 1024

typedef struct mt__yaml_ctx {
    mt_config_t *cfg;
    const char *file; /* interned path */
    char *err;
    size_t errlen;
} mt__yaml_ctx_t;

static int mt__yaml_error(mt__yaml_ctx_t *ctx, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int mt__yaml_error(mt__yaml_ctx_t *ctx, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    mt_message_vformat_at(ctx->err, ctx->errlen, ctx->file, line, fmt, ap);
    va_end(ap);
    mt_config__record_error(ctx->cfg, ctx->err);
    return -1;
}

/* The text of a scalar node as a new string. */
static char *mt__scalar_dup(struct fy_node *node)
{
    size_t len;
    const char *text = fy_node_get_scalar(node, &len);
    return mt_strndup(text ? text : "", text ? len : 0);
}

static bool mt__is_scalar(struct fy_node *node)
{
    return node && fy_node_get_type(node) == FYNT_SCALAR;
}

/* Same as config.c: '_' and '-' alike. */
static bool mt__key_is(const char *key, const char *name)
{
    for (; *key && *name; key++, name++) {
        char a = *key == '_' ? '-' : *key, b = *name == '_' ? '-' : *name;
        if (a != b)
            return false;
    }
    return *key == *name;
}

/* ------------------------------------------------------------------ */
/* Pools                                                               */
/* ------------------------------------------------------------------ */

static void mt__pool_free(mt_config_pool_t *pool)
{
    free(pool->name);
    free(pool->purpose);
    free(pool->type);
    free(pool->server_name_template);
    free(pool->program);
}

/* One pool mapping; `line` is where it starts. */
static int mt__load_pool(mt__yaml_ctx_t *ctx, struct fy_node *item, int line)
{
    mt_config_pool_t pool = { .processes = 1, .src = { MT_SRC_FILE, ctx->file, line } };
    bool have_processes = false;
    int type_line = line;
    void *iter = NULL;
    struct fy_node_pair *pair;
    char *key = NULL;

    while ((pair = fy_node_mapping_iterate(item, &iter))) {
        struct fy_node *knode = fy_node_pair_key(pair);
        bool broken;
        struct fy_node *vnode = mt_yaml_deref(fy_node_pair_value(pair), &broken);
        int kline = mt_yaml_node_line(knode, line);
        if (!mt__is_scalar(knode) || mt_yaml_is_null(knode)) {
            mt__yaml_error(ctx, kline, "pools: keys must be plain names");
            goto error;
        }
        free(key);
        key = mt__scalar_dup(knode);
        int vline = mt_yaml_node_line(vnode, kline);
        if (broken) {
            mt__yaml_error(ctx, kline, "pools: '%s': unresolvable alias", key);
            goto error;
        }

        char **field = NULL;
        if (mt__key_is(key, "name"))
            field = &pool.name;
        else if (mt__key_is(key, "purpose"))
            field = &pool.purpose;
        else if (mt__key_is(key, "type"))
            field = &pool.type;
        else if (mt__key_is(key, "server-name"))
            field = &pool.server_name_template;
        else if (mt__key_is(key, "program"))
            field = &pool.program;
        else if (!mt__key_is(key, "processes")) {
            mt__yaml_error(ctx, kline,
                           "pools: unknown key '%s' (expected name, purpose, type, processes, server_name, program)",
                           key);
            goto error;
        }

        if (!mt__is_scalar(vnode) || mt_yaml_is_null(vnode)) {
            mt__yaml_error(ctx, vline, "pools: '%s' must be a single value", key);
            goto error;
        }
        if ((field && *field) || (!field && have_processes)) {
            mt__yaml_error(ctx, kline, "pools: '%s' given twice", key);
            goto error;
        }
        char *value = mt__scalar_dup(vnode);
        if (field == &pool.type)
            type_line = vline;
        if (field) {
            *field = value;
            continue;
        }
        char *end;
        errno = 0;
        long n = strtol(value, &end, 10);
        if (end == value || *end != '\0' || errno == ERANGE || n < 0 || n > MT__POOL_PROCESSES_MAX) {
            mt__yaml_error(ctx, vline, "pools: processes: '%s' is not a number in [0, %d]", value,
                           MT__POOL_PROCESSES_MAX);
            free(value);
            goto error;
        }
        free(value);
        pool.processes = n;
        have_processes = true;
    }

    if (!pool.name || !pool.name[0]) {
        mt__yaml_error(ctx, line, "pools: a pool needs a name");
        goto error;
    }
    if (!pool.type) {
        pool.type = mt_strdup("mule");
    } else if (strcmp(pool.type, "mule") != 0 && strcmp(pool.type, "standalone") != 0) {
        mt__yaml_error(ctx, type_line, "pools: pool '%s': type '%s' is not mule or standalone", pool.name, pool.type);
        goto error;
    }
    free(key);
    mt_config__add_pool(ctx->cfg, &pool);
    return 0;

error:
    free(key);
    mt__pool_free(&pool);
    return -1;
}

/* A sequence of pool mappings ("workers:" / "pools:"); `line` is its key's. */
static int mt__load_pools(mt__yaml_ctx_t *ctx, struct fy_node *seq, int line)
{
    if (mt_yaml_is_null(seq))
        return 0;
    if (fy_node_get_type(seq) != FYNT_SEQUENCE)
        return mt__yaml_error(ctx, line, "pools: expected a list of pools (- name: ...)");
    void *iter = NULL;
    struct fy_node *item;
    int rc = 0;
    while ((item = fy_node_sequence_iterate(seq, &iter))) {
        bool broken;
        int iline = mt_yaml_node_line(item, line);
        item = mt_yaml_deref(item, &broken);
        if (broken || !item || fy_node_get_type(item) != FYNT_MAPPING)
            rc = mt__yaml_error(ctx, iline, "pools: each pool must be a mapping (name: ..., processes: ...)");
        else if (mt__load_pool(ctx, item, mt_yaml_node_line(item, iline)) < 0)
            rc = -1; /* recorded; the next pool is read all the same */
    }
    return rc;
}

/* The top-level "stack:" mapping: only "workers:" for now. */
static int mt__load_stack(mt__yaml_ctx_t *ctx, struct fy_node *map, int line)
{
    if (mt_yaml_is_null(map))
        return 0;
    if (fy_node_get_type(map) != FYNT_MAPPING)
        return mt__yaml_error(ctx, line, "stack: expected a mapping with workers:");
    void *iter = NULL;
    struct fy_node_pair *pair;
    int rc = 0;
    while ((pair = fy_node_mapping_iterate(map, &iter))) {
        struct fy_node *knode = fy_node_pair_key(pair);
        int kline = mt_yaml_node_line(knode, line);
        bool broken;
        struct fy_node *vnode = mt_yaml_deref(fy_node_pair_value(pair), &broken);
        if (!mt__is_scalar(knode) || mt_yaml_is_null(knode)) {
            rc = mt__yaml_error(ctx, kline, "stack: keys must be plain names");
            continue;
        }
        char *key = mt__scalar_dup(knode);
        if (broken)
            rc = mt__yaml_error(ctx, kline, "stack: '%s': unresolvable alias", key);
        else if (mt__key_is(key, "workers"))
            rc = mt__load_pools(ctx, vnode, kline) < 0 ? -1 : rc;
        else
            rc = mt__yaml_error(ctx, kline, "stack: unknown key '%s' (expected workers)", key);
        free(key);
    }
    return rc;
}

/* ------------------------------------------------------------------ */
/* Option sections                                                     */
/* ------------------------------------------------------------------ */

static int mt__set_scalar(mt__yaml_ctx_t *ctx, int sect, const char *name, struct fy_node *node, int line)
{
    mt_source_t src = { MT_SRC_FILE, ctx->file, line };
    if (mt_yaml_is_null(node))
        return mt_config__set(ctx->cfg, sect, name, NULL, &src, ctx->err, ctx->errlen);
    char *value = mt__scalar_dup(node);
    int rc = mt_config__set(ctx->cfg, sect, name, value, &src, ctx->err, ctx->errlen);
    free(value);
    return rc;
}

/* One "name: value" pair of a section. */
static int mt__load_option(mt__yaml_ctx_t *ctx, int sect, const char *name, struct fy_node *vnode, int line)
{
    const mt_option_def_t *def = mt_config__find_option(ctx->cfg, sect, name);
    mt_source_t src = { MT_SRC_FILE, ctx->file, line };

    if (!def || (def->flags & MT_OPT_CMDLINE_ONLY))
        return mt_config__set(ctx->cfg, sect, name, NULL, &src, ctx->err, ctx->errlen); /* reports it */
    if (mt_yaml_is_null(vnode) || fy_node_get_type(vnode) == FYNT_SCALAR)
        return mt__set_scalar(ctx, sect, name, vnode, line);
    if (fy_node_get_type(vnode) == FYNT_MAPPING)
        return mt__yaml_error(ctx, line, "option '%s': expected a value, not a mapping", name);
    if (def->type != MT_OPT_LIST)
        return mt__yaml_error(ctx, line, "option '%s': expected a single value, not a list", name);

    void *iter = NULL;
    struct fy_node *item;
    int rc = 0;
    while ((item = fy_node_sequence_iterate(vnode, &iter))) {
        int iline = mt_yaml_node_line(item, line);
        bool broken;
        item = mt_yaml_deref(item, &broken);
        if (broken || (!mt_yaml_is_null(item) && fy_node_get_type(item) != FYNT_SCALAR))
            rc = mt__yaml_error(ctx, iline, "option '%s': list items must be single values", name);
        else if (mt__set_scalar(ctx, sect, name, item, iline) < 0)
            rc = -1; /* recorded; the next item is read all the same */
    }
    return rc;
}

/* The mapping under a section key (muleteer:, uwsgi:, jobs:, ...). */
static int mt__load_section(mt__yaml_ctx_t *ctx, int sect, const char *secname, struct fy_node *map, int line)
{
    if (mt_yaml_is_null(map))
        return 0;
    if (fy_node_get_type(map) != FYNT_MAPPING)
        return mt__yaml_error(ctx, line, "'%s' must be a mapping of option: value", secname);
    void *iter = NULL;
    struct fy_node_pair *pair;
    int failed = 0;
    while ((pair = fy_node_mapping_iterate(map, &iter))) {
        struct fy_node *knode = fy_node_pair_key(pair);
        int kline = mt_yaml_node_line(knode, line);
        if (!mt__is_scalar(knode) || mt_yaml_is_null(knode)) {
            failed = mt__yaml_error(ctx, kline, "'%s': option names must be plain names", secname);
            continue;
        }
        bool broken;
        struct fy_node *vnode = mt_yaml_deref(fy_node_pair_value(pair), &broken);
        char *name = mt__scalar_dup(knode);
        int rc;
        if (broken)
            rc = mt__yaml_error(ctx, kline, "option '%s': unresolvable alias", name);
        else if (sect == 0 && mt__key_is(name, "pools"))
            rc = mt__load_pools(ctx, vnode, kline);
        else
            rc = mt__load_option(ctx, sect, name, vnode, kline);
        free(name);
        if (rc < 0)
            failed = -1; /* recorded; the next option is read all the same */
    }
    return failed;
}

/*
 * A galaxy.yml's "galaxy:" section holds Galaxy's own options, which are
 * not ours to read; but one of them says where the job configuration is,
 * and a site moving over would lose it without a word. Say so, once.
 */
static void mt__galaxy_section_notice(mt__yaml_ctx_t *ctx, struct fy_node *map, int line)
{
    struct fy_node *jc = map && fy_node_get_type(map) == FYNT_MAPPING
                             ? fy_node_mapping_lookup_by_string(map, "job_config_file", FY_NT)
                             : NULL;
    if (jc && mt__is_scalar(jc) && !mt_yaml_is_null(jc)) {
        char *value = mt__scalar_dup(jc);
        mt_notice("%s:%d: Galaxy's option 'job_config_file' (%s) is not read here: the job application reads "
                  "its configuration from jobs: job-config: %s",
                  ctx->file, mt_yaml_node_line(jc, line), value, value);
        free(value);
    } else {
        mt_notice("%s:%d: section 'galaxy' holds Galaxy's own options, which muleteer does not read (the job "
                  "application reads its section 'jobs')",
                  ctx->file, line);
    }
}

static int mt__load_root(mt__yaml_ctx_t *ctx, struct fy_node *root)
{
    if (mt_yaml_is_null(root))
        return 0;
    if (fy_node_get_type(root) != FYNT_MAPPING)
        return mt__yaml_error(ctx, mt_yaml_node_line(root, 1), "expected a mapping at the top level (muleteer: ...)");
    void *iter = NULL;
    struct fy_node_pair *pair;
    int failed = 0;
    while ((pair = fy_node_mapping_iterate(root, &iter))) {
        struct fy_node *knode = fy_node_pair_key(pair);
        int kline = mt_yaml_node_line(knode, 1);
        if (!mt__is_scalar(knode) || mt_yaml_is_null(knode))
            continue; /* not a name we could own */
        bool broken;
        struct fy_node *vnode = mt_yaml_deref(fy_node_pair_value(pair), &broken);
        char *key = mt__scalar_dup(knode);
        int sect = mt_config__section_index(ctx->cfg, key);
        int rc = 0;
        if ((sect >= 0 || strcmp(key, "stack") == 0) && broken)
            rc = mt__yaml_error(ctx, kline, "'%s': unresolvable alias", key);
        else if (strcmp(key, "stack") == 0)
            rc = mt__load_stack(ctx, vnode, kline);
        else if (sect >= 0)
            rc = mt__load_section(ctx, sect, key, vnode, kline);
        else if (strcmp(key, "galaxy") == 0)
            mt__galaxy_section_notice(ctx, vnode, kline);
        free(key);
        if (rc < 0)
            failed = -1;
    }
    return failed;
}

/* ------------------------------------------------------------------ */
/* Parsing                                                             */
/* ------------------------------------------------------------------ */

int mt_config_load_yaml(mt_config_t *cfg, const char *path, char *err, size_t errlen)
{
    mt__yaml_ctx_t ctx = { cfg, NULL, err, errlen };
    mt_yaml_doc_t y = {0};
    char *text = NULL;
    size_t len = 0;
    int rc = -1;
    size_t errors_before = mt_config_error_count(cfg);

    FILE *fp = mt_config__open_file(path, err, errlen);
    if (!fp) {
        mt_config__record_error(cfg, err);
        return -1;
    }
    ctx.file = mt_config__intern_file(cfg, path);
    text = mt_yaml_read_file(fp, ctx.file, &len, err, errlen);
    if (!text) {
        mt_config__record_error(cfg, err);
        goto out;
    }

    int yline;
    char why[512];
    if (mt_yaml_parse_one(text, len, FYPCF_ALLOW_DUPLICATE_KEYS, &y, &yline, why, sizeof why) < 0) {
        if (yline > 0) {
            mt__yaml_error(&ctx, yline, "%s", why);
        } else {
            snprintf(err, errlen, "%s: %s", path, why);
            mt_config__record_error(cfg, err);
        }
        goto out;
    }
    /* No document and no error: an empty file. */
    if (!y.doc) {
        rc = 0;
        goto out;
    }
    rc = mt__load_root(&ctx, fy_document_root(y.doc));

out:
    if (mt_config_error_count(cfg) > errors_before) {
        snprintf(err, errlen, "%s", mt_config_error_get(cfg, errors_before)); /* this file's first */
        rc = -1;
    }
    if (rc < 0)
        mt_message_one_line(err, errlen); /* keys and values may hold line breaks */
    mt_yaml_doc_free(&y);
    free(text);
    fclose(fp);
    return rc;
}
