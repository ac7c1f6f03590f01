/*
 * job_assign: who handles a job -- Galaxy's handler assignment rules
 * (reference/galaxy-scaling-19.09.md, "Job Handler Assignment Methods")
 * applied to the job configuration (job_conf.h) and to what the stack looks
 * like. Pure functions: the caller describes the stack in
 * mt_assign_facts_t, writes the job and sends any message itself.
 *
 * Pools. Handlers are grouped in pools named like the farms that serve
 * them: the default pool "job-handlers" (untagged handlers, the mules of the
 * job-handlers farm, standalones attached to job-handlers, and the web
 * workers when the stack has no other handler for it), and one pool
 * "job-handlers.TAG" per tag (handlers carrying the tag, the mules of a farm
 * of that name, standalones attached to it). A tag keeps a handler out of
 * the default pool, which is how Galaxy's `nodefault` and `drain` idioms
 * work.
 *
 * A job's target is its tool's mapping, else the configuration's default,
 * else the default pool. A target that is a handler id or a server name
 * gets that handler directly, whatever the methods (Galaxy: "configured
 * assignment methods are ignored"). A target that is a tag is the pool
 * job-handlers.TAG. For a pool, the assign order is walked:
 *
 *   mule-message       the pool's farm exists: the job waits in the pool's
 *                      queue (handler NULL) and its id goes to the farm;
 *   db-skip-locked,
 *   db-transaction-isolation
 *                      always: the job waits in the pool's queue, the
 *                      pool's handlers claim it from the database;
 *   db-preassign       a random member of the pool among the configured
 *                      handlers (untagged ones for the default pool);
 *   db-self, mem-self  the default pool: the creating process (a web
 *                      worker, or the handler creating a workflow step's
 *                      job); a tag pool: as db-preassign (Galaxy: "tags by
 *                      Database Preassignment").
 *
 * Without assign_with the order is Galaxy's default for the configuration:
 * no handlers and no job-handlers farm -> db-self; handlers and no farm ->
 * db-preassign; a farm and no handlers -> mule-message; both ->
 * mule-message, then db-preassign. ("A farm" is one named job-handlers or
 * job-handlers.TAG.)
 *
 * Thread-safety: everything here may be called from any thread.
 */
#ifndef MT_JOB_ASSIGN_H
#define MT_JOB_ASSIGN_H

#include <stdbool.h>
#include <stddef.h>

#include "app/model/job_conf.h"

/* The default pool: "job-handlers". A tag's pool is "job-handlers.TAG". */
#define MT_JOB_DEFAULT_POOL MT_JOB_HANDLERS_FARM

/* What the stack looks like to the process creating a job. */
typedef struct mt_assign_facts {
    const char *self_server_name;                      /* the creating process if it handles jobs, else NULL */
    bool (*farm_exists)(const char *farm, void *data); /* asks the stack; NULL means "no farms" */
    void *data;                                        /* passed to the callbacks */
    unsigned (*random)(void *data);                    /* for choosing a pool member; NULL uses random(3) */
    const mt_assign_method_t *order;                   /* the effective order if known already (it depends */
    size_t norder;                                     /* only on the file and the farms); 0: computed per call */
} mt_assign_facts_t;

/* The decision. Strings are NUL-terminated; "" when not set. */
typedef struct mt_assignment {
    mt_assign_method_t method; /* the method that applied */
    bool direct;               /* the target named a handler: set directly, the methods were not consulted */
    char handler[256];         /* set at creation (direct, preassign, self), or "" */
    char queue[128];           /* the pool an unassigned job waits in, or "" when handler is set */
    char farm[128];            /* mule-message: the farm to send the job id to, else "" */
} mt_assignment_t;

/*
 * The effective assign order: facts->order when given, else the file's,
 * else Galaxy's default for the configuration and the stack's farms (see
 * above). Fills methods (room for MT_ASSIGN_METHOD_COUNT) and returns the
 * count (at least 1).
 */
size_t mt_job_assign_order(const mt_job_conf_t *conf, const mt_assign_facts_t *facts,
                           mt_assign_method_t methods[MT_ASSIGN_METHOD_COUNT]);

/* True if the effective order lets handlers claim from the database (db-skip-locked, db-transaction-isolation). */
bool mt_job_assign_claims_from_db(const mt_job_conf_t *conf, const mt_assign_facts_t *facts);

/*
 * Decide how a new job of tool `tool_id` (NULL: no mapping applies) is
 * assigned. Returns 0 and fills *out, or -1 with *out zeroed and a message
 * in err naming the tool, its target and each method tried with the reason
 * it did not apply. Does no I/O beyond the facts' callbacks.
 */
int mt_job_assign(const mt_job_conf_t *conf, const char *tool_id, const mt_assign_facts_t *facts,
                  mt_assignment_t *out, char *err, size_t errlen);

/* What a process is, for mt_job_assign_pools. */
typedef struct mt_handler_identity {
    const char *server_name;
    bool web;                   /* a web worker */
    const char *const *farms;   /* a mule's farms */
    size_t nfarms;
    const char *const *attached;/* a standalone's pools (--attach-to-pool) */
    size_t nattached;
} mt_handler_identity_t;

/*
 * The pools whose queues the process `who` takes unassigned jobs from:
 * written into pools (each up to 127 bytes, at most `max`), count
 * returned. A mule serves its job-handlers / job-handlers.TAG farms; a
 * standalone its attached pools; a configured handler its tags' pools, or
 * the default pool when untagged; a web worker the default pool when
 * nothing else of the stack serves it (no job-handlers farm, no untagged
 * handler configured, no standalone pool job-handlers declared:
 * `default_pool_served_elsewhere`).
 */
size_t mt_job_assign_pools(const mt_job_conf_t *conf, const mt_handler_identity_t *who,
                           bool default_pool_served_elsewhere, char pools[][128], size_t max);

/*
 * Start-up check of the names the configuration gives (the default, the
 * tools' mappings) against the stack: `is_process` says whether a server
 * name is a process of this stack, `pool_declared` whether a pool has a
 * farm or declared standalones here. A name without a '.' that is neither
 * a handler, a tag, a pool with a farm here, nor servable by standalones
 * (a database method in the order) is an error: -1 with
 * "FILE:LINE: ..." in err (`file` names the configuration). What will
 * make jobs wait -- a handler no process of this stack is, a pool nothing
 * here serves, unmapped tools no method can place -- is reported through
 * `warn` (one call per finding, "FILE:LINE: ..."), for the caller to log;
 * the caller knows which of those names run elsewhere.
 */
typedef struct mt_assign_stack {
    mt_assign_facts_t facts;
    bool (*is_process)(const char *server_name, void *data);
    void (*warn)(const char *message, void *data);
    void *data;
} mt_assign_stack_t;

int mt_job_assign_check(const mt_job_conf_t *conf, const char *file, const mt_assign_stack_t *stack, char *err,
                        size_t errlen);

#endif
