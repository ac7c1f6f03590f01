/*
 * heartbeat: the loop timer that beats, and mt_heartbeat() (see heartbeat.h).
 */
#include "stack/heartbeat.h"

#include <stddef.h>

#include "common/clock.h"
#include "muleteer.h"
#include "stack/proctable.h"

/* The calling thread's cell, once its loop beats (NULL in threads without a heartbeat). */
static _Thread_local _Atomic int64_t *thread_cell;

void mt_heartbeat_store(_Atomic int64_t *cell)
{
    atomic_store_explicit(cell, mt_clock_us(), memory_order_relaxed);
}

static void beat_cb(uv_timer_t *timer)
{
    mt_heartbeat_t *hb = timer->data;
    mt_heartbeat_store(hb->cell);
}

int mt_heartbeat_start(mt_heartbeat_t *hb, uv_loop_t *loop, _Atomic int64_t *cell)
{
    hb->cell = cell;
    int rc = uv_timer_init(loop, &hb->timer);
    if (rc < 0)
        return rc;
    hb->timer.data = hb;
    rc = uv_timer_start(&hb->timer, beat_cb, 0, MT_BEAT_INTERVAL_MS);
    if (rc < 0)
        return rc;
    uv_unref((uv_handle_t *)&hb->timer);
    thread_cell = cell;
    return 0;
}

void mt_heartbeat(const mt_stack_t *stack)
{
    (void)stack;
    if (thread_cell)
        mt_heartbeat_store(thread_cell);
}
