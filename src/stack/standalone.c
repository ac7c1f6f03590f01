/*
 * standalone: a webless process attached to a pool (see standalone.h).
 */
#define MT_LOG_NAME "muleteer.stack.standalone"

#include "stack/standalone.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/mem.h"
#include "stack/mule.h"
#include "stack/privileges.h"
#include "stack/stack.h"

#define WATCHDOG_TICK_MS 250

typedef struct watchdog {
    mt_stack_t *stack;
    int limit_s;
} watchdog_t;

/* mule-harakiri in a standalone: kill this process when its loop has been silent for limit_s (standalone.h). */
static void *watchdog_main(void *arg)
{
    const watchdog_t *w = arg;
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL); /* signals are the loop's business */
    mt_log_set_thread_name("Watchdog");
    mt_proc_live_t *live = w->stack->procs.procs[0].live;
    int64_t limit = (int64_t)w->limit_s * 1000000;
    for (;;) {
        nanosleep(&(struct timespec){.tv_nsec = WATCHDOG_TICK_MS * 1000000L}, NULL);
        int64_t now = mt_clock_us(), beat = atomic_load(&live->beat_mono_us),
                started = atomic_load(&live->forked_mono_us);
        if (!mt_proc_beat_stale(beat, started, now, limit))
            continue;
        bool beaten = beat > 0 && beat >= started;
        mt_error("mule-harakiri: %s (pid %d) has not beaten %s %.1f s, over mule-harakiri = %d s: killing itself "
                 "(its supervisor starts it again)",
                 mt_stack_server_name(w->stack), (int)getpid(), beaten ? "for" : "since its loop started",
                 (double)(now - (beaten ? beat : started)) / 1e6, w->limit_s);
        kill(getpid(), SIGKILL);
        pause(); /* SIGKILL cannot be blocked: never reached */
    }
    return NULL;
}

int mt_standalone_run(mt_stack_t *stack)
{
    /* Its slot names the first pool; the application asks for all of them (mt_stack_attached_pool). */
    const char *pool = mt_config_list_get(stack->config, NULL, "attach-to-pool", 0, NULL);
    const char *name = mt_config_get(stack->config, NULL, "server-name", NULL);
    char err[1024];

    /* A table of one slot: this process. */
    mt_proctable_t *t = &stack->procs;
    t->procs = mt_calloc(1, sizeof *t->procs);
    t->nprocs = 1;
    mt_proc_t *self = &t->procs[0];
    self->role = MT_ROLE_STANDALONE;
    self->pool = mt_strdup(pool);
    self->server_name = mt_strdup(name);
    self->name_template = mt_strdup("{server_name}");
    self->instance_id = (int)mt_config_get_int(stack->config, NULL, "instance-id");
    self->channel.send_fd = self->channel.recv_fd = -1;
    int rc = mt_proctable_share(t);
    if (rc < 0) {
        fprintf(stderr, "muleteer: mmap() of the process table failed: %s\n", strerror(-rc));
        return 1;
    }
    stack->msg_send_timeout_ms = (int)mt_config_get_int(stack->config, NULL, "msg-send-timeout");
    int dropped = mt_privileges_drop(&stack->creds, err, sizeof err);
    if (dropped < 0) {
        fprintf(stderr, "muleteer: %s\n", err);
        return MT_EXIT_FATAL;
    }
    mt_stack__become(stack, 0);
    if (dropped)
        mt_privileges_log(&stack->creds);
    atomic_store(&self->live->pid, getpid());
    atomic_store(&self->live->state, MT_PROC_RUNNING);

    if (stack->app && stack->app->load) {
        err[0] = '\0';
        if (stack->app->load(stack, stack->app->app_data, err, sizeof err) < 0) {
            fprintf(stderr, "muleteer: application %s failed to load: %s\n",
                    stack->app->name ? stack->app->name : "", err[0] ? err : "(no reason given)");
            return 1;
        }
    }
    stack->frozen = true;
    mt_router_freeze(stack->router);
    size_t npools = mt_config_list_count(stack->config, NULL, "attach-to-pool");
    char pools[1024] = "";
    for (size_t i = 0, used = 0; i < npools && used < sizeof pools; i++) {
        int n = snprintf(pools + used, sizeof pools - used, "%s%s", i ? ", " : "",
                         mt_config_list_get(stack->config, NULL, "attach-to-pool", i, NULL));
        used += n > 0 ? (size_t)n : 0;
    }
    mt_info("muleteer %s: standalone %s attached to pool%s %s", MULETEER_VERSION, name, npools == 1 ? "" : "s", pools);
    /* The heartbeat's clock starts here: loading the application (migrations) is not the loop's time. */
    atomic_store(&self->live->forked_mono_us, mt_clock_us());
    static watchdog_t watchdog;
    watchdog = (watchdog_t){.stack = stack, .limit_s = (int)mt_config_get_int(stack->config, NULL, "mule-harakiri")};
    if (watchdog.limit_s > 0) {
        pthread_t tid;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        int created = pthread_create(&tid, &attr, watchdog_main, &watchdog);
        pthread_attr_destroy(&attr);
        if (created != 0) {
            mt_alert("mule-harakiri = %d: the watchdog thread could not start: %s", watchdog.limit_s,
                     strerror(created));
            return MT_EXIT_FATAL;
        }
        mt_info("mule-harakiri: this process kills itself if its loop has not beaten for %d s; its supervisor "
                "starts it again",
                watchdog.limit_s);
    }
    return mt_mule_run(stack);
}
