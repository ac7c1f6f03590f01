/*
 * log_config: reading a logging configuration, in the two forms operators
 * of Galaxy and uWSGI already write, into one plain description.
 *
 *   - INI: Python's logging.config.fileConfig sections, in the same .ini
 *     file as the rest of the configuration: [loggers], [handlers] and
 *     [formatters] (each with `keys = a, b`), then [logger_NAME] (level,
 *     handlers, qualname, propagate), [handler_NAME] (class, args, level,
 *     formatter, and our filename / filename_template) and
 *     [formatter_NAME] (format, datefmt, class).
 *   - YAML: the top-level `logging:` mapping of a YAML configuration,
 *     Python's logging.config.dictConfig: version (must be 1), root,
 *     loggers, handlers (class, level, formatter, stream, filename,
 *     filename_template, mode), formatters (format, datefmt, class),
 *     disable_existing_loggers (accepted, no effect).
 *
 * Handler classes: StreamHandler (stream sys.stderr -- the default -- or
 * sys.stdout; in YAML `stream: ext://sys.stderr`), FileHandler and
 * WatchedFileHandler (a file, appended to), with or without a
 * "logging." / "logging.handlers." / "handlers." prefix. A file handler's
 * filename_template, with placeholders {pool_name}, {server_id},
 * {server_name} and {pid}, gives each process its own file; filename is
 * then only the fallback the template replaces. In INI the file comes from
 * args = ('path',) or args = ('path', 'a'), or from filename =.
 * Formatter class `json` (or muleteer.JsonFormatter) selects JSON lines.
 *
 * Levels, case-insensitive: DEBUG, INFO, NOTICE, WARNING (WARN), ERROR,
 * CRITICAL (ALERT, FATAL); NOTSET leaves a logger's level to its parent.
 *
 * Everything is checked here, before anything forks: unknown keys, bad
 * levels, a logger naming a handler that is not defined, a handler naming
 * an undefined formatter, a [loggers] key without its section, a file
 * handler without a file, a placeholder that does not exist. Each error
 * says file, line and key:
 *
 *   muleteer.ini:14: [handler_console] level: unknown level 'LOUD'
 *   muleteer.yml:9: logging.handlers.files: unknown key 'filname'
 *
 * Format strings themselves are compiled (and so checked) with
 * mt_log_format_compile(), which the loaders call too.
 */
#ifndef MT_LOG_CONFIG_H
#define MT_LOG_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "common/log.h"

typedef enum {
    MT_LOG_TO_STDERR,
    MT_LOG_TO_STDOUT,
    MT_LOG_TO_FILE,
} mt_log_target_t;

typedef struct mt_log_formatter_conf {
    char *name;
    char *format;            /* NULL: the default format */
    char *datefmt;           /* NULL: the default asctime */
    bool json;               /* JSON lines (format and datefmt unused) */
    int line;                /* where it is defined */
} mt_log_formatter_conf_t;

typedef struct mt_log_handler_conf {
    char *name;
    mt_log_target_t target;
    char *filename;          /* MT_LOG_TO_FILE: the file (relative: to the current directory) */
    char *filename_template; /* MT_LOG_TO_FILE, optional: replaces filename, per process */
    bool has_level;
    mt_log_level_t level;    /* records below it are not written by this handler */
    char *formatter;         /* a formatter's name, or NULL for the default format */
    int line;
} mt_log_handler_conf_t;

typedef struct mt_log_logger_conf {
    char *name;              /* "root", or the dotted logger name (qualname) */
    bool has_level;          /* false: NOTSET, the parent's level applies */
    mt_log_level_t level;
    char **handlers;         /* handler names */
    size_t nhandlers;
    bool propagate;          /* records also go to the parent's handlers (default true) */
    int line;
} mt_log_logger_conf_t;

typedef struct mt_log_conf {
    bool present;            /* the file holds a logging configuration at all */
    char *path;              /* the file it was read from */
    mt_log_formatter_conf_t *formatters;
    size_t nformatters;
    mt_log_handler_conf_t *handlers;
    size_t nhandlers;
    mt_log_logger_conf_t *loggers; /* "root" among them if configured */
    size_t nloggers;
} mt_log_conf_t;

/*
 * Read the logging sections of INI file path into *out (zeroed first).
 * A file without any of them gives 0 with out->present false. Returns 0,
 * or -1 with "path:line: ..." in err (and *out freed).
 */
int mt_log_conf_load_ini(const char *path, mt_log_conf_t *out, char *err, size_t errlen);

/* The same for the top-level `logging:` mapping of YAML file path. */
int mt_log_conf_load_yaml(const char *path, mt_log_conf_t *out, char *err, size_t errlen);

/* Parse a level name as above; NOTSET is -1 with *notset true. Returns 0 or -1. */
int mt_log_conf_parse_level(const char *name, mt_log_level_t *level, bool *notset);

/* Free what the loaders allocated and zero *conf. Accepts a zeroed conf. */
void mt_log_conf_free(mt_log_conf_t *conf);

#endif
