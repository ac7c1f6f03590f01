/*
 * stack: mt_main() and the process identity accessors.
 *
 * Start-up order, all in the master and all before the first fork, so
 * that every configuration error is reported before any child exists:
 *   1. load the configuration (command line, files, --set);
 *   2. compile the process table (pools.c) and, with --print-config,
 *      print both and exit;
 *   3. open the static maps and bind the listening sockets (listeners.c;
 *      a port in use is a configuration error naming the option);
 *   4. create the message channels and the shared live table;
 *   5. drop privileges to --uid / --gid (privileges.h): everything after
 *      this, the log files included, happens as the unprivileged user;
 *   6. register the stack's routes and load the application;
 *   7. freeze the registrations and hand over to the master loop.
 */
#define MT_LOG_NAME "muleteer.stack"

#include "stack/stack.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "common/log_config.h"
#include "stack/daemon.h"
#include "stack/master.h"
#include "common/mem.h"
#include "stack/metrics.h"
#include "stack/options.h"
#include "stack/pools.h"
#include "stack/privileges.h"
#include "stack/standalone.h"

static __thread uv_loop_t *thread_loop;

void mt_stack__set_thread_loop(uv_loop_t *loop)
{
    thread_loop = loop;
}

void mt_stack__become(mt_stack_t *stack, size_t slot)
{
    mt_proc_t *p = &stack->procs.procs[slot];
    stack->self_slot = slot;
    mt_metrics__bind(slot);
    if (p->name_template && strstr(p->name_template, "{pid}")) {
        char name[MT_SERVER_NAME_MAX], err[256];
        const char *server_name = mt_config_get(stack->config, NULL, "server-name", NULL);
        if (mt_server_name_expand(p->name_template, server_name, p->pool, p->instance_id, (long)getpid(), name,
                                  sizeof name, err, sizeof err) == 0)
            snprintf(p->live->server_name, sizeof p->live->server_name, "%s", name);
    }
    /*
     * Log identity. For file name templates the master and the web workers
     * are one pool, "web", number 0 -- as a preforking uWSGI master and its
     * workers are -- so one template gives them one file; mules and
     * standalone processes get their pool and number.
     */
    bool own_file = p->role == MT_ROLE_MULE || p->role == MT_ROLE_STANDALONE;
    mt_log_identity_t id = {
        .server_name = mt_proctable_server_name(&stack->procs, slot),
        .pool_name = p->pool,
        .file_pool = own_file ? p->pool : "web",
        .file_server_id = own_file ? p->instance_id : 0,
        .worker_id = p->worker_id,
        .mule_id = p->mule_id,
        .server_id = p->instance_id,
    };
    mt_log_set_identity(&id);
    if (p->role != MT_ROLE_MASTER)
        mt_log_catch_reopen_signal(); /* the master forwards SIGUSR1 from its own loop */
}

/*
 * The logging configuration: the `logging:` key of the last YAML file or
 * the logging sections of the last INI file that has one (later files
 * override earlier ones, as for options); otherwise the default stderr
 * log, in the --log-format format.
 */
static int configure_logging(mt_stack_t *stack, char *err, size_t errlen)
{
    mt_log_level_t level = MT_LOG_INFO;
    mt_log_level_parse(mt_config_get(stack->config, NULL, "log-level", NULL), &level);
    mt_log_conf_t chosen = {0};
    static const char *const kinds[] = {"yaml", "ini"};
    for (size_t k = 0; k < 2; k++) {
        size_t n = mt_config_list_count(stack->config, NULL, kinds[k]);
        for (size_t i = 0; i < n; i++) {
            char path[4096];
            snprintf(path, sizeof path, "%s", mt_config_list_get(stack->config, NULL, kinds[k], i, NULL));
            mt_log_conf_t conf;
            int rc;
            if (k == 0) {
                rc = mt_log_conf_load_yaml(path, &conf, err, errlen);
            } else {
                char *colon = strrchr(path, ':'); /* FILE:SECTION, as the option loader reads it */
                if (colon && colon != path && colon[1] && !strchr(colon + 1, '/'))
                    *colon = '\0';
                rc = mt_log_conf_load_ini(path, &conf, err, errlen);
            }
            if (rc < 0) {
                mt_log_conf_free(&chosen);
                return -1;
            }
            if (conf.present) {
                mt_log_conf_free(&chosen);
                chosen = conf;
            } else {
                mt_log_conf_free(&conf);
            }
        }
    }
    int rc = mt_log_configure(&chosen, level, mt_config_get(stack->config, NULL, "log-format", NULL), err, errlen);
    mt_log_conf_free(&chosen);
    return rc;
}

const char *mt_stack_server_name(const mt_stack_t *stack)
{
    return mt_proctable_server_name(&stack->procs, stack->self_slot);
}

const char *mt_stack_pool_name(const mt_stack_t *stack)
{
    return stack->procs.procs[stack->self_slot].pool;
}

int mt_stack_instance_id(const mt_stack_t *stack)
{
    return stack->procs.procs[stack->self_slot].instance_id;
}

mt_role_t mt_stack_role(const mt_stack_t *stack)
{
    return stack->procs.procs[stack->self_slot].role;
}

int mt_stack_mule_id(const mt_stack_t *stack)
{
    return stack->procs.procs[stack->self_slot].mule_id;
}

uv_loop_t *mt_stack_loop(const mt_stack_t *stack)
{
    (void)stack;
    return thread_loop;
}

const char *mt_app_option(const mt_stack_t *stack, const char *name)
{
    return mt_config_get(stack->config, stack->app->config_section, name, NULL);
}

int mt_stack_user_is_admin(const mt_stack_t *stack, const char *user)
{
    return mt_api_keys_count(stack->api_keys) > 0 && mt_api_keys_is_admin(stack->api_keys, user);
}

long mt_app_option_int(const mt_stack_t *stack, const char *name)
{
    return mt_config_get_int(stack->config, stack->app->config_section, name);
}

int mt_route_add(mt_stack_t *stack, const char *method, const char *path, int flags, mt_route_cb cb, void *data)
{
    if (stack->frozen)
        return -EPERM;
    return mt_router_add(stack->router, method, path, flags, cb, data);
}

int mt_static_add(mt_stack_t *stack, const char *url, const char *path, char *err, size_t errlen)
{
    if (stack->frozen)
        return -EPERM;
    if (stack->statics == NULL)
        stack->statics = mt_static_map_create();
    struct stat st;
    if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
        if (mt_static_map_add_file(stack->statics, url, path, err, errlen) < 0)
            return -EINVAL;
        return 0;
    }
    char *spec = mt_asprintf("%s=%s", url, path);
    int rc = mt_static_map_add(stack->statics, spec, err, errlen);
    free(spec);
    return rc < 0 ? -EINVAL : 0;
}

static void print_process_table(const mt_proctable_t *t, FILE *out)
{
    fprintf(out, "\n# process table\n");
    for (size_t i = 0; i < t->nprocs; i++) {
        const mt_proc_t *p = &t->procs[i];
        fprintf(out, "# %-10s %-32s pool=%s instance=%d", mt_role_name(p->role), p->server_name, p->pool,
                p->instance_id);
        if (p->role == MT_ROLE_MULE) {
            fprintf(out, " mule=%d program=%s", p->mule_id, p->program ? p->program : "(built-in)");
            if (p->nfarms) {
                fprintf(out, " farms=");
                for (size_t k = 0; k < p->nfarms; k++)
                    fprintf(out, "%s%s", k ? "," : "", t->farms[p->farms[k]].name);
            }
        }
        if (p->purpose)
            fprintf(out, " purpose=%s", p->purpose);
        fputc('\n', out);
    }
    for (size_t f = 0; f < t->nfarms; f++) {
        fprintf(out, "# farm %s: mules", t->farms[f].name);
        for (size_t k = 0; k < t->farms[f].nmules; k++)
            fprintf(out, "%s%d", k ? "," : " ", t->farms[f].mule_ids[k]);
        fputc('\n', out);
    }
}

/* Every static-map, each failure recorded in the configuration's errors (all reported together). */
static int open_static_maps(mt_stack_t *stack)
{
    int rc = 0;
    stack->statics = mt_static_map_create();
    size_t nsafe = mt_config_list_count(stack->config, NULL, "static-safe");
    for (size_t i = 0; i < nsafe; i++) {
        mt_source_t src;
        char why[512];
        const char *dir = mt_config_list_get(stack->config, NULL, "static-safe", i, &src);
        if (mt_static_map_add_safe(stack->statics, dir, why, sizeof why) < 0) {
            mt_config_add_error(stack->config, &src, "static-safe", "%s", why);
            rc = -1;
        }
    }
    size_t n = mt_config_list_count(stack->config, NULL, "static-map");
    for (size_t i = 0; i < n; i++) {
        mt_source_t src;
        char why[512];
        const char *spec = mt_config_list_get(stack->config, NULL, "static-map", i, &src);
        if (mt_static_map_add(stack->statics, spec, why, sizeof why) < 0) {
            mt_config_add_error(stack->config, &src, "static-map", "%s", why);
            rc = -1;
        }
    }
    return rc;
}

/* Print the configuration errors not printed yet, one per line. Returns how many there were in all. */
static size_t report_config_errors(mt_stack_t *stack, size_t *printed)
{
    size_t n = mt_config_error_count(stack->config);
    for (; *printed < n; (*printed)++)
        fprintf(stderr, "muleteer: %s\n", mt_config_error_get(stack->config, *printed));
    return n;
}

/* Log the notices of options accepted without effect, once logging (and logto) is in place. */
static void log_config_notices(const mt_stack_t *stack)
{
    for (size_t i = 0; i < mt_config_notice_count(stack->config); i++)
        mt_notice("%s", mt_config_notice_get(stack->config, i));
}

/*
 * --print-config: the effective configuration and the process table on
 * stdout, then everything start-up would check without binding or
 * forking -- the static maps, the directories of the files the options
 * name (pidfiles, logs, the FIFO), and the application's own check hook -- with
 * every problem on stderr. Returns the exit status: 0, or 1 if any.
 */
static int print_config(mt_stack_t *stack, size_t *printed)
{
    mt_config_print(stack->config, stdout);
    print_process_table(&stack->procs, stdout);
    fflush(stdout);
    int status = 0;
    open_static_maps(stack);
    mt_daemon_check(stack->config);
    if (report_config_errors(stack, printed) > 0)
        status = 1;
    const mt_app_t *app = stack->app;
    if (app && app->check) {
        char err[4096] = "";
        if (app->check(stack, app->app_data, err, sizeof err) < 0) {
            char *save = NULL;
            for (char *line = strtok_r(err, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
                fprintf(stderr, "muleteer: application %s: %s\n", app->name ? app->name : "", line);
            if (!err[0])
                fprintf(stderr, "muleteer: application %s: its check failed (no reason given)\n",
                        app->name ? app->name : "");
            status = 1;
        }
    }
    return status;
}

static void stack_destroy(mt_stack_t *stack)
{
    mt_listeners_destroy(stack->listeners);
    mt_proctable_destroy(&stack->procs);
    mt_router_destroy(stack->router);
    mt_static_map_destroy(stack->statics);
    mt_registry_destroy(stack->handlers);
    mt_api_keys_destroy(stack->api_keys);
    mt_config_destroy(stack->config);
}

int mt_main(int argc, char **argv, const mt_app_t *app)
{
    static mt_stack_t stack_storage;
    mt_stack_t *stack = &stack_storage;
    char err[1024];
    int status = 1;
    size_t errors_printed = 0;
    bool daemon_parent = false;

    memset(stack, 0, sizeof *stack);
    mt_daemon_init(&stack->daemon);
    stack->app = app;
    stack->undertaker_fd = -1;
    stack->master_pid = getpid();
    stack->config = mt_config_create();
    stack->router = mt_router_create();
    stack->handlers = mt_registry_create();
    mt_config_add_section(stack->config, MT_STACK_SECTION, MT_STACK_SECTION_ALIAS, mt_stack_options);
    if (app && app->config_section && app->options)
        mt_config_add_section(stack->config, app->config_section, NULL, app->options);

    /* Every error of the command line and of every file, and of the values checked after, in one run. */
    bool config_failed = mt_config_load(stack->config, argc, argv, err, sizeof err) < 0;
    if (!mt_config_wants_help(stack->config) && !mt_config_wants_version(stack->config)) {
        /* Both checks run, each recording its errors, whatever the other found. */
        bool options_failed = mt_stack_options_check(stack->config, &stack->settings) < 0;
        bool listeners_failed = mt_listeners_check(stack->config) < 0;
        config_failed = config_failed || options_failed || listeners_failed;
    } else {
        config_failed = false; /* --help and --version answer whatever else the command line holds */
    }
    if (config_failed) {
        report_config_errors(stack, &errors_printed);
        goto out;
    }
    if (mt_config_wants_help(stack->config)) {
        mt_config_print_help(stack->config, stdout);
        status = 0;
        goto out;
    }
    if (mt_config_wants_version(stack->config)) {
        printf("muleteer %s\n", MULETEER_VERSION);
        status = 0;
        goto out;
    }
    bool print_only = mt_config_get_bool(stack->config, NULL, "print-config");
    /*
     * The logging sections are read again from the configuration files, by the paths given: before
     * chdir. umask and chdir come next, before anything is created or opened by a relative path.
     */
    if (configure_logging(stack, err, sizeof err) < 0 ||
        mt_api_keys_from_config(stack->config, &stack->api_keys, err, sizeof err) < 0 ||
        mt_daemon_setup(stack->config, &stack->settings, err, sizeof err) < 0 ||
        (!print_only && mt_daemon_logto(stack->config, "logto", err, sizeof err) < 0)) {
        fprintf(stderr, "muleteer: %s\n", err);
        goto out;
    }
    log_config_notices(stack);

    if (mt_privileges_resolve(stack->config, &stack->creds, err, sizeof err) < 0) {
        fprintf(stderr, "muleteer: %s\n", err);
        goto out;
    }

    if (mt_config_get(stack->config, NULL, "attach-to-pool", NULL)) {
        if (mt_daemon_open_pidfile(&stack->daemon, stack->config, 0, err, sizeof err) < 0 ||
            mt_daemon_open_pidfile(&stack->daemon, stack->config, 1, err, sizeof err) < 0 ||
            mt_daemon_write_pidfiles(&stack->daemon, stack->config, err, sizeof err) < 0) {
            fprintf(stderr, "muleteer: %s\n", err);
            goto out;
        }
        status = mt_standalone_run(stack);
        goto out;
    }
    if (mt_pools_build(&stack->procs, stack->config, err, sizeof err) < 0) {
        fprintf(stderr, "muleteer: %s\n", err);
        goto out;
    }
    if (print_only) {
        status = print_config(stack, &errors_printed);
        goto out;
    }
    if (open_static_maps(stack) < 0) {
        report_config_errors(stack, &errors_printed);
        goto out;
    }
    if (mt_listeners_open(stack->config, &stack->listeners, err, sizeof err) < 0 ||
        mt_proctable_open_channels(&stack->procs, err, sizeof err) < 0) {
        fprintf(stderr, "muleteer: %s\n", err);
        goto out;
    }
    int rc = mt_proctable_share(&stack->procs);
    if (rc < 0) {
        fprintf(stderr, "muleteer: mmap() of the process table failed: %s\n", strerror(-rc));
        goto out;
    }
    stack->msg_send_timeout_ms = (int)mt_config_get_int(stack->config, NULL, "msg-send-timeout");
    /* Made before the drop, as uWSGI's pidfile: a directory such as /run may be root's. */
    if (mt_daemon_open_pidfile(&stack->daemon, stack->config, 0, err, sizeof err) < 0 ||
        mt_daemon_open_fifo(&stack->daemon, stack->config, err, sizeof err) < 0) {
        fprintf(stderr, "muleteer: %s\n", err);
        goto out;
    }
    int dropped = mt_privileges_drop(&stack->creds, err, sizeof err);
    if (dropped < 0) {
        fprintf(stderr, "muleteer: %s\n", err);
        status = MT_EXIT_FATAL;
        goto out;
    }
    if (mt_daemon_logto(stack->config, "logto2", err, sizeof err) < 0 ||
        mt_daemon_open_pidfile(&stack->daemon, stack->config, 1, err, sizeof err) < 0) {
        fprintf(stderr, "muleteer: %s\n", err);
        goto out;
    }
    mt_stack__become(stack, 0);
    if (dropped)
        mt_privileges_log(&stack->creds);

    if (mt_stack_routes_register(stack) < 0) {
        fprintf(stderr, "muleteer: registering the stack's routes failed\n");
        goto out;
    }
    if (app && app->load) {
        err[0] = '\0';
        if (app->load(stack, app->app_data, err, sizeof err) < 0) {
            fprintf(stderr, "muleteer: application %s failed to load: %s\n", app->name ? app->name : "",
                    err[0] ? err : "(no reason given)");
            goto out;
        }
    }
    stack->frozen = true;
    mt_router_freeze(stack->router);
    if (mt_metrics_start(stack, err, sizeof err) < 0) {
        fprintf(stderr, "muleteer: %s\n", err);
        goto out;
    }

    /* daemonize: everything that can fail has been tried in the terminal; the parent waits for "up". */
    int detached = mt_daemon_detach(&stack->daemon, stack->config, &status, err, sizeof err);
    /* Only the process that goes on serving removes the unix socket files when it ends. */
    mt_listeners_owned_by(stack->listeners, detached > 0 ? 0 : getpid());
    if (detached != 0) {
        daemon_parent = detached > 0;
        if (detached < 0)
            fprintf(stderr, "muleteer: %s\n", err);
        goto out;
    }
    stack->master_pid = getpid(); /* the daemon's, after a daemonize fork */
    if (mt_daemon_write_pidfiles(&stack->daemon, stack->config, err, sizeof err) < 0) {
        fprintf(stderr, "muleteer: %s\n", err);
        goto out;
    }

    char where[1024];
    mt_info("muleteer %s: master pid %d, %s", MULETEER_VERSION, (int)getpid(),
            mt_listeners_describe(stack->listeners, where, sizeof where));
    mt_listeners_log_notes(stack->listeners);
    status = mt_master_run(stack);
out:
    mt_daemon_finish(&stack->daemon, daemon_parent ? NULL : stack->config);
    stack_destroy(stack);
    return status;
}
