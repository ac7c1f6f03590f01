/*
 * app: the job application as the stack sees it (mt_jobs_app), and the
 * context every module of the application shares.
 *
 * The master loads it once before forking (app_load): it creates the data
 * directory, migrates the database, loads the tools and the job
 * configuration, and registers the HTTP routes and the message handlers.
 * A graceful reload of the stack reads the tools, the workflows and the job
 * configuration again in the master (app_reload, mt_app_t.reload): checked
 * first, they replace the old ones for the children forked after it.
 * It runs after the stack dropped to --uid / --gid, so whatever it creates
 * belongs to that user, and a data directory or database that user cannot
 * write is a start-up error.
 * Every child inherits the context read-only. Database connections are
 * per thread and opened lazily after the fork (mt_jobs_db).
 *
 * Which processes handle jobs, and the pools they serve: handling.h.
 */
#ifndef MT_APP_H
#define MT_APP_H

#include <stdbool.h>

#include "app/store/db.h"
#include "app/model/job_conf.h"
#include "app/model/tools.h"
#include "app/run/job_cleanup.h"
#include "common/creds.h"
#include "muleteer.h"

/* Message targets of the job application. Payload: the job id in decimal. */
#define MT_JOBS_MSG_SETUP "job-setup"   /* claim this unassigned job and run it */
#define MT_JOBS_MSG_CANCEL "job-cancel" /* this job of yours is being cancelled */
#define MT_JOBS_MSG_INVOCATION "invocation-setup" /* claim this workflow invocation and schedule it */

/* The farm whose mules schedule workflow invocations, when there is one. */
#define MT_JOBS_SCHEDULERS_FARM "workflow-schedulers"
/* Most pools one handler serves. */
#define MT_JOBS_POOLS_MAX 32

typedef struct mt_handler mt_handler_t;

typedef struct mt_jobs_ctx {
    mt_stack_t *stack;
    char *data_dir;          /* absolute */
    char *db_path;           /* absolute */
    char *jobs_dir;          /* data_dir/jobs: one working directory per job */
    mt_toolbox_t *tools;
    struct mt_workflow_library *workflows; /* the workflows directory's */
    mt_job_conf_t *conf;     /* NULL: no job configuration */
    mt_db_sync_t accept_sync;/* the web workers' connections: what a 201 promises */
    mt_db_sync_t state_sync; /* the handlers' connections */
    int workers;             /* jobs a handler runs at once */
    int sweep_delay_ms;      /* an unassigned job older than this is taken by a sweeper */
    int poll_ms;             /* handlers look for assigned and cancelled jobs this often */
    int cancel_grace_ms;     /* SIGTERM -> SIGKILL */
    int64_t handler_lease_ms; /* a handler's lease in the database (run/handler_lease.h) */
    int max_attempts;        /* runs of a job lost unfinished (host died, fence lapsed) before it ends in error (>= 1) */
    mt_job_cleanup_t cleanup; /* jobs.cleanup: what is left of an ended job's working directory (run/job_cleanup.h) */
    const mt_creds_t *job_creds; /* job-user / job-group to start commands as; NULL: as the handler itself */
    char *stack_env;         /* "MULETEER_STACK_ID=<master pid>-<start us>": in every command's environment */
    int cluster_poll_ms;     /* a handler asks the cluster (squeue) about its cluster jobs this often */
    char **cluster_env;      /* the environment of the cluster's commands (sbatch, squeue, scancel; NULL-terminated):
                                PATH, LC_ALL, HOME and SLURM_CONF from the server's -- sbatch passes it to the job */
} mt_jobs_ctx_t;

extern const mt_app_t mt_jobs_app;

/* The shared context (valid after load, in every process). */
mt_jobs_ctx_t *mt_jobs(void);

/*
 * The calling thread's database connection, opened on first use with the
 * thread's durability (accept_sync in web threads, state_sync elsewhere).
 * NULL with the reason logged if the database cannot be opened.
 */
mt_db_t *mt_jobs_db(void);



/* Whose jobs' outputs a new job may read (the resolver's data). */
typedef struct mt_jobs_data_scope {
    mt_db_t *db;      /* the calling thread's connection */
    const char *user; /* only this user's jobs; NULL: any job's */
} mt_jobs_data_scope_t;

/*
 * The data resolver for mt_tool_validate (tools.h): data = an
 * mt_jobs_data_scope_t. A job output is resolved when the job exists, is
 * the scope's user's (when it names one), ended ok, its tool has that
 * output and the file was written. Another user's job is refused exactly
 * as a missing one ("job 7 does not exist").
 */
int mt_jobs_resolve_data(void *data, const char *job_id, const char *output, char **path_out, char *err,
                         size_t errlen);

/*
 * Ownership in the HTTP API. The scope of a request: NULL when it may see
 * everything (an admin user's key, or no api-key configured), else its
 * user's name -- it then sees only what that user owns. A record owned by
 * `owner` (NULL: nobody) is visible in scope when scope is NULL or names
 * the owner. What is not visible is answered as if it did not exist.
 */
const char *mt_jobs_request_scope(const mt_request_t *req);
bool mt_jobs_visible(const char *scope, const char *owner);

/* Working directory of a job: jobs_dir/<id>, into buf. */
const char *mt_jobs_workdir(int64_t id, char *buf, size_t len);

/*
 * The mark a job's run leaves when the stack ended while the run was
 * alive (MT_JOBS_INTERRUPTED_MARK in its working directory, written by the
 * undertaker before it killed the run): the run was stopped unfinished, so
 * recovery runs the job again instead of calling its result unknown.
 * mt_jobs_take_interrupted() removes the mark and tells whether it was
 * there; every run takes it before it starts, so a mark never outlives
 * the run it speaks of.
 */
#define MT_JOBS_INTERRUPTED_MARK ".muleteer-interrupted"
bool mt_jobs_take_interrupted(const char *workdir);

/*
 * Whether jobs.cleanup has (or will have) cleaned the working directory of
 * a job in `state`: then a missing stdout or stderr of a job that ran was an
 * empty file it removed (cleanup removes them only when empty), and the API
 * answers it as empty. Any thread.
 */
bool mt_jobs_cleaned_up(mt_job_state_t state);

/* Register the HTTP API (api_jobs.c, api_tools.c). */
int mt_jobs_api_register(mt_stack_t *stack);
int mt_tools_api_register(mt_stack_t *stack);
int mt_workflows_api_register(mt_stack_t *stack);
int mt_invocations_api_register(mt_stack_t *stack);
int mt_handlers_api_register(mt_stack_t *stack);
/* POST /api/workflows/{id}/invocations (api_invocations.c, routed by api_workflows.c). */
void mt_invocations_create(mt_request_t *req, const char *workflow_id);

#endif
