/*
 * slurm_command: run one Slurm client command (sbatch, squeue, scancel) on
 * a libuv loop without blocking it, and hand back its exit status and
 * output. The Slurm runner (runner_slurm.c) is its only user; nothing here
 * knows what the command is.
 *
 * The command is started with posix_spawn() on a spawner thread (glibc's
 * is vfork-based: it returns only once the child has exec'd, which on a
 * busy machine took tens of milliseconds -- measured in slurm_command.c),
 * so the loop only queues it; in a process group of its own, with its
 * signal mask and dispositions reset.
 * It is then watched with a pidfd (readable when it exits; we reap it with
 * waitpid on its pid only, so the local runner's waiters and anything else
 * the process runs are left alone) and its stdout and stderr are read
 * through non-blocking pipes, all as libuv polls on the given loop, which
 * need not be the default loop. No SIGCHLD handler is installed.
 *
 * Threading: a command belongs to the thread running its loop; the loop
 * must keep running until its callback has been called.
 */
#ifndef MT_SLURM_COMMAND_H
#define MT_SLURM_COMMAND_H

#include <stdbool.h>
#include <stddef.h>

#include <uv.h>

typedef struct mt_slurm_cmd_result {
    bool started;        /* false: it could not be executed at all; err holds why ("cannot run sbatch: No such file or directory") */
    bool exited;         /* exited normally: exit_status valid */
    int exit_status;
    int term_signal;     /* killed by this signal (0 if none) */
    bool timed_out;      /* ran past its timeout and was killed (SIGKILL to its process group) */
    const char *out;     /* its stdout, NUL-terminated (never NULL), at most out_cap bytes kept */
    size_t out_len;
    const char *err;     /* its stderr, likewise */
    size_t err_len;
    double seconds;      /* how long it ran (monotonic) */
} mt_slurm_cmd_result_t;

/* Called once from the loop when the command has ended and its output is read; r lives only during the call. */
typedef void (*mt_slurm_cmd_cb)(const mt_slurm_cmd_result_t *r, void *data);

/*
 * Run argv (argv[0] a program name looked up in the PATH of envp, or an absolute path) with exactly envp as its environment
 * (NULL-terminated KEY=VALUE), stdin /dev/null, stdout and stderr captured. Never blocks the loop for the command (spawn
 * may use posix_spawn from the loop thread: measure; it is what the local runner does on a helper thread -- see
 * src/app/run/runner_local.c; uv_spawn is acceptable too: check that it coexists with runner_local's pidfd-based waits
 * and with the handler running on a non-default loop, and that no zombie is left). The child is in its own process
 * group; after timeout_ms it gets SIGKILL (group) and timed_out is set. Returns 0 (cb will be called exactly once) or a
 * negative errno with a message in err (cb never called).
 *
 * Details of this implementation:
 *  - A program that cannot be executed (not found in envp's PATH -- or in
 *    /usr/local/bin:/usr/bin:/bin when envp has no PATH --, not
 *    executable, exec failing) is reported through cb with started false
 *    and r->err "cannot run NAME: REASON", never by the return value, so
 *    a caller has one place for "the command did not work".
 *    That includes posix_spawn() failing for want of resources
 *    ("cannot run sbatch: Resource temporarily unavailable") and a
 *    pidfd_open() failure ("cannot run sbatch: pidfd_open: ...", the
 *    process then killed and reaped).
 *  - The negative returns are for what prevents trying at all: -EINVAL
 *    (argv or envp NULL or empty argv, cb NULL, timeout_ms 0), or the
 *    errno of pipe2() (-EMFILE, -ENFILE), of uv_async_init(), or of
 *    pthread_create() for the spawner thread, with err "cannot run NAME:
 *    REASON".
 *  - argv and envp are copied: they need not outlive the call.
 *  - timeout_ms counts from the spawn.
 *  - out_cap 0 means 1 MiB. Output past out_cap is read and dropped (the
 *    command never blocks on a full pipe).
 *  - The command has ended when it has exited and both pipes are at end of
 *    file. If something it started keeps a pipe open after it exited, that
 *    is waited for until timeout_ms too, then the pipes are closed and the
 *    output read so far is reported (timed_out stays false: the command
 *    itself exited; what holds the pipe is not killed, as its process
 *    group may be gone).
 *  - A command still alive 2 s after its SIGKILL (stuck in the kernel, on
 *    a hung file system) is reported without waiting further: timed_out
 *    true, exited false, term_signal 0; it is reaped when it dies, and its
 *    pidfd poll stays on the loop until then.
 *  - The call holds the loop for a PATH search (a stat() per directory
 *    until the program is found), two pipes and a queue insert: a few
 *    microseconds.
 *  - cb is called after every handle of the command is closed: it may stop
 *    or close the loop, and start other commands.
 */
int mt_slurm_cmd_run(uv_loop_t *loop, char *const argv[], char *const envp[], unsigned timeout_ms, size_t out_cap,
                     mt_slurm_cmd_cb cb, void *data, char *err, size_t errlen);

/*
 * The process stops: SIGKILL the process group of every command of this
 * process still running, so none outlives it. Their callbacks come as
 * usual if their loops run on (killed by signal 9). Any thread. Returns
 * how many were signalled.
 */
int mt_slurm_cmd_kill_all(void);

/* How many commands are running (for tests and metrics): accepted (0 returned; a program not found aside) and not yet reported through cb, in this process, spawned or about to be. */
int mt_slurm_cmd_running(void);

#endif
