/*
 * stack_routes: the HTTP routes the stack itself serves.
 *
 *   GET /api/health  -> 200 {"status": "ok"}
 *   GET /api/stack   -> every slot of the process table with its live state
 *   GET /metrics     -> the Prometheus text (metrics.c; 404 with metrics = false)
 *
 * Each process's heartbeat (heartbeat.h) is shown as "beat_age_s", the
 * seconds since its loop last beat (null before its first beat, and for a
 * process with no heartbeat: an external mule program, a standalone listed
 * here), and "beating": false once it has been silent for
 * MT_BEAT_SILENT_BEATS beat intervals (1.5 s), whatever mule-harakiri is,
 * so a stuck or stopped process shows before the master kills it; a
 * process started less than that ago counts as beating; null when it has
 * no heartbeat. "mule_harakiri" at the top is the option's value (0: off).
 *
 * Both are answered by any web worker from the shared live table, without
 * asking the master. With API keys configured, /api/health stays open and
 * /api/stack and /metrics are for admin users only (403 for other keys).
 */
#include <jansson.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "stack/metrics.h"
#include "stack/stack.h"

static const char health_body[] = "{\"status\":\"ok\"}";

static void health_cb(mt_request_t *req, void *data)
{
    (void)data;
    mt_respond(req, 200, "application/json", health_body, sizeof health_body - 1);
}

static json_t *iso_time(int64_t us)
{
    if (us <= 0)
        return json_null();
    time_t s = (time_t)(us / 1000000);
    struct tm tm;
    gmtime_r(&s, &tm);
    char buf[64];
    size_t n = strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, sizeof buf - n, ".%06dZ", (int)(us % 1000000));
    return json_string(buf);
}

static void stack_cb(mt_request_t *req, void *data)
{
    (void)data;
    if (!mt_request_is_admin(req)) {
        mt_respond_error(req, 403, "only admin users (option admin-users) may read /api/stack");
        return;
    }
    mt_stack_t *stack = mt_request_stack(req);
    const mt_proctable_t *t = &stack->procs;
    json_t *procs = json_array();
    int64_t now = mt_clock_us();
    for (size_t i = 0; i < t->nprocs; i++) {
        const mt_proc_t *p = &t->procs[i];
        const mt_proc_live_t *l = p->live;
        int pid = atomic_load(&l->pid);
        json_t *o = json_object();
        json_object_set_new(o, "server_name", json_string(mt_proctable_server_name(t, i)));
        json_object_set_new(o, "pool", json_string(p->pool));
        json_object_set_new(o, "instance_id", json_integer(p->instance_id));
        json_object_set_new(o, "role", json_string(mt_role_name(p->role)));
        json_object_set_new(o, "pid", pid > 0 ? json_integer(pid) : json_null());
        json_object_set_new(o, "state", json_string(mt_proc_state_name((mt_proc_state_t)atomic_load(&l->state))));
        json_object_set_new(o, "respawns", json_integer(atomic_load(&l->respawns)));
        json_object_set_new(o, "started", iso_time(atomic_load(&l->started_us)));
        json_object_set_new(o, "messages_sent", json_integer((json_int_t)atomic_load(&l->msgs_sent)));
        json_object_set_new(o, "messages_handled", json_integer((json_int_t)atomic_load(&l->msgs_handled)));
        json_object_set_new(o, "messages_failed", json_integer((json_int_t)atomic_load(&l->msgs_failed)));
        json_t *age = json_null(), *beating = json_null();
        if (mt_proc_beats(p)) {
            int64_t beat = atomic_load(&l->beat_mono_us), forked = atomic_load(&l->forked_mono_us);
            if (pid > 0 && beat > 0 && beat >= forked)
                age = json_real((double)((now - beat) / 1000) / 1000.0);
            beating = json_boolean(pid > 0 && !mt_proc_beat_stale(beat, forked, now,
                                                                   (int64_t)MT_BEAT_SILENT_BEATS *
                                                                       MT_BEAT_INTERVAL_MS * 1000));
        }
        json_object_set_new(o, "beat_age_s", age);
        json_object_set_new(o, "beating", beating);
        if (p->role == MT_ROLE_WEB)
            json_object_set_new(o, "worker_id", json_integer(p->worker_id));
        if (p->role == MT_ROLE_MULE) {
            json_object_set_new(o, "mule_id", json_integer(p->mule_id));
            json_object_set_new(o, "program", p->program ? json_string(p->program) : json_null());
            json_t *farms = json_array();
            for (size_t k = 0; k < p->nfarms; k++)
                json_array_append_new(farms, json_string(t->farms[p->farms[k]].name));
            json_object_set_new(o, "farms", farms);
            json_object_set_new(o, "farm_wakeups", json_integer((json_int_t)atomic_load(&l->farm_wakeups)));
            json_object_set_new(o, "farm_empty_wakeups",
                                json_integer((json_int_t)atomic_load(&l->farm_empty_wakeups)));
        }
        if (p->purpose)
            json_object_set_new(o, "purpose", json_string(p->purpose));
        json_array_append_new(procs, o);
    }
    json_t *farms = json_array();
    for (size_t f = 0; f < t->nfarms; f++) {
        json_t *ids = json_array();
        for (size_t k = 0; k < t->farms[f].nmules; k++)
            json_array_append_new(ids, json_integer(t->farms[f].mule_ids[k]));
        json_array_append_new(farms, json_pack("{s:s, s:o}", "name", t->farms[f].name, "mules", ids));
    }
    json_t *doc = json_pack("{s:s, s:s, s:s, s:I, s:o, s:o}", "server_name",
                            mt_config_get(stack->config, NULL, "server-name", NULL), "version", MULETEER_VERSION,
                            "served_by", mt_stack_server_name(stack), "mule_harakiri",
                            (json_int_t)mt_config_get_int(stack->config, NULL, "mule-harakiri"), "processes", procs,
                            "farms", farms);
    mt_respond_json(req, 200, doc);
    json_decref(doc);
}

int mt_stack_routes_register(mt_stack_t *stack)
{
    if (mt_router_add(stack->router, "GET", "/api/health", 0, health_cb, NULL) < 0)
        return -1;
    if (mt_router_add(stack->router, "GET", "/api/stack", 0, stack_cb, NULL) < 0)
        return -1;
    /* Off the loop where there are route threads: an application's collector may query its database. */
    if (mt_router_add(stack->router, "GET", "/metrics", MT_ROUTE_OFFLOAD, mt_metrics_route_cb, NULL) < 0)
        return -1;
    return 0;
}
