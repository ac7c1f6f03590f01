/*
 * api_dashboard: the web dashboard's files, served by muleteer itself.
 *
 * The dashboard is a directory of static files (index.html, style.css,
 * js/...) shipped beside the binary as tools/ and workflows/ are
 * (BIN/../dashboard), or the directory option jobs.dashboard-dir names.
 * GET / answers its index.html and GET /ui/PATH its PATH, through the
 * stack's static files (mt_static_add): confined beneath the directory,
 * Content-Type by extension, revalidated with an ETag. The files hold no
 * data, so they are public; the data comes from the API, which keeps its
 * key rules. With jobs.dashboard = false, GET / stays a 404 that names
 * the option.
 */
#ifndef MT_API_DASHBOARD_H
#define MT_API_DASHBOARD_H

#include <stddef.h>

#include "muleteer.h"

/*
 * During app->load(): serve DIR (the dashboard directory, already chosen by
 * the caller) at / and /ui, or with enabled false register the 404 for /.
 * A DIR named by the operator (dir_is_default 0) that is missing, not a
 * directory or without index.html is an error: returns -1 with a message
 * naming the option in err. The default DIR (beside the binary) missing is
 * only a notice: GET / answers a 404 that says so, and 0 is returned.
 */
int mt_dashboard_register(mt_stack_t *stack, int enabled, const char *dir, int dir_is_default, char *err,
                          size_t errlen);

/* The checks of mt_dashboard_register without registering (--print-config). Returns 0 or -1 with err. */
int mt_dashboard_check(const char *dir, char *err, size_t errlen);

#endif
