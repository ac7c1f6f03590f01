/*
 * Unit tests for daemon.c: umask and chdir, pidfiles (written with the
 * caller's pid, removed by vacuum or when never written), the master FIFO
 * (made 0600, reused, refused over a regular file), logto's redirection of
 * stdout and stderr and its reopen. daemonize itself forks a background
 * process: the integration tests run it.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "stack/config.h"
#include "stack/daemon.h"
#include "stack/options.h"

static char dir[64], old_cwd[4096];
static mt_config_t *cfg;
static mt_daemon_t d;
static mt_stack_settings_t settings;
static char err[1024];
static mode_t old_umask;

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/mt_test_daemon_XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    cr_assert_not_null(getcwd(old_cwd, sizeof old_cwd));
    cr_assert_eq(chdir(dir), 0);
    old_umask = umask(022);
    cfg = mt_config_create();
    mt_config_add_section(cfg, MT_STACK_SECTION, MT_STACK_SECTION_ALIAS, mt_stack_options);
    mt_daemon_init(&d);
}

static void teardown(void)
{
    mt_config_destroy(cfg);
    umask(old_umask);
    (void)!chdir(old_cwd);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    (void)!system(cmd);
}

TestSuite(daemon, .init = setup, .fini = teardown);

static void load(const char *first, ...)
{
    char *argv[32] = {"muleteer"};
    int argc = 1;
    va_list ap;
    va_start(ap, first);
    for (const char *a = first; a; a = va_arg(ap, const char *))
        argv[argc++] = (char *)a;
    va_end(ap);
    cr_assert_eq(mt_config_load(cfg, argc, argv, err, sizeof err), 0, "%s", err);
    cr_assert_eq(mt_stack_options_check(cfg, &settings), 0, "%s", mt_config_error_count(cfg) ? mt_config_error_get(cfg, 0) : "");
}

static mode_t mode_of(const char *path)
{
    struct stat st;
    cr_assert_eq(stat(path, &st), 0, "stat %s: %s", path, strerror(errno));
    return st.st_mode;
}

static char *slurp(const char *path)
{
    static char buf[8192];
    int fd = open(path, O_RDONLY);
    cr_assert(fd >= 0, "open %s", path);
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    buf[n < 0 ? 0 : n] = '\0';
    return buf;
}

Test(daemon, umask_then_chdir)
{
    cr_assert_eq(mkdir("site", 0755), 0);
    load("--umask", "077", "--chdir", "site", "--pidfile", "m.pid", NULL);
    cr_assert_eq(mt_daemon_setup(cfg, &settings, err, sizeof err), 0, "%s", err);
    cr_assert_eq(mt_daemon_open_pidfile(&d, cfg, 0, err, sizeof err), 0, "%s", err);
    cr_assert_eq(mt_daemon_write_pidfiles(&d, cfg, err, sizeof err), 0, "%s", err);
    char path[128];
    snprintf(path, sizeof path, "%s/site/m.pid", dir);
    cr_assert_eq(mode_of(path) & 0777, 0600, "0644 less the umask 077");
    char want[32];
    snprintf(want, sizeof want, "%d\n", (int)getpid());
    cr_assert_str_eq(slurp(path), want);
    mt_daemon_finish(&d, cfg);
    cr_assert_eq(access(path, F_OK), 0, "no vacuum: the pidfile stays");
}

Test(daemon, chdir_failure_names_the_option)
{
    load("--chdir", "nowhere", NULL);
    cr_assert(mt_daemon_setup(cfg, &settings, err, sizeof err) == -ENOENT);
    cr_assert(strstr(err, "command line: option '--chdir': cannot change to nowhere"), "%s", err);
}

Test(daemon, vacuum_removes_written_pidfiles)
{
    load("--pidfile", "a.pid", "--pidfile2", "b.pid", "--vacuum", NULL);
    cr_assert_eq(mt_daemon_open_pidfile(&d, cfg, 0, err, sizeof err), 0, "%s", err);
    cr_assert_eq(mt_daemon_open_pidfile(&d, cfg, 1, err, sizeof err), 0, "%s", err);
    cr_assert_eq(mt_daemon_write_pidfiles(&d, cfg, err, sizeof err), 0, "%s", err);
    cr_assert_eq(access("a.pid", F_OK), 0);
    cr_assert_eq(access("b.pid", F_OK), 0);
    mt_daemon_finish(&d, cfg);
    cr_assert_neq(access("a.pid", F_OK), 0);
    cr_assert_neq(access("b.pid", F_OK), 0);
}

Test(daemon, a_pidfile_never_written_is_removed_but_not_by_a_daemonize_parent)
{
    load("--pidfile", "a.pid", NULL);
    cr_assert_eq(mt_daemon_open_pidfile(&d, cfg, 0, err, sizeof err), 0, "%s", err);
    mt_daemon_finish(&d, cfg);
    cr_assert_neq(access("a.pid", F_OK), 0, "start-up failed: no empty pidfile left");
    mt_daemon_init(&d);
    cr_assert_eq(mt_daemon_open_pidfile(&d, cfg, 0, err, sizeof err), 0, "%s", err);
    mt_daemon_finish(&d, NULL);
    cr_assert_eq(access("a.pid", F_OK), 0, "the parent leaves the daemon's files alone");
}

Test(daemon, pidfile_that_cannot_be_made)
{
    load("--pidfile", "nodir/a.pid", NULL);
    cr_assert_eq(mt_daemon_open_pidfile(&d, cfg, 0, err, sizeof err), -ENOENT);
    cr_assert(strstr(err, "option '--pidfile': cannot create nodir/a.pid"), "%s", err);
}

Test(daemon, master_fifo_made_reused_and_refused_over_a_file)
{
    load("--master-fifo", "m.fifo", "--vacuum", NULL);
    cr_assert_eq(mt_daemon_open_fifo(&d, cfg, err, sizeof err), 0, "%s", err);
    cr_assert(S_ISFIFO(mode_of("m.fifo")));
    cr_assert_eq(mode_of("m.fifo") & 0777, 0600);
    int w = open("m.fifo", O_WRONLY | O_NONBLOCK);
    cr_assert(w >= 0, "a writer finds the master reading");
    cr_assert_eq(write(w, "q", 1), 1);
    close(w);
    char c = 0;
    cr_assert_eq(read(d.fifo_fd, &c, 1), 1);
    cr_assert_eq(c, 'q');
    mt_daemon_finish(&d, cfg);
    cr_assert_neq(access("m.fifo", F_OK), 0, "vacuum removes the FIFO it made");

    cr_assert_eq(mkfifo("m.fifo", 0600), 0);
    mt_daemon_init(&d);
    cr_assert_eq(mt_daemon_open_fifo(&d, cfg, err, sizeof err), 0, "%s", err);
    mt_daemon_finish(&d, cfg);
    cr_assert_eq(access("m.fifo", F_OK), 0, "a FIFO found there is not ours to remove");

    cr_assert_eq(unlink("m.fifo"), 0);
    int fd = open("m.fifo", O_WRONLY | O_CREAT, 0644);
    close(fd);
    mt_daemon_init(&d);
    cr_assert_lt(mt_daemon_open_fifo(&d, cfg, err, sizeof err), 0);
    cr_assert(strstr(err, "option '--master-fifo': m.fifo: exists and is not a FIFO"), "%s", err);
}

Test(daemon, logto_redirects_stdout_and_stderr_and_reopens)
{
    int saved1 = dup(1), saved2 = dup(2);
    load("--logto", "out.log", NULL);
    cr_assert_eq(mt_daemon_logto(cfg, "logto", err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(mt_log_output_path(), "out.log");
    cr_assert_eq(write(2, "to stderr\n", 10), 10);
    cr_assert_eq(write(1, "to stdout\n", 10), 10);
    cr_assert_eq(rename("out.log", "out.log.1"), 0);
    mt_log_reopen();
    cr_assert_eq(write(2, "after\n", 6), 6);
    dup2(saved1, 1);
    dup2(saved2, 2);
    close(saved1);
    close(saved2);
    cr_assert_str_eq(slurp("out.log.1"), "to stderr\nto stdout\n");
    cr_assert_str_eq(slurp("out.log"), "after\n");
}

Test(daemon, logto_to_a_missing_directory)
{
    load("--logto", "nodir/out.log", NULL);
    cr_assert_lt(mt_daemon_logto(cfg, "logto", err, sizeof err), 0);
    cr_assert(strstr(err, "option '--logto': cannot open nodir/out.log for the log"), "%s", err);
}
