/*
 * config: the configuration store and its loaders.
 *
 * Options are declared in tables (mt_option_def_t) grouped into sections:
 * the stack's own section is "muleteer" (alias "uwsgi", so configs written
 * for uWSGI carry over); an application may register its own ("jobs").
 * Values come from four places, each remembered as the value's source:
 *
 *   default       the table's default_value
 *   file          --ini FILE[:SECTION] (inih), --yaml FILE (libfyaml)
 *   command line  --name VALUE, --name=VALUE, --flag, --set name=value
 *
 * Precedence: command line over files over defaults. A scalar takes the
 * value of the highest-precedence source that sets it (among files, the
 * last one read). A list option (mule, farm, static-map, ...) accumulates
 * every occurrence of its highest-precedence source, in order: repeated
 * keys in one file or across files accumulate; command-line occurrences
 * replace the files' entries as a whole, so mule ids never mix two origins.
 *
 * Option names are matched with '_' and '-' treated alike. Every error names
 * where it comes from: "FILE:LINE: option 'processes': 'four' is not a
 * number" or "command line: unknown option '--procs'".
 *
 * The hierarchical pools form ("stack: workers: [...]" at the top of a YAML
 * file, or "pools: [...]" inside the muleteer section) is stored as
 * mt_config_pool_t records; pools.c compiles them to the process table.
 *
 * Not thread-safe; used by the master before forking (children read it).
 */
#ifndef MT_CONFIG_H
#define MT_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "muleteer.h"

typedef enum {
    MT_SRC_DEFAULT,
    MT_SRC_FILE,
    MT_SRC_CMDLINE,
} mt_source_kind_t;

/* Where a value came from. `file` is owned by the config and lives as long as it. */
typedef struct mt_source {
    mt_source_kind_t kind;
    const char *file; /* MT_SRC_FILE only */
    int line;         /* MT_SRC_FILE only, 1-based */
} mt_source_t;

/* mt_opt_type_t, the MT_OPT_* flags and mt_option_def_t are public: see muleteer.h. */

/* One pool of the hierarchical form. Strings owned by the config; NULL when not given. */
typedef struct mt_config_pool {
    char *name;                 /* required; the pool (farm) name */
    char *purpose;              /* free text, e.g. "handle_jobs" */
    char *type;                 /* "mule" (default) or "standalone" */
    char *server_name_template; /* e.g. "{server_name}.{pool_name}.{process_num}" */
    char *program;              /* exec this instead of the built-in mule loop */
    long processes;             /* default 1 */
    mt_source_t src;            /* where the pool entry starts */
} mt_config_pool_t;

typedef struct mt_config mt_config_t;

mt_config_t *mt_config_create(void);
/* Accepts NULL. */
void mt_config_destroy(mt_config_t *cfg);

/*
 * Register a section and its option table (kept by pointer: must outlive
 * cfg). `alias` is another accepted section name, or NULL. The first
 * section registered is the main one: command-line options and --set
 * without a "section." prefix belong to it. Returns 0 or -EEXIST.
 */
int mt_config_add_section(mt_config_t *cfg, const char *name, const char *alias, const mt_option_def_t *defs);

/*
 * Parse argv (argv[0] is the program), then the files named by --ini/--yaml
 * in the order given, then apply precedence. An error does not stop the
 * load: every bad argument, file and option is recorded (see
 * mt_config_error_count()) and the rest is still read, so one run reports
 * them all. Returns 0, or -1 with the first error, one line naming file,
 * line and option, in err.
 * --help and --version set the flags queried by mt_config_wants_help() /
 * mt_config_wants_version() and return 0.
 *
 * Arguments: "--name VALUE", "--name=VALUE"; a bool or MT_OPT_VALUE_OPTIONAL
 * option takes a value only after '=' ("--master", "--mule", "--mule=X").
 * A separate VALUE may not start with "--". "--SECTION.name" addresses
 * another registered section. "-h" is --help. "--set KEY=VALUE" behaves
 * exactly as "--KEY=VALUE" (so "--set yaml=F" also loads F).
 * Call once per config.
 */
int mt_config_load(mt_config_t *cfg, int argc, char **argv, char *err, size_t errlen);

/*
 * Load one file directly (used by mt_config_load, and by tests). Same error
 * contract: every problem of the file is recorded in cfg; err gets the
 * file's first.
 *
 * INI: [muleteer] / [uwsgi] hold the main section; `section` non-NULL
 * ("--ini FILE:SECTION") reads [SECTION] as the main section instead (and
 * then not [muleteer] / [uwsgi]). Other registered sections are read under
 * their own names; unregistered sections are skipped. Lines longer than
 * inih's buffer (200 bytes) are an error, not truncated.
 *
 * YAML (UTF-8 only): top-level keys muleteer: / uwsgi: and other registered sections map
 * option names to a scalar, a null, or (list options only) a sequence of
 * scalars; repeated keys all count, in document order. Other top-level keys
 * are skipped, except "stack:" whose "workers:" sequence, like "pools:"
 * inside the main section, is the hierarchical pools form: mappings with
 * name (required), purpose, type (mule|standalone, default mule),
 * processes (0..1024, default 1), server_name (the template) and program;
 * unknown keys, repeated keys and wrong types are errors. Anchors/aliases are followed for values; merge
 * keys ("<<") are not supported (they would be an unknown option).
 */
int mt_config_load_ini(mt_config_t *cfg, const char *path, const char *section, char *err, size_t errlen);
int mt_config_load_yaml(mt_config_t *cfg, const char *path, char *err, size_t errlen);

/*
 * Every error recorded so far (loading, and mt_config_add_error() by later
 * checks), each one line "FILE:LINE: option 'NAME': what" (or "command
 * line: ..."), in the order found; an error reached twice is kept once.
 */
size_t mt_config_error_count(const mt_config_t *cfg);
const char *mt_config_error_get(const mt_config_t *cfg, size_t i);
/* Record an error about option `name` (NULL: about the place only) given at src. */
void mt_config_add_error(mt_config_t *cfg, const mt_source_t *src, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/*
 * Notices for the log: one per option accepted without effect
 * (MT_OPT_IGNORED), naming where it was first given and what the stack
 * does instead. The loader does not log them (logging is configured after
 * loading): the caller does, once logging is set up.
 * mt_config_add_notice() adds one; `key` non-NULL: a second notice with
 * the same key (compared as text) is dropped.
 */
size_t mt_config_notice_count(const mt_config_t *cfg);
const char *mt_config_notice_get(const mt_config_t *cfg, size_t i);
void mt_config_add_notice(mt_config_t *cfg, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

bool mt_config_wants_help(const mt_config_t *cfg);
bool mt_config_wants_version(const mt_config_t *cfg);

/*
 * Effective value of a scalar option, or NULL if unset with no default.
 * (For a list option: its last effective entry, or NULL.) `name` may be an
 * alias or use '_' for '-'.
 * `section` NULL means the main section. src (optional) receives its source.
 * Asking for an option not in the table is a programming error (assert).
 */
const char *mt_config_get(const mt_config_t *cfg, const char *section, const char *name, mt_source_t *src);
/* Typed getters: the value was validated when loaded. Bool of an unset option is false, int is 0. */
long mt_config_get_int(const mt_config_t *cfg, const char *section, const char *name);
bool mt_config_get_bool(const mt_config_t *cfg, const char *section, const char *name);

/* Effective entries of a list option, in order. */
size_t mt_config_list_count(const mt_config_t *cfg, const char *section, const char *name);
const char *mt_config_list_get(const mt_config_t *cfg, const char *section, const char *name, size_t i,
                               mt_source_t *src);

/* Pools of the hierarchical form, in the order given. */
size_t mt_config_pool_count(const mt_config_t *cfg);
const mt_config_pool_t *mt_config_pool_get(const mt_config_t *cfg, size_t i);

/*
 * Write every effective option of every section, one per line, with its
 * source: "processes = 4    # galaxy.yml:2". List options print one line
 * per entry; unset options without default are omitted; pools follow.
 */
void mt_config_print(const mt_config_t *cfg, FILE *out);

/* Write --help text (every option of the main section with its help line). */
void mt_config_print_help(const mt_config_t *cfg, FILE *out);

/* "FILE:LINE", "command line" or "default", into buf; returns buf. */
const char *mt_source_format(const mt_source_t *src, char *buf, size_t len);

/* ------------------------------------------------------------------ */
/* Internal: shared by config.c and its loaders config_ini.c /          */
/* config_yaml.c. Not for other modules.                                */
/* ------------------------------------------------------------------ */

/* Index of the registered section with that name or alias, or -1. 0 is the main one. */
int mt_config__section_index(const mt_config_t *cfg, const char *name);
/* Canonical definition of `name` (alias resolved, '_' = '-') in section `sect`, or NULL. */
const mt_option_def_t *mt_config__find_option(const mt_config_t *cfg, int sect, const char *name);
/* A copy of path owned by cfg, for mt_source_t.file. */
const char *mt_config__intern_file(mt_config_t *cfg, const char *path);

/*
 * Open a config file for reading. Returns the stream, or NULL with
 * "PATH: cannot open: REASON" or "PATH: is a directory, not a file" in err.
 */
FILE *mt_config__open_file(const char *path, char *err, size_t errlen);

/*
 * Record one occurrence of option `name` in section `sect` from a file
 * (src->kind MT_SRC_FILE). value NULL means "no value" (see above).
 * Unknown, refused or command-line-only options and invalid values are
 * errors: returns 0, or -1 with "FILE:LINE: option 'NAME': PROBLEM" in err
 * (also recorded in cfg).
 */
int mt_config__set(mt_config_t *cfg, int sect, const char *name, const char *value, const mt_source_t *src,
                   char *err, size_t errlen);

/* Record an already formatted one-line error (made one line if it is not). */
void mt_config__record_error(mt_config_t *cfg, const char *msg);

/* Append a pool; takes ownership of its strings. */
void mt_config__add_pool(mt_config_t *cfg, const mt_config_pool_t *pool);


#endif
