/*
 * api_workflows: GET /api/workflows, GET /api/workflows/{id} and
 * POST /api/workflows (docs/http-api.md); POST /api/workflows/{id}/invocations
 * is routed from here to api_invocations.c.
 *
 * Workflows come from two places: the workflows directory (loaded at
 * start-up, "source": "file") and the database ("source": "api"), where
 * POST puts them so that every process sees them. An id is unique across
 * both. A POSTed definition is YAML or JSON, checked against the tools
 * exactly as a file is; a bad one gets 400 naming the step and the reason.
 */
#define MT_LOG_NAME "muleteer.jobs.api"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "app/api/api_error.h"
#include "app/api/api_request.h"
#include "app/app.h"
#include "app/model/workflow.h"
#include "app/model/workflow_library.h"
#include "app/store/workflow_store.h"
#include "common/log.h"
#include "common/mem.h"

static json_t *summary_json(const mt_workflow_t *wf, const char *source)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(mt_workflow_id(wf)));
    json_object_set_new(o, "name", json_string(mt_workflow_name(wf)));
    const char *description = mt_workflow_description(wf);
    json_object_set_new(o, "description", description ? json_string(description) : json_null());
    json_object_set_new(o, "steps", json_integer((json_int_t)mt_workflow_step_count(wf)));
    json_object_set_new(o, "source", json_string(source));
    return o;
}

static void list_workflows(mt_request_t *req)
{
    mt_jobs_ctx_t *ctx = mt_jobs();
    json_t *arr = json_array();
    for (size_t i = 0; i < mt_workflow_library_count(ctx->workflows); i++)
        json_array_append_new(arr, summary_json(mt_workflow_library_get(ctx->workflows, i), "file"));
    mt_db_t *db = mt_jobs_db();
    char **ids, **defs;
    size_t n = 0;
    int rc = db ? mt_workflow_store_list(db, &ids, &defs, &n) : -EIO;
    if (rc < 0) {
        json_decref(arr);
        mt_api_respond_db_error(req, rc, db ? mt_db_errmsg(db) : "cannot open it", "listing workflows failed");
        return;
    }
    for (size_t i = 0; i < n; i++) {
        mt_workflow_t *wf = NULL;
        char err[512];
        if (mt_workflow_parse(defs[i], strlen(defs[i]), ids[i], ctx->tools, &wf, err, sizeof err) == 0) {
            json_array_append_new(arr, summary_json(wf, "api"));
            mt_workflow_free(wf);
        } else {
            /* Stored when valid; the tools may have changed since. Listed, marked, never run. */
            json_t *o = json_pack("{s:s, s:s, s:s}", "id", ids[i], "source", "api", "invalid", err);
            json_array_append_new(arr, o);
        }
    }
    mt_workflow_store_free(ids, defs, n);
    json_t *doc = json_pack("{s:o}", "workflows", arr);
    mt_respond_json(req, 200, doc);
    json_decref(doc);
}

static void get_workflow(mt_request_t *req, const char *id)
{
    mt_jobs_ctx_t *ctx = mt_jobs();
    const mt_workflow_t *file_wf = mt_workflow_library_find(ctx->workflows, id);
    if (file_wf) {
        json_t *doc = mt_workflow_to_json(file_wf);
        json_object_set_new(doc, "source", json_string("file"));
        mt_respond_json(req, 200, doc);
        json_decref(doc);
        return;
    }
    mt_db_t *db = mt_jobs_db();
    if (!db) {
        mt_api_respond_no_db(req, "workflow");
        return;
    }
    char *definition = NULL;
    int rc = mt_workflow_store_get(db, id, &definition);
    if (rc == -ENOENT) {
        mt_respond_error(req, 404, "no such workflow '%s'", id);
        return;
    }
    if (rc < 0) {
        mt_api_respond_db_error(req, rc, mt_db_errmsg(db), "reading workflow '%s'", id);
        return;
    }
    mt_workflow_t *wf = NULL;
    char err[512];
    if (mt_workflow_parse(definition, strlen(definition), id, ctx->tools, &wf, err, sizeof err) < 0) {
        free(definition);
        mt_respond_error(req, 409, "workflow '%s' no longer fits the tools: %s", id, err);
        return;
    }
    free(definition);
    json_t *doc = mt_workflow_to_json(wf);
    json_object_set_new(doc, "source", json_string("api"));
    mt_respond_json(req, 200, doc);
    json_decref(doc);
    mt_workflow_free(wf);
}

static void create_workflow(mt_request_t *req)
{
    mt_jobs_ctx_t *ctx = mt_jobs();
    size_t len;
    const char *body = mt_request_body(req, &len);
    mt_workflow_t *wf = NULL;
    char err[768];
    if (len == 0) {
        mt_respond_error(req, 400, "the body must be a workflow in YAML or JSON");
        return;
    }
    if (mt_api_refuse_duplicate_keys(req) < 0) /* named, JSON or YAML (the reader would give only a column) */
        return;
    if (mt_workflow_parse(body, len, "request body", ctx->tools, &wf, err, sizeof err) < 0) {
        mt_respond_error(req, 400, "%s", err);
        return;
    }
    const char *id = mt_workflow_id(wf);
    if (mt_workflow_library_find(ctx->workflows, id)) {
        mt_respond_error(req, 409, "workflow '%s' already exists (in the workflows directory)", id);
        goto out;
    }
    mt_db_t *db = mt_jobs_db();
    if (!db) {
        mt_api_respond_no_db(req, "workflow");
        goto out;
    }
    /* The body as sent: it is what was validated, and NUL-free (the parser refuses NUL). */
    char *definition = mt_strndup(body, len);
    int rc = mt_workflow_store_insert(db, id, definition);
    free(definition);
    if (rc == -EEXIST) {
        mt_respond_error(req, 409, "workflow '%s' already exists", id);
        goto out;
    }
    if (rc < 0) {
        mt_api_respond_db_error(req, rc, mt_db_errmsg(db), "the workflow could not be stored");
        goto out;
    }
    mt_info("workflow %s created (%zu steps)", id, mt_workflow_step_count(wf));
    json_t *doc = mt_workflow_to_json(wf);
    json_object_set_new(doc, "source", json_string("api"));
    mt_respond_json(req, 201, doc);
    json_decref(doc);
out:
    mt_workflow_free(wf);
}

/* "/api/workflows/ID/invocations": the workflow's id into id. */
static bool invocations_of(const char *path, char *id, size_t size)
{
    const char *start = path + strlen("/api/workflows/");
    const char *slash = strchr(start, '/');
    if (!slash || slash == start || strcmp(slash, "/invocations") != 0 || (size_t)(slash - start) >= size)
        return false;
    memcpy(id, start, (size_t)(slash - start));
    id[slash - start] = '\0';
    return true;
}

static void workflows_route(mt_request_t *req, void *data)
{
    (void)data;
    const char *path = mt_request_path(req);
    const char *method = mt_request_method(req);
    char id[256];
    bool collection = strcmp(path, "/api/workflows") == 0 || strcmp(path, "/api/workflows/") == 0;
    if (mt_api_check_query(req, NULL) < 0) /* no route here takes a query parameter */
        return;
    if (collection && strcmp(method, "GET") == 0)
        list_workflows(req);
    else if (collection && strcmp(method, "POST") == 0)
        create_workflow(req);
    else if (!collection && strcmp(method, "GET") == 0 && !strchr(path + strlen("/api/workflows/"), '/'))
        get_workflow(req, path + strlen("/api/workflows/"));
    else if (!collection && invocations_of(path, id, sizeof id) && strcmp(method, "POST") == 0)
        mt_invocations_create(req, id);
    else if (collection || !strchr(path + strlen("/api/workflows/"), '/'))
        mt_respond_error(req, 405, "%s is not allowed on %s", method, path);
    else
        mt_respond_error(req, 404, "no such resource %s", path);
}

int mt_workflows_api_register(mt_stack_t *stack)
{
    if (mt_route_add(stack, NULL, "/api/workflows", mt_api_route_flags(), workflows_route, NULL) < 0 ||
        mt_route_add(stack, NULL, "/api/workflows", MT_ROUTE_PREFIX | mt_api_route_flags(), workflows_route, NULL) < 0)
        return -1;
    return 0;
}
