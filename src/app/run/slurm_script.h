/*
 * slurm_script: the batch script of a cluster job, and the status file it
 * leaves. The Slurm runner writes the script into the job's working
 * directory and submits it with sbatch; the script runs the tool's command
 * -- each word single-quoted, so nothing in the arguments passes through
 * the shell's parser -- with the environment it exports and the
 * destination's lines (job_script.h), and writes the command's exit status
 * to a file beside the outputs, so the result survives the handler that
 * submitted it.
 *
 * The script, in order:
 *   #!/bin/sh                  (the destination's shell when it has lines: runner_local does the same)
 *   cd 'WORKING_DIR' || exit 1 (no status file: the command never ran)
 *   NAME='value'; export NAME  (each of s->env, single-quoted: the value arrives as it is)
 *   LINES                      (mt_job_script_lines: tmp_dir, <env>; $VAR expands there, as in Galaxy)
 *   trap : TERM                (see below)
 *   rc=0
 *   'ARGV0' 'ARG1' ... </dev/null >'STDOUT' 2>'STDERR' || rc=$?   (2>&1 when both paths are the same;
 *                              in an || list, so a "set -e" in the lines cannot end the script first)
 *   printf '%s %s\n' ATTEMPT "$rc" >'STATUS.tmp' && command -p mv -f 'STATUS.tmp' 'STATUS'
 *   exit "$rc"
 *
 * The exit status written is the shell's: the command's exit code, 128+N
 * when a signal N killed it (137 for SIGKILL, 143 for SIGTERM), 126 when
 * it could not be executed, 127 when it was not found. The TERM trap makes
 * the shell wait for the command when Slurm cancels the job or its time
 * limit is reached (Slurm sends SIGTERM to every process of the job, then
 * SIGKILL after its KillWait): a command that ends on SIGTERM then still
 * gets its status ("ATTEMPT 143") written. If the script itself is killed
 * (SIGKILL, a node failure) there is no status file; the runner goes by
 * Slurm's state then.
 *
 * Thread-safety: no state; file-system calls only.
 */
#ifndef MT_SLURM_SCRIPT_H
#define MT_SLURM_SCRIPT_H

#include <stddef.h>

#include "app/model/job_route.h"

/* The script's name and the status file's in a job's working directory (the runner's convention). */
#define MT_SLURM_SCRIPT_NAME "slurm_job.sh"
#define MT_SLURM_STATUS_NAME "slurm_exit_code"

typedef struct mt_slurm_script {
    char *const *argv;            /* the tool's command: argv[0] absolute; each word single-quoted in the script, never through the shell's parser */
    const char *const *env;       /* KEY=VALUE exported before the destination's env lines (tool env, MULETEER_JOB_ID, MULETEER_JOB_DIR, GALAXY_SLOTS, ...) */
    size_t env_count;
    const mt_job_route_t *route;  /* the destination (its env lines, tmp_dir) as runner_local applies them (app/model/job_route.h); may be NULL */
    const char *working_dir;      /* absolute; the script cd's there */
    const char *stdout_path;      /* absolute: the tool's stdout */
    const char *stderr_path;      /* absolute */
    const char *status_path;      /* absolute: the script writes "ATTEMPT EXIT_CODE\n" there when the command ends (temp file + rename, so a reader never sees half) */
    int attempt;
} mt_slurm_script_t;

/*
 * Write the script to path (mode 0755, created or replaced atomically: temp + rename), "#!/bin/sh" (or the destination's
 * shell when it has env lines: Galaxy's default_job_shell /bin/bash -- keep what runner_local does), no #SBATCH lines (the
 * runner passes options on the command line). The command runs in the foreground with stdin </dev/null and its outputs
 * redirected; its exit status becomes the script's exit status (exit $rc) after the status file is written. A command
 * killed by a signal: the status file holds 128+N as a shell would report -- and document that. Returns 0 or -errno with
 * err ("cannot write /x/slurm_job.sh: No space left on device").
 *
 * -EINVAL with the reason in err for a spec the script cannot carry: argv
 * NULL or empty or argv[0] not absolute, a path (working_dir, outputs,
 * status) NULL or not absolute, an env entry without '=' or whose name is
 * not a shell variable name ("env entry 'A-B=1': 'A-B' is not a shell
 * variable name"), attempt < 0. The shell named by the destination is not
 * checked here: it must exist on the cluster's nodes. The temp file is
 * PATH.tmp.PID, removed on failure; the rename is not followed by an
 * fsync of the directory (sbatch reads the file right away on this host).
 */
int mt_slurm_script_write(const mt_slurm_script_t *s, const char *path, char *err, size_t errlen);

/*
 * Read a status file the script wrote: 0 with *attempt and *exit_code, -ENOENT when there is none, -EINVAL when malformed.
 * Well formed: two decimal integers, "ATTEMPT CODE", the attempt >= 0 and
 * the code 0..255, one newline after them and nothing else. Other read
 * errors: their -errno.
 */
int mt_slurm_status_read(const char *status_path, int *attempt, int *exit_code);

#endif
