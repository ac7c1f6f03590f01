/*
 * http_conn: one HTTP/1.1 connection: parsing, limits, timeouts, output.
 *
 * Input is read into the server's shared buffer and fed to llhttp, which
 * pauses twice per request: at the end of the headers (limits are checked
 * there, with the exact size of the head, and "100 Continue" is sent) and
 * at the end of the message (the request is dispatched and its response
 * appended to conn->out). Pipelined requests in the same read are answered
 * one after the other into the same buffer, and everything is flushed with
 * one write once the read is parsed: uv_try_write() first, and if the
 * socket takes only part of it the rest goes to uv_write(), reading stops
 * and parsing resumes only when that write completes (backpressure). Input
 * that could not be parsed yet (output above MT_HTTP_OUT_HIGH, or a static
 * file to stream first) waits in conn->pending.
 *
 * conn_pump() is the one place that decides what happens next, after a
 * read and after a write: flush output, stream the next file chunk, close,
 * parse pending input, or read more.
 *
 * The timer is armed when the connection is accepted, after each response
 * and on each write progress, never by incoming bytes: a client must send a
 * whole request within timeout_ms (408 if it started one, else a silent
 * close) and a client that stops reading is cut after timeout_ms too.
 *
 * A connection of a uwsgi listener (cfg.uwsgi) reads one packet instead
 * (conn_parse_uwsgi): the header, the vars block, then CONTENT_LENGTH body
 * bytes, each accumulated across reads; the vars become the same head
 * (method, target, headers) llhttp's callbacks build, the request is
 * dispatched like any other and the connection closes after the answer.
 * Unix socket connections use the uv_tcp_t too: libuv's stream code is
 * the same for both, and only TCP_NODELAY (which fails) tells them apart.
 *
 * Protocol errors (400, 408, 413, 414, 431) are answered with
 * "Connection: close"; what the client may still be sending is read and
 * discarded after a shutdown() for at most MT_HTTP_LINGER_MS, so that the
 * close does not turn into a reset that destroys the error response.
 */
#define MT_LOG_NAME "muleteer.stack.http"

#include "stack/http_conn.h"
#include "stack/url.h"
#include "stack/uwsgi_proto.h"

#include <assert.h>
#include <errno.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "stack/metrics.h"

static const char continue_100[] = "HTTP/1.1 100 Continue\r\n\r\n";

static void conn_pump(mt_http_conn_t *conn);

static void conn_arm_timer(mt_http_conn_t *conn, uint64_t ms);

static void conn_drain_arm(mt_http_conn_t *conn);

/* ------------------------------------------------------------------ */
/* llhttp callbacks                                                    */
/* ------------------------------------------------------------------ */

/* A callback hit a limit: remember the answer, make llhttp stop. */
static int conn_fail(mt_http_conn_t *conn, int status, const char *msg)
{
    if (conn->err_status == 0) {
        conn->err_status = status;
        conn->err_msg = msg;
    }
    return -1;
}

/* Switch to another span of the head, NUL-terminating the previous one. */
static void span_begin(mt_http_conn_t *conn, mt_http_span_t kind)
{
    if (conn->span == kind)
        return; /* llhttp splits a span across reads: keep appending */
    mt_http_buf_t *head = &conn->head;
    if (conn->span == MT_HTTP_SPAN_VALUE) {
        /* llhttp skips the whitespace before a value but keeps the whitespace after it. */
        size_t start = conn->headers[conn->header_count - 1].value;
        while (head->len > start && (head->data[head->len - 1] == ' ' || head->data[head->len - 1] == '\t'))
            head->len--;
    }
    if (conn->span != MT_HTTP_SPAN_NONE)
        mt_http__buf_append(head, "", 1);
    if (conn->span == MT_HTTP_SPAN_FIELD && kind != MT_HTTP_SPAN_VALUE) {
        /* A header without any value span: give it an empty value. */
        conn->headers[conn->header_count - 1].value = head->len;
        mt_http__buf_append(head, "", 1);
    }
    if (kind == MT_HTTP_SPAN_FIELD) {
        if (conn->header_count == conn->header_cap) {
            conn->header_cap = conn->header_cap ? conn->header_cap * 2 : 16;
            conn->headers = mt_realloc(conn->headers, conn->header_cap * sizeof(*conn->headers));
        }
        conn->headers[conn->header_count++] = (mt_http_header_t){.name = head->len, .value = head->len};
    } else if (kind == MT_HTTP_SPAN_VALUE) {
        assert(conn->header_count > 0);
        conn->headers[conn->header_count - 1].value = head->len;
    }
    conn->span = kind;
}

static int on_message_begin(llhttp_t *parser)
{
    mt_http_conn_t *conn = parser->data;
    conn->in_request = true;
    conn->in_head = true;
    conn->head.len = 0;
    conn->header_count = 0;
    conn->url_len = 0;
    conn->head_stored = 0;
    conn->head_bytes = 0;
    conn->body.len = 0;
    conn->span = MT_HTTP_SPAN_NONE;
    conn->err_status = 0;
    conn->resp_headers.len = 0;
    conn->req.start_us = mt_clock_us();
    conn->req.status = 0;
    conn->req.bytes = 0;
    conn->chunk_has_data = false;
    conn->chunk_data_end = NULL;
    conn->chunk_tail_len = 0;
    return 0;
}

static int on_url(llhttp_t *parser, const char *at, size_t len)
{
    mt_http_conn_t *conn = parser->data;
    conn->url_len += len;
    conn->head_stored += len;
    if (conn->url_len > conn->server->cfg.max_header_size)
        return conn_fail(conn, 414, "request URL too long");
    span_begin(conn, MT_HTTP_SPAN_URL);
    mt_http__buf_append(&conn->head, at, len);
    return 0;
}

static int on_header_span(llhttp_t *parser, const char *at, size_t len, mt_http_span_t kind)
{
    mt_http_conn_t *conn = parser->data;
    conn->head_stored += len;
    if (conn->head_stored > conn->server->cfg.max_header_size)
        return conn_fail(conn, 431, "request headers too large");
    /*
     * Trailer fields (after a chunked body) are counted but not kept:
     * appending them could move conn->head, which req->path and
     * req->query point into since the headers completed.
     */
    if (!conn->in_head)
        return 0;
    span_begin(conn, kind);
    mt_http__buf_append(&conn->head, at, len);
    return 0;
}

static int on_header_field(llhttp_t *parser, const char *at, size_t len)
{
    return on_header_span(parser, at, len, MT_HTTP_SPAN_FIELD);
}

static int on_header_value(llhttp_t *parser, const char *at, size_t len)
{
    return on_header_span(parser, at, len, MT_HTTP_SPAN_VALUE);
}

static int on_headers_complete(llhttp_t *parser)
{
    mt_http_conn_t *conn = parser->data;
    span_begin(conn, MT_HTTP_SPAN_NONE);
    conn->paused = MT_HTTP_PAUSE_HEADERS; /* conn_parse() measures the head at the pause position */
    return HPE_PAUSED;
}

static int on_body(llhttp_t *parser, const char *at, size_t len)
{
    mt_http_conn_t *conn = parser->data;
    if (len > conn->server->cfg.max_body_size - conn->body.len)
        return conn_fail(conn, 413, "request body too large"); /* chunked: the size was not announced */
    mt_http__buf_append(&conn->body, at, len);
    if (conn->parser.flags & F_CHUNKED) {
        conn->chunk_has_data = true;
        conn->chunk_data_end = at + len;
        conn->chunk_data_gen = conn->input_gen;
        conn->chunk_tail_len = 0;
    }
    return 0;
}

static int on_chunk_header(llhttp_t *parser)
{
    mt_http_conn_t *conn = parser->data;
    conn->chunk_has_data = false;
    conn->chunk_data_end = NULL;
    conn->chunk_tail_len = 0;
    return 0;
}

static int on_chunk_complete(llhttp_t *parser)
{
    mt_http_conn_t *conn = parser->data;
    if (!conn->chunk_has_data)
        return 0; /* the last, empty chunk: llhttp checks its line itself */
    conn->paused = MT_HTTP_PAUSE_CHUNK; /* conn_parse() checks the bytes up to the pause */
    return HPE_PAUSED;
}

/*
 * A chunk's data must be followed by exactly CRLF. `from`..`to` are the
 * bytes of this input after the data (from the data's end, or from the
 * input's start when the data ended in an earlier input), up to where
 * llhttp completed the chunk.
 */
static bool chunk_tail_ok(mt_http_conn_t *conn, const char *from, const char *to)
{
    size_t n = (size_t)(to - from);
    if (conn->chunk_tail_len + n != 2)
        return false;
    char tail[2];
    memcpy(tail, conn->chunk_tail, conn->chunk_tail_len);
    memcpy(tail + conn->chunk_tail_len, from, n);
    return tail[0] == '\r' && tail[1] == '\n';
}

static int on_message_complete(llhttp_t *parser)
{
    mt_http_conn_t *conn = parser->data;
    conn->paused = MT_HTTP_PAUSE_MESSAGE;
    return HPE_PAUSED;
}

void mt_http__conn_settings_init(llhttp_settings_t *settings)
{
    llhttp_settings_init(settings);
    settings->on_message_begin = on_message_begin;
    settings->on_url = on_url;
    settings->on_header_field = on_header_field;
    settings->on_header_value = on_header_value;
    settings->on_headers_complete = on_headers_complete;
    settings->on_body = on_body;
    settings->on_chunk_header = on_chunk_header;
    settings->on_chunk_complete = on_chunk_complete;
    settings->on_message_complete = on_message_complete;
}

/* ------------------------------------------------------------------ */
/* Requests                                                            */
/* ------------------------------------------------------------------ */

/* The head is complete: check the limits, split the URL. Returns false after answering an error. */
static bool conn_headers_done(mt_http_conn_t *conn)
{
    const mt_http_config_t *cfg = &conn->server->cfg;
    if (conn->head_bytes > cfg->max_header_size) {
        mt_http__respond_error(conn, 431, "request headers too large");
        return false;
    }
    if (conn->head.len == 0) {
        mt_http__respond_error(conn, 400, "bad request: no request target");
        return false;
    }

    /* The URL is the first span of the head, NUL-terminated. */
    char *target = conn->head.data;
    if (target[0] != '/' && strcmp(target, "*") != 0) {
        /* absolute-form ("GET http://host/path"), which servers must accept */
        size_t scheme = strncasecmp(target, "http://", 7) == 0 ? 7 : strncasecmp(target, "https://", 8) == 0 ? 8 : 0;
        if (scheme == 0) {
            mt_http__respond_error(conn, 400, "bad request: invalid request target");
            return false;
        }
        target += scheme + strcspn(target + scheme, "/?");
    }
    mt_request_t *req = &conn->req;
    char *question = strchr(target, '?');
    if (question != NULL) {
        *question = '\0';
        req->query = question + 1;
    } else {
        req->query = "";
    }
    req->path = target[0] != '\0' ? target : "/";
    req->method = llhttp_method_name((llhttp_method_t)conn->parser.method);
    req->head_only = conn->parser.method == HTTP_HEAD;
    req->responded = false;

    bool chunked = (conn->parser.flags & F_CHUNKED) != 0;
    if (!chunked && (conn->parser.flags & F_CONTENT_LENGTH) && conn->parser.content_length > cfg->max_body_size) {
        mt_http__respond_error(conn, 413, "request body too large");
        return false;
    }
    if ((chunked || conn->parser.content_length > 0) && conn->parser.http_major == 1 &&
        conn->parser.http_minor >= 1) {
        const char *expect = mt_request_header(req, "Expect");
        if (expect != NULL && strcasecmp(expect, "100-continue") == 0)
            mt_http__buf_append(&conn->out, continue_100, sizeof continue_100 - 1);
    }
    return true;
}

/* The request is answered (its response is in conn->out): log it, and wait for the next. */
static void conn_request_done(mt_http_conn_t *conn)
{
    if (conn->server->cfg.access_log) {
        /* An API key may be in the query (?key=): the log gets "key=****". The scratch buffer is free again. */
        mt_http_buf_t *query = &conn->server->scratch;
        query->len = 0;
        if (conn->req.query[0]) {
            size_t n = mt_url_redact_param(conn->req.query, "key", "****", NULL, 0);
            mt_http__buf_reserve(query, n + 1);
            query->len = mt_url_redact_param(conn->req.query, "key", "****", query->data, n + 1);
        }
        mt_log_emit("muleteer.access", MT_LOG_INFO, "%s %s%s%.*s %d %llu %lldus", conn->req.method, conn->req.path,
                    conn->req.query[0] ? "?" : "", (int)query->len, query->len ? query->data : "", conn->req.status,
                    (unsigned long long)conn->req.bytes, (long long)(mt_clock_us() - conn->req.start_us));
    }
    mt_metrics_http_done(&conn->req.route, conn->req.status, conn->req.start_us);

    conn->in_request = false;
    conn->answered++;
    conn->body.len = 0;
    bool large_body = conn->body.cap >= MT_HTTP_TRIM_AFTER;
    mt_http__buf_trim(&conn->body, MT_HTTP_BUF_KEEP);
    if (large_body)
        malloc_trim(0); /* what parsing a large body left free in the threads' arenas goes back to the system */
    conn->resp_headers.len = 0;
    conn_arm_timer(conn, conn->server->cfg.timeout_ms); /* now waiting for the next request */
    mt_http__server_request_done(conn->server);
}

/* The whole request is in: answer it (or hand it to the offload pool: then it is answered when it comes back). */
static void conn_message_done(mt_http_conn_t *conn)
{
    mt_http__buf_reserve(&conn->body, 1);
    conn->body.data[conn->body.len] = '\0';
    if (!llhttp_should_keep_alive(&conn->parser) || conn->parser.upgrade || conn->server->draining)
        conn->close_after = true; /* decided before dispatch: the response says "Connection: close" */

    conn->req.off = NULL;
    mt_http__dispatch(conn);
    if (conn->offload == NULL)
        conn_request_done(conn);
}

/*
 * Parse input. Returns how much of it was consumed: less than len when
 * parsing must wait for the output to drain (the caller keeps the rest).
 * Once parsing stops for good (an error, no keep-alive) the rest is dropped.
 */
/* ------------------------------------------------------------------ */
/* uwsgi                                                               */
/* ------------------------------------------------------------------ */

/* A packet that cannot be answered: say why, and close without a word to the peer (as uWSGI does). */
static void uwsgi_drop(mt_http_conn_t *conn, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void uwsgi_drop(mt_http_conn_t *conn, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    mt_warn("uwsgi: %s: closing the connection", msg);
    conn->parse_dead = true;
    conn->in_request = false;
    mt_http__conn_close(conn);
}

/* A var that is a request header goes into conn->head as "Name\0value\0". */
static int uwsgi_header_cb(const char *key, size_t key_len, const char *value, size_t value_len, void *data)
{
    mt_http_conn_t *conn = data;
    mt_http_buf_t *head = &conn->head;
    mt_http__buf_reserve(head, key_len + 1);
    int n = mt_uwsgi_header_name(key, key_len, head->data + head->len, key_len + 1);
    if (n <= 0)
        return 0;
    if (conn->header_count == conn->header_cap) {
        conn->header_cap = conn->header_cap ? conn->header_cap * 2 : 16;
        conn->headers = mt_realloc(conn->headers, conn->header_cap * sizeof(*conn->headers));
    }
    mt_http_header_t *h = &conn->headers[conn->header_count++];
    h->name = head->len;
    head->len += (size_t)n + 1;
    h->value = head->len;
    mt_http__buf_append(head, value, value_len);
    mt_http__buf_append(head, "", 1);
    return 0;
}

/*
 * The vars block is in: make it the request (conn->head holds
 * "METHOD\0target\0" and the headers, as the HTTP parser would).
 * Returns false after dropping the connection or answering an error.
 */
static bool uwsgi_vars_done(mt_http_conn_t *conn)
{
    const char *vars = conn->packet.data + MT_UWSGI_HEADER_SIZE;
    size_t len = conn->packet.len - MT_UWSGI_HEADER_SIZE;
    mt_uwsgi_request_t r;
    char err[256];
    if (mt_uwsgi_request_parse(vars, len, &r, err, sizeof err) < 0) {
        uwsgi_drop(conn, "bad request packet: %s", err);
        return false;
    }
    mt_http_buf_t *head = &conn->head;
    head->len = 0;
    conn->header_count = 0;
    mt_http__buf_append(head, r.method.ptr, r.method.len);
    mt_http__buf_append(head, "", 1);
    size_t target_off = head->len;
    size_t target_len = mt_uwsgi_target(&r, NULL, 0);
    mt_http__buf_reserve(head, target_len + 1);
    mt_uwsgi_target(&r, head->data + target_off, target_len + 1);
    head->len += target_len + 1;
    (void)mt_uwsgi_vars_each(vars, len, uwsgi_header_cb, conn, err, sizeof err); /* the framing was checked */

    /* Pointers into head only now: appending may have moved it. */
    mt_request_t *req = &conn->req;
    req->method = head->data;
    char *target = head->data + target_off;
    char *question = strchr(target, '?');
    if (question != NULL) {
        *question = '\0';
        req->query = question + 1;
    } else {
        req->query = "";
    }
    req->path = target;
    req->head_only = strcmp(req->method, "HEAD") == 0;
    req->responded = false;
    if (r.content_length > conn->server->cfg.max_body_size) {
        mt_http__respond_error(conn, 413, "request body too large");
        return false;
    }
    conn->uwsgi_body_left = r.content_length;
    conn->uwsgi_vars_done = true;
    return true;
}

/* Take up to `want` bytes from [*p, end) into b. */
static size_t take(mt_http_buf_t *b, const char **p, const char *end, uint64_t want)
{
    size_t n = (size_t)(end - *p) < want ? (size_t)(end - *p) : (size_t)want;
    mt_http__buf_append(b, *p, n);
    *p += n;
    return n;
}

/* conn_parse() for the uwsgi protocol: everything is consumed; bytes after the request are ignored. */
static size_t conn_parse_uwsgi(mt_http_conn_t *conn, const char *data, size_t len)
{
    const mt_http_config_t *cfg = &conn->server->cfg;
    const char *p = data, *end = data + len;
    if (!conn->in_request) {
        conn->in_request = true;
        conn->packet.len = 0;
        conn->body.len = 0;
        conn->resp_headers.len = 0;
        conn->uwsgi_vars_done = false;
        conn->req.start_us = mt_clock_us();
        conn->req.status = 0;
        conn->req.bytes = 0;
    }
    if (!conn->uwsgi_vars_done) {
        mt_uwsgi_header_t h;
        if (conn->packet.len < MT_UWSGI_HEADER_SIZE) {
            take(&conn->packet, &p, end, MT_UWSGI_HEADER_SIZE - conn->packet.len);
            if (conn->packet.len < MT_UWSGI_HEADER_SIZE)
                return len;
        }
        (void)mt_uwsgi_header_decode(conn->packet.data, conn->packet.len, &h); /* 4 bytes are in */
        if (h.modifier1 != 0) {
            uwsgi_drop(conn, "a packet with modifier1 %u: only requests (modifier1 0) are served", h.modifier1);
            return len;
        }
        if (h.datasize > cfg->max_header_size) {
            uwsgi_drop(conn, "a vars block of %u bytes is over buffer-size (%zu)", h.datasize, cfg->max_header_size);
            return len;
        }
        take(&conn->packet, &p, end, MT_UWSGI_HEADER_SIZE + (size_t)h.datasize - conn->packet.len);
        if (conn->packet.len < MT_UWSGI_HEADER_SIZE + (size_t)h.datasize)
            return len;
        if (!uwsgi_vars_done(conn))
            return len;
    }
    conn->uwsgi_body_left -= take(&conn->body, &p, end, conn->uwsgi_body_left);
    if (conn->uwsgi_body_left > 0)
        return len;
    conn->parse_dead = true; /* one request per connection */
    conn->close_after = true;
    conn_message_done(conn);
    return len;
}

/* The peer closed with a request half sent: say how far it got. */
static void uwsgi_log_cut(mt_http_conn_t *conn)
{
    mt_uwsgi_header_t h = {0};
    if (!conn->uwsgi_vars_done) {
        bool have_header = mt_uwsgi_header_decode(conn->packet.data, conn->packet.len, &h) == 0;
        if (!have_header)
            mt_warn("uwsgi: the peer closed the connection after %zu bytes of a packet header (4): dropping it",
                    conn->packet.len);
        else
            mt_warn("uwsgi: the peer closed the connection after %zu of the %u bytes of a vars block: dropping it",
                    conn->packet.len - MT_UWSGI_HEADER_SIZE, h.datasize);
        return;
    }
    mt_warn("uwsgi: %s %s: the peer closed the connection after %zu of the %llu body bytes of CONTENT_LENGTH: "
            "dropping it", conn->req.method, conn->req.path, conn->body.len,
            (unsigned long long)(conn->body.len + conn->uwsgi_body_left));
}

static size_t conn_parse(mt_http_conn_t *conn, const char *data, size_t len)
{
    if (conn->server->cfg.uwsgi)
        return conn_parse_uwsgi(conn, data, len);
    const mt_http_config_t *cfg = &conn->server->cfg;
    const char *p = data;
    const char *end = data + len;
    bool run_again = false; /* after the headers pause: llhttp must run even on no data to end a bodiless message */
    conn->input_gen++;       /* chunk_data_end from an earlier input is not in this one */

    while ((p < end || run_again) && !conn->parse_dead && !conn->closing) {
        run_again = false;
        conn->paused = MT_HTTP_PAUSE_NONE;
        llhttp_errno_t err = llhttp_execute(&conn->parser, p, (size_t)(end - p));
        if (err == HPE_OK && conn->chunk_has_data) {
            /* Between a chunk's data and its line end when this input ran out: keep what came after the data. */
            const char *from =
                conn->chunk_data_end && conn->chunk_data_gen == conn->input_gen ? conn->chunk_data_end : p;
            size_t n = (size_t)(end - from);
            if (conn->chunk_tail_len + n > 2) {
                mt_http__respond_error(conn, 400, "bad request: bytes between a chunk's data and its line end");
                break;
            }
            memcpy(conn->chunk_tail + conn->chunk_tail_len, from, n);
            conn->chunk_tail_len += n;
            conn->chunk_data_end = NULL;
        }
        if (err == HPE_OK) {
            if (conn->in_head) {
                conn->head_bytes += (size_t)(end - p);
                if (conn->head_bytes > cfg->max_header_size)
                    mt_http__respond_error(conn, 431, "request headers too large");
            }
            p = end;
            break;
        }
        if (err == HPE_PAUSED && conn->paused != MT_HTTP_PAUSE_NONE) {
            const char *pos = llhttp_get_error_pos(&conn->parser);
            llhttp_resume(&conn->parser);
            if (conn->paused == MT_HTTP_PAUSE_CHUNK) {
                const char *from =
                    conn->chunk_data_end && conn->chunk_data_gen == conn->input_gen ? conn->chunk_data_end : p;
                if (!chunk_tail_ok(conn, from, pos)) {
                    mt_http__respond_error(conn, 400, "bad request: bytes between a chunk's data and its line end");
                    break;
                }
                conn->chunk_has_data = false;
                conn->chunk_data_end = NULL;
                conn->chunk_tail_len = 0;
                p = pos;
                continue;
            }
            if (conn->paused == MT_HTTP_PAUSE_HEADERS) {
                conn->head_bytes += (size_t)(pos - p);
                conn->in_head = false;
                p = pos;
                if (!conn_headers_done(conn))
                    break;
                run_again = true;
                continue;
            }
            p = pos;
            conn_message_done(conn);
            if (conn->offload != NULL)
                return (size_t)(p - data); /* the rest waits for its answer (HTTP/1.1 order) */
            if (conn->close_after)
                break;
            if (conn->file_fd >= 0 || conn->out.len - conn->out_sent > MT_HTTP_OUT_HIGH)
                return (size_t)(p - data); /* the rest waits for the output */
            continue;
        }
        if (conn->err_status != 0) {
            mt_http__respond_error(conn, conn->err_status, conn->err_msg);
        } else {
            char msg[256];
            snprintf(msg, sizeof msg, "bad request: %s", llhttp_get_error_reason(&conn->parser));
            mt_http__respond_error(conn, 400, msg);
        }
        break;
    }
    if (p < end) {
        conn->discard_input = true;
        conn->parse_dead = true;
    }
    return len;
}

/* ------------------------------------------------------------------ */
/* I/O                                                                 */
/* ------------------------------------------------------------------ */

static void conn_timer_cb(uv_timer_t *timer);
static void conn_read_stop(mt_http_conn_t *conn);

static void conn_arm_timer(mt_http_conn_t *conn, uint64_t ms)
{
    if (!conn->closing)
        uv_timer_start(&conn->timer, conn_timer_cb, ms, 0);
}

static void conn_io_error(mt_http_conn_t *conn, const char *what, int status)
{
    mt_debug("http: %s failed: %s", what, uv_strerror(status));
    mt_http__conn_close(conn);
}

static void alloc_cb(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
    mt_http_conn_t *conn = handle->data;
    /* Parsing copies what it keeps, so one buffer per thread serves every connection. */
    buf->base = conn->server->read_buf;
    buf->len = MT_HTTP_READ_SIZE;
}

static void read_cb(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    mt_http_conn_t *conn = stream->data;
    if (nread == 0 || conn->closing)
        return;
    if (nread < 0) {
        if (nread != UV_EOF) {
            conn_io_error(conn, "read", (int)nread);
            return;
        }
        conn->eof = true;
        conn->reading = false; /* libuv stops reading at EOF */
        if (conn->offload != NULL)
            return; /* a half-close after a request: its answer still goes out (conn_pump) */
        if (conn->lingering || conn->in_request) {
            if (conn->server->cfg.uwsgi && conn->in_request && !conn->lingering)
                uwsgi_log_cut(conn);
            mt_http__conn_close(conn); /* nothing more to answer */
            return;
        }
        /* Half-closed after complete requests: finish writing their responses, then close. */
        conn->close_after = true;
        conn->parse_dead = true;
        conn_pump(conn);
        return;
    }
    if (conn->parse_dead)
        return; /* lingering: discard */
    if (conn->offload != NULL) {
        /* Pipelined behind an offloaded request: kept until its answer is out, up to a bound. */
        mt_http__buf_append(&conn->pending, buf->base, (size_t)nread);
        if (conn->pending.len - conn->pending_off > MT_HTTP_OUT_HIGH)
            conn_read_stop(conn);
        return;
    }
    assert(conn->pending_off == conn->pending.len);
    size_t used = conn_parse(conn, buf->base, (size_t)nread);
    if (used < (size_t)nread) {
        conn->pending.len = 0;
        conn->pending_off = 0;
        mt_http__buf_append(&conn->pending, buf->base + used, (size_t)nread - used);
    }
    conn_pump(conn);
}

static void conn_read_start(mt_http_conn_t *conn)
{
    if (conn->reading || conn->closing)
        return;
    int rc = uv_read_start((uv_stream_t *)&conn->tcp, alloc_cb, read_cb);
    if (rc < 0) {
        conn_io_error(conn, "uv_read_start", rc);
        return;
    }
    conn->reading = true;
}

static void conn_read_stop(mt_http_conn_t *conn)
{
    if (!conn->reading)
        return;
    uv_read_stop((uv_stream_t *)&conn->tcp);
    conn->reading = false;
}

static void conn_out_done(mt_http_conn_t *conn)
{
    conn->out.len = 0;
    conn->out_sent = 0;
    mt_http__buf_trim(&conn->out, MT_HTTP_BUF_KEEP);
}

static void write_cb(uv_write_t *req, int status)
{
    mt_http_conn_t *conn = req->data;
    conn->writing = false;
    if (conn->closing)
        return; /* UV_ECANCELED from uv_close() */
    if (status < 0) {
        conn_io_error(conn, "write", status);
        return;
    }
    conn->out_sent += conn->write_len;
    if (conn->out_sent == conn->out.len)
        conn_out_done(conn);
    conn_arm_timer(conn, conn->server->cfg.timeout_ms); /* progress */
    conn_pump(conn);
}

/*
 * Write conn->out: try at once, queue what the socket did not take, at
 * most MT_HTTP_WRITE_MAX per uv_write() so that a slow but steady reader
 * shows progress (and re-arms the timer) at least that often. File chunks
 * always go through uv_write(), whose callback comes from the next loop
 * iteration, so a fast client cannot make one connection stream a whole
 * large file without letting the others run.
 */
static void conn_flush(mt_http_conn_t *conn)
{
    size_t left = conn->out.len - conn->out_sent;
    if (conn->file_fd < 0) {
        uv_buf_t buf = uv_buf_init(conn->out.data + conn->out_sent, (unsigned)left);
        int n = uv_try_write((uv_stream_t *)&conn->tcp, &buf, 1);
        if (n < 0 && n != UV_EAGAIN) {
            conn_io_error(conn, "write", n);
            return;
        }
        if (n > 0) {
            conn->out_sent += (size_t)n;
            left -= (size_t)n;
        }
        if (left == 0) {
            conn_out_done(conn);
            return;
        }
    }
    conn->write_len = left < MT_HTTP_WRITE_MAX ? left : MT_HTTP_WRITE_MAX;
    uv_buf_t buf = uv_buf_init(conn->out.data + conn->out_sent, (unsigned)conn->write_len);
    conn->write_req.data = conn;
    int rc = uv_write(&conn->write_req, (uv_stream_t *)&conn->tcp, &buf, 1, write_cb);
    if (rc < 0) {
        conn_io_error(conn, "uv_write", rc);
        return;
    }
    conn->writing = true;
    conn_arm_timer(conn, conn->server->cfg.timeout_ms); /* a client that stops reading is cut */
}

/* Append the next chunk of the static file being sent to conn->out. */
static void conn_file_fill(mt_http_conn_t *conn)
{
    assert(!conn->writing && conn->file_fd >= 0);
    size_t want = conn->file_left < MT_HTTP_FILE_CHUNK ? (size_t)conn->file_left : MT_HTTP_FILE_CHUNK;
    mt_http__buf_reserve(&conn->out, want);
    ssize_t n;
    do {
        n = pread(conn->file_fd, conn->out.data + conn->out.len, want, conn->file_off);
    } while (n < 0 && errno == EINTR);
    if (n <= 0) {
        /* The head promised file_left more bytes: all we can do is cut the connection. */
        mt_error("http: reading a static file failed at offset %lld: %s", (long long)conn->file_off,
                 n < 0 ? strerror(errno) : "the file shrank");
        mt_http__conn_close(conn);
        return;
    }
    conn->out.len += (size_t)n;
    conn->file_off += n;
    conn->file_left -= (uint64_t)n;
    if (conn->file_left == 0) {
        close(conn->file_fd);
        conn->file_fd = -1;
    }
}

void mt_http__conn_send_file(mt_http_conn_t *conn, int fd, uint64_t size)
{
    assert(conn->file_fd < 0);
    conn->file_fd = fd;
    conn->file_off = 0;
    conn->file_left = size;
    if (size == 0) {
        close(fd);
        conn->file_fd = -1;
        return;
    }
    conn_file_fill(conn); /* the first chunk right behind the head; a small file is complete now */
}

static void shutdown_cb(uv_shutdown_t *req, int status)
{
    mt_http_conn_t *conn = req->data;
    if (!conn->closing && status < 0)
        conn_io_error(conn, "shutdown", status);
}

/* Output flushed and no keep-alive: close, lingering if the client may still be sending. */
static void conn_finish(mt_http_conn_t *conn)
{
    if (conn->eof || !conn->discard_input) {
        mt_http__conn_close(conn);
        return;
    }
    conn->shutdown_req.data = conn;
    int rc = uv_shutdown(&conn->shutdown_req, (uv_stream_t *)&conn->tcp, shutdown_cb);
    if (rc < 0) {
        conn_io_error(conn, "uv_shutdown", rc);
        return;
    }
    conn->lingering = true;
    conn->parse_dead = true;
    unsigned timeout = conn->server->cfg.timeout_ms;
    conn_arm_timer(conn, timeout < MT_HTTP_LINGER_MS ? timeout : MT_HTTP_LINGER_MS);
    conn_read_start(conn);
}

/*
 * An offloaded request is back and nothing is being written: its answer
 * goes into conn->out now (never while a uv_write holds a pointer into it).
 */
static void conn_offload_finish(mt_http_conn_t *conn)
{
    mt_http_offload_t *off = conn->offload;
    conn->offload = NULL;
    mt_http__offload_respond(conn, off);
    mt_http__offload_free(off);
    conn_request_done(conn);
}

static void conn_pump(mt_http_conn_t *conn)
{
    while (!conn->closing) {
        if (conn->writing) {
            conn_read_stop(conn); /* backpressure */
            return;
        }
        if (conn->out.len > conn->out_sent) {
            conn_flush(conn);
            continue;
        }
        if (conn->file_fd >= 0) {
            conn_file_fill(conn);
            continue;
        }
        if (conn->offload != NULL && conn->offload->back) {
            conn_offload_finish(conn);
            continue;
        }
        if (conn->offload != NULL) {
            /* Its handler runs elsewhere: read on (to notice a client that leaves), up to a bound. */
            if (!conn->eof && conn->pending.len - conn->pending_off <= MT_HTTP_OUT_HIGH)
                conn_read_start(conn);
            return;
        }
        if (conn->close_after) {
            conn_finish(conn);
            return;
        }
        if (conn->pending_off < conn->pending.len) {
            conn->pending_off += conn_parse(conn, conn->pending.data + conn->pending_off,
                                            conn->pending.len - conn->pending_off);
            if (conn->pending_off == conn->pending.len) {
                conn->pending.len = 0;
                conn->pending_off = 0;
                mt_http__buf_trim(&conn->pending, MT_HTTP_BUF_KEEP);
            }
            continue;
        }
        if (conn->eof) {
            /* The client half-closed while an offloaded request ran: as read_cb would have done at EOF. */
            if (conn->in_request) {
                mt_http__conn_close(conn);
                return;
            }
            conn->close_after = true;
            conn->parse_dead = true;
            continue;
        }
        if (conn->server->draining && !conn->in_request && !conn->drain_armed)
            conn_drain_arm(conn); /* answered keep-alive before the drain: one last request may be on its way */
        conn_read_start(conn);
        return;
    }
}

/*
 * Close with a reset: the kernel drops what is still queued for a client
 * that stopped reading, instead of keeping an orphaned socket (and up to
 * its whole send buffer) around until TCP gives up.
 */
static void conn_abort(mt_http_conn_t *conn)
{
    uv_os_fd_t fd;
    if (uv_fileno((uv_handle_t *)&conn->tcp, &fd) == 0) {
        struct linger lg = {.l_onoff = 1, .l_linger = 0};
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    }
    mt_http__conn_close(conn);
}

static void conn_timer_cb(uv_timer_t *timer)
{
    mt_http_conn_t *conn = timer->data;
    if (conn->closing)
        return;
    if (conn->writing) {
        mt_info("http: client stopped reading for %u ms, closing", conn->server->cfg.timeout_ms);
        conn_abort(conn);
        return;
    }
    if (conn->offload != NULL)
        return; /* the handler's time is harakiri's business; the timer starts again after its answer */
    if (conn->server->draining && !conn->lingering && !conn->in_request && !conn->parse_dead) {
        /*
         * Draining, and no last request came: end it with a FIN and read
         * until the client's, rather than a close() that a request racing
         * in would turn into a reset.
         */
        conn->close_after = true;
        conn->parse_dead = true;
        conn->discard_input = true;
        conn_finish(conn);
        return;
    }
    if (conn->lingering || !conn->in_request || conn->parse_dead) {
        mt_http__conn_close(conn); /* idle, or done lingering */
        return;
    }
    conn_read_stop(conn);
    mt_http__respond_error(conn, 408, "request timeout");
    conn_pump(conn);
}

/* ------------------------------------------------------------------ */
/* Lifecycle                                                           */
/* ------------------------------------------------------------------ */

static void conn_free(mt_http_conn_t *conn);

static void conn_close_cb(uv_handle_t *handle)
{
    mt_http_conn_t *conn = handle->data;
    if (--conn->handles_open > 0)
        return;
    if (conn->offload != NULL && !conn->offload->back)
        return; /* its handler still reads the request: freed when it comes back (mt_http__offload_done) */
    mt_http__offload_free(conn->offload); /* back, its answer not written: dropped */
    conn->offload = NULL;
    conn_free(conn);
}

static void conn_free(mt_http_conn_t *conn)
{
    mt_http_server_t *server = conn->server;
    mt_http__buf_free(&conn->head);
    mt_http__buf_free(&conn->body);
    mt_http__buf_free(&conn->resp_headers);
    mt_http__buf_free(&conn->out);
    mt_http__buf_free(&conn->pending);
    mt_http__buf_free(&conn->packet);
    free(conn->headers);
    free(conn);
    mt_http__server_conn_freed(server);
}

void mt_http__conn_start(mt_http_server_t *server, int fd)
{
    mt_http_conn_t *conn = mt_calloc(1, sizeof(*conn));
    conn->server = server;
    conn->file_fd = -1;
    conn->req.conn = conn;
    uv_tcp_init(server->loop, &conn->tcp);
    uv_timer_init(server->loop, &conn->timer);
    conn->tcp.data = conn;
    conn->timer.data = conn;
    conn->handles_open = 2;
    conn->accepted_ms = uv_now(server->loop);
    llhttp_init(&conn->parser, HTTP_REQUEST, &server->settings);
    conn->parser.data = conn;

    conn->next = server->conns;
    if (server->conns != NULL)
        server->conns->prev = conn;
    else
        server->conns_tail = conn;
    server->conns = conn;
    server->conn_count++;
    server->stats.active_connections++;

    int rc = uv_tcp_open(&conn->tcp, fd);
    if (rc < 0) {
        mt_error("http: uv_tcp_open(%d) failed: %s", fd, uv_strerror(rc));
        close(fd);
        mt_http__conn_close(conn);
        return;
    }
    uv_tcp_nodelay(&conn->tcp, 1); /* fails harmlessly on a unix socket */
    conn_arm_timer(conn, server->cfg.timeout_ms);
    conn_read_start(conn);
}

void mt_http__conn_close(mt_http_conn_t *conn)
{
    if (conn->closing)
        return;
    conn->closing = true;
    mt_http_server_t *server = conn->server;
    if (conn->prev != NULL)
        conn->prev->next = conn->next;
    else
        server->conns = conn->next;
    if (conn->next != NULL)
        conn->next->prev = conn->prev;
    else
        server->conns_tail = conn->prev;
    conn->prev = conn->next = NULL;
    server->stats.active_connections--;
    if (conn->offload != NULL && !conn->offload->back)
        mt_offload_cancel(&conn->offload->task); /* not started yet: it never will; its answer is dropped */
    if (conn->file_fd >= 0) {
        close(conn->file_fd);
        conn->file_fd = -1;
    }
    uv_close((uv_handle_t *)&conn->tcp, conn_close_cb);
    uv_close((uv_handle_t *)&conn->timer, conn_close_cb);
}

bool mt_http__conn_idle(const mt_http_conn_t *conn)
{
    return !conn->closing && !conn->in_request && !conn->writing && !conn->lingering && conn->file_fd < 0 &&
           conn->offload == NULL && conn->out.len == conn->out_sent && conn->pending_off == conn->pending.len;
}

/*
 * Draining, and this connection is idle: its client may be sending a
 * request at this very moment (a keep-alive client's next one, or the
 * first one of a connection accepted just before the drain). It has done
 * nothing wrong, so a request that arrives within the grace is answered,
 * with "Connection: close"; after it conn_timer_cb() shuts it down
 * cleanly. Closing at once is what loses requests across reloads: the
 * client's request meets a closed socket and gets a reset.
 */
static void conn_drain_arm(mt_http_conn_t *conn)
{
    unsigned timeout = conn->server->cfg.timeout_ms;
    conn->drain_armed = true;
    conn_arm_timer(conn, timeout < MT_HTTP_DRAIN_IDLE_MS ? timeout : MT_HTTP_DRAIN_IDLE_MS);
}

void mt_http__conn_drain(mt_http_conn_t *conn)
{
    bool idle = !conn->in_request && !conn->writing && !conn->lingering && conn->file_fd < 0 &&
                conn->out.len == conn->out_sent && conn->pending_off == conn->pending.len;
    if (!idle)
        return; /* conn_pump() ends it after the response in flight (which says "Connection: close") */
    conn_drain_arm(conn);
}

void mt_http__offload_done(mt_offload_task_t *task, void *data)
{
    (void)data;
    mt_http_offload_t *off = (mt_http_offload_t *)task;
    mt_http_conn_t *conn = off->conn;
    mt_http_server_t *server = conn->server;
    assert(conn->offload == off);
    off->back = true;
    if (conn->closing) {
        /* The client went away meanwhile (or the server closed): the answer has nowhere to go. */
        conn->offload = NULL;
        conn->req.off = NULL;
        mt_http__offload_free(off);
        mt_http__server_close_inbox(server); /* before the last connection's free may free the server */
        if (conn->handles_open == 0)
            conn_free(conn);
        return;
    }
    conn_pump(conn); /* writes the answer, once what is being written is out */
}
