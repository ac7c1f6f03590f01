/*
 * job_script: a destination's job-script lines as shell text (see
 * job_script.h). The text is what Galaxy writes into its job scripts for
 * tmp_dir and <env>; the local runner and the Slurm batch script both take
 * it from here, so a destination behaves the same on either runner.
 */
#include "app/run/job_script.h"

#include <string.h>

#include "common/mem.h"

void mt_job_script_append(char **text, size_t *len, const char *s)
{
    size_t n = strlen(s);
    *text = mt_realloc(*text, *len + n + 1);
    memcpy(*text + *len, s, n + 1);
    *len += n;
}

/* Galaxy's quoting of an env value: in double quotes, with " escaped (and nothing else: $VAR expands). */
static void append_double_quoted(char **text, size_t *len, const char *value)
{
    mt_job_script_append(text, len, "\"");
    for (const char *p = value; *p; p++)
        mt_job_script_append(text, len, *p == '"' ? "\\\"" : (char[2]){*p, 0});
    mt_job_script_append(text, len, "\"");
}

void mt_job_script_append_word(char **text, size_t *len, const char *word)
{
    /* '...' keeps everything but ' itself, which is closed, escaped and reopened: 'it'\''s'. */
    size_t quotes = 0;
    for (const char *p = word; *p; p++)
        quotes += *p == '\'';
    size_t n = strlen(word), add = n + 2 + 3 * quotes;
    *text = mt_realloc(*text, *len + add + 1);
    char *q = *text + *len;
    *q++ = '\'';
    for (const char *p = word; *p; p++) {
        if (*p == '\'') {
            memcpy(q, "'\\''", 4);
            q += 4;
        } else {
            *q++ = *p;
        }
    }
    *q++ = '\'';
    *q = '\0';
    *len += add;
}

bool mt_job_script_is_name(const char *name, size_t len)
{
    if (len == 0 || !((name[0] >= 'A' && name[0] <= 'Z') || (name[0] >= 'a' && name[0] <= 'z') || name[0] == '_'))
        return false;
    for (size_t i = 1; i < len; i++) {
        char c = name[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
            return false;
    }
    return true;
}

const char *mt_job_script_shell(const mt_job_route_t *route)
{
    const char *shell = route && route->dest ? mt_job_destination_shell(route->dest) : NULL;
    return shell ? shell : MT_JOB_SCRIPT_DEFAULT_SHELL;
}

char *mt_job_script_lines(const mt_job_route_t *route)
{
    if (!route || !route->dest)
        return NULL;
    const mt_job_env_t *lines;
    size_t nlines = mt_job_destination_env(route->dest, &lines);
    bool tmp_in_job_dir = false;
    const char *tmp_dir = mt_job_destination_tmp_dir(route->dest, &tmp_in_job_dir);
    if (nlines == 0 && !tmp_dir)
        return NULL;
    char *text = NULL;
    size_t len = 0;
    if (tmp_dir) {
        /* Galaxy's tmp_dir: a "tmp" directory in the working directory, or the directory the expression gives. */
        mt_job_script_append(&text, &len, "_GALAXY_JOB_TMP_DIR=");
        mt_job_script_append(&text, &len,
                             tmp_in_job_dir ? "\"$PWD/tmp\"; mkdir -p \"$_GALAXY_JOB_TMP_DIR\"" : tmp_dir);
        mt_job_script_append(&text, &len,
                             "\nTMPDIR=\"$_GALAXY_JOB_TMP_DIR\"; export TMPDIR; TMP=\"$_GALAXY_JOB_TMP_DIR\"; "
                             "export TMP; TEMP=\"$_GALAXY_JOB_TMP_DIR\"; export TEMP\n");
    }
    for (size_t i = 0; i < nlines; i++) {
        const mt_job_env_t *e = &lines[i];
        switch (e->kind) {
        case MT_JOB_ENV_SET:
            mt_job_script_append(&text, &len, e->name);
            mt_job_script_append(&text, &len, "=");
            if (e->raw)
                mt_job_script_append(&text, &len, e->value);
            else
                append_double_quoted(&text, &len, e->value);
            mt_job_script_append(&text, &len, "; export ");
            mt_job_script_append(&text, &len, e->name);
            break;
        case MT_JOB_ENV_FILE:
            mt_job_script_append(&text, &len, ". ");
            append_double_quoted(&text, &len, e->value);
            break;
        case MT_JOB_ENV_EXEC:
            mt_job_script_append(&text, &len, e->value);
            break;
        }
        mt_job_script_append(&text, &len, "\n");
    }
    return text;
}
