/*
 * api_metrics: the jobs' figures in GET /metrics (see api_metrics.h).
 */
#define MT_LOG_NAME "muleteer.jobs.api"
#include "app/api/api_metrics.h"

#include "app/app.h"
#include "app/store/job_store.h"
#include "app/store/store_metrics.h"
#include "common/log.h"
#include "muleteer_metrics.h"

static void collect_jobs(mt_stack_t *stack, mt_metrics_out_t *out, void *data)
{
    (void)stack;
    (void)data;
    static const mt_job_state_t live[] = {MT_JOB_NEW, MT_JOB_QUEUED, MT_JOB_RUNNING, MT_JOB_DELETING};
    mt_metrics_family(out, "muleteer_jobs", "gauge", "Jobs in each live state (new, queued, running, deleting).");
    mt_db_t *db = mt_jobs_db();
    if (db == NULL)
        return; /* logged by mt_jobs_db; the family stays empty, which says "unknown" */
    for (size_t i = 0; i < sizeof live / sizeof live[0]; i++) {
        int64_t n = 0;
        int rc = mt_job_store_count_state(db, live[i], &n);
        if (rc < 0) {
            mt_warn("metrics: counting the %s jobs failed: %s", mt_job_state_name(live[i]), mt_db_errmsg(db));
            continue;
        }
        mt_metrics_sample(out, "muleteer_jobs", "state", mt_job_state_name(live[i]), (double)n);
    }
}

int mt_api_metrics_register(mt_stack_t *stack)
{
    int rc = mt_store_metrics_register(stack);
    if (rc < 0)
        return rc;
    return mt_metrics_add_collector(stack, collect_jobs, NULL);
}
