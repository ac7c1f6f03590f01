/*
 * job_conf: the job configuration -- which handlers exist, the default
 * handler, handler tags, tool -> handler mappings and the order of the
 * handler assignment methods; and where jobs run: runner plugins,
 * destinations, tool -> destination mappings, limits, resource groups. Who
 * handles a new job is decided from it by job_assign.h, which also knows
 * the stack; where it runs, by job_route.h.
 *
 * Two file formats load into the same immutable object: Galaxy's
 * job_conf.yml layout (a "handling:" mapping and a "tools:" list) and
 * Galaxy's job_conf.xml (macros expanded first: xml_macros.h). Where jobs
 * run (plugins, destinations, limits, resources) is read by
 * job_conf_exec.c; the accessors are at the end of this header.
 * docs/job-configuration.md is the operator's view.
 *
 * A NULL mt_job_conf_t * is valid everywhere and means "no job
 * configuration file": no handlers, no mappings, no assign order.
 *
 * Thread-safety: a loaded configuration is never modified, so any number
 * of threads may query it at once.
 */
#ifndef MT_JOB_CONF_H
#define MT_JOB_CONF_H

#include <stdbool.h>
#include <stddef.h>

/* The farm whose mules handle jobs; "job-handlers.TAG" serves tag TAG. */
#define MT_JOB_HANDLERS_FARM "job-handlers"
/* Longest handler id / mapping target: fits mt_assignment_t.handler. */
#define MT_JOB_CONF_NAME_MAX 255
/* Longest tag: "job-handlers." TAG fits mt_assignment_t.farm. */
#define MT_JOB_CONF_TAG_MAX (128 - sizeof MT_JOB_HANDLERS_FARM - 1)

/* Handler assignment methods, named as in Galaxy. */
typedef enum {
    MT_ASSIGN_MEM_SELF,       /* "mem-self": the creating web worker handles the job (in-memory queue) */
    MT_ASSIGN_DB_SELF,        /* "db-self": the creating web worker writes its own name as handler */
    MT_ASSIGN_DB_PREASSIGN,   /* "db-preassign": the web worker picks a configured handler and writes it */
    MT_ASSIGN_MULE_MESSAGE,   /* "mule-message": handler NULL + the job id sent to a farm */
    MT_ASSIGN_DB_SKIP_LOCKED, /* "db-skip-locked": handler NULL, no message; handlers claim from the database */
    MT_ASSIGN_DB_TRANSACTION_ISOLATION, /* "db-transaction-isolation": the same, the claim in a transaction */
} mt_assign_method_t;

#define MT_ASSIGN_METHOD_COUNT 6

/* "mem-self", "db-self", ...; "unknown" for a value out of range. */
const char *mt_assign_method_name(mt_assign_method_t method);
/*
 * Parse a method name: 0 and *out, or -1 for an unknown name. Galaxy's
 * "uwsgi-mule-message" is accepted as a synonym of "mule-message".
 */
int mt_assign_method_parse(const char *name, mt_assign_method_t *out);

typedef struct mt_job_conf mt_job_conf_t;

/*
 * Load a job configuration file. The file is XML if its name ends in
 * ".xml" or its first non-blank character is '<' (after an optional UTF-8
 * byte order mark); otherwise it is YAML (".yml", ".yaml", anything else).
 * A NULL path stores NULL in *out ("no job configuration") and returns 0.
 *
 * Returns 0 and a new configuration in *out (the caller destroys it), or
 * -1 with *out = NULL and a one-line message in err: "FILE:LINE: what is
 * wrong" for anything in the file (syntax errors with expat's / libfyaml's
 * line, an unknown assign method, a default naming neither a handler nor a
 * tag, a tool mapped to an unknown handler or tag, a handler id given
 * twice, ...), "FILE: ..." when the file cannot be read at all.
 * A mapping to a name containing '.' that is neither a handler nor a tag is
 * accepted: it is a server name (main.job-handlers.2) known to the stack.
 */
int mt_job_conf_load(const char *path, mt_job_conf_t **out, char *err, size_t errlen);

/*
 * The same from memory: `name` is used in messages and, like a path, to
 * pick the format. `text` needs no NUL terminator. For tests and fuzzing.
 */
int mt_job_conf_load_string(const char *name, const char *text, size_t len, mt_job_conf_t **out, char *err,
                            size_t errlen);

/* Free a configuration. Accepts NULL. */
void mt_job_conf_destroy(mt_job_conf_t *conf);

/*
 * The assign order as the file gives it: *methods points at `count`
 * methods owned by conf, valid while conf lives. 0 when the file gives
 * none (or NULL conf): the default then depends on the stack
 * (mt_job_assign_order in job_assign.h).
 */
size_t mt_job_conf_assign_methods(const mt_job_conf_t *conf, const mt_assign_method_t **methods);
/* True if the assign order was given in the file. False for NULL. */
bool mt_job_conf_assign_configured(const mt_job_conf_t *conf);
/* The default handler id or tag, or NULL (none, or NULL conf). */
const char *mt_job_conf_default(const mt_job_conf_t *conf);
/* The line of the default in the file; 0 without one. */
int mt_job_conf_default_line(const mt_job_conf_t *conf);
/* Configured handlers, in file order. 0 for NULL. */
size_t mt_job_conf_handler_count(const mt_job_conf_t *conf);
/* The id of handler `index` (< mt_job_conf_handler_count). */
const char *mt_job_conf_handler_id(const mt_job_conf_t *conf, size_t index);
/* How many tags handler `index` carries: 0 makes it a default (untagged) handler. */
size_t mt_job_conf_handler_tag_count(const mt_job_conf_t *conf, size_t index);
/* The line where handler `index` is defined. */
int mt_job_conf_handler_line(const mt_job_conf_t *conf, size_t index);
/* Tag k (< mt_job_conf_handler_tag_count) of handler `index`. */
const char *mt_job_conf_handler_tag(const mt_job_conf_t *conf, size_t index, size_t k);
/* True if `name` is the id of a configured handler. False for NULL conf. */
bool mt_job_conf_is_handler(const mt_job_conf_t *conf, const char *name);
/* True if the configured handler `handler_id` carries tag `tag`. */
bool mt_job_conf_handler_has_tag(const mt_job_conf_t *conf, const char *handler_id, const char *tag);
/* True if `name` is the tag of at least one configured handler. */
bool mt_job_conf_is_tag(const mt_job_conf_t *conf, const char *name);
/* The handler id, tag or server name tool `tool_id` is mapped to, or NULL. */
const char *mt_job_conf_tool_handler(const mt_job_conf_t *conf, const char *tool_id);
/* Tool -> handler mappings, in file order. 0 for NULL. */
size_t mt_job_conf_mapping_count(const mt_job_conf_t *conf);
/* Mapping `index`: returns its tool id, its target in *target and its line in *line. */
const char *mt_job_conf_mapping(const mt_job_conf_t *conf, size_t index, const char **target, int *line);

/* ------------------------------------------------------------------ */
/* Where jobs run: runner plugins, destinations, limits, resources     */
/* ------------------------------------------------------------------ */

/*
 * Galaxy's <plugins> / runners:, <destinations> / execution:, the
 * destination side of <tools> / tools:, <limits> / limits: and
 * <resources> / resources:, read and checked by job_conf_exec.c. Which
 * destination a job goes to, and whether it can run here, is decided by
 * job_route.h. Everything below is owned by the configuration and valid
 * while it lives; every accessor accepts a NULL conf (nothing configured).
 */

/* A <param id="...">value</param> of a plugin, destination or tool (YAML: the extra keys). */
typedef struct mt_job_param {
    const char *id;
    const char *value;       /* the text, trimmed; a YAML list or mapping in flow form; "" when empty */
    int line;
    const char *from_config; /* Galaxy's from_config="OPTION": galaxy.yml is not read here, the text is used; or NULL */
} mt_job_param_t;

/* One <env> of a destination, in file order: Galaxy writes each as a line of the job script. */
typedef enum {
    MT_JOB_ENV_SET,  /* <env id="NAME">value</env> / {name, value}: NAME="value"; export NAME */
    MT_JOB_ENV_FILE, /* <env file="PATH"/> / {file}: . "PATH" (sourced) */
    MT_JOB_ENV_EXEC, /* <env exec="CMD"/> / {execute}: CMD, run by the shell as written */
} mt_job_env_kind_t;

typedef struct mt_job_env {
    mt_job_env_kind_t kind;
    const char *name;  /* SET: a shell variable name ([A-Za-z_][A-Za-z0-9_]*, never MULETEER_*); else NULL */
    const char *value; /* SET: the value; FILE: the path; EXEC: the command */
    bool raw;          /* raw="true": written unquoted (Galaxy quotes it in "..." otherwise) */
    int line;
} mt_job_env_t;

struct mt_job_expr; /* a compiled condition or delay: job_resubmit.h */

/*
 * A <resubmit> of a destination / an entry of an environment's resubmit:
 * list. Which rule applies to a failed job, and where it goes next, is
 * decided by job_resubmit.h.
 */
typedef struct mt_job_resubmit {
    const char *condition;   /* as written; NULL (or blank): every failure */
    const char *destination; /* a destination id or tag (checked), or NULL: the same destination */
    const char *handler;     /* as written, or NULL (noticed at load: the job stays with its handler) */
    const char *delay;       /* as written (a number or an expression), or NULL */
    int line;
    const struct mt_job_expr *condition_expr; /* condition compiled at load; NULL: every failure */
    const struct mt_job_expr *delay_expr;     /* delay compiled at load; NULL: none */
} mt_job_resubmit_t;

/* A <limit> / limits: entry. */
typedef struct mt_job_limit {
    const char *type;   /* Galaxy's name, environment_* spelt destination_*, concurrent_jobs as destination_user_concurrent_jobs */
    const char *id;     /* the destination id it counts (destination_* limits), or NULL */
    const char *tag;    /* or the destination tag, or NULL */
    const char *value;  /* as written */
    long long number;   /* *_concurrent_jobs: the count; output_size: bytes; walltime, total_walltime: seconds */
    int window_days;    /* total_walltime: the window (30 when not given); else 0 */
    bool enforced;      /* true only for walltime: the runners stop a job that runs longer (job_route.h) */
    int line;
} mt_job_limit_t;

typedef struct mt_job_runner mt_job_runner_t;           /* a runner plugin */
typedef struct mt_job_destination mt_job_destination_t; /* a destination (YAML: an environment) */

/* The file the configuration was read from (as given to the loader); NULL for NULL conf. */
const char *mt_job_conf_file(const mt_job_conf_t *conf);

/* Runner plugins in file order (disabled ones, <param id="enabled">false</param>, excluded). */
size_t mt_job_conf_runner_count(const mt_job_conf_t *conf);
const mt_job_runner_t *mt_job_conf_runner_at(const mt_job_conf_t *conf, size_t index);
/* The plugin `id`, or NULL. "dynamic" always exists (Galaxy loads it implicitly). */
const mt_job_runner_t *mt_job_conf_find_runner(const mt_job_conf_t *conf, const char *id);
const char *mt_job_runner_id(const mt_job_runner_t *runner);
/*
 * The runner's kind: the module of its load attribute for Galaxy's own
 * runners ("galaxy.jobs.runners.slurm:SlurmJobRunner" -> "slurm"; local,
 * drmaa, pbs, cli, condor, pulsar, kubernetes, ...), "dynamic" for the
 * dynamic runner, else the whole load string (a third-party plugin).
 */
const char *mt_job_runner_type(const mt_job_runner_t *runner);
const char *mt_job_runner_load(const mt_job_runner_t *runner); /* NULL for the implicit dynamic runner */
int mt_job_runner_workers(const mt_job_runner_t *runner);      /* its workers (or <plugins workers>); 0 when not given */
int mt_job_runner_line(const mt_job_runner_t *runner);         /* 0 for the implicit dynamic runner */
size_t mt_job_runner_params(const mt_job_runner_t *runner, const mt_job_param_t **params);

/* Destinations in file order (disabled ones excluded). 0: none configured, jobs run locally as always. */
size_t mt_job_conf_destination_count(const mt_job_conf_t *conf);
const mt_job_destination_t *mt_job_conf_destination_at(const mt_job_conf_t *conf, size_t index);
const mt_job_destination_t *mt_job_conf_find_destination(const mt_job_conf_t *conf, const char *id);
/* True if some destination carries tag `tag`. */
bool mt_job_conf_is_destination_tag(const mt_job_conf_t *conf, const char *tag);
/*
 * The default destination id or tag: <destinations default=...> /
 * execution.default, or the only destination when there is one and no
 * default (as Galaxy does); NULL without destinations. *line (may be NULL)
 * gets where it was given (0 when implied).
 */
const char *mt_job_conf_default_destination(const mt_job_conf_t *conf, int *line);
/* The destination id or tag tool `tool_id` is mapped to (<tool destination> / environment:), or NULL. */
const char *mt_job_conf_tool_destination(const mt_job_conf_t *conf, const char *tool_id, int *line);

const char *mt_job_destination_id(const mt_job_destination_t *dest);
const char *mt_job_destination_runner(const mt_job_destination_t *dest); /* the runner plugin id it names */
int mt_job_destination_line(const mt_job_destination_t *dest);
bool mt_job_destination_has_tag(const mt_job_destination_t *dest, const char *tag);
/* The value of param `id`, or NULL. */
const char *mt_job_destination_param(const mt_job_destination_t *dest, const char *id);
size_t mt_job_destination_params(const mt_job_destination_t *dest, const mt_job_param_t **params);
size_t mt_job_destination_env(const mt_job_destination_t *dest, const mt_job_env_t **env);
size_t mt_job_destination_resubmits(const mt_job_destination_t *dest, const mt_job_resubmit_t **resubmits);
/* YAML shell: the interpreter of the destination's <env> lines; NULL: /bin/bash, Galaxy's default. */
const char *mt_job_destination_shell(const mt_job_destination_t *dest);
/* local_slots (a positive integer, checked at load), or 0 when not given. */
unsigned mt_job_destination_slots(const mt_job_destination_t *dest);
/*
 * A slurm destination's walltime param in seconds (Slurm's forms: MM,
 * MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS; checked at load), or 0 when
 * not given (or UNLIMITED), or for a destination of another runner.
 */
double mt_job_destination_walltime(const mt_job_destination_t *dest);
/*
 * Slurm's time forms (sbatch --time): MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM,
 * D-HH:MM:SS, each part a whole number; UNLIMITED / INFINITE and 0 mean no
 * limit. 0 with the seconds in *out (0: no limit), or -1 for anything else.
 */
int mt_job_conf_parse_slurm_time(const char *s, long long *out);
/*
 * A slurm destination's sbatch options: its nativeSpecification param
 * (Galaxy's name; native_specification is accepted too), or NULL when not
 * given or for a destination of another runner.
 */
const char *mt_job_destination_native_specification(const mt_job_destination_t *dest);
/*
 * Galaxy's tmp_dir param: NULL when not given (or false: no, off, 0);
 * otherwise *in_job_dir says whether it is true (a "tmp" directory in the
 * job's working directory), and the value returned is the shell expression
 * Galaxy writes as the directory (`$(mktemp -d ...)`, "$VAR") when it is not.
 */
const char *mt_job_destination_tmp_dir(const mt_job_destination_t *dest, bool *in_job_dir);

/* Limits in file order. */
size_t mt_job_conf_limits(const mt_job_conf_t *conf, const mt_job_limit_t **limits);
/* The walltime limit in seconds (<limit type="walltime">H:M:S</limit>), 0 for none. */
double mt_job_conf_walltime_limit(const mt_job_conf_t *conf);

/* Resource groups: how many, and the default group (or NULL). Read and checked; Galaxy's tool form only. */
size_t mt_job_conf_resource_group_count(const mt_job_conf_t *conf);
const char *mt_job_conf_default_resource_group(const mt_job_conf_t *conf);

/*
 * What the file asks for that is accepted but not carried out here, one
 * "FILE:LINE: what, and what happens instead" per item, for the log at
 * start: unenforced limits (one line naming them all), a resubmit rule's
 * handler (the next attempt stays with its handler), resource groups,
 * job metrics, from_config params, per-handler plugin lists,
 * param-conditioned tool entries, tool classes, a local plugin's workers
 * and params, a slurm plugin's params, local destination params other than
 * local_slots, tmp_dir and enabled, slurm destination params other than
 * nativeSpecification, walltime, tmp_dir and enabled. Destinations that
 * cannot run at all, and resubmit rules leading to them, are not in it
 * (see mt_job_conf_warn_unrunnable in job_route.h).
 */
size_t mt_job_conf_notice_count(const mt_job_conf_t *conf);
const char *mt_job_conf_notice(const mt_job_conf_t *conf, size_t index);

#endif
