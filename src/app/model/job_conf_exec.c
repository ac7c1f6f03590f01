/*
 * job_conf_exec: runner plugins, destinations, tool destinations, limits
 * and resource groups of a job configuration (see job_conf_exec.h), in
 * both of Galaxy's forms: job_conf.xml's <plugins>, <destinations>,
 * <tools>, <limits>, <resources>, and job_conf.yml's runners:, execution:,
 * tools:, limits:, resources:.
 *
 * The rule for what Galaxy's files hold: every element and attribute that
 * Galaxy reads is read here, so a Galaxy file loads as written; anything
 * else (a typo, an element Galaxy does not know) is an error naming
 * FILE:LINE. What is read but not carried out here is kept as a notice for
 * the log at start (mt_job_conf_notice), never dropped in silence; what
 * cannot run here at all (a destination whose runner is neither local nor
 * slurm) is decided by job_route.c, which refuses jobs routed there.
 *
 * References are checked once the whole file is read: a default
 * destination, a tool's destination and a resubmit's destination must
 * name a destination or a destination tag; a tool's resources and the
 * default resource group must name a group. A resubmit rule's condition
 * and delay are compiled as they are read (job_resubmit.h); a slurm
 * destination's walltime is parsed once its runner is known. A destination naming a runner
 * plugin that is not declared is not an error (Galaxy's own advanced
 * sample has runner="drmma"): it cannot run, and job_route.c says so.
 *
 * This file holds the model, its builders, the checks and the accessors;
 * the two forms are read by job_conf_exec_xml.c and job_conf_exec_yaml.c
 * (job_conf_exec_build.h is what they share).
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
#include "app/model/job_resubmit.h"

/* ------------------------------------------------------------------ */
/* Errors and notices                                                  */
/* ------------------------------------------------------------------ */



int mt__jx_fail_at(mt_job_exec_t *ex, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    mt_message_vformat_at(ex->err, ex->errlen, ex->file, line > 0 ? line : 1, fmt, ap);
    va_end(ap);
    return -1;
}



int mt__jx_fail_node(mt_job_exec_t *ex, const mt_xml_node_t *node, const char *fmt, ...)
{
    char what[768], origin[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    mt_message_format_at(ex->err, ex->errlen, mt_xml_file(node), mt_xml_line(node), "%s%s", what,
                         mt_xml_origin(node, origin, sizeof origin));
    return -1;
}

static void mt__vnote(mt_job_exec_t *ex, int line, const char *fmt, va_list ap) __attribute__((format(printf, 3, 0)));

static void mt__vnote(mt_job_exec_t *ex, int line, const char *fmt, va_list ap)
{
    char text[1024];
    mt_message_vformat_at(text, sizeof text, ex->file, line, fmt, ap);
    ex->notes = mt_realloc(ex->notes, (ex->nnotes + 1) * sizeof *ex->notes);
    ex->notes[ex->nnotes++] = mt_strdup(text);
}



void mt__jx_note(mt_job_exec_t *ex, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    mt__vnote(ex, line, fmt, ap);
    va_end(ap);
}

void mt__job_exec_note(mt_job_exec_t *ex, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    mt__vnote(ex, line, fmt, ap);
    va_end(ap);
}

/* ------------------------------------------------------------------ */
/* Small parsers                                                       */
/* ------------------------------------------------------------------ */

/* A copy of s without leading and trailing blanks. */
char *mt__jx_trimmed(const char *s)
{
    while (*s && isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        n--;
    return mt_strndup(s, n);
}

/* Galaxy's util.asbool: true, yes, on, y, t, 1 (any case) are true; anything else false. */
bool mt__jx_asbool(const char *s)
{
    char *t = mt__jx_trimmed(s ? s : "");
    static const char *const yes[] = { "true", "yes", "on", "y", "t", "1" };
    bool v = false;
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++)
        v = v || strcasecmp(t, yes[i]) == 0;
    free(t);
    return v;
}

/* A whole decimal integer in [min, max] (blanks around allowed); 0, or -1. */
int mt__jx_parse_int(const char *s, long long min, long long max, long long *out)
{
    char *t = mt__jx_trimmed(s), *end;
    errno = 0;
    long long v = strtoll(t, &end, 10);
    bool ok = t[0] && !*end && errno == 0 && v >= min && v <= max && (isdigit((unsigned char)t[0]) || t[0] == '-');
    free(t);
    if (!ok)
        return -1;
    *out = v;
    return 0;
}

/* Galaxy's walltime: exactly H:M:S, each a whole number; seconds in *out. */
static int mt__parse_hms(const char *s, long long *out)
{
    char *t = mt__jx_trimmed(s);
    long long part[3];
    int n = 0;
    char *save = NULL, *tok;
    bool ok = strchr(t, ':') != NULL;
    for (tok = strtok_r(t, ":", &save); ok && tok; tok = strtok_r(NULL, ":", &save)) {
        char *end;
        errno = 0;
        if (n == 3 || !isdigit((unsigned char)tok[0]))
            ok = false;
        else
            part[n++] = strtoll(tok, &end, 10), ok = !*end && errno == 0 && part[n - 1] <= 100000000;
    }
    free(t);
    if (!ok || n != 3)
        return -1;
    *out = part[0] * 3600 + part[1] * 60 + part[2];
    return 0;
}

/* Galaxy's util.size_to_bytes: "10GB" = "10g" = "10240 Mb" = "10737418240" (powers of 1024). */
static int mt__parse_size(const char *s, long long *out)
{
    char *t = mt__jx_trimmed(s), *end;
    errno = 0;
    double v = strtod(t, &end);
    bool ok = t[0] && isdigit((unsigned char)t[0]) && errno == 0 && v >= 0;
    while (ok && *end == ' ')
        end++;
    double mult = 1;
    if (ok && *end) {
        static const char units[] = "bkmgtpe";
        const char *u = strchr(units, tolower((unsigned char)*end));
        ok = u != NULL;
        for (const char *q = units; ok && q < u; q++)
            mult *= 1024;
        end++;
        if (ok && *end && tolower((unsigned char)*end) == 'b' && u != units)
            end++;
        ok = ok && !*end;
    }
    free(t);
    if (!ok || v * mult > 9.2e18)
        return -1;
    *out = (long long)(v * mult);
    return 0;
}

/* A shell variable name. */
static bool mt__is_shell_name(const char *s)
{
    if (!(isalpha((unsigned char)s[0]) || s[0] == '_'))
        return false;
    for (const char *p = s; *p; p++) {
        if (!(isalnum((unsigned char)*p) || *p == '_'))
            return false;
    }
    return true;
}

/* An id: 1..255 bytes, no blanks, control characters or commas. "" when fine, else why. */
static const char *mt__bad_id(const char *s)
{
    size_t n = strlen(s);
    if (n == 0)
        return "is empty";
    if (n > MT_JOB_CONF_NAME_MAX)
        return "is longer than 255 bytes";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p <= 0x20 || *p == 0x7f || *p == ',')
            return "must not contain blanks, control characters or commas";
    }
    return "";
}

/* ------------------------------------------------------------------ */
/* The model                                                           */
/* ------------------------------------------------------------------ */

void mt__jx_params_free(mt_job_param_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free((char *)p[i].id);
        free((char *)p[i].value);
        free((char *)p[i].from_config);
    }
    free(p);
}

static const mt_job_param_t *mt__param_find(const mt_job_param_t *p, size_t n, const char *id)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(p[i].id, id) == 0)
            return &p[i];
    }
    return NULL;
}

/* Add a param; -1 if the id is given twice (Galaxy's dict would keep the last one silently). */
int mt__jx_param_add(mt_job_exec_t *ex, mt_job_param_t **p, size_t *n, const char *owner, const char *id,
                     const char *value, int line, const char *from_config)
{
    const char *why = mt__bad_id(id);
    if (why[0])
        return mt__jx_fail_at(ex, line, "%s: param id '%s' %s", owner, id, why);
    if (*n >= MT__MAX_OWNED)
        return mt__jx_fail_at(ex, line, "%s: more than %d params", owner, MT__MAX_OWNED);
    const mt_job_param_t *prev = mt__param_find(*p, *n, id);
    if (prev)
        return mt__jx_fail_at(ex, line, "%s: param '%s' given twice (first at line %d)", owner, id, prev->line);
    *p = mt_realloc(*p, (*n + 1) * sizeof **p);
    (*p)[*n] = (mt_job_param_t){ .id = mt_strdup(id), .value = mt__jx_trimmed(value), .line = line,
                                 .from_config = from_config ? mt_strdup(from_config) : NULL };
    (*n)++;
    return 0;
}

static mt_job_runner_t *mt__runner_find(const mt_job_exec_t *ex, const char *id, bool with_disabled)
{
    for (size_t i = 0; ex && i < ex->nrunners; i++) {
        if (strcmp(ex->runners[i].id, id) == 0 && (with_disabled || !ex->runners[i].disabled))
            return &ex->runners[i];
    }
    return NULL;
}

static mt_job_destination_t *mt__dest_find(const mt_job_exec_t *ex, const char *id, bool with_disabled)
{
    for (size_t i = 0; ex && i < ex->ndests; i++) {
        if (strcmp(ex->dests[i].id, id) == 0 && (with_disabled || !ex->dests[i].disabled))
            return &ex->dests[i];
    }
    return NULL;
}

static bool mt__dest_has_tag(const mt_job_destination_t *d, const char *tag)
{
    for (size_t i = 0; i < d->ntags; i++) {
        if (strcmp(d->tags[i], tag) == 0)
            return true;
    }
    return false;
}

static bool mt__is_dest_tag(const mt_job_exec_t *ex, const char *tag)
{
    for (size_t i = 0; ex && i < ex->ndests; i++) {
        if (!ex->dests[i].disabled && mt__dest_has_tag(&ex->dests[i], tag))
            return true;
    }
    return false;
}

static const mt__group_t *mt__group_find(const mt_job_exec_t *ex, const char *id)
{
    for (size_t i = 0; i < ex->ngroups; i++) {
        if (strcmp(ex->groups[i].id, id) == 0)
            return &ex->groups[i];
    }
    return NULL;
}

/* "galaxy.jobs.runners.slurm:SlurmJobRunner" -> "slurm"; another load string is its own type. */
static char *mt__runner_type(const char *load)
{
    static const char prefix[] = "galaxy.jobs.runners.";
    char *t = mt__jx_trimmed(load);
    if (strncmp(t, prefix, sizeof prefix - 1) == 0) {
        const char *mod = t + sizeof prefix - 1;
        size_t n = strcspn(mod, ":.");
        if (n > 0) {
            char *type = mt_strndup(mod, n);
            free(t);
            return type;
        }
    }
    return t;
}

mt_job_runner_t *mt__jx_runner_add(mt_job_exec_t *ex, const char *id, const char *load, int line)
{
    const char *why = mt__bad_id(id);
    if (why[0]) {
        mt__jx_fail_at(ex, line, "runner plugin id '%s' %s", id, why);
        return NULL;
    }
    if (ex->nrunners >= MT__MAX_ITEMS) {
        mt__jx_fail_at(ex, line, "more than %d runner plugins", MT__MAX_ITEMS);
        return NULL;
    }
    const mt_job_runner_t *prev = mt__runner_find(ex, id, true);
    if (prev) {
        mt__jx_fail_at(ex, line, "runner plugin '%s' given twice (first at line %d)", id, prev->line);
        return NULL;
    }
    if (load && strcmp(id, "dynamic") != 0) {
        /* Galaxy imports the module it names: a control character inside (a line break) names none. */
        char *t = mt__jx_trimmed(load);
        bool bad = false;
        for (const unsigned char *p = (const unsigned char *)t; *p && !bad; p++)
            bad = *p < 0x20 || *p == 0x7f;
        free(t);
        if (bad) {
            mt__jx_fail_at(ex, line, "runner plugin '%s': load contains a control character (it names a Python "
                           "module and class, such as galaxy.jobs.runners.local:LocalJobRunner)", id);
            return NULL;
        }
    }
    if (!load && strcmp(id, "dynamic") != 0) {
        mt__jx_fail_at(ex, line, "runner plugin '%s' needs a load (such as galaxy.jobs.runners.local:LocalJobRunner)",
                       id);
        return NULL;
    }
    ex->runners = mt_realloc(ex->runners, (ex->nrunners + 1) * sizeof *ex->runners);
    mt_job_runner_t *r = &ex->runners[ex->nrunners++];
    *r = (mt_job_runner_t){ .id = mt_strdup(id), .line = line };
    if (strcmp(id, "dynamic") == 0) {
        r->type = mt_strdup("dynamic"); /* Galaxy ignores its load */
        r->load = load ? mt_strdup(load) : NULL;
    } else {
        r->load = mt__jx_trimmed(load);
        r->type = mt__runner_type(load);
    }
    return r;
}

mt_job_destination_t *mt__jx_dest_add(mt_job_exec_t *ex, const char *id, int line)
{
    const char *why = mt__bad_id(id);
    if (why[0]) {
        mt__jx_fail_at(ex, line, "destination id '%s' %s", id, why);
        return NULL;
    }
    if (ex->ndests >= MT__MAX_ITEMS) {
        mt__jx_fail_at(ex, line, "more than %d destinations", MT__MAX_ITEMS);
        return NULL;
    }
    const mt_job_destination_t *prev = mt__dest_find(ex, id, true);
    if (prev) {
        mt__jx_fail_at(ex, line, "destination '%s' given twice (first at line %d)", id, prev->line);
        return NULL;
    }
    ex->dests = mt_realloc(ex->dests, (ex->ndests + 1) * sizeof *ex->dests);
    mt_job_destination_t *d = &ex->dests[ex->ndests++];
    *d = (mt_job_destination_t){ .id = mt_strdup(id), .line = line };
    return d;
}

int mt__jx_dest_add_tag(mt_job_exec_t *ex, mt_job_destination_t *d, const char *tag, int line)
{
    const char *why = mt__bad_id(tag);
    if (why[0])
        return mt__jx_fail_at(ex, line, "destination '%s': tag '%s' %s", d->id, tag, why);
    if (mt__dest_has_tag(d, tag))
        return 0;
    if (d->ntags >= MT__MAX_OWNED)
        return mt__jx_fail_at(ex, line, "destination '%s': more than %d tags", d->id, MT__MAX_OWNED);
    d->tags = mt_realloc(d->tags, (d->ntags + 1) * sizeof *d->tags);
    d->tags[d->ntags++] = mt_strdup(tag);
    return 0;
}

/* "a, b,c" -> add each (blanks trimmed). */
int mt__jx_dest_add_tags(mt_job_exec_t *ex, mt_job_destination_t *d, const char *text, int line)
{
    char *copy = mt_strdup(text), *save = NULL;
    int rc = 0;
    bool any = false;
    for (char *tok = strtok_r(copy, ",", &save); tok && rc == 0; tok = strtok_r(NULL, ",", &save)) {
        char *t = mt__jx_trimmed(tok);
        rc = mt__jx_dest_add_tag(ex, d, t, line);
        any = true;
        free(t);
    }
    free(copy);
    if (rc == 0 && !any)
        rc = mt__jx_fail_at(ex, line, "destination '%s': tags is empty", d->id);
    return rc;
}

int mt__jx_env_add(mt_job_exec_t *ex, mt_job_destination_t *d, mt_job_env_kind_t kind, const char *name,
                   const char *value, bool raw, int line)
{
    if (kind == MT_JOB_ENV_SET) {
        if (!mt__is_shell_name(name))
            return mt__jx_fail_at(ex, line, "destination '%s': env name '%s' is not a shell variable name", d->id, name);
        if (strncmp(name, "MULETEER_", 9) == 0)
            return mt__jx_fail_at(ex, line,
                                  "destination '%s': env name '%s' is reserved (MULETEER_* variables find a job's "
                                  "processes)",
                                  d->id, name);
    } else if (!value[0]) {
        return mt__jx_fail_at(ex, line, "destination '%s': env %s is empty", d->id,
                              kind == MT_JOB_ENV_FILE ? "file" : "exec");
    }
    if (d->nenv >= MT__MAX_OWNED)
        return mt__jx_fail_at(ex, line, "destination '%s': more than %d env lines", d->id, MT__MAX_OWNED);
    d->env = mt_realloc(d->env, (d->nenv + 1) * sizeof *d->env);
    d->env[d->nenv++] = (mt_job_env_t){ .kind = kind, .name = name ? mt_strdup(name) : NULL,
                                        .value = mt_strdup(value), .raw = raw, .line = line };
    return 0;
}

/* Compile a resubmit rule's condition or delay; NULL in *out for a missing or blank one (Galaxy: "if condition"). */
static int mt__resubmit_expr(mt_job_exec_t *ex, mt_job_destination_t *d, const char *what, const char *text, int line,
                             mt_job_expr_t **out)
{
    *out = NULL;
    char *t = text ? mt__jx_trimmed(text) : NULL;
    if (!t || !t[0]) {
        free(t);
        return 0;
    }
    char why[512];
    int rc = 0;
    if (mt_job_expr_compile(t, out, why, sizeof why) < 0)
        rc = mt__jx_fail_at(ex, line, "destination '%s': resubmit %s '%s': %s", d->id, what, t, why);
    free(t);
    return rc;
}

int mt__jx_resubmit_add(mt_job_exec_t *ex, mt_job_destination_t *d, const char *condition,
                        const char *destination, const char *handler, const char *delay, int line)
{
    if (d->nresubmits >= MT__MAX_OWNED)
        return mt__jx_fail_at(ex, line, "destination '%s': more than %d resubmit rules", d->id, MT__MAX_OWNED);
    mt_job_expr_t *when = NULL, *wait = NULL;
    if (mt__resubmit_expr(ex, d, "condition", condition, line, &when) < 0 ||
        mt__resubmit_expr(ex, d, "delay", delay, line, &wait) < 0) {
        mt_job_expr_free(when);
        return -1;
    }
    char *to = destination ? mt__jx_trimmed(destination) : NULL;
    if (to && !to[0]) { /* Galaxy: an empty destination is the same destination */
        free(to);
        to = NULL;
    }
    char *who = handler ? mt__jx_trimmed(handler) : NULL;
    if (who && who[0])
        mt__jx_note(ex, line, "destination '%s': resubmit handler '%s': the next attempt stays with the handler that "
                    "ran the job", d->id, who);
    free(who);
    d->resubmits = mt_realloc(d->resubmits, (d->nresubmits + 1) * sizeof *d->resubmits);
    d->resubmits[d->nresubmits++] = (mt_job_resubmit_t){
        .condition = condition ? mt_strdup(condition) : NULL,
        .destination = to,
        .handler = handler ? mt_strdup(handler) : NULL,
        .delay = delay ? mt_strdup(delay) : NULL,
        .line = line,
        .condition_expr = when,
        .delay_expr = wait,
    };
    return 0;
}

int mt__jx_tool_add(mt_job_exec_t *ex, const char *tool_id, const char *class_name, const char *destination,
                    const char *resources, size_t nparams, const char *first_param, int line)
{
    if (destination && mt__bad_id(destination)[0])
        return mt__jx_fail_at(ex, line, "tool '%s': destination '%s' %s", tool_id ? tool_id : class_name, destination,
                              mt__bad_id(destination));
    if (ex->ntools >= MT__MAX_ITEMS)
        return mt__jx_fail_at(ex, line, "more than %d tool entries", MT__MAX_ITEMS);
    ex->tools = mt_realloc(ex->tools, (ex->ntools + 1) * sizeof *ex->tools);
    ex->tools[ex->ntools++] = (mt__tool_dest_t){
        .tool_id = tool_id ? mt_strdup(tool_id) : NULL,
        .class_name = class_name ? mt_strdup(class_name) : NULL,
        .destination = destination ? mt_strdup(destination) : NULL,
        .resources = resources ? mt_strdup(resources) : NULL,
        .nparams = nparams,
        .first_param = first_param ? mt_strdup(first_param) : NULL,
        .line = line,
    };
    return 0;
}

int mt__jx_set_default_dest(mt_job_exec_t *ex, const char *name, int line)
{
    if (ex->default_dest)
        return mt__jx_fail_at(ex, line, "the default destination is given twice (first at line %d)",
                              ex->default_dest_line);
    char *t = mt__jx_trimmed(name);
    if (!t[0]) {
        free(t);
        return mt__jx_fail_at(ex, line, "the default destination is empty");
    }
    ex->default_dest = t;
    ex->default_dest_line = line;
    return 0;
}

/* Canonical limit type: environment_* -> destination_*, concurrent_jobs -> destination_user_concurrent_jobs. */
static const char *mt__limit_type(const char *type)
{
    static const char *const known[] = {
        "registered_user_concurrent_jobs", "anonymous_user_concurrent_jobs", "destination_user_concurrent_jobs",
        "destination_total_concurrent_jobs", "walltime", "total_walltime", "output_size",
    };
    char spelled[128];
    if (strncmp(type, "environment_", 12) == 0)
        snprintf(spelled, sizeof spelled, "destination_%s", type + 12);
    else if (strcmp(type, "concurrent_jobs") == 0)
        snprintf(spelled, sizeof spelled, "destination_user_concurrent_jobs");
    else
        snprintf(spelled, sizeof spelled, "%s", type);
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        if (strcmp(spelled, known[i]) == 0)
            return known[i];
    }
    return NULL;
}

int mt__jx_limit_add(mt_job_exec_t *ex, const char *type_written, const char *id, const char *tag,
                     const char *window, const char *value, int line)
{
    if (!type_written)
        return mt__jx_fail_at(ex, line, "limit needs a type (such as walltime or registered_user_concurrent_jobs)");
    const char *type = mt__limit_type(type_written);
    if (!type)
        return mt__jx_fail_at(ex, line,
                              "unknown limit type '%s' (expected registered_user_concurrent_jobs, "
                              "anonymous_user_concurrent_jobs, destination_user_concurrent_jobs, "
                              "destination_total_concurrent_jobs, walltime, total_walltime or output_size)",
                              type_written);
    if (!value || !value[0])
        return mt__jx_fail_at(ex, line, "limit %s: no value", type_written);
    if (ex->nlimits >= MT__MAX_ITEMS)
        return mt__jx_fail_at(ex, line, "more than %d limits", MT__MAX_ITEMS);
    mt_job_limit_t l = { .type = type, .line = line };
    bool per_dest = strncmp(type, "destination_", 12) == 0;
    if (per_dest && !id && !tag)
        return mt__jx_fail_at(ex, line, "limit %s: needs the id or the tag of the destinations it counts", type_written);
    if (!per_dest && (id || tag))
        return mt__jx_fail_at(ex, line, "limit %s: takes no id or tag (those are for destination_* limits)",
                              type_written);
    if (window && strcmp(type, "total_walltime") != 0)
        return mt__jx_fail_at(ex, line, "limit %s: takes no window (that is for total_walltime)", type_written);
    if (strstr(type, "concurrent_jobs")) {
        if (mt__jx_parse_int(value, 0, INT_MAX, &l.number) < 0)
            return mt__jx_fail_at(ex, line, "limit %s: '%s' is not a whole number of jobs", type_written, value);
    } else if (strcmp(type, "output_size") == 0) {
        if (mt__parse_size(value, &l.number) < 0)
            return mt__jx_fail_at(ex, line, "limit output_size: '%s' is not a size (such as 10GB, 10g, 10240 Mb)", value);
    } else {
        if (mt__parse_hms(value, &l.number) < 0)
            return mt__jx_fail_at(ex, line, "limit %s: '%s' is not a time as H:M:S (such as 24:00:00)", type_written,
                                  value);
        if (strcmp(type, "total_walltime") == 0) {
            long long days = 30;
            if (window && mt__jx_parse_int(window, 1, 100000, &days) < 0)
                return mt__jx_fail_at(ex, line, "limit total_walltime: window '%s' is not a number of days", window);
            l.window_days = (int)days;
        }
    }
    if (strcmp(type, "walltime") == 0) {
        if (ex->walltime_s > 0)
            return mt__jx_fail_at(ex, line, "limit walltime given twice");
        l.enforced = true;
        ex->walltime_s = (double)l.number;
    }
    l.id = id ? mt_strdup(id) : NULL;
    l.tag = tag ? mt_strdup(tag) : NULL;
    l.value = mt__jx_trimmed(value);
    ex->limits = mt_realloc(ex->limits, (ex->nlimits + 1) * sizeof *ex->limits);
    ex->limits[ex->nlimits++] = l;
    return 0;
}

int mt__jx_group_add(mt_job_exec_t *ex, const char *id, const char *fields, int line)
{
    const char *why = mt__bad_id(id);
    if (why[0])
        return mt__jx_fail_at(ex, line, "resource group id '%s' %s", id, why);
    if (ex->ngroups >= MT__MAX_ITEMS)
        return mt__jx_fail_at(ex, line, "more than %d resource groups", MT__MAX_ITEMS);
    const mt__group_t *prev = mt__group_find(ex, id);
    if (prev)
        return mt__jx_fail_at(ex, line, "resource group '%s' given twice (first at line %d)", id, prev->line);
    ex->groups = mt_realloc(ex->groups, (ex->ngroups + 1) * sizeof *ex->groups);
    ex->groups[ex->ngroups++] = (mt__group_t){ .id = mt_strdup(id), .fields = mt__jx_trimmed(fields), .line = line };
    return 0;
}

/* A block given twice is an error: Galaxy reads the first and drops the second without a word. */
int mt__jx_block_once(mt_job_exec_t *ex, int *seen, const char *what, int line)
{
    if (*seen)
        return mt__jx_fail_at(ex, line, "%s given twice (first at line %d)", what, *seen);
    *seen = line;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Checking, once the whole file is read                               */
/* ------------------------------------------------------------------ */

/* A destination id or tag: "" if it names one, else why not. */
static const char *mt__dest_ref_problem(const mt_job_exec_t *ex, const char *name)
{
    if (mt__dest_find(ex, name, false) || mt__is_dest_tag(ex, name))
        return "";
    if (mt__dest_find(ex, name, true))
        return ", which is disabled (its enabled param is false)";
    return ex->ndests ? ", which is neither a destination nor a destination tag" : " (no destinations are declared)";
}

static void mt__enabled(mt_job_exec_t *ex)
{
    for (size_t i = 0; i < ex->nrunners; i++) {
        const mt_job_param_t *p = mt__param_find(ex->runners[i].params, ex->runners[i].nparams, "enabled");
        if (p && !mt__jx_asbool(p->value)) {
            ex->runners[i].disabled = true;
            mt__jx_note(ex, p->line, "runner plugin '%s' is disabled (enabled: %s): not loaded", ex->runners[i].id,
                        p->value);
        }
    }
    for (size_t i = 0; i < ex->ndests; i++) {
        const mt_job_param_t *p = mt__param_find(ex->dests[i].params, ex->dests[i].nparams, "enabled");
        if (p && !mt__jx_asbool(p->value)) {
            ex->dests[i].disabled = true;
            mt__jx_note(ex, p->line, "destination '%s' is disabled (enabled: %s): not loaded", ex->dests[i].id, p->value);
        }
    }
}

static int mt__check_dests(mt_job_exec_t *ex)
{
    size_t enabled = 0;
    const mt_job_destination_t *only = NULL;
    for (size_t i = 0; i < ex->ndests; i++) {
        mt_job_destination_t *d = &ex->dests[i];
        const mt_job_param_t *slots = mt__param_find(d->params, d->nparams, "local_slots");
        long long n;
        if (slots && mt__jx_parse_int(slots->value, 1, 1000000, &n) < 0)
            return mt__jx_fail_at(ex, slots->line, "destination '%s': local_slots '%s' is not a positive whole number",
                                  d->id, slots->value);
        d->slots = slots ? (unsigned)n : 0;
        for (size_t k = 0; k < d->nresubmits; k++) {
            const mt_job_resubmit_t *r = &d->resubmits[k];
            const char *why = r->destination ? mt__dest_ref_problem(ex, r->destination) : "";
            if (why[0])
                return mt__jx_fail_at(ex, r->line, "destination '%s': resubmit to '%s'%s", d->id, r->destination, why);
        }
        if (!d->disabled) {
            enabled++;
            only = d;
        }
    }
    if (ex->default_dest) {
        const char *why = mt__dest_ref_problem(ex, ex->default_dest);
        if (why[0])
            return mt__jx_fail_at(ex, ex->default_dest_line, "the default destination '%s'%s", ex->default_dest, why);
    } else if (enabled == 1) {
        ex->default_dest = mt_strdup(only->id); /* Galaxy: the only destination is the default */
        ex->default_dest_line = 0;
    } else if (enabled > 1) {
        return mt__jx_fail_at(ex, ex->destinations_line,
                              "%zu destinations and no default: name one with default=\"ID\" (YAML: execution: default:)",
                              enabled);
    }
    return 0;
}

/* A tool's entries: the one without <param> applies (Galaxy: job params select the others). */
static int mt__check_tools(mt_job_exec_t *ex)
{
    for (size_t i = 0; i < ex->ntools; i++) {
        const mt__tool_dest_t *t = &ex->tools[i];
        const char *name = t->tool_id ? t->tool_id : t->class_name;
        if (t->destination) {
            const char *why = mt__dest_ref_problem(ex, t->destination);
            if (why[0])
                return mt__jx_fail_at(ex, t->line, "tool '%s' is mapped to destination '%s'%s", name, t->destination,
                                      why);
        }
        if (t->resources && !mt__group_find(ex, t->resources))
            return mt__jx_fail_at(ex, t->line, "tool '%s': resources '%s' is not a resource group%s", name, t->resources,
                                  ex->ngroups ? "" : " (no <resources> groups are declared)");
        if (!t->tool_id) {
            mt__jx_note(ex, t->line, "tools: class '%s': tools here have no classes: the entry applies to none",
                        t->class_name);
            continue;
        }
        size_t all = 0;
        for (size_t k = 0; k < ex->ntools; k++) {
            const mt__tool_dest_t *o = &ex->tools[k];
            if (!o->tool_id || strcmp(o->tool_id, t->tool_id) != 0)
                continue;
            all++;
            if (k < i && t->destination && o->destination && !t->nparams && !o->nparams)
                return mt__jx_fail_at(ex, t->line, "tool '%s' mapped to a destination twice (first at line %d)",
                                      t->tool_id, o->line);
        }
        if (t->nparams && all > 1)
            mt__jx_note(ex, t->line, "tool '%s': the entry with params (%s) applies in Galaxy only to jobs carrying "
                        "them; jobs here carry none: it is not used", t->tool_id, t->first_param);
    }
    if (ex->default_group && !mt__group_find(ex, ex->default_group))
        return mt__jx_fail_at(ex, ex->default_group_line, "the default resource group '%s' is not a group",
                              ex->default_group);
    if (ex->ngroups)
        mt__jx_note(ex, ex->resources_line, "resources: %zu group(s) read: they select extra job parameters in "
                    "Galaxy's tool form, which muleteer does not have: not used", ex->ngroups);
    return 0;
}

static void mt__check_limits(mt_job_exec_t *ex)
{
    char names[900] = "";
    size_t used = 0, count = 0;
    int first = 0;
    for (size_t i = 0; i < ex->nlimits; i++) {
        const mt_job_limit_t *l = &ex->limits[i];
        if (l->id && !mt__dest_find(ex, l->id, false))
            mt__jx_note(ex, l->line, "limit %s names destination '%s', which is not declared: it counts nothing", l->type,
                        l->id);
        if (l->tag && !mt__is_dest_tag(ex, l->tag))
            mt__jx_note(ex, l->line, "limit %s names destination tag '%s', which no destination carries", l->type,
                        l->tag);
        if (l->enforced)
            continue;
        if (!first)
            first = l->line;
        int n = snprintf(names + used, sizeof names - used, "%s%s (line %d)", count ? ", " : "", l->type, l->line);
        used = n > 0 && used + (size_t)n < sizeof names ? used + (size_t)n : sizeof names - 1;
        count++;
    }
    if (count)
        mt__jx_note(ex, first, "limits not enforced here (only walltime is): %s", names);
}

static void mt__check_local_params(mt_job_exec_t *ex)
{
    for (size_t i = 0; i < ex->nrunners; i++) {
        const mt_job_runner_t *r = &ex->runners[i];
        if (r->disabled || strcmp(r->type, "local") != 0)
            continue;
        if (r->workers)
            mt__jx_note(ex, r->line, "runner plugin '%s': workers=%d is not read: the jobs one handler runs at once are "
                        "jobs.workers (set it there)", r->id, r->workers);
        for (size_t k = 0; k < r->nparams; k++) {
            if (strcmp(r->params[k].id, "enabled") != 0)
                mt__jx_note(ex, r->params[k].line, "runner plugin '%s': param '%s' is not honoured here", r->id,
                            r->params[k].id);
        }
    }
    for (size_t i = 0; i < ex->ndests; i++) {
        const mt_job_destination_t *d = &ex->dests[i];
        const mt_job_runner_t *r = mt__runner_find(ex, d->runner, false);
        if (d->disabled || !r || strcmp(r->type, "local") != 0)
            continue;
        char names[600] = "";
        size_t used = 0;
        for (size_t k = 0; k < d->nparams; k++) {
            const char *id = d->params[k].id;
            /* Honoured: local_slots, enabled, tmp_dir; containers make the destination unrunnable (job_route.c). */
            if (!strcmp(id, "local_slots") || !strcmp(id, "enabled") || !strcmp(id, "tmp_dir") ||
                !strcmp(id, "docker_enabled") || !strcmp(id, "singularity_enabled"))
                continue;
            int n = snprintf(names + used, sizeof names - used, "%s%s", used ? ", " : "", id);
            used = n > 0 && used + (size_t)n < sizeof names ? used + (size_t)n : sizeof names - 1;
        }
        if (used)
            mt__jx_note(ex, d->line, "destination '%s': params not honoured by the local runner here: %s", d->id, names);
    }
    for (size_t i = 0; i < ex->ndests; i++) {
        for (size_t k = 0; k < ex->dests[i].nparams; k++) {
            const mt_job_param_t *p = &ex->dests[i].params[k];
            if (p->from_config)
                mt__jx_note(ex, p->line, "destination '%s': param '%s' from_config=\"%s\": galaxy.yml is not read "
                            "here: the text '%s' is used", ex->dests[i].id, p->id, p->from_config, p->value);
        }
    }
}

/* Slurm's time forms (job_conf.h). */
int mt_job_conf_parse_slurm_time(const char *s, long long *out)
{
    char *t = mt__jx_trimmed(s);
    int rc = -1;
    if (strcasecmp(t, "UNLIMITED") == 0 || strcasecmp(t, "INFINITE") == 0) {
        *out = 0;
        free(t);
        return 0;
    }
    long long days = -1, part[3];
    int n = 0;
    const char *p = t;
    const char *dash = strchr(t, '-');
    if (dash) {
        char *end;
        if (!isdigit((unsigned char)*t) || dash - t > 6)
            goto out;
        days = strtoll(t, &end, 10);
        if (end != dash)
            goto out;
        p = dash + 1;
    }
    while (n < 3) {
        if (!isdigit((unsigned char)*p))
            goto out;
        char *end;
        errno = 0;
        part[n++] = strtoll(p, &end, 10);
        if (errno || part[n - 1] > 100000000)
            goto out;
        p = end;
        if (*p != ':')
            break;
        p++;
    }
    if (*p)
        goto out;
    long long secs;
    if (days >= 0) /* D-HH, D-HH:MM, D-HH:MM:SS */
        secs = days * 86400 + part[0] * 3600 + (n > 1 ? part[1] * 60 : 0) + (n > 2 ? part[2] : 0);
    else if (n == 1) /* MM */
        secs = part[0] * 60;
    else if (n == 2) /* MM:SS */
        secs = part[0] * 60 + part[1];
    else /* HH:MM:SS */
        secs = part[0] * 3600 + part[1] * 60 + part[2];
    *out = secs;
    rc = 0;
out:
    free(t);
    return rc;
}

static bool mt__is_slurm_dest(const mt_job_exec_t *ex, const mt_job_destination_t *d)
{
    const mt_job_runner_t *r = mt__runner_find(ex, d->runner, false);
    return !d->disabled && r && strcmp(r->type, "slurm") == 0;
}

/*
 * Slurm plugins and destinations: what the slurm runner uses (a plugin's
 * workers: its Slurm commands at once; a destination's nativeSpecification,
 * walltime, tmp_dir, enabled, and the containers params, which make it
 * unrunnable: job_route.c) is checked; the rest is noticed.
 */
static int mt__check_slurm(mt_job_exec_t *ex)
{
    for (size_t i = 0; i < ex->nrunners; i++) {
        const mt_job_runner_t *r = &ex->runners[i];
        if (r->disabled || strcmp(r->type, "slurm") != 0)
            continue;
        for (size_t k = 0; k < r->nparams; k++) {
            if (strcmp(r->params[k].id, "enabled") != 0)
                mt__jx_note(ex, r->params[k].line, "runner plugin '%s': param '%s' is read but not used here (the "
                            "slurm runner runs sbatch, squeue and scancel itself)", r->id, r->params[k].id);
        }
    }
    for (size_t i = 0; i < ex->ndests; i++) {
        mt_job_destination_t *d = &ex->dests[i];
        if (!mt__is_slurm_dest(ex, d))
            continue;
        const mt_job_param_t *ns = mt__param_find(d->params, d->nparams, "nativeSpecification");
        const mt_job_param_t *ns2 = mt__param_find(d->params, d->nparams, "native_specification");
        if (ns && ns2)
            return mt__jx_fail_at(ex, ns2->line, "destination '%s': nativeSpecification and native_specification are "
                                  "the same param: give one (first at line %d)", d->id, ns->line);
        d->native_spec = ns ? ns->value : ns2 ? ns2->value : NULL;
        const mt_job_param_t *wt = mt__param_find(d->params, d->nparams, "walltime");
        long long secs = 0;
        if (wt && mt_job_conf_parse_slurm_time(wt->value, &secs) < 0)
            return mt__jx_fail_at(ex, wt->line, "destination '%s': param walltime '%s' is not a Slurm time (MM, MM:SS, "
                                  "HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS)", d->id, wt->value);
        d->walltime_s = (double)secs;
        char names[600] = "";
        size_t used = 0;
        for (size_t k = 0; k < d->nparams; k++) {
            const char *id = d->params[k].id;
            if (!strcmp(id, "nativeSpecification") || !strcmp(id, "native_specification") || !strcmp(id, "walltime") ||
                !strcmp(id, "tmp_dir") || !strcmp(id, "enabled") || !strcmp(id, "docker_enabled") ||
                !strcmp(id, "singularity_enabled"))
                continue;
            int w = snprintf(names + used, sizeof names - used, "%s%s", used ? ", " : "", id);
            used = w > 0 && used + (size_t)w < sizeof names ? used + (size_t)w : sizeof names - 1;
        }
        if (used)
            mt__jx_note(ex, d->line, "destination '%s': params read but not used by the slurm runner here: %s", d->id,
                        names);
    }
    return 0;
}

int mt__job_exec_validate(mt_job_exec_t *ex, char *err, size_t errlen)
{
    ex->err = err;
    ex->errlen = errlen;
    mt__enabled(ex);
    if (mt__check_dests(ex) < 0 || mt__check_tools(ex) < 0 || mt__check_slurm(ex) < 0)
        return -1;
    mt__check_limits(ex);
    mt__check_local_params(ex);
    ex->err = NULL;
    ex->errlen = 0;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Life cycle                                                          */
/* ------------------------------------------------------------------ */

mt_job_exec_t *mt__job_exec_new(const char *file)
{
    mt_job_exec_t *ex = mt_calloc(1, sizeof *ex);
    ex->file = mt_strdup(file);
    ex->dynamic = (mt_job_runner_t){ .id = "dynamic", .type = "dynamic" };
    return ex;
}

void mt__job_exec_free(mt_job_exec_t *ex)
{
    if (!ex)
        return;
    for (size_t i = 0; i < ex->nrunners; i++) {
        mt_job_runner_t *r = &ex->runners[i];
        free(r->id);
        free(r->type);
        free(r->load);
        mt__jx_params_free(r->params, r->nparams);
    }
    free(ex->runners);
    for (size_t i = 0; i < ex->ndests; i++) {
        mt_job_destination_t *d = &ex->dests[i];
        free(d->id);
        free(d->runner);
        free(d->shell);
        for (size_t k = 0; k < d->ntags; k++)
            free(d->tags[k]);
        free(d->tags);
        mt__jx_params_free(d->params, d->nparams);
        for (size_t k = 0; k < d->nenv; k++) {
            free((char *)d->env[k].name);
            free((char *)d->env[k].value);
        }
        free(d->env);
        for (size_t k = 0; k < d->nresubmits; k++) {
            free((char *)d->resubmits[k].condition);
            free((char *)d->resubmits[k].destination);
            free((char *)d->resubmits[k].handler);
            free((char *)d->resubmits[k].delay);
            mt_job_expr_free((mt_job_expr_t *)d->resubmits[k].condition_expr);
            mt_job_expr_free((mt_job_expr_t *)d->resubmits[k].delay_expr);
        }
        free(d->resubmits);
    }
    free(ex->dests);
    free(ex->default_dest);
    for (size_t i = 0; i < ex->ntools; i++) {
        free(ex->tools[i].tool_id);
        free(ex->tools[i].class_name);
        free(ex->tools[i].destination);
        free(ex->tools[i].resources);
        free(ex->tools[i].first_param);
    }
    free(ex->tools);
    for (size_t i = 0; i < ex->nlimits; i++) {
        free((char *)ex->limits[i].id);
        free((char *)ex->limits[i].tag);
        free((char *)ex->limits[i].value);
    }
    free(ex->limits);
    for (size_t i = 0; i < ex->ngroups; i++) {
        free(ex->groups[i].id);
        free(ex->groups[i].fields);
    }
    free(ex->groups);
    free(ex->default_group);
    for (size_t i = 0; i < ex->nnotes; i++)
        free(ex->notes[i]);
    free(ex->notes);
    free(ex->file);
    free(ex);
}

/* ------------------------------------------------------------------ */
/* Accessors (job_conf.h)                                              */
/* ------------------------------------------------------------------ */

#define EX(conf) mt__job_conf_exec(conf)

const char *mt_job_conf_file(const mt_job_conf_t *conf)
{
    return conf ? EX(conf)->file : NULL;
}

size_t mt_job_conf_runner_count(const mt_job_conf_t *conf)
{
    const mt_job_exec_t *ex = EX(conf);
    size_t n = 0;
    for (size_t i = 0; ex && i < ex->nrunners; i++)
        n += !ex->runners[i].disabled;
    return n;
}

const mt_job_runner_t *mt_job_conf_runner_at(const mt_job_conf_t *conf, size_t index)
{
    const mt_job_exec_t *ex = EX(conf);
    for (size_t i = 0; ex && i < ex->nrunners; i++) {
        if (!ex->runners[i].disabled && index-- == 0)
            return &ex->runners[i];
    }
    return NULL;
}

const mt_job_runner_t *mt_job_conf_find_runner(const mt_job_conf_t *conf, const char *id)
{
    const mt_job_exec_t *ex = EX(conf);
    const mt_job_runner_t *r = mt__runner_find(ex, id, false);
    if (!r && ex && strcmp(id, "dynamic") == 0 && !mt__runner_find(ex, id, true))
        r = &ex->dynamic;
    return r;
}

const char *mt_job_runner_id(const mt_job_runner_t *runner)
{
    return runner->id;
}

const char *mt_job_runner_type(const mt_job_runner_t *runner)
{
    return runner->type;
}

const char *mt_job_runner_load(const mt_job_runner_t *runner)
{
    return runner->load;
}

int mt_job_runner_workers(const mt_job_runner_t *runner)
{
    return runner->workers;
}

int mt_job_runner_line(const mt_job_runner_t *runner)
{
    return runner->line;
}

size_t mt_job_runner_params(const mt_job_runner_t *runner, const mt_job_param_t **params)
{
    *params = runner->params;
    return runner->nparams;
}

size_t mt_job_conf_destination_count(const mt_job_conf_t *conf)
{
    const mt_job_exec_t *ex = EX(conf);
    size_t n = 0;
    for (size_t i = 0; ex && i < ex->ndests; i++)
        n += !ex->dests[i].disabled;
    return n;
}

const mt_job_destination_t *mt_job_conf_destination_at(const mt_job_conf_t *conf, size_t index)
{
    const mt_job_exec_t *ex = EX(conf);
    for (size_t i = 0; ex && i < ex->ndests; i++) {
        if (!ex->dests[i].disabled && index-- == 0)
            return &ex->dests[i];
    }
    return NULL;
}

const mt_job_destination_t *mt_job_conf_find_destination(const mt_job_conf_t *conf, const char *id)
{
    return id ? mt__dest_find(EX(conf), id, false) : NULL;
}

bool mt_job_conf_is_destination_tag(const mt_job_conf_t *conf, const char *tag)
{
    return tag && mt__is_dest_tag(EX(conf), tag);
}

const char *mt_job_conf_default_destination(const mt_job_conf_t *conf, int *line)
{
    const mt_job_exec_t *ex = EX(conf);
    if (line)
        *line = ex ? ex->default_dest_line : 0;
    return ex ? ex->default_dest : NULL;
}

const char *mt_job_conf_tool_destination(const mt_job_conf_t *conf, const char *tool_id, int *line)
{
    const mt_job_exec_t *ex = EX(conf);
    const mt__tool_dest_t *hit = NULL;
    for (size_t i = 0; ex && tool_id && i < ex->ntools; i++) {
        const mt__tool_dest_t *t = &ex->tools[i];
        if (!t->tool_id || strcmp(t->tool_id, tool_id) != 0 || !t->destination)
            continue;
        if (!t->nparams) { /* the plain entry wins */
            hit = t;
            break;
        }
        if (!hit)
            hit = t; /* an entry with params applies only if it is the tool's only one (Galaxy) */
    }
    if (hit && hit->nparams) {
        for (size_t i = 0; i < ex->ntools; i++) {
            if (&ex->tools[i] != hit && ex->tools[i].tool_id && strcmp(ex->tools[i].tool_id, tool_id) == 0)
                hit = NULL; /* the tool has other entries: Galaxy picks by job params, which jobs here lack */
            if (!hit)
                break;
        }
    }
    if (line)
        *line = hit ? hit->line : 0;
    return hit ? hit->destination : NULL;
}

const char *mt_job_destination_id(const mt_job_destination_t *dest)
{
    return dest->id;
}

const char *mt_job_destination_runner(const mt_job_destination_t *dest)
{
    return dest->runner;
}

int mt_job_destination_line(const mt_job_destination_t *dest)
{
    return dest->line;
}

bool mt_job_destination_has_tag(const mt_job_destination_t *dest, const char *tag)
{
    return mt__dest_has_tag(dest, tag);
}

const char *mt_job_destination_param(const mt_job_destination_t *dest, const char *id)
{
    const mt_job_param_t *p = mt__param_find(dest->params, dest->nparams, id);
    return p ? p->value : NULL;
}

size_t mt_job_destination_params(const mt_job_destination_t *dest, const mt_job_param_t **params)
{
    *params = dest->params;
    return dest->nparams;
}

size_t mt_job_destination_env(const mt_job_destination_t *dest, const mt_job_env_t **env)
{
    *env = dest->env;
    return dest->nenv;
}

size_t mt_job_destination_resubmits(const mt_job_destination_t *dest, const mt_job_resubmit_t **resubmits)
{
    *resubmits = dest->resubmits;
    return dest->nresubmits;
}

const char *mt_job_destination_shell(const mt_job_destination_t *dest)
{
    return dest->shell;
}

unsigned mt_job_destination_slots(const mt_job_destination_t *dest)
{
    return dest->slots;
}

double mt_job_destination_walltime(const mt_job_destination_t *dest)
{
    return dest->walltime_s;
}

const char *mt_job_destination_native_specification(const mt_job_destination_t *dest)
{
    return dest->native_spec;
}

const char *mt_job_destination_tmp_dir(const mt_job_destination_t *dest, bool *in_job_dir)
{
    const mt_job_param_t *p = mt__param_find(dest->params, dest->nparams, "tmp_dir");
    *in_job_dir = false;
    if (!p || !p->value[0])
        return NULL;
    if (strcasecmp(p->value, "true") == 0) {
        *in_job_dir = true;
        return p->value;
    }
    static const char *const no[] = { "false", "no", "off", "0" };
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++) {
        if (strcasecmp(p->value, no[i]) == 0)
            return NULL;
    }
    return p->value;
}

size_t mt_job_conf_limits(const mt_job_conf_t *conf, const mt_job_limit_t **limits)
{
    const mt_job_exec_t *ex = EX(conf);
    *limits = ex ? ex->limits : NULL;
    return ex ? ex->nlimits : 0;
}

double mt_job_conf_walltime_limit(const mt_job_conf_t *conf)
{
    const mt_job_exec_t *ex = EX(conf);
    return ex ? ex->walltime_s : 0;
}

size_t mt_job_conf_resource_group_count(const mt_job_conf_t *conf)
{
    const mt_job_exec_t *ex = EX(conf);
    return ex ? ex->ngroups : 0;
}

const char *mt_job_conf_default_resource_group(const mt_job_conf_t *conf)
{
    const mt_job_exec_t *ex = EX(conf);
    return ex ? ex->default_group : NULL;
}

size_t mt_job_conf_notice_count(const mt_job_conf_t *conf)
{
    const mt_job_exec_t *ex = EX(conf);
    return ex ? ex->nnotes : 0;
}

const char *mt_job_conf_notice(const mt_job_conf_t *conf, size_t index)
{
    const mt_job_exec_t *ex = EX(conf);
    return ex && index < ex->nnotes ? ex->notes[index] : NULL;
}
