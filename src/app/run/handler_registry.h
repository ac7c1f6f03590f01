/*
 * handler_registry: the job handlers running on this host, by server name.
 *
 * Recovery keys on a handler's server name, so two processes with one name
 * would recover (and stop) each other's jobs. Each handler holds an
 * exclusive lock on DIR/NAME.lock for its life (an open-file-description
 * lock: the kernel drops it when the process dies, however it dies), and
 * writes into the file its pid and the pools it serves. On one host this
 * refuses a second handler of the same name, and lets any process ask,
 * without disturbing the holder, whether a handler of some name -- or one
 * serving some pool -- is running.
 *
 * All functions are thread-safe. The lookups cost a few system calls per
 * registered handler; callers on a hot path cache their answers.
 */
#ifndef MT_HANDLER_REGISTRY_H
#define MT_HANDLER_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Register the calling process as handler `name` serving `pools` in
 * directory `dir` (created if missing). Returns 0 (the lock is held until
 * the process exits; registering again in the same process is a no-op),
 * -EEXIST with "a handler named NAME is already running (pid P, lock
 * PATH): ..." in err when another live process holds the name, or another
 * negative errno with the reason in err.
 */
int mt_handler_registry_register(const char *dir, const char *name, const char *const *pools, size_t npools,
                                 char *err, size_t errlen);

/* True if a live process holds the lock of handler `name` in dir (the caller itself included). */
bool mt_handler_registry_running(const char *dir, const char *name);

/* True if a live registered handler in dir serves `pool` (the calling process counts too). */
bool mt_handler_registry_pool_served(const char *dir, const char *pool);

#endif
