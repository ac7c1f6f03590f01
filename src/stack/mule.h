/*
 * mule: the built-in mule loop.
 *
 * A mule started with a bare --mule runs this loop (so does a standalone
 * process, which has no channels): one libuv loop that
 * polls the mule's own channel and the channels of every farm it belongs
 * to, receives messages in batches and dispatches each to the handler the
 * application registered for its target. A farm mule sleeps in an epoll set
 * of its own around that loop (farm_wait.h), so that a farm message wakes
 * one idle mule of the farm rather than all of them. SIGTERM, SIGINT or SIGQUIT stop it
 * at once, even while it waits for a message (the signal is a loop event,
 * like a message); a handler that is running finishes first.
 *
 * The application can add its own handles (timers, child processes) to the
 * loop from app->mule_start() via mt_stack_loop().
 *
 * The loop beats into the process's live slot every MT_BEAT_INTERVAL_MS
 * (heartbeat.h): a handler or other callback that holds the loop stops the
 * beat, and with mule-harakiri the master kills the mule once it has been
 * silent that long. A handler must not hold the loop longer than that.
 */
#ifndef MT_MULE_H
#define MT_MULE_H

#include "muleteer.h"

/* Run the loop of the calling mule until asked to stop. Returns the exit status. */
int mt_mule_run(mt_stack_t *stack);

#endif
