/*
 * offload: a small pool of threads that run blocking work for event loops,
 * and hand each piece back to the loop it came from.
 *
 * A web thread's loop must never wait on a database (a write held behind
 * another process's lock, a slow query, a server that does not answer):
 * every other connection of that thread would wait with it. Routes marked
 * MT_ROUTE_OFFLOAD therefore run here instead (http_request.c), on a pool
 * of `route-threads` threads per web worker process, each of which may
 * keep state of its own (the job application opens one database
 * connection per thread). The loop goes on serving its other connections
 * and learns of each finished task through its inbox (a uv_async_t).
 *
 * Tasks are taken in order of submission, with one rule: tasks that write
 * (task->writes: the HTTP layer sets it for every method but GET, HEAD and
 * OPTIONS) may occupy at most nthreads - 1 threads at once (all of them
 * when there is one), so that reads are never all stuck behind writes
 * waiting for a lock (a POST that waits 10 s for SQLite's write lock, and
 * several more queued behind it, do not hold up GET /api/jobs/7).
 *
 * Lifetimes: a task is the caller's memory (embed it first in a struct of
 * your own) and stays untouched by the caller from mt_offload_submit()
 * until its inbox's done callback gets it back; the done callback always
 * comes, once, on the inbox's loop, whether the task ran or was cancelled
 * before it started.
 */
#ifndef MT_OFFLOAD_H
#define MT_OFFLOAD_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

typedef struct mt_offload_pool mt_offload_pool_t;
typedef struct mt_offload_inbox mt_offload_inbox_t;
typedef struct mt_offload_task mt_offload_task_t;

struct mt_offload_task {
    /* Set by the caller before mt_offload_submit(). */
    void (*run)(mt_offload_task_t *task, size_t thread_index); /* on a pool thread: index 0 .. nthreads-1 */
    bool writes;                 /* in the write lane (at most nthreads - 1 such tasks run at once) */

    /* Owned by offload.c while submitted. */
    mt_offload_inbox_t *inbox;   /* where it goes back */
    mt_offload_task_t *next;     /* in the pool's queue, then in the inbox's list */
    atomic_bool cancelled;       /* mt_offload_cancel(): not started yet means never started */
    bool ran;                    /* run() was called (read in the done callback) */
};

/*
 * Start `nthreads` (>= 1) threads. thread_start, if not NULL, runs first on
 * each thread with its index and `data` (to name the thread for the log,
 * say). Returns NULL with a message in err if a thread cannot be created.
 * Threads inherit the caller's signal mask.
 */
mt_offload_pool_t *mt_offload_pool_create(size_t nthreads, void (*thread_start)(size_t index, void *data), void *data,
                                          char *err, size_t errlen);

/*
 * Stop the threads and free the pool; accepts NULL. Call once nothing is
 * queued or running (every inbox's tasks came back): a task still running
 * would be waited for. Any thread but the pool's.
 */
void mt_offload_pool_destroy(mt_offload_pool_t *pool);

size_t mt_offload_pool_threads(const mt_offload_pool_t *pool);

/* Tasks waiting for a thread, and tasks running now (a snapshot). Any thread. */
void mt_offload_pool_stats(mt_offload_pool_t *pool, size_t *queued, size_t *running);

/*
 * An inbox on `loop`: done_cb(task, data) runs on that loop for each task
 * submitted with it, once the task has run or was cancelled before it
 * started (task->ran tells which). Returns 0, or a negative libuv error
 * (the async handle could not be made). Loop thread only.
 */
int mt_offload_inbox_init(mt_offload_inbox_t **inbox, uv_loop_t *loop,
                          void (*done_cb)(mt_offload_task_t *task, void *data), void *data);

/*
 * Close the inbox's handle; it is freed once the loop has run its close
 * callback. Only with no task outstanding (asserted). Accepts NULL.
 */
void mt_offload_inbox_close(mt_offload_inbox_t *inbox);

/* Tasks submitted with this inbox whose done callback has not run yet. Loop thread. */
size_t mt_offload_inbox_outstanding(const mt_offload_inbox_t *inbox);

/* Queue task (run and writes set) to come back to inbox. Loop thread of the inbox. */
void mt_offload_submit(mt_offload_pool_t *pool, mt_offload_inbox_t *inbox, mt_offload_task_t *task);

/*
 * Ask that the task not run if it has not started: its done callback then
 * comes with task->ran false. A task already running runs to its end.
 * Loop thread of the inbox (any thread would do).
 */
void mt_offload_cancel(mt_offload_task_t *task);

#endif
