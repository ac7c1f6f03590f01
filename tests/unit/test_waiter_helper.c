/*
 * Unit tests for the waiter helper (waiter_helper.c, src/waiter/helper.c),
 * through the local runner, with the real muleteer-waiter: a waiter it
 * forks looks, to the adoption check and to ps, like an executed one; one
 * helper serves a process's jobs; a helper killed is replaced without a job
 * lost; the helper ends with the process that started it while its waiter
 * carries on; a request too large for it is executed instead.
 *
 * Each test runs in a process of its own (criterion), so each starts its
 * own helper.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#include "app/run/job_waiter.h"
#include "app/run/runner_local.h"
#include "built_waiter.h"

static char dir[64];
static char waiter[PATH_MAX];

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/mt_helper.XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(waiter, sizeof waiter, "%s", use_built_waiter());
}

static void teardown(void)
{
    nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(waiter_helper, .init = setup, .fini = teardown, .timeout = 60);

static void sleep_ms(int ms)
{
    nanosleep(&(struct timespec){.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L}, NULL);
}

/* /proc/PID/cmdline with its NULs as spaces ("" if gone). */
static const char *cmdline(int pid)
{
    static char buf[8192];
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/cmdline", pid);
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f)
        fclose(f);
    for (size_t i = 0; i < n; i++)
        if (buf[i] == '\0')
            buf[i] = ' ';
    buf[n] = '\0';
    return buf;
}

/* Field 4 of /proc/PID/stat, the parent; 0 if gone. */
static int parent_of(int pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *rp = strrchr(buf, ')');
    char st;
    int ppid;
    return rp && sscanf(rp + 1, " %c %d", &st, &ppid) == 2 && st != 'Z' ? ppid : 0;
}

typedef struct {
    int calls;
    mt_run_result_t result;
} outcome_t;

static void on_done(mt_run_t *run, const mt_run_result_t *result, void *data)
{
    (void)run;
    outcome_t *o = data;
    o->calls++;
    o->result = *result;
}

/* Start argv in sub (a directory under dir) on loop; returns the run, its waiter in *wpid (read from its file). */
static mt_run_t *start(uv_loop_t *loop, char **argv, const char *sub, outcome_t *o, int *wpid)
{
    static char wd[4][256];
    static int next;
    char *d = wd[next++ % 4];
    snprintf(d, sizeof wd[0], "%s/%s", dir, sub);
    cr_assert_eq(mkdir(d, 0755), 0, "%s: %s", d, strerror(errno));
    mt_run_spec_t spec = {.argv = argv, .working_dir = d, .stdout_path = "stdout", .stderr_path = "stderr",
                          .kill_grace_ms = 1000, .attempt = 1};
    mt_run_t *run = NULL;
    char err[512];
    cr_assert_eq(mt_run_start(loop, &spec, on_done, o, &run, err, sizeof err), 0, "%s", err);
    cr_assert_gt(mt_run_wait_pid(run), 1);
    mt_waiter_id_t id;
    cr_assert_eq(mt_waiter_id_read(d, &id), 0);
    cr_assert(mt_waiter_alive(&id, d), "the waiter %d of %s passes the adoption check", (int)id.waiter_pid, d);
    *wpid = id.waiter_pid;
    return run;
}

Test(waiter_helper, a_forked_waiter_looks_like_an_executed_one_and_one_helper_serves_every_job)
{
    uv_loop_t loop;
    cr_assert_eq(uv_loop_init(&loop), 0);
    char *argv[] = {"/bin/sh", "-c", "sleep 1; exit 5", NULL};
    outcome_t o[3] = {{0}};
    int wpid[3], helper = 0;
    const char *subs[] = {"a", "b", "c"};
    for (int i = 0; i < 3; i++) {
        start(&loop, argv, subs[i], &o[i], &wpid[i]);
        char want[PATH_MAX + 256];
        snprintf(want, sizeof want, "%s --job-dir %s/%s --attempt 1 --fence-fd -1 --grace-ms 1000 -e ", waiter, dir,
                 subs[i]);
        cr_assert_eq(strncmp(cmdline(wpid[i]), want, strlen(want)), 0, "the waiter's command line: %s",
                     cmdline(wpid[i]));
        cr_assert_neq(strstr(cmdline(wpid[i]), " -- /bin/sh -c sleep 1; exit 5 "), NULL, "%s", cmdline(wpid[i]));
        int parent = parent_of(wpid[i]);
        char helper_cmd[PATH_MAX + 16];
        snprintf(helper_cmd, sizeof helper_cmd, "%s --helper ", waiter);
        cr_assert_str_eq(cmdline(parent), helper_cmd, "forked by the helper, not executed by us");
        cr_assert_eq(parent_of(parent), getpid(), "the helper is this process's child");
        if (i == 0)
            helper = parent;
        cr_assert_eq(parent, helper, "one helper for every job of a process");
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    cr_assert_eq(uv_loop_close(&loop), 0);
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(o[i].calls, 1);
        cr_assert(o[i].result.started && o[i].result.exited);
        cr_assert_eq(o[i].result.exit_code, 5);
        cr_assert_gt(o[i].result.waiter_cpu_us, 0, "the forked waiter reports its CPU");
    }
}

Test(waiter_helper, a_helper_killed_is_replaced_and_no_job_is_lost)
{
    uv_loop_t loop;
    cr_assert_eq(uv_loop_init(&loop), 0);
    char *argv[] = {"/bin/sh", "-c", "sleep 1; exit 3", NULL};
    outcome_t o[3] = {{0}};
    int wpid[3];
    start(&loop, argv, "a", &o[0], &wpid[0]);
    int helper = parent_of(wpid[0]);
    cr_assert_gt(helper, 1);
    cr_assert_eq(kill(helper, SIGKILL), 0);
    for (int i = 0; i < 200 && parent_of(helper) != 0; i++)
        sleep_ms(10);
    /* The next job finds the helper gone: executed, our own child; the one after has a new helper. */
    start(&loop, argv, "b", &o[1], &wpid[1]);
    start(&loop, argv, "c", &o[2], &wpid[2]);
    int second = parent_of(wpid[2]);
    cr_assert(second > 1 && second != helper && second != getpid(), "a new helper: %d (the first was %d)", second,
              helper);
    uv_run(&loop, UV_RUN_DEFAULT);
    cr_assert_eq(uv_loop_close(&loop), 0);
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(o[i].calls, 1, "job %d reported once", i);
        cr_assert(o[i].result.exited && o[i].result.exit_code == 3, "job %d: %s", i, o[i].result.why);
    }
}

Test(waiter_helper, the_helper_ends_with_its_process_and_the_waiter_carries_on)
{
    int pipefd[2];
    cr_assert_eq(pipe(pipefd), 0);
    pid_t child = fork();
    cr_assert_geq(child, 0);
    if (child == 0) {
        /* A handler that starts a job and dies at once, its loop never run again. */
        uv_loop_t loop;
        uv_loop_init(&loop);
        char *argv[] = {"/bin/sh", "-c", "sleep 1.5; exit 6", NULL};
        outcome_t o = {0};
        int w;
        start(&loop, argv, "a", &o, &w);
        int pids[2] = {w, parent_of(w)};
        (void)!write(pipefd[1], pids, sizeof pids);
        _exit(0);
    }
    close(pipefd[1]);
    int pids[2] = {0, 0};
    cr_assert_eq(read(pipefd[0], pids, sizeof pids), (ssize_t)sizeof pids);
    close(pipefd[0]);
    cr_assert_eq(waitpid(child, NULL, 0), child);
    int wpid = pids[0], helper = pids[1];
    cr_assert_gt(helper, 1);
    for (int i = 0; i < 300 && parent_of(helper) != 0; i++)
        sleep_ms(10);
    cr_assert_eq(parent_of(helper), 0, "the helper %d outlived the process that started it", helper);
    char sub[128];
    snprintf(sub, sizeof sub, "%s/a", dir);
    mt_waiter_id_t id;
    cr_assert_eq(mt_waiter_id_read(sub, &id), 0);
    cr_assert_eq(id.waiter_pid, wpid);
    mt_waiter_status_t st;
    int rc = -ENOENT;
    for (int i = 0; i < 500 && (rc = mt_waiter_status_read(sub, &st)) == -ENOENT; i++) {
        cr_assert(mt_waiter_alive(&id, sub), "the waiter died with the helper");
        sleep_ms(10);
    }
    cr_assert_eq(rc, 0, "the waiter recorded how its command ended");
    cr_assert_eq(st.end, MT_WAITER_EXITED);
    cr_assert_eq(st.value, 6);
}

Test(waiter_helper, a_request_too_large_for_the_helper_is_executed)
{
    uv_loop_t loop;
    cr_assert_eq(uv_loop_init(&loop), 0);
    /* Two arguments of 100 KiB each: more than one request to the helper holds, less than exec() takes. */
    size_t big = 100 * 1024;
    char *a1 = malloc(big + 1), *a2 = malloc(big + 1);
    memset(a1, 'x', big);
    memset(a2, 'y', big);
    a1[big] = a2[big] = '\0';
    char *argv[] = {"/bin/sh", "-c", "sleep 1; exit $(( ${#1} == 102400 && ${#2} == 102400 ? 0 : 9 ))", "sh", a1, a2, NULL};
    outcome_t o = {0};
    int w;
    start(&loop, argv, "a", &o, &w);
    cr_assert_eq(parent_of(w), getpid(), "executed by this process, not forked by the helper");
    uv_run(&loop, UV_RUN_DEFAULT);
    cr_assert_eq(uv_loop_close(&loop), 0);
    cr_assert_eq(o.calls, 1);
    cr_assert(o.result.exited && o.result.exit_code == 0, "%s (exit %d)", o.result.why, o.result.exit_code);
    free(a1);
    free(a2);
}
