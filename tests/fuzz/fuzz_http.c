/*
 * fuzz_http: request bytes against the real HTTP server.
 *
 * The fixture is the stack's own server code (http_server.c, http_conn.c,
 * http_request.c) on a libuv loop in a background thread, listening on
 * 127.0.0.1 on an ephemeral port, with small limits so that inputs reach
 * them (head 2048 bytes, body 4096, timeout 200 ms), a few routes
 *
 *   GET  /hello            "hello"
 *   POST /echo             the body back, with X-Len
 *   GET  /json/...         JSON of the path, the query, its q parameter
 *                          and the X-Test header (also echoed as X-Echo)
 *   any  /empty            204
 *
 * and static files under /static (a small one, one of 70000 bytes that
 * takes two chunks, and a symlink pointing outside).
 *
 * Each input is one connection: connect, write the bytes, shutdown the
 * write side, read until the server closes. Checks:
 *   - the server closes within 5 s (it has 200 ms to see a whole request,
 *     and closes at once on EOF mid-request), and never stops reading for
 *     that long either;
 *   - whatever it answers is a well-formed sequence of HTTP/1.1 responses
 *     (parsed with llhttp; only the status line is checked when the input
 *     may hold a HEAD request, whose response has a Content-Length but no
 *     body, or when the connection was reset);
 *   - the loop thread is still running, and every 16 inputs (and at exit)
 *     a GET /hello on a new connection is answered 200 "hello";
 *   - at exit the server closes and leaves no handle on its loop.
 * FUZZ_VERBOSE=1 in the environment prints each answer.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <llhttp.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fuzz.h"
#include "stack/http_server.h"
#include "common/log.h"

#define MAX_HEADER 2048
#define MAX_BODY 4096
#define TIMEOUT_MS 200
#define CLIENT_TIMEOUT_S 5 /* a server that has not closed by then hangs */
#define HEALTH_EVERY 16
#define BIG_FILE 70000

static struct {
    bool started;
    int listen_fd;
    int port;
    uv_loop_t loop;
    uv_async_t stop;
    pthread_t thread;
    mt_http_server_t *server;
    mt_router_t *router;
    mt_static_map_t *statics;
    unsigned long inputs;
} S;

/* ------------------------------------------------------------------ */
/* Routes                                                              */
/* ------------------------------------------------------------------ */

static void hello_cb(mt_request_t *req, void *data)
{
    (void)data;
    mt_respond(req, 200, "text/plain", "hello", 5);
}

static void echo_cb(mt_request_t *req, void *data)
{
    (void)data;
    size_t len;
    const char *body = mt_request_body(req, &len);
    char n[32];
    snprintf(n, sizeof n, "%zu", len);
    mt_response_header(req, "X-Len", n);
    mt_respond(req, 200, "application/octet-stream", body, len);
}

static void json_escape(char *out, size_t outlen, const char *s)
{
    size_t n = 0;
    for (; *s != '\0' && n + 7 < outlen; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\' || c < 0x20 || c >= 0x7f)
            n += (size_t)snprintf(out + n, outlen - n, "\\u%04x", c);
        else
            out[n++] = (char)c;
    }
    out[n] = '\0';
}

static void json_cb(mt_request_t *req, void *data)
{
    (void)data;
    char q[256], path[512], query[512], qe[1600], xe[1600], body[4096];
    int qn = mt_request_query_param(req, "q", q, sizeof q);
    const char *x = mt_request_header(req, "X-Test");
    if (x != NULL)
        mt_response_header(req, "X-Echo", x);
    json_escape(path, sizeof path, mt_request_path(req));
    json_escape(query, sizeof query, mt_request_query(req));
    json_escape(qe, sizeof qe, qn >= 0 ? q : "");
    json_escape(xe, sizeof xe, x ? x : "");
    int len = snprintf(body, sizeof body, "{\"path\":\"%s\",\"query\":\"%s\",\"q\":\"%s\",\"qn\":%d,\"x\":\"%s\"}", path,
                       query, qe, qn, xe);
    mt_respond(req, 200, "application/json", body, (size_t)len < sizeof body ? (size_t)len : sizeof body - 1);
}

static void empty_cb(mt_request_t *req, void *data)
{
    (void)data;
    mt_respond(req, 204, NULL, NULL, 0);
}

/* ------------------------------------------------------------------ */
/* Server                                                              */
/* ------------------------------------------------------------------ */

static void *loop_thread(void *arg)
{
    (void)arg;
    uv_run(&S.loop, UV_RUN_DEFAULT);
    return NULL;
}

static void stop_cb(uv_async_t *async)
{
    mt_http_server_close(S.server);
    uv_close((uv_handle_t *)async, NULL);
}

static void health_check(void);

static void server_stop(void)
{
    if (!S.started)
        return;
    health_check();
    uv_async_send(&S.stop);
    FUZZ_CHECK(pthread_join(S.thread, NULL) == 0, "pthread_join");
    FUZZ_CHECK(uv_loop_close(&S.loop) == 0, "handles left on the server's loop after mt_http_server_close()");
    close(S.listen_fd);
    mt_router_destroy(S.router);
    mt_static_map_destroy(S.statics);
    S.started = false;
}

static void server_start(void)
{
    if (S.started)
        return;
    mt_log_set_level(MT_LOG_ERROR); /* not one line per 400 */

    S.listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    FUZZ_CHECK(S.listen_fd >= 0, "socket: %s", strerror(errno));
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    FUZZ_CHECK(bind(S.listen_fd, (struct sockaddr *)&sin, sizeof sin) == 0, "bind: %s", strerror(errno));
    FUZZ_CHECK(listen(S.listen_fd, 64) == 0, "listen: %s", strerror(errno));
    socklen_t sl = sizeof sin;
    FUZZ_CHECK(getsockname(S.listen_fd, (struct sockaddr *)&sin, &sl) == 0, "getsockname");
    S.port = ntohs(sin.sin_port);

    S.router = mt_router_create();
    FUZZ_CHECK(mt_router_add(S.router, "GET", "/hello", 0, hello_cb, NULL) == 0, "route");
    FUZZ_CHECK(mt_router_add(S.router, "POST", "/echo", 0, echo_cb, NULL) == 0, "route");
    FUZZ_CHECK(mt_router_add(S.router, "GET", "/json", MT_ROUTE_PREFIX, json_cb, NULL) == 0, "route");
    FUZZ_CHECK(mt_router_add(S.router, NULL, "/empty", 0, empty_cb, NULL) == 0, "route");
    mt_router_freeze(S.router);

    const char *dir = fuzz_tmpdir();
    char path[512], spec[600], err[256];
    snprintf(path, sizeof path, "%s/hello.txt", dir);
    fuzz_write_file(path, "static hello\n", 13);
    char *big = malloc(BIG_FILE);
    FUZZ_CHECK(big != NULL, "out of memory");
    for (size_t i = 0; i < BIG_FILE; i++)
        big[i] = (char)('A' + i % 23);
    snprintf(path, sizeof path, "%s/big.bin", dir);
    fuzz_write_file(path, big, BIG_FILE);
    free(big);
    snprintf(path, sizeof path, "%s/out", dir);
    FUZZ_CHECK(symlink("/etc/passwd", path) == 0, "symlink %s", path);
    S.statics = mt_static_map_create();
    snprintf(spec, sizeof spec, "/static=%s", dir);
    FUZZ_CHECK(mt_static_map_add(S.statics, spec, err, sizeof err) == 0, "%s", err);

    FUZZ_CHECK(uv_loop_init(&S.loop) == 0, "uv_loop_init");
    mt_http_config_t cfg = {
        .listen_fd = S.listen_fd,
        .max_header_size = MAX_HEADER,
        .max_body_size = MAX_BODY,
        .timeout_ms = TIMEOUT_MS,
        .router = S.router,
        .statics = S.statics,
        .stack = NULL,
    };
    S.server = mt_http_server_create(&S.loop, &cfg, err, sizeof err);
    FUZZ_CHECK(S.server != NULL, "%s", err);
    FUZZ_CHECK(uv_async_init(&S.loop, &S.stop, stop_cb) == 0, "uv_async_init");
    FUZZ_CHECK(pthread_create(&S.thread, NULL, loop_thread, NULL) == 0, "pthread_create");
    S.started = true;
    atexit(server_stop);
}

/* ------------------------------------------------------------------ */
/* Client                                                              */
/* ------------------------------------------------------------------ */

typedef struct exchange {
    char *out; /* what the server sent, NUL-terminated */
    size_t out_len;
    bool reset;     /* the connection ended with ECONNRESET */
} exchange_t;

/* One connection: send data, shut the write side, read until the server closes. */
static void exchange(const uint8_t *data, size_t size, exchange_t *ex)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    FUZZ_CHECK(fd >= 0, "socket: %s", strerror(errno));
    struct timeval tv = {.tv_sec = CLIENT_TIMEOUT_S};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)S.port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (connect(fd, (struct sockaddr *)&sin, sizeof sin) < 0) {
        /* Interrupted (libFuzzer's SIGALRM): the connection goes on; wait for it. */
        FUZZ_CHECK(errno == EINTR, "connect: %s", strerror(errno));
        struct pollfd pfd = {.fd = fd, .events = POLLOUT};
        while (poll(&pfd, 1, CLIENT_TIMEOUT_S * 1000) < 0 && errno == EINTR)
            ;
        int soerr = ETIMEDOUT;
        socklen_t len = sizeof soerr;
        if (pfd.revents != 0)
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len);
        FUZZ_CHECK(soerr == 0, "connect: %s", strerror(soerr));
    }

    *ex = (exchange_t){0};
    size_t sent = 0;
    while (sent < size) {
        ssize_t n = send(fd, data + sent, size - sent, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        FUZZ_CHECK(n > 0 || errno != EAGAIN, "the server stopped reading for %d s", CLIENT_TIMEOUT_S);
        if (n < 0)
            break; /* EPIPE, ECONNRESET: it closed after an error; read what it said */
        sent += (size_t)n;
    }
    shutdown(fd, SHUT_WR);

    size_t cap = 16384;
    ex->out = malloc(cap);
    FUZZ_CHECK(ex->out != NULL, "out of memory");
    for (;;) {
        if (cap - ex->out_len < 8192) {
            cap *= 2;
            ex->out = realloc(ex->out, cap);
            FUZZ_CHECK(ex->out != NULL, "out of memory");
        }
        ssize_t n = recv(fd, ex->out + ex->out_len, cap - ex->out_len - 1, 0);
        if (n > 0) {
            ex->out_len += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        FUZZ_CHECK(n == 0 || errno != EAGAIN, "the server did not close the connection within %d s (%zu bytes read)",
                   CLIENT_TIMEOUT_S, ex->out_len);
        FUZZ_CHECK(n == 0 || errno == ECONNRESET, "recv: %s", strerror(errno));
        ex->reset = n < 0;
        break;
    }
    ex->out[ex->out_len] = '\0';
    close(fd);
}

static void health_check(void)
{
    static const char req[] = "GET /hello HTTP/1.1\r\nHost: fuzz\r\nConnection: close\r\n\r\n";
    exchange_t ex;
    exchange((const uint8_t *)req, sizeof req - 1, &ex);
    FUZZ_CHECK(strncmp(ex.out, "HTTP/1.1 200 ", 13) == 0 && ex.out_len >= 5 &&
                   memcmp(ex.out + ex.out_len - 5, "hello", 5) == 0,
               "the server no longer serves GET /hello: \"%s\"", ex.out);
    free(ex.out);
}

static bool may_hold_head(const uint8_t *data, size_t size)
{
    return memmem(data, size, "HEAD", 4) != NULL;
}

/* The server's output is a sequence of complete HTTP/1.1 responses. */
static void check_responses(const exchange_t *ex)
{
    llhttp_settings_t settings;
    llhttp_settings_init(&settings);
    llhttp_t parser;
    llhttp_init(&parser, HTTP_RESPONSE, &settings);
    llhttp_errno_t err = llhttp_execute(&parser, ex->out, ex->out_len);
    if (err == HPE_OK)
        err = llhttp_finish(&parser);
    FUZZ_CHECK(err == HPE_OK, "malformed response stream (%s: %s) at byte %zd of: \"%s\"", llhttp_errno_name(err),
               llhttp_get_error_reason(&parser) ? llhttp_get_error_reason(&parser) : "",
               llhttp_get_error_pos(&parser) ? llhttp_get_error_pos(&parser) - ex->out : (ssize_t)-1, ex->out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    server_start();
    exchange_t ex;
    exchange(data, size, &ex);
    if (getenv("FUZZ_VERBOSE") != NULL)
        fprintf(stderr, "-- %zu bytes in, %zu out%s:\n%s\n", size, ex.out_len, ex.reset ? " (reset)" : "", ex.out);
    if (ex.out_len > 0) {
        FUZZ_CHECK(ex.out_len >= 13 && strncmp(ex.out, "HTTP/1.1 ", 9) == 0, "not an HTTP/1.1 response: \"%s\"",
                   ex.out);
        if (!ex.reset && !may_hold_head(data, size))
            check_responses(&ex);
    }
    free(ex.out);
    FUZZ_CHECK(pthread_tryjoin_np(S.thread, NULL) == EBUSY, "the server's loop thread has ended");
    if (++S.inputs % HEALTH_EVERY == 0)
        health_check();
    return 0;
}
