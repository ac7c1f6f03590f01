/*
 * runner_slurm: a handler's cluster jobs on Slurm (see runner_slurm.h).
 *
 * Each job is a record in a list, in one of these phases:
 *
 *   TO_SUBMIT   its sbatch command line is ready; it waits for a command
 *               slot (or for the pause after a transient failure)
 *   SUBMITTING  sbatch runs
 *   TO_FIND     adopted without a Slurm id: waits for a slot to look for
 *               it by name (squeue --name)
 *   FINDING     that squeue runs
 *   WATCHED     Slurm has it (external id known): the poll follows it
 *   ENDING      Slurm says it ended, but the status file is not there yet
 *               (a shared filesystem may show it late): a few polls more
 *
 * The poll runs one squeue (all of the jobs' owner's jobs) for every
 * WATCHED and ENDING job, and matches its lines by id. A job ends
 * when squeue shows it in a final state, or no longer shows it at all
 * (Slurm forgets a job MinJobAge after its end): its status file then
 * says how its command ended. Slurm's state decides first when Slurm
 * stopped the job (TIMEOUT, OUT_OF_MEMORY, CANCELLED, NODE_FAIL, ...):
 * the command's status is what Slurm's signal did to it, not the reason.
 *
 * Commands in flight are counted; at most max_commands run at once, the
 * poll's squeue included -- but the poll never waits behind submissions
 * for more than one interval: it takes the next free slot before them.
 */
#define MT_LOG_NAME "muleteer.jobs.slurm"

#include "app/run/runner_slurm.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app/run/slurm_command.h"
#include "app/run/slurm_parse.h"
#include "app/run/slurm_script.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/mem.h"

/* A Slurm command that runs longer is killed: sbatch waits on an unreachable controller for MessageTimeout x retries. */
#define COMMAND_TIMEOUT_MS 120000
/* Polls a job whose Slurm end came without a status file is given for the file to appear. */
#define STATUS_GRACE_POLLS 3
/* The most of squeue's answer a poll reads (about 30 bytes a job); an answer cut there is not judged. */
#define POLL_OUTPUT_CAP (64u << 20)
/* The longest pause between two tries of a submission Slurm could not take. */
#define SUBMIT_PAUSE_MAX_MS 5000

typedef enum {
    PHASE_TO_SUBMIT,
    PHASE_SUBMITTING,
    PHASE_TO_FIND,
    PHASE_FINDING,
    PHASE_WATCHED,
    PHASE_ENDING,
} phase_t;

typedef struct slurm_job {
    int64_t id;
    int attempt;
    int64_t invocation_id;
    phase_t phase;
    char external_id[32];    /* "" until known */
    char name[64];           /* its Slurm job name */
    char *working_dir;
    char *status_path;
    char **sbatch_argv;      /* TO_SUBMIT / SUBMITTING: the command line (owned) */
    int64_t not_before_ms;   /* TO_SUBMIT after a transient failure: not before this (mt_clock_ms) */
    int64_t first_try_ms;    /* of the submission: patience runs from there */
    unsigned tries;
    bool seen_running;
    int64_t running_since_ms;
    bool cancel_wanted;      /* mt_slurm_runner_cancel */
    bool scancel_sent;       /* an scancel succeeded: Slurm ends it */
    bool scancel_running;
    bool polled;             /* seen by the poll in flight (reset per poll) */
    int ending_polls;        /* ENDING: polls spent waiting for the status file */
    mt_slurm_state_t end_state;
    char end_reason[128];
    struct slurm_job *next;
} slurm_job_t;

struct mt_slurm_runner {
    uv_loop_t *loop;
    mt_slurm_runner_spec_t spec;
    char **env;              /* copy of spec.command_env */
    slurm_job_t *jobs;
    size_t njobs;
    int commands;            /* in flight */
    bool polling;            /* the poll's squeue is in flight */
    bool poll_due;           /* the poll interval passed while no slot was free */
    bool stopping;
    uv_timer_t timer;        /* the poll interval; also wakes submissions paused after a failure */
};

static void pump(mt_slurm_runner_t *r);
static void runner_closed(uv_handle_t *handle);
static int native_time(char *const *words, bool *skip, long long *seconds, const char **bad);

/* ---- names and small helpers ---- */

static uint32_t fnv1a(const char *s)
{
    uint32_t h = 2166136261u;
    for (; s && *s; s++) {
        h ^= (unsigned char)*s;
        h *= 16777619u;
    }
    return h;
}

const char *mt_slurm_job_name(int64_t job_id, int attempt, const char *working_dir, char *buf, size_t len)
{
    snprintf(buf, len, MT_SLURM_NAME_FMT, (long long)job_id, attempt, fnv1a(working_dir));
    return buf;
}

static char **strv_copy(char *const *v)
{
    size_t n = 0;
    while (v && v[n])
        n++;
    char **c = mt_calloc(n + 1, sizeof *c);
    for (size_t i = 0; i < n; i++)
        c[i] = mt_strdup(v[i]);
    return c;
}

static void strv_free(char **v)
{
    for (size_t i = 0; v && v[i]; i++)
        free(v[i]);
    free(v);
}

static slurm_job_t *find_job(const mt_slurm_runner_t *r, int64_t id)
{
    for (slurm_job_t *j = r->jobs; j; j = j->next)
        if (j->id == id)
            return j;
    return NULL;
}

static slurm_job_t *new_job(mt_slurm_runner_t *r, int64_t id, int attempt, int64_t invocation_id,
                            const char *working_dir)
{
    slurm_job_t *j = mt_calloc(1, sizeof *j);
    j->id = id;
    j->invocation_id = invocation_id;
    j->attempt = attempt > 0 ? attempt : 1;
    j->working_dir = mt_strdup(working_dir);
    j->status_path = mt_asprintf("%s/%s", working_dir, MT_SLURM_STATUS_NAME);
    mt_slurm_job_name(id, j->attempt, working_dir, j->name, sizeof j->name);
    j->next = r->jobs;
    r->jobs = j;
    r->njobs++;
    return j;
}

static void drop_job(mt_slurm_runner_t *r, slurm_job_t *j)
{
    for (slurm_job_t **pp = &r->jobs; *pp; pp = &(*pp)->next) {
        if (*pp == j) {
            *pp = j->next;
            r->njobs--;
            break;
        }
    }
    strv_free(j->sbatch_argv);
    free(j->working_dir);
    free(j->status_path);
    free(j);
}

static void emit(mt_slurm_runner_t *r, const mt_slurm_event_t *ev)
{
    r->spec.event_cb(ev, r->spec.data);
}

/* The job ended (the event says how): report it and forget it. */
static void end_job(mt_slurm_runner_t *r, slurm_job_t *j, mt_slurm_event_t *ev)
{
    ev->kind = MT_SLURM_EV_ENDED;
    ev->job_id = j->id;
    ev->invocation_id = j->invocation_id;
    ev->attempt = j->attempt;
    ev->external_id = j->external_id[0] ? j->external_id : NULL;
    ev->seconds_running = j->seen_running ? (double)(mt_clock_ms() - j->running_since_ms) / 1000.0 : 0;
    ev->seen_running = j->seen_running;
    char ext[sizeof j->external_id];
    memcpy(ext, j->external_id, sizeof ext);
    ev->external_id = ext[0] ? ext : NULL;
    drop_job(r, j);
    emit(r, ev);
}

static void end_deleted(mt_slurm_runner_t *r, slurm_job_t *j, const char *info)
{
    mt_slurm_event_t ev = {.to = MT_JOB_DELETED, .info = info};
    end_job(r, j, &ev);
}

/* ---- commands ---- */

typedef struct command {
    mt_slurm_runner_t *runner;
    int64_t job_id;          /* 0: the poll */
    enum { CMD_SBATCH, CMD_FIND, CMD_SCANCEL, CMD_POLL } kind;
} command_t;

static void command_done(const mt_slurm_cmd_result_t *res, void *data);

/* Start argv for job_id (0: the poll). Returns 0, or -errno with err (nothing runs). */
static int run_command(mt_slurm_runner_t *r, int kind, int64_t job_id, char *const *argv, char *err, size_t errlen)
{
    command_t *c = mt_calloc(1, sizeof *c);
    c->runner = r;
    c->job_id = job_id;
    c->kind = kind;
    int rc = mt_slurm_cmd_run(r->loop, argv, r->env, COMMAND_TIMEOUT_MS, kind == CMD_POLL ? POLL_OUTPUT_CAP : 0,
                              command_done, c, err, errlen);
    if (rc < 0) {
        free(c);
        return rc;
    }
    r->commands++;
    return 0;
}

/* One line: Slurm's message, or how the command itself failed. */
static const char *command_failure(const mt_slurm_cmd_result_t *res, char *buf, size_t len)
{
    if (!res->started)
        snprintf(buf, len, "%s", res->err);
    else if (res->timed_out)
        snprintf(buf, len, "no answer within %d s", COMMAND_TIMEOUT_MS / 1000);
    else if (!res->exited)
        snprintf(buf, len, "killed by signal %d", res->term_signal);
    else if (!mt_slurm_error_message(res->err, buf, len)[0])
        snprintf(buf, len, "exited with status %d", res->exit_status);
    return buf;
}

/* May the failure pass: Slurm unreachable or busy, the command killed or out of time, or no resources to start it. */
static bool command_transient(const mt_slurm_cmd_result_t *res)
{
    if (!res->started)
        return strstr(res->err, strerror(EAGAIN)) || strstr(res->err, strerror(ENOMEM)) ||
               strstr(res->err, strerror(EMFILE)) || strstr(res->err, strerror(ENFILE));
    return res->timed_out || !res->exited || mt_slurm_error_transient(res->err);
}

/* ---- submitting ---- */

static void sbatch_done(mt_slurm_runner_t *r, slurm_job_t *j, const mt_slurm_cmd_result_t *res)
{
    char id[32], why[512];
    if (res->started && res->exited && res->exit_status == 0 && mt_slurm_parse_sbatch(res->out, id, sizeof id) == 0) {
        snprintf(j->external_id, sizeof j->external_id, "%s", id);
        strv_free(j->sbatch_argv);
        j->sbatch_argv = NULL;
        j->phase = PHASE_WATCHED;
        mt_debug("job %lld: Slurm job %s (%.3f s to submit)", (long long)j->id, id, res->seconds);
        mt_slurm_event_t ev = {.kind = MT_SLURM_EV_SUBMITTED, .job_id = j->id, .attempt = j->attempt, .invocation_id = j->invocation_id,
                               .external_id = j->external_id};
        emit(r, &ev);
        if (j->cancel_wanted)
            r->poll_due = true; /* the next pass sends its scancel */
        return;
    }
    command_failure(res, why, sizeof why);
    if (j->cancel_wanted) {
        /* A cancel waited for this answer: a submission that failed left nothing to stop. */
        end_deleted(r, j, "cancelled before Slurm took it");
        return;
    }
    int64_t now = mt_clock_ms();
    if (command_transient(res) && now - j->first_try_ms < MT_SLURM_SUBMIT_PATIENCE_S * 1000LL) {
        unsigned pause = 250u << (j->tries < 5 ? j->tries : 5);
        if (pause > SUBMIT_PAUSE_MAX_MS)
            pause = SUBMIT_PAUSE_MAX_MS;
        if (j->tries == 1 || j->tries % 10 == 0)
            mt_warn("job %lld: sbatch failed (%s): trying again (for up to %d s)", (long long)j->id, why,
                    MT_SLURM_SUBMIT_PATIENCE_S);
        j->phase = PHASE_TO_SUBMIT;
        j->not_before_ms = now + pause;
        return;
    }
    char info[700];
    if (command_transient(res))
        snprintf(info, sizeof info, "Slurm did not take the job within %d s (%u tries): %s",
                 MT_SLURM_SUBMIT_PATIENCE_S, j->tries, why);
    else
        snprintf(info, sizeof info, "sbatch refused the job: %s", why);
    mt_warn("job %lld: %s", (long long)j->id, info);
    mt_slurm_event_t ev = {.to = MT_JOB_ERROR, .info = info, .never_ran = true};
    end_job(r, j, &ev);
}

/* ---- finding a job by name (adoption without an id) ---- */

static void find_done(mt_slurm_runner_t *r, slurm_job_t *j, const mt_slurm_cmd_result_t *res)
{
    char why[512];
    bool answered = res->started && res->exited &&
                    (res->exit_status == 0 || strstr(res->err, "Invalid job id") != NULL);
    if (!answered) {
        mt_warn("job %lld: cannot ask Slurm for job %s (tried again): %s", (long long)j->id, j->name,
                command_failure(res, why, sizeof why));
        j->phase = PHASE_TO_FIND;
        j->not_before_ms = mt_clock_ms() + 1000;
        return;
    }
    mt_slurm_job_line_t *lines = NULL;
    ssize_t n = mt_slurm_parse_squeue(res->out, &lines, why, sizeof why);
    if (n > 0) {
        /* The newest of that name, should there be several. */
        const mt_slurm_job_line_t *pick = &lines[0];
        for (ssize_t i = 1; i < n; i++)
            if (strtoll(lines[i].id, NULL, 10) > strtoll(pick->id, NULL, 10))
                pick = &lines[i];
        snprintf(j->external_id, sizeof j->external_id, "%s", pick->id);
        j->phase = PHASE_WATCHED;
        mt_info("job %lld: found in Slurm by its name %s: Slurm job %s (%s)", (long long)j->id, j->name, pick->id,
                pick->state_name);
        free(lines);
        mt_slurm_event_t ev = {.kind = MT_SLURM_EV_SUBMITTED, .job_id = j->id, .attempt = j->attempt, .invocation_id = j->invocation_id,
                               .external_id = j->external_id};
        emit(r, &ev);
        r->poll_due = true;
        return;
    }
    free(lines);
    if (n < 0)
        mt_warn("job %lld: %s", (long long)j->id, why);
    int64_t id = j->id, invocation_id = j->invocation_id;
    int attempt = j->attempt;
    bool cancel = j->cancel_wanted;
    if (cancel) {
        end_deleted(r, j, "cancelled; Slurm never had it");
        return;
    }
    drop_job(r, j);
    mt_slurm_event_t ev = {.kind = MT_SLURM_EV_UNKNOWN, .job_id = id, .attempt = attempt,
                           .invocation_id = invocation_id};
    emit(r, &ev);
}

/* ---- the poll ---- */

/*
 * Slurm says job j is in `state` (or, with gone, no longer knows it):
 * report it running, or ended with its result.
 */
static void job_seen(mt_slurm_runner_t *r, slurm_job_t *j, const mt_slurm_job_line_t *line, bool gone)
{
    mt_slurm_state_t state = gone ? MT_SLURM_OTHER : line->state;
    if (!gone && !mt_slurm_state_final(state)) {
        if ((state == MT_SLURM_RUNNING || state == MT_SLURM_COMPLETING || state == MT_SLURM_SUSPENDED) &&
            !j->seen_running) {
            j->seen_running = true;
            j->running_since_ms = mt_clock_ms();
            mt_slurm_event_t ev = {.kind = MT_SLURM_EV_RUNNING, .job_id = j->id, .attempt = j->attempt, .invocation_id = j->invocation_id,
                                   .external_id = j->external_id};
            emit(r, &ev);
        }
        return;
    }
    if (!gone) {
        j->end_state = state;
        snprintf(j->end_reason, sizeof j->end_reason, "%s", line->reason);
    }
    int attempt = -1, code = -1;
    int src = mt_slurm_status_read(j->status_path, &attempt, &code);
    bool have_status = src == 0 && attempt == j->attempt;
    char info[700];
    mt_slurm_event_t ev = {0};
    const char *sname = gone ? "no longer known to Slurm" : line->state_name;

    if (j->scancel_sent) {
        end_deleted(r, j, "cancelled");
        return;
    }
    switch (gone ? MT_SLURM_OTHER : state) {
    case MT_SLURM_COMPLETED:
    case MT_SLURM_FAILED:
    case MT_SLURM_OTHER:
        if (!have_status) {
            if (j->phase != PHASE_ENDING) {
                j->phase = PHASE_ENDING;
                j->ending_polls = 0;
            }
            if (++j->ending_polls <= STATUS_GRACE_POLLS)
                return; /* a shared filesystem may show the file a little later */
            snprintf(info, sizeof info,
                     "Slurm job %s: %s%s%s, and its batch script left no exit status (%s): its command's result "
                     "is unknown; see %s/%s",
                     j->external_id, sname, j->end_reason[0] ? ", reason " : "", j->end_reason,
                     src == -ENOENT ? "no status file"
                     : src == 0     ? "the status file is an earlier attempt's"
                                    : strerror(-src),
                     j->working_dir, MT_SLURM_LOG_NAME);
            ev.to = MT_JOB_ERROR;
            ev.info = info;
            ev.unknown_error = true;
            break;
        }
        ev.has_exit_code = true;
        ev.exit_code = code;
        if (code == 0) {
            ev.to = MT_JOB_OK;
        } else {
            ev.to = MT_JOB_ERROR;
            snprintf(info, sizeof info, "exited with status %d (Slurm job %s: %s)", code, j->external_id, sname);
            ev.info = info;
        }
        break;
    case MT_SLURM_TIMEOUT:
    case MT_SLURM_DEADLINE:
        snprintf(info, sizeof info,
                 "Slurm job %s: %s: this job was terminated because it ran longer than the maximum allowed job run "
                 "time",
                 j->external_id, sname);
        ev.to = MT_JOB_ERROR;
        ev.info = info;
        ev.walltime_reached = true;
        break;
    case MT_SLURM_OUT_OF_MEMORY:
        snprintf(info, sizeof info,
                 "Slurm job %s: %s: this job was terminated because it used more memory than it was allocated",
                 j->external_id, sname);
        ev.to = MT_JOB_ERROR;
        ev.info = info;
        ev.memory_limit_reached = true;
        break;
    case MT_SLURM_CANCELLED:
        snprintf(info, sizeof info, "Slurm job %s: %s outside muleteer (by an administrator or scancel)",
                 j->external_id, sname);
        ev.to = MT_JOB_ERROR;
        ev.info = info;
        ev.unknown_error = true;
        break;
    default: /* NODE_FAIL, PREEMPTED, BOOT_FAIL */
        snprintf(info, sizeof info, "Slurm job %s: %s%s%s: the cluster ended it", j->external_id, sname,
                 j->end_reason[0] && strcmp(j->end_reason, "None") ? ", reason " : "",
                 j->end_reason[0] && strcmp(j->end_reason, "None") ? j->end_reason : "");
        ev.to = MT_JOB_ERROR;
        ev.info = info;
        ev.unknown_error = true;
        break;
    }
    if (ev.to != MT_JOB_OK && have_status && !ev.has_exit_code) {
        ev.has_exit_code = true; /* what Slurm's signal did to the command, for the record */
        ev.exit_code = code;
    }
    end_job(r, j, &ev);
}

static int line_cmp(const void *a, const void *b)
{
    return strcmp(((const mt_slurm_job_line_t *)a)->id, ((const mt_slurm_job_line_t *)b)->id);
}

static void poll_done(mt_slurm_runner_t *r, const mt_slurm_cmd_result_t *res)
{
    r->polling = false;
    char why[512];
    bool none_known = res->started && res->exited && res->exit_status != 0 && strstr(res->err, "Invalid job id");
    if (!none_known && !(res->started && res->exited && res->exit_status == 0)) {
        mt_warn("squeue failed (asked again at the next interval): %s", command_failure(res, why, sizeof why));
        for (slurm_job_t *j = r->jobs; j; j = j->next)
            j->polled = false;
        return;
    }
    if (res->out_len >= POLL_OUTPUT_CAP) {
        /* A job missing from a cut answer would be taken for one Slurm forgot: judge none. */
        mt_warn("squeue's answer is larger than %u MiB: not read (asked again at the next interval)",
                POLL_OUTPUT_CAP >> 20);
        for (slurm_job_t *j = r->jobs; j; j = j->next)
            j->polled = false;
        return;
    }
    mt_slurm_job_line_t *lines = NULL;
    ssize_t n = none_known ? 0 : mt_slurm_parse_squeue(res->out, &lines, why, sizeof why);
    if (n < 0) {
        mt_warn("%s (asked again at the next interval)", why);
        for (slurm_job_t *j = r->jobs; j; j = j->next)
            j->polled = false;
        return;
    }
    /*
     * Each job the poll asked about: its line, or none (Slurm forgot it).
     * The lines are sorted by id and looked up, so a poll costs n log n,
     * not n^2 (thousands of jobs in flight). job_seen() may end (free) the
     * job it is given, never another: the next one is taken first.
     */
    if (n > 1)
        qsort(lines, (size_t)n, sizeof *lines, line_cmp);
    for (slurm_job_t *j = r->jobs, *next; j; j = next) {
        next = j->next;
        if (!j->polled)
            continue;
        j->polled = false;
        if (j->phase != PHASE_WATCHED && j->phase != PHASE_ENDING)
            continue;
        mt_slurm_job_line_t key;
        snprintf(key.id, sizeof key.id, "%s", j->external_id);
        const mt_slurm_job_line_t *line = n > 0 ? bsearch(&key, lines, (size_t)n, sizeof *lines, line_cmp) : NULL;
        job_seen(r, j, line, line == NULL);
    }
    free(lines);
}

static void command_done(const mt_slurm_cmd_result_t *res, void *data)
{
    command_t *c = data;
    mt_slurm_runner_t *r = c->runner;
    r->commands--;
    if (c->kind == CMD_POLL) {
        poll_done(r, res);
    } else {
        slurm_job_t *j = find_job(r, c->job_id);
        if (j && c->kind == CMD_SBATCH && j->phase == PHASE_SUBMITTING) {
            sbatch_done(r, j, res);
        } else if (j && c->kind == CMD_FIND && j->phase == PHASE_FINDING) {
            find_done(r, j, res);
        } else if (j && c->kind == CMD_SCANCEL) {
            j->scancel_running = false;
            char why[512];
            if (res->started && res->exited && res->exit_status == 0) {
                j->scancel_sent = true;
                r->poll_due = true;
            } else if (strstr(res->err, "already completing or completed") || strstr(res->err, "Invalid job id")) {
                j->scancel_sent = true; /* it ended first: the poll says how, and it ends deleted */
                r->poll_due = true;
            } else {
                mt_warn("job %lld: scancel %s failed (tried again): %s", (long long)j->id, j->external_id,
                        command_failure(res, why, sizeof why));
            }
        }
    }
    free(c);
    if (r->stopping) {
        if (r->commands == 0)
            uv_close((uv_handle_t *)&r->timer, runner_closed); /* the last answer after mt_slurm_runner_stop */
        return;
    }
    pump(r);
}

/* Start what can start: the poll when due, scancels, name searches, submissions, as slots allow. */
static void pump(mt_slurm_runner_t *r)
{
    if (r->stopping)
        return;
    int max = r->spec.max_commands > 0 ? r->spec.max_commands : 4;
    char err[512];
    int64_t now = mt_clock_ms();
    if (r->poll_due && !r->polling && r->commands < max + 1) {
        /*
         * One squeue for every job Slurm has, asked by user: squeue's cost
         * grows with the ids it is given times the jobs slurmctld holds, and
         * the user's jobs are matched here instead. The poll may use one slot
         * beyond max: it never waits for submissions.
         */
        size_t n = 0;
        for (slurm_job_t *j = r->jobs; j; j = j->next) {
            j->polled = j->phase == PHASE_WATCHED || j->phase == PHASE_ENDING;
            n += j->polled;
        }
        if (n > 0) {
            char user[32];
            snprintf(user, sizeof user, "--user=%u", (unsigned)r->spec.user);
            char *argv[] = {"squeue", "--states=all", "--noheader", "--format=%i|%T|%r", user, NULL};
            if (run_command(r, CMD_POLL, 0, argv, err, sizeof err) == 0) {
                r->polling = true;
                r->poll_due = false;
            } else {
                mt_warn("cannot run squeue (tried again at the next interval): %s", err);
                for (slurm_job_t *j = r->jobs; j; j = j->next)
                    j->polled = false;
            }
        } else {
            r->poll_due = false;
        }
    }
    for (slurm_job_t *j = r->jobs, *next; j && r->commands < max; j = next) {
        next = j->next;
        if (j->cancel_wanted && j->phase == PHASE_TO_SUBMIT) {
            end_deleted(r, j, "cancelled before Slurm took it");
            continue;
        }
        if (j->cancel_wanted && j->external_id[0] && !j->scancel_sent && !j->scancel_running &&
            (j->phase == PHASE_WATCHED || j->phase == PHASE_ENDING)) {
            char *argv[] = {"scancel", j->external_id, NULL};
            if (run_command(r, CMD_SCANCEL, j->id, argv, err, sizeof err) == 0)
                j->scancel_running = true;
            else
                mt_warn("job %lld: cannot run scancel (tried again): %s", (long long)j->id, err);
            continue;
        }
        if (j->phase == PHASE_TO_FIND && now >= j->not_before_ms) {
            char name_opt[128];
            snprintf(name_opt, sizeof name_opt, "--name=%s", j->name);
            char *argv[] = {"squeue", "--states=all", "--noheader", "--format=%i|%T|%r", name_opt, NULL};
            if (run_command(r, CMD_FIND, j->id, argv, err, sizeof err) == 0)
                j->phase = PHASE_FINDING;
            continue;
        }
        if (j->phase == PHASE_TO_SUBMIT && now >= j->not_before_ms) {
            if (!j->first_try_ms)
                j->first_try_ms = now;
            j->tries++;
            if (run_command(r, CMD_SBATCH, j->id, j->sbatch_argv, err, sizeof err) == 0) {
                j->phase = PHASE_SUBMITTING;
            } else {
                mt_warn("job %lld: cannot run sbatch (tried again): %s", (long long)j->id, err);
                j->not_before_ms = now + 1000;
            }
        }
    }
}

static void timer_cb(uv_timer_t *timer)
{
    mt_slurm_runner_t *r = timer->data;
    r->poll_due = true;
    pump(r);
}

/* ---- the interface ---- */

mt_slurm_runner_t *mt_slurm_runner_new(uv_loop_t *loop, const mt_slurm_runner_spec_t *spec)
{
    mt_slurm_runner_t *r = mt_calloc(1, sizeof *r);
    r->loop = loop;
    r->spec = *spec;
    if (r->spec.poll_ms == 0)
        r->spec.poll_ms = 1000;
    r->env = strv_copy(spec->command_env);
    r->spec.command_env = NULL;
    uv_timer_init(loop, &r->timer);
    r->timer.data = r;
    /* The poll runs each interval; submissions paused after a failure are looked at then too. */
    uv_timer_start(&r->timer, timer_cb, r->spec.poll_ms, r->spec.poll_ms);
    uv_unref((uv_handle_t *)&r->timer);
    return r;
}

/* The sbatch command line of a job: Slurm's options, then the destination's, then the script. */
static int build_sbatch(const slurm_job_t *j, const mt_slurm_submission_t *sub, char ***out, char *err, size_t errlen)
{
    char **native = NULL;
    const char *spec = sub->route ? sub->route->native_specification : NULL;
    if (mt_slurm_split_words(spec, &native, err, errlen) < 0)
        return -EINVAL;
    size_t nnative = 0;
    while (native[nnative])
        nnative++;
    /* A --time of the nativeSpecification and the walltime limit: the smaller applies, given once. */
    bool *skip = mt_calloc(nnative + 1, sizeof *skip);
    long long native_s = 0;
    const char *bad = NULL;
    double walltime = sub->route ? sub->route->walltime_s : 0;
    int has_time = native_time(native, skip, &native_s, &bad);
    if (has_time < 0) {
        snprintf(err, errlen, "nativeSpecification '%s': --time '%s' is not a Slurm time", spec, bad);
        free(skip);
        mt_slurm_words_free(native);
        return -EINVAL;
    }
    if (has_time > 0 && native_s > 0 && (walltime <= 0 || (double)native_s < walltime))
        walltime = (double)native_s;
    char **argv = mt_calloc(nnative + 16, sizeof *argv);
    size_t n = 0;
    argv[n++] = mt_strdup("sbatch");
    argv[n++] = mt_strdup("--parsable");
    argv[n++] = mt_asprintf("--job-name=%s", j->name);
    argv[n++] = mt_asprintf("--chdir=%s", sub->working_dir);
    argv[n++] = mt_asprintf("--output=%s/%s", sub->working_dir, MT_SLURM_LOG_NAME);
    argv[n++] = mt_strdup("--open-mode=append");
    if (walltime > 0) {
        /* Slurm counts limits in whole minutes: a limit is never shortened by the rounding. */
        long minutes = (long)((walltime + 59.999) / 60.0);
        argv[n++] = mt_asprintf("--time=%ld", minutes > 0 ? minutes : 1);
    }
    const mt_creds_t *as = sub->run_as;
    if (as && as->set_uid)
        argv[n++] = mt_asprintf("--uid=%u", (unsigned)as->uid);
    if (as && as->set_gid)
        argv[n++] = mt_asprintf("--gid=%u", (unsigned)as->gid);
    for (size_t i = 0; i < nnative; i++)
        if (!skip[i])
            argv[n++] = mt_strdup(native[i]);
    argv[n++] = mt_asprintf("%s/%s", sub->working_dir, MT_SLURM_SCRIPT_NAME);
    argv[n] = NULL;
    free(skip);
    mt_slurm_words_free(native);
    *out = argv;
    return 0;
}

/* sbatch options the runner sets itself, or that would change what a submission is: never in a nativeSpecification. */
static const struct {
    const char *long_name;
    char short_name;
    const char *why;
} owned_options[] = {
    {"--job-name", 'J', "it names the job, which finds it in Slurm after a restart"},
    {"--chdir", 'D', "the job runs in its working directory"},
    {"--output", 'o', "Slurm's output for the job goes to slurm.log in its working directory"},
    {"--open-mode", 0, "slurm.log is appended to"},
    {"--parsable", 0, "the job id is read from sbatch's answer"},
    {"--uid", 0, "jobs.job-user sets it"},
    {"--gid", 0, "jobs.job-group sets it"},
    {"--wrap", 0, "the job is its batch script"},
    {"--array", 'a', "one job is one Slurm job"},
    {"--wait", 'W', "sbatch must answer at once"},
    {"--test-only", 0, "the job must be submitted"},
};

/*
 * The --time a nativeSpecification gives (--time=V, --time V, -tV, -t V;
 * the last one counts, as in sbatch): 1 with its seconds in *seconds (0:
 * no limit) and the words it takes marked in skip (may be NULL), 0 when it
 * gives none, -1 when V is not a Slurm time (then *bad points to it).
 */
static int native_time(char *const *words, bool *skip, long long *seconds, const char **bad)
{
    int found = 0;
    for (size_t w = 0; words[w]; w++) {
        const char *value = NULL;
        size_t taken = 1;
        if (strncmp(words[w], "--time=", 7) == 0)
            value = words[w] + 7;
        else if (strncmp(words[w], "-t", 2) == 0 && words[w][2])
            value = words[w] + 2;
        else if ((strcmp(words[w], "--time") == 0 || strcmp(words[w], "-t") == 0) && words[w + 1]) {
            value = words[w + 1];
            taken = 2;
        } else
            continue;
        if (mt_job_conf_parse_slurm_time(value, seconds) < 0) {
            *bad = value;
            return -1;
        }
        for (size_t k = 0; skip && k < taken; k++)
            skip[w + k] = true;
        w += taken - 1;
        found = 1;
    }
    return found;
}

/* Does word set option (--name, --name=..., -X, -Xvalue)? */
static bool word_sets(const char *word, const char *long_name, char short_name)
{
    size_t n = strlen(long_name);
    if (strncmp(word, long_name, n) == 0 && (word[n] == '\0' || word[n] == '='))
        return true;
    return short_name && word[0] == '-' && word[1] == short_name;
}

int mt_slurm_check_destinations(const mt_job_conf_t *conf, char *err, size_t errlen)
{
    const char *file = mt_job_conf_file(conf);
    for (size_t i = 0; i < mt_job_conf_destination_count(conf); i++) {
        const mt_job_destination_t *d = mt_job_conf_destination_at(conf, i);
        const mt_job_runner_t *runner = mt_job_conf_find_runner(conf, mt_job_destination_runner(d));
        const char *spec = mt_job_destination_native_specification(d);
        if (!runner || strcmp(mt_job_runner_type(runner), MT_JOB_RUNNER_SLURM) != 0 || !spec)
            continue;
        int line = mt_job_destination_line(d);
        const mt_job_param_t *params;
        size_t nparams = mt_job_destination_params(d, &params);
        for (size_t k = 0; k < nparams; k++)
            if (!strcmp(params[k].id, "nativeSpecification") || !strcmp(params[k].id, "native_specification"))
                line = params[k].line;
        char **words = NULL, why[256];
        if (mt_slurm_split_words(spec, &words, why, sizeof why) < 0) {
            snprintf(err, errlen, "%s:%d: destination '%s': %s", file, line, mt_job_destination_id(d), why);
            return -EINVAL;
        }
        long long native_s = 0;
        const char *bad = NULL;
        int has_time = native_time(words, NULL, &native_s, &bad);
        if (has_time < 0 || (has_time > 0 && mt_job_destination_walltime(d) > 0)) {
            if (has_time < 0)
                snprintf(err, errlen, "%s:%d: destination '%s': nativeSpecification '%s': --time '%s' is not a Slurm "
                         "time (MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS)",
                         file, line, mt_job_destination_id(d), spec, bad);
            else
                snprintf(err, errlen, "%s:%d: destination '%s': nativeSpecification '%s' gives --time, and so does "
                         "the destination's walltime param: give the time limit once",
                         file, line, mt_job_destination_id(d), spec);
            mt_slurm_words_free(words);
            return -EINVAL;
        }
        for (size_t w = 0; words[w]; w++) {
            for (size_t o = 0; o < sizeof owned_options / sizeof owned_options[0]; o++) {
                if (!word_sets(words[w], owned_options[o].long_name, owned_options[o].short_name))
                    continue;
                snprintf(err, errlen, "%s:%d: destination '%s': nativeSpecification '%s': %s is set by muleteer (%s): "
                         "remove it",
                         file, line, mt_job_destination_id(d), spec, owned_options[o].long_name, owned_options[o].why);
                mt_slurm_words_free(words);
                return -EINVAL;
            }
        }
        mt_slurm_words_free(words);
    }
    return 0;
}

int mt_slurm_runner_submit(mt_slurm_runner_t *r, const mt_slurm_submission_t *sub, char *err, size_t errlen)
{
    if (r->stopping) {
        snprintf(err, errlen, "the handler is stopping");
        return -ECANCELED;
    }
    if (find_job(r, sub->job_id)) {
        snprintf(err, errlen, "job %lld is being submitted already", (long long)sub->job_id);
        return -EALREADY;
    }
    char script[4200], status[4200], out_path[4200], err_path[4200];
    snprintf(script, sizeof script, "%s/%s", sub->working_dir, MT_SLURM_SCRIPT_NAME);
    snprintf(status, sizeof status, "%s/%s", sub->working_dir, MT_SLURM_STATUS_NAME);
    snprintf(out_path, sizeof out_path, "%s/stdout", sub->working_dir);
    snprintf(err_path, sizeof err_path, "%s/stderr", sub->working_dir);
    /* What an earlier attempt's script left says nothing of this one. */
    unlink(status);
    mt_slurm_script_t s = {
        .argv = sub->argv,
        .env = sub->env,
        .env_count = sub->env_count,
        .route = sub->route,
        .working_dir = sub->working_dir,
        .stdout_path = out_path,
        .stderr_path = err_path,
        .status_path = status,
        .attempt = sub->attempt > 0 ? sub->attempt : 1,
    };
    int rc = mt_slurm_script_write(&s, script, err, errlen);
    if (rc < 0)
        return rc;
    slurm_job_t *j = new_job(r, sub->job_id, sub->attempt, sub->invocation_id, sub->working_dir);
    rc = build_sbatch(j, sub, &j->sbatch_argv, err, errlen);
    if (rc < 0) {
        drop_job(r, j);
        return rc;
    }
    j->phase = PHASE_TO_SUBMIT;
    pump(r);
    return 0;
}

void mt_slurm_runner_adopt(mt_slurm_runner_t *r, int64_t job_id, int attempt, int64_t invocation_id,
                           const char *external_id, const char *working_dir, bool seen_running, bool cancel)
{
    if (r->stopping || find_job(r, job_id) || !working_dir)
        return;
    slurm_job_t *j = new_job(r, job_id, attempt, invocation_id, working_dir);
    j->seen_running = seen_running;
    j->running_since_ms = mt_clock_ms();
    j->cancel_wanted = cancel;
    if (external_id && external_id[0]) {
        snprintf(j->external_id, sizeof j->external_id, "%s", external_id);
        j->phase = PHASE_WATCHED;
        r->poll_due = true;
    } else {
        j->phase = PHASE_TO_FIND;
    }
    pump(r);
}

bool mt_slurm_runner_has(const mt_slurm_runner_t *r, int64_t job_id)
{
    return r && find_job(r, job_id) != NULL;
}

void mt_slurm_runner_cancel(mt_slurm_runner_t *r, int64_t job_id)
{
    slurm_job_t *j = r ? find_job(r, job_id) : NULL;
    if (!j || j->cancel_wanted)
        return;
    j->cancel_wanted = true;
    pump(r);
}

size_t mt_slurm_runner_count(const mt_slurm_runner_t *r)
{
    return r ? r->njobs : 0;
}

static void runner_closed(uv_handle_t *handle)
{
    mt_slurm_runner_t *r = handle->data;
    while (r->jobs)
        drop_job(r, r->jobs);
    strv_free(r->env);
    free(r);
}

void mt_slurm_runner_stop(mt_slurm_runner_t *r)
{
    if (!r || r->stopping)
        return;
    r->stopping = true;
    uv_timer_stop(&r->timer);
    size_t submitting = 0;
    for (slurm_job_t *j = r->jobs; j; j = j->next)
        submitting += j->phase == PHASE_SUBMITTING;
    if (r->njobs)
        mt_info("stopping: %zu cluster job%s left to Slurm (a handler of this name adopts them when it runs "
                "next)%s",
                r->njobs, r->njobs == 1 ? "" : "s", submitting ? "; submissions in progress are found by name then" : "");
    /* None of its Slurm commands outlives the handler: a submission cut short is found by name later. */
    if (r->commands > 0)
        mt_slurm_cmd_kill_all();
    if (r->commands == 0)
        uv_close((uv_handle_t *)&r->timer, runner_closed);
    /* else command_done closes it once the last command has answered */
}
