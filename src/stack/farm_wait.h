/*
 * farm_wait: how a built-in mule sleeps, so that one farm message wakes one
 * mule.
 *
 * All the mules of a farm read the farm's one socket. Watched through
 * libuv, whose epoll registrations are shared, each message woke every idle
 * mule of the farm and all but one found the queue empty: the thundering
 * herd (32 idle mules, 32 context switches per message). libuv has no
 * EPOLLEXCLUSIVE, and an exclusive registration in an epoll set that libuv's
 * own set watches does not help: the kernel counts an exclusive wakeup as
 * delivered only to an epoll set on which a thread is blocked itself.
 *
 * So a mule's thread blocks here, in an epoll set of its own that holds
 *  - its libuv loop's backend descriptor (uv_backend_fd), level-triggered:
 *    the loop's events (signals, the mule's own channel, children, timers
 *    through the timeout) wake it as before, and the caller then runs the
 *    loop once with UV_RUN_NOWAIT (libuv's pattern for embedding a loop);
 *  - each farm socket it reads, with EPOLLIN | EPOLLEXCLUSIVE: per message
 *    the kernel wakes one of the farm's mules blocked here. A mule that is
 *    busy when the message comes is not woken, but finds the socket ready
 *    when it next waits, so a busy mule never holds a message back from an
 *    idle one;
 *  - each farm's doorbell, exclusive too.
 *
 * The doorbell: an exclusive wakeup reaches one mule. If that mule then stops
 * reading while messages are left (its credit ran out, it took a burst's
 * worth, it stops), nobody else would look at the queue before the next
 * send. A mule that stops reading so rings the farm's doorbell, an eventfd
 * the master made for the farm before forking: that wakes one other mule
 * waiting on the farm, which empties the doorbell and reads the queue, and
 * rings in turn if it too leaves messages. Rings that find nobody waiting
 * add up to one look at the queue by the next mule that waits.
 *
 * Single-threaded: a wait set belongs to the thread that runs the mule loop.
 */
#ifndef MT_FARM_WAIT_H
#define MT_FARM_WAIT_H

#include <stdbool.h>
#include <stddef.h>

typedef struct mt_farm_wait mt_farm_wait_t;

/* A farm's doorbell: a non-blocking, close-on-exec eventfd. Returns the descriptor or -errno. */
int mt_farm_doorbell_open(void);

/* Ring a doorbell (doorbell_fd < 0: nothing to ring). 0 or -errno. */
int mt_farm_doorbell_ring(int doorbell_fd);

/*
 * Create a wait set around loop_fd (a libuv loop's uv_backend_fd(), or -1
 * for none). Returns 0 with *out set, or -errno (*out NULL).
 */
int mt_farm_wait_create(mt_farm_wait_t **out, int loop_fd);

/*
 * Disarm every farm (ringing the doorbell of each that still holds
 * messages, as mt_farm_wait_arm does), close the set and free it. Does not
 * close the farms' descriptors. Accepts NULL.
 */
void mt_farm_wait_destroy(mt_farm_wait_t *w);

/*
 * Add a farm: recv_fd is the read end of its queue (non-blocking), doorbell_fd
 * its doorbell (-1: none; then messages a mule leaves wait for the next send).
 * The farm starts disarmed. Returns its index (0, 1, ... in the order added)
 * or -errno.
 */
int mt_farm_wait_add(mt_farm_wait_t *w, int recv_fd, int doorbell_fd);

/*
 * Arm farm i (wait for its messages) or disarm it (leave them to the farm's
 * other mules). Disarming while the farm's queue holds messages rings its
 * doorbell, so that a mule that stops taking messages never strands them.
 * Arming or disarming twice does nothing. 0 or -errno (epoll_ctl's).
 */
int mt_farm_wait_arm(mt_farm_wait_t *w, size_t i, bool armed);

/*
 * Block until the loop descriptor is readable, an armed farm may hold
 * messages, or timeout_ms has passed (-1: no limit, 0: do not block).
 * Writes the index of each armed farm to read into ready[] (each at most
 * once, at most max: give room for every farm added) and returns how many, 0 when only the loop (or the
 * timeout, or a signal) woke it, or -errno. A farm woken through its
 * doorbell has had the doorbell emptied: the caller must now read its
 * queue (and call mt_farm_wait_pass if it stops with messages left).
 */
int mt_farm_wait_wait(mt_farm_wait_t *w, int timeout_ms, size_t *ready, size_t max);

/*
 * Farm i's reader stopped while still armed (it took a burst's worth): if
 * messages are left in the queue, ring the doorbell so an idle mule takes
 * them meanwhile. 0, or -errno from the ring.
 */
int mt_farm_wait_pass(mt_farm_wait_t *w, size_t i);

/* Whether a queue's read end holds a message, without taking it. Pure query (one recv with MSG_PEEK). */
bool mt_farm_queue_pending(int recv_fd);

#endif
