/*
 * Tests of the HTTP server over real sockets: a server on 127.0.0.1 with an
 * ephemeral port, its loop running in a thread, and blocking clients in the
 * test. Covers routing, keep-alive, pipelining, every limit (400, 413, 414,
 * 431), the idle timeout and a slowloris (408), a handler that forgets to
 * respond (500), JSON errors, static files (GET, HEAD, streaming, escapes),
 * 100-continue, backpressure with a client that reads late, and a drain
 * with a request in flight. The suite uwsgi_server runs the same server
 * with cfg.uwsgi: packets built here reach the same routes and static
 * files, one request per connection, and bad packets are closed. The
 * suite offload_server gives the server an offload pool (offload.h): routes
 * under /o run on its threads, and a handler held there does not hold up
 * the loop, its pipelined successors wait for it, a client that leaves
 * meanwhile is forgotten, and a drain waits for it.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "stack/http_server.h"
#include "stack/offload.h"

#define MAX_HEADER 4096
#define MAX_BODY 1024
#define TIMEOUT_MS 500
#define BIG_BODY (4 * 1024 * 1024)
#define STATIC_BIG (300 * 1024 + 17)

enum { CMD_NONE, CMD_CLOSE, CMD_DRAIN };

static struct {
    int listen_fd;
    int port;
    uv_loop_t loop;
    uv_async_t async;
    pthread_t thread;
    bool running;
    mt_http_server_t *server;
    mt_router_t *router;
    mt_static_map_t *statics;
    atomic_int command;
    atomic_int drained;
    mt_http_stats_t final_stats;
    char tmpdir[64];
    bool uwsgi;      /* the server speaks the uwsgi protocol (suite uwsgi_server) */
    bool offload;    /* an offload pool runs the routes under /o (suite offload_server) */
    mt_offload_pool_t *pool;
    mt_http_busy_t pool_busy[2];
} F;

/* The gate /o/slow waits at (up to 5 s), and what its handlers saw. */
static struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool open;
    int entered;
    atomic_int loop_thread_ran;  /* a /o handler ran on the loop's thread: must stay 0 */
    pthread_t loop_tid;
} G = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

/* ------------------------------------------------------------------ */
/* Routes                                                              */
/* ------------------------------------------------------------------ */

static void hello_cb(mt_request_t *req, void *data)
{
    mt_respond(req, 200, "text/plain", "hello", 5);
}

static void forget_cb(mt_request_t *req, void *data)
{
}

static void echo_cb(mt_request_t *req, void *data)
{
    size_t len;
    const char *body = mt_request_body(req, &len);
    char n[32];
    snprintf(n, sizeof n, "%zu", len);
    mt_response_header(req, "X-Len", n);
    mt_respond(req, 200, "application/octet-stream", body, len);
}

static void json_cb(mt_request_t *req, void *data)
{
    json_t *doc = json_pack("{s:i, s:s}", "a", 1, "path", mt_request_path(req));
    mt_respond_json(req, 200, doc);
    json_decref(doc);
}

static void query_cb(mt_request_t *req, void *data)
{
    char q[64], small[4];
    int n = mt_request_query_param(req, "q", q, sizeof q);
    int missing = mt_request_query_param(req, "missing", q + 32, 32);
    int nospace = mt_request_query_param(req, "long", small, sizeof small);
    json_t *doc = json_pack("{s:s, s:i, s:i, s:i, s:s, s:s}", "q", n >= 0 ? q : "", "n", n, "missing", missing,
                            "nospace", nospace, "query", mt_request_query(req), "path", mt_request_path(req));
    mt_respond_json(req, 200, doc);
    json_decref(doc);
}

static void header_cb(mt_request_t *req, void *data)
{
    const char *v = mt_request_header(req, "x-test");
    mt_respond(req, 200, "text/plain", v ? v : "(none)", v ? strlen(v) : 6);
}

static void big_cb(mt_request_t *req, void *data)
{
    char *body = malloc(BIG_BODY);
    for (size_t i = 0; i < BIG_BODY; i++)
        body[i] = (char)('a' + i % 26);
    mt_respond(req, 200, "text/plain", body, BIG_BODY);
    free(body);
}

static void error_cb(mt_request_t *req, void *data)
{
    mt_respond_error(req, 422, "bad input \"%s\"", "x");
}

static void off_check_thread(void)
{
    if (pthread_equal(pthread_self(), G.loop_tid))
        atomic_store(&G.loop_thread_ran, 1);
}

static void slow_cb(mt_request_t *req, void *data)
{
    off_check_thread();
    pthread_mutex_lock(&G.lock);
    G.entered++;
    pthread_cond_broadcast(&G.cond);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 5;
    while (!G.open && pthread_cond_timedwait(&G.cond, &G.lock, &until) == 0)
        ;
    pthread_mutex_unlock(&G.lock);
    mt_response_header(req, "X-Slow", "yes");
    mt_respond(req, 200, "text/plain", "slow", 4);
}

static void off_echo_cb(mt_request_t *req, void *data)
{
    off_check_thread();
    echo_cb(req, data);
}

static void off_error_cb(mt_request_t *req, void *data)
{
    off_check_thread();
    json_t *doc = json_pack("{s:s}", "path", mt_request_path(req));
    if (strcmp(mt_request_query(req), "json") == 0)
        mt_respond_json(req, 201, doc);
    else
        mt_respond_error(req, 409, "conflict on %s", mt_request_path(req));
    json_decref(doc);
}

static void off_forget_cb(mt_request_t *req, void *data)
{
    off_check_thread();
}

/* /w (MT_ROUTE_OFFLOAD_WRITES): says where it ran. */
static void where_cb(mt_request_t *req, void *data)
{
    const char *where = pthread_equal(pthread_self(), G.loop_tid) ? "loop" : "pool";
    mt_respond(req, 200, "text/plain", where, 4);
}

/* Wait until n handlers have entered /o/slow. */
static void gate_wait_entered(int n)
{
    pthread_mutex_lock(&G.lock);
    while (G.entered < n)
        pthread_cond_wait(&G.cond, &G.lock);
    pthread_mutex_unlock(&G.lock);
}

static void gate_open(void)
{
    pthread_mutex_lock(&G.lock);
    G.open = true;
    pthread_cond_broadcast(&G.cond);
    pthread_mutex_unlock(&G.lock);
}

/* ------------------------------------------------------------------ */
/* Server fixture: the loop runs in a thread, commands arrive by uv_async */
/* ------------------------------------------------------------------ */

static void drained_cb(mt_http_server_t *server, void *data)
{
    mt_http_server_stats(server, &F.final_stats);
    atomic_store(&F.drained, 1);
    mt_http_server_close(server);
    uv_close((uv_handle_t *)&F.async, NULL);
}

static void async_cb(uv_async_t *async)
{
    int cmd = atomic_exchange(&F.command, CMD_NONE);
    if (cmd == CMD_CLOSE) {
        mt_http_server_stats(F.server, &F.final_stats);
        mt_http_server_close(F.server);
        uv_close((uv_handle_t *)&F.async, NULL);
    } else if (cmd == CMD_DRAIN) {
        mt_http_server_drain(F.server, drained_cb, NULL);
    }
}

static void *loop_thread(void *arg)
{
    G.loop_tid = pthread_self();
    uv_run(&F.loop, UV_RUN_DEFAULT);
    return NULL;
}

static void write_file(const char *name, const char *content, size_t len)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", F.tmpdir, name);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(content, 1, len, f), len);
    fclose(f);
}

static void setup(void)
{
    bool uwsgi = F.uwsgi, offload = F.offload;
    memset(&F, 0, sizeof F);
    F.uwsgi = uwsgi;
    F.offload = offload;
    G.open = false;
    G.entered = 0;
    atomic_store(&G.loop_thread_ran, 0);
    F.listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    cr_assert(F.listen_fd >= 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    cr_assert_eq(bind(F.listen_fd, (struct sockaddr *)&sin, sizeof sin), 0);
    cr_assert_eq(listen(F.listen_fd, 64), 0);
    socklen_t sl = sizeof sin;
    getsockname(F.listen_fd, (struct sockaddr *)&sin, &sl);
    F.port = ntohs(sin.sin_port);

    F.router = mt_router_create();
    mt_router_add(F.router, "GET", "/hello", 0, hello_cb, NULL);
    mt_router_add(F.router, "GET", "/forget", 0, forget_cb, NULL);
    mt_router_add(F.router, "POST", "/echo", 0, echo_cb, NULL);
    mt_router_add(F.router, "GET", "/json", MT_ROUTE_PREFIX, json_cb, NULL);
    mt_router_add(F.router, "GET", "/query", 0, query_cb, NULL);
    mt_router_add(F.router, "GET", "/header", 0, header_cb, NULL);
    mt_router_add(F.router, "GET", "/big", 0, big_cb, NULL);
    mt_router_add(F.router, NULL, "/error", 0, error_cb, NULL);
    mt_router_add(F.router, "GET", "/o/slow", MT_ROUTE_OFFLOAD, slow_cb, NULL);
    mt_router_add(F.router, "POST", "/o/echo", MT_ROUTE_OFFLOAD, off_echo_cb, NULL);
    mt_router_add(F.router, NULL, "/o/error", MT_ROUTE_OFFLOAD, off_error_cb, NULL);
    mt_router_add(F.router, "GET", "/o/forget", MT_ROUTE_OFFLOAD, off_forget_cb, NULL);
    mt_router_add(F.router, NULL, "/w", MT_ROUTE_OFFLOAD_WRITES, where_cb, NULL);
    mt_router_freeze(F.router);

    snprintf(F.tmpdir, sizeof F.tmpdir, "/tmp/mt_http_XXXXXX");
    cr_assert_not_null(mkdtemp(F.tmpdir));
    write_file("hello.txt", "static hello\n", 13);
    char *big = malloc(STATIC_BIG);
    for (size_t i = 0; i < STATIC_BIG; i++)
        big[i] = (char)('A' + i % 23);
    write_file("big.bin", big, STATIC_BIG);
    free(big);
    F.statics = mt_static_map_create();
    char spec[128], err[256];
    snprintf(spec, sizeof spec, "/static=%s", F.tmpdir);
    cr_assert_eq(mt_static_map_add(F.statics, spec, err, sizeof err), 0, "%s", err);

    cr_assert_eq(uv_loop_init(&F.loop), 0);
    mt_http_config_t cfg = {
        .listen_fd = F.listen_fd,
        .max_header_size = MAX_HEADER,
        .max_body_size = MAX_BODY,
        .timeout_ms = TIMEOUT_MS,
        .router = F.router,
        .statics = F.statics,
        .stack = (mt_stack_t *)&F, /* only compared, never dereferenced */
        .uwsgi = F.uwsgi,
    };
    if (F.offload) {
        F.pool = mt_offload_pool_create(2, NULL, NULL, err, sizeof err);
        cr_assert_not_null(F.pool, "%s", err);
        cfg.offload = F.pool;
        cfg.offload_busy = F.pool_busy;
    }
    F.server = mt_http_server_create(&F.loop, &cfg, err, sizeof err);
    cr_assert_not_null(F.server, "%s", err);
    uv_async_init(&F.loop, &F.async, async_cb);
    cr_assert_eq(pthread_create(&F.thread, NULL, loop_thread, NULL), 0);
    F.running = true;
}

/* Stop the server (close, or drain first) and wait for its loop to end with no handle left. */
static void stop_server(int cmd)
{
    if (!F.running)
        return;
    atomic_store(&F.command, cmd);
    uv_async_send(&F.async);
    pthread_join(F.thread, NULL);
    F.running = false;
    cr_assert_eq(uv_loop_close(&F.loop), 0, "handles left on the loop");
}

static void teardown(void)
{
    gate_open(); /* a handler still held must come back before the pool goes */
    stop_server(CMD_CLOSE);
    mt_offload_pool_destroy(F.pool);
    F.pool = NULL;
    close(F.listen_fd);
    mt_router_destroy(F.router);
    mt_static_map_destroy(F.statics);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", F.tmpdir);
    (void)!system(cmd);
}

TestSuite(http_server, .init = setup, .fini = teardown, .timeout = 20);

static void setup_uwsgi(void)
{
    F.uwsgi = true;
    setup();
}

TestSuite(uwsgi_server, .init = setup_uwsgi, .fini = teardown, .timeout = 20);

static void setup_offload(void)
{
    F.offload = true;
    setup();
}

TestSuite(offload_server, .init = setup_offload, .fini = teardown, .timeout = 20);

/* ------------------------------------------------------------------ */
/* Client                                                              */
/* ------------------------------------------------------------------ */

typedef struct client {
    int fd;
    char *buf; /* received, not yet consumed */
    size_t len;
    size_t cap;
} client_t;

typedef struct response {
    int status;
    char head[8192]; /* status line and headers, NUL-terminated */
    char *body;      /* NUL-terminated, owned */
    size_t body_len;
} response_t;

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static client_t *client_connect(void)
{
    client_t *c = calloc(1, sizeof *c);
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert(c->fd >= 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(F.port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    cr_assert_eq(connect(c->fd, (struct sockaddr *)&sin, sizeof sin), 0);
    struct timeval tv = {.tv_sec = 5};
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    c->cap = 1 << 16;
    c->buf = malloc(c->cap);
    return c;
}

static void client_free(client_t *c)
{
    close(c->fd);
    free(c->buf);
    free(c);
}

static void client_send(client_t *c, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = send(c->fd, data, len, MSG_NOSIGNAL);
        cr_assert(n > 0, "send: %s", strerror(errno));
        data += n;
        len -= (size_t)n;
    }
}

static void client_sends(client_t *c, const char *s)
{
    client_send(c, s, strlen(s));
}

/* Read more into the buffer; returns bytes read, 0 at EOF, -1 on error/timeout. */
static ssize_t client_fill(client_t *c)
{
    if (c->cap - c->len < 65536) {
        c->cap *= 2;
        c->buf = realloc(c->buf, c->cap);
    }
    ssize_t n = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
    if (n > 0)
        c->len += (size_t)n;
    return n;
}

static const char *find_header(const response_t *r, const char *name)
{
    static char value[512];
    char needle[128];
    snprintf(needle, sizeof needle, "\r\n%s:", name);
    const char *p = strcasestr(r->head, needle);
    if (p == NULL)
        return NULL;
    p += strlen(needle);
    while (*p == ' ')
        p++;
    size_t n = strcspn(p, "\r");
    snprintf(value, sizeof value, "%.*s", (int)n, p);
    return value;
}

/* Read one response; head_request: no body follows whatever Content-Length says. */
static void client_response(client_t *c, response_t *r, bool head_request)
{
    memset(r, 0, sizeof *r);
    char *end;
    while ((end = memmem(c->buf, c->len, "\r\n\r\n", 4)) == NULL)
        cr_assert(client_fill(c) > 0, "connection ended before a response head (%zu bytes)", c->len);
    size_t head_len = (size_t)(end - c->buf) + 4;
    cr_assert(head_len < sizeof r->head);
    memcpy(r->head, c->buf, head_len);
    r->head[head_len] = '\0';
    cr_assert_eq(sscanf(r->head, "HTTP/1.1 %d ", &r->status), 1, "bad status line: %s", r->head);
    const char *cl = find_header(r, "Content-Length");
    size_t body_len = (head_request || cl == NULL) ? 0 : strtoul(cl, NULL, 10);
    while (c->len < head_len + body_len)
        cr_assert(client_fill(c) > 0, "connection ended in a body");
    r->body = malloc(body_len + 1);
    memcpy(r->body, c->buf + head_len, body_len);
    r->body[body_len] = '\0';
    r->body_len = body_len;
    memmove(c->buf, c->buf + head_len + body_len, c->len - head_len - body_len);
    c->len -= head_len + body_len;
}

static void response_free(response_t *r)
{
    free(r->body);
    r->body = NULL;
}

/* The server closes the connection (EOF or reset) with nothing else sent. */
static void assert_closed(client_t *c)
{
    cr_assert_eq(c->len, 0, "unexpected bytes: %.*s", (int)c->len, c->buf);
    char b[256];
    ssize_t n = recv(c->fd, b, sizeof b, 0);
    cr_assert(n == 0 || (n < 0 && errno == ECONNRESET), "expected a close, got %zd (%s)", n,
              n < 0 ? strerror(errno) : "data");
}

static void assert_json_error(const response_t *r, int status)
{
    cr_assert_eq(r->status, status, "status %d, want %d", r->status, status);
    cr_assert_str_eq(find_header(r, "Content-Type"), "application/json");
    json_error_t jerr;
    json_t *doc = json_loads(r->body, 0, &jerr);
    cr_assert_not_null(doc, "body is not JSON: %s", r->body);
    cr_assert(json_is_string(json_object_get(doc, "err_msg")), "%s", r->body);
    cr_assert_eq(json_integer_value(json_object_get(doc, "err_code")), status, "%s", r->body);
    json_decref(doc);
}

/* One request on a fresh connection. */
static void request(const char *raw, response_t *r)
{
    client_t *c = client_connect();
    client_sends(c, raw);
    client_response(c, r, strncmp(raw, "HEAD ", 5) == 0);
    client_free(c);
}

/* ------------------------------------------------------------------ */
/* Tests                                                               */
/* ------------------------------------------------------------------ */

Test(http_server, get_a_route)
{
    response_t r;
    request("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n", &r);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(r.body, "hello");
    cr_assert_str_eq(find_header(&r, "Server"), "muleteer");
    cr_assert_str_eq(find_header(&r, "Content-Type"), "text/plain");
    cr_assert_str_eq(find_header(&r, "Connection"), "keep-alive");
    cr_assert_not_null(find_header(&r, "Date"));
    cr_assert(strstr(find_header(&r, "Date"), " GMT") != NULL);
    response_free(&r);
}

Test(http_server, keep_alive_two_requests_one_connection)
{
    client_t *c = client_connect();
    response_t r;
    client_sends(c, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
    client_response(c, &r, false);
    cr_assert_eq(r.status, 200);
    response_free(&r);
    client_sends(c, "GET /header HTTP/1.1\r\nHost: x\r\nX-Test: second\r\n\r\n");
    client_response(c, &r, false);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(r.body, "second");
    response_free(&r);
    client_free(c);
    stop_server(CMD_CLOSE);
    cr_assert_eq(F.final_stats.connections, 1);
    cr_assert_eq(F.final_stats.requests, 2);
}

Test(http_server, pipelining_three_requests_in_one_write)
{
    client_t *c = client_connect();
    client_sends(c, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"
                    "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n\r\nabcdef"
                    "GET /json/x HTTP/1.1\r\nHost: x\r\n\r\n");
    response_t r;
    client_response(c, &r, false);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(r.body, "hello");
    response_free(&r);
    client_response(c, &r, false);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(r.body, "abcdef");
    cr_assert_str_eq(find_header(&r, "X-Len"), "6");
    response_free(&r);
    client_response(c, &r, false);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(r.body, "{\"a\":1,\"path\":\"/json/x\"}");
    response_free(&r);
    client_free(c);
}

Test(http_server, many_pipelined_requests_across_reads)
{
    /* More than one read's worth, and more output than the pause threshold. */
    enum { N = 3000 };
    static const char req[] = "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n";
    size_t len = (sizeof req - 1) * N;
    char *all = malloc(len);
    for (int i = 0; i < N; i++)
        memcpy(all + i * (sizeof req - 1), req, sizeof req - 1);
    client_t *c = client_connect();
    client_send(c, all, len);
    free(all);
    for (int i = 0; i < N; i++) {
        response_t r;
        client_response(c, &r, false);
        cr_assert_eq(r.status, 200, "response %d", i);
        cr_assert_str_eq(r.body, "hello");
        response_free(&r);
    }
    client_free(c);
}

Test(http_server, malformed_request_gets_400_and_close)
{
    client_t *c = client_connect();
    client_sends(c, "GARBAGE / HTTP/1.1\r\n\r\n");
    response_t r;
    client_response(c, &r, false);
    assert_json_error(&r, 400);
    cr_assert_str_eq(find_header(&r, "Connection"), "close");
    response_free(&r);
    assert_closed(c);
    client_free(c);
}

Test(http_server, huge_header_gets_431)
{
    char *raw = malloc(MAX_HEADER + 200);
    int n = snprintf(raw, 200, "GET /hello HTTP/1.1\r\nHost: x\r\nX-Big: ");
    memset(raw + n, 'a', MAX_HEADER);
    strcpy(raw + n + MAX_HEADER, "\r\n\r\n");
    client_t *c = client_connect();
    client_sends(c, raw);
    free(raw);
    response_t r;
    client_response(c, &r, false);
    assert_json_error(&r, 431);
    cr_assert_str_eq(find_header(&r, "Connection"), "close");
    response_free(&r);
    assert_closed(c);
    client_free(c);
}

Test(http_server, many_small_headers_over_the_limit_get_431)
{
    char raw[MAX_HEADER * 2];
    size_t n = (size_t)snprintf(raw, sizeof raw, "GET /hello HTTP/1.1\r\n");
    while (n < MAX_HEADER + 100)
        n += (size_t)snprintf(raw + n, sizeof raw - n, "X-H%zu: v\r\n", n);
    snprintf(raw + n, sizeof raw - n, "\r\n");
    response_t r;
    request(raw, &r);
    assert_json_error(&r, 431);
    response_free(&r);
}

Test(http_server, long_url_gets_414)
{
    char *raw = malloc(MAX_HEADER + 200);
    strcpy(raw, "GET /");
    memset(raw + 5, 'u', MAX_HEADER + 10);
    strcpy(raw + 5 + MAX_HEADER + 10, " HTTP/1.1\r\nHost: x\r\n\r\n");
    response_t r;
    request(raw, &r);
    free(raw);
    assert_json_error(&r, 414);
    response_free(&r);
}

Test(http_server, content_length_over_limit_gets_413_without_the_body)
{
    client_t *c = client_connect();
    client_sends(c, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n");
    response_t r;
    client_response(c, &r, false);
    assert_json_error(&r, 413);
    cr_assert_str_eq(find_header(&r, "Connection"), "close");
    response_free(&r);
    assert_closed(c);
    client_free(c);
}

Test(http_server, chunked_body_over_limit_gets_413)
{
    client_t *c = client_connect();
    client_sends(c, "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
    char chunk[600];
    memset(chunk, 'c', sizeof chunk);
    for (int i = 0; i < 2; i++) {
        client_sends(c, "258\r\n"); /* 600 bytes */
        client_send(c, chunk, sizeof chunk);
        client_sends(c, "\r\n");
    }
    response_t r;
    client_response(c, &r, false);
    assert_json_error(&r, 413);
    response_free(&r);
    assert_closed(c);
    client_free(c);
}

Test(http_server, chunked_body_within_limit_is_assembled)
{
    response_t r;
    request("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
            "3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n", &r);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(r.body, "abcdefg");
    response_free(&r);
}

Test(http_server, idle_connection_is_closed_after_the_timeout)
{
    client_t *c = client_connect();
    double t0 = now_ms();
    assert_closed(c); /* nothing sent, nothing answered */
    double elapsed = now_ms() - t0;
    cr_assert(elapsed >= TIMEOUT_MS - 50 && elapsed < TIMEOUT_MS + 1000, "closed after %.0f ms", elapsed);
    client_free(c);
}

Test(http_server, idle_keep_alive_connection_is_closed_after_the_timeout)
{
    client_t *c = client_connect();
    response_t r;
    client_sends(c, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
    client_response(c, &r, false);
    response_free(&r);
    double t0 = now_ms();
    assert_closed(c);
    double elapsed = now_ms() - t0;
    cr_assert(elapsed >= TIMEOUT_MS - 50 && elapsed < TIMEOUT_MS + 1000, "closed after %.0f ms", elapsed);
    client_free(c);
}

Test(http_server, slowloris_is_cut_with_408)
{
    static const char req[] = "GET /hello HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    client_t *c = client_connect();
    double t0 = now_ms();
    bool answered = false;
    for (size_t i = 0; i < sizeof req - 1 && !answered; i++) {
        if (send(c->fd, req + i, 1, MSG_NOSIGNAL) != 1)
            break; /* already closed */
        struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
        answered = poll(&pfd, 1, 100) > 0;
    }
    cr_assert(answered, "the server waited for the whole slow request");
    double elapsed = now_ms() - t0;
    response_t r;
    client_response(c, &r, false);
    assert_json_error(&r, 408);
    response_free(&r);
    assert_closed(c);
    cr_assert(elapsed < TIMEOUT_MS + 600, "cut after %.0f ms", elapsed);
    client_free(c);
}

Test(http_server, handler_that_forgets_to_respond_gets_500)
{
    client_t *c = client_connect();
    response_t r;
    client_sends(c, "GET /forget HTTP/1.1\r\nHost: x\r\n\r\n");
    client_response(c, &r, false);
    assert_json_error(&r, 500);
    response_free(&r);
    /* The connection is still usable. */
    client_sends(c, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
    client_response(c, &r, false);
    cr_assert_eq(r.status, 200);
    response_free(&r);
    client_free(c);
}

Test(http_server, unknown_route_404_and_wrong_method_405_are_json)
{
    response_t r;
    request("GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n", &r);
    assert_json_error(&r, 404);
    cr_assert_str_eq(find_header(&r, "Connection"), "keep-alive");
    response_free(&r);
    request("DELETE /hello HTTP/1.1\r\nHost: x\r\n\r\n", &r);
    assert_json_error(&r, 405);
    response_free(&r);
    request("PUT /error HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", &r);
    assert_json_error(&r, 422);
    cr_assert(strstr(r.body, "bad input \\\"x\\\"") != NULL, "%s", r.body);
    response_free(&r);
}

Test(http_server, query_and_path)
{
    response_t r;
    request("GET /query?x=1&q=hello+world%21&long=abcdef&empty HTTP/1.1\r\nHost: x\r\n\r\n", &r);
    cr_assert_eq(r.status, 200);
    json_t *doc = json_loads(r.body, 0, NULL);
    cr_assert_not_null(doc, "%s", r.body);
    cr_assert_str_eq(json_string_value(json_object_get(doc, "q")), "hello world!");
    cr_assert_eq(json_integer_value(json_object_get(doc, "n")), 12);
    cr_assert_eq(json_integer_value(json_object_get(doc, "missing")), -ENOENT);
    cr_assert_eq(json_integer_value(json_object_get(doc, "nospace")), -ENOSPC);
    cr_assert_str_eq(json_string_value(json_object_get(doc, "query")), "x=1&q=hello+world%21&long=abcdef&empty");
    cr_assert_str_eq(json_string_value(json_object_get(doc, "path")), "/query");
    json_decref(doc);
    response_free(&r);

    /* absolute-form target */
    request("GET http://example.org/query?q=%41 HTTP/1.1\r\nHost: example.org\r\n\r\n", &r);
    cr_assert_eq(r.status, 200);
    cr_assert(strstr(r.body, "\"q\":\"A\"") != NULL, "%s", r.body);
    response_free(&r);
}

Test(http_server, static_file_get_head_and_errors)
{
    client_t *c = client_connect();
    response_t r;
    client_sends(c, "GET /static/hello.txt HTTP/1.1\r\nHost: x\r\n\r\n");
    client_response(c, &r, false);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(r.body, "static hello\n");
    cr_assert_str_eq(find_header(&r, "Content-Type"), "text/plain; charset=utf-8");
    cr_assert_not_null(find_header(&r, "Last-Modified"));
    response_free(&r);

    client_sends(c, "HEAD /static/hello.txt HTTP/1.1\r\nHost: x\r\n\r\n");
    client_response(c, &r, true);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(find_header(&r, "Content-Length"), "13");
    response_free(&r);
    /* If HEAD had sent a body, this would read it as a broken status line. */
    client_sends(c, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
    client_response(c, &r, false);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(r.body, "hello");
    response_free(&r);
    client_free(c);

    request("GET /static/missing.txt HTTP/1.1\r\nHost: x\r\n\r\n", &r);
    assert_json_error(&r, 404);
    response_free(&r);
    request("GET /static/%2e%2e/etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n", &r);
    assert_json_error(&r, 403);
    response_free(&r);
    /* Other methods fall through to the routes. */
    request("POST /static/hello.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", &r);
    assert_json_error(&r, 404);
    response_free(&r);
}

Test(http_server, large_static_file_is_streamed_then_pipelining_continues)
{
    client_t *c = client_connect();
    client_sends(c, "GET /static/big.bin HTTP/1.1\r\nHost: x\r\n\r\n"
                    "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
    response_t r;
    client_response(c, &r, false);
    cr_assert_eq(r.status, 200);
    cr_assert_eq(r.body_len, STATIC_BIG);
    for (size_t i = 0; i < STATIC_BIG; i++)
        cr_assert_eq(r.body[i], (char)('A' + i % 23), "byte %zu", i);
    cr_assert_str_eq(find_header(&r, "Content-Type"), "application/octet-stream");
    response_free(&r);
    client_response(c, &r, false);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(r.body, "hello");
    response_free(&r);
    client_free(c);
}

Test(http_server, big_response_to_a_client_that_reads_late)
{
    client_t *c = client_connect();
    client_sends(c, "GET /big HTTP/1.1\r\nHost: x\r\n\r\n");
    usleep(200 * 1000);
    response_t r;
    client_response(c, &r, false);
    cr_assert_eq(r.status, 200);
    cr_assert_eq(r.body_len, BIG_BODY);
    for (size_t i = 0; i < BIG_BODY; i += 4093)
        cr_assert_eq(r.body[i], (char)('a' + i % 26));
    response_free(&r);
    client_sends(c, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
    client_response(c, &r, false);
    cr_assert_eq(r.status, 200);
    response_free(&r);
    client_free(c);
}

Test(http_server, client_that_never_reads_is_cut)
{
    client_t *c = client_connect();
    int small = 4096;
    setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    client_sends(c, "GET /big HTTP/1.1\r\nHost: x\r\n\r\n");
    usleep((TIMEOUT_MS + 700) * 1000);
    /* The server gave up: reading now ends early, short of the whole body. */
    size_t total = 0;
    char buf[65536];
    ssize_t n;
    while ((n = recv(c->fd, buf, sizeof buf, 0)) > 0)
        total += (size_t)n;
    cr_assert(total < BIG_BODY, "got %zu bytes", total);
    client_free(c);
}

Test(http_server, expect_100_continue)
{
    client_t *c = client_connect();
    client_sends(c, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
    while (c->len < 25)
        cr_assert(client_fill(c) > 0);
    cr_assert(memcmp(c->buf, "HTTP/1.1 100 Continue\r\n\r\n", 25) == 0, "%.*s", (int)c->len, c->buf);
    memmove(c->buf, c->buf + 25, c->len - 25);
    c->len -= 25;
    client_sends(c, "hello");
    response_t r;
    client_response(c, &r, false);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(r.body, "hello");
    response_free(&r);
    client_free(c);
}

Test(http_server, http10_and_connection_close)
{
    client_t *c = client_connect();
    response_t r;
    client_sends(c, "GET /hello HTTP/1.0\r\n\r\n");
    client_response(c, &r, false);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(find_header(&r, "Connection"), "close");
    response_free(&r);
    assert_closed(c);
    client_free(c);

    c = client_connect();
    client_sends(c, "GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    client_response(c, &r, false);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(find_header(&r, "Connection"), "close");
    response_free(&r);
    assert_closed(c);
    client_free(c);
}

Test(http_server, drain_lets_a_request_in_flight_finish)
{
    client_t *idle = client_connect();
    response_t r;
    client_sends(idle, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
    client_response(idle, &r, false);
    response_free(&r);

    client_t *busy = client_connect();
    client_sends(busy, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nab");
    usleep(50 * 1000);

    atomic_store(&F.command, CMD_DRAIN);
    uv_async_send(&F.async);

    usleep(50 * 1000);
    cr_assert_eq(atomic_load(&F.drained), 0, "drained with a request in flight");

    client_sends(busy, "cde");
    client_response(busy, &r, false);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(r.body, "abcde");
    cr_assert_str_eq(find_header(&r, "Connection"), "close");
    response_free(&r);
    assert_closed(busy);

    /* Idle keep-alive: after the drain's grace, a clean end of stream (not a reset) */
    char b[16];
    cr_assert_eq(recv(idle->fd, b, sizeof b, 0), 0);
    shutdown(idle->fd, SHUT_WR); /* the server reads until the client's end too */

    pthread_join(F.thread, NULL); /* the loop ends once done_cb closed the server */
    F.running = false;
    cr_assert_eq(atomic_load(&F.drained), 1);
    cr_assert_eq(uv_loop_close(&F.loop), 0);
    cr_assert_eq(F.final_stats.requests, 2);
    cr_assert_eq(F.final_stats.active_connections, 0);
    client_free(idle);
    client_free(busy);
}

Test(http_server, drain_answers_a_last_request_on_an_idle_keepalive_connection)
{
    /* Its client may send the next request just as the drain starts: answered, with Connection: close. */
    client_t *c = client_connect();
    response_t r;
    client_sends(c, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
    client_response(c, &r, false);
    cr_assert_str_eq(find_header(&r, "Connection"), "keep-alive");
    response_free(&r);
    atomic_store(&F.command, CMD_DRAIN);
    uv_async_send(&F.async);
    usleep(50 * 1000);
    cr_assert_eq(atomic_load(&F.drained), 0, "drained before the idle connection had its chance");
    client_sends(c, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
    client_response(c, &r, false);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(find_header(&r, "Connection"), "close");
    response_free(&r);
    assert_closed(c);
    pthread_join(F.thread, NULL);
    F.running = false;
    cr_assert_eq(atomic_load(&F.drained), 1);
    cr_assert_eq(uv_loop_close(&F.loop), 0);
    client_free(c);
}

Test(http_server, drain_still_answers_the_first_request_of_a_fresh_connection)
{
    /* Connected before the drain, request sent just after it: not the client's fault. */
    client_t *fresh = client_connect();
    usleep(50 * 1000); /* accepted by now */
    atomic_store(&F.command, CMD_DRAIN);
    uv_async_send(&F.async);
    usleep(50 * 1000);
    cr_assert_eq(atomic_load(&F.drained), 0, "drained before the fresh connection had its chance");
    client_sends(fresh, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
    response_t r;
    client_response(fresh, &r, false);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(find_header(&r, "Connection"), "close");
    response_free(&r);
    assert_closed(fresh);
    pthread_join(F.thread, NULL);
    F.running = false;
    cr_assert_eq(atomic_load(&F.drained), 1);
    cr_assert_eq(uv_loop_close(&F.loop), 0);
    client_free(fresh);
}

Test(http_server, drain_gives_a_silent_fresh_connection_a_bounded_grace)
{
    client_t *silent = client_connect();
    usleep(50 * 1000);
    atomic_store(&F.command, CMD_DRAIN);
    uv_async_send(&F.async);
    assert_closed(silent); /* within min(timeout, the drain grace), not never */
    pthread_join(F.thread, NULL);
    F.running = false;
    cr_assert_eq(atomic_load(&F.drained), 1);
    cr_assert_eq(uv_loop_close(&F.loop), 0);
    client_free(silent);
}

Test(http_server, drain_with_no_connection_completes)
{
    stop_server(CMD_DRAIN);
    cr_assert_eq(atomic_load(&F.drained), 1);
}

Test(http_server, request_fed_byte_by_byte)
{
    static const char req[] = "POST /echo?x=1 HTTP/1.1\r\nHost: x\r\nX-Empty:\r\nContent-Length: 4\r\n\r\nwxyz"
                              "GET /header HTTP/1.1\r\nX-Test:  spaced value \r\n\r\n";
    client_t *c = client_connect();
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    for (size_t i = 0; i < sizeof req - 1; i++) {
        client_send(c, req + i, 1);
        if (i % 8 == 0)
            usleep(1000); /* let some bytes arrive alone */
    }
    response_t r;
    client_response(c, &r, false);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(r.body, "wxyz");
    response_free(&r);
    client_response(c, &r, false);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(r.body, "spaced value");
    response_free(&r);
    client_free(c);
}

Test(http_server, head_on_a_get_route_has_no_body)
{
    client_t *c = client_connect();
    response_t r;
    client_sends(c, "HEAD /hello HTTP/1.1\r\nHost: x\r\n\r\n");
    client_response(c, &r, true);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(find_header(&r, "Content-Length"), "5");
    response_free(&r);
    client_sends(c, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
    client_response(c, &r, false);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(r.body, "hello");
    response_free(&r);
    client_free(c);
}

Test(http_server, garbage_never_crashes)
{
    static const char *const inputs[] = {
        "\r\n\r\n\r\n",
        "GET\r\n\r\n",
        "GET / HTTP/9.9\r\n\r\n",
        "GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        "GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
        "POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        "GET / HTTP/1.1\r\nBad Header\r\n\r\n",
        "GET /\x01 HTTP/1.1\r\n\r\n",
        "GET /hello HTTP/1.1\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n",
        "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET nothttp HTTP/1.1\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof inputs / sizeof inputs[0]; i++) {
        client_t *c = client_connect();
        client_sends(c, inputs[i]);
        shutdown(c->fd, SHUT_WR);
        char buf[4096];
        ssize_t n;
        size_t total = 0;
        while ((n = recv(c->fd, buf, sizeof buf, 0)) > 0)
            total += (size_t)n;
        cr_assert(n == 0 || errno == ECONNRESET, "input %zu: %s", i, strerror(errno));
        client_free(c);
    }
    /* Still serving. */
    response_t r;
    request("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n", &r);
    cr_assert_eq(r.status, 200);
    response_free(&r);
}

/* ------------------------------------------------------------------ */
/* The uwsgi protocol                                                  */
/* ------------------------------------------------------------------ */

typedef struct packet {
    char data[8192];
    size_t len;
} packet_t;

static void packet_var(packet_t *p, const char *key, const char *value)
{
    size_t k = strlen(key), v = strlen(value);
    p->data[p->len++] = (char)(k & 0xff);
    p->data[p->len++] = (char)(k >> 8);
    memcpy(p->data + p->len, key, k);
    p->len += k;
    p->data[p->len++] = (char)(v & 0xff);
    p->data[p->len++] = (char)(v >> 8);
    memcpy(p->data + p->len, value, v);
    p->len += v;
}

/* A request packet (header + vars) followed by body; `extra` adds one var "KEY=VALUE" if not NULL. */
static void packet_request(packet_t *p, const char *method, const char *uri, const char *body, const char *extra)
{
    p->len = 4;
    char length[32];
    snprintf(length, sizeof length, "%zu", strlen(body));
    packet_var(p, "REQUEST_METHOD", method);
    packet_var(p, "REQUEST_URI", uri);
    packet_var(p, "CONTENT_LENGTH", body[0] ? length : "");
    packet_var(p, "HTTP_HOST", "x");
    if (extra != NULL) {
        char key[64];
        const char *eq = strchr(extra, '=');
        snprintf(key, sizeof key, "%.*s", (int)(eq - extra), extra);
        packet_var(p, key, eq + 1);
    }
    size_t datasize = p->len - 4;
    p->data[0] = 0;
    p->data[1] = (char)(datasize & 0xff);
    p->data[2] = (char)(datasize >> 8);
    p->data[3] = 0;
    memcpy(p->data + p->len, body, strlen(body));
    p->len += strlen(body);
}

/* Send a packet on a fresh connection; read the one response; the connection then closes. */
static void uwsgi_request(const packet_t *p, response_t *r, bool head_request)
{
    client_t *c = client_connect();
    client_send(c, p->data, p->len);
    client_response(c, r, head_request);
    cr_assert_str_eq(find_header(r, "Connection"), "close");
    assert_closed(c);
    client_free(c);
}

Test(uwsgi_server, a_packet_reaches_the_routes_and_the_connection_closes)
{
    packet_t p;
    response_t r;
    packet_request(&p, "GET", "/hello", "", NULL);
    uwsgi_request(&p, &r, false);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(r.body, "hello");
    response_free(&r);

    packet_request(&p, "POST", "/echo", "a body", NULL);
    uwsgi_request(&p, &r, false);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(r.body, "a body");
    response_free(&r);

    packet_request(&p, "GET", "/query?a=1&b=x%20y", "", NULL);
    uwsgi_request(&p, &r, false);
    cr_assert_eq(r.status, 200);
    response_free(&r);

    packet_request(&p, "GET", "/nowhere", "", NULL);
    uwsgi_request(&p, &r, false);
    assert_json_error(&r, 404);
    response_free(&r);

    packet_request(&p, "DELETE", "/hello", "", NULL);
    uwsgi_request(&p, &r, false);
    assert_json_error(&r, 405);
    response_free(&r);
}

Test(uwsgi_server, static_files_and_head)
{
    packet_t p;
    response_t r;
    packet_request(&p, "GET", "/static/hello.txt", "", NULL);
    uwsgi_request(&p, &r, false);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(r.body, "static hello\n");
    response_free(&r);
    packet_request(&p, "HEAD", "/static/hello.txt", "", NULL);
    uwsgi_request(&p, &r, true);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(find_header(&r, "Content-Length"), "13");
    response_free(&r);
}

Test(uwsgi_server, a_packet_sent_one_byte_at_a_time_is_assembled)
{
    packet_t p;
    packet_request(&p, "POST", "/echo", "split across many reads", NULL);
    client_t *c = client_connect();
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    for (size_t i = 0; i < p.len; i++) {
        client_send(c, p.data + i, 1);
        if (i % 16 == 0)
            nanosleep(&(struct timespec){.tv_nsec = 1000000}, NULL);
    }
    response_t r;
    client_response(c, &r, false);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(r.body, "split across many reads");
    response_free(&r);
    assert_closed(c);
    client_free(c);
}

Test(uwsgi_server, a_second_packet_on_the_connection_is_not_answered)
{
    packet_t p;
    packet_request(&p, "GET", "/hello", "", NULL);
    char two[2 * sizeof p.data];
    memcpy(two, p.data, p.len);
    memcpy(two + p.len, p.data, p.len);
    client_t *c = client_connect();
    client_send(c, two, 2 * p.len);
    response_t r;
    client_response(c, &r, false);
    cr_assert_eq(r.status, 200);
    response_free(&r);
    assert_closed(c);
    client_free(c);
}

Test(uwsgi_server, a_header_var_is_a_request_header)
{
    packet_t p;
    response_t r;
    packet_request(&p, "GET", "/header", "", "HTTP_X_TEST=from the web server");
    uwsgi_request(&p, &r, false);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(r.body, "from the web server");
    response_free(&r);
}

Test(uwsgi_server, a_body_over_the_limit_gets_413)
{
    char body[MAX_BODY + 2];
    memset(body, 'b', sizeof body - 1);
    body[sizeof body - 1] = '\0';
    packet_t p;
    packet_request(&p, "POST", "/echo", body, NULL);
    client_t *c = client_connect();
    client_send(c, p.data, p.len);
    response_t r;
    client_response(c, &r, false);
    assert_json_error(&r, 413);
    response_free(&r);
    client_free(c);
}

/* Bad packets: closed with nothing sent, and the server goes on. */
Test(uwsgi_server, bad_packets_are_closed_without_an_answer)
{
    packet_t p;
    packet_request(&p, "GET", "/hello", "", NULL);
    packet_t big = {.len = 4};
    big.data[1] = (char)((MAX_HEADER + 1) & 0xff);
    big.data[2] = (char)((MAX_HEADER + 1) >> 8);
    packet_t modifier = p;
    modifier.data[0] = 5;
    packet_t no_method = {.len = 4};
    packet_var(&no_method, "REQUEST_URI", "/hello");
    no_method.data[1] = (char)(no_method.len - 4);
    packet_t *bad[] = {&big, &modifier, &no_method};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        client_t *c = client_connect();
        client_send(c, bad[i]->data, bad[i]->len);
        assert_closed(c);
        client_free(c);
    }
    /* Cut short, then the peer closes its side. */
    for (size_t cut = 1; cut < p.len; cut += 7) {
        client_t *c = client_connect();
        client_send(c, p.data, cut);
        shutdown(c->fd, SHUT_WR);
        assert_closed(c);
        client_free(c);
    }
    response_t r;
    uwsgi_request(&p, &r, false);
    cr_assert_eq(r.status, 200);
    response_free(&r);
}

Test(uwsgi_server, a_packet_that_stops_coming_gets_408)
{
    packet_t p;
    packet_request(&p, "GET", "/hello", "", NULL);
    client_t *c = client_connect();
    client_send(c, p.data, p.len / 2);
    double t0 = now_ms();
    response_t r;
    client_response(c, &r, false);
    assert_json_error(&r, 408);
    cr_assert(now_ms() - t0 >= TIMEOUT_MS * 0.8);
    response_free(&r);
    client_free(c);
}

/* ------------------------------------------------------------------ */
/* Offloaded routes                                                    */
/* ------------------------------------------------------------------ */

Test(offload_server, answers_come_back_whole)
{
    response_t r;
    request("POST /o/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello", &r);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(r.body, "hello");
    cr_assert_str_eq(find_header(&r, "X-Len"), "5");
    cr_assert_str_eq(find_header(&r, "Connection"), "keep-alive");
    response_free(&r);
    request("GET /o/error HTTP/1.1\r\nHost: x\r\n\r\n", &r);
    assert_json_error(&r, 409);
    cr_assert(strstr(r.body, "conflict on /o/error") != NULL, "%s", r.body);
    response_free(&r);
    request("GET /o/error?json HTTP/1.1\r\nHost: x\r\n\r\n", &r);
    cr_assert_eq(r.status, 201);
    cr_assert_str_eq(r.body, "{\"path\":\"/o/error\"}");
    response_free(&r);
    request("HEAD /o/error?json HTTP/1.1\r\nHost: x\r\n\r\n", &r);
    cr_assert_eq(r.status, 201);
    cr_assert_str_eq(find_header(&r, "Content-Length"), "19");
    cr_assert_eq(r.body_len, 0);
    response_free(&r);
    request("GET /o/forget HTTP/1.1\r\nHost: x\r\n\r\n", &r);
    assert_json_error(&r, 500);
    response_free(&r);
    cr_assert_eq(atomic_load(&G.loop_thread_ran), 0, "an offloaded handler ran on the loop's thread");
}

Test(offload_server, a_held_handler_does_not_hold_the_loop_and_pipelining_keeps_order)
{
    client_t *held = client_connect();
    /* /o/slow, then two requests pipelined behind it on the same connection. */
    client_sends(held, "GET /o/slow HTTP/1.1\r\nHost: x\r\n\r\nGET /hello HTTP/1.1\r\nHost: x\r\n\r\n"
                       "POST /o/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi");
    gate_wait_entered(1);
    /* Meanwhile the loop answers another connection, on the loop and offloaded (the pool has a second thread). */
    for (int i = 0; i < 3; i++) {
        double t0 = now_ms();
        response_t r;
        request("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n", &r);
        cr_assert_eq(r.status, 200);
        cr_assert(now_ms() - t0 < 200, "took %.0f ms", now_ms() - t0);
        response_free(&r);
        request("POST /o/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nz", &r);
        cr_assert_eq(r.status, 200);
        cr_assert_str_eq(r.body, "z");
        response_free(&r);
    }
    /* Nothing of the held connection's three answers yet: the first is held, the others wait behind it. */
    struct pollfd pfd = {.fd = held->fd, .events = POLLIN};
    cr_assert_eq(poll(&pfd, 1, 100), 0, "an answer went out before the held one");
    gate_open();
    response_t r;
    client_response(held, &r, false);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(r.body, "slow");
    cr_assert_str_eq(find_header(&r, "X-Slow"), "yes");
    response_free(&r);
    client_response(held, &r, false);
    cr_assert_str_eq(r.body, "hello");
    response_free(&r);
    client_response(held, &r, false);
    cr_assert_str_eq(r.body, "hi");
    response_free(&r);
    client_free(held);
}

Test(offload_server, a_client_that_leaves_is_forgotten)
{
    client_t *gone = client_connect();
    client_sends(gone, "GET /o/slow HTTP/1.1\r\nHost: x\r\n\r\n");
    gate_wait_entered(1);
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    setsockopt(gone->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    client_free(gone); /* a reset */
    usleep(50 * 1000);
    gate_open();
    usleep(50 * 1000);
    response_t r;
    request("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n", &r);
    cr_assert_eq(r.status, 200);
    response_free(&r);
    stop_server(CMD_CLOSE);
    cr_assert_eq(F.final_stats.active_connections, 0);
}

Test(offload_server, a_half_close_still_gets_its_answer)
{
    client_t *c = client_connect();
    client_sends(c, "GET /o/slow HTTP/1.1\r\nHost: x\r\n\r\n");
    gate_wait_entered(1);
    shutdown(c->fd, SHUT_WR);
    usleep(50 * 1000);
    gate_open();
    response_t r;
    client_response(c, &r, false);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(r.body, "slow");
    response_free(&r);
    assert_closed(c);
    client_free(c);
}

Test(offload_server, a_request_queued_behind_busy_threads_is_not_run_once_its_client_left)
{
    /* Both pool threads held; a third request waits in the queue, its client leaves; it must never run. */
    client_t *a = client_connect(), *b = client_connect(), *c = client_connect();
    client_sends(a, "GET /o/slow HTTP/1.1\r\nHost: x\r\n\r\n");
    client_sends(b, "GET /o/slow HTTP/1.1\r\nHost: x\r\n\r\n");
    gate_wait_entered(2);
    client_sends(c, "GET /o/slow HTTP/1.1\r\nHost: x\r\n\r\n");
    usleep(50 * 1000);
    size_t queued, running;
    mt_offload_pool_stats(F.pool, &queued, &running);
    cr_assert_eq(queued, 1);
    cr_assert_eq(running, 2);
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    client_free(c);
    usleep(50 * 1000);
    gate_open();
    response_t r;
    client_response(a, &r, false);
    cr_assert_str_eq(r.body, "slow");
    response_free(&r);
    client_response(b, &r, false);
    cr_assert_str_eq(r.body, "slow");
    response_free(&r);
    usleep(50 * 1000);
    pthread_mutex_lock(&G.lock);
    int entered = G.entered;
    pthread_mutex_unlock(&G.lock);
    cr_assert_eq(entered, 2, "the request of a client that had left ran");
    client_free(a);
    client_free(b);
}

Test(offload_server, drain_waits_for_an_offloaded_request)
{
    client_t *c = client_connect();
    client_sends(c, "GET /o/slow HTTP/1.1\r\nHost: x\r\n\r\n");
    gate_wait_entered(1);
    atomic_store(&F.command, CMD_DRAIN);
    uv_async_send(&F.async);
    usleep(100 * 1000);
    cr_assert_eq(atomic_load(&F.drained), 0, "drained with an offloaded request in flight");
    gate_open();
    response_t r;
    client_response(c, &r, false);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(find_header(&r, "Connection"), "close");
    response_free(&r);
    assert_closed(c);
    pthread_join(F.thread, NULL);
    F.running = false;
    cr_assert_eq(atomic_load(&F.drained), 1);
    cr_assert_eq(uv_loop_close(&F.loop), 0, "handles left on the loop");
    client_free(c);
}

Test(offload_server, offload_writes_sends_only_unsafe_methods_to_the_pool)
{
    static const struct {
        const char *method;
        const char *where;
    } cases[] = {{"GET", "loop"}, {"HEAD", "loop"}, {"OPTIONS", "loop"}, {"POST", "pool"}, {"PUT", "pool"},
                 {"DELETE", "pool"}, {"PATCH", "pool"}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char raw[128];
        snprintf(raw, sizeof raw, "%s /w HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", cases[i].method);
        response_t r;
        request(raw, &r);
        cr_assert_eq(r.status, 200, "%s", cases[i].method);
        if (strcmp(cases[i].method, "HEAD") != 0)
            cr_assert_str_eq(r.body, cases[i].where, "%s ran on the %s", cases[i].method, r.body);
        response_free(&r);
    }
}

Test(offload_server, an_answer_back_while_a_big_one_is_being_written_waits_its_turn)
{
    /* A big answer from the loop the client does not read yet, then an offloaded request behind it. */
    client_t *c = client_connect();
    client_sends(c, "GET /big HTTP/1.1\r\nHost: x\r\n\r\nGET /o/error?json HTTP/1.1\r\nHost: x\r\n\r\n"
                    "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
    usleep(200 * 1000); /* the offloaded request is back long before the big write is done */
    response_t r;
    client_response(c, &r, false);
    cr_assert_eq(r.status, 200);
    cr_assert_eq(r.body_len, BIG_BODY);
    for (size_t i = 0; i < BIG_BODY; i += 4099)
        cr_assert_eq(r.body[i], (char)('a' + i % 26), "byte %zu of the big answer", i);
    response_free(&r);
    client_response(c, &r, false);
    cr_assert_eq(r.status, 201);
    cr_assert_str_eq(r.body, "{\"path\":\"/o/error\"}");
    response_free(&r);
    client_response(c, &r, false);
    cr_assert_str_eq(r.body, "hello");
    response_free(&r);
    client_free(c);
}
