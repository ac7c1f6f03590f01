/*
 * handling: which processes of the stack handle jobs, the pools each
 * serves (model/job_assign.h), and whether a job will reach a running
 * handler.
 *
 * Handlers are: standalone processes (--attach-to-pool); mules of a
 * job-handlers, job-handlers.TAG or workflow-schedulers farm; mules the
 * job configuration names as handlers; and each web worker, on a loop
 * thread of its own beside its web threads (so that its database calls
 * never hold a request), for the jobs assigned to it (db-self) and for the
 * default pool while nothing else serves it. Workflow invocations go to the
 * workflow-schedulers farm's mules if there is one, else as jobs do.
 */
#ifndef MT_HANDLING_H
#define MT_HANDLING_H

#include <stdbool.h>
#include <stddef.h>

#include "app/model/job_assign.h"
#include "app/model/job_conf.h"
#include "muleteer.h"

typedef struct mt_handler mt_handler_t;

/*
 * The stack as handler assignment sees it (job_assign.h), for a job
 * created by `self` (a web worker's or a handler's server name; NULL: a
 * process that handles no jobs). Any thread, after load.
 */
void mt_jobs_assign_facts(mt_assign_facts_t *facts, const char *self);

/*
 * Whether a job so assigned will reach a running handler: 0, or -1 with
 * a note for the operator in `note` (also logged as a warning by the
 * caller): "handler X is not running: ..." or "pool P is served by no
 * running handler: ...". Knows this stack's processes and the handlers
 * registered with a live lease in the job database, on any host
 * (store/handler_store.h). Any thread.
 */
int mt_jobs_check_reachable(const mt_assignment_t *as, char *note, size_t len);

/*
 * Whether a handler other than the web workers serves `pool`: a farm of
 * that name, a process of this stack configured for it, or a handler
 * with a live lease in the job database serving it, on any host
 * (store/handler_store.h). Web workers stand in for the
 * default pool only while this is false. Any thread.
 */
bool mt_jobs_pool_has_handler(const char *pool);

/* The handler running in this process, or NULL. Any thread. */
mt_handler_t *mt_jobs_local_handler(void);

/* The message handler of MT_JOBS_MSG_SETUP, _CANCEL and _INVOCATION: the id goes to this process's handler. */
void mt_jobs_on_message(mt_stack_t *stack, const mt_message_t *msg, void *data);

/*
 * For app.c. At load (master or standalone, after the context is set):
 * compute the pools this stack serves, check the job configuration's
 * names against the stack (errors: -1 and err; what will make jobs wait:
 * warnings in the log), and register a standalone's name and pools.
 */
int mt_jobs_handling_load(mt_stack_t *stack, char *err, size_t errlen);
/*
 * For app.c's reload, in the master, once mt_jobs()->conf is the new job
 * configuration (old: the one it replaces, NULL for none): check its names
 * against the stack and compute again what load computed from it (the
 * pools served, the assign order), as mt_jobs_handling_load does. Refused:
 * a new configuration that no longer names a mule that handles jobs only
 * because the old one named it (its jobs would be left to nobody). 0, or
 * -1 and err (the caller then puts the old configuration back and calls
 * this again).
 */
int mt_jobs_handling_reload(mt_stack_t *stack, const mt_job_conf_t *old, char *err, size_t errlen);
/* --print-config: the names of conf (file `path`) against this stack. 0, or -1 and err. */
int mt_jobs_handling_check(mt_stack_t *stack, const mt_job_conf_t *conf, const char *path, char *err, size_t errlen);
/* The stack's hooks: start a handler where one belongs, stop it on its own thread. */
void mt_jobs_handling_mule_start(mt_stack_t *stack);
void mt_jobs_handling_web_thread_start(mt_stack_t *stack);
void mt_jobs_handling_stop(void);

#endif
