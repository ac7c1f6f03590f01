/*
 * yaml: helpers over libfyaml shared by every YAML reader (see yaml.h).
 */
#include "common/yaml.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "common/message.h"
#include "common/utf8.h"

/* 1-based line where node starts, or `fallback` when it has no token of its own. */
int mt_yaml_node_line(struct fy_node *node, int fallback)
{
    void *iter = NULL;
    struct fy_node *child;
    struct fy_node_pair *pair;

    if (!node)
        return fallback;
    switch (fy_node_get_type(node)) {
    case FYNT_SCALAR: {
        struct fy_token *tok = fy_node_get_scalar_token(node);
        const struct fy_mark *mark = tok ? fy_token_start_mark(tok) : NULL;
        return mark ? mark->line + 1 : fallback;
    }
    case FYNT_SEQUENCE:
        child = fy_node_sequence_iterate(node, &iter);
        return mt_yaml_node_line(child, fallback);
    case FYNT_MAPPING:
        pair = fy_node_mapping_iterate(node, &iter);
        return pair ? mt_yaml_node_line(fy_node_pair_key(pair), fallback) : fallback;
    }
    return fallback;
}

/* Follow an alias (*name) to its anchored node. NULL stays NULL; a broken alias gives NULL too. */
struct fy_node *mt_yaml_deref(struct fy_node *node, bool *broken)
{
    *broken = false;
    if (node && fy_node_is_alias(node)) {
        struct fy_node *target = fy_node_resolve_alias(node);
        *broken = target == NULL;
        return target;
    }
    return node;
}

/* "", "~" and "null" in plain style, or no node at all. */
bool mt_yaml_is_null(struct fy_node *node)
{
    if (!node)
        return true;
    if (fy_node_get_type(node) != FYNT_SCALAR || fy_node_get_style(node) != FYNS_PLAIN)
        return false;
    size_t len;
    const char *text = fy_node_get_scalar(node, &len);
    if (!text || len == 0)
        return true;
    return (len == 1 && text[0] == '~') ||
           (len == 4 && (!memcmp(text, "null", 4) || !memcmp(text, "Null", 4) || !memcmp(text, "NULL", 4)));
}

int mt_yaml_check_utf8(const char *text, size_t n, bool refuse_nul, int *line_out, unsigned char *byte)
{
    int line = 1;
    for (size_t i = 0; i < n;) {
        const unsigned char *u = (const unsigned char *)text + i;
        size_t width = mt_utf8_sequence(u, n - i);
        if (width == 0 || (refuse_nul && u[0] == 0)) {
            *line_out = line;
            *byte = u[0];
            return -1;
        }
        line += u[0] == '\n';
        i += width;
    }
    return 0;
}

void mt_yaml_diag_discard_cb(struct fy_diag *diag, void *user, const char *buf, size_t len)
{
    (void)diag;
    (void)user;
    (void)buf;
    (void)len;
}

int mt_yaml_parse_one(const char *text, size_t len, unsigned flags, mt_yaml_doc_t *out, int *line, char *why,
                      size_t whylen)
{
    memset(out, 0, sizeof *out);
    *line = 0;
    struct fy_diag_cfg dcfg;
    fy_diag_cfg_default(&dcfg);
    dcfg.fp = NULL;
    dcfg.output_fn = mt_yaml_diag_discard_cb;
    dcfg.colorize = false;
    out->diag = fy_diag_create(&dcfg);
    if (!out->diag) {
        snprintf(why, whylen, "cannot create the YAML diagnostics");
        return -1;
    }
    fy_diag_set_collect_errors(out->diag, true);
    struct fy_parse_cfg pcfg = {.flags = FYPCF_QUIET | flags, .diag = out->diag};
    out->parser = fy_parser_create(&pcfg);
    if (!out->parser || fy_parser_set_string(out->parser, text, len) != 0) {
        snprintf(why, whylen, "cannot create the YAML parser");
        return -1;
    }
    out->doc = fy_parse_load_document(out->parser);
    void *iter = NULL;
    struct fy_diag_error *derr;
    while ((derr = fy_diag_errors_iterate(out->diag, &iter)) && derr->type < FYET_ERROR)
        ;
    if (derr) {
        /* fy_diag_error's line and column are 1-based already. */
        *line = derr->line > 0 ? derr->line : 1;
        snprintf(why, whylen, "YAML syntax error: %s (column %d)", derr->msg ? derr->msg : "?", derr->column);
        return -1;
    }
    if (!out->doc && fy_parser_get_stream_error(out->parser)) {
        snprintf(why, whylen, "cannot read YAML");
        return -1;
    }
    if (out->doc) {
        /* A second document would be ignored silently: refuse it. */
        struct fy_document *extra = fy_parse_load_document(out->parser);
        if (extra) {
            *line = mt_yaml_node_line(fy_document_root(extra), 1);
            snprintf(why, whylen, "only one YAML document is supported (found a second one)");
            fy_parse_document_destroy(out->parser, extra);
            return -1;
        }
    }
    return 0;
}

int mt_yaml_scalar_dup(struct fy_node *node, char **out, char *why, size_t whylen)
{
    *out = NULL;
    if (mt_yaml_is_null(node)) {
        snprintf(why, whylen, "must not be empty");
        return -1;
    }
    if (fy_node_get_type(node) != FYNT_SCALAR) {
        snprintf(why, whylen, "must be a single value, not a %s",
                 fy_node_get_type(node) == FYNT_MAPPING ? "mapping" : "list");
        return -1;
    }
    size_t len;
    const char *text = fy_node_get_scalar(node, &len);
    if (!text)
        text = "", len = 0;
    if (memchr(text, '\0', len)) {
        snprintf(why, whylen, "contains a NUL byte");
        return -1;
    }
    *out = mt_strndup(text, len);
    return 0;
}

char *mt_yaml_read_file(FILE *fp, const char *path, size_t *len, char *err, size_t errlen)
{
    size_t cap = 8192, n = 0, got;
    char *text = mt_malloc(cap);
    while ((got = fread(text + n, 1, cap - n, fp)) > 0) {
        n += got;
        if (n == cap)
            text = mt_realloc(text, cap *= 2);
    }
    if (ferror(fp)) {
        mt_message_format_at(err, errlen, path, 0, "cannot read: %s", strerror(errno));
        free(text);
        return NULL;
    }
    int line;
    unsigned char bad;
    if (mt_yaml_check_utf8(text, n, false, &line, &bad) < 0) {
        mt_message_format_at(err, errlen, path, line, "not UTF-8 (byte 0x%02x): YAML files must be UTF-8", bad);
        free(text);
        return NULL;
    }
    *len = n;
    return text;
}

void mt_yaml_doc_free(mt_yaml_doc_t *y)
{
    if (y->doc)
        fy_parse_document_destroy(y->parser, y->doc);
    if (y->parser)
        fy_parser_destroy(y->parser);
    if (y->diag)
        fy_diag_destroy(y->diag);
    memset(y, 0, sizeof *y);
}

/* ---- duplicate keys, found in n log n ---- */

#define YAML_DEPTH_MAX 256 /* deeper than any document we read; one nested further is not walked */

typedef struct yaml_key {
    const char *text;
    size_t len;
    size_t index; /* position in its mapping */
    struct fy_node *node;
} yaml_key_t;

static int yaml_key_cmp(const void *pa, const void *pb)
{
    const yaml_key_t *a = pa, *b = pb;
    int c = memcmp(a->text, b->text, a->len < b->len ? a->len : b->len);
    if (c == 0)
        c = a->len < b->len ? -1 : a->len > b->len;
    if (c == 0)
        c = a->index < b->index ? -1 : a->index > b->index;
    return c;
}

/*
 * The first repeated scalar key of mapping node, or NULL. Sorted, not
 * compared pair by pair (as libfyaml's own check does): a request body of
 * a hundred thousand keys must not cost a web thread 10^10 comparisons.
 */
static struct fy_node *yaml_mapping_duplicate(struct fy_node *node)
{
    int count = fy_node_mapping_item_count(node);
    if (count < 2)
        return NULL;
    yaml_key_t *keys = mt_calloc((size_t)count, sizeof *keys);
    size_t n = 0;
    void *it = NULL;
    struct fy_node_pair *pair;
    while (n < (size_t)count && (pair = fy_node_mapping_iterate(node, &it))) {
        struct fy_node *key = fy_node_pair_key(pair);
        const char *text = key && fy_node_is_scalar(key) ? fy_node_get_scalar(key, &keys[n].len) : NULL;
        if (text) { /* a collection as a key: our readers refuse those themselves */
            keys[n].text = text;
            keys[n].index = n;
            keys[n++].node = key;
        }
    }
    qsort(keys, n, sizeof *keys, yaml_key_cmp);
    const yaml_key_t *first = NULL;
    for (size_t i = 1; i < n; i++)
        if (keys[i].len == keys[i - 1].len && memcmp(keys[i].text, keys[i - 1].text, keys[i].len) == 0 &&
            (!first || keys[i].index < first->index))
            first = &keys[i];
    struct fy_node *found = first ? first->node : NULL;
    free(keys);
    return found;
}

/* The first repeated key of a mapping in node, depth first, or NULL. */
static struct fy_node *yaml_duplicate(struct fy_node *node, int depth)
{
    void *it = NULL;
    struct fy_node *found = NULL;
    if (!node || depth > YAML_DEPTH_MAX)
        return NULL;
    if (fy_node_is_sequence(node)) {
        struct fy_node *item;
        while (!found && (item = fy_node_sequence_iterate(node, &it)))
            found = yaml_duplicate(item, depth + 1);
        return found;
    }
    if (!fy_node_is_mapping(node) || (found = yaml_mapping_duplicate(node)))
        return found;
    struct fy_node_pair *pair;
    while (!found && (pair = fy_node_mapping_iterate(node, &it)))
        found = yaml_duplicate(fy_node_pair_value(pair), depth + 1);
    return found;
}

struct fy_node *mt_yaml_first_duplicate_key(struct fy_node *root)
{
    return yaml_duplicate(root, 0);
}

int mt_yaml_parse_unique(const char *text, size_t len, mt_yaml_doc_t *out, int *line, char *why, size_t whylen)
{
    if (mt_yaml_parse_one(text, len, FYPCF_ALLOW_DUPLICATE_KEYS, out, line, why, whylen) < 0)
        return -1;
    struct fy_node *twice = out->doc ? mt_yaml_first_duplicate_key(fy_document_root(out->doc)) : NULL;
    if (!twice)
        return 0;
    size_t klen = 0;
    const char *key = fy_node_get_scalar(twice, &klen);
    *line = mt_yaml_node_line(twice, 1);
    snprintf(why, whylen, "duplicate key '%.*s': a key may appear once in a mapping", (int)(klen < 64 ? klen : 64),
             key ? key : "");
    return -1;
}
