/*
 * api_jobs: the jobs part of the HTTP API (docs/http-api.md).
 *
 *   POST   /api/jobs                      create: validate, assign, commit, then notify
 *   GET    /api/jobs?state=&tool_id=&handler=&user=&created_after=&created_before=&before_id=&limit=&offset=
 *   GET    /api/jobs/{id}
 *   GET    /api/jobs/{id}/history
 *   GET    /api/jobs/{id}/stdout | /stderr
 *   GET    /api/jobs/{id}/outputs, /api/jobs/{id}/outputs/{name}
 *   DELETE /api/jobs/{id}                 cancel
 *
 * Ownership: a job belongs to the user of the key that created it (none
 * when the API is open). A request that is not an admin's sees only its
 * user's jobs: others' are answered 404 exactly like missing ones, left out
 * of lists, and refused as data inputs.
 *
 * A 201 means the job is committed (with the connection's durability,
 * accept-sync): the message to the farm is sent only after the commit, so
 * a handler never receives the id of a job it cannot see yet. If the send
 * fails (the farm's queue stayed full), the job stays unassigned and a
 * sweeper takes it within sweep-delay: the client still gets its 201.
 */
#define MT_LOG_NAME "muleteer.jobs.api"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "app/api/api_error.h"
#include "app/api/api_metrics.h"
#include "app/api/api_request.h"
#include "app/app.h"
#include "app/handling.h"
#include "app/run/handler.h"
#include "app/store/job_accept.h"
#include "app/model/job_route.h"
#include "app/store/job_store.h"
#include "app/model/values.h"
#include "common/beneath.h"
#include "common/json_text.h"
#include "common/log.h"
#include "common/mem.h"

#define LIST_DEFAULT_LIMIT 100
#define LIST_MAX_LIMIT 1000
/* A filtered list's total counts at most this many jobs (then total_capped: true); docs/http-api.md. */
#define LIST_TOTAL_CAP 10000
#define FILE_MAX_BYTES (64 * 1024 * 1024)

static json_t *time_json(int64_t us)
{
    char buf[MT_TIME_ISO8601_SIZE];
    return us ? json_string(mt_time_iso8601(us, buf)) : json_null();
}

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

static void text_time(mt_json_text_t *w, const char *key, int64_t us)
{
    char buf[MT_TIME_ISO8601_SIZE];
    mt_json_text_key(w, key);
    mt_json_text_string(w, us ? mt_time_iso8601(us, buf) : NULL);
}

static void text_id(mt_json_text_t *w, const char *key, int64_t id)
{
    mt_json_text_key(w, key);
    mt_json_text_int_string(w, id);
}

static void text_str(mt_json_text_t *w, const char *key, const char *value)
{
    mt_json_text_key(w, key);
    mt_json_text_string(w, value);
}

/*
 * A job as the API shows it, written straight to text (json_text.h): this
 * is every GET /api/jobs/{id}, the one read clients poll. The stored
 * parameters are parsed, so that what goes out is valid JSON whatever the
 * database holds ({} if it holds something else).
 */
static void job_text(mt_json_text_t *w, const mt_job_t *j)
{
    mt_json_text_begin_object(w);
    text_id(w, "id", j->id);
    text_str(w, "tool_id", j->tool_id);
    text_str(w, "tool_version", j->tool_version);
    text_str(w, "state", mt_job_state_name(j->state));
    text_str(w, "handler", j->handler);
    text_str(w, "user", j->user);
    mt_json_text_key(w, "params");
    json_error_t jerr;
    json_t *params = j->params ? json_loads(j->params, 0, &jerr) : NULL;
    if (params) {
        mt_json_text_value(w, params);
        json_decref(params);
    } else {
        mt_json_text_begin_object(w);
        mt_json_text_end_object(w);
    }
    text_time(w, "create_time", j->create_us);
    text_time(w, "update_time", j->update_us);
    text_time(w, "claim_time", j->claim_us);
    text_time(w, "start_time", j->start_us);
    text_time(w, "end_time", j->end_us);
    mt_json_text_key(w, "exit_code");
    if (j->has_exit_code)
        mt_json_text_int(w, j->exit_code);
    else
        mt_json_text_null(w);
    text_str(w, "destination", j->destination);
    text_str(w, "runner", j->runner);
    text_str(w, "external_id", j->external_id);
    text_str(w, "info", j->info);
    mt_json_text_key(w, "attempt");
    mt_json_text_int(w, j->attempt);
    if (j->invocation_id)
        text_id(w, "invocation_id", j->invocation_id);
    mt_json_text_end_object(w);
}

/* Answer with the text w holds (a 500 if it is not valid JSON), and free it. */
static void respond_text(mt_request_t *req, int status, mt_json_text_t *w)
{
    if (mt_json_text_ok(w)) {
        mt_respond(req, status, "application/json", w->data, w->len);
    } else {
        mt_error("http: %s %s: cannot serialize the JSON response", mt_request_method(req), mt_request_path(req));
        mt_respond_error(req, 500, "internal error: cannot serialize the response");
    }
    mt_json_text_free(w);
}

static void respond_job(mt_request_t *req, int status, const mt_job_t *j)
{
    char buf[2048];
    mt_json_text_t w;
    mt_json_text_init(&w, buf, sizeof buf);
    job_text(&w, j);
    respond_text(req, status, &w);
}

static mt_db_t *db_or_503(mt_request_t *req)
{
    mt_db_t *db = mt_jobs_db();
    if (!db)
        mt_api_respond_no_db(req, "job");
    return db;
}

/* ---- data inputs: an output of a job that finished ok ---- */


/* ---- POST /api/jobs ---- */

/*
 * The body of POST /api/jobs, read strictly (api_request.h): an object with
 * a string "tool_id" and, optionally, "inputs" (an object, or null for
 * none), no other key and no key twice at any depth. Returns the document,
 * *tool_id and *inputs (NULL if absent or null) pointing into it; or NULL
 * after a 400 that names what is wrong.
 */
static json_t *parse_create_body(mt_request_t *req, const char **tool_id, json_t **inputs)
{
    static const char *const keys[] = {"tool_id", "inputs", NULL};
    json_t *doc = mt_api_check_query(req, NULL) < 0 ? NULL : mt_api_body_object(req, keys, false);
    if (!doc)
        return NULL;
    json_t *tool = json_object_get(doc, "tool_id");
    *inputs = json_object_get(doc, "inputs");
    if (!json_is_string(tool)) {
        mt_respond_error(req, 400, "'tool_id' must be a string (a tool's id), %s %s", tool ? "got" : "it is",
                         tool ? mt_value_json_kind(tool) : "missing");
    } else if (*inputs && !json_is_object(*inputs) && !json_is_null(*inputs)) {
        mt_respond_error(req, 400, "'inputs' must be an object (or null), got %s", mt_value_json_kind(*inputs));
    } else {
        *tool_id = json_string_value(tool);
        *inputs = json_is_object(*inputs) ? *inputs : NULL;
        return doc;
    }
    json_decref(doc);
    return NULL;
}

static void create_job(mt_request_t *req)
{
    mt_stack_t *stack = mt_request_stack(req);
    mt_jobs_ctx_t *ctx = mt_jobs();
    const char *tool_id = NULL;
    json_t *inputs = NULL;
    json_t *doc = parse_create_body(req, &tool_id, &inputs);
    if (!doc)
        return;
    mt_db_t *db = NULL;
    json_t *params = NULL;
    char err[768];
    const mt_tool_t *tool = mt_toolbox_find(ctx->tools, tool_id);
    if (!tool) {
        mt_respond_error(req, 400, "unknown tool '%s'", tool_id);
        goto out;
    }
    if (!(db = db_or_503(req)))
        goto out;
    mt_jobs_data_scope_t scope = {.db = db, .user = mt_jobs_request_scope(req)};
    int vrc = mt_tool_validate(tool, json_is_object(inputs) ? inputs : NULL, mt_jobs_resolve_data, &scope, &params,
                               err, sizeof err);
    if (vrc < 0) {
        if (vrc == -EIO || vrc == -EBUSY || vrc == -ENOSPC)
            mt_api_respond_db_error(req, vrc, mt_db_errmsg(db), "%s", err);
        else
            mt_respond_error(req, 400, "%s", err);
        goto out;
    }
    mt_assign_facts_t facts;
    mt_jobs_assign_facts(&facts, mt_stack_server_name(stack));
    mt_assignment_t as;
    if (mt_job_assign(ctx->conf, tool_id, &facts, &as, err, sizeof err) < 0) {
        mt_respond_error(req, 500, "%s", err);
        goto out;
    }
    /* Where it runs: a destination this muleteer cannot run refuses the job now, not in a handler later. */
    mt_job_route_t route;
    if (mt_job_route(ctx->conf, tool_id, &route, err, sizeof err) < 0) {
        mt_respond_error(req, 409, "%s", err);
        goto out;
    }
    /* A job no running handler will take is still accepted (one may start), but never waits silently. */
    char unreachable[768];
    bool waits = mt_jobs_check_reachable(&as, unreachable, sizeof unreachable) < 0;
    char *params_text = json_dumps(params, JSON_COMPACT);
    mt_job_t job = {
        .tool_id = (char *)tool_id,
        .tool_version = (char *)mt_tool_version(tool),
        .params = params_text,
        .handler = as.handler[0] ? as.handler : NULL,
        .queue = as.queue[0] ? as.queue : NULL,
        .user = (char *)mt_request_user(req),
        .info = waits ? unreachable : NULL,
        .destination = (char *)route.destination,
    };
    int64_t id = 0;
    mt_job_t stored;
    int rc = mt_job_accept(db, &job, &id, &stored, err, sizeof err);
    free(params_text);
    if (rc < 0) {
        mt_api_respond_db_error(req, rc, err, "the job could not be stored"); /* nothing was committed */
        goto out;
    }
    /* Committed: only now may anyone hear of it. */
    mt_debug("job %lld (%s): created, assigned by %s%s%s%s%s%s%s", (long long)id, tool_id,
             as.direct ? "its mapping" : mt_assign_method_name(as.method), as.handler[0] ? " to " : "", as.handler,
             as.farm[0] ? " through farm " : "", as.farm, !as.farm[0] && as.queue[0] ? " to pool " : "",
             !as.farm[0] ? as.queue : "");
    if (waits)
        mt_warn("job %lld (%s): %s", (long long)id, tool_id, unreachable);
    char idtext[32];
    int n = snprintf(idtext, sizeof idtext, "%lld", (long long)id);
    if (as.farm[0]) {
        rc = mt_send_to_farm(stack, as.farm, MT_JOBS_MSG_SETUP, idtext, (size_t)n);
        if (rc < 0)
            mt_warn("job %lld: not sent to farm %s (%s): the sweeper will take it", (long long)id, as.farm,
                    mt_strerror(rc));
    } else if (as.handler[0] && strcmp(as.handler, mt_stack_server_name(stack)) == 0) {
        mt_handler_t *h = mt_jobs_local_handler();
        if (h)
            mt_handler_notify(h, id); /* else its poll finds it */
    }
    respond_job(req, 201, &stored);
    mt_job_clear(&stored);
out:
    json_decref(params);
    json_decref(doc);
}

/* ---- GET /api/jobs ---- */

/* A time parameter of the list (ISO 8601 UTC) into *us (0 if absent). Returns -1 after answering 400. */
static int query_time(mt_request_t *req, const char *name, int64_t *us)
{
    char text[64];
    *us = 0;
    int n = mt_request_query_param(req, name, text, sizeof text);
    if (n == -ENOENT)
        return 0;
    if (n < 0 || mt_time_parse_iso8601(text, us) < 0 || *us <= 0) {
        mt_respond_error(req, 400, "%s: '%s' is not an ISO 8601 UTC time after 1970 (as 2026-11-29T09:00:00Z)", name,
                         n < 0 ? "(too long)" : text);
        return -1;
    }
    return 0;
}

static void list_jobs(mt_request_t *req)
{
    static const char *const params[] = {"state", "tool_id", "handler", "user", "created_after", "created_before",
                                         "before_id", "limit", "offset", NULL};
    char state[32], tool[256], handler[256], user[256];
    mt_job_filter_t f = {.user = mt_jobs_request_scope(req)};
    if (mt_api_check_query(req, params) < 0)
        return;
    if (mt_request_query_param(req, "state", state, sizeof state) >= 0) {
        mt_job_state_t s;
        if (mt_job_state_parse(state, &s) < 0) {
            mt_respond_error(req, 400, "unknown state '%s'", state);
            return;
        }
        f.states = MT_JOB_BIT(s);
    }
    if (mt_request_query_param(req, "tool_id", tool, sizeof tool) >= 0)
        f.tool_id = tool;
    if (mt_request_query_param(req, "handler", handler, sizeof handler) >= 0)
        f.handler = handler;
    if (mt_request_query_param(req, "user", user, sizeof user) >= 0) {
        /* Admins list anyone's jobs; anyone else only their own, which naming oneself does not change. */
        if (f.user != NULL && strcmp(f.user, user) != 0) {
            mt_respond_error(req, 403, "user: only an admin may list another user's jobs");
            return;
        }
        f.user = user;
    }
    if (query_time(req, "created_after", &f.created_after) < 0 ||
        query_time(req, "created_before", &f.created_before) < 0)
        return;
    int64_t limit, offset;
    if (mt_request_query_int(req, "limit", LIST_DEFAULT_LIMIT, 1, LIST_MAX_LIMIT, &limit) < 0 ||
        mt_request_query_int(req, "offset", 0, 0, INT64_MAX, &offset) < 0 ||
        mt_request_query_int(req, "before_id", 0, 1, INT64_MAX, &f.before_id) < 0)
        return;
    mt_db_t *db = db_or_503(req);
    if (!db)
        return;
    mt_job_t *jobs = NULL;
    size_t n = 0;
    int64_t total = 0;
    bool capped = false;
    int rc = mt_job_store_list(db, &f, limit, offset, &jobs, &n, NULL);
    if (rc == 0)
        rc = mt_job_store_count_capped(db, &f, LIST_TOTAL_CAP, &total, &capped);
    if (rc < 0) {
        mt_job_store_free(jobs, n);
        mt_api_respond_db_error(req, rc, mt_db_errmsg(db), "listing jobs failed");
        return;
    }
    int64_t next = n > 0 && (int64_t)n == limit ? jobs[n - 1].id : 0;
    mt_json_text_t w;
    mt_json_text_init(&w, NULL, 0);
    mt_json_text_begin_object(&w);
    mt_json_text_key(&w, "jobs");
    mt_json_text_begin_array(&w);
    for (size_t i = 0; i < n; i++)
        job_text(&w, &jobs[i]);
    mt_json_text_end_array(&w);
    mt_job_store_free(jobs, n);
    mt_json_text_key(&w, "total");
    mt_json_text_int(&w, total);
    mt_json_text_key(&w, "total_capped");
    mt_json_text_value(&w, capped ? json_true() : json_false());
    mt_json_text_key(&w, "limit");
    mt_json_text_int(&w, limit);
    mt_json_text_key(&w, "offset");
    mt_json_text_int(&w, offset);
    mt_json_text_key(&w, "next_before_id");
    if (next > 0)
        mt_json_text_int_string(&w, next); /* a job id: a string, as every id of the API */
    else
        mt_json_text_null(&w);
    mt_json_text_end_object(&w);
    respond_text(req, 200, &w);
}

/* ---- /api/jobs/{id}[/...] ---- */

/*
 * A file of a job's working directory, by its path relative to it. The job
 * wrote that directory (possibly as another user): a symlink that leads
 * out of it is refused, as if the file did not exist. empty_if_missing:
 * a job's stdout or stderr that jobs.cleanup may have removed
 * (mt_jobs_cleaned_up): missing, it was empty.
 */
static void send_file(mt_request_t *req, const char *workdir, const char *rel, const char *what,
                      bool empty_if_missing)
{
    struct stat st;
    int fd = mt_open_beneath(workdir, rel, &st);
    if (fd == -EXDEV) {
        mt_notice("%s of %s: %s leads outside the job's directory: refused", what, workdir, rel);
        mt_respond_error(req, 404, "%s is not a file in the job's directory", what);
        return;
    }
    if (fd == -ENOENT && empty_if_missing) {
        /*
         * The stdout or stderr of a job that ran and ended, gone: jobs.cleanup
         * removes them only when empty (job_cleanup.h), so that is their content.
         */
        mt_respond(req, 200, "application/octet-stream", "", 0);
        return;
    }
    if (fd < 0) {
        mt_respond_error(req, 404, "%s does not exist (yet)", what);
        return;
    }
    if (st.st_size > FILE_MAX_BYTES) {
        close(fd);
        mt_respond_error(req, 413, "%s is %lld bytes, more than this API serves (%d)", what, (long long)st.st_size,
                         FILE_MAX_BYTES);
        return;
    }
    char *buf = mt_malloc((size_t)st.st_size + 1);
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    mt_respond(req, 200, "application/octet-stream", buf, got);
    free(buf);
}

static void job_outputs(mt_request_t *req, const mt_job_t *job, const char *name)
{
    const mt_tool_t *tool = mt_toolbox_find(mt_jobs()->tools, job->tool_id);
    char workdir[4096];
    mt_jobs_workdir(job->id, workdir, sizeof workdir);
    if (!tool) {
        mt_respond_error(req, 404, "tool '%s' is no longer installed", job->tool_id);
        return;
    }
    if (!name) {
        json_t *arr = json_array();
        for (size_t i = 0; i < mt_tool_output_count(tool); i++) {
            const char *rel = mt_tool_output_kind(tool, i) == MT_TOOL_OUTPUT_STDOUT ? "stdout"
                                                                                     : mt_tool_output_path(tool, i);
            struct stat st;
            int fd = mt_open_beneath(workdir, rel, &st);
            bool exists = fd >= 0;
            if (fd >= 0)
                close(fd);
            json_array_append_new(arr, json_pack("{s:s, s:b, s:o}", "name", mt_tool_output_name(tool, i), "exists",
                                                 exists, "size", exists ? json_integer(st.st_size) : json_null()));
        }
        json_t *doc = json_pack("{s:o}", "outputs", arr);
        mt_respond_json(req, 200, doc);
        json_decref(doc);
        return;
    }
    int k = mt_tool_find_output(tool, name);
    if (k < 0) {
        mt_respond_error(req, 404, "tool '%s' has no output '%s'", job->tool_id, name);
        return;
    }
    const char *rel = mt_tool_output_kind(tool, (size_t)k) == MT_TOOL_OUTPUT_STDOUT ? "stdout"
                                                                                       : mt_tool_output_path(tool, (size_t)k);
    send_file(req, workdir, rel, "the output", false);
}

static void job_history(mt_request_t *req, mt_db_t *db, int64_t id)
{
    mt_job_event_t *ev = NULL;
    size_t n = 0;
    int rc = mt_job_store_history(db, id, &ev, &n);
    if (rc < 0) {
        mt_api_respond_db_error(req, rc, mt_db_errmsg(db), "reading the history failed");
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, json_pack("{s:s, s:o, s:o, s:o}", "state", mt_job_state_name(ev[i].state),
                                             "time", time_json(ev[i].time_us), "handler", str_or_null(ev[i].handler),
                                             "info", str_or_null(ev[i].info)));
    mt_job_store_free_events(ev, n);
    json_t *doc = json_pack("{s:o}", "history", arr);
    mt_respond_json(req, 200, doc);
    json_decref(doc);
}

static void cancel_job(mt_request_t *req, mt_db_t *db, mt_job_t *job)
{
    mt_stack_t *stack = mt_request_stack(req);
    if (mt_job_state_terminal(job->state)) {
        mt_respond_error(req, 409, "job %lld is already %s", (long long)job->id, mt_job_state_name(job->state));
        return;
    }
    int rc = mt_job_store_cancel(db, job->id, "cancelled by request");
    if (rc == -EALREADY) {
        mt_respond_error(req, 409, "job %lld has already ended", (long long)job->id);
        return;
    }
    if (rc < 0) {
        mt_api_respond_db_error(req, rc, mt_db_errmsg(db), "cancelling job %lld failed", (long long)job->id);
        return;
    }
    mt_job_t now = {0};
    if ((rc = mt_job_store_get(db, job->id, &now)) < 0) {
        /* Cancelled already: a DELETE again is harmless (202 or 409). */
        mt_api_respond_db_error(req, rc, mt_db_errmsg(db), "job %lld was cancelled but cannot be read back",
                                (long long)job->id);
        return;
    }
    if (now.state == MT_JOB_DELETING && now.handler) {
        /* Fast path to a mule handler; every handler also finds it in its poll. */
        char idtext[32];
        int n = snprintf(idtext, sizeof idtext, "%lld", (long long)now.id);
        if (strcmp(now.handler, mt_stack_server_name(stack)) != 0)
            (void)mt_send_to_server(stack, now.handler, MT_JOBS_MSG_CANCEL, idtext, (size_t)n);
    }
    respond_job(req, now.state == MT_JOB_DELETED ? 200 : 202, &now);
    mt_job_clear(&now);
}

static void job_id_route(mt_request_t *req, void *data)
{
    (void)data;
    const char *method = mt_request_method(req);
    const char *path = mt_request_path(req);
    if (strcmp(path, "/api/jobs") == 0 || strcmp(path, "/api/jobs/") == 0) {
        if (strcmp(method, "POST") == 0)
            create_job(req);
        else if (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0)
            list_jobs(req);
        else
            mt_respond_error(req, 405, "method %s is not allowed on /api/jobs", method);
        return;
    }
    /* The id as written (canonical, so its text is the number's), for the 404 that names it. */
    const char *rest = path + strlen("/api/jobs/"), *end;
    int64_t id;
    if (mt_api_path_id(req, rest, "job", &id, &end) < 0 || mt_api_check_query(req, NULL) < 0)
        return;
    int idlen = (int)(end - rest);
    const char *sub = *end == '/' ? end + 1 : NULL;
    bool get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    bool del = strcmp(method, "DELETE") == 0;
    if ((sub && !get) || (!sub && !get && !del)) {
        mt_respond_error(req, 405, "method %s is not allowed on %s", method, path);
        return;
    }
    mt_db_t *db = db_or_503(req);
    if (!db)
        return;
    mt_job_t job = {0};
    int rc = mt_job_store_get(db, id, &job);
    if (rc == 0 && !mt_jobs_visible(mt_jobs_request_scope(req), job.user)) {
        mt_job_clear(&job);
        rc = -ENOENT; /* another user's: not even its existence is told */
    }
    if (rc == -ENOENT) {
        mt_respond_error(req, 404, "no such job %.*s", idlen, rest);
        return;
    }
    if (rc < 0) {
        mt_api_respond_db_error(req, rc, mt_db_errmsg(db), "reading job %.*s failed", idlen, rest);
        return;
    }
    char workdir[4096];
    mt_jobs_workdir(id, workdir, sizeof workdir);
    if (!sub && del) {
        cancel_job(req, db, &job);
    } else if (!sub) {
        respond_job(req, 200, &job);
    } else if (strcmp(sub, "stdout") == 0 || strcmp(sub, "stderr") == 0) {
        send_file(req, workdir, sub, sub, job.start_us > 0 && mt_jobs_cleaned_up(job.state));
    } else if (strcmp(sub, "history") == 0) {
        job_history(req, db, id);
    } else if (strcmp(sub, "outputs") == 0) {
        job_outputs(req, &job, NULL);
    } else if (strncmp(sub, "outputs/", 8) == 0 && sub[8]) {
        job_outputs(req, &job, sub + 8);
    } else {
        mt_respond_error(req, 404, "no such resource '%s' for a job", sub);
    }
    mt_job_clear(&job);
}

int mt_jobs_api_register(mt_stack_t *stack)
{
    /* Off the web thread's loop (the worker's route threads): a write may wait seconds for the database's lock. */
    if (mt_route_add(stack, NULL, "/api/jobs", mt_api_route_flags(), job_id_route, NULL) < 0 ||
        mt_route_add(stack, NULL, "/api/jobs", MT_ROUTE_PREFIX | mt_api_route_flags(), job_id_route, NULL) < 0 ||
        mt_api_metrics_register(stack) < 0)
        return -1;
    return 0;
}
