/*
 * stack: the per-process state behind the public mt_stack_t handle.
 *
 * mt_main() (stack.c) builds one mt_stack in the master: configuration,
 * process table, listening socket, routes, message handlers. Each child
 * inherits a copy at fork and records which slot it is (self_slot); from
 * then on the registrations are frozen and only the live counters in
 * shared memory change.
 */
#ifndef MT_STACK_H
#define MT_STACK_H

#include <stdbool.h>
#include <uv.h>

#include "common/creds.h"
#include "muleteer.h"
#include "stack/api_keys.h"
#include "stack/config.h"
#include "stack/daemon.h"
#include "stack/http_router.h"
#include "stack/http_static.h"
#include "stack/listeners.h"
#include "stack/messages.h"
#include "stack/proctable.h"

struct mt_stack {
    const mt_app_t *app;
    mt_config_t *config;
    mt_proctable_t procs;
    size_t self_slot;          /* this process's slot: 0 in the master */
    pid_t master_pid;
    bool frozen;               /* after app->load(): registrations refused */

    mt_router_t *router;
    mt_static_map_t *statics;
    mt_registry_t *handlers;   /* message target -> handler */
    mt_api_keys_t *api_keys;   /* NULL: no api-key configured, the API is open */

    mt_listeners_t *listeners; /* the HTTP and uwsgi sockets (listeners.h); NULL before they are bound */
    int msg_send_timeout_ms;
    mt_creds_t creds;          /* --uid / --gid, resolved at start-up (privileges.h) */
    int undertaker_fd;         /* master only: its end of the undertaker's pipe, -1 if none (closed in children) */
    mt_stack_settings_t settings; /* option values parsed at start-up: umask, signal actions (options.h) */
    mt_daemon_t daemon;        /* master only: pidfiles, master FIFO, daemonize's ready pipe (daemon.h) */
};

/* The loop of the calling thread (set by the web thread or mule that runs it). */
void mt_stack__set_thread_loop(uv_loop_t *loop);

/* Name this process's log lines and slot after fork. */
void mt_stack__become(mt_stack_t *stack, size_t slot);

/* Register the stack's own routes (/api/health, /api/stack). */
int mt_stack_routes_register(mt_stack_t *stack);

#endif
