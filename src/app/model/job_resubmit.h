/*
 * job_resubmit: Galaxy's <resubmit> rules of a destination -- which rule
 * applies to a failed job, after how long, and where the job goes next.
 *
 * A rule's condition and delay are Galaxy's Python-like expressions,
 * compiled once when the job configuration is loaded (job_conf_exec.c
 * calls mt_job_expr_compile; a condition that does not parse, or names a
 * variable that does not exist, refuses the file with FILE:LINE). The
 * language is the part of Python Galaxy's conditions use:
 *   - names: walltime_reached, memory_limit_reached, unknown_error,
 *     any_failure and any_potential_job_failure (both always true: the job
 *     failed), attempt (the attempt that just failed, 1 for the first run:
 *     Galaxy counts 1 + the job's resubmissions), seconds_running,
 *     seconds_since_queued; the constants True and False;
 *   - numbers (42, 1.5, .5, 1e3);
 *   - or, and, not (Python's: `a or b` is a when a is true, else b);
 *     comparisons < <= > >= == != (chained as Python does: 1 < attempt <= 3);
 *     + - * / (true division) and unary - +; parentheses.
 * Strings, calls, attributes and every other name are refused at load.
 *
 * The runtime (the runners, when a job fails) calls mt_job_resubmit_pick
 * with what it knows of the failure, and, when a rule is returned,
 * mt_job_resubmit_delay and mt_job_resubmit_route for the next attempt.
 *
 * Thread-safety: compiled expressions and the configuration are immutable;
 * every function here may be called from any thread at once.
 */
#ifndef MT_JOB_RESUBMIT_H
#define MT_JOB_RESUBMIT_H

#include <stdbool.h>
#include <stddef.h>

#include "app/model/job_conf.h"
#include "app/model/job_route.h"

/* What the runtime knows of a failed attempt (the variables of the conditions). */
typedef struct mt_job_failure {
    bool walltime_reached;       /* the runner stopped it at its walltime (Slurm: TIMEOUT) */
    bool memory_limit_reached;   /* it ran out of memory (Slurm: OUT_OF_MEMORY) */
    bool unknown_error;          /* any other failure of the job or its runner */
    int attempt;                 /* the attempt that failed: 1 for the first run (Galaxy: 1 + resubmissions) */
    double seconds_running;      /* since it last became running; 0 if it never ran */
    double seconds_since_queued; /* since it was last queued */
} mt_job_failure_t;

/* A compiled condition or delay (opaque, immutable). */
typedef struct mt_job_expr mt_job_expr_t;

/* Longest expression text accepted, and deepest nesting. */
#define MT_JOB_EXPR_MAX_LEN 4096
#define MT_JOB_EXPR_MAX_DEPTH 64

/*
 * Compile `text`. Returns 0 and a new expression in *out (free it with
 * mt_job_expr_free), or -EINVAL with *out = NULL and the reason in err,
 * without the text or any file position (the caller adds them), such as
 *   "unknown name 'walltime' (known: walltime_reached, ...)"
 *   "unexpected end (expected a name, a number or '(')"
 *   "unexpected ')' at column 17"
 *   "strings are not supported (at column 5)"
 * An empty text (only blanks) is an error too.
 */
int mt_job_expr_compile(const char *text, mt_job_expr_t **out, char *err, size_t errlen);

/* Free an expression. Accepts NULL. */
void mt_job_expr_free(mt_job_expr_t *expr);

/* The text it was compiled from. */
const char *mt_job_expr_text(const mt_job_expr_t *expr);

/*
 * Evaluate for failure f: 0 and the value in *value (True is 1, False 0),
 * or -EDOM when Python would raise (a division by zero).
 */
int mt_job_expr_eval(const mt_job_expr_t *expr, const mt_job_failure_t *f, double *value);

/*
 * The first resubmit rule of `dest` whose condition holds for f (a rule
 * without a condition holds for every failure, as in Galaxy; a condition
 * that cannot be evaluated, such as a division by zero, does not hold).
 * Returns the rule, owned by the configuration (its destination NULL: the
 * same destination), or NULL: no rule applies and the job stays failed.
 * NULL for a NULL dest or f.
 */
const mt_job_resubmit_t *mt_job_resubmit_pick(const mt_job_destination_t *dest, const mt_job_failure_t *f);

/*
 * The rule's delay before the next attempt, in seconds, evaluated for f
 * (Galaxy's delay may be an expression: "attempt * 30"). 0 without a delay,
 * or when it evaluates to a negative or infinite number or cannot be
 * evaluated.
 */
double mt_job_resubmit_delay(const mt_job_resubmit_t *rule, const mt_job_failure_t *f);

/*
 * Where the next attempt runs: the rule's destination (an id, or a tag:
 * a runnable destination carrying it, picked as mt_job_route does), or
 * `from` itself when the rule names none. Returns 0 with *out filled
 * (pointing into conf), or -EINVAL with *out zeroed and a one-line reason
 * in err ("resubmit to destination 'big' (runner plugin 'sge', type
 * drmaa), which this muleteer cannot run: only the local and slurm runners
 * exist"): the job then stays failed, as Galaxy fails a job resubmitted to
 * a runner it has not loaded.
 */
int mt_job_resubmit_route(const mt_job_conf_t *conf, const mt_job_destination_t *from, const mt_job_resubmit_t *rule,
                          mt_job_route_t *out, char *err, size_t errlen);

#endif
