/*
 * job_accept: group commit for new jobs (see job_accept.h).
 *
 * A queue of waiting requests under one mutex. A request that finds no
 * leader becomes one; the leader takes the whole queue, releases the
 * mutex for the transaction, then marks its batch done and wakes everyone.
 * A waiter woken with its request not done and no leader takes over.
 */
#include "app/store/job_accept.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "app/store/job_store.h"

typedef struct accept_req {
    const mt_job_t *job;
    mt_job_t *stored;
    int64_t id;
    int rc;
    bool done;
    char err[256];
    struct accept_req *next;
} accept_req_t;

static pthread_mutex_t queue_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t queue_done = PTHREAD_COND_INITIALIZER;
static accept_req_t *queue_head;
static accept_req_t **queue_tail = &queue_head;
static bool leading;

/* Insert a batch in one transaction through db; every request gets the outcome. */
static void commit_batch(mt_db_t *db, accept_req_t *batch)
{
    int rc = mt_db_begin(db);
    for (accept_req_t *r = batch; r && rc == 0; r = r->next)
        rc = mt_job_store_insert(db, r->job, &r->id, r->stored);
    if (rc == 0)
        rc = mt_db_commit(db); /* rolls back itself on failure */
    else
        mt_db_rollback(db);
    for (accept_req_t *r = batch; r; r = r->next) {
        r->rc = rc;
        if (rc < 0) {
            snprintf(r->err, sizeof r->err, "%s", mt_db_errmsg(db));
            r->id = 0;
            if (r->stored)
                mt_job_clear(r->stored);
        }
    }
}

int mt_job_accept(mt_db_t *db, const mt_job_t *job, int64_t *id, mt_job_t *stored, char *err, size_t errlen)
{
    accept_req_t me = {.job = job, .stored = stored};
    if (stored)
        memset(stored, 0, sizeof *stored);
    pthread_mutex_lock(&queue_lock);
    *queue_tail = &me;
    queue_tail = &me.next;
    for (;;) {
        while (!me.done && leading)
            pthread_cond_wait(&queue_done, &queue_lock);
        if (me.done)
            break;
        /* No round in progress and ours not done: lead one, with whatever waits. */
        leading = true;
        accept_req_t *batch = queue_head;
        queue_head = NULL;
        queue_tail = &queue_head;
        pthread_mutex_unlock(&queue_lock);
        commit_batch(db, batch);
        pthread_mutex_lock(&queue_lock);
        for (accept_req_t *r = batch, *next; r; r = next) {
            next = r->next; /* r belongs to its thread once done is set */
            r->done = true;
        }
        leading = false;
        pthread_cond_broadcast(&queue_done);
    }
    pthread_mutex_unlock(&queue_lock);
    *id = me.id;
    if (me.rc < 0 && err && errlen)
        snprintf(err, errlen, "%s", me.err);
    return me.rc;
}

void mt_job_accept_state(bool *leading_now, size_t *waiting)
{
    pthread_mutex_lock(&queue_lock);
    *leading_now = leading;
    size_t n = 0;
    for (accept_req_t *r = queue_head; r; r = r->next)
        n++;
    *waiting = n;
    pthread_mutex_unlock(&queue_lock);
}
