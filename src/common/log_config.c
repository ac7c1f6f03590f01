/*
 * log_config: reading the logging configuration of an INI file (Python's
 * logging.config.fileConfig sections) or of a YAML file (the `logging:`
 * mapping, dictConfig) into mt_log_conf_t; see log_config.h for both forms
 * and the checks.
 *
 * The two loaders share the checks of single values (levels, handler and
 * formatter classes, streams, modes, filename templates, format strings)
 * and the building of the structs; each walks its own file and names a
 * place in its own words: "[handler_console] level" for INI,
 * "logging.handlers.console.level" for YAML. Every error is one line,
 * "path:line: where: what", and the first one stops the load.
 *
 * INI: inih as packaged by Debian tells the handler neither the line nor
 * about sections without keys, so the file goes through our own reader, as
 * in stack/config_ini.c: it counts lines, refuses overlong ones and NUL
 * bytes, and spots section headers itself (following inih's rules for
 * comments and indented continuation lines), so an empty [logger_root]
 * still exists and a section's line is known. The logging sections are
 * collected first and read afterwards, formatters before the handlers that
 * name them before the loggers that name those. Sections that are not
 * listed in [loggers] / [handlers] / [formatters] keys are ignored, as
 * Python does; every other section belongs to someone else.
 *
 * YAML: parsed as stack/config_yaml.c does (UTF-8 pre-check, diagnostics
 * collected rather than printed, duplicate keys allowed because uWSGI
 * sections elsewhere in the file repeat them); inside `logging:` a
 * repeated key is an error.
 */
#include "common/log_config.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <libfyaml.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/log_format.h"
#include "common/mem.h"
#include "common/yaml.h"
#include "common/message.h"
#include "common/ini_reader.h"

#define MT__HANDLER_CLASSES "StreamHandler, FileHandler or WatchedFileHandler"
#define MT__LEVEL_NAMES "DEBUG, INFO, NOTICE, WARNING, ERROR, CRITICAL or NOTSET"

/* ------------------------------------------------------------------ */
/* Errors                                                              */
/* ------------------------------------------------------------------ */

typedef struct mt__err {
    const char *path;
    char *buf;
    size_t len;
} mt__err_t;

static int mt__fail(const mt__err_t *e, int line, const char *where, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* "path:line: where: what" (or without where) into the error buffer. Returns -1. */
static int mt__fail(const mt__err_t *e, int line, const char *where, const char *fmt, ...)
{
    char what[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (!e->buf || e->len == 0)
        return -1;
    if (where)
        snprintf(e->buf, e->len, "%s:%d: %s: %s", e->path, line, where, what);
    else
        snprintf(e->buf, e->len, "%s:%d: %s", e->path, line, what);
    return -1;
}


/* ------------------------------------------------------------------ */
/* Levels and values shared by both forms                              */
/* ------------------------------------------------------------------ */

static const struct {
    const char *name;
    mt_log_level_t level;
} mt__levels[] = {
    { "DEBUG", MT_LOG_DEBUG },  { "INFO", MT_LOG_INFO },     { "NOTICE", MT_LOG_NOTICE },
    { "WARNING", MT_LOG_WARN }, { "WARN", MT_LOG_WARN },     { "ERROR", MT_LOG_ERROR },
    { "CRITICAL", MT_LOG_ALERT }, { "ALERT", MT_LOG_ALERT }, { "FATAL", MT_LOG_ALERT },
};

int mt_log_conf_parse_level(const char *name, mt_log_level_t *level, bool *notset)
{
    if (notset)
        *notset = false;
    if (!name)
        return -1;
    if (strcasecmp(name, "NOTSET") == 0) {
        if (!notset)
            return -1;
        *notset = true;
        *level = (mt_log_level_t)-1;
        return 0;
    }
    for (size_t i = 0; i < sizeof mt__levels / sizeof mt__levels[0]; i++) {
        if (strcasecmp(name, mt__levels[i].name) == 0) {
            *level = mt__levels[i].level;
            return 0;
        }
    }
    return -1;
}

/* A level value: NOTSET leaves *has_level false. */
static int mt__check_level(const mt__err_t *e, int line, const char *where, const char *value, bool *has_level,
                           mt_log_level_t *level)
{
    bool notset;
    mt_log_level_t parsed;
    if (mt_log_conf_parse_level(value, &parsed, &notset) < 0)
        return mt__fail(e, line, where, "unknown level '%s' (expected " MT__LEVEL_NAMES ")", value);
    *has_level = !notset;
    *level = notset ? MT_LOG_DEBUG : parsed;
    return 0;
}

/* propagate and disable_existing_loggers: 0/1/true/false/yes/no, any case. */
static int mt__check_bool(const mt__err_t *e, int line, const char *where, const char *value, bool *out)
{
    static const char *const yes[] = { "1", "true", "yes" }, *const no[] = { "0", "false", "no" };
    for (size_t i = 0; i < 3; i++) {
        if (strcasecmp(value, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcasecmp(value, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return mt__fail(e, line, where, "'%s' is not a boolean (expected 0, 1, true, false, yes or no)", value);
}

/* StreamHandler, FileHandler, WatchedFileHandler, with or without a module prefix. */
static int mt__check_handler_class(const mt__err_t *e, int line, const char *where, const char *value,
                                   bool *is_file)
{
    static const char *const prefixes[] = { "logging.handlers.", "logging.", "handlers.", "" };
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++) {
        size_t n = strlen(prefixes[i]);
        if (strncmp(value, prefixes[i], n) != 0)
            continue;
        const char *bare = value + n;
        if (strcmp(bare, "StreamHandler") == 0) {
            *is_file = false;
            return 0;
        }
        if (strcmp(bare, "FileHandler") == 0 || strcmp(bare, "WatchedFileHandler") == 0) {
            *is_file = true;
            return 0;
        }
    }
    return mt__fail(e, line, where, "unknown handler class '%s' (expected " MT__HANDLER_CLASSES ")", value);
}

/* json / muleteer.JsonFormatter select JSON lines; logging.Formatter is the %-style default. */
static int mt__check_formatter_class(const mt__err_t *e, int line, const char *where, const char *value, bool *json)
{
    if (strcasecmp(value, "json") == 0 || strcmp(value, "muleteer.JsonFormatter") == 0) {
        *json = true;
        return 0;
    }
    if (strcmp(value, "logging.Formatter") == 0 || strcmp(value, "Formatter") == 0) {
        *json = false;
        return 0;
    }
    return mt__fail(e, line, where, "unknown formatter class '%s' (expected logging.Formatter or json)", value);
}

/* Logs are only ever appended to: a restart must not truncate them. */
static int mt__check_mode(const mt__err_t *e, int line, const char *where, const char *value)
{
    if (strcmp(value, "a") == 0)
        return 0;
    return mt__fail(e, line, where, "mode '%s' is not supported (only 'a': logs are appended to, never truncated)",
                    value);
}

/* {pool_name} {server_id} {server_name} {pid}, nothing else between braces, no stray brace. */
static int mt__check_template(const mt__err_t *e, int line, const char *where, const char *tmpl)
{
    static const char *const names[] = { "pool_name", "server_id", "server_name", "pid" };
    if (!*tmpl)
        return mt__fail(e, line, where, "empty file name template");
    for (size_t i = 0; tmpl[i]; i++) {
        if (tmpl[i] == '}')
            return mt__fail(e, line, where, "unbalanced '}' at offset %zu of '%s'", i, tmpl);
        if (tmpl[i] != '{')
            continue;
        const char *close = strpbrk(tmpl + i + 1, "{}");
        if (!close || *close == '{')
            return mt__fail(e, line, where, "unbalanced '{' at offset %zu of '%s'", i, tmpl);
        size_t n = (size_t)(close - (tmpl + i + 1));
        bool known = false;
        for (size_t k = 0; k < sizeof names / sizeof names[0] && !known; k++)
            known = strlen(names[k]) == n && memcmp(names[k], tmpl + i + 1, n) == 0;
        if (!known)
            return mt__fail(e, line, where,
                            "unknown placeholder '{%.*s}' (expected {pool_name}, {server_id}, {server_name} or {pid})",
                            (int)(n > 64 ? 64 : n), tmpl + i + 1);
        i = (size_t)(close - tmpl);
    }
    return 0;
}

/* Compile (and so check) a %-style format, as the log core will. */
static int mt__check_format(const mt__err_t *e, int line, const char *where, const char *format, const char *datefmt)
{
    char msg[512] = "bad format";
    mt_log_format_t *compiled = mt_log_format_compile(format, datefmt, msg, sizeof msg);
    if (!compiled)
        return mt__fail(e, line, where, "%s", msg);
    mt_log_format_free(compiled);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Building the structs                                                */
/* ------------------------------------------------------------------ */

static mt_log_formatter_conf_t *mt__add_formatter(mt_log_conf_t *conf, const char *name, int line)
{
    conf->formatters = mt_realloc(conf->formatters, (conf->nformatters + 1) * sizeof *conf->formatters);
    mt_log_formatter_conf_t *f = &conf->formatters[conf->nformatters++];
    memset(f, 0, sizeof *f);
    f->name = mt_strdup(name);
    f->line = line;
    return f;
}

static mt_log_handler_conf_t *mt__add_handler(mt_log_conf_t *conf, const char *name, int line)
{
    conf->handlers = mt_realloc(conf->handlers, (conf->nhandlers + 1) * sizeof *conf->handlers);
    mt_log_handler_conf_t *h = &conf->handlers[conf->nhandlers++];
    memset(h, 0, sizeof *h);
    h->name = mt_strdup(name);
    h->target = MT_LOG_TO_STDERR;
    h->line = line;
    return h;
}

static mt_log_logger_conf_t *mt__add_logger(mt_log_conf_t *conf, const char *name, int line)
{
    conf->loggers = mt_realloc(conf->loggers, (conf->nloggers + 1) * sizeof *conf->loggers);
    mt_log_logger_conf_t *l = &conf->loggers[conf->nloggers++];
    memset(l, 0, sizeof *l);
    l->name = mt_strdup(name);
    l->propagate = true;
    l->line = line;
    return l;
}

static const mt_log_formatter_conf_t *mt__find_formatter(const mt_log_conf_t *conf, const char *name)
{
    for (size_t i = 0; i < conf->nformatters; i++)
        if (strcmp(conf->formatters[i].name, name) == 0)
            return &conf->formatters[i];
    return NULL;
}

static const mt_log_handler_conf_t *mt__find_handler(const mt_log_conf_t *conf, const char *name)
{
    for (size_t i = 0; i < conf->nhandlers; i++)
        if (strcmp(conf->handlers[i].name, name) == 0)
            return &conf->handlers[i];
    return NULL;
}

static const mt_log_logger_conf_t *mt__find_logger(const mt_log_conf_t *conf, const char *name)
{
    for (size_t i = 0; i < conf->nloggers; i++)
        if (strcmp(conf->loggers[i].name, name) == 0)
            return &conf->loggers[i];
    return NULL;
}

/* Append handler `name` to logger l, refusing duplicates and handlers not defined (yet). */
static int mt__logger_add_handler(const mt__err_t *e, int line, const char *where, const mt_log_conf_t *conf,
                                  mt_log_logger_conf_t *l, const char *name, const char *defined_in)
{
    if (!*name)
        return mt__fail(e, line, where, "empty handler name in the list");
    if (!mt__find_handler(conf, name))
        return mt__fail(e, line, where, "no handler '%s' (it is not defined in %s)", name, defined_in);
    for (size_t i = 0; i < l->nhandlers; i++)
        if (strcmp(l->handlers[i], name) == 0)
            return mt__fail(e, line, where, "handler '%s' listed twice", name);
    l->handlers = mt_realloc(l->handlers, (l->nhandlers + 1) * sizeof *l->handlers);
    l->handlers[l->nhandlers++] = mt_strdup(name);
    return 0;
}

void mt_log_conf_free(mt_log_conf_t *conf)
{
    if (!conf)
        return;
    for (size_t i = 0; i < conf->nformatters; i++) {
        free(conf->formatters[i].name);
        free(conf->formatters[i].format);
        free(conf->formatters[i].datefmt);
    }
    for (size_t i = 0; i < conf->nhandlers; i++) {
        free(conf->handlers[i].name);
        free(conf->handlers[i].filename);
        free(conf->handlers[i].filename_template);
        free(conf->handlers[i].formatter);
    }
    for (size_t i = 0; i < conf->nloggers; i++) {
        free(conf->loggers[i].name);
        for (size_t k = 0; k < conf->loggers[i].nhandlers; k++)
            free(conf->loggers[i].handlers[k]);
        free(conf->loggers[i].handlers);
    }
    free(conf->formatters);
    free(conf->handlers);
    free(conf->loggers);
    free(conf->path);
    memset(conf, 0, sizeof *conf);
}

/* ------------------------------------------------------------------ */
/* INI: collecting the logging sections                                */
/* ------------------------------------------------------------------ */

typedef struct mt__ini_entry {
    char *key;   /* lower-cased, as Python's configparser does */
    char *value; /* continuation lines joined with '\n', as configparser does */
    int line;
} mt__ini_entry_t;

typedef struct mt__ini_section {
    char *name;
    int line; /* of its [header] */
    mt__ini_entry_t *entries;
    size_t nentries;
} mt__ini_section_t;

typedef struct mt__ini_ctx {
    mt__err_t e;
    FILE *fp;
    int line;              /* lines handed to inih so far: the current one */
    bool line_indented;    /* the current line starts with blanks */
    bool key_since_header; /* inih's prev_name: an indented line now continues the last value */
    mt__ini_section_t *sections; /* the logging sections only */
    size_t nsections;
    long current;          /* index in sections of the one being read, -1 in another section */
    bool failed;           /* e.buf is filled; stop */
} mt__ini_ctx_t;

static bool mt__is_logging_section(const char *name)
{
    return strcmp(name, "loggers") == 0 || strcmp(name, "handlers") == 0 || strcmp(name, "formatters") == 0 ||
           strncmp(name, "logger_", 7) == 0 || strncmp(name, "handler_", 8) == 0 ||
           strncmp(name, "formatter_", 10) == 0;
}

static mt__ini_section_t *mt__ini_section(const mt__ini_ctx_t *ctx, const char *name)
{
    for (size_t i = 0; i < ctx->nsections; i++)
        if (strcmp(ctx->sections[i].name, name) == 0)
            return &ctx->sections[i];
    return NULL;
}

/*
 * Follow inih's reading of one line to know the current section: blank
 * lines and comments change nothing, an indented line after a key
 * continues its value, and only then is "[name]" a section header.
 */
static void mt__ini_note_line(mt__ini_ctx_t *ctx, const char *text)
{
    const char *start = text;
    if (ctx->line == 1 && strncmp(start, "\xEF\xBB\xBF", 3) == 0)
        start += 3;
    const char *p = start;
    while (isspace((unsigned char)*p))
        p++;
    ctx->line_indented = p > start;
    if (*p == '\0' || *p == ';' || *p == '#')
        return;
    if ((ctx->line_indented && ctx->key_since_header) || *p != '[')
        return;
    const char *end = strchr(p + 1, ']');
    if (!end)
        return; /* inih reports it as a syntax error */
    ctx->key_since_header = false;
    char *name = mt_strndup(p + 1, (size_t)(end - p - 1));
    if (!mt__is_logging_section(name)) {
        ctx->current = -1;
        free(name);
        return;
    }
    const mt__ini_section_t *first = mt__ini_section(ctx, name);
    if (first) {
        char where[320];
        snprintf(where, sizeof where, "[%s]", name);
        mt__fail(&ctx->e, ctx->line, where, "section given twice (first on line %d)", first->line);
        ctx->failed = true;
        free(name);
        return;
    }
    ctx->sections = mt_realloc(ctx->sections, (ctx->nsections + 1) * sizeof *ctx->sections);
    ctx->sections[ctx->nsections] = (mt__ini_section_t){ .name = name, .line = ctx->line };
    ctx->current = (long)ctx->nsections++;
}

/* inih's reader: lines counted, NUL bytes and overlong lines refused (ini_reader.h), then noted. */
static char *mt__ini_reader_cb(char *str, int num, void *stream)
{
    mt__ini_ctx_t *ctx = stream;
    if (!mt_ini_read_line(str, num, ctx->fp, ctx->e.path, &ctx->line, &ctx->failed, ctx->e.buf, ctx->e.len))
        return NULL;
    mt__ini_note_line(ctx, str);
    return ctx->failed ? NULL : str;
}

static int mt__ini_handler_cb(void *user, const char *section, const char *name, const char *value)
{
    mt__ini_ctx_t *ctx = user;
    if (ctx->failed)
        return 0;
    bool continuation = ctx->line_indented && ctx->key_since_header;
    ctx->key_since_header = true;
    if (ctx->current < 0 || !name)
        return 1; /* another application's section */
    mt__ini_section_t *sec = &ctx->sections[ctx->current];
    if (!value)
        value = "";
    if (continuation && sec->nentries > 0) {
        mt__ini_entry_t *last = &sec->entries[sec->nentries - 1];
        char *joined = mt_asprintf("%s\n%s", last->value, value);
        free(last->value);
        last->value = joined;
        return 1;
    }
    char *key = mt_strdup(name);
    for (char *c = key; *c; c++)
        *c = (char)tolower((unsigned char)*c);
    for (size_t i = 0; i < sec->nentries; i++) {
        if (strcmp(sec->entries[i].key, key) == 0) {
            char where[320];
            snprintf(where, sizeof where, "[%s] %s", sec->name, key);
            mt__fail(&ctx->e, ctx->line, where, "given twice (first on line %d)", sec->entries[i].line);
            ctx->failed = true;
            free(key);
            return 0;
        }
    }
    sec->entries = mt_realloc(sec->entries, (sec->nentries + 1) * sizeof *sec->entries);
    sec->entries[sec->nentries++] = (mt__ini_entry_t){ .key = key, .value = mt_strdup(value), .line = ctx->line };
    return 1;
}

static void mt__ini_ctx_free(mt__ini_ctx_t *ctx)
{
    for (size_t i = 0; i < ctx->nsections; i++) {
        for (size_t k = 0; k < ctx->sections[i].nentries; k++) {
            free(ctx->sections[i].entries[k].key);
            free(ctx->sections[i].entries[k].value);
        }
        free(ctx->sections[i].entries);
        free(ctx->sections[i].name);
    }
    free(ctx->sections);
}

/* ------------------------------------------------------------------ */
/* INI: reading the collected sections                                 */
/* ------------------------------------------------------------------ */

/* "[section] key", or "[section]" for a NULL key. */
static const char *mt__ini_where(char *buf, size_t len, const mt__ini_section_t *sec, const char *key)
{
    if (key)
        snprintf(buf, len, "[%s] %s", sec->name, key);
    else
        snprintf(buf, len, "[%s]", sec->name);
    return buf;
}

/* Every key of sec must be one of `allowed` (NULL-terminated). */
static int mt__ini_check_keys(const mt__err_t *e, const mt__ini_section_t *sec, const char *const *allowed,
                              const char *expected)
{
    for (size_t i = 0; i < sec->nentries; i++) {
        bool known = false;
        for (size_t k = 0; allowed[k] && !known; k++)
            known = strcmp(sec->entries[i].key, allowed[k]) == 0;
        if (!known) {
            char where[320];
            return mt__fail(e, sec->entries[i].line, mt__ini_where(where, sizeof where, sec, NULL),
                            "unknown key '%s' (expected %s)", sec->entries[i].key, expected);
        }
    }
    return 0;
}

static const mt__ini_entry_t *mt__ini_get(const mt__ini_section_t *sec, const char *key)
{
    for (size_t i = 0; i < sec->nentries; i++)
        if (strcmp(sec->entries[i].key, key) == 0)
            return &sec->entries[i];
    return NULL;
}

/* A single-line value: *entry is NULL when the key is absent. */
static int mt__ini_scalar(const mt__err_t *e, const mt__ini_section_t *sec, const char *key,
                          const mt__ini_entry_t **entry)
{
    *entry = mt__ini_get(sec, key);
    if (*entry && strchr((*entry)->value, '\n')) {
        char where[320];
        return mt__fail(e, (*entry)->line, mt__ini_where(where, sizeof where, sec, key),
                        "the value continues on an indented line, which is not supported here");
    }
    return 0;
}

typedef struct mt__names {
    char **items;
    size_t count;
} mt__names_t;

static void mt__names_free(mt__names_t *names)
{
    for (size_t i = 0; i < names->count; i++)
        free(names->items[i]);
    free(names->items);
    names->items = NULL;
    names->count = 0;
}

/* Split "a, b" (possibly over several lines) as fileConfig does; a blank value is an empty list. */
static void mt__split_names(const char *value, mt__names_t *out)
{
    out->items = NULL;
    out->count = 0;
    const char *p = value;
    while (isspace((unsigned char)*p))
        p++;
    if (!*p)
        return;
    for (;;) {
        const char *comma = strchr(p, ',');
        const char *end = comma ? comma : p + strlen(p);
        const char *b = p, *z = end;
        while (b < z && isspace((unsigned char)*b))
            b++;
        while (z > b && isspace((unsigned char)z[-1]))
            z--;
        out->items = mt_realloc(out->items, (out->count + 1) * sizeof *out->items);
        out->items[out->count++] = mt_strndup(b, (size_t)(z - b));
        if (!comma)
            break;
        p = comma + 1;
    }
}

/*
 * The names listed by [list] keys, each checked to have its [prefixNAME]
 * section: in *names (empty when the section or its key is absent).
 */
static int mt__ini_list(const mt__ini_ctx_t *ctx, const char *list, const char *prefix, mt__names_t *names)
{
    names->items = NULL;
    names->count = 0;
    const mt__ini_section_t *sec = mt__ini_section(ctx, list);
    if (!sec)
        return 0;
    static const char *const allowed[] = { "keys", NULL };
    if (mt__ini_check_keys(&ctx->e, sec, allowed, "keys") < 0)
        return -1;
    const mt__ini_entry_t *keys = mt__ini_get(sec, "keys");
    if (!keys)
        return 0;
    char where[320];
    mt__ini_where(where, sizeof where, sec, "keys");
    mt__split_names(keys->value, names);
    for (size_t i = 0; i < names->count; i++) {
        if (!names->items[i][0])
            return mt__fail(&ctx->e, keys->line, where, "empty name in the list");
        for (size_t k = 0; k < i; k++)
            if (strcmp(names->items[k], names->items[i]) == 0)
                return mt__fail(&ctx->e, keys->line, where, "'%s' listed twice", names->items[i]);
        char *section = mt_asprintf("%s%s", prefix, names->items[i]);
        bool found = mt__ini_section(ctx, section) != NULL;
        free(section);
        if (!found)
            return mt__fail(&ctx->e, keys->line, where, "no section [%s%s] for '%s'", prefix, names->items[i],
                            names->items[i]);
    }
    return 0;
}

static int mt__ini_formatter(const mt__ini_ctx_t *ctx, mt_log_conf_t *conf, const char *name,
                             const mt__ini_section_t *sec)
{
    static const char *const allowed[] = { "format", "datefmt", "class", NULL };
    const mt__err_t *e = &ctx->e;
    char where[320];
    const mt__ini_entry_t *format, *datefmt, *cls;
    if (mt__ini_check_keys(e, sec, allowed, "format, datefmt, class") < 0 ||
        mt__ini_scalar(e, sec, "format", &format) < 0 || mt__ini_scalar(e, sec, "datefmt", &datefmt) < 0 ||
        mt__ini_scalar(e, sec, "class", &cls) < 0)
        return -1;

    mt_log_formatter_conf_t *f = mt__add_formatter(conf, name, sec->line);
    if (cls && mt__check_formatter_class(e, cls->line, mt__ini_where(where, sizeof where, sec, "class"), cls->value,
                                         &f->json) < 0)
        return -1;
    /* Empty is Python's default in both cases ("fmt or default"). */
    if (format && format->value[0])
        f->format = mt_strdup(format->value);
    if (datefmt && datefmt->value[0])
        f->datefmt = mt_strdup(datefmt->value);
    if (!f->json && f->format &&
        mt__check_format(e, format->line, mt__ini_where(where, sizeof where, sec, "format"), f->format, f->datefmt) < 0)
        return -1;
    return 0;
}

/* One item of a Python tuple literal as fileConfig's args hold: a quoted string or a dotted name. */
typedef struct mt__py_item {
    bool quoted;
    char *text;
} mt__py_item_t;

/*
 * Parse "(a,)", "('x', 'y')", "()" into at most two items. Strings are in
 * single or double quotes, without escapes; a single item needs its
 * trailing comma, as in Python. Returns the item count, or -1.
 */
static const char *mt__skip_space(const char *p)
{
    while (isspace((unsigned char)*p))
        p++;
    return p;
}

static int mt__parse_py_tuple(const char *text, mt__py_item_t items[2])
{
    const char *p = mt__skip_space(text);
    int count = 0;
    bool trailing_comma = false;
    if (*p++ != '(')
        return -1;
    p = mt__skip_space(p);
    while (*p != ')') {
        if (count == 2)
            goto error;
        const char *start;
        size_t len;
        if (*p == '\'' || *p == '"') {
            char quote = *p++;
            start = p;
            while (*p && *p != quote && *p != '\\' && *p != '\n')
                p++;
            if (*p != quote)
                goto error;
            len = (size_t)(p++ - start);
            items[count].quoted = true;
        } else if (isalpha((unsigned char)*p) || *p == '_') {
            start = p;
            while (isalnum((unsigned char)*p) || *p == '_' || *p == '.')
                p++;
            len = (size_t)(p - start);
            items[count].quoted = false;
        } else {
            goto error;
        }
        items[count++].text = mt_strndup(start, len);
        p = mt__skip_space(p);
        trailing_comma = *p == ',';
        if (trailing_comma) {
            p++;
            p = mt__skip_space(p);
        } else if (*p != ')') {
            goto error;
        }
    }
    p = mt__skip_space(p + 1);
    if (*p || (count == 1 && !trailing_comma))
        goto error;
    return count;

error:
    for (int i = 0; i < count; i++)
        free(items[i].text);
    return -1;
}

/* args = (...): the stream or the file (and mode) of handler h. */
static int mt__ini_handler_args(const mt__err_t *e, const mt__ini_section_t *sec, const mt__ini_entry_t *args,
                                bool is_file, const char *cls, mt_log_handler_conf_t *h)
{
    char where[320];
    mt__ini_where(where, sizeof where, sec, "args");
    mt__py_item_t items[2];
    int count = mt__parse_py_tuple(args->value, items);
    if (count < 0)
        return mt__fail(e, args->line, where,
                        "cannot read '%s' (expected (sys.stderr,), (sys.stdout,), ('file',) or ('file', 'a'))",
                        args->value);
    int rc = 0;
    if (count == 1 && !items[0].quoted) {
        if (strcmp(items[0].text, "sys.stderr") != 0 && strcmp(items[0].text, "sys.stdout") != 0)
            rc = mt__fail(e, args->line, where, "unknown stream '%s' (expected sys.stderr or sys.stdout)",
                          items[0].text);
        else if (is_file)
            rc = mt__fail(e, args->line, where, "a %s writes to a file: args = ('file',), not %s", cls,
                          items[0].text);
        else
            h->target = strcmp(items[0].text, "sys.stdout") == 0 ? MT_LOG_TO_STDOUT : MT_LOG_TO_STDERR;
    } else if (count >= 1) {
        if (!items[0].quoted || (count == 2 && !items[1].quoted))
            rc = mt__fail(e, args->line, where,
                          "cannot read '%s' (expected (sys.stderr,), (sys.stdout,), ('file',) or ('file', 'a'))",
                          args->value);
        else if (!is_file)
            rc = mt__fail(e, args->line, where,
                          "a %s writes to sys.stderr or sys.stdout, not to a file (class = FileHandler does)", cls);
        else if (!items[0].text[0])
            rc = mt__fail(e, args->line, where, "empty file name");
        else if (count == 2 && mt__check_mode(e, args->line, where, items[1].text) < 0)
            rc = -1;
        else
            h->filename = mt_strdup(items[0].text);
    }
    for (int i = 0; i < count; i++)
        free(items[i].text);
    return rc;
}

static int mt__ini_handler(const mt__ini_ctx_t *ctx, mt_log_conf_t *conf, const char *name,
                           const mt__ini_section_t *sec)
{
    static const char *const allowed[] = { "class", "args", "level", "formatter", "filename", "filename_template",
                                           NULL };
    const mt__err_t *e = &ctx->e;
    char where[320];
    const mt__ini_entry_t *cls, *level, *formatter, *filename, *tmpl;
    const mt__ini_entry_t *args = mt__ini_get(sec, "args"); /* a tuple may span lines */
    if (mt__ini_check_keys(e, sec, allowed, "class, args, level, formatter, filename, filename_template") < 0 ||
        mt__ini_scalar(e, sec, "class", &cls) < 0 || mt__ini_scalar(e, sec, "level", &level) < 0 ||
        mt__ini_scalar(e, sec, "formatter", &formatter) < 0 || mt__ini_scalar(e, sec, "filename", &filename) < 0 ||
        mt__ini_scalar(e, sec, "filename_template", &tmpl) < 0)
        return -1;

    if (!cls)
        return mt__fail(e, sec->line, mt__ini_where(where, sizeof where, sec, NULL),
                        "no class (expected " MT__HANDLER_CLASSES ")");
    bool is_file;
    if (mt__check_handler_class(e, cls->line, mt__ini_where(where, sizeof where, sec, "class"), cls->value,
                                &is_file) < 0)
        return -1;
    mt_log_handler_conf_t *h = mt__add_handler(conf, name, sec->line);
    if (is_file)
        h->target = MT_LOG_TO_FILE;

    if (args && mt__ini_handler_args(e, sec, args, is_file, cls->value, h) < 0)
        return -1;
    if (filename) {
        mt__ini_where(where, sizeof where, sec, "filename");
        if (!is_file)
            return mt__fail(e, filename->line, where, "only for FileHandler or WatchedFileHandler");
        if (h->filename)
            return mt__fail(e, filename->line, where, "the file is already given by args (line %d)", args->line);
        if (!filename->value[0])
            return mt__fail(e, filename->line, where, "empty file name");
        h->filename = mt_strdup(filename->value);
    }
    if (tmpl) {
        mt__ini_where(where, sizeof where, sec, "filename_template");
        if (!is_file)
            return mt__fail(e, tmpl->line, where, "only for FileHandler or WatchedFileHandler");
        if (mt__check_template(e, tmpl->line, where, tmpl->value) < 0)
            return -1;
        h->filename_template = mt_strdup(tmpl->value);
    }
    if (is_file && !h->filename)
        return mt__fail(e, sec->line, mt__ini_where(where, sizeof where, sec, NULL),
                        "a %s needs a file: args = ('file',) or filename = file", cls->value);

    if (level && mt__check_level(e, level->line, mt__ini_where(where, sizeof where, sec, "level"), level->value,
                                 &h->has_level, &h->level) < 0)
        return -1;
    /* An empty formatter is Python's "no formatter": the default format. */
    if (formatter && formatter->value[0]) {
        if (!mt__find_formatter(conf, formatter->value))
            return mt__fail(e, formatter->line, mt__ini_where(where, sizeof where, sec, "formatter"),
                            "no formatter '%s' (it is not listed in [formatters] keys)", formatter->value);
        h->formatter = mt_strdup(formatter->value);
    }
    return 0;
}

static int mt__ini_logger(const mt__ini_ctx_t *ctx, mt_log_conf_t *conf, const char *key,
                          const mt__ini_section_t *sec)
{
    static const char *const allowed[] = { "level", "handlers", "qualname", "propagate", NULL };
    const mt__err_t *e = &ctx->e;
    char where[320];
    const mt__ini_entry_t *level, *qualname, *propagate;
    const mt__ini_entry_t *handlers = mt__ini_get(sec, "handlers"); /* a list may span lines */
    if (mt__ini_check_keys(e, sec, allowed, "level, handlers, qualname, propagate") < 0 ||
        mt__ini_scalar(e, sec, "level", &level) < 0 || mt__ini_scalar(e, sec, "qualname", &qualname) < 0 ||
        mt__ini_scalar(e, sec, "propagate", &propagate) < 0)
        return -1;

    /* The root logger's qualname is ignored, as by Python; every other logger is named by it. */
    const char *name = "root";
    if (strcmp(key, "root") != 0) {
        mt__ini_where(where, sizeof where, sec, "qualname");
        if (!qualname)
            return mt__fail(e, sec->line, mt__ini_where(where, sizeof where, sec, NULL),
                            "no qualname (the logger's dotted name, which Python's fileConfig requires)");
        if (!qualname->value[0])
            return mt__fail(e, qualname->line, where, "empty logger name");
        if (strcmp(qualname->value, "root") == 0)
            return mt__fail(e, qualname->line, where, "'root' is the root logger: configure it in [logger_root]");
        name = qualname->value;
        const mt_log_logger_conf_t *other = mt__find_logger(conf, name);
        if (other)
            return mt__fail(e, qualname->line, where, "logger '%s' is already configured on line %d", name,
                            other->line);
    }

    mt_log_logger_conf_t *l = mt__add_logger(conf, name, sec->line);
    if (level && mt__check_level(e, level->line, mt__ini_where(where, sizeof where, sec, "level"), level->value,
                                 &l->has_level, &l->level) < 0)
        return -1;
    if (propagate && mt__check_bool(e, propagate->line, mt__ini_where(where, sizeof where, sec, "propagate"),
                                    propagate->value, &l->propagate) < 0)
        return -1;
    if (handlers) {
        mt__ini_where(where, sizeof where, sec, "handlers");
        mt__names_t names;
        mt__split_names(handlers->value, &names);
        int rc = 0;
        for (size_t i = 0; i < names.count && rc == 0; i++)
            rc = mt__logger_add_handler(e, handlers->line, where, conf, l, names.items[i], "[handlers] keys");
        mt__names_free(&names);
        if (rc < 0)
            return -1;
    }
    return 0;
}

/* Formatters, then the handlers naming them, then the loggers naming those. */
static int mt__ini_build(const mt__ini_ctx_t *ctx, mt_log_conf_t *conf)
{
    static const struct {
        const char *list;
        const char *prefix;
        int (*read)(const mt__ini_ctx_t *, mt_log_conf_t *, const char *, const mt__ini_section_t *);
    } kinds[] = {
        { "formatters", "formatter_", mt__ini_formatter },
        { "handlers", "handler_", mt__ini_handler },
        { "loggers", "logger_", mt__ini_logger },
    };
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        conf->present = conf->present || mt__ini_section(ctx, kinds[i].list) != NULL;
    if (!conf->present)
        return 0;

    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        mt__names_t names;
        int rc = mt__ini_list(ctx, kinds[i].list, kinds[i].prefix, &names);
        for (size_t k = 0; k < names.count && rc == 0; k++) {
            char *section = mt_asprintf("%s%s", kinds[i].prefix, names.items[k]);
            rc = kinds[i].read(ctx, conf, names.items[k], mt__ini_section(ctx, section));
            free(section);
        }
        mt__names_free(&names);
        if (rc < 0)
            return -1;
    }
    return 0;
}

int mt_log_conf_load_ini(const char *path, mt_log_conf_t *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    FILE *fp = fopen(path, "r");
    if (!fp) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    mt__ini_ctx_t ctx = { .e = { path, err, errlen }, .fp = fp, .current = -1 };
    int parsed = ini_parse_stream(mt__ini_reader_cb, &ctx, mt__ini_handler_cb, &ctx);
    bool read_error = ferror(fp);
    fclose(fp);

    int rc = -1;
    if (ctx.failed)
        goto out;
    if (read_error) {
        snprintf(err, errlen, "%s: read error", path);
        goto out;
    }
    if (parsed > 0) {
        mt__fail(&ctx.e, parsed, NULL, "syntax error (expected [section] or name = value)");
        goto out;
    }
    if (parsed < 0) {
        snprintf(err, errlen, "%s: cannot parse (inih error %d)", path, parsed);
        goto out;
    }
    rc = mt__ini_build(&ctx, out);
    if (rc == 0)
        out->path = mt_strdup(path);

out:
    mt__ini_ctx_free(&ctx);
    if (rc < 0) {
        mt_log_conf_free(out);
        mt_message_one_line(err, errlen);
    }
    return rc;
}

/* ------------------------------------------------------------------ */
/* YAML                                                                */
/* ------------------------------------------------------------------ */

static bool mt__yaml_is_scalar(struct fy_node *node)
{
    return node && fy_node_get_type(node) == FYNT_SCALAR;
}

/* The text of a scalar node as a new string. */
static char *mt__yaml_dup(struct fy_node *node)
{
    size_t len;
    const char *text = fy_node_get_scalar(node, &len);
    return mt_strndup(text ? text : "", text ? len : 0);
}

/* One key of a mapping whose keys are known in advance. */
typedef struct mt__yaml_field {
    const char *name;
    struct fy_node *value; /* aliases followed */
    int line;              /* of the key */
    bool seen;
} mt__yaml_field_t;

/* Key of one pair, checked to be a plain name: a new string, or NULL with the error set. */
static char *mt__yaml_key(const mt__err_t *e, struct fy_node_pair *pair, int line, const char *where)
{
    struct fy_node *knode = fy_node_pair_key(pair);
    if (!mt__yaml_is_scalar(knode) || mt_yaml_is_null(knode)) {
        mt__fail(e, line, where, "keys must be plain names");
        return NULL;
    }
    return mt__yaml_dup(knode);
}

/*
 * Walk mapping `map` (at `where`, starting on `line`), filling the fields
 * (NULL-name-terminated) it names; an unknown or repeated key is an error.
 * A null map is an empty one.
 */
static int mt__yaml_fields(const mt__err_t *e, struct fy_node *map, int line, const char *where,
                           mt__yaml_field_t *fields, const char *expected)
{
    if (mt_yaml_is_null(map))
        return 0;
    if (fy_node_get_type(map) != FYNT_MAPPING)
        return mt__fail(e, mt_yaml_node_line(map, line), where, "expected a mapping (%s)", expected);
    void *iter = NULL;
    struct fy_node_pair *pair;
    while ((pair = fy_node_mapping_iterate(map, &iter))) {
        int kline = mt_yaml_node_line(fy_node_pair_key(pair), line);
        char *key = mt__yaml_key(e, pair, kline, where);
        if (!key)
            return -1;
        mt__yaml_field_t *field = NULL;
        for (size_t i = 0; fields[i].name && !field; i++)
            if (strcmp(fields[i].name, key) == 0)
                field = &fields[i];
        int rc = 0;
        bool broken = false;
        if (!field)
            rc = mt__fail(e, kline, where, "unknown key '%s' (expected %s)", key, expected);
        else if (field->seen)
            rc = mt__fail(e, kline, where, "'%s' given twice (first on line %d)", key, field->line);
        if (rc == 0) {
            field->value = mt_yaml_deref(fy_node_pair_value(pair), &broken);
            if (broken)
                rc = mt__fail(e, kline, where, "'%s': unresolvable alias", key);
        }
        free(key);
        if (rc < 0)
            return -1;
        field->seen = true;
        field->line = kline;
    }
    return 0;
}

static mt__yaml_field_t *mt__yaml_field(mt__yaml_field_t *fields, const char *name)
{
    for (size_t i = 0; fields[i].name; i++)
        if (strcmp(fields[i].name, name) == 0)
            return &fields[i];
    return NULL;
}

/*
 * The single value of field `name` as a new string in *out; NULL when the
 * key is absent or null. `prefix` is the mapping's where.
 */
static int mt__yaml_text(const mt__err_t *e, mt__yaml_field_t *fields, const char *name, const char *prefix,
                         char **out)
{
    mt__yaml_field_t *field = mt__yaml_field(fields, name);
    *out = NULL;
    if (!field->seen || mt_yaml_is_null(field->value))
        return 0;
    if (!mt__yaml_is_scalar(field->value)) {
        char where[320];
        snprintf(where, sizeof where, "%s.%s", prefix, name);
        return mt__fail(e, field->line, where, "expected a single value");
    }
    *out = mt__yaml_dup(field->value);
    return 0;
}

/* "prefix.name" into buf. */
static const char *mt__yaml_where(char *buf, size_t len, const char *prefix, const char *name)
{
    snprintf(buf, len, "%s.%s", prefix, name);
    return buf;
}

typedef int (*mt__yaml_item_fn)(const mt__err_t *e, mt_log_conf_t *conf, const char *name, struct fy_node *map,
                                int line, const char *where);

/* A mapping of name: {...} (loggers, handlers, formatters): fn for each, in order. */
static int mt__yaml_named(const mt__err_t *e, mt_log_conf_t *conf, struct fy_node *map, int line,
                          const char *where, mt__yaml_item_fn fn)
{
    if (mt_yaml_is_null(map))
        return 0;
    if (fy_node_get_type(map) != FYNT_MAPPING)
        return mt__fail(e, mt_yaml_node_line(map, line), where, "expected a mapping of name: {...}");
    /* Names seen so far, to refuse a repeated one (the document allows duplicate keys). */
    mt__names_t seen = { NULL, 0 };
    int *seen_lines = NULL;
    void *iter = NULL;
    struct fy_node_pair *pair;
    int rc = 0;
    while (rc == 0 && (pair = fy_node_mapping_iterate(map, &iter))) {
        int kline = mt_yaml_node_line(fy_node_pair_key(pair), line);
        char *name = mt__yaml_key(e, pair, kline, where);
        if (!name) {
            rc = -1;
            break;
        }
        for (size_t i = 0; i < seen.count && rc == 0; i++)
            if (strcmp(seen.items[i], name) == 0)
                rc = mt__fail(e, kline, where, "'%s' given twice (first on line %d)", name, seen_lines[i]);
        bool broken;
        struct fy_node *value = mt_yaml_deref(fy_node_pair_value(pair), &broken);
        char item_where[320];
        mt__yaml_where(item_where, sizeof item_where, where, name);
        if (rc == 0 && !name[0])
            rc = mt__fail(e, kline, where, "empty name");
        if (rc == 0 && broken)
            rc = mt__fail(e, kline, item_where, "unresolvable alias");
        if (rc == 0 && (mt_yaml_is_null(value) || fy_node_get_type(value) != FYNT_MAPPING))
            rc = mt__fail(e, mt_yaml_node_line(value, kline), item_where, "expected a mapping");
        if (rc == 0)
            rc = fn(e, conf, name, value, kline, item_where);
        seen.items = mt_realloc(seen.items, (seen.count + 1) * sizeof *seen.items);
        seen_lines = mt_realloc(seen_lines, (seen.count + 1) * sizeof *seen_lines);
        seen_lines[seen.count] = kline;
        seen.items[seen.count++] = name;
    }
    mt__names_free(&seen);
    free(seen_lines);
    return rc;
}

static int mt__yaml_formatter(const mt__err_t *e, mt_log_conf_t *conf, const char *name, struct fy_node *map,
                              int line, const char *where)
{
    mt__yaml_field_t fields[] = { { .name = "format" }, { .name = "datefmt" }, { .name = "class" }, { NULL } };
    if (mt__yaml_fields(e, map, line, where, fields, "format, datefmt, class") < 0)
        return -1;
    mt_log_formatter_conf_t *f = mt__add_formatter(conf, name, line);
    char *cls = NULL, buf[320];
    int rc = -1;
    if (mt__yaml_text(e, fields, "format", where, &f->format) < 0 ||
        mt__yaml_text(e, fields, "datefmt", where, &f->datefmt) < 0 ||
        mt__yaml_text(e, fields, "class", where, &cls) < 0)
        goto out;
    /* Empty is Python's default in both cases ("fmt or default"). */
    if (f->format && !f->format[0]) {
        free(f->format);
        f->format = NULL;
    }
    if (f->datefmt && !f->datefmt[0]) {
        free(f->datefmt);
        f->datefmt = NULL;
    }
    if (cls && mt__check_formatter_class(e, mt__yaml_field(fields, "class")->line,
                                         mt__yaml_where(buf, sizeof buf, where, "class"), cls, &f->json) < 0)
        goto out;
    if (!f->json && f->format &&
        mt__check_format(e, mt__yaml_field(fields, "format")->line, mt__yaml_where(buf, sizeof buf, where, "format"),
                         f->format, f->datefmt) < 0)
        goto out;
    rc = 0;
out:
    free(cls);
    return rc;
}

static int mt__yaml_handler(const mt__err_t *e, mt_log_conf_t *conf, const char *name, struct fy_node *map,
                            int line, const char *where)
{
    mt__yaml_field_t fields[] = {
        { .name = "class" },    { .name = "level" },    { .name = "formatter" },         { .name = "stream" },
        { .name = "filename" }, { .name = "mode" },     { .name = "filename_template" }, { NULL },
    };
    if (mt__yaml_fields(e, map, line, where, fields,
                        "class, level, formatter, stream, filename, filename_template, mode") < 0)
        return -1;
    char *cls = NULL, *level = NULL, *formatter = NULL, *stream = NULL, *filename = NULL, *mode = NULL,
         *tmpl = NULL, buf[320];
    int rc = -1;
    if (mt__yaml_text(e, fields, "class", where, &cls) < 0 || mt__yaml_text(e, fields, "level", where, &level) < 0 ||
        mt__yaml_text(e, fields, "formatter", where, &formatter) < 0 ||
        mt__yaml_text(e, fields, "stream", where, &stream) < 0 ||
        mt__yaml_text(e, fields, "filename", where, &filename) < 0 ||
        mt__yaml_text(e, fields, "mode", where, &mode) < 0 ||
        mt__yaml_text(e, fields, "filename_template", where, &tmpl) < 0)
        goto out;

    bool is_file;
    if (!cls) {
        mt__fail(e, line, where, "no class (expected " MT__HANDLER_CLASSES ")");
        goto out;
    }
    if (mt__check_handler_class(e, mt__yaml_field(fields, "class")->line,
                                mt__yaml_where(buf, sizeof buf, where, "class"), cls, &is_file) < 0)
        goto out;
    mt_log_handler_conf_t *h = mt__add_handler(conf, name, line);

    if (stream) {
        int sline = mt__yaml_field(fields, "stream")->line;
        mt__yaml_where(buf, sizeof buf, where, "stream");
        if (is_file) {
            mt__fail(e, sline, buf, "only for StreamHandler (a %s writes to its filename)", cls);
            goto out;
        }
        if (strcmp(stream, "ext://sys.stderr") == 0)
            h->target = MT_LOG_TO_STDERR;
        else if (strcmp(stream, "ext://sys.stdout") == 0)
            h->target = MT_LOG_TO_STDOUT;
        else {
            mt__fail(e, sline, buf, "unknown stream '%s' (expected ext://sys.stderr or ext://sys.stdout)", stream);
            goto out;
        }
    }
    const char *file_only[] = { "filename", "mode", "filename_template" };
    for (size_t i = 0; i < sizeof file_only / sizeof file_only[0]; i++) {
        mt__yaml_field_t *field = mt__yaml_field(fields, file_only[i]);
        if (field->seen && !is_file) {
            mt__fail(e, field->line, mt__yaml_where(buf, sizeof buf, where, file_only[i]),
                     "only for FileHandler or WatchedFileHandler");
            goto out;
        }
    }
    if (is_file) {
        h->target = MT_LOG_TO_FILE;
        if (!filename) {
            mt__fail(e, line, where, "a %s needs a filename", cls);
            goto out;
        }
        if (!filename[0]) {
            mt__fail(e, mt__yaml_field(fields, "filename")->line, mt__yaml_where(buf, sizeof buf, where, "filename"),
                     "empty file name");
            goto out;
        }
        if (mode && mt__check_mode(e, mt__yaml_field(fields, "mode")->line,
                                   mt__yaml_where(buf, sizeof buf, where, "mode"), mode) < 0)
            goto out;
        if (tmpl && mt__check_template(e, mt__yaml_field(fields, "filename_template")->line,
                                       mt__yaml_where(buf, sizeof buf, where, "filename_template"), tmpl) < 0)
            goto out;
        h->filename = filename;
        h->filename_template = tmpl;
        filename = tmpl = NULL;
    }
    if (level && mt__check_level(e, mt__yaml_field(fields, "level")->line,
                                 mt__yaml_where(buf, sizeof buf, where, "level"), level, &h->has_level,
                                 &h->level) < 0)
        goto out;
    if (formatter && formatter[0]) {
        if (!mt__find_formatter(conf, formatter)) {
            mt__fail(e, mt__yaml_field(fields, "formatter")->line, mt__yaml_where(buf, sizeof buf, where, "formatter"),
                     "no formatter '%s' (it is not defined in logging.formatters)", formatter);
            goto out;
        }
        h->formatter = formatter;
        formatter = NULL;
    }
    rc = 0;
out:
    free(cls);
    free(level);
    free(formatter);
    free(stream);
    free(filename);
    free(mode);
    free(tmpl);
    return rc;
}

/* logging.root (is_root) or one of logging.loggers. */
static int mt__yaml_logger_conf(const mt__err_t *e, mt_log_conf_t *conf, const char *name, struct fy_node *map,
                                int line, const char *where, bool is_root)
{
    mt__yaml_field_t fields[] = {
        { .name = "level" }, { .name = "handlers" }, { .name = "propagate" }, { .name = "qualname" }, { NULL },
    };
    if (mt__yaml_fields(e, map, line, where, fields, "level, handlers, propagate, qualname") < 0)
        return -1;
    char *level = NULL, *propagate = NULL, *qualname = NULL, buf[320];
    int rc = -1;
    if (mt__yaml_text(e, fields, "level", where, &level) < 0 ||
        mt__yaml_text(e, fields, "propagate", where, &propagate) < 0 ||
        mt__yaml_text(e, fields, "qualname", where, &qualname) < 0)
        goto out;
    /* dictConfig names a logger by its key; a qualname (as the INI form has) must agree. */
    if (!is_root && qualname && strcmp(qualname, name) != 0) {
        mt__fail(e, mt__yaml_field(fields, "qualname")->line, mt__yaml_where(buf, sizeof buf, where, "qualname"),
                 "'%s' differs from the logger's name '%s'", qualname, name);
        goto out;
    }

    mt_log_logger_conf_t *l = mt__add_logger(conf, name, line);
    if (level && mt__check_level(e, mt__yaml_field(fields, "level")->line,
                                 mt__yaml_where(buf, sizeof buf, where, "level"), level, &l->has_level,
                                 &l->level) < 0)
        goto out;
    if (propagate && mt__check_bool(e, mt__yaml_field(fields, "propagate")->line,
                                    mt__yaml_where(buf, sizeof buf, where, "propagate"), propagate,
                                    &l->propagate) < 0)
        goto out;

    mt__yaml_field_t *handlers = mt__yaml_field(fields, "handlers");
    mt__yaml_where(buf, sizeof buf, where, "handlers");
    if (handlers->seen && !mt_yaml_is_null(handlers->value)) {
        if (fy_node_get_type(handlers->value) != FYNT_SEQUENCE) {
            mt__fail(e, handlers->line, buf, "expected a list of handler names ([console, files])");
            goto out;
        }
        void *iter = NULL;
        struct fy_node *item;
        while ((item = fy_node_sequence_iterate(handlers->value, &iter))) {
            int iline = mt_yaml_node_line(item, handlers->line);
            bool broken;
            item = mt_yaml_deref(item, &broken);
            if (broken) {
                mt__fail(e, iline, buf, "unresolvable alias");
                goto out;
            }
            if (!mt__yaml_is_scalar(item) || mt_yaml_is_null(item)) {
                mt__fail(e, iline, buf, "each item must be a handler name");
                goto out;
            }
            char *hname = mt__yaml_dup(item);
            int added = mt__logger_add_handler(e, iline, buf, conf, l, hname, "logging.handlers");
            free(hname);
            if (added < 0)
                goto out;
        }
    }
    rc = 0;
out:
    free(level);
    free(propagate);
    free(qualname);
    return rc;
}

/* One of logging.loggers: any name but the root's. */
static int mt__yaml_logger(const mt__err_t *e, mt_log_conf_t *conf, const char *name, struct fy_node *map,
                           int line, const char *where)
{
    if (strcmp(name, "root") == 0)
        return mt__fail(e, line, where, "configure the root logger under logging.root");
    return mt__yaml_logger_conf(e, conf, name, map, line, where, false);
}

/* The `logging:` mapping, whose key is on `line`. */
static int mt__yaml_logging(const mt__err_t *e, mt_log_conf_t *conf, struct fy_node *map, int line)
{
    mt__yaml_field_t fields[] = {
        { .name = "version" },  { .name = "disable_existing_loggers" },
        { .name = "formatters" }, { .name = "handlers" },
        { .name = "root" },     { .name = "loggers" },
        { NULL },
    };
    if (mt__yaml_fields(e, map, line, "logging", fields,
                        "version, root, loggers, handlers, formatters, disable_existing_loggers") < 0)
        return -1;
    conf->present = true;

    char *text = NULL;
    mt__yaml_field_t *version = mt__yaml_field(fields, "version");
    if (!version->seen)
        return mt__fail(e, line, "logging", "no version (dictConfig needs version: 1)");
    if (mt__yaml_text(e, fields, "version", "logging", &text) < 0)
        return -1;
    if (!text || strcmp(text, "1") != 0) {
        mt__fail(e, version->line, "logging.version", "must be 1, not '%s'", text ? text : "");
        free(text);
        return -1;
    }
    free(text);
    if (mt__yaml_text(e, fields, "disable_existing_loggers", "logging", &text) < 0)
        return -1;
    if (text) {
        bool ignored;
        int rc = mt__check_bool(e, mt__yaml_field(fields, "disable_existing_loggers")->line,
                                "logging.disable_existing_loggers", text, &ignored);
        free(text);
        if (rc < 0)
            return -1;
    }

    /* Formatters, then the handlers naming them, then the loggers naming those. */
    mt__yaml_field_t *f = mt__yaml_field(fields, "formatters"), *h = mt__yaml_field(fields, "handlers");
    mt__yaml_field_t *root = mt__yaml_field(fields, "root"), *loggers = mt__yaml_field(fields, "loggers");
    if (f->seen && mt__yaml_named(e, conf, f->value, f->line, "logging.formatters", mt__yaml_formatter) < 0)
        return -1;
    if (h->seen && mt__yaml_named(e, conf, h->value, h->line, "logging.handlers", mt__yaml_handler) < 0)
        return -1;
    if (root->seen && !mt_yaml_is_null(root->value)) {
        if (fy_node_get_type(root->value) != FYNT_MAPPING)
            return mt__fail(e, root->line, "logging.root", "expected a mapping (level, handlers)");
        if (mt__yaml_logger_conf(e, conf, "root", root->value, root->line, "logging.root", true) < 0)
            return -1;
    }
    if (loggers->seen && mt__yaml_named(e, conf, loggers->value, loggers->line, "logging.loggers", mt__yaml_logger) < 0)
        return -1;
    return 0;
}

/* The top level: only `logging:` is ours. */
static int mt__yaml_root(const mt__err_t *e, mt_log_conf_t *conf, struct fy_node *root)
{
    if (mt_yaml_is_null(root))
        return 0;
    if (fy_node_get_type(root) != FYNT_MAPPING)
        return mt__fail(e, mt_yaml_node_line(root, 1), NULL, "expected a mapping at the top level (logging: ...)");
    struct fy_node *logging = NULL;
    int logging_line = 0;
    void *iter = NULL;
    struct fy_node_pair *pair;
    while ((pair = fy_node_mapping_iterate(root, &iter))) {
        struct fy_node *knode = fy_node_pair_key(pair);
        if (!mt__yaml_is_scalar(knode) || mt_yaml_is_null(knode))
            continue; /* not a name we could own */
        size_t len;
        const char *key = fy_node_get_scalar(knode, &len);
        if (!key || len != 7 || memcmp(key, "logging", 7) != 0)
            continue;
        int kline = mt_yaml_node_line(knode, 1);
        if (logging_line)
            return mt__fail(e, kline, "logging", "given twice (first on line %d)", logging_line);
        bool broken;
        logging = mt_yaml_deref(fy_node_pair_value(pair), &broken);
        if (broken)
            return mt__fail(e, kline, "logging", "unresolvable alias");
        logging_line = kline;
    }
    if (!logging_line || mt_yaml_is_null(logging))
        return 0;
    return mt__yaml_logging(e, conf, logging, logging_line);
}

int mt_log_conf_load_yaml(const char *path, mt_log_conf_t *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    mt__err_t e = { path, err, errlen };
    mt_yaml_doc_t y = {0};
    char *text = NULL;
    size_t len = 0;
    int rc = -1;

    FILE *fp = fopen(path, "r");
    if (!fp) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    text = mt_yaml_read_file(fp, path, &len, err, errlen);
    if (!text)
        goto out;

    /* Duplicate keys are allowed in the document: uWSGI sections repeat theirs. */
    int yline;
    char why[512];
    if (mt_yaml_parse_one(text, len, FYPCF_ALLOW_DUPLICATE_KEYS, &y, &yline, why, sizeof why) < 0) {
        if (yline > 0)
            mt__fail(&e, yline, NULL, "%s", why);
        else
            snprintf(err, errlen, "%s: %s", path, why);
        goto out;
    }
    if (y.doc && mt__yaml_root(&e, out, fy_document_root(y.doc)) < 0)
        goto out;
    out->path = mt_strdup(path);
    rc = 0;

out:
    if (rc < 0) {
        mt_log_conf_free(out);
        mt_message_one_line(err, errlen);
    }
    mt_yaml_doc_free(&y);
    free(text);
    fclose(fp);
    return rc;
}
