/*
 * http_router: the route table (see http_router.h).
 *
 * Routes are kept in one array sorted by specificity: exact routes first,
 * then prefix routes by decreasing prefix length, insertion order among
 * equals. A lookup is then a single scan: the first route whose path and
 * method both match is the most specific one. Tables are small (tens of
 * routes) and the scan touches only precomputed lengths and short strings,
 * so nothing cleverer is needed on the request path.
 *
 * A HEAD request also matches a route registered for GET (the server sends
 * the headers of the GET response without its body), unless a HEAD route
 * for the same path is more specific or comes first.
 */
#include "stack/http_router.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"

typedef struct mt_router_entry {
    mt_route_t route;
    size_t path_len;
} mt_router_entry_t;

struct mt_router {
    mt_router_entry_t *entries; /* sorted: see the top of the file */
    size_t count;
    size_t cap;
    bool frozen;
};

mt_router_t *mt_router_create(void)
{
    return mt_calloc(1, sizeof(mt_router_t));
}

void mt_router_destroy(mt_router_t *router)
{
    if (router == NULL)
        return;
    for (size_t i = 0; i < router->count; i++) {
        free(router->entries[i].route.method);
        free(router->entries[i].route.path);
    }
    free(router->entries);
    free(router);
}

static bool method_equal(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    return strcmp(a, b) == 0;
}

/* Whether entry a must be tried before entry b. */
static bool entry_before(const mt_router_entry_t *a, const mt_router_entry_t *b)
{
    bool a_exact = !(a->route.flags & MT_ROUTE_PREFIX);
    bool b_exact = !(b->route.flags & MT_ROUTE_PREFIX);
    if (a_exact != b_exact)
        return a_exact;
    if (!a_exact && a->path_len != b->path_len)
        return a->path_len > b->path_len;
    return false;
}

int mt_router_add(mt_router_t *router, const char *method, const char *path, int flags, mt_route_cb cb,
                  void *data)
{
    if (router->frozen)
        return -EPERM;
    if (path == NULL || path[0] != '/' || cb == NULL || (method != NULL && method[0] == '\0') ||
        (flags & ~(MT_ROUTE_PREFIX | MT_ROUTE_OFFLOAD | MT_ROUTE_OFFLOAD_WRITES)) != 0)
        return -EINVAL;
    for (size_t i = 0; i < router->count; i++) {
        const mt_route_t *r = &router->entries[i].route;
        /* Where the handler runs does not make another route: only the match counts. */
        if ((r->flags & MT_ROUTE_PREFIX) == (flags & MT_ROUTE_PREFIX) && strcmp(r->path, path) == 0 &&
            method_equal(r->method, method))
            return -EEXIST;
    }
    if (router->count == router->cap) {
        router->cap = router->cap ? router->cap * 2 : 16;
        router->entries = mt_realloc(router->entries, router->cap * sizeof(*router->entries));
    }
    mt_router_entry_t entry = {
        .route = {
            .method = method ? mt_strdup(method) : NULL,
            .path = mt_strdup(path),
            .flags = flags,
            .cb = cb,
            .data = data,
        },
        .path_len = strlen(path),
    };
    size_t pos = router->count;
    while (pos > 0 && entry_before(&entry, &router->entries[pos - 1]))
        pos--;
    memmove(&router->entries[pos + 1], &router->entries[pos], (router->count - pos) * sizeof(entry));
    router->entries[pos] = entry;
    router->count++;
    return 0;
}

void mt_router_freeze(mt_router_t *router)
{
    router->frozen = true;
}

size_t mt_router_count(const mt_router_t *router)
{
    return router->count;
}

const mt_route_t *mt_router_at(const mt_router_t *router, size_t i)
{
    return i < router->count ? &router->entries[i].route : NULL;
}

size_t mt_router_index(const mt_router_t *router, const mt_route_t *route)
{
    /* A route is the first member of its entry. */
    return (size_t)((const mt_router_entry_t *)(const void *)route - router->entries);
}

static bool path_matches(const mt_router_entry_t *e, const char *path, size_t path_len)
{
    if (!(e->route.flags & MT_ROUTE_PREFIX))
        return path_len == e->path_len && memcmp(path, e->route.path, path_len) == 0;
    if (path_len < e->path_len || memcmp(path, e->route.path, e->path_len) != 0)
        return false;
    /* "/api/jobs" covers "/api/jobs" and "/api/jobs/7" but not "/api/jobsX". */
    return path[e->path_len] == '\0' || path[e->path_len] == '/' || e->route.path[e->path_len - 1] == '/';
}

static bool method_matches(const char *route_method, const char *method)
{
    if (route_method == NULL)
        return true;
    if (strcmp(route_method, method) == 0)
        return true;
    return strcmp(method, "HEAD") == 0 && strcmp(route_method, "GET") == 0;
}

const mt_route_t *mt_router_match(const mt_router_t *router, const char *method, const char *path, int *status)
{
    size_t path_len = strlen(path);
    bool path_seen = false;
    for (size_t i = 0; i < router->count; i++) {
        const mt_router_entry_t *e = &router->entries[i];
        if (!path_matches(e, path, path_len))
            continue;
        if (method_matches(e->route.method, method))
            return &e->route;
        path_seen = true;
    }
    *status = path_seen ? 405 : 404;
    return NULL;
}
