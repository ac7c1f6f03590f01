/*
 * api_metrics: the job application's part of GET /metrics.
 *
 * Declares the store's counters and histograms (store_metrics.h) and a
 * collector that adds, when /metrics is read, how many jobs are in each
 * live state:
 *
 *   muleteer_jobs{state="new"|"queued"|"running"|"deleting"}   gauge
 *
 * one indexed count per state on the answering thread's connection, so
 * its cost follows the live jobs, not the ended ones (a million ended
 * jobs cost nothing here; their totals are muleteer_jobs_finished_total).
 */
#ifndef MT_API_METRICS_H
#define MT_API_METRICS_H

#include "muleteer.h"

/* While the application loads. 0, or a negative value (mt_metric_counter's, mt_metrics_add_collector's). */
int mt_api_metrics_register(mt_stack_t *stack);

#endif
