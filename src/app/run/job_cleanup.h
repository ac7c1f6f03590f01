/*
 * job_cleanup: what is left of a job's working directory once the job has
 * ended (the option jobs.cleanup, as Galaxy's cleanup_job).
 *
 *   always     (the default) every job that ended: ok, error or deleted
 *   onsuccess  only jobs that ended ok: a failed job keeps everything, to
 *              be looked at
 *   never      nothing is removed
 *
 * What is removed: everything the run left in the directory -- the
 * waiter's files (exit_status, waiter), temporary files, whatever the
 * command wrote -- except what the API and workflows still serve: the
 * tool's declared outputs (GET /api/jobs/{id}/outputs/NAME, and the inputs
 * of a workflow's later steps), and stdout and stderr unless they are
 * empty files (an empty one is removed: GET .../stdout then answers it as
 * empty; one the job replaced by a link stays, for the API to refuse). The
 * directory itself goes when nothing is kept.
 *
 * When: only after the job's end state is committed, by the handler that
 * ran it (handler.c), so that no run still uses the directory: recovery and
 * adoption read a directory only while its job is `running`, and an ended
 * job never runs again. The removal runs on a thread of its own
 * (mt_job_cleanup_submit), never on a loop; one that was still queued when
 * its process ended is not done (the directory stays, as with `never`).
 */
#ifndef MT_JOB_CLEANUP_H
#define MT_JOB_CLEANUP_H

#include <stdbool.h>
#include <stddef.h>

#include "app/model/job.h"
#include "app/model/tools.h"

typedef enum {
    MT_JOB_CLEANUP_ALWAYS,
    MT_JOB_CLEANUP_ONSUCCESS,
    MT_JOB_CLEANUP_NEVER,
} mt_job_cleanup_t;

/* "always", "onsuccess" or "never" (any case). 0, or -EINVAL for anything else. */
int mt_job_cleanup_parse(const char *value, mt_job_cleanup_t *out);

/* The option's value as written in the configuration. */
const char *mt_job_cleanup_name(mt_job_cleanup_t policy);

/* Does the policy clean up after a job that ended in `state`? False for a state that is not an end. */
bool mt_job_cleanup_applies(mt_job_cleanup_t policy, mt_job_state_t state);

/*
 * Remove what `dir` holds except the relative paths keep[0..nkeep) (files,
 * or directories kept whole) and `stdout` and `stderr` unless they are
 * empty regular files; then
 * the directory itself if it is empty. Links are removed, never followed.
 * A keep path is compared as written, less a leading "./". Synchronous.
 * Returns 0, -ENOENT if dir does not exist, or the first other -errno met
 * (what could be removed was).
 */
int mt_job_cleanup_dir(const char *dir, const char *const *keep, size_t nkeep);

/*
 * What a job of `tool` keeps: its declared outputs' paths ("stdout" for an
 * output that is the command's standard output, kept even when empty), as
 * one allocation (a NULL-terminated array followed by its strings: one
 * free()). NULL for no tool.
 */
char **mt_job_cleanup_keep_list(const mt_tool_t *tool);

/*
 * mt_job_cleanup_dir() later, on the cleanup thread of this process
 * (started by the first call; a forked child starts its own). Takes dir
 * and keep (one allocation: a NULL-terminated array followed by its
 * strings, as one free() releases) and frees them. Any thread. A failure
 * is logged there.
 */
void mt_job_cleanup_submit(char *dir, char **keep);

#endif
