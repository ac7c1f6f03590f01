/*
 * mule: the built-in mule loop (see mule.h).
 *
 * Fairness: each readiness event takes at most MULE_BURST messages before
 * returning to the loop, so one busy farm cannot starve the mule's own
 * channel, its other farms or a shutdown signal. A reader that loses the
 * race for a farm message (EAGAIN) simply waits again.
 */
#define MT_LOG_NAME "muleteer.stack.mule"

#include "stack/mule.h"

#include <errno.h>
#include <stdbool.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "stack/channel.h"
#include "common/log.h"
#include "common/mem.h"
#include "stack/heartbeat.h"
#include "stack/metrics.h"
#include "stack/stack.h"

#define MULE_BATCH 32
#define MULE_BURST 256

typedef struct mule_source {
    uv_poll_t poll;
    int fd;
    bool farm;         /* a farm's queue (flow-controlled), not the mule's own channel */
    bool polling;
    const char *label; /* "own channel" or the farm name */
} mule_source_t;

typedef struct mule {
    mt_stack_t *stack;
    uv_loop_t loop;
    mt_recv_batch_t *batch;
    mule_source_t *sources;
    size_t nsources;
    uv_signal_t signals[3];
    mt_heartbeat_t heartbeat; /* beats into its live slot from this loop (heartbeat.h) */
    int exit_status;
    long credit;             /* farm messages it may still take; -1: no limit */
} mule_t;

static mule_t *running_mule; /* the loop of this process, for mt_mule_set_credit */

static void on_readable(uv_poll_t *handle, int status, int events);

/* Poll the farms exactly when credit allows taking from them. */
static void update_farm_polling(mule_t *m)
{
    bool want = m->credit != 0;
    for (size_t i = 0; i < m->nsources; i++) {
        mule_source_t *src = &m->sources[i];
        if (!src->farm || src->polling == want)
            continue;
        if (want)
            uv_poll_start(&src->poll, UV_READABLE, on_readable);
        else
            uv_poll_stop(&src->poll);
        src->polling = want;
    }
}

void mt_mule_set_credit(mt_stack_t *stack, long credit)
{
    (void)stack;
    if (!running_mule)
        return;
    running_mule->credit = credit < 0 ? -1 : credit;
    update_farm_polling(running_mule);
}

static void handle_batch(mule_t *m, mule_source_t *src, int count)
{
    mt_proc_live_t *live = m->stack->procs.procs[m->stack->self_slot].live;
    for (int i = 0; i < count; i++) {
        size_t len;
        int truncated;
        void *buf = mt_recv_batch_get(m->batch, (unsigned)i, &len, &truncated);
        mt_message_t msg;
        char target[MT_MSG_TARGET_MAX + 1];
        if (truncated || mt_frame_decode(buf, len, &msg, target) < 0) {
            mt_error("malformed message of %zu bytes on %s: discarded", len, src->label);
            continue;
        }
        if (mt_registry_dispatch(m->stack->handlers, m->stack, &msg) < 0)
            mt_error("no handler registered for message target \"%s\" (%zu bytes, from %s) on %s: discarded",
                     msg.target, msg.len,
                     (size_t)msg.sender_slot < m->stack->procs.nprocs
                         ? mt_proctable_server_name(&m->stack->procs, (size_t)msg.sender_slot)
                         : "?",
                     src->label);
        else
            atomic_fetch_add_explicit(&live->msgs_handled, 1, memory_order_relaxed);
    }
}

static void on_readable(uv_poll_t *handle, int status, int events)
{
    mule_source_t *src = handle->data;
    mule_t *m = handle->loop->data;
    if (status < 0) {
        mt_error("polling %s failed: %s", src->label, uv_strerror(status));
        return;
    }
    mt_proc_live_t *live = m->stack->procs.procs[m->stack->self_slot].live;
    if (src->farm)
        atomic_fetch_add_explicit(&live->farm_wakeups, 1, memory_order_relaxed);
    int taken = 0;
    while (taken < MULE_BURST && src->polling) {
        unsigned max = MULE_BATCH;
        if (src->farm && m->credit >= 0)
            max = m->credit < MULE_BATCH ? (unsigned)m->credit : MULE_BATCH;
        if (max == 0)
            return;
        int n = mt_channel_recv_upto(src->fd, m->batch, max);
        if (n == -EAGAIN) {
            if (src->farm && taken == 0)
                atomic_fetch_add_explicit(&live->farm_empty_wakeups, 1, memory_order_relaxed);
            return; /* empty, or another mule of the farm took it: wait again */
        }
        if (n < 0) {
            mt_alert("receiving on %s failed: %s", src->label, strerror(-n));
            m->exit_status = 1;
            uv_stop(handle->loop);
            return;
        }
        if (src->farm && m->credit > 0)
            m->credit -= n < m->credit ? n : m->credit; /* used up before the handlers may grant more */
        mt_metrics_farm_received(m->stack, src->farm ? src->label : NULL, n);
        handle_batch(m, src, n);
        update_farm_polling(m);
        taken += n;
    }
}

static void on_signal(uv_signal_t *handle, int signum)
{
    mule_t *m = handle->loop->data;
    mt_info("%s received: %s", strsignal(signum),
            mt_stack_reloading(m->stack) ? "stopping for a reload (a mule of this name starts next)" : "stopping");
    m->exit_status = 0;
    uv_stop(handle->loop);
}

static void close_cb(uv_handle_t *h)
{
    (void)h;
}

static void close_walk(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, close_cb);
}

int mt_mule_run(mt_stack_t *stack)
{
    mt_proctable_t *t = &stack->procs;
    mt_proc_t *self = &t->procs[stack->self_slot];
    mule_t m = {.stack = stack};
    int rc = uv_loop_init(&m.loop);
    if (rc < 0) {
        mt_alert("uv_loop_init() failed: %s", uv_strerror(rc));
        return MT_EXIT_FATAL;
    }
    m.loop.data = &m;
    mt_stack__set_thread_loop(&m.loop);
    m.batch = mt_recv_batch_create(MULE_BATCH);

    /* Its own channel, then its farms' (a standalone process has none). */
    m.sources = mt_calloc(1 + self->nfarms, sizeof *m.sources);
    if (self->channel.recv_fd >= 0) {
        m.sources[m.nsources].fd = self->channel.recv_fd;
        m.sources[m.nsources++].label = "own channel";
    }
    for (size_t k = 0; k < self->nfarms; k++) {
        m.sources[m.nsources].fd = t->farms[self->farms[k]].channel.recv_fd;
        m.sources[m.nsources].farm = true;
        m.sources[m.nsources++].label = t->farms[self->farms[k]].name;
    }
    for (size_t i = 0; i < m.nsources; i++) {
        uv_poll_init(&m.loop, &m.sources[i].poll, m.sources[i].fd);
        m.sources[i].poll.data = &m.sources[i];
        uv_poll_start(&m.sources[i].poll, UV_READABLE, on_readable);
        m.sources[i].polling = true;
    }
    m.credit = -1;
    running_mule = &m;
    const int sigs[3] = {SIGTERM, SIGINT, SIGQUIT};
    for (int i = 0; i < 3; i++) {
        uv_signal_init(&m.loop, &m.signals[i]);
        uv_signal_start(&m.signals[i], on_signal, sigs[i]);
    }
    /* Before mule_start: the first beat comes from the loop's first turn, so a start-up that never
     * reaches the loop never beats (mule-harakiri counts from the fork then). */
    rc = mt_heartbeat_start(&m.heartbeat, &m.loop, &self->live->beat_mono_us);
    if (rc < 0)
        mt_error("the heartbeat timer could not start: %s; this process will show as not beating", uv_strerror(rc));

    if (stack->app && stack->app->mule_start)
        stack->app->mule_start(stack, stack->app->app_data);
    if (self->role == MT_ROLE_MULE)
        mt_info("%s (pid %d) ready: mule %d, %zu farm%s", mt_stack_server_name(stack), (int)getpid(), self->mule_id,
                self->nfarms, self->nfarms == 1 ? "" : "s");
    else
        mt_info("%s (pid %d): standalone process ready in pool %s", mt_stack_server_name(stack), (int)getpid(),
                self->pool);

    uv_run(&m.loop, UV_RUN_DEFAULT);

    if (stack->app && stack->app->mule_stop)
        stack->app->mule_stop(stack, stack->app->app_data);
    running_mule = NULL;
    uv_walk(&m.loop, close_walk, NULL);
    uv_run(&m.loop, UV_RUN_DEFAULT);
    uv_loop_close(&m.loop);
    mt_recv_batch_destroy(m.batch);
    free(m.sources);
    return m.exit_status;
}
