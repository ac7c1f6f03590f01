/*
 * handler_lease: a handler's name, held in the database under a lease, and
 * the takeover of handlers whose lease lapsed.
 *
 * A process that handles jobs takes its server name in the handler table
 * (store/handler_store.h) before it touches a job: that makes the name
 * unique across hosts, gives it a new epoch, takes up the jobs its
 * previous incarnation held under that epoch (mt_job_store_adopt), and
 * fences the thread's connection with it (mt_db_set_fence), so that every
 * job write it makes carries the epoch.
 *
 * Then, on the handler's loop:
 *  - every lease / 3 it renews the lease. After a renewal sent at monotonic
 *    time t, its commands may run until t + lease - margin: renewed_cb
 *    tells the handler so (it renews its waiters' fence, run/fence.h). The
 *    renewal's own clock is the database's, so lease_until >= t + lease on
 *    the database's clock: the waiters stop before anyone may take over. A
 *    renewal that fails (the database cannot be reached) extends nothing,
 *    so a cut-off handler's commands stop by themselves before its lease
 *    lapses. A renewal refused (the name was taken over: this process was
 *    paused or cut off past its lease) calls lost_cb.
 *  - every lease / 2 it looks for handlers whose lease has lapsed, and
 *    takes each over in one transaction: the name is marked lost (its
 *    epoch moves on, so the lost process can write nothing more), its
 *    cluster jobs (given to Slurm: they run on without it) become the
 *    taker's, who watches them from then on (handed_over_cb), its other
 *    new and queued jobs go back to their pools, its running jobs get the
 *    result their waiter wrote if it finished (the working directory is
 *    read from here: a shared filesystem across hosts), or else go back
 *    to their pools as their next attempt (or end in error after
 *    max_attempts), and its cancelled jobs end deleted. Only a handler
 *    whose own renewals are on time takes others over; one whose renewals
 *    failed, or succeeded only after a wait (a lock held for seconds),
 *    takes nobody over for a whole lease: a database that was out of reach
 *    for it was likely out of reach for the others too, whose leases lapsed
 *    for no fault of theirs and are being renewed.
 *
 * Not thread-safe: a lease belongs to its handler's loop thread.
 */
#ifndef MT_HANDLER_LEASE_H
#define MT_HANDLER_LEASE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "app/store/db.h"

typedef struct mt_handler_lease mt_handler_lease_t;

/* The default of jobs.handler-lease, in milliseconds. */
#define MT_HANDLER_LEASE_DEFAULT_MS 10000

typedef struct mt_handler_lease_spec {
    const char *name;          /* the server name */
    const char *const *pools;  /* the pools it serves (for /api/handlers and takeovers) */
    size_t npools;
    int64_t lease_ms;          /* > 0 */
    int max_attempts;          /* runs of a job before a lost one ends in error */
    const char *default_pool;  /* where the jobs of a lost handler without a pool wait */
    /* The handler may run its commands until deadline_ns (CLOCK_MONOTONIC). */
    void (*renewed_cb)(int64_t deadline_ns, void *data);
    /* The name was taken over: the handler must stop its commands and write nothing more. */
    void (*lost_cb)(void *data);
    /* A takeover handed this handler cluster jobs of the lost one (they run on in the cluster): watch them. */
    void (*handed_over_cb)(void *data);
    void *data;
} mt_handler_lease_spec_t;

/*
 * Take spec->name for the calling process, through db (the connection of
 * the thread that will run the handler: it gets the fence). The name is
 * taken when it is free, when its lease lapsed, or when its holder was a
 * process of this host that no longer exists (a handler respawned, a stack
 * restarted). Returns 0 with *out; -EEXIST with "a handler named NAME is
 * already running on host H (pid P) ..." in err when a live holder has
 * it; another negative value with the reason in err.
 */
int mt_handler_lease_take(mt_db_t *db, const mt_handler_lease_spec_t *spec, mt_handler_lease_t **out, char *err,
                          size_t errlen);

/* The epoch the name was taken at. */
int64_t mt_handler_lease_epoch(const mt_handler_lease_t *lease);

/* The monotonic deadline (ns) the first renewal promised: the take itself counts as one. */
int64_t mt_handler_lease_deadline_ns(const mt_handler_lease_t *lease);

/* Start renewing and taking over on loop, with db (the same thread's connection). */
void mt_handler_lease_start(mt_handler_lease_t *lease, uv_loop_t *loop, mt_db_t *db);

/*
 * Stop the timers; with release, mark the name stopped (a clean end: the
 * others need not wait for its lease). Frees the lease (and closes its
 * handles on the loop). NULL is fine.
 */
void mt_handler_lease_stop(mt_handler_lease_t *lease, bool release);

/* This host's name, as the handler table records it. */
const char *mt_handler_lease_host(void);

#endif
