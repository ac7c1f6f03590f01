/*
 * muleteer-example: a small application on the stack's public API.
 *
 * It shows the three steps that put asynchronous work on mules: a message
 * type (the targets "record", "count" and "latency"), a handler registered for it, and
 * a send. The integration tests and `make bench` drive it over HTTP:
 *
 *   POST /example/send?farm=F&target=T&from=A&count=N[&wait=K][&rate=R][&stamp=1]
 *        sends N messages whose payloads are the decimal numbers A..A+N-1
 *        to farm F (or mule=ID, or server=NAME) from the calling web
 *        thread. wait=K first holds the request until K such requests are
 *        waiting in this process (at most 10 s), so that K different web
 *        threads send at the same time. rate=R paces the sends at R per
 *        second; stamp=1 makes each payload the wall-clock time of its
 *        send in microseconds instead (for the target "latency").
 *   POST /example/message?farm=F&target=T   sends the request body as one message.
 *   GET  /example/sleep?seconds=S   a test aid: the handler sleeps S seconds (0..3600, may be
 *        fractional) and then answers {"slept": S, "server": NAME}. It holds its web thread
 *        all that time, as a slow handler would (the harakiri tests use it).
 *   POST /example/echo   answers the request's body, content type and query as JSON (a test
 *        aid: the uwsgi socket tests check what reached the handler).
 *
 * The mule target "hold" is a test aid too: its handler holds the mule's loop for the seconds
 * its payload says ("10"), as a handler stuck in a synchronous call would, so the mule stops
 * beating (mule-harakiri); with " beat" after the number ("10 beat") it calls mt_heartbeat()
 * every 0.2 s meanwhile, as a long task that makes progress does. The option hold-start = S
 * (`--example.hold-start S`) holds each mule's start S seconds before its loop runs, as an
 * application's mule_start hook that hangs would.
 *
 * Mules: "record" appends each payload as a line to
 * <out-dir>/received.<mule id> (so a test can count every
 * message by content); "count" only counts, and a timer writes
 * "count first last" (wall-clock seconds of the first and last message) to
 * <out-dir>/count.<mule id> every 100 ms while it changes; "latency" reads
 * the payload as a send time (stamp=1) and the same timer writes every
 * send->receive latency seen so far, in microseconds, one a line, to
 * <out-dir>/latency.<mule id>.
 *
 * out-dir is the application's own option, in its own configuration
 * section: `--example.out-dir DIR`, `--set example.out-dir=DIR`,
 * `[example] out-dir = DIR` or `example: {out-dir: DIR}`. Without it the
 * mules count in memory only.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "muleteer.h"

/* ---- mule side ---- */

typedef struct mule_state {
    char dir[1024];
    int record_fd;
    char record_buf[65536];
    size_t record_len;
    unsigned long long count;
    double first, last;
    unsigned long long count_written;
    uv_timer_t flush_timer;
    unsigned *latency_us; /* LATENCY_MAX samples, allocated at the first */
    size_t latencies, latencies_written;
} mule_state_t;

#define LATENCY_MAX 1000000

static mule_state_t mule;

static double wall_now(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

static void record_flush(void)
{
    size_t off = 0;
    while (off < mule.record_len) {
        ssize_t n = write(mule.record_fd, mule.record_buf + off, mule.record_len - off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            perror("example: writing received messages");
            break;
        }
        off += (size_t)n;
    }
    mule.record_len = 0;
}

static void write_count(mt_stack_t *stack)
{
    if (!mule.dir[0] || mule.count == mule.count_written)
        return;
    char path[1100], tmp[1110], line[128];
    snprintf(path, sizeof path, "%s/count.%d", mule.dir, mt_stack_mule_id(stack));
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int n = snprintf(line, sizeof line, "%llu %.6f %.6f\n", mule.count, mule.first, mule.last);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return;
    fwrite(line, 1, (size_t)n, f);
    fclose(f);
    rename(tmp, path);
    mule.count_written = mule.count;
}

static void write_latencies(mt_stack_t *stack)
{
    if (!mule.dir[0] || mule.latencies == mule.latencies_written)
        return;
    char path[1100], tmp[1110];
    snprintf(path, sizeof path, "%s/latency.%d", mule.dir, mt_stack_mule_id(stack));
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return;
    for (size_t i = 0; i < mule.latencies; i++)
        fprintf(f, "%u\n", mule.latency_us[i]);
    fclose(f);
    rename(tmp, path);
    mule.latencies_written = mule.latencies;
}

static void flush_timer_cb(uv_timer_t *timer)
{
    mt_stack_t *stack = timer->data;
    if (mule.record_fd >= 0 && mule.record_len)
        record_flush();
    write_count(stack);
    write_latencies(stack);
}

static void record_cb(mt_stack_t *stack, const mt_message_t *msg, void *data)
{
    (void)stack;
    (void)data;
    if (mule.record_fd < 0)
        return;
    if (mule.record_len + msg->len + 1 > sizeof mule.record_buf)
        record_flush();
    if (msg->len + 1 > sizeof mule.record_buf) {
        fprintf(stderr, "example: record payload too long (%zu bytes)\n", msg->len);
        return;
    }
    memcpy(mule.record_buf + mule.record_len, msg->payload, msg->len);
    mule.record_len += msg->len;
    mule.record_buf[mule.record_len++] = '\n';
}

static void count_cb(mt_stack_t *stack, const mt_message_t *msg, void *data)
{
    (void)stack;
    (void)msg;
    (void)data;
    double now = wall_now();
    if (mule.count++ == 0)
        mule.first = now;
    mule.last = now;
}

static void latency_cb(mt_stack_t *stack, const mt_message_t *msg, void *data)
{
    (void)stack;
    (void)data;
    char num[32];
    size_t n = msg->len < sizeof num - 1 ? msg->len : sizeof num - 1;
    memcpy(num, msg->payload, n);
    num[n] = '\0';
    double sent_us = strtod(num, NULL), now_us = wall_now() * 1e6;
    if (!mule.latency_us && !(mule.latency_us = malloc(LATENCY_MAX * sizeof *mule.latency_us)))
        return;
    if (mule.latencies < LATENCY_MAX)
        mule.latency_us[mule.latencies++] = now_us > sent_us ? (unsigned)(now_us - sent_us) : 0;
}

static void mule_start(mt_stack_t *stack, void *app_data)
{
    (void)app_data;
    mule.record_fd = -1;
    const char *dir = mt_app_option(stack, "out-dir");
    if (dir && *dir) {
        snprintf(mule.dir, sizeof mule.dir, "%s", dir);
        char path[1100];
        snprintf(path, sizeof path, "%s/received.%d", dir, mt_stack_mule_id(stack));
        mule.record_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (mule.record_fd < 0)
            perror(path);
    }
    uv_timer_init(mt_stack_loop(stack), &mule.flush_timer);
    mule.flush_timer.data = stack;
    uv_timer_start(&mule.flush_timer, flush_timer_cb, 100, 100);
    const char *hold = mt_app_option(stack, "hold-start");
    double seconds = hold ? atof(hold) : 0;
    if (seconds > 0 && seconds <= 3600) {
        struct timespec ts = {(time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9)};
        while (nanosleep(&ts, &ts) < 0)
            ;
    }
}

/* ---- web side ---- */

static pthread_mutex_t barrier_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t barrier_cond = PTHREAD_COND_INITIALIZER;
static long barrier_waiting;

/* Hold until `want` requests wait here, or 10 s pass. Returns 0, or -1 on timeout. */
static int barrier_wait(long want)
{
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 10;
    int rc = 0;
    pthread_mutex_lock(&barrier_lock);
    long generation_target = ++barrier_waiting;
    if (generation_target >= want) {
        barrier_waiting = 0;
        pthread_cond_broadcast(&barrier_cond);
    } else {
        while (barrier_waiting != 0 && rc == 0)
            rc = pthread_cond_timedwait(&barrier_cond, &barrier_lock, &deadline);
        if (rc != 0)
            barrier_waiting--;
    }
    pthread_mutex_unlock(&barrier_lock);
    return rc == 0 ? 0 : -1;
}

typedef struct destination {
    char farm[128], server[256];
    int mule_id;
} destination_t;

static int parse_destination(mt_request_t *req, destination_t *d, char *target, size_t tlen)
{
    char num[32];
    memset(d, 0, sizeof *d);
    if (mt_request_query_param(req, "target", target, tlen) < 0) {
        mt_respond_error(req, 400, "query parameter 'target' is required");
        return -1;
    }
    if (mt_request_query_param(req, "mule", num, sizeof num) >= 0)
        d->mule_id = atoi(num);
    else if (mt_request_query_param(req, "server", d->server, sizeof d->server) < 0 &&
             mt_request_query_param(req, "farm", d->farm, sizeof d->farm) < 0) {
        mt_respond_error(req, 400, "one of the query parameters 'farm', 'mule' or 'server' is required");
        return -1;
    }
    return 0;
}

static int send_to(mt_stack_t *stack, const destination_t *d, const char *target, const void *p, size_t len)
{
    if (d->mule_id)
        return mt_send_to_mule(stack, d->mule_id, target, p, len);
    if (d->server[0])
        return mt_send_to_server(stack, d->server, target, p, len);
    return mt_send_to_farm(stack, d->farm, target, p, len);
}

static int status_for(int err)
{
    switch (err) {
    case -EMSGSIZE: return 413;
    case -ENOENT: return 404;
    case -EINVAL: return 400;
    case -ETIMEDOUT: return 503;
    default: return 500;
    }
}

static void send_cb(mt_request_t *req, void *data)
{
    (void)data;
    mt_stack_t *stack = mt_request_stack(req);
    destination_t d;
    char target[MT_MSG_TARGET_MAX + 8], num[32];
    if (parse_destination(req, &d, target, sizeof target) < 0)
        return;
    long long from = mt_request_query_param(req, "from", num, sizeof num) >= 0 ? atoll(num) : 0;
    long long count = mt_request_query_param(req, "count", num, sizeof num) >= 0 ? atoll(num) : 1;
    long wait = mt_request_query_param(req, "wait", num, sizeof num) >= 0 ? atol(num) : 0;
    double rate = mt_request_query_param(req, "rate", num, sizeof num) >= 0 ? atof(num) : 0;
    int stamp = mt_request_query_param(req, "stamp", num, sizeof num) >= 0 && atoi(num) != 0;
    if (count < 0 || count > 100000000) {
        mt_respond_error(req, 400, "count must be between 0 and 100000000");
        return;
    }
    if (wait > 1 && barrier_wait(wait) < 0) {
        mt_respond_error(req, 503, "fewer than %ld senders arrived within 10 s", wait);
        return;
    }
    double t0 = wall_now();
    long long sent = 0;
    int rc = 0;
    for (long long i = 0; i < count; i++) {
        if (rate > 0) {
            double due = t0 + (double)i / rate, now = wall_now();
            if (due > now) {
                struct timespec ts = {(time_t)(due - now), (long)((due - now - (double)(time_t)(due - now)) * 1e9)};
                nanosleep(&ts, NULL);
            }
        }
        char payload[32];
        int n = stamp ? snprintf(payload, sizeof payload, "%.0f", wall_now() * 1e6)
                      : snprintf(payload, sizeof payload, "%lld", from + i);
        rc = send_to(stack, &d, target, payload, (size_t)n);
        if (rc < 0)
            break;
        sent++;
    }
    double elapsed = wall_now() - t0;
    if (rc < 0) {
        mt_respond_error(req, status_for(rc), "sent %lld of %lld, then: %s", sent, count, mt_strerror(rc));
        return;
    }
    unsigned long tid = (unsigned long)pthread_self();
    json_t *doc = json_pack("{s:I, s:f, s:s, s:I, s:f}", "sent", (json_int_t)sent, "elapsed", elapsed, "server",
                            mt_stack_server_name(stack), "thread", (json_int_t)tid, "started", t0);
    mt_respond_json(req, 200, doc);
    json_decref(doc);
}

static void message_cb(mt_request_t *req, void *data)
{
    (void)data;
    mt_stack_t *stack = mt_request_stack(req);
    destination_t d;
    char target[MT_MSG_TARGET_MAX + 8];
    if (parse_destination(req, &d, target, sizeof target) < 0)
        return;
    size_t len;
    const char *body = mt_request_body(req, &len);
    int rc = send_to(stack, &d, target, body, len);
    if (rc < 0) {
        mt_respond_error(req, status_for(rc), "not sent: %s", mt_strerror(rc));
        return;
    }
    json_t *doc = json_pack("{s:I}", "sent", (json_int_t)1);
    mt_respond_json(req, 202, doc);
    json_decref(doc);
}

static void sleep_cb(mt_request_t *req, void *data)
{
    (void)data;
    char num[32];
    double seconds = mt_request_query_param(req, "seconds", num, sizeof num) >= 0 ? atof(num) : 1;
    if (!(seconds >= 0 && seconds <= 3600)) {
        mt_respond_error(req, 400, "seconds must be between 0 and 3600");
        return;
    }
    struct timespec ts = {(time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9)};
    while (nanosleep(&ts, &ts) < 0)
        ;
    json_t *doc = json_pack("{s:f, s:s}", "slept", seconds, "server", mt_stack_server_name(mt_request_stack(req)));
    mt_respond_json(req, 200, doc);
    json_decref(doc);
}

static void echo_cb(mt_request_t *req, void *data)
{
    (void)data;
    size_t len;
    const char *body = mt_request_body(req, &len);
    const char *type = mt_request_header(req, "Content-Type");
    const char *key = mt_request_header(req, "X-Example");
    json_t *doc = json_pack("{s:s%, s:s, s:s, s:s, s:s?, s:s?}", "body", body, len, "method", mt_request_method(req),
                            "path", mt_request_path(req), "query", mt_request_query(req), "content_type", type,
                            "x_example", key);
    if (doc == NULL) {
        mt_respond_error(req, 400, "the body is not UTF-8");
        return;
    }
    mt_respond_json(req, 200, doc);
    json_decref(doc);
}

static void hold_cb(mt_stack_t *stack, const mt_message_t *msg, void *data)
{
    (void)data;
    char text[64];
    size_t n = msg->len < sizeof text - 1 ? msg->len : sizeof text - 1;
    memcpy(text, msg->payload, n);
    text[n] = '\0';
    double seconds = atof(text);
    int beat = strstr(text, "beat") != NULL;
    double end = wall_now() + (seconds > 0 && seconds <= 3600 ? seconds : 0);
    for (double now = wall_now(); now < end; now = wall_now()) {
        double step = end - now < 0.2 ? end - now : 0.2;
        struct timespec ts = {0, (long)(step * 1e9)};
        nanosleep(&ts, NULL);
        if (beat)
            mt_heartbeat(stack);
    }
}

static int load(mt_stack_t *stack, void *app_data, char *err, size_t errlen)
{
    (void)app_data;
    int rc;
    if ((rc = mt_register_message_handler(stack, "record", record_cb, NULL)) < 0 ||
        (rc = mt_register_message_handler(stack, "count", count_cb, NULL)) < 0 ||
        (rc = mt_register_message_handler(stack, "latency", latency_cb, NULL)) < 0 ||
        (rc = mt_register_message_handler(stack, "hold", hold_cb, NULL)) < 0 ||
        (rc = mt_route_add(stack, "POST", "/example/send", 0, send_cb, NULL)) < 0 ||
        (rc = mt_route_add(stack, "POST", "/example/message", 0, message_cb, NULL)) < 0 ||
        (rc = mt_route_add(stack, "GET", "/example/sleep", 0, sleep_cb, NULL)) < 0 ||
        (rc = mt_route_add(stack, "POST", "/example/echo", 0, echo_cb, NULL)) < 0) {
        snprintf(err, errlen, "registration failed: %s", mt_strerror(rc));
        return -1;
    }
    return 0;
}

static const mt_option_def_t example_options[] = {
    {"out-dir", MT_OPT_STRING, NULL, 0, 0, 0, NULL, "directory where mules record what they receive"},
    {"hold-start", MT_OPT_STRING, NULL, 0, 0, 0, NULL,
     "seconds each mule's start holds before its loop runs (a test aid for mule-harakiri)"},
    {NULL},
};

static const mt_app_t example_app = {
    .name = "example",
    .load = load,
    .mule_start = mule_start,
    .config_section = "example",
    .options = example_options,
};

int main(int argc, char **argv)
{
    return mt_main(argc, argv, &example_app);
}
