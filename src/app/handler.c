/*
 * handler: claiming, queueing, running and recovering jobs (see handler.h).
 *
 * Order of writes around a run, so that a crash at any point leaves a
 * state recovery can act on truthfully: the job is marked running (with
 * its working directory) before its command starts, its pid is recorded
 * right after, and the result is written when the command ends. A handler
 * that dies in between finds the job `running` when it comes back, stops
 * whatever is left of its process group, and records it as error.
 */
#include "app/handler.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "app/app.h"
#include "app/job_store.h"
#include "app/runner_local.h"
#include "app/tools.h"
#include "common/log.h"
#include "common/mem.h"

#define POLL_BATCH 100

typedef struct running_job {
    int64_t id;
    mt_run_t *run;
    mt_handler_t *handler;
    struct running_job *next;
} running_job_t;

struct mt_handler {
    mt_stack_t *stack;
    uv_loop_t *loop;
    char *name;
    char *farm;              /* sweeper: unclaimed jobs of this farm; NULL for none */
    bool skip_locked;
    bool stopping;           /* mt_handler_stop was called: start nothing more */
    int64_t *queue;          /* ring buffer of queued job ids */
    size_t qhead, qlen, qcap;
    running_job_t *running;
    int nrunning;
    uv_timer_t poll;
    uv_async_t wakeup;
    pthread_mutex_t inbox_lock;
    int64_t *inbox;          /* ids handed over by other threads */
    size_t ninbox, inbox_cap;
};

/* ---- the queue ---- */

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

static int64_t queue_pop(mt_handler_t *h)
{
    int64_t id = h->queue[h->qhead];
    h->qhead = (h->qhead + 1) % h->qcap;
    h->qlen--;
    return id;
}

static bool queue_remove(mt_handler_t *h, int64_t id)
{
    for (size_t i = 0; i < h->qlen; i++) {
        if (h->queue[(h->qhead + i) % h->qcap] != id)
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

/* ---- state changes ---- */

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

static void pump(mt_handler_t *h);

static void run_done(mt_run_t *run, const mt_run_result_t *result, void *data)
{
    (void)run;
    running_job_t *rj = data;
    mt_handler_t *h = rj->handler;
    int64_t id = rj->id;
    for (running_job_t **pp = &h->running; *pp; pp = &(*pp)->next) {
        if (*pp == rj) {
            *pp = rj->next;
            break;
        }
    }
    h->nrunning--;
    free(rj);

    mt_job_update_t u = {.has_exit_code = result->exited, .exit_code = result->exit_code,
                         .info = result->why[0] ? result->why : NULL};
    int rc;
    if (result->cancelled)
        rc = transition(id, MT_JOB_BIT(MT_JOB_DELETING) | MT_JOB_BIT(MT_JOB_RUNNING), MT_JOB_DELETED, &u);
    else if (result->exited && result->exit_code == 0)
        rc = transition(id, MT_JOB_BIT(MT_JOB_RUNNING), MT_JOB_OK, &u);
    else
        rc = transition(id, MT_JOB_BIT(MT_JOB_RUNNING), MT_JOB_ERROR, &u);
    if (rc == 0) /* a cancel arrived as it finished: the user's wish stands */
        transition(id, MT_JOB_BIT(MT_JOB_DELETING), MT_JOB_DELETED, &u);
    pump(h);
}

/*
 * Start a queued job: `running` (with its working directory) is written
 * first, then the command starts, then its pid is recorded. A handler that
 * dies between the last two leaves a job `running` with no pid: recovery
 * cannot find its processes and records it as error (result unknown).
 */
static void start_job(mt_handler_t *h, int64_t id)
{
    mt_jobs_ctx_t *ctx = mt_jobs();
    mt_db_t *db = mt_jobs_db();
    if (!db)
        return;
    mt_job_t job = {0};
    if (mt_job_store_get(db, id, &job) < 0)
        return;
    if (job.state == MT_JOB_DELETING) {
        transition(id, MT_JOB_BIT(MT_JOB_DELETING), MT_JOB_DELETED, &(mt_job_update_t){.info = "cancelled before it ran"});
        goto out;
    }
    if (job.state != MT_JOB_QUEUED)
        goto out;

    const mt_tool_t *tool = mt_toolbox_find(ctx->tools, job.tool_id);
    if (!tool) {
        char why[256];
        snprintf(why, sizeof why, "tool '%s' is not installed", job.tool_id);
        fail_job(id, MT_JOB_BIT(MT_JOB_QUEUED), why);
        goto out;
    }
    char err[512];
    json_error_t jerr;
    json_t *params = json_loads(job.params ? job.params : "{}", 0, &jerr);
    char **argv = NULL;
    if (!params || mt_tool_build_argv(tool, params, &argv, err, sizeof err) < 0) {
        fail_job(id, MT_JOB_BIT(MT_JOB_QUEUED), params ? err : "stored parameters are not valid JSON");
        json_decref(params);
        goto out;
    }
    json_decref(params);

    char workdir[4096], out_path[4200], err_path[4200];
    mt_jobs_workdir(id, workdir, sizeof workdir);
    if (mkdir(workdir, 0755) < 0 && errno != EEXIST) {
        snprintf(err, sizeof err, "cannot create working directory %.300s: %s", workdir, strerror(errno));
        fail_job(id, MT_JOB_BIT(MT_JOB_QUEUED), err);
        mt_tool_argv_free(argv);
        goto out;
    }
    /* Running first, then the command: a crash in between is recovered as "running". */
    mt_job_update_t u = {.working_dir = workdir, .runner = "local"};
    if (transition(id, MT_JOB_BIT(MT_JOB_QUEUED), MT_JOB_RUNNING, &u) != 1) {
        mt_tool_argv_free(argv);
        mt_handler_check_cancel(h, id);
        goto out;
    }
    snprintf(out_path, sizeof out_path, "%s/stdout", workdir);
    snprintf(err_path, sizeof err_path, "%s/stderr", workdir);
    size_t nenv = 0;
    const char *const *env = mt_tool_environment(tool, &nenv);
    mt_run_spec_t spec = {
        .argv = argv,
        .env = env,
        .env_count = nenv,
        .working_dir = workdir,
        .stdout_path = out_path,
        .stderr_path = err_path,
        .walltime_s = mt_tool_walltime(tool),
        .kill_grace_ms = (unsigned)ctx->cancel_grace_ms,
    };
    running_job_t *rj = mt_calloc(1, sizeof *rj);
    rj->id = id;
    rj->handler = h;
    if (mt_run_start(h->loop, &spec, run_done, rj, &rj->run, err, sizeof err) < 0) {
        free(rj);
        fail_job(id, MT_JOB_BIT(MT_JOB_RUNNING), err);
        mt_tool_argv_free(argv);
        goto out;
    }
    mt_tool_argv_free(argv);
    rj->next = h->running;
    h->running = rj;
    h->nrunning++;
    char pid[32];
    snprintf(pid, sizeof pid, "%d", mt_run_pid(rj->run));
    transition(id, MT_JOB_BIT(MT_JOB_RUNNING), MT_JOB_RUNNING, &(mt_job_update_t){.external_id = pid});
out:
    mt_job_clear(&job);
}

/*
 * Take from the farm only what can start now: the other mules get the
 * rest. Called after every change of load, and after every message, taken
 * or not (each farm message uses a unit of credit before it is handled).
 */
static void update_credit(mt_handler_t *h)
{
    long free_slots = (long)mt_jobs()->workers - h->nrunning - (long)h->qlen;
    mt_mule_set_credit(h->stack, h->stopping || free_slots < 0 ? 0 : free_slots);
}

static void pump(mt_handler_t *h)
{
    while (!h->stopping && h->nrunning < mt_jobs()->workers && h->qlen > 0)
        start_job(h, queue_pop(h));
    update_credit(h);
}

/* ---- taking jobs ---- */

void mt_handler_take(mt_handler_t *h, int64_t id)
{
    mt_db_t *db = mt_jobs_db();
    if (!db) {
        update_credit(h);
        return;
    }
    int rc = mt_job_store_claim(db, id, h->name);
    if (rc == 0) {
        /* Not unassigned: perhaps assigned to us directly (db-self, preassign, mapping). */
        mt_job_t job = {0};
        if (mt_job_store_get(db, id, &job) == 0 && job.state == MT_JOB_NEW && job.handler &&
            strcmp(job.handler, h->name) == 0)
            rc = mt_job_store_transition(db, id, MT_JOB_BIT(MT_JOB_NEW), MT_JOB_QUEUED, NULL);
        mt_job_clear(&job);
    }
    if (rc < 0)
        mt_error("job %lld: cannot claim it: %s", (long long)id, mt_db_errmsg(db));
    if (rc == 1) {
        queue_push(h, id);
        pump(h);
    } else {
        update_credit(h); /* the message's unit of credit bought nothing */
    }
}

void mt_handler_check_cancel(mt_handler_t *h, int64_t id)
{
    running_job_t *rj = find_running(h, id);
    if (rj) {
        mt_run_cancel(rj->run); /* run_done records deleted */
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
    for (size_t i = 0; i < n; i++)
        mt_handler_take(h, ids[i]);
    free(ids);
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
                mt_handler_take(h, jobs[i].id);
            else
                mt_handler_check_cancel(h, jobs[i].id);
        mt_job_store_free(jobs, n);
    }

    /*
     * Sweep only into free slots: a job waiting for a slot here would wait
     * while another mule idles, and a busy farm's queue is read at once
     * whenever a slot frees (the credit), so only jobs whose message is
     * lost (a full queue, a mule that died holding it) stay to be swept.
     */
    size_t room = (size_t)ctx->workers;
    size_t load = (size_t)h->nrunning + h->qlen;
    if (h->farm && load < room &&
        mt_job_store_unassigned(db, mt_now_us() - (int64_t)ctx->sweep_delay_ms * 1000, room - load, &jobs, &n) == 0) {
        for (size_t i = 0; i < n; i++)
            if (jobs[i].destination && strcmp(jobs[i].destination, h->farm) == 0)
                mt_handler_take(h, jobs[i].id);
        mt_job_store_free(jobs, n);
    }
    while (h->skip_locked && (size_t)h->nrunning + h->qlen < (size_t)ctx->workers) {
        int64_t id = 0;
        if (mt_job_store_claim_next(db, "db", h->name, &id) != 1)
            break;
        queue_push(h, id);
        pump(h);
    }
}

void mt_handler_stop(mt_handler_t *h)
{
    h->stopping = true;
    uv_timer_stop(&h->poll);
    for (running_job_t *rj = h->running; rj; rj = rj->next) {
        int64_t id = rj->id;
        mt_run_stop_orphan(mt_run_pid(rj->run), (unsigned)mt_jobs()->cancel_grace_ms);
        int rc = transition(id, MT_JOB_BIT(MT_JOB_RUNNING), MT_JOB_QUEUED,
                            &(mt_job_update_t){.info = "the handler stopped while the job ran: the unfinished run "
                                                       "was stopped and the job runs again"});
        if (rc == 0) /* being cancelled: that is what happened */
            transition(id, MT_JOB_BIT(MT_JOB_DELETING), MT_JOB_DELETED, &(mt_job_update_t){.info = "cancelled"});
    }
    if (h->running)
        mt_info("stopping: %d running job%s put back in the queue", h->nrunning, h->nrunning == 1 ? "" : "s");
}

/* ---- recovery ---- */

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
        int pid = j->external_id ? atoi(j->external_id) : 0;
        switch (j->state) {
        case MT_JOB_NEW:
            mt_handler_take(h, j->id);
            break;
        case MT_JOB_QUEUED:
            queue_push(h, j->id);
            break;
        case MT_JOB_RUNNING:
            if (pid > 0 && mt_run_stop_orphan(pid, (unsigned)mt_jobs()->cancel_grace_ms)) {
                /* Still running, so unfinished: stopped now, it runs again from the start. */
                if (transition(j->id, MT_JOB_BIT(MT_JOB_RUNNING), MT_JOB_QUEUED,
                               &(mt_job_update_t){.info = "the handler restarted while the job ran: the unfinished "
                                                          "run was stopped and the job runs again"}) == 1)
                    queue_push(h, j->id);
            } else {
                fail_job(j->id, MT_JOB_BIT(MT_JOB_RUNNING),
                         "the handler restarted while the job was running and its processes are gone: "
                         "its result is unknown");
            }
            break;
        case MT_JOB_DELETING:
            if (pid > 0)
                mt_run_stop_orphan(pid, (unsigned)mt_jobs()->cancel_grace_ms);
            transition(j->id, MT_JOB_BIT(MT_JOB_DELETING), MT_JOB_DELETED,
                       &(mt_job_update_t){.info = "cancelled while its handler restarted"});
            break;
        default:
            break;
        }
    }
    if (n)
        mt_info("recovery: %zu job%s of %s taken up again", n, n == 1 ? "" : "s", h->name);
    mt_job_store_free(jobs, n);
    pump(h);
}

mt_handler_t *mt_handler_start(mt_stack_t *stack, uv_loop_t *loop, const char *farm, bool skip_locked)
{
    mt_handler_t *h = mt_calloc(1, sizeof *h);
    h->stack = stack;
    h->loop = loop;
    h->name = mt_strdup(mt_stack_server_name(stack));
    h->farm = farm ? mt_strdup(farm) : NULL;
    h->skip_locked = skip_locked;
    pthread_mutex_init(&h->inbox_lock, NULL);
    uv_async_init(loop, &h->wakeup, wakeup_cb);
    h->wakeup.data = h;
    uv_timer_init(loop, &h->poll);
    h->poll.data = h;
    uv_timer_start(&h->poll, poll_cb, (uint64_t)mt_jobs()->poll_ms, (uint64_t)mt_jobs()->poll_ms);
    recover(h);
    mt_info("handling jobs (%d at once%s%s%s)", mt_jobs()->workers, farm ? ", sweeping farm " : "", farm ? farm : "",
            skip_locked ? ", claiming from the database" : "");
    return h;
}
