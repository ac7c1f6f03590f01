/*
 * The Slurm command layer against a real cluster: batch scripts written by
 * slurm_script.c, submitted with sbatch through slurm_command.c, watched
 * with one squeue for all of them (slurm_parse.c), cancelled with scancel;
 * then the argv and environment the command received, its outputs, the
 * status file, and Slurm's final state are checked, for an exit 0, an
 * exit 3, a SIGKILL, a cancel and a time limit. Also what sbatch and
 * squeue print when they refuse.
 *
 * Runs against the cluster MULETEER_TEST_SLURM_CONF names -- a test
 * cluster such as scripts/slurm-cluster.sh starts, whose node shares /tmp
 * with this host: `MULETEER_TEST_SLURM_CONF=DIR/etc/slurm.conf make unit`.
 * Not SLURM_CONF itself, so that a login node's own cluster never gets
 * these jobs. Skipped, saying so (--verbose), without it.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "app/run/slurm_command.h"
#include "app/run/slurm_parse.h"
#include "app/run/slurm_script.h"
#include "common/clock.h"

static uv_loop_t loop;
static char err[1024];
static char base[128];
static char env_conf[1024];
static char *envp[] = {"PATH=/usr/local/bin:/usr/bin:/bin", "LC_ALL=C", "HOME=/tmp", env_conf, NULL};

typedef struct outcome {
    int calls;
    bool started, exited;
    int exit_status;
    char out[8192], errs[4096];
} outcome_t;

static void on_done(const mt_slurm_cmd_result_t *r, void *data)
{
    outcome_t *o = data;
    o->calls++;
    o->started = r->started;
    o->exited = r->exited;
    o->exit_status = r->exit_status;
    snprintf(o->out, sizeof o->out, "%s", r->out);
    snprintf(o->errs, sizeof o->errs, "%s", r->err);
}

static int64_t last_start_us;

static void cmd(char *const argv[], outcome_t *o)
{
    memset(o, 0, sizeof *o);
    int64_t t0 = mt_clock_us();
    cr_assert_eq(mt_slurm_cmd_run(&loop, argv, envp, 60000, 0, on_done, o, err, sizeof err), 0, "%s", err);
    last_start_us = mt_clock_us() - t0;
    uv_run(&loop, UV_RUN_DEFAULT);
    cr_assert_eq(o->calls, 1);
    cr_assert(o->started, "%s: %s", argv[0], o->errs);
}

static void setup(void)
{
    const char *conf = getenv("MULETEER_TEST_SLURM_CONF");
    if (!conf || !*conf || access("/usr/bin/sbatch", X_OK) < 0)
        cr_skip_test("no Slurm cluster to try: MULETEER_TEST_SLURM_CONF is not set or sbatch is missing "
                     "(scripts/slurm-cluster.sh start DIR; MULETEER_TEST_SLURM_CONF=DIR/etc/slurm.conf)");
    snprintf(env_conf, sizeof env_conf, "SLURM_CONF=%s", conf);
    cr_assert_eq(uv_loop_init(&loop), 0);
    snprintf(base, sizeof base, "/tmp/mt-slurm-cluster-XXXXXX");
    cr_assert_not_null(mkdtemp(base));
    chmod(base, 0755);
}

static void teardown(void)
{
    if (!base[0])
        return;
    uv_loop_close(&loop);
    char c[256];
    snprintf(c, sizeof c, "rm -rf '%s'", base);
    (void)!system(c);
}

TestSuite(slurm_cluster, .init = setup, .fini = teardown, .timeout = 240);

static const char *const awkward[] = {"plain", "", "two words", "it's", "\"dq\"", "$HOME", "`id`", "$(id)",
                                      "a\\b", "end\\", "new\nline", "*", "#x", ";|&<>()", "'\\''"};
#define NAWKWARD (sizeof awkward / sizeof awkward[0])
static const char inner[] = "printf '%s\\0' \"$@\"; printf '%s\\0' \"$V1\" \"$MULETEER_JOB_ID\" \"$PWD\" >&2; "
                            "case $CODE in kill) kill -9 $$;; sleep) exec sleep 300;; esac; exit $CODE";

typedef struct job {
    const char *code;
    char dir[256], script[300], out[300], errp[300], status[300], log[300];
    char id[32];
    char code_env[32];
    mt_slurm_state_t state;
} job_t;

static const char v1[] = "V1=value with 'quotes', \"dq\", $HOME, `id`, \\ and\na newline";

/* Write the job's script and submit it: sbatch --parsable -J NAME -D DIR -o slurm.log [extra] SCRIPT. */
static void submit(job_t *j, const char *name, const char *extra)
{
    snprintf(j->dir, sizeof j->dir, "%s/%s", base, name);
    cr_assert_eq(mkdir(j->dir, 0755), 0);
    snprintf(j->script, sizeof j->script, "%s/%s", j->dir, MT_SLURM_SCRIPT_NAME);
    snprintf(j->out, sizeof j->out, "%s/stdout", j->dir);
    snprintf(j->errp, sizeof j->errp, "%s/stderr", j->dir);
    snprintf(j->status, sizeof j->status, "%s/%s", j->dir, MT_SLURM_STATUS_NAME);
    snprintf(j->log, sizeof j->log, "%s/slurm.log", j->dir);
    snprintf(j->code_env, sizeof j->code_env, "CODE=%s", j->code);
    char *argv[4 + NAWKWARD + 1] = {"/bin/sh", "-c", (char *)inner, "tool"};
    for (size_t i = 0; i < NAWKWARD; i++)
        argv[4 + i] = (char *)awkward[i];
    const char *env[] = {v1, "MULETEER_JOB_ID=7", j->code_env};
    mt_slurm_script_t s = {.argv = argv, .env = env, .env_count = 3, .working_dir = j->dir, .stdout_path = j->out,
                           .stderr_path = j->errp, .status_path = j->status, .attempt = 1};
    cr_assert_eq(mt_slurm_script_write(&s, j->script, err, sizeof err), 0, "%s", err);
    char jobname[64];
    snprintf(jobname, sizeof jobname, "muleteer-test-%s", name);
    char *sb[] = {"sbatch", "--parsable", "-J", jobname, "-D", j->dir, "-o", j->log, (char *)extra, j->script, NULL};
    if (!extra) {
        sb[8] = j->script;
        sb[9] = NULL;
    }
    outcome_t o;
    cmd(sb, &o);
    cr_assert(o.exited && o.exit_status == 0, "sbatch: %s", o.errs);
    cr_assert_eq(mt_slurm_parse_sbatch(o.out, j->id, sizeof j->id), 0, "sbatch printed '%s'", o.out);
    fprintf(stderr, "submitted %s as %s (the start held the loop %lld us)\n", name, j->id, (long long)last_start_us);
}

/* One squeue for all the jobs: their states into jobs[i].state. Returns how many are final. */
static int poll_states(job_t *jobs, int n)
{
    char ids[512] = "";
    for (int i = 0; i < n; i++)
        snprintf(ids + strlen(ids), sizeof ids - strlen(ids), "%s%s", i ? "," : "", jobs[i].id);
    char *sq[] = {"squeue", "--states=all", "-h", "-o", "%i|%T|%r", "-j", ids, NULL};
    outcome_t o;
    cmd(sq, &o);
    cr_assert(o.exited && o.exit_status == 0, "squeue: %s", o.errs);
    mt_slurm_job_line_t *lines;
    ssize_t nl = mt_slurm_parse_squeue(o.out, &lines, err, sizeof err);
    cr_assert_geq(nl, 0, "%s", err);
    int final = 0;
    for (int i = 0; i < n; i++) {
        for (ssize_t k = 0; k < nl; k++)
            if (strcmp(lines[k].id, jobs[i].id) == 0)
                jobs[i].state = lines[k].state;
        final += mt_slurm_state_final(jobs[i].state);
    }
    free(lines);
    return final;
}

static void wait_final(job_t *jobs, int n, int seconds)
{
    for (int t = 0; t < seconds * 4 && poll_states(jobs, n) < n; t++)
        usleep(250000);
    for (int i = 0; i < n; i++)
        cr_assert(mt_slurm_state_final(jobs[i].state), "job %s still %s", jobs[i].id,
                  mt_slurm_state_name(jobs[i].state));
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = calloc(1, 65536);
    size_t n = fread(buf, 1, 65535, f);
    fclose(f);
    if (len)
        *len = n;
    return buf;
}

static void assert_status(const job_t *j, int want)
{
    int attempt = -1, code = -1;
    int rc = mt_slurm_status_read(j->status, &attempt, &code);
    char *log = slurp(j->log, NULL);
    cr_assert_eq(rc, 0, "job %s: no status (%d); slurm.log: %s", j->id, rc, log ? log : "(none)");
    free(log);
    cr_assert_eq(attempt, 1);
    cr_assert_eq(code, want, "job %s: status %d, expected %d", j->id, code, want);
}

Test(slurm_cluster, exit_codes_words_env_and_outputs)
{
    job_t jobs[3] = {{.code = "0"}, {.code = "3"}, {.code = "kill"}};
    submit(&jobs[0], "ok", NULL);
    submit(&jobs[1], "three", NULL);
    submit(&jobs[2], "killed", NULL);
    wait_final(jobs, 3, 120);
    cr_assert_eq(jobs[0].state, MT_SLURM_COMPLETED);
    cr_assert_eq(jobs[1].state, MT_SLURM_FAILED);
    cr_assert_eq(jobs[2].state, MT_SLURM_FAILED);
    assert_status(&jobs[0], 0);
    assert_status(&jobs[1], 3);
    assert_status(&jobs[2], 137);
    for (int i = 0; i < 3; i++) {
        size_t len;
        char *out = slurp(jobs[i].out, &len);
        cr_assert_not_null(out);
        size_t off = 0;
        for (size_t w = 0; w < NAWKWARD; w++) {
            cr_assert_lt(off, len, "job %s: word %zu missing", jobs[i].id, w);
            cr_assert_str_eq(out + off, awkward[w], "job %s: word %zu", jobs[i].id, w);
            off += strlen(out + off) + 1;
        }
        cr_assert_eq(off, len);
        free(out);
        char *errs = slurp(jobs[i].errp, &len);
        cr_assert_str_eq(errs, v1 + 3);
        cr_assert_str_eq(errs + strlen(v1 + 3) + 1, "7");
        cr_assert_str_eq(errs + strlen(v1 + 3) + 3, jobs[i].dir);
        free(errs);
    }
}

Test(slurm_cluster, scancel_of_a_running_job_leaves_its_status)
{
    job_t j = {.code = "sleep"};
    submit(&j, "cancel", NULL);
    for (int t = 0; t < 240 && (poll_states(&j, 1), j.state != MT_SLURM_RUNNING); t++)
        usleep(250000);
    cr_assert_eq(j.state, MT_SLURM_RUNNING);
    usleep(500000); /* the script is past its env lines, the command runs */
    char *sc[] = {"scancel", j.id, NULL};
    outcome_t o;
    cmd(sc, &o);
    cr_assert(o.exited && o.exit_status == 0, "scancel: %s", o.errs);
    wait_final(&j, 1, 60);
    cr_assert_eq(j.state, MT_SLURM_CANCELLED);
    assert_status(&j, 143);
}

Test(slurm_cluster, time_limit_leaves_its_status)
{
    job_t j = {.code = "sleep"};
    submit(&j, "timeout", "--time=1");
    wait_final(&j, 1, 200);
    cr_assert_eq(j.state, MT_SLURM_TIMEOUT);
    assert_status(&j, 143);
    char *log = slurp(j.log, NULL);
    cr_assert(log && strstr(log, "DUE TO TIME LIMIT"), "slurm.log: %s", log ? log : "(none)");
    free(log);
}

Test(slurm_cluster, refusals_as_slurm_words_them)
{
    char script[300];
    snprintf(script, sizeof script, "%s/x.sh", base);
    FILE *f = fopen(script, "w");
    fputs("#!/bin/sh\ntrue\n", f);
    fclose(f);
    char *sb[] = {"sbatch", "--parsable", "-p", "nosuch", script, NULL};
    outcome_t o;
    cmd(sb, &o);
    cr_assert(o.exited && o.exit_status == 1);
    char msg[256];
    cr_assert_str_eq(mt_slurm_error_message(o.errs, msg, sizeof msg),
                     "Batch job submission failed: Invalid partition name specified");
    cr_assert_not(mt_slurm_error_transient(o.errs));
    char *sq[] = {"squeue", "--states=all", "-h", "-o", "%i|%T|%r", "-j", "99999999", NULL};
    cmd(sq, &o);
    cr_assert(o.exited && o.exit_status == 1);
    cr_assert_str_eq(mt_slurm_error_message(o.errs, msg, sizeof msg), "slurm_load_jobs error: Invalid job id specified");
    cr_assert_not(mt_slurm_error_transient(o.errs));
    /* A controller that cannot be reached (a port nothing listens on) is transient. */
    char conf[256];
    snprintf(conf, sizeof conf, "%s/unreachable.conf", base);
    char sed[2048];
    snprintf(sed, sizeof sed, "sed -E 's/^SlurmctldPort=.*/SlurmctldPort=1/' '%s' > '%s'", getenv("MULETEER_TEST_SLURM_CONF"), conf);
    cr_assert_eq(system(sed), 0);
    snprintf(env_conf, sizeof env_conf, "SLURM_CONF=%s", conf);
    char *sq2[] = {"squeue", "-h", NULL};
    cmd(sq2, &o);
    cr_assert(o.exited && o.exit_status != 0);
    cr_assert(mt_slurm_error_transient(o.errs), "%s", o.errs);
}
