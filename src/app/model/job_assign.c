/*
 * job_assign: Galaxy's handler assignment rules (see job_assign.h).
 */
#include "app/model/job_assign.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/message.h"

/* ------------------------------------------------------------------ */
/* Small helpers                                                       */
/* ------------------------------------------------------------------ */

static bool farm_exists(const mt_assign_facts_t *facts, const char *farm)
{
    return facts->farm_exists && facts->farm_exists(farm, facts->data);
}

static unsigned pick_random(const mt_assign_facts_t *facts)
{
    return facts->random ? facts->random(facts->data) : (unsigned)random();
}

/* Copy a name into one of mt_assignment_t's buffers; false if it does not fit. */
static bool copy_name(char *dst, size_t size, const char *src)
{
    size_t len = strlen(src);
    if (len >= size)
        return false;
    memcpy(dst, src, len + 1);
    return true;
}

/* "job-handlers.TAG" into buf (128 bytes); tags are length-checked at load (MT_JOB_CONF_TAG_MAX). */
static void tag_pool(const char *tag, char buf[128])
{
    int n = snprintf(buf, 128, "%s.%s", MT_JOB_DEFAULT_POOL, tag);
    assert(n > 0 && n < 128);
    (void)n;
}

static bool is_db_method(mt_assign_method_t m)
{
    return m == MT_ASSIGN_DB_SKIP_LOCKED || m == MT_ASSIGN_DB_TRANSACTION_ISOLATION;
}

/* ------------------------------------------------------------------ */
/* The order                                                           */
/* ------------------------------------------------------------------ */

/* A job-handlers or job-handlers.TAG farm: asked for the tags the configuration knows, and the default. */
static bool any_handler_farm(const mt_job_conf_t *conf, const mt_assign_facts_t *facts)
{
    if (farm_exists(facts, MT_JOB_DEFAULT_POOL))
        return true;
    char pool[128];
    for (size_t i = 0; i < mt_job_conf_handler_count(conf); i++) {
        for (size_t k = 0; k < mt_job_conf_handler_tag_count(conf, i); k++) {
            tag_pool(mt_job_conf_handler_tag(conf, i, k), pool);
            if (farm_exists(facts, pool))
                return true;
        }
    }
    /* A tag only a mapping or the default names, served by its farm. */
    for (size_t i = 0; i < mt_job_conf_mapping_count(conf); i++) {
        const char *target;
        int line;
        mt_job_conf_mapping(conf, i, &target, &line);
        if (!strchr(target, '.') && !mt_job_conf_is_handler(conf, target)) {
            tag_pool(target, pool);
            if (farm_exists(facts, pool))
                return true;
        }
    }
    const char *dflt = mt_job_conf_default(conf);
    if (dflt && !strchr(dflt, '.') && !mt_job_conf_is_handler(conf, dflt)) {
        tag_pool(dflt, pool);
        if (farm_exists(facts, pool))
            return true;
    }
    return false;
}

size_t mt_job_assign_order(const mt_job_conf_t *conf, const mt_assign_facts_t *facts,
                           mt_assign_method_t methods[MT_ASSIGN_METHOD_COUNT])
{
    static const mt_assign_facts_t no_facts;
    if (!facts)
        facts = &no_facts;
    if (facts->norder > 0 && facts->norder <= MT_ASSIGN_METHOD_COUNT) {
        memcpy(methods, facts->order, facts->norder * sizeof *methods);
        return facts->norder;
    }
    const mt_assign_method_t *configured;
    size_t count = mt_job_conf_assign_methods(conf, &configured);
    if (count > 0) {
        memcpy(methods, configured, count * sizeof *methods);
        return count;
    }
    bool handlers = mt_job_conf_handler_count(conf) > 0;
    bool farm = any_handler_farm(conf, facts);
    count = 0;
    if (farm)
        methods[count++] = MT_ASSIGN_MULE_MESSAGE;
    if (handlers)
        methods[count++] = MT_ASSIGN_DB_PREASSIGN;
    if (!farm && !handlers)
        methods[count++] = MT_ASSIGN_DB_SELF;
    return count;
}

bool mt_job_assign_claims_from_db(const mt_job_conf_t *conf, const mt_assign_facts_t *facts)
{
    mt_assign_method_t methods[MT_ASSIGN_METHOD_COUNT];
    size_t count = mt_job_assign_order(conf, facts, methods);
    for (size_t i = 0; i < count; i++)
        if (is_db_method(methods[i]))
            return true;
    return false;
}

/* ------------------------------------------------------------------ */
/* Assignment                                                          */
/* ------------------------------------------------------------------ */

/* A configured handler of the pool at random: carrying `tag`, or untagged when tag is NULL. */
static const char *random_member(const mt_job_conf_t *conf, const char *tag, const mt_assign_facts_t *facts)
{
    size_t count = 0, n = mt_job_conf_handler_count(conf);
    for (size_t i = 0; i < n; i++) {
        const char *id = mt_job_conf_handler_id(conf, i);
        count += tag ? mt_job_conf_handler_has_tag(conf, id, tag) : mt_job_conf_handler_tag_count(conf, i) == 0;
    }
    if (count == 0)
        return NULL;
    size_t pick = pick_random(facts) % count;
    for (size_t i = 0; i < n; i++) {
        const char *id = mt_job_conf_handler_id(conf, i);
        bool member = tag ? mt_job_conf_handler_has_tag(conf, id, tag) : mt_job_conf_handler_tag_count(conf, i) == 0;
        if (member && pick-- == 0)
            return id;
    }
    return NULL;
}

/* Append "method: why" to the list of methods tried. */
static void tried_add(char *tried, size_t size, size_t *used, mt_assign_method_t m, const char *why)
{
    int n = snprintf(tried + *used, size - *used, "%s%s: %s", *used ? "; " : "", mt_assign_method_name(m), why);
    if (n > 0)
        *used = *used + (size_t)n < size ? *used + (size_t)n : size - 1;
}

/* The assign order walked for a pool; tag is NULL for the default pool. */
static int assign_pool(const mt_job_conf_t *conf, const char *tool_id, const char *tag,
                       const mt_assign_facts_t *facts, mt_assignment_t *out, char *err, size_t errlen)
{
    char pool[128];
    if (tag)
        tag_pool(tag, pool);
    else
        snprintf(pool, sizeof pool, "%s", MT_JOB_DEFAULT_POOL);
    mt_assign_method_t methods[MT_ASSIGN_METHOD_COUNT];
    size_t count = mt_job_assign_order(conf, facts, methods);
    char tried[768] = "", why[300];
    size_t used = 0;
    for (size_t i = 0; i < count; i++) {
        const char *self = facts->self_server_name;
        const char *member;
        out->method = methods[i];
        switch (methods[i]) {
        case MT_ASSIGN_MULE_MESSAGE:
            if (farm_exists(facts, pool)) {
                copy_name(out->farm, sizeof out->farm, pool);
                copy_name(out->queue, sizeof out->queue, pool);
                return 0;
            }
            snprintf(why, sizeof why, "no '%s' farm", pool);
            break;
        case MT_ASSIGN_DB_SKIP_LOCKED:
        case MT_ASSIGN_DB_TRANSACTION_ISOLATION:
            copy_name(out->queue, sizeof out->queue, pool);
            return 0;
        case MT_ASSIGN_MEM_SELF:
        case MT_ASSIGN_DB_SELF:
            if (!tag) {
                if (self && self[0] && copy_name(out->handler, sizeof out->handler, self))
                    return 0;
                snprintf(why, sizeof why, "%s", self && self[0] ? "server name too long" : "not created by a process that handles jobs");
                break;
            }
            /* a tag is assigned by preassignment */
            __attribute__((fallthrough));
        case MT_ASSIGN_DB_PREASSIGN:
            member = random_member(conf, tag, facts);
            if (member && copy_name(out->handler, sizeof out->handler, member))
                return 0;
            if (tag)
                snprintf(why, sizeof why, "no handler tagged '%s'", tag);
            else
                snprintf(why, sizeof why, "%s", mt_job_conf_handler_count(conf) ? "every handler is tagged"
                                                                                : "no handlers configured");
            break;
        }
        tried_add(tried, sizeof tried, &used, methods[i], why);
    }
    memset(out, 0, sizeof *out);
    return mt_message_fail(err, errlen,
                           "tool '%s' goes to pool %s, which no handler assignment method can place (tried %s)",
                tool_id ? tool_id : "(none)", pool, tried);
}

/* A target names a pool (a tag) rather than one handler. */
static bool target_is_tag(const mt_job_conf_t *conf, const char *target)
{
    if (mt_job_conf_is_handler(conf, target))
        return false;
    return mt_job_conf_is_tag(conf, target) || !strchr(target, '.');
}

int mt_job_assign(const mt_job_conf_t *conf, const char *tool_id, const mt_assign_facts_t *facts,
                  mt_assignment_t *out, char *err, size_t errlen)
{
    static const mt_assign_facts_t no_facts;
    memset(out, 0, sizeof *out);
    if (!facts)
        facts = &no_facts;
    const char *target = mt_job_conf_tool_handler(conf, tool_id);
    if (!target)
        target = mt_job_conf_default(conf);
    if (!target)
        return assign_pool(conf, tool_id, NULL, facts, out, err, errlen);
    if (target_is_tag(conf, target)) {
        if (strlen(target) > MT_JOB_CONF_TAG_MAX)
            return mt_message_fail(err, errlen, "tool '%s': tag '%s' is too long", tool_id ? tool_id : "(none)",
                                   target);
        return assign_pool(conf, tool_id, target, facts, out, err, errlen);
    }
    /* A handler id or a server name: that handler, directly. */
    out->method = MT_ASSIGN_DB_PREASSIGN;
    out->direct = true;
    if (!copy_name(out->handler, sizeof out->handler, target)) {
        memset(out, 0, sizeof *out);
        return mt_message_fail(err, errlen, "tool '%s': handler name '%s' is too long",
                               tool_id ? tool_id : "(none)", target);
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Pools a process serves                                              */
/* ------------------------------------------------------------------ */

static bool is_handler_pool(const char *name)
{
    size_t n = strlen(MT_JOB_DEFAULT_POOL);
    return strncmp(name, MT_JOB_DEFAULT_POOL, n) == 0 && (name[n] == '\0' || (name[n] == '.' && name[n + 1]));
}

static size_t add_pool(char pools[][128], size_t count, size_t max, const char *pool)
{
    for (size_t i = 0; i < count; i++)
        if (strcmp(pools[i], pool) == 0)
            return count;
    if (count < max && strlen(pool) < 128)
        snprintf(pools[count++], 128, "%s", pool);
    return count;
}

size_t mt_job_assign_pools(const mt_job_conf_t *conf, const mt_handler_identity_t *who,
                           bool default_pool_served_elsewhere, char pools[][128], size_t max)
{
    size_t count = 0;
    for (size_t i = 0; i < who->nfarms; i++)
        if (is_handler_pool(who->farms[i]))
            count = add_pool(pools, count, max, who->farms[i]);
    for (size_t i = 0; i < who->nattached; i++)
        count = add_pool(pools, count, max, who->attached[i]);
    for (size_t i = 0; who->server_name && i < mt_job_conf_handler_count(conf); i++) {
        if (strcmp(mt_job_conf_handler_id(conf, i), who->server_name) != 0)
            continue;
        /* A configured handler: its tags' pools, or the default pool when it has none. */
        size_t ntags = mt_job_conf_handler_tag_count(conf, i);
        if (ntags == 0)
            count = add_pool(pools, count, max, MT_JOB_DEFAULT_POOL);
        for (size_t k = 0; k < ntags; k++) {
            char pool[128];
            tag_pool(mt_job_conf_handler_tag(conf, i, k), pool);
            count = add_pool(pools, count, max, pool);
        }
    }
    if (who->web && !default_pool_served_elsewhere)
        count = add_pool(pools, count, max, MT_JOB_DEFAULT_POOL);
    return count;
}

/* ------------------------------------------------------------------ */
/* Start-up check                                                      */
/* ------------------------------------------------------------------ */

static void warn(const mt_assign_stack_t *stack, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void warn(const mt_assign_stack_t *stack, const char *file, int line, const char *fmt, ...)
{
    if (!stack->warn)
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    mt_message_vformat_at(msg, sizeof msg, file, line > 0 ? line : 1, fmt, ap);
    va_end(ap);
    stack->warn(msg, stack->data);
}

static bool is_process(const mt_assign_stack_t *stack, const char *name)
{
    return stack->is_process && stack->is_process(name, stack->data);
}

/* One name a default or a mapping gives; `what` says which ("default", "tool 'x'"). */
static int check_target(const mt_job_conf_t *conf, const char *file, int line, const char *what, const char *target,
                        const mt_assign_stack_t *stack, bool db, char *err, size_t errlen)
{
    if (mt_job_conf_is_handler(conf, target) || strchr(target, '.')) {
        if (!is_process(stack, target))
            warn(stack, file, line,
                 "%s names handler '%s', which is not a process of this stack and is not running: its jobs wait in "
                 "state new until a handler named %s starts (muleteer --attach-to-pool %s --server-name %s)",
                 what, target, target, MT_JOB_DEFAULT_POOL, target);
        return 0;
    }
    char pool[128];
    if (strlen(target) > MT_JOB_CONF_TAG_MAX) {
        mt_message_format_at(err, errlen, file, line, "%s: tag '%s' is too long (at most %zu bytes)", what, target,
                             (size_t)MT_JOB_CONF_TAG_MAX);
        return -1;
    }
    tag_pool(target, pool);
    bool farm = farm_exists(&stack->facts, pool);
    if (mt_job_conf_is_tag(conf, target) || farm)
        return 0;
    if (db) {
        warn(stack, file, line,
             "%s names tag '%s': no handler carries it and there is no %s farm here; its jobs wait in the database "
             "for a standalone handler attached to %s",
             what, target, pool, pool);
        return 0;
    }
    mt_message_format_at(err, errlen, file, line,
                         "%s names '%s', which is neither a handler, a tag, a %s farm, nor a server name (such as "
                         "main.job-handlers.1)",
                         what, target, pool);
    return -1;
}

int mt_job_assign_check(const mt_job_conf_t *conf, const char *file, const mt_assign_stack_t *stack, char *err,
                        size_t errlen)
{
    bool db = mt_job_assign_claims_from_db(conf, &stack->facts);
    const char *dflt = mt_job_conf_default(conf);
    if (dflt && check_target(conf, file, mt_job_conf_default_line(conf), "the default", dflt, stack, db, err,
                             errlen) < 0)
        return -1;
    for (size_t i = 0; i < mt_job_conf_mapping_count(conf); i++) {
        const char *target;
        int line;
        const char *tool = mt_job_conf_mapping(conf, i, &target, &line);
        char what[300];
        snprintf(what, sizeof what, "tool '%s'", tool);
        if (check_target(conf, file, line, what, target, stack, db, err, errlen) < 0)
            return -1;
    }
    /* Configured handlers that nobody here runs. */
    for (size_t i = 0; i < mt_job_conf_handler_count(conf); i++) {
        const char *id = mt_job_conf_handler_id(conf, i);
        if (!is_process(stack, id))
            warn(stack, file, mt_job_conf_handler_line(conf, i),
                 "handler '%s' is not a process of this stack and is not running: jobs assigned to it wait in state "
                 "new until a handler named %s starts",
                 id, id);
    }
    /* Unmapped tools: can any method place them? */
    mt_assignment_t as;
    char why[1024];
    mt_assign_facts_t facts = stack->facts;
    facts.self_server_name = "main.web.1"; /* any web worker: db-self applies */
    if (!dflt && mt_job_assign(conf, NULL, &facts, &as, why, sizeof why) < 0)
        warn(stack, file, 1, "jobs of tools that are not mapped cannot be placed and will be refused: %s", why);
    return 0;
}
