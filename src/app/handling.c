/*
 * handling: which processes of the stack handle jobs, and how (see
 * handling.h). The master computes the pools the stack's processes serve
 * and checks the job configuration's names against them (at load, and
 * again at each reload that reads a new job configuration); each
 * process that handles jobs takes its name in the job database under a
 * lease (run/handler_lease.h: names are unique across hosts, and a handler
 * whose lease lapses is taken over) and starts its handler (run/handler.h)
 * on the right loop; messages for jobs reach that handler here. A process
 * stopped by a reload (mt_stack_reloading) leaves its handler's work to its
 * successor of the same name (mt_handler_leave) instead of stopping it.
 */
#define MT_LOG_NAME "muleteer.jobs.app"

#include "app/handling.h"

#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app/app.h"
#include "app/model/job_assign.h"
#include "app/model/job_route.h"
#include "app/model/values.h"
#include "app/run/handler.h"
#include "app/run/handler_lease.h"
#include "app/run/handler_wake.h"
#include "app/store/handler_store.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/mem.h"

static mt_handler_t *_Atomic local_handler; /* set by the thread that runs it, read by any */
static atomic_int web_handler_claimed;
static __thread bool handler_thread; /* the local handler runs on this thread's loop */
static mt_handler_lease_t *lease; /* this process's name in the job database, once taken */
static mt_handler_wake_t *wake;   /* PostgreSQL: woken when a job is committed for this handler or its pools */
static char served_pools[MT_JOBS_POOLS_MAX][128]; /* pools some process of this stack serves (set at load) */
static size_t nserved_pools;
static bool default_pool_elsewhere; /* the default pool has handlers besides the web workers */

static int register_handler(mt_stack_t *stack, char pools[][128], size_t npools, char *err, size_t errlen);
static size_t pools_of_this_process(mt_stack_t *stack, char pools[][128], size_t max);

mt_handler_t *mt_jobs_local_handler(void)
{
    return atomic_load(&local_handler);
}


static bool farm_exists_cb(const char *farm, void *data)
{
    return mt_farm_exists(data, farm) > 0;
}

/* The effective assign order, computed once at load: it depends only on the file and the farms. */
static mt_assign_method_t assign_order[MT_ASSIGN_METHOD_COUNT];
static size_t assign_order_len;

void mt_jobs_assign_facts(mt_assign_facts_t *facts, const char *self)
{
    *facts = (mt_assign_facts_t){.self_server_name = self, .farm_exists = farm_exists_cb, .data = mt_jobs()->stack,
                                 .order = assign_order, .norder = assign_order_len};
}

static bool is_stack_process(const mt_stack_t *stack, const char *name)
{
    mt_process_info_t info;
    size_t n = mt_stack_process(stack, 0, NULL);
    for (size_t i = 0; i < n; i++) {
        mt_stack_process(stack, i, &info);
        if (info.role != MT_ROLE_MASTER && strcmp(info.server_name, name) == 0)
            return true;
    }
    return false;
}

/*
 * Ask the handler table, on a connection of its own: this runs at load, in
 * the master too, whose thread must not keep a connection its children
 * would inherit. name_or_pool is a handler's name, or a pool's (pool).
 */
static bool table_says_running(const char *name_or_pool, bool pool)
{
    mt_db_t *db;
    char err[512];
    if (mt_db_open(mt_jobs()->db_path, MT_DB_SYNC_NORMAL, &db, err, sizeof err) < 0)
        return false;
    int rc = pool ? mt_handler_store_pool_served(db, name_or_pool) : mt_handler_store_live(db, name_or_pool);
    mt_db_close(db);
    return rc > 0;
}

/* A handler of that name: a process of this stack (data), or one running with a live lease, on any host. */
static bool is_handler_cb(const char *name, void *data)
{
    return is_stack_process(data, name) || table_says_running(name, false);
}

static void warn_cb(const char *message, void *data)
{
    (void)data;
    mt_warn("option 'jobs.job-config': %s", message);
}

static void notice_cb(const char *message, void *data)
{
    (void)data;
    mt_notice("option 'jobs.job-config': %s", message);
}

static void add_served(const char *pool)
{
    for (size_t i = 0; i < nserved_pools; i++)
        if (strcmp(served_pools[i], pool) == 0)
            return;
    if (nserved_pools < MT_JOBS_POOLS_MAX)
        snprintf(served_pools[nserved_pools++], sizeof served_pools[0], "%.127s", pool);
}

/*
 * The pools this stack's processes serve, computed once in the master:
 * farms of handler pools, the tag pools of configured handlers that are
 * processes here, declared standalone pools, and the default pool (web
 * workers serve it when nothing else here does).
 */
static void compute_served_pools(mt_stack_t *stack)
{
    mt_process_info_t info;
    size_t n = mt_stack_process(stack, 0, NULL);
    default_pool_elsewhere = mt_farm_exists(stack, MT_JOB_DEFAULT_POOL) > 0;
    for (size_t i = 0; i < mt_job_conf_handler_count(mt_jobs()->conf); i++)
        default_pool_elsewhere |= mt_job_conf_handler_tag_count(mt_jobs()->conf, i) == 0;
    for (size_t i = 0; i < n; i++) {
        mt_stack_process(stack, i, &info);
        if (info.role == MT_ROLE_STANDALONE && strcmp(info.pool, MT_JOB_DEFAULT_POOL) == 0)
            default_pool_elsewhere = true;
    }
    for (size_t i = 0; i < n; i++) {
        mt_stack_process(stack, i, &info);
        if (info.role == MT_ROLE_MASTER)
            continue;
        const char *attached[1] = {info.pool};
        mt_handler_identity_t who = {.server_name = info.server_name, .web = info.role == MT_ROLE_WEB,
                                     .farms = attached, .nfarms = info.role == MT_ROLE_MULE,
                                     .attached = attached, .nattached = info.role == MT_ROLE_STANDALONE};
        char pools[MT_JOBS_POOLS_MAX][128];
        size_t np = mt_job_assign_pools(mt_jobs()->conf, &who, default_pool_elsewhere, pools, MT_JOBS_POOLS_MAX);
        for (size_t k = 0; k < np; k++)
            add_served(pools[k]);
    }
}

/*
 * A job-handlers farm whose mules all run external programs: they receive
 * the jobs' messages but handle no job. Said at start; such a farm does not
 * count as serving its pool. A farm with some of them: their messages are
 * swept up by the others after sweep-delay, which is said too.
 */
static char idle_farms[MT_JOBS_POOLS_MAX][128];
static size_t nidle_farms;

static void check_handler_farms(mt_stack_t *stack, bool warn)
{
    const char *name;
    size_t mules, builtin;
    size_t n = mt_stack_farm(stack, 0, &name, &mules, &builtin);
    for (size_t i = 0; i < n; i++) {
        mt_stack_farm(stack, i, &name, &mules, &builtin);
        bool handler_pool = strcmp(name, MT_JOB_DEFAULT_POOL) == 0 || strncmp(name, MT_JOB_DEFAULT_POOL ".", 13) == 0;
        if (!handler_pool || builtin == mules)
            continue;
        if (builtin == 0 && nidle_farms < MT_JOBS_POOLS_MAX)
            snprintf(idle_farms[nidle_farms++], sizeof idle_farms[0], "%.127s", name);
        if (warn && builtin == 0)
            mt_warn("farm %s: every mule runs an external program, which handles no job: jobs sent to this pool "
                    "are taken by no process of this stack (give it built-in mules: 'mule' with no value)",
                    name);
        else if (warn)
            mt_notice("farm %s: %zu of its %zu mules run external programs, which handle no job: a job message one "
                      "of them receives is taken by the others' sweeper after sweep-delay",
                      name, mules - builtin, mules);
    }
}

static bool pool_served_here(const char *pool)
{
    for (size_t i = 0; i < nidle_farms; i++)
        if (strcmp(idle_farms[i], pool) == 0)
            return false;
    if (mt_farm_exists(mt_jobs()->stack, pool) > 0)
        return true;
    for (size_t i = 0; i < nserved_pools; i++)
        if (strcmp(served_pools[i], pool) == 0)
            return true;
    return false;
}

/*
 * What the handler table said last, per thread: a handler or pool found
 * running is taken as running for a second more, since a web thread asks
 * for each job it creates. What was not running is asked again every time
 * (a rare path, and one that warns).
 */
typedef struct seen_running {
    char name[128];
    bool pool;
    int64_t until_ms;
} seen_running_t;
static __thread seen_running_t seen_running[4];
static __thread unsigned seen_next;

static bool registry_says_running(const char *name, bool pool)
{
    int64_t now = mt_clock_ms();
    for (size_t i = 0; i < sizeof seen_running / sizeof *seen_running; i++)
        if (seen_running[i].until_ms > now && seen_running[i].pool == pool && strcmp(seen_running[i].name, name) == 0)
            return true;
    mt_db_t *db = mt_jobs_db();
    bool running = db && (pool ? mt_handler_store_pool_served(db, name) : mt_handler_store_live(db, name)) > 0;
    if (running && strlen(name) < sizeof seen_running[0].name) {
        seen_running_t *s = &seen_running[seen_next++ % (sizeof seen_running / sizeof *seen_running)];
        snprintf(s->name, sizeof s->name, "%s", name);
        s->pool = pool;
        s->until_ms = now + 1000;
    }
    return running;
}

int mt_jobs_check_reachable(const mt_assignment_t *as, char *note, size_t len)
{
    if (as->handler[0]) {
        if (is_stack_process(mt_jobs()->stack, as->handler) || registry_says_running(as->handler, false))
            return 0;
        snprintf(note, len,
                 "its handler %s is not running (no process of this stack has that name, and no handler of that name "
                 "holds a live lease in the job database): the job waits in state new until a handler named %s starts",
                 as->handler, as->handler);
        return -1;
    }
    if (!as->queue[0] || pool_served_here(as->queue) || registry_says_running(as->queue, true))
        return 0;
    snprintf(note, len,
             "it waits in pool %s, which no running handler serves: start one with --attach-to-pool %s, or add a "
             "farm %s",
             as->queue, as->queue, as->queue);
    return -1;
}

bool mt_jobs_pool_has_handler(const char *pool)
{
    if (mt_farm_exists(mt_jobs()->stack, pool) > 0)
        return true;
    mt_db_t *db = mt_jobs_db();
    return db && mt_handler_store_pool_served(db, pool) > 0;
}

/* At load, in the master: the configuration's names against the stack; warnings for what will make jobs wait. */
static int check_assignment(mt_stack_t *stack, char *err, size_t errlen)
{
    compute_served_pools(stack);
    check_handler_farms(stack, mt_stack_role(stack) != MT_ROLE_STANDALONE);
    /* A standalone sees only itself: what the stack runs is for the stack's own start-up to judge. */
    mt_assign_stack_t as = {.is_process = is_handler_cb, .data = stack,
                            .warn = mt_stack_role(stack) == MT_ROLE_STANDALONE ? NULL : warn_cb};
    mt_jobs_assign_facts(&as.facts, NULL);
    char why[1024];
    if (mt_jobs()->conf && mt_job_assign_check(mt_jobs()->conf, mt_app_option(stack, "job-config"), &as, why, sizeof why) < 0) {
        snprintf(err, errlen, "option 'jobs.job-config': %s", why);
        return -1;
    }
    /* Where jobs run: what cannot run here, and what is read but not carried out, is said once. */
    if (as.warn) {
        mt_job_conf_warn_unrunnable(mt_jobs()->conf, warn_cb, NULL);
        mt_job_conf_warn_unhonoured(mt_jobs()->conf, notice_cb, NULL);
    }
    assign_order_len = mt_job_assign_order(mt_jobs()->conf, &as.facts, assign_order);
    char order[256] = "";
    for (size_t i = 0, used = 0; i < assign_order_len && used < sizeof order; i++) {
        int k = snprintf(order + used, sizeof order - used, "%s%s", i ? ", " : "",
                         mt_assign_method_name(assign_order[i]));
        used += k > 0 ? (size_t)k : 0;
    }
    mt_info("jobs: handler assignment %s (%s)", order,
            mt_job_conf_assign_methods(mt_jobs()->conf, &(const mt_assign_method_t *){NULL}) ? "as configured"
                                                                                     : "Galaxy's default for this stack");
    return 0;
}

static size_t pools_of_this_process(mt_stack_t *stack, char pools[][128], size_t max)
{
    const char *farms[MT_JOBS_POOLS_MAX], *attached[MT_JOBS_POOLS_MAX];
    size_t nfarms = 0, nattached = 0;
    for (size_t i = 0; i < mt_stack_self_farm_count(stack) && nfarms < MT_JOBS_POOLS_MAX; i++)
        farms[nfarms++] = mt_stack_self_farm(stack, i);
    for (size_t i = 0; i < mt_stack_attached_pool_count(stack) && nattached < MT_JOBS_POOLS_MAX; i++)
        attached[nattached++] = mt_stack_attached_pool(stack, i);
    mt_handler_identity_t who = {.server_name = mt_stack_server_name(stack),
                                 .web = mt_stack_role(stack) == MT_ROLE_WEB,
                                 .farms = farms, .nfarms = nfarms, .attached = attached, .nattached = nattached};
    size_t n = mt_job_assign_pools(mt_jobs()->conf, &who, default_pool_elsewhere, pools, max);
    /* The schedulers' farm: its mules sweep invocations nobody claimed. */
    for (size_t i = 0; i < nfarms && n < max; i++)
        if (strcmp(farms[i], MT_JOBS_SCHEDULERS_FARM) == 0)
            snprintf(pools[n++], 128, "%s", MT_JOBS_SCHEDULERS_FARM);
    return n;
}

static void lease_renewed_cb(int64_t deadline_ns, void *data)
{
    (void)data;
    mt_handler_t *h = atomic_load(&local_handler);
    if (h)
        mt_handler_fence_until(h, deadline_ns);
}

static void lease_handed_over_cb(void *data)
{
    (void)data;
    mt_handler_t *h = atomic_load(&local_handler);
    if (h)
        mt_handler_notify_handed_over(h); /* the lease may run on another thread than the handler */
}

/*
 * Our name was taken over: this process was paused or cut off past its
 * lease. Its commands stop now (their waiters see the fence go), and the
 * process ends, so that its next incarnation takes the name again, under
 * a new epoch, with none of the jobs the others took.
 */
static void lease_lost_cb(void *data)
{
    (void)data;
    mt_handler_t *h = atomic_load(&local_handler);
    if (h)
        mt_handler_lost(h);
    mt_error("exiting: this handler's name was taken over while it could not renew its lease");
    _exit(1);
}

/* Take this process's name in the job database, once (a standalone takes it at load). */
static int register_handler(mt_stack_t *stack, char pools[][128], size_t npools, char *err, size_t errlen)
{
    if (lease)
        return 0;
    mt_db_t *db = mt_jobs_db();
    if (!db) {
        snprintf(err, errlen, "handler %s: the job database cannot be opened", mt_stack_server_name(stack));
        return -EIO;
    }
    const char *names[MT_JOBS_POOLS_MAX];
    for (size_t i = 0; i < npools; i++)
        names[i] = pools[i];
    mt_handler_lease_spec_t spec = {.name = mt_stack_server_name(stack), .pools = names, .npools = npools,
                                    .lease_ms = mt_jobs()->handler_lease_ms, .max_attempts = mt_jobs()->max_attempts,
                                    .default_pool = MT_JOB_DEFAULT_POOL, .renewed_cb = lease_renewed_cb,
                                    .lost_cb = lease_lost_cb, .handed_over_cb = lease_handed_over_cb};
    return mt_handler_lease_take(db, &spec, &lease, err, errlen);
}

static void start_handler(mt_stack_t *stack)
{
    char err[PATH_MAX + 512];
    char pools[MT_JOBS_POOLS_MAX][128];
    size_t npools = pools_of_this_process(stack, pools, MT_JOBS_POOLS_MAX);
    /* A web worker stands in for the default pool: it does not advertise it, so that others know it may yield. */
    bool web = mt_stack_role(stack) == MT_ROLE_WEB;
    /*
     * A predecessor on this host may still be on its way out (its master was
     * killed and it noticed a moment ago): its name is free once it has
     * gone. So wait a little before calling it a conflict.
     */
    int64_t deadline = mt_clock_ms() + 5000;
    int rc;
    while ((rc = register_handler(stack, pools, web ? 0 : npools, err, sizeof err)) == -EEXIST &&
           mt_clock_ms() < deadline)
        nanosleep(&(struct timespec){.tv_nsec = 20 * 1000 * 1000}, NULL);
    if (rc == -EEXIST) {
        mt_error("%s", err);
        _exit(MT_EXIT_FATAL); /* a configuration conflict: respawning would not help */
    }
    if (rc < 0) {
        mt_error("%s", err);
        _exit(1); /* the database, say: the master respawns us after its back-off */
    }
    const char *names[MT_JOBS_POOLS_MAX];
    for (size_t i = 0; i < npools; i++)
        names[i] = pools[i];
    mt_assign_facts_t facts;
    mt_jobs_assign_facts(&facts, NULL);
    atomic_store(&local_handler, mt_handler_start(stack, mt_stack_loop(stack), names, npools,
                                                  mt_job_assign_claims_from_db(mt_jobs()->conf, &facts), web,
                                                  mt_handler_lease_deadline_ns(lease)));
    mt_handler_lease_start(lease, mt_stack_loop(stack), mt_jobs_db());
    bool claims = mt_job_assign_claims_from_db(mt_jobs()->conf, &facts);
    wake = mt_handler_wake_start(atomic_load(&local_handler), mt_stack_loop(stack), mt_jobs()->db_path,
                                 mt_stack_server_name(stack), names, claims ? npools : 0);
    handler_thread = true;
}

/*
 * Handlers: standalone processes; mules of a job-handlers, job-handlers.TAG
 * or workflow-schedulers farm; mules the job configuration names as
 * handlers; and each web worker, on its own loop thread (db-self jobs, and
 * the default pool when nothing else of the stack serves it).
 */
void mt_jobs_handling_mule_start(mt_stack_t *stack)
{
    bool handles = mt_stack_role(stack) == MT_ROLE_STANDALONE ||
                   mt_job_conf_is_handler(mt_jobs()->conf, mt_stack_server_name(stack));
    for (size_t i = 0; !handles && i < mt_stack_self_farm_count(stack); i++) {
        const char *farm = mt_stack_self_farm(stack, i);
        handles = strcmp(farm, MT_JOB_DEFAULT_POOL) == 0 || strncmp(farm, MT_JOB_DEFAULT_POOL ".", 13) == 0 ||
                  strcmp(farm, MT_JOBS_SCHEDULERS_FARM) == 0;
    }
    if (handles)
        start_handler(stack);
}

void mt_jobs_handling_web_thread_start(mt_stack_t *stack)
{
    if (atomic_exchange(&web_handler_claimed, 1) == 0)
        start_handler(stack);
}

void mt_jobs_handling_stop(void)
{
    mt_handler_t *h = atomic_load(&local_handler);
    if (h && handler_thread) {
        mt_handler_wake_stop(wake);
        wake = NULL;
        /* A reload: the successor of this name adopts the running commands, and takes the queued jobs up. */
        if (mt_stack_reloading(mt_jobs()->stack))
            mt_handler_leave(h);
        else
            mt_handler_stop(h);
        /* Released either way: the successor takes the name at once, and nobody takes its jobs over meanwhile. */
        mt_handler_lease_stop(lease, true);
        lease = NULL;
    }
}

void mt_jobs_on_message(mt_stack_t *stack, const mt_message_t *msg, void *data)
{
    (void)stack;
    (void)data;
    char buf[32];
    size_t n = msg->len < sizeof buf - 1 ? msg->len : sizeof buf - 1;
    memcpy(buf, msg->payload, n);
    buf[n] = '\0';
    int64_t parsed;
    long long id = mt_value_parse_id(msg->payload, msg->len, &parsed, NULL) == 0 ? parsed : 0;
    if (id <= 0) {
        mt_error("message %s with a bad id \"%s\": discarded", msg->target, buf);
        return;
    }
    mt_handler_t *h = atomic_load(&local_handler);
    if (!h) {
        mt_error("message %s for %lld reached a process that handles no jobs", msg->target, id);
        return;
    }
    if (strcmp(msg->target, MT_JOBS_MSG_CANCEL) == 0)
        mt_handler_check_cancel(h, id);
    else if (strcmp(msg->target, MT_JOBS_MSG_INVOCATION) == 0)
        mt_handler_take_invocation(h, id);
    else
        mt_handler_take(h, id);
}

/* At load, in the master (or a standalone): the pools, the check, and a standalone's registration. */
int mt_jobs_handling_load(mt_stack_t *stack, char *err, size_t errlen)
{
    if (check_assignment(stack, err, errlen) < 0)
        return -1;
    if (mt_stack_role(stack) != MT_ROLE_STANDALONE)
        return 0;
    char pools[MT_JOBS_POOLS_MAX][128];
    size_t npools = pools_of_this_process(stack, pools, MT_JOBS_POOLS_MAX);
    return register_handler(stack, pools, npools, err, errlen);
}

/* A farm whose built-in mules handle jobs whatever the job configuration says (mt_jobs_handling_mule_start). */
static bool handler_farm(const char *farm)
{
    return strcmp(farm, MT_JOB_DEFAULT_POOL) == 0 || strncmp(farm, MT_JOB_DEFAULT_POOL ".", 13) == 0 ||
           strcmp(farm, MT_JOBS_SCHEDULERS_FARM) == 0;
}

int mt_jobs_handling_reload(mt_stack_t *stack, const mt_job_conf_t *old, char *err, size_t errlen)
{
    /*
     * A mule that handles jobs only because the old configuration names it
     * would start no handler after the reload: the jobs it holds (running
     * ones included) would wait for a handler of its name for ever.
     */
    mt_process_info_t info;
    size_t n = mt_stack_process(stack, 0, NULL);
    for (size_t i = 0; i < n; i++) {
        mt_stack_process(stack, i, &info);
        if (info.role == MT_ROLE_MULE && !handler_farm(info.pool) && mt_job_conf_is_handler(old, info.server_name) &&
            !mt_job_conf_is_handler(mt_jobs()->conf, info.server_name)) {
            snprintf(err, errlen,
                     "option 'jobs.job-config': %s: handler %s is no longer named: the jobs it holds would be left "
                     "without a handler; a reload cannot take a handler away (stop and start the stack for that)",
                     mt_app_option(stack, "job-config"), info.server_name);
            return -1;
        }
    }
    /* Computed again from nothing: pools a new configuration no longer names must not linger. */
    nserved_pools = 0;
    nidle_farms = 0;
    return check_assignment(stack, err, errlen);
}

int mt_jobs_handling_check(mt_stack_t *stack, const mt_job_conf_t *conf, const char *path, char *err, size_t errlen)
{
    mt_assign_stack_t as = {.is_process = is_handler_cb, .data = stack, .warn = warn_cb};
    as.facts = (mt_assign_facts_t){.farm_exists = farm_exists_cb, .data = stack};
    return mt_job_assign_check(conf, path, &as, err, errlen);
}
