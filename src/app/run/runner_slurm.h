/*
 * runner_slurm: a handler's cluster jobs, run by Slurm.
 *
 * A handler with jobs at a destination whose runner is a Slurm plugin
 * (job_route.h) gives each of them to its Slurm runner: the runner writes
 * the job's batch script into its working directory (slurm_script.h),
 * submits it with `sbatch --parsable` and the destination's options, and
 * watches all of its jobs with one `squeue` per poll interval, whatever
 * their number (squeue --user, the jobs' owner; the lines of other jobs
 * are ignored). It tells the handler what happens through one callback:
 * the job was submitted (its Slurm id, the job's external_id), Slurm runs
 * it, it ended (the command's exit status from the status file the script
 * wrote, and Slurm's own state when Slurm ended it: TIMEOUT,
 * OUT_OF_MEMORY, NODE_FAIL, CANCELLED, PREEMPTED, ...).
 *
 * Nothing blocks the handler's loop: the Slurm commands run as child
 * processes watched from the loop (slurm_command.h), at most
 * `max_commands` at once (the plugin's workers); more wait their turn.
 *
 * Failures: a submission that fails for a reason that may pass (the
 * controller cannot be reached, is busy: mt_slurm_error_transient) is
 * tried again, with a growing pause, for up to MT_SLURM_SUBMIT_PATIENCE_S;
 * any other failure (an invalid partition, a bad option) ends the job in
 * error with Slurm's message at once. A status query that fails is simply
 * made again at the next interval; jobs are not judged on it.
 *
 * Cluster jobs outlive their handler: a handler that comes back, or one
 * that takes over a lost handler's jobs, gives each of them back to its
 * runner with mt_slurm_runner_adopt(): by its Slurm id when that was
 * recorded, else by its Slurm job name (MT_SLURM_NAME_FMT, which names the
 * job's id, its attempt and a hash of its working directory), which finds
 * a submission whose answer never reached the database; only a job Slurm
 * does not know is submitted (again). A job that ended while no handler
 * watched gets its result from Slurm's state and its status file.
 *
 * Threading: a runner belongs to the thread running its loop.
 */
#ifndef MT_RUNNER_SLURM_H
#define MT_RUNNER_SLURM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <uv.h>

#include "app/model/job.h"
#include "app/model/job_route.h"
#include "common/creds.h"

/* How long a submission is tried again while Slurm cannot be reached, before the job ends in error. */
#define MT_SLURM_SUBMIT_PATIENCE_S 300
/* Slurm's output for the job itself (the script's own errors, "CANCELLED DUE TO TIME LIMIT"), in its working dir. */
#define MT_SLURM_LOG_NAME "slurm.log"

typedef struct mt_slurm_runner mt_slurm_runner_t;

typedef enum {
    MT_SLURM_EV_SUBMITTED, /* Slurm accepted the job: external_id is its id */
    MT_SLURM_EV_RUNNING,   /* Slurm runs it */
    MT_SLURM_EV_ENDED,     /* it ended: to, exit code, info, the resubmit conditions */
    MT_SLURM_EV_UNKNOWN,   /* adopt found no trace of it in Slurm (never submitted): the handler submits it */
} mt_slurm_event_kind_t;

typedef struct mt_slurm_event {
    mt_slurm_event_kind_t kind;
    int64_t job_id;
    int attempt;
    int64_t invocation_id;     /* as given to submit or adopt (passed back as it is) */
    const char *external_id;   /* SUBMITTED, RUNNING, ENDED (NULL if it never got one) */
    /* ENDED only: */
    mt_job_state_t to;         /* MT_JOB_OK, MT_JOB_ERROR, or MT_JOB_DELETED (cancelled by mt_slurm_runner_cancel) */
    bool has_exit_code;
    int exit_code;
    const char *info;          /* why it failed, with Slurm's state and reason; NULL for ok */
    bool walltime_reached;     /* Slurm: TIMEOUT or DEADLINE */
    bool memory_limit_reached; /* Slurm: OUT_OF_MEMORY */
    bool unknown_error;        /* it did not end by its command's own doing: NODE_FAIL, PREEMPTED, BOOT_FAIL,
                                  cancelled outside muleteer, or no status at all */
    bool never_ran;            /* the submission failed: nothing ran */
    double seconds_running;    /* since this runner saw it running (0 if never) */
    bool seen_running;         /* a RUNNING event came before (or it was adopted running) */
} mt_slurm_event_t;

/* An event; ev lives only during the call. The callback must not call this runner's functions (queue the work). */
typedef void (*mt_slurm_event_cb)(const mt_slurm_event_t *ev, void *data);

typedef struct mt_slurm_runner_spec {
    int max_commands;          /* Slurm commands at once (the plugin's workers); <= 0: 4 */
    unsigned poll_ms;          /* between status queries; 0: 1000 */
    char *const *command_env;  /* the environment of sbatch, squeue, scancel (NULL-terminated; copied): PATH,
                                  SLURM_CONF, ... -- sbatch passes it on to the job, so nothing of the server's */
    uid_t user;                /* whose jobs the poll lists (squeue --user): the jobs' owner */
    mt_slurm_event_cb event_cb;
    void *data;
} mt_slurm_runner_spec_t;

/* A runner on loop. Never NULL. */
mt_slurm_runner_t *mt_slurm_runner_new(uv_loop_t *loop, const mt_slurm_runner_spec_t *spec);

/* What to submit. Nothing in it is referenced after mt_slurm_runner_submit() returns. */
typedef struct mt_slurm_submission {
    int64_t job_id;
    int attempt;
    int64_t invocation_id;      /* passed back in the job's events */
    char *const *argv;          /* the tool's command (argv[0] absolute) */
    const char *const *env;     /* KEY=VALUE the script exports */
    size_t env_count;
    const mt_job_route_t *route;/* the destination: nativeSpecification, walltime, env lines */
    const char *working_dir;    /* exists; absolute */
    const mt_creds_t *run_as;   /* NULL, or the user (and group) the job runs as: sbatch --uid/--gid */
} mt_slurm_submission_t;

/*
 * Write the job's batch script and submit it (now, or when a command slot
 * frees). Returns 0: event_cb will report SUBMITTED then RUNNING and ENDED,
 * or ENDED alone (a failed submission, a cancel). Returns -errno with err
 * when nothing was submitted and no event will come (the script could not
 * be written, a nativeSpecification that cannot be split).
 */
int mt_slurm_runner_submit(mt_slurm_runner_t *r, const mt_slurm_submission_t *sub, char *err, size_t errlen);

/*
 * Watch a job submitted by an earlier handler (recovery, takeover).
 * external_id: its Slurm id, or NULL when none was recorded: it is looked
 * for by name first, and reported UNKNOWN when Slurm has no such job (the
 * handler then submits it). seen_running: the job is `running` in the
 * database (no RUNNING event again). cancel: it is being cancelled.
 * A job already watched is left as it is.
 */
void mt_slurm_runner_adopt(mt_slurm_runner_t *r, int64_t job_id, int attempt, int64_t invocation_id,
                           const char *external_id, const char *working_dir, bool seen_running, bool cancel);

/* Is job_id one of this runner's? */
bool mt_slurm_runner_has(const mt_slurm_runner_t *r, int64_t job_id);

/*
 * Cancel job_id: scancel once it has a Slurm id (a submission in progress
 * is cancelled once it answers; one not yet sent is dropped); ENDED with
 * MT_JOB_DELETED comes once Slurm has ended it. No-op for a job not here.
 */
void mt_slurm_runner_cancel(mt_slurm_runner_t *r, int64_t job_id);

/* Jobs watched or being submitted. */
size_t mt_slurm_runner_count(const mt_slurm_runner_t *r);

/*
 * The handler stops: nothing more is submitted or polled; the Slurm
 * commands still running are killed and reaped (a submission cut short is
 * found by its name when a handler adopts the job). The jobs themselves
 * keep running in Slurm, for the next handler. Frees the runner once its
 * handles are closed (the loop must run on for that).
 */
void mt_slurm_runner_stop(mt_slurm_runner_t *r);

/*
 * Check what the job configuration's slurm destinations ask of sbatch,
 * once it is loaded: a nativeSpecification must split into words, and
 * must not set what the runner sets itself -- the job's name (it finds the
 * job by it after a restart), working directory, Slurm output file,
 * --parsable, --uid/--gid, nor --wrap, --array, --wait or --test-only,
 * which would change what a submission is -- nor give a --time when the
 * destination's walltime param gives one already (or one that is not a
 * Slurm time). A --time beside the walltime limit is fine: the smaller of
 * the two is submitted.
 * Returns 0, or -EINVAL with "FILE:LINE: destination 'X':
 * nativeSpecification '...': --job-name is set by muleteer (...)" in err.
 */
int mt_slurm_check_destinations(const mt_job_conf_t *conf, char *err, size_t errlen);

/* The Slurm job name of a job's attempt, into buf (MT_SLURM_NAME_FMT). */
#define MT_SLURM_NAME_FMT "muleteer-%lld-%d-%08x"
const char *mt_slurm_job_name(int64_t job_id, int attempt, const char *working_dir, char *buf, size_t len);

#endif
