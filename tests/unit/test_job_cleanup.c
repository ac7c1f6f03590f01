/*
 * Unit tests for job_cleanup.c: the policy's values, and what a removal
 * keeps of a real directory (declared outputs, non-empty stdout/stderr,
 * nothing reached through a link), on the calling thread and on the
 * cleanup thread.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "app/run/job_cleanup.h"
#include "common/mem.h"

static char top[64], job[96], outside[96];

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static void setup(void)
{
    snprintf(top, sizeof top, "/tmp/mt_cleanup.XXXXXX");
    cr_assert_not_null(mkdtemp(top));
    snprintf(job, sizeof job, "%s/7", top);
    snprintf(outside, sizeof outside, "%s/outside", top);
    cr_assert_eq(mkdir(job, 0755), 0);
    cr_assert_eq(mkdir(outside, 0755), 0);
}

static void teardown(void)
{
    nftw(top, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void put(const char *dir, const char *rel, const char *text)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "%s", path);
    fputs(text, f);
    fclose(f);
}

static void sub(const char *dir, const char *rel)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    cr_assert_eq(mkdir(path, 0755), 0, "%s", path);
}

static bool there(const char *dir, const char *rel)
{
    char path[256];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    return lstat(path, &st) == 0;
}

TestSuite(job_cleanup, .init = setup, .fini = teardown);

Test(job_cleanup, the_policies_and_when_they_apply)
{
    mt_job_cleanup_t p;
    cr_assert_eq(mt_job_cleanup_parse("always", &p), 0);
    cr_assert_eq(p, MT_JOB_CLEANUP_ALWAYS);
    cr_assert_eq(mt_job_cleanup_parse("OnSuccess", &p), 0);
    cr_assert_eq(p, MT_JOB_CLEANUP_ONSUCCESS);
    cr_assert_eq(mt_job_cleanup_parse("never", &p), 0);
    cr_assert_eq(p, MT_JOB_CLEANUP_NEVER);
    cr_assert_str_eq(mt_job_cleanup_name(p), "never");
    cr_assert_eq(mt_job_cleanup_parse("sometimes", &p), -EINVAL);
    cr_assert_eq(mt_job_cleanup_parse("", &p), -EINVAL);
    cr_assert_eq(mt_job_cleanup_parse(NULL, &p), -EINVAL);

    cr_assert(mt_job_cleanup_applies(MT_JOB_CLEANUP_ALWAYS, MT_JOB_OK));
    cr_assert(mt_job_cleanup_applies(MT_JOB_CLEANUP_ALWAYS, MT_JOB_ERROR));
    cr_assert(mt_job_cleanup_applies(MT_JOB_CLEANUP_ALWAYS, MT_JOB_DELETED));
    cr_assert_not(mt_job_cleanup_applies(MT_JOB_CLEANUP_ALWAYS, MT_JOB_RUNNING), "never while it runs");
    cr_assert_not(mt_job_cleanup_applies(MT_JOB_CLEANUP_ALWAYS, MT_JOB_QUEUED));
    cr_assert(mt_job_cleanup_applies(MT_JOB_CLEANUP_ONSUCCESS, MT_JOB_OK));
    cr_assert_not(mt_job_cleanup_applies(MT_JOB_CLEANUP_ONSUCCESS, MT_JOB_ERROR));
    cr_assert_not(mt_job_cleanup_applies(MT_JOB_CLEANUP_ONSUCCESS, MT_JOB_DELETED));
    cr_assert_not(mt_job_cleanup_applies(MT_JOB_CLEANUP_NEVER, MT_JOB_OK));
}

Test(job_cleanup, keeps_declared_outputs_and_what_was_said)
{
    put(job, "stdout", "");
    put(job, "stderr", "warning\n");
    put(job, "exit_status", "exit 0 attempt 1 pid 2\n");
    put(job, ".exit_status.tmp", "");
    sub(job, "results");
    put(job, "results/table.tsv", "1\t2\n");
    put(job, "results/scratch.tmp", "x");
    sub(job, "results/deeper");
    put(job, "results/deeper/more", "x");
    sub(job, "tmp");
    sub(job, "tmp/a");
    put(job, "tmp/a/b", "x");
    put(job, "empty-output", "");
    const char *keep[] = {"./results/table.tsv", "empty-output", "missing-output"};
    cr_assert_eq(mt_job_cleanup_dir(job, keep, 3), 0);
    cr_assert(there(job, "results/table.tsv"));
    cr_assert(there(job, "empty-output"), "a declared output is kept even when empty");
    cr_assert(there(job, "stderr"), "a non-empty stderr is kept");
    cr_assert_not(there(job, "stdout"), "an empty stdout is not");
    cr_assert_not(there(job, "exit_status"));
    cr_assert_not(there(job, ".exit_status.tmp"));
    cr_assert_not(there(job, "results/scratch.tmp"));
    cr_assert_not(there(job, "results/deeper"));
    cr_assert_not(there(job, "tmp"));
}

Test(job_cleanup, a_directory_that_keeps_nothing_goes_whole)
{
    put(job, "stdout", "");
    put(job, "stderr", "");
    put(job, "exit_status", "exit 0 attempt 1 pid 2\n");
    put(job, "waiter", "pid 3 start 4 command 2 attempt 1\n");
    cr_assert_eq(mt_job_cleanup_dir(job, NULL, 0), 0);
    cr_assert_eq(access(job, F_OK), -1);
    cr_assert_eq(mt_job_cleanup_dir(job, NULL, 0), -ENOENT);
}

Test(job_cleanup, a_stdout_declared_as_output_stays_even_empty)
{
    put(job, "stdout", "");
    put(job, "stderr", "");
    const char *keep[] = {"stdout"};
    cr_assert_eq(mt_job_cleanup_dir(job, keep, 1), 0);
    cr_assert(there(job, "stdout"));
    cr_assert_not(there(job, "stderr"));
}

Test(job_cleanup, links_are_removed_never_followed)
{
    put(outside, "precious", "keep me");
    sub(outside, "tree");
    put(outside, "tree/leaf", "keep me too");
    char target[160], link[160];
    snprintf(target, sizeof target, "%s/tree", outside);
    snprintf(link, sizeof link, "%s/dirlink", job);
    cr_assert_eq(symlink(target, link), 0);
    snprintf(target, sizeof target, "%s/precious", outside);
    snprintf(link, sizeof link, "%s/stdout", job); /* a link the job put there: kept, for the API to refuse */
    cr_assert_eq(symlink(target, link), 0);
    /* A kept path that runs through a link out: the link stays (the API refuses it as one), its target untouched. */
    const char *keep[] = {"dirlink/leaf"};
    cr_assert_eq(mt_job_cleanup_dir(job, keep, 1), 0);
    struct stat st;
    char path[200];
    snprintf(path, sizeof path, "%s/dirlink", job);
    cr_assert_eq(lstat(path, &st), 0);
    cr_assert(S_ISLNK(st.st_mode));
    cr_assert_eq(lstat(link, &st), 0);
    cr_assert(S_ISLNK(st.st_mode));
    cr_assert(there(outside, "precious"));
    cr_assert(there(outside, "tree/leaf"));
}

Test(job_cleanup, the_cleanup_thread_does_it_later)
{
    put(job, "stdout", "out\n");
    put(job, "junk", "x");
    char **keep = mt_calloc(1, sizeof *keep); /* an empty list, NULL-terminated */
    mt_job_cleanup_submit(mt_strdup(job), keep);
    for (int i = 0; i < 500 && there(job, "junk"); i++)
        nanosleep(&(struct timespec){.tv_nsec = 10 * 1000 * 1000}, NULL);
    cr_assert_not(there(job, "junk"));
    cr_assert(there(job, "stdout"));
}

Test(job_cleanup, an_output_linked_inside_keeps_what_it_leads_to)
{
    put(job, "real.txt", "inside\n");
    put(job, "other.txt", "x");
    char link[160];
    snprintf(link, sizeof link, "%s/alias.txt", job);
    cr_assert_eq(symlink("real.txt", link), 0);
    const char *keep[] = {"alias.txt"};
    cr_assert_eq(mt_job_cleanup_dir(job, keep, 1), 0);
    cr_assert(there(job, "alias.txt"));
    cr_assert(there(job, "real.txt"), "what the kept link serves stays");
    cr_assert_not(there(job, "other.txt"));
}
