/*
 * api_invocations: running workflows (docs/http-api.md).
 *
 *   POST   /api/workflows/{id}/invocations  create: check inputs, commit, then notify
 *   GET    /api/invocations?workflow_id=&state=&limit=&offset=   newest first, without steps
 *   GET    /api/invocations/{id}            the invocation and each step with its job
 *   DELETE /api/invocations/{id}            cancel: its running jobs too
 *
 * Ownership as for jobs (api_jobs.c): an invocation, and every job its
 * steps create, belongs to the user of the key that created it; a request
 * that is not an admin's sees only its user's, others' are 404, and its
 * data inputs must be its user's jobs.
 *
 * An invocation is assigned like a job: to the `workflow-schedulers` farm
 * if there is one (committed with no handler, its id sent to the farm);
 * otherwise by the job configuration's assign methods, as a job with no
 * tool mapping would be (mule-message to `job-handlers`, db-self,
 * db-preassign, db-skip-locked...). The handler that claims it schedules
 * it (scheduler.c).
 */
#define MT_LOG_NAME "muleteer.jobs.api"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/api/api_error.h"
#include "app/api/api_request.h"
#include "app/app.h"
#include "app/handling.h"
#include "app/run/handler.h"
#include "app/store/invocation_store.h"
#include "app/store/job_store.h"
#include "app/model/values.h"
#include "app/model/workflow.h"
#include "app/model/workflow_library.h"
#include "app/store/workflow_store.h"
#include "common/log.h"
#include "common/mem.h"

#define SCHEDULERS_FARM MT_JOBS_SCHEDULERS_FARM

static json_t *time_or_null(int64_t us)
{
    if (!us)
        return json_null();
    char buf[MT_TIME_ISO8601_SIZE];
    return json_string(mt_time_iso8601(us, buf));
}

static json_t *id_json(int64_t id)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%lld", (long long)id);
    return json_string(buf);
}

/* The invocation without its steps. */
static json_t *summary_json(const mt_invocation_t *inv)
{
    json_error_t jerr;
    json_t *inputs = inv->inputs ? json_loads(inv->inputs, 0, &jerr) : NULL;
    json_t *o = json_object();
    json_object_set_new(o, "id", id_json(inv->id));
    json_object_set_new(o, "workflow_id", json_string(inv->workflow_id));
    json_object_set_new(o, "state", json_string(mt_invocation_state_name(inv->state)));
    json_object_set_new(o, "handler", inv->handler ? json_string(inv->handler) : json_null());
    json_object_set_new(o, "user", inv->user ? json_string(inv->user) : json_null());
    json_object_set_new(o, "inputs", inputs ? inputs : json_object());
    json_object_set_new(o, "create_time", time_or_null(inv->create_us));
    json_object_set_new(o, "update_time", time_or_null(inv->update_us));
    json_object_set_new(o, "claim_time", time_or_null(inv->claim_us));
    json_object_set_new(o, "end_time", time_or_null(inv->end_us));
    json_object_set_new(o, "info", inv->info ? json_string(inv->info) : json_null());
    return o;
}

/* The invocation with its steps and their jobs' states. NULL with *rc set on a database error. */
static json_t *invocation_json(mt_db_t *db, const mt_invocation_t *inv, int *rc)
{
    mt_invocation_step_t *steps = NULL;
    size_t n = 0;
    if ((*rc = mt_invocation_store_steps(db, inv->id, &steps, &n)) < 0)
        return NULL;
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *s = json_object();
        json_object_set_new(s, "id", json_string(steps[i].step_id));
        json_object_set_new(s, "state", json_string(mt_step_state_name(steps[i].state)));
        json_object_set_new(s, "job_id", steps[i].job_id ? id_json(steps[i].job_id) : json_null());
        mt_job_t job = {0};
        if (steps[i].job_id && mt_job_store_get(db, steps[i].job_id, &job) == 0)
            json_object_set_new(s, "job_state", json_string(mt_job_state_name(job.state)));
        else
            json_object_set_new(s, "job_state", json_null());
        mt_job_clear(&job);
        json_object_set_new(s, "info", steps[i].info ? json_string(steps[i].info) : json_null());
        json_array_append_new(arr, s);
    }
    mt_invocation_steps_free(steps, n);
    json_t *o = summary_json(inv);
    json_object_set_new(o, "steps", arr);
    return o;
}

/* 201 for an invocation just committed that cannot be read back now: its id, as much as is known. */
static void respond_created_unread(mt_request_t *req, int64_t id, const char *workflow_id)
{
    json_t *o = json_pack("{s:o, s:s, s:s}", "id", id_json(id), "workflow_id", workflow_id, "state",
                          mt_invocation_state_name(MT_INV_NEW));
    mt_respond_json(req, 201, o);
    json_decref(o);
}

static void respond_invocation(mt_request_t *req, mt_db_t *db, int64_t id, int status, const char *workflow_id)
{
    mt_invocation_t inv;
    int rc = mt_invocation_store_get(db, id, &inv);
    json_t *doc = rc == 0 ? invocation_json(db, &inv, &rc) : NULL;
    if (rc == -ENOENT)
        mt_respond_error(req, 404, "no such invocation %lld", (long long)id);
    else if (!doc && status == 201) /* committed: a 503 would make the client create it again */
        respond_created_unread(req, id, workflow_id);
    else if (!doc)
        mt_api_respond_db_error(req, rc, mt_db_errmsg(db), "reading invocation %lld", (long long)id);
    else
        mt_respond_json(req, status, doc);
    json_decref(doc);
    mt_invocation_clear(&inv);
}

/* The workflow with that id, from the directory or the database (a new copy either way). */
static int find_workflow(mt_request_t *req, mt_db_t *db, const char *id, mt_workflow_t **out)
{
    *out = NULL;
    char err[768];
    const mt_workflow_t *file_wf = mt_workflow_library_find(mt_jobs()->workflows, id);
    char *definition = NULL;
    int rc;
    if (file_wf) {
        json_t *doc = mt_workflow_to_json(file_wf);
        definition = json_dumps(doc, JSON_COMPACT);
        json_decref(doc);
    } else if ((rc = mt_workflow_store_get(db, id, &definition)) < 0) {
        if (rc == -ENOENT)
            mt_respond_error(req, 404, "no such workflow '%s'", id);
        else
            mt_api_respond_db_error(req, rc, mt_db_errmsg(db), "reading workflow '%s'", id);
        return -1;
    }
    rc = mt_workflow_parse(definition, strlen(definition), id, mt_jobs()->tools, out, err, sizeof err);
    free(definition);
    if (rc < 0) {
        mt_respond_error(req, 409, "workflow '%s' no longer fits the tools: %s", id, err);
        return -1;
    }
    return 0;
}

/*
 * A data input's job id, given as a string or a JSON number, checked by the
 * shared parser (mt_value_parse_id) into *id. 0; -EINVAL after a 400
 * naming the input and the value; 1 if job_value is neither (the
 * workflow's own check describes the shape that was expected).
 */
static int data_job_id(mt_request_t *req, const char *name, const json_t *job_value, int64_t *id)
{
    char number[32], why[MT_VALUE_QUOTE_BUF + 160];
    const char *text = json_string_value(job_value);
    size_t len = json_string_length(job_value);
    if (json_is_integer(job_value)) {
        len = (size_t)snprintf(number, sizeof number, "%" JSON_INTEGER_FORMAT, json_integer_value(job_value));
        text = number;
    }
    if (!text)
        return 1;
    if (mt_value_parse_id(text, len, id, NULL) == 0)
        return 0;
    mt_respond_error(req, 400, "input '%s': %s", name, mt_value_id_error(text, len, "job", why, sizeof why));
    return -EINVAL;
}

/* The data inputs' job ids as the request wrote them: canonical (0) or a 400 (-EINVAL). */
static int check_data_ids(mt_request_t *req, const mt_workflow_t *wf, const json_t *inputs)
{
    for (size_t i = 0; inputs && i < mt_workflow_input_count(wf); i++) {
        const char *name = mt_workflow_input_name(wf, i);
        const json_t *value = json_object_get(inputs, name);
        int64_t id;
        if (mt_workflow_input_type(wf, i) == MT_TOOL_INPUT_DATA && json_is_object(value) &&
            data_job_id(req, name, json_object_get(value, "job"), &id) < 0)
            return -EINVAL;
    }
    return 0;
}

/*
 * The data inputs of an invocation, checked at once so that a bad one is
 * refused before anything is stored (the scheduler checks again when each
 * step's job is created): each names its job by a canonical id
 * (mt_value_parse_id: "01" or "+1" is a 400, not job 1), and that job
 * exists and is one the request may use -- a user who is not an admin
 * only their own jobs' outputs. 0, or -1 after a 400 that names the input
 * (a job that does not exist and another user's are told apart by
 * nothing), or a 503.
 */
static int check_data_inputs(mt_request_t *req, mt_db_t *db, const mt_workflow_t *wf, const json_t *normalized)
{
    const char *scope = mt_jobs_request_scope(req);
    for (size_t i = 0; i < mt_workflow_input_count(wf); i++) {
        if (mt_workflow_input_type(wf, i) != MT_TOOL_INPUT_DATA)
            continue;
        const char *name = mt_workflow_input_name(wf, i);
        const json_t *job_value = json_object_get(json_object_get(normalized, name), "job");
        const char *job_text = json_string_value(job_value);
        int64_t job_id;
        int rc = data_job_id(req, name, job_value, &job_id); /* a default value is checked here too */
        if (rc < 0)
            return -1;
        if (rc > 0 || !job_text)
            continue;
        mt_job_t job = {0};
        rc = mt_job_store_get(db, job_id, &job);
        bool usable = rc == 0 && mt_jobs_visible(scope, job.user);
        mt_job_clear(&job);
        if (rc < 0 && rc != -ENOENT) {
            mt_api_respond_db_error(req, rc, mt_db_errmsg(db), "input '%s': job %s cannot be read", name, job_text);
            return -1;
        }
        if (!usable) {
            mt_respond_error(req, 400, "input '%s': job %s does not exist", name, job_text);
            return -1;
        }
    }
    return 0;
}

void mt_invocations_create(mt_request_t *req, const char *workflow_id)
{
    mt_stack_t *stack = mt_request_stack(req);
    mt_db_t *db = mt_jobs_db();
    if (!db) {
        mt_api_respond_no_db(req, "job");
        return;
    }
    mt_workflow_t *wf = NULL;
    json_t *doc = NULL, *normalized = NULL;
    char *definition = NULL, *inputs_text = NULL;
    const char **step_ids = NULL;
    if (find_workflow(req, db, workflow_id, &wf) < 0)
        return;
    /* Strictly (api_request.h): {"inputs": {...}} or nothing, no other key, no key twice. */
    static const char *const keys[] = {"inputs", NULL};
    if (mt_api_check_query(req, NULL) < 0 || !(doc = mt_api_body_object(req, keys, true)))
        goto out;
    json_t *inputs = json_object_get(doc, "inputs");
    if (inputs && !json_is_object(inputs) && !json_is_null(inputs)) {
        mt_respond_error(req, 400, "'inputs' must be an object (or null), got %s", mt_value_json_kind(inputs));
        goto out;
    }
    char err[768];
    if (json_is_object(inputs) && check_data_ids(req, wf, inputs) < 0)
        goto out;
    if (mt_workflow_check_inputs(wf, inputs, &normalized, err, sizeof err) < 0) {
        mt_respond_error(req, 400, "%s", err);
        goto out;
    }
    if (check_data_inputs(req, db, wf, normalized) < 0)
        goto out;
    json_t *wf_doc = mt_workflow_to_json(wf);
    definition = json_dumps(wf_doc, JSON_COMPACT);
    json_decref(wf_doc);
    inputs_text = json_dumps(normalized, JSON_COMPACT);
    size_t nsteps = mt_workflow_step_count(wf);
    step_ids = mt_calloc(nsteps, sizeof *step_ids);
    for (size_t i = 0; i < nsteps; i++)
        step_ids[i] = mt_workflow_step_id(wf, i);

    /* The schedulers' farm, else assigned as a job with no tool mapping would be. */
    mt_assignment_t as = {0};
    if (mt_farm_exists(stack, SCHEDULERS_FARM)) {
        snprintf(as.farm, sizeof as.farm, "%s", SCHEDULERS_FARM);
        snprintf(as.queue, sizeof as.queue, "%s", SCHEDULERS_FARM);
    } else {
        mt_assign_facts_t facts;
        mt_jobs_assign_facts(&facts, mt_stack_server_name(stack));
        if (mt_job_assign(mt_jobs()->conf, NULL, &facts, &as, err, sizeof err) < 0) {
            mt_respond_error(req, 500, "%s", err);
            goto out;
        }
    }
    const char *farm = as.farm[0] ? as.farm : NULL;
    mt_invocation_t inv = {
        .workflow_id = (char *)mt_workflow_id(wf),
        .definition = definition,
        .inputs = inputs_text,
        .handler = as.handler[0] ? as.handler : NULL,
        .queue = as.queue[0] ? as.queue : NULL,
        .user = (char *)mt_request_user(req),
    };
    int64_t id = 0;
    int rc = mt_invocation_store_insert(db, &inv, step_ids, nsteps, &id);
    if (rc < 0) { /* nothing was committed */
        mt_api_respond_db_error(req, rc, mt_db_errmsg(db), "the invocation could not be stored");
        goto out;
    }
    /* Committed: only now may anyone hear of it. */
    char idtext[32];
    int n = snprintf(idtext, sizeof idtext, "%lld", (long long)id);
    if (farm) {
        rc = mt_send_to_farm(stack, farm, MT_JOBS_MSG_INVOCATION, idtext, (size_t)n);
        if (rc < 0)
            mt_warn("invocation %lld: not sent to farm %s (%s): the sweeper will take it", (long long)id, farm,
                    mt_strerror(rc));
    } else if (inv.handler && strcmp(inv.handler, mt_stack_server_name(stack)) == 0) {
        mt_handler_t *h = mt_jobs_local_handler();
        if (h)
            mt_handler_notify_invocation(h, id); /* else its poll finds it */
    } /* else a handler named in the job configuration, or a skip-locked one, finds it in its poll */
    mt_debug("invocation %lld of workflow %s created, assigned by %s%s%s%s%s", (long long)id, mt_workflow_id(wf),
             farm && !inv.handler && strcmp(farm, SCHEDULERS_FARM) == 0 ? "the schedulers' farm"
                                                                        : mt_assign_method_name(as.method),
             inv.handler ? " to " : "", inv.handler ? inv.handler : "", farm ? " through farm " : "", farm ? farm : "");
    respond_invocation(req, db, id, 201, mt_workflow_id(wf));
out:
    free(step_ids);
    free(definition);
    free(inputs_text);
    json_decref(normalized);
    json_decref(doc);
    mt_workflow_free(wf);
}

/* Cancel: the invocation ends cancelled; its waiting steps too; its running steps' jobs are cancelled. */
static void cancel_invocation(mt_request_t *req, mt_db_t *db, int64_t id)
{
    mt_stack_t *stack = mt_request_stack(req);
    int rc = mt_db_begin(db);
    mt_invocation_step_t *steps = NULL;
    size_t n = 0;
    int64_t *to_stop = NULL;
    char **owners = NULL;
    size_t nstop = 0;
    if (rc == 0)
        rc = mt_invocation_store_set_state(db, id, MT_INV_BIT(MT_INV_NEW) | MT_INV_BIT(MT_INV_SCHEDULING),
                                           MT_INV_CANCELLED, "cancelled by request");
    if (rc == 0) {
        mt_db_rollback(db);
        mt_invocation_t inv;
        if (mt_invocation_store_get(db, id, &inv) == -ENOENT)
            mt_respond_error(req, 404, "no such invocation %lld", (long long)id);
        else
            mt_respond_error(req, 409, "invocation %lld has already ended (%s)", (long long)id,
                             mt_invocation_state_name(inv.state));
        mt_invocation_clear(&inv);
        return;
    }
    if (rc > 0)
        rc = mt_invocation_store_steps(db, id, &steps, &n);
    to_stop = mt_calloc(n ? n : 1, sizeof *to_stop);
    owners = mt_calloc(n ? n : 1, sizeof *owners);
    for (size_t i = 0; i < n && rc >= 0; i++) {
        if (steps[i].state != MT_STEP_WAITING && steps[i].state != MT_STEP_RUNNING)
            continue;
        rc = mt_invocation_store_set_step(db, id, steps[i].index,
                                          MT_INV_BIT(MT_STEP_WAITING) | MT_INV_BIT(MT_STEP_RUNNING), MT_STEP_CANCELLED,
                                          0, "cancelled with its invocation");
        if (rc >= 0 && steps[i].job_id) {
            int state = mt_job_store_cancel(db, steps[i].job_id, "cancelled with its invocation");
            rc = state == -EALREADY ? 0 : state;
            mt_job_t job = {0};
            if (state == MT_JOB_DELETING && mt_job_store_get(db, steps[i].job_id, &job) == 0 && job.handler) {
                to_stop[nstop] = steps[i].job_id;
                owners[nstop++] = mt_strdup(job.handler);
            }
            mt_job_clear(&job);
        }
    }
    rc = rc >= 0 ? mt_db_commit(db) : (mt_db_rollback(db), rc);
    mt_invocation_steps_free(steps, n);
    if (rc < 0) {
        mt_api_respond_db_error(req, rc, mt_db_errmsg(db), "cancelling invocation %lld failed", (long long)id);
    } else {
        /* Committed: tell the handlers running its jobs (their polls would find them too). */
        for (size_t i = 0; i < nstop; i++) {
            char idtext[32];
            int len = snprintf(idtext, sizeof idtext, "%lld", (long long)to_stop[i]);
            if (strcmp(owners[i], mt_stack_server_name(stack)) != 0)
                (void)mt_send_to_server(stack, owners[i], MT_JOBS_MSG_CANCEL, idtext, (size_t)len);
        }
        mt_info("invocation %lld cancelled (%zu running job%s stopped)", (long long)id, nstop, nstop == 1 ? "" : "s");
        respond_invocation(req, db, id, 200, NULL);
    }
    for (size_t i = 0; i < nstop; i++)
        free(owners[i]);
    free(owners);
    free(to_stop);
}

/* GET /api/invocations: the scope's invocations, newest first, without their steps. */
static void list_invocations(mt_request_t *req, mt_db_t *db)
{
    char state_name[32], workflow[256];
    unsigned states = 0;
    if (mt_request_query_param(req, "state", state_name, sizeof state_name) >= 0) {
        mt_invocation_state_t s;
        if (mt_invocation_state_parse(state_name, &s) < 0) {
            mt_respond_error(req, 400, "unknown invocation state '%s'", state_name);
            return;
        }
        states = MT_INV_BIT(s);
    }
    bool by_workflow = mt_request_query_param(req, "workflow_id", workflow, sizeof workflow) >= 0;
    int64_t limit, offset, total = 0;
    if (mt_request_query_int(req, "limit", 100, 1, 1000, &limit) < 0 ||
        mt_request_query_int(req, "offset", 0, 0, INT64_MAX, &offset) < 0)
        return;
    mt_invocation_t *invs = NULL;
    size_t n = 0;
    int rc = mt_invocation_store_list(db, mt_jobs_request_scope(req), by_workflow ? workflow : NULL, states, limit,
                                      offset, &invs, &n, &total);
    if (rc < 0) {
        mt_api_respond_db_error(req, rc, mt_db_errmsg(db), "listing invocations failed");
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        json_array_append_new(arr, summary_json(&invs[i]));
        mt_invocation_clear(&invs[i]);
    }
    free(invs);
    json_t *doc = json_pack("{s:o, s:I, s:I, s:I}", "invocations", arr, "total", (json_int_t)total, "limit",
                            (json_int_t)limit, "offset", (json_int_t)offset);
    mt_respond_json(req, 200, doc);
    json_decref(doc);
}

/* Whether invocation id exists and the request may see it. 1, 0 (answered 404), or -1 (answered 503). */
static int visible_invocation(mt_request_t *req, mt_db_t *db, int64_t id)
{
    const char *scope = mt_jobs_request_scope(req);
    if (!scope)
        return 1; /* nothing to check: the handlers answer 404 for a missing one */
    mt_invocation_t inv;
    int rc = mt_invocation_store_get(db, id, &inv);
    bool visible = rc == 0 && mt_jobs_visible(scope, inv.user);
    mt_invocation_clear(&inv);
    if (rc < 0 && rc != -ENOENT) {
        mt_api_respond_db_error(req, rc, mt_db_errmsg(db), "reading invocation %lld", (long long)id);
        return -1;
    }
    if (!visible) {
        mt_respond_error(req, 404, "no such invocation %lld", (long long)id);
        return 0;
    }
    return 1;
}

static void invocations_route(mt_request_t *req, void *data)
{
    (void)data;
    const char *path = mt_request_path(req);
    const char *method = mt_request_method(req);
    const char *rest = path + strlen("/api/invocations");
    bool collection = rest[0] == '\0' || strcmp(rest, "/") == 0;
    static const char *const list_params[] = {"workflow_id", "state", "limit", "offset", NULL};
    const char *end = NULL;
    int64_t id = 0;
    if (!collection && rest[0] == '/' && mt_api_path_id(req, rest + 1, "invocation", &id, &end) < 0)
        return;
    if (!collection && (rest[0] != '/' || *end)) {
        mt_respond_error(req, 404, "no such resource %s (expected /api/invocations/{id})", path);
        return;
    }
    if (mt_api_check_query(req, collection ? list_params : NULL) < 0)
        return;
    if (collection && strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        mt_respond_error(req, 405, "%s is not allowed on %s", method, path);
        return;
    }
    mt_db_t *db = mt_jobs_db();
    if (!db) {
        mt_api_respond_no_db(req, "job");
        return;
    }
    if (collection) {
        list_invocations(req, db);
        return;
    }
    if ((strcmp(method, "GET") == 0 || strcmp(method, "DELETE") == 0) && visible_invocation(req, db, id) <= 0)
        return;
    if (strcmp(method, "GET") == 0)
        respond_invocation(req, db, id, 200, NULL);
    else if (strcmp(method, "DELETE") == 0)
        cancel_invocation(req, db, id);
    else
        mt_respond_error(req, 405, "%s is not allowed on %s", method, path);
}

int mt_invocations_api_register(mt_stack_t *stack)
{
    /* Off the web thread's loop: every invocation route reads or writes the database. */
    return mt_route_add(stack, NULL, "/api/invocations", MT_ROUTE_PREFIX | mt_api_route_flags(), invocations_route,
                        NULL) < 0
               ? -1
               : 0;
}
