/*
 * mule: the built-in mule loop (see mule.h).
 *
 * How it waits: a mule in no farm runs its libuv loop as it is. A farm
 * mule blocks in its own epoll set instead (farm_wait.h), which holds the
 * loop's backend descriptor and its farms' sockets registered exclusively,
 * so that a farm message wakes one idle mule of the farm, not all of them;
 * after each wait it reads the farms that woke it and runs the loop once
 * without blocking (UV_RUN_NOWAIT), for at most uv_backend_timeout() (the
 * next timer). Its own channel, signals, timers and children stay libuv
 * handles.
 *
 * Fairness: each wakeup takes at most MULE_BURST messages from a source
 * before returning to the loop, so one busy farm cannot starve the mule's
 * own channel, its other farms or a shutdown signal. A mule that stops
 * reading a farm while messages are left (the burst's end, its credit used
 * up) rings the farm's doorbell so another mule takes them. A reader that
 * loses the race for a farm message (EAGAIN) simply waits again; each
 * such empty wakeup is counted in the process's live slot.
 *
 * The check: the kernel counts an exclusive wakeup as delivered once it
 * has woken a mule. A mule killed after its wakeup and before its read
 * (SIGKILL, a crash) leaves the message in the queue while the other mules
 * sleep, until the next message or its successor's first wait. So every
 * MULE_CHECK_MS (with the heartbeat, in the same turn of the loop) an armed
 * mule also looks at its farms' queues without blocking and takes what
 * waits there. (A stopped mule, SIGSTOP or a debugger, is not waiting: the
 * kernel wakes another one.)
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
#include "stack/farm_wait.h"
#include "stack/heartbeat.h"
#include "stack/metrics.h"
#include "stack/stack.h"

#define MULE_BATCH 32
#define MULE_BURST 256
#define MULE_CHECK_MS MT_BEAT_INTERVAL_MS

typedef struct mule_source {
    uv_poll_t poll;    /* the own channel: its libuv watcher (farms are in the wait set) */
    int fd;
    bool farm;         /* a farm's queue (flow-controlled), not the mule's own channel */
    bool polling;      /* own channel: watched; farm: armed in the wait set */
    size_t wait_index; /* farm: its index in the wait set */
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
    uv_timer_t check;         /* farm mule: looks at its armed farms' queues (the top of the file) */
    int exit_status;
    bool stopping;           /* a signal or a failure ended the loop */
    long credit;             /* farm messages it may still take; -1: no limit */
    mt_farm_wait_t *wait;    /* its epoll set while it reads farms (NULL: none, libuv's loop waits) */
    size_t first_farm;       /* sources[first_farm + k] is farm k of the wait set */
    size_t nfarms;
    size_t *ready;           /* room for one index per farm, for mt_farm_wait_wait */
} mule_t;

static mule_t *running_mule; /* the loop of this process, for mt_mule_set_credit */

static void stop_loop(mule_t *m, int exit_status)
{
    m->exit_status = exit_status;
    m->stopping = true;
    uv_stop(&m->loop);
}

/* Wait on the farms exactly when credit allows taking from them; disarming leaves what is queued to the others. */
static void update_farm_polling(mule_t *m)
{
    bool want = m->credit != 0 && !m->stopping;
    for (size_t i = 0; i < m->nsources; i++) {
        mule_source_t *src = &m->sources[i];
        if (!src->farm || src->polling == want)
            continue;
        int rc = mt_farm_wait_arm(m->wait, src->wait_index, want);
        if (rc < 0) {
            mt_alert("%s farm %s in this mule's wait set failed: %s", want ? "arming" : "disarming", src->label,
                     strerror(-rc));
            stop_loop(m, 1);
            return;
        }
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

/* Take what waits on src, at most MULE_BURST messages (and the credit, for a farm). */
static void take(mule_t *m, mule_source_t *src)
{
    mt_proc_live_t *live = m->stack->procs.procs[m->stack->self_slot].live;
    if (src->farm)
        atomic_fetch_add_explicit(&live->farm_wakeups, 1, memory_order_relaxed);
    int taken = 0;
    while (taken < MULE_BURST && src->polling && !m->stopping) {
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
            stop_loop(m, 1);
            return;
        }
        if (src->farm && m->credit > 0)
            m->credit -= n < m->credit ? n : m->credit; /* used up before the handlers may grant more */
        mt_metrics_farm_received(m->stack, src->farm ? src->label : NULL, n);
        handle_batch(m, src, n);
        update_farm_polling(m); /* a farm disarmed here rings its doorbell if messages are left */
        taken += n;
    }
    if (src->farm && src->polling && taken >= MULE_BURST)
        (void)mt_farm_wait_pass(m->wait, src->wait_index); /* more may wait: an idle mule takes them meanwhile */
}

static void on_readable(uv_poll_t *handle, int status, int events)
{
    (void)events;
    mule_source_t *src = handle->data;
    mule_t *m = handle->loop->data;
    if (status < 0) {
        mt_error("polling %s failed: %s", src->label, uv_strerror(status));
        return;
    }
    take(m, src);
}

/* A message whose wakeup went to a mule that could not take it is taken by the next check of any armed mule. */
static void on_check(uv_timer_t *timer)
{
    mule_t *m = timer->loop->data;
    for (size_t k = 0; k < m->nfarms && !m->stopping; k++) {
        mule_source_t *src = &m->sources[m->first_farm + k];
        if (src->polling && mt_farm_queue_pending(src->fd))
            take(m, src);
    }
}

static void on_signal(uv_signal_t *handle, int signum)
{
    mule_t *m = handle->loop->data;
    mt_info("%s received: %s", strsignal(signum),
            mt_stack_reloading(m->stack) ? "stopping for a reload (a mule of this name starts next)" : "stopping");
    stop_loop(m, 0);
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

/* The farms' sources and the wait set that holds them (disarmed) beside the loop's backend. 0 or -errno. */
/* Close every handle of the loop, let their close callbacks run, and free what the mule holds. */
static void close_all(mule_t *m)
{
    uv_walk(&m->loop, close_walk, NULL);
    uv_run(&m->loop, UV_RUN_DEFAULT);
    uv_loop_close(&m->loop);
    mt_farm_wait_destroy(m->wait);
    free(m->ready);
    mt_recv_batch_destroy(m->batch);
    free(m->sources);
}

static int open_farms(mule_t *m, const mt_proctable_t *t, const mt_proc_t *self)
{
    int rc = mt_farm_wait_create(&m->wait, uv_backend_fd(&m->loop));
    if (rc < 0)
        return rc;
    m->ready = mt_calloc(self->nfarms, sizeof *m->ready);
    for (size_t k = 0; k < self->nfarms; k++) {
        const mt_farm_t *f = &t->farms[self->farms[k]];
        mule_source_t *src = &m->sources[m->nsources++];
        src->fd = f->channel.recv_fd;
        src->farm = true;
        src->label = f->name;
        rc = mt_farm_wait_add(m->wait, f->channel.recv_fd, f->doorbell_fd);
        if (rc < 0)
            return rc;
        src->wait_index = (size_t)rc;
    }
    m->nfarms = self->nfarms;
    return 0;
}

/*
 * Block in the wait set, read the farms that woke the mule, run the libuv loop once without blocking; until
 * stopped. The wait lasts at most until the loop's next timer (uv_backend_timeout, which is 0 while the loop
 * has work pending, such as watchers started since its last poll).
 */
static void run_farm_loop(mule_t *m)
{
    uv_run(&m->loop, UV_RUN_NOWAIT); /* the handles started so far reach the backend's epoll set */
    while (!m->stopping) {
        uv_update_time(&m->loop); /* the timeout counts from now, not from the last turn's start */
        int timeout = uv_loop_alive(&m->loop) ? uv_backend_timeout(&m->loop) : -1;
        int n = mt_farm_wait_wait(m->wait, timeout, m->ready, m->nfarms);
        if (n < 0) {
            mt_alert("waiting for messages failed: %s", strerror(-n));
            stop_loop(m, 1);
            break;
        }
        for (int k = 0; k < n && !m->stopping; k++)
            take(m, &m->sources[m->first_farm + m->ready[k]]);
        uv_run(&m->loop, UV_RUN_NOWAIT);
    }
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
    if (m.nsources) {
        uv_poll_init(&m.loop, &m.sources[0].poll, m.sources[0].fd);
        m.sources[0].poll.data = &m.sources[0];
        uv_poll_start(&m.sources[0].poll, UV_READABLE, on_readable);
        m.sources[0].polling = true;
    }
    m.first_farm = m.nsources;
    if (self->nfarms && (rc = open_farms(&m, t, self)) < 0) {
        mt_alert("this mule's wait set could not be made: %s", strerror(-rc));
        close_all(&m);
        return 1;
    }
    m.credit = -1;
    running_mule = &m;
    update_farm_polling(&m); /* armed: no credit limit until the application sets one */
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
    if (m.wait) {
        uv_timer_init(&m.loop, &m.check);
        uv_timer_start(&m.check, on_check, MULE_CHECK_MS, MULE_CHECK_MS); /* due with the heartbeat: one wakeup */
    }

    if (stack->app && stack->app->mule_start)
        stack->app->mule_start(stack, stack->app->app_data);
    if (self->role == MT_ROLE_MULE)
        mt_info("%s (pid %d) ready: mule %d, %zu farm%s", mt_stack_server_name(stack), (int)getpid(), self->mule_id,
                self->nfarms, self->nfarms == 1 ? "" : "s");
    else
        mt_info("%s (pid %d): standalone process ready in pool %s", mt_stack_server_name(stack), (int)getpid(),
                self->pool);

    if (m.wait)
        run_farm_loop(&m);
    else
        uv_run(&m.loop, UV_RUN_DEFAULT); /* no farm, no herd: libuv's loop waits */
    m.stopping = true;
    update_farm_polling(&m); /* out of the farms now: what is queued goes to the other mules */

    if (stack->app && stack->app->mule_stop)
        stack->app->mule_stop(stack, stack->app->app_data);
    running_mule = NULL;
    close_all(&m);
    return m.exit_status;
}
