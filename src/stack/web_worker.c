/*
 * web_worker: threads of HTTP serving in one process (see web_worker.h).
 */
#define MT_LOG_NAME "muleteer.stack.web_worker"

#include "stack/web_worker.h"

#include <dirent.h>
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "stack/http_server.h"
#include "common/log.h"
#include "common/mem.h"
#include "stack/heartbeat.h"
#include "stack/listeners.h"
#include "stack/offload.h"
#include "stack/stack.h"

#define HARAKIRI_TICK_MS 200 /* how often the watchdog looks at the threads' requests (and publishes the beat) */
#define HARAKIRI_FLUSH_MS 100 /* after the others' handlers are done, before the SIGKILL: their answers go out */
/*
 * Descriptors kept free beside worker-connections' default: the database
 * connections (SQLite opens the file, its WAL and its shm: a few per
 * thread that talks to it), static files being sent, the application's
 * own files and pipes.
 */
#define FD_HEADROOM_BASE 32
#define FD_HEADROOM_PER_THREAD 4
/*
 * Allocations this large are mmap'd and go back to the system when freed.
 * glibc's default threshold rises to the size of the largest block freed
 * (up to 32 MB), so after one 15 MB request body every later body and
 * response below that size came from the heap and stayed held.
 */
#define MMAP_THRESHOLD (256 * 1024)

typedef struct web_thread {
    mt_stack_t *stack;
    int index;               /* 0-based within the process */
    pthread_t thread;
    uv_loop_t loop;
    uv_async_t stop_async;   /* woken by the main thread to drain */
    mt_http_server_t **servers; /* one per listener (listeners.h), NULL once closed */
    size_t nservers;
    size_t draining;         /* servers not yet drained */
    mt_http_busy_t busy;     /* the handler running now, for the harakiri watchdog */
    mt_heartbeat_t heartbeat;/* its loop's beat ... */
    _Atomic int64_t beat_us; /* ... lands here; the main thread publishes the oldest (publish_beat) */
    atomic_int started;      /* 1 once serving, -1 if it failed to start */
    atomic_int finished;     /* 1 once its loop has returned */
} web_thread_t;

/* The worker's route-threads (offload.h), shared by its serving threads; NULL with route-threads = 0. */
typedef struct route_pool {
    mt_offload_pool_t *pool;
    mt_http_busy_t *busy;    /* one per pool thread, for the harakiri watchdog */
    size_t nthreads;
} route_pool_t;

static route_pool_t routes;

/* The worker's own loop (mt_app_t.web_worker_loop_start): a thread that serves no HTTP. */
typedef struct own_loop {
    mt_stack_t *stack;
    pthread_t thread;
    uv_loop_t loop;
    uv_async_t stop_async;   /* woken by the main thread once the web threads have drained */
    mt_heartbeat_t heartbeat;
    _Atomic int64_t beat_us;
    atomic_int started;      /* 1 once its start hook has returned */
    atomic_int finished;     /* 1 once its loop has returned */
    bool running;            /* the thread was started */
} own_loop_t;

static own_loop_t own;

/* What the process's servers share: worker-connections, max-requests, the reserve descriptors (http_server.h). */
static mt_http_limits_t limits;

static void route_thread_start(size_t index, void *data)
{
    (void)data;
    char name[32];
    snprintf(name, sizeof name, "RouteThread-%zu", index + 1);
    mt_log_set_thread_name(name);
}

static void close_walk_cb(uv_handle_t *handle, void *arg)
{
    (void)arg;
    if (!uv_is_closing(handle))
        uv_close(handle, NULL);
}

static void drained_cb(mt_http_server_t *server, void *data)
{
    web_thread_t *wt = data;
    (void)server;
    if (--wt->draining > 0)
        return; /* the other listeners' connections are still finishing */
    uv_close((uv_handle_t *)&wt->stop_async, NULL);
    for (size_t i = 0; i < wt->nservers; i++) {
        mt_http_server_close(wt->servers[i]);
        wt->servers[i] = NULL;
    }
    if (wt->stack->app && wt->stack->app->web_thread_stop)
        wt->stack->app->web_thread_stop(wt->stack, wt->stack->app->app_data);
    /* Whatever the application added to this loop (timers, processes) ends with it. */
    uv_walk(&wt->loop, close_walk_cb, NULL);
}

static void stop_cb(uv_async_t *async)
{
    web_thread_t *wt = async->data;
    if (wt->draining > 0 || wt->nservers == 0 || wt->servers[0] == NULL)
        return;
    wt->draining = wt->nservers;
    for (size_t i = 0; i < wt->nservers; i++)
        mt_http_server_drain(wt->servers[i], drained_cb, wt);
}

static void own_stop_cb(uv_async_t *async)
{
    own_loop_t *ol = async->data;
    const mt_app_t *app = ol->stack->app;
    if (app->web_worker_loop_stop)
        app->web_worker_loop_stop(ol->stack, app->app_data);
    uv_walk(&ol->loop, close_walk_cb, NULL); /* whatever the application added ends with it */
}

static void *own_loop_main(void *arg)
{
    own_loop_t *ol = arg;
    const mt_app_t *app = ol->stack->app;
    mt_log_set_thread_name("WorkerLoop");
    uv_loop_init(&ol->loop);
    mt_stack__set_thread_loop(&ol->loop);
    uv_async_init(&ol->loop, &ol->stop_async, own_stop_cb);
    ol->stop_async.data = ol;
    int beat_rc = mt_heartbeat_start(&ol->heartbeat, &ol->loop, &ol->beat_us);
    if (beat_rc < 0)
        mt_error("the worker's own loop: the heartbeat timer could not start: %s; this worker will show as not "
                 "beating", uv_strerror(beat_rc));
    app->web_worker_loop_start(ol->stack, app->app_data);
    atomic_store(&ol->started, 1);
    uv_run(&ol->loop, UV_RUN_DEFAULT);
    uv_loop_close(&ol->loop);
    atomic_store(&ol->finished, 1);
    return NULL;
}

static void *thread_main(void *arg)
{
    web_thread_t *wt = arg;
    mt_stack_t *stack = wt->stack;
    char err[256];

    char name[32];
    snprintf(name, sizeof name, "WebThread-%d", wt->index + 1);
    mt_log_set_thread_name(name);
    uv_loop_init(&wt->loop);
    mt_stack__set_thread_loop(&wt->loop);
    mt_http_config_t cfg = {
        .max_header_size = (size_t)mt_config_get_int(stack->config, NULL, "buffer-size"),
        .max_body_size = (size_t)mt_config_get_int(stack->config, NULL, "limit-post"),
        .timeout_ms = (unsigned)mt_config_get_int(stack->config, NULL, "http-timeout") * 1000u,
        .router = stack->router,
        .statics = stack->statics,
        .stack = stack,
        .access_log = mt_config_get_bool(stack->config, NULL, "access-log") &&
                      !mt_config_get_bool(stack->config, NULL, "disable-logging"),
        .api_keys = stack->api_keys,
        .busy = mt_config_get_int(stack->config, NULL, "harakiri") > 0 ? &wt->busy : NULL,
        .offload = routes.pool,
        .offload_busy = mt_config_get_int(stack->config, NULL, "harakiri") > 0 ? routes.busy : NULL,
        .limits = &limits,
    };
    wt->nservers = mt_listeners_count(stack->listeners);
    wt->servers = mt_calloc(wt->nservers, sizeof *wt->servers);
    for (size_t i = 0; i < wt->nservers; i++) {
        cfg.listen_fd = mt_listeners_fd(stack->listeners, i);
        cfg.uwsgi = mt_listeners_proto(stack->listeners, i) == MT_LISTEN_UWSGI;
        wt->servers[i] = mt_http_server_create(&wt->loop, &cfg, err, sizeof err);
        if (!wt->servers[i]) {
            mt_alert("thread %d: cannot serve on %s: %s", wt->index, mt_listeners_addr(stack->listeners, i), err);
            for (size_t k = 0; k < i; k++)
                mt_http_server_close(wt->servers[k]);
            atomic_store(&wt->started, -1);
            atomic_store(&wt->finished, 1);
            uv_run(&wt->loop, UV_RUN_DEFAULT); /* let handles it had opened close */
            uv_loop_close(&wt->loop);
            free(wt->servers);
            wt->servers = NULL;
            return NULL;
        }
    }
    uv_async_init(&wt->loop, &wt->stop_async, stop_cb);
    wt->stop_async.data = wt;
    int beat_rc = mt_heartbeat_start(&wt->heartbeat, &wt->loop, &wt->beat_us);
    if (beat_rc < 0)
        mt_error("thread %d: the heartbeat timer could not start: %s; this worker will show as not beating",
                 wt->index + 1, uv_strerror(beat_rc));
    if (stack->app && stack->app->web_thread_start)
        stack->app->web_thread_start(stack, stack->app->app_data);
    atomic_store(&wt->started, 1);

    uv_run(&wt->loop, UV_RUN_DEFAULT);
    uv_loop_close(&wt->loop);
    free(wt->servers);
    wt->servers = NULL;
    atomic_store(&wt->finished, 1);
    return NULL;
}

/* Copy a thread's in-flight request; false if it has none, or if it changed while being read. */
static bool busy_read(mt_http_busy_t *busy, int64_t *since, char *method, char *path)
{
    *since = atomic_load_explicit(&busy->since_us, memory_order_acquire);
    if (*since == 0)
        return false;
    memcpy(method, busy->method, sizeof busy->method);
    memcpy(path, busy->path, sizeof busy->path);
    method[sizeof busy->method - 1] = '\0';
    path[sizeof busy->path - 1] = '\0';
    atomic_thread_fence(memory_order_acquire);
    return atomic_load_explicit(&busy->since_us, memory_order_relaxed) == *since;
}

/*
 * The worker's beat is its slowest serving thread's: the oldest beat of
 * the threads still running their loop (0 while one has not beaten yet, so
 * the worker counts as starting). Run by the main thread every tick.
 */
static void publish_beat(mt_stack_t *stack, web_thread_t *threads, int nthreads)
{
    int64_t oldest = -1;
    for (int i = 0; i < nthreads; i++) {
        if (atomic_load(&threads[i].finished))
            continue;
        int64_t beat = atomic_load_explicit(&threads[i].beat_us, memory_order_relaxed);
        if (oldest < 0 || beat < oldest)
            oldest = beat;
    }
    if (own.running && !atomic_load(&own.finished)) {
        int64_t beat = atomic_load_explicit(&own.beat_us, memory_order_relaxed);
        if (oldest < 0 || beat < oldest)
            oldest = beat;
    }
    if (oldest >= 0)
        atomic_store_explicit(&stack->procs.procs[stack->self_slot].live->beat_mono_us, oldest, memory_order_relaxed);
}

/* "thread 2" for a serving thread, "route thread 1" for a thread of the offload pool. */
static void record_name(size_t i, size_t nthreads, char *out, size_t len)
{
    if (i < nthreads)
        snprintf(out, len, "thread %zu", i + 1);
    else
        snprintf(out, len, "route thread %zu", i - nthreads + 1);
}

/* The busy record i of the process: a serving thread's, then the route threads'. */
static mt_http_busy_t *busy_record(web_thread_t *threads, size_t nthreads, size_t i)
{
    return i < nthreads ? &threads[i].busy : &routes.busy[i - nthreads];
}

/* True while a handler under the limit still runs (one over it is stuck with the one harakiri caught). */
static bool others_running(web_thread_t *threads, size_t nthreads, int limit_s)
{
    int64_t now = mt_clock_us();
    for (size_t i = 0; i < nthreads + routes.nthreads; i++) {
        int64_t since = atomic_load_explicit(&busy_record(threads, nthreads, i)->since_us, memory_order_acquire);
        if (since != 0 && now - since < (int64_t)limit_s * 1000000)
            return true;
    }
    return false;
}

/*
 * harakiri has caught a handler: before the SIGKILL, the worker stops
 * accepting (the other workers take new connections) and drains, so the
 * requests of its other threads finish and are answered (with
 * "Connection: close") where they can: for up to grace_s, until no other
 * handler runs, plus a moment for their answers to be written. A request
 * on the stuck thread's own loop cannot be helped: it is cut with it.
 */
static void harakiri_kill(web_thread_t *threads, int nthreads, size_t stuck, int limit_s, int grace_s, bool verbose)
{
    atomic_store(&limits.recycle, 1);
    if (others_running(threads, (size_t)nthreads, limit_s)) { /* else nothing to wait for: the kill comes at once */
        for (int i = 0; i < nthreads; i++)
            uv_async_send(&threads[i].stop_async);
        int64_t deadline = mt_clock_ms() + (int64_t)grace_s * 1000;
        while (mt_clock_ms() < deadline && others_running(threads, (size_t)nthreads, limit_s))
            nanosleep(&(struct timespec){.tv_nsec = 10 * 1000000}, NULL);
        nanosleep(&(struct timespec){.tv_nsec = HARAKIRI_FLUSH_MS * 1000000L}, NULL);
    }
    int64_t now = mt_clock_us();
    size_t nrecords = (size_t)nthreads + routes.nthreads;
    for (size_t k = 0; verbose && k < nrecords; k++) {
        mt_http_busy_t *other = busy_record(threads, (size_t)nthreads, k);
        int64_t since;
        char method[sizeof other->method], path[sizeof other->path], where[48];
        record_name(k, (size_t)nthreads, where, sizeof where);
        if (k != stuck && busy_read(other, &since, method, path))
            mt_notice("harakiri: %s %s (running for %.1f s on %s) is cut with it", method, path,
                      (double)(now - since) / 1e6, where);
    }
    kill(getpid(), SIGKILL);
    pause(); /* SIGKILL cannot be blocked: never reached */
}

/*
 * The harakiri watchdog, run by the main thread every HARAKIRI_TICK_MS: a
 * handler running longer than limit_s gets the whole process killed (its
 * thread cannot be stopped alone), after the others had their chance
 * (harakiri_kill), and the master respawns it. SIGKILL, not exit(): the
 * stuck thread may hold any lock.
 */
static void harakiri_check(mt_stack_t *stack, web_thread_t *threads, int nthreads, int limit_s, int grace_s,
                           bool verbose)
{
    int64_t now = mt_clock_us();
    /* The serving threads' handlers, then the route threads' (offloaded routes): one list of records. */
    size_t nrecords = (size_t)nthreads + routes.nthreads;
    for (size_t i = 0; i < nrecords; i++) {
        mt_http_busy_t *busy = busy_record(threads, (size_t)nthreads, i);
        int64_t since;
        char method[sizeof busy->method], path[sizeof busy->path], where[48];
        if (!busy_read(busy, &since, method, path) || now - since < (int64_t)limit_s * 1000000)
            continue;
        record_name(i, (size_t)nthreads, where, sizeof where);
        mt_error("harakiri: %s %s has run for %.1f s on %s (pid %d, %s), over harakiri = %d s: "
                 "killing the worker",
                 method, path, (double)(now - since) / 1e6, mt_stack_server_name(stack), (int)getpid(), where,
                 limit_s);
        harakiri_kill(threads, nthreads, i, limit_s, grace_s, verbose);
    }
}

/* Descriptors the process has open now (-1 if /proc cannot tell). */
static long open_fd_count(void)
{
    DIR *dir = opendir("/proc/self/fd");
    if (dir == NULL)
        return -1;
    long n = -1; /* the directory's own descriptor */
    struct dirent *entry;
    while ((entry = readdir(dir)) != NULL)
        n += entry->d_name[0] != '.';
    closedir(dir);
    return n;
}

/*
 * worker-connections: the option, or (0) what the descriptor limit leaves
 * once the descriptors open now, the reserve and a headroom for database
 * files are counted. A limit larger than the descriptors allow gets a
 * warning: accept4() would fail first (then the reserve answers 503).
 */
static unsigned connection_limit(mt_stack_t *stack, int nthreads, long route_threads)
{
    long wanted = mt_config_get_int(stack->config, NULL, "worker-connections");
    struct rlimit rl;
    long in_use = open_fd_count();
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY || in_use < 0)
        return (unsigned)wanted; /* nothing to derive it from */
    long headroom = FD_HEADROOM_BASE + FD_HEADROOM_PER_THREAD * (nthreads + route_threads + 1);
    long room = (long)rl.rlim_cur - in_use - MT_HTTP_RESERVE_FDS - headroom;
    if (wanted == 0)
        return room < 8 ? 8 : (unsigned)room;
    if (wanted > room)
        mt_warn("worker-connections = %ld: the descriptor limit (RLIMIT_NOFILE %ld, %ld in use, %ld kept for "
                "database files and responses) leaves room for %ld; connections beyond that are answered 503 when "
                "accept4() runs out of descriptors",
                wanted, (long)rl.rlim_cur, in_use, headroom + MT_HTTP_RESERVE_FDS, room < 0 ? 0 : room);
    return (unsigned)wanted;
}

/* Resident set size of the process, in bytes (0 if it cannot be read). */
static uint64_t rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "re");
    if (f == NULL)
        return 0;
    unsigned long long size = 0, resident = 0;
    int n = fscanf(f, "%llu %llu", &size, &resident);
    fclose(f);
    return n == 2 ? (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE) : 0;
}

/*
 * max-requests and reload-on-rss: true if the worker should recycle now,
 * with the reason in why. RSS is read only after requests were served
 * since the last look, so a worker that starts above the limit does not
 * recycle in a loop.
 */
static bool recycle_due(long max_requests, long rss_mb, unsigned long long *served_seen, char *why, size_t len)
{
    unsigned long long served = atomic_load_explicit(&limits.served, memory_order_relaxed);
    if (max_requests > 0 && atomic_load_explicit(&limits.recycle, memory_order_relaxed)) {
        snprintf(why, len, "served %llu requests (max-requests = %ld)", served, max_requests);
        return true;
    }
    if (rss_mb <= 0 || served == *served_seen)
        return false;
    *served_seen = served;
    uint64_t rss = rss_bytes();
    if (rss <= (uint64_t)rss_mb * 1024 * 1024)
        return false;
    snprintf(why, len, "resident memory %.1f MB after %llu requests (reload-on-rss = %ld MB)",
             (double)rss / (1024.0 * 1024.0), served, rss_mb);
    atomic_store(&limits.recycle, 1); /* every thread stops accepting */
    return true;
}

int mt_web_worker_run(mt_stack_t *stack)
{
    int nthreads = (int)mt_config_get_int(stack->config, NULL, "threads");
    int mercy_s = (int)mt_config_get_int(stack->config, NULL, "worker-reload-mercy");

    /* Serving threads inherit this mask: only the main thread takes signals. */
    sigset_t stop_set;
    sigemptyset(&stop_set);
    sigaddset(&stop_set, SIGTERM);
    sigaddset(&stop_set, SIGINT);
    sigaddset(&stop_set, SIGQUIT);
    sigaddset(&stop_set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &stop_set, NULL);

    long route_threads = mt_config_get_int(stack->config, NULL, "route-threads");
    long max_requests = mt_config_get_int(stack->config, NULL, "max-requests");
    if (max_requests > 0)
        max_requests += mt_config_get_int(stack->config, NULL, "max-requests-delta") *
                        stack->procs.procs[stack->self_slot].worker_id;
    long rss_mb = mt_config_get_int(stack->config, NULL, "reload-on-rss");
    mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD); /* fixed: glibc's would rise after a large body (see above) */
    unsigned max_connections = connection_limit(stack, nthreads, route_threads);
    int lrc = mt_http_limits_init(&limits, max_connections, (unsigned long long)(max_requests > 0 ? max_requests : 0));
    limits.notify_thread = pthread_self(); /* SIGHUP wakes the main thread's wait below (blocked in every thread) */
    limits.notify_signal = SIGHUP;
    if (lrc < 0)
        mt_warn("cannot open /dev/null for the reserve descriptors: %s; running out of descriptors will leave new "
                "connections waiting instead of answering them 503", strerror(-lrc));
    if (route_threads > 0) {
        char err[256];
        routes.nthreads = (size_t)route_threads;
        routes.busy = mt_calloc(routes.nthreads, sizeof *routes.busy);
        routes.pool = mt_offload_pool_create(routes.nthreads, route_thread_start, NULL, err, sizeof err);
        if (routes.pool == NULL) {
            mt_alert("%s", err);
            return MT_EXIT_FATAL;
        }
    }

    if (stack->app && stack->app->web_worker_loop_start) {
        own.stack = stack;
        int rc = pthread_create(&own.thread, NULL, own_loop_main, &own);
        if (rc != 0) {
            mt_alert("pthread_create() failed for the worker's own loop: %s", strerror(rc));
            return MT_EXIT_FATAL;
        }
        own.running = true;
        while (atomic_load(&own.started) == 0) /* its start hook first: then the web threads serve */
            nanosleep(&(struct timespec){.tv_nsec = 1000000}, NULL);
    }

    web_thread_t *threads = mt_calloc((size_t)nthreads, sizeof *threads);
    for (int i = 0; i < nthreads; i++) {
        threads[i].stack = stack;
        threads[i].index = i;
        int rc = pthread_create(&threads[i].thread, NULL, thread_main, &threads[i]);
        if (rc != 0) {
            mt_alert("pthread_create() failed for web thread %d: %s", i, strerror(rc));
            return MT_EXIT_FATAL;
        }
    }
    /* Wait until every thread serves (or failed to start). */
    for (int i = 0; i < nthreads; i++) {
        while (atomic_load(&threads[i].started) == 0)
            nanosleep(&(struct timespec){.tv_nsec = 1000000}, NULL);
        if (atomic_load(&threads[i].started) < 0)
            return MT_EXIT_FATAL;
    }
    char where[1024];
    size_t n = 0;
    where[0] = '\0';
    for (size_t i = 0; i < mt_listeners_count(stack->listeners) && n < sizeof where; i++) {
        int w = snprintf(where + n, sizeof where - n, "%s%s (%s)", i ? ", " : "", mt_listeners_addr(stack->listeners, i),
                         mt_listeners_proto(stack->listeners, i) == MT_LISTEN_UWSGI ? "uwsgi" : "HTTP");
        n += w > 0 ? (size_t)w : 0;
    }
    mt_info("%s (pid %d) serving on %s with %d thread%s and %zu route thread%s, up to %u connections",
            mt_stack_server_name(stack), (int)getpid(), where, nthreads, nthreads == 1 ? "" : "s", routes.nthreads,
            routes.nthreads == 1 ? "" : "s", max_connections);

    int harakiri_s = (int)mt_config_get_int(stack->config, NULL, "harakiri");
    bool verbose = mt_config_get_bool(stack->config, NULL, "harakiri-verbose");
    int sig;
    bool recycling = false;
    unsigned long long served_seen = 0;
    char why[160];
    publish_beat(stack, threads, nthreads);
    do {
        siginfo_t info;
        struct timespec tick = {.tv_nsec = HARAKIRI_TICK_MS * 1000000L};
        sig = sigtimedwait(&stop_set, &info, &tick);
        if (sig < 0 || sig == SIGHUP) { /* a tick, or max-requests reached (mt_http_limits_t.notify_signal) */
            publish_beat(stack, threads, nthreads);
            if (harakiri_s > 0)
                harakiri_check(stack, threads, nthreads, harakiri_s, mercy_s < harakiri_s ? mercy_s : harakiri_s,
                               verbose);
            recycling = recycle_due(max_requests, rss_mb, &served_seen, why, sizeof why);
        }
    } while (!recycling && (sig < 0 || sig == SIGHUP));
    if (recycling)
        mt_info("recycling: %s", why);
    else
        mt_info("%s received: draining", strsignal(sig));

    for (int i = 0; i < nthreads; i++)
        uv_async_send(&threads[i].stop_async);

    /*
     * Wait for the threads to drain, bounded by the mercy; then exit
     * regardless. The worker's own loop stops last: a request may still
     * hand it work until its thread has drained.
     */
    int64_t deadline = mt_clock_ms() + (int64_t)mercy_s * 1000;
    bool own_told = false;
    for (;;) {
        int left = 0;
        for (int i = 0; i < nthreads; i++)
            left += !atomic_load(&threads[i].finished);
        if (left == 0 && own.running && !own_told) {
            uv_async_send(&own.stop_async);
            own_told = true;
        }
        bool own_left = own.running && !atomic_load(&own.finished);
        if (left == 0 && !own_left)
            break;
        if (mt_clock_ms() >= deadline) {
            if (left > 0)
                mt_warn("%d thread%s still busy after worker-reload-mercy (%ds): exiting anyway", left,
                        left == 1 ? "" : "s", mercy_s);
            else
                mt_warn("the worker's own loop has not stopped after worker-reload-mercy (%ds): exiting anyway",
                        mercy_s);
            return recycling ? MT_EXIT_RECYCLED : 0;
        }
        /* Further stop signals change nothing: the master escalates with SIGKILL if needed. */
        struct timespec tick = {.tv_nsec = 10 * 1000000};
        siginfo_t info;
        (void)sigtimedwait(&stop_set, &info, &tick);
    }
    for (int i = 0; i < nthreads; i++)
        pthread_join(threads[i].thread, NULL);
    if (own.running)
        pthread_join(own.thread, NULL);
    free(threads);
    /* Every offloaded request has come back to its loop, since every loop has ended. */
    mt_offload_pool_destroy(routes.pool);
    free(routes.busy);
    routes = (route_pool_t){0};
    mt_http_limits_release(&limits);
    return recycling ? MT_EXIT_RECYCLED : 0;
}
