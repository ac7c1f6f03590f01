/*
 * spawner: the queue and the thread that wait out posix_spawn() for a loop
 * (see spawner.h). One mutex guards the queue; the thread takes requests
 * oldest first and runs each outside the lock, so a submission never waits
 * for a spawn in progress.
 */
#include "common/spawner.h"

#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <unistd.h>

static void *spawner_main(void *arg)
{
    mt_spawner_t *sp = arg;
    pthread_mutex_lock(&sp->lock);
    for (;;) {
        while (!sp->head)
            pthread_cond_wait(&sp->wake, &sp->lock);
        mt_spawn_request_t *req = sp->head;
        sp->head = req->next;
        if (!sp->head)
            sp->tail = &sp->head;
        pthread_mutex_unlock(&sp->lock);
        req->run(req);
        pthread_mutex_lock(&sp->lock);
    }
    return NULL;
}

/* Start sp's thread in this process, sp->lock held. Returns 0 or a negative errno value. */
static int spawner_start(mt_spawner_t *sp)
{
    /*
     * A forked child's copy of the condition variable may still count the
     * parent's thread as a waiter, which would swallow a wakeup meant for
     * ours; no thread of this process waits on it yet.
     */
    pthread_cond_init(&sp->wake, NULL);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 256 * 1024); /* posix_spawn() gives the child a stack of its own */
    /* No signal for this thread: the loop's thread handles them, and the child starts with none blocked. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_t tid;
    int rc = pthread_create(&tid, &attr, spawner_main, sp);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    if (rc != 0)
        return -rc;
    sp->owner = getpid();
    sp->head = NULL; /* a forked child inherits its parent's queue, not its thread */
    sp->tail = &sp->head;
    return 0;
}

int mt_spawner_submit(mt_spawner_t *sp, mt_spawn_request_t *req)
{
    pthread_mutex_lock(&sp->lock);
    if (sp->owner != getpid()) {
        int rc = spawner_start(sp);
        if (rc != 0) {
            pthread_mutex_unlock(&sp->lock);
            return rc;
        }
    }
    req->next = NULL;
    *sp->tail = req;
    sp->tail = &req->next;
    pthread_cond_signal(&sp->wake);
    pthread_mutex_unlock(&sp->lock);
    return 0;
}
