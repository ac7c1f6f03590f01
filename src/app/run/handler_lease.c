/*
 * handler_lease: a handler's name under a lease, and takeovers (see
 * handler_lease.h).
 */
#define MT_LOG_NAME "muleteer.jobs.lease"

#include "app/run/handler_lease.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app/run/job_waiter.h"
#include "app/store/handler_store.h"
#include "app/store/job_store.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/mem.h"

struct mt_handler_lease {
    mt_handler_lease_spec_t spec;
    char *name;
    char *pools;          /* ",a,b," */
    char *default_pool;
    int64_t epoch;
    int64_t deadline_ns;  /* what the last renewal promised (monotonic) */
    mt_db_t *db;
    uv_timer_t renew;
    uv_timer_t takeover;
    bool started;
    int closing;          /* handles still to close before the free */
    int64_t last_failure_log_ms;
    bool renew_failing;   /* the last renewal could not reach the database */
    int64_t renewed_ms;   /* monotonic: when the last renewal succeeded (or the name was taken) */
    int64_t reconnected_ms; /* monotonic: when a renewal succeeded after the database was out of reach */
};

const char *mt_handler_lease_host(void)
{
    static char host[256];
    if (!host[0] && gethostname(host, sizeof host - 1) < 0)
        snprintf(host, sizeof host, "localhost");
    return host;
}

/*
 * How long before its lease lapses a handler stops its commands: the time
 * a waiter takes to notice (it reads its fence every
 * MT_WAITER_FENCE_CHECK_MS) and to stop its command, with room to spare.
 */
static int64_t margin_ms(int64_t lease_ms)
{
    int64_t m = lease_ms / 5;
    return m < 2 * MT_WAITER_FENCE_CHECK_MS ? 2 * MT_WAITER_FENCE_CHECK_MS : m;
}

static int64_t renew_interval_ms(const mt_handler_lease_t *lease)
{
    return lease->spec.lease_ms / 3 > 0 ? lease->spec.lease_ms / 3 : 1;
}

static bool process_exists(int pid)
{
    return pid > 0 && (kill(pid, 0) == 0 || errno == EPERM);
}

int mt_handler_lease_take(mt_db_t *db, const mt_handler_lease_spec_t *spec, mt_handler_lease_t **out, char *err,
                          size_t errlen)
{
    *out = NULL;
    const char *host = mt_handler_lease_host();
    char pools[2048] = ",";
    for (size_t i = 0; i < spec->npools; i++) {
        size_t used = strlen(pools);
        snprintf(pools + used, sizeof pools - used, "%s,", spec->pools[i]);
    }
    int64_t sent_ns = mt_waiter_now_ns();
    int64_t epoch = 0;
    mt_handler_row_t holder;
    int rc = mt_handler_store_take(db, spec->name, host, (int)getpid(), pools, spec->lease_ms, 0, &epoch, &holder);
    if (rc == 0 && holder.host && strcmp(holder.host, host) == 0 &&
        (holder.pid == (int)getpid() || !process_exists(holder.pid))) {
        /* Its holder was a process of this host that is gone (a respawn, a restart), or this very one. */
        int dead = holder.pid;
        mt_handler_row_clear(&holder);
        sent_ns = mt_waiter_now_ns();
        rc = mt_handler_store_take(db, spec->name, host, (int)getpid(), pools, spec->lease_ms, dead, &epoch, &holder);
    }
    if (rc < 0) {
        snprintf(err, errlen, "cannot register handler %s in the job database: %s", spec->name, mt_db_errmsg(db));
        return rc;
    }
    if (rc == 0) {
        snprintf(err, errlen,
                 "a handler named %s is already running on host %s (pid %d), its lease good for %.1f s more: "
                 "server names must be unique across hosts",
                 spec->name, holder.host ? holder.host : "?", holder.pid,
                 (double)(holder.lease_until_us - holder.now_us) / 1e6);
        mt_handler_row_clear(&holder);
        return -EEXIST;
    }
    mt_handler_lease_t *lease = mt_calloc(1, sizeof *lease);
    lease->spec = *spec;
    lease->name = mt_strdup(spec->name);
    lease->pools = mt_strdup(pools);
    lease->default_pool = mt_strdup(spec->default_pool ? spec->default_pool : "job-handlers");
    lease->epoch = epoch;
    lease->deadline_ns = sent_ns + (spec->lease_ms - margin_ms(spec->lease_ms)) * 1000000LL;
    lease->renewed_ms = mt_clock_ms();
    mt_db_set_fence(db, spec->name, epoch);
    int adopted = mt_job_store_adopt(db, spec->name, epoch);
    if (adopted < 0)
        mt_warn("handler %s: cannot take up its jobs under epoch %lld: %s", spec->name, (long long)epoch,
                mt_db_errmsg(db));
    mt_info("handler %s registered on host %s (epoch %lld, lease %.1f s)", spec->name, host, (long long)epoch,
            (double)spec->lease_ms / 1000);
    *out = lease;
    return 0;
}

int64_t mt_handler_lease_epoch(const mt_handler_lease_t *lease)
{
    return lease->epoch;
}

int64_t mt_handler_lease_deadline_ns(const mt_handler_lease_t *lease)
{
    return lease->deadline_ns;
}

/* A failure that repeats every few seconds is logged once a minute: "handler NAME: WHAT: DETAIL". */
static void failure(mt_handler_lease_t *lease, const char *what, const char *detail)
{
    int64_t now = mt_clock_ms();
    if (now - lease->last_failure_log_ms < 60000 && lease->last_failure_log_ms)
        return;
    lease->last_failure_log_ms = now;
    mt_error("handler %s: %s: %s", lease->name, what, detail);
}

static void renew_cb(uv_timer_t *timer)
{
    mt_handler_lease_t *lease = timer->data;
    int64_t sent_ns = mt_waiter_now_ns();
    int rc = mt_handler_store_renew(lease->db, lease->name, lease->epoch, lease->spec.lease_ms);
    int64_t now = mt_clock_ms();
    /* Out of reach: the renewal failed, or it succeeded only after waiting (a lock held for seconds). */
    if (rc >= 0 && (lease->renew_failing || now - lease->renewed_ms > 2 * renew_interval_ms(lease))) {
        lease->reconnected_ms = now;
        if (lease->renew_failing)
            mt_info("handler %s: its lease is renewed again", lease->name);
        lease->renew_failing = false;
    }
    if (rc == 1) {
        lease->renewed_ms = now;
        lease->deadline_ns = sent_ns + (lease->spec.lease_ms - margin_ms(lease->spec.lease_ms)) * 1000000LL;
        if (lease->spec.renewed_cb)
            lease->spec.renewed_cb(lease->deadline_ns, lease->spec.data);
        return;
    }
    if (rc == 0) {
        mt_error("handler %s: its name was taken over (its lease lapsed while it was paused or cut off): it stops "
                 "its commands and writes nothing more",
                 lease->name);
        uv_timer_stop(&lease->renew);
        uv_timer_stop(&lease->takeover);
        if (lease->spec.lost_cb)
            lease->spec.lost_cb(lease->spec.data);
        return;
    }
    lease->renew_failing = true;
    failure(lease, "cannot renew its lease (its commands stop before it lapses)",
            mt_db_errmsg(lease->db));
}

/* The end a finished command's waiter wrote, as a job update; false when the run did not finish. */
static bool finished_result(const char *workdir, int attempt, mt_job_state_t *to, mt_job_update_t *u, char *why,
                            size_t len)
{
    mt_waiter_status_t st;
    if (!workdir || mt_waiter_status_read(workdir, &st) < 0 || st.attempt != attempt)
        return false;
    switch (st.end) {
    case MT_WAITER_EXITED:
        *to = st.value == 0 ? MT_JOB_OK : MT_JOB_ERROR;
        u->has_exit_code = true;
        u->exit_code = st.value;
        snprintf(why, len, "its handler was lost; its command had ended (exit status %d), as its waiter recorded",
                 st.value);
        return true;
    case MT_WAITER_SIGNALED:
        *to = MT_JOB_ERROR;
        snprintf(why, len, "its handler was lost; its command had been killed by signal %d, as its waiter recorded",
                 st.value);
        return true;
    case MT_WAITER_FAILED:
        *to = MT_JOB_ERROR;
        snprintf(why, len, "its handler was lost; its command could not be started: %s", strerror(st.value));
        return true;
    case MT_WAITER_FENCED:
    default:
        return false;
    }
}

/*
 * The running job of a lost handler: its recorded result, or back to its
 * pool as the next attempt (after making sure, on this host, that nothing
 * of the run is left).
 */
static void take_over_running(mt_handler_lease_t *lease, const mt_handler_row_t *lost, const mt_job_t *job)
{
    char why[512];
    mt_job_state_t to;
    mt_job_update_t u = {0};
    if (finished_result(job->working_dir, job->attempt, &to, &u, why, sizeof why)) {
        u.info = why;
        /* Not fenced: the job is the lost handler's, and this is the takeover's write. */
        mt_job_store_transition_unfenced(lease->db, job->id, MT_JOB_BIT(MT_JOB_RUNNING), to, &u);
        return;
    }
    mt_waiter_id_t wid;
    if (strcmp(lost->host, mt_handler_lease_host()) == 0 && job->working_dir &&
        mt_waiter_id_read(job->working_dir, &wid) == 0 && wid.attempt == job->attempt &&
        mt_waiter_alive(&wid, job->working_dir)) {
        /* On this host, a waiter still there (its handler paused with it): stop the run for good first. */
        kill(-wid.command_pid, SIGKILL);
        kill(wid.waiter_pid, SIGKILL);
    }
    if (job->attempt >= lease->spec.max_attempts) {
        snprintf(why, sizeof why,
                 "its handler %s was lost while it ran (attempt %d of %d, the last): it ran %d times without a result",
                 lost->name, job->attempt, lease->spec.max_attempts, job->attempt);
        mt_job_store_transition_unfenced(lease->db, job->id, MT_JOB_BIT(MT_JOB_RUNNING), MT_JOB_ERROR,
                                         &(mt_job_update_t){.info = why});
        return;
    }
    snprintf(why, sizeof why, "attempt %d: its handler %s was lost while attempt %d ran (lease lapsed): it runs again",
             job->attempt + 1, lost->name, job->attempt);
    int attempt;
    mt_job_store_release_running(lease->db, job->id, lost->name, lease->default_pool, why, &attempt);
}

/* Take over lost handler `lost`, in one transaction. */
static void take_over(mt_handler_lease_t *lease, const mt_handler_row_t *lost)
{
    mt_db_t *db = lease->db;
    if (mt_db_begin(db) < 0) {
        failure(lease, "cannot take over a lost handler", mt_db_errmsg(db));
        return;
    }
    int won = mt_handler_store_mark_lost(db, lost->name, lost->epoch);
    if (won <= 0) {
        mt_db_rollback(db);
        return;
    }
    /* Its first pool is where its jobs that had none wait now. */
    char queue[256];
    snprintf(queue, sizeof queue, "%s", lease->default_pool);
    if (lost->pools && lost->pools[0] == ',' && lost->pools[1]) {
        const char *p = lost->pools + 1, *comma = strchr(p, ',');
        if (comma && comma > p)
            snprintf(queue, sizeof queue, "%.*s", (int)(comma - p), p);
    }
    char info[512];
    snprintf(info, sizeof info, "its handler %s (host %s, pid %d) was lost (lease lapsed): back in pool %s", lost->name,
             lost->host, lost->pid, queue);
    int waiting = mt_job_store_release_waiting(db, lost->name, queue, info);
    mt_job_t *jobs = NULL;
    size_t n = 0;
    int rc = mt_job_store_of_handler(db, lost->name, &jobs, &n);
    size_t running = 0, cancelled = 0;
    size_t handed = 0;
    char handed_info[512];
    snprintf(handed_info, sizeof handed_info,
             "its handler %s (host %s, pid %d) was lost (lease lapsed): its cluster job is now %s's", lost->name,
             lost->host, lost->pid, lease->name);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (jobs[i].runner && strcmp(jobs[i].runner, "local") != 0) {
            /* Given to the cluster, which runs it whoever watches: watched by this handler from now on. */
            int hrc = mt_job_store_hand_over(db, jobs[i].id, lost->name, lease->name, lease->epoch, handed_info);
            if (hrc < 0)
                rc = hrc;
            handed += hrc == 1;
        } else if (jobs[i].state == MT_JOB_RUNNING) {
            take_over_running(lease, lost, &jobs[i]);
            running++;
        } else if (jobs[i].state == MT_JOB_DELETING) {
            mt_job_store_transition_unfenced(db, jobs[i].id, MT_JOB_BIT(MT_JOB_DELETING), MT_JOB_DELETED,
                                             &(mt_job_update_t){.info = "cancelled; its handler was lost"});
            cancelled++;
        }
    }
    mt_job_store_free(jobs, n);
    if (waiting < 0 || rc < 0 || mt_db_commit(db) < 0) {
        mt_db_rollback(db);
        failure(lease, "the takeover of a lost handler failed (tried again)", mt_db_errmsg(db));
        return;
    }
    mt_warn("handler %s (host %s, pid %d, epoch %lld) was lost: its lease lapsed %.1f s ago; taken over by %s: "
            "%d waiting job%s back in pool %s, %zu running job%s recovered, %zu cancelled, %zu cluster job%s "
            "handed over",
            lost->name, lost->host, lost->pid, (long long)lost->epoch,
            (double)(lost->now_us - lost->lease_until_us) / 1e6, lease->name, waiting, waiting == 1 ? "" : "s", queue,
            running, running == 1 ? "" : "s", cancelled, handed, handed == 1 ? "" : "s");
    if (handed && lease->spec.handed_over_cb)
        lease->spec.handed_over_cb(lease->spec.data);
}

static void takeover_cb(uv_timer_t *timer)
{
    mt_handler_lease_t *lease = timer->data;
    /*
     * After the database was out of reach for this handler, it was likely out
     * of reach for the others too (a locked file, a server restarting): their
     * leases lapsed for the same reason, and they are renewing them now. Give
     * them a whole lease to do so before taking anyone over, so that a stall
     * of the database does not read as every other handler dying.
     */
    int64_t now = mt_clock_ms();
    if (lease->renew_failing || now - lease->renewed_ms > renew_interval_ms(lease) * 3 / 2 ||
        (lease->reconnected_ms && now - lease->reconnected_ms < lease->spec.lease_ms))
        return;
    mt_handler_row_t *rows = NULL;
    size_t n = 0;
    if (mt_handler_store_lapsed(lease->db, &rows, &n) < 0) {
        failure(lease, "cannot look for lost handlers", mt_db_errmsg(lease->db));
        return;
    }
    for (size_t i = 0; i < n; i++)
        if (strcmp(rows[i].name, lease->name) != 0)
            take_over(lease, &rows[i]);
    mt_handler_rows_free(rows, n);
}

void mt_handler_lease_start(mt_handler_lease_t *lease, uv_loop_t *loop, mt_db_t *db)
{
    lease->db = db;
    uint64_t renew_ms = (uint64_t)renew_interval_ms(lease);
    uint64_t takeover_ms = (uint64_t)(lease->spec.lease_ms / 2 > 0 ? lease->spec.lease_ms / 2 : 1);
    uv_timer_init(loop, &lease->renew);
    lease->renew.data = lease;
    uv_timer_start(&lease->renew, renew_cb, renew_ms, renew_ms);
    uv_timer_init(loop, &lease->takeover);
    lease->takeover.data = lease;
    /* Not in step with other handlers' checks: a takeover is won by one, the others' tries are waste. */
    uv_timer_start(&lease->takeover, takeover_cb, takeover_ms / 2 + (uint64_t)(getpid() % 97) * takeover_ms / 194,
                   takeover_ms);
    lease->started = true;
}

static void closed_cb(uv_handle_t *handle)
{
    mt_handler_lease_t *lease = handle->data;
    if (--lease->closing > 0)
        return;
    free(lease->name);
    free(lease->pools);
    free(lease->default_pool);
    free(lease);
}

void mt_handler_lease_stop(mt_handler_lease_t *lease, bool release)
{
    if (!lease)
        return;
    if (release && lease->db && mt_handler_store_release(lease->db, lease->name, lease->epoch) < 0)
        mt_warn("handler %s: cannot mark its name stopped (the others wait for its lease to lapse): %s", lease->name,
                mt_db_errmsg(lease->db));
    if (!lease->started) {
        lease->closing = 1;
        closed_cb((uv_handle_t *)&(uv_timer_t){.data = lease});
        return;
    }
    lease->closing = 2;
    uv_timer_stop(&lease->renew);
    uv_timer_stop(&lease->takeover);
    uv_close((uv_handle_t *)&lease->renew, closed_cb);
    uv_close((uv_handle_t *)&lease->takeover, closed_cb);
}
