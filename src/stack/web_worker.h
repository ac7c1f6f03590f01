/*
 * web_worker: one web worker process, `threads` threads serving HTTP.
 *
 * Each thread runs its own libuv loop with one mt_http_server_t per
 * listening socket the master opened (listeners.h: HTTP and uwsgi). The process's main thread serves
 * nothing: it keeps every signal blocked in the serving threads and waits
 * for SIGTERM / SIGINT / SIGQUIT itself. On such a signal every thread
 * drains (stops accepting, lets requests in flight finish and flush) and
 * the process exits 0 once all are done, or when worker-reload-mercy runs
 * out, whichever comes first.
 *
 * harakiri = N: the main thread also looks, every 200 ms, at the request
 * each serving thread's handler is running (http_server.h, mt_http_busy_t):
 * one running N seconds or more gets an error line naming it (method,
 * path, seconds, the worker's server name, pid and thread); the worker
 * then stops accepting and drains, so that the requests of its other
 * threads finish and are answered where they can (for up to
 * min(N, worker-reload-mercy) seconds, until no other handler under the
 * limit runs), and the process is killed with SIGKILL; the master
 * respawns it. The stuck request's client sees its connection closed, as
 * does any other request on the stuck thread's own loop. Only handler time
 * counts: a client slow to send its request is http-timeout's business.
 *
 * Limits (http_server.h, mt_http_limits_t, shared by the process's
 * threads):
 *   - max-requests = N (+ max-requests-delta x worker id): once the
 *     worker has answered N requests its threads stop accepting at once,
 *     and within HARAKIRI_TICK_MS the main thread logs "recycling: served
 *     N requests (max-requests = N)" and drains as on SIGTERM; the process
 *     exits MT_EXIT_RECYCLED and the master starts its successor at once.
 *     New connections wait in the shared listen backlog meanwhile, for the
 *     other workers or the successor.
 *   - reload-on-rss = MB: the same once the resident set exceeds MB, read
 *     from /proc/self/statm each tick after requests were served.
 *   - worker-connections: open connections of the process (see
 *     mt_http_limits_t); 0 derives it from RLIMIT_NOFILE less the
 *     descriptors open at start, the reserve (MT_HTTP_RESERVE_FDS) and a
 *     headroom for database files (FD_HEADROOM_*).
 *   - memory: the mmap threshold is fixed (mallopt) so that large request
 *     bodies are mmap'd and returned when freed, and a request with a body
 *     of MT_HTTP_TRIM_AFTER bytes or more is followed by malloc_trim(0)
 *     (http_conn.c), which hands back what parsing it left free in the
 *     threads' arenas.
 *
 * With the application's web_worker_loop_start hook, the process also
 * runs one loop of its own that serves nothing (muleteer.h): started
 * before the web threads serve, stopped after they have drained, beating
 * like them. The job application runs the worker's job handler there, so
 * its database calls never hold up a request.
 *
 * route-threads = N (default 4): the process also runs N threads that
 * run the handlers of routes marked MT_ROUTE_OFFLOAD (offload.h), shared
 * by its serving threads, so that a handler waiting on a database does
 * not hold up the other connections of its loop. harakiri watches them
 * too; a drain waits for their requests (each loop drains only once its
 * offloaded requests are back and answered).
 *
 * Heartbeat (heartbeat.h): each serving thread's loop, and the worker's own
 * loop if the application has one, beats into a cell of its own; the main
 * thread, every 200 ms, publishes the oldest beat of the loops still
 * running in the process's live slot, so /api/stack shows the worker as
 * not beating when any one of its loops is stuck. The master
 * does not kill web workers for it (mule-harakiri is for mules; harakiri
 * covers a request's handler).
 */
#ifndef MT_WEB_WORKER_H
#define MT_WEB_WORKER_H

#include "muleteer.h"

/*
 * The exit status of a web worker that recycled itself (max-requests,
 * reload-on-rss): not a death, so the master starts it again at once,
 * without counting a respawn or backing off.
 */
#define MT_EXIT_RECYCLED 77

/*
 * Serve until told to stop, or until max-requests / reload-on-rss says to
 * recycle. Returns the process exit status: 0, MT_EXIT_RECYCLED, or
 * MT_EXIT_FATAL if it could not start.
 */
int mt_web_worker_run(mt_stack_t *stack);

#endif
