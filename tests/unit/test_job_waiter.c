/*
 * Unit tests for the job waiter: its files (job_waiter.c), the fence
 * (fence.c), the program muleteer-waiter itself (started for real, with a
 * real fence it must obey), and the runner's side of it: a result written
 * while nobody watches, and a run adopted from another loop as a handler's
 * next life adopts it.
 *
 * Timing: a fence checked every 250 ms, so "promptly" is a few seconds on a
 * loaded 2-core machine; nothing waits a fixed time to assert.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#include "app/run/fence.h"
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
    snprintf(dir, sizeof dir, "/tmp/mt_waiter.XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(waiter, sizeof waiter, "%s", use_built_waiter());
}

static void teardown(void)
{
    nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(job_waiter, .init = setup, .fini = teardown, .timeout = 60);

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(int ms)
{
    nanosleep(&(struct timespec){.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L}, NULL);
}

static const char *in_dir(const char *name)
{
    static char bufs[4][256];
    static int next;
    char *p = bufs[next++ % 4];
    snprintf(p, sizeof bufs[0], "%s/%s", dir, name);
    return p;
}

/* Has process group pgid a member that is not a zombie (this container's PID 1 may never reap)? */
static bool group_alive(int pgid)
{
    DIR *proc = opendir("/proc");
    cr_assert_not_null(proc);
    bool alive = false;
    struct dirent *de;
    while (!alive && (de = readdir(proc)) != NULL) {
        char path[300], buf[512];
        snprintf(path, sizeof path, "/proc/%s/stat", de->d_name);
        FILE *f = de->d_name[0] >= '1' && de->d_name[0] <= '9' ? fopen(path, "r") : NULL;
        if (!f)
            continue;
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[n] = '\0';
        char *rp = strrchr(buf, ')');
        char st;
        int ppid, pgrp;
        alive = rp && sscanf(rp + 1, " %c %d %d", &st, &ppid, &pgrp) == 3 && pgrp == pgid && st != 'Z' && st != 'X';
    }
    closedir(proc);
    return alive;
}

/* ------------------------------------------------------------------ */
/* The files                                                           */
/* ------------------------------------------------------------------ */

Test(job_waiter, every_status_reads_back_as_written)
{
    const mt_waiter_status_t cases[] = {
        {.end = MT_WAITER_EXITED, .value = 0, .attempt = 1, .pid = 4711},
        {.end = MT_WAITER_EXITED, .value = 3, .attempt = 2, .pid = 99},
        {.end = MT_WAITER_SIGNALED, .value = SIGKILL, .attempt = 1, .pid = 5},
        {.end = MT_WAITER_FENCED, .value = SIGTERM, .attempt = 7, .pid = 6},
        {.end = MT_WAITER_FAILED, .value = ENOENT, .attempt = 1, .pid = 0},
        {.end = MT_WAITER_EXITED, .value = 1, .attempt = 1, .pid = 8, .disk_full = true},
        {.end = MT_WAITER_EXITED, .value = 0, .attempt = 1, .pid = 9, .cpu_us = 812},
        {.end = MT_WAITER_SIGNALED, .value = SIGTERM, .attempt = 3, .pid = 10, .disk_full = true, .cpu_us = 1234567},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cr_assert_eq(mt_waiter_status_write(dir, &cases[i]), 0);
        mt_waiter_status_t got;
        cr_assert_eq(mt_waiter_status_read(dir, &got), 0);
        cr_assert_eq(got.end, cases[i].end);
        cr_assert_eq(got.value, cases[i].value);
        cr_assert_eq(got.attempt, cases[i].attempt);
        cr_assert_eq(got.pid, cases[i].pid);
        cr_assert_eq(got.disk_full, cases[i].disk_full);
        cr_assert_eq(got.cpu_us, cases[i].cpu_us);
    }
    cr_assert_eq(access(in_dir(".exit_status.tmp"), F_OK), -1, "no temporary file is left");
}

Test(job_waiter, a_status_it_did_not_write_is_refused)
{
    mt_waiter_status_t st;
    const char *bad[] = {"", "exit", "exit 0", "exit x attempt 1 pid 2\n", "exit 0 attempt 0 pid 2\n",
                         "crashed 0 attempt 1 pid 2\n", "exit 0 attempt 1 pid 2\njunk", "exit 0 attempt 1 pid -1\n",
                         "exit 0 attempt 1 pid 2 disk-fullx\n", "exit 0 attempt 1 pid 2 disk-full",
                         "exit 0 attempt 1 pid 2 cpu\n", "exit 0 attempt 1 pid 2 cpu -5\n",
                         "exit 0 attempt 1 pid 2 cpu 5 disk-full\n", "exit 0 attempt 1 pid 2 cpu 5x\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_eq(mt_waiter_status_parse(bad[i], &st), -EINVAL, "'%s'", bad[i]);
    cr_assert_eq(mt_waiter_status_read(dir, &st), -ENOENT);
}

Test(job_waiter, a_planted_link_is_neither_followed_nor_kept)
{
    cr_assert_eq(symlink("/etc/passwd", in_dir(MT_WAITER_STATUS_FILE)), 0);
    mt_waiter_status_t st;
    cr_assert_eq(mt_waiter_status_read(dir, &st), -ELOOP);
    cr_assert_eq(symlink("/nonexistent/x", in_dir(".exit_status.tmp")), 0);
    mt_waiter_status_t w = {.end = MT_WAITER_EXITED, .value = 0, .attempt = 1, .pid = 3};
    cr_assert_eq(mt_waiter_status_write(dir, &w), 0);
    struct stat sb;
    cr_assert_eq(lstat(in_dir(MT_WAITER_STATUS_FILE), &sb), 0);
    cr_assert(S_ISREG(sb.st_mode), "the link was replaced by the file");
    cr_assert_eq(mt_waiter_status_read(dir, &st), 0);
}

Test(job_waiter, the_waiter_file_names_a_live_waiter_only_while_it_is_that_process)
{
    mt_waiter_id_t id = {.waiter_pid = getpid(), .start_ticks = mt_waiter_start_ticks(getpid()),
                         .command_pid = 1234, .attempt = 2};
    cr_assert_gt(id.start_ticks, 0);
    cr_assert_eq(mt_waiter_id_write(dir, &id), 0);
    mt_waiter_id_t got;
    cr_assert_eq(mt_waiter_id_read(dir, &got), 0);
    cr_assert_eq(got.waiter_pid, id.waiter_pid);
    cr_assert_eq(got.start_ticks, id.start_ticks);
    cr_assert_eq(got.command_pid, 1234);
    cr_assert_eq(got.attempt, 2);
    /* This process is alive with those ticks, but it is not a waiter of this directory. */
    cr_assert_not(mt_waiter_alive(&got, dir));
    mt_waiter_files_remove(dir);
    cr_assert_eq(mt_waiter_id_read(dir, &got), -ENOENT);
}

/* ------------------------------------------------------------------ */
/* The fence                                                           */
/* ------------------------------------------------------------------ */

Test(job_waiter, a_fence_reads_back_its_deadline_and_tells_a_torn_read_and_a_removal)
{
    char err[512];
    mt_fence_t *f = NULL;
    cr_assert_eq(mt_fence_open(in_dir("handlers"), "main.job-handlers.1", &f, err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(mt_fence_path(f), in_dir("handlers/main.job-handlers.1.fence"));
    int fd = dup(mt_fence_fd(f));
    int64_t d = 0;
    cr_assert_eq(mt_waiter_fence_read(fd, &d), 0, "never renewed: no promise");
    cr_assert_eq(mt_fence_renew(f, 123456789012345LL), 0);
    cr_assert_eq(mt_waiter_fence_read(fd, &d), 1);
    cr_assert_eq(d, 123456789012345LL);
    cr_assert_eq(mt_fence_renew(f, 42), 0); /* shorter: nothing of the longer number is left behind */
    cr_assert_eq(mt_waiter_fence_read(fd, &d), 1);
    cr_assert_eq(d, 42);
    cr_assert_eq(pwrite(fd, "00000000000000000043", 20, 0), 20); /* half a renewal */
    cr_assert_eq(mt_waiter_fence_read(fd, &d), -EAGAIN);
    mt_fence_close(f, true);
    cr_assert_eq(mt_waiter_fence_read(fd, &d), 0, "removed: no promise");
    close(fd);
}

/* ------------------------------------------------------------------ */
/* The program                                                         */
/* ------------------------------------------------------------------ */

/* Start muleteer-waiter in dir for argv (after --); returns its pid, and the report it sent in *r. */
static pid_t start_waiter(const char *fence_fd_text, int fence_fd, const char *grace, char *const *cmd,
                          mt_waiter_report_t *r)
{
    int p[2];
    cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
    /* Sources at 10 and up, as the runner puts them: a dup2 onto itself would keep close-on-exec. */
    int report_src = fcntl(p[1], F_DUPFD_CLOEXEC, 10), fence_src = fence_fd >= 0 ? fcntl(fence_fd, F_DUPFD_CLOEXEC, 10) : -1;
    close(p[1]);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, report_src, MT_WAITER_REPORT_FD);
    if (fence_src >= 0)
        posix_spawn_file_actions_adddup2(&fa, fence_src, 4);
    posix_spawn_file_actions_addchdir_np(&fa, dir);
    char *argv[32] = {waiter, "--job-dir", dir, "--attempt", "1", "--fence-fd", (char *)fence_fd_text,
                      "--grace-ms", (char *)grace, "-e", "FROM_THE_HANDLER=yes", "--"};
    size_t k = 12;
    for (size_t i = 0; cmd[i]; i++)
        argv[k++] = cmd[i];
    argv[k] = NULL;
    pid_t pid;
    cr_assert_eq(posix_spawn(&pid, waiter, &fa, NULL, argv, (char *[]){"SECRET=of-the-handler", NULL}), 0);
    posix_spawn_file_actions_destroy(&fa);
    close(report_src);
    if (fence_src >= 0)
        close(fence_src);
    cr_assert_eq(read(p[0], r, sizeof *r), (ssize_t)sizeof *r);
    close(p[0]);
    return pid;
}

static mt_waiter_status_t wait_status(pid_t waiter_pid)
{
    int ws;
    cr_assert_eq(waitpid(waiter_pid, &ws, 0), waiter_pid);
    cr_assert(WIFEXITED(ws) && WEXITSTATUS(ws) == 0, "the waiter ended with %d", ws);
    mt_waiter_status_t st;
    cr_assert_eq(mt_waiter_status_read(dir, &st), 0);
    return st;
}

Test(job_waiter, the_waiter_records_the_exit_status_and_who_it_is)
{
    char *cmd[] = {"/bin/sh", "-c", "echo \"$FROM_THE_HANDLER ${SECRET:-none}\" > env.txt; exit 3", NULL};
    mt_waiter_report_t r;
    pid_t w = start_waiter("-1", -1, "1000", cmd, &r);
    cr_assert_gt(r.pid, 1, "err %d", r.err);
    mt_waiter_id_t id;
    cr_assert_eq(mt_waiter_id_read(dir, &id), 0, "written before the report");
    cr_assert_eq(id.waiter_pid, w);
    cr_assert_eq(id.command_pid, r.pid);
    mt_waiter_status_t st = wait_status(w);
    cr_assert_eq(st.end, MT_WAITER_EXITED);
    cr_assert_eq(st.value, 3);
    cr_assert_eq(st.pid, r.pid);
    FILE *f = fopen(in_dir("env.txt"), "r");
    char line[64] = "";
    cr_assert_not_null(f);
    cr_assert_not_null(fgets(line, sizeof line, f));
    fclose(f);
    cr_assert_str_eq(line, "yes none\n", "the command has the -e environment, nothing of the waiter's own");
}

Test(job_waiter, a_command_that_cannot_start_is_reported_and_recorded)
{
    FILE *f = fopen(in_dir("not-executable"), "w");
    fputs("#!/bin/sh\n", f);
    fclose(f);
    char *cmd[] = {(char *)in_dir("not-executable"), NULL};
    mt_waiter_report_t r;
    pid_t w = start_waiter("-1", -1, "1000", cmd, &r);
    cr_assert_eq(r.pid, 0);
    cr_assert_eq(r.err, EACCES);
    mt_waiter_status_t st = wait_status(w);
    cr_assert_eq(st.end, MT_WAITER_FAILED);
    cr_assert_eq(st.value, EACCES);
}

Test(job_waiter, a_lapsed_fence_stops_the_command_and_says_so)
{
    char err[512];
    mt_fence_t *fence = NULL;
    cr_assert_eq(mt_fence_open(in_dir("handlers"), "h", &fence, err, sizeof err), 0, "%s", err);
    cr_assert_eq(mt_fence_renew(fence, mt_waiter_now_ns() + 300 * 1000000LL), 0);
    /* TERM-deaf: the grace runs out and SIGKILL follows */
    char *cmd[] = {"/bin/sh", "-c", "trap '' TERM; sleep 30 & wait; sleep 30", NULL};
    mt_waiter_report_t r;
    double t0 = now_s();
    pid_t w = start_waiter("4", mt_fence_fd(fence), "300", cmd, &r);
    cr_assert_gt(r.pid, 1);
    mt_waiter_status_t st = wait_status(w);
    double took = now_s() - t0;
    cr_assert_eq(st.end, MT_WAITER_FENCED);
    cr_assert_eq(st.value, SIGKILL);
    cr_assert_lt(took, 5.0, "stopped %.1f s after a 0.3 s fence", took);
    double by = now_s() + 5;
    while (group_alive(r.pid) && now_s() < by)
        sleep_ms(10);
    cr_assert_not(group_alive(r.pid), "nothing of its group is left");
    mt_fence_close(fence, true);
}

Test(job_waiter, a_renewed_fence_lets_the_command_finish_and_a_removed_one_stops_it)
{
    char err[512];
    mt_fence_t *fence = NULL;
    cr_assert_eq(mt_fence_open(in_dir("handlers"), "h", &fence, err, sizeof err), 0, "%s", err);
    cr_assert_eq(mt_fence_renew(fence, mt_waiter_now_ns() + 400 * 1000000LL), 0);
    char *cmd[] = {"/bin/sh", "-c", "sleep 1.5; exit 0", NULL};
    mt_waiter_report_t r;
    pid_t w = start_waiter("4", mt_fence_fd(fence), "1000", cmd, &r);
    /* Renewed often, each time for a short while: as a live handler does. */
    while (waitpid(w, NULL, WNOHANG) == 0) {
        cr_assert_eq(mt_fence_renew(fence, mt_waiter_now_ns() + 400 * 1000000LL), 0);
        sleep_ms(50);
    }
    mt_waiter_status_t st;
    cr_assert_eq(mt_waiter_status_read(dir, &st), 0);
    cr_assert_eq(st.end, MT_WAITER_EXITED, "a live handler's command runs to its end (got %d)", st.end);

    cr_assert_eq(mt_fence_renew(fence, mt_waiter_now_ns() + 60LL * 1000000000LL), 0);
    char *longer[] = {"/bin/sleep", "30", NULL};
    double t0 = now_s();
    w = start_waiter("4", mt_fence_fd(fence), "1000", longer, &r);
    mt_fence_close(fence, true); /* the handler stopped for good */
    st = wait_status(w);
    cr_assert_eq(st.end, MT_WAITER_FENCED);
    cr_assert_eq(st.value, SIGTERM);
    cr_assert_lt(now_s() - t0, 5.0);
}

/* ------------------------------------------------------------------ */
/* The runner's side                                                   */
/* ------------------------------------------------------------------ */

typedef struct {
    int calls;
    int pid;
    mt_run_result_t result;
} outcome_t;

static void on_done(mt_run_t *run, const mt_run_result_t *result, void *data)
{
    outcome_t *o = data;
    o->calls++;
    o->result = *result;
    o->pid = mt_run_pid(run);
}

Test(job_waiter, a_result_is_written_while_no_loop_watches_and_an_adopted_run_reports_it)
{
    char *argv[] = {"/bin/sh", "-c", "sleep 0.5; exit 4", NULL};
    mt_run_spec_t spec = {.argv = argv, .working_dir = dir, .stdout_path = "stdout", .stderr_path = "stderr",
                          .kill_grace_ms = 1000, .attempt = 3};
    uv_loop_t first, second;
    cr_assert_eq(uv_loop_init(&first), 0);
    outcome_t lost = {0}, adopted = {0};
    mt_run_t *run = NULL;
    char err[512];
    cr_assert_eq(mt_run_start(&first, &spec, on_done, &lost, &run, err, sizeof err), 0, "%s", err);
    int pid = mt_run_wait_pid(run);
    cr_assert_gt(pid, 1);
    /* The first loop never runs again, as a handler that died: the waiter is there all the same. */
    mt_waiter_id_t id;
    cr_assert_eq(mt_waiter_id_read(dir, &id), 0);
    cr_assert_eq(id.command_pid, pid, "the run's pid is its command's");
    cr_assert_eq(id.attempt, 3);
    cr_assert(mt_waiter_alive(&id, dir));

    cr_assert_eq(uv_loop_init(&second), 0);
    mt_run_adoption_t a = {.working_dir = dir, .prog = "sh", .waiter_pid = id.waiter_pid,
                           .command_pid = id.command_pid, .attempt = id.attempt, .kill_grace_ms = 1000};
    mt_run_t *again = NULL;
    cr_assert_eq(mt_run_adopt(&second, &a, on_done, &adopted, &again, err, sizeof err), 0, "%s", err);
    cr_assert_eq(mt_run_pid(again), pid);
    uv_run(&second, UV_RUN_DEFAULT);
    cr_assert_eq(uv_loop_close(&second), 0);
    cr_assert_eq(adopted.calls, 1);
    cr_assert_eq(lost.calls, 0);
    cr_assert(adopted.result.started && adopted.result.exited);
    cr_assert_eq(adopted.result.exit_code, 4);
    cr_assert_eq(adopted.pid, pid);
    cr_assert_str_eq(adopted.result.why, "exited with status 4");
    mt_waiter_status_t st;
    cr_assert_eq(mt_waiter_status_read(dir, &st), 0);
    cr_assert_eq(st.attempt, 3);
    /* Only now does the first loop run again (to free what it holds): it reaps the waiter and reports too. */
    uv_run(&first, UV_RUN_DEFAULT);
    cr_assert_eq(uv_loop_close(&first), 0);
}

Test(job_waiter, adopting_a_waiter_that_has_ended_says_so)
{
    char *argv[] = {"/bin/true", NULL};
    mt_run_spec_t spec = {.argv = argv, .working_dir = dir, .stdout_path = "stdout", .stderr_path = "stderr",
                          .kill_grace_ms = 1000};
    uv_loop_t loop;
    cr_assert_eq(uv_loop_init(&loop), 0);
    outcome_t o = {0};
    mt_run_t *run = NULL;
    char err[512];
    cr_assert_eq(mt_run_start(&loop, &spec, on_done, &o, &run, err, sizeof err), 0, "%s", err);
    uv_run(&loop, UV_RUN_DEFAULT);
    cr_assert_eq(uv_loop_close(&loop), 0);
    cr_assert_eq(o.calls, 1);
    mt_waiter_id_t id;
    cr_assert_eq(mt_waiter_id_read(dir, &id), 0);
    cr_assert_not(mt_waiter_alive(&id, dir), "ended: not alive");
    /* Its parent reaps it: at once if that is us (an executed waiter), as soon as it hears if the helper forked it. */
    for (int i = 0; i < 200 && kill(id.waiter_pid, 0) == 0; i++)
        usleep(10000);
    cr_assert_eq(kill(id.waiter_pid, 0), -1, "the waiter %d was never reaped", (int)id.waiter_pid);
    cr_assert_eq(uv_loop_init(&loop), 0);
    mt_run_adoption_t a = {.working_dir = dir, .waiter_pid = id.waiter_pid, .command_pid = id.command_pid,
                           .attempt = 1};
    mt_run_t *again = NULL;
    cr_assert_eq(mt_run_adopt(&loop, &a, on_done, &o, &again, err, sizeof err), -ESRCH);
    uv_run(&loop, UV_RUN_DEFAULT);
    cr_assert_eq(uv_loop_close(&loop), 0);
    cr_assert_eq(o.calls, 1, "no result for a run that was not adopted");
}
