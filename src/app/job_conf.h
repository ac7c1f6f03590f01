/*
 * job_conf: the job configuration -- which handlers exist, the default
 * handler, handler tags, tool -> handler mappings and the order of the
 * handler assignment methods -- and the pure function that decides, for a
 * new job, who handles it and how the job reaches that handler.
 *
 * Two file formats load into the same immutable object: Galaxy's
 * job_conf.yml layout (a "handling:" mapping and a "tools:" list) and
 * Galaxy's job_conf.xml (<handlers> and <tools>; every other element is
 * ignored). docs/job-configuration.md is the operator's view.
 *
 * A NULL mt_job_conf_t * is valid everywhere and means "no job
 * configuration file": no handlers, no mappings, the default assign order.
 *
 * Handler assignment (mt_job_conf_assign) implements the Caveats of the
 * proposal (reference/000_8ba04630f3fdcacb.txt) exactly; the rules are
 * written out above mt_job_conf_assign(). The function does no I/O: the
 * caller describes the stack in mt_assign_facts_t, and writes the job and
 * sends any message itself.
 *
 * Thread-safety: a loaded configuration is never modified, so any number
 * of threads may query it and call mt_job_conf_assign() at once (as long
 * as the facts' callbacks are thread-safe).
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
} mt_assign_method_t;

#define MT_ASSIGN_METHOD_COUNT 5

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
 * The assign order: *methods points at `count` methods owned by conf (or
 * static), valid while conf lives. Without configuration (NULL conf, or no
 * assign / assign_with) it is mule-message, db-self.
 */
size_t mt_job_conf_assign_methods(const mt_job_conf_t *conf, const mt_assign_method_t **methods);
/* True if the assign order was given in the file. False for NULL. */
bool mt_job_conf_assign_configured(const mt_job_conf_t *conf);
/* The default handler id or tag, or NULL (none, or NULL conf). */
const char *mt_job_conf_default(const mt_job_conf_t *conf);
/* Configured handlers, in file order. 0 for NULL. */
size_t mt_job_conf_handler_count(const mt_job_conf_t *conf);
/* The id of handler `index` (< mt_job_conf_handler_count). */
const char *mt_job_conf_handler_id(const mt_job_conf_t *conf, size_t index);
/* True if the configured handler `handler_id` carries tag `tag`. */
bool mt_job_conf_handler_has_tag(const mt_job_conf_t *conf, const char *handler_id, const char *tag);
/* True if `name` is the tag of at least one configured handler. */
bool mt_job_conf_is_tag(const mt_job_conf_t *conf, const char *name);
/* The handler id, tag or server name tool `tool_id` is mapped to, or NULL. */
const char *mt_job_conf_tool_handler(const mt_job_conf_t *conf, const char *tool_id);

/* What the stack looks like to the web worker creating a job. */
typedef struct mt_assign_facts {
    const char *self_server_name;                    /* the creating web worker, e.g. "main.web.2"; NULL if not one */
    bool (*farm_exists)(const char *farm, void *data); /* asks the stack; NULL means "no farms" */
    void *data;                                      /* passed to farm_exists and random */
    unsigned (*random)(void *data);                  /* for choosing a tag member; NULL uses random(3) */
    bool standalone_handlers;                        /* handlers of pools of type standalone exist */
} mt_assign_facts_t;

/* The decision. Strings are NUL-terminated; "" when not set. */
typedef struct mt_assignment {
    mt_assign_method_t method; /* the method that applied */
    char handler[256];         /* set directly (self, preassign, explicit mapping), or "" */
    char farm[128];            /* mule-message: the farm to send the job id to, else "" */
    char destination[128];     /* where an unassigned job waits: the farm name, "db" for skip-locked, else "" */
} mt_assignment_t;

/*
 * Decide how a new job of tool `tool_id` (may be NULL: no mapping applies)
 * is assigned. Returns 0 and fills *out, or -1 with a message in err and
 * *out zeroed. Never does I/O beyond the facts' callbacks.
 *
 * The target: the tool's explicit mapping if there is one, else the
 * handlers block's default if there is one, else none.
 *
 * Rules (the proposal's Caveats):
 *
 * 1. No job configuration, or one without a handlers block (no handlers,
 *    no default, no mapping for this tool): the assign order below decides;
 *    with the default order this means the job-handlers farm's mules
 *    handle the job when the farm exists (mule-message to "job-handlers",
 *    destination "job-handlers"), the creating web worker otherwise
 *    (db-self, handler = self_server_name).
 * 2. A handlers block without a default: the same as 1 for tools that are
 *    not mapped; a mapped tool gets the handler named (rule 5).
 * 3. A handlers block with a default: the default (a handler id or a tag)
 *    is the target of every tool that is not mapped, set directly
 *    (method db-preassign, no message); explicit mappings still override.
 * 4. A target that is a tag resolves to one of the handlers carrying it,
 *    chosen as members[random() % count] in file order (method
 *    db-preassign). But when a farm "job-handlers.TAG" exists and
 *    mule-message is in the assign order (it is by default), that farm
 *    serves the tag: mule-message to "job-handlers.TAG", handler "".
 * 5. An explicit mapping sets the handler directly (method db-preassign),
 *    with no message, whatever the assign order and even when the
 *    job-handlers farm exists. The target may be a handler id, a tag
 *    (rule 4) or a server name such as "main.job-handlers.2".
 * 6. With no target, the assign order is tried in order, each method
 *    falling through to the next when it cannot apply:
 *      mule-message    needs the "job-handlers" farm;
 *      db-skip-locked  needs standalone handlers, or to have been listed
 *                      by the operator (handlers on other hosts are
 *                      invisible to this stack); it is not in the default
 *                      order, so when listed it always applies;
 *                      handler "", destination "db";
 *      db-preassign    needs configured handlers: one of them, chosen as
 *                      handlers[random() % count];
 *      db-self,
 *      mem-self        need self_server_name (always set in a web worker):
 *                      handler = self_server_name.
 *    If none applies: -1 and an error naming the tool and each method
 *    tried with the reason it did not apply.
 */
int mt_job_conf_assign(const mt_job_conf_t *conf, const char *tool_id, const mt_assign_facts_t *facts,
                       mt_assignment_t *out, char *err, size_t errlen);

#endif
