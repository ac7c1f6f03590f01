/*
 * http_request: what a route handler sees of a request, how its response is
 * written, and dispatch (static files first, then the routes).
 *
 * A request lives in its connection (http_conn.h): the URL and headers in
 * conn->head, the body in conn->body, and the pointers handed out are valid
 * until the handler returns. Responses are serialized straight into the
 * connection's output buffer, which http_conn.c flushes once the read that
 * carried the request is parsed; nothing is allocated per request once the
 * connection's buffers have grown to fit.
 *
 * Static paths that try to escape their directory (-EACCES from
 * mt_static_resolve) are answered 403, missing files 404; files carry an
 * ETag and Last-Modified and are revalidated (Cache-Control: no-cache).
 *
 * With API keys configured (api_keys.h), every request that is not a static
 * file needs one, except /api/health: a request without a key is answered
 * 401, one with a key not in the table 403, before any route is looked up
 * (so an unknown path tells nothing either). The key comes from the
 * X-API-Key header or else the `key` query parameter; it is never logged.
 */
#define MT_LOG_NAME "muleteer.stack.http"

#include "stack/http_conn.h"
#include "stack/url.h"

#include <assert.h>
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/decimal.h"
#include "common/log.h"

static const char *reason_phrase(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 416: return "Range Not Satisfiable";
    case 422: return "Unprocessable Content";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 507: return "Insufficient Storage";
    default:
        break;
    }
    switch (status / 100) {
    case 2: return "OK";
    case 3: return "Redirection";
    case 4: return "Client Error";
    default: return "Server Error";
    }
}

static char *put(char *p, const char *src, size_t n)
{
    memcpy(p, src, n);
    return p + n;
}

#define PUT_LITERAL(p, s) put((p), (s), sizeof(s) - 1)

static char *put_uint(char *p, uint64_t v)
{
    return p + mt_decimal_u64(p, v);
}

/*
 * Append the status line and headers to conn->out. Without has_length no
 * Content-Length is sent (204, 304). `extra` holds complete header lines.
 */
static void response_head(mt_http_conn_t *conn, int status, const char *content_type, bool has_length,
                          uint64_t length, const mt_http_buf_t *extra)
{
    const char *reason = reason_phrase(status);
    size_t reason_len = strlen(reason);
    size_t type_len = content_type ? strlen(content_type) : 0;
    size_t extra_len = extra ? extra->len : 0;
    /* Fixed parts: 150 bytes at most, with a 20-digit length. */
    mt_http__buf_reserve(&conn->out, 192 + reason_len + type_len + extra_len);

    char *p = conn->out.data + conn->out.len;
    p = PUT_LITERAL(p, "HTTP/1.1 ");
    p = put_uint(p, (unsigned)status);
    *p++ = ' ';
    p = put(p, reason, reason_len);
    p = PUT_LITERAL(p, "\r\nServer: muleteer\r\nDate: ");
    p = put(p, mt_http__server_date(conn->server), MT_HTTP_DATE_LEN);
    if (has_length) {
        p = PUT_LITERAL(p, "\r\nContent-Length: ");
        p = put_uint(p, length);
    }
    if (content_type != NULL) {
        p = PUT_LITERAL(p, "\r\nContent-Type: ");
        p = put(p, content_type, type_len);
    }
    if (conn->close_after)
        p = PUT_LITERAL(p, "\r\nConnection: close\r\n");
    else
        p = PUT_LITERAL(p, "\r\nConnection: keep-alive\r\n");
    if (extra_len > 0)
        p = put(p, extra->data, extra_len);
    p = PUT_LITERAL(p, "\r\n");
    conn->out.len = (size_t)(p - conn->out.data);
    conn->server->stats.requests++;
}

static int scratch_append_cb(const char *buffer, size_t size, void *data)
{
    mt_http__buf_append(data, buffer, size);
    return 0;
}

/* {"err_msg": msg, "err_code": status} into out. */
static void error_body(mt_http_buf_t *out, int status, const char *msg)
{
    json_t *doc = json_pack("{s:s, s:i}", "err_msg", msg, "err_code", status);
    if (doc == NULL) {
        /* Not UTF-8 (a raw path, say): keep the ASCII, mark the rest. */
        char ascii[1024];
        size_t n = 0;
        for (; msg[n] != '\0' && n + 1 < sizeof ascii; n++)
            ascii[n] = (unsigned char)msg[n] < 0x80 ? msg[n] : '?';
        ascii[n] = '\0';
        doc = json_pack("{s:s, s:i}", "err_msg", ascii, "err_code", status);
    }
    out->len = 0;
    if (doc == NULL || json_dump_callback(doc, scratch_append_cb, out, JSON_COMPACT) != 0) {
        static const char fallback[] = "{\"err_msg\":\"error\",\"err_code\":500}";
        out->len = 0;
        mt_http__buf_append(out, fallback, sizeof fallback - 1);
    }
    json_decref(doc);
}

/* The buffer a handler serializes into: its offload's while it runs on a pool thread, else the loop's. */
static mt_http_buf_t *scratch_of(const mt_request_t *req)
{
    return req->off ? &req->off->scratch : &req->conn->server->scratch;
}

void mt_http__respond_error(mt_http_conn_t *conn, int status, const char *msg)
{
    assert(!conn->writing);
    mt_http_server_t *server = conn->server;
    mt_info("http: %d %s", status, msg);
    conn->close_after = true;
    conn->parse_dead = true;
    conn->discard_input = true; /* the client may be sending more: linger before closing */
    conn->in_request = false;
    error_body(&server->scratch, status, msg);
    response_head(conn, status, "application/json", true, server->scratch.len, NULL);
    mt_http__buf_append(&conn->out, server->scratch.data, server->scratch.len);
}

/* ------------------------------------------------------------------ */
/* Dispatch                                                            */
/* ------------------------------------------------------------------ */

/* Who sent the request: req->user and req->admin. Returns false after answering 401 or 403. */
static bool authenticate(mt_http_conn_t *conn)
{
    mt_request_t *req = &conn->req;
    const mt_api_keys_t *keys = conn->server->cfg.api_keys;
    if (keys == NULL || strcmp(req->path, "/api/health") == 0)
        return true;
    const char *key = mt_request_header(req, "X-API-Key");
    key = key ? key : mt_api_keys_bearer(mt_request_header(req, "Authorization"));
    size_t len = key ? strlen(key) : 0;
    char from_query[MT_API_KEY_MAX + 1];
    if (len == 0) {
        int n = mt_request_query_param(req, "key", from_query, sizeof from_query);
        key = from_query;
        len = n >= 0 ? (size_t)n : n == -ENOSPC ? sizeof from_query : 0; /* too long: no key has that length */
    }
    if (len == 0) {
        mt_response_header(req, "WWW-Authenticate", "X-API-Key realm=\"muleteer\"");
        mt_respond_error(req, 401, "an API key is required: send it in the X-API-Key header or the key query parameter");
        return false;
    }
    bool admin = false;
    const char *user = mt_api_keys_lookup(keys, key, len, &admin);
    memset(from_query, 0, sizeof from_query);
    if (user == NULL) {
        mt_respond_error(req, 403, "the API key is not valid");
        return false;
    }
    req->user = user;
    req->admin = admin;
    return true;
}

/* Whether an If-None-Match value names etag (or is "*"); weak tags compare as strong ones (RFC 9110 13.1.2). */
static bool etag_listed(const char *value, const char *etag)
{
    size_t etag_len = strlen(etag);
    for (const char *p = value; *p;) {
        p += strspn(p, " \t,");
        if (*p == '*')
            return true;
        if (strncmp(p, "W/", 2) == 0)
            p += 2;
        size_t n = strcspn(p, " \t,");
        if (n == etag_len && strncmp(p, etag, n) == 0)
            return true;
        p += n;
    }
    return false;
}

/*
 * A static file: Last-Modified, an ETag (modification time and size) and
 * Cache-Control: no-cache, so that a browser revalidates on each load and a
 * reload of an unchanged file costs a 304 without a body. If-None-Match
 * wins over If-Modified-Since, which matches only our own date exactly.
 */
static void serve_file(mt_http_conn_t *conn, int fd, const struct stat *st)
{
    mt_request_t *req = &conn->req;
    char date[MT_HTTP_DATE_LEN + 1];
    mt_http__format_date(st->st_mtime, date);
    char etag[64];
    int etag_len = snprintf(etag, sizeof etag, "\"%llx.%lx-%llx\"", (unsigned long long)st->st_mtim.tv_sec,
                            (unsigned long)st->st_mtim.tv_nsec, (unsigned long long)st->st_size);
    const char *if_none_match = mt_request_header(req, "If-None-Match");
    const char *if_modified_since = mt_request_header(req, "If-Modified-Since");
    bool not_modified = if_none_match != NULL ? etag_listed(if_none_match, etag)
                                              : if_modified_since != NULL && strcmp(if_modified_since, date) == 0;
    mt_http__buf_append(&conn->resp_headers, "Last-Modified: ", 15);
    mt_http__buf_append(&conn->resp_headers, date, MT_HTTP_DATE_LEN);
    mt_http__buf_append(&conn->resp_headers, "\r\nETag: ", 8);
    mt_http__buf_append(&conn->resp_headers, etag, (size_t)etag_len);
    mt_http__buf_append(&conn->resp_headers, "\r\nCache-Control: no-cache\r\n", 27);
    req->responded = true;
    if (not_modified) {
        req->status = 304;
        req->bytes = 0;
        close(fd);
        response_head(conn, 304, NULL, false, 0, &conn->resp_headers);
        return;
    }
    req->status = 200;
    req->bytes = req->head_only ? 0 : (uint64_t)st->st_size;
    uint64_t size = (uint64_t)st->st_size;
    response_head(conn, 200, mt_static_type_for(conn->server->cfg.statics, req->path), true, size, &conn->resp_headers);
    if (req->head_only || size == 0) {
        close(fd);
        return;
    }
    mt_http__conn_send_file(conn, fd, size);
}

/* Run the route's handler, with its start and end in `busy` for the harakiri watchdog (if not NULL). */
static void run_handler(mt_request_t *req, const mt_route_t *route, mt_http_busy_t *busy)
{
    if (busy != NULL) {
        /* For the harakiri watchdog: method and path first, the start time last (http_server.h). */
        snprintf(busy->method, sizeof busy->method, "%s", req->method);
        snprintf(busy->path, sizeof busy->path, "%s", req->path);
        atomic_store_explicit(&busy->since_us, mt_clock_us(), memory_order_release);
    }
    route->cb(req, route->data);
    if (busy != NULL)
        atomic_store_explicit(&busy->since_us, 0, memory_order_release);
}

/* On a pool thread: the handler, its answer buffered in req->off. */
static void offload_run(mt_offload_task_t *task, size_t thread_index)
{
    mt_http_offload_t *off = (mt_http_offload_t *)task;
    mt_request_t *req = &off->conn->req;
    run_handler(req, off->route, off->busy ? &off->busy[thread_index] : NULL);
}

static bool method_is_safe(const char *method)
{
    return strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0 || strcmp(method, "OPTIONS") == 0;
}

/*
 * Hand the request to the offload pool. Until it comes back
 * (mt_http__offload_done) the connection parses nothing more, so the
 * request's head and body stay as they are.
 */
static void offload_start(mt_http_conn_t *conn, const mt_route_t *route)
{
    mt_http_server_t *server = conn->server;
    mt_http_offload_t *off = mt_calloc(1, sizeof *off);
    off->conn = conn;
    off->route = route;
    off->busy = server->cfg.offload_busy;
    off->task.run = offload_run;
    off->task.writes = !method_is_safe(conn->req.method);
    conn->offload = off;
    conn->req.off = off;
    mt_offload_submit(server->cfg.offload, server->inbox, &off->task);
}

static void write_response(mt_http_conn_t *conn, int status, const char *content_type, const void *body, size_t len)
{
    bool bodiless = status == 204 || status == 304;
    response_head(conn, status, content_type, !bodiless, len, &conn->resp_headers);
    if (!bodiless && !conn->req.head_only && len > 0)
        mt_http__buf_append(&conn->out, body, len);
}

void mt_http__offload_respond(mt_http_conn_t *conn, mt_http_offload_t *off)
{
    mt_request_t *req = &conn->req;
    req->off = NULL;
    if (!req->responded) {
        mt_error("http: the handler for %s %s returned without responding", req->method, req->path);
        mt_respond_error(req, 500, "internal error: the handler did not respond");
        return;
    }
    if (conn->server->draining)
        conn->close_after = true; /* said in this response, which is not written yet */
    write_response(conn, req->status, off->content_type, off->body.data, off->length);
}

void mt_http__offload_free(mt_http_offload_t *off)
{
    if (off == NULL)
        return;
    free(off->content_type);
    mt_http__buf_free(&off->body);
    mt_http__buf_free(&off->scratch);
    free(off);
}

void mt_http__dispatch(mt_http_conn_t *conn)
{
    mt_http_server_t *server = conn->server;
    mt_request_t *req = &conn->req;
    req->user = NULL;
    req->admin = server->cfg.api_keys == NULL;

    if (server->cfg.statics != NULL && (strcmp(req->method, "GET") == 0 || req->head_only)) {
        int fd = -1;
        struct stat st;
        int rc = mt_static_resolve(server->cfg.statics, req->path, &fd, &st);
        if (rc == 1) {
            serve_file(conn, fd, &st);
            return;
        }
        if (rc == -ENOENT) {
            mt_respond_error(req, 404, "not found: %s", req->path);
            return;
        }
        if (rc == -EACCES) {
            mt_respond_error(req, 403, "forbidden: %s", req->path);
            return;
        }
        if (rc < 0) {
            mt_error("http: static file for %s: %s", req->path, strerror(-rc));
            mt_respond_error(req, 500, "cannot open %s", req->path);
            return;
        }
    }

    if (!authenticate(conn))
        return;
    int status = 404;
    const mt_route_t *route = mt_router_match(server->cfg.router, req->method, req->path, &status);
    req->route = route;
    if (route == NULL) {
        if (status == 405)
            mt_respond_error(req, 405, "method %s not allowed for %s", req->method, req->path);
        else
            mt_respond_error(req, 404, "no route for %s", req->path);
        return;
    }
    bool offload = (route->flags & MT_ROUTE_OFFLOAD) ||
                   ((route->flags & MT_ROUTE_OFFLOAD_WRITES) && !method_is_safe(req->method));
    if (offload && server->cfg.offload != NULL) {
        offload_start(conn, route);
        return;
    }
    run_handler(req, route, server->cfg.busy);
    if (!req->responded) {
        mt_error("http: the handler for %s %s returned without responding", req->method, req->path);
        mt_respond_error(req, 500, "internal error: the handler did not respond");
    }
}

/* ------------------------------------------------------------------ */
/* Request API                                                         */
/* ------------------------------------------------------------------ */

mt_stack_t *mt_request_stack(const mt_request_t *req)
{
    return req->conn->server->cfg.stack;
}

const char *mt_request_method(const mt_request_t *req)
{
    return req->method;
}

const char *mt_request_path(const mt_request_t *req)
{
    return req->path;
}

const char *mt_request_query(const mt_request_t *req)
{
    return req->query;
}

const char *mt_request_user(const mt_request_t *req)
{
    return req->user;
}

int mt_request_is_admin(const mt_request_t *req)
{
    return req->admin;
}

static bool component_equals(const char *s, const char *end, const char *name)
{
    while (s < end) {
        if (*name == '\0' || mt_url_form_next(&s) != *name)
            return false;
        name++;
    }
    return *name == '\0';
}

int mt_request_query_param(const mt_request_t *req, const char *name, char *out, size_t outlen)
{
    const char *p = req->query;
    while (*p != '\0') {
        size_t seg_len = strcspn(p, "&");
        const char *seg_end = p + seg_len;
        const char *eq = memchr(p, '=', seg_len);
        const char *key_end = eq ? eq : seg_end;
        if (component_equals(p, key_end, name)) {
            const char *v = eq ? eq + 1 : seg_end;
            size_t n = 0;
            while (v < seg_end) {
                char c = mt_url_form_next(&v);
                if (n + 1 >= outlen)
                    return -ENOSPC;
                out[n++] = c;
            }
            if (outlen == 0)
                return -ENOSPC;
            out[n] = '\0';
            return (int)n;
        }
        p = *seg_end == '&' ? seg_end + 1 : seg_end;
    }
    return -ENOENT;
}

int mt_request_query_int(mt_request_t *req, const char *name, int64_t def, int64_t min, int64_t max, int64_t *out)
{
    char buf[32];
    int n = mt_request_query_param(req, name, buf, sizeof buf);
    if (n == -ENOENT) {
        *out = def;
        return 0;
    }
    /* Written as decimal digits, an optional '-' first: no blank, no '+', no leading zero (as the ids). */
    const char *digits = buf[0] == '-' ? buf + 1 : buf;
    bool canonical = n > 0 && digits[0] >= '0' && digits[0] <= '9' && (digits[0] != '0' || digits[1] == '\0') &&
                     strcmp(buf, "-0") != 0;
    char *end = buf;
    errno = 0;
    long long v = canonical ? strtoll(buf, &end, 10) : 0;
    if (!canonical || *end || errno || v < min || v > max) {
        mt_respond_error(req, 400, "query parameter '%s' must be an integer from %lld to %lld", name,
                         (long long)min, (long long)max);
        return -1;
    }
    *out = v;
    return 0;
}

const char *mt_request_header(const mt_request_t *req, const char *name)
{
    const mt_http_conn_t *conn = req->conn;
    for (size_t i = 0; i < conn->header_count; i++) {
        if (strcasecmp(conn->head.data + conn->headers[i].name, name) == 0)
            return conn->head.data + conn->headers[i].value;
    }
    return NULL;
}

const char *mt_request_body(const mt_request_t *req, size_t *len)
{
    const mt_http_conn_t *conn = req->conn;
    if (len != NULL)
        *len = conn->body.len;
    return conn->body.data != NULL ? conn->body.data : "";
}

static bool header_name_valid(const char *name)
{
    if (*name == '\0')
        return false;
    for (const char *p = name; *p != '\0'; p++) {
        unsigned char c = (unsigned char)*p;
        if (c <= 0x20 || c >= 0x7f || strchr("\"(),/:;<=>?@[\\]{}", c) != NULL)
            return false;
    }
    return true;
}

void mt_response_header(mt_request_t *req, const char *name, const char *value)
{
    if (req->responded) {
        mt_error("http: %s %s: header %s set after the response, ignored", req->method, req->path, name);
        return;
    }
    if (!header_name_valid(name) || strpbrk(value, "\r\n") != NULL) {
        mt_error("http: %s %s: invalid response header %s, ignored", req->method, req->path, name);
        return;
    }
    if (strcasecmp(name, "Content-Length") == 0 || strcasecmp(name, "Connection") == 0 ||
        strcasecmp(name, "Transfer-Encoding") == 0) {
        mt_warn("http: %s %s: header %s is the server's, ignored", req->method, req->path, name);
        return;
    }
    mt_http_buf_t *h = &req->conn->resp_headers;
    mt_http__buf_append(h, name, strlen(name));
    mt_http__buf_append(h, ": ", 2);
    mt_http__buf_append(h, value, strlen(value));
    mt_http__buf_append(h, "\r\n", 2);
}

void mt_respond(mt_request_t *req, int status, const char *content_type, const void *body, size_t len)
{
    mt_http_conn_t *conn = req->conn;
    if (req->responded) {
        mt_error("http: %s %s: second response (%d) ignored", req->method, req->path, status);
        return;
    }
    req->responded = true;
    if (status < 200 || status > 599) {
        mt_error("http: %s %s: invalid status %d, answering 500", req->method, req->path, status);
        status = 500;
    }
    req->status = status;
    req->bytes = req->head_only ? 0 : len;
    if (content_type != NULL && strpbrk(content_type, "\r\n") != NULL)
        content_type = "application/octet-stream";
    mt_http_offload_t *off = req->off;
    if (off != NULL) {
        /* On a pool thread: the loop writes it out (mt_http__offload_respond). */
        off->content_type = content_type ? mt_strdup(content_type) : NULL;
        off->length = len;
        off->body.len = 0;
        if (!req->head_only)
            mt_http__buf_append(&off->body, body, len);
        return;
    }
    write_response(conn, status, content_type, body, len);
}

void mt_respond_json(mt_request_t *req, int status, const struct json_t *doc)
{
    mt_http_buf_t *scratch = scratch_of(req);
    scratch->len = 0;
    if (doc == NULL ||
        json_dump_callback(doc, scratch_append_cb, scratch, JSON_COMPACT | JSON_ENCODE_ANY) != 0) {
        mt_error("http: %s %s: cannot serialize the JSON response", req->method, req->path);
        mt_respond_error(req, 500, "internal error: cannot serialize the response");
        return;
    }
    mt_respond(req, status, "application/json", scratch->data, scratch->len);
}

void mt_respond_error(mt_request_t *req, int status, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    mt_http_buf_t *scratch = scratch_of(req);
    error_body(scratch, status, msg);
    mt_respond(req, status, "application/json", scratch->data, scratch->len);
}
