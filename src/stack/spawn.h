/*
 * spawn: the one spawner for every child (web workers and mules alike).
 *
 * mt_spawn() forks the process of one slot. In the child it ties the
 * child's life to the master (PR_SET_PDEATHSIG: if the master dies, even by
 * SIGKILL, the child is killed at once), restores default signal handling,
 * closes descriptors that belong to other processes, names the process
 * after its slot, checks that it runs as --uid / --gid (the master dropped
 * to them before forking; a child that does not exits MT_EXIT_FATAL) and
 * enters the role's entry point (web worker, built-in
 * mule loop, or exec of an external mule program). It never returns in the
 * child.
 *
 * An external program's exec failure is reported to the master through a
 * close-on-exec pipe, so the operator reads "exec failed: No such file or
 * directory" instead of a silent exit 127.
 */
#ifndef MT_SPAWN_H
#define MT_SPAWN_H

#include <stddef.h>
#include <sys/types.h>

#include "muleteer.h"

/*
 * Fork the child for `slot`. Returns its pid in the master, or -errno with
 * err filled: fork failed, or an external program could not be exec'd (that
 * child has then exited with MT_EXIT_FATAL and has already been reaped).
 * master_only_fd (or -1) is closed in the child.
 */
pid_t mt_spawn(mt_stack_t *stack, size_t slot, int master_only_fd, char *err, size_t errlen);

#endif
