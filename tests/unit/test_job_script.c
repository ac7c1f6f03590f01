/*
 * Unit tests for job_script.c: a destination's tmp_dir and <env> lines as
 * the exact shell text Galaxy writes (and the local runner has always run),
 * the shell that runs them, and the single-quoting of a word, checked by
 * letting /bin/sh and /bin/bash read words back.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "app/model/job_conf.h"
#include "app/model/job_route.h"
#include "app/run/job_script.h"

static char err[1024];

static const char conf_xml[] =
    "<job_conf>\n"
    "  <plugins><plugin id=\"local\" type=\"runner\" load=\"galaxy.jobs.runners.local:LocalJobRunner\"/></plugins>\n"
    "  <destinations default=\"plain\">\n"
    "    <destination id=\"plain\" runner=\"local\"/>\n"
    "    <destination id=\"all\" runner=\"local\">\n"
    "      <param id=\"tmp_dir\">True</param>\n"
    "      <env id=\"A\">x \"y\" $HOME \\ ` 'q'</env>\n"
    "      <env id=\"B\" raw=\"true\">$(echo r)</env>\n"
    "      <env file=\"/p a/&quot;f\"/>\n"
    "      <env exec=\"module load x\"/>\n"
    "    </destination>\n"
    "    <destination id=\"expr\" runner=\"local\"><param id=\"tmp_dir\">$(mktemp -d /tmp/x.XXXX)</param></destination>\n"
    "    <destination id=\"off\" runner=\"local\"><param id=\"tmp_dir\">false</param><env exec=\"true\"/></destination>\n"
    "  </destinations>\n"
    "</job_conf>\n";

static const char conf_yaml[] = "runners:\n  local:\n    load: galaxy.jobs.runners.local:LocalJobRunner\n"
                                "execution:\n  default: z\n  environments:\n"
                                "    z:\n      runner: local\n      shell: /bin/sh\n      env:\n"
                                "        - {name: Z, value: '1'}\n";

static mt_job_route_t route_to(const mt_job_conf_t *conf, const char *id)
{
    mt_job_route_t r;
    memset(&r, 0, sizeof r);
    r.destination = id;
    r.dest = mt_job_conf_find_destination(conf, id);
    cr_assert_not_null(r.dest, "%s", id);
    return r;
}

Test(job_script, lines_as_galaxy_writes_them)
{
    mt_job_conf_t *conf;
    cr_assert_eq(mt_job_conf_load_string("j.xml", conf_xml, strlen(conf_xml), &conf, err, sizeof err), 0, "%s", err);
    mt_job_route_t r = route_to(conf, "all");
    char *text = mt_job_script_lines(&r);
    cr_assert_str_eq(text, "_GALAXY_JOB_TMP_DIR=\"$PWD/tmp\"; mkdir -p \"$_GALAXY_JOB_TMP_DIR\"\n"
                           "TMPDIR=\"$_GALAXY_JOB_TMP_DIR\"; export TMPDIR; TMP=\"$_GALAXY_JOB_TMP_DIR\"; export TMP; "
                           "TEMP=\"$_GALAXY_JOB_TMP_DIR\"; export TEMP\n"
                           "A=\"x \\\"y\\\" $HOME \\ ` 'q'\"; export A\n"
                           "B=$(echo r); export B\n"
                           ". \"/p a/\\\"f\"\n"
                           "module load x\n");
    free(text);
    r = route_to(conf, "expr");
    text = mt_job_script_lines(&r);
    cr_assert_str_eq(text, "_GALAXY_JOB_TMP_DIR=$(mktemp -d /tmp/x.XXXX)\n"
                           "TMPDIR=\"$_GALAXY_JOB_TMP_DIR\"; export TMPDIR; TMP=\"$_GALAXY_JOB_TMP_DIR\"; export TMP; "
                           "TEMP=\"$_GALAXY_JOB_TMP_DIR\"; export TEMP\n");
    free(text);
    r = route_to(conf, "off");
    text = mt_job_script_lines(&r);
    cr_assert_str_eq(text, "true\n");
    free(text);
    cr_assert_str_eq(mt_job_script_shell(&r), "/bin/bash");
    r = route_to(conf, "plain");
    cr_assert_null(mt_job_script_lines(&r));
    mt_job_conf_destroy(conf);
}

Test(job_script, nothing_without_a_destination)
{
    mt_job_route_t r;
    memset(&r, 0, sizeof r);
    cr_assert_null(mt_job_script_lines(NULL));
    cr_assert_null(mt_job_script_lines(&r));
    cr_assert_str_eq(mt_job_script_shell(NULL), MT_JOB_SCRIPT_DEFAULT_SHELL);
    cr_assert_str_eq(mt_job_script_shell(&r), "/bin/bash");
}

Test(job_script, the_destinations_shell)
{
    mt_job_conf_t *conf;
    cr_assert_eq(mt_job_conf_load_string("j.yml", conf_yaml, strlen(conf_yaml), &conf, err, sizeof err), 0, "%s", err);
    mt_job_route_t r = route_to(conf, "z");
    cr_assert_str_eq(mt_job_script_shell(&r), "/bin/sh");
    char *text = mt_job_script_lines(&r);
    cr_assert_str_eq(text, "Z=\"1\"; export Z\n");
    free(text);
    mt_job_conf_destroy(conf);
}

Test(job_script, is_name)
{
    cr_assert(mt_job_script_is_name("A_1", 3));
    cr_assert(mt_job_script_is_name("_x", 2));
    cr_assert(mt_job_script_is_name("AB=c", 2));
    cr_assert_not(mt_job_script_is_name("1A", 2));
    cr_assert_not(mt_job_script_is_name("A-B", 3));
    cr_assert_not(mt_job_script_is_name("", 0));
    cr_assert_not(mt_job_script_is_name("A B", 3));
}

/* Run SHELL -c 'printf "%s\0" WORDS' and return what it printed (NUL-separated words). */
static size_t shell_words(const char *shell, const char *script, char *out, size_t cap)
{
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        execl(shell, shell, "-c", script, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    size_t n = 0;
    ssize_t r;
    while ((r = read(fds[0], out + n, cap - n)) > 0)
        n += (size_t)r;
    close(fds[0]);
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s exited %d", shell, st);
    return n;
}

Test(job_script, quoted_words_come_back_unchanged)
{
    static const char *const words[] = {
        "plain", "", "two words", "it's", "''", "\"double\"", "$HOME", "${x:-y}", "`id`", "$(id)", "a\\b", "back\\",
        "new\nline", "tab\there", "*", "~", "#hash", "!bang", ";|&<>()", "\\'", "'\\''", "\x01\x7f\xc3\xa9",
    };
    size_t nwords = sizeof words / sizeof words[0];
    char *script = NULL;
    size_t len = 0;
    mt_job_script_append(&script, &len, "printf '%s\\0'");
    for (size_t i = 0; i < nwords; i++) {
        mt_job_script_append(&script, &len, " ");
        mt_job_script_append_word(&script, &len, words[i]);
    }
    cr_assert_eq(len, strlen(script));
    const char *shells[] = {"/bin/sh", "/bin/bash"};
    for (size_t s = 0; s < 2; s++) {
        char out[4096];
        size_t n = shell_words(shells[s], script, out, sizeof out);
        size_t off = 0;
        for (size_t i = 0; i < nwords; i++) {
            cr_assert_lt(off, n, "%s: word %zu missing", shells[s], i);
            cr_assert_str_eq(out + off, words[i], "%s: word %zu", shells[s], i);
            off += strlen(out + off) + 1;
        }
        cr_assert_eq(off, n, "%s: more words than given", shells[s]);
    }
    free(script);
    script = NULL;
    len = 0;
    mt_job_script_append_word(&script, &len, "it's");
    cr_assert_str_eq(script, "'it'\\''s'");
    free(script);
}
