/*
 * http_router: the table of HTTP routes (method + path -> handler).
 *
 * Built once in the master (the stack's own routes, then the application's
 * from app->load()), then frozen and inherited by every web worker, so
 * lookups take no lock. Exact routes win over prefix routes; among prefix
 * routes the longest wins. A path that matches but not for this method
 * gives 405, no match at all 404.
 */
#ifndef MT_HTTP_ROUTER_H
#define MT_HTTP_ROUTER_H

#include "muleteer.h"

typedef struct mt_router mt_router_t;

typedef struct mt_route {
    char *method;  /* NULL: any method */
    char *path;
    int flags;     /* MT_ROUTE_PREFIX, MT_ROUTE_OFFLOAD, MT_ROUTE_OFFLOAD_WRITES */
    mt_route_cb cb;
    void *data;
} mt_route_t;

mt_router_t *mt_router_create(void);
/* Accepts NULL. */
void mt_router_destroy(mt_router_t *router);

/*
 * Add a route (strings copied). Returns 0; -EINVAL if path does not start
 * with '/' or flags has a bit other than MT_ROUTE_PREFIX,
 * MT_ROUTE_OFFLOAD and MT_ROUTE_OFFLOAD_WRITES; -EEXIST if the same method+path (exact, or prefix) is
 * already routed, offloaded or not;
 * -EPERM once the router is frozen.
 */
int mt_router_add(mt_router_t *router, const char *method, const char *path, int flags, mt_route_cb cb,
                  void *data);
/* After this, mt_router_add returns -EPERM. */
void mt_router_freeze(mt_router_t *router);

/*
 * Find the route for method + path (path without query string).
 * Returns the route, or NULL with *status set to 404 or 405.
 * A prefix matches whole segments: "/api" covers "/api" and "/api/x", not
 * "/apix". A HEAD request also matches a GET route. Thread-safe once frozen.
 */
const mt_route_t *mt_router_match(const mt_router_t *router, const char *method, const char *path, int *status);

/*
 * The routes in match order, for a table of them (the metrics' labels):
 * how many, route i (i < count), and the position of a route that
 * mt_router_match() returned. Stable once frozen; thread-safe then.
 */
size_t mt_router_count(const mt_router_t *router);
const mt_route_t *mt_router_at(const mt_router_t *router, size_t i);
size_t mt_router_index(const mt_router_t *router, const mt_route_t *route);

#endif
