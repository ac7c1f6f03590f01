/*
 * handler_wake: a handler woken by the database when a job is committed
 * for it (PostgreSQL's LISTEN/NOTIFY, store/db_listen.h).
 *
 * It listens on the handler's own channel (jobs assigned to it, and its
 * jobs being cancelled) and, for a handler that claims from the database
 * (db-skip-locked, db-transaction-isolation), on each of its pools'
 * channels. Each notification is handled on the handler's loop as the
 * message of the same meaning would be: take the job, check a
 * cancellation, or claim from the pools now. While the listening
 * connection is down it is tried again every second; the handler's poll
 * covers what was announced meanwhile.
 *
 * Not thread-safe: it belongs to the handler's loop thread.
 */
#ifndef MT_HANDLER_WAKE_H
#define MT_HANDLER_WAKE_H

#include <stdbool.h>
#include <stddef.h>

#include <uv.h>

#include "app/run/handler.h"

typedef struct mt_handler_wake mt_handler_wake_t;

/*
 * Listen for handler h (named `name`) on loop, at the database `location`.
 * pools: the pools it claims from (none when it does not claim). Returns
 * NULL for a SQLite database (nothing to listen to), else a running wake.
 */
mt_handler_wake_t *mt_handler_wake_start(mt_handler_t *h, uv_loop_t *loop, const char *location, const char *name,
                                         const char *const *pools, size_t npools);

/* Stop listening and free (the handles close on the loop). NULL is fine. */
void mt_handler_wake_stop(mt_handler_wake_t *w);

#endif
