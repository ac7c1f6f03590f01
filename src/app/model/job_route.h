/*
 * job_route: where a job runs -- the destination Galaxy's rules send it to
 * (the tool's <tool destination=...>, else the default destination; a tag
 * picks one of the destinations carrying it) and whether that destination
 * can run here. The local and the slurm runners exist in this muleteer: a
 * job whose destination uses another runner (drmaa, pbs, condor, pulsar,
 * dynamic rules, ...) or asks for containers (docker_enabled,
 * singularity_enabled) is refused with the reason, never run somewhere the
 * configuration did not say.
 *
 * The job application calls mt_job_route when a job is created (the HTTP
 * API, the workflow scheduler) to refuse it at once and to store the
 * destination id on the job; the handler calls mt_job_route_stored when it
 * starts the job, and passes the route to the runner its runner_type
 * names: the local runner applies the destination's env, local_slots and
 * the walltime limit (runner_local.h); the slurm runner its env,
 * native_specification and walltime. A failed job's next destination, when
 * a resubmit rule applies, comes from mt_job_route_destination
 * (job_resubmit.h).
 *
 * Thread-safety: pure functions of an immutable configuration (a tag's
 * pick uses random(3), which is thread-safe in glibc).
 */
#ifndef MT_JOB_ROUTE_H
#define MT_JOB_ROUTE_H

#include <stdbool.h>
#include <stddef.h>

#include "app/model/job_conf.h"

/* The runner types this muleteer can run. */
#define MT_JOB_RUNNER_LOCAL "local"
#define MT_JOB_RUNNER_SLURM "slurm"

typedef struct mt_job_route {
    const char *destination;              /* the destination id, or NULL: the configuration has none (run locally) */
    const char *runner;                   /* its runner plugin id ("local" without destinations) */
    const char *runner_type;              /* that plugin's type: "local" or "slurm" whenever mt_job_route* returned 0 */
    const mt_job_destination_t *dest;     /* the destination (params, env), or NULL without one */
    /*
     * The walltime in seconds, 0 for none; the runner enforces it (slurm:
     * sbatch --time). Local: the <limit type="walltime">. Slurm: the smaller
     * of that limit and the destination's walltime param.
     */
    double walltime_s;
    unsigned slots;                       /* local: local_slots, GALAXY_SLOTS for the command; 0 when not given or slurm */
    const char *native_specification;     /* slurm: the nativeSpecification param (sbatch options), or NULL */
} mt_job_route_t;

/*
 * Route a new job of tool `tool_id`. Returns 0 with *out filled (its
 * strings and dest point into conf: valid while conf lives), or -1 with *out
 * zeroed and a one-line reason in err, such as
 *   "tool 'X' goes to destination 'cluster' (runner plugin 'sge', type
 *    drmaa), which this muleteer cannot run: only the local and slurm
 *    runners exist; change the destination or map the tool to a local or
 *    slurm one"
 * and likewise for a runner plugin that is not declared, a dynamic
 * destination, or a destination with docker_enabled / singularity_enabled. A destination tag picks at random among the
 * destinations carrying it that can run here, and fails as above only when
 * none can. A NULL conf, or one without destinations, routes every job to
 * no destination, runner "local".
 */
int mt_job_route(const mt_job_conf_t *conf, const char *tool_id, mt_job_route_t *out, char *err, size_t errlen);

/*
 * Route a job created earlier, which may carry the destination id chosen
 * then (NULL: route it as new). The destination must still exist and be
 * runnable: -1 with the reason otherwise (the configuration changed since).
 */
int mt_job_route_stored(const mt_job_conf_t *conf, const char *tool_id, const char *destination,
                        mt_job_route_t *out, char *err, size_t errlen);

/*
 * Route to a destination id or tag directly (a resubmit rule's destination,
 * job_resubmit.h): a tag picks among its runnable destinations as
 * mt_job_route does. Returns 0 with *out filled, or -EINVAL with *out
 * zeroed and a one-line reason in err: "resubmit to destination 'big'
 * (runner plugin 'sge', type drmaa), which this muleteer cannot run: only
 * the local and slurm runners exist", or "resubmit to 'X', which is
 * neither a destination nor a destination tag".
 */
int mt_job_route_destination(const mt_job_conf_t *conf, const char *id_or_tag, mt_job_route_t *out, char *err,
                             size_t errlen);

/*
 * Can destination dest run here? True, or false with the reason in why
 * ("runner plugin 'sge', type drmaa: only the local and slurm runners
 * exist").
 */
bool mt_job_destination_runnable(const mt_job_conf_t *conf, const mt_job_destination_t *dest, char *why,
                                 size_t whylen);

/*
 * For the log at start: call warn(msg, data) once per destination that
 * cannot run here, "FILE:LINE: destination 'sge' (runner plugin 'sge',
 * type drmaa: only the local and slurm runners exist) cannot run here;
 * jobs routed to it are refused", once more if the default destination is
 * one of them, and once per resubmit rule of a runnable destination whose
 * destination (id or tag) cannot run here, "FILE:LINE: destination 'short':
 * resubmit to 'long' (runner plugin 'sge', type drmaa), which this
 * muleteer cannot run: only the local and slurm runners exist; a job
 * this rule applies to stays failed". Nothing for a NULL conf.
 */
void mt_job_conf_warn_unrunnable(const mt_job_conf_t *conf, void (*warn)(const char *msg, void *data), void *data);

/*
 * For the log at start: call notice(msg, data) once per item of the file
 * that is accepted but not carried out here (mt_job_conf_notice).
 */
void mt_job_conf_warn_unhonoured(const mt_job_conf_t *conf, void (*notice)(const char *msg, void *data), void *data);

#endif
