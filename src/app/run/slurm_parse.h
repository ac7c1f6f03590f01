/*
 * slurm_parse: what Slurm's client commands print -- the job id from
 * `sbatch --parsable`, job states from squeue (and sacct's spelling of
 * them), the message and the nature of an error on their stderr -- and the
 * splitting of a destination's nativeSpecification into sbatch's words.
 * Pure functions over text; the Slurm runner feeds them what
 * slurm_command.h captured.
 *
 * Thread-safety: pure functions, no state.
 */
#ifndef MT_SLURM_PARSE_H
#define MT_SLURM_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/*
 * sbatch --parsable prints "JOBID" or "JOBID;CLUSTER": 0 and the id text in id (digits, '_' allowed for arrays), -EINVAL otherwise.
 * Leading and trailing white space (the newline) is ignored; the output
 * must be that one line. The id must start with a digit. -ENOSPC when it
 * does not fit in idlen (id then "").
 */
int mt_slurm_parse_sbatch(const char *out, char *id, size_t idlen);

/*
 * Is an sbatch/squeue/scancel failure (its stderr) transient -- the controller unreachable or busy ("Unable to contact slurm
 * controller", "Socket timed out", "Zero Bytes were transmitted", "Connection refused", "Resource temporarily unavailable",
 * "slurm_load_jobs error: ... timed out", "Slurm temporarily unable to accept job", "Job violates accounting/QOS policy" is
 * NOT transient...)?
 * Also transient: "Communication connection failure", "Connection
 * timed out", "backup controller in standby mode", "Transaction in
 * progress", munge's socket unreachable ("Failed to connect to
 * \"/run/munge/munge.socket.2\"") and "Socket timed out" in any wording.
 * Matching is case-insensitive, on any line. NULL or "" is not transient.
 */
bool mt_slurm_error_transient(const char *err);

/*
 * Slurm's message from a command's stderr in one line: "Batch job submission failed: Invalid partition name specified" (the
 * last "error:" line, without the "sbatch: error: " prefix), into buf.
 * Without an "error:" line: the last non-empty line, trimmed; empty or
 * NULL stderr: "". Returns buf (always NUL-terminated; a message longer
 * than len is cut). Control characters become spaces.
 */
const char *mt_slurm_error_message(const char *err, char *buf, size_t len);

/* A job's state as squeue --states=all -h -o '%i|%T|%r' prints it, one line per job. */
typedef enum {
    MT_SLURM_PENDING,
    MT_SLURM_RUNNING,
    MT_SLURM_SUSPENDED,
    MT_SLURM_COMPLETING,
    MT_SLURM_COMPLETED,
    MT_SLURM_FAILED,
    MT_SLURM_TIMEOUT,
    MT_SLURM_OUT_OF_MEMORY,
    MT_SLURM_NODE_FAIL,
    MT_SLURM_CANCELLED,
    MT_SLURM_PREEMPTED,
    MT_SLURM_BOOT_FAIL,
    MT_SLURM_DEADLINE,
    MT_SLURM_OTHER
} mt_slurm_state_t;

typedef struct mt_slurm_job_line {
    char id[32];          /* the job id as printed */
    mt_slurm_state_t state;
    char state_name[32];  /* Slurm's name, without sacct's decorations ("CANCELLED", not "CANCELLED+" or "CANCELLED by 0") */
    char reason[128];     /* the %r field ("None", "Priority", ...), "" when absent; cut to fit */
} mt_slurm_job_line_t;

/*
 * Parse squeue's output (the format above; also accept states with a '+' suffix like "CANCELLED+" and "CANCELLED by 0" as
 * sacct prints them). Returns the number of lines parsed into *lines (malloc'd; free()), or -EINVAL naming the bad line in
 * err.
 * Empty lines (and trailing white space) are skipped; 0 lines gives
 * *lines NULL. A line needs at least "ID|STATE" (the reason field is
 * optional; a '|' inside the reason is kept); the id must be non-empty,
 * fit id[] and have no white space; an unknown state name is accepted as
 * MT_SLURM_OTHER (Slurm adds states: REQUEUED, RESIZING, SIGNALING, ...).
 * err: "squeue output line 3: 'garbage': no '|' between job id and state".
 */
ssize_t mt_slurm_parse_squeue(const char *out, mt_slurm_job_line_t **lines, char *err, size_t errlen);

bool mt_slurm_state_final(mt_slurm_state_t s);   /* COMPLETED, FAILED, TIMEOUT, OUT_OF_MEMORY, NODE_FAIL, CANCELLED, PREEMPTED, BOOT_FAIL, DEADLINE */

/* Slurm's long or short state name (squeue %T / %t: "PENDING" or "PD"), case-insensitive, decorations as above ignored; MT_SLURM_OTHER when unknown. */
mt_slurm_state_t mt_slurm_state_parse(const char *name);

/* The long name of a state ("OUT_OF_MEMORY"; "OTHER" for MT_SLURM_OTHER). */
const char *mt_slurm_state_name(mt_slurm_state_t s);

/*
 * Split a nativeSpecification ("-p debug --mem=100 --comment='a b'") into words as a POSIX shell would (quotes,
 * backslashes; no expansion): 0 and a NULL-terminated malloc'd argv (free with mt_slurm_words_free), -EINVAL with err for
 * an unterminated quote.
 * Word separators are space, tab and newline; '' and "" make an empty
 * word; inside "..." a backslash escapes only $ ` " \ and newline; a
 * backslash-newline outside single quotes is removed (a continuation).
 * Nothing else is special: $, `, #, ;, |, &, *, ~ are ordinary characters
 * (no comments, no expansion, no operators), so "--comment=a#b" and
 * "--wrap=x;y" arrive as they are. A trailing lone backslash: -EINVAL.
 * NULL or blank spec: 0 and an argv with no words. err is one line:
 * "nativeSpecification '-p debug --comment='a b': the single quote at
 * offset 19 is never closed" (control characters shown as spaces, the
 * spec cut at 200 bytes).
 */
int mt_slurm_split_words(const char *spec, char ***words, char *err, size_t errlen);
void mt_slurm_words_free(char **words);   /* NULL accepted */

#endif
