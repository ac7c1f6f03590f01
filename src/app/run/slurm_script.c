/*
 * slurm_script: a cluster job's batch script and its status file (see
 * slurm_script.h for the script's text and what the status holds).
 *
 * Everything the command must receive as it is -- its words, the values of
 * the environment it is given, the paths -- is single-quoted
 * (mt_job_script_append_word), the one quoting a POSIX shell undoes
 * without looking inside; only the destination's own lines are shell code,
 * as Galaxy means them to be.
 *
 * The script is not fsync'd: sbatch sends its content to slurmctld when it
 * is submitted, so once the submission succeeded the copy on disk no longer
 * matters to Slurm, and a crash before that submits nothing.
 */
#include "app/run/slurm_script.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "app/run/job_script.h"
#include "common/message.h"
#include "common/mem.h"


static int check_path(const char *what, const char *p, char *err, size_t errlen)
{
    if (!p || p[0] != '/')
        return mt_message_fail_rc(err, errlen, -EINVAL, "batch script: %s %s%s%s is not an absolute path", what, p ? "'" : "",
                    p ? p : "(none)", p ? "'" : "");
    return 0;
}

static int check_script(const mt_slurm_script_t *s, char *err, size_t errlen)
{
    if (!s->argv || !s->argv[0])
        return mt_message_fail_rc(err, errlen, -EINVAL, "batch script: no command");
    int rc;
    if ((rc = check_path("command", s->argv[0], err, errlen)) < 0 ||
        (rc = check_path("working directory", s->working_dir, err, errlen)) < 0 ||
        (rc = check_path("stdout", s->stdout_path, err, errlen)) < 0 ||
        (rc = check_path("stderr", s->stderr_path, err, errlen)) < 0 ||
        (rc = check_path("status file", s->status_path, err, errlen)) < 0)
        return rc;
    if (s->attempt < 0)
        return mt_message_fail_rc(err, errlen, -EINVAL, "batch script: attempt %d is negative", s->attempt);
    for (size_t i = 0; i < s->env_count; i++) {
        const char *kv = s->env[i];
        const char *eq = kv ? strchr(kv, '=') : NULL;
        if (!eq)
            return mt_message_fail_rc(err, errlen, -EINVAL, "batch script: env entry '%s' has no '='", kv ? kv : "(null)");
        if (!mt_job_script_is_name(kv, (size_t)(eq - kv)))
            return mt_message_fail_rc(err, errlen, -EINVAL, "batch script: env entry '%s': '%.*s' is not a shell variable name", kv,
                        (int)(eq - kv), kv);
    }
    return 0;
}

/* The script's text (slurm_script.h shows it line by line), malloc'd; NULL with err when the shell cannot be named. */
static char *script_text(const mt_slurm_script_t *s, char *err, size_t errlen)
{
    char *lines = mt_job_script_lines(s->route);
    const char *shell = lines ? mt_job_script_shell(s->route) : "/bin/sh";
    if (shell[0] != '/' || strpbrk(shell, " \t\n\r")) {
        mt_message_fail_rc(err, errlen, -EINVAL, "batch script: the destination's shell '%s' cannot be a script's #! line", shell);
        free(lines);
        return NULL;
    }
    char *t = NULL;
    size_t n = 0;
    char num[32];
    mt_job_script_append(&t, &n, "#!");
    mt_job_script_append(&t, &n, shell);
    mt_job_script_append(&t, &n, "\n# muleteer: runs the tool's command, then writes \"ATTEMPT EXIT_CODE\" to its status file\n"
                                 "cd ");
    mt_job_script_append_word(&t, &n, s->working_dir);
    mt_job_script_append(&t, &n, " || exit 1\n");
    for (size_t i = 0; i < s->env_count; i++) {
        const char *kv = s->env[i], *eq = strchr(kv, '=');
        char *name = mt_strndup(kv, (size_t)(eq - kv));
        mt_job_script_append(&t, &n, name);
        mt_job_script_append(&t, &n, "=");
        mt_job_script_append_word(&t, &n, eq + 1);
        mt_job_script_append(&t, &n, "; export ");
        mt_job_script_append(&t, &n, name);
        mt_job_script_append(&t, &n, "\n");
        free(name);
    }
    if (lines)
        mt_job_script_append(&t, &n, lines);
    free(lines);
    /* Slurm's SIGTERM (scancel, time limit) reaches the command too: wait for it, so its status is still written. */
    mt_job_script_append(&t, &n, "trap : TERM\nrc=0\n");
    for (size_t i = 0; s->argv[i]; i++) {
        if (i > 0)
            mt_job_script_append(&t, &n, " ");
        mt_job_script_append_word(&t, &n, s->argv[i]);
    }
    mt_job_script_append(&t, &n, " </dev/null >");
    mt_job_script_append_word(&t, &n, s->stdout_path);
    if (strcmp(s->stdout_path, s->stderr_path) == 0) {
        mt_job_script_append(&t, &n, " 2>&1");
    } else {
        mt_job_script_append(&t, &n, " 2>");
        mt_job_script_append_word(&t, &n, s->stderr_path);
    }
    /* In an || list, so that a "set -e" among the destination's lines cannot end the script before the status. */
    mt_job_script_append(&t, &n, " || rc=$?\n");
    char *tmp = mt_asprintf("%s.tmp", s->status_path);
    snprintf(num, sizeof num, "%d", s->attempt);
    mt_job_script_append(&t, &n, "printf '%s %s\\n' ");
    mt_job_script_append(&t, &n, num);
    mt_job_script_append(&t, &n, " \"$rc\" >");
    mt_job_script_append_word(&t, &n, tmp);
    mt_job_script_append(&t, &n, " && command -p mv -f ");
    mt_job_script_append_word(&t, &n, tmp);
    mt_job_script_append(&t, &n, " ");
    mt_job_script_append_word(&t, &n, s->status_path);
    mt_job_script_append(&t, &n, "\nexit \"$rc\"\n");
    free(tmp);
    return t;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int mt_slurm_script_write(const mt_slurm_script_t *s, const char *path, char *err, size_t errlen)
{
    if (!s || !path)
        return mt_message_fail_rc(err, errlen, -EINVAL, "batch script: no script or no path");
    int rc = check_script(s, err, errlen);
    if (rc < 0)
        return rc;
    char *text = script_text(s, err, errlen);
    if (!text)
        return -EINVAL;
    char *tmp = mt_asprintf("%s.tmp.%ld", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0755);
    if (fd < 0) {
        rc = mt_message_fail_rc(err, errlen, -errno, "cannot write %s: %s", path, strerror(errno));
        goto out;
    }
    /* 0755 whatever the umask: slurmd runs it as a program. */
    rc = write_all(fd, text, strlen(text));
    if (rc == 0 && fchmod(fd, 0755) < 0)
        rc = -errno;
    if (rc < 0) {
        mt_message_fail_rc(err, errlen, rc, "cannot write %s: %s", path, strerror(-rc));
        close(fd);
        unlink(tmp);
        goto out;
    }
    if (close(fd) < 0) {
        rc = mt_message_fail_rc(err, errlen, -errno, "cannot write %s: %s", path, strerror(errno));
        unlink(tmp);
        goto out;
    }
    if (rename(tmp, path) < 0) {
        rc = mt_message_fail_rc(err, errlen, -errno, "cannot write %s: %s", path, strerror(errno));
        unlink(tmp);
        goto out;
    }
    rc = 0;
out:
    free(tmp);
    free(text);
    return rc;
}

int mt_slurm_status_read(const char *status_path, int *attempt, int *exit_code)
{
    int fd = open(status_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    char buf[64];
    size_t n = 0;
    for (;;) {
        ssize_t r = read(fd, buf + n, sizeof buf - 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            close(fd);
            return -e;
        }
        if (r == 0 || (n += (size_t)r) == sizeof buf - 1)
            break;
    }
    close(fd);
    buf[n] = '\0';
    /* "ATTEMPT CODE\n" and nothing else: digits only, so "+1", " 1" or "1.0" are malformed. */
    const char *p = buf;
    long v[2];
    for (int i = 0; i < 2; i++) {
        if (*p < '0' || *p > '9')
            return -EINVAL;
        char *end;
        errno = 0;
        v[i] = strtol(p, &end, 10);
        if (errno || end - p > 9)
            return -EINVAL;
        p = end;
        if (*p++ != (i == 0 ? ' ' : '\n'))
            return -EINVAL;
    }
    if (*p != '\0' || v[1] > 255)
        return -EINVAL;
    if (attempt)
        *attempt = (int)v[0];
    if (exit_code)
        *exit_code = (int)v[1];
    return 0;
}
