/*
 * http_conn.h: internals shared by the HTTP server's three files.
 *
 *   http_server.c   the server: accepting, drain, lifecycle, the date cache
 *   http_conn.c     one connection: parsing (HTTP with llhttp, or the
 *                   uwsgi protocol with uwsgi_proto.c), limits, timeouts, output
 *   http_request.c  the request/response API handlers see, and dispatch
 *                   (static files, then routes)
 *
 * Nothing here is part of the stack's API; only those files include it.
 * Everything runs on the server's loop thread, except the handler of an
 * offloaded route (MT_ROUTE_OFFLOAD), which runs on a thread of the
 * worker's offload pool (offload.h) with req->off set: it reads the
 * request (conn->head, conn->headers, conn->body, which nothing else
 * touches until it is done) and writes its answer into req->off and
 * conn->resp_headers only; the loop writes that answer out when the task
 * comes back (mt_http__offload_done).
 */
#ifndef MT_HTTP_CONN_H
#define MT_HTTP_CONN_H

#include <llhttp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <uv.h>

#include "stack/http_server.h"
#include "stack/offload.h"
#include "common/mem.h"

#define MT_HTTP_READ_SIZE    65536        /* the server's read buffer (one per thread) */
#define MT_HTTP_FILE_CHUNK   65536        /* static files are sent in chunks this large */
#define MT_HTTP_WRITE_MAX    (256 * 1024) /* largest single uv_write(): progress re-arms the timer */
#define MT_HTTP_OUT_HIGH     (256 * 1024) /* pipelined parsing pauses above this much pending output */
#define MT_HTTP_BUF_KEEP     (256 * 1024) /* per-connection buffers above this are freed once empty */
#define MT_HTTP_TRIM_AFTER   (1024 * 1024) /* a request body this large is followed by malloc_trim() */
#define MT_HTTP_LINGER_MS    2000         /* at most this long discarding input before a close */
#define MT_HTTP_DRAIN_IDLE_MS 1000        /* when draining, how long an idle connection may still bring a request */
#define MT_HTTP_EVICT_AFTER_MS 250       /* a connection younger than this is not closed to make room (its request may be unread) */
#define MT_HTTP_ACCEPT_BATCH 4            /* accept() calls per readiness of the listening socket */
#define MT_HTTP_DATE_LEN     29           /* "Sun, 06 Nov 1994 08:49:37 GMT" */

/* A growable byte buffer, reused from request to request. */
typedef struct mt_http_buf {
    char *data;
    size_t len;
    size_t cap;
} mt_http_buf_t;

static inline void mt_http__buf_reserve(mt_http_buf_t *b, size_t extra)
{
    if (b->cap - b->len >= extra)
        return;
    size_t cap = b->cap ? b->cap : 512;
    while (cap - b->len < extra)
        cap *= 2;
    b->data = mt_realloc(b->data, cap);
    b->cap = cap;
}

static inline void mt_http__buf_append(mt_http_buf_t *b, const void *src, size_t n)
{
    if (n == 0)
        return; /* llhttp reports empty spans ("CONNECT \r"): data may still be NULL */
    mt_http__buf_reserve(b, n);
    memcpy(b->data + b->len, src, n);
    b->len += n;
}

/* Free an empty buffer that grew beyond `keep` bytes (one huge request must not pin memory). */
static inline void mt_http__buf_trim(mt_http_buf_t *b, size_t keep)
{
    if (b->len == 0 && b->cap > keep) {
        free(b->data);
        b->data = NULL;
        b->cap = 0;
    }
}

static inline void mt_http__buf_free(mt_http_buf_t *b)
{
    free(b->data);
    *b = (mt_http_buf_t){0};
}

typedef struct mt_http_conn mt_http_conn_t;
typedef struct mt_http_offload mt_http_offload_t;

/* One request header: offsets of its NUL-terminated name and value in conn->head. */
typedef struct mt_http_header {
    size_t name;
    size_t value;
} mt_http_header_t;

/* The request as handlers see it; embedded in its connection, valid during dispatch only. */
struct mt_request {
    mt_http_conn_t *conn;
    const char *method; /* llhttp's static name; uwsgi: REQUEST_METHOD, in conn->head */
    const char *path;   /* in conn->head */
    const char *query;  /* in conn->head, or "" */
    bool head_only;     /* HEAD: headers of the response, no body */
    bool responded;
    int status;         /* of the response, for the access log */
    uint64_t bytes;     /* body bytes of the response, for the access log */
    int64_t start_us;   /* monotonic time the request began, for the access log */
    const char *user;   /* who the API key says sent it (in the key table); NULL: open API or route */
    bool admin;         /* may see and change everything: an admin user's key, or an open API */
    mt_http_offload_t *off; /* set while its handler runs on an offload thread: the answer is buffered there */
    const mt_route_t *route; /* the route it matched, for the metrics (NULL: none; cleared when counted) */
};

/*
 * An offloaded request in flight: the route's handler runs on a pool
 * thread, its answer is kept here, and the loop writes it out when the
 * task comes back. Owned by the connection (conn->offload), which is not
 * freed before it is back even if the client has gone.
 */
struct mt_http_offload {
    mt_offload_task_t task;      /* first: the pool hands it back as this */
    mt_http_conn_t *conn;
    const mt_route_t *route;
    mt_http_busy_t *busy;        /* the pool threads' records for the harakiri watchdog, or NULL */
    bool back;                   /* came back to the loop; its answer goes out once nothing is being written */
    /* The answer, written by the handler's thread. */
    char *content_type;          /* NULL: none */
    size_t length;               /* of the body (a HEAD request's is not kept) */
    mt_http_buf_t body;
    mt_http_buf_t scratch;       /* JSON serialization (the server's is the loop's) */
};

/* Which callback paused the parser. */
typedef enum {
    MT_HTTP_PAUSE_NONE,
    MT_HTTP_PAUSE_HEADERS,
    MT_HTTP_PAUSE_MESSAGE,
    MT_HTTP_PAUSE_CHUNK,    /* a chunk's data and the line end after it are in: check that line end */
} mt_http_pause_t;

/* Which span of the request head was fed last (to NUL-terminate it when the next one starts). */
typedef enum {
    MT_HTTP_SPAN_NONE,
    MT_HTTP_SPAN_URL,
    MT_HTTP_SPAN_FIELD,
    MT_HTTP_SPAN_VALUE,
} mt_http_span_t;

struct mt_http_conn {
    mt_http_server_t *server;
    mt_http_conn_t *prev, *next; /* the server's open (not closing) connections */
    uv_tcp_t tcp;
    uv_timer_t timer;            /* timeout_ms (idle, slow request, stalled write) or linger */
    uv_write_t write_req;
    uv_shutdown_t shutdown_req;
    llhttp_t parser;
    int handles_open;            /* tcp + timer until their close callbacks ran */
    uint64_t accepted_ms;        /* uv_now() when accepted */

    /* The request being received. */
    mt_http_buf_t head;          /* URL, header names and values, each NUL-terminated */
    mt_http_header_t *headers;
    size_t header_count;
    size_t header_cap;
    size_t url_len;              /* URL bytes so far (414) */
    size_t head_stored;          /* URL + names + values so far (431 before the head ends) */
    size_t head_bytes;           /* wire bytes of request line + headers (431) */
    mt_http_buf_t body;          /* NUL-terminated at dispatch */
    mt_http_span_t span;
    mt_http_pause_t paused;
    /*
     * Strict chunk framing (llhttp 8 skips bytes between a chunk's data and
     * its CRLF): where the current chunk's data ended in this input
     * (chunk_data_end, NULL if in an earlier one), and the bytes seen after
     * it in earlier inputs (chunk_tail, at most 3 kept: more is an error).
     */
    bool chunk_has_data;
    const char *chunk_data_end;
    unsigned input_gen;          /* counts the inputs conn_parse() was given */
    unsigned chunk_data_gen;     /* the input chunk_data_end points into */
    char chunk_tail[4];
    size_t chunk_tail_len;
    int err_status;              /* set by a callback that hit a limit; answered after llhttp returns */
    const char *err_msg;
    mt_request_t req;
    mt_http_buf_t resp_headers;  /* "Name: value\r\n" lines from mt_response_header() */

    /* Output and input waiting for it. */
    mt_http_buf_t out;           /* responses not yet written */
    size_t out_sent;             /* bytes of out already written */
    size_t write_len;            /* bytes of the uv_write in flight */
    int file_fd;                 /* static file being streamed, or -1 */
    off_t file_off;
    uint64_t file_left;
    mt_http_buf_t pending;       /* input not parsed yet: parsing waits for output to drain */
    size_t pending_off;

    bool in_request;             /* a request has started and is not answered yet (408) */
    unsigned long answered;      /* requests answered on this connection */
    bool in_head;                /* its request line and headers are not complete yet */
    bool reading;
    bool writing;                /* a uv_write is in flight */
    bool close_after;            /* close once output is flushed (no keep-alive) */
    bool discard_input;          /* input left unparsed: close with a lingering shutdown */
    bool parse_dead;             /* ignore further input */
    bool eof;                    /* the client closed its side */
    bool lingering;              /* shut down, discarding input until EOF or the linger timer */
    bool closing;
    bool drain_armed;            /* draining: its last-request grace timer is set */
    mt_http_offload_t *offload;  /* the request's handler is running on an offload thread: input waits */

    /* uwsgi (server->cfg.uwsgi): one packet, then its body, then the answer and a close. */
    mt_http_buf_t packet;        /* the packet's header and vars block as read so far */
    bool uwsgi_vars_done;        /* the vars block is in and made the request; the body follows */
    uint64_t uwsgi_body_left;    /* body bytes (CONTENT_LENGTH) still to come */
};

struct mt_http_server {
    uv_loop_t *loop;
    mt_http_config_t cfg;
    llhttp_settings_t settings;
    uv_poll_t poll;              /* readability of cfg.listen_fd */
    uv_timer_t timer;            /* accept retry after EMFILE; drain completion */
    bool polling;
    unsigned accept_pause_ms;    /* after an accept failure: how long the listener is left alone (doubles, reset on success) */
    int handles_open;            /* poll + timer, until closed */
    mt_http_conn_t *conns;       /* open connections, newest first */
    mt_http_conn_t *conns_tail;  /* the oldest open connection (evicted first when over max_connections) */
    size_t conn_count;           /* connections not yet freed (open or closing) */
    mt_http_stats_t stats;
    bool draining;
    bool done_called;
    bool closing;
    void (*done_cb)(mt_http_server_t *server, void *data);
    void *done_data;
    char *read_buf;              /* MT_HTTP_READ_SIZE, lent to whichever connection reads */
    mt_http_buf_t scratch;       /* JSON serialization */
    mt_offload_inbox_t *inbox;   /* offloaded requests come back here (cfg.offload set) */
    time_t date_sec;             /* second of date */
    char date[MT_HTTP_DATE_LEN + 1];
};

/* http_server.c */
/* The current date in IMF-fixdate form, formatted at most once per second. */
const char *mt_http__server_date(mt_http_server_t *server);
/* Format t as IMF-fixdate into out (MT_HTTP_DATE_LEN + 1 bytes). */
void mt_http__format_date(time_t t, char *out);
/* A connection was freed (its handles closed). */
void mt_http__server_conn_freed(mt_http_server_t *server);
/* Once the server is closing and no offloaded request is out: close its inbox. */
void mt_http__server_close_inbox(mt_http_server_t *server);
/* A request was answered: count it in the process's limits (max-requests). */
void mt_http__server_request_done(mt_http_server_t *server);

/* http_conn.c */
void mt_http__conn_settings_init(llhttp_settings_t *settings);
/* Take over an accepted socket (non-blocking, close-on-exec). Closes fd on failure. */
void mt_http__conn_start(mt_http_server_t *server, int fd);
/* Close now (idempotent). */
void mt_http__conn_close(mt_http_conn_t *conn);
/*
 * Drain started: an idle connection gets MT_HTTP_DRAIN_IDLE_MS for a last
 * request, then a clean shutdown; a busy one closes after its current
 * response (which says "Connection: close").
 */
void mt_http__conn_drain(mt_http_conn_t *conn);
/* No request in progress and nothing to write: closing it loses nothing the client is owed. */
bool mt_http__conn_idle(const mt_http_conn_t *conn);
/* Stream size bytes of fd after the response head already in conn->out; takes fd. */
void mt_http__conn_send_file(mt_http_conn_t *conn, int fd, uint64_t size);

/* http_request.c */
/* Answer the complete request in conn->req: static files, then routes. */
void mt_http__dispatch(mt_http_conn_t *conn);
/* Answer a protocol error (JSON, Connection: close); the connection closes once it is flushed. */
void mt_http__respond_error(mt_http_conn_t *conn, int status, const char *msg);
/*
 * An offloaded request came back (task->ran false: cancelled before it
 * started, its connection closed): write its answer into conn->out, or a
 * 500 if the handler gave none. Does not free it.
 */
void mt_http__offload_respond(mt_http_conn_t *conn, mt_http_offload_t *off);
/* Free what an offloaded request holds, and the request. Accepts NULL. */
void mt_http__offload_free(mt_http_offload_t *off);

/* http_conn.c */
/* The inbox's done callback: an offloaded request of this server is back (on the loop). */
void mt_http__offload_done(mt_offload_task_t *task, void *data);

#endif
