/*
 * spawner: a thread that waits out posix_spawn() or vfork() so a libuv loop
 * need not; also a plain work queue for what must not run on a loop.
 *
 * glibc's posix_spawn() is clone(CLONE_VM | CLONE_VFORK): it returns only
 * once the child has called exec, milliseconds on a busy machine, and a loop
 * blocked that long holds back every message and claim behind it. So a
 * caller prepares on its loop what the spawn needs, embeds an
 * mt_spawn_request_t in that state and submits it here; the spawner's thread
 * calls the request's run function, which does the spawn (and any
 * wait that belongs to it), sets the caller's result fields and tells the
 * caller's loop, typically with uv_async_send(). This module is only the
 * queue and the thread: it knows nothing of libuv or of what a request does.
 *
 * A spawner is one queue, first in first out, and at most one thread per
 * process: the first submission starts the thread, and so does the first
 * one in a forked child, which inherits the queue's memory but not the
 * thread (the queue it inherits is dropped). Each user has a spawner of its
 * own (runner_local.c, slurm_command.c), so that a local job's start never
 * waits behind a Slurm command's, nor one of those behind a job's exec.
 * The thread never ends; it blocks every signal (the loop's thread takes
 * them, and a child spawned from it starts with none blocked) and runs on a
 * 256 KiB stack (posix_spawn() gives the child a stack of its own).
 */
#ifndef MT_SPAWNER_H
#define MT_SPAWNER_H

#include <pthread.h>
#include <sys/types.h>

typedef struct mt_spawn_request mt_spawn_request_t;

/*
 * A request, embedded in the caller's own state (recover it with offsetof).
 * The caller sets run; next belongs to the spawner from submission until run
 * is called.
 */
struct mt_spawn_request {
    void (*run)(mt_spawn_request_t *req); /* on the spawner's thread, once; its last touch of req */
    mt_spawn_request_t *next;             /* the spawner's: the next request in its queue */
};

/*
 * The caller owns the memory (a static object, set with MT_SPAWNER_INIT);
 * its fields are the spawner's own.
 */
typedef struct mt_spawner {
    pthread_mutex_t lock;
    pthread_cond_t wake;              /* a request was queued */
    mt_spawn_request_t *head, **tail; /* requests not yet run, oldest first */
    pid_t owner;                      /* the process whose thread this is: a forked child starts its own */
} mt_spawner_t;

#define MT_SPAWNER_INIT {.lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER}

/*
 * Queue req on sp, starting sp's thread first if this process has none.
 * req->run must be set; req must stay valid until its run function has been
 * called, and run is called once, on sp's thread, after every request
 * submitted to sp before it. Any thread. Returns 0, or a negative errno
 * value when the thread cannot be started (-EAGAIN, as pthread_create()
 * gives it): req is then not queued and the caller still owns it.
 *
 * A process that forks while sp's thread may hold sp->lock (a moment
 * between two requests) leaves the child a lock nobody will release; the
 * callers fork only to exec, or hold sp->lock across fork() themselves.
 */
int mt_spawner_submit(mt_spawner_t *sp, mt_spawn_request_t *req);

#endif
