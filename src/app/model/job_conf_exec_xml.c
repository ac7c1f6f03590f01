/*
 * job_conf_exec_xml: job_conf.xml's <plugins>, <destinations>, <tools>
 * (their destination side), <limits> and <resources>, read from the tree
 * xml_macros.c made (macros expanded), into the model of job_conf_exec.c
 * (see job_conf_exec.h). Every element and attribute Galaxy reads is read;
 * anything else is an error naming FILE:LINE.
 */
#include "app/model/job_conf_exec.h"
#include "app/model/job_conf_exec_build.h"

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

/* Every attribute of node must be in allowed (NULL-terminated). */
static int mt__x_attrs(mt_job_exec_t *ex, const mt_xml_node_t *node, const char *const *allowed)
{
    for (size_t i = 0; i < node->nattrs; i++) {
        const char *a = node->attrs[2 * i];
        bool ok = false;
        for (const char *const *p = allowed; *p && !ok; p++)
            ok = strcmp(*p, a) == 0;
        if (!ok) {
            char list[256] = "";
            size_t used = 0;
            for (const char *const *p = allowed; *p; p++) {
                int n = snprintf(list + used, sizeof list - used, "%s%s", used ? ", " : "", *p);
                used = n > 0 && used + (size_t)n < sizeof list ? used + (size_t)n : sizeof list - 1;
            }
            return mt__jx_fail_node(ex, node, "<%s>: unknown attribute '%s' (%s%s)", node->name, a,
                                    allowed[0] ? "expected " : "it takes none", list);
        }
    }
    return 0;
}

static int mt__x_no_children(mt_job_exec_t *ex, const mt_xml_node_t *node)
{
    if (node->nchildren > 0)
        return mt__jx_fail_node(ex, node->children[0], "<%s> holds no elements, not <%s>", node->name,
                                node->children[0]->name);
    return 0;
}

static int mt__x_unknown_child(mt_job_exec_t *ex, const mt_xml_node_t *parent, const mt_xml_node_t *child,
                               const char *expected)
{
    return mt__jx_fail_node(ex, child, "<%s> holds %s, not <%s>", parent->name, expected, child->name);
}

/* <param id="..." from_environ="VAR" from_config="OPTION">text</param> */
static int mt__x_param(mt_job_exec_t *ex, const mt_xml_node_t *node, const char *owner, mt_job_param_t **params,
                       size_t *n)
{
    static const char *const attrs[] = { "id", "from_environ", "from_config", NULL };
    if (mt__x_attrs(ex, node, attrs) < 0)
        return -1;
    const char *id = mt_xml_attr(node, "id");
    if (!id)
        return mt__jx_fail_node(ex, node, "%s: <param> needs an id attribute", owner);
    const char *value = node->text;
    char containers[512] = "";
    if (node->nchildren > 0) {
        /* Galaxy reads <container> elements in the container and container_override params only. */
        if (strcmp(id, "container") != 0 && strcmp(id, "container_override") != 0)
            return mt__jx_fail_node(ex, node->children[0], "%s: param '%s' holds text, not <%s>", owner, id,
                                    node->children[0]->name);
        size_t used = 0;
        for (size_t i = 0; i < node->nchildren; i++) {
            const mt_xml_node_t *c = node->children[i];
            static const char *const cattrs[] = { "type", "shell", "resolve_dependencies", NULL };
            if (strcmp(c->name, "container") != 0)
                return mt__x_unknown_child(ex, node, c, "<container> elements");
            if (mt__x_attrs(ex, c, cattrs) < 0)
                return -1;
            char *t = mt__jx_trimmed(c->text);
            const char *type = mt_xml_attr(c, "type");
            int w = snprintf(containers + used, sizeof containers - used, "%s%s:%s", used ? "," : "",
                             type ? type : "docker", t);
            used = w > 0 && used + (size_t)w < sizeof containers ? used + (size_t)w : sizeof containers - 1;
            free(t);
        }
        value = containers;
    }
    const char *env = mt_xml_attr(node, "from_environ");
    const char *from_config = mt_xml_attr(node, "from_config");
    if (env && from_config)
        return mt__jx_fail_node(ex, node, "%s: param '%s' takes from_environ or from_config, not both", owner, id);
    if (env && getenv(env))
        value = getenv(env); /* as Galaxy: the variable when set, else the text */
    return mt__jx_param_add(ex, params, n, owner, id, value, mt_xml_line(node), from_config);
}

static int mt__x_plugin(mt_job_exec_t *ex, const mt_xml_node_t *node)
{
    static const char *const attrs[] = { "id", "type", "load", "workers", NULL };
    if (mt__x_attrs(ex, node, attrs) < 0)
        return -1;
    const char *id = mt_xml_attr(node, "id"), *type = mt_xml_attr(node, "type");
    const char *workers = mt_xml_attr(node, "workers");
    if (!id)
        return mt__jx_fail_node(ex, node, "<plugin> needs an id attribute");
    if (!type)
        return mt__jx_fail_node(ex, node, "<plugin id=\"%s\"> needs a type attribute (runner)", id);
    if (strcmp(type, "runner") != 0)
        return mt__jx_fail_node(ex, node, "<plugin id=\"%s\">: unknown plugin type '%s' (Galaxy knows runner)", id, type);
    int line = mt_xml_line(node);
    long long w = 0;
    if (workers && mt__jx_parse_int(workers, 1, 100000, &w) < 0)
        return mt__jx_fail_node(ex, node, "<plugin id=\"%s\">: workers '%s' is not a positive whole number", id, workers);
    mt_job_runner_t *r = mt__jx_runner_add(ex, id, mt_xml_attr(node, "load"), line);
    if (!r)
        return -1;
    r->workers = workers ? (int)w : ex->plugins_workers;
    char owner[300];
    snprintf(owner, sizeof owner, "plugin '%s'", id);
    for (size_t i = 0; i < node->nchildren; i++) {
        const mt_xml_node_t *c = node->children[i];
        if (strcmp(c->name, "param") != 0)
            return mt__x_unknown_child(ex, node, c, "<param> elements");
        /* r may move as runners grow: re-find it (it is the last one). */
        mt_job_runner_t *rr = &ex->runners[ex->nrunners - 1];
        if (mt__x_param(ex, c, owner, &rr->params, &rr->nparams) < 0)
            return -1;
    }
    return 0;
}

static int mt__x_plugins(mt_job_exec_t *ex, const mt_xml_node_t *block)
{
    static const char *const attrs[] = { "workers", NULL };
    if (mt__x_attrs(ex, block, attrs) < 0)
        return -1;
    const char *workers = mt_xml_attr(block, "workers");
    long long w = 0;
    if (workers && mt__jx_parse_int(workers, 1, 100000, &w) < 0)
        return mt__jx_fail_node(ex, block, "<plugins>: workers '%s' is not a positive whole number", workers);
    ex->plugins_workers = (int)w;
    for (size_t i = 0; i < block->nchildren; i++) {
        const mt_xml_node_t *c = block->children[i];
        if (strcmp(c->name, "plugin") != 0)
            return mt__x_unknown_child(ex, block, c, "<plugin> elements");
        if (mt__x_plugin(ex, c) < 0)
            return -1;
    }
    return 0;
}

static int mt__x_env(mt_job_exec_t *ex, mt_job_destination_t *d, const mt_xml_node_t *node)
{
    static const char *const attrs[] = { "id", "raw", "file", "exec", NULL };
    if (mt__x_attrs(ex, node, attrs) < 0 || mt__x_no_children(ex, node) < 0)
        return -1;
    const char *id = mt_xml_attr(node, "id"), *file = mt_xml_attr(node, "file"), *exec = mt_xml_attr(node, "exec");
    const char *raw = mt_xml_attr(node, "raw");
    if ((id != NULL) + (file != NULL) + (exec != NULL) != 1)
        return mt__jx_fail_node(ex, node, "destination '%s': <env> takes exactly one of id, file or exec", d->id);
    int line = mt_xml_line(node);
    if (id)
        return mt__jx_env_add(ex, d, MT_JOB_ENV_SET, id, node->text, raw && mt__jx_asbool(raw), line);
    if (raw)
        return mt__jx_fail_node(ex, node, "destination '%s': raw is for <env id=...>", d->id);
    return mt__jx_env_add(ex, d, file ? MT_JOB_ENV_FILE : MT_JOB_ENV_EXEC, NULL, file ? file : exec, false, line);
}

static int mt__x_destination(mt_job_exec_t *ex, const mt_xml_node_t *node)
{
    static const char *const attrs[] = { "id", "runner", "tags", "metrics", NULL };
    if (mt__x_attrs(ex, node, attrs) < 0)
        return -1;
    const char *id = mt_xml_attr(node, "id"), *runner = mt_xml_attr(node, "runner");
    const char *tags = mt_xml_attr(node, "tags"), *metrics = mt_xml_attr(node, "metrics");
    if (!id)
        return mt__jx_fail_node(ex, node, "<destination> needs an id attribute");
    if (!runner)
        return mt__jx_fail_node(ex, node, "<destination id=\"%s\"> needs a runner attribute (a plugin id)", id);
    int line = mt_xml_line(node);
    mt_job_destination_t *d = mt__jx_dest_add(ex, id, line);
    if (!d)
        return -1;
    d->runner = mt__jx_trimmed(runner);
    if (tags && mt__jx_dest_add_tags(ex, d, tags, line) < 0)
        return -1;
    if (metrics)
        mt__jx_note(ex, line, "destination '%s': metrics=\"%s\": job metrics are not collected here", id, metrics);
    char owner[300];
    snprintf(owner, sizeof owner, "destination '%s'", id);
    for (size_t i = 0; i < node->nchildren; i++) {
        const mt_xml_node_t *c = node->children[i];
        int rc = 0;
        if (strcmp(c->name, "param") == 0) {
            rc = mt__x_param(ex, c, owner, &d->params, &d->nparams);
        } else if (strcmp(c->name, "env") == 0) {
            rc = mt__x_env(ex, d, c);
        } else if (strcmp(c->name, "resubmit") == 0) {
            static const char *const rattrs[] = { "condition", "destination", "environment", "handler", "delay",
                                                  NULL };
            rc = mt__x_attrs(ex, c, rattrs);
            const char *to = mt_xml_attr(c, "destination"), *env = mt_xml_attr(c, "environment");
            if (rc == 0 && to && env)
                rc = mt__jx_fail_node(ex, c, "<resubmit>: destination and environment are the same thing: give one");
            if (rc == 0)
                rc = mt__x_no_children(ex, c);
            if (rc == 0)
                rc = mt__jx_resubmit_add(ex, d, mt_xml_attr(c, "condition"), to ? to : env, mt_xml_attr(c, "handler"),
                                         mt_xml_attr(c, "delay"), mt_xml_line(c));
        } else if (strcmp(c->name, "job_metrics") == 0) {
            mt__jx_note(ex, mt_xml_line(c), "destination '%s': <job_metrics>: job metrics are not collected here", id);
        } else {
            rc = mt__x_unknown_child(ex, node, c, "<param>, <env>, <resubmit> and <job_metrics>");
        }
        if (rc < 0)
            return -1;
    }
    return 0;
}

static int mt__x_destinations(mt_job_exec_t *ex, const mt_xml_node_t *block)
{
    static const char *const attrs[] = { "default", NULL };
    if (mt__x_attrs(ex, block, attrs) < 0)
        return -1;
    const char *dflt = mt_xml_attr(block, "default");
    if (dflt && mt__jx_set_default_dest(ex, dflt, mt_xml_line(block)) < 0)
        return -1;
    for (size_t i = 0; i < block->nchildren; i++) {
        const mt_xml_node_t *c = block->children[i];
        if (strcmp(c->name, "destination") != 0)
            return mt__x_unknown_child(ex, block, c, "<destination> elements");
        if (mt__x_destination(ex, c) < 0)
            return -1;
    }
    return 0;
}

static int mt__x_limits(mt_job_exec_t *ex, const mt_xml_node_t *block)
{
    static const char *const none[] = { NULL };
    static const char *const attrs[] = { "type", "tag", "id", "window", NULL };
    if (mt__x_attrs(ex, block, none) < 0)
        return -1;
    for (size_t i = 0; i < block->nchildren; i++) {
        const mt_xml_node_t *c = block->children[i];
        if (strcmp(c->name, "limit") != 0)
            return mt__x_unknown_child(ex, block, c, "<limit> elements");
        if (mt__x_attrs(ex, c, attrs) < 0 || mt__x_no_children(ex, c) < 0)
            return -1;
        char *value = mt__jx_trimmed(c->text);
        int rc = mt__jx_limit_add(ex, mt_xml_attr(c, "type"), mt_xml_attr(c, "id"), mt_xml_attr(c, "tag"),
                                  mt_xml_attr(c, "window"), value, mt_xml_line(c));
        free(value);
        if (rc < 0)
            return -1;
    }
    return 0;
}

static int mt__x_resources(mt_job_exec_t *ex, const mt_xml_node_t *block)
{
    static const char *const attrs[] = { "default", NULL };
    static const char *const gattrs[] = { "id", "fields", NULL };
    if (mt__x_attrs(ex, block, attrs) < 0)
        return -1;
    const char *dflt = mt_xml_attr(block, "default");
    if (dflt) {
        ex->default_group = mt__jx_trimmed(dflt);
        ex->default_group_line = mt_xml_line(block);
    }
    for (size_t i = 0; i < block->nchildren; i++) {
        const mt_xml_node_t *c = block->children[i];
        if (strcmp(c->name, "group") != 0)
            return mt__x_unknown_child(ex, block, c, "<group> elements");
        if (mt__x_attrs(ex, c, gattrs) < 0 || mt__x_no_children(ex, c) < 0)
            return -1;
        const char *id = mt_xml_attr(c, "id"), *fields = mt_xml_attr(c, "fields");
        if (!id)
            return mt__jx_fail_node(ex, c, "<group> needs an id attribute");
        if (mt__jx_group_add(ex, id, fields && fields[0] ? fields : c->text, mt_xml_line(c)) < 0)
            return -1;
    }
    return 0;
}

int mt__job_exec_xml_block(mt_job_exec_t *ex, const mt_xml_node_t *block, char *err, size_t errlen)
{
    ex->err = err;
    ex->errlen = errlen;
    int line = mt_xml_line(block);
    if (strcmp(block->name, "plugins") == 0)
        return mt__jx_block_once(ex, &ex->plugins_line, "<plugins>", line) < 0 ? -1 : mt__x_plugins(ex, block);
    if (strcmp(block->name, "destinations") == 0)
        return mt__jx_block_once(ex, &ex->destinations_line, "<destinations>", line) < 0 ? -1
                                                                                      : mt__x_destinations(ex, block);
    if (strcmp(block->name, "limits") == 0)
        return mt__jx_block_once(ex, &ex->limits_line, "<limits>", line) < 0 ? -1 : mt__x_limits(ex, block);
    if (strcmp(block->name, "resources") == 0)
        return mt__jx_block_once(ex, &ex->resources_line, "<resources>", line) < 0 ? -1 : mt__x_resources(ex, block);
    return mt__jx_fail_node(ex, block, "<%s> is not a block of the job configuration", block->name);
}

int mt__job_exec_xml_tool(mt_job_exec_t *ex, const mt_xml_node_t *tool, char *err, size_t errlen)
{
    static const char *const attrs[] = { "id", "handler", "destination", "resources", NULL };
    ex->err = err;
    ex->errlen = errlen;
    if (mt__x_attrs(ex, tool, attrs) < 0)
        return -1;
    const char *id = mt_xml_attr(tool, "id");
    if (!id)
        return mt__jx_fail_node(ex, tool, "<tool> needs an id attribute");
    mt_job_param_t *params = NULL;
    size_t nparams = 0;
    char owner[300];
    snprintf(owner, sizeof owner, "tool '%s'", id);
    int rc = 0;
    for (size_t i = 0; i < tool->nchildren && rc == 0; i++) {
        const mt_xml_node_t *c = tool->children[i];
        if (strcmp(c->name, "param") != 0)
            rc = mt__x_unknown_child(ex, tool, c, "<param> elements");
        else
            rc = mt__x_param(ex, c, owner, &params, &nparams);
    }
    char first[300] = "";
    if (nparams)
        snprintf(first, sizeof first, "%s=%s", params[0].id, params[0].value);
    const char *dest = mt_xml_attr(tool, "destination"), *res = mt_xml_attr(tool, "resources");
    if (rc == 0)
        rc = mt__jx_tool_add(ex, id, NULL, dest && dest[0] ? dest : NULL, res && res[0] ? res : NULL, nparams,
                             nparams ? first : NULL, mt_xml_line(tool));
    mt__jx_params_free(params, nparams);
    return rc;
}
