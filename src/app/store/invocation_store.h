/*
 * invocation_store: workflow invocations and their steps in the database.
 *
 * An invocation is created with all its steps `waiting`, in one
 * transaction, unassigned (or assigned to its handler directly) like a job.
 * The handler that claims it moves it to `scheduling` and from then on is
 * the only writer of its steps; every change is a conditional UPDATE, so a
 * stale writer changes nothing. Errors as job_store.h: negative errno
 * values, detail in mt_db_errmsg().
 */
#ifndef MT_INVOCATION_STORE_H
#define MT_INVOCATION_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "app/store/db.h"

typedef enum {
    MT_INV_NEW,        /* committed, not claimed yet */
    MT_INV_SCHEDULING, /* a handler owns it and creates its steps' jobs */
    MT_INV_OK,         /* terminal: every step ok */
    MT_INV_FAILED,     /* terminal: a step failed (the others that could finish did) */
    MT_INV_CANCELLED,  /* terminal: cancelled by request */
} mt_invocation_state_t;

typedef enum {
    MT_STEP_WAITING,   /* its inputs are not all ready */
    MT_STEP_RUNNING,   /* its job exists (job_id) and has not ended */
    MT_STEP_OK,        /* terminal: its job ended ok */
    MT_STEP_FAILED,    /* terminal: its job failed, or it could not be created (info says why) */
    MT_STEP_NOT_RUN,   /* terminal: a step upstream failed */
    MT_STEP_CANCELLED, /* terminal: the invocation was cancelled */
} mt_step_state_t;

#define MT_INV_BIT(s) (1u << (s))

const char *mt_invocation_state_name(mt_invocation_state_t state);
const char *mt_step_state_name(mt_step_state_t state);
bool mt_step_state_terminal(mt_step_state_t state);

typedef struct mt_invocation {
    int64_t id;
    char *workflow_id;
    char *definition;   /* the workflow as invoked, JSON */
    char *inputs;       /* normalized inputs, JSON */
    mt_invocation_state_t state;
    char *handler;
    char *queue;
    int64_t create_us, update_us, claim_us, end_us;
    char *info;
    char *user;         /* who owns it, and the jobs of its steps; NULL: nobody */
} mt_invocation_t;

typedef struct mt_invocation_step {
    int index;          /* in the workflow's step order */
    char *step_id;
    mt_step_state_t state;
    int64_t job_id;     /* 0: no job yet */
    char *info;
} mt_invocation_step_t;

void mt_invocation_clear(mt_invocation_t *inv);
void mt_invocation_steps_free(mt_invocation_step_t *steps, size_t n);

/*
 * Create an invocation (state new; handler may be NULL) with one waiting
 * step per id, in one transaction (or in the caller's). Returns 0 and *id.
 */
int mt_invocation_store_insert(mt_db_t *db, const mt_invocation_t *inv, const char *const *step_ids, size_t nsteps,
                               int64_t *id);

/*
 * Invocations newest first, skipping offset, at most limit (< 0: no
 * limit); only those owned by `user` unless it is NULL, only those of
 * `workflow_id` unless it is NULL, only those in a state of `states` (a
 * mask of MT_INV_BIT) unless it is 0. Steps are not read. Returns 0 with a
 * new array in *out (free each with mt_invocation_clear, then the array),
 * its length in *n, and in *total (if not NULL) the number matching
 * regardless of limit and offset; or a negative value.
 */
int mt_invocation_store_list(mt_db_t *db, const char *user, const char *workflow_id, unsigned states, int64_t limit,
                             int64_t offset, mt_invocation_t **out, size_t *n, int64_t *total);

/* Parse a state name: 0 and *out, or -1. */
int mt_invocation_state_parse(const char *name, mt_invocation_state_t *out);

/* Read one invocation (-ENOENT if none) / its steps in step order. */
int mt_invocation_store_get(mt_db_t *db, int64_t id, mt_invocation_t *out);
int mt_invocation_store_steps(mt_db_t *db, int64_t id, mt_invocation_step_t **steps, size_t *n);

/*
 * Take invocation id for handler: unassigned and new, or already assigned
 * to it and new. It becomes `scheduling`. Returns 1 if it is now this
 * handler's to schedule (also when it already was), 0 if not, or < 0.
 */
int mt_invocation_store_claim(mt_db_t *db, int64_t id, const char *handler);

/* Move the invocation from a state in `from` (a mask of MT_INV_BIT) to `to`, with info (may be NULL). 1/0/<0. */
int mt_invocation_store_set_state(mt_db_t *db, int64_t id, unsigned from, mt_invocation_state_t to, const char *info);

/* Move a step from a state in `from` (a mask of MT_INV_BIT of mt_step_state_t) to `to`; job_id 0 keeps it. 1/0/<0. */
int mt_invocation_store_set_step(mt_db_t *db, int64_t id, int index, unsigned from, mt_step_state_t to,
                                 int64_t job_id, const char *info);

/* Ids of the invocations a handler owns in state new (and scheduling, unless new_only), oldest first (free *ids). */
int mt_invocation_store_of_handler(mt_db_t *db, const char *handler, bool new_only, int64_t **ids, size_t *n);

/*
 * Ids of the scheduling invocations of `handler` with a running step whose
 * job has ended: a step job run by another handler (the job configuration
 * sent it there), for the poll to settle. 0 or <0 (free *ids).
 */
int mt_invocation_store_settle_due(mt_db_t *db, const char *handler, int64_t **ids, size_t *n);

/* db-skip-locked: claim the oldest unassigned new invocation waiting at queue for handler. 1 and *id, 0, <0. */
int mt_invocation_store_claim_next(mt_db_t *db, const char *queue, const char *handler, int64_t *id);

/* Ids of unassigned new invocations waiting at queue, created before created_before_us, oldest first. */
int mt_invocation_store_unassigned(mt_db_t *db, const char *queue, int64_t created_before_us, size_t limit,
                                   int64_t **ids, size_t *n);

#endif
