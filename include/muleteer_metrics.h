/*
 * muleteer_metrics.h: an application's own figures in the stack's
 * GET /metrics (Prometheus text format, docs/operator-guide.md "Metrics").
 *
 * Part of the public API beside muleteer.h (which it includes). Two kinds:
 *
 *   1. Counters and histograms the application bumps as things happen.
 *      It declares them while loading (app->load(), in the master, before
 *      the fork), each with at most one label whose values are fixed then
 *      (bounded cardinality), and gets an id. Every process of the stack
 *      has a block of shared memory for them (one per process-table slot,
 *      mapped by the master before it forks); mt_metric_add() and
 *      mt_metric_observe_us() write the calling process's block with
 *      relaxed atomics: no lock, no system call. GET /metrics sums the
 *      blocks of all processes, so a counter survives its process's
 *      respawn.
 *   2. Figures read when /metrics is asked (gauges such as how many jobs
 *      wait): a collector, registered while loading, is called by the web
 *      worker answering /metrics and writes families with
 *      mt_metrics_family() and mt_metrics_sample().
 *
 * With the option `metrics = false` nothing is collected: the calls below
 * return at once (registration still succeeds, so the application need
 * not know), collectors are never called and /metrics answers 404.
 *
 * Names: "muleteer_" then the subsystem, "_total" for counters, "_seconds"
 * for times (Prometheus conventions); [a-zA-Z_:][a-zA-Z0-9_:]*.
 */
#ifndef MULETEER_METRICS_H
#define MULETEER_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "muleteer.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Declare a counter `name` with HELP text `help`. With label NULL it has
 * one value (nvalues is ignored); otherwise one value per entry of
 * values[0..nvalues) (copied), label="values[i]". Only during
 * app->load(): -EPERM afterwards; -EINVAL for a bad name or label,
 * -EEXIST for a name taken, -ENOSPC past the registry's room. Returns the
 * id (>= 0) for mt_metric_add().
 */
int mt_metric_counter(mt_stack_t *stack, const char *name, const char *help, const char *label,
                      const char *const *values, size_t nvalues);

/*
 * Declare a counter of microseconds that GET /metrics shows in seconds
 * (six decimals): for times summed as they are spent, such as CPU time.
 * `name` must end in "_seconds_total" (-EINVAL otherwise); the rest as
 * mt_metric_counter. Count with mt_metric_add(id, value, microseconds).
 */
int mt_metric_counter_us(mt_stack_t *stack, const char *name, const char *help, const char *label,
                         const char *const *values, size_t nvalues);

/*
 * Declare a histogram (times, in seconds): `bounds` are the buckets' upper
 * bounds in seconds, increasing (copied; +Inf is added), at most 24.
 * Label and values as for mt_metric_counter. Returns the id for
 * mt_metric_observe_us(), or the same errors.
 */
int mt_metric_histogram(mt_stack_t *stack, const char *name, const char *help, const char *label,
                        const char *const *values, size_t nvalues, const double *bounds, size_t nbounds);

/*
 * Count n more for value `value` (0 for a counter without label) of
 * counter `id`, in the calling process's block. Any thread of any process
 * of the stack; lock-free, no system call. Does nothing when metrics are
 * off, for an id < 0 (a failed registration) or a value out of range.
 */
void mt_metric_add(int id, size_t value, uint64_t n);

/* Record a duration of `us` microseconds (negative counts as 0) in histogram `id`. As mt_metric_add. */
void mt_metric_observe_us(int id, size_t value, int64_t us);

/* Whether this process collects (metrics on, and the stack started): to skip work done only for a figure. */
bool mt_metrics_collecting(void);

/* The text being written for one GET /metrics. */
typedef struct mt_metrics_out mt_metrics_out_t;

/*
 * Called by the web worker answering GET /metrics (on a route thread when
 * there are some), after the stack's own figures. Writes what it knows
 * with the two calls below; it may query the application's database.
 */
typedef void (*mt_metrics_collect_cb)(mt_stack_t *stack, mt_metrics_out_t *out, void *data);

/* Register a collector. Only during app->load(): -EPERM afterwards; -ENOSPC past 8. */
int mt_metrics_add_collector(mt_stack_t *stack, mt_metrics_collect_cb cb, void *data);

/* Start a family: the HELP and TYPE lines (type "counter", "gauge", ...). */
void mt_metrics_family(mt_metrics_out_t *out, const char *name, const char *type, const char *help);

/*
 * One sample: name{label="value"} v, or name v when label is NULL. The
 * value is escaped as the format wants.
 */
void mt_metrics_sample(mt_metrics_out_t *out, const char *name, const char *label, const char *value, double v);

#ifdef __cplusplus
}
#endif
#endif
