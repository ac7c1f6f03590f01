/*
 * standalone: a webless process attached to a pool (see standalone.h).
 */
#define MT_LOG_NAME "muleteer.stack.standalone"

#include "stack/standalone.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/mem.h"
#include "stack/mule.h"
#include "stack/privileges.h"
#include "stack/stack.h"

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
    atomic_store(&self->live->forked_mono_us, mt_clock_us());

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
    long harakiri = mt_config_get_int(stack->config, NULL, "mule-harakiri");
    if (harakiri > 0)
        mt_notice("mule-harakiri = %ld has no effect on a standalone process: no master watches its heartbeat; "
                  "its supervisor (systemd) restarts it when it dies",
                  harakiri);
    return mt_mule_run(stack);
}
