/*
 * Unit tests for slurm_command.c: commands run on a loop of the test's own
 * (not the default loop), with exactly the environment given and argv[0]
 * found in its PATH; exit status, signal, stdout and stderr captured (and
 * capped without blocking the command); a program that cannot be run
 * reported through the callback; the timeout killing the whole process
 * group; a pipe held open by a leftover process; no zombie left; the
 * callback free to close the loop; a local-runner job on the same loop
 * meanwhile; and the time a start holds the loop, measured.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "app/run/runner_local.h"
#include "built_waiter.h"
#include "app/run/slurm_command.h"
#include "common/clock.h"

static uv_loop_t loop;
static char err[512];
static char *env_path[] = {"PATH=/usr/bin:/bin", NULL};

typedef struct outcome {
    int calls;
    mt_slurm_cmd_result_t r;
    char out[1 << 16], errs[4096];
    size_t out_len;
    bool stop_loop;
} outcome_t;

static void on_done(const mt_slurm_cmd_result_t *r, void *data)
{
    outcome_t *o = data;
    o->calls++;
    o->r = *r;
    cr_assert_not_null(r->out);
    cr_assert_not_null(r->err);
    cr_assert_eq(strlen(r->out), r->out_len);
    cr_assert_eq(strlen(r->err), r->err_len);
    o->out_len = r->out_len;
    snprintf(o->out, sizeof o->out, "%s", r->out);
    snprintf(o->errs, sizeof o->errs, "%s", r->err);
    o->r.out = o->out;
    o->r.err = o->errs;
    if (o->stop_loop)
        uv_stop(&loop);
}

/* This process's children other than the waiter helper (muleteer-waiter --helper, runner_local's own). */
static int other_children(void)
{
    char path[64], list[4096] = "";
    snprintf(path, sizeof path, "/proc/self/task/%d/children", (int)getpid());
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "%s: %s", path, strerror(errno));
    size_t n = fread(list, 1, sizeof list - 1, f);
    fclose(f);
    list[n] = '\0';
    int others = 0;
    for (char *tok = strtok(list, " \n"); tok; tok = strtok(NULL, " \n")) {
        char cmd[4096] = "";
        snprintf(path, sizeof path, "/proc/%s/cmdline", tok);
        FILE *c = fopen(path, "r");
        size_t m = c ? fread(cmd, 1, sizeof cmd - 1, c) : 0;
        if (c)
            fclose(c);
        const char *arg = m > strlen(cmd) + 1 ? cmd + strlen(cmd) + 1 : "";
        if (!strstr(cmd, "muleteer-waiter") || strcmp(arg, "--helper") != 0)
            others++;
    }
    return others;
}

static void setup(void)
{
    cr_assert_eq(uv_loop_init(&loop), 0);
    err[0] = '\0';
}

static void teardown(void)
{
    /* Everything of every command is closed once its callback ran: the loop closes. */
    cr_assert_eq(uv_loop_close(&loop), 0, "handles left on the loop");
    cr_assert_eq(mt_slurm_cmd_running(), 0);
    /* And no zombie: no child ended unreaped, and none is left but the local runner's waiter helper. */
    cr_assert_leq(waitpid(-1, NULL, WNOHANG), 0, "a child was left unreaped");
    cr_assert_eq(other_children(), 0, "a child other than the waiter helper is left");
}

TestSuite(slurm_command, .init = setup, .fini = teardown, .timeout = 60);

static void run(char *const argv[], char *const envp[], unsigned timeout_ms, size_t cap, outcome_t *o)
{
    memset(o, 0, sizeof *o);
    cr_assert_eq(mt_slurm_cmd_run(&loop, argv, envp, timeout_ms, cap, on_done, o, err, sizeof err), 0, "%s", err);
    uv_run(&loop, UV_RUN_DEFAULT);
    cr_assert_eq(o->calls, 1);
}

Test(slurm_command, exit_status_stdout_and_stderr)
{
    outcome_t o;
    char *argv[] = {"sh", "-c", "printf 'job 12\\n'; printf 'sbatch: error: x\\n' >&2; exit 4", NULL};
    run(argv, env_path, 5000, 0, &o);
    cr_assert(o.r.started);
    cr_assert(o.r.exited);
    cr_assert_eq(o.r.exit_status, 4);
    cr_assert_eq(o.r.term_signal, 0);
    cr_assert_not(o.r.timed_out);
    cr_assert_str_eq(o.out, "job 12\n");
    cr_assert_str_eq(o.errs, "sbatch: error: x\n");
    cr_assert(o.r.seconds > 0 && o.r.seconds < 5, "%f", o.r.seconds);
}

Test(slurm_command, exactly_the_environment_given_and_stdin_dev_null)
{
    outcome_t o;
    char *envp[] = {"PATH=/usr/bin:/bin", "SLURM_CONF=/x y/slurm.conf", "LC_ALL=C", NULL};
    setenv("MT_TEST_LEAK", "leaked", 1);
    char *argv[] = {"sh", "-c", "env | sort; if read -r x; then echo read; fi; ls -l /proc/$$/fd/0", NULL};
    run(argv, envp, 5000, 0, &o);
    cr_assert_eq(o.r.exit_status, 0, "%s", o.errs);
    cr_assert(strstr(o.out, "LC_ALL=C\n") && strstr(o.out, "SLURM_CONF=/x y/slurm.conf\n"), "%s", o.out);
    cr_assert_null(strstr(o.out, "MT_TEST_LEAK"), "the server's environment leaked: %s", o.out);
    cr_assert_null(strstr(o.out, "\nread\n"), "%s", o.out);
    cr_assert_not_null(strstr(o.out, "-> /dev/null"), "%s", o.out);
}

Test(slurm_command, program_found_in_the_given_path)
{
    char dir[] = "/tmp/mt-slurm-cmd-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char prog[PATH_MAX], path_env[PATH_MAX + 16];
    snprintf(prog, sizeof prog, "%s/fake-sbatch", dir);
    FILE *f = fopen(prog, "w");
    fputs("#!/bin/sh\necho \"1234;c\" \"$@\"\n", f);
    fclose(f);
    chmod(prog, 0755);
    snprintf(path_env, sizeof path_env, "PATH=/nonexistent::%s:/usr/bin:/bin", dir);
    char *envp[] = {path_env, NULL};
    outcome_t o;
    char *argv[] = {"fake-sbatch", "--parsable", "a b", NULL};
    run(argv, envp, 5000, 0, &o);
    cr_assert_str_eq(o.out, "1234;c --parsable a b\n");
    /* Absolute: no search. */
    char *argv2[] = {prog, NULL};
    run(argv2, env_path, 5000, 0, &o);
    cr_assert_str_eq(o.out, "1234;c\n");
    unlink(prog);
    rmdir(dir);
}

Test(slurm_command, a_program_that_cannot_run_is_reported_through_the_callback)
{
    outcome_t o;
    char *argv[] = {"sbatch-nosuch", NULL};
    run(argv, env_path, 5000, 0, &o);
    cr_assert_not(o.r.started);
    cr_assert_not(o.r.exited);
    cr_assert_str_eq(o.errs, "cannot run sbatch-nosuch: No such file or directory");
    cr_assert_str_eq(o.out, "");
    char *argv2[] = {"/etc/passwd", NULL};
    run(argv2, env_path, 5000, 0, &o);
    cr_assert_not(o.r.started);
    cr_assert_str_eq(o.errs, "cannot run /etc/passwd: Permission denied");
    /* Not a program exec knows (no #! line, not ELF): exec's own error, after the spawn. */
    char bad[] = "/tmp/mt-slurm-cmd-badexec-XXXXXX";
    int fd = mkstemp(bad);
    cr_assert_eq(write(fd, "\x7f" "ELFgarbage", 10), 10);
    close(fd);
    chmod(bad, 0755);
    char *argv3[] = {bad, NULL};
    run(argv3, env_path, 5000, 0, &o);
    cr_assert_not(o.r.started);
    cr_assert(strstr(o.errs, "cannot run /tmp/mt-slurm-cmd-badexec-") && strstr(o.errs, "Exec format error"), "%s",
              o.errs);
    unlink(bad);
}

Test(slurm_command, refusals)
{
    outcome_t o;
    char *argv[] = {"true", NULL}, *empty[] = {NULL};
    cr_assert_eq(mt_slurm_cmd_run(&loop, empty, env_path, 1000, 0, on_done, &o, err, sizeof err), -EINVAL);
    cr_assert_str_eq(err, "cannot run a command: no program");
    cr_assert_eq(mt_slurm_cmd_run(&loop, argv, NULL, 1000, 0, on_done, &o, err, sizeof err), -EINVAL);
    cr_assert_str_eq(err, "cannot run true: no environment");
    cr_assert_eq(mt_slurm_cmd_run(&loop, argv, env_path, 0, 0, on_done, &o, err, sizeof err), -EINVAL);
    cr_assert_eq(mt_slurm_cmd_run(&loop, argv, env_path, 1000, 0, NULL, &o, err, sizeof err), -EINVAL);
}

/* Is any process of process group pgid alive? A zombie is not (init may be slow to reap what was reparented). */
static bool group_alive(pid_t pgid)
{
    DIR *d = opendir("/proc");
    cr_assert_not_null(d);
    bool alive = false;
    struct dirent *e;
    while (!alive && (e = readdir(d))) {
        char path[300], buf[1024];
        snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[n] = '\0';
        /* pid (comm) state ppid pgrp ...: comm may hold spaces and parentheses, so read after the last ')'. */
        char *close = strrchr(buf, ')'), state;
        int ppid, pgrp;
        if (close && sscanf(close + 1, " %c %d %d", &state, &ppid, &pgrp) == 3 && pgrp == pgid && state != 'Z')
            alive = true;
    }
    closedir(d);
    return alive;
}

Test(slurm_command, the_timeout_kills_the_whole_group)
{
    outcome_t o;
    char *argv[] = {"sh", "-c", "echo $$; sleep 30 & sleep 30", NULL};
    int64_t t0 = mt_clock_ms();
    run(argv, env_path, 300, 0, &o);
    int64_t spent = mt_clock_ms() - t0;
    cr_assert(o.r.started);
    cr_assert(o.r.timed_out);
    cr_assert_not(o.r.exited);
    cr_assert_eq(o.r.term_signal, SIGKILL);
    cr_assert(spent >= 300 && spent < 3000, "%lld ms", (long long)spent);
    pid_t pgid = atoi(o.out);
    cr_assert_gt(pgid, 1, "%s", o.out);
    /* The background sleep, reparented, dies of the same SIGKILL. */
    for (int i = 0; i < 100 && group_alive(pgid); i++)
        usleep(10000);
    cr_assert_not(group_alive(pgid), "something of the group survived the timeout");
}

Test(slurm_command, a_pipe_held_by_a_leftover_process_ends_at_the_timeout)
{
    outcome_t o;
    /* The subshell's sleep keeps stdout open after sh exits. */
    char *argv[] = {"sh", "-c", "echo $$; (exec sleep 30) & exit 0", NULL};
    int64_t t0 = mt_clock_ms();
    run(argv, env_path, 400, 0, &o);
    int64_t spent = mt_clock_ms() - t0;
    cr_assert(o.r.exited);
    cr_assert_eq(o.r.exit_status, 0);
    cr_assert_not(o.r.timed_out);
    cr_assert(spent >= 400 && spent < 3000, "%lld ms", (long long)spent);
    pid_t pgid = atoi(o.out);
    cr_assert_gt(pgid, 1);
    /* Not ours to kill (its group may be gone); the test cleans up. */
    kill(-pgid, SIGKILL);
}

Test(slurm_command, output_past_the_cap_is_dropped_without_blocking)
{
    outcome_t o;
    char *argv[] = {"sh", "-c", "head -c 3000000 /dev/zero | tr '\\0' x; head -c 100000 /dev/zero | tr '\\0' y >&2",
                    NULL};
    run(argv, env_path, 10000, 1000, &o);
    cr_assert(o.r.exited);
    cr_assert_eq(o.r.exit_status, 0);
    cr_assert_eq(o.out_len, 1000);
    cr_assert_eq(strspn(o.out, "x"), 1000);
    cr_assert_eq(o.r.err_len, 1000);
    /* The default cap (1 MiB) keeps what squeue prints for thousands of jobs. */
    char *argv2[] = {"sh", "-c", "head -c 60000 /dev/zero | tr '\\0' z", NULL};
    run(argv2, env_path, 10000, 0, &o);
    cr_assert_eq(o.out_len, 60000);
}

Test(slurm_command, the_callback_may_stop_the_loop)
{
    outcome_t o;
    memset(&o, 0, sizeof o);
    o.stop_loop = true;
    char *argv[] = {"true", NULL};
    cr_assert_eq(mt_slurm_cmd_run(&loop, argv, env_path, 5000, 0, on_done, &o, err, sizeof err), 0, "%s", err);
    cr_assert_eq(mt_slurm_cmd_running(), 1);
    uv_run(&loop, UV_RUN_DEFAULT);
    cr_assert_eq(o.calls, 1);
    cr_assert_eq(mt_slurm_cmd_running(), 0);
    cr_assert_eq(uv_run(&loop, UV_RUN_NOWAIT), 0, "handles still active after the callback");
}

Test(slurm_command, many_at_once_each_reported_once)
{
    enum { N = 40 };
    static outcome_t o[N];
    char *argv[] = {"sh", "-c", "sleep 0.0$(($$ % 9)); echo $$", NULL};
    for (int i = 0; i < N; i++) {
        memset(&o[i], 0, sizeof o[i]);
        cr_assert_eq(mt_slurm_cmd_run(&loop, argv, env_path, 10000, 0, on_done, &o[i], err, sizeof err), 0);
    }
    cr_assert_eq(mt_slurm_cmd_running(), N);
    uv_run(&loop, UV_RUN_DEFAULT);
    for (int i = 0; i < N; i++) {
        cr_assert_eq(o[i].calls, 1);
        cr_assert_eq(o[i].r.exit_status, 0);
        cr_assert_gt(atoi(o[i].out), 1);
    }
}

/* The local runner's job, started on the same loop meanwhile. */
static void on_local_done(mt_run_t *run, const mt_run_result_t *r, void *data)
{
    *(int *)data = r->exited ? r->exit_code : -1;
}

Test(slurm_command, beside_a_local_runner_job_on_the_same_loop)
{
    use_built_waiter();
    char dir[] = "/tmp/mt-slurm-cmd-local-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char *largv[] = {"/bin/sh", "-c", "sleep 0.3; exit 7", NULL};
    mt_run_spec_t spec = {.argv = largv, .working_dir = dir, .stdout_path = "out", .stderr_path = "err",
                          .kill_grace_ms = 1000};
    int local_code = -2;
    mt_run_t *lr;
    cr_assert_eq(mt_run_start(&loop, &spec, on_local_done, &local_code, &lr, err, sizeof err), 0, "%s", err);
    enum { N = 10 };
    static outcome_t o[N];
    char *argv[] = {"sh", "-c", "sleep 0.05; exit 5", NULL};
    for (int i = 0; i < N; i++) {
        memset(&o[i], 0, sizeof o[i]);
        cr_assert_eq(mt_slurm_cmd_run(&loop, argv, env_path, 10000, 0, on_done, &o[i], err, sizeof err), 0);
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    cr_assert_eq(local_code, 7, "the local job's status was lost");
    for (int i = 0; i < N; i++) {
        cr_assert_eq(o[i].calls, 1);
        cr_assert_eq(o[i].r.exit_status, 5);
    }
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

Test(slurm_command, a_start_holds_the_loop_briefly)
{
    /* What mt_slurm_cmd_run takes on the loop's thread: the PATH search, two pipes, a queue insert -- no exec. */
    enum { N = 200 };
    static outcome_t o[N];
    int64_t us[N];
    char *argv[] = {"true", NULL};
    for (int i = 0; i < N; i++) {
        memset(&o[i], 0, sizeof o[i]);
        int64_t t0 = mt_clock_us();
        cr_assert_eq(mt_slurm_cmd_run(&loop, argv, env_path, 10000, 0, on_done, &o[i], err, sizeof err), 0);
        us[i] = mt_clock_us() - t0;
        if (i % 20 == 19)
            uv_run(&loop, UV_RUN_DEFAULT);
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    qsort(us, N, sizeof us[0], cmp_i64);
    fprintf(stderr, "mt_slurm_cmd_run on the loop: p50 %lld us, p99 %lld us, max %lld us\n", (long long)us[N / 2],
            (long long)us[N * 99 / 100], (long long)us[N - 1]);
    cr_assert_lt(us[N / 2], 1000, "a start held the loop for %lld us (median)", (long long)us[N / 2]);
}
