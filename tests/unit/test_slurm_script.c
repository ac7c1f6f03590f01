/*
 * Unit tests for slurm_script.c: batch scripts written and then run for
 * real (exec'd through their #! line, as slurmd does), checking the argv
 * the command received -- quotes, spaces, $, newlines, backslashes --, the
 * environment it got, its outputs, stdin from /dev/null, the status file
 * for an exit 0, an exit 3, a SIGKILL and a SIGTERM to the job's process
 * group, the destination's lines; and the refusals and the status reader.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "app/model/job_conf.h"
#include "app/run/slurm_script.h"

static char err[1024];
static char dir[256];
static char script_path[512], out_path[512], err_path[512], status_path[512];

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/mt-slurm-script-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(script_path, sizeof script_path, "%s/%s", dir, MT_SLURM_SCRIPT_NAME);
    snprintf(out_path, sizeof out_path, "%s/stdout", dir);
    snprintf(err_path, sizeof err_path, "%s/stderr", dir);
    snprintf(status_path, sizeof status_path, "%s/%s", dir, MT_SLURM_STATUS_NAME);
}

static void teardown(void)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(slurm_script, .init = setup, .fini = teardown);

/* The contents of a file (malloc'd, NUL-terminated; *len without the NUL), or NULL. */
static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = malloc(65536);
    size_t n = fread(buf, 1, 65535, f);
    fclose(f);
    buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}

/*
 * Exec the script as slurmd would (through its #! line), in a process group
 * of its own, with data waiting on its stdin (which the command must not
 * see); term_after_ms > 0 sends SIGTERM to the group that long after the
 * command has started. Returns the wait status.
 */
static int run_script(int term_after_ms)
{
    int in[2];
    cr_assert_eq(pipe(in), 0);
    cr_assert_eq(write(in[1], "stdin data\n", 11), 11);
    close(in[1]);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        setpgid(0, 0);
        dup2(in[0], 0);
        execl(script_path, script_path, (char *)NULL);
        _exit(99);
    }
    close(in[0]);
    setpgid(pid, pid);
    if (term_after_ms > 0) {
        /* Once the command has written its words, the script's trap is set: only then is the SIGTERM meaningful. */
        struct stat st;
        for (int i = 0; i < 1000 && (stat(out_path, &st) < 0 || st.st_size == 0); i++)
            usleep(10000);
        struct timespec ts = {term_after_ms / 1000, (term_after_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
        kill(-pid, SIGTERM);
    }
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    return st;
}

/* The words the tool gets: awkward on purpose. */
static const char *const awkward[] = {
    "plain", "", "two words", "it's", "\"dq\"", "$HOME", "${X:-y}", "`id`", "$(id)", "a\\b", "end\\",
    "new\nline", "\ttab", "*", "~", "#x", ";|&<>()", "'\\''", "-e",
};
#define NAWKWARD (sizeof awkward / sizeof awkward[0])

/* The command: sh -c CODE, which prints its arguments NUL-separated, reports its env and stdin, and exits $CODE. */
static const char inner[] = "printf '%s\\0' \"$@\"; printf '%s\\0' \"$V1\" \"$V2\" \"$MULETEER_JOB_ID\" \"$PWD\" >&2; "
                            "if read -r line; then echo 'stdin had data' >&2; fi; "
                            "case $CODE in kill) kill -9 $$;; sleep) exec sleep 30;; esac; exit $CODE";

static char **command_argv(void)
{
    static char *argv[4 + NAWKWARD + 1];
    argv[0] = "/bin/sh";
    argv[1] = "-c";
    argv[2] = (char *)inner;
    argv[3] = "tool";
    for (size_t i = 0; i < NAWKWARD; i++)
        argv[4 + i] = (char *)awkward[i];
    argv[4 + NAWKWARD] = NULL;
    return argv;
}

static mt_slurm_script_t script_for(const char *code, const char **env, size_t *nenv)
{
    static char code_env[64];
    snprintf(code_env, sizeof code_env, "CODE=%s", code);
    size_t n = 0;
    env[n++] = "V1=value with 'quotes', \"dq\", $HOME, `id`, \\ and\na newline";
    env[n++] = "V2=";
    env[n++] = "MULETEER_JOB_ID=42";
    env[n++] = code_env;
    *nenv = n;
    mt_slurm_script_t s = {
        .argv = command_argv(),
        .env = env,
        .env_count = n,
        .working_dir = dir,
        .stdout_path = out_path,
        .stderr_path = err_path,
        .status_path = status_path,
        .attempt = 1,
    };
    return s;
}

static void assert_nul_words(const char *buf, size_t len, const char *const *want, size_t nwant, const char *what)
{
    size_t off = 0;
    for (size_t i = 0; i < nwant; i++) {
        cr_assert_lt(off, len, "%s: word %zu missing", what, i);
        cr_assert_str_eq(buf + off, want[i], "%s: word %zu", what, i);
        off += strlen(buf + off) + 1;
    }
    cr_assert_leq(off, len);
}

Test(slurm_script, runs_the_command_with_its_words_and_env_exactly)
{
    const char *env[8];
    size_t nenv;
    mt_slurm_script_t s = script_for("0", env, &nenv);
    cr_assert_eq(mt_slurm_script_write(&s, script_path, err, sizeof err), 0, "%s", err);
    struct stat st;
    cr_assert_eq(stat(script_path, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0755);
    char *text = slurp(script_path, NULL);
    cr_assert(strncmp(text, "#!/bin/sh\n", 10) == 0, "%s", text);
    cr_assert_null(strstr(text, "#SBATCH"));
    free(text);

    int ws = run_script(0);
    cr_assert(WIFEXITED(ws) && WEXITSTATUS(ws) == 0, "status %d", ws);
    size_t len;
    char *out = slurp(out_path, &len);
    cr_assert_not_null(out);
    assert_nul_words(out, len, awkward, NAWKWARD, "argv");
    size_t words_len = 0;
    for (size_t i = 0; i < NAWKWARD; i++)
        words_len += strlen(awkward[i]) + 1;
    cr_assert_eq(len, words_len, "more output than the words");
    free(out);
    char *errs = slurp(err_path, &len);
    const char *want_env[] = {env[0] + 3, "", "42", dir};
    assert_nul_words(errs, len, want_env, 4, "env");
    cr_assert_null(memmem(errs, len, "stdin had data", 14), "the command read the script's stdin");
    free(errs);
    int attempt = -1, code = -1;
    cr_assert_eq(mt_slurm_status_read(status_path, &attempt, &code), 0);
    cr_assert_eq(attempt, 1);
    cr_assert_eq(code, 0);
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.tmp", status_path);
    cr_assert_eq(access(tmp, F_OK), -1, "the status temp file was left behind");
}

Test(slurm_script, exit_code_and_attempt)
{
    const char *env[8];
    size_t nenv;
    mt_slurm_script_t s = script_for("3", env, &nenv);
    s.attempt = 2;
    cr_assert_eq(mt_slurm_script_write(&s, script_path, err, sizeof err), 0, "%s", err);
    int ws = run_script(0);
    cr_assert(WIFEXITED(ws) && WEXITSTATUS(ws) == 3, "status %d", ws);
    char *st = slurp(status_path, NULL);
    cr_assert_str_eq(st, "2 3\n");
    free(st);
    int attempt, code;
    cr_assert_eq(mt_slurm_status_read(status_path, &attempt, &code), 0);
    cr_assert_eq(attempt, 2);
    cr_assert_eq(code, 3);
}

Test(slurm_script, a_command_killed_by_a_signal_is_128_plus_n)
{
    const char *env[8];
    size_t nenv;
    mt_slurm_script_t s = script_for("kill", env, &nenv);
    cr_assert_eq(mt_slurm_script_write(&s, script_path, err, sizeof err), 0, "%s", err);
    int ws = run_script(0);
    cr_assert(WIFEXITED(ws) && WEXITSTATUS(ws) == 137, "status %d", ws);
    int attempt, code;
    cr_assert_eq(mt_slurm_status_read(status_path, &attempt, &code), 0);
    cr_assert_eq(code, 137);
}

Test(slurm_script, sigterm_to_the_job_still_writes_the_status)
{
    /* As Slurm cancels a job or ends it at its time limit: SIGTERM to every process of the job. */
    const char *env[8];
    size_t nenv;
    mt_slurm_script_t s = script_for("sleep", env, &nenv);
    cr_assert_eq(mt_slurm_script_write(&s, script_path, err, sizeof err), 0, "%s", err);
    int ws = run_script(50);
    cr_assert(WIFEXITED(ws) && WEXITSTATUS(ws) == 143, "status %d", ws);
    int attempt, code;
    cr_assert_eq(mt_slurm_status_read(status_path, &attempt, &code), 0);
    cr_assert_eq(code, 143);
}

Test(slurm_script, one_file_for_both_outputs)
{
    const char *env[8];
    size_t nenv;
    mt_slurm_script_t s = script_for("0", env, &nenv);
    s.stderr_path = out_path;
    cr_assert_eq(mt_slurm_script_write(&s, script_path, err, sizeof err), 0, "%s", err);
    int ws = run_script(0);
    cr_assert(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
    size_t len;
    char *out = slurp(out_path, &len);
    assert_nul_words(out, len, awkward, NAWKWARD, "argv");
    cr_assert_not_null(memmem(out, len, "42", 3), "stderr is not in the shared file");
    free(out);
}

Test(slurm_script, the_destinations_lines_after_the_env)
{
    static const char conf_xml[] =
        "<job_conf><plugins><plugin id=\"local\" type=\"runner\" load=\"galaxy.jobs.runners.local:LocalJobRunner\"/>"
        "</plugins><destinations default=\"d\"><destination id=\"d\" runner=\"local\">"
        "<param id=\"tmp_dir\">True</param><env id=\"V2\">from $MULETEER_JOB_ID \"x\"</env>"
        "</destination></destinations></job_conf>";
    mt_job_conf_t *conf;
    cr_assert_eq(mt_job_conf_load_string("j.xml", conf_xml, strlen(conf_xml), &conf, err, sizeof err), 0, "%s", err);
    mt_job_route_t route = {.destination = "d", .dest = mt_job_conf_find_destination(conf, "d")};
    const char *env[8];
    size_t nenv;
    mt_slurm_script_t s = script_for("0", env, &nenv);
    s.route = &route;
    static char inner_tmp[] = "printf '%s\\0' \"$V2\" \"$TMPDIR\" \"$TMP\" \"$TEMP\"";
    char *argv[] = {"/bin/sh", "-c", inner_tmp, NULL};
    s.argv = argv;
    cr_assert_eq(mt_slurm_script_write(&s, script_path, err, sizeof err), 0, "%s", err);
    char *text = slurp(script_path, NULL);
    cr_assert(strncmp(text, "#!/bin/bash\n", 12) == 0, "%s", text);
    free(text);
    int ws = run_script(0);
    cr_assert(WIFEXITED(ws) && WEXITSTATUS(ws) == 0, "status %d", ws);
    char tmpdir[300];
    snprintf(tmpdir, sizeof tmpdir, "%s/tmp", dir);
    size_t len;
    char *out = slurp(out_path, &len);
    const char *want[] = {"from 42 \"x\"", tmpdir, tmpdir, tmpdir};
    assert_nul_words(out, len, want, 4, "destination env");
    free(out);
    struct stat st;
    cr_assert_eq(stat(tmpdir, &st), 0, "tmp_dir was not created");
    cr_assert(S_ISDIR(st.st_mode));
    mt_job_conf_destroy(conf);
}

Test(slurm_script, replaces_an_older_script)
{
    const char *env[8];
    size_t nenv;
    mt_slurm_script_t s = script_for("0", env, &nenv);
    FILE *f = fopen(script_path, "w");
    fputs("old", f);
    fclose(f);
    chmod(script_path, 0600);
    cr_assert_eq(mt_slurm_script_write(&s, script_path, err, sizeof err), 0, "%s", err);
    struct stat st;
    cr_assert_eq(stat(script_path, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0755);
    char *text = slurp(script_path, NULL);
    cr_assert(strncmp(text, "#!/bin/sh\n", 10) == 0);
    free(text);
}

Test(slurm_script, refusals_say_why)
{
    const char *env[8];
    size_t nenv;
    mt_slurm_script_t s = script_for("0", env, &nenv);
    char *rel[] = {"sh", NULL};
    s.argv = rel;
    cr_assert_eq(mt_slurm_script_write(&s, script_path, err, sizeof err), -EINVAL);
    cr_assert_str_eq(err, "batch script: command 'sh' is not an absolute path");
    s = script_for("0", env, &nenv);
    env[1] = "A-B=1";
    cr_assert_eq(mt_slurm_script_write(&s, script_path, err, sizeof err), -EINVAL);
    cr_assert_str_eq(err, "batch script: env entry 'A-B=1': 'A-B' is not a shell variable name");
    env[1] = "NOEQUALS";
    cr_assert_eq(mt_slurm_script_write(&s, script_path, err, sizeof err), -EINVAL);
    cr_assert_str_eq(err, "batch script: env entry 'NOEQUALS' has no '='");
    s = script_for("0", env, &nenv);
    s.status_path = "slurm_exit_code";
    cr_assert_eq(mt_slurm_script_write(&s, script_path, err, sizeof err), -EINVAL);
    cr_assert_str_eq(err, "batch script: status file 'slurm_exit_code' is not an absolute path");
    s = script_for("0", env, &nenv);
    cr_assert_eq(mt_slurm_script_write(&s, "/nonexistent-dir/slurm_job.sh", err, sizeof err), -ENOENT);
    cr_assert_str_eq(err, "cannot write /nonexistent-dir/slurm_job.sh: No such file or directory");
    cr_assert_eq(access(script_path, F_OK), -1, "nothing written for a refused script");
}

static void write_status(const char *text)
{
    FILE *f = fopen(status_path, "w");
    fputs(text, f);
    fclose(f);
}

Test(slurm_script, status_reader)
{
    int a = -1, c = -1;
    cr_assert_eq(mt_slurm_status_read(status_path, &a, &c), -ENOENT);
    write_status("0 255\n");
    cr_assert_eq(mt_slurm_status_read(status_path, &a, &c), 0);
    cr_assert_eq(a, 0);
    cr_assert_eq(c, 255);
    const char *bad[] = {"", "1\n", "1 2", "1 2\n3", "1  2\n", " 1 2\n", "1 256\n", "1 -1\n", "+1 2\n", "a b\n",
                         "1 2 \n", "1\t2\n", "1 2\n\n", "9999999999 1\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_status(bad[i]);
        cr_assert_eq(mt_slurm_status_read(status_path, &a, &c), -EINVAL, "'%s'", bad[i]);
    }
}

Test(slurm_script, set_e_among_the_lines_does_not_lose_the_status)
{
    static const char conf_xml[] =
        "<job_conf><plugins><plugin id=\"local\" type=\"runner\" load=\"galaxy.jobs.runners.local:LocalJobRunner\"/>"
        "</plugins><destinations default=\"d\"><destination id=\"d\" runner=\"local\">"
        "<env exec=\"set -eu\"/></destination></destinations></job_conf>";
    mt_job_conf_t *conf;
    cr_assert_eq(mt_job_conf_load_string("j.xml", conf_xml, strlen(conf_xml), &conf, err, sizeof err), 0, "%s", err);
    mt_job_route_t route = {.destination = "d", .dest = mt_job_conf_find_destination(conf, "d")};
    const char *env[8];
    size_t nenv;
    mt_slurm_script_t s = script_for("3", env, &nenv);
    s.route = &route;
    cr_assert_eq(mt_slurm_script_write(&s, script_path, err, sizeof err), 0, "%s", err);
    int ws = run_script(0);
    cr_assert(WIFEXITED(ws) && WEXITSTATUS(ws) == 3, "status %d", ws);
    int attempt, code;
    cr_assert_eq(mt_slurm_status_read(status_path, &attempt, &code), 0, "no status file");
    cr_assert_eq(code, 3);
    mt_job_conf_destroy(conf);
}

Test(slurm_script, sigterm_to_the_job_under_bash_too)
{
    /* A destination with env lines gets /bin/bash, whose trap must wait for the command just as sh's does. */
    static const char conf_xml[] =
        "<job_conf><plugins><plugin id=\"local\" type=\"runner\" load=\"galaxy.jobs.runners.local:LocalJobRunner\"/>"
        "</plugins><destinations default=\"d\"><destination id=\"d\" runner=\"local\">"
        "<env id=\"X\">1</env></destination></destinations></job_conf>";
    mt_job_conf_t *conf;
    cr_assert_eq(mt_job_conf_load_string("j.xml", conf_xml, strlen(conf_xml), &conf, err, sizeof err), 0, "%s", err);
    mt_job_route_t route = {.destination = "d", .dest = mt_job_conf_find_destination(conf, "d")};
    const char *env[8];
    size_t nenv;
    mt_slurm_script_t s = script_for("sleep", env, &nenv);
    s.route = &route;
    cr_assert_eq(mt_slurm_script_write(&s, script_path, err, sizeof err), 0, "%s", err);
    char *text = slurp(script_path, NULL);
    cr_assert(strncmp(text, "#!/bin/bash\n", 12) == 0, "%s", text);
    free(text);
    int ws = run_script(50);
    cr_assert(WIFEXITED(ws) && WEXITSTATUS(ws) == 143, "status %d", ws);
    int attempt, code;
    cr_assert_eq(mt_slurm_status_read(status_path, &attempt, &code), 0);
    cr_assert_eq(code, 143);
    mt_job_conf_destroy(conf);
}
