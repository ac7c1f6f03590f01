/*
 * api_handlers: GET /api/handlers (docs/http-api.md): every job handler
 * registered in the job database -- on any host -- with its state and
 * lease (store/handler_store.h). Admins only, as /api/stack: it names
 * hosts and pids.
 */
#include <jansson.h>
#include <string.h>

#include "app/api/api_error.h"
#include "app/api/api_request.h"
#include "app/app.h"
#include "app/store/handler_store.h"
#include "app/store/job_store.h"

/* What a row's state means now: a running handler whose lease lapsed is dead to the others. */
static const char *state_now(const mt_handler_row_t *row)
{
    if (row->state && strcmp(row->state, "running") == 0 && row->lease_until_us < row->now_us)
        return "lapsed";
    return row->state ? row->state : "unknown";
}

/* "," separated pools ",a,b," as an array. */
static json_t *pools_array(const char *pools)
{
    json_t *arr = json_array();
    for (const char *p = pools ? pools : ""; *p;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (len)
            json_array_append_new(arr, json_stringn(p, len));
        p += len + (comma ? 1 : 0);
    }
    return arr;
}

static void handlers_route(mt_request_t *req, void *data)
{
    (void)data;
    if (mt_api_check_query(req, NULL) < 0)
        return;
    if (!mt_request_is_admin(req)) {
        mt_respond_error(req, 403, "GET /api/handlers is for admins: it names the hosts and processes of the handlers");
        return;
    }
    mt_db_t *db = mt_jobs_db();
    if (!db) {
        mt_api_respond_no_db(req, "job");
        return;
    }
    mt_handler_row_t *rows;
    size_t n;
    int rc = mt_handler_store_list(db, &rows, &n);
    if (rc < 0) {
        mt_api_respond_db_error(req, rc, mt_db_errmsg(db), "listing handlers failed");
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        const mt_handler_row_t *r = &rows[i];
        char start[MT_TIME_ISO8601_SIZE], renew[MT_TIME_ISO8601_SIZE], until[MT_TIME_ISO8601_SIZE];
        json_array_append_new(
            arr, json_pack("{s:s, s:s, s:i, s:o, s:s, s:I, s:s, s:s, s:s, s:f, s:f}", "server_name", r->name, "host",
                           r->host ? r->host : "", "pid", r->pid, "pools", pools_array(r->pools), "state", state_now(r),
                           "epoch", (json_int_t)r->epoch, "start_time", mt_time_iso8601(r->start_us, start),
                           "renew_time", mt_time_iso8601(r->renew_us, renew), "lease_until",
                           mt_time_iso8601(r->lease_until_us, until), "lease_left_s",
                           (double)(r->lease_until_us - r->now_us) / 1e6, "since_renewal_s",
                           (double)(r->now_us - r->renew_us) / 1e6));
    }
    mt_handler_rows_free(rows, n);
    json_t *doc = json_pack("{s:o}", "handlers", arr);
    mt_respond_json(req, 200, doc);
    json_decref(doc);
}

int mt_handlers_api_register(mt_stack_t *stack)
{
    return mt_route_add(stack, "GET", "/api/handlers", mt_api_route_flags(), handlers_route, NULL) < 0 ? -1 : 0;
}
