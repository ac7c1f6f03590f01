/*
 * Unit tests for runner_local.c with a real libuv loop and real commands in
 * a temporary directory: exit status and signals, output files, arguments
 * passed verbatim, the walltime, cancellation (including what a command put
 * in the background), spawn errors, the environment, the working directory,
 * a job destination's env lines, local_slots and walltime limit, and
 * stopping the orphans of a previous handler.
 *
 * Timing: bounds are generous (a loaded 2-core machine) and only ever say
 * "well before the command would have ended on its own". A process counts
 * as gone once it is a zombie: this container's PID 1 may never reap the
 * orphans it inherits.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <pwd.h>
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

#include "app/run/runner_local.h"
#include "built_waiter.h"

#define GENEROUS_S 5.0 /* "promptly", on a loaded machine; the commands would run 10 s or more */

static char dir[64];
static char err[512];

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static void setup(void)
{
    use_built_waiter();
    umask(022);
    snprintf(dir, sizeof dir, "/tmp/mt_runner.XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    err[0] = '\0';
}

static void teardown(void)
{
    nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(runner_local, .init = setup, .fini = teardown, .timeout = 60);

/* ------------------------------------------------------------------ */
/* Helpers                                                             */
/* ------------------------------------------------------------------ */

static const char *in_dir(const char *name)
{
    static char bufs[4][256];
    static int next;
    char *p = bufs[next++ % 4];
    snprintf(p, sizeof bufs[0], "%s/%s", dir, name);
    return p;
}

/* The whole file as a string ("" if it does not exist). Caller frees. */
static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return strdup("");
    char *buf = NULL;
    size_t cap = 0, len = 0;
    for (;;) {
        if (len + 4096 + 1 > cap) {
            cap = cap * 2 + 4096 + 1;
            buf = realloc(buf, cap);
        }
        size_t n = fread(buf + len, 1, cap - len - 1, f);
        if (n == 0)
            break;
        len += n;
    }
    fclose(f);
    buf[len] = '\0';
    return buf;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Gone: no such process, or a zombie waiting for a parent that may never reap it. */
static bool process_gone(pid_t pid)
{
    if (kill(pid, 0) < 0 && errno == ESRCH)
        return true;
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return true;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *rparen = strrchr(buf, ')');
    return rparen && (rparen[2] == 'Z' || rparen[2] == 'X');
}

static bool wait_gone(pid_t pid, double seconds)
{
    double deadline = now_s() + seconds;
    while (!process_gone(pid)) {
        if (now_s() > deadline)
            return false;
        sleep_ms(10);
    }
    return true;
}

/* Wait until the file holds a full line; return the number on it. */
static pid_t wait_pid_file(const char *path, double seconds)
{
    double deadline = now_s() + seconds;
    for (;;) {
        char *s = slurp(path);
        pid_t pid = strchr(s, '\n') ? (pid_t)atoi(s) : 0;
        free(s);
        if (pid > 0 || now_s() > deadline)
            return pid;
        sleep_ms(10);
    }
}

typedef struct {
    int calls;
    int pid_in_cb;
    mt_run_result_t result;
    mt_run_t *run;
    uv_timer_t timer;     /* optional: cancels the run */
    bool timer_used;
    const char *wait_for; /* if set, the timer cancels only once this file has a line */
    int cancels;          /* how many times the timer called mt_run_cancel */
} outcome_t;

static void on_done(mt_run_t *run, const mt_run_result_t *result, void *data)
{
    outcome_t *o = data;
    o->calls++;
    o->result = *result;
    o->pid_in_cb = mt_run_pid(run);
    mt_run_cancel(run); /* documented no-op once ended */
    if (o->timer_used && !uv_is_closing((uv_handle_t *)&o->timer))
        uv_close((uv_handle_t *)&o->timer, NULL);
}

static void cancel_tick(uv_timer_t *t)
{
    outcome_t *o = t->data;
    if (o->wait_for) {
        char *s = slurp(o->wait_for);
        bool ready = strchr(s, '\n') != NULL;
        free(s);
        if (!ready)
            return;
    }
    mt_run_cancel(o->run);
    mt_run_cancel(o->run); /* idempotent */
    o->cancels += 2;
    uv_close((uv_handle_t *)t, NULL);
}

typedef struct {
    const char *const *env;
    size_t env_count;
    const char *working_dir; /* default: dir */
    const char *stdout_path; /* default: dir/stdout */
    const char *stderr_path; /* default: dir/stderr */
    double walltime_s;
    unsigned grace_ms;       /* default 2000 */
    int cancel_after_ms;     /* > 0: a timer cancels the run (and keeps polling wait_for, if set) */
    const char *wait_for;
    bool cancel_at_once;     /* cancel right after mt_run_start, before the loop runs */
    const mt_creds_t *run_as;
    const mt_job_route_t *route;
} opts_t;

/* Run argv to the end on a fresh loop; returns mt_run_start's value. */
static int run_cmd(char *const argv[], const opts_t *opts, outcome_t *o)
{
    opts_t none = {0};
    if (!opts)
        opts = &none;
    memset(o, 0, sizeof *o);
    mt_run_spec_t spec = {
        .argv = argv,
        .env = opts->env,
        .env_count = opts->env_count,
        .working_dir = opts->working_dir ? opts->working_dir : dir,
        .stdout_path = opts->stdout_path ? opts->stdout_path : in_dir("stdout"),
        .stderr_path = opts->stderr_path ? opts->stderr_path : in_dir("stderr"),
        .walltime_s = opts->walltime_s,
        .kill_grace_ms = opts->grace_ms ? opts->grace_ms : 2000,
        .run_as = opts->run_as,
        .route = opts->route,
    };
    uv_loop_t loop;
    cr_assert_eq(uv_loop_init(&loop), 0);
    mt_run_t *run = NULL;
    int rc = mt_run_start(&loop, &spec, on_done, o, &run, err, sizeof err);
    if (rc == 0) {
        cr_assert_not_null(run);
        cr_assert_eq(mt_run_pid(run), 0, "the pid is known only once the spawner has answered");
        o->run = run;
        if (opts->cancel_at_once)
            mt_run_cancel(run);
        if (opts->cancel_after_ms > 0) {
            o->wait_for = opts->wait_for;
            o->timer_used = true;
            uv_timer_init(&loop, &o->timer);
            o->timer.data = o;
            uv_timer_start(&o->timer, cancel_tick, (uint64_t)opts->cancel_after_ms, 20);
        }
    } else {
        cr_assert_null(run);
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    cr_assert_eq(uv_loop_close(&loop), 0, "a handle was left open on the loop");
    cr_assert_eq(o->calls, rc == 0 ? 1 : 0, "done_cb called %d times", o->calls);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Exit status and output                                              */
/* ------------------------------------------------------------------ */

Test(runner_local, true_exits_zero)
{
    char *argv[] = {"/bin/true", NULL};
    outcome_t o;
    cr_assert_eq(run_cmd(argv, NULL, &o), 0, "%s", err);
    cr_assert(o.result.started);
    cr_assert(o.result.exited);
    cr_assert_eq(o.result.exit_code, 0);
    cr_assert_eq(o.result.term_signal, 0);
    cr_assert_not(o.result.cancelled);
    cr_assert_not(o.result.walltime_exceeded);
    cr_assert_str_eq(o.result.why, "");
    cr_assert_gt(o.pid_in_cb, 1);
}

Test(runner_local, exit_status_is_reported)
{
    char *argv[] = {"/bin/sh", "-c", "exit 3", NULL};
    outcome_t o;
    cr_assert_eq(run_cmd(argv, NULL, &o), 0, "%s", err);
    cr_assert(o.result.exited);
    cr_assert_eq(o.result.exit_code, 3);
    cr_assert_eq(o.result.term_signal, 0);
    cr_assert_str_eq(o.result.why, "exited with status 3");
}

Test(runner_local, death_by_signal_is_reported)
{
    char *argv[] = {"/bin/sh", "-c", "kill -9 $$", NULL};
    outcome_t o;
    cr_assert_eq(run_cmd(argv, NULL, &o), 0, "%s", err);
    cr_assert_not(o.result.exited);
    cr_assert_eq(o.result.term_signal, SIGKILL);
    cr_assert_str_eq(o.result.why, "killed by signal 9 (Killed)");
    cr_assert_not(o.result.cancelled);
}

Test(runner_local, stdout_is_captured_in_a_0644_file)
{
    char *argv[] = {"/bin/echo", "hello", NULL};
    outcome_t o;
    cr_assert_eq(run_cmd(argv, NULL, &o), 0, "%s", err);
    char *out = slurp(in_dir("stdout"));
    cr_assert_str_eq(out, "hello\n");
    free(out);
    struct stat st;
    cr_assert_eq(stat(in_dir("stdout"), &st), 0);
    cr_assert_eq(st.st_mode & 07777, 0644, "mode %o", st.st_mode & 07777);
    char *errs = slurp(in_dir("stderr"));
    cr_assert_str_eq(errs, "");
    free(errs);
}

Test(runner_local, stdout_and_stderr_go_to_their_files_and_are_truncated)
{
    FILE *f = fopen(in_dir("stdout"), "w");
    fputs("old output, much longer than the new one\n", f);
    fclose(f);
    char *argv[] = {"/bin/sh", "-c", "echo out; echo err >&2", NULL};
    outcome_t o;
    cr_assert_eq(run_cmd(argv, NULL, &o), 0, "%s", err);
    char *out = slurp(in_dir("stdout"));
    char *errs = slurp(in_dir("stderr"));
    cr_assert_str_eq(out, "out\n");
    cr_assert_str_eq(errs, "err\n");
    free(out);
    free(errs);
}

Test(runner_local, one_path_for_both_streams_keeps_both)
{
    char *argv[] = {"/bin/sh", "-c", "echo out; echo err >&2; echo out2", NULL};
    opts_t opts = {.stdout_path = in_dir("log"), .stderr_path = in_dir("log")};
    outcome_t o;
    cr_assert_eq(run_cmd(argv, &opts, &o), 0, "%s", err);
    char *log = slurp(in_dir("log"));
    cr_assert_str_eq(log, "out\nerr\nout2\n");
    free(log);
}

Test(runner_local, relative_output_paths_are_in_the_working_directory)
{
    char *argv[] = {"/bin/echo", "here", NULL};
    opts_t opts = {.stdout_path = "out.txt", .stderr_path = "err.txt"};
    outcome_t o;
    cr_assert_eq(run_cmd(argv, &opts, &o), 0, "%s", err);
    char *out = slurp(in_dir("out.txt"));
    cr_assert_str_eq(out, "here\n");
    free(out);
}

Test(runner_local, stdin_is_dev_null)
{
    char *argv[] = {"/bin/cat", NULL};
    outcome_t o;
    cr_assert_eq(run_cmd(argv, NULL, &o), 0, "%s", err);
    cr_assert(o.result.exited);
    cr_assert_eq(o.result.exit_code, 0);
    char *out = slurp(in_dir("stdout"));
    cr_assert_str_eq(out, "");
    free(out);
}

Test(runner_local, hostile_arguments_are_passed_verbatim)
{
    char *argv[] = {"/bin/echo", "; rm -rf /tmp/x", "$(id)", "`id`", "*", "a\nb", "'\"", NULL};
    outcome_t o;
    cr_assert_eq(run_cmd(argv, NULL, &o), 0, "%s", err);
    char *out = slurp(in_dir("stdout"));
    cr_assert_str_eq(out, "; rm -rf /tmp/x $(id) `id` * a\nb '\"\n");
    free(out);
}

/* ------------------------------------------------------------------ */
/* Walltime and cancellation                                           */
/* ------------------------------------------------------------------ */

Test(runner_local, walltime_stops_the_command)
{
    char *argv[] = {"/bin/sleep", "10", NULL};
    opts_t opts = {.walltime_s = 0.3};
    outcome_t o;
    double t0 = now_s();
    cr_assert_eq(run_cmd(argv, &opts, &o), 0, "%s", err);
    double elapsed = now_s() - t0;
    cr_assert(o.result.walltime_exceeded);
    cr_assert_not(o.result.exited);
    cr_assert_eq(o.result.term_signal, SIGTERM);
    cr_assert_not(o.result.cancelled);
    cr_assert_str_eq(o.result.why, "walltime of 0.3 s exceeded");
    cr_assert_geq(elapsed, 0.25, "ended after %.3f s, before its walltime", elapsed);
    cr_assert_lt(elapsed, GENEROUS_S, "took %.3f s", elapsed);
}

Test(runner_local, walltime_escalates_to_sigkill_after_the_grace)
{
    char *argv[] = {"/bin/sh", "-c", "trap '' TERM; /bin/sleep 10", NULL};
    opts_t opts = {.walltime_s = 0.2, .grace_ms = 200};
    outcome_t o;
    double t0 = now_s();
    cr_assert_eq(run_cmd(argv, &opts, &o), 0, "%s", err);
    double elapsed = now_s() - t0;
    cr_assert(o.result.walltime_exceeded);
    cr_assert_eq(o.result.term_signal, SIGKILL);
    cr_assert_str_eq(o.result.why, "walltime of 0.2 s exceeded");
    cr_assert_lt(elapsed, GENEROUS_S, "took %.3f s", elapsed);
}

Test(runner_local, a_command_within_its_walltime_is_untouched)
{
    char *argv[] = {"/bin/sh", "-c", "exit 0", NULL};
    opts_t opts = {.walltime_s = 30};
    outcome_t o;
    cr_assert_eq(run_cmd(argv, &opts, &o), 0, "%s", err);
    cr_assert(o.result.exited);
    cr_assert_not(o.result.walltime_exceeded);
    cr_assert_str_eq(o.result.why, "");
}

Test(runner_local, cancel_stops_the_command)
{
    char *argv[] = {"/bin/sleep", "10", NULL};
    opts_t opts = {.cancel_after_ms = 100};
    outcome_t o;
    double t0 = now_s();
    cr_assert_eq(run_cmd(argv, &opts, &o), 0, "%s", err);
    double elapsed = now_s() - t0;
    cr_assert_eq(o.cancels, 2);
    cr_assert(o.result.cancelled);
    cr_assert_not(o.result.walltime_exceeded);
    cr_assert_not(o.result.exited);
    cr_assert_eq(o.result.term_signal, SIGTERM);
    cr_assert_str_eq(o.result.why, "cancelled");
    cr_assert_lt(elapsed, GENEROUS_S, "took %.3f s", elapsed);
    cr_assert(wait_gone(o.pid_in_cb, GENEROUS_S));
}

Test(runner_local, cancel_right_after_start_stops_the_command)
{
    /* Cancelled before the loop ever ran, while the spawner may still be in its vfork: carried out once it runs. */
    char *argv[] = {"/bin/sleep", "10", NULL};
    opts_t opts = {.cancel_at_once = true};
    outcome_t o;
    double t0 = now_s();
    cr_assert_eq(run_cmd(argv, &opts, &o), 0, "%s", err);
    cr_assert(o.result.cancelled);
    cr_assert_str_eq(o.result.why, "cancelled");
    cr_assert_eq(o.result.term_signal, SIGTERM);
    cr_assert_lt(now_s() - t0, GENEROUS_S);
    cr_assert(wait_gone(o.pid_in_cb, GENEROUS_S));
}

Test(runner_local, cancel_escalates_to_sigkill_after_the_grace)
{
    char *argv[] = {"/bin/sh", "-c", "trap '' TERM; echo ready > ready; /bin/sleep 10", NULL};
    opts_t opts = {.cancel_after_ms = 20, .wait_for = in_dir("ready"), .grace_ms = 200};
    outcome_t o;
    double t0 = now_s();
    cr_assert_eq(run_cmd(argv, &opts, &o), 0, "%s", err);
    double elapsed = now_s() - t0;
    cr_assert(o.result.cancelled);
    cr_assert_eq(o.result.term_signal, SIGKILL);
    cr_assert_str_eq(o.result.why, "cancelled");
    cr_assert_lt(elapsed, GENEROUS_S, "took %.3f s", elapsed);
}

Test(runner_local, cancel_reaches_a_background_child)
{
    char *argv[] = {"/bin/sh", "-c", "/bin/sleep 100 & echo $! > bg.pid; /bin/sleep 100", NULL};
    opts_t opts = {.cancel_after_ms = 20, .wait_for = in_dir("bg.pid")};
    outcome_t o;
    double t0 = now_s();
    cr_assert_eq(run_cmd(argv, &opts, &o), 0, "%s", err);
    cr_assert(o.result.cancelled);
    cr_assert_lt(now_s() - t0, GENEROUS_S);
    pid_t bg = wait_pid_file(in_dir("bg.pid"), 1);
    cr_assert_gt(bg, 1);
    pid_t bg_group = getpgid(bg);
    cr_assert(bg_group < 0 || bg_group == o.pid_in_cb, "the background child was not in the command's group");
    cr_assert(wait_gone(bg, GENEROUS_S), "background child %d still running", (int)bg);
    cr_assert(wait_gone(o.pid_in_cb, GENEROUS_S));
}

Test(runner_local, what_an_exited_command_left_in_its_group_is_killed)
{
    /* The leftover even ignores SIGTERM: only the runner's SIGKILL can end it. */
    char *argv[] = {"/bin/sh", "-c", "(trap '' TERM; exec /bin/sleep 100) & echo $! > bg.pid; exit 0", NULL};
    outcome_t o;
    cr_assert_eq(run_cmd(argv, NULL, &o), 0, "%s", err);
    cr_assert(o.result.exited);
    cr_assert_eq(o.result.exit_code, 0);
    cr_assert_not(o.result.cancelled);
    pid_t bg = wait_pid_file(in_dir("bg.pid"), 1);
    cr_assert_gt(bg, 1);
    cr_assert(wait_gone(bg, GENEROUS_S), "background child %d outlived the command", (int)bg);
}

/* ------------------------------------------------------------------ */
/* Errors at start                                                     */
/* ------------------------------------------------------------------ */

Test(runner_local, a_missing_program_is_enoent_with_a_clear_message)
{
    char *argv[] = {"/nonexistent/mt-no-such-program", "x", NULL};
    outcome_t o;
    cr_assert_eq(run_cmd(argv, NULL, &o), -ENOENT);
    cr_assert_str_eq(err, "cannot start /nonexistent/mt-no-such-program: No such file or directory");
}

Test(runner_local, a_program_without_exec_permission_is_eacces)
{
    FILE *f = fopen(in_dir("script"), "w");
    fputs("#!/bin/sh\nexit 0\n", f);
    fclose(f);
    chmod(in_dir("script"), 0644);
    char *argv[] = {(char *)in_dir("script"), NULL};
    outcome_t o;
    /* Even root needs an x bit somewhere to execute a file. */
    cr_assert_eq(run_cmd(argv, NULL, &o), -EACCES);
    cr_assert(strstr(err, "cannot start ") == err, "%s", err);
    cr_assert(strstr(err, ": Permission denied"), "%s", err);
}

Test(runner_local, an_exec_that_fails_after_the_start_is_reported_through_done_cb)
{
    /* Executable, but no format exec knows (no ELF header, no #!): only exec itself can tell. */
    FILE *f = fopen(in_dir("garbage"), "w");
    fputs("\x01\x02 not a program\n", f);
    fclose(f);
    chmod(in_dir("garbage"), 0755);
    char *argv[] = {(char *)in_dir("garbage"), NULL};
    outcome_t o;
    cr_assert_eq(run_cmd(argv, NULL, &o), 0, "%s", err);
    cr_assert_not(o.result.started, "nothing ran");
    cr_assert_not(o.result.exited);
    cr_assert_eq(o.pid_in_cb, 0, "no pid: no process");
    cr_assert(strstr(o.result.why, "cannot start ") == o.result.why, "%s", o.result.why);
    cr_assert(strstr(o.result.why, strerror(ENOEXEC)), "%s", o.result.why);
}

Test(runner_local, a_relative_program_is_refused)
{
    char *argv[] = {"echo", "hi", NULL};
    outcome_t o;
    cr_assert_eq(run_cmd(argv, NULL, &o), -EINVAL);
    cr_assert(strstr(err, "absolute path"), "%s", err);
}

Test(runner_local, a_malformed_environment_entry_is_refused)
{
    const char *env[] = {"NOEQUALS"};
    char *argv[] = {"/bin/true", NULL};
    opts_t opts = {.env = env, .env_count = 1};
    outcome_t o;
    cr_assert_eq(run_cmd(argv, &opts, &o), -EINVAL);
    cr_assert(strstr(err, "NOEQUALS"), "%s", err);
}

Test(runner_local, a_missing_working_directory_is_reported)
{
    char *argv[] = {"/bin/true", NULL};
    opts_t opts = {.working_dir = in_dir("nope"), .stdout_path = in_dir("stdout"), .stderr_path = in_dir("stderr")};
    outcome_t o;
    cr_assert_eq(run_cmd(argv, &opts, &o), -ENOENT);
    cr_assert(strstr(err, "working directory"), "%s", err);
}

Test(runner_local, an_unwritable_output_file_is_reported)
{
    char *argv[] = {"/bin/true", NULL};
    opts_t opts = {.stdout_path = in_dir("no/such/dir/stdout")};
    outcome_t o;
    cr_assert_eq(run_cmd(argv, &opts, &o), -ENOENT);
    cr_assert(strstr(err, "cannot open stdout file"), "%s", err);
}

/* ------------------------------------------------------------------ */
/* Environment and working directory                                   */
/* ------------------------------------------------------------------ */

Test(runner_local, environment_is_only_the_minimal_one_plus_the_given)
{
    cr_assert_eq(setenv("MT_RUNNER_TEST_SENTINEL", "leaked", 1), 0);
    cr_assert_eq(setenv("HOME", "/leaked/home", 1), 0);
    const char *env[] = {"FOO=bar baz", "EMPTY="};
    char *argv[] = {"/usr/bin/env", NULL};
    opts_t opts = {.env = env, .env_count = 2};
    outcome_t o;
    cr_assert_eq(run_cmd(argv, &opts, &o), 0, "%s", err);
    cr_assert_eq(o.result.exit_code, 0);
    char *out = slurp(in_dir("stdout"));
    cr_assert_null(strstr(out, "MT_RUNNER_TEST_SENTINEL"), "%s", out);
    cr_assert_null(strstr(out, "HOME="), "%s", out);
    char job_dir[128];
    snprintf(job_dir, sizeof job_dir, "MULETEER_JOB_DIR=%s", dir);
    const char *expected[] = {"PATH=/usr/local/bin:/usr/bin:/bin", "LC_ALL=C.UTF-8", "FOO=bar baz", "EMPTY=",
                              job_dir};
    int lines = 0;
    for (char *save = NULL, *line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        bool known = false;
        for (size_t i = 0; i < sizeof expected / sizeof expected[0]; i++)
            known = known || strcmp(line, expected[i]) == 0;
        cr_assert(known, "unexpected variable in the command's environment: %s", line);
        lines++;
    }
    cr_assert_eq(lines, 5);
    free(out);
}

Test(runner_local, a_tool_cannot_replace_the_job_dir_variable)
{
    const char *env[] = {"MULETEER_JOB_DIR=/elsewhere"};
    char *argv[] = {"/usr/bin/env", NULL};
    opts_t opts = {.env = env, .env_count = 1};
    outcome_t o;
    cr_assert_eq(run_cmd(argv, &opts, &o), 0, "%s", err);
    char *out = slurp(in_dir("stdout"));
    char want[128];
    snprintf(want, sizeof want, "MULETEER_JOB_DIR=%s\n", dir);
    cr_assert_not_null(strstr(out, want), "%s", out);
    cr_assert_null(strstr(out, "/elsewhere"), "%s", out);
    free(out);
}

Test(runner_local, find_session_finds_a_command_by_its_working_directory)
{
    char job7[128], job77[128];
    snprintf(job7, sizeof job7, "%s/job7", dir);
    snprintf(job77, sizeof job77, "%s/job77", dir);
    cr_assert_eq(mkdir(job7, 0755), 0);
    /* A background child in the session, and the leader waiting a little (its waiter kills the group once it exits). */
    char *argv[] = {"/bin/sh", "-c", "sleep 100 & sleep 2", NULL};
    mt_run_spec_t spec = {.argv = argv, .working_dir = job7, .stdout_path = "stdout", .stderr_path = "stderr",
                          .kill_grace_ms = 1000};
    uv_loop_t loop;
    cr_assert_eq(uv_loop_init(&loop), 0);
    outcome_t o = {0};
    mt_run_t *run = NULL;
    cr_assert_eq(mt_run_start(&loop, &spec, on_done, &o, &run, err, sizeof err), 0, "%s", err);
    int leader = mt_run_wait_pid(run);
    cr_assert_gt(leader, 1);
    /* The leader may be exiting while its child execs: for an instant neither shows its environment. */
    double found_by = now_s() + GENEROUS_S;
    int found;
    while ((found = mt_run_find_session(job7)) != leader && now_s() < found_by)
        sleep_ms(10);
    cr_assert_eq(found, leader); /* asking again could fall into that instant */
    cr_assert_eq(mt_run_find_session(job77), 0, "a longer name is another directory");
    cr_assert_eq(mt_run_find_session(dir), 0, "a parent directory is another directory");
    uv_run(&loop, UV_RUN_DEFAULT); /* the leader exits; its waiter kills what it left in its group */
    cr_assert_eq(uv_loop_close(&loop), 0);
    double deadline = now_s() + GENEROUS_S;
    while (mt_run_find_session(job7) != 0 && now_s() < deadline)
        sleep_ms(10);
    cr_assert_eq(mt_run_find_session(job7), 0, "nothing of the job is left");
}

Test(runner_local, given_path_and_locale_replace_the_defaults)
{
    const char *env[] = {"PATH=/opt/tool/bin:/bin", "LC_ALL=C"};
    char *argv[] = {"/usr/bin/env", NULL};
    opts_t opts = {.env = env, .env_count = 2};
    outcome_t o;
    cr_assert_eq(run_cmd(argv, &opts, &o), 0, "%s", err);
    char *out = slurp(in_dir("stdout"));
    char want[256];
    snprintf(want, sizeof want, "PATH=/opt/tool/bin:/bin\nLC_ALL=C\nMULETEER_JOB_DIR=%s\n", dir);
    cr_assert_str_eq(out, want);
    free(out);
}

Test(runner_local, working_directory_is_honoured)
{
    cr_assert_eq(mkdir(in_dir("work"), 0755), 0);
    char *argv[] = {"/bin/pwd", NULL};
    opts_t opts = {.working_dir = in_dir("work"), .stdout_path = in_dir("stdout"), .stderr_path = in_dir("stderr")};
    outcome_t o;
    cr_assert_eq(run_cmd(argv, &opts, &o), 0, "%s", err);
    char real[PATH_MAX], expected[PATH_MAX + 2];
    cr_assert_not_null(realpath(in_dir("work"), real));
    snprintf(expected, sizeof expected, "%s\n", real);
    char *out = slurp(in_dir("stdout"));
    cr_assert_str_eq(out, expected);
    free(out);
}

Test(runner_local, the_command_leads_its_own_session)
{
    /* Field 6 of /proc/self/stat is the session id; $$ is the shell itself, the leader. */
    char *argv[] = {"/bin/sh", "-c", "echo $$ $(cut -d' ' -f5,6 /proc/$$/stat)", NULL};
    outcome_t o;
    cr_assert_eq(run_cmd(argv, NULL, &o), 0, "%s", err);
    char *out = slurp(in_dir("stdout"));
    int self = 0, pgrp = 0, sid = 0;
    cr_assert_eq(sscanf(out, "%d %d %d", &self, &pgrp, &sid), 3, "%s", out);
    cr_assert_eq(self, o.pid_in_cb);
    cr_assert_eq(pgrp, self);
    cr_assert_eq(sid, self);
    cr_assert_neq(sid, getsid(0));
    free(out);
}

Test(runner_local, an_output_file_that_is_a_link_is_not_followed)
{
    FILE *f = fopen(in_dir("victim"), "w");
    fputs("keep me\n", f);
    fclose(f);
    cr_assert_eq(symlink(in_dir("victim"), in_dir("stdout")), 0);
    char *argv[] = {"/bin/echo", "overwritten", NULL};
    outcome_t o;
    cr_assert_eq(run_cmd(argv, NULL, &o), -ELOOP);
    cr_assert(strstr(err, "cannot open stdout file"), "%s", err);
    char *victim = slurp(in_dir("victim"));
    cr_assert_str_eq(victim, "keep me\n");
    free(victim);
}

/* ------------------------------------------------------------------ */
/* As another user (root only)                                         */
/* ------------------------------------------------------------------ */

static mt_creds_t nobody;

/* Resolve nobody and give it the working directory, or skip. */
static void as_nobody(void)
{
    if (geteuid() != 0)
        cr_skip_test("switching users needs root");
    if (!getpwnam("nobody") || !getgrnam("nogroup"))
        cr_skip_test("no user nobody / group nogroup here");
    cr_assert_eq(mt_creds_resolve("nobody", "job-user", NULL, "job-group", &nobody, err, sizeof err), 0, "%s", err);
    cr_assert_eq(chown(dir, nobody.uid, nobody.gid), 0);
}

Test(runner_local, as_a_job_user_the_command_has_its_ids_and_a_clean_start)
{
    as_nobody();
    /* As in a handler: SIGPIPE ignored and a signal blocked; the command must start with neither. */
    signal(SIGPIPE, SIG_IGN);
    sigset_t blocked, old;
    sigemptyset(&blocked);
    sigaddset(&blocked, SIGUSR2);
    sigprocmask(SIG_BLOCK, &blocked, &old);
    /*
     * The masks are read by the last command exec'd in the shell's place:
     * the shell itself blocks every signal while it waits for a child, so
     * its own /proc status, read by one, shows that at times (a flaky test).
     */
    char *argv[] = {"/bin/sh", "-c",
                    "id -u; id -g; id -G; echo $$ $(cut -d' ' -f6 /proc/$$/stat); pwd; touch made-by-the-job; "
                    "exec grep -E '^(SigIgn|SigBlk|CapEff)' /proc/self/status",
                    NULL};
    opts_t opts = {.run_as = &nobody};
    outcome_t o;
    cr_assert_eq(run_cmd(argv, &opts, &o), 0, "%s", err);
    sigprocmask(SIG_SETMASK, &old, NULL);
    signal(SIGPIPE, SIG_DFL);
    cr_assert_eq(o.result.exit_code, 0, "%s", o.result.why);
    char *out = slurp(in_dir("stdout"));
    unsigned uid, gid, groups;
    int self, sid;
    unsigned long long blocked_mask, ignored_mask, caps;
    char cwd[256];
    cr_assert_eq(sscanf(out, "%u %u %u %d %d %255s SigBlk: %llx SigIgn: %llx CapEff: %llx", &uid, &gid, &groups,
                        &self, &sid, cwd, &blocked_mask, &ignored_mask, &caps),
                 9, "%s", out);
    cr_assert_eq(uid, (unsigned)nobody.uid);
    cr_assert_eq(gid, (unsigned)nobody.gid);
    cr_assert_eq(groups, (unsigned)nobody.gid, "%s", out); /* one group: none of root's */
    cr_assert_eq(self, o.pid_in_cb, "the command ran as pid %d, the run reported %d: %s", self, o.pid_in_cb, out);
    cr_assert_eq(sid, self, "%s", out);
    cr_assert_eq(blocked_mask, 0, "%s", out);
    /* What the handler ignores is not passed on (what this test was started with may be: not ours to judge). */
    cr_assert_eq(ignored_mask & (1ULL << (SIGPIPE - 1)), 0, "%s", out);
    cr_assert_eq(caps, 0, "%s", out);
    cr_assert_str_eq(cwd, dir);
    free(out);
    static const char *const owned[] = {"stdout", "stderr", "made-by-the-job"};
    for (size_t i = 0; i < 3; i++) {
        struct stat st;
        cr_assert_eq(stat(in_dir(owned[i]), &st), 0);
        cr_assert_eq(st.st_uid, nobody.uid, "%s", owned[i]);
        cr_assert_eq(st.st_gid, nobody.gid, "%s", owned[i]);
    }
}

Test(runner_local, as_a_job_user_cancel_still_stops_the_command)
{
    as_nobody();
    char *argv[] = {"/bin/sh", "-c", "sleep 30 & sleep 30", NULL};
    opts_t opts = {.run_as = &nobody, .cancel_after_ms = 200, .grace_ms = 500};
    outcome_t o;
    double t0 = now_s();
    cr_assert_eq(run_cmd(argv, &opts, &o), 0, "%s", err);
    cr_assert(o.result.cancelled);
    cr_assert_str_eq(o.result.why, "cancelled");
    cr_assert_lt(now_s() - t0, GENEROUS_S);
}

Test(runner_local, as_a_job_user_an_exec_it_may_not_do_is_reported)
{
    as_nobody();
    FILE *f = fopen(in_dir("root-only"), "w");
    fputs("#!/bin/sh\nexit 0\n", f);
    fclose(f);
    chmod(in_dir("root-only"), 0700);
    char *argv[] = {(char *)in_dir("root-only"), NULL};
    opts_t opts = {.run_as = &nobody};
    outcome_t o;
    cr_assert_eq(run_cmd(argv, &opts, &o), -EACCES);
    char expected[512];
    snprintf(expected, sizeof expected, "cannot start %s as user nobody: exec: Permission denied", in_dir("root-only"));
    cr_assert_str_eq(err, expected);
}

Test(runner_local, as_a_job_user_a_directory_it_cannot_enter_is_reported)
{
    as_nobody();
    cr_assert_eq(mkdir(in_dir("closed"), 0700), 0); /* root's */
    char *argv[] = {"/bin/true", NULL};
    opts_t opts = {.run_as = &nobody, .working_dir = in_dir("closed")};
    outcome_t o;
    cr_assert_eq(run_cmd(argv, &opts, &o), -EACCES);
    char expected[512];
    snprintf(expected, sizeof expected, "cannot start /bin/true as user nobody: chdir %s: Permission denied",
             in_dir("closed"));
    cr_assert_str_eq(err, expected);
}

/* ------------------------------------------------------------------ */
/* Orphans                                                             */
/* ------------------------------------------------------------------ */

/*
 * Start argv in its own session as an orphan, as a previous handler's job
 * would be after the handler died: an intermediate child forks it and exits.
 */
static pid_t spawn_orphan(char *const argv[])
{
    int p[2];
    cr_assert_eq(pipe(p), 0);
    pid_t middle = fork();
    cr_assert_geq(middle, 0);
    if (middle == 0) {
        close(p[0]);
        pid_t job = fork();
        if (job == 0) {
            close(p[1]);
            setsid();
            int null = open("/dev/null", O_RDWR);
            dup2(null, 0);
            dup2(null, 1);
            dup2(null, 2);
            if (chdir(dir) < 0)
                _exit(126);
            execv(argv[0], argv);
            _exit(127);
        }
        ssize_t n = write(p[1], &job, sizeof job);
        _exit(n == sizeof job ? 0 : 1);
    }
    close(p[1]);
    pid_t job = 0;
    cr_assert_eq(read(p[0], &job, sizeof job), (ssize_t)sizeof job);
    close(p[0]);
    cr_assert_eq(waitpid(middle, NULL, 0), middle);
    double deadline = now_s() + GENEROUS_S;
    while (getsid(job) != job && now_s() < deadline)
        sleep_ms(5);
    cr_assert_eq(getsid(job), job, "the orphan did not become a session leader");
    return job;
}

Test(runner_local, stop_orphan_terminates_a_detached_process)
{
    char *argv[] = {"/bin/sleep", "100", NULL};
    pid_t pid = spawn_orphan(argv);
    double t0 = now_s();
    cr_assert(mt_run_stop_orphan(pid, 5000));
    cr_assert_lt(now_s() - t0, GENEROUS_S, "SIGTERM should have been enough");
    cr_assert(process_gone(pid));
    cr_assert_not(mt_run_stop_orphan(pid, 100), "nothing is left to stop");
}

Test(runner_local, stop_orphan_kills_what_ignores_sigterm)
{
    char *argv[] = {"/bin/sh", "-c", "trap '' TERM; echo ready > orphan.ready; exec /bin/sleep 100", NULL};
    pid_t pid = spawn_orphan(argv);
    char *ready = NULL;
    for (double deadline = now_s() + GENEROUS_S; now_s() < deadline; sleep_ms(10)) {
        free(ready);
        ready = slurp(in_dir("orphan.ready"));
        if (strcmp(ready, "ready\n") == 0)
            break;
    }
    cr_assert_str_eq(ready, "ready\n");
    free(ready);
    double t0 = now_s();
    cr_assert(mt_run_stop_orphan(pid, 200));
    double elapsed = now_s() - t0;
    cr_assert_geq(elapsed, 0.15, "returned after %.3f s, before the grace", elapsed);
    cr_assert(process_gone(pid));
}

Test(runner_local, stop_orphan_reaches_a_group_whose_leader_is_gone)
{
    char *argv[] = {"/bin/sh", "-c", "/bin/sleep 100 & echo $! > bg.pid; exit 0", NULL};
    pid_t leader = spawn_orphan(argv);
    pid_t bg = wait_pid_file(in_dir("bg.pid"), GENEROUS_S);
    cr_assert_gt(bg, 1);
    cr_assert(wait_gone(leader, GENEROUS_S));
    cr_assert_not(process_gone(bg));
    cr_assert(mt_run_stop_orphan(leader, 5000));
    cr_assert(wait_gone(bg, GENEROUS_S));
}

Test(runner_local, stop_orphan_leaves_a_group_that_is_not_a_session_alone)
{
    pid_t child = fork();
    cr_assert_geq(child, 0);
    if (child == 0) {
        setpgid(0, 0);
        pause();
        _exit(0);
    }
    setpgid(child, child); /* either side may win the race; both ask for the same */
    cr_assert_eq(getpgid(child), child);
    cr_assert_not(mt_run_stop_orphan(child, 100));
    cr_assert_eq(kill(child, 0), 0, "a stranger's group was signalled");
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
}

Test(runner_local, stop_orphan_of_nothing_is_false)
{
    pid_t child = fork();
    cr_assert_geq(child, 0);
    if (child == 0)
        _exit(0);
    cr_assert_eq(waitpid(child, NULL, 0), child);
    cr_assert_not(mt_run_stop_orphan(child, 100));
    cr_assert_not(mt_run_stop_orphan(0, 100));
    cr_assert_not(mt_run_stop_orphan(-5, 100));
}

/* ------------------------------------------------------------------ */
/* A job's destination (job_route.h)                                   */
/* ------------------------------------------------------------------ */

/* A configuration with one local destination `d` holding `inside` (params, env), and a walltime limit. */
static mt_job_conf_t *dest_conf(const char *inside, const char *walltime, mt_job_route_t *route)
{
    char text[2048];
    snprintf(text, sizeof text,
             "<job_conf><plugins><plugin id=\"local\" type=\"runner\" "
             "load=\"galaxy.jobs.runners.local:LocalJobRunner\"/></plugins>"
             "<destinations><destination id=\"d\" runner=\"local\">%s</destination></destinations>"
             "<limits>%s%s%s</limits></job_conf>",
             inside, walltime ? "<limit type=\"walltime\">" : "", walltime ? walltime : "",
             walltime ? "</limit>" : "");
    mt_job_conf_t *conf;
    cr_assert_eq(mt_job_conf_load_string("dest.xml", text, strlen(text), &conf, err, sizeof err), 0, "%s", err);
    cr_assert_eq(mt_job_route(conf, "any", route, err, sizeof err), 0, "%s", err);
    return conf;
}

Test(runner_local, a_destinations_env_lines_run_as_galaxy_writes_them)
{
    char site[300];
    snprintf(site, sizeof site, "%s/site.sh", dir);
    FILE *f = fopen(site, "w");
    cr_assert_not_null(f);
    fputs("SOURCED=yes\nexport SOURCED\n", f);
    fclose(f);
    char inside[1024];
    snprintf(inside, sizeof inside,
             "<param id=\"local_slots\">3</param>"
             "<env id=\"QUOTED\">a \"b\" $PATH</env>"
             "<env id=\"RAW\" raw=\"true\">'5'</env>"
             "<env file=\"%s\"/>"
             "<env exec=\"EXECUTED=$SOURCED; export EXECUTED\"/>",
             site);
    mt_job_route_t route;
    mt_job_conf_t *conf = dest_conf(inside, NULL, &route);
    const char *env[] = {"TOOL_VAR=1"};
    /* The command's own arguments are not the shell's business: passed verbatim. */
    char *argv[] = {"/bin/sh", "-c", "env; echo \"ARG=$0|$1\"; echo $$ > pid", "$(id)", "a b;c", NULL};
    opts_t opts = {.env = env, .env_count = 1, .route = &route};
    outcome_t o;
    cr_assert_eq(run_cmd(argv, &opts, &o), 0, "%s", err);
    cr_assert_eq(o.result.exit_code, 0, "%s", o.result.why);
    char *out = slurp(in_dir("stdout"));
    cr_assert(strstr(out, "\nQUOTED=a \"b\" /usr/local/bin:/usr/bin:/bin\n"), "$PATH expands, quotes kept: %s", out);
    cr_assert(strstr(out, "\nRAW=5\n"), "raw: the shell reads it: %s", out);
    cr_assert(strstr(out, "\nSOURCED=yes\n"), "%s", out);
    cr_assert(strstr(out, "\nEXECUTED=yes\n"), "%s", out);
    cr_assert(strstr(out, "\nGALAXY_SLOTS=3\n"), "%s", out);
    cr_assert(strstr(out, "\nGALAXY_SLOTS_CONFIGURED=1\n"), "%s", out);
    cr_assert(strstr(out, "TOOL_VAR=1\n"), "%s", out);
    char job_dir[128];
    snprintf(job_dir, sizeof job_dir, "MULETEER_JOB_DIR=%s\n", dir);
    cr_assert(strstr(out, job_dir), "%s", out);
    cr_assert(strstr(out, "ARG=$(id)|a b;c\n"), "%s", out);
    free(out);
    /* The shell exec'd the command: the pid the runner reports is the command's. */
    char *pid = slurp(in_dir("pid"));
    cr_assert_eq(atoi(pid), o.pid_in_cb);
    free(pid);
    mt_job_conf_destroy(conf);
}

Test(runner_local, local_slots_alone_needs_no_shell)
{
    mt_job_route_t route;
    mt_job_conf_t *conf = dest_conf("<param id=\"local_slots\">2</param>", NULL, &route);
    char *argv[] = {"/usr/bin/env", NULL};
    opts_t opts = {.route = &route};
    outcome_t o;
    cr_assert_eq(run_cmd(argv, &opts, &o), 0, "%s", err);
    char *out = slurp(in_dir("stdout"));
    cr_assert(strstr(out, "GALAXY_SLOTS=2\n"), "%s", out);
    cr_assert_null(strstr(out, "SHLVL"), "no shell ran: %s", out);
    free(out);
    mt_job_conf_destroy(conf);
}

Test(runner_local, the_walltime_limit_applies_when_smaller_than_the_tools)
{
    mt_job_route_t route;
    mt_job_conf_t *conf = dest_conf("", "0:00:01", &route);
    char *argv[] = {"/bin/sleep", "10", NULL};
    opts_t opts = {.route = &route, .walltime_s = 30};
    outcome_t o;
    double t0 = now_s();
    cr_assert_eq(run_cmd(argv, &opts, &o), 0, "%s", err);
    cr_assert(o.result.walltime_exceeded);
    cr_assert_str_eq(o.result.why, "walltime of 1 s exceeded");
    cr_assert_lt(now_s() - t0, GENEROUS_S);
    /* The tool's own, when smaller, still wins. */
    opts.walltime_s = 0.2;
    cr_assert_eq(run_cmd(argv, &opts, &o), 0, "%s", err);
    cr_assert_str_eq(o.result.why, "walltime of 0.2 s exceeded");
    mt_job_conf_destroy(conf);
}

Test(runner_local, a_destination_shell_that_is_missing_is_reported)
{
    mt_job_conf_t *conf;
    const char *text = "runners:\n  local: {load: galaxy.jobs.runners.local:LocalJobRunner}\n"
                       "execution:\n  environments:\n    d:\n      runner: local\n      shell: /no/such/sh\n"
                       "      env: [{name: A, value: b}]\n";
    cr_assert_eq(mt_job_conf_load_string("s.yml", text, strlen(text), &conf, err, sizeof err), 0, "%s", err);
    mt_job_route_t route;
    cr_assert_eq(mt_job_route(conf, "t", &route, err, sizeof err), 0, "%s", err);
    char *argv[] = {"/bin/true", NULL};
    opts_t opts = {.route = &route};
    outcome_t o;
    cr_assert_eq(run_cmd(argv, &opts, &o), -ENOENT);
    cr_assert_str_eq(err, "cannot start /bin/true: destination 'd' runs its env lines with /no/such/sh: No such file "
                          "or directory");
    mt_job_conf_destroy(conf);
}

Test(runner_local, tmp_dir_gives_the_command_its_temporary_directory)
{
    mt_job_route_t route;
    mt_job_conf_t *conf = dest_conf("<param id=\"tmp_dir\">True</param>", NULL, &route);
    char *argv[] = {"/bin/sh", "-c", "echo \"$TMPDIR|$TMP|$TEMP\"; test -d \"$TMPDIR\" && echo isdir", NULL};
    opts_t opts = {.route = &route};
    outcome_t o;
    cr_assert_eq(run_cmd(argv, &opts, &o), 0, "%s", err);
    char *out = slurp(in_dir("stdout"));
    char expected[512];
    snprintf(expected, sizeof expected, "%s/tmp|%s/tmp|%s/tmp\nisdir\n", dir, dir, dir);
    cr_assert_str_eq(out, expected);
    free(out);
    mt_job_conf_destroy(conf);

    /* An expression, run by the shell as Galaxy writes it. */
    conf = dest_conf("<param id=\"tmp_dir\">$(echo /var/tmp)</param>", NULL, &route);
    char *argv2[] = {"/bin/sh", "-c", "echo \"$TMPDIR\"", NULL};
    cr_assert_eq(run_cmd(argv2, &opts, &o), 0, "%s", err);
    out = slurp(in_dir("stdout"));
    cr_assert_str_eq(out, "/var/tmp\n");
    free(out);
    mt_job_conf_destroy(conf);

    /* False: nothing. */
    conf = dest_conf("<param id=\"tmp_dir\">False</param>", NULL, &route);
    char *argv3[] = {"/usr/bin/env", NULL};
    cr_assert_eq(run_cmd(argv3, &opts, &o), 0, "%s", err);
    out = slurp(in_dir("stdout"));
    cr_assert_null(strstr(out, "TMPDIR"), "%s", out);
    free(out);
    mt_job_conf_destroy(conf);
}
