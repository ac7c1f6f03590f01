/*
 * job_conf_exec_yaml: job_conf.yml's runners:, execution:, tools: (their
 * environment side), limits: and resources:, read with libfyaml into the
 * model of job_conf_exec.c (see job_conf_exec.h). Every key Galaxy reads is
 * read; anything else, or a key given twice, is an error naming FILE:LINE.
 */
#include "app/model/job_conf_exec.h"
#include "app/model/job_conf_exec_build.h"

#include <libfyaml.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/mem.h"
#include "common/message.h"
#include "common/yaml.h"

static struct fy_node *mt__y_deref(struct fy_node *node)
{
    bool broken = false;
    struct fy_node *n = mt_yaml_deref(node, &broken);
    return broken ? NULL : n;
}

static bool mt__y_is(struct fy_node *node, enum fy_node_type type)
{
    return node && !mt_yaml_is_null(node) && fy_node_get_type(node) == type;
}

/* A value as text: a scalar's text; a list or mapping in one-line flow form. -1 for a broken alias. */
static int mt__y_text(mt_job_exec_t *ex, struct fy_node *node, int line, const char *what, char **out)
{
    struct fy_node *n = mt__y_deref(node);
    if (node && !n)
        return mt__jx_fail_at(ex, line, "%s: unresolvable alias", what);
    if (!n || mt_yaml_is_null(n)) {
        *out = mt_strdup("");
        return 0;
    }
    if (fy_node_get_type(n) == FYNT_SCALAR) {
        size_t len;
        const char *text = fy_node_get_scalar(n, &len);
        if (text && memchr(text, '\0', len))
            return mt__jx_fail_at(ex, line, "%s: contains a NUL byte", what);
        *out = mt_strndup(text ? text : "", text ? len : 0);
        return 0;
    }
    char *flow = fy_emit_node_to_string(n, FYECF_MODE_FLOW_ONELINE | FYECF_WIDTH_INF);
    *out = mt_strdup(flow ? flow : "");
    free(flow);
    return 0;
}

/* A scalar, required (not a list, not a mapping, not null). */
static int mt__y_scalar(mt_job_exec_t *ex, struct fy_node *node, int line, const char *what, char **out)
{
    struct fy_node *n = mt__y_deref(node);
    if (!mt__y_is(n, FYNT_SCALAR))
        return mt__jx_fail_at(ex, mt_yaml_node_line(n, line), "%s: expected a single value", what);
    return mt__y_text(ex, n, line, what, out);
}

/* Iterate a mapping: fn(ex, key, value, key_line, arg) for each pair; keys must be scalars. */
typedef int (*mt__y_pair_fn)(mt_job_exec_t *ex, const char *key, struct fy_node *value, int line, void *arg);

typedef struct mt__y_key {
    const char *text;
    size_t len;
    int line;
} mt__y_key_t;

static int mt__y_key_cmp(const void *a, const void *b)
{
    const mt__y_key_t *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->text, y->text, n);
    if (c)
        return c;
    if (x->len != y->len)
        return x->len < y->len ? -1 : 1;
    return x->line - y->line;
}

/* Duplicate keys are let through by the parser: refuse them with their lines (sorted: n log n). */
static int mt__y_no_duplicates(mt_job_exec_t *ex, struct fy_node *map, int line, const char *what)
{
    int count = fy_node_mapping_item_count(map);
    if (count < 2)
        return 0;
    mt__y_key_t *keys = mt_calloc((size_t)count, sizeof *keys);
    size_t n = 0;
    void *iter = NULL;
    struct fy_node_pair *pair;
    while ((pair = fy_node_mapping_iterate(map, &iter)) && n < (size_t)count) {
        struct fy_node *k = fy_node_pair_key(pair);
        if (!mt__y_is(k, FYNT_SCALAR))
            continue; /* refused when it is reached */
        keys[n].text = fy_node_get_scalar(k, &keys[n].len);
        if (!keys[n].text)
            continue;
        keys[n++].line = mt_yaml_node_line(k, line);
    }
    qsort(keys, n, sizeof *keys, mt__y_key_cmp);
    int rc = 0;
    for (size_t i = 1; i < n && rc == 0; i++) {
        if (keys[i].len == keys[i - 1].len && memcmp(keys[i].text, keys[i - 1].text, keys[i].len) == 0)
            rc = mt__jx_fail_at(ex, keys[i].line, "%s: '%.*s' given twice (first at line %d)", what, (int)keys[i].len,
                                keys[i].text, keys[i - 1].line);
    }
    free(keys);
    return rc;
}

static int mt__y_each(mt_job_exec_t *ex, struct fy_node *map, int line, const char *what, mt__y_pair_fn fn, void *arg)
{
    map = mt__y_deref(map);
    if (!map || mt_yaml_is_null(map))
        return 0;
    if (fy_node_get_type(map) != FYNT_MAPPING)
        return mt__jx_fail_at(ex, mt_yaml_node_line(map, line), "%s: expected a mapping", what);
    if (fy_node_mapping_item_count(map) > MT__MAX_ITEMS)
        return mt__jx_fail_at(ex, mt_yaml_node_line(map, line), "%s: more than %d keys", what, MT__MAX_ITEMS);
    if (mt__y_no_duplicates(ex, map, line, what) < 0)
        return -1;
    void *iter = NULL;
    struct fy_node_pair *pair;
    while ((pair = fy_node_mapping_iterate(map, &iter))) {
        struct fy_node *k = fy_node_pair_key(pair);
        int kline = mt_yaml_node_line(k, line);
        char *key;
        if (!mt__y_is(k, FYNT_SCALAR))
            return mt__jx_fail_at(ex, kline, "%s: keys must be names", what);
        if (mt__y_text(ex, k, kline, what, &key) < 0)
            return -1;
        int rc = 0;
        struct fy_node *v = fy_node_pair_value(pair);
        if (rc == 0 && v && fy_node_is_alias(v) && !mt__y_deref(v))
            rc = mt__jx_fail_at(ex, kline, "%s: unresolvable alias", key);
        if (rc == 0)
            rc = fn(ex, key, mt__y_deref(v), kline, arg);
        free(key);
        if (rc < 0)
            return -1;
    }
    return 0;
}

typedef struct mt__y_params {
    mt_job_param_t **params;
    size_t *n;
    const char *owner;
} mt__y_params_t;

static int mt__y_param_pair(mt_job_exec_t *ex, const char *key, struct fy_node *value, int line, void *arg)
{
    mt__y_params_t *p = arg;
    char *text;
    if (mt__y_text(ex, value, line, key, &text) < 0)
        return -1;
    int rc = mt__jx_param_add(ex, p->params, p->n, p->owner, key, text, line, NULL);
    free(text);
    return rc;
}

/* runners: {ID: {load, workers, kwds: {...}, PARAM: value, ...}} */
static int mt__y_runner_pair(mt_job_exec_t *ex, const char *key, struct fy_node *value, int line, void *arg)
{
    mt_job_runner_t *r = arg;
    char owner[300];
    snprintf(owner, sizeof owner, "runner '%s'", r->id);
    mt__y_params_t p = { &r->params, &r->nparams, owner };
    if (strcmp(key, "load") == 0 || strcmp(key, "id") == 0)
        return 0; /* read before */
    if (strcmp(key, "workers") == 0) {
        char *text;
        long long w;
        if (mt__y_scalar(ex, value, line, "workers", &text) < 0)
            return -1;
        int rc = mt__jx_parse_int(text, 1, 100000, &w);
        if (rc < 0)
            mt__jx_fail_at(ex, line, "runner '%s': workers '%s' is not a positive whole number", r->id, text);
        else
            r->workers = (int)w;
        free(text);
        return rc;
    }
    if (strcmp(key, "kwds") == 0)
        return mt__y_each(ex, value, line, "kwds", mt__y_param_pair, &p);
    return mt__y_param_pair(ex, key, value, line, &p);
}

static int mt__y_runner(mt_job_exec_t *ex, const char *id, struct fy_node *value, int line, void *arg)
{
    (void)arg;
    char *load = NULL;
    if (value && !mt_yaml_is_null(value) && fy_node_get_type(value) != FYNT_MAPPING)
        return mt__jx_fail_at(ex, line, "runner '%s': expected a mapping (load: ..., workers: ...)", id);
    struct fy_node *lnode = value && !mt_yaml_is_null(value) ? fy_node_mapping_lookup_by_string(value, "load", 4)
                                                             : NULL;
    if (lnode && mt__y_scalar(ex, lnode, line, "load", &load) < 0)
        return -1;
    mt_job_runner_t *r = mt__jx_runner_add(ex, id, load, mt_yaml_node_line(lnode, line));
    free(load);
    if (!r)
        return -1;
    r->line = line;
    return mt__y_each(ex, value, line, id, mt__y_runner_pair, r);
}

/* env: [{name, value, raw} | {file} | {execute}] */
static int mt__y_env(mt_job_exec_t *ex, mt_job_destination_t *d, struct fy_node *list, int line)
{
    list = mt__y_deref(list);
    if (!list || mt_yaml_is_null(list))
        return 0;
    if (fy_node_get_type(list) != FYNT_SEQUENCE)
        return mt__jx_fail_at(ex, line, "environment '%s': env: expected a list ({name, value} / {file} / {execute})",
                              d->id);
    void *iter = NULL;
    struct fy_node *item;
    while ((item = fy_node_sequence_iterate(list, &iter))) {
        int iline = mt_yaml_node_line(item, line);
        item = mt__y_deref(item);
        if (!mt__y_is(item, FYNT_MAPPING))
            return mt__jx_fail_at(ex, iline, "environment '%s': each env entry is a mapping ({name, value} / {file} / "
                                  "{execute})", d->id);
        char *name = NULL, *value = NULL, *file = NULL, *exec = NULL, *raw = NULL;
        int rc = 0;
        void *it2 = NULL;
        struct fy_node_pair *pair;
        while (rc == 0 && (pair = fy_node_mapping_iterate(item, &it2))) {
            struct fy_node *k = fy_node_pair_key(pair);
            int kline = mt_yaml_node_line(k, iline);
            char *key = NULL;
            rc = mt__y_scalar(ex, k, kline, "env", &key);
            char **slot = !key                          ? NULL
                          : strcmp(key, "name") == 0    ? &name
                          : strcmp(key, "value") == 0   ? &value
                          : strcmp(key, "file") == 0    ? &file
                          : strcmp(key, "execute") == 0 ? &exec
                          : strcmp(key, "raw") == 0     ? &raw
                                                        : NULL;
            if (rc == 0 && !slot)
                rc = mt__jx_fail_at(ex, kline, "environment '%s': env entry: unknown key '%s' (expected name, value, raw, "
                                    "file or execute)", d->id, key);
            else if (rc == 0 && *slot)
                rc = mt__jx_fail_at(ex, kline, "environment '%s': env entry: '%s' given twice", d->id, key);
            else if (rc == 0)
                rc = mt__y_text(ex, fy_node_pair_value(pair), kline, key, slot);
            free(key);
        }
        if (rc == 0 && (name != NULL) + (file != NULL) + (exec != NULL) != 1)
            rc = mt__jx_fail_at(ex, iline, "environment '%s': an env entry has exactly one of name, file or execute",
                                d->id);
        if (rc == 0 && name)
            rc = mt__jx_env_add(ex, d, MT_JOB_ENV_SET, name, value ? value : "", raw && mt__jx_asbool(raw), iline);
        else if (rc == 0 && (value || raw))
            rc = mt__jx_fail_at(ex, iline, "environment '%s': value and raw go with name", d->id);
        else if (rc == 0)
            rc = mt__jx_env_add(ex, d, file ? MT_JOB_ENV_FILE : MT_JOB_ENV_EXEC, NULL, file ? file : exec, false, iline);
        free(name);
        free(value);
        free(file);
        free(exec);
        free(raw);
        if (rc < 0)
            return -1;
    }
    return 0;
}

/* resubmit: [{condition, environment | destination, handler, delay}] (one mapping alone is accepted too) */
static int mt__y_resubmit_one(mt_job_exec_t *ex, mt_job_destination_t *d, struct fy_node *item, int line)
{
    if (!mt__y_is(item, FYNT_MAPPING))
        return mt__jx_fail_at(ex, line, "environment '%s': a resubmit entry is a mapping (condition, environment, ...)",
                              d->id);
    char *vals[5] = { 0 };
    static const char *const keys[5] = { "condition", "environment", "destination", "handler", "delay" };
    void *iter = NULL;
    struct fy_node_pair *pair;
    int rc = 0;
    while (rc == 0 && (pair = fy_node_mapping_iterate(item, &iter))) {
        struct fy_node *k = fy_node_pair_key(pair);
        int kline = mt_yaml_node_line(k, line);
        char *key = NULL;
        rc = mt__y_scalar(ex, k, kline, "resubmit", &key);
        int which = -1;
        for (int i = 0; rc == 0 && i < 5; i++)
            which = strcmp(key, keys[i]) == 0 ? i : which;
        if (rc == 0 && which < 0)
            rc = mt__jx_fail_at(ex, kline, "environment '%s': resubmit: unknown key '%s' (expected condition, "
                                "environment or destination, handler or delay)", d->id, key);
        else if (rc == 0 && vals[which])
            rc = mt__jx_fail_at(ex, kline, "environment '%s': resubmit: '%s' given twice", d->id, key);
        else if (rc == 0)
            rc = mt__y_text(ex, fy_node_pair_value(pair), kline, key, &vals[which]);
        free(key);
    }
    if (rc == 0 && vals[1] && vals[2])
        rc = mt__jx_fail_at(ex, line, "environment '%s': resubmit: environment and destination are the same thing",
                            d->id);
    if (rc == 0)
        rc = mt__jx_resubmit_add(ex, d, vals[0], vals[1] ? vals[1] : vals[2], vals[3], vals[4], line);
    for (int i = 0; i < 5; i++)
        free(vals[i]);
    return rc;
}

static int mt__y_resubmit(mt_job_exec_t *ex, mt_job_destination_t *d, struct fy_node *node, int line)
{
    if (!node || mt_yaml_is_null(node))
        return 0;
    if (fy_node_get_type(node) == FYNT_MAPPING)
        return mt__y_resubmit_one(ex, d, node, mt_yaml_node_line(node, line));
    if (fy_node_get_type(node) != FYNT_SEQUENCE)
        return mt__jx_fail_at(ex, line, "environment '%s': resubmit: expected a list", d->id);
    void *iter = NULL;
    struct fy_node *item;
    while ((item = fy_node_sequence_iterate(node, &iter))) {
        int iline = mt_yaml_node_line(item, line);
        if (mt__y_resubmit_one(ex, d, mt__y_deref(item), iline) < 0)
            return -1;
    }
    return 0;
}

/* tags: [a, b] or "a, b" */
static int mt__y_tags(mt_job_exec_t *ex, mt_job_destination_t *d, struct fy_node *node, int line)
{
    if (!node || mt_yaml_is_null(node))
        return 0;
    if (fy_node_get_type(node) == FYNT_SCALAR) {
        char *text;
        if (mt__y_text(ex, node, line, "tags", &text) < 0)
            return -1;
        int rc = mt__jx_dest_add_tags(ex, d, text, line);
        free(text);
        return rc;
    }
    if (fy_node_get_type(node) != FYNT_SEQUENCE)
        return mt__jx_fail_at(ex, line, "environment '%s': tags: expected a list of names", d->id);
    void *iter = NULL;
    struct fy_node *item;
    while ((item = fy_node_sequence_iterate(node, &iter))) {
        int iline = mt_yaml_node_line(item, line);
        char *tag;
        if (mt__y_scalar(ex, item, iline, "tags", &tag) < 0)
            return -1;
        int rc = mt__jx_dest_add_tag(ex, d, tag, iline);
        free(tag);
        if (rc < 0)
            return -1;
    }
    return 0;
}

static int mt__y_environment_pair(mt_job_exec_t *ex, const char *key, struct fy_node *value, int line, void *arg)
{
    size_t index = *(size_t *)arg;
    mt_job_destination_t *d = &ex->dests[index];
    char owner[300];
    snprintf(owner, sizeof owner, "environment '%s'", d->id);
    mt__y_params_t p = { &d->params, &d->nparams, owner };
    if (strcmp(key, "runner") == 0 || strcmp(key, "id") == 0)
        return 0; /* read before */
    if (strcmp(key, "tags") == 0)
        return mt__y_tags(ex, d, value, line);
    if (strcmp(key, "env") == 0)
        return mt__y_env(ex, d, value, line);
    if (strcmp(key, "resubmit") == 0)
        return mt__y_resubmit(ex, d, value, line);
    if (strcmp(key, "shell") == 0) {
        char *shell;
        if (mt__y_scalar(ex, value, line, "shell", &shell) < 0)
            return -1;
        if (shell[0] != '/') {
            free(shell);
            return mt__jx_fail_at(ex, line, "environment '%s': shell must be an absolute path", d->id);
        }
        d->shell = shell;
        return 0;
    }
    if (strcmp(key, "metrics") == 0) {
        mt__jx_note(ex, line, "environment '%s': metrics: job metrics are not collected here", d->id);
        return 0;
    }
    if (strcmp(key, "params") == 0)
        return mt__y_each(ex, value, line, "params", mt__y_param_pair, &p);
    return mt__y_param_pair(ex, key, value, line, &p);
}

static int mt__y_environment(mt_job_exec_t *ex, const char *id, struct fy_node *value, int line, void *arg)
{
    (void)arg;
    if (!mt__y_is(value, FYNT_MAPPING))
        return mt__jx_fail_at(ex, line, "environment '%s': expected a mapping (runner: ..., ...)", id);
    struct fy_node *rnode = fy_node_mapping_lookup_by_string(value, "runner", 6);
    char *runner;
    if (!rnode)
        return mt__jx_fail_at(ex, line, "environment '%s' needs a runner (a runners: id)", id);
    if (mt__y_scalar(ex, rnode, line, "runner", &runner) < 0)
        return -1;
    mt_job_destination_t *d = mt__jx_dest_add(ex, id, line);
    if (!d) {
        free(runner);
        return -1;
    }
    d->runner = runner;
    size_t index = (size_t)(d - ex->dests);
    return mt__y_each(ex, value, line, id, mt__y_environment_pair, &index);
}

static int mt__y_execution_pair(mt_job_exec_t *ex, const char *key, struct fy_node *value, int line, void *arg)
{
    (void)arg;
    if (strcmp(key, "default") == 0) {
        char *name;
        if (mt__y_scalar(ex, value, line, "default", &name) < 0)
            return -1;
        int rc = mt__jx_set_default_dest(ex, name, mt_yaml_node_line(value, line));
        free(name);
        return rc;
    }
    if (strcmp(key, "environments") == 0) {
        if (mt__y_is(value, FYNT_SEQUENCE)) { /* Galaxy also takes a list of {id: ..., runner: ...} */
            void *iter = NULL;
            struct fy_node *item;
            while ((item = fy_node_sequence_iterate(value, &iter))) {
                int iline = mt_yaml_node_line(item, line);
                item = mt__y_deref(item);
                struct fy_node *idn = mt__y_is(item, FYNT_MAPPING) ? fy_node_mapping_lookup_by_string(item, "id", 2)
                                                                   : NULL;
                char *id;
                if (!idn)
                    return mt__jx_fail_at(ex, iline, "environments: each entry of the list needs an id");
                if (mt__y_scalar(ex, idn, iline, "id", &id) < 0)
                    return -1;
                int rc = mt__y_environment(ex, id, item, iline, NULL);
                free(id);
                if (rc < 0)
                    return -1;
            }
            return 0;
        }
        return mt__y_each(ex, value, line, "environments", mt__y_environment, NULL);
    }
    return mt__jx_fail_at(ex, line, "execution: unknown key '%s' (expected default or environments)", key);
}

/* limits: [{type, value, id, tag, window}] */
static int mt__y_limits(mt_job_exec_t *ex, struct fy_node *node, int line)
{
    if (!node || mt_yaml_is_null(node))
        return 0;
    if (fy_node_get_type(node) != FYNT_SEQUENCE)
        return mt__jx_fail_at(ex, line, "limits: expected a list (- type: ..., value: ...)");
    void *iter = NULL;
    struct fy_node *item;
    while ((item = fy_node_sequence_iterate(node, &iter))) {
        int iline = mt_yaml_node_line(item, line);
        item = mt__y_deref(item);
        if (!mt__y_is(item, FYNT_MAPPING))
            return mt__jx_fail_at(ex, iline, "limits: each entry is a mapping (type, value, id, tag, window)");
        char *vals[5] = { 0 };
        static const char *const keys[5] = { "type", "value", "id", "tag", "window" };
        void *it2 = NULL;
        struct fy_node_pair *pair;
        int rc = 0, first_line = 0;
        while (rc == 0 && (pair = fy_node_mapping_iterate(item, &it2))) {
            struct fy_node *k = fy_node_pair_key(pair);
            int kline = mt_yaml_node_line(k, iline);
            if (!first_line)
                first_line = kline;
            char *key = NULL;
            rc = mt__y_scalar(ex, k, kline, "limits", &key);
            int which = -1;
            for (int i = 0; rc == 0 && i < 5; i++)
                which = strcmp(key, keys[i]) == 0 ? i : which;
            if (rc == 0 && which < 0)
                rc = mt__jx_fail_at(ex, kline, "limits: unknown key '%s' (expected type, value, id, tag or window)", key);
            else if (rc == 0 && vals[which])
                rc = mt__jx_fail_at(ex, kline, "limits: '%s' given twice in one entry", key);
            else if (rc == 0)
                rc = mt__y_scalar(ex, fy_node_pair_value(pair), kline, key, &vals[which]);
            free(key);
        }
        if (rc == 0)
            rc = mt__jx_limit_add(ex, vals[0], vals[2], vals[3], vals[4], vals[1], first_line ? first_line : iline);
        for (int i = 0; i < 5; i++)
            free(vals[i]);
        if (rc < 0)
            return -1;
    }
    return 0;
}

static int mt__y_group(mt_job_exec_t *ex, const char *id, struct fy_node *value, int line, void *arg)
{
    (void)arg;
    char *fields = NULL;
    if (mt__y_is(value, FYNT_SEQUENCE)) {
        size_t used = 0, cap = 64;
        fields = mt_calloc(cap, 1);
        void *iter = NULL;
        struct fy_node *item;
        while ((item = fy_node_sequence_iterate(value, &iter))) {
            char *f;
            if (mt__y_scalar(ex, item, line, id, &f) < 0) {
                free(fields);
                return -1;
            }
            size_t need = used + strlen(f) + 2;
            if (need > cap)
                fields = mt_realloc(fields, cap = need * 2);
            used += (size_t)sprintf(fields + used, "%s%s", used ? "," : "", f);
            free(f);
        }
    } else if (mt__y_text(ex, value, line, id, &fields) < 0) {
        return -1;
    }
    int rc = mt__jx_group_add(ex, id, fields, line);
    free(fields);
    return rc;
}

static int mt__y_resources_pair(mt_job_exec_t *ex, const char *key, struct fy_node *value, int line, void *arg)
{
    (void)arg;
    if (strcmp(key, "default") == 0) {
        char *name;
        if (mt__y_scalar(ex, value, line, "default", &name) < 0)
            return -1;
        ex->default_group = name;
        ex->default_group_line = line;
        return 0;
    }
    if (strcmp(key, "groups") == 0)
        return mt__y_each(ex, value, line, "groups", mt__y_group, NULL);
    return mt__jx_fail_at(ex, line, "resources: unknown key '%s' (expected default or groups)", key);
}

int mt__job_exec_yaml_block(mt_job_exec_t *ex, const char *key, struct fy_node *value, int line, char *err,
                            size_t errlen)
{
    ex->err = err;
    ex->errlen = errlen;
    value = mt__y_deref(value);
    if (strcmp(key, "runners") == 0)
        return mt__jx_block_once(ex, &ex->plugins_line, "'runners'", line) < 0
                   ? -1
                   : mt__y_each(ex, value, line, "runners", mt__y_runner, NULL);
    if (strcmp(key, "execution") == 0)
        return mt__jx_block_once(ex, &ex->destinations_line, "'execution'", line) < 0
                   ? -1
                   : mt__y_each(ex, value, line, "execution", mt__y_execution_pair, NULL);
    if (strcmp(key, "limits") == 0)
        return mt__jx_block_once(ex, &ex->limits_line, "'limits'", line) < 0 ? -1 : mt__y_limits(ex, value, line);
    if (strcmp(key, "resources") == 0)
        return mt__jx_block_once(ex, &ex->resources_line, "'resources'", line) < 0
                   ? -1
                   : mt__y_each(ex, value, line, "resources", mt__y_resources_pair, NULL);
    if (strcmp(key, "dynamic") == 0) {
        mt__jx_note(ex, line, "dynamic: Galaxy's dynamic rules (Python) are not evaluated here; destinations with "
                    "runner 'dynamic' refuse their jobs");
        return 0;
    }
    return mt__jx_fail_at(ex, line, "'%s' is not a block of the job configuration", key);
}

typedef struct mt__y_tool {
    char *destination, *resources, *class_name, *tool_id;
    mt_job_param_t *params;
    size_t nparams;
} mt__y_tool_t;

static int mt__y_tool_pair(mt_job_exec_t *ex, const char *key, struct fy_node *value, int line, void *arg)
{
    mt__y_tool_t *t = arg;
    char owner[300];
    snprintf(owner, sizeof owner, "tool '%s'", t->tool_id ? t->tool_id : "(class)");
    mt__y_params_t p = { &t->params, &t->nparams, owner };
    if (strcmp(key, "id") == 0 || strcmp(key, "handler") == 0)
        return 0; /* job_conf.c's */
    char **slot = strcmp(key, "environment") == 0 || strcmp(key, "destination") == 0 ? &t->destination
                  : strcmp(key, "resources") == 0                                     ? &t->resources
                  : strcmp(key, "class") == 0                                         ? &t->class_name
                                                                                      : NULL;
    if (slot) {
        if (*slot)
            return mt__jx_fail_at(ex, line, "tools: '%s' given twice in one entry (environment and destination are one)",
                                  key);
        if (mt_yaml_is_null(value)) {
            *slot = NULL;
            return 0;
        }
        return mt__y_scalar(ex, value, line, key, slot);
    }
    if (strcmp(key, "params") == 0)
        return mt__y_each(ex, value, line, "params", mt__y_param_pair, &p);
    return mt__y_param_pair(ex, key, value, line, &p);
}

int mt__job_exec_yaml_tool(mt_job_exec_t *ex, struct fy_node *entry, int line, char *err, size_t errlen)
{
    ex->err = err;
    ex->errlen = errlen;
    mt__y_tool_t t = { 0 };
    struct fy_node *idn = fy_node_mapping_lookup_by_string(entry, "id", 2);
    if (idn && mt__y_is(mt__y_deref(idn), FYNT_SCALAR) && mt__y_text(ex, idn, line, "id", &t.tool_id) < 0)
        return -1;
    int rc = mt__y_each(ex, entry, line, "tools", mt__y_tool_pair, &t);
    if (rc == 0 && !t.tool_id && !t.class_name && (t.destination || t.resources))
        rc = mt__jx_fail_at(ex, line, "tools: an entry with an environment needs an id (or a class)");
    char first[300] = "";
    if (rc == 0 && t.nparams)
        snprintf(first, sizeof first, "%s=%s", t.params[0].id, t.params[0].value);
    if (rc == 0)
        rc = mt__jx_tool_add(ex, t.tool_id, t.tool_id ? NULL : t.class_name, t.destination, t.resources, t.nparams,
                             t.nparams ? first : NULL, line);
    free(t.destination);
    free(t.resources);
    free(t.class_name);
    free(t.tool_id);
    mt__jx_params_free(t.params, t.nparams);
    return rc;
}
