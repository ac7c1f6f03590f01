/*
 * job_conf: the job configuration (handlers, default, tags, tool mappings,
 * assign order) from job_conf.yml or job_conf.xml. Who handles a job is
 * decided from it by job_assign.c.
 *
 * Both parsers feed the same small builder (mt__add_handler, mt__add_tag,
 * mt__add_mapping, ...), which records the line of every item; references
 * between items (a default or a mapping naming a handler or a tag) are
 * checked once the whole file is read, since a YAML file may list tools
 * before the handlers they name. Every error is "FILE:LINE: message".
 *
 * YAML goes through libfyaml as in stack/config_yaml.c: the text is checked
 * to be UTF-8 first (libfyaml 0.7 can loop forever on malformed input),
 * duplicate keys are allowed by the parser and detected here with a clear
 * message, and line numbers come from scalar tokens (0.7 has no public
 * fy_node_get_start_mark). XML is read by xml_macros.c (expat, with
 * Galaxy's <macros> expanded) into a tree that this file walks: <handlers>
 * and the handler side of <tools> here, <plugins>, <destinations>,
 * <limits>, <resources> and the destination side of <tools> in
 * job_conf_exec.c (runners:, execution:, limits:, resources: likewise for
 * YAML). Any other element or top-level key is an error.
 */
#include "app/model/job_conf.h"

#include <assert.h>
#include <errno.h>
#include <libfyaml.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "app/model/job_conf_exec.h"
#include "app/model/xml_macros.h"
#include "common/mem.h"
#include "common/yaml.h"
#include "common/message.h"

/* A job configuration is a few kilobytes; refuse anything absurd before parsing it. */
#define MT__JOB_CONF_MAX_BYTES (16u << 20)

typedef struct mt__handler {
    char *id;
    char **tags;   /* distinct, in file order */
    size_t ntags;
    int line;      /* where the handler is defined */
} mt__handler_t;

typedef struct mt__mapping {
    char *tool_id;
    char *target;  /* handler id, tag or server name */
    int line;
} mt__mapping_t;

struct mt_job_conf {
    mt_assign_method_t assign[MT_ASSIGN_METHOD_COUNT];
    size_t nassign;       /* 0: not configured, the default order applies */
    char *default_target; /* handler id or tag, or NULL */
    int default_line;
    mt__handler_t *handlers;
    size_t nhandlers, handlers_cap;
    mt__mapping_t *mappings;
    size_t nmappings, mappings_cap;
    mt_job_exec_t *exec;  /* runners, destinations, limits, resources: job_conf_exec.c */
};

static const char *const mt__method_names[MT_ASSIGN_METHOD_COUNT] = {
    "mem-self", "db-self", "db-preassign", "mule-message", "db-skip-locked", "db-transaction-isolation",
};

/* While loading: the object being built and where errors go. */
typedef struct mt__jc_ctx {
    mt_job_conf_t *conf;
    const char *file;
    char *err;
    size_t errlen;
    int handling_line; /* YAML "handling:" / XML <handlers>: line once seen, else 0 */
    int handlers_line; /* YAML "handlers:" inside handling */
    int tools_line;    /* YAML "tools:" / XML <tools> */
    int assign_line;
    bool allow_import;  /* XML <import> may read files: only when the configuration is itself a file */
} mt__jc_ctx_t;

const char *mt_assign_method_name(mt_assign_method_t method)
{
    return (unsigned)method < MT_ASSIGN_METHOD_COUNT ? mt__method_names[method] : "unknown";
}

int mt_assign_method_parse(const char *name, mt_assign_method_t *out)
{
    for (int i = 0; i < MT_ASSIGN_METHOD_COUNT; i++) {
        if (strcmp(name, mt__method_names[i]) == 0) {
            *out = (mt_assign_method_t)i;
            return 0;
        }
    }
    if (strcmp(name, "uwsgi-mule-message") == 0) { /* Galaxy's name for it */
        *out = MT_ASSIGN_MULE_MESSAGE;
        return 0;
    }
    return -1;
}

/* ------------------------------------------------------------------ */
/* Errors                                                              */
/* ------------------------------------------------------------------ */

static int mt__error(mt__jc_ctx_t *ctx, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* "FILE:LINE: message"; always returns -1. */
static int mt__error(mt__jc_ctx_t *ctx, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    mt_message_vformat_at(ctx->err, ctx->errlen, ctx->file, line > 0 ? line : 1, fmt, ap);
    va_end(ap);
    return -1;
}

/* ------------------------------------------------------------------ */
/* Lookups                                                             */
/* ------------------------------------------------------------------ */

static mt__handler_t *mt__find_handler(const mt_job_conf_t *conf, const char *id)
{
    for (size_t i = 0; conf && i < conf->nhandlers; i++) {
        if (strcmp(conf->handlers[i].id, id) == 0)
            return &conf->handlers[i];
    }
    return NULL;
}

static bool mt__has_tag(const mt__handler_t *handler, const char *tag)
{
    for (size_t i = 0; i < handler->ntags; i++) {
        if (strcmp(handler->tags[i], tag) == 0)
            return true;
    }
    return false;
}

static mt__mapping_t *mt__find_mapping(const mt_job_conf_t *conf, const char *tool_id)
{
    for (size_t i = 0; conf && i < conf->nmappings; i++) {
        if (strcmp(conf->mappings[i].tool_id, tool_id) == 0)
            return &conf->mappings[i];
    }
    return NULL;
}

/* ------------------------------------------------------------------ */
/* The builder, shared by both formats                                 */
/* ------------------------------------------------------------------ */

/*
 * A handler id, tag or mapping target: 1..max bytes, no blanks, control
 * characters or commas (commas separate tags and methods in XML).
 */
static int mt__check_name(mt__jc_ctx_t *ctx, int line, const char *what, const char *name, size_t max)
{
    size_t len = strlen(name);
    if (len == 0)
        return mt__error(ctx, line, "%s is empty", what);
    if (len > max)
        return mt__error(ctx, line, "%s '%.40s...' is longer than %zu bytes", what, name, max);
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
        if (*p <= 0x20 || *p == 0x7f || *p == ',')
            return mt__error(ctx, line, "%s '%s' must not contain blanks, control characters or commas", what,
                             name);
    }
    return 0;
}

static int mt__add_assign(mt__jc_ctx_t *ctx, const char *name, int line)
{
    mt_job_conf_t *conf = ctx->conf;
    mt_assign_method_t method;
    if (!name[0])
        return mt__error(ctx, line, "assign: empty method name");
    if (mt_assign_method_parse(name, &method) < 0)
        return mt__error(ctx, line,
                         "unknown assign method '%s' (expected mem-self, db-self, db-preassign, mule-message, "
                         "db-skip-locked or db-transaction-isolation)",
                         name);
    for (size_t i = 0; i < conf->nassign; i++) {
        if (conf->assign[i] == method)
            return mt__error(ctx, line, "assign method '%s' listed twice", name);
    }
    assert(conf->nassign < MT_ASSIGN_METHOD_COUNT); /* duplicates are refused above */
    conf->assign[conf->nassign++] = method;
    return 0;
}

/* Call add(ctx, item, line, arg) for each comma-separated item of text, blanks around items trimmed. */
static int mt__split_commas(mt__jc_ctx_t *ctx, const char *text, int line, void *arg,
                            int (*add)(mt__jc_ctx_t *ctx, const char *item, int line, void *arg))
{
    const char *p = text;
    for (;;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        while (len > 0 && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) {
            p++;
            len--;
        }
        while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t' || p[len - 1] == '\n' || p[len - 1] == '\r'))
            len--;
        char *item = mt_strndup(p, len);
        int rc = add(ctx, item, line, arg);
        free(item);
        if (rc < 0)
            return -1;
        if (!end)
            return 0;
        p = end + 1;
    }
}

static int mt__add_assign_item(mt__jc_ctx_t *ctx, const char *item, int line, void *arg)
{
    (void)arg;
    return mt__add_assign(ctx, item, line);
}

static int mt__set_default(mt__jc_ctx_t *ctx, const char *name, int line)
{
    if (mt__check_name(ctx, line, "default", name, MT_JOB_CONF_NAME_MAX) < 0)
        return -1;
    ctx->conf->default_target = mt_strdup(name);
    ctx->conf->default_line = line;
    return 0;
}

/* A new handler; -1 if the id is invalid or given twice. */
static mt__handler_t *mt__add_handler(mt__jc_ctx_t *ctx, const char *id, int line)
{
    mt_job_conf_t *conf = ctx->conf;
    if (mt__check_name(ctx, line, "handler id", id, MT_JOB_CONF_NAME_MAX) < 0)
        return NULL;
    const mt__handler_t *prev = mt__find_handler(conf, id);
    if (prev) {
        mt__error(ctx, line, "handler '%s' given twice (first at line %d)", id, prev->line);
        return NULL;
    }
    if (conf->nhandlers == conf->handlers_cap) {
        conf->handlers_cap = conf->handlers_cap ? conf->handlers_cap * 2 : 8;
        conf->handlers = mt_realloc(conf->handlers, conf->handlers_cap * sizeof *conf->handlers);
    }
    mt__handler_t *handler = &conf->handlers[conf->nhandlers++];
    *handler = (mt__handler_t){ .id = mt_strdup(id), .line = line };
    return handler;
}

static int mt__add_tag(mt__jc_ctx_t *ctx, const char *tag, int line, void *arg)
{
    mt__handler_t *handler = arg;
    if (mt__check_name(ctx, line, "tag", tag, MT_JOB_CONF_TAG_MAX) < 0)
        return -1;
    if (mt__has_tag(handler, tag))
        return 0; /* "tags: [a, a]" means a */
    handler->tags = mt_realloc(handler->tags, (handler->ntags + 1) * sizeof *handler->tags);
    handler->tags[handler->ntags++] = mt_strdup(tag);
    return 0;
}

static int mt__add_mapping(mt__jc_ctx_t *ctx, const char *tool_id, const char *target, int line)
{
    mt_job_conf_t *conf = ctx->conf;
    if (!tool_id[0])
        return mt__error(ctx, line, "tool id is empty");
    if (mt__check_name(ctx, line, "handler of a tool", target, MT_JOB_CONF_NAME_MAX) < 0)
        return -1;
    const mt__mapping_t *prev = mt__find_mapping(conf, tool_id);
    if (prev)
        return mt__error(ctx, line, "tool '%s' mapped to a handler twice (first at line %d)", tool_id, prev->line);
    if (conf->nmappings == conf->mappings_cap) {
        conf->mappings_cap = conf->mappings_cap ? conf->mappings_cap * 2 : 8;
        conf->mappings = mt_realloc(conf->mappings, conf->mappings_cap * sizeof *conf->mappings);
    }
    conf->mappings[conf->nmappings++] =
        (mt__mapping_t){ .tool_id = mt_strdup(tool_id), .target = mt_strdup(target), .line = line };
    return 0;
}

/* References between items, once the whole file is read. */
static int mt__validate(mt__jc_ctx_t *ctx)
{
    const mt_job_conf_t *conf = ctx->conf;

    /* Ids and tags share one namespace: "handler: x" must mean one thing. */
    for (size_t i = 0; i < conf->nhandlers; i++) {
        const mt__handler_t *handler = &conf->handlers[i];
        for (size_t k = 0; k < handler->ntags; k++) {
            if (mt__find_handler(conf, handler->tags[k]))
                return mt__error(ctx, handler->line, "handler '%s': tag '%s' is also a handler id", handler->id,
                                 handler->tags[k]);
        }
    }
    /*
     * A default or a mapping may also name what only the stack knows: a
     * server name (main.job-handlers.2), a tag served by a job-handlers.TAG
     * farm or by standalone handlers attached to that pool. job_assign.c
     * checks those names against the stack at start-up.
     */
    return 0;
}

/* ------------------------------------------------------------------ */
/* XML (the tree of xml_macros.c)                                      */
/* ------------------------------------------------------------------ */

static int mt__xml_fail(mt__jc_ctx_t *ctx, const mt_xml_node_t *node, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* "FILE:LINE: what" for node (the <expand>'s line for what a macro made, with the macro named). */
static int mt__xml_fail(mt__jc_ctx_t *ctx, const mt_xml_node_t *node, const char *fmt, ...)
{
    char what[768], origin[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    mt_message_format_at(ctx->err, ctx->errlen, mt_xml_file(node), mt_xml_line(node), "%s%s", what,
                         mt_xml_origin(node, origin, sizeof origin));
    return -1;
}

/* Every attribute of node is one of allowed (NULL-terminated). */
static int mt__xml_attrs(mt__jc_ctx_t *ctx, const mt_xml_node_t *node, const char *const *allowed, const char *list)
{
    for (size_t i = 0; i < node->nattrs; i++) {
        bool ok = false;
        for (const char *const *a = allowed; *a && !ok; a++)
            ok = strcmp(*a, node->attrs[2 * i]) == 0;
        if (!ok)
            return mt__xml_fail(ctx, node, "<%s>: unknown attribute '%s' (expected %s)", node->name,
                                node->attrs[2 * i], list);
    }
    return 0;
}

static int mt__xml_handlers(mt__jc_ctx_t *jc, const mt_xml_node_t *node)
{
    static const char *const attrs[] = { "assign_with", "default", "max_grab", "ready_window_size", NULL };
    int line = mt_xml_line(node);
    if (jc->handling_line)
        return mt__xml_fail(jc, node, "<handlers> given twice (first at line %d)", jc->handling_line);
    jc->handling_line = line;
    if (mt__xml_attrs(jc, node, attrs, "assign_with, default, max_grab or ready_window_size") < 0)
        return -1;
    for (size_t k = 2; attrs[k]; k++)
        if (mt_xml_attr(node, attrs[k]))
            mt__job_exec_note(jc->conf->exec, line,
                              "<handlers %s>: Galaxy's batch size for claiming jobs from the database; handlers "
                              "here claim as many as they have free slots for (jobs.workers)",
                              attrs[k]);
    const char *assign = mt_xml_attr(node, "assign_with");
    const char *dflt = mt_xml_attr(node, "default");
    if (assign && mt__split_commas(jc, assign, line, NULL, mt__add_assign_item) < 0)
        return -1;
    if (dflt && mt__set_default(jc, dflt, line) < 0)
        return -1;
    for (size_t i = 0; i < node->nchildren; i++) {
        const mt_xml_node_t *h = node->children[i];
        static const char *const hattrs[] = { "id", "tags", NULL };
        static const char *const pattrs[] = { "id", NULL };
        int hline = mt_xml_line(h);
        if (strcmp(h->name, "handler") != 0)
            return mt__xml_fail(jc, h, "<handlers> holds <handler> elements, not <%s>", h->name);
        if (mt__xml_attrs(jc, h, hattrs, "id or tags") < 0)
            return -1;
        const char *id = mt_xml_attr(h, "id");
        const char *tags = mt_xml_attr(h, "tags");
        if (!id)
            return mt__xml_fail(jc, h, "<handler> needs an id attribute");
        mt__handler_t *handler = mt__add_handler(jc, id, hline);
        if (!handler)
            return -1;
        if (tags && mt__split_commas(jc, tags, hline, handler, mt__add_tag) < 0)
            return -1;
        /* <plugin id=...>: Galaxy loads only those runners in this handler; one runner here, so: a notice. */
        for (size_t k = 0; k < h->nchildren; k++) {
            const mt_xml_node_t *pl = h->children[k];
            if (strcmp(pl->name, "plugin") != 0)
                return mt__xml_fail(jc, pl, "<handler> holds <plugin> elements, not <%s>", pl->name);
            if (mt__xml_attrs(jc, pl, pattrs, "id") < 0)
                return -1;
            mt__job_exec_note(jc->conf->exec, mt_xml_line(pl),
                              "handler '%s': <plugin id=\"%s\">: Galaxy loads only the listed runners in this "
                              "handler; here every handler runs the local and slurm runners",
                              id, mt_xml_attr(pl, "id") ? mt_xml_attr(pl, "id") : "");
        }
    }
    return 0;
}

static int mt__xml_tools(mt__jc_ctx_t *jc, const mt_xml_node_t *node)
{
    if (jc->tools_line)
        return mt__xml_fail(jc, node, "<tools> given twice (first at line %d)", jc->tools_line);
    jc->tools_line = mt_xml_line(node);
    if (node->nattrs > 0)
        return mt__xml_fail(jc, node, "<tools>: unknown attribute '%s' (it takes none)", node->attrs[0]);
    for (size_t i = 0; i < node->nchildren; i++) {
        const mt_xml_node_t *t = node->children[i];
        if (strcmp(t->name, "tool") != 0)
            return mt__xml_fail(jc, t, "<tools> holds <tool> elements, not <%s>", t->name);
        const char *id = mt_xml_attr(t, "id");
        const char *handler = mt_xml_attr(t, "handler");
        if (handler && !id)
            return mt__xml_fail(jc, t, "<tool handler=\"%s\"> needs an id attribute", handler);
        if (mt__job_exec_xml_tool(jc->conf->exec, t, jc->err, jc->errlen) < 0)
            return -1;
        if (handler && mt__add_mapping(jc, id, handler, mt_xml_line(t)) < 0)
            return -1;
    }
    return 0;
}

static int mt__parse_xml(mt__jc_ctx_t *jc, const char *text, size_t len)
{
    mt_xml_doc_t *doc;
    if (mt_xml_doc_load(jc->file, text, len, jc->allow_import, &doc, jc->err, jc->errlen) < 0)
        return -1;
    const mt_xml_node_t *root = mt_xml_doc_root(doc);
    int rc = 0;
    if (strcmp(root->name, "job_conf") != 0)
        rc = mt__xml_fail(jc, root, "the root element is <%s>, expected <job_conf>", root->name);
    else if (root->nattrs > 0)
        rc = mt__xml_fail(jc, root, "<job_conf>: unknown attribute '%s' (it takes none)", root->attrs[0]);
    for (size_t i = 0; rc == 0 && i < root->nchildren; i++) {
        const mt_xml_node_t *block = root->children[i];
        const char *name = block->name;
        if (strcmp(name, "handlers") == 0)
            rc = mt__xml_handlers(jc, block);
        else if (strcmp(name, "tools") == 0)
            rc = mt__xml_tools(jc, block);
        else if (!strcmp(name, "plugins") || !strcmp(name, "destinations") || !strcmp(name, "limits") ||
                 !strcmp(name, "resources"))
            rc = mt__job_exec_xml_block(jc->conf->exec, block, jc->err, jc->errlen);
        else
            rc = mt__xml_fail(jc, block,
                              "unknown element <%s> in <job_conf> (expected plugins, handlers, destinations, tools, "
                              "limits, resources or macros)",
                              name);
    }
    mt_xml_doc_free(doc);
    return rc;
}

/* ------------------------------------------------------------------ */
/* YAML (libfyaml)                                                     */
/* ------------------------------------------------------------------ */

static bool mt__is_type(struct fy_node *node, enum fy_node_type type)
{
    return node && !mt_yaml_is_null(node) && fy_node_get_type(node) == type;
}

/*
 * The value of a pair with its alias followed. -1 (error reported) for a
 * broken alias. `where` names the key for the message.
 */
static int mt__pair_value(mt__jc_ctx_t *ctx, struct fy_node_pair *pair, int line, const char *where,
                          struct fy_node **out)
{
    struct fy_node *node = fy_node_pair_value(pair);
    if (node && fy_node_is_alias(node)) {
        node = fy_node_resolve_alias(node);
        if (!node)
            return mt__error(ctx, line, "%s: unresolvable alias", where);
    }
    *out = node;
    return 0;
}

/*
 * A non-null scalar as a new string in *out. -1 (error reported) if node is
 * null, not a scalar, or holds a NUL byte. `what` names it for the message.
 */
static int mt__scalar(mt__jc_ctx_t *ctx, struct fy_node *node, int line, const char *what, char **out)
{
    if (node && fy_node_is_alias(node))
        node = fy_node_resolve_alias(node);
    if (!mt__is_type(node, FYNT_SCALAR))
        return mt__error(ctx, mt_yaml_node_line(node, line), "%s: expected a single value", what);
    size_t len;
    const char *text = fy_node_get_scalar(node, &len);
    if (!text)
        text = "";
    if (memchr(text, '\0', len))
        return mt__error(ctx, mt_yaml_node_line(node, line), "%s: contains a NUL byte", what);
    *out = mt_strndup(text, len);
    return 0;
}

/* The key of a pair as a new string; keys must be plain scalars. */
static int mt__key(mt__jc_ctx_t *ctx, struct fy_node_pair *pair, int fallback, const char *where, char **out, int *line)
{
    struct fy_node *knode = fy_node_pair_key(pair);
    *line = mt_yaml_node_line(knode, fallback);
    if (!mt__is_type(knode, FYNT_SCALAR))
        return mt__error(ctx, *line, "%s: keys must be names", where);
    return mt__scalar(ctx, knode, *line, where, out);
}

/*
 * A list of names: a sequence of scalars, or one scalar holding
 * comma-separated names. add() is called for each. Null is an empty list.
 */
static int mt__yaml_names(mt__jc_ctx_t *ctx, struct fy_node *node, int line, const char *what, void *arg,
                          int (*add)(mt__jc_ctx_t *ctx, const char *item, int line, void *arg))
{
    if (mt_yaml_is_null(node))
        return 0;
    if (fy_node_get_type(node) == FYNT_SCALAR) {
        char *text;
        if (mt__scalar(ctx, node, line, what, &text) < 0)
            return -1;
        int rc = mt__split_commas(ctx, text, mt_yaml_node_line(node, line), arg, add);
        free(text);
        return rc;
    }
    if (fy_node_get_type(node) != FYNT_SEQUENCE)
        return mt__error(ctx, line, "%s: expected a list of names", what);
    void *iter = NULL;
    struct fy_node *item;
    while ((item = fy_node_sequence_iterate(node, &iter))) {
        int iline = mt_yaml_node_line(item, line);
        char *name;
        if (mt__scalar(ctx, item, iline, what, &name) < 0)
            return -1;
        int rc = add(ctx, name, iline, arg);
        free(name);
        if (rc < 0)
            return -1;
    }
    return 0;
}

/* One "ID: {tags: [...]}" entry of handling.handlers. */
static int mt__yaml_handler(mt__jc_ctx_t *ctx, const char *id, struct fy_node *value, int line)
{
    mt__handler_t *handler = mt__add_handler(ctx, id, line);
    if (!handler)
        return -1;
    if (mt_yaml_is_null(value))
        return 0;
    if (fy_node_get_type(value) != FYNT_MAPPING)
        return mt__error(ctx, line, "handler '%s': expected a mapping (tags: [...]) or nothing", id);
    int tags_line = 0;
    void *iter = NULL;
    struct fy_node_pair *pair;
    while ((pair = fy_node_mapping_iterate(value, &iter))) {
        char *key;
        int kline;
        struct fy_node *vnode;
        if (mt__key(ctx, pair, line, "handler", &key, &kline) < 0)
            return -1;
        int rc = mt__pair_value(ctx, pair, kline, key, &vnode);
        if (rc == 0 && strcmp(key, "tags") == 0) {
            if (tags_line)
                rc = mt__error(ctx, kline, "handler '%s': 'tags' given twice (first at line %d)", id, tags_line);
            else
                rc = mt__yaml_names(ctx, vnode, kline, "tags", handler, mt__add_tag);
            tags_line = kline;
        } else if (rc == 0 && strcmp(key, "plugins") == 0) { /* Galaxy's per-handler runner list: not ours */
            mt__job_exec_note(ctx->conf->exec, kline,
                              "handler '%s': plugins: Galaxy loads only the listed runners in this handler; here "
                              "every handler runs the local and slurm runners",
                              id);
        } else if (rc == 0 && strcmp(key, "environment") == 0) {
            mt__job_exec_note(ctx->conf->exec, kline,
                              "handler '%s': environment: variables for one handler process are not set here", id);
        } else if (rc == 0) {
            rc = mt__error(ctx, kline, "handler '%s': unknown key '%s' (expected tags)", id, key);
        }
        free(key);
        if (rc < 0)
            return -1;
    }
    return 0;
}

static int mt__yaml_handlers(mt__jc_ctx_t *ctx, struct fy_node *node, int line)
{
    if (mt_yaml_is_null(node))
        return 0;
    if (fy_node_get_type(node) != FYNT_MAPPING)
        return mt__error(ctx, line, "handlers: expected a mapping of handler ids");
    void *iter = NULL;
    struct fy_node_pair *pair;
    while ((pair = fy_node_mapping_iterate(node, &iter))) {
        char *id;
        int kline;
        struct fy_node *vnode;
        if (mt__key(ctx, pair, line, "handlers", &id, &kline) < 0)
            return -1;
        int rc = mt__pair_value(ctx, pair, kline, id, &vnode);
        if (rc == 0)
            rc = mt__yaml_handler(ctx, id, vnode, kline);
        free(id);
        if (rc < 0)
            return -1;
    }
    return 0;
}

/* One key of handling: (Galaxy also spells "handlers" "processes"). */
static int mt__yaml_handling_pair(mt__jc_ctx_t *ctx, const char *key, struct fy_node *vnode, int kline)
{
    mt_job_conf_t *conf = ctx->conf;
    int rc;

    if (strcmp(key, "assign") == 0) {
        if (ctx->assign_line)
            return mt__error(ctx, kline, "handling: 'assign' given twice (first at line %d)", ctx->assign_line);
        ctx->assign_line = kline;
        rc = mt__yaml_names(ctx, vnode, kline, "assign", NULL, mt__add_assign_item);
        if (rc == 0 && conf->nassign == 0)
            rc = mt__error(ctx, kline, "assign: expected a list of methods (mule-message, db-self, ...)");
        return rc;
    }
    if (strcmp(key, "default") == 0) {
        char *name;
        if (conf->default_target)
            return mt__error(ctx, kline, "handling: 'default' given twice (first at line %d)", conf->default_line);
        if (mt__scalar(ctx, vnode, kline, "default", &name) < 0)
            return -1;
        rc = mt__set_default(ctx, name, mt_yaml_node_line(vnode, kline));
        free(name);
        return rc;
    }
    if (strcmp(key, "handlers") == 0 || strcmp(key, "processes") == 0) {
        if (ctx->handlers_line)
            return mt__error(ctx, kline, "handling: '%s' given twice (first at line %d)", key, ctx->handlers_line);
        ctx->handlers_line = kline;
        return mt__yaml_handlers(ctx, vnode, kline);
    }
    /* Galaxy's tuning of db-skip-locked claims: accepted, with a notice. */
    if (strcmp(key, "max_grab") == 0 || strcmp(key, "ready_window_size") == 0) {
        mt__job_exec_note(ctx->conf->exec, kline,
                          "handling: %s: Galaxy's batch size for claiming jobs from the database; handlers here "
                          "claim as many as they have free slots for (jobs.workers)",
                          key);
        return 0;
    }
    return mt__error(ctx, kline, "handling: unknown key '%s' (expected assign, default or handlers)", key);
}

/* handling: {assign, default, handlers}. */
static int mt__yaml_handling(mt__jc_ctx_t *ctx, struct fy_node *node, int line)
{
    if (mt_yaml_is_null(node))
        return 0;
    if (fy_node_get_type(node) != FYNT_MAPPING)
        return mt__error(ctx, line, "handling: expected a mapping (assign, default, handlers)");
    void *iter = NULL;
    struct fy_node_pair *pair;
    while ((pair = fy_node_mapping_iterate(node, &iter))) {
        char *key;
        int kline;
        struct fy_node *vnode;
        if (mt__key(ctx, pair, line, "handling", &key, &kline) < 0)
            return -1;
        int rc = mt__pair_value(ctx, pair, kline, key, &vnode);
        if (rc == 0)
            rc = mt__yaml_handling_pair(ctx, key, vnode, kline);
        free(key);
        if (rc < 0)
            return -1;
    }
    return 0;
}

/*
 * One entry of tools: {id: TOOL, handler: HANDLER, ...}. Other keys
 * (environment, destination, resources, ...) are Galaxy's, not ours; an
 * entry without a handler maps an environment only and is skipped.
 */
static int mt__yaml_tool(mt__jc_ctx_t *ctx, struct fy_node *item, int line)
{
    char *id = NULL, *handler = NULL;
    int id_line = 0, handler_line = 0, rc = 0;
    void *iter = NULL;
    struct fy_node_pair *pair;

    while (rc == 0 && (pair = fy_node_mapping_iterate(item, &iter))) {
        char *key;
        int kline;
        struct fy_node *vnode;
        if (mt__key(ctx, pair, line, "tools", &key, &kline) < 0) {
            rc = -1;
            break;
        }
        bool is_id = strcmp(key, "id") == 0, is_handler = strcmp(key, "handler") == 0;
        int *seen = is_id ? &id_line : is_handler ? &handler_line : NULL;
        if (seen && *seen)
            rc = mt__error(ctx, kline, "tools: '%s' given twice in one entry (first at line %d)", key, *seen);
        else if (seen)
            rc = mt__pair_value(ctx, pair, kline, key, &vnode);
        if (rc == 0 && seen) {
            *seen = kline;
            if (!(is_handler && mt_yaml_is_null(vnode))) /* "handler:" with no value maps nothing */
                rc = mt__scalar(ctx, vnode, kline, key, is_id ? &id : &handler);
        }
        free(key);
    }
    if (rc == 0 && handler && !id)
        rc = mt__error(ctx, handler_line, "tools: an entry with a handler needs an id");
    if (rc == 0)
        rc = mt__job_exec_yaml_tool(ctx->conf->exec, item, line, ctx->err, ctx->errlen);
    if (rc == 0 && handler)
        rc = mt__add_mapping(ctx, id, handler, handler_line);
    free(id);
    free(handler);
    return rc;
}

/* tools: [{id: ..., handler: ...}, ...] */
static int mt__yaml_tools(mt__jc_ctx_t *ctx, struct fy_node *node, int line)
{
    if (mt_yaml_is_null(node))
        return 0;
    if (fy_node_get_type(node) != FYNT_SEQUENCE)
        return mt__error(ctx, line, "tools: expected a list (- id: TOOL, handler: HANDLER)");
    void *iter = NULL;
    struct fy_node *item;
    while ((item = fy_node_sequence_iterate(node, &iter))) {
        int iline = mt_yaml_node_line(item, line);
        if (fy_node_is_alias(item))
            item = fy_node_resolve_alias(item);
        if (!mt__is_type(item, FYNT_MAPPING))
            return mt__error(ctx, iline, "tools: each entry must be a mapping (id: TOOL, handler: HANDLER)");
        if (mt__yaml_tool(ctx, item, mt_yaml_node_line(item, iline)) < 0)
            return -1;
    }
    return 0;
}

static int mt__yaml_root(mt__jc_ctx_t *ctx, struct fy_node *root)
{
    if (mt_yaml_is_null(root))
        return 0;
    if (fy_node_get_type(root) != FYNT_MAPPING)
        return mt__error(ctx, mt_yaml_node_line(root, 1), "expected a mapping at the top level (handling:, tools:)");
    void *iter = NULL;
    struct fy_node_pair *pair;
    while ((pair = fy_node_mapping_iterate(root, &iter))) {
        char *key;
        int kline;
        struct fy_node *vnode;
        if (mt__key(ctx, pair, 1, "top level", &key, &kline) < 0)
            return -1;
        int rc = 0;
        int *seen = strcmp(key, "handling") == 0 ? &ctx->handling_line
                    : strcmp(key, "tools") == 0  ? &ctx->tools_line
                                                 : NULL; /* runners:, execution:, limits:, ...: job_conf_exec.c */
        if (!seen && (rc = mt__pair_value(ctx, pair, kline, key, &vnode)) == 0) {
            if (!strcmp(key, "runners") || !strcmp(key, "execution") || !strcmp(key, "limits") ||
                !strcmp(key, "resources") || !strcmp(key, "dynamic"))
                rc = mt__job_exec_yaml_block(ctx->conf->exec, key, vnode, kline, ctx->err, ctx->errlen);
            else
                rc = mt__error(ctx, kline,
                               "unknown top-level key '%s' (expected runners, handling, execution, tools, limits, "
                               "resources or dynamic)",
                               key);
        } else if (seen && *seen)
            rc = mt__error(ctx, kline, "'%s' given twice (first at line %d)", key, *seen);
        else if (seen && (rc = mt__pair_value(ctx, pair, kline, key, &vnode)) == 0)
            rc = seen == &ctx->handling_line ? mt__yaml_handling(ctx, vnode, kline) : mt__yaml_tools(ctx, vnode, kline);
        if (seen)
            *seen = kline;
        free(key);
        if (rc < 0)
            return -1;
    }
    return 0;
}

/*
 * libfyaml 0.7 (Debian 12) loops forever on some malformed UTF-8 and reads
 * UTF-16 as an empty document: refuse anything that is not UTF-8.
 */
static int mt__check_utf8(mt__jc_ctx_t *ctx, const char *text, size_t n)
{
    int line;
    unsigned char bad;
    if (mt_yaml_check_utf8(text, n, false, &line, &bad) < 0)
        return mt__error(ctx, line, "not UTF-8 (byte 0x%02x): YAML files must be UTF-8", bad);
    return 0;
}

static int mt__parse_yaml(mt__jc_ctx_t *ctx, const char *text, size_t len)
{
    int rc = -1;

    if (mt__check_utf8(ctx, text, len) < 0)
        return -1;

    /* Duplicate keys are let through and refused below with a message that names them. */
    mt_yaml_doc_t y = {0};
    int yline;
    char why[512];
    if (mt_yaml_parse_one(text, len, FYPCF_ALLOW_DUPLICATE_KEYS, &y, &yline, why, sizeof why) < 0) {
        if (yline > 0)
            mt__error(ctx, yline, "%s", why);
        else
            mt_message_fail(ctx->err, ctx->errlen, "%s: %s", ctx->file, why);
    } else {
        rc = y.doc ? mt__yaml_root(ctx, fy_document_root(y.doc)) : 0; /* no document: an empty file */
    }
    mt_yaml_doc_free(&y);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Loading                                                             */
/* ------------------------------------------------------------------ */

/* XML if the name ends in .xml or the first non-blank character (after a UTF-8 BOM) is '<'. */
static bool mt__looks_like_xml(const char *name, const char *text, size_t len)
{
    size_t nlen = strlen(name);
    if (nlen >= 4 && strcasecmp(name + nlen - 4, ".xml") == 0)
        return true;
    size_t i = 0;
    if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0)
        i = 3;
    while (i < len && (text[i] == ' ' || text[i] == '\t' || text[i] == '\r' || text[i] == '\n'))
        i++;
    return i < len && text[i] == '<';
}

/* Load from memory; allow_import: XML <import> may read files (relative to name's directory). */
static int mt__load(const char *name, const char *text, size_t len, bool allow_import, mt_job_conf_t **out, char *err,
                    size_t errlen)
{
    *out = NULL;
    if (len > MT__JOB_CONF_MAX_BYTES)
        return mt_message_fail(err, errlen, "%s: larger than %u bytes: not a job configuration", name,
                        MT__JOB_CONF_MAX_BYTES);
    mt__jc_ctx_t ctx = { .conf = mt_calloc(1, sizeof(mt_job_conf_t)), .file = name, .err = err, .errlen = errlen,
                         .allow_import = allow_import };
    ctx.conf->exec = mt__job_exec_new(name);
    int rc = mt__looks_like_xml(name, text, len) ? mt__parse_xml(&ctx, text, len) : mt__parse_yaml(&ctx, text, len);
    if (rc == 0)
        rc = mt__validate(&ctx);
    if (rc == 0)
        rc = mt__job_exec_validate(ctx.conf->exec, err, errlen);
    if (rc < 0) {
        mt_job_conf_destroy(ctx.conf);
        return -1;
    }
    *out = ctx.conf;
    return 0;
}

int mt_job_conf_load_string(const char *name, const char *text, size_t len, mt_job_conf_t **out, char *err,
                            size_t errlen)
{
    return mt__load(name, text, len, false, out, err, errlen);
}

int mt_job_conf_load(const char *path, mt_job_conf_t **out, char *err, size_t errlen)
{
    *out = NULL;
    if (!path)
        return 0;
    FILE *fp = fopen(path, "r");
    if (!fp)
        return mt_message_fail(err, errlen, "%s: cannot open: %s", path, strerror(errno));
    size_t cap = 8192, len = 0, got;
    char *text = mt_malloc(cap);
    while ((got = fread(text + len, 1, cap - len, fp)) > 0) {
        len += got;
        if (len > MT__JOB_CONF_MAX_BYTES)
            break; /* load_string refuses it */
        if (len == cap)
            text = mt_realloc(text, cap *= 2);
    }
    int rc;
    if (ferror(fp))
        rc = mt_message_fail(err, errlen, "%s: cannot read: %s", path, strerror(errno));
    else
        rc = mt__load(path, text, len, true, out, err, errlen);
    free(text);
    fclose(fp);
    return rc;
}

void mt_job_conf_destroy(mt_job_conf_t *conf)
{
    if (!conf)
        return;
    for (size_t i = 0; i < conf->nhandlers; i++) {
        for (size_t k = 0; k < conf->handlers[i].ntags; k++)
            free(conf->handlers[i].tags[k]);
        free(conf->handlers[i].tags);
        free(conf->handlers[i].id);
    }
    free(conf->handlers);
    for (size_t i = 0; i < conf->nmappings; i++) {
        free(conf->mappings[i].tool_id);
        free(conf->mappings[i].target);
    }
    free(conf->mappings);
    free(conf->default_target);
    mt__job_exec_free(conf->exec);
    free(conf);
}

/* ------------------------------------------------------------------ */
/* Accessors                                                           */
/* ------------------------------------------------------------------ */

size_t mt_job_conf_assign_methods(const mt_job_conf_t *conf, const mt_assign_method_t **methods)
{
    *methods = conf ? conf->assign : NULL;
    return conf ? conf->nassign : 0;
}

int mt_job_conf_default_line(const mt_job_conf_t *conf)
{
    return conf && conf->default_target ? conf->default_line : 0;
}

size_t mt_job_conf_handler_tag_count(const mt_job_conf_t *conf, size_t index)
{
    assert(conf && index < conf->nhandlers);
    return conf->handlers[index].ntags;
}

const char *mt_job_conf_handler_tag(const mt_job_conf_t *conf, size_t index, size_t k)
{
    assert(conf && index < conf->nhandlers && k < conf->handlers[index].ntags);
    return conf->handlers[index].tags[k];
}

int mt_job_conf_handler_line(const mt_job_conf_t *conf, size_t index)
{
    assert(conf && index < conf->nhandlers);
    return conf->handlers[index].line;
}

bool mt_job_conf_is_handler(const mt_job_conf_t *conf, const char *name)
{
    return conf && mt__find_handler(conf, name) != NULL;
}

size_t mt_job_conf_mapping_count(const mt_job_conf_t *conf)
{
    return conf ? conf->nmappings : 0;
}

const char *mt_job_conf_mapping(const mt_job_conf_t *conf, size_t index, const char **target, int *line)
{
    assert(conf && index < conf->nmappings);
    *target = conf->mappings[index].target;
    *line = conf->mappings[index].line;
    return conf->mappings[index].tool_id;
}

bool mt_job_conf_assign_configured(const mt_job_conf_t *conf)
{
    return conf && conf->nassign > 0;
}

const char *mt_job_conf_default(const mt_job_conf_t *conf)
{
    return conf ? conf->default_target : NULL;
}

size_t mt_job_conf_handler_count(const mt_job_conf_t *conf)
{
    return conf ? conf->nhandlers : 0;
}

const char *mt_job_conf_handler_id(const mt_job_conf_t *conf, size_t index)
{
    assert(conf && index < conf->nhandlers);
    return conf->handlers[index].id;
}

bool mt_job_conf_handler_has_tag(const mt_job_conf_t *conf, const char *handler_id, const char *tag)
{
    const mt__handler_t *handler = mt__find_handler(conf, handler_id);
    return handler && mt__has_tag(handler, tag);
}

bool mt_job_conf_is_tag(const mt_job_conf_t *conf, const char *name)
{
    for (size_t i = 0; conf && i < conf->nhandlers; i++) {
        if (mt__has_tag(&conf->handlers[i], name))
            return true;
    }
    return false;
}

const char *mt_job_conf_tool_handler(const mt_job_conf_t *conf, const char *tool_id)
{
    const mt__mapping_t *m = tool_id ? mt__find_mapping(conf, tool_id) : NULL;
    return m ? m->target : NULL;
}

const mt_job_exec_t *mt__job_conf_exec(const mt_job_conf_t *conf)
{
    return conf ? conf->exec : NULL;
}
