/*
 * handler: claiming, queueing, running and recovering jobs (see handler.h).
 *
 * Group commit. A handler does not write each change the moment it learns
 * of it: job ids from messages and polls, and results of commands that
 * ended, are collected during one turn of the loop and written at its end
 * (flush(), run from a uv_idle handle, which libuv runs before it next
 * waits) in one transaction: the results, the claims, and for every free
 * slot the move of a queued job to `running`. Only after that commit do the
 * commands start. Their pids ride along with the next transaction, or the
 * poll's at the latest: nothing waits for them. So a job that starts at
 * once costs one commit from claim to running and one for its result, and
 * a burst of messages or exits shares its commits. In a stream of jobs the
 * two meet: a command that ends offers its slot to the farm at once, and
 * its result waits one non-blocking poll for the next job (flush_idle_cb),
 * whose claim and start then share the result's commit.
 *
 * Order of writes around a run, so that a crash at any point leaves a state
 * recovery can act on truthfully: the job is `running` (with its working
 * directory) before its command starts, and the result is written when the
 * command ends. A handler that dies in between finds the job `running` when
 * it comes back, finds what is left of its processes (by the recorded pid,
 * or by the MULETEER_JOB_DIR in their environment when the pid was not
 * written yet), stops them and runs the job again; or, when they are gone,
 * records it as error, since their result is unknown -- unless the
 * undertaker marked the run as stopped unfinished when the whole stack
 * ended (app.c), and then the job runs again too.
 */
#define MT_LOG_NAME "muleteer.jobs.handler"

#include "app/run/handler.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "app/app.h"
#include "app/handling.h"
#include "app/store/invocation_store.h"
#include "app/store/job_store.h"
#include "app/store/store_metrics.h"
#include "app/run/fence.h"
#include "app/run/job_cleanup.h"
#include "app/run/job_waiter.h"
#include "app/run/runner_local.h"
#include "app/run/runner_slurm.h"
#include "app/model/job_resubmit.h"
#include "app/run/scheduler.h"
#include "app/model/tools.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/mem.h"

#define POLL_BATCH 100
/* Cluster jobs given to the cluster in one flush's transaction at most (the rest in the next). */
#define CLUSTER_BATCH 256
/*
 * Recovery: how long after a run's start its waiter may still be starting
 * (exec, the command's spawn) without its pid file written, on a loaded host.
 */
#define RECOVER_WAITER_START_MS 3000
/* A job is resubmitted (a destination's resubmit rules) at most this many times. */
#define RESUBMIT_MAX 10
#define FAILURE_LOG_EVERY_US (60 * 1000000LL)

/*
 * A write failing at every turn of the loop (a full disk, a lock held by
 * another process) is logged when it starts, then at most once a minute
 * with a count, and once when it ends: not once per poll.
 */
typedef struct failure_log {
    unsigned failures;   /* in a row */
    int64_t last_log_us; /* of the last line logged about them */
} failure_log_t;

typedef struct id_list {
    int64_t *v;
    size_t n, cap;
} id_list_t;

/* A write waiting for the next flush: a result, or a failure to start. */
typedef struct pending_write {
    int64_t id;
    unsigned from;            /* allowed-from mask */
    mt_job_state_t to;
    bool has_exit_code;
    int exit_code;
    bool deleted_if_cancelled; /* the transition found the job being cancelled: end it deleted */
    int64_t invocation_id;    /* the job's invocation, to move forward once this is written; 0 if none */
    char *info;
    char *external_id;
    char *resubmit_to;        /* a resubmit: the destination the job goes to next (mt_job_store_resubmit) */
    bool resubmit_cluster;    /* that destination's runner is a cluster's */
    int64_t resubmit_delay_ms;
    bool cleanup;             /* a local run's end: once committed, jobs.cleanup may apply (job_cleanup.h) */
    char **cleanup_keep;      /* what its directory keeps then (mt_job_cleanup_keep_list; one allocation) */
    int applied;              /* set by apply_write: the state the job was moved to, or -1 (none) */
} pending_write_t;

typedef struct running_job {
    int64_t id;
    int64_t invocation_id;
    int attempt;              /* of the job: a run lost unfinished is retried as attempt + 1 */
    int64_t started_ms;       /* mt_clock_ms() when it was started (or adopted) */
    bool cleanable;           /* its tool is known: jobs.cleanup may apply once it ends (job_cleanup.h) */
    char **keep;              /* what jobs.cleanup keeps of its directory then; NULL: its tool declares nothing */
    mt_run_t *run;
    mt_handler_t *handler;
    struct running_job *next;
} running_job_t;

/* A job moved to `running` in this flush's transaction, to start once it commits. */
typedef struct start {
    int64_t id;
    int64_t invocation_id;
    int attempt;
    const mt_tool_t *tool;
    char **argv;              /* NULL: it did not start; why says why (it is `error` now) */
    char why[512];
    mt_job_route_t route;     /* its destination: env, local_slots, walltime limit (job_route.h) */
    bool cluster;             /* its destination's runner is a cluster's (Slurm): it stays queued until Slurm runs it */
} start_t;

/* A resubmitted job that waits for its rule's delay before it runs again. */
typedef struct delayed_job {
    int64_t id;
    int64_t due_ms;           /* mt_clock_ms() */
    bool cluster;
} delayed_job_t;

struct mt_handler {
    mt_stack_t *stack;
    uv_loop_t *loop;
    char *name;
    char **pools;            /* the queues it takes unassigned jobs from (job-handlers, job-handlers.TAG, ...) */
    size_t npools;
    bool claim_now;          /* db-skip-locked / db-transaction-isolation: at once; else only after sweep-delay */
    bool pool_claim_due;     /* claim_now: jobs may wait in the pools (a poll, a notification, or claims cut short
                                for want of room); cleared when a claim finds none */
    bool fallback;           /* a web worker's: it claims only while no other handler serves the pool */
    int64_t fallback_checked_ms;
    bool fallback_yields;    /* the last check found another handler for the pools */
    bool stopping;           /* mt_handler_stop was called: start nothing more */
    int64_t *queue;          /* ring buffer of queued job ids */
    size_t qhead, qlen, qcap;
    id_list_t incoming;      /* ids to claim (or accept) at the next flush */
    id_list_t invocations;   /* invocations to claim or move forward after the next flush */
    struct lost_run *lost;   /* lost runs whose next attempt could not be recorded yet: tried at each poll */
    size_t nlost, lost_cap;
    pending_write_t *writes; /* to write at the next flush, which they call for */
    size_t nwrites, writes_cap;
    pending_write_t *pids;   /* pids of started commands: written with the next flush, not calling for one */
    size_t npids, pids_cap;
    running_job_t *running;
    int nrunning;
    uv_idle_t flush_idle;    /* active while something waits for flush() */
    bool hold_results;       /* a command ended and its slot went to the farm: wait one poll (flush_idle_cb) */
    bool held;               /* what is pending has waited its poll already: write it at the next turn */
    uv_timer_t poll;
    uv_async_t wakeup;
    pthread_mutex_t inbox_lock;
    int64_t *inbox;          /* ids handed over by other threads */
    size_t ninbox, inbox_cap;
    failure_log_t write_failures; /* of flush()'s transaction */
    failure_log_t schedule_failures; /* of advance_invocations() */
    mt_fence_t *fence;       /* promises the waiters of our commands that we are there (fence.h); NULL: none */
    mt_slurm_runner_t *slurm; /* its cluster jobs (runner_slurm.h); created with the first one */
    id_list_t cluster_queue;  /* queued jobs to give to the cluster at the next flush: no local slot needed */
    delayed_job_t *delayed;  /* resubmitted jobs waiting for their rule's delay */
    size_t ndelayed, delayed_cap;
};

/* ---- failures that repeat ---- */

static void failure_seen(failure_log_t *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void failure_seen(failure_log_t *f, const char *fmt, ...)
{
    int64_t now = mt_wall_us();
    f->failures++;
    if (f->failures > 1 && now - f->last_log_us < FAILURE_LOG_EVERY_US)
        return;
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (f->failures == 1)
        mt_error("%s", msg);
    else
        mt_error("%s (still failing: %u attempts so far)", msg, f->failures);
    f->last_log_us = now;
}

static void failure_over(failure_log_t *f, const char *what)
{
    if (f->failures > 1)
        mt_notice("%s again, after %u failed attempts", what, f->failures);
    else if (f->failures == 1)
        mt_notice("%s again", what);
    f->failures = 0;
}

/* ---- small containers ---- */

static void id_list_push(id_list_t *l, int64_t id)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 16;
        l->v = mt_realloc(l->v, l->cap * sizeof *l->v);
    }
    l->v[l->n++] = id;
}

static void queue_push(mt_handler_t *h, int64_t id)
{
    if (h->qlen == h->qcap) {
        size_t cap = h->qcap ? h->qcap * 2 : 64;
        int64_t *q = mt_malloc(cap * sizeof *q);
        for (size_t i = 0; i < h->qlen; i++)
            q[i] = h->queue[(h->qhead + i) % h->qcap];
        free(h->queue);
        h->queue = q;
        h->qcap = cap;
        h->qhead = 0;
    }
    h->queue[(h->qhead + h->qlen++) % h->qcap] = id;
}

static int64_t queue_at(const mt_handler_t *h, size_t i)
{
    return h->queue[(h->qhead + i) % h->qcap];
}

static void queue_drop_front(mt_handler_t *h, size_t n)
{
    h->qhead = h->qcap ? (h->qhead + n) % h->qcap : 0;
    h->qlen -= n;
}

static bool queue_remove(mt_handler_t *h, int64_t id)
{
    for (size_t i = 0; i < h->qlen; i++) {
        if (queue_at(h, i) != id)
            continue;
        for (size_t k = i; k + 1 < h->qlen; k++)
            h->queue[(h->qhead + k) % h->qcap] = h->queue[(h->qhead + k + 1) % h->qcap];
        h->qlen--;
        return true;
    }
    return false;
}

static running_job_t *find_running(mt_handler_t *h, int64_t id)
{
    for (running_job_t *r = h->running; r; r = r->next)
        if (r->id == id)
            return r;
    return NULL;
}

/* ---- state changes written at once (rare paths: cancel, stop, recovery) ---- */

static int transition(int64_t id, unsigned from, mt_job_state_t to, const mt_job_update_t *update)
{
    mt_db_t *db = mt_jobs_db();
    if (!db)
        return -EIO;
    int rc = mt_job_store_transition(db, id, from, to, update);
    if (rc < 0)
        mt_error("job %lld: cannot record state %s: %s", (long long)id, mt_job_state_name(to), mt_db_errmsg(db));
    return rc;
}

static void fail_job(int64_t id, unsigned from, const char *why)
{
    mt_job_update_t u = {.info = why};
    if (transition(id, from, MT_JOB_ERROR, &u) == 1)
        mt_warn("job %lld: error: %s", (long long)id, why);
}

/* ---- writes for the next flush ---- */

static void flush_idle_cb(uv_idle_t *idle);
static void update_credit(mt_handler_t *h);

static void schedule_flush(mt_handler_t *h)
{
    if (!uv_is_active((uv_handle_t *)&h->flush_idle))
        uv_idle_start(&h->flush_idle, flush_idle_cb);
}

static pending_write_t *append_write(pending_write_t **v, size_t *n, size_t *cap, int64_t id, unsigned from,
                                     mt_job_state_t to)
{
    if (*n == *cap) {
        *cap = *cap ? 2 * *cap : 16;
        *v = mt_realloc(*v, *cap * sizeof **v);
    }
    pending_write_t *w = &(*v)[(*n)++];
    *w = (pending_write_t){.id = id, .from = from, .to = to, .applied = -1};
    return w;
}

static pending_write_t *add_write(mt_handler_t *h, int64_t id, unsigned from, mt_job_state_t to)
{
    return append_write(&h->writes, &h->nwrites, &h->writes_cap, id, from, to);
}

static void add_failure(mt_handler_t *h, int64_t id, int64_t invocation_id, const char *why)
{
    pending_write_t *w = add_write(h, id, MT_JOB_BIT(MT_JOB_RUNNING), MT_JOB_ERROR);
    w->info = mt_strdup(why);
    w->invocation_id = invocation_id;
    mt_warn("job %lld: error: %s", (long long)id, why);
}

static int apply_write(mt_db_t *db, pending_write_t *w)
{
    if (w->resubmit_to) {
        int attempt = 0;
        int rc = mt_job_store_resubmit(db, w->id, w->from, w->resubmit_to, w->info, &attempt);
        if (rc == 0) { /* no longer ours to send on (cancelled meanwhile): the cancel stands */
            free(w->resubmit_to);
            w->resubmit_to = NULL;
            rc = mt_job_store_transition(db, w->id, MT_JOB_BIT(MT_JOB_DELETING), MT_JOB_DELETED,
                                         &(mt_job_update_t){.info = "cancelled"});
        }
        return rc < 0 ? rc : 0;
    }
    mt_job_update_t u = {.has_exit_code = w->has_exit_code, .exit_code = w->exit_code, .info = w->info,
                         .external_id = w->external_id};
    w->applied = -1;
    int rc = mt_job_store_transition(db, w->id, w->from, w->to, &u);
    if (rc == 1)
        w->applied = (int)w->to;
    if (rc == 0 && w->deleted_if_cancelled) { /* a cancel arrived as it finished: the user's wish stands */
        rc = mt_job_store_transition(db, w->id, MT_JOB_BIT(MT_JOB_DELETING), MT_JOB_DELETED, &u);
        if (rc == 1)
            w->applied = (int)MT_JOB_DELETED;
    }
    return rc < 0 ? rc : 0;
}

static void free_writes(pending_write_t *v, size_t *n)
{
    for (size_t i = 0; i < *n; i++) {
        free(v[i].info);
        free(v[i].external_id);
        free(v[i].resubmit_to);
        free(v[i].cleanup_keep);
    }
    *n = 0;
}

/* Is the filesystem of job id's working directory out of space or inodes? */
static bool workdir_full(int64_t id)
{
    char workdir[4096];
    struct statvfs st;
    mt_jobs_workdir(id, workdir, sizeof workdir);
    return statvfs(workdir, &st) == 0 && (st.f_bavail == 0 || (st.f_files > 0 && st.f_favail == 0));
}

/*
 * A run of job id (attempt `attempt`) ended without finishing its command,
 * or with no one knowing how it ended: run the job again as its next
 * attempt, or end it in error once jobs.max-attempts runs are spent. A job
 * being cancelled (allowed_from has no DELETING; see the callers) is left
 * to its cancel. Written at once: a rare path.
 */
/* A lost run whose next attempt could not be written (the database failed): kept for the next poll. */
typedef struct lost_run {
    int64_t id, invocation_id;
    int attempt;
    unsigned allowed_from;
    char why[512];
} lost_run_t;

static void run_lost(mt_handler_t *h, int64_t id, int64_t invocation_id, int attempt, unsigned allowed_from,
                     const char *why);

static void keep_lost(mt_handler_t *h, int64_t id, int64_t invocation_id, int attempt, unsigned allowed_from,
                      const char *why)
{
    if (h->nlost == h->lost_cap) {
        h->lost_cap = h->lost_cap ? 2 * h->lost_cap : 8;
        h->lost = mt_realloc(h->lost, h->lost_cap * sizeof *h->lost);
    }
    lost_run_t *l = &h->lost[h->nlost++];
    *l = (lost_run_t){.id = id, .invocation_id = invocation_id, .attempt = attempt, .allowed_from = allowed_from};
    snprintf(l->why, sizeof l->why, "%s", why);
}

/* At each poll: the lost runs whose next attempt could not be written before. */
static void retry_lost(mt_handler_t *h)
{
    size_t n = h->nlost;
    if (!n)
        return;
    lost_run_t *todo = h->lost;
    h->lost = NULL;
    h->nlost = h->lost_cap = 0;
    for (size_t i = 0; i < n; i++)
        run_lost(h, todo[i].id, todo[i].invocation_id, todo[i].attempt, todo[i].allowed_from, todo[i].why);
    free(todo);
}

static void run_lost(mt_handler_t *h, int64_t id, int64_t invocation_id, int attempt, unsigned allowed_from,
                     const char *why)
{
    mt_db_t *db = mt_jobs_db();
    if (!db) {
        keep_lost(h, id, invocation_id, attempt, allowed_from, why);
        return;
    }
    int max = mt_jobs()->max_attempts > 0 ? mt_jobs()->max_attempts : 1;
    char info[1024];
    if (attempt >= max) {
        snprintf(info, sizeof info, "gave up after %d attempt%s (jobs.max-attempts is %d): attempt %d: %s", attempt,
                 attempt == 1 ? "" : "s", max, attempt, why);
        fail_job(id, allowed_from, info);
        if (invocation_id)
            id_list_push(&h->invocations, invocation_id);
        return;
    }
    snprintf(info, sizeof info, "attempt %d: %s", attempt + 1, why);
    int next = 0;
    int rc = mt_job_store_retry(db, id, allowed_from, info, &next);
    if (rc == 1) {
        mt_notice("job %lld: runs again as attempt %d: attempt %d %s", (long long)id, next, attempt, why);
        queue_push(h, id);
    } else if (rc < 0) {
        failure_seen(&h->write_failures, "job %lld: cannot record its next attempt (tried again at each poll): %s",
                     (long long)id, mt_db_errmsg(db));
        keep_lost(h, id, invocation_id, attempt, allowed_from, why);
    }
}

/* ---- resubmit (a destination's <resubmit> rules) ---- */

/*
 * A run of job id at its destination failed (f says how, why in words):
 * if a resubmit rule of that destination holds, queue the write that sends
 * the job on as its next attempt (to the rule's destination, or the same
 * one) and return true; the job does not end. False: no rule holds, or
 * the rule cannot be followed (logged, and said in `refused` for the job's
 * info: "" otherwise), and the failure stands. Reads the job
 * (a failure path, not a hot one).
 */
static bool resubmit(mt_handler_t *h, int64_t id, int64_t invocation_id, unsigned from, mt_job_failure_t *f,
                     const char *why, char *refused, size_t refusedlen)
{
    refused[0] = '\0';
    (void)invocation_id;
    mt_jobs_ctx_t *ctx = mt_jobs();
    mt_db_t *db = mt_jobs_db();
    if (!db || !ctx->conf || mt_job_conf_destination_count(ctx->conf) == 0)
        return false;
    mt_job_t job = {0};
    if (mt_job_store_get(db, id, &job) < 0 || !job.destination) {
        mt_job_clear(&job);
        return false;
    }
    bool sent = false;
    const mt_job_destination_t *dest = mt_job_conf_find_destination(ctx->conf, job.destination);
    int attempt = job.attempt > 0 ? job.attempt : 1;
    f->attempt = attempt;
    f->seconds_since_queued = job.create_us ? (double)(mt_wall_us() - job.create_us) / 1e6 : 0;
    const mt_job_resubmit_t *rule = dest ? mt_job_resubmit_pick(dest, f) : NULL;
    if (rule && attempt > RESUBMIT_MAX) {
        mt_warn("job %lld: a resubmit rule of destination '%s' holds, but the job ran %d times already (at most %d "
                "resubmissions): it stays failed",
                (long long)id, job.destination, attempt, RESUBMIT_MAX);
        rule = NULL;
    }
    if (rule) {
        mt_job_route_t to;
        char err[512];
        if (mt_job_resubmit_route(ctx->conf, dest, rule, &to, err, sizeof err) < 0) {
            mt_warn("job %lld: the resubmit rule at line %d of destination '%s' cannot be followed: %s; it stays "
                    "failed",
                    (long long)id, rule->line, job.destination, err);
            snprintf(refused, refusedlen, "; its destination's resubmit rule (line %d) could not be followed: %s",
                     rule->line, err);
        } else {
            pending_write_t *w = add_write(h, id, from, MT_JOB_QUEUED);
            w->resubmit_to = mt_strdup(to.destination);
            w->resubmit_cluster = to.runner_type && strcmp(to.runner_type, MT_JOB_RUNNER_LOCAL) != 0;
            w->resubmit_delay_ms = (int64_t)(mt_job_resubmit_delay(rule, f) * 1000);
            w->info = mt_asprintf("attempt %d: resubmitted to destination '%s' (%s) after attempt %d at '%s' "
                                  "failed: %s",
                                  attempt + 1, to.destination, rule->condition ? rule->condition : "any failure",
                                  attempt, job.destination, why);
            mt_notice("job %lld: %s", (long long)id, w->info);
            sent = true;
        }
    }
    mt_job_clear(&job);
    return sent;
}

/* After the resubmit's commit: the job runs again, now or after the rule's delay. */
static void resubmitted(mt_handler_t *h, const pending_write_t *w)
{
    if (w->resubmit_delay_ms > 0) {
        if (h->ndelayed == h->delayed_cap) {
            h->delayed_cap = h->delayed_cap ? 2 * h->delayed_cap : 8;
            h->delayed = mt_realloc(h->delayed, h->delayed_cap * sizeof *h->delayed);
        }
        h->delayed[h->ndelayed++] =
            (delayed_job_t){.id = w->id, .due_ms = mt_clock_ms() + w->resubmit_delay_ms, .cluster = w->resubmit_cluster};
    } else if (w->resubmit_cluster) {
        id_list_push(&h->cluster_queue, w->id);
    } else {
        queue_push(h, w->id);
    }
}

/* At each poll: the resubmitted jobs whose delay is over. */
static void release_delayed(mt_handler_t *h)
{
    int64_t now = mt_clock_ms();
    size_t kept = 0;
    for (size_t i = 0; i < h->ndelayed; i++) {
        delayed_job_t *d = &h->delayed[i];
        if (d->due_ms > now)
            h->delayed[kept++] = *d;
        else if (d->cluster)
            id_list_push(&h->cluster_queue, d->id);
        else
            queue_push(h, d->id);
    }
    h->ndelayed = kept;
}

static void run_done(mt_run_t *run, const mt_run_result_t *result, void *data)
{
    (void)run;
    running_job_t *rj = data;
    mt_handler_t *h = rj->handler;
    int64_t id = rj->id, invocation_id = rj->invocation_id;
    for (running_job_t **pp = &h->running; *pp; pp = &(*pp)->next) {
        if (*pp == rj) {
            *pp = rj->next;
            break;
        }
    }
    h->nrunning--;
    int attempt = rj->attempt;
    double ran_s = (double)(mt_clock_ms() - rj->started_ms) / 1000.0;
    char **keep = rj->keep;
    bool cleanable = rj->cleanable;
    free(rj);

    mt_debug("job %lld: %s", (long long)id, result->why[0] ? result->why : "exited 0");
    mt_store_metrics_waiter_cpu(result->waiter_cpu_us);
    if (!result->cancelled && (result->fenced || result->lost)) {
        /* It did not finish (or nobody knows): the run is lost, not the job. */
        run_lost(h, id, invocation_id, attempt, MT_JOB_BIT(MT_JOB_RUNNING), result->why);
        free(keep);
        update_credit(h);
        schedule_flush(h);
        return;
    }
    bool ok = !result->cancelled && result->exited && result->exit_code == 0;
    char why[sizeof result->why + 900], refused[600] = "";
    snprintf(why, sizeof why, "%s", result->why);
    if (!ok && !result->cancelled && (result->disk_full || workdir_full(id)))
        /* Its write failures went to a full disk too: say what the command could not. */
        snprintf(why + strlen(why), sizeof why - strlen(why),
                 "; the working directory's filesystem is full (%s): its outputs may be cut short", strerror(ENOSPC));
    pending_write_t *w;
    mt_job_failure_t failure = {.walltime_reached = result->walltime_exceeded, .seconds_running = ran_s};
    if (!ok && !result->cancelled && result->started &&
        resubmit(h, id, invocation_id, MT_JOB_BIT(MT_JOB_RUNNING), &failure, why[0] ? why : "failed", refused,
                 sizeof refused)) {
        free(keep);
        update_credit(h);
        schedule_flush(h);
        return;
    }
    snprintf(why + strlen(why), sizeof why - strlen(why), "%s", refused);
    if (result->cancelled)
        w = add_write(h, id, MT_JOB_BIT(MT_JOB_DELETING) | MT_JOB_BIT(MT_JOB_RUNNING), MT_JOB_DELETED);
    else if (result->exited && result->exit_code == 0)
        w = add_write(h, id, MT_JOB_BIT(MT_JOB_RUNNING), MT_JOB_OK);
    else
        w = add_write(h, id, MT_JOB_BIT(MT_JOB_RUNNING), MT_JOB_ERROR);
    w->has_exit_code = result->exited;
    w->exit_code = result->exit_code;
    w->info = why[0] ? mt_strdup(why) : NULL;
    w->deleted_if_cancelled = true;
    w->invocation_id = invocation_id;
    w->cleanup = cleanable;
    w->cleanup_keep = keep;
    /* Its slot is free: offer it to the farm now, so the next job can join this result's commit. */
    update_credit(h);
    h->hold_results = true;
    schedule_flush(h);
}

/*
 * A local run's end state is committed: jobs.cleanup may now remove what
 * its directory need not keep (job_cleanup.h) -- never earlier, since
 * recovery reads the directory of a job still `running`, and never for a
 * write that did not apply (the job was no longer ours to end).
 */
static void cleanup_after(pending_write_t *w)
{
    if (!w->cleanup || w->applied < 0 || !mt_job_cleanup_applies(mt_jobs()->cleanup, (mt_job_state_t)w->applied))
        return;
    char workdir[4096];
    mt_jobs_workdir(w->id, workdir, sizeof workdir);
    mt_job_cleanup_submit(mt_strdup(workdir), w->cleanup_keep);
    w->cleanup_keep = NULL;
}

/* ---- claiming and starting, inside flush()'s transaction ---- */

/* Does the route send the job to a cluster (its runner is not the local one)? */
static bool route_is_cluster(const mt_job_route_t *route)
{
    return route->runner_type && strcmp(route->runner_type, MT_JOB_RUNNER_LOCAL) != 0;
}

/* Is job row j at a cluster's: routed there (new or queued), or given to one already (its runner is set)? */
static bool job_is_cluster(const mt_job_t *j)
{
    if (j->runner)
        return strcmp(j->runner, MT_JOB_RUNNER_LOCAL) != 0;
    mt_job_route_t route;
    char why[512];
    return mt_job_route_stored(mt_jobs()->conf, j->tool_id, j->destination, &route, why, sizeof why) == 0 &&
           route_is_cluster(&route);
}

/*
 * Prepare queued job id to start: read it (unless `known` is its row, read
 * in this transaction), build its command, and move it to `running` (or to
 * `error` with the reason, or to `deleted` if it was being cancelled).
 * Returns 1 with *s ready to start (s->argv set), 1 with s->argv NULL and
 * s->why set if it failed, 0 if there is nothing to start, or a negative
 * value on a database error.
 */
static int prepare_start(mt_db_t *db, int64_t id, const mt_job_t *known, start_t *s)
{
    mt_jobs_ctx_t *ctx = mt_jobs();
    *s = (start_t){.id = id};
    mt_job_t read = {0};
    const mt_job_t *job = known;
    int rc = 0;
    if (!job) {
        rc = mt_job_store_get(db, id, &read);
        if (rc < 0)
            return rc == -ENOENT ? 0 : rc;
        job = &read;
    }
    if (job->state == MT_JOB_DELETING) {
        rc = mt_job_store_transition(db, id, MT_JOB_BIT(MT_JOB_DELETING), MT_JOB_DELETED,
                                     &(mt_job_update_t){.info = "cancelled before it ran"});
        rc = rc < 0 ? rc : 0;
        goto out;
    }
    if (job->state != MT_JOB_QUEUED) {
        rc = 0;
        goto out;
    }
    s->invocation_id = job->invocation_id;
    s->attempt = job->attempt > 0 ? job->attempt : 1;
    s->tool = mt_toolbox_find(ctx->tools, job->tool_id);
    if (!s->tool) {
        snprintf(s->why, sizeof s->why, "tool '%s' is not installed", job->tool_id);
    } else if (mt_job_route_stored(ctx->conf, job->tool_id, job->destination, &s->route, s->why, sizeof s->why) == 0) {
        json_error_t jerr;
        json_t *params = json_loads(job->params ? job->params : "{}", 0, &jerr);
        if (!params)
            snprintf(s->why, sizeof s->why, "stored parameters are not valid JSON");
        else if (mt_tool_build_argv(s->tool, params, &s->argv, s->why, sizeof s->why) < 0)
            s->argv = NULL;
        json_decref(params);
    }
    char workdir[4096];
    mt_jobs_workdir(id, workdir, sizeof workdir);
    mt_job_update_t u = {.working_dir = workdir, .runner = MT_JOB_RUNNER_LOCAL};
    mt_job_state_t to = MT_JOB_RUNNING;
    if (s->argv && route_is_cluster(&s->route)) {
        /* Given to the cluster: it stays queued, under its runner's name, until the cluster runs it. */
        s->cluster = true;
        u.runner = s->route.runner;
        to = MT_JOB_QUEUED;
    }
    if (!s->argv) {
        u = (mt_job_update_t){.info = s->why};
        to = MT_JOB_ERROR;
    }
    rc = mt_job_store_transition(db, id, MT_JOB_BIT(MT_JOB_QUEUED), to, &u);
    if (rc != 1) {
        mt_tool_argv_free(s->argv);
        s->argv = NULL;
    }
out:
    mt_job_clear(&read);
    return rc;
}

/* The command of a running job is now a process: record its pid (at the next write) for recovery. */
static void run_started(mt_run_t *run, int pid, void *data)
{
    (void)run;
    running_job_t *rj = data;
    mt_handler_t *h = rj->handler;
    mt_debug("job %lld: started, pid %d", (long long)rj->id, pid);
    char text[32];
    snprintf(text, sizeof text, "%d", pid);
    append_write(&h->pids, &h->npids, &h->pids_cap, rj->id, MT_JOB_BIT(MT_JOB_RUNNING), MT_JOB_RUNNING)->external_id =
        mt_strdup(text);
}

/* Start a job that is `running` in the database; on failure it goes to error at the next flush. */
static void start_command(mt_handler_t *h, start_t *s)
{
    mt_jobs_ctx_t *ctx = mt_jobs();
    char workdir[4096], out_path[4200], err_path[4200], err[512];
    mt_jobs_workdir(s->id, workdir, sizeof workdir);
    bool fresh = mkdir(workdir, 0755) == 0;
    if (!fresh && errno != EEXIST) {
        snprintf(err, sizeof err, "cannot create working directory %.300s: %s", workdir, strerror(errno));
        add_failure(h, s->id, s->invocation_id, err);
        return;
    }
    /* With a job user, the directory is that user's: the command writes its outputs there. */
    const mt_creds_t *as = ctx->job_creds;
    if (as && lchown(workdir, as->set_uid ? as->uid : (uid_t)-1, as->set_gid ? as->gid : (gid_t)-1) < 0) {
        snprintf(err, sizeof err, "cannot give working directory %.300s to user %s: %s", workdir, as->user,
                 strerror(errno));
        add_failure(h, s->id, s->invocation_id, err);
        return;
    }
    snprintf(out_path, sizeof out_path, "%s/stdout", workdir);
    snprintf(err_path, sizeof err_path, "%s/stderr", workdir);
    if (!fresh) /* a mark left about an earlier run says nothing of this one */
        mt_jobs_take_interrupted(workdir);
    /* The tool's environment, then the job's id and the stack's (for the undertaker: app.c). */
    size_t ntool_env = 0;
    const char *const *tool_env = mt_tool_environment(s->tool, &ntool_env);
    const char **env = mt_calloc(ntool_env + 2, sizeof *env);
    for (size_t i = 0; i < ntool_env; i++)
        env[i] = tool_env[i];
    char job_id_env[64];
    snprintf(job_id_env, sizeof job_id_env, "MULETEER_JOB_ID=%lld", (long long)s->id);
    env[ntool_env] = job_id_env;
    env[ntool_env + 1] = ctx->stack_env;
    mt_run_spec_t spec = {
        .argv = s->argv,
        .env = env,
        .env_count = ntool_env + 2,
        .working_dir = workdir,
        .stdout_path = out_path,
        .stderr_path = err_path,
        .walltime_s = mt_tool_walltime(s->tool),
        .kill_grace_ms = (unsigned)ctx->cancel_grace_ms,
        .run_as = ctx->job_creds,
        .started_cb = run_started,
        .route = &s->route,
        .attempt = s->attempt,
        .fence_fd = h->fence ? mt_fence_fd(h->fence) : 0,
        .fresh_dir = fresh,
    };
    running_job_t *rj = mt_calloc(1, sizeof *rj);
    rj->id = s->id;
    rj->invocation_id = s->invocation_id;
    rj->attempt = s->attempt;
    rj->started_ms = mt_clock_ms();
    rj->handler = h;
    rj->cleanable = true;
    if (ctx->cleanup != MT_JOB_CLEANUP_NEVER)
        rj->keep = mt_job_cleanup_keep_list(s->tool);
    int rc = mt_run_start(h->loop, &spec, run_done, rj, &rj->run, err, sizeof err);
    free(env);
    if (rc < 0) {
        free(rj->keep);
        free(rj);
        add_failure(h, s->id, s->invocation_id, err);
        return;
    }
    rj->next = h->running;
    h->running = rj;
    h->nrunning++;
}

/* ---- cluster jobs (runner_slurm.h) ---- */

static void cluster_event(const mt_slurm_event_t *ev, void *data);

/* The Slurm plugins' workers: how many Slurm commands may run at once (Galaxy's runner threads). */
static int cluster_workers(const mt_job_conf_t *conf)
{
    int workers = 0;
    for (size_t i = 0; i < mt_job_conf_runner_count(conf); i++) {
        const mt_job_runner_t *r = mt_job_conf_runner_at(conf, i);
        if (strcmp(mt_job_runner_type(r), "slurm") == 0 && mt_job_runner_workers(r) > workers)
            workers = mt_job_runner_workers(r);
    }
    return workers > 0 ? workers : 4;
}

/* The handler's Slurm runner, made with its first cluster job. */
static mt_slurm_runner_t *cluster(mt_handler_t *h)
{
    if (!h->slurm) {
        mt_jobs_ctx_t *ctx = mt_jobs();
        mt_slurm_runner_spec_t spec = {.max_commands = cluster_workers(ctx->conf),
                                       .poll_ms = (unsigned)ctx->cluster_poll_ms,
                                       .command_env = ctx->cluster_env,
                                       .user = ctx->job_creds && ctx->job_creds->set_uid ? ctx->job_creds->uid
                                                                                        : geteuid(),
                                       .event_cb = cluster_event,
                                       .data = h};
        h->slurm = mt_slurm_runner_new(h->loop, &spec);
    }
    return h->slurm;
}

/* Give a job the cluster: it is `queued` in the database, with its runner and working directory. */
static void start_cluster(mt_handler_t *h, start_t *s)
{
    mt_jobs_ctx_t *ctx = mt_jobs();
    char workdir[4096], err[512];
    mt_jobs_workdir(s->id, workdir, sizeof workdir);
    if (mkdir(workdir, 0755) < 0 && errno != EEXIST) {
        snprintf(err, sizeof err, "cannot create working directory %.300s: %s", workdir, strerror(errno));
        add_write(h, s->id, MT_JOB_BIT(MT_JOB_QUEUED), MT_JOB_ERROR)->info = mt_strdup(err);
        mt_warn("job %lld: error: %s", (long long)s->id, err);
        return;
    }
    const mt_creds_t *as = ctx->job_creds;
    if (as && lchown(workdir, as->set_uid ? as->uid : (uid_t)-1, as->set_gid ? as->gid : (gid_t)-1) < 0) {
        snprintf(err, sizeof err, "cannot give working directory %.300s to user %s: %s", workdir, as->user,
                 strerror(errno));
        add_write(h, s->id, MT_JOB_BIT(MT_JOB_QUEUED), MT_JOB_ERROR)->info = mt_strdup(err);
        mt_warn("job %lld: error: %s", (long long)s->id, err);
        return;
    }
    /* The tool's environment and the job's id and directory; never the stack's id (its undertaker's mark). */
    size_t ntool_env = 0;
    const char *const *tool_env = mt_tool_environment(s->tool, &ntool_env);
    const char **env = mt_calloc(ntool_env + 4, sizeof *env);
    size_t n = 0;
    for (size_t i = 0; i < ntool_env; i++)
        env[n++] = tool_env[i];
    char job_id_env[64], job_dir_env[4200], slots_env[48];
    snprintf(job_id_env, sizeof job_id_env, "MULETEER_JOB_ID=%lld", (long long)s->id);
    snprintf(job_dir_env, sizeof job_dir_env, "%s=%s", MT_RUN_JOB_DIR_VAR, workdir);
    env[n++] = job_id_env;
    env[n++] = job_dir_env;
    if (s->route.slots > 0) {
        snprintf(slots_env, sizeof slots_env, "GALAXY_SLOTS=%u", s->route.slots);
        env[n++] = slots_env;
    }
    mt_slurm_submission_t sub = {.job_id = s->id,
                                 .attempt = s->attempt,
                                 .invocation_id = s->invocation_id,
                                 .argv = s->argv,
                                 .env = env,
                                 .env_count = n,
                                 .route = &s->route,
                                 .working_dir = workdir,
                                 .run_as = ctx->job_creds};
    int rc = mt_slurm_runner_submit(cluster(h), &sub, err, sizeof err);
    free(env);
    if (rc < 0 && rc != -EALREADY) {
        pending_write_t *w = add_write(h, s->id, MT_JOB_BIT(MT_JOB_QUEUED), MT_JOB_ERROR);
        w->info = mt_asprintf("cannot submit it to Slurm: %s", err);
        w->invocation_id = s->invocation_id;
        w->deleted_if_cancelled = true;
        mt_warn("job %lld: error: %s", (long long)s->id, w->info);
    }
}

/* What the Slurm runner tells: written with the next flush, like a local command's result. */
static void cluster_event(const mt_slurm_event_t *ev, void *data)
{
    mt_handler_t *h = data;
    const unsigned live = MT_JOB_BIT(MT_JOB_QUEUED) | MT_JOB_BIT(MT_JOB_RUNNING);
    pending_write_t *w;
    char refused[600] = "";
    switch (ev->kind) {
    case MT_SLURM_EV_SUBMITTED:
        /* Its Slurm id, whatever its state: a job being cancelled keeps its state. */
        add_write(h, ev->job_id, MT_JOB_BIT(MT_JOB_QUEUED), MT_JOB_QUEUED)->external_id = mt_strdup(ev->external_id);
        add_write(h, ev->job_id, MT_JOB_BIT(MT_JOB_DELETING), MT_JOB_DELETING)->external_id =
            mt_strdup(ev->external_id);
        break;
    case MT_SLURM_EV_RUNNING:
        mt_debug("job %lld: Slurm job %s runs", (long long)ev->job_id, ev->external_id);
        add_write(h, ev->job_id, MT_JOB_BIT(MT_JOB_QUEUED), MT_JOB_RUNNING);
        break;
    case MT_SLURM_EV_UNKNOWN:
        /* Adopted, and Slurm never had it: submit it now. */
        mt_info("job %lld: Slurm has no job of this attempt (its submission never reached Slurm): submitting it",
                (long long)ev->job_id);
        id_list_push(&h->cluster_queue, ev->job_id);
        break;
    case MT_SLURM_EV_ENDED:
        mt_debug("job %lld: Slurm job %s ended: %s", (long long)ev->job_id, ev->external_id ? ev->external_id : "-",
                 ev->info ? ev->info : "ok");
        if (ev->to != MT_JOB_DELETED && !ev->never_ran && !ev->seen_running)
            add_write(h, ev->job_id, MT_JOB_BIT(MT_JOB_QUEUED), MT_JOB_RUNNING); /* it ran between two polls */
        if (ev->to == MT_JOB_DELETED) {
            w = add_write(h, ev->job_id, MT_JOB_BIT(MT_JOB_DELETING) | live, MT_JOB_DELETED);
        } else if (ev->to == MT_JOB_OK) {
            w = add_write(h, ev->job_id, live, MT_JOB_OK);
        } else {
            mt_job_failure_t f = {.walltime_reached = ev->walltime_reached,
                                  .memory_limit_reached = ev->memory_limit_reached,
                                  .unknown_error = ev->unknown_error,
                                  .seconds_running = ev->seconds_running};
            if (!ev->never_ran &&
                resubmit(h, ev->job_id, ev->invocation_id, live, &f, ev->info, refused, sizeof refused))
                break;
            w = add_write(h, ev->job_id, live, MT_JOB_ERROR);
        }
        w->has_exit_code = ev->has_exit_code;
        w->exit_code = ev->exit_code;
        w->info = ev->info ? mt_asprintf("%s%s", ev->info, refused) : NULL;
        w->deleted_if_cancelled = true;
        w->invocation_id = ev->invocation_id;
        break;
    }
    schedule_flush(h);
}

/*
 * Take from the farm only what can start now: the other mules get the
 * rest. Called after every change of load, and after every message, taken
 * or not (each farm message uses a unit of credit before it is handled).
 */
static void update_credit(mt_handler_t *h)
{
    long free_slots = (long)mt_jobs()->workers - h->nrunning - (long)h->qlen - (long)h->incoming.n -
                      (long)h->invocations.n;
    mt_mule_set_credit(h->stack, h->stopping || free_slots < 0 ? 0 : free_slots);
}

/* Claims from the pools would be made in a flush now: the handler claims, may, and jobs may be waiting. */
static bool pool_claims_due(const mt_handler_t *h)
{
    return h->claim_now && h->pool_claim_due && !(h->fallback && h->fallback_yields);
}

static bool can_start(const mt_handler_t *h)
{
    if (h->stopping)
        return false;
    if (h->cluster_queue.n > 0)
        return true; /* no slot needed */
    return h->nrunning < mt_jobs()->workers && (h->qlen > 0 || h->incoming.n > 0 || pool_claims_due(h));
}

/* The next entry of a growing array of starts (room for index n). */
static start_t *start_slot(start_t **starts, size_t *cap, size_t n)
{
    if (n >= *cap) {
        *cap = *cap ? 2 * *cap : 8;
        *starts = mt_realloc(*starts, *cap * sizeof **starts);
    }
    return &(*starts)[n];
}

/*
 * One transaction: the pending writes, the claims, and the starts that fit;
 * then, once committed, the commands. Everything stays pending if the
 * transaction fails, to be tried again at the next flush (the poll's at the
 * latest). Returns true if it committed and something is left to do.
 */
static bool flush_once(mt_handler_t *h)
{
    mt_db_t *db = mt_jobs_db();
    if (!db)
        return false;
    if (mt_db_begin(db) < 0) {
        failure_seen(&h->write_failures, "cannot write job changes (they will be tried again): %s", mt_db_errmsg(db));
        return false;
    }
    mt_job_t *claimed = h->incoming.n ? mt_calloc(h->incoming.n, sizeof *claimed) : NULL; /* taken in this one */
    start_t *starts = NULL;
    size_t nclaimed = 0, nstarts = 0, from_queue = 0, from_claimed = 0;
    int rc = 0;
    /* The pids first: a command may have ended before its pid was written, and its result is among the writes. */
    for (size_t i = 0; i < h->npids && rc >= 0; i++)
        rc = apply_write(db, &h->pids[i]);
    for (size_t i = 0; i < h->nwrites && rc >= 0; i++)
        rc = apply_write(db, &h->writes[i]);
    for (size_t i = 0; i < h->incoming.n && rc >= 0 && !h->stopping; i++) {
        rc = mt_job_store_take(db, h->incoming.v[i], h->name, &claimed[nclaimed]);
        if (rc == 1)
            nclaimed++;
        else if (rc == 0)
            mt_debug("job %lld: not claimable (claimed by another handler, or cancelled)", (long long)h->incoming.v[i]);
    }
    /*
     * Cluster jobs need no local slot: the claimed ones whose destination
     * is a cluster's and those waiting for the cluster go first, then the
     * local ones as slots allow.
     */
    int slots = h->stopping ? 0 : mt_jobs()->workers - h->nrunning;
    int local = 0;
    size_t starts_cap = 0, from_cluster_queue = 0;
    bool *claimed_taken = nclaimed ? mt_calloc(nclaimed, sizeof *claimed_taken) : NULL;
    for (size_t i = 0; i < nclaimed && rc >= 0 && !h->stopping && nstarts < CLUSTER_BATCH; i++) {
        if (!job_is_cluster(&claimed[i]))
            continue;
        claimed_taken[i] = true;
        rc = prepare_start(db, claimed[i].id, &claimed[i], start_slot(&starts, &starts_cap, nstarts));
        if (rc == 1)
            nstarts++;
    }
    while (rc >= 0 && !h->stopping && from_cluster_queue < h->cluster_queue.n && nstarts < CLUSTER_BATCH) {
        rc = prepare_start(db, h->cluster_queue.v[from_cluster_queue++], NULL,
                           start_slot(&starts, &starts_cap, nstarts));
        if (rc == 1)
            nstarts++;
    }
    while (rc >= 0 && local < slots) {
        int64_t id;
        const mt_job_t *known = NULL;
        while (from_claimed < nclaimed && claimed_taken[from_claimed])
            from_claimed++;
        if (from_queue < h->qlen) {
            id = queue_at(h, from_queue++);
        } else if (from_claimed < nclaimed) {
            known = &claimed[from_claimed++];
            id = known->id;
        } else {
            break;
        }
        start_t *st = start_slot(&starts, &starts_cap, nstarts);
        rc = prepare_start(db, id, known, st);
        if (rc == 1) {
            nstarts++;
            local += !st->cluster;
        }
    }
    /*
     * db-skip-locked / db-transaction-isolation: slots still free take the
     * oldest jobs waiting in the pools, claimed and moved to running in this
     * same commit -- when a job of ours ends, when the database announced a
     * job (handler_wake.c), at each poll. A job for the cluster takes no
     * slot: claims go on past it, up to CLUSTER_BATCH in one transaction.
     */
    bool pools_empty = false;
    size_t from_pools = 0;
    while (rc >= 0 && local < slots && pool_claims_due(h) && nstarts < CLUSTER_BATCH) {
        int64_t id = 0;
        int got = 0;
        for (size_t p = 0; p < h->npools && got == 0; p++)
            got = mt_job_store_claim_next(db, h->pools[p], h->name, &id);
        if (got < 0)
            rc = got;
        if (got != 1) {
            pools_empty = got == 0;
            break;
        }
        from_pools++;
        start_t *st = start_slot(&starts, &starts_cap, nstarts);
        rc = prepare_start(db, id, NULL, st);
        if (rc == 1) {
            nstarts++;
            local += !st->cluster;
        }
    }
    if (rc >= 0)
        rc = mt_db_commit(db);
    else
        mt_db_rollback(db);
    if (rc < 0) {
        failure_seen(&h->write_failures, "cannot write job changes (they will be tried again): %s", mt_db_errmsg(db));
        for (size_t i = 0; i < nstarts; i++)
            mt_tool_argv_free(starts[i].argv);
        free(starts);
        free(claimed_taken);
        mt_job_store_free(claimed, nclaimed);
        return false;
    }

    /* Committed: now the handler's own state follows. */
    failure_over(&h->write_failures, "job changes written");
    if (pools_empty)
        h->pool_claim_due = false;
    for (size_t i = 0; i < from_pools; i++)
        mt_debug("claimed a job from its pools");
    for (size_t i = 0; i < h->nwrites; i++) {
        cleanup_after(&h->writes[i]);
        if (h->writes[i].invocation_id)
            id_list_push(&h->invocations, h->writes[i].invocation_id);
        if (h->writes[i].resubmit_to)
            resubmitted(h, &h->writes[i]);
    }
    /* The cluster queue's entries taken in this transaction are done with. */
    if (from_cluster_queue) {
        memmove(h->cluster_queue.v, h->cluster_queue.v + from_cluster_queue,
                (h->cluster_queue.n - from_cluster_queue) * sizeof *h->cluster_queue.v);
        h->cluster_queue.n -= from_cluster_queue;
    }
    for (size_t i = 0; i < nstarts; i++)
        if (!starts[i].argv && starts[i].invocation_id)
            id_list_push(&h->invocations, starts[i].invocation_id); /* its job failed before it started */
    free_writes(h->writes, &h->nwrites);
    free_writes(h->pids, &h->npids);
    h->incoming.n = 0;
    for (size_t i = 0; i < nclaimed; i++)
        mt_debug("job %lld: claimed", (long long)claimed[i].id);
    queue_drop_front(h, from_queue);
    for (size_t i = from_claimed; i < nclaimed; i++)
        if (!claimed_taken[i])
            queue_push(h, claimed[i].id);
    free(claimed_taken);
    mt_job_store_free(claimed, nclaimed);
    for (size_t i = 0; i < nstarts; i++) {
        start_t *s = &starts[i];
        if (!s->argv) {
            mt_warn("job %lld: error: %s", (long long)s->id, s->why);
            continue;
        }
        if (s->cluster)
            start_cluster(h, s);
        else
            start_command(h, s);
        mt_tool_argv_free(s->argv);
    }
    free(starts);
    return h->nwrites > 0 || can_start(h);
}

/*
 * Claim the invocations waiting in h->invocations and move each forward
 * (scheduler.c); the jobs that creates join h->incoming. An invocation the
 * database could not be asked about stays for the next flush. Returns true
 * if jobs were created.
 */
static bool advance_invocations(mt_handler_t *h)
{
    mt_db_t *db = mt_jobs_db();
    if (!db || h->stopping || h->invocations.n == 0)
        return false;
    id_list_t todo = h->invocations;
    h->invocations = (id_list_t){0};
    bool created = false;
    for (size_t i = 0; i < todo.n; i++) {
        int64_t id = todo.v[i];
        bool seen = false; /* several of its jobs may end in one turn: once is enough */
        for (size_t k = 0; k < i && !seen; k++)
            seen = todo.v[k] == id;
        if (seen)
            continue;
        int rc = mt_invocation_store_claim(db, id, h->name);
        mt_step_job_t *jobs = NULL;
        size_t n = 0;
        if (rc == 1)
            rc = mt_scheduler_advance(db, id, h->name, &jobs, &n);
        if (rc < 0) {
            failure_seen(&h->schedule_failures, "invocation %lld: cannot schedule it now (tried again later): %s",
                         (long long)id, mt_db_errmsg(db));
            id_list_push(&h->invocations, id);
            continue;
        }
        failure_over(&h->schedule_failures, "invocations scheduled");
        for (size_t k = 0; k < n; k++) {
            if (jobs[k].mine) {
                id_list_push(&h->incoming, jobs[k].id);
                created = true;
            } else if (jobs[k].farm[0]) {
                /* Committed: the farm may hear of it. Unsent, the farm's sweeper takes it. */
                char idtext[32];
                int len = snprintf(idtext, sizeof idtext, "%lld", (long long)jobs[k].id);
                int src = mt_send_to_farm(h->stack, jobs[k].farm, MT_JOBS_MSG_SETUP, idtext, (size_t)len);
                if (src < 0)
                    mt_warn("job %lld: not sent to farm %s (%s): the sweeper will take it", (long long)jobs[k].id,
                            jobs[k].farm, mt_strerror(src));
            }
        }
        free(jobs);
    }
    free(todo.v);
    return created;
}

/* Write what waits; with_pids: also when only pids wait (they never call for a flush themselves). */
static void flush(mt_handler_t *h, bool with_pids)
{
    uv_idle_stop(&h->flush_idle);
    h->hold_results = h->held = false; /* everything pending is written now */
    do {
        /* Each round commits or stops; a command that fails to start leaves a write for the next. */
        while ((h->nwrites > 0 || h->incoming.n > 0 || can_start(h) || (with_pids && h->npids > 0)) &&
               flush_once(h))
            ;
    } while (advance_invocations(h)); /* its new jobs start at once when there is room */
    update_credit(h);
}

/*
 * A result waits one turn of the loop when its command's slot was just
 * offered to the farm: the loop then polls without blocking (this handle is
 * still active), and a job that arrives in that poll is claimed and started
 * in the result's transaction -- one commit per job instead of two in a
 * stream of jobs. With nothing arriving, the result is written one turn
 * later, microseconds. Once only: commands that keep ending, one per turn,
 * do not put their results off again and again.
 */
static void flush_idle_cb(uv_idle_t *idle)
{
    mt_handler_t *h = idle->data;
    if (h->hold_results && !h->held && h->incoming.n == 0) {
        h->held = true;
        return;
    }
    flush(h, false);
}

/* ---- taking jobs ---- */

void mt_handler_take(mt_handler_t *h, int64_t id)
{
    id_list_push(&h->incoming, id);
    schedule_flush(h);
    update_credit(h);
}

void mt_handler_take_invocation(mt_handler_t *h, int64_t id)
{
    id_list_push(&h->invocations, id);
    schedule_flush(h);
    update_credit(h);
}

void mt_handler_check_cancel(mt_handler_t *h, int64_t id)
{
    running_job_t *rj = find_running(h, id);
    if (rj) {
        mt_run_cancel(rj->run); /* run_done records deleted */
        return;
    }
    if (mt_slurm_runner_has(h->slurm, id)) {
        mt_slurm_runner_cancel(h->slurm, id); /* scancel; deleted once Slurm has ended it */
        return;
    }
    queue_remove(h, id);
    transition(id, MT_JOB_BIT(MT_JOB_DELETING), MT_JOB_DELETED, &(mt_job_update_t){.info = "cancelled before it ran"});
}

static void wakeup_cb(uv_async_t *async)
{
    mt_handler_t *h = async->data;
    pthread_mutex_lock(&h->inbox_lock);
    int64_t *ids = h->inbox;
    size_t n = h->ninbox;
    h->inbox = NULL;
    h->ninbox = h->inbox_cap = 0;
    pthread_mutex_unlock(&h->inbox_lock);
    for (size_t i = 0; i < n; i++) {
        if (ids[i] == 0)
            mt_handler_adopt_cluster_jobs(h); /* see mt_handler_notify_handed_over */
        else if (ids[i] < 0)
            mt_handler_take_invocation(h, -ids[i]); /* see mt_handler_notify_invocation */
        else
            mt_handler_take(h, ids[i]);
    }
    free(ids);
}

void mt_handler_notify_handed_over(mt_handler_t *h)
{
    mt_handler_notify(h, 0); /* the inbox carries this as id 0 */
}

void mt_handler_notify_invocation(mt_handler_t *h, int64_t id)
{
    mt_handler_notify(h, -id); /* the inbox carries invocations as negative ids */
}

void mt_handler_notify(mt_handler_t *h, int64_t id)
{
    pthread_mutex_lock(&h->inbox_lock);
    if (h->ninbox == h->inbox_cap) {
        h->inbox_cap = h->inbox_cap ? h->inbox_cap * 2 : 16;
        h->inbox = mt_realloc(h->inbox, h->inbox_cap * sizeof *h->inbox);
    }
    h->inbox[h->ninbox++] = id;
    pthread_mutex_unlock(&h->inbox_lock);
    uv_async_send(&h->wakeup);
}

/* ---- the poll: assigned jobs, cancellations, the sweeper, skip-locked ---- */

/*
 * db-skip-locked / db-transaction-isolation: the invocations waiting in each
 * pool, while there is room; and the next flush claims the jobs.
 */
static void claim_from_pools(mt_handler_t *h, mt_db_t *db)
{
    int workers = mt_jobs()->workers;
    for (size_t p = 0; p < h->npools && h->claim_now && !(h->fallback && h->fallback_yields); p++) {
        while (!h->stopping && h->invocations.n < (size_t)workers) {
            int64_t id = 0;
            if (mt_invocation_store_claim_next(db, h->pools[p], h->name, &id) != 1)
                break;
            id_list_push(&h->invocations, id);
        }
    }
    /* The jobs: claimed in the flush that follows, with their move to running (flush_once). */
    h->pool_claim_due = h->claim_now;
}

static void poll_cb(uv_timer_t *timer)
{
    mt_handler_t *h = timer->data;
    mt_jobs_ctx_t *ctx = mt_jobs();
    mt_db_t *db = mt_jobs_db();
    if (!db)
        return;
    mt_job_t *jobs = NULL;
    size_t n = 0;
    mt_job_filter_t mine = {.states = MT_JOB_BIT(MT_JOB_NEW) | MT_JOB_BIT(MT_JOB_DELETING), .handler = h->name};
    if (mt_job_store_list(db, &mine, POLL_BATCH, 0, &jobs, &n, NULL) == 0) {
        for (size_t i = n; i-- > 0;) /* oldest first */
            if (jobs[i].state == MT_JOB_NEW)
                id_list_push(&h->incoming, jobs[i].id);
            else
                mt_handler_check_cancel(h, jobs[i].id);
        mt_job_store_free(jobs, n);
    }

    /*
     * Sweep only into free slots: a job waiting for a slot here would wait
     * while another mule idles, and a busy farm's queue is read at once
     * whenever a slot frees (the credit), so only jobs whose message is
     * lost (a full queue, a mule that died holding it) stay to be swept.
     * With a database method the pools' jobs are claimed at once instead.
     */
    size_t room = (size_t)ctx->workers;
    int64_t swept_before = mt_wall_us() - (int64_t)ctx->sweep_delay_ms * 1000;
    for (size_t p = 0; p < h->npools && !h->claim_now; p++) {
        size_t load = (size_t)h->nrunning + h->qlen + h->incoming.n;
        if (load >= room || mt_job_store_unassigned_at(db, h->pools[p], swept_before, room - load, &jobs, &n) < 0)
            break;
        for (size_t i = 0; i < n; i++) {
            mt_notice("sweeper: job %lld was not claimed within %d ms (its message was lost or the farm's "
                      "queue was full): taking it",
                      (long long)jobs[i].id, ctx->sweep_delay_ms);
            id_list_push(&h->incoming, jobs[i].id);
        }
        mt_job_store_free(jobs, n);
    }
    /* Invocations: assigned here and not yet taken up, or unclaimed in its pools for too long. */
    int64_t *inv_ids = NULL;
    size_t ninv = 0;
    if (mt_invocation_store_of_handler(db, h->name, true, &inv_ids, &ninv) == 0) {
        for (size_t i = 0; i < ninv; i++)
            id_list_push(&h->invocations, inv_ids[i]);
        free(inv_ids);
    }
    /* Step jobs that other handlers ran (the job configuration sent them there) and that have ended. */
    if (mt_invocation_store_settle_due(db, h->name, &inv_ids, &ninv) == 0) {
        for (size_t i = 0; i < ninv; i++)
            id_list_push(&h->invocations, inv_ids[i]);
        free(inv_ids);
    }
    for (size_t p = 0; p < h->npools; p++) {
        size_t load = (size_t)h->nrunning + h->qlen + h->incoming.n;
        if (h->claim_now || load >= room)
            break;
        if (mt_invocation_store_unassigned(db, h->pools[p], swept_before, room - load, &inv_ids, &ninv) == 0) {
            for (size_t i = 0; i < ninv; i++) {
                mt_notice("sweeper: invocation %lld was not claimed within %d ms: taking it", (long long)inv_ids[i],
                          ctx->sweep_delay_ms);
                id_list_push(&h->invocations, inv_ids[i]);
            }
            free(inv_ids);
        }
    }
    /* A web worker stands in for the pool's handlers only while none runs (checked at most once a second). */
    if (h->fallback && h->claim_now && mt_clock_ms() - h->fallback_checked_ms >= 1000) {
        bool yields = false;
        for (size_t p = 0; p < h->npools && !yields; p++)
            yields = mt_jobs_pool_has_handler(h->pools[p]);
        if (yields != h->fallback_yields)
            mt_info("%s", yields ? "a handler serving its pools is running: leaving their jobs to it"
                                 : "no handler serving its pools is running: taking their jobs");
        h->fallback_yields = yields;
        h->fallback_checked_ms = mt_clock_ms();
    }
    retry_lost(h);
    release_delayed(h);
    claim_from_pools(h, db);
    flush(h, true); /* the pids, and writes a failed flush left */
}

void mt_handler_claim(mt_handler_t *h)
{
    if (h->stopping || !h->claim_now)
        return;
    /* Notifications read together make one claim pass, in the next flush's transaction. */
    h->pool_claim_due = true;
    schedule_flush(h);
}

/*
 * A command that ended by itself before the stop reached it: the status
 * its waiter recorded for this attempt, as the job's result (the waiter's
 * exit may not have been seen by the loop yet). True if written so.
 */
static bool stop_keeps_result(int64_t id, int attempt, const char *workdir)
{
    mt_waiter_status_t st;
    if (mt_waiter_status_read(workdir, &st) < 0 || st.attempt != attempt || st.end == MT_WAITER_FENCED)
        return false;
    char why[300];
    mt_job_update_t u = {.info = why};
    mt_job_state_t to = MT_JOB_ERROR;
    if (st.end == MT_WAITER_EXITED) {
        u.has_exit_code = true;
        u.exit_code = st.value;
        if (st.value == 0) {
            to = MT_JOB_OK;
            u.info = NULL;
        } else {
            snprintf(why, sizeof why, "exited with status %d", st.value);
        }
    } else if (st.end == MT_WAITER_SIGNALED) {
        snprintf(why, sizeof why, "killed by signal %d (%s)", st.value, strsignal(st.value));
    } else {
        snprintf(why, sizeof why, "cannot start its command: %s", strerror(st.value));
    }
    int rc = transition(id, MT_JOB_BIT(MT_JOB_RUNNING), to, &u);
    if (rc == 0) /* being cancelled: that is what happened */
        transition(id, MT_JOB_BIT(MT_JOB_DELETING), MT_JOB_DELETED, &(mt_job_update_t){.info = "cancelled"});
    else if (rc == 1)
        mt_info("stopping: job %lld: its command had ended when the stop came: %s", (long long)id,
                to == MT_JOB_OK ? "ok" : why);
    return rc >= 0;
}

void mt_handler_stop(mt_handler_t *h)
{
    h->stopping = true;
    uv_timer_stop(&h->poll);
    h->incoming.n = 0; /* unclaimed: the sweeper (or this name's next life) takes them */
    flush(h, true);    /* the results already in, and the pids */
    int requeued = 0, ended = 0;
    for (running_job_t *rj = h->running; rj; rj = rj->next) {
        int64_t id = rj->id;
        char workdir[4096];
        mt_jobs_workdir(id, workdir, sizeof workdir);
        int pid = mt_run_wait_pid(rj->run);
        /*
         * Had the command finished before the stop? Its leader is gone then
         * (a live one is frozen here, so the answer holds until the SIGTERM).
         * A finished command keeps its real result: it must not run again.
         */
        bool unfinished = pid > 0 && mt_run_freeze_unfinished(pid);
        mt_run_stop_orphan(pid, (unsigned)mt_jobs()->cancel_grace_ms);
        mt_run_wait_waiter(rj->run, 2000); /* it records the stop (or the end) and exits: nothing of the job is left */
        if (!unfinished && pid > 0 && stop_keeps_result(id, rj->attempt, workdir)) {
            ended++;
            continue;
        }
        /* The job runs again as this same attempt: what this stopped run recorded must not stand for that one. */
        mt_waiter_files_remove(workdir);
        requeued++;
        int rc = transition(id, MT_JOB_BIT(MT_JOB_RUNNING), MT_JOB_QUEUED,
                            &(mt_job_update_t){.info = "the handler stopped while the job ran: the unfinished run "
                                                       "was stopped and the job runs again"});
        if (rc == 0) /* being cancelled: that is what happened */
            transition(id, MT_JOB_BIT(MT_JOB_DELETING), MT_JOB_DELETED, &(mt_job_update_t){.info = "cancelled"});
    }
    if (requeued)
        mt_info("stopping: %d running job%s put back in the queue", requeued, requeued == 1 ? "" : "s");
    if (ended)
        mt_info("stopping: %d job%s whose command had ended given %s result", ended, ended == 1 ? "" : "s",
                ended == 1 ? "its" : "their");
    /* Stopped for good: a waiter that is somehow left stops its command at once instead of at the deadline. */
    mt_fence_close(h->fence, true);
    h->fence = NULL;
    /* Cluster jobs run on without their handler: the next one of this name adopts them. */
    mt_slurm_runner_stop(h->slurm);
    h->slurm = NULL;
}

void mt_handler_leave(mt_handler_t *h)
{
    h->stopping = true;
    uv_timer_stop(&h->poll);
    h->incoming.n = 0; /* unclaimed: the sweeper (or this name's next life) takes them */
    /*
     * A command whose spawn is under way: once its pid is known, its waiter
     * has written its pid file, so the successor finds it and adopts it
     * rather than taking the run for lost.
     */
    for (running_job_t *rj = h->running; rj; rj = rj->next)
        mt_run_wait_pid(rj->run);
    flush(h, true); /* the results already in, and the pids */
    size_t queued = h->qlen + h->cluster_queue.n;
    mt_info("reloading: %d running job%s left to %s waiter%s and %zu queued job%s to this handler's successor",
            h->nrunning, h->nrunning == 1 ? "" : "s", h->nrunning == 1 ? "its" : "their", h->nrunning == 1 ? "" : "s",
            queued, queued == 1 ? "" : "s");
    /* Kept in place: the waiters run on under it, and the successor renews it (fence.h). */
    mt_fence_close(h->fence, false);
    h->fence = NULL;
    /* Cluster jobs run on without their handler: the next one of this name adopts them. */
    mt_slurm_runner_stop(h->slurm);
    h->slurm = NULL;
}

/* ---- recovery ---- */

/*
 * What the waiter of job j recorded: the job gets its real result, as if
 * the handler had seen its command end; a fenced run did not finish, and
 * runs again. A job being cancelled ends deleted, whatever its command did.
 */
static void recover_status(mt_handler_t *h, const mt_job_t *j, const mt_waiter_status_t *st)
{
    mt_store_metrics_waiter_cpu(st->cpu_us);
    if (j->state == MT_JOB_DELETING) {
        transition(j->id, MT_JOB_BIT(MT_JOB_DELETING), MT_JOB_DELETED,
                   &(mt_job_update_t){.info = "cancelled while its handler restarted"});
        return;
    }
    char why[300];
    mt_job_update_t u = {.info = why};
    mt_job_state_t to = MT_JOB_ERROR;
    switch (st->end) {
    case MT_WAITER_EXITED:
        u.has_exit_code = true;
        u.exit_code = st->value;
        if (st->value == 0) {
            to = MT_JOB_OK;
            u.info = NULL;
        } else {
            snprintf(why, sizeof why, "exited with status %d", st->value);
        }
        break;
    case MT_WAITER_SIGNALED:
        snprintf(why, sizeof why, "killed by signal %d (%s)", st->value, strsignal(st->value));
        break;
    case MT_WAITER_FAILED:
        snprintf(why, sizeof why, "cannot start its command: %s", strerror(st->value));
        break;
    case MT_WAITER_FENCED:
        run_lost(h, j->id, j->invocation_id, j->attempt > 0 ? j->attempt : 1, MT_JOB_BIT(MT_JOB_RUNNING),
                 "its handler stopped answering for it (the fence lapsed), so its waiter stopped the unfinished "
                 "run");
        return;
    }
    if (transition(j->id, MT_JOB_BIT(MT_JOB_RUNNING), to, &u) == 1) {
        mt_info("recovery: job %lld: its command ended while the handler was away: %s", (long long)j->id,
                to == MT_JOB_OK ? "ok" : why);
        const mt_tool_t *tool = mt_toolbox_find(mt_jobs()->tools, j->tool_id);
        if (j->working_dir && tool && mt_job_cleanup_applies(mt_jobs()->cleanup, to))
            mt_job_cleanup_submit(mt_strdup(j->working_dir), mt_job_cleanup_keep_list(tool));
    }
}

/* Adopt the live waiter of job j. Returns 0, or -ESRCH if it ended meanwhile (its status is there now). */
static int recover_adopt(mt_handler_t *h, const mt_job_t *j, const mt_waiter_id_t *wid)
{
    mt_jobs_ctx_t *ctx = mt_jobs();
    const mt_tool_t *tool = mt_toolbox_find(ctx->tools, j->tool_id);
    double walltime = tool ? mt_tool_walltime(tool) : 0;
    if (walltime > 0 && j->start_us > 0) {
        double ran = (double)(mt_wall_us() - j->start_us) / 1e6;
        walltime = walltime - ran > 0.001 ? walltime - ran : 0.001; /* spent while nobody watched: stop it now */
    }
    running_job_t *rj = mt_calloc(1, sizeof *rj);
    rj->id = j->id;
    rj->invocation_id = j->invocation_id;
    rj->attempt = wid->attempt;
    rj->started_ms = mt_clock_ms() - (j->start_us > 0 ? (mt_wall_us() - j->start_us) / 1000 : 0);
    rj->handler = h;
    rj->cleanable = tool != NULL; /* a tool no longer installed: what its outputs were is unknown, all stays */
    if (tool && ctx->cleanup != MT_JOB_CLEANUP_NEVER)
        rj->keep = mt_job_cleanup_keep_list(tool);
    mt_run_adoption_t a = {.working_dir = j->working_dir, .prog = j->tool_id, .waiter_pid = wid->waiter_pid,
                           .command_pid = wid->command_pid, .attempt = wid->attempt, .walltime_s = walltime,
                           .kill_grace_ms = (unsigned)ctx->cancel_grace_ms};
    char err[512];
    int rc = mt_run_adopt(h->loop, &a, run_done, rj, &rj->run, err, sizeof err);
    if (rc < 0) {
        free(rj->keep);
        free(rj);
        if (rc != -ESRCH)
            mt_error("recovery: job %lld: %s", (long long)j->id, err);
        return rc;
    }
    rj->next = h->running;
    h->running = rj;
    h->nrunning++;
    if (!j->external_id || atoi(j->external_id) != wid->command_pid)
        run_started(rj->run, wid->command_pid, rj); /* its pid had not been written before the handler died */
    if (j->state == MT_JOB_DELETING)
        mt_run_cancel(rj->run); /* run_done records deleted */
    return 0;
}

/*
 * Job j was running (or being cancelled) when this handler's previous life
 * ended. Its waiter tells what became of it: a status (its result), or a
 * live waiter (adopted, still running). With neither, the command died with
 * its host or was killed unfinished, and the job runs again as its next
 * attempt. Runs started before waiters existed are found by their pid or
 * environment, stopped, and run again too.
 */
static void recover_run(mt_handler_t *h, const mt_job_t *j)
{
    const char *wd = j->working_dir;
    int attempt = j->attempt > 0 ? j->attempt : 1;
    mt_waiter_status_t st;
    mt_waiter_id_t wid;
    /*
     * A run started moments before its handler died may have a waiter that
     * is still starting (exec, its command's spawn) and has not written its
     * pid file yet: it will run the command all the same. So a young run
     * with no waiter file gets until RECOVER_WAITER_START_MS after its start
     * for one to appear, before it is taken for lost and run again.
     */
    int64_t wait_until_us = j->start_us > 0 ? j->start_us + RECOVER_WAITER_START_MS * 1000 : 0;
    for (int look = 0; wd && look < 2; look++) {
        if (mt_waiter_status_read(wd, &st) == 0 && st.attempt == attempt) {
            recover_status(h, j, &st);
            return;
        }
        if (mt_waiter_id_read(wd, &wid) != 0 || wid.attempt != attempt) {
            if (mt_wall_us() < wait_until_us) {
                mt_heartbeat(h->stack);
                nanosleep(&(struct timespec){.tv_nsec = 20 * 1000 * 1000}, NULL);
                look--; /* not a look: the waiter may not have started yet */
            }
            continue;
        }
        if (!mt_waiter_alive(&wid, wd) || recover_adopt(h, j, &wid) == -ESRCH)
            continue; /* it may have written its status in the meantime: look once more */
        return;
    }

    /* No waiter answers for it: what is left of the run is stopped, and it did not finish. */
    int pid = j->external_id ? atoi(j->external_id) : 0;
    if (pid > 0 && wd && !mt_run_is_ours(pid, wd))
        pid = 0; /* its leader ended and the pid went to another process */
    if (pid <= 0 && wd)
        pid = mt_run_find_session(wd); /* the pid was not written yet: find it by its environment */
    bool left = pid > 0 && mt_run_stop_orphan(pid, (unsigned)mt_jobs()->cancel_grace_ms);
    bool interrupted = wd && mt_jobs_take_interrupted(wd);
    if (j->state == MT_JOB_DELETING) {
        transition(j->id, MT_JOB_BIT(MT_JOB_DELETING), MT_JOB_DELETED,
                   &(mt_job_update_t){.info = "cancelled while its handler restarted"});
        return;
    }
    run_lost(h, j->id, j->invocation_id, attempt, MT_JOB_BIT(MT_JOB_RUNNING),
             left ? "its handler restarted while it ran and no waiter answered for it: what was left of it was "
                    "stopped unfinished"
             : interrupted ? "the stack ended while it ran, and its unfinished run was stopped then"
                           : "its command and its waiter were gone when the handler came back (they died with "
                             "their host, or were killed) and left no result");
}

/*
 * A cluster job of this handler's name, from an earlier life or handed
 * over from a lost handler: the Slurm runner watches it again (by its
 * Slurm id, or finds it by name), or submits it if Slurm never had it. A
 * queued one not given to the cluster yet waits for it.
 */
static void adopt_cluster_job(mt_handler_t *h, const mt_job_t *j)
{
    if (mt_slurm_runner_has(h->slurm, j->id))
        return;
    if (j->state == MT_JOB_QUEUED && !j->runner) {
        id_list_push(&h->cluster_queue, j->id);
        return;
    }
    char workdir[4096];
    if (j->working_dir)
        snprintf(workdir, sizeof workdir, "%s", j->working_dir);
    else
        mt_jobs_workdir(j->id, workdir, sizeof workdir);
    mt_slurm_runner_adopt(cluster(h), j->id, j->attempt > 0 ? j->attempt : 1, j->invocation_id, j->external_id,
                          workdir, j->state == MT_JOB_RUNNING, j->state == MT_JOB_DELETING);
}

void mt_handler_adopt_cluster_jobs(mt_handler_t *h)
{
    mt_db_t *db = mt_jobs_db();
    if (!db || h->stopping)
        return;
    mt_job_t *jobs = NULL;
    size_t n = 0, adopted = 0;
    if (mt_job_store_of_handler(db, h->name, &jobs, &n) < 0) {
        mt_error("cannot list the jobs of %s: %s", h->name, mt_db_errmsg(db));
        return;
    }
    for (size_t i = 0; i < n; i++) {
        const mt_job_t *j = &jobs[i];
        if (j->state != MT_JOB_NEW && job_is_cluster(j) && !mt_slurm_runner_has(h->slurm, j->id)) {
            adopt_cluster_job(h, j);
            adopted++;
        }
    }
    if (adopted)
        mt_info("%zu cluster job%s handed over to %s: watched again", adopted, adopted == 1 ? "" : "s", h->name);
    mt_job_store_free(jobs, n);
    schedule_flush(h);
}

static void recover(mt_handler_t *h)
{
    mt_db_t *db = mt_jobs_db();
    if (!db)
        return;
    mt_job_t *jobs = NULL;
    size_t n = 0;
    if (mt_job_store_of_handler(db, h->name, &jobs, &n) < 0) {
        mt_error("recovery: cannot list the jobs of %s: %s", h->name, mt_db_errmsg(db));
        return;
    }
    for (size_t i = 0; i < n; i++) {
        mt_job_t *j = &jobs[i];
        mt_heartbeat(h->stack); /* recovery of many jobs runs before the loop does: not a hung handler */
        switch (j->state) {
        case MT_JOB_NEW:
            id_list_push(&h->incoming, j->id);
            break;
        case MT_JOB_QUEUED:
            if (job_is_cluster(j))
                adopt_cluster_job(h, j);
            else
                queue_push(h, j->id);
            break;
        case MT_JOB_RUNNING:
        case MT_JOB_DELETING:
            if (j->runner && strcmp(j->runner, MT_JOB_RUNNER_LOCAL) != 0)
                adopt_cluster_job(h, j);
            else
                recover_run(h, j);
            break;
        default:
            break;
        }
    }
    if (n)
        mt_info("recovery: %zu job%s of %s taken up again", n, n == 1 ? "" : "s", h->name);
    mt_job_store_free(jobs, n);
    int64_t *inv_ids = NULL;
    size_t ninv = 0;
    if (mt_invocation_store_of_handler(db, h->name, false, &inv_ids, &ninv) == 0) {
        for (size_t i = 0; i < ninv; i++)
            id_list_push(&h->invocations, inv_ids[i]);
        if (ninv)
            mt_info("recovery: %zu invocation%s of %s taken up again", ninv, ninv == 1 ? "" : "s", h->name);
        free(inv_ids);
    }
    flush(h, false);
}

/* ---- the fence ---- */

/*
 * The fence promises the waiters of our commands that we are there
 * (fence.h) until the deadline the handler's database lease allows
 * (handler_lease.h): it moves only after a successful renewal of the
 * lease, and never past it.
 */
void mt_handler_fence_until(mt_handler_t *h, int64_t deadline_ns)
{
    if (!h->fence)
        return;
    int rc = mt_fence_renew(h->fence, deadline_ns);
    if (rc < 0)
        failure_seen(&h->write_failures, "cannot renew the fence %s (its commands stop when it lapses): %s",
                     mt_fence_path(h->fence), strerror(-rc));
}

void mt_handler_lost(mt_handler_t *h)
{
    /* Removing the fence tells every waiter of ours to stop its command now (fence.h). */
    mt_fence_close(h->fence, true);
    h->fence = NULL;
    h->stopping = true;
    uv_timer_stop(&h->poll);
    /* Its cluster jobs are the new holder's of its name now: stop watching them. */
    mt_slurm_runner_stop(h->slurm);
    h->slurm = NULL;
}

/* Open and renew this handler's fence, before any waiter of ours is started or adopted. */
static void fence_start(mt_handler_t *h, int64_t deadline_ns)
{
    char *dir = mt_asprintf("%s/handlers", mt_jobs()->data_dir);
    char err[1024];
    if (mt_fence_open(dir, h->name, &h->fence, err, sizeof err) < 0)
        mt_error("%s: commands run with no fence (a hung handler cannot make them stop)", err);
    free(dir);
    mt_handler_fence_until(h, deadline_ns);
}

mt_handler_t *mt_handler_start(mt_stack_t *stack, uv_loop_t *loop, const char *const *pools, size_t npools,
                               bool claim_now, bool fallback, int64_t fence_deadline_ns)
{
    mt_handler_t *h = mt_calloc(1, sizeof *h);
    h->stack = stack;
    h->loop = loop;
    h->name = mt_strdup(mt_stack_server_name(stack));
    h->pools = mt_calloc(npools ? npools : 1, sizeof *h->pools);
    for (size_t i = 0; i < npools; i++)
        h->pools[h->npools++] = mt_strdup(pools[i]);
    h->claim_now = claim_now && npools > 0;
    h->fallback = fallback;
    h->fallback_checked_ms = INT64_MIN / 2;
    pthread_mutex_init(&h->inbox_lock, NULL);
    uv_async_init(loop, &h->wakeup, wakeup_cb);
    h->wakeup.data = h;
    uv_idle_init(loop, &h->flush_idle);
    h->flush_idle.data = h;
    uv_timer_init(loop, &h->poll);
    h->poll.data = h;
    uv_timer_start(&h->poll, poll_cb, (uint64_t)mt_jobs()->poll_ms, (uint64_t)mt_jobs()->poll_ms);
    fence_start(h, fence_deadline_ns);
    recover(h);
    char served[1024] = "";
    for (size_t i = 0, used = 0; i < h->npools && used < sizeof served; i++) {
        int n = snprintf(served + used, sizeof served - used, "%s%s", i ? ", " : "", h->pools[i]);
        used += n > 0 ? (size_t)n : 0;
    }
    mt_info("handling jobs (%d at once%s%s%s)", mt_jobs()->workers, h->npools ? "; pools " : "", served,
            !h->npools ? "" : h->claim_now ? ", claimed from the database" : ", swept after sweep-delay");
    return h;
}
