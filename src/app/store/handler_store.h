/*
 * handler_store: handlers registered and leased in the database.
 *
 * Every job handler (a mule, a web worker standing in for a pool, a
 * standalone handler, on any host) holds a row under its server name: its
 * host, pid, pools, an epoch, and a lease -- a time, on the database's
 * clock, until which it is taken as alive. A handler renews its lease by
 * heartbeat; one whose lease lapses is dead to the others, which take its
 * jobs over (run/handler_lease.c). The times are the database's own
 * (PostgreSQL's clock_timestamp(); SQLite's clock is this host's), so the
 * hosts' clocks need not agree.
 *
 * Names are unique through this table: a name is taken when it is free
 * (never used, stopped, lost, or its lease lapsed), or when its holder is
 * known dead (a process on this host that no longer exists). Each take
 * bumps the name's epoch; every state write a handler makes to a job
 * carries its epoch (mt_db_set_fence), so a handler that lost its name --
 * it was paused or cut off past its lease and another took over -- can
 * change nothing.
 *
 * Errors: negative errno values with the detail in mt_db_errmsg(db).
 */
#ifndef MT_HANDLER_STORE_H
#define MT_HANDLER_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "app/store/db.h"

/* A handler's row, with the database's time when it was read. Strings are owned. */
typedef struct mt_handler_row {
    char *name;
    char *host;
    int pid;
    char *pools;      /* ",pool1,pool2," */
    char *state;      /* "running", "stopped" (it ended cleanly) or "lost" (its lease lapsed and it was taken over) */
    int64_t epoch;
    int64_t start_us; /* database time of the take */
    int64_t renew_us; /* database time of the last renewal */
    int64_t lease_until_us;
    int64_t now_us;   /* the database's time when the row was read */
} mt_handler_row_t;

void mt_handler_row_clear(mt_handler_row_t *row);
void mt_handler_rows_free(mt_handler_row_t *rows, size_t n);

/*
 * Take the name for the calling process (host, pid, pools as ",a,b,"),
 * with a lease of lease_ms from now. The name is taken if it is free (see
 * above) -- or, with dead_pid > 0, if its holder is exactly host:dead_pid
 * (the caller checked that this process on its own host no longer
 * exists). Returns 1 with the new *epoch; 0 when a live holder has it,
 * with its row in *holder (mt_handler_row_clear it); or a negative value.
 */
int mt_handler_store_take(mt_db_t *db, const char *name, const char *host, int pid, const char *pools,
                          int64_t lease_ms, int dead_pid, int64_t *epoch, mt_handler_row_t *holder);

/*
 * Renew the lease of name held at epoch to lease_ms from now. Returns 1, 0
 * if the name is no longer ours at that epoch (taken over: the caller must
 * stop what it runs), or a negative value (the database cannot be reached:
 * the lease runs on).
 */
int mt_handler_store_renew(mt_db_t *db, const char *name, int64_t epoch, int64_t lease_ms);

/* A clean stop: the row becomes `stopped` (its lease ends now). 1, 0 if not ours, or a negative value. */
int mt_handler_store_release(mt_db_t *db, const char *name, int64_t epoch);

/* Every handler row, by name. 0 with a new array (mt_handler_rows_free), or a negative value. */
int mt_handler_store_list(mt_db_t *db, mt_handler_row_t **rows, size_t *n);

/* Handlers `running` whose lease has lapsed (dead to the others), oldest lease first. */
int mt_handler_store_lapsed(mt_db_t *db, mt_handler_row_t **rows, size_t *n);

/* Is handler `name` running with a lease that has not lapsed? 1, 0, or a negative value. */
int mt_handler_store_live(mt_db_t *db, const char *name);

/* Does a running handler with a live lease serve `pool`? 1, 0, or a negative value. */
int mt_handler_store_pool_served(mt_db_t *db, const char *pool);

/*
 * Take over handler `name`, found lapsed at `epoch`: in the caller's
 * transaction, mark it `lost` (bumping its epoch, so that it can write no
 * more) if it is still running at that epoch with its lease lapsed.
 * Returns 1 if this caller won the takeover (it must then move the jobs),
 * 0 if it had renewed or another took it over first, or a negative value.
 */
int mt_handler_store_mark_lost(mt_db_t *db, const char *name, int64_t epoch);

#endif
