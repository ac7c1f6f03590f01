/*
 * http_server: accepting connections, drain and lifecycle (see http_server.h).
 *
 * The listening socket is shared by every web thread of every web worker,
 * so it is not handed to uv_listen(): libuv accepts in a loop until EAGAIN
 * and one thread would take every connection. Instead each thread watches
 * the socket with a uv_poll_t and accepts at most MT_HTTP_ACCEPT_BATCH
 * connections per wakeup; EAGAIN just means another thread won the race.
 * Connections themselves live in http_conn.c.
 *
 * Also here: the Date header cache (one per thread, reformatted once per
 * second) and the handle bookkeeping that lets mt_http_server_close() free
 * the server from the last close callback.
 */
#define MT_LOG_NAME "muleteer.stack.http"

#include "stack/http_conn.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"

#define ACCEPT_RETRY_MS 100 /* after EMFILE and friends, before polling again */

const char *mt_http__server_date(mt_http_server_t *server)
{
    time_t now = time(NULL);
    if (now != server->date_sec) {
        mt_http__format_date(now, server->date);
        server->date_sec = now;
    }
    return server->date;
}

void mt_http__format_date(time_t t, char *out)
{
    /* Not strftime: %a and %b follow the locale, HTTP wants English. */
    static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    struct tm tm;
    gmtime_r(&t, &tm);
    snprintf(out, MT_HTTP_DATE_LEN + 1, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday % 7],
             tm.tm_mday % 100, months[tm.tm_mon % 12], (tm.tm_year + 1900) % 10000, tm.tm_hour % 100,
             tm.tm_min % 100, tm.tm_sec % 100);
}

static void poll_cb(uv_poll_t *poll, int status, int events);

static void server_maybe_free(mt_http_server_t *server)
{
    if (!server->closing || server->handles_open > 0 || server->conn_count > 0)
        return;
    free(server->read_buf);
    mt_http__buf_free(&server->scratch);
    free(server);
}

static void server_handle_closed_cb(uv_handle_t *handle)
{
    mt_http_server_t *server = handle->data;
    server->handles_open--;
    server_maybe_free(server);
}

static void server_timer_cb(uv_timer_t *timer)
{
    mt_http_server_t *server = timer->data;
    if (server->closing)
        return;
    if (server->draining) {
        if (server->conn_count == 0 && !server->done_called) {
            server->done_called = true;
            if (server->done_cb != NULL)
                server->done_cb(server, server->done_data); /* may close the server: touch nothing after */
        }
        return;
    }
    /* Accept retry after running out of descriptors. */
    if (!server->polling && uv_poll_start(&server->poll, UV_READABLE, poll_cb) == 0)
        server->polling = true;
}

void mt_http__server_close_inbox(mt_http_server_t *server)
{
    /* Requests still running on the pool come back to it first (and then call this again). */
    if (server->closing && server->inbox != NULL && mt_offload_inbox_outstanding(server->inbox) == 0) {
        mt_offload_inbox_close(server->inbox);
        server->inbox = NULL;
    }
}

void mt_http__server_conn_freed(mt_http_server_t *server)
{
    server->conn_count--;
    if (server->closing)
        server_maybe_free(server);
    else if (server->draining && server->conn_count == 0)
        uv_timer_start(&server->timer, server_timer_cb, 0, 0);
}

static void poll_cb(uv_poll_t *poll, int status, int events)
{
    mt_http_server_t *server = poll->data;
    if (status < 0) {
        /* libuv has stopped the handle (POLLERR): this thread accepts no more. */
        mt_error("http: polling the listening socket failed: %s", uv_strerror(status));
        server->polling = false;
        return;
    }
    for (int accepted = 0; accepted < MT_HTTP_ACCEPT_BATCH;) {
        int fd = accept4(server->cfg.listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            accepted++;
            server->stats.connections++;
            mt_http__conn_start(server, fd);
            if (server->closing || server->draining)
                return;
            continue;
        }
        switch (errno) {
        case EINTR:
        case ECONNABORTED: /* the client gave up while queued */
        case EPROTO:
            continue;
        case EAGAIN:
#if EWOULDBLOCK != EAGAIN
        case EWOULDBLOCK:
#endif
            return; /* another thread took it */
        case EMFILE:
        case ENFILE:
        case ENOBUFS:
        case ENOMEM:
            /* The socket stays readable: polling on would spin. Pause instead. */
            mt_warn("http: accept4() failed: %s; pausing accepts for %d ms", strerror(errno), ACCEPT_RETRY_MS);
            uv_poll_stop(&server->poll);
            server->polling = false;
            uv_timer_start(&server->timer, server_timer_cb, ACCEPT_RETRY_MS, 0);
            return;
        default:
            mt_error("http: accept4() failed: %s", strerror(errno));
            return;
        }
    }
}

mt_http_server_t *mt_http_server_create(uv_loop_t *loop, const mt_http_config_t *cfg, char *err, size_t errlen)
{
    if (cfg->listen_fd < 0 || cfg->max_header_size == 0 || cfg->timeout_ms == 0 || cfg->router == NULL) {
        snprintf(err, errlen, "http: invalid configuration (listen fd %d, max header size %zu, timeout %u ms%s)",
                 cfg->listen_fd, cfg->max_header_size, cfg->timeout_ms, cfg->router ? "" : ", no router");
        return NULL;
    }

    /*
     * A client that disconnects while we write would kill the process with
     * SIGPIPE (libuv writes with write(2), not send(MSG_NOSIGNAL)). Ignore it
     * unless someone installed a handler.
     */
    struct sigaction sa;
    if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL)
        signal(SIGPIPE, SIG_IGN);

    mt_http_server_t *server = mt_calloc(1, sizeof(*server));
    server->loop = loop;
    server->cfg = *cfg;
    server->date_sec = -1;
    server->read_buf = mt_malloc(MT_HTTP_READ_SIZE);
    mt_http__conn_settings_init(&server->settings);

    int rc = uv_poll_init_socket(loop, &server->poll, cfg->listen_fd);
    if (rc < 0) {
        snprintf(err, errlen, "http: cannot watch listening socket %d: %s", cfg->listen_fd, uv_strerror(rc));
        free(server->read_buf);
        free(server);
        return NULL;
    }
    server->poll.data = server;
    uv_timer_init(loop, &server->timer);
    server->timer.data = server;
    server->handles_open = 2;

    if (cfg->offload != NULL && (rc = mt_offload_inbox_init(&server->inbox, loop, mt_http__offload_done, server)) < 0) {
        snprintf(err, errlen, "http: cannot make the offload inbox: %s", uv_strerror(rc));
        mt_http_server_close(server);
        return NULL;
    }
    rc = uv_poll_start(&server->poll, UV_READABLE, poll_cb);
    if (rc < 0) {
        snprintf(err, errlen, "http: cannot poll listening socket %d: %s", cfg->listen_fd, uv_strerror(rc));
        mt_http_server_close(server); /* freed once the loop runs the close callbacks */
        return NULL;
    }
    server->polling = true;
    return server;
}

void mt_http_server_drain(mt_http_server_t *server, void (*done_cb)(mt_http_server_t *server, void *data),
                          void *data)
{
    server->done_cb = done_cb;
    server->done_data = data;
    if (server->draining)
        return;
    server->draining = true;
    if (server->polling) {
        uv_poll_stop(&server->poll);
        server->polling = false;
    }
    uv_timer_stop(&server->timer); /* a pending accept retry */
    for (mt_http_conn_t *conn = server->conns, *next; conn != NULL; conn = next) {
        next = conn->next;
        mt_http__conn_drain(conn);
    }
    if (server->conn_count == 0)
        uv_timer_start(&server->timer, server_timer_cb, 0, 0);
}

void mt_http_server_close(mt_http_server_t *server)
{
    if (server == NULL || server->closing)
        return;
    server->closing = true;
    while (server->conns != NULL)
        mt_http__conn_close(server->conns); /* unlinks it */
    mt_http__server_close_inbox(server);
    uv_close((uv_handle_t *)&server->poll, server_handle_closed_cb);
    uv_close((uv_handle_t *)&server->timer, server_handle_closed_cb);
}

void mt_http_server_stats(const mt_http_server_t *server, mt_http_stats_t *out)
{
    *out = server->stats;
}
