/*
 * web_worker: one web worker process, `threads` threads serving HTTP.
 *
 * Each thread runs its own libuv loop with its own mt_http_server_t over
 * the listening socket the master opened. The process's main thread serves
 * nothing: it keeps every signal blocked in the serving threads and waits
 * for SIGTERM / SIGINT / SIGQUIT itself. On such a signal every thread
 * drains (stops accepting, lets requests in flight finish and flush) and
 * the process exits 0 once all are done, or when worker-reload-mercy runs
 * out, whichever comes first.
 */
#ifndef MT_WEB_WORKER_H
#define MT_WEB_WORKER_H

#include "muleteer.h"

/* Serve until told to stop. Returns the process exit status. */
int mt_web_worker_run(mt_stack_t *stack);

#endif
