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
 * Also here: the process's limits at accept time (worker-connections with
 * idle eviction or an immediate 503, the reserve descriptors for EMFILE,
 * accept failures logged at a bounded rate; mt_http_limits_t), the count of
 * requests served for max-requests, the Date header cache (one per thread,
 * reformatted once per second) and the handle bookkeeping that lets
 * mt_http_server_close() free the server from the last close callback.
 */
#define MT_LOG_NAME "muleteer.stack.http"

#include "stack/http_conn.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"

#define ACCEPT_PAUSE_MIN_MS 100  /* after an accept failure, before polling again ... */
#define ACCEPT_PAUSE_MAX_MS 1000 /* ... doubling up to this while it keeps failing */

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
static void reserve_refill(mt_http_limits_t *limits);

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
    /* Accept retry after a failure (running out of descriptors): the reserve first, if it was spent. */
    if (server->cfg.limits != NULL)
        reserve_refill(server->cfg.limits);
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
    if (server->cfg.limits != NULL)
        atomic_fetch_sub_explicit(&server->cfg.limits->connections, 1, memory_order_relaxed);
    if (server->closing)
        server_maybe_free(server);
    else if (server->draining && server->conn_count == 0)
        uv_timer_start(&server->timer, server_timer_cb, 0, 0);
}

/*
 * A line at a bounded rate: the first event is logged at once, later ones
 * are counted and reported by the first event at least
 * MT_HTTP_ACCEPT_LOG_MS after the last line. Process-wide (every thread of
 * the worker shares it), so a flood makes one line a minute, not one per
 * thread per failure.
 */
typedef struct rate_log {
    atomic_ullong count;      /* events since the last line */
    _Atomic int64_t last_ms;  /* monotonic ms of the last line; 0: none yet */
} rate_log_t;

static rate_log_t accept_log, refuse_log, evict_log;

/* Count an event; true if a line is due now, with the events it covers and the seconds since the last line (0: first). */
static bool rate_log_due(rate_log_t *r, unsigned long long *count, int64_t *since_s)
{
    atomic_fetch_add_explicit(&r->count, 1, memory_order_relaxed);
    int64_t now = mt_clock_ms();
    int64_t last = atomic_load_explicit(&r->last_ms, memory_order_relaxed);
    if (last != 0 && now - last < MT_HTTP_ACCEPT_LOG_MS)
        return false;
    if (!atomic_compare_exchange_strong(&r->last_ms, &last, now))
        return false; /* another thread logs it */
    *count = atomic_exchange(&r->count, 0);
    *since_s = last == 0 ? 0 : (now - last + 500) / 1000;
    return true;
}

static void accept_failed(mt_http_server_t *server, int err, bool answered)
{
    unsigned long long n;
    int64_t since_s;
    if (server->cfg.limits != NULL)
        atomic_fetch_add_explicit(&server->cfg.limits->accept_failures, 1, memory_order_relaxed);
    if (!rate_log_due(&accept_log, &n, &since_s))
        return;
    if (since_s == 0)
        mt_warn("http: accept4() failed: %s; %s (further failures are counted, one line a minute)", strerror(err),
                answered ? "answering the connections waiting with 503 from a reserve descriptor"
                         : "closing idle connections, or pausing accepts");
    else
        mt_warn("http: accept4() failed %llu time%s in the last %lld s: %s", n, n == 1 ? "" : "s",
                (long long)since_s, strerror(err));
}

/* Take a reserve descriptor (-1 if none is left). */
static int reserve_take(mt_http_limits_t *limits)
{
    for (int i = 0; i < MT_HTTP_RESERVE_FDS; i++) {
        int fd = atomic_exchange(&limits->reserve_fds[i], -1);
        if (fd >= 0)
            return fd;
    }
    return -1;
}

/* Fill the empty reserve places again, as far as descriptors allow. */
static void reserve_refill(mt_http_limits_t *limits)
{
    for (int i = 0; i < MT_HTTP_RESERVE_FDS; i++) {
        if (atomic_load(&limits->reserve_fds[i]) >= 0)
            continue;
        int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            return;
        int none = -1;
        if (!atomic_compare_exchange_strong(&limits->reserve_fds[i], &none, fd))
            close(fd); /* another thread filled it meanwhile */
    }
}

int mt_http_limits_init(mt_http_limits_t *limits, unsigned max_connections, unsigned long long max_requests)
{
    limits->max_connections = max_connections;
    limits->max_requests = max_requests;
    atomic_init(&limits->connections, 0);
    atomic_init(&limits->served, 0);
    atomic_init(&limits->refused, 0);
    atomic_init(&limits->evicted, 0);
    atomic_init(&limits->accept_failures, 0);
    atomic_init(&limits->recycle, 0);
    limits->notify_signal = 0;
    int rc = 0;
    for (int i = 0; i < MT_HTTP_RESERVE_FDS; i++) {
        int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            rc = -errno;
        atomic_init(&limits->reserve_fds[i], fd < 0 ? -1 : fd);
    }
    return rc;
}

void mt_http_limits_release(mt_http_limits_t *limits)
{
    if (limits == NULL)
        return;
    for (int i = 0; i < MT_HTTP_RESERVE_FDS; i++) {
        int fd = atomic_exchange(&limits->reserve_fds[i], -1);
        if (fd >= 0)
            close(fd);
    }
}

/*
 * Answer an accepted connection 503 with Retry-After and close it, without
 * making it a connection of the server: the client hears at once that it
 * should come back, instead of hanging. What it has sent already is read
 * first, so that the close ends with a FIN rather than a reset that could
 * destroy the answer before the client reads it.
 */
static void refuse_now(mt_http_server_t *server, int fd, const char *why)
{
    char body[256], msg[512];
    int blen = snprintf(body, sizeof body, "{\"err_msg\":\"%s\",\"err_code\":503}", why);
    int n = snprintf(msg, sizeof msg,
                     "HTTP/1.1 503 Service Unavailable\r\nServer: muleteer\r\nDate: %s\r\nContent-Length: %d\r\n"
                     "Content-Type: application/json\r\nRetry-After: %d\r\nConnection: close\r\n\r\n%s",
                     mt_http__server_date(server), blen, MT_HTTP_RETRY_AFTER_S, body);
    char sink[4096];
    for (int i = 0; i < 16 && recv(fd, sink, sizeof sink, MSG_DONTWAIT) > 0; i++)
        ;
    if (n > 0)
        (void)send(fd, msg, (size_t)n < sizeof msg ? (size_t)n : sizeof msg - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
    shutdown(fd, SHUT_WR);
    close(fd);
    if (server->cfg.limits != NULL)
        atomic_fetch_add_explicit(&server->cfg.limits->refused, 1, memory_order_relaxed);
    unsigned long long count;
    int64_t since_s;
    if (rate_log_due(&refuse_log, &count, &since_s)) {
        if (since_s == 0)
            mt_warn("http: %s: answering new connections 503 with Retry-After (counted, one line a minute)", why);
        else
            mt_warn("http: %llu connection%s answered 503 in the last %lld s: %s", count, count == 1 ? "" : "s",
                    (long long)since_s, why);
    }
}

/*
 * At worker-connections: close one of this thread's idle connections to
 * make room (nginx does the same with its reusable connections): the
 * oldest that has not sent a request yet, else the oldest idle keep-alive
 * one (a client that was served, and may come back), and that only when
 * no connection is too new to judge; never one accepted less than
 * MT_HTTP_EVICT_AFTER_MS ago. Returns false if
 * every connection of the thread is busy.
 */
static bool evict_idle(mt_http_server_t *server, const char *why)
{
    mt_http_conn_t *victim = NULL, *keep_alive = NULL;
    bool fresh = false; /* connections too new to judge: a flood in progress, not a reason to drop served clients */
    uint64_t now = uv_now(server->loop);
    for (mt_http_conn_t *conn = server->conns_tail; conn != NULL; conn = conn->prev) {
        if (!mt_http__conn_idle(conn))
            continue;
        if (conn->answered > 0) {
            if (keep_alive == NULL)
                keep_alive = conn;
            continue;
        }
        /* Accepted a moment ago, its request may simply not have been read yet: not idle, just new. */
        if (now - conn->accepted_ms < MT_HTTP_EVICT_AFTER_MS) {
            fresh = true;
            continue;
        }
        victim = conn;
        break;
    }
    if (victim == NULL && !fresh)
        victim = keep_alive;
    if (victim == NULL)
        return false;
    mt_http__conn_close(victim);
    atomic_fetch_add_explicit(&server->cfg.limits->evicted, 1, memory_order_relaxed);
    unsigned long long count;
    int64_t since_s;
    if (rate_log_due(&evict_log, &count, &since_s)) {
        if (since_s == 0)
            mt_notice("http: %s: closing idle connections to make room for new ones (counted, one line a minute)",
                      why);
        else
            mt_notice("http: %s: %llu idle connection%s closed to make room in the last %lld s", why, count,
                      count == 1 ? "" : "s", (long long)since_s);
    }
    return true;
}

void mt_http__server_request_done(mt_http_server_t *server)
{
    mt_http_limits_t *limits = server->cfg.limits;
    if (limits == NULL)
        return;
    unsigned long long n = atomic_fetch_add_explicit(&limits->served, 1, memory_order_relaxed) + 1;
    if (limits->max_requests > 0 && n >= limits->max_requests) {
        atomic_store_explicit(&limits->recycle, 1, memory_order_relaxed); /* every thread stops accepting */
        if (n == limits->max_requests && limits->notify_signal != 0)
            pthread_kill(limits->notify_thread, limits->notify_signal); /* once: the drain starts now */
    }
}

/* Leave the listener alone for a while: it stays readable, and polling on would spin. */
static void accept_pause(mt_http_server_t *server)
{
    unsigned ms = server->accept_pause_ms;
    ms = ms == 0 ? ACCEPT_PAUSE_MIN_MS : ms * 2 > ACCEPT_PAUSE_MAX_MS ? ACCEPT_PAUSE_MAX_MS : ms * 2;
    server->accept_pause_ms = ms;
    uv_poll_stop(&server->poll);
    server->polling = false;
    uv_timer_start(&server->timer, server_timer_cb, ms, 0);
}

/* Out of descriptors: answer one waiting connection 503 from a reserve descriptor. Returns false if none is left. */
static bool refuse_from_reserve(mt_http_server_t *server)
{
    mt_http_limits_t *limits = server->cfg.limits;
    if (limits == NULL)
        return false;
    int spare = reserve_take(limits);
    if (spare < 0)
        return false;
    close(spare);
    int fd = accept4(server->cfg.listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0)
        refuse_now(server, fd, "this worker is out of file descriptors");
    reserve_refill(limits);
    return fd >= 0;
}

/* A connection was accepted: serve it, make room for it, or refuse it. */
static void accepted(mt_http_server_t *server, int fd)
{
    mt_http_limits_t *limits = server->cfg.limits;
    server->stats.connections++;
    server->accept_pause_ms = 0;
    if (limits != NULL) {
        if (limits->max_connections > 0 &&
            atomic_load_explicit(&limits->connections, memory_order_relaxed) >= limits->max_connections &&
            !evict_idle(server, "worker-connections reached")) {
            refuse_now(server, fd, "too many connections (worker-connections)");
            return;
        }
        atomic_fetch_add_explicit(&limits->connections, 1, memory_order_relaxed);
    }
    mt_http__conn_start(server, fd);
}

static void poll_cb(uv_poll_t *poll, int status, int events)
{
    (void)events;
    mt_http_server_t *server = poll->data;
    if (status < 0) {
        /* libuv has stopped the handle (POLLERR): this thread accepts no more. */
        mt_error("http: polling the listening socket failed: %s", uv_strerror(status));
        server->polling = false;
        return;
    }
    mt_http_limits_t *limits = server->cfg.limits;
    if (limits != NULL && atomic_load_explicit(&limits->recycle, memory_order_relaxed)) {
        /* Recycling: what waits in the backlog is for the other workers, or this one's successor. */
        uv_poll_stop(&server->poll);
        server->polling = false;
        return;
    }
    for (int accepted_n = 0; accepted_n < MT_HTTP_ACCEPT_BATCH;) {
        int fd = accept4(server->cfg.listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            accepted_n++;
            accepted(server, fd);
            if (server->closing || server->draining)
                return;
            continue;
        }
        int err = errno;
        switch (err) {
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
            if (limits != NULL && evict_idle(server, "out of file descriptors")) {
                /* Its descriptor is free once its close completes: the next readiness accepts. */
                accept_failed(server, err, false);
                return;
            }
            if (refuse_from_reserve(server)) {
                accept_failed(server, err, true);
                accepted_n++;
                continue;
            }
            accept_failed(server, err, false);
            accept_pause(server);
            return;
        case ENOBUFS:
        case ENOMEM:
            accept_failed(server, err, false);
            accept_pause(server);
            return;
        default:
            accept_failed(server, err, false);
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
