/*
 * offload: threads that run blocking work for event loops (see offload.h).
 *
 * One queue under one mutex, FIFO but for the write lane's limit; a thread
 * takes the first task it may run. A finished task goes onto its inbox's
 * list (a mutex of its own) and the inbox's uv_async_t is sent: libuv
 * coalesces the wake-ups, so the callback drains the whole list each time.
 */
#include "stack/offload.h"

#include <assert.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"

struct mt_offload_pool {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    mt_offload_task_t *head, **tail; /* queued, in order */
    size_t queued;
    size_t running;
    size_t running_writes;
    size_t max_writes;               /* nthreads - 1, at least 1 */
    bool stopping;
    size_t nthreads;
    pthread_t *threads;
    void (*thread_start)(size_t index, void *data);
    void *data;
    size_t next_index;               /* handed to each thread as it starts */
};

struct mt_offload_inbox {
    uv_async_t async;
    pthread_mutex_t lock;
    mt_offload_task_t *head, **tail; /* finished, in order */
    void (*done_cb)(mt_offload_task_t *task, void *data);
    void *data;
    size_t outstanding;              /* loop thread only */
};

/* The first task this pool may start now, unlinked; NULL if none. Under the lock. */
static mt_offload_task_t *take_next(mt_offload_pool_t *pool)
{
    for (mt_offload_task_t **link = &pool->head; *link; link = &(*link)->next) {
        mt_offload_task_t *t = *link;
        if (t->writes && pool->running_writes >= pool->max_writes)
            continue;
        *link = t->next;
        if (pool->tail == &t->next)
            pool->tail = link;
        t->next = NULL;
        pool->queued--;
        return t;
    }
    return NULL;
}

static void inbox_put(mt_offload_inbox_t *inbox, mt_offload_task_t *task)
{
    pthread_mutex_lock(&inbox->lock);
    *inbox->tail = task;
    inbox->tail = &task->next;
    pthread_mutex_unlock(&inbox->lock);
    uv_async_send(&inbox->async);
}

static void *pool_thread(void *arg)
{
    mt_offload_pool_t *pool = arg;
    pthread_mutex_lock(&pool->lock);
    size_t index = pool->next_index++;
    pthread_mutex_unlock(&pool->lock);
    if (pool->thread_start)
        pool->thread_start(index, pool->data);

    pthread_mutex_lock(&pool->lock);
    for (;;) {
        mt_offload_task_t *task = take_next(pool);
        if (!task) {
            if (pool->stopping)
                break;
            pthread_cond_wait(&pool->wake, &pool->lock);
            continue;
        }
        pool->running++;
        pool->running_writes += task->writes;
        pthread_mutex_unlock(&pool->lock);

        task->ran = !atomic_load(&task->cancelled);
        if (task->ran)
            task->run(task, index);
        bool writes = task->writes;
        inbox_put(task->inbox, task); /* the task is its owner's again: touch nothing of it after this */

        pthread_mutex_lock(&pool->lock);
        pool->running--;
        pool->running_writes -= writes;
        if (writes && pool->head)
            pthread_cond_broadcast(&pool->wake); /* a write's slot is free: a queued write may now start */
    }
    pthread_mutex_unlock(&pool->lock);
    return NULL;
}

mt_offload_pool_t *mt_offload_pool_create(size_t nthreads, void (*thread_start)(size_t index, void *data), void *data,
                                          char *err, size_t errlen)
{
    assert(nthreads >= 1);
    mt_offload_pool_t *pool = mt_calloc(1, sizeof *pool);
    pthread_mutex_init(&pool->lock, NULL);
    pthread_cond_init(&pool->wake, NULL);
    pool->tail = &pool->head;
    pool->max_writes = nthreads > 1 ? nthreads - 1 : 1;
    pool->thread_start = thread_start;
    pool->data = data;
    pool->threads = mt_calloc(nthreads, sizeof *pool->threads);
    for (size_t i = 0; i < nthreads; i++) {
        int rc = pthread_create(&pool->threads[i], NULL, pool_thread, pool);
        if (rc != 0) {
            snprintf(err, errlen, "cannot start offload thread %zu of %zu: %s", i + 1, nthreads, strerror(rc));
            mt_offload_pool_destroy(pool);
            return NULL;
        }
        pool->nthreads++;
    }
    return pool;
}

void mt_offload_pool_destroy(mt_offload_pool_t *pool)
{
    if (!pool)
        return;
    pthread_mutex_lock(&pool->lock);
    assert(pool->head == NULL);
    pool->stopping = true;
    pthread_cond_broadcast(&pool->wake);
    pthread_mutex_unlock(&pool->lock);
    for (size_t i = 0; i < pool->nthreads; i++)
        pthread_join(pool->threads[i], NULL);
    pthread_cond_destroy(&pool->wake);
    pthread_mutex_destroy(&pool->lock);
    free(pool->threads);
    free(pool);
}

size_t mt_offload_pool_threads(const mt_offload_pool_t *pool)
{
    return pool->nthreads;
}

void mt_offload_pool_stats(mt_offload_pool_t *pool, size_t *queued, size_t *running)
{
    pthread_mutex_lock(&pool->lock);
    *queued = pool->queued;
    *running = pool->running;
    pthread_mutex_unlock(&pool->lock);
}

void mt_offload_submit(mt_offload_pool_t *pool, mt_offload_inbox_t *inbox, mt_offload_task_t *task)
{
    assert(task->run != NULL);
    task->inbox = inbox;
    task->next = NULL;
    task->ran = false;
    atomic_store(&task->cancelled, false);
    inbox->outstanding++;
    pthread_mutex_lock(&pool->lock);
    *pool->tail = task;
    pool->tail = &task->next;
    pool->queued++;
    pthread_cond_signal(&pool->wake);
    pthread_mutex_unlock(&pool->lock);
}

void mt_offload_cancel(mt_offload_task_t *task)
{
    atomic_store(&task->cancelled, true);
}

/* ---- inboxes ---- */

static void inbox_async_cb(uv_async_t *async)
{
    mt_offload_inbox_t *inbox = async->data;
    pthread_mutex_lock(&inbox->lock);
    mt_offload_task_t *list = inbox->head;
    inbox->head = NULL;
    inbox->tail = &inbox->head;
    pthread_mutex_unlock(&inbox->lock);
    while (list) {
        mt_offload_task_t *task = list;
        list = task->next;
        task->next = NULL;
        assert(inbox->outstanding > 0);
        inbox->outstanding--;
        inbox->done_cb(task, inbox->data); /* may free the task */
    }
}

int mt_offload_inbox_init(mt_offload_inbox_t **out, uv_loop_t *loop,
                          void (*done_cb)(mt_offload_task_t *task, void *data), void *data)
{
    mt_offload_inbox_t *inbox = mt_calloc(1, sizeof *inbox);
    int rc = uv_async_init(loop, &inbox->async, inbox_async_cb);
    if (rc < 0) {
        free(inbox);
        *out = NULL;
        return rc;
    }
    pthread_mutex_init(&inbox->lock, NULL);
    inbox->async.data = inbox;
    inbox->tail = &inbox->head;
    inbox->done_cb = done_cb;
    inbox->data = data;
    *out = inbox;
    return 0;
}

static void inbox_closed_cb(uv_handle_t *handle)
{
    mt_offload_inbox_t *inbox = handle->data;
    pthread_mutex_destroy(&inbox->lock);
    free(inbox);
}

void mt_offload_inbox_close(mt_offload_inbox_t *inbox)
{
    if (!inbox)
        return;
    assert(inbox->outstanding == 0);
    uv_close((uv_handle_t *)&inbox->async, inbox_closed_cb);
}

size_t mt_offload_inbox_outstanding(const mt_offload_inbox_t *inbox)
{
    return inbox->outstanding;
}
