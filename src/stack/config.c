/*
 * config: the configuration store, precedence, the command line, printing.
 *
 * Each registered section keeps, for every option of its table, the
 * occurrences seen so far in two bins: one for files, one for the command
 * line. A scalar keeps only its latest occurrence per bin; a list keeps all
 * of them in order. The effective value is decided when asked: the command
 * line bin if non-empty, else the file bin, else the table's default. That
 * one rule gives both "command line over files over defaults" for scalars
 * and "command-line list entries replace the files' entries as a whole" for
 * lists. Values are validated and normalized when recorded, so every error
 * is reported with the source that produced it, before anything forks; an
 * error does not stop the load, and every error of a run is kept in the
 * config (mt_config_error_count), so that all of them are reported at once.
 *
 * The loaders (config_ini.c, config_yaml.c) feed occurrences in through
 * mt_config__set(); this file parses argv itself. The main table's "ini",
 * "yaml" and "set" options are recognized by name: their values name files
 * to read after argv, or another option to set.
 */
#define MT_LOG_NAME "muleteer.stack.config"

#include "stack/config.h"

#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <strings.h>

#include "common/log.h"
#include "common/mem.h"
#include "common/message.h"

typedef struct mt__value {
    char *value; /* normalized text, owned */
    mt_source_t src;
} mt__value_t;

typedef struct mt__values {
    mt__value_t *items;
    size_t count, cap;
} mt__values_t;

typedef struct mt__opt {
    mt__values_t from_file;
    mt__values_t from_cmdline;
    bool ignored_logged; /* MT_OPT_IGNORED: the "ignored" notice was written */
} mt__opt_t;

typedef struct mt__section {
    char *name;
    char *alias; /* NULL if none */
    const mt_option_def_t *defs;
    size_t ndefs;
    mt__opt_t *opts; /* parallel to defs; alias entries stay empty */
} mt__section_t;

struct mt_config {
    mt__section_t *sections; /* [0] is the main section */
    char **errors;           /* every problem found so far, in the order found */
    size_t nerrors;
    char **notices;          /* one per ignored option (or shared help text), logged by the caller */
    const char **notice_keys; /* the help text each notice came from: options sharing it share the notice */
    size_t nnotices;
    size_t nsections;
    char **files; /* interned file names referenced by sources */
    size_t nfiles;
    mt_config_pool_t *pools;
    size_t npools;
    bool help, version;
};

/* A file named on the command line, read after argv is parsed. */
typedef struct mt__pending {
    bool yaml;
    char *arg; /* FILE or FILE:SECTION (ini) */
} mt__pending_t;

typedef struct mt__pending_list {
    mt__pending_t *items;
    size_t count;
} mt__pending_list_t;

static const mt_source_t mt__cmdline_src = { MT_SRC_CMDLINE, NULL, 0 };

/* ------------------------------------------------------------------ */
/* Names and lookups                                                   */
/* ------------------------------------------------------------------ */

/* '_' and '-' are the same character in option and section names. */
static bool mt__names_equal_n(const char *a, const char *b, size_t blen)
{
    size_t i;
    for (i = 0; i < blen && a[i]; i++) {
        char ca = a[i] == '_' ? '-' : a[i];
        char cb = b[i] == '_' ? '-' : b[i];
        if (ca != cb)
            return false;
    }
    return i == blen && a[i] == '\0';
}

static bool mt__names_equal(const char *a, const char *b)
{
    return mt__names_equal_n(a, b, strlen(b));
}

static int mt__section_index_n(const mt_config_t *cfg, const char *name, size_t len)
{
    for (size_t i = 0; i < cfg->nsections; i++) {
        const mt__section_t *sec = &cfg->sections[i];
        if (mt__names_equal_n(sec->name, name, len) || (sec->alias && mt__names_equal_n(sec->alias, name, len)))
            return (int)i;
    }
    return -1;
}

int mt_config__section_index(const mt_config_t *cfg, const char *name)
{
    return mt__section_index_n(cfg, name, strlen(name));
}

/* Index of the canonical definition of name in sec (aliases resolved), or -1. */
static int mt__option_index(const mt__section_t *sec, const char *name)
{
    for (size_t i = 0; i < sec->ndefs; i++) {
        const mt_option_def_t *def = &sec->defs[i];
        if (!mt__names_equal(def->name, name))
            continue;
        if (!def->alias_of)
            return (int)i;
        for (size_t j = 0; j < sec->ndefs; j++)
            if (!sec->defs[j].alias_of && strcmp(sec->defs[j].name, def->alias_of) == 0)
                return (int)j;
        assert(!"alias_of names no option of the table");
        return -1;
    }
    return -1;
}

const mt_option_def_t *mt_config__find_option(const mt_config_t *cfg, int sect, const char *name)
{
    assert(sect >= 0 && (size_t)sect < cfg->nsections);
    const mt__section_t *sec = &cfg->sections[sect];
    int idx = mt__option_index(sec, name);
    return idx < 0 ? NULL : &sec->defs[idx];
}

/* Section for a getter's `section` argument (NULL: main); asserts it exists. */
static const mt__section_t *mt__get_section(const mt_config_t *cfg, const char *section)
{
    assert(cfg->nsections > 0);
    if (!section)
        return &cfg->sections[0];
    int sect = mt_config__section_index(cfg, section);
    assert(sect >= 0 && "section not registered");
    return &cfg->sections[sect];
}

/* The option's definition and state for a getter; asserts it exists. */
static const mt__opt_t *mt__get_opt(const mt_config_t *cfg, const char *section, const char *name,
                                    const mt_option_def_t **defp)
{
    const mt__section_t *sec = mt__get_section(cfg, section);
    int idx = mt__option_index(sec, name);
    assert(idx >= 0 && "option not in the table");
    *defp = &sec->defs[idx];
    return &sec->opts[idx];
}

/* The bin that decides the effective value, or NULL when only the default applies. */
static const mt__values_t *mt__effective(const mt__opt_t *opt)
{
    if (opt->from_cmdline.count)
        return &opt->from_cmdline;
    if (opt->from_file.count)
        return &opt->from_file;
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Lifetime                                                            */
/* ------------------------------------------------------------------ */

mt_config_t *mt_config_create(void)
{
    return mt_calloc(1, sizeof(mt_config_t));
}

static void mt__values_free(mt__values_t *vals)
{
    for (size_t i = 0; i < vals->count; i++)
        free(vals->items[i].value);
    free(vals->items);
    vals->items = NULL;
    vals->count = vals->cap = 0;
}

void mt_config_destroy(mt_config_t *cfg)
{
    if (!cfg)
        return;
    for (size_t i = 0; i < cfg->nsections; i++) {
        mt__section_t *sec = &cfg->sections[i];
        for (size_t j = 0; j < sec->ndefs; j++) {
            mt__values_free(&sec->opts[j].from_file);
            mt__values_free(&sec->opts[j].from_cmdline);
        }
        free(sec->opts);
        free(sec->name);
        free(sec->alias);
    }
    free(cfg->sections);
    for (size_t i = 0; i < cfg->nfiles; i++)
        free(cfg->files[i]);
    free(cfg->files);
    for (size_t i = 0; i < cfg->npools; i++) {
        mt_config_pool_t *pool = &cfg->pools[i];
        free(pool->name);
        free(pool->purpose);
        free(pool->type);
        free(pool->server_name_template);
        free(pool->program);
    }
    free(cfg->pools);
    for (size_t i = 0; i < cfg->nerrors; i++)
        free(cfg->errors[i]);
    free(cfg->errors);
    for (size_t i = 0; i < cfg->nnotices; i++)
        free(cfg->notices[i]);
    free(cfg->notices);
    free(cfg->notice_keys);
    free(cfg);
}

/* ------------------------------------------------------------------ */
/* Errors and notices                                                  */
/* ------------------------------------------------------------------ */

void mt_config__record_error(mt_config_t *cfg, const char *msg)
{
    char *copy = mt_strdup(msg);
    mt_message_one_line(copy, strlen(copy) + 1);
    for (size_t i = 0; i < cfg->nerrors; i++) {
        if (strcmp(cfg->errors[i], copy) == 0) {
            free(copy); /* the same problem reached twice (a loader and its caller) */
            return;
        }
    }
    cfg->errors = mt_realloc(cfg->errors, (cfg->nerrors + 1) * sizeof *cfg->errors);
    cfg->errors[cfg->nerrors++] = copy;
}

void mt_config_add_error(mt_config_t *cfg, const mt_source_t *src, const char *name, const char *fmt, ...)
{
    char where[512], msg[1024], line[1700];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (name)
        snprintf(line, sizeof line, "%s: option '%s%s': %s", mt_source_format(src, where, sizeof where),
                 src->kind == MT_SRC_CMDLINE ? "--" : "", name, msg);
    else
        snprintf(line, sizeof line, "%s: %s", mt_source_format(src, where, sizeof where), msg);
    mt_config__record_error(cfg, line);
}

size_t mt_config_error_count(const mt_config_t *cfg)
{
    return cfg->nerrors;
}

const char *mt_config_error_get(const mt_config_t *cfg, size_t i)
{
    assert(i < cfg->nerrors);
    return cfg->errors[i];
}

size_t mt_config_notice_count(const mt_config_t *cfg)
{
    return cfg->nnotices;
}

const char *mt_config_notice_get(const mt_config_t *cfg, size_t i)
{
    assert(i < cfg->nnotices);
    return cfg->notices[i];
}

void mt_config_add_notice(mt_config_t *cfg, const char *key, const char *fmt, ...)
{
    for (size_t i = 0; key && i < cfg->nnotices; i++)
        if (cfg->notice_keys[i] && strcmp(cfg->notice_keys[i], key) == 0)
            return;
    char msg[1536];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    cfg->notices = mt_realloc(cfg->notices, (cfg->nnotices + 1) * sizeof *cfg->notices);
    cfg->notice_keys = mt_realloc(cfg->notice_keys, (cfg->nnotices + 1) * sizeof *cfg->notice_keys);
    cfg->notices[cfg->nnotices] = mt_strdup(msg);
    cfg->notice_keys[cfg->nnotices] = key;
    cfg->nnotices++;
}

int mt_config_add_section(mt_config_t *cfg, const char *name, const char *alias, const mt_option_def_t *defs)
{
    assert(name && defs);
    if (mt_config__section_index(cfg, name) >= 0 || (alias && mt_config__section_index(cfg, alias) >= 0))
        return -EEXIST;
    size_t ndefs = 0;
    while (defs[ndefs].name)
        ndefs++;
    cfg->sections = mt_realloc(cfg->sections, (cfg->nsections + 1) * sizeof(*cfg->sections));
    mt__section_t *sec = &cfg->sections[cfg->nsections++];
    sec->name = mt_strdup(name);
    sec->alias = alias ? mt_strdup(alias) : NULL;
    sec->defs = defs;
    sec->ndefs = ndefs;
    sec->opts = mt_calloc(ndefs ? ndefs : 1, sizeof(*sec->opts));
    return 0;
}

FILE *mt_config__open_file(const char *path, char *err, size_t errlen)
{
    FILE *fp = fopen(path, "re");
    if (!fp) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fileno(fp), &st) == 0 && S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "%s: is a directory, not a file", path);
        fclose(fp);
        return NULL;
    }
    return fp;
}

const char *mt_config__intern_file(mt_config_t *cfg, const char *path)
{
    for (size_t i = 0; i < cfg->nfiles; i++)
        if (strcmp(cfg->files[i], path) == 0)
            return cfg->files[i];
    cfg->files = mt_realloc(cfg->files, (cfg->nfiles + 1) * sizeof(*cfg->files));
    cfg->files[cfg->nfiles] = mt_strdup(path);
    return cfg->files[cfg->nfiles++];
}

void mt_config__add_pool(mt_config_t *cfg, const mt_config_pool_t *pool)
{
    cfg->pools = mt_realloc(cfg->pools, (cfg->npools + 1) * sizeof(*cfg->pools));
    cfg->pools[cfg->npools++] = *pool;
}

/* ------------------------------------------------------------------ */
/* Recording and validating values                                     */
/* ------------------------------------------------------------------ */

const char *mt_source_format(const mt_source_t *src, char *buf, size_t len)
{
    switch (src->kind) {
    case MT_SRC_FILE:
        snprintf(buf, len, "%s:%d", src->file, src->line);
        break;
    case MT_SRC_CMDLINE:
        snprintf(buf, len, "command line");
        break;
    default:
        snprintf(buf, len, "default");
        break;
    }
    return buf;
}


/* "WHERE: option 'NAME': MESSAGE" ("--NAME" on the command line). */
static void mt__option_error(mt_config_t *cfg, char *err, size_t errlen, const mt_source_t *src, const char *name,
                             const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* Fill err and record the error in cfg (every error of a run is reported, not only the first). */
static void mt__option_error(mt_config_t *cfg, char *err, size_t errlen, const mt_source_t *src, const char *name,
                             const char *fmt, ...)
{
    char where[512], msg[1024], line[1700];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(line, sizeof line, "%s: option '%s%s': %s", mt_source_format(src, where, sizeof where),
             src->kind == MT_SRC_CMDLINE ? "--" : "", name, msg);
    snprintf(err, errlen, "%s", line);
    mt_config__record_error(cfg, line); /* whole, even when err is shorter */
}

static int mt__parse_bool(const char *value, bool *out)
{
    static const char *const yes[] = { "", "true", "yes", "on", "1" };
    static const char *const no[] = { "false", "no", "off", "0" };
    for (size_t i = 0; i < sizeof yes / sizeof *yes; i++)
        if (strcasecmp(value, yes[i]) == 0)
            return *out = true, 0;
    for (size_t i = 0; i < sizeof no / sizeof *no; i++)
        if (strcasecmp(value, no[i]) == 0)
            return *out = false, 0;
    return -1;
}

/*
 * Validate value against def; return its normalized copy, or NULL with the
 * problem in why.
 */
static char *mt__check_value(const mt_option_def_t *def, const char *value, char *why, size_t whylen)
{
    if (def->flags & MT_OPT_IGNORED)
        return mt_strdup(value);
    switch (def->type) {
    case MT_OPT_INT: {
        char *end;
        errno = 0;
        long n = strtol(value, &end, 10);
        if (end == value || *end != '\0') {
            snprintf(why, whylen, "'%s' is not a number", value);
            return NULL;
        }
        if (errno == ERANGE || n < def->min || n > def->max) {
            snprintf(why, whylen, "%s is out of range [%ld, %ld]", value, def->min, def->max);
            return NULL;
        }
        return mt_asprintf("%ld", n);
    }
    case MT_OPT_BOOL: {
        bool b;
        if (mt__parse_bool(value, &b) < 0) {
            snprintf(why, whylen, "'%s' is not a boolean (true/false, yes/no, on/off, 1/0)", value);
            return NULL;
        }
        return mt_strdup(b ? "true" : "false");
    }
    case MT_OPT_STRING:
        if (def->flags & MT_OPT_LOG_LEVEL) {
            mt_log_level_t level;
            if (mt_log_level_parse(value, &level) < 0) {
                snprintf(why, whylen, "'%s' is not a log level (debug, info, notice, warn, error, alert)", value);
                return NULL;
            }
        }
        return mt_strdup(value);
    case MT_OPT_LIST:
    default:
        return mt_strdup(value);
    }
}

static void mt__values_push(mt__values_t *vals, char *value, const mt_source_t *src)
{
    if (vals->count == vals->cap) {
        vals->cap = vals->cap ? vals->cap * 2 : 4;
        vals->items = mt_realloc(vals->items, vals->cap * sizeof(*vals->items));
    }
    vals->items[vals->count].value = value;
    vals->items[vals->count].src = *src;
    vals->count++;
}

/*
 * Record one occurrence of option idx (canonical) of section sect. `written`
 * is the name as the user spelled it, for messages. value NULL: no value.
 */
static int mt__store(mt_config_t *cfg, int sect, int idx, const char *written, const char *value,
                     const mt_source_t *src, char *err, size_t errlen)
{
    mt__section_t *sec = &cfg->sections[sect];
    const mt_option_def_t *def = &sec->defs[idx];
    mt__opt_t *opt = &sec->opts[idx];
    char why[512];

    if (def->flags & MT_OPT_REFUSED) {
        mt__option_error(cfg, err, errlen, src, written, "not supported: %s", def->help);
        return -1;
    }
    if (src->kind == MT_SRC_FILE && (def->flags & MT_OPT_CMDLINE_ONLY)) {
        mt__option_error(cfg, err, errlen, src, written, "only allowed on the command line");
        return -1;
    }
    if (!value) {
        if (def->type == MT_OPT_BOOL)
            value = "true";
        else if (def->flags & (MT_OPT_VALUE_OPTIONAL | MT_OPT_IGNORED))
            value = "";
        else {
            mt__option_error(cfg, err, errlen, src, written, "a value is required");
            return -1;
        }
    }
    char *normalized = mt__check_value(def, value, why, sizeof why);
    if (!normalized) {
        mt__option_error(cfg, err, errlen, src, written, "%s", why);
        return -1;
    }

    mt__values_t *bin = src->kind == MT_SRC_CMDLINE ? &opt->from_cmdline : &opt->from_file;
    if (def->type != MT_OPT_LIST)
        mt__values_free(bin); /* a scalar keeps its latest occurrence only */
    mt__values_push(bin, normalized, src);

    if ((def->flags & MT_OPT_IGNORED) && !opt->ignored_logged) {
        char where[512];
        opt->ignored_logged = true;
        mt_config_add_notice(cfg, def->help, "%s: option '%s%s' is accepted and has no effect here: %s",
                             mt_source_format(src, where, sizeof where), src->kind == MT_SRC_CMDLINE ? "--" : "",
                             def->name,
                             def->help ? def->help : "accepted for uWSGI compatibility");
    }
    return 0;
}

int mt_config__set(mt_config_t *cfg, int sect, const char *name, const char *value, const mt_source_t *src,
                   char *err, size_t errlen)
{
    assert(sect >= 0 && (size_t)sect < cfg->nsections);
    int idx = mt__option_index(&cfg->sections[sect], name);
    if (idx < 0) {
        char where[512];
        mt_source_format(src, where, sizeof where);
        if (sect == 0)
            snprintf(err, errlen, "%s: unknown option '%s'", where, name);
        else
            snprintf(err, errlen, "%s: unknown option '%s' in section '%s'", where, name,
                     cfg->sections[sect].name);
        mt_config__record_error(cfg, err);
        return -1;
    }
    return mt__store(cfg, sect, idx, name, value, src, err, errlen);
}

/* ------------------------------------------------------------------ */
/* Command line                                                        */
/* ------------------------------------------------------------------ */

/*
 * Resolve "name" or "section.name" to a section and canonical option
 * index. A prefix that names no section is part of the option name.
 */
static int mt__resolve_qualified(const mt_config_t *cfg, const char *name, int *sectp, int *idxp)
{
    const char *dot = strchr(name, '.');
    if (dot) {
        int sect = mt__section_index_n(cfg, name, (size_t)(dot - name));
        if (sect >= 0) {
            int idx = mt__option_index(&cfg->sections[sect], dot + 1);
            if (idx < 0)
                return -1;
            *sectp = sect;
            *idxp = idx;
            return 0;
        }
    }
    int idx = mt__option_index(&cfg->sections[0], name);
    if (idx < 0)
        return -1;
    *sectp = 0;
    *idxp = idx;
    return 0;
}

static int mt__cmdline_apply(mt_config_t *cfg, mt__pending_list_t *pending, int sect, int idx, const char *written,
                             const char *value, char *err, size_t errlen);

/* --set KEY=VALUE: the same as --KEY=VALUE. */
static int mt__cmdline_set(mt_config_t *cfg, mt__pending_list_t *pending, const char *kv, char *err, size_t errlen)
{
    const char *eq = strchr(kv, '=');
    if (!eq || eq == kv) {
        snprintf(err, errlen, "command line: option '--set': expected KEY=VALUE, got '%s'", kv);
        mt_config__record_error(cfg, err);
        return -1;
    }
    char *key = mt_strndup(kv, (size_t)(eq - kv));
    int sect, idx, rc;
    if (mt__resolve_qualified(cfg, key, &sect, &idx) < 0) {
        snprintf(err, errlen, "command line: option '--set': unknown option '%s'", key);
        mt_config__record_error(cfg, err);
        rc = -1;
    } else {
        rc = mt__cmdline_apply(cfg, pending, sect, idx, key, eq + 1, err, errlen);
    }
    free(key);
    return rc;
}

/* Record a command-line occurrence, then act on the main table's ini / yaml / set. */
static int mt__cmdline_apply(mt_config_t *cfg, mt__pending_list_t *pending, int sect, int idx, const char *written,
                             const char *value, char *err, size_t errlen)
{
    if (mt__store(cfg, sect, idx, written, value, &mt__cmdline_src, err, errlen) < 0)
        return -1;
    if (sect != 0)
        return 0;
    const char *canonical = cfg->sections[0].defs[idx].name;
    if (strcmp(canonical, "set") == 0)
        return mt__cmdline_set(cfg, pending, value, err, errlen);
    if (strcmp(canonical, "ini") == 0 || strcmp(canonical, "yaml") == 0) {
        pending->items = mt_realloc(pending->items, (pending->count + 1) * sizeof(*pending->items));
        pending->items[pending->count].yaml = canonical[0] == 'y';
        pending->items[pending->count].arg = mt_strdup(value);
        pending->count++;
    }
    return 0;
}

/*
 * Parse argv. A bad argument is recorded and parsing goes on, so that one
 * run reports every problem of the command line; an unknown "--name"
 * followed by a word not starting with "--" takes that word as its value.
 * Returns 0 or -1 (at least one error recorded).
 */
static int mt__parse_argv(mt_config_t *cfg, mt__pending_list_t *pending, int argc, char **argv, char *err,
                          size_t errlen)
{
    int rc = 0;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "-h") == 0) {
            cfg->help = true;
            return 0;
        }
        if (strncmp(arg, "--", 2) != 0 || arg[2] == '\0' || arg[2] == '=') {
            snprintf(err, errlen, "command line: unexpected argument '%s' (options start with --)", arg);
            mt_config__record_error(cfg, err);
            rc = -1;
            continue;
        }
        const char *body = arg + 2;
        const char *eq = strchr(body, '=');
        char *name = mt_strndup(body, eq ? (size_t)(eq - body) : strlen(body));
        int sect, idx;
        if (mt__resolve_qualified(cfg, name, &sect, &idx) < 0) {
            bool help = strcmp(name, "help") == 0, version = strcmp(name, "version") == 0;
            if (help || version) {
                cfg->help = help;
                cfg->version = version;
                free(name);
                return 0;
            }
            snprintf(err, errlen, "command line: unknown option '--%s'", name);
            mt_config__record_error(cfg, err);
            free(name);
            rc = -1;
            if (!eq && i + 1 < argc && strncmp(argv[i + 1], "--", 2) != 0)
                i++; /* its value, most likely: not a second error */
            continue;
        }

        const mt_option_def_t *def = &cfg->sections[sect].defs[idx];
        const char *value = NULL;
        if (eq) {
            value = eq + 1;
        } else if (def->type != MT_OPT_BOOL && !(def->flags & MT_OPT_VALUE_OPTIONAL)) {
            if (i + 1 < argc && strncmp(argv[i + 1], "--", 2) != 0) {
                value = argv[++i];
            } else if (!(def->flags & (MT_OPT_IGNORED | MT_OPT_REFUSED))) {
                mt__option_error(cfg, err, errlen, &mt__cmdline_src, name, "a value is required");
                free(name);
                rc = -1;
                continue;
            }
        }
        if (mt__cmdline_apply(cfg, pending, sect, idx, name, value, err, errlen) < 0)
            rc = -1;
        free(name);
    }
    return rc;
}

/* One file named by --ini / --yaml. */
static int mt__load_pending(mt_config_t *cfg, mt__pending_t *item, char *err, size_t errlen)
{
    char *arg = item->arg;
    if (arg[0] == '\0') {
        snprintf(err, errlen, "command line: option '--%s' needs a file name", item->yaml ? "yaml" : "ini");
        mt_config__record_error(cfg, err);
        return -1;
    }
    if (item->yaml)
        return mt_config_load_yaml(cfg, arg, err, errlen);
    /* FILE:SECTION, as uWSGI: the part after the last ':' if it looks like a name. */
    char *colon = strrchr(arg, ':');
    const char *section = NULL;
    if (colon && colon != arg && colon[1] && !strchr(colon + 1, '/')) {
        *colon = '\0';
        section = colon + 1;
    }
    return mt_config_load_ini(cfg, arg, section, err, errlen);
}

int mt_config_load(mt_config_t *cfg, int argc, char **argv, char *err, size_t errlen)
{
    mt__pending_list_t pending = { NULL, 0 };

    assert(cfg->nsections > 0 && "register a section first");
    size_t errors_before = cfg->nerrors;
    mt__parse_argv(cfg, &pending, argc, argv, err, errlen);
    if (!cfg->help && !cfg->version) {
        /* Every file is read even after an error: each one's problems are reported in this run. */
        for (size_t i = 0; i < pending.count; i++)
            mt__load_pending(cfg, &pending.items[i], err, errlen);
    }
    for (size_t i = 0; i < pending.count; i++)
        free(pending.items[i].arg);
    free(pending.items);
    if (cfg->nerrors == errors_before || cfg->help || cfg->version)
        return 0;
    snprintf(err, errlen, "%s", cfg->errors[errors_before]); /* this load's first */
    return -1;
}

bool mt_config_wants_help(const mt_config_t *cfg)
{
    return cfg->help;
}

bool mt_config_wants_version(const mt_config_t *cfg)
{
    return cfg->version;
}

/* ------------------------------------------------------------------ */
/* Getters                                                             */
/* ------------------------------------------------------------------ */

const char *mt_config_get(const mt_config_t *cfg, const char *section, const char *name, mt_source_t *src)
{
    const mt_option_def_t *def;
    const mt__opt_t *opt = mt__get_opt(cfg, section, name, &def);
    const mt__values_t *vals = mt__effective(opt);
    if (vals) {
        const mt__value_t *last = &vals->items[vals->count - 1];
        if (src)
            *src = last->src;
        return last->value;
    }
    if (src)
        *src = (mt_source_t){ MT_SRC_DEFAULT, NULL, 0 };
    return def->type == MT_OPT_LIST ? NULL : def->default_value;
}

long mt_config_get_int(const mt_config_t *cfg, const char *section, const char *name)
{
    const char *value = mt_config_get(cfg, section, name, NULL);
    return value ? strtol(value, NULL, 10) : 0;
}

bool mt_config_get_bool(const mt_config_t *cfg, const char *section, const char *name)
{
    const char *value = mt_config_get(cfg, section, name, NULL);
    bool b = false;
    if (value && mt__parse_bool(value, &b) < 0)
        b = false;
    return b;
}

size_t mt_config_list_count(const mt_config_t *cfg, const char *section, const char *name)
{
    const mt_option_def_t *def;
    const mt__values_t *vals = mt__effective(mt__get_opt(cfg, section, name, &def));
    return vals ? vals->count : 0;
}

const char *mt_config_list_get(const mt_config_t *cfg, const char *section, const char *name, size_t i,
                               mt_source_t *src)
{
    const mt_option_def_t *def;
    const mt__values_t *vals = mt__effective(mt__get_opt(cfg, section, name, &def));
    assert(vals && i < vals->count);
    if (src)
        *src = vals->items[i].src;
    return vals->items[i].value;
}

size_t mt_config_pool_count(const mt_config_t *cfg)
{
    return cfg->npools;
}

const mt_config_pool_t *mt_config_pool_get(const mt_config_t *cfg, size_t i)
{
    assert(i < cfg->npools);
    return &cfg->pools[i];
}

/* ------------------------------------------------------------------ */
/* Printing                                                            */
/* ------------------------------------------------------------------ */

static void mt__print_line(FILE *out, const mt_option_def_t *def, const char *value, const mt_source_t *src)
{
    char where[512];
    const char *shown = value;
    char masked[256];
    if (def->flags & MT_OPT_SECRET) {
        const char *colon = strchr(value, ':');
        snprintf(masked, sizeof masked, "****%s", colon ? colon : "");
        shown = masked;
    }
    fprintf(out, "%s = %s    # %s\n", def->name, shown, mt_source_format(src, where, sizeof where));
}

void mt_config_print(const mt_config_t *cfg, FILE *out)
{
    static const mt_source_t dflt = { MT_SRC_DEFAULT, NULL, 0 };
    for (size_t s = 0; s < cfg->nsections; s++) {
        const mt__section_t *sec = &cfg->sections[s];
        fprintf(out, "[%s]\n", sec->name);
        for (size_t i = 0; i < sec->ndefs; i++) {
            const mt_option_def_t *def = &sec->defs[i];
            if (def->alias_of)
                continue;
            const mt__values_t *vals = mt__effective(&sec->opts[i]);
            if (vals) {
                for (size_t j = 0; j < vals->count; j++)
                    mt__print_line(out, def, vals->items[j].value, &vals->items[j].src);
            } else if (def->type != MT_OPT_LIST && def->default_value) {
                mt__print_line(out, def, def->default_value, &dflt);
            }
        }
    }
    if (cfg->npools)
        fprintf(out, "[pools]\n");
    for (size_t i = 0; i < cfg->npools; i++) {
        const mt_config_pool_t *pool = &cfg->pools[i];
        char where[512];
        fprintf(out, "pool = name=%s type=%s processes=%ld", pool->name, pool->type ? pool->type : "mule",
                pool->processes);
        if (pool->purpose)
            fprintf(out, " purpose=%s", pool->purpose);
        if (pool->server_name_template)
            fprintf(out, " server_name=%s", pool->server_name_template);
        if (pool->program)
            fprintf(out, " program=%s", pool->program);
        fprintf(out, "    # %s\n", mt_source_format(&pool->src, where, sizeof where));
    }
}

/* One --help line: "--[section.]name ARG   help (default X) (also --alias) [repeatable]". */
static void print_help_line(const mt__section_t *sec, const mt_option_def_t *def, const char *prefix, FILE *out)
{
    const char *arg = "";
    if (def->flags & MT_OPT_VALUE_OPTIONAL)
        arg = "[=VALUE]";
    else if (def->type == MT_OPT_INT)
        arg = " N";
    else if (def->type != MT_OPT_BOOL)
        arg = " VALUE";
    char left[160];
    snprintf(left, sizeof left, "--%s%s%s%s", prefix ? prefix : "", prefix ? "." : "", def->name, arg);
    fprintf(out, "  %-28s %s", left, def->help ? def->help : "");
    if (def->default_value && def->type != MT_OPT_BOOL)
        fprintf(out, " (default %s)", def->default_value);
    for (size_t j = 0; j < sec->ndefs; j++)
        if (sec->defs[j].alias_of && strcmp(sec->defs[j].alias_of, def->name) == 0)
            fprintf(out, " (also --%s)", sec->defs[j].name);
    if (def->type == MT_OPT_LIST && !(def->flags & MT_OPT_CMDLINE_ONLY))
        fprintf(out, " [repeatable]");
    fputc('\n', out);
}

void mt_config_print_help(const mt_config_t *cfg, FILE *out)
{
    assert(cfg->nsections > 0);
    const mt__section_t *sec = &cfg->sections[0];
    bool any_ignored = false;

    fprintf(out, "Options (also \"name = value\" in [%s]%s%s%s of --ini FILE, \"name: value\" under %s:%s%s%s in --yaml FILE):\n",
            sec->name, sec->alias ? " / [" : "", sec->alias ? sec->alias : "", sec->alias ? "]" : "", sec->name,
            sec->alias ? " / " : "", sec->alias ? sec->alias : "", sec->alias ? ":" : "");
    bool any_refused = false;
    for (size_t i = 0; i < sec->ndefs; i++) {
        if (sec->defs[i].flags & MT_OPT_IGNORED)
            any_ignored = true;
        else if (sec->defs[i].flags & MT_OPT_REFUSED)
            any_refused = true;
        else if (!sec->defs[i].alias_of)
            print_help_line(sec, &sec->defs[i], NULL, out);
    }
    fprintf(out, "  %-28s %s\n", "--help, -h", "show this help and exit");
    fprintf(out, "  %-28s %s\n", "--version", "show the version and exit");
    if (any_ignored) {
        const char *sep = "";
        fprintf(out, "Accepted for uWSGI compatibility, with a notice saying what happens instead:");
        for (size_t i = 0; i < sec->ndefs; i++) {
            if (!(sec->defs[i].flags & MT_OPT_IGNORED) || sec->defs[i].alias_of)
                continue;
            fprintf(out, "%s --%s", sep, sec->defs[i].name);
            sep = ",";
        }
        fputc('\n', out);
    }
    if (any_refused) {
        fprintf(out, "uWSGI options refused (each error says why; see docs/compatibility-uwsgi.md):");
        const char *sep = "";
        for (size_t i = 0; i < sec->ndefs; i++) {
            if (sec->defs[i].flags & MT_OPT_REFUSED) {
                fprintf(out, "%s --%s", sep, sec->defs[i].name);
                sep = ",";
            }
        }
        fputc('\n', out);
    }
    for (size_t k = 1; k < cfg->nsections; k++) {
        const mt__section_t *other = &cfg->sections[k];
        fprintf(out, "Options of the [%s] section (also --set %s.NAME=VALUE, [%s] in --ini, %s: in --yaml):\n",
                other->name, other->name, other->name, other->name);
        for (size_t i = 0; i < other->ndefs; i++)
            if (!other->defs[i].alias_of && !(other->defs[i].flags & MT_OPT_IGNORED))
                print_help_line(other, &other->defs[i], other->name, out);
    }
}
