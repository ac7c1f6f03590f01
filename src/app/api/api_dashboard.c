/*
 * api_dashboard: GET / and GET /ui/... from the dashboard directory (see
 * api_dashboard.h). The stack serves the files (static, before any API key
 * is asked for); this file only chooses what is served and says why GET /
 * is a 404 when the dashboard is off.
 */
#define MT_LOG_NAME "muleteer.jobs.api"
#include "app/api/api_dashboard.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "common/log.h"

int mt_dashboard_check(const char *dir, char *err, size_t errlen)
{
    struct stat st;
    if (stat(dir, &st) < 0) {
        snprintf(err, errlen, "option 'jobs.dashboard-dir': %s: %s (or turn the dashboard off: jobs.dashboard = false)",
                 dir, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "option 'jobs.dashboard-dir': %s is not a directory", dir);
        return -1;
    }
    char index[4096];
    snprintf(index, sizeof index, "%s/index.html", dir);
    if (stat(index, &st) < 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "option 'jobs.dashboard-dir': %s has no index.html", dir);
        return -1;
    }
    return 0;
}

static void dashboard_off(mt_request_t *req, void *data)
{
    (void)data;
    mt_respond_error(req, 404, "no route for /: the dashboard is off (option jobs.dashboard = false)");
}

static void dashboard_missing(mt_request_t *req, void *data)
{
    (void)data;
    mt_respond_error(req, 404,
                     "no route for /: the dashboard's files were not found beside the binary "
                     "(set option jobs.dashboard-dir)");
}

static int route_root(mt_stack_t *stack, mt_route_cb handler, char *err, size_t errlen)
{
    int rc = mt_route_add(stack, "GET", "/", 0, handler, NULL);
    if (rc < 0) {
        snprintf(err, errlen, "registering GET / failed: %s", strerror(-rc));
        return -1;
    }
    return 0;
}

int mt_dashboard_register(mt_stack_t *stack, int enabled, const char *dir, int dir_is_default, char *err,
                          size_t errlen)
{
    if (!enabled)
        return route_root(stack, dashboard_off, err, errlen);
    if (mt_dashboard_check(dir, err, errlen) < 0) {
        if (!dir_is_default)
            return -1;
        /* A binary copied away from its tree runs without the dashboard rather than not at all. */
        mt_notice("the dashboard is not served: no directory '%s' with an index.html beside the binary (../%s) or in "
                  "the working directory; set jobs.dashboard-dir to serve one, or jobs.dashboard = false",
                  dir, dir);
        return route_root(stack, dashboard_missing, err, errlen);
    }
    char index[4096], why[512];
    snprintf(index, sizeof index, "%s/index.html", dir);
    if (mt_static_add(stack, "/", index, why, sizeof why) < 0 || mt_static_add(stack, "/ui", dir, why, sizeof why) < 0) {
        snprintf(err, errlen, "option 'jobs.dashboard-dir': %s", why);
        return -1;
    }
    return 0;
}
