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
 * cannot run here at all (a destination whose runner is not local) is
 * decided by job_route.c, which refuses jobs routed there.
 *
 * References are checked once the whole file is read: a default
 * destination, a tool's destination and a resubmit's destination must
 * name a destination or a destination tag; a tool's resources and the
 * default resource group must name a group. A destination naming a runner
 * plugin that is not declared is not an error (Galaxy's own advanced
 * sample has runner="drmma"): it cannot run, and job_route.c says so.
 */
#include "app/model/job_conf_exec.h"

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

/*
 * Bounds, far above any real file, that keep the checks (which compare
 * items pairwise) fast on absurd input: a job configuration is read at
 * start and by the fuzzer.
 */
#define MT__MAX_ITEMS 10000 /* runners, destinations, tool entries, limits, groups; keys of one YAML mapping */
#define MT__MAX_OWNED 1000  /* params of one owner, env lines and tags of one destination */

struct mt_job_runner {
    char *id, *type, *load;
    int workers;
    int line;
    mt_job_param_t *params;
    size_t nparams;
    bool disabled;
};

struct mt_job_destination {
    char *id, *runner, *shell;
    char **tags;
    size_t ntags;
    int line;
    mt_job_param_t *params;
    size_t nparams;
    mt_job_env_t *env;
    size_t nenv;
    mt_job_resubmit_t *resubmits;
    size_t nresubmits;
    unsigned slots;
    bool disabled;
};

/* A tool entry's destination side. */
typedef struct mt__tool_dest {
    char *tool_id;     /* NULL for a YAML class entry */
    char *class_name;  /* YAML class: local, requires_galaxy, user_defined */
    char *destination; /* id or tag, or NULL */
    char *resources;   /* group, or NULL */
    size_t nparams;    /* <param>s: Galaxy applies the entry only to jobs carrying them */
    char *first_param; /* "id=value" of the first, for messages */
    int line;
} mt__tool_dest_t;

typedef struct mt__group {
    char *id;
    char *fields;
    int line;
} mt__group_t;

struct mt_job_exec {
    char *file;
    mt_job_runner_t *runners;
    size_t nrunners;
    mt_job_runner_t dynamic; /* implicit, as in Galaxy */
    mt_job_destination_t *dests;
    size_t ndests;
    char *default_dest;
    int default_dest_line;
    mt__tool_dest_t *tools;
    size_t ntools;
    mt_job_limit_t *limits;
    size_t nlimits;
    double walltime_s;
    mt__group_t *groups;
    size_t ngroups;
    char *default_group;
    int default_group_line;
    char **notes;
    size_t nnotes;
    int plugins_line, destinations_line, limits_line, resources_line; /* a block seen: where (XML and YAML alike) */
    int plugins_workers;                                              /* <plugins workers="N">, 0 if not given */
    char *err;
    size_t errlen;
};

/* ------------------------------------------------------------------ */
/* Errors and notices                                                  */
/* ------------------------------------------------------------------ */

static int mt__fail_at(mt_job_exec_t *ex, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int mt__fail_at(mt_job_exec_t *ex, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    mt_message_vformat_at(ex->err, ex->errlen, ex->file, line > 0 ? line : 1, fmt, ap);
    va_end(ap);
    return -1;
}

static int mt__fail_node(mt_job_exec_t *ex, const mt_xml_node_t *node, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int mt__fail_node(mt_job_exec_t *ex, const mt_xml_node_t *node, const char *fmt, ...)
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

static void mt__note(mt_job_exec_t *ex, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void mt__note(mt_job_exec_t *ex, int line, const char *fmt, ...)
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
static char *mt__trimmed(const char *s)
{
    while (*s && isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        n--;
    return mt_strndup(s, n);
}

/* Galaxy's util.asbool: true, yes, on, y, t, 1 (any case) are true; anything else false. */
static bool mt__asbool(const char *s)
{
    char *t = mt__trimmed(s ? s : "");
    static const char *const yes[] = { "true", "yes", "on", "y", "t", "1" };
    bool v = false;
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++)
        v = v || strcasecmp(t, yes[i]) == 0;
    free(t);
    return v;
}

/* A whole decimal integer in [min, max] (blanks around allowed); 0, or -1. */
static int mt__parse_int(const char *s, long long min, long long max, long long *out)
{
    char *t = mt__trimmed(s), *end;
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
    char *t = mt__trimmed(s);
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
    char *t = mt__trimmed(s), *end;
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

static void mt__params_free(mt_job_param_t *p, size_t n)
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
static int mt__param_add(mt_job_exec_t *ex, mt_job_param_t **p, size_t *n, const char *owner, const char *id,
                         const char *value, int line, const char *from_config)
{
    const char *why = mt__bad_id(id);
    if (why[0])
        return mt__fail_at(ex, line, "%s: param id '%s' %s", owner, id, why);
    if (*n >= MT__MAX_OWNED)
        return mt__fail_at(ex, line, "%s: more than %d params", owner, MT__MAX_OWNED);
    const mt_job_param_t *prev = mt__param_find(*p, *n, id);
    if (prev)
        return mt__fail_at(ex, line, "%s: param '%s' given twice (first at line %d)", owner, id, prev->line);
    *p = mt_realloc(*p, (*n + 1) * sizeof **p);
    (*p)[*n] = (mt_job_param_t){ .id = mt_strdup(id), .value = mt__trimmed(value), .line = line,
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
    char *t = mt__trimmed(load);
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

static mt_job_runner_t *mt__runner_add(mt_job_exec_t *ex, const char *id, const char *load, int line)
{
    const char *why = mt__bad_id(id);
    if (why[0]) {
        mt__fail_at(ex, line, "runner plugin id '%s' %s", id, why);
        return NULL;
    }
    if (ex->nrunners >= MT__MAX_ITEMS) {
        mt__fail_at(ex, line, "more than %d runner plugins", MT__MAX_ITEMS);
        return NULL;
    }
    const mt_job_runner_t *prev = mt__runner_find(ex, id, true);
    if (prev) {
        mt__fail_at(ex, line, "runner plugin '%s' given twice (first at line %d)", id, prev->line);
        return NULL;
    }
    if (!load && strcmp(id, "dynamic") != 0) {
        mt__fail_at(ex, line, "runner plugin '%s' needs a load (such as galaxy.jobs.runners.local:LocalJobRunner)",
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
        r->load = mt__trimmed(load);
        r->type = mt__runner_type(load);
    }
    return r;
}

static mt_job_destination_t *mt__dest_add(mt_job_exec_t *ex, const char *id, int line)
{
    const char *why = mt__bad_id(id);
    if (why[0]) {
        mt__fail_at(ex, line, "destination id '%s' %s", id, why);
        return NULL;
    }
    if (ex->ndests >= MT__MAX_ITEMS) {
        mt__fail_at(ex, line, "more than %d destinations", MT__MAX_ITEMS);
        return NULL;
    }
    const mt_job_destination_t *prev = mt__dest_find(ex, id, true);
    if (prev) {
        mt__fail_at(ex, line, "destination '%s' given twice (first at line %d)", id, prev->line);
        return NULL;
    }
    ex->dests = mt_realloc(ex->dests, (ex->ndests + 1) * sizeof *ex->dests);
    mt_job_destination_t *d = &ex->dests[ex->ndests++];
    *d = (mt_job_destination_t){ .id = mt_strdup(id), .line = line };
    return d;
}

static int mt__dest_add_tag(mt_job_exec_t *ex, mt_job_destination_t *d, const char *tag, int line)
{
    const char *why = mt__bad_id(tag);
    if (why[0])
        return mt__fail_at(ex, line, "destination '%s': tag '%s' %s", d->id, tag, why);
    if (mt__dest_has_tag(d, tag))
        return 0;
    if (d->ntags >= MT__MAX_OWNED)
        return mt__fail_at(ex, line, "destination '%s': more than %d tags", d->id, MT__MAX_OWNED);
    d->tags = mt_realloc(d->tags, (d->ntags + 1) * sizeof *d->tags);
    d->tags[d->ntags++] = mt_strdup(tag);
    return 0;
}

/* "a, b,c" -> add each (blanks trimmed). */
static int mt__dest_add_tags(mt_job_exec_t *ex, mt_job_destination_t *d, const char *text, int line)
{
    char *copy = mt_strdup(text), *save = NULL;
    int rc = 0;
    bool any = false;
    for (char *tok = strtok_r(copy, ",", &save); tok && rc == 0; tok = strtok_r(NULL, ",", &save)) {
        char *t = mt__trimmed(tok);
        rc = mt__dest_add_tag(ex, d, t, line);
        any = true;
        free(t);
    }
    free(copy);
    if (rc == 0 && !any)
        rc = mt__fail_at(ex, line, "destination '%s': tags is empty", d->id);
    return rc;
}

static int mt__env_add(mt_job_exec_t *ex, mt_job_destination_t *d, mt_job_env_kind_t kind, const char *name,
                       const char *value, bool raw, int line)
{
    if (kind == MT_JOB_ENV_SET) {
        if (!mt__is_shell_name(name))
            return mt__fail_at(ex, line, "destination '%s': env name '%s' is not a shell variable name", d->id, name);
        if (strncmp(name, "MULETEER_", 9) == 0)
            return mt__fail_at(ex, line,
                               "destination '%s': env name '%s' is reserved (MULETEER_* variables find a job's "
                               "processes)",
                               d->id, name);
    } else if (!value[0]) {
        return mt__fail_at(ex, line, "destination '%s': env %s is empty", d->id,
                           kind == MT_JOB_ENV_FILE ? "file" : "exec");
    }
    if (d->nenv >= MT__MAX_OWNED)
        return mt__fail_at(ex, line, "destination '%s': more than %d env lines", d->id, MT__MAX_OWNED);
    d->env = mt_realloc(d->env, (d->nenv + 1) * sizeof *d->env);
    d->env[d->nenv++] = (mt_job_env_t){ .kind = kind, .name = name ? mt_strdup(name) : NULL,
                                        .value = mt_strdup(value), .raw = raw, .line = line };
    return 0;
}

static int mt__resubmit_add(mt_job_exec_t *ex, mt_job_destination_t *d, const char *condition,
                            const char *destination, const char *handler, const char *delay, int line)
{
    if (d->nresubmits >= MT__MAX_OWNED)
        return mt__fail_at(ex, line, "destination '%s': more than %d resubmit rules", d->id, MT__MAX_OWNED);
    d->resubmits = mt_realloc(d->resubmits, (d->nresubmits + 1) * sizeof *d->resubmits);
    d->resubmits[d->nresubmits++] = (mt_job_resubmit_t){
        .condition = condition ? mt_strdup(condition) : NULL,
        .destination = destination ? mt_strdup(destination) : NULL,
        .handler = handler ? mt_strdup(handler) : NULL,
        .delay = delay ? mt_strdup(delay) : NULL,
        .line = line,
    };
    (void)ex;
    return 0;
}

static int mt__tool_add(mt_job_exec_t *ex, const char *tool_id, const char *class_name, const char *destination,
                        const char *resources, size_t nparams, const char *first_param, int line)
{
    if (destination && mt__bad_id(destination)[0])
        return mt__fail_at(ex, line, "tool '%s': destination '%s' %s", tool_id ? tool_id : class_name, destination,
                           mt__bad_id(destination));
    if (ex->ntools >= MT__MAX_ITEMS)
        return mt__fail_at(ex, line, "more than %d tool entries", MT__MAX_ITEMS);
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

static int mt__set_default_dest(mt_job_exec_t *ex, const char *name, int line)
{
    if (ex->default_dest)
        return mt__fail_at(ex, line, "the default destination is given twice (first at line %d)",
                           ex->default_dest_line);
    char *t = mt__trimmed(name);
    if (!t[0]) {
        free(t);
        return mt__fail_at(ex, line, "the default destination is empty");
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

static int mt__limit_add(mt_job_exec_t *ex, const char *type_written, const char *id, const char *tag,
                         const char *window, const char *value, int line)
{
    if (!type_written)
        return mt__fail_at(ex, line, "limit needs a type (such as walltime or registered_user_concurrent_jobs)");
    const char *type = mt__limit_type(type_written);
    if (!type)
        return mt__fail_at(ex, line,
                           "unknown limit type '%s' (expected registered_user_concurrent_jobs, "
                           "anonymous_user_concurrent_jobs, destination_user_concurrent_jobs, "
                           "destination_total_concurrent_jobs, walltime, total_walltime or output_size)",
                           type_written);
    if (!value || !value[0])
        return mt__fail_at(ex, line, "limit %s: no value", type_written);
    if (ex->nlimits >= MT__MAX_ITEMS)
        return mt__fail_at(ex, line, "more than %d limits", MT__MAX_ITEMS);
    mt_job_limit_t l = { .type = type, .line = line };
    bool per_dest = strncmp(type, "destination_", 12) == 0;
    if (per_dest && !id && !tag)
        return mt__fail_at(ex, line, "limit %s: needs the id or the tag of the destinations it counts", type_written);
    if (!per_dest && (id || tag))
        return mt__fail_at(ex, line, "limit %s: takes no id or tag (those are for destination_* limits)",
                           type_written);
    if (window && strcmp(type, "total_walltime") != 0)
        return mt__fail_at(ex, line, "limit %s: takes no window (that is for total_walltime)", type_written);
    if (strstr(type, "concurrent_jobs")) {
        if (mt__parse_int(value, 0, INT_MAX, &l.number) < 0)
            return mt__fail_at(ex, line, "limit %s: '%s' is not a whole number of jobs", type_written, value);
    } else if (strcmp(type, "output_size") == 0) {
        if (mt__parse_size(value, &l.number) < 0)
            return mt__fail_at(ex, line, "limit output_size: '%s' is not a size (such as 10GB, 10g, 10240 Mb)", value);
    } else {
        if (mt__parse_hms(value, &l.number) < 0)
            return mt__fail_at(ex, line, "limit %s: '%s' is not a time as H:M:S (such as 24:00:00)", type_written,
                               value);
        if (strcmp(type, "total_walltime") == 0) {
            long long days = 30;
            if (window && mt__parse_int(window, 1, 100000, &days) < 0)
                return mt__fail_at(ex, line, "limit total_walltime: window '%s' is not a number of days", window);
            l.window_days = (int)days;
        }
    }
    if (strcmp(type, "walltime") == 0) {
        if (ex->walltime_s > 0)
            return mt__fail_at(ex, line, "limit walltime given twice");
        l.enforced = true;
        ex->walltime_s = (double)l.number;
    }
    l.id = id ? mt_strdup(id) : NULL;
    l.tag = tag ? mt_strdup(tag) : NULL;
    l.value = mt__trimmed(value);
    ex->limits = mt_realloc(ex->limits, (ex->nlimits + 1) * sizeof *ex->limits);
    ex->limits[ex->nlimits++] = l;
    return 0;
}

static int mt__group_add(mt_job_exec_t *ex, const char *id, const char *fields, int line)
{
    const char *why = mt__bad_id(id);
    if (why[0])
        return mt__fail_at(ex, line, "resource group id '%s' %s", id, why);
    if (ex->ngroups >= MT__MAX_ITEMS)
        return mt__fail_at(ex, line, "more than %d resource groups", MT__MAX_ITEMS);
    const mt__group_t *prev = mt__group_find(ex, id);
    if (prev)
        return mt__fail_at(ex, line, "resource group '%s' given twice (first at line %d)", id, prev->line);
    ex->groups = mt_realloc(ex->groups, (ex->ngroups + 1) * sizeof *ex->groups);
    ex->groups[ex->ngroups++] = (mt__group_t){ .id = mt_strdup(id), .fields = mt__trimmed(fields), .line = line };
    return 0;
}

/* A block given twice is an error: Galaxy reads the first and drops the second without a word. */
static int mt__block_once(mt_job_exec_t *ex, int *seen, const char *what, int line)
{
    if (*seen)
        return mt__fail_at(ex, line, "%s given twice (first at line %d)", what, *seen);
    *seen = line;
    return 0;
}

/* ------------------------------------------------------------------ */
/* XML                                                                 */
/* ------------------------------------------------------------------ */

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
            return mt__fail_node(ex, node, "<%s>: unknown attribute '%s' (%s%s)", node->name, a,
                                 allowed[0] ? "expected " : "it takes none", list);
        }
    }
    return 0;
}

static int mt__x_no_children(mt_job_exec_t *ex, const mt_xml_node_t *node)
{
    if (node->nchildren > 0)
        return mt__fail_node(ex, node->children[0], "<%s> holds no elements, not <%s>", node->name,
                             node->children[0]->name);
    return 0;
}

static int mt__x_unknown_child(mt_job_exec_t *ex, const mt_xml_node_t *parent, const mt_xml_node_t *child,
                               const char *expected)
{
    return mt__fail_node(ex, child, "<%s> holds %s, not <%s>", parent->name, expected, child->name);
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
        return mt__fail_node(ex, node, "%s: <param> needs an id attribute", owner);
    const char *value = node->text;
    char containers[512] = "";
    if (node->nchildren > 0) {
        /* Galaxy reads <container> elements in the container and container_override params only. */
        if (strcmp(id, "container") != 0 && strcmp(id, "container_override") != 0)
            return mt__fail_node(ex, node->children[0], "%s: param '%s' holds text, not <%s>", owner, id,
                                 node->children[0]->name);
        size_t used = 0;
        for (size_t i = 0; i < node->nchildren; i++) {
            const mt_xml_node_t *c = node->children[i];
            static const char *const cattrs[] = { "type", "shell", "resolve_dependencies", NULL };
            if (strcmp(c->name, "container") != 0)
                return mt__x_unknown_child(ex, node, c, "<container> elements");
            if (mt__x_attrs(ex, c, cattrs) < 0)
                return -1;
            char *t = mt__trimmed(c->text);
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
        return mt__fail_node(ex, node, "%s: param '%s' takes from_environ or from_config, not both", owner, id);
    if (env && getenv(env))
        value = getenv(env); /* as Galaxy: the variable when set, else the text */
    return mt__param_add(ex, params, n, owner, id, value, mt_xml_line(node), from_config);
}

static int mt__x_plugin(mt_job_exec_t *ex, const mt_xml_node_t *node)
{
    static const char *const attrs[] = { "id", "type", "load", "workers", NULL };
    if (mt__x_attrs(ex, node, attrs) < 0)
        return -1;
    const char *id = mt_xml_attr(node, "id"), *type = mt_xml_attr(node, "type");
    const char *workers = mt_xml_attr(node, "workers");
    if (!id)
        return mt__fail_node(ex, node, "<plugin> needs an id attribute");
    if (!type)
        return mt__fail_node(ex, node, "<plugin id=\"%s\"> needs a type attribute (runner)", id);
    if (strcmp(type, "runner") != 0)
        return mt__fail_node(ex, node, "<plugin id=\"%s\">: unknown plugin type '%s' (Galaxy knows runner)", id, type);
    int line = mt_xml_line(node);
    long long w = 0;
    if (workers && mt__parse_int(workers, 1, 100000, &w) < 0)
        return mt__fail_node(ex, node, "<plugin id=\"%s\">: workers '%s' is not a positive whole number", id, workers);
    mt_job_runner_t *r = mt__runner_add(ex, id, mt_xml_attr(node, "load"), line);
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
    if (workers && mt__parse_int(workers, 1, 100000, &w) < 0)
        return mt__fail_node(ex, block, "<plugins>: workers '%s' is not a positive whole number", workers);
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
        return mt__fail_node(ex, node, "destination '%s': <env> takes exactly one of id, file or exec", d->id);
    int line = mt_xml_line(node);
    if (id)
        return mt__env_add(ex, d, MT_JOB_ENV_SET, id, node->text, raw && mt__asbool(raw), line);
    if (raw)
        return mt__fail_node(ex, node, "destination '%s': raw is for <env id=...>", d->id);
    return mt__env_add(ex, d, file ? MT_JOB_ENV_FILE : MT_JOB_ENV_EXEC, NULL, file ? file : exec, false, line);
}

static int mt__x_destination(mt_job_exec_t *ex, const mt_xml_node_t *node)
{
    static const char *const attrs[] = { "id", "runner", "tags", "metrics", NULL };
    if (mt__x_attrs(ex, node, attrs) < 0)
        return -1;
    const char *id = mt_xml_attr(node, "id"), *runner = mt_xml_attr(node, "runner");
    const char *tags = mt_xml_attr(node, "tags"), *metrics = mt_xml_attr(node, "metrics");
    if (!id)
        return mt__fail_node(ex, node, "<destination> needs an id attribute");
    if (!runner)
        return mt__fail_node(ex, node, "<destination id=\"%s\"> needs a runner attribute (a plugin id)", id);
    int line = mt_xml_line(node);
    mt_job_destination_t *d = mt__dest_add(ex, id, line);
    if (!d)
        return -1;
    d->runner = mt__trimmed(runner);
    if (tags && mt__dest_add_tags(ex, d, tags, line) < 0)
        return -1;
    if (metrics)
        mt__note(ex, line, "destination '%s': metrics=\"%s\": job metrics are not collected here", id, metrics);
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
                rc = mt__fail_node(ex, c, "<resubmit>: destination and environment are the same thing: give one");
            if (rc == 0)
                rc = mt__x_no_children(ex, c);
            if (rc == 0)
                rc = mt__resubmit_add(ex, d, mt_xml_attr(c, "condition"), to ? to : env, mt_xml_attr(c, "handler"),
                                      mt_xml_attr(c, "delay"), mt_xml_line(c));
        } else if (strcmp(c->name, "job_metrics") == 0) {
            mt__note(ex, mt_xml_line(c), "destination '%s': <job_metrics>: job metrics are not collected here", id);
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
    if (dflt && mt__set_default_dest(ex, dflt, mt_xml_line(block)) < 0)
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
        char *value = mt__trimmed(c->text);
        int rc = mt__limit_add(ex, mt_xml_attr(c, "type"), mt_xml_attr(c, "id"), mt_xml_attr(c, "tag"),
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
        ex->default_group = mt__trimmed(dflt);
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
            return mt__fail_node(ex, c, "<group> needs an id attribute");
        if (mt__group_add(ex, id, fields && fields[0] ? fields : c->text, mt_xml_line(c)) < 0)
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
        return mt__block_once(ex, &ex->plugins_line, "<plugins>", line) < 0 ? -1 : mt__x_plugins(ex, block);
    if (strcmp(block->name, "destinations") == 0)
        return mt__block_once(ex, &ex->destinations_line, "<destinations>", line) < 0 ? -1
                                                                                      : mt__x_destinations(ex, block);
    if (strcmp(block->name, "limits") == 0)
        return mt__block_once(ex, &ex->limits_line, "<limits>", line) < 0 ? -1 : mt__x_limits(ex, block);
    if (strcmp(block->name, "resources") == 0)
        return mt__block_once(ex, &ex->resources_line, "<resources>", line) < 0 ? -1 : mt__x_resources(ex, block);
    return mt__fail_node(ex, block, "<%s> is not a block of the job configuration", block->name);
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
        return mt__fail_node(ex, tool, "<tool> needs an id attribute");
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
        rc = mt__tool_add(ex, id, NULL, dest && dest[0] ? dest : NULL, res && res[0] ? res : NULL, nparams,
                          nparams ? first : NULL, mt_xml_line(tool));
    mt__params_free(params, nparams);
    return rc;
}

/* ------------------------------------------------------------------ */
/* YAML                                                                */
/* ------------------------------------------------------------------ */

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
        return mt__fail_at(ex, line, "%s: unresolvable alias", what);
    if (!n || mt_yaml_is_null(n)) {
        *out = mt_strdup("");
        return 0;
    }
    if (fy_node_get_type(n) == FYNT_SCALAR) {
        size_t len;
        const char *text = fy_node_get_scalar(n, &len);
        if (text && memchr(text, '\0', len))
            return mt__fail_at(ex, line, "%s: contains a NUL byte", what);
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
        return mt__fail_at(ex, mt_yaml_node_line(n, line), "%s: expected a single value", what);
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
            rc = mt__fail_at(ex, keys[i].line, "%s: '%.*s' given twice (first at line %d)", what, (int)keys[i].len,
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
        return mt__fail_at(ex, mt_yaml_node_line(map, line), "%s: expected a mapping", what);
    if (fy_node_mapping_item_count(map) > MT__MAX_ITEMS)
        return mt__fail_at(ex, mt_yaml_node_line(map, line), "%s: more than %d keys", what, MT__MAX_ITEMS);
    if (mt__y_no_duplicates(ex, map, line, what) < 0)
        return -1;
    void *iter = NULL;
    struct fy_node_pair *pair;
    while ((pair = fy_node_mapping_iterate(map, &iter))) {
        struct fy_node *k = fy_node_pair_key(pair);
        int kline = mt_yaml_node_line(k, line);
        char *key;
        if (!mt__y_is(k, FYNT_SCALAR))
            return mt__fail_at(ex, kline, "%s: keys must be names", what);
        if (mt__y_text(ex, k, kline, what, &key) < 0)
            return -1;
        int rc = 0;
        struct fy_node *v = fy_node_pair_value(pair);
        if (rc == 0 && v && fy_node_is_alias(v) && !mt__y_deref(v))
            rc = mt__fail_at(ex, kline, "%s: unresolvable alias", key);
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
    int rc = mt__param_add(ex, p->params, p->n, p->owner, key, text, line, NULL);
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
        int rc = mt__parse_int(text, 1, 100000, &w);
        if (rc < 0)
            mt__fail_at(ex, line, "runner '%s': workers '%s' is not a positive whole number", r->id, text);
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
        return mt__fail_at(ex, line, "runner '%s': expected a mapping (load: ..., workers: ...)", id);
    struct fy_node *lnode = value && !mt_yaml_is_null(value) ? fy_node_mapping_lookup_by_string(value, "load", 4)
                                                             : NULL;
    if (lnode && mt__y_scalar(ex, lnode, line, "load", &load) < 0)
        return -1;
    mt_job_runner_t *r = mt__runner_add(ex, id, load, mt_yaml_node_line(lnode, line));
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
        return mt__fail_at(ex, line, "environment '%s': env: expected a list ({name, value} / {file} / {execute})",
                           d->id);
    void *iter = NULL;
    struct fy_node *item;
    while ((item = fy_node_sequence_iterate(list, &iter))) {
        int iline = mt_yaml_node_line(item, line);
        item = mt__y_deref(item);
        if (!mt__y_is(item, FYNT_MAPPING))
            return mt__fail_at(ex, iline, "environment '%s': each env entry is a mapping ({name, value} / {file} / "
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
                rc = mt__fail_at(ex, kline, "environment '%s': env entry: unknown key '%s' (expected name, value, raw, "
                                 "file or execute)", d->id, key);
            else if (rc == 0 && *slot)
                rc = mt__fail_at(ex, kline, "environment '%s': env entry: '%s' given twice", d->id, key);
            else if (rc == 0)
                rc = mt__y_text(ex, fy_node_pair_value(pair), kline, key, slot);
            free(key);
        }
        if (rc == 0 && (name != NULL) + (file != NULL) + (exec != NULL) != 1)
            rc = mt__fail_at(ex, iline, "environment '%s': an env entry has exactly one of name, file or execute",
                             d->id);
        if (rc == 0 && name)
            rc = mt__env_add(ex, d, MT_JOB_ENV_SET, name, value ? value : "", raw && mt__asbool(raw), iline);
        else if (rc == 0 && (value || raw))
            rc = mt__fail_at(ex, iline, "environment '%s': value and raw go with name", d->id);
        else if (rc == 0)
            rc = mt__env_add(ex, d, file ? MT_JOB_ENV_FILE : MT_JOB_ENV_EXEC, NULL, file ? file : exec, false, iline);
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
        return mt__fail_at(ex, line, "environment '%s': a resubmit entry is a mapping (condition, environment, ...)",
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
            rc = mt__fail_at(ex, kline, "environment '%s': resubmit: unknown key '%s' (expected condition, "
                             "environment, handler or delay)", d->id, key);
        else if (rc == 0 && vals[which])
            rc = mt__fail_at(ex, kline, "environment '%s': resubmit: '%s' given twice", d->id, key);
        else if (rc == 0)
            rc = mt__y_text(ex, fy_node_pair_value(pair), kline, key, &vals[which]);
        free(key);
    }
    if (rc == 0 && vals[1] && vals[2])
        rc = mt__fail_at(ex, line, "environment '%s': resubmit: environment and destination are the same thing",
                         d->id);
    if (rc == 0)
        rc = mt__resubmit_add(ex, d, vals[0], vals[1] ? vals[1] : vals[2], vals[3], vals[4], line);
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
        return mt__fail_at(ex, line, "environment '%s': resubmit: expected a list", d->id);
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
        int rc = mt__dest_add_tags(ex, d, text, line);
        free(text);
        return rc;
    }
    if (fy_node_get_type(node) != FYNT_SEQUENCE)
        return mt__fail_at(ex, line, "environment '%s': tags: expected a list of names", d->id);
    void *iter = NULL;
    struct fy_node *item;
    while ((item = fy_node_sequence_iterate(node, &iter))) {
        int iline = mt_yaml_node_line(item, line);
        char *tag;
        if (mt__y_scalar(ex, item, iline, "tags", &tag) < 0)
            return -1;
        int rc = mt__dest_add_tag(ex, d, tag, iline);
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
            return mt__fail_at(ex, line, "environment '%s': shell must be an absolute path", d->id);
        }
        d->shell = shell;
        return 0;
    }
    if (strcmp(key, "metrics") == 0) {
        mt__note(ex, line, "environment '%s': metrics: job metrics are not collected here", d->id);
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
        return mt__fail_at(ex, line, "environment '%s': expected a mapping (runner: ..., ...)", id);
    struct fy_node *rnode = fy_node_mapping_lookup_by_string(value, "runner", 6);
    char *runner;
    if (!rnode)
        return mt__fail_at(ex, line, "environment '%s' needs a runner (a runners: id)", id);
    if (mt__y_scalar(ex, rnode, line, "runner", &runner) < 0)
        return -1;
    mt_job_destination_t *d = mt__dest_add(ex, id, line);
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
        int rc = mt__set_default_dest(ex, name, mt_yaml_node_line(value, line));
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
                    return mt__fail_at(ex, iline, "environments: each entry of the list needs an id");
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
    return mt__fail_at(ex, line, "execution: unknown key '%s' (expected default or environments)", key);
}

/* limits: [{type, value, id, tag, window}] */
static int mt__y_limits(mt_job_exec_t *ex, struct fy_node *node, int line)
{
    if (!node || mt_yaml_is_null(node))
        return 0;
    if (fy_node_get_type(node) != FYNT_SEQUENCE)
        return mt__fail_at(ex, line, "limits: expected a list (- type: ..., value: ...)");
    void *iter = NULL;
    struct fy_node *item;
    while ((item = fy_node_sequence_iterate(node, &iter))) {
        int iline = mt_yaml_node_line(item, line);
        item = mt__y_deref(item);
        if (!mt__y_is(item, FYNT_MAPPING))
            return mt__fail_at(ex, iline, "limits: each entry is a mapping (type, value, id, tag, window)");
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
                rc = mt__fail_at(ex, kline, "limits: unknown key '%s' (expected type, value, id, tag or window)", key);
            else if (rc == 0 && vals[which])
                rc = mt__fail_at(ex, kline, "limits: '%s' given twice in one entry", key);
            else if (rc == 0)
                rc = mt__y_scalar(ex, fy_node_pair_value(pair), kline, key, &vals[which]);
            free(key);
        }
        if (rc == 0)
            rc = mt__limit_add(ex, vals[0], vals[2], vals[3], vals[4], vals[1], first_line ? first_line : iline);
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
    int rc = mt__group_add(ex, id, fields, line);
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
    return mt__fail_at(ex, line, "resources: unknown key '%s' (expected default or groups)", key);
}

int mt__job_exec_yaml_block(mt_job_exec_t *ex, const char *key, struct fy_node *value, int line, char *err,
                            size_t errlen)
{
    ex->err = err;
    ex->errlen = errlen;
    value = mt__y_deref(value);
    if (strcmp(key, "runners") == 0)
        return mt__block_once(ex, &ex->plugins_line, "'runners'", line) < 0
                   ? -1
                   : mt__y_each(ex, value, line, "runners", mt__y_runner, NULL);
    if (strcmp(key, "execution") == 0)
        return mt__block_once(ex, &ex->destinations_line, "'execution'", line) < 0
                   ? -1
                   : mt__y_each(ex, value, line, "execution", mt__y_execution_pair, NULL);
    if (strcmp(key, "limits") == 0)
        return mt__block_once(ex, &ex->limits_line, "'limits'", line) < 0 ? -1 : mt__y_limits(ex, value, line);
    if (strcmp(key, "resources") == 0)
        return mt__block_once(ex, &ex->resources_line, "'resources'", line) < 0
                   ? -1
                   : mt__y_each(ex, value, line, "resources", mt__y_resources_pair, NULL);
    if (strcmp(key, "dynamic") == 0) {
        mt__note(ex, line, "dynamic: Galaxy's dynamic rules (Python) are not evaluated here; destinations with "
                 "runner 'dynamic' refuse their jobs");
        return 0;
    }
    return mt__fail_at(ex, line, "'%s' is not a block of the job configuration", key);
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
            return mt__fail_at(ex, line, "tools: '%s' given twice in one entry (environment and destination are one)",
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
        rc = mt__fail_at(ex, line, "tools: an entry with an environment needs an id (or a class)");
    char first[300] = "";
    if (rc == 0 && t.nparams)
        snprintf(first, sizeof first, "%s=%s", t.params[0].id, t.params[0].value);
    if (rc == 0)
        rc = mt__tool_add(ex, t.tool_id, t.tool_id ? NULL : t.class_name, t.destination, t.resources, t.nparams,
                          t.nparams ? first : NULL, line);
    free(t.destination);
    free(t.resources);
    free(t.class_name);
    free(t.tool_id);
    mt__params_free(t.params, t.nparams);
    return rc;
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
        if (p && !mt__asbool(p->value)) {
            ex->runners[i].disabled = true;
            mt__note(ex, p->line, "runner plugin '%s' is disabled (enabled: %s): not loaded", ex->runners[i].id,
                     p->value);
        }
    }
    for (size_t i = 0; i < ex->ndests; i++) {
        const mt_job_param_t *p = mt__param_find(ex->dests[i].params, ex->dests[i].nparams, "enabled");
        if (p && !mt__asbool(p->value)) {
            ex->dests[i].disabled = true;
            mt__note(ex, p->line, "destination '%s' is disabled (enabled: %s): not loaded", ex->dests[i].id, p->value);
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
        if (slots && mt__parse_int(slots->value, 1, 1000000, &n) < 0)
            return mt__fail_at(ex, slots->line, "destination '%s': local_slots '%s' is not a positive whole number",
                               d->id, slots->value);
        d->slots = slots ? (unsigned)n : 0;
        for (size_t k = 0; k < d->nresubmits; k++) {
            const mt_job_resubmit_t *r = &d->resubmits[k];
            const char *why = r->destination ? mt__dest_ref_problem(ex, r->destination) : "";
            if (why[0])
                return mt__fail_at(ex, r->line, "destination '%s': resubmit to '%s'%s", d->id, r->destination, why);
        }
        if (d->nresubmits && !d->disabled)
            mt__note(ex, d->resubmits[0].line, "destination '%s': resubmit is not carried out here: a job that fails "
                     "there stays failed", d->id);
        if (!d->disabled) {
            enabled++;
            only = d;
        }
    }
    if (ex->default_dest) {
        const char *why = mt__dest_ref_problem(ex, ex->default_dest);
        if (why[0])
            return mt__fail_at(ex, ex->default_dest_line, "the default destination '%s'%s", ex->default_dest, why);
    } else if (enabled == 1) {
        ex->default_dest = mt_strdup(only->id); /* Galaxy: the only destination is the default */
        ex->default_dest_line = 0;
    } else if (enabled > 1) {
        return mt__fail_at(ex, ex->destinations_line,
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
                return mt__fail_at(ex, t->line, "tool '%s' is mapped to destination '%s'%s", name, t->destination,
                                   why);
        }
        if (t->resources && !mt__group_find(ex, t->resources))
            return mt__fail_at(ex, t->line, "tool '%s': resources '%s' is not a resource group%s", name, t->resources,
                               ex->ngroups ? "" : " (no <resources> groups are declared)");
        if (!t->tool_id) {
            mt__note(ex, t->line, "tools: class '%s': tools here have no classes: the entry applies to none",
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
                return mt__fail_at(ex, t->line, "tool '%s' mapped to a destination twice (first at line %d)",
                                   t->tool_id, o->line);
        }
        if (t->nparams && all > 1)
            mt__note(ex, t->line, "tool '%s': the entry with params (%s) applies in Galaxy only to jobs carrying "
                     "them; jobs here carry none: it is not used", t->tool_id, t->first_param);
    }
    if (ex->default_group && !mt__group_find(ex, ex->default_group))
        return mt__fail_at(ex, ex->default_group_line, "the default resource group '%s' is not a group",
                           ex->default_group);
    if (ex->ngroups)
        mt__note(ex, ex->resources_line, "resources: %zu group(s) read: they select extra job parameters in "
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
            mt__note(ex, l->line, "limit %s names destination '%s', which is not declared: it counts nothing", l->type,
                     l->id);
        if (l->tag && !mt__is_dest_tag(ex, l->tag))
            mt__note(ex, l->line, "limit %s names destination tag '%s', which no destination carries", l->type,
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
        mt__note(ex, first, "limits not enforced here (only walltime is): %s", names);
}

static void mt__check_local_params(mt_job_exec_t *ex)
{
    for (size_t i = 0; i < ex->nrunners; i++) {
        const mt_job_runner_t *r = &ex->runners[i];
        if (r->disabled || strcmp(r->type, "local") != 0)
            continue;
        if (r->workers)
            mt__note(ex, r->line, "runner plugin '%s': workers=%d is not read: the jobs one handler runs at once are "
                     "jobs.workers (set it there)", r->id, r->workers);
        for (size_t k = 0; k < r->nparams; k++) {
            if (strcmp(r->params[k].id, "enabled") != 0)
                mt__note(ex, r->params[k].line, "runner plugin '%s': param '%s' is not honoured here", r->id,
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
            mt__note(ex, d->line, "destination '%s': params not honoured by the local runner here: %s", d->id, names);
    }
    for (size_t i = 0; i < ex->ndests; i++) {
        for (size_t k = 0; k < ex->dests[i].nparams; k++) {
            const mt_job_param_t *p = &ex->dests[i].params[k];
            if (p->from_config)
                mt__note(ex, p->line, "destination '%s': param '%s' from_config=\"%s\": galaxy.yml is not read "
                         "here: the text '%s' is used", ex->dests[i].id, p->id, p->from_config, p->value);
        }
    }
}

int mt__job_exec_validate(mt_job_exec_t *ex, char *err, size_t errlen)
{
    ex->err = err;
    ex->errlen = errlen;
    mt__enabled(ex);
    if (mt__check_dests(ex) < 0 || mt__check_tools(ex) < 0)
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
        mt__params_free(r->params, r->nparams);
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
        mt__params_free(d->params, d->nparams);
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
