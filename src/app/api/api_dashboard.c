/*
 * api_dashboard: GET / and GET /ui/... from the dashboard directory (see
 * api_dashboard.h). The stack serves the files (static, before any API key
 * is asked for); this file only chooses what is served and says why GET /
 * is a 404 when the dashboard is off.
 */
#include "app/api/api_dashboard.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

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

int mt_dashboard_register(mt_stack_t *stack, int enabled, const char *dir, char *err, size_t errlen)
{
    if (!enabled) {
        int rc = mt_route_add(stack, "GET", "/", 0, dashboard_off, NULL);
        if (rc < 0) {
            snprintf(err, errlen, "registering GET / failed: %s", strerror(-rc));
            return -1;
        }
        return 0;
    }
    if (mt_dashboard_check(dir, err, errlen) < 0)
        return -1;
    char index[4096], why[512];
    snprintf(index, sizeof index, "%s/index.html", dir);
    if (mt_static_add(stack, "/", index, why, sizeof why) < 0 || mt_static_add(stack, "/ui", dir, why, sizeof why) < 0) {
        snprintf(err, errlen, "option 'jobs.dashboard-dir': %s", why);
        return -1;
    }
    return 0;
}
