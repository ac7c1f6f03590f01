/*
 * runner_local: run one job's command on the handler's host, watched from
 * the handler's libuv loop.
 *
 * The command is not the handler's child but its waiter's: each run starts
 * the small program muleteer-waiter (job_waiter.h; found beside the running
 * binary), which starts the command, waits for it, writes how it ended into
 * the job's working directory (exit_status) and exits. The handler watches
 * the waiter and reads the file. The waiter is in a session of its own and
 * outlives a handler that dies, so a command that finishes while nobody
 * handles its job keeps its result, and a handler that comes back adopts a
 * waiter still waiting (mt_run_adopt). The waiter stops its command itself
 * once the handler's fence lapses (fence.h), so a hung handler leaves no
 * command running that nobody answers for. The pid a run reports is always
 * the command's (never the waiter's): recovery and cancel act on it.
 *
 * The command runs without a shell, in its own session and process group
 * (its waiter's vfork + setsid + exec), so that one kill(-pid, sig)
 * reaches everything it started and a signal sent to the handler's group
 * never reaches it. Its stdin is /dev/null, its stdout and stderr go to
 * files, its environment is a minimal one plus what the caller gives, plus
 * MULETEER_JOB_DIR (its working directory) -- nothing of the server's own
 * environment leaks into it.
 *
 * The handler (handler.c) starts a run per job, may cancel it, and learns
 * the outcome from one callback. After a handler restart, a run whose
 * waiter still waits is adopted (mt_run_adopt), and one that has ended left
 * its status file; what is left of a run no waiter answers for is stopped
 * with mt_run_stop_orphan(), given the pid recorded in the job store, or
 * the session that mt_run_find_session() finds by MULETEER_JOB_DIR when no
 * pid was recorded.
 *
 * With spec->run_as (jobs.job-user), the waiter and so the command run as
 * that user and group: posix_spawn() cannot switch credentials, so the
 * runner forks, and the child sets the groups, gid and uid (and checks they
 * stick) before it enters the working directory and execs the waiter; a
 * failed step is reported through a close-on-exec pipe, as a failed exec
 * is. Its stdout and stderr files are given to that user too.
 *
 * Limits: a process that leaves the group (setsid(), setpgid()) escapes
 * the clean-up after a command that exits by itself (containing that would
 * take a cgroup); after a cancel or a walltime, and when the whole stack
 * dies, it is found by MULETEER_JOB_DIR / MULETEER_STACK_ID in its
 * environment and killed -- unless it also cleared its environment. Descriptors the handler opened without O_CLOEXEC are
 * inherited by the command (libuv does not close them).
 *
 * Destinations: spec->route, when given, adds what the job's destination
 * says (job_route.h): the walltime limit of the job configuration (the
 * smaller of it and spec->walltime_s applies), GALAXY_SLOTS=N and
 * GALAXY_SLOTS_CONFIGURED=1 for local_slots (as Galaxy's local runner),
 * TMPDIR, TMP and TEMP for Galaxy's tmp_dir (true: WORKING_DIR/tmp,
 * created; else the shell expression it gives), and the destination's
 * <env> lines. Galaxy writes those into the job's
 * shell script, so a value may use $VAR and a line may source a file or
 * run "module load x"; here they run the same way, in the destination's
 * shell (MT_JOB_SCRIPT_DEFAULT_SHELL unless it names one): the command is then
 * `SHELL -c 'LINES; exec "$@"' muleteer-job ARGV...`, whose exec keeps the
 * pid, the process group and the environment, and never lets the
 * command's own arguments through the shell. Without env lines or tmp_dir
 * there is no shell at all.
 *
 * Threading: a run belongs to the thread running its loop. The wait for
 * exec (vfork() returns only then) happens on a thread of the runner's
 * own, so a loop never blocks on it: see mt_run_start().
 */
#ifndef MT_RUNNER_LOCAL_H
#define MT_RUNNER_LOCAL_H

#include <stdbool.h>
#include <stddef.h>

#include <uv.h>

#include "app/model/job_route.h"
#include "common/creds.h"

/* The environment a command gets when the caller does not override these keys. */
#define MT_RUN_DEFAULT_PATH   "PATH=/usr/local/bin:/usr/bin:/bin"
#define MT_RUN_DEFAULT_LC_ALL "LC_ALL=C.UTF-8"

/* One running command. Opaque; freed by the runner itself (see mt_run_done_cb). */
typedef struct mt_run mt_run_t;

/* The command is running as pid (its process group and session too); called once, from the loop. */
typedef void (*mt_run_started_cb)(mt_run_t *run, int pid, void *data);

/* What to run. Nothing in it is referenced after mt_run_start() returns. */
typedef struct mt_run_spec {
    char *const *argv;          /* argv[0] an absolute path (no PATH search, no shell ever); NULL-terminated */
    const char *const *env;     /* KEY=VALUE strings added to the minimal environment; may be NULL */
    size_t env_count;           /* entries in env */
    const char *working_dir;    /* must exist; the command runs there */
    const char *stdout_path;    /* created or truncated, mode 0644 (less the umask); relative to working_dir unless absolute */
    const char *stderr_path;    /* likewise; the same path as stdout_path means one file for both, as 2>&1 */
    double walltime_s;          /* 0: no limit */
    unsigned kill_grace_ms;     /* after SIGTERM to the process group, SIGKILL after this long */
    const mt_creds_t *run_as;   /* NULL: as the caller; else switch to this user and group first (caller is root) */
    mt_run_started_cb started_cb; /* optional: told the pid once the command runs (given the data of done_cb) */
    const mt_job_route_t *route;  /* the job's destination (job_route.h), or NULL: see "Destinations" above */
    int attempt;                /* the job's attempt (>= 1; 0 counts as 1): the waiter's status names it */
    int fence_fd;               /* > 0: the handler's fence (fence.h), which the waiter watches; 0: no fence */
    bool fresh_dir;             /* working_dir was just created by the caller, empty: no earlier run's files to remove,
                                   stdout and stderr are created exclusively (a file there is an error) */
} mt_run_spec_t;

typedef struct mt_run_result {
    bool started;           /* false: exec failed after mt_run_start() returned 0 (why says how); nothing ran */
    int exit_code;          /* valid when exited */
    bool exited;            /* exited normally (not by a signal) */
    int term_signal;        /* killed by this signal, 0 if none */
    bool walltime_exceeded; /* the walltime expired and the runner stopped the command */
    bool cancelled;         /* mt_run_cancel() was called before the command ended */
    bool fenced;            /* the waiter stopped it because the handler's fence lapsed: it did not finish */
    bool disk_full;         /* its working directory's filesystem was full when it ended (its waiter said so) */
    bool lost;              /* the waiter ended without a status (killed?): how the command ended is unknown;
                               whatever was left of its group was killed */
    long long waiter_cpu_us; /* the CPU its waiter reported using (user + system, microseconds); 0: unknown */
    char why[256];          /* "exited with status 3", "killed by signal 9 (Killed)", "cancelled",
                               "walltime of 2 s exceeded"; "" when it exited 0 on its own */
} mt_run_result_t;

/*
 * The outcome of a run, called exactly once, from the loop, once the command
 * has exited and the run's handles are closed. `run` is valid during the
 * call (mt_run_pid() works; mt_run_cancel() is a no-op) and freed as soon as
 * the callback returns: never touch it afterwards. `result` likewise lives
 * only for the call.
 *
 * When the command (the group leader) exits, anything left in its process
 * group -- a child it put in the background -- is sent SIGKILL before this
 * callback runs.
 */
typedef void (*mt_run_done_cb)(mt_run_t *run, const mt_run_result_t *result, void *data);

/*
 * Start the command described by spec on loop.
 *
 * Returns 0 with *out set: the command is being started, and done_cb(run,
 * result, data) will be called exactly once, later, from the loop. The
 * waiter's vfork() and exec run on the runner's spawner thread; once the command
 * runs, spec->started_cb (if any) gets its pid, from the loop. If exec fails
 * there even so (a program that is not an executable format, a race with
 * its removal), done_cb reports started = false with why = "cannot start
 * /bin/x: ...", and started_cb is never called. A cancel before the command
 * runs is carried out as soon as it does.
 *
 * Returns a negative errno value with a one-line message in err when nothing
 * was started (done_cb is then never called, *out is left alone):
 *   -EINVAL  a malformed spec (relative argv[0], an env entry without '=', ...)
 *   -ENOENT, -EACCES, ...  the working directory, an output file, or the
 *            program: "cannot start /bin/x: No such file or directory"
 *   -EPERM, ... switching to spec->run_as failed (or the working directory
 *            or program is not accessible to that user):
 *            "cannot start /bin/x as user nobody: chdir /data/jobs/7: Permission denied"
 * stdout_path and stderr_path are never followed if they are symlinks
 * (-ELOOP): the directory may hold what an earlier run of the job left.
 *
 * Blocks for the checks and for opening the output files; with run_as, for
 * the fork and the child's exec too (that path is rare and not hot).
 */
int mt_run_start(uv_loop_t *loop, const mt_run_spec_t *spec, mt_run_done_cb done_cb, void *data, mt_run_t **out,
                 char *err, size_t errlen);

/*
 * Adopt the waiter of a run started by an earlier incarnation of the
 * handler (recovery), found alive with mt_waiter_alive() (job_waiter.h):
 * watch it from loop and report the command's result through done_cb, as
 * for a run this process started (mt_run_pid() is the command's pid at
 * once; mt_run_cancel() works). walltime_s is what is left of the
 * command's walltime (0: none). The waiter is not our child: it is never
 * reaped here. Returns 0 with *out, -ESRCH if the waiter has ended
 * meanwhile (read its status instead), or another -errno with err set.
 */
typedef struct mt_run_adoption {
    const char *working_dir;  /* the job's: where the waiter writes exit_status */
    const char *prog;         /* for log lines (copied) */
    int waiter_pid, command_pid, attempt;
    double walltime_s;
    unsigned kill_grace_ms;
} mt_run_adoption_t;
int mt_run_adopt(uv_loop_t *loop, const mt_run_adoption_t *a, mt_run_done_cb done_cb, void *data, mt_run_t **out,
                 char *err, size_t errlen);

/*
 * For a handler that stops for good, after stopping the command
 * (mt_run_stop_orphan): wait up to ms for the run's waiter to end (it
 * writes the status and exits once the command is gone), reaping it if it
 * is ours; SIGKILL it after that. Synchronous; done_cb is not called.
 */
void mt_run_wait_waiter(mt_run_t *run, unsigned ms);

/* The waiter program runs use (default: muleteer-waiter beside /proc/self/exe). */
const char *mt_run_waiter_program(void);
/* Use another waiter program (tests). Call before the first run. */
void mt_run_set_waiter_program(const char *path);

/* The pid of the command itself, which is also its process group id and session id; 0 until it runs. */
int mt_run_pid(const mt_run_t *run);

/*
 * The pid, once the spawner has answered: waits (without running the loop)
 * for a spawn in progress. 0 if the command could not be started. For a
 * caller that must act on the process now, such as a handler stopping.
 */
int mt_run_wait_pid(mt_run_t *run);

/*
 * Stop the command: SIGTERM to its whole process group now, SIGKILL after
 * spec->kill_grace_ms if the command is still alive. done_cb reports
 * cancelled = true (and why = "cancelled" unless the walltime expired first).
 * Idempotent; a no-op once the command has exited. Do not call it after
 * done_cb has returned (the run is freed).
 */
void mt_run_cancel(mt_run_t *run);

/*
 * Recovery after a handler restart: stop what is left of a run started by a
 * previous incarnation of the handler, given the pid mt_run_pid() returned.
 *
 * If a process group with that id still has a live (non-zombie) member, it
 * is sent SIGTERM, waited for up to grace_ms, then sent SIGKILL. A group
 * that cannot be one of ours is left alone: one whose leader is alive but
 * is not its own session leader, or one we may not signal (another user).
 *
 * Returns true if something was alive (and was stopped), false otherwise.
 *
 * Synchronous: it sleeps for up to grace_ms plus about a second. For
 * start-up only, before the loop runs any work.
 */
bool mt_run_stop_orphan(int pid, unsigned grace_ms);

/*
 * Recovery, before mt_run_stop_orphan(): had the run whose leader is pid
 * not finished? True if the leader is still alive (not a zombie) and its
 * own session leader (so not a reused pid); its group is then frozen
 * (SIGSTOP), so that the answer cannot change before it is stopped --
 * mt_run_stop_orphan() continues it with its SIGTERM. False when the
 * leader has exited: the command ended, whatever its group still holds,
 * and its result is unknown. Synchronous (up to ~200 ms).
 */
bool mt_run_freeze_unfinished(int pid);

/*
 * Recovery: may pid, recorded for the run in working_dir, still be taken
 * for that run? False when a live process holds the pid without
 * MULETEER_JOB_DIR=working_dir in its environment: the run's leader ended
 * and its pid went to another process -- another job's command, maybe,
 * which is a session leader too. True otherwise (no live process has the
 * pid: whatever is left of its group is the run's, as the kernel does not
 * reuse the id of a group that still has members).
 */
bool mt_run_is_ours(int pid, const char *working_dir);

/* The variable in every command's environment that names its working directory. */
#define MT_RUN_JOB_DIR_VAR "MULETEER_JOB_DIR"

/*
 * Recovery when no pid was recorded: the session of a live process whose
 * environment holds MULETEER_JOB_DIR=working_dir exactly (read from
 * /proc/PID/environ, which a process cannot rewrite for its past; a
 * program that execs itself with a cleared environment hides from this,
 * but its session does not change). Returns that session's id, which is the
 * command's leader pid and what mt_run_stop_orphan() takes, or 0 if there
 * is none (or /proc cannot be read). Synchronous; for start-up only.
 */
int mt_run_find_session(const char *working_dir);

/*
 * The end of a stack: stop for good every live process whose environment
 * holds `entry` (KEY=VALUE exactly; the handler puts its stack's
 * MULETEER_STACK_ID in every command's environment) -- a command and
 * whatever it started, inside its process group or outside it (setsid),
 * as long as it kept the environment. Each round freezes them all
 * (SIGSTOP), calls interrupted_cb with the MULETEER_JOB_DIR value of each
 * one that was still alive once frozen (it had not finished; a process
 * that exited first is not reported), then SIGKILLs them and their process
 * groups. Rounds repeat until a scan of /proc finds none, or for up to ms.
 * Returns how many processes were killed. Synchronous.
 */
int mt_run_end_tagged(const char *entry, unsigned ms, void (*interrupted_cb)(const char *job_dir, void *data),
                      void *data);

/*
 * The same, sparing the runs a waiter still answers for (job_waiter.h):
 * a process whose MULETEER_JOB_DIR names a run whose waiter is alive and
 * whose handler's fence was not removed is left alone, for a handler of
 * that name to adopt, or for its waiter to stop once the fence lapses.
 * For a stack that died (SIGKILL): a stack stopped normally removed its
 * fences, and everything of it is ended.
 */
int mt_run_end_unwatched(const char *entry, unsigned ms, void (*interrupted_cb)(const char *job_dir, void *data),
                         void *data);

#endif
