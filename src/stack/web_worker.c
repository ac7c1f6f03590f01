/*
 * web_worker: threads of HTTP serving in one process (see web_worker.h).
 */
#define MT_LOG_NAME "muleteer.stack.web_worker"

#include "stack/web_worker.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "stack/http_server.h"
#include "common/log.h"
#include "common/mem.h"
#include "stack/stack.h"

typedef struct web_thread {
    mt_stack_t *stack;
    int index;               /* 0-based within the process */
    pthread_t thread;
    uv_loop_t loop;
    uv_async_t stop_async;   /* woken by the main thread to drain */
    mt_http_server_t *server;
    atomic_int started;      /* 1 once serving, -1 if it failed to start */
    atomic_int finished;     /* 1 once its loop has returned */
} web_thread_t;

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
    uv_close((uv_handle_t *)&wt->stop_async, NULL);
    mt_http_server_close(wt->server);
    wt->server = NULL;
    if (wt->stack->app && wt->stack->app->web_thread_stop)
        wt->stack->app->web_thread_stop(wt->stack, wt->stack->app->app_data);
    /* Whatever the application added to this loop (timers, processes) ends with it. */
    uv_walk(&wt->loop, close_walk_cb, NULL);
}

static void stop_cb(uv_async_t *async)
{
    web_thread_t *wt = async->data;
    if (wt->server)
        mt_http_server_drain(wt->server, drained_cb, wt);
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
        .listen_fd = stack->listen_fd,
        .max_header_size = (size_t)mt_config_get_int(stack->config, NULL, "buffer-size"),
        .max_body_size = (size_t)mt_config_get_int(stack->config, NULL, "limit-post"),
        .timeout_ms = (unsigned)mt_config_get_int(stack->config, NULL, "http-timeout") * 1000u,
        .router = stack->router,
        .statics = stack->statics,
        .stack = stack,
        .access_log = mt_config_get_bool(stack->config, NULL, "access-log") &&
                      !mt_config_get_bool(stack->config, NULL, "disable-logging"),
        .api_keys = stack->api_keys,
    };
    wt->server = mt_http_server_create(&wt->loop, &cfg, err, sizeof err);
    if (!wt->server) {
        mt_alert("thread %d: cannot serve: %s", wt->index, err);
        atomic_store(&wt->started, -1);
        atomic_store(&wt->finished, 1);
        uv_run(&wt->loop, UV_RUN_DEFAULT); /* let handles it had opened close */
        uv_loop_close(&wt->loop);
        return NULL;
    }
    uv_async_init(&wt->loop, &wt->stop_async, stop_cb);
    wt->stop_async.data = wt;
    if (stack->app && stack->app->web_thread_start)
        stack->app->web_thread_start(stack, stack->app->app_data);
    atomic_store(&wt->started, 1);

    uv_run(&wt->loop, UV_RUN_DEFAULT);
    uv_loop_close(&wt->loop);
    atomic_store(&wt->finished, 1);
    return NULL;
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
    mt_info("%s (pid %d) serving on %s with %d thread%s", mt_stack_server_name(stack), (int)getpid(),
            stack->listen_addr, nthreads, nthreads == 1 ? "" : "s");

    int sig;
    do {
        siginfo_t info;
        sig = sigwaitinfo(&stop_set, &info);
    } while (sig < 0 || sig == SIGHUP);
    mt_info("%s received: draining", strsignal(sig));

    for (int i = 0; i < nthreads; i++)
        uv_async_send(&threads[i].stop_async);

    /* Wait for the threads to drain, bounded by the mercy; then exit regardless. */
    int64_t deadline = mt_clock_ms() + (int64_t)mercy_s * 1000;
    for (;;) {
        int left = 0;
        for (int i = 0; i < nthreads; i++)
            left += !atomic_load(&threads[i].finished);
        if (left == 0)
            break;
        if (mt_clock_ms() >= deadline) {
            mt_warn("%d thread%s still busy after worker-reload-mercy (%ds): exiting anyway", left,
                    left == 1 ? "" : "s", mercy_s);
            return 0;
        }
        /* Further stop signals change nothing: the master escalates with SIGKILL if needed. */
        struct timespec tick = {.tv_nsec = 10 * 1000000};
        siginfo_t info;
        (void)sigtimedwait(&stop_set, &info, &tick);
    }
    for (int i = 0; i < nthreads; i++)
        pthread_join(threads[i].thread, NULL);
    free(threads);
    return 0;
}
