/*
 * job_script: the lines Galaxy writes into a job's shell script for its
 * destination -- the tmp_dir lines (TMPDIR, TMP, TEMP) and the <env> lines
 * (NAME="value"; export NAME, . "FILE", a command run as written) -- as
 * shell text, and the shell that runs them. Both runners use it: the local
 * runner runs the lines in `SHELL -c 'LINES exec "$@"'` before the command
 * (runner_local.h), the Slurm runner writes them into the batch script
 * (slurm_script.h). Also the quoting of one word for a POSIX shell, which
 * the batch script uses for everything that must reach the command as it is.
 *
 * Thread-safety: pure functions; the route is only read.
 */
#ifndef MT_JOB_SCRIPT_H
#define MT_JOB_SCRIPT_H

#include <stdbool.h>
#include <stddef.h>

#include "app/model/job_route.h"

/* The shell of a destination's lines when it names none (Galaxy's default_job_shell). */
#define MT_JOB_SCRIPT_DEFAULT_SHELL "/bin/bash"

/*
 * The destination's lines as shell text, or NULL when it has none (no
 * tmp_dir, no <env>; also for a NULL route or a route without a
 * destination). Otherwise a malloc'd string (free()), each line ending in
 * "\n", in this order:
 *   - tmp_dir true:  _GALAXY_JOB_TMP_DIR="$PWD/tmp"; mkdir -p "$_GALAXY_JOB_TMP_DIR"
 *     tmp_dir EXPR:  _GALAXY_JOB_TMP_DIR=EXPR   (Galaxy's expression, as written)
 *     then:          TMPDIR="$_GALAXY_JOB_TMP_DIR"; export TMPDIR; TMP=...; export TMP; TEMP=...; export TEMP
 *     ($PWD: the lines must run in the job's working directory);
 *   - each <env> in file order: NAME="value"; export NAME (the value in
 *     double quotes with only " escaped, as Galaxy writes it, so $VAR
 *     expands; raw="true": unquoted), . "FILE", or the command as written.
 */
char *mt_job_script_lines(const mt_job_route_t *route);

/* The shell that runs those lines: the destination's (YAML shell:), else MT_JOB_SCRIPT_DEFAULT_SHELL. Never NULL. */
const char *mt_job_script_shell(const mt_job_route_t *route);

/*
 * Append `word` to the malloc'd string *text of length *len (both may
 * start as NULL / 0), single-quoted so that any POSIX shell reads it back
 * as exactly that one word: 'it'\''s' (newlines, $, `, \ and " kept as
 * they are). *text stays NUL-terminated.
 */
void mt_job_script_append_word(char **text, size_t *len, const char *word);

/* Append `s` as it is to *text (as mt_job_script_append_word, without quoting). */
void mt_job_script_append(char **text, size_t *len, const char *s);

/* Is name a shell variable name ([A-Za-z_][A-Za-z0-9_]*)? */
bool mt_job_script_is_name(const char *name, size_t len);

#endif
