/*
 * handler_wake: LISTEN/NOTIFY wake-ups for a handler (see handler_wake.h).
 */
#define MT_LOG_NAME "muleteer.jobs.wake"

#include "app/run/handler_wake.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/store/db_listen.h"
#include "common/log.h"
#include "common/mem.h"

#define RECONNECT_MS 1000

struct mt_handler_wake {
    mt_handler_t *h;
    char *own_channel;
    mt_db_listener_t *listener;
    uv_poll_t *poll;    /* on the listener's socket; NULL while the connection is down */
    uv_timer_t retry;
    bool down_logged;
};

static void on_note(const char *channel, const char *payload, void *data)
{
    mt_handler_wake_t *w = data;
    if (strcmp(channel, w->own_channel) == 0) {
        bool cancel = payload[0] == 'c';
        long long id = strtoll(payload + cancel, NULL, 10);
        if (id <= 0)
            return;
        if (cancel)
            mt_handler_check_cancel(w->h, id);
        else
            mt_handler_take(w->h, id);
        return;
    }
    mt_handler_claim(w->h); /* a pool's channel */
}

static void start_polling(mt_handler_wake_t *w);
static void retry_cb(uv_timer_t *timer);

static void free_handle_cb(uv_handle_t *handle)
{
    free(handle);
}

static void stop_polling(mt_handler_wake_t *w)
{
    if (!w->poll)
        return;
    uv_poll_stop(w->poll);
    uv_close((uv_handle_t *)w->poll, free_handle_cb);
    w->poll = NULL;
}

static void poll_cb(uv_poll_t *poll, int status, int events)
{
    mt_handler_wake_t *w = poll->data;
    (void)events;
    if (status >= 0 && mt_db_listener_read(w->listener, on_note, w) >= 0)
        return;
    /* The connection broke: the poll covers what is announced until it is back. */
    stop_polling(w);
    mt_warn("the job database's notifications are down (the handler polls meanwhile); connecting again");
    w->down_logged = true;
    uv_timer_start(&w->retry, retry_cb, RECONNECT_MS, 0);
}

static void retry_cb(uv_timer_t *timer)
{
    mt_handler_wake_t *w = timer->data;
    char err[512];
    if (mt_db_listener_reconnect(w->listener, err, sizeof err) < 0) {
        if (!w->down_logged)
            mt_warn("%s (tried again every %d ms)", err, RECONNECT_MS);
        w->down_logged = true;
        uv_timer_start(&w->retry, retry_cb, RECONNECT_MS, 0);
        return;
    }
    if (w->down_logged)
        mt_info("the job database's notifications are back");
    w->down_logged = false;
    start_polling(w);
    mt_handler_claim(w->h); /* what was committed meanwhile */
}

static void start_polling(mt_handler_wake_t *w)
{
    int fd = mt_db_listener_fd(w->listener);
    uv_poll_t *poll = mt_calloc(1, sizeof *poll);
    if (fd < 0 || uv_poll_init_socket(uv_handle_get_loop((uv_handle_t *)&w->retry), poll, fd) < 0) {
        free(poll);
        uv_timer_start(&w->retry, retry_cb, RECONNECT_MS, 0);
        return;
    }
    poll->data = w;
    uv_poll_start(poll, UV_READABLE, poll_cb);
    w->poll = poll;
}

mt_handler_wake_t *mt_handler_wake_start(mt_handler_t *h, uv_loop_t *loop, const char *location, const char *name,
                                         const char *const *pools, size_t npools)
{
    const char *channels[1 + 32];
    char *owned[1 + 32];
    size_t n = 0;
    owned[n] = mt_asprintf(MT_DB_CHANNEL_HANDLER "%s", name);
    channels[n] = owned[n];
    n++;
    for (size_t i = 0; i < npools && n < sizeof channels / sizeof *channels; i++, n++) {
        owned[n] = mt_asprintf(MT_DB_CHANNEL_POOL "%s", pools[i]);
        channels[n] = owned[n];
    }
    char err[512];
    mt_db_listener_t *listener;
    int rc = mt_db_listener_open(location, channels, n, &listener, err, sizeof err);
    mt_handler_wake_t *w = NULL;
    if (rc != -ENOTSUP) {
        w = mt_calloc(1, sizeof *w);
        w->h = h;
        w->own_channel = mt_strndup(owned[0], strnlen(owned[0], 63));
        w->listener = listener;
        uv_timer_init(loop, &w->retry);
        w->retry.data = w;
        if (rc < 0) {
            mt_warn("%s (the handler polls; tried again every %d ms)", err, RECONNECT_MS);
            w->down_logged = true;
            uv_timer_start(&w->retry, retry_cb, RECONNECT_MS, 0);
        } else {
            start_polling(w);
        }
    }
    for (size_t i = 0; i < n; i++)
        free(owned[i]);
    return w;
}

static void closed_cb(uv_handle_t *handle)
{
    mt_handler_wake_t *w = handle->data;
    mt_db_listener_close(w->listener);
    free(w->own_channel);
    free(w);
}

void mt_handler_wake_stop(mt_handler_wake_t *w)
{
    if (!w)
        return;
    stop_polling(w); /* before the listener's socket closes */
    uv_timer_stop(&w->retry);
    uv_close((uv_handle_t *)&w->retry, closed_cb);
}
