/*
 * waiter: the two things the program muleteer-waiter does.
 *
 *   muleteer-waiter --job-dir DIR ... -- PROGRAM [ARG]...   one job's waiter (muleteer_waiter.c)
 *   muleteer-waiter --helper                                 a handler's waiter helper (helper.c)
 *
 * A helper forks waiters instead of executing them: each child runs
 * mt_waiter_run() on the arguments the handler sent, as main() runs it on
 * its own (src/app/run/waiter_helper.h).
 */
#ifndef MT_WAITER_WAITER_H
#define MT_WAITER_WAITER_H

/*
 * Be one job's waiter for argv (argv[0] the program, then --job-dir ...),
 * with the descriptors 0..3 (and the fence's) in place and the working
 * directory set: start the command, report it, wait, record how it ended.
 * Returns the process's exit status (0, or 1 if the record could not be
 * written); exits 2 on bad arguments.
 */
int mt_waiter_run(int argc, char **argv);

/* Serve a handler on descriptor 0 until it closes it (src/app/run/waiter_helper.h). Returns the exit status. */
int mt_waiter_helper_main(void);

#endif
