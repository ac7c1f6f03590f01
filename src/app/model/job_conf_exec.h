/*
 * job_conf_exec: the part of the job configuration that says where jobs
 * run -- runner plugins, destinations (their params, env, resubmit), the
 * destination side of tool entries, limits and resource groups -- read
 * from the XML tree (xml_macros.h) or the YAML document, and checked once
 * the whole file is read. Internal to the job configuration: job_conf.c
 * owns the object and calls these while loading; everyone else uses the
 * accessors in job_conf.h.
 *
 * Every function returning int returns 0, or -1 with "FILE:LINE: what" in
 * err.
 */
#ifndef MT_JOB_CONF_EXEC_H
#define MT_JOB_CONF_EXEC_H

#include <libfyaml.h>
#include <stddef.h>

#include "app/model/job_conf.h"
#include "app/model/xml_macros.h"

typedef struct mt_job_exec mt_job_exec_t;

/* A new, empty part for the file `file` (copied). */
mt_job_exec_t *mt__job_exec_new(const char *file);
void mt__job_exec_free(mt_job_exec_t *ex);

/* The configuration's part (job_conf.c); NULL for NULL conf. */
const mt_job_exec_t *mt__job_conf_exec(const mt_job_conf_t *conf);

/* XML: a child of <job_conf> named plugins, destinations, limits or resources. */
int mt__job_exec_xml_block(mt_job_exec_t *ex, const mt_xml_node_t *block, char *err, size_t errlen);
/* XML: one <tool> of <tools>: its attributes (id, handler, destination, resources) and <param>s. */
int mt__job_exec_xml_tool(mt_job_exec_t *ex, const mt_xml_node_t *tool, char *err, size_t errlen);

/* YAML: a top-level key runners, execution, limits, resources or dynamic, with its value. */
int mt__job_exec_yaml_block(mt_job_exec_t *ex, const char *key, struct fy_node *value, int line, char *err,
                            size_t errlen);
/*
 * YAML: one entry of tools: (a mapping at `line`): its keys other than id
 * and handler (environment / destination, resources, class, params, and
 * the rest as params).
 */
int mt__job_exec_yaml_tool(mt_job_exec_t *ex, struct fy_node *entry, int line, char *err, size_t errlen);

/* Add a notice ("FILE:LINE: text") for the log at start: something read but not carried out here. */
void mt__job_exec_note(mt_job_exec_t *ex, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* References between items, defaults, limits; the notices. After the whole file. */
int mt__job_exec_validate(mt_job_exec_t *ex, char *err, size_t errlen);

#endif
