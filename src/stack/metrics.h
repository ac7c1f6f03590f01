/*
 * metrics: the registry of counters and histograms, where they live, and
 * GET /metrics in the Prometheus text exposition format (version 0.0.4).
 *
 * Where the figures live: one block of 64-bit cells per process-table
 * slot, in one shared anonymous mapping that the master makes before it
 * forks (as the proctable's live half). Each process writes only its own
 * slot's block (mt_metrics__bind after the fork), with relaxed atomic
 * adds: the request path takes no lock and makes no system call. The web
 * worker that answers /metrics sums the blocks. A block outlives its
 * process, so counters carry across respawns and reloads.
 *
 * What is in a block: the stack's own figures (requests by route and
 * status code and their durations, reloads, log records dropped, messages
 * per farm) and the families the application declared while loading
 * (muleteer_metrics.h). The per-process figures the proctable already
 * keeps (respawns, messages sent/handled/failed) are read from its live
 * half; gauges come from collectors at read time.
 *
 * With the option metrics = false nothing is mapped: every hook returns at
 * its first test and /metrics answers 404 naming the option.
 */
#ifndef MT_METRICS_H
#define MT_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "muleteer_metrics.h"

struct mt_route;

/*
 * In the master, after app->load() and the router's freeze, before any
 * fork: map the blocks for every slot of the process table (unless the
 * option metrics is false) and bind the master's (slot 0). Registrations
 * are closed from here on. Returns 0, or -errno with err filled.
 */
int mt_metrics_start(mt_stack_t *stack, char *err, size_t errlen);

/* Whether the blocks are mapped (metrics on and started). */
bool mt_metrics_enabled(void);

/*
 * In a process after its fork (mt_stack__become): write to `slot`'s block
 * from now on, and count the logger's dropped records there. Nothing when
 * not started (the master before mt_metrics_start, a standalone process).
 */
void mt_metrics__bind(size_t slot);

/*
 * A request was answered: count it under *route (NULL: static files and
 * requests refused before a route was found) and its status, and its time
 * since start_us (CLOCK_MONOTONIC, mt_clock_us). Clears *route for the
 * connection's next request. Web threads; lock-free, no system call.
 */
void mt_metrics_http_done(const struct mt_route **route, int status, int64_t start_us);

/* A reload of the processes began (master). */
void mt_metrics_reload(void);

/* A send to farm index `farm` ended with rc (0: queued). */
void mt_metrics_farm_sent(size_t farm, int rc);

/* A mule took n messages from the farm whose name is farm_name (the proctable's own string), or from its own channel (NULL). */
void mt_metrics_farm_received(const mt_stack_t *stack, const char *farm_name, int n);

/* GET /metrics (registered by stack_routes.c). */
void mt_metrics_route_cb(mt_request_t *req, void *data);

/*
 * The whole text into a new buffer (free() it), its length in *len; NULL
 * with metrics off. Any web worker thread.
 */
char *mt_metrics_render(mt_stack_t *stack, size_t *len);

/* Forget every registration and unmap (tests; the master at exit). */
void mt_metrics_reset(void);

#endif
