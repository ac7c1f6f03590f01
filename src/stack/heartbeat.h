/*
 * heartbeat: each event loop of the stack says it is alive.
 *
 * A heartbeat is a repeating uv timer on a loop (every
 * MT_BEAT_INTERVAL_MS) that stores CLOCK_MONOTONIC microseconds into a
 * cell: a built-in mule's (or standalone's) beats straight into its live
 * slot (proctable.h); each web thread beats into a cell of its own, and
 * the worker's main thread publishes the oldest of them in the slot
 * (web_worker.c). Because the timer runs on the loop itself, a loop
 * blocked in a long callback (a message handler, a job's synchronous
 * step), or a process stopped by SIGSTOP, stops beating: that silence is
 * what the master's mule-harakiri and /api/stack's "beating" look for.
 * The timer is unreferenced, so it never keeps a loop alive by itself,
 * and it is closed with the loop's other handles.
 *
 * mt_heartbeat() (muleteer.h) lets application code beat between the
 * steps of a long synchronous task that is making progress.
 */
#ifndef MT_HEARTBEAT_H
#define MT_HEARTBEAT_H

#include <stdatomic.h>
#include <stdint.h>
#include <uv.h>

typedef struct mt_heartbeat {
    uv_timer_t timer;
    _Atomic int64_t *cell; /* where the beats go */
} mt_heartbeat_t;

/*
 * Start beating into *cell from the calling thread's loop: the first beat
 * on the loop's next turn, then every MT_BEAT_INTERVAL_MS. hb must stay
 * valid until its timer is closed (with the loop's handles). Also makes
 * *cell the calling thread's cell for mt_heartbeat(). 0 or -errno.
 */
int mt_heartbeat_start(mt_heartbeat_t *hb, uv_loop_t *loop, _Atomic int64_t *cell);

/* Store the current CLOCK_MONOTONIC microseconds into *cell now. */
void mt_heartbeat_store(_Atomic int64_t *cell);

#endif
