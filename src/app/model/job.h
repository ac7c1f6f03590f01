/*
 * job: the job record and its states, shared by the job application's
 * modules (store, handler, runner, HTTP API).
 *
 * States follow Galaxy: new -> queued -> running -> ok | error, and
 * cancellation through deleting -> deleted. ok, error and deleted are
 * terminal: once there, a job never changes state again (the store
 * enforces it in the same UPDATE that changes a state).
 */
#ifndef MT_JOB_H
#define MT_JOB_H

#include <stdbool.h>
#include <stdint.h>

typedef enum {
    MT_JOB_NEW,      /* committed, no handler has claimed it yet */
    MT_JOB_QUEUED,   /* claimed by a handler, waiting for a free runner slot */
    MT_JOB_RUNNING,  /* its command was started */
    MT_JOB_OK,       /* terminal: the command exited 0 */
    MT_JOB_ERROR,    /* terminal: non-zero exit, walltime, failure to start, ... (info says why) */
    MT_JOB_DELETING, /* cancel requested: the handler stops the command */
    MT_JOB_DELETED,  /* terminal: cancelled */
} mt_job_state_t;

#define MT_JOB_STATE_COUNT 7

/* "new", "queued", ... */
const char *mt_job_state_name(mt_job_state_t state);
/* 0 and *out, or -1 for an unknown name. */
int mt_job_state_parse(const char *name, mt_job_state_t *out);
bool mt_job_state_terminal(mt_job_state_t state);

/* A job row. Strings are owned by the record (mt_job_clear frees them); NULL when unset. */
typedef struct mt_job {
    int64_t id;
    char *tool_id;
    char *tool_version;
    char *params;        /* validated inputs, a JSON object */
    mt_job_state_t state;
    char *handler;       /* server name of the handler that owns it, NULL until claimed */
    char *queue;         /* the pool an unassigned job waits in ("job-handlers", "job-handlers.TAG"), or NULL */
    char *destination;   /* the job configuration's destination id it runs at; NULL: none configured (local) */
    int64_t create_us;   /* wall-clock times, microseconds since the epoch; 0 = not yet */
    int64_t update_us;
    int64_t claim_us;
    int64_t start_us;
    int64_t end_us;
    bool has_exit_code;
    int exit_code;
    char *runner;        /* "local" */
    char *external_id;   /* runner's id for the running command (e.g. a pid) */
    char *working_dir;
    char *info;          /* why it ended in error, or other notes */
    int64_t invocation_id; /* the workflow invocation whose step created it, 0 if none */
    char *user;          /* who owns it (the API key's user; an invocation's jobs, its owner's); NULL: nobody */
    int attempt;         /* 1 for the first run; the next after a run lost with its handler (mt_job_store_retry) */
} mt_job_t;

/* Free the strings of a record and zero it. Accepts a zeroed record. */
void mt_job_clear(mt_job_t *job);

#endif
