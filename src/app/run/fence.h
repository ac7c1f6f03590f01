/*
 * fence: a handler's promise to its job waiters that it is still there.
 *
 * The fence is one small file per handler, DIR/NAME.fence (DIR is the data
 * directory's handlers/, NAME the handler's server name), holding a
 * CLOCK_MONOTONIC deadline in nanoseconds. Every waiter the handler starts
 * gets a descriptor of it and reads it every MT_WAITER_FENCE_CHECK_MS
 * (job_waiter.h): once the deadline has passed, or the file was removed,
 * the waiter stops its command itself. So a handler that is hung (SIGSTOP,
 * a stuck disk) or cut off cannot leave commands running that nobody
 * answers for, for longer than the time it last promised.
 *
 * Contract for the caller: renew well before the deadline (every lease /
 * 3), and only while the handler may really keep running its jobs: the
 * handler moves it only after a successful renewal of its lease in the
 * database, to no later than that lease's end (handler.c,
 * mt_handler_fence_until), so a handler whose loop stops turning, or that
 * cannot reach the database, stops renewing. A handler that stops for good
 * closes the fence with remove = true, which tells any waiter left to stop.
 *
 * The file is written in place (never replaced by a rename), since waiters
 * adopted by a handler's next incarnation keep reading the descriptor they
 * were given: "DEADLINE DEADLINE\n", fixed width, the number twice so that
 * a read racing a write is told apart (mt_waiter_fence_read).
 *
 * Not thread-safe: one fence belongs to one handler's loop.
 */
#ifndef MT_FENCE_H
#define MT_FENCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct mt_fence mt_fence_t;

/*
 * Open (creating DIR and the file if needed, mode 0644) the fence of
 * handler `name` in dir. It is not renewed yet: call mt_fence_renew before
 * starting a waiter. Returns 0 with *out, or -errno with the reason in err.
 */
int mt_fence_open(const char *dir, const char *name, mt_fence_t **out, char *err, size_t errlen);

/* Promise until deadline_ns (CLOCK_MONOTONIC). Returns 0 or -errno (logged by the caller). */
int mt_fence_renew(mt_fence_t *fence, int64_t deadline_ns);

/* The descriptor a waiter inherits (read-only use). */
int mt_fence_fd(const mt_fence_t *fence);

/* The file's path. */
const char *mt_fence_path(const mt_fence_t *fence);

/* Close; with remove, unlink the file first (waiters still reading it stop their commands). NULL is fine. */
void mt_fence_close(mt_fence_t *fence, bool remove);

#endif
