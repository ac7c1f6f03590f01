/*
 * job: state names and the record's memory (see job.h).
 */
#include "app/model/job.h"

#include <stdlib.h>
#include <string.h>

static const char *const state_names[MT_JOB_STATE_COUNT] = {
    "new", "queued", "running", "ok", "error", "deleting", "deleted",
};

const char *mt_job_state_name(mt_job_state_t state)
{
    return (unsigned)state < MT_JOB_STATE_COUNT ? state_names[state] : "unknown";
}

int mt_job_state_parse(const char *name, mt_job_state_t *out)
{
    for (int i = 0; i < MT_JOB_STATE_COUNT; i++) {
        if (strcmp(name, state_names[i]) == 0) {
            *out = (mt_job_state_t)i;
            return 0;
        }
    }
    return -1;
}

bool mt_job_state_terminal(mt_job_state_t state)
{
    return state == MT_JOB_OK || state == MT_JOB_ERROR || state == MT_JOB_DELETED;
}

void mt_job_clear(mt_job_t *job)
{
    free(job->tool_id);
    free(job->tool_version);
    free(job->params);
    free(job->handler);
    free(job->queue);
    free(job->destination);
    free(job->runner);
    free(job->external_id);
    free(job->working_dir);
    free(job->info);
    free(job->user);
    memset(job, 0, sizeof *job);
}
