/*
 * http_server: HTTP/1.1 serving on one libuv loop (one per web thread).
 *
 * Each web thread creates one mt_http_server_t on its own loop, over the
 * listening socket the master opened (shared by every thread of every web
 * worker; the kernel hands each connection to one accept()). Requests are
 * parsed with llhttp; keep-alive and pipelining are supported (responses
 * to pipelined requests go out in order, batched into one write).
 *
 * Limits, each answered with a clear status and never a crash or a hang:
 * malformed request 400, request line too long 414, headers larger than
 * max_header_size 431, body larger than max_body_size 413, client idle or
 * too slow to send a whole request within timeout_ms: closed (408 if a
 * request had started). Unknown route: 404 JSON; wrong method: 405 JSON.
 *
 * Details an operator or a handler may rely on:
 *   - Protocol errors (400, 408, 413, 414, 431) say "Connection: close" and
 *     end the connection; route errors (404, 405, 500) keep it alive.
 *   - timeout_ms also cuts a client that stops reading a response: no
 *     write progress for timeout_ms resets the connection.
 *   - Static files (cfg.statics, GET and HEAD only) are tried before the
 *     routes: a missing file is 404, a path trying to escape its directory
 *     403; large files are streamed in 64 KiB chunks.
 *   - HEAD gets the headers of the GET response (a GET route serves HEAD).
 *   - mt_http_server_create() ignores SIGPIPE unless the process already
 *     handles it: a client closing mid-write must not kill the worker.
 *
 * Offloaded routes (MT_ROUTE_OFFLOAD, with cfg.offload set): the handler
 * runs on a thread of the pool while the loop serves its other
 * connections; its answer is buffered and written by the loop when it
 * comes back. The connection reads meanwhile (a client that goes away is
 * noticed, and its answer dropped) but parses nothing more, so a pipelined
 * request behind it is answered after it, in order. http-timeout does not
 * run while the handler does (harakiri does); a drain waits for it.
 *
 * With cfg.uwsgi the server speaks the uwsgi protocol (a web server's
 * uwsgi_pass) on the same listening socket kind (TCP or unix): one packet
 * per connection, read whole (vars block up to max_header_size, body up to
 * max_body_size), turned into the same request the routes see over HTTP,
 * answered with HTTP/1.1 and "Connection: close", then the connection
 * closes. A packet that cannot be read (a modifier1 other than 0, a vars
 * block over the limit or whose lengths do not add up, a bad
 * CONTENT_LENGTH, a peer that closes before the whole body) gets a warning
 * naming what is wrong and the connection is closed without an answer, as
 * uWSGI does; a body over max_body_size is answered 413.
 */
#ifndef MT_HTTP_SERVER_H
#define MT_HTTP_SERVER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "muleteer.h"
#include "stack/api_keys.h"
#include "stack/http_router.h"
#include "stack/http_static.h"
#include "stack/offload.h"

/*
 * The request a thread's handler is running, for the harakiri watchdog
 * (web_worker.c) that reads it from another thread: since_us is written
 * last when a handler starts (after method and path) and set to 0 when it
 * returns; a reader copies method and path and trusts them only if
 * since_us is the same before and after.
 */
typedef struct mt_http_busy {
    _Atomic int64_t since_us; /* monotonic (mt_clock_us) start of the handler running now, 0 if none */
    char method[32];
    char path[256];           /* truncated */
} mt_http_busy_t;

/*
 * What every server (thread) of one web worker process shares: its limits
 * and the counters they are checked against. Set up by web_worker.c before
 * its threads start; the fields below `max_connections` are written by the
 * servers (atomics, from any thread) and read by the worker's main thread.
 *
 *   - max_connections: open connections of the whole process. A connection
 *     accepted beyond it first makes room by closing this thread's oldest
 *     idle one (never a request in progress: one waiting for its first
 *     request, or an idle keep-alive one), as nginx reuses connections; if
 *     none is idle it is answered at once with 503 and Retry-After and
 *     closed. 0: no limit.
 *   - max_requests: once `served` reaches it the process recycles: every
 *     server stops accepting at once (`recycle` set), notify_thread is
 *     sent notify_signal, and that thread drains the servers and exits.
 *     0: never.
 *   - reserve_fds: descriptors held open on /dev/null. When accept4()
 *     fails with EMFILE/ENFILE one is closed, the waiting connection is
 *     accepted, answered 503 with Retry-After and closed, and the reserve
 *     reopened: the client hears at once instead of waiting in the backlog,
 *     and the listener does not stay readable with nothing accepting it.
 *   - accept failures are logged at a bounded rate: the first at once,
 *     then at most one line per MT_HTTP_ACCEPT_LOG_MS with the count
 *     ("accept4() failed 1873 times in the last 60 s: Too many open
 *     files"); after one, that thread stops polling the listener for a
 *     while (100 ms, doubling to 1 s while it keeps failing).
 */
#define MT_HTTP_RESERVE_FDS     4
#define MT_HTTP_ACCEPT_LOG_MS   60000
#define MT_HTTP_RETRY_AFTER_S   1      /* Retry-After of the 503s below */

typedef struct mt_http_limits {
    unsigned max_connections;           /* per process; 0: no limit */
    unsigned long long max_requests;    /* per process; 0: no limit */
    atomic_int reserve_fds[MT_HTTP_RESERVE_FDS]; /* -1 where none is held (any thread takes one by exchange) */
    atomic_uint connections;            /* open (not yet freed) connections of every thread */
    atomic_ullong served;               /* requests answered since the process started */
    atomic_ullong refused;              /* connections answered 503 at once (limit or no descriptor) */
    atomic_ullong evicted;              /* idle connections closed to make room for a new one */
    atomic_ullong accept_failures;      /* accept4() failures since the process started */
    atomic_int recycle;                 /* set: accept no more (max-requests reached, or the main thread says so) */
    pthread_t notify_thread;            /* gets notify_signal when max_requests is reached ... */
    int notify_signal;                  /* ... (0: nobody is told; the flag above is all) */
} mt_http_limits_t;

/*
 * Initialise limits (counters at 0, no reserve held) and open the reserve
 * descriptors. Returns 0, or a negative errno if /dev/null cannot be
 * opened (the limits work without a reserve then).
 */
int mt_http_limits_init(mt_http_limits_t *limits, unsigned max_connections, unsigned long long max_requests);
/* Close the reserve descriptors. Accepts NULL. */
void mt_http_limits_release(mt_http_limits_t *limits);

typedef struct mt_http_config {
    int listen_fd;                 /* listening socket, non-blocking; not closed by the server */
    bool uwsgi;                    /* speak the uwsgi protocol (uwsgi_proto.h) instead of HTTP */
    mt_http_busy_t *busy;          /* this thread's in-flight handler record, or NULL (no harakiri) */
    size_t max_header_size;        /* request line + headers, bytes */
    size_t max_body_size;          /* bytes */
    unsigned timeout_ms;           /* idle keep-alive / slow request / stalled write */
    const mt_router_t *router;     /* frozen */
    const mt_static_map_t *statics;/* may be NULL */
    mt_stack_t *stack;             /* returned by mt_request_stack() */
    bool access_log;               /* a line per request on logger muleteer.access */
    const mt_api_keys_t *api_keys; /* NULL: the API is open (see mt_http__dispatch) */
    /*
     * Where MT_ROUTE_OFFLOAD routes run (offload.h): NULL runs them on the
     * loop like any other. offload_busy: one record per pool thread, for
     * the harakiri watchdog (NULL: no harakiri).
     */
    mt_offload_pool_t *offload;
    mt_http_busy_t *offload_busy;
    mt_http_limits_t *limits;      /* shared by the process's servers, or NULL: no limits */
} mt_http_config_t;

typedef struct mt_http_server mt_http_server_t;

/* Counters of one server (one thread); read from the same thread. */
typedef struct mt_http_stats {
    unsigned long long connections; /* accepted */
    unsigned long long requests;    /* answered */
    unsigned active_connections;
} mt_http_stats_t;

/*
 * Start accepting on loop. cfg is copied (its pointers must outlive the
 * server). Returns NULL with a message in err on failure (handles already
 * created are closing then: run the loop before uv_loop_close()).
 * Every other function runs on the loop's thread.
 */
mt_http_server_t *mt_http_server_create(uv_loop_t *loop, const mt_http_config_t *cfg, char *err, size_t errlen);

/*
 * Graceful stop: stop accepting, let requests in flight finish and their
 * responses flush (each says "Connection: close"), then close those
 * connections too. An idle connection (keep-alive, or accepted and no
 * request yet) is not closed at once, since its client may be sending a
 * request right now: for MT_HTTP_DRAIN_IDLE_MS (at most timeout_ms) a
 * request that arrives is still answered, with "Connection: close"; then
 * the connection is shut down for writing (the client reads a clean end
 * of stream, not a reset) and read until the client closes too, for at
 * most MT_HTTP_LINGER_MS. done_cb runs on the loop once no connection is left
 * (possibly from within this call's loop iteration, never synchronously).
 */
void mt_http_server_drain(mt_http_server_t *server, void (*done_cb)(mt_http_server_t *server, void *data),
                          void *data);

/*
 * Close every handle; the loop must then be run until it has no handles left. Frees the server.
 * The memory is released from the last close callback, so the usual shutdown is:
 * mt_http_server_close(server) (from done_cb, or after uv_stop()), then
 * uv_run(loop, UV_RUN_DEFAULT) until uv_loop_close(loop) returns 0. Accepts NULL.
 * May be called from done_cb. Responses not yet written are dropped.
 */
void mt_http_server_close(mt_http_server_t *server);

void mt_http_server_stats(const mt_http_server_t *server, mt_http_stats_t *out);

#endif
