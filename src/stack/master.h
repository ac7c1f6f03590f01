/*
 * master: supervise the children in the process table.
 *
 * The master forks every web worker and mule (through spawn.c), then waits
 * for signals on a signalfd: SIGCHLD reaps and respawns, SIGTERM / SIGINT /
 * SIGQUIT shut the stack down, SIGHUP restarts every child one at a time
 * (a rolling reload: the others keep serving). It never serves requests or
 * handles messages itself.
 *
 * Respawn: a child that dies is forked again in the same slot, with the
 * same server name. A child that dies within MT_QUICK_DEATH_MS of its start
 * counts as a crash loop and waits 0.1 s, 0.2 s, 0.4 s, ... (at most 10 s)
 * before its next start; a child that ran longer is respawned at once. A
 * respawn that fails (fork refused, program gone) is retried on the same
 * schedule; only a failure during start-up stops the stack. A
 * child that exits with MT_EXIT_FATAL is not respawned: the master logs it
 * and stops the whole stack with a non-zero status.
 *
 * mule-harakiri = N (heartbeat.h): every 250 ms the master compares each
 * running built-in mule's last beat with the monotonic clock; a mule
 * silent for N seconds (or, if it has not beaten since its fork, N
 * seconds after the fork) is logged at warning level (server name, pid,
 * seconds since its beat) and SIGKILLed, which ends it even when it is
 * stopped by SIGSTOP; it is then reaped and respawned like any child that
 * died (a respawn in /api/stack). Mules running an external program have
 * no heartbeat and are not watched (a notice at start says so); web
 * workers are watched by harakiri per request, not by this. The master
 * beats too, into slot 0, every time its loop turns.
 *
 * Shutdown: SIGTERM to the web workers (they stop accepting and finish what
 * is in flight), SIGKILL to those still alive after worker-reload-mercy;
 * then SIGTERM to the mules, SIGKILL after mule-reload-mercy; exit once no
 * child is left. A second stop signal skips the waiting.
 *
 * hook-master-start "unix_signal:N ACTION" (options.h) changes what HUP,
 * INT, QUIT or TERM does: gracefully_kill_them_all is the orderly stop
 * above, kill_them_all SIGKILLs every child at once and exits when they
 * are reaped, grace_them_all is the rolling reload, reload_them_all
 * SIGKILLs every child and starts each again as soon as it is reaped.
 *
 * master-fifo (daemon.h): the master also reads one-letter commands from a
 * FIFO: q orderly stop, Q immediate stop, r rolling reload, R immediate
 * reload, l reopen the logs (as SIGUSR1); anything else is logged and
 * ignored. Once every child has been started the first time, the master
 * tells a waiting daemonize parent (mt_daemon_ready).
 */
#ifndef MT_MASTER_H
#define MT_MASTER_H

#include "muleteer.h"

#define MT_QUICK_DEATH_MS 2000

/* Run the master until shutdown. Returns the process exit status. */
int mt_master_run(mt_stack_t *stack);

#endif
