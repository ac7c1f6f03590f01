/*
 * Unit tests for metrics.c: registration rules, per-slot blocks summed
 * across processes (a forked child's counts included), histograms, route
 * and status labels, escaping, and metrics off.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/mem.h"
#include "stack/metrics.h"
#include "stack/options.h"
#include "stack/pools.h"
#include "stack/stack.h"

static struct mt_stack stack;
static char err[512];

static void cb(mt_request_t *req, void *data)
{
    (void)req;
    (void)data;
}

static void build(const char *metrics)
{
    memset(&stack, 0, sizeof stack);
    stack.config = mt_config_create();
    mt_config_add_section(stack.config, MT_STACK_SECTION, MT_STACK_SECTION_ALIAS, mt_stack_options);
    char set[64];
    snprintf(set, sizeof set, "metrics=%s", metrics);
    char *argv[] = {"muleteer", "--processes", "2", "--mules", "2", "--farm", "work:1,2", "--set", set};
    cr_assert_eq(mt_config_load(stack.config, 9, argv, err, sizeof err), 0, "%s", err);
    cr_assert_eq(mt_pools_build(&stack.procs, stack.config, err, sizeof err), 0, "%s", err);
    cr_assert_eq(mt_proctable_share(&stack.procs), 0);
    stack.router = mt_router_create();
    cr_assert_eq(mt_router_add(stack.router, "GET", "/api/health", 0, cb, NULL), 0);
    cr_assert_eq(mt_router_add(stack.router, NULL, "/api/jobs", MT_ROUTE_PREFIX, cb, NULL), 0);
}

static void start(void)
{
    stack.frozen = true;
    mt_router_freeze(stack.router);
    cr_assert_eq(mt_metrics_start(&stack, err, sizeof err), 0, "%s", err);
}

static void teardown(void)
{
    mt_metrics_reset();
    mt_router_destroy(stack.router);
    mt_proctable_destroy(&stack.procs);
    mt_config_destroy(stack.config);
}

static char *render(void)
{
    size_t len = 0;
    char *text = mt_metrics_render(&stack, &len);
    cr_assert_not_null(text);
    cr_assert_eq(strlen(text), len);
    return text;
}

static void assert_line(const char *text, const char *line)
{
    char *want = mt_asprintf("\n%s\n", line);
    cr_assert_not_null(strstr(text, want), "no line \"%s\" in:\n%s", line, text);
    free(want);
}

static void on(void)
{
    build("true");
}

static void off(void)
{
    build("false");
}

TestSuite(metrics, .init = on, .fini = teardown);

Test(metrics, registration_rules)
{
    static const char *const states[] = {"ok", "error"};
    static const double bounds[] = {0.1, 1};
    static const double unsorted[] = {1, 0.1};
    cr_assert_eq(mt_metric_counter(&stack, "bad name", "", NULL, NULL, 0), -EINVAL);
    cr_assert_eq(mt_metric_counter(&stack, "m_total", "", "le", states, 2), -EINVAL);
    cr_assert_eq(mt_metric_counter(&stack, "m_total", "", "state", NULL, 0), -EINVAL);
    cr_assert_eq(mt_metric_histogram(&stack, "h_seconds", "", NULL, NULL, 0, unsorted, 2), -EINVAL);
    int id = mt_metric_counter(&stack, "m_total", "help", "state", states, 2);
    cr_assert_geq(id, 0);
    cr_assert_eq(mt_metric_counter(&stack, "m_total", "", NULL, NULL, 0), -EEXIST);
    cr_assert_geq(mt_metric_histogram(&stack, "h_seconds", "", NULL, NULL, 0, bounds, 2), 0);
    start();
    cr_assert_eq(mt_metric_counter(&stack, "late_total", "", NULL, NULL, 0), -EPERM);
}

Test(metrics, slots_are_summed_and_a_child_counts_in_its_own)
{
    static const char *const states[] = {"ok", "error"};
    int id = mt_metric_counter(&stack, "muleteer_things_total", "Things.", "state", states, 2);
    start();
    mt_metrics__bind(1);
    mt_metric_add(id, 0, 3);
    mt_metric_add(id, 2, 100); /* out of range: ignored */
    pid_t pid = fork();
    if (pid == 0) {
        mt_metrics__bind(3);
        mt_metric_add(id, 0, 4);
        mt_metric_add(id, 1, 1);
        _exit(0);
    }
    int status;
    waitpid(pid, &status, 0);
    char *text = render();
    assert_line(text, "muleteer_things_total{state=\"ok\"} 7");
    assert_line(text, "muleteer_things_total{state=\"error\"} 1");
    assert_line(text, "# TYPE muleteer_things_total counter");
    free(text);
}

Test(metrics, a_microsecond_counter_reads_in_seconds)
{
    cr_assert_eq(mt_metric_counter_us(&stack, "muleteer_cpu_total", "", NULL, NULL, 0), -EINVAL,
                 "its name says seconds");
    int id = mt_metric_counter_us(&stack, "muleteer_cpu_seconds_total", "CPU.", NULL, NULL, 0);
    cr_assert_geq(id, 0);
    start();
    mt_metrics__bind(1);
    mt_metric_add(id, 0, 1500000);
    mt_metric_add(id, 0, 42);
    char *text = render();
    assert_line(text, "# TYPE muleteer_cpu_seconds_total counter");
    assert_line(text, "muleteer_cpu_seconds_total 1.500042");
    free(text);
}

Test(metrics, histograms_are_cumulative_with_sum_and_count)
{
    static const double bounds[] = {0.001, 0.01};
    int id = mt_metric_histogram(&stack, "muleteer_wait_seconds", "Waits.", NULL, NULL, 0, bounds, 2);
    start();
    mt_metric_observe_us(id, 0, 1000); /* on the bound: in it */
    mt_metric_observe_us(id, 0, 5000);
    mt_metric_observe_us(id, 0, 2000000);
    char *text = render();
    assert_line(text, "muleteer_wait_seconds_bucket{le=\"0.001\"} 1");
    assert_line(text, "muleteer_wait_seconds_bucket{le=\"0.01\"} 2");
    assert_line(text, "muleteer_wait_seconds_bucket{le=\"+Inf\"} 3");
    assert_line(text, "muleteer_wait_seconds_sum 2.006000");
    assert_line(text, "muleteer_wait_seconds_count 3");
    free(text);
}

Test(metrics, requests_by_route_pattern_and_code)
{
    start();
    int status = 0;
    const mt_route_t *health = mt_router_match(stack.router, "GET", "/api/health", &status);
    const mt_route_t *jobs = mt_router_match(stack.router, "POST", "/api/jobs/42/cancel", &status);
    cr_assert(health && jobs);
    const mt_route_t *r;
    for (int i = 0; i < 3; i++) {
        r = health;
        mt_metrics_http_done(&r, 200, mt_clock_us());
        cr_assert_null(r);
    }
    r = jobs;
    mt_metrics_http_done(&r, 418, mt_clock_us());
    r = NULL;
    mt_metrics_http_done(&r, 404, mt_clock_us());
    char *text = render();
    assert_line(text, "muleteer_http_requests_total{route=\"/api/health\",method=\"GET\",code=\"200\"} 3");
    assert_line(text, "muleteer_http_requests_total{route=\"/api/jobs/*\",method=\"(any)\",code=\"4xx\"} 1");
    assert_line(text, "muleteer_http_requests_total{route=\"(none)\",method=\"(any)\",code=\"404\"} 1");
    assert_line(text, "muleteer_http_request_duration_seconds_count{route=\"/api/health\",method=\"GET\"} 3");
    free(text);
}

Test(metrics, farms_reloads_and_escaping)
{
    static const char *const odd[] = {"a\"b\\c\nd"};
    int id = mt_metric_counter(&stack, "muleteer_odd_total", "Back\\slash\nnewline.", "v", odd, 1);
    start();
    mt_metric_add(id, 0, 1);
    mt_metrics_farm_sent(0, 0);
    mt_metrics_farm_sent(0, 0);
    mt_metrics_farm_sent(0, -ETIMEDOUT);
    mt_metrics_farm_received(&stack, "work", 1);
    mt_metrics_reload();
    char *text = render();
    assert_line(text, "muleteer_odd_total{v=\"a\\\"b\\\\c\\nd\"} 1");
    assert_line(text, "# HELP muleteer_odd_total Back\\\\slash\\nnewline.");
    assert_line(text, "muleteer_farm_messages_sent_total{farm=\"work\"} 2");
    assert_line(text, "muleteer_farm_messages_failed_total{farm=\"work\"} 1");
    assert_line(text, "muleteer_farm_messages_received_total{farm=\"work\"} 1");
    assert_line(text, "muleteer_farm_queue_messages{farm=\"work\"} 1");
    assert_line(text, "muleteer_reloads_total 1");
    free(text);
}

TestSuite(metrics_off, .init = off, .fini = teardown);

Test(metrics_off, nothing_is_collected)
{
    int id = mt_metric_counter(&stack, "muleteer_things_total", "Things.", NULL, NULL, 0);
    cr_assert_geq(id, 0, "registration succeeds with metrics off");
    start();
    cr_assert(!mt_metrics_enabled());
    cr_assert(!mt_metrics_collecting());
    mt_metrics__bind(1);
    mt_metric_add(id, 0, 1); /* must not crash: there is no block */
    size_t len = 1;
    cr_assert_null(mt_metrics_render(&stack, &len));
}
