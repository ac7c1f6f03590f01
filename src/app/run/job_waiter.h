/*
 * job_waiter: what a job's waiter and its handler say to each other, through
 * files that outlive them both.
 *
 * Every local command is started by a small waiter process (the program
 * muleteer-waiter, src/waiter/), not by the handler itself. The waiter
 * starts the command in its own session, waits for it, and writes how it
 * ended into the job's working directory, beside stdout and stderr
 * (MT_WAITER_STATUS_FILE), then exits. It is in a session of its own and is
 * not killed with the handler: a handler that dies (SIGKILL, a crash, the
 * whole stack killed) leaves it running, and whoever takes the handler's
 * jobs up again reads the result from the file, or adopts the waiter while
 * it still waits (MT_WAITER_PID_FILE says which process it is).
 *
 * Self-fencing: the waiter reads the handler's fence file (fence.h) every
 * MT_WAITER_FENCE_CHECK_MS; once the CLOCK_MONOTONIC deadline written there
 * has passed, or the file was removed, nobody answers for the command any
 * more: the waiter stops its process group (SIGTERM, the cancel grace,
 * SIGKILL) and writes a status saying so ("fenced"), so that recovery runs
 * the job again instead of taking the stopped run for its result.
 *
 * Both files are written to a temporary name and renamed into place: a
 * reader sees all of one or none of it. Each names the job's attempt, so
 * what an earlier attempt left in the directory is never taken for this
 * one's.
 *
 * This module is plain C with no dependency beyond libc: the waiter program
 * links it alone. All functions are thread-safe (no shared state).
 */
#ifndef MT_JOB_WAITER_H
#define MT_JOB_WAITER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define MT_WAITER_PROGRAM "muleteer-waiter"   /* found beside the running binary (runner_local.c) */
#define MT_WAITER_STATUS_FILE "exit_status"   /* in the job's working directory */
#define MT_WAITER_PID_FILE "waiter"           /* likewise: which process waits for the command */
#define MT_WAITER_FENCE_CHECK_MS 250          /* how often a waiter reads its fence */
#define MT_WAITER_REPORT_FD 3                 /* the waiter's descriptor for its start report */

/* How a command ended, as its waiter saw it. */
typedef enum {
    MT_WAITER_EXITED,   /* value: the exit status */
    MT_WAITER_SIGNALED, /* value: the signal that killed it */
    MT_WAITER_FENCED,   /* the fence lapsed while it ran: the waiter stopped it (value: the signal that ended it, or 0) */
    MT_WAITER_FAILED,   /* it could not be started: value: the errno */
} mt_waiter_end_t;

typedef struct mt_waiter_status {
    mt_waiter_end_t end;
    int value;        /* see mt_waiter_end_t */
    int attempt;      /* the job's attempt the waiter ran */
    pid_t pid;        /* the command's pid (0 when it could not be started) */
    bool disk_full;   /* the disk was full when the command ended: this record waited for space */
    int64_t cpu_us;   /* the waiter's own CPU (user + system, getrusage RUSAGE_SELF) when it wrote this; 0: unknown */
} mt_waiter_status_t;

/* What a waiter records about itself, so that a later handler can find and adopt it. */
typedef struct mt_waiter_id {
    pid_t waiter_pid;
    unsigned long long start_ticks; /* field 22 of /proc/PID/stat: tells the process from a later one with its pid */
    pid_t command_pid;
    int attempt;
} mt_waiter_id_t;

/* What the waiter writes to MT_WAITER_REPORT_FD once: the command's pid, or why it could not start. */
typedef struct mt_waiter_report {
    int32_t pid;        /* > 0: the command runs */
    int32_t err;        /* else: the errno of its start */
    int32_t waiter_pid; /* who writes this: the waiter (executed, or forked by a helper) */
} mt_waiter_report_t;

/*
 * Write *st to DIR/MT_WAITER_STATUS_FILE (through DIR/.exit_status.tmp and
 * a rename). Returns 0 or -errno. Only system calls and stack buffers.
 */
int mt_waiter_status_write(const char *dir, const mt_waiter_status_t *st);

/*
 * Read DIR/MT_WAITER_STATUS_FILE. Returns 0 with *st filled, -ENOENT if
 * there is none, -EINVAL if it is not one this module wrote, or another
 * -errno. A link is not followed.
 */
int mt_waiter_status_read(const char *dir, mt_waiter_status_t *st);

/*
 * Format a status as one line ("exit 3 attempt 1 pid 4711[ disk-full][ cpu 812]\n"; cpu in microseconds,
 * left out when 0); returns the length. buf holds >= 128 bytes.
 */
int mt_waiter_status_format(const mt_waiter_status_t *st, char *buf, size_t len);

/* Parse what mt_waiter_status_format wrote. Returns 0 or -EINVAL. */
int mt_waiter_status_parse(const char *text, mt_waiter_status_t *st);

/* Write / read DIR/MT_WAITER_PID_FILE, as the status (0 or -errno; read: -ENOENT, -EINVAL). */
int mt_waiter_id_write(const char *dir, const mt_waiter_id_t *id);
int mt_waiter_id_read(const char *dir, mt_waiter_id_t *id);

/* Remove what a run left in DIR (status and pid files): before a new attempt starts there. */
void mt_waiter_files_remove(const char *dir);

/* The start time of process pid in clock ticks since boot (field 22 of /proc/PID/stat), or 0 if it is gone. */
unsigned long long mt_waiter_start_ticks(pid_t pid);

/*
 * Is the waiter described by *id alive, and that very process (same pid,
 * same start time, not a zombie, running the waiter program for job
 * directory dir)? For recovery, before adopting it.
 */
bool mt_waiter_alive(const mt_waiter_id_t *id, const char *dir);

/*
 * The fence, as a waiter reads it: the deadline from an open fence file
 * (fence.h writes "DEADLINE DEADLINE\n", the same number twice, so a read
 * that raced a write is told apart). Returns 1 with *deadline_ns, 0 if the
 * file was removed (no links left) or is empty, -EAGAIN for a torn read
 * (read again), or -errno.
 */
int mt_waiter_fence_read(int fd, int64_t *deadline_ns);

/* CLOCK_MONOTONIC now, in nanoseconds. */
int64_t mt_waiter_now_ns(void);

#endif
