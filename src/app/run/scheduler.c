/*
 * scheduler: one pass over an invocation's steps (see scheduler.h).
 */
#define MT_LOG_NAME "muleteer.jobs.scheduler"

#include "app/run/scheduler.h"

#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/app.h"
#include "app/handling.h"
#include "app/store/invocation_store.h"
#include "app/model/job_route.h"
#include "app/store/job_store.h"
#include "app/model/workflow.h"
#include "common/log.h"
#include "common/mem.h"

#define STEP_BIT(s) MT_INV_BIT(s)

static bool step_failed(mt_step_state_t s)
{
    return s == MT_STEP_FAILED || s == MT_STEP_NOT_RUN || s == MT_STEP_CANCELLED;
}

/* A running step whose job has ended: ok or failed. Updates *s. */
static int settle_running(mt_db_t *db, int64_t id, mt_invocation_step_t *s)
{
    mt_job_t job = {0};
    int rc = mt_job_store_get(db, s->job_id, &job);
    if (rc < 0)
        return rc == -ENOENT ? 0 : rc;
    if (mt_job_state_terminal(job.state)) {
        char why[512];
        mt_step_state_t to = job.state == MT_JOB_OK ? MT_STEP_OK : MT_STEP_FAILED;
        if (job.state == MT_JOB_ERROR)
            snprintf(why, sizeof why, "job %lld failed: %s", (long long)job.id, job.info ? job.info : "error");
        else if (job.state == MT_JOB_DELETED)
            snprintf(why, sizeof why, "job %lld was cancelled", (long long)job.id);
        rc = mt_invocation_store_set_step(db, id, s->index, STEP_BIT(MT_STEP_RUNNING), to, 0,
                                          to == MT_STEP_OK ? NULL : why);
        if (rc == 1)
            s->state = to;
    }
    mt_job_clear(&job);
    return rc < 0 ? rc : 0;
}

/* The tool inputs of step i from its sources, as a request would give them. New reference. */
static json_t *step_inputs(const mt_workflow_t *wf, size_t i, const json_t *inputs, const mt_invocation_step_t *steps)
{
    json_t *in = json_object();
    for (size_t k = 0; k < mt_workflow_step_source_count(wf, i); k++) {
        const mt_wf_source_t *src = mt_workflow_step_source(wf, i, k);
        json_t *value = NULL;
        char job[32];
        switch (src->kind) {
        case MT_WF_FROM_LITERAL:
            value = json_deep_copy(src->literal);
            break;
        case MT_WF_FROM_INPUT:
            value = json_deep_copy(json_object_get(inputs, src->input));
            break;
        case MT_WF_FROM_STEP:
            snprintf(job, sizeof job, "%lld", (long long)steps[src->step].job_id);
            value = json_pack("{s:s, s:s}", "job", job, "output", src->output);
            break;
        }
        if (value)
            json_object_set_new(in, src->tool_input, value);
    }
    return in;
}

/*
 * A waiting step whose inputs are ready: its job, linked to it. A step
 * whose inputs the tool refuses (a value out of range, an upstream output
 * missing) fails with the tool's reason. Appends the job id to *jobs.
 */
static int start_step(mt_db_t *db, const mt_invocation_t *inv, const mt_workflow_t *wf, size_t i,
                      const json_t *inputs, mt_invocation_step_t *steps, mt_step_job_t **jobs, size_t *njobs)
{
    mt_invocation_step_t *s = &steps[i];
    const mt_tool_t *tool = mt_toolbox_find(mt_jobs()->tools, mt_workflow_step_tool(wf, i));
    char err[768];
    if (!tool) {
        snprintf(err, sizeof err, "tool '%s' is not installed", mt_workflow_step_tool(wf, i));
        int rc = mt_invocation_store_set_step(db, inv->id, s->index, STEP_BIT(MT_STEP_WAITING), MT_STEP_FAILED, 0, err);
        s->state = rc == 1 ? MT_STEP_FAILED : s->state;
        return rc < 0 ? rc : 0;
    }
    json_t *in = step_inputs(wf, i, inputs, steps);
    json_t *params = NULL;
    /* The invocation's owner's outputs only, unless the owner is an admin (as for a request of theirs). */
    mt_jobs_data_scope_t scope = {.db = db, .user = inv->user};
    if (inv->user && mt_stack_user_is_admin(mt_jobs()->stack, inv->user))
        scope.user = NULL;
    int vrc = mt_tool_validate(tool, in, mt_jobs_resolve_data, &scope, &params, err, sizeof err);
    json_decref(in);
    if (vrc == -EIO)
        return -EIO; /* the database failed, not the step: try again later */
    if (vrc < 0) {
        int rc = mt_invocation_store_set_step(db, inv->id, s->index, STEP_BIT(MT_STEP_WAITING), MT_STEP_FAILED, 0, err);
        s->state = rc == 1 ? MT_STEP_FAILED : s->state;
        return rc < 0 ? rc : 0;
    }
    /* Assigned as the same tool's job posted alone would be, this handler creating it. */
    mt_assign_facts_t facts;
    mt_jobs_assign_facts(&facts, inv->handler);
    mt_assignment_t as;
    mt_job_route_t route;
    if (mt_job_assign(mt_jobs()->conf, mt_tool_id(tool), &facts, &as, err, sizeof err) < 0 ||
        mt_job_route(mt_jobs()->conf, mt_tool_id(tool), &route, err, sizeof err) < 0) {
        json_decref(params);
        int rc = mt_invocation_store_set_step(db, inv->id, s->index, STEP_BIT(MT_STEP_WAITING), MT_STEP_FAILED, 0, err);
        s->state = rc == 1 ? MT_STEP_FAILED : s->state;
        return rc < 0 ? rc : 0;
    }
    char unreachable[768];
    bool waits = mt_jobs_check_reachable(&as, unreachable, sizeof unreachable) < 0;
    char *params_text = json_dumps(params, JSON_COMPACT);
    json_decref(params);
    mt_job_t job = {
        .tool_id = (char *)mt_tool_id(tool),
        .tool_version = (char *)mt_tool_version(tool),
        .params = params_text,
        .handler = as.handler[0] ? as.handler : NULL,
        .queue = as.queue[0] ? as.queue : NULL,
        .invocation_id = inv->id,
        .user = inv->user, /* the invocation's owner owns its jobs */
        .info = waits ? unreachable : NULL,
        .destination = (char *)route.destination,
    };
    int64_t job_id = 0;
    int rc = mt_job_store_insert(db, &job, &job_id, NULL);
    free(params_text);
    if (rc < 0)
        return rc;
    if (waits)
        mt_warn("invocation %lld: job %lld (%s): %s", (long long)inv->id, (long long)job_id, mt_tool_id(tool),
                unreachable);
    rc = mt_invocation_store_set_step(db, inv->id, s->index, STEP_BIT(MT_STEP_WAITING), MT_STEP_RUNNING, job_id, NULL);
    if (rc < 0)
        return rc;
    s->state = MT_STEP_RUNNING;
    s->job_id = job_id;
    *jobs = mt_realloc(*jobs, (*njobs + 1) * sizeof **jobs);
    mt_step_job_t *made = &(*jobs)[(*njobs)++];
    made->id = job_id;
    made->mine = as.handler[0] && strcmp(as.handler, inv->handler) == 0;
    snprintf(made->farm, sizeof made->farm, "%s", as.farm);
    return 0;
}

/* One pass, inside the caller's transaction. */
static int advance(mt_db_t *db, const mt_invocation_t *inv, mt_step_job_t **jobs, size_t *njobs)
{
    mt_invocation_step_t *steps = NULL;
    size_t nsteps = 0;
    mt_workflow_t *wf = NULL;
    json_t *inputs = NULL;
    char err[768], origin[64];
    int rc = mt_invocation_store_steps(db, inv->id, &steps, &nsteps);
    if (rc < 0)
        return rc;
    snprintf(origin, sizeof origin, "invocation %lld", (long long)inv->id);
    json_error_t jerr;
    if (mt_workflow_parse(inv->definition, strlen(inv->definition), origin, mt_jobs()->tools, &wf, err, sizeof err) <
            0 ||
        mt_workflow_step_count(wf) != nsteps || !(inputs = json_loads(inv->inputs, 0, &jerr))) {
        char why[900];
        snprintf(why, sizeof why, "the workflow no longer fits the tools: %s", wf ? "its steps changed" : err);
        rc = mt_invocation_store_set_state(db, inv->id, MT_INV_BIT(MT_INV_SCHEDULING), MT_INV_FAILED, why);
        goto out;
    }
    for (size_t i = 0; i < nsteps && rc >= 0; i++) {
        mt_invocation_step_t *s = &steps[i];
        if (s->state == MT_STEP_RUNNING && (rc = settle_running(db, inv->id, s)) < 0)
            break;
        if (s->state != MT_STEP_WAITING)
            continue;
        bool ready = true;
        const char *blocked_by = NULL;
        for (size_t k = 0; k < mt_workflow_step_source_count(wf, i); k++) {
            const mt_wf_source_t *src = mt_workflow_step_source(wf, i, k);
            if (src->kind != MT_WF_FROM_STEP)
                continue;
            if (step_failed(steps[src->step].state))
                blocked_by = steps[src->step].step_id;
            else if (steps[src->step].state != MT_STEP_OK)
                ready = false;
        }
        if (blocked_by) {
            char why[300];
            snprintf(why, sizeof why, "not run: step '%s' upstream did not end ok", blocked_by);
            rc = mt_invocation_store_set_step(db, inv->id, s->index, STEP_BIT(MT_STEP_WAITING), MT_STEP_NOT_RUN, 0, why);
            if (rc == 1)
                s->state = MT_STEP_NOT_RUN;
        } else if (ready) {
            rc = start_step(db, inv, wf, i, inputs, steps, jobs, njobs);
        }
    }
    if (rc < 0)
        goto out;
    bool done = true, all_ok = true;
    char failed[512] = "";
    size_t used = 0;
    for (size_t i = 0; i < nsteps; i++) {
        done = done && mt_step_state_terminal(steps[i].state);
        if (steps[i].state != MT_STEP_OK) {
            all_ok = false;
            if (steps[i].state == MT_STEP_FAILED && used < sizeof failed) {
                int n = snprintf(failed + used, sizeof failed - used, "%s'%s'", used ? ", " : "", steps[i].step_id);
                used += n > 0 ? (size_t)n : 0;
            }
        }
    }
    if (done) {
        char why[600];
        snprintf(why, sizeof why, "failed step%s: %s", strchr(failed, ',') ? "s" : "", failed);
        rc = mt_invocation_store_set_state(db, inv->id, MT_INV_BIT(MT_INV_SCHEDULING),
                                           all_ok ? MT_INV_OK : MT_INV_FAILED, all_ok ? NULL : why);
    }
out:
    json_decref(inputs);
    mt_workflow_free(wf);
    mt_invocation_steps_free(steps, nsteps);
    return rc < 0 ? rc : 0;
}

int mt_scheduler_advance(mt_db_t *db, int64_t id, const char *handler, mt_step_job_t **new_jobs, size_t *nnew)
{
    *new_jobs = NULL;
    *nnew = 0;
    int rc = mt_db_begin(db);
    if (rc < 0)
        return rc;
    mt_invocation_t inv;
    rc = mt_invocation_store_get(db, id, &inv);
    if (rc == 0 && inv.state == MT_INV_SCHEDULING && inv.handler && strcmp(inv.handler, handler) == 0)
        rc = advance(db, &inv, new_jobs, nnew);
    else if (rc == -ENOENT)
        rc = 0;
    mt_invocation_clear(&inv);
    if (rc == 0)
        rc = mt_db_commit(db);
    else
        mt_db_rollback(db);
    if (rc < 0) {
        free(*new_jobs);
        *new_jobs = NULL;
        *nnew = 0;
        return rc;
    }
    for (size_t i = 0; i < *nnew; i++)
        mt_debug("invocation %lld: job %lld created for a step%s%s", (long long)id, (long long)(*new_jobs)[i].id,
                 (*new_jobs)[i].farm[0] ? ", sent to farm " : (*new_jobs)[i].mine ? ", run here" : "",
                 (*new_jobs)[i].farm);
    return 0;
}
