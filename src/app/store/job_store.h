/*
 * job_store: the job queries -- create, read, list, claim and move jobs
 * through their states -- on an mt_db_t connection.
 *
 * Every write is one SQL statement in its own transaction (the state
 * history rows come from triggers in the same statement, see db.c), so a
 * function that returns success has committed, with the durability of the
 * connection's mt_db_sync_t -- unless the caller opened a transaction with
 * mt_db_begin(), which the writes then join until mt_db_commit(). Concurrency comes from the conditional UPDATEs:
 * any number of processes may claim or transition the same job at once and
 * exactly one wins; the others get 0, which is not an error.
 *
 * Errors: negative errno values (-ENOENT for no such job, -EBUSY when the
 * database stayed locked for the busy timeout, -EIO, ...) with the detail in
 * mt_db_errmsg(db). Threading: as the connection (one thread).
 */
#ifndef MT_JOB_STORE_H
#define MT_JOB_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "app/store/db.h"
#include "app/model/job.h"

/* Bit of a state in a mask of states: MT_JOB_BIT(MT_JOB_NEW) | MT_JOB_BIT(MT_JOB_QUEUED). */
#define MT_JOB_BIT(state) (1u << (state))
/* The states a job can leave. */
#define MT_JOB_ACTIVE_MASK                                                                          \
    (MT_JOB_BIT(MT_JOB_NEW) | MT_JOB_BIT(MT_JOB_QUEUED) | MT_JOB_BIT(MT_JOB_RUNNING) |             \
     MT_JOB_BIT(MT_JOB_DELETING))

/* Room for mt_time_iso8601()'s output, NUL included, for any int64_t. */
#define MT_TIME_ISO8601_SIZE 32
/*
 * Format microseconds since the epoch as ISO 8601 UTC with microseconds,
 * "2026-11-29T09:00:00.123456Z", into buf (size >= MT_TIME_ISO8601_SIZE).
 * Returns buf.
 */
char *mt_time_iso8601(int64_t us, char *buf);

/*
 * Parse an ISO 8601 UTC time as mt_time_iso8601 writes it, into
 * microseconds since the epoch: "YYYY-MM-DD", or that with "THH:MM",
 * ":SS" and a fraction of up to 6 digits, ending in "Z" (or "+00:00").
 * Returns 0, or -EINVAL (another form, an offset other than UTC, a field
 * out of range).
 */
int mt_time_parse_iso8601(const char *text, int64_t *us);

/*
 * Create a job in state `new` from job->tool_id (required), tool_version,
 * params (a JSON object; NULL means "{}"), handler (NULL: unassigned, to
 * be claimed), queue (where an unassigned job waits; may be NULL),
 * invocation_id (0: none), user (its owner; NULL: nobody), destination
 * (the job configuration's; NULL: none) and info (a note for the
 * operator, such as "its handler is not running"; NULL: none). Other
 * fields of *job are ignored. Sets create and update times to
 * now and writes the first history row. Returns 0 and *id once committed,
 * and the row as stored in *stored unless it is NULL (clear it with
 * mt_job_clear); -EINVAL without a tool_id, or another negative value.
 */
int mt_job_store_insert(mt_db_t *db, const mt_job_t *job, int64_t *id, mt_job_t *stored);

/*
 * Read a job into *out (which the caller clears with mt_job_clear).
 * Returns 0, -ENOENT if there is no such job, or a negative value; on
 * failure *out is zeroed.
 */
int mt_job_store_get(mt_db_t *db, int64_t id, mt_job_t *out);

/* Which jobs mt_job_store_list() returns. */
typedef struct mt_job_filter {
    unsigned states;     /* mask of MT_JOB_BIT(state); 0 = any state */
    const char *tool_id; /* NULL = any tool */
    const char *handler; /* NULL = any handler (assigned or not) */
    const char *user;    /* NULL = anyone's (and nobody's); else only the jobs this user owns */
    int64_t before_id;      /* > 0: only jobs with an id below it (keyset paging: the next page of a
                             * newest-first list starts below the last id shown) */
    int64_t created_after;  /* > 0: only jobs created at or after this time (microseconds since the epoch) */
    int64_t created_before; /* > 0: only jobs created before this time */
} mt_job_filter_t;

/*
 * The jobs matching filter (NULL = all), newest first (id descending),
 * skipping `offset`, at most `limit` (< 0 = no limit). Returns 0 with a
 * new array in *jobs (free it with mt_job_store_free; NULL when *count is
 * 0) and its length in *count. If total is not NULL, *total gets the
 * number of matching jobs regardless of limit, offset and before_id (one
 * more query, exact: with a filter, it counts every matching row).
 */
int mt_job_store_list(mt_db_t *db, const mt_job_filter_t *filter, int64_t limit, int64_t offset,
                      mt_job_t **jobs, size_t *count, int64_t *total);

/*
 * The number of jobs matching filter (NULL = all; before_id is ignored),
 * counting at most cap + 1 matching rows: when there are more than cap,
 * *total is cap and *capped true ("at least cap"). Without a filter the
 * kept count (job_count) answers, exact whatever the number (*capped
 * false). Costs at most cap + 1 index entries, whatever the table's size.
 * Returns 0 or a negative value.
 */
int mt_job_store_count_capped(mt_db_t *db, const mt_job_filter_t *filter, int64_t cap, int64_t *total, bool *capped);

/* Free an array from this module (clears each record). Accepts NULL. */
void mt_job_store_free(mt_job_t *jobs, size_t count);

/*
 * Take job `id` for `handler` (a server name), in one statement: claim it
 * if it is unassigned and `new` (it gets the handler and a claim time; of
 * two handlers taking it, one wins), or accept it if it is `new` and
 * already assigned to `handler` (db-self, db-preassign, mappings: no claim
 * time then). Either way it becomes `queued`. Returns 1 with *taken filled
 * (the job as now stored; mt_job_clear() it), 0 if it is not this
 * handler's to run (another's, no longer new, no such job), or a negative
 * value; *taken is empty unless 1.
 */
int mt_job_store_take(mt_db_t *db, int64_t id, const char *handler, mt_job_t *taken);

/*
 * Claim the oldest unassigned `new` job waiting at `queue` (NULL =
 * at any queue) for `handler`, in one statement: two handlers never
 * take the same job. Returns 1 and its *id, 0 when there is none (*id = 0),
 * or a negative value.
 */
int mt_job_store_claim_next(mt_db_t *db, const char *queue, const char *handler, int64_t *id);

/*
 * Optional changes made with a transition. Zero values (and NULL strings)
 * leave a field as it is.
 */
typedef struct mt_job_update {
    int64_t start_us;        /* 0: now if the job enters `running`, else unchanged */
    int64_t end_us;          /* 0: now if the job enters a terminal state, else unchanged */
    bool has_exit_code;
    int exit_code;
    const char *runner;
    const char *external_id;
    const char *working_dir;
    const char *info;        /* also recorded on the history row */
} mt_job_update_t;

/*
 * Move job `id` to state `to` if its current state is in `allowed_from`
 * (a mask of MT_JOB_BIT) and is not terminal -- a terminal state never
 * changes, whatever the mask says; the check is in the UPDATE itself, so
 * it holds against concurrent writers. Applies *update (NULL = none) and
 * records history when the state changes. A transition to the same state
 * just applies the update. Returns 1 if the job changed, 0 if it was not in
 * an allowed state (or does not exist), -EINVAL for an unknown `to`, or
 * another negative value.
 */
int mt_job_store_transition(mt_db_t *db, int64_t id, unsigned allowed_from, mt_job_state_t to,
                            const mt_job_update_t *update);

/*
 * How many jobs are in `state`, into *count: one count on the state index,
 * costing what that state holds (cheap for the live states however many
 * jobs ended). Returns 0 or a negative value.
 */
int mt_job_store_count_state(mt_db_t *db, mt_job_state_t state, int64_t *count);

/*
 * Run job `id` again, as its next attempt: if its state is in allowed_from
 * (and not terminal), it goes back to `queued` at the same handler, its
 * attempt count goes up by one, and what the lost run left (start and end
 * times, exit code, external id) is cleared; `info` (say, "attempt 2: the
 * command died with its handler's host") is set and recorded on the
 * history row. For recovery, when a run was lost before its command
 * finished. Returns 1 with the new attempt number in *attempt, 0 if the
 * job was not in an allowed state, or a negative value.
 */
int mt_job_store_retry(mt_db_t *db, int64_t id, unsigned allowed_from, const char *info, int *attempt);

/*
 * Fencing: take, claim_next, transition and retry are a handler's writes.
 * With a fence set on the connection (db.h, mt_db_set_fence), they change
 * a job only if it is held by the fence's handler at its epoch (take and
 * claim_next give the job that epoch); otherwise they return 0 as for a
 * job in another state. Insert and cancel (the API's) are never fenced.
 */

/*
 * mt_job_store_transition() without the connection's fence: for a
 * takeover, which settles the jobs of a lost handler.
 */
int mt_job_store_transition_unfenced(mt_db_t *db, int64_t id, unsigned allowed_from, mt_job_state_t to,
                                     const mt_job_update_t *update);

/*
 * A handler that took its name again (a restart) holds its jobs under its
 * new epoch: every non-terminal job of `handler` gets `epoch`. Returns how
 * many, or a negative value.
 */
int mt_job_store_adopt(mt_db_t *db, const char *handler, int64_t epoch);

/*
 * Takeover of a lost handler (handler_store.h): its `new` and `queued`
 * jobs go back to waiting, unassigned, in their pool (`queue` for those
 * that had none), with `info`; live handlers of the pool take them as any
 * waiting job. A queued job whose runner is set to anything but "local"
 * (a cluster job: submitted, or being submitted) stays: it is handed over
 * with mt_job_store_hand_over(), never submitted twice. Returns how many
 * went back, or a negative value.
 */
int mt_job_store_release_waiting(mt_db_t *db, const char *handler, const char *queue, const char *info);

/*
 * Takeover: job `id` of lost handler `from` (queued, running or being
 * cancelled), which lives on without it -- a cluster job, run by the
 * cluster's scheduler -- becomes handler `to`'s, under `to`'s epoch, with
 * `info` (recorded on the history row). Not fenced. Returns 1, 0 if the
 * job is no longer `from`'s or has ended, or a negative value.
 */
int mt_job_store_hand_over(mt_db_t *db, int64_t id, const char *from, const char *to, int64_t epoch,
                           const char *info);

/*
 * Run job `id` again at another destination (a resubmit rule of the one
 * it failed at; the job configuration's): if its state is in allowed_from
 * (and not terminal) it goes back to `queued` at the same handler as its
 * next attempt, at `destination`, with its runner, external id, times and
 * exit code cleared and `info` recorded. Fenced as mt_job_store_retry().
 * Returns 1 with the new attempt in *attempt, 0 if it was not in an
 * allowed state, or a negative value.
 */
int mt_job_store_resubmit(mt_db_t *db, int64_t id, unsigned allowed_from, const char *destination, const char *info,
                          int *attempt);

/*
 * Takeover: running job `id` of lost `handler`, whose run did not finish,
 * goes back to waiting in its pool (or `queue`) as its next attempt, what
 * the lost run left cleared, with `info`. Returns 1 with the attempt
 * number in *attempt, 0 if it was no longer running at that handler, or a
 * negative value.
 */
int mt_job_store_release_running(mt_db_t *db, int64_t id, const char *handler, const char *queue, const char *info,
                                 int *attempt);

/*
 * Cancel job id: one that no handler runs yet (new) ends `deleted` at once;
 * a queued or running one becomes `deleting`, for its handler to stop.
 * Returns the state it is in now (MT_JOB_DELETED or MT_JOB_DELETING),
 * -EALREADY if it had already ended, -ENOENT, or another negative value.
 */
int mt_job_store_cancel(mt_db_t *db, int64_t id, const char *info);

/*
 * For the sweeper: unassigned `new` jobs created before created_before_us
 * (pass mt_wall_us() - age), oldest first, at most `limit`. Fills whole
 * records (the sweeper needs id and queue). Returns 0 with *jobs and
 * *count as mt_job_store_list, or a negative value.
 */
int mt_job_store_unassigned(mt_db_t *db, int64_t created_before_us, size_t limit, mt_job_t **jobs,
                            size_t *count);
/* The same for the jobs waiting in one queue (the sweeper of a pool). */
int mt_job_store_unassigned_at(mt_db_t *db, const char *queue, int64_t created_before_us, size_t limit,
                               mt_job_t **jobs, size_t *count);

/*
 * For recovery after a restart or respawn: the jobs owned by `handler`
 * that are not terminal (new, queued, running, deleting), oldest first.
 * Returns 0 with *jobs and *count as mt_job_store_list, or a negative value.
 */
int mt_job_store_of_handler(mt_db_t *db, const char *handler, mt_job_t **jobs, size_t *count);

/* One row of a job's state history. */
typedef struct mt_job_event {
    mt_job_state_t state;
    int64_t time_us;
    char *handler; /* owned; NULL if the job had none then */
    char *info;    /* owned; NULL if none was given with that change */
} mt_job_event_t;

/*
 * The state history of job `id`, in the order it happened (empty for an
 * unknown job). Returns 0 with a new array in *events (free it with
 * mt_job_store_free_events) and *count, or a negative value.
 */
int mt_job_store_history(mt_db_t *db, int64_t id, mt_job_event_t **events, size_t *count);

/* Accepts NULL. */
void mt_job_store_free_events(mt_job_event_t *events, size_t count);

#endif
