/*
 * sd_notify: the master tells systemd (or any supervisor speaking its
 * notification protocol) how the stack is doing -- READY=1 once every
 * process is up, RELOADING=1 and READY=1 around a reload, STOPPING=1 at the
 * start of a stop, a one-line STATUS= at each of these and whenever the
 * process counts change, and WATCHDOG=1 from the master's loop when the
 * service has a watchdog (WatchdogSec=).
 *
 * The protocol is implemented here, not linked from libsystemd: each
 * message is one datagram of "KEY=VALUE" lines sent to the AF_UNIX
 * socket named by $NOTIFY_SOCKET (a path, or an abstract name when it
 * starts with '@'). Without NOTIFY_SOCKET every call here does nothing.
 *
 * Only the master talks to systemd (a unit says NotifyAccess=main): at
 * mt_sd_init() it takes NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID out
 * of its environment, so that no child -- web worker, mule program, job
 * command, waiter -- inherits them (sd_notify()'s unset_environment
 * convention).
 *
 * "Up" means more than forked: every web worker and built-in mule has
 * reached its event loop (its first heartbeat since its fork, proctable.h),
 * and every mule program is running. A stack whose child fails at start-up
 * therefore never says READY=1, and systemd sees the start fail.
 *
 * Everything here runs on the master's one thread; none of it is for the
 * children.
 */
#ifndef MT_SD_NOTIFY_H
#define MT_SD_NOTIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "stack/stack.h"

/*
 * Send one notification (lines "KEY=VALUE" separated by '\n') as one
 * datagram to the socket named by the environment variable NOTIFY_SOCKET
 * as it was at mt_sd_init() (or as it is now, before it). Returns 1 when
 * sent, 0 when there is no socket to send to, or a negative errno (the
 * address is not a path nor '@' name, the socket refused it). Never
 * blocks for long: the datagram is sent with MSG_DONTWAIT.
 */
int mt_sd_notify(const char *text);

/*
 * In the master, once, before anything is forked: read NOTIFY_SOCKET,
 * WATCHDOG_USEC and WATCHDOG_PID and remove them from the environment.
 * A NOTIFY_SOCKET this cannot use, or a WATCHDOG_USEC that is not a
 * number, is logged (notifications or the watchdog are then off).
 * `daemonized`: the master is the child of a daemonize fork, not the
 * process its supervisor started; READY=1 then carries MAINPID=.
 */
void mt_sd_init(bool daemonized);

/* Whether NOTIFY_SOCKET was set (and usable) at mt_sd_init(). */
bool mt_sd_enabled(void);

/* WATCHDOG_USEC if the watchdog is on for this process (WATCHDOG_PID unset or ours), else 0. */
int64_t mt_sd_watchdog_usec(void);

/*
 * From the master's loop, after each turn: READY=1 when the stack (or a
 * reload) has come up, STATUS= when the summary has changed, WATCHDOG=1
 * when due. Cheap: one pass over the process table.
 */
void mt_sd_tick(const mt_stack_t *stack);

/* The master's poll timeout, shortened to the next watchdog ping or readiness check: min(timeout_ms, ...). */
int mt_sd_timeout(int timeout_ms);

/*
 * A reload begins: RELOADING=1 with MONOTONIC_USEC= (systemd 253's
 * Type=notify-reload wants both) and STATUS=. all_now: every child is
 * being restarted at once (reload_now), and the reload is over once each
 * has been started anew since this call and is up; otherwise the reload
 * is over at mt_sd_reloaded().
 */
void mt_sd_reloading(const mt_stack_t *stack, bool all_now);

/* A rolling reload has restarted its last process: READY=1 follows once every process is up. */
void mt_sd_reloaded(void);

/* A stop begins: STOPPING=1 and STATUS=. Nothing but STATUS= and WATCHDOG=1 follows. Idempotent. */
void mt_sd_stopping(const mt_stack_t *stack);

#endif
