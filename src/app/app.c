/*
 * app: the job application as the stack sees it (see app.h): its options,
 * loading and checking it, the context every module shares, and what is
 * left to do when the stack has died. Which processes handle jobs, and how,
 * is handling.c's.
 */
#define MT_LOG_NAME "muleteer.jobs.app"

#include "app/app.h"
#include "app/handling.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "app/api/api_dashboard.h"
#include "app/store/job_store.h"
#include "app/run/runner_local.h"
#include "app/run/runner_slurm.h"
#include "app/model/values.h"
#include "app/model/workflow_library.h"
#include "common/beneath.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/mkdirs.h"

static const mt_option_def_t jobs_options[] = {
    {"data-dir", MT_OPT_STRING, "data", 0, 0, 0, NULL, "directory for the database and the jobs' working directories"},
    {"database", MT_OPT_STRING, NULL, 0, 0, 0, NULL,
     "the job database: a SQLite path or sqlite:///PATH (default DATA_DIR/jobs.sqlite), or a PostgreSQL "
     "postgresql://USER@HOST:PORT/DB URL or libpq connection string"},
    {"tools-dir", MT_OPT_STRING, NULL, 0, 0, 0, NULL,
     "directory of tool definitions (*.yml); default: the sample tools shipped beside the binary (../tools)"},
    {"workflows-dir", MT_OPT_STRING, NULL, 0, 0, 0, NULL,
     "directory of workflow definitions (*.yml); default: the sample workflows shipped beside the binary "
     "(../workflows), unless tools-dir names tools of your own"},
    {"dashboard", MT_OPT_BOOL, "true", 0, 0, 0, NULL,
     "serve the web dashboard: GET / and GET /ui/... from dashboard-dir (false: GET / answers 404)"},
    {"dashboard-dir", MT_OPT_STRING, NULL, 0, 0, 0, NULL,
     "directory of the web dashboard's files; default: the dashboard shipped beside the binary (../dashboard)"},
    {"job-config", MT_OPT_STRING, NULL, 0, 0, 0, NULL, "job configuration: job_conf.yml or job_conf.xml"},
    {"workers", MT_OPT_INT, "4", 1, 1024, 0, NULL, "jobs one handler runs at once"},
    {"accept-sync", MT_OPT_STRING, "full", 0, 0, 0, NULL,
     "durability of an accepted job: full (survives power loss) or normal (survives any process crash)"},
    {"state-sync", MT_OPT_STRING, "normal", 0, 0, 0, NULL, "durability of later state changes: full or normal"},
    {"sweep-delay", MT_OPT_INT, "300", 10, 600000, 0, NULL,
     "milliseconds after which a sweeper takes a job no handler claimed"},
    {"poll-interval", MT_OPT_INT, "250", 10, 60000, 0, NULL,
     "milliseconds between a handler's looks for assigned and cancelled jobs"},
    {"cluster-poll-interval", MT_OPT_INT, "1000", 100, 600000, 0, NULL,
     "milliseconds between a handler's status queries for its cluster jobs (one squeue for all of them)"},
    {"cancel-grace", MT_OPT_INT, "5", 0, 3600, 0, NULL, "seconds between SIGTERM and SIGKILL when stopping a job"},
    {"handler-lease", MT_OPT_INT, "10", 1, 3600, 0, NULL,
     "seconds a handler's registration in the database lasts without a renewal: a handler not heard from for that "
     "long is taken as dead, and its jobs are taken over by the others (renewed every third of it)"},
    {"max-attempts", MT_OPT_INT, "3", 1, 1000, 0, NULL, "runs a job gets when its runs are lost unfinished (its handler's host died, say) before it ends in error"},
    {"cleanup", MT_OPT_STRING, "always", 0, 0, 0, NULL,
     "what is left of a job's working directory once it has ended: always (remove all but the tool's outputs and "
     "non-empty stdout/stderr), onsuccess (only for jobs that ended ok) or never"},
    {"job-user", MT_OPT_STRING, NULL, 0, 0, 0, NULL,
     "user (name or number) the jobs' commands run as; default: the handler's own user"},
    {"job-group", MT_OPT_STRING, NULL, 0, 0, 0, NULL,
     "group (name or number) the jobs' commands run as; default with job-user: that user's primary group"},
    {NULL},
};

static mt_jobs_ctx_t ctx;
static mt_creds_t job_creds; /* ctx.job_creds points here when jobs change user */
static __thread mt_db_t *thread_db;

mt_jobs_ctx_t *mt_jobs(void)
{
    return &ctx;
}

const char *mt_jobs_request_scope(const mt_request_t *req)
{
    return mt_request_is_admin(req) ? NULL : mt_request_user(req);
}

bool mt_jobs_visible(const char *scope, const char *owner)
{
    return scope == NULL || (owner != NULL && strcmp(scope, owner) == 0);
}

int mt_jobs_resolve_data(void *data, const char *job_id, const char *output, char **path_out, char *err, size_t errlen)
{
    const mt_jobs_data_scope_t *scope = data;
    mt_db_t *db = scope->db;
    int64_t parsed;
    long long id = mt_value_parse_id(job_id, strlen(job_id), &parsed, NULL) == 0 ? parsed : 0;
    if (id <= 0) {
        snprintf(err, errlen, "'%s' is not a job id", job_id);
        return -1;
    }
    mt_job_t job = {0};
    int rc = mt_job_store_get(db, id, &job);
    if (rc == 0 && !mt_jobs_visible(scope->user, job.user)) {
        mt_job_clear(&job);
        rc = -ENOENT; /* another user's job: as if there were none */
    }
    if (rc < 0) {
        snprintf(err, errlen, rc == -ENOENT ? "job %lld does not exist" : "job %lld cannot be read", id);
        /* A database failure keeps its cause (-EBUSY, -ENOSPC, else -EIO): the API answers 503 / 507. */
        return rc == -ENOENT ? -1 : rc == -EBUSY || rc == -ENOSPC ? rc : -EIO;
    }
    rc = -1;
    const mt_tool_t *tool = mt_toolbox_find(mt_jobs()->tools, job.tool_id);
    int k = tool ? mt_tool_find_output(tool, output) : -1;
    if (job.state != MT_JOB_OK)
        snprintf(err, errlen, "job %lld is %s, not ok", id, mt_job_state_name(job.state));
    else if (k < 0)
        snprintf(err, errlen, "job %lld (tool %s) has no output '%s'", id, job.tool_id, output);
    else {
        char workdir[4096];
        mt_jobs_workdir(id, workdir, sizeof workdir);
        const char *rel = mt_tool_output_kind(tool, (size_t)k) == MT_TOOL_OUTPUT_STDOUT
                              ? "stdout"
                              : mt_tool_output_path(tool, (size_t)k);
        /* The job wrote that directory: its output must be a file in it, not a link out of it. */
        struct stat st;
        int fd = mt_open_beneath(workdir, rel, &st);
        if (fd >= 0) {
            close(fd);
            *path_out = mt_asprintf("%s/%s", workdir, rel);
            rc = 0;
        } else if (fd == -EXDEV) {
            mt_notice("job %lld: output '%s' (%s) leads outside the job's directory: refused", id, output, rel);
            snprintf(err, errlen, "job %lld: output '%s' is not a file in the job's directory", id, output);
        } else {
            snprintf(err, errlen, "job %lld: output '%s' was not written", id, output);
        }
    }
    mt_job_clear(&job);
    return rc;
}

const char *mt_jobs_workdir(int64_t id, char *buf, size_t len)
{
    snprintf(buf, len, "%s/%lld", ctx.jobs_dir, (long long)id);
    return buf;
}

mt_db_t *mt_jobs_db(void)
{
    if (thread_db)
        return thread_db;
    char err[512];
    mt_db_sync_t sync = mt_stack_role(ctx.stack) == MT_ROLE_WEB ? ctx.accept_sync : ctx.state_sync;
    if (mt_db_open(ctx.db_path, sync, &thread_db, err, sizeof err) < 0) {
        mt_error("cannot open the job database: %s", err);
        return NULL;
    }
    return thread_db;
}

static char *absolute(const char *path)
{
    if (path[0] == '/')
        return mt_strdup(path);
    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof cwd))
        return mt_strdup(path);
    return mt_asprintf("%s/%s", cwd, path);
}

/* A directory: as configured, else the samples beside the binary (BIN/../NAME), else ./NAME. */
static char *default_dir(const char *configured, const char *name)
{
    if (configured)
        return mt_strdup(configured);
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        for (int up = 0; up < 2; up++) {
            char *slash = strrchr(exe, '/');
            if (slash)
                *slash = '\0';
        }
        char *candidate = mt_asprintf("%s/%s", exe, name);
        struct stat st;
        if (stat(candidate, &st) == 0 && S_ISDIR(st.st_mode))
            return candidate;
        free(candidate);
    }
    return mt_strdup(name);
}

static int parse_sync(const char *name, const char *value, mt_db_sync_t *out, char *err, size_t errlen)
{
    if (strcasecmp(value, "full") == 0)
        *out = MT_DB_SYNC_FULL;
    else if (strcasecmp(value, "normal") == 0)
        *out = MT_DB_SYNC_NORMAL;
    else {
        snprintf(err, errlen, "option 'jobs.%s': '%s' is not full or normal", name, value);
        return -1;
    }
    return 0;
}

/*
 * The database option: a PostgreSQL URL (postgresql://, postgres://) or
 * libpq connection string, kept as it is; else a SQLite path, or
 * sqlite:///absolute or sqlite://relative.
 */
static int database_path(const char *value, char *err, size_t errlen)
{
    if (!value) {
        ctx.db_path = mt_asprintf("%s/jobs.sqlite", ctx.data_dir);
        return 0;
    }
    if (mt_db_kind_of(value) == MT_DB_POSTGRESQL) {
        ctx.db_path = mt_strdup(value);
        return 0;
    }
    if (strncmp(value, "sqlite://", 9) == 0)
        value += 9;
    else if (strstr(value, "://")) {
        snprintf(err, errlen, "option 'jobs.database': '%s': not a database this muleteer knows: give a SQLite path "
                 "(or sqlite:///PATH) or a PostgreSQL URL (postgresql://...)", value);
        return -1;
    }
    if (!*value) {
        snprintf(err, errlen, "option 'jobs.database': empty path");
        return -1;
    }
    ctx.db_path = absolute(value);
    return 0;
}

/* "user nobody (uid 65534)": who this process is, for messages. */
static const char *whoami(char *buf, size_t len)
{
    const struct passwd *pw = getpwuid(geteuid());
    if (pw)
        snprintf(buf, len, "user %s (uid %lu)", pw->pw_name, (unsigned long)geteuid());
    else
        snprintf(buf, len, "uid %lu", (unsigned long)geteuid());
    return buf;
}

/*
 * What the handlers will write must be writable by this process's user
 * (the stack has dropped to --uid already): say so at start-up, naming the
 * option, rather than let SQLite report a read-only database later.
 */
static int check_writable(char *err, size_t errlen)
{
    char who[128], db_dir[PATH_MAX];
    if (access(ctx.jobs_dir, W_OK | X_OK) < 0) {
        snprintf(err, errlen, "option 'jobs.data-dir': %s is not writable by %s: %s", ctx.jobs_dir,
                 whoami(who, sizeof who), strerror(errno));
        return -1;
    }
    if (mt_db_kind_of(ctx.db_path) == MT_DB_POSTGRESQL)
        return 0; /* a server: it says itself what we may do */
    snprintf(db_dir, sizeof db_dir, "%s", ctx.db_path);
    char *slash = strrchr(db_dir, '/');
    if (slash)
        *(slash == db_dir ? slash + 1 : slash) = '\0';
    /* SQLite creates the -wal and -shm files beside the database. */
    if (access(db_dir, W_OK | X_OK) < 0) {
        snprintf(err, errlen, "option 'jobs.database': the directory %s is not writable by %s: %s", db_dir,
                 whoami(who, sizeof who), strerror(errno));
        return -1;
    }
    if (access(ctx.db_path, R_OK | W_OK) < 0 && errno != ENOENT) {
        snprintf(err, errlen, "option 'jobs.database': %s is not writable by %s: %s", ctx.db_path,
                 whoami(who, sizeof who), strerror(errno));
        return -1;
    }
    return 0;
}

/*
 * job-user / job-group. A handler running as root starts the commands as
 * that user; one running as another user (--uid) can only start them as
 * itself, so anything else is a configuration error.
 */
static int job_user(mt_stack_t *stack, char *err, size_t errlen)
{
    if (mt_creds_resolve(mt_app_option(stack, "job-user"), "jobs.job-user", mt_app_option(stack, "job-group"),
                         "jobs.job-group", &job_creds, err, errlen) < 0)
        return -1;
    char why[512];
    int need = mt_creds_need_switch(&job_creds, "jobs.job-user", "jobs.job-group", why, sizeof why);
    if (need < 0) {
        snprintf(err, errlen, "%s: the handlers are not root (see the stack's uid option), so jobs run as the "
                 "handlers' own user; leave it unset or give that user", why);
        return -1;
    }
    ctx.job_creds = need ? &job_creds : NULL;
    if (ctx.job_creds)
        mt_info("jobs run as user %s (uid %lu), group %s (gid %lu)", job_creds.set_uid ? job_creds.user : "(the handler's)",
                (unsigned long)(job_creds.set_uid ? job_creds.uid : geteuid()), job_creds.group,
                (unsigned long)job_creds.gid);
    return 0;
}

/*
 * The environment of the cluster's client commands: what they need to find
 * the cluster (PATH, SLURM_CONF) and nothing else of the server's, since
 * sbatch hands its environment on to the job.
 */
static char **cluster_environment(void)
{
    static const char *const keep[] = {"PATH", "HOME", "SLURM_CONF"};
    char **env = mt_calloc(sizeof keep / sizeof keep[0] + 2, sizeof *env);
    size_t n = 0;
    for (size_t i = 0; i < sizeof keep / sizeof keep[0]; i++) {
        const char *v = getenv(keep[i]);
        if (v)
            env[n++] = mt_asprintf("%s=%s", keep[i], v);
        else if (strcmp(keep[i], "PATH") == 0)
            env[n++] = mt_strdup("PATH=/usr/local/bin:/usr/bin:/bin");
    }
    env[n++] = mt_strdup("LC_ALL=C.UTF-8");
    env[n] = NULL;
    return env;
}

static int app_load(mt_stack_t *stack, void *app_data, char *err, size_t errlen)
{
    (void)app_data;
    ctx.stack = stack;
    ctx.data_dir = absolute(mt_app_option(stack, "data-dir"));
    ctx.jobs_dir = mt_asprintf("%s/jobs", ctx.data_dir);
    ctx.workers = (int)mt_app_option_int(stack, "workers");
    ctx.sweep_delay_ms = (int)mt_app_option_int(stack, "sweep-delay");
    ctx.poll_ms = (int)mt_app_option_int(stack, "poll-interval");
    ctx.cancel_grace_ms = (int)mt_app_option_int(stack, "cancel-grace") * 1000;
    ctx.max_attempts = (int)mt_app_option_int(stack, "max-attempts");
    ctx.handler_lease_ms = mt_app_option_int(stack, "handler-lease") * 1000;
    /* Tells this stack's commands from those of a stack started after it (the undertaker's target). */
    ctx.stack_env = mt_asprintf("MULETEER_STACK_ID=%d-%lld", (int)getpid(), (long long)mt_wall_us());
    ctx.cluster_poll_ms = (int)mt_app_option_int(stack, "cluster-poll-interval");
    ctx.cluster_env = cluster_environment();
    const char *cleanup = mt_app_option(stack, "cleanup");
    if (mt_job_cleanup_parse(cleanup, &ctx.cleanup) < 0) {
        snprintf(err, errlen, "option 'jobs.cleanup': '%s' is not always, onsuccess or never", cleanup ? cleanup : "");
        return -1;
    }
    if (parse_sync("accept-sync", mt_app_option(stack, "accept-sync"), &ctx.accept_sync, err, errlen) < 0 ||
        parse_sync("state-sync", mt_app_option(stack, "state-sync"), &ctx.state_sync, err, errlen) < 0 ||
        database_path(mt_app_option(stack, "database"), err, errlen) < 0)
        return -1;
    int rc = mt_mkdirs(ctx.jobs_dir, 0755);
    if (rc < 0) {
        char who[128];
        snprintf(err, errlen, "option 'jobs.data-dir': cannot create %s as %s: %s", ctx.jobs_dir,
                 whoami(who, sizeof who), strerror(-rc));
        return -1;
    }
    if (check_writable(err, errlen) < 0 || job_user(stack, err, errlen) < 0)
        return -1;
    if (mt_db_migrate(ctx.db_path, err, errlen) < 0)
        return -1;
    char why[768];
    char *tools_dir = default_dir(mt_app_option(stack, "tools-dir"), "tools");
    rc = mt_toolbox_load(tools_dir, &ctx.tools, why, sizeof why);
    if (rc < 0) {
        snprintf(err, errlen, "option 'jobs.tools-dir': %s", why);
        free(tools_dir);
        return -1;
    }
    /* The sample workflows use the sample tools: with tools of one's own, only workflows one names. */
    const char *workflows_option = mt_app_option(stack, "workflows-dir");
    char *workflows_dir = workflows_option || !mt_app_option(stack, "tools-dir") ? default_dir(workflows_option, "workflows")
                                                                                : NULL;
    rc = mt_workflow_library_load(workflows_dir, workflows_option == NULL, ctx.tools, &ctx.workflows, why, sizeof why);
    free(workflows_dir);
    if (rc < 0) {
        snprintf(err, errlen, "option 'jobs.workflows-dir': %s", why);
        free(tools_dir);
        return -1;
    }
    if (mt_job_conf_load(mt_app_option(stack, "job-config"), &ctx.conf, why, sizeof why) < 0 ||
        (ctx.conf && mt_slurm_check_destinations(ctx.conf, why, sizeof why) < 0)) {
        snprintf(err, errlen, "option 'jobs.job-config': %s", why);
        return -1;
    }
    if ((rc = mt_register_message_handler(stack, MT_JOBS_MSG_SETUP, mt_jobs_on_message, NULL)) < 0 ||
        (rc = mt_register_message_handler(stack, MT_JOBS_MSG_CANCEL, mt_jobs_on_message, NULL)) < 0 ||
        (rc = mt_register_message_handler(stack, MT_JOBS_MSG_INVOCATION, mt_jobs_on_message, NULL)) < 0 ||
        mt_jobs_api_register(stack) < 0 || mt_tools_api_register(stack) < 0 || mt_workflows_api_register(stack) < 0 ||
        mt_invocations_api_register(stack) < 0 || mt_handlers_api_register(stack) < 0) {
        snprintf(err, errlen, "registering the job application failed: %s", mt_strerror(rc));
        return -1;
    }
    /* A standalone handler serves no HTTP: it neither needs nor serves the dashboard. */
    char *dashboard_dir = default_dir(mt_app_option(stack, "dashboard-dir"), "dashboard");
    rc = mt_stack_role(stack) == MT_ROLE_STANDALONE
             ? 0
             : mt_dashboard_register(stack, strcmp(mt_app_option(stack, "dashboard"), "true") == 0, dashboard_dir,
                                     mt_app_option(stack, "dashboard-dir") == NULL, err, errlen);
    free(dashboard_dir);
    if (rc < 0) {
        free(tools_dir);
        return -1;
    }
    if (mt_jobs_handling_load(stack, err, errlen) < 0) {
        free(tools_dir);
        return -1;
    }
    char shown[512];
    mt_info("jobs: database %s, %zu tools from %s, %zu workflows, %s", mt_db_display(ctx.db_path, shown, sizeof shown),
            mt_toolbox_count(ctx.tools),
            tools_dir, mt_workflow_library_count(ctx.workflows),
            ctx.conf ? "job configuration loaded" : "no job configuration");
    free(tools_dir);
    return 0;
}

/* "added a, b; removed c": the tool ids in one box and not the other, into buf ("" if none). */
static void tools_changed(const mt_toolbox_t *old, const mt_toolbox_t *new, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int pass = 0; pass < 2; pass++) {
        const mt_toolbox_t *from = pass == 0 ? new : old, *other = pass == 0 ? old : new;
        bool first = true;
        for (size_t i = 0; i < mt_toolbox_count(from) && used < len; i++) {
            const char *id = mt_tool_id(mt_toolbox_get(from, i));
            if (mt_toolbox_find(other, id))
                continue;
            int n = snprintf(buf + used, len - used, "%s%s", first ? (used ? "; removed " : (pass ? "removed " : "added "))
                                                                   : ", ", id);
            used += n > 0 ? (size_t)n : 0;
            first = false;
        }
    }
}

/*
 * The reload hook (mt_app_t.reload), in the master: the tools, the
 * workflows and the job configuration read again from the same options'
 * files, checked as app_load() checks them (the job configuration's names
 * against the stack too), then put in place of the old ones for the
 * children forked from now on. The old ones are freed: in the master
 * nothing but ctx points at them (the routes and message handlers were
 * registered with no data of theirs), and each running child has its own
 * copy. The stack's and this section's options are not read again.
 */
static int app_reload(mt_stack_t *stack, void *app_data, char *err, size_t errlen)
{
    (void)app_data;
    char why[768];
    mt_toolbox_t *tools = NULL;
    struct mt_workflow_library *workflows = NULL;
    mt_job_conf_t *conf = NULL;
    char *tools_dir = default_dir(mt_app_option(stack, "tools-dir"), "tools");
    const char *workflows_option = mt_app_option(stack, "workflows-dir");
    char *workflows_dir = workflows_option || !mt_app_option(stack, "tools-dir") ? default_dir(workflows_option, "workflows")
                                                                                : NULL;
    const char *conf_path = mt_app_option(stack, "job-config");
    int rc = -1;
    if (mt_toolbox_load(tools_dir, &tools, why, sizeof why) < 0)
        snprintf(err, errlen, "option 'jobs.tools-dir': %s", why);
    else if (mt_workflow_library_load(workflows_dir, workflows_option == NULL, tools, &workflows, why, sizeof why) < 0)
        snprintf(err, errlen, "option 'jobs.workflows-dir': %s", why);
    else if (mt_job_conf_load(conf_path, &conf, why, sizeof why) < 0 ||
             (conf && mt_slurm_check_destinations(conf, why, sizeof why) < 0))
        snprintf(err, errlen, "option 'jobs.job-config': %s", why);
    else
        rc = 0;
    if (rc == 0) {
        mt_job_conf_t *old_conf = ctx.conf;
        ctx.conf = conf;
        if (mt_jobs_handling_reload(stack, old_conf, err, errlen) < 0) {
            ctx.conf = old_conf;
            char again[256];
            (void)mt_jobs_handling_reload(stack, old_conf, again, sizeof again); /* it passed with it at start */
            rc = -1;
        } else {
            conf = old_conf; /* freed below */
            char changed[1024];
            tools_changed(ctx.tools, tools, changed, sizeof changed);
            mt_toolbox_t *old_tools = ctx.tools;
            struct mt_workflow_library *old_workflows = ctx.workflows;
            ctx.tools = tools;
            ctx.workflows = workflows;
            tools = old_tools;
            workflows = old_workflows;
            mt_info("reload: %s%s, %zu tools from %s%s%s%s, %zu workflows reloaded; the processes started from now "
                    "on use them",
                    ctx.conf ? "job configuration " : "no job configuration", ctx.conf ? conf_path : "",
                    mt_toolbox_count(ctx.tools), tools_dir, changed[0] ? " (" : "", changed, changed[0] ? ")" : "",
                    mt_workflow_library_count(ctx.workflows));
        }
    }
    /* What is not in use: the old structures after a swap, the new ones after a failure. */
    mt_workflow_library_free(workflows);
    mt_toolbox_destroy(tools);
    mt_job_conf_destroy(conf);
    free(tools_dir);
    free(workflows_dir);
    return rc < 0 ? -EINVAL : 0;
}

bool mt_jobs_cleaned_up(mt_job_state_t state)
{
    return mt_job_cleanup_applies(ctx.cleanup, state);
}

bool mt_jobs_take_interrupted(const char *workdir)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", workdir, MT_JOBS_INTERRUPTED_MARK);
    return unlink(path) == 0;
}

/* The undertaker found a run of this stack alive: leave the mark in its working directory. */
static void mark_interrupted(const char *job_dir, void *data)
{
    (void)data;
    size_t n = strlen(ctx.jobs_dir);
    if (strncmp(job_dir, ctx.jobs_dir, n) != 0 || job_dir[n] != '/' || strstr(job_dir + n, "/.."))
        return; /* not one of our working directories */
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", job_dir, MT_JOBS_INTERRUPTED_MARK);
    int fd = open(path, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0)
        mt_error("cannot mark the run in %s as interrupted (%s): the job will end in error at the next start",
                 job_dir, strerror(errno));
    else
        close(fd);
}

/*
 * The master has ended (see mt_app_t.stack_died): its mules and web
 * workers are dead, the commands they started are not. A command whose
 * waiter still answers for it is left to it (runner_local.h,
 * mt_run_end_unwatched): the next start adopts it, or the waiter stops it
 * when its handler's fence lapses. Kill the others -- a command whose
 * waiter is gone, one of a handler that stopped normally, and everything
 * they started that kept their environment; mark the runs that were still
 * alive, so that the next start runs those jobs again.
 */
static void app_stack_died(mt_stack_t *stack, void *app_data)
{
    (void)stack;
    (void)app_data;
    int killed = mt_run_end_unwatched(ctx.stack_env, 10000, mark_interrupted, NULL);
    if (killed > 0)
        mt_notice("the stack has ended: killed %d process%s its jobs had left running; those jobs run again at "
                  "the next start", killed, killed == 1 ? "" : "es");
    char err[512] = ""; /* the WAL that processes ending without closing their connections leave whole (db.h) */
    if (mt_db_checkpoint(ctx.db_path, 2000, err, sizeof err) < 0)
        mt_notice("the stack has ended: %s; the next start will use it", err);
}

/*
 * --print-config's check: the tools, the workflows and the job
 * configuration loaded exactly as app_load() loads them, and the sync
 * options parsed, each problem on a line of its own; nothing created,
 * no database opened, nothing registered, ctx untouched.
 */
static void app_mule_start(mt_stack_t *stack, void *app_data)
{
    (void)app_data;
    mt_jobs_handling_mule_start(stack);
}

static void app_web_thread_start(mt_stack_t *stack, void *app_data)
{
    (void)app_data;
    mt_jobs_handling_web_thread_start(stack);
}

static void app_stop(mt_stack_t *stack, void *app_data)
{
    (void)stack;
    (void)app_data;
    mt_jobs_handling_stop();
}

static int app_check(mt_stack_t *stack, void *app_data, char *err, size_t errlen)
{
    (void)app_data;
    size_t used = 0;
    err[0] = '\0';
    /* One problem per line of err, as many as fit. */
#define CHECK_FAILED(...)                                                                        \
    do {                                                                                         \
        char line_[1024];                                                                        \
        snprintf(line_, sizeof line_, __VA_ARGS__);                                              \
        int n_ = used < errlen ? snprintf(err + used, errlen - used, "%s%s", used ? "\n" : "", line_) : 0; \
        used += n_ > 0 ? (size_t)n_ : 0;                                                         \
        failed = true;                                                                           \
    } while (0)
    bool failed = false;
    char why[768];
    mt_db_sync_t sync;
    if (parse_sync("accept-sync", mt_app_option(stack, "accept-sync"), &sync, why, sizeof why) < 0)
        CHECK_FAILED("%s", why);
    if (parse_sync("state-sync", mt_app_option(stack, "state-sync"), &sync, why, sizeof why) < 0)
        CHECK_FAILED("%s", why);
    mt_toolbox_t *tools = NULL;
    char *tools_dir = default_dir(mt_app_option(stack, "tools-dir"), "tools");
    if (mt_toolbox_load(tools_dir, &tools, why, sizeof why) < 0)
        CHECK_FAILED("option 'jobs.tools-dir': %s", why);
    free(tools_dir);
    if (tools) {
        const char *workflows_option = mt_app_option(stack, "workflows-dir");
        char *workflows_dir =
            workflows_option || !mt_app_option(stack, "tools-dir") ? default_dir(workflows_option, "workflows") : NULL;
        mt_workflow_library_t *workflows = NULL;
        if (mt_workflow_library_load(workflows_dir, workflows_option == NULL, tools, &workflows, why, sizeof why) < 0)
            CHECK_FAILED("option 'jobs.workflows-dir': %s", why);
        free(workflows_dir);
        mt_workflow_library_free(workflows);
    }
    mt_toolbox_destroy(tools);
    if (strcmp(mt_app_option(stack, "dashboard"), "true") == 0 && mt_app_option(stack, "dashboard-dir")) {
        char *dashboard_dir = default_dir(mt_app_option(stack, "dashboard-dir"), "dashboard");
        if (mt_dashboard_check(dashboard_dir, why, sizeof why) < 0)
            CHECK_FAILED("%s", why);
        free(dashboard_dir);
    }
    mt_job_conf_t *conf = NULL;
    if (mt_job_conf_load(mt_app_option(stack, "job-config"), &conf, why, sizeof why) < 0 ||
        (conf && mt_slurm_check_destinations(conf, why, sizeof why) < 0))
        CHECK_FAILED("option 'jobs.job-config': %s", why);
    /* The names it gives, against this stack's processes and farms (warnings go to the log). */
    if (conf && mt_jobs_handling_check(stack, conf, mt_app_option(stack, "job-config"), why, sizeof why) < 0)
        CHECK_FAILED("option 'jobs.job-config': %s", why);
    mt_job_conf_destroy(conf);
#undef CHECK_FAILED
    return failed ? -EINVAL : 0;
}

const mt_app_t mt_jobs_app = {
    .name = "jobs",
    .load = app_load,
    .mule_start = app_mule_start,
    .config_section = "jobs",
    .options = jobs_options,
    .mule_stop = app_stop,
    .stack_died = app_stack_died,
    .check = app_check,
    /* A web worker's job handler runs on the worker's own loop, never on a loop serving requests. */
    .web_worker_loop_start = app_web_thread_start,
    .web_worker_loop_stop = app_stop,
    .reload = app_reload,
};
