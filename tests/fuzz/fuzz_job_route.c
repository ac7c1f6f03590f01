/*
 * fuzz_job_route: mt_job_conf_load_string() on arbitrary bytes as "f.yml"
 * and as "f.xml" -- Galaxy's macros, plugins, destinations, tool
 * destinations, limits, resources (xml_macros.c, job_conf_exec.c) -- then
 * routing (job_route.c) on what loaded.
 *
 * Checks:
 *   - the return is 0 or -1; on -1 *out is NULL and the message is
 *     non-empty, one line and starts with "NAME:";
 *   - on 0, every destination has a non-empty id that finds it, a runner
 *     plugin id and a line; env lines of kind SET have shell names outside
 *     MULETEER_*, FILE and EXEC ones non-empty values; the default
 *     destination is NULL exactly when there are no destinations, else a
 *     destination or a destination tag; every limit has a known type and a
 *     non-negative number, and the walltime limit is that of the walltime
 *     limit; notices are one line starting with "NAME:";
 *   - mt_job_route() for tools NULL, "", "sleep" and the input's words
 *     mapped to a destination: 0 with runner type "local" or "slurm", no
 *     destination exactly when there are none, else a destination that can
 *     run here, with (local) its slots and the walltime limit or (slurm)
 *     its native specification and the smaller of its walltime and the
 *     limit; or -1 with a zeroed route and a one-line message starting
 *     with "tool '";
 *   - mt_job_route_stored() with each destination's id agrees with
 *     mt_job_destination_runnable(); the start-up warnings are one line
 *     each, starting with "NAME:";
 *   - resubmit (job_resubmit.c): every rule has its compiled condition
 *     exactly when its condition is not blank; for a few failures the
 *     picked rule is one of the destination's, its delay finite and not
 *     negative, and its route 0 (a runnable destination) or -EINVAL with a
 *     zeroed route and a one-line reason starting with "resubmit to ";
 *   - no leaks (LeakSanitizer under libFuzzer and `make asan`).
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "app/model/job_conf.h"
#include "app/model/job_resubmit.h"
#include "app/model/job_route.h"
#include "fuzz.h"

static void check_line(const char *msg, const char *name, const char *what)
{
    FUZZ_CHECK(msg && msg[0], "%s: empty %s", name, what);
    FUZZ_CHECK(!strchr(msg, '\n') && !strchr(msg, '\r'), "%s: %s spans lines: %s", name, what, msg);
}

static void check_prefixed(const char *msg, const char *name, const char *what)
{
    check_line(msg, name, what);
    size_t n = strlen(name);
    FUZZ_CHECK(strncmp(msg, name, n) == 0 && msg[n] == ':', "%s: %s does not start with the name: %s", name, what,
               msg);
}

typedef struct warn_ctx {
    const char *name;
    int count;
} warn_ctx_t;

static void on_warn(const char *msg, void *data)
{
    warn_ctx_t *w = data;
    check_prefixed(msg, w->name, "warning");
    w->count++;
}

static bool zeroed(const mt_job_route_t *r)
{
    static const mt_job_route_t zero;
    return memcmp(r, &zero, sizeof zero) == 0;
}

static void check_routed(const mt_job_conf_t *conf, const char *name, const mt_job_route_t *r);

static void check_route(const mt_job_conf_t *conf, const char *name, const char *tool_id)
{
    mt_job_route_t r;
    char err[1024] = "";
    int rc = mt_job_route(conf, tool_id, &r, err, sizeof err);
    FUZZ_CHECK(rc == 0 || rc == -1, "%s: route returned %d", name, rc);
    if (rc < 0) {
        check_line(err, name, "route error");
        FUZZ_CHECK(strncmp(err, "tool '", 6) == 0, "%s: route error: %s", name, err);
        FUZZ_CHECK(zeroed(&r), "%s: route not zeroed on error", name);
        FUZZ_CHECK(mt_job_conf_destination_count(conf) > 0, "%s: refused without destinations: %s", name, err);
        return;
    }
    check_routed(conf, name, &r);
}

/* A route returned 0. */
static void check_routed(const mt_job_conf_t *conf, const char *name, const mt_job_route_t *r)
{
    bool slurm = r->runner_type && strcmp(r->runner_type, "slurm") == 0;
    FUZZ_CHECK(r->runner_type && (slurm || strcmp(r->runner_type, "local") == 0), "%s: routed to type %s", name,
               r->runner_type);
    double limit = mt_job_conf_walltime_limit(conf);
    if (mt_job_conf_destination_count(conf) == 0) {
        FUZZ_CHECK(!r->destination && !r->dest && r->slots == 0 && !slurm, "%s: a destination without destinations",
                   name);
        FUZZ_CHECK(r->walltime_s == limit, "%s: walltime %g", name, r->walltime_s);
        return;
    }
    FUZZ_CHECK(r->destination && r->dest && mt_job_conf_find_destination(conf, r->destination) == r->dest,
               "%s: routed to an unknown destination", name);
    char why[512];
    FUZZ_CHECK(mt_job_destination_runnable(conf, r->dest, why, sizeof why), "%s: routed to '%s', which cannot run",
               name, r->destination);
    if (!slurm) {
        FUZZ_CHECK(r->walltime_s == limit, "%s: walltime %g", name, r->walltime_s);
        FUZZ_CHECK(r->slots == mt_job_destination_slots(r->dest), "%s: slots %u", name, r->slots);
        FUZZ_CHECK(!r->native_specification, "%s: a local route with a native specification", name);
        return;
    }
    double own = mt_job_destination_walltime(r->dest);
    double want = own > 0 && (limit == 0 || own < limit) ? own : limit;
    FUZZ_CHECK(r->walltime_s == want && r->walltime_s >= 0, "%s: slurm walltime %g (own %g, limit %g)", name,
               r->walltime_s, own, limit);
    FUZZ_CHECK(r->slots == 0, "%s: slurm route with slots", name);
    FUZZ_CHECK(r->native_specification == mt_job_destination_native_specification(r->dest), "%s: native spec", name);
}

static bool blank(const char *s)
{
    while (s && isspace((unsigned char)*s))
        s++;
    return !s || !*s;
}

static void check_resubmits(const mt_job_conf_t *conf, const char *name, const mt_job_destination_t *d)
{
    const mt_job_resubmit_t *rules;
    size_t n = mt_job_destination_resubmits(d, &rules);
    for (size_t k = 0; k < n; k++) {
        FUZZ_CHECK(!rules[k].condition_expr == blank(rules[k].condition), "%s: rule %zu: condition compiled %d", name,
                   k, rules[k].condition_expr != NULL);
        FUZZ_CHECK(!rules[k].delay_expr == blank(rules[k].delay), "%s: rule %zu: delay compiled", name, k);
    }
    static const mt_job_failure_t failures[] = {
        { .walltime_reached = true, .attempt = 1, .seconds_running = 61, .seconds_since_queued = 62 },
        { .memory_limit_reached = true, .attempt = 2 },
        { .unknown_error = true, .attempt = 7, .seconds_running = 0.5 },
    };
    for (size_t i = 0; i < sizeof failures / sizeof failures[0]; i++) {
        const mt_job_resubmit_t *r = mt_job_resubmit_pick(d, &failures[i]);
        if (!r)
            continue;
        FUZZ_CHECK(r >= rules && r < rules + n, "%s: picked a rule not of its destination", name);
        double delay = mt_job_resubmit_delay(r, &failures[i]);
        FUZZ_CHECK(delay >= 0 && isfinite(delay), "%s: delay %g", name, delay);
        mt_job_route_t route;
        char err[1024] = "";
        int rc = mt_job_resubmit_route(conf, d, r, &route, err, sizeof err);
        FUZZ_CHECK(rc == 0 || rc == -EINVAL, "%s: resubmit route returned %d", name, rc);
        if (rc == 0) {
            check_routed(conf, name, &route);
        } else {
            check_line(err, name, "resubmit route error");
            FUZZ_CHECK(strncmp(err, "resubmit to ", 12) == 0, "%s: resubmit route error: %s", name, err);
            FUZZ_CHECK(zeroed(&route), "%s: resubmit route not zeroed on error", name);
        }
    }
}

static void check_conf(const mt_job_conf_t *conf, const char *name, const uint8_t *data, size_t size)
{
    size_t ndest = mt_job_conf_destination_count(conf);
    for (size_t i = 0; i < ndest; i++) {
        const mt_job_destination_t *d = mt_job_conf_destination_at(conf, i);
        const char *id = mt_job_destination_id(d);
        FUZZ_CHECK(id && id[0] && mt_job_conf_find_destination(conf, id) == d, "%s: destination %zu", name, i);
        FUZZ_CHECK(mt_job_destination_runner(d) && mt_job_destination_runner(d)[0], "%s: '%s' has no runner", name,
                   id);
        FUZZ_CHECK(mt_job_destination_line(d) > 0, "%s: '%s' has no line", name, id);
        const mt_job_env_t *env;
        size_t nenv = mt_job_destination_env(d, &env);
        for (size_t k = 0; k < nenv; k++) {
            if (env[k].kind == MT_JOB_ENV_SET) {
                const char *v = env[k].name;
                FUZZ_CHECK(v && (isalpha((unsigned char)v[0]) || v[0] == '_') && strncmp(v, "MULETEER_", 9) != 0,
                           "%s: '%s': env name '%s'", name, id, v ? v : "(null)");
            } else {
                FUZZ_CHECK(env[k].value && env[k].value[0], "%s: '%s': empty env file/exec", name, id);
            }
        }
        char why[512];
        mt_job_route_t r;
        char err[1024];
        bool runnable = mt_job_destination_runnable(conf, d, why, sizeof why);
        int rc = mt_job_route_stored(conf, "t", id, &r, err, sizeof err);
        FUZZ_CHECK((rc == 0) == runnable, "%s: '%s': stored route %d, runnable %d", name, id, rc, runnable);
        if (!runnable)
            check_line(why, name, "reason");
        check_resubmits(conf, name, d);
    }
    const char *dflt = mt_job_conf_default_destination(conf, NULL);
    FUZZ_CHECK(!dflt == (ndest == 0), "%s: default %s with %zu destinations", name, dflt ? dflt : "(none)", ndest);
    FUZZ_CHECK(!dflt || mt_job_conf_find_destination(conf, dflt) || mt_job_conf_is_destination_tag(conf, dflt),
               "%s: default '%s' is neither a destination nor a tag", name, dflt);
    const mt_job_limit_t *limits;
    size_t nlimits = mt_job_conf_limits(conf, &limits);
    double walltime = 0;
    for (size_t i = 0; i < nlimits; i++) {
        FUZZ_CHECK(limits[i].type && limits[i].number >= 0, "%s: limit %zu", name, i);
        if (strcmp(limits[i].type, "walltime") == 0)
            walltime = (double)limits[i].number;
    }
    FUZZ_CHECK(walltime == mt_job_conf_walltime_limit(conf), "%s: walltime limit", name);
    for (size_t i = 0; i < mt_job_conf_notice_count(conf); i++)
        check_prefixed(mt_job_conf_notice(conf, i), name, "notice");
    warn_ctx_t w = { .name = name };
    mt_job_conf_warn_unrunnable(conf, on_warn, &w);
    mt_job_conf_warn_unhonoured(conf, on_warn, &w);

    check_route(conf, name, NULL);
    check_route(conf, name, "");
    check_route(conf, name, "sleep");
    /* The input's words that a tool entry maps (a few at most). */
    int mapped = 0;
    for (size_t i = 0; i < size && mapped < 8;) {
        while (i < size && !(isalnum(data[i]) || data[i] == '_' || data[i] == '-' || data[i] == '.'))
            i++;
        size_t start = i;
        while (i < size && (isalnum(data[i]) || data[i] == '_' || data[i] == '-' || data[i] == '.'))
            i++;
        if (i == start || i - start > 64)
            continue;
        char word[65];
        memcpy(word, data + start, i - start);
        word[i - start] = '\0';
        const char *to = mt_job_conf_tool_destination(conf, word, NULL);
        if (!to)
            continue;
        FUZZ_CHECK(mt_job_conf_find_destination(conf, to) || mt_job_conf_is_destination_tag(conf, to),
                   "%s: tool '%s' mapped to '%s', neither a destination nor a tag", name, word, to);
        check_route(conf, name, word);
        mapped++;
    }
}

static void one(const char *name, const uint8_t *data, size_t size)
{
    mt_job_conf_t *conf = (mt_job_conf_t *)1;
    char err[1024] = "";
    int rc = mt_job_conf_load_string(name, (const char *)data, size, &conf, err, sizeof err);
    FUZZ_CHECK(rc == 0 || rc == -1, "%s: load returned %d", name, rc);
    if (rc < 0) {
        FUZZ_CHECK(conf == NULL, "%s: a configuration on error", name);
        check_prefixed(err, name, "error");
        if (getenv("FUZZ_VERBOSE"))
            fprintf(stderr, "%s\n", err);
        return;
    }
    if (getenv("FUZZ_VERBOSE"))
        fprintf(stderr, "%s: loaded, %zu destinations, %zu notices\n", name, mt_job_conf_destination_count(conf),
                mt_job_conf_notice_count(conf));
    check_conf(conf, name, data, size);
    mt_job_conf_destroy(conf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    one("f.yml", data, size);
    one("f.xml", data, size);
    return 0;
}
