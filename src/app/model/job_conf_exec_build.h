/*
 * job_conf_exec_build: the inside of job_conf_exec, shared by its three
 * files -- job_conf_exec.c (the model, its builders, the checks once the
 * whole file is read, the accessors), job_conf_exec_xml.c (job_conf.xml's
 * elements) and job_conf_exec_yaml.c (job_conf.yml's keys). Not for use
 * outside them: everyone else goes through job_conf_exec.h and job_conf.h.
 *
 * The builders record an item with its line and return 0, or -1 with the
 * error ("FILE:LINE: what") written into ex->err; the notes are what is
 * read but not carried out here, kept for the log at start.
 */
#ifndef MT_JOB_CONF_EXEC_BUILD_H
#define MT_JOB_CONF_EXEC_BUILD_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include "app/model/job_conf_exec.h"
#include "app/model/xml_macros.h"

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
    double walltime_s;        /* slurm: the walltime param in seconds, 0 without one */
    const char *native_spec;  /* slurm: the nativeSpecification param's value (in params), or NULL */
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

int mt__jx_fail_at(mt_job_exec_t *ex, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int mt__jx_fail_node(mt_job_exec_t *ex, const mt_xml_node_t *node, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void mt__jx_note(mt_job_exec_t *ex, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
char *mt__jx_trimmed(const char *s);
bool mt__jx_asbool(const char *s);
int mt__jx_parse_int(const char *s, long long min, long long max, long long *out);
void mt__jx_params_free(mt_job_param_t *p, size_t n);
int mt__jx_param_add(mt_job_exec_t *ex, mt_job_param_t **p, size_t *n, const char *owner, const char *id,
                     const char *value, int line, const char *from_config);
mt_job_runner_t *mt__jx_runner_add(mt_job_exec_t *ex, const char *id, const char *load, int line);
mt_job_destination_t *mt__jx_dest_add(mt_job_exec_t *ex, const char *id, int line);
int mt__jx_dest_add_tag(mt_job_exec_t *ex, mt_job_destination_t *d, const char *tag, int line);
int mt__jx_dest_add_tags(mt_job_exec_t *ex, mt_job_destination_t *d, const char *text, int line);
int mt__jx_env_add(mt_job_exec_t *ex, mt_job_destination_t *d, mt_job_env_kind_t kind, const char *name,
                   const char *value, bool raw, int line);
int mt__jx_resubmit_add(mt_job_exec_t *ex, mt_job_destination_t *d, const char *condition,
                        const char *destination, const char *handler, const char *delay, int line);
int mt__jx_tool_add(mt_job_exec_t *ex, const char *tool_id, const char *class_name, const char *destination,
                    const char *resources, size_t nparams, const char *first_param, int line);
int mt__jx_set_default_dest(mt_job_exec_t *ex, const char *name, int line);
int mt__jx_limit_add(mt_job_exec_t *ex, const char *type_written, const char *id, const char *tag,
                     const char *window, const char *value, int line);
int mt__jx_group_add(mt_job_exec_t *ex, const char *id, const char *fields, int line);
int mt__jx_block_once(mt_job_exec_t *ex, int *seen, const char *what, int line);

#endif
