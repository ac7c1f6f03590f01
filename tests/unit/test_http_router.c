/*
 * Unit tests of http_router: exact routes over prefix routes, the longest
 * prefix, prefix boundaries, method matching (any, HEAD on GET), 404
 * against 405, duplicate and invalid routes, and freezing.
 */
#include <criterion/criterion.h>
#include <errno.h>

#include "stack/http_router.h"

static void cb(mt_request_t *req, void *data)
{
    (void)req;
    (void)data;
}

/* The data pointer identifies the route in these tests. */
static const char *match(const mt_router_t *r, const char *method, const char *path, int *status)
{
    const mt_route_t *route = mt_router_match(r, method, path, status);
    return route ? route->data : NULL;
}

Test(http_router, exact_beats_prefix)
{
    mt_router_t *r = mt_router_create();
    cr_assert_eq(mt_router_add(r, "GET", "/api", MT_ROUTE_PREFIX, cb, "prefix"), 0);
    cr_assert_eq(mt_router_add(r, "GET", "/api/jobs", 0, cb, "exact"), 0);
    int status = 0;
    cr_assert_str_eq(match(r, "GET", "/api/jobs", &status), "exact");
    cr_assert_str_eq(match(r, "GET", "/api/jobs/7", &status), "prefix");
    cr_assert_str_eq(match(r, "GET", "/api", &status), "prefix");
    cr_assert_str_eq(match(r, "GET", "/api/", &status), "prefix");
    /* A prefix covers whole path segments only. */
    cr_assert_null(match(r, "GET", "/apix", &status));
    cr_assert_eq(status, 404);
    mt_router_destroy(r);
}

Test(http_router, longest_prefix_wins_whatever_the_order)
{
    mt_router_t *r = mt_router_create();
    cr_assert_eq(mt_router_add(r, "GET", "/api/jobs", MT_ROUTE_PREFIX, cb, "jobs"), 0);
    cr_assert_eq(mt_router_add(r, "GET", "/", MT_ROUTE_PREFIX, cb, "root"), 0);
    cr_assert_eq(mt_router_add(r, "GET", "/api", MT_ROUTE_PREFIX, cb, "api"), 0);
    int status = 0;
    cr_assert_str_eq(match(r, "GET", "/api/jobs/7/stdout", &status), "jobs");
    cr_assert_str_eq(match(r, "GET", "/api/tools", &status), "api");
    cr_assert_str_eq(match(r, "GET", "/index.html", &status), "root");
    cr_assert_str_eq(match(r, "GET", "/", &status), "root");
    mt_router_destroy(r);
}

Test(http_router, trailing_slash_prefix)
{
    mt_router_t *r = mt_router_create();
    cr_assert_eq(mt_router_add(r, NULL, "/static/", MT_ROUTE_PREFIX, cb, "static"), 0);
    int status = 0;
    cr_assert_str_eq(match(r, "GET", "/static/a.css", &status), "static");
    cr_assert_null(match(r, "GET", "/static", &status));
    mt_router_destroy(r);
}

Test(http_router, not_found_vs_method_not_allowed)
{
    mt_router_t *r = mt_router_create();
    cr_assert_eq(mt_router_add(r, "GET", "/x", 0, cb, "get-x"), 0);
    cr_assert_eq(mt_router_add(r, "POST", "/x", 0, cb, "post-x"), 0);
    int status = 0;
    cr_assert_str_eq(match(r, "POST", "/x", &status), "post-x");
    cr_assert_null(match(r, "DELETE", "/x", &status));
    cr_assert_eq(status, 405);
    cr_assert_null(match(r, "GET", "/y", &status));
    cr_assert_eq(status, 404);
    cr_assert_null(match(r, "get", "/x", &status)); /* methods are case-sensitive */
    cr_assert_eq(status, 405);
    mt_router_destroy(r);
}

Test(http_router, any_method_and_head_on_get)
{
    mt_router_t *r = mt_router_create();
    cr_assert_eq(mt_router_add(r, NULL, "/any", 0, cb, "any"), 0);
    cr_assert_eq(mt_router_add(r, "GET", "/page", 0, cb, "page"), 0);
    int status = 0;
    cr_assert_str_eq(match(r, "PATCH", "/any", &status), "any");
    cr_assert_str_eq(match(r, "HEAD", "/page", &status), "page");
    cr_assert_null(match(r, "POST", "/page", &status));
    cr_assert_eq(status, 405);
    mt_router_destroy(r);
}

Test(http_router, specific_route_with_other_method_falls_back_to_prefix)
{
    mt_router_t *r = mt_router_create();
    cr_assert_eq(mt_router_add(r, "GET", "/api/jobs", 0, cb, "list"), 0);
    cr_assert_eq(mt_router_add(r, "POST", "/api", MT_ROUTE_PREFIX, cb, "post-any"), 0);
    int status = 0;
    cr_assert_str_eq(match(r, "POST", "/api/jobs", &status), "post-any");
    cr_assert_null(match(r, "PUT", "/api/jobs", &status));
    cr_assert_eq(status, 405);
    mt_router_destroy(r);
}

Test(http_router, add_errors_and_freeze)
{
    mt_router_t *r = mt_router_create();
    cr_assert_eq(mt_router_add(r, "GET", "x", 0, cb, NULL), -EINVAL);
    cr_assert_eq(mt_router_add(r, "GET", "/a", 0, cb, NULL), 0);
    cr_assert_eq(mt_router_add(r, "GET", "/a", 0, cb, NULL), -EEXIST);
    cr_assert_eq(mt_router_add(r, "GET", "/a", MT_ROUTE_PREFIX, cb, NULL), 0);
    cr_assert_eq(mt_router_add(r, NULL, "/a", 0, cb, NULL), 0);
    cr_assert_eq(mt_router_add(r, NULL, "/a", 0, cb, NULL), -EEXIST);
    mt_router_freeze(r);
    cr_assert_eq(mt_router_add(r, "GET", "/b", 0, cb, NULL), -EPERM);
    int status = 0;
    cr_assert_not_null(mt_router_match(r, "GET", "/a", &status));
    mt_router_destroy(r);
    mt_router_destroy(NULL);
}

Test(http_router, offload_flag_is_kept_and_makes_no_second_route)
{
    mt_router_t *r = mt_router_create();
    cr_assert_eq(mt_router_add(r, "GET", "/o", MT_ROUTE_OFFLOAD, cb, NULL), 0);
    cr_assert_eq(mt_router_add(r, "GET", "/o", 0, cb, NULL), -EEXIST, "offloaded or not, it is the same route");
    cr_assert_eq(mt_router_add(r, "GET", "/o", MT_ROUTE_PREFIX | MT_ROUTE_OFFLOAD, cb, NULL), 0);
    cr_assert_eq(mt_router_add(r, "GET", "/o", MT_ROUTE_PREFIX, cb, NULL), -EEXIST);
    cr_assert_eq(mt_router_add(r, "GET", "/p", 8, cb, NULL), -EINVAL, "an unknown flag is refused");
    cr_assert_eq(mt_router_add(r, "GET", "/w", MT_ROUTE_OFFLOAD_WRITES, cb, NULL), 0);
    mt_router_freeze(r);
    int status = 0;
    const mt_route_t *exact = mt_router_match(r, "GET", "/o", &status);
    const mt_route_t *below = mt_router_match(r, "GET", "/o/1", &status);
    cr_assert_not_null(exact);
    cr_assert_not_null(below);
    cr_assert_eq(exact->flags, MT_ROUTE_OFFLOAD);
    cr_assert_eq(below->flags, MT_ROUTE_PREFIX | MT_ROUTE_OFFLOAD);
    mt_router_destroy(r);
}
