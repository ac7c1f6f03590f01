/*
 * standalone: one webless process attached to a pool (--attach-to-pool).
 *
 * Instead of a master with web workers and mules, the binary runs a single
 * process that the application treats as a handler of that pool: a Galaxy
 * "webless" handler, started by the operator (or a supervisor) on this or
 * another host. It has no message channels (nothing forks it); the
 * application finds its work in the shared database. Its server name is
 * --server-name as given (not templated), its pool the one it attaches to,
 * its instance id --instance-id (default 1).
 *
 * The process runs the mule loop (mule.c): app->mule_start() is called with
 * mt_stack_role() == MT_ROLE_STANDALONE, and SIGTERM/SIGINT stop it.
 *
 * mule-harakiri = N: with no master to watch it, a watchdog thread of its
 * own looks at its loop's heartbeat every 250 ms (heartbeat.h), and when
 * the loop has not beaten for N seconds (counted from the loop's start
 * until its first beat, so loading the application is not counted) it
 * logs an error and kills the process with SIGKILL, for its supervisor
 * (systemd's Restart=) to start again. A process stopped by SIGSTOP stops
 * its watchdog too: nothing on this host sees that; the job application's
 * handler lease does, from the other hosts.
 */
#ifndef MT_STANDALONE_H
#define MT_STANDALONE_H

#include "muleteer.h"

/* Load the application and run until stopped. Returns the exit status. */
int mt_standalone_run(mt_stack_t *stack);

#endif
