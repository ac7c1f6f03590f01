/*
 * muleteer.h: the public API of the muleteer stack.
 *
 * This is the only header an application includes. The stack (a master
 * process, web workers serving HTTP, mules grouped into farms, and message
 * channels between them) knows nothing about what the application does; the
 * application plugs in through three things:
 *
 *   1. an mt_app_t with hooks, passed to mt_main();
 *   2. HTTP routes, registered with mt_route_add() while loading;
 *   3. message handlers, registered by target name with
 *      mt_register_message_handler() while loading, and messages sent to a
 *      mule or a farm with mt_send_to_farm() / mt_send_to_mule() /
 *      mt_send_to_server().
 *
 * Putting a new kind of asynchronous work on mules takes: a target name (the
 * message type), a handler registered for it, and a send.
 *
 * Process model: mt_main() parses the configuration, calls app->load() once
 * in the master, then forks the web workers and mules; every registration
 * made in load() is inherited by every child. Registrations after the fork
 * are refused.
 *
 * Error convention: functions returning int return 0 on success and a
 * negative errno value on failure; mt_strerror() turns it into text.
 */
#ifndef MULETEER_H
#define MULETEER_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MULETEER_VERSION "0.1.0"

/* Largest message: header + target + payload, in bytes. Larger sends fail with -EMSGSIZE. */
#define MT_MSG_MAX_SIZE 65536
/* Longest target name, in bytes. */
#define MT_MSG_TARGET_MAX 64

/*
 * Exit status a child uses to say "fatal, do not respawn me": the master logs
 * it and stops the whole stack (EX_CONFIG from sysexits.h).
 */
#define MT_EXIT_FATAL 78

/* The stack as seen from the calling process. There is one per process. */
typedef struct mt_stack mt_stack_t;

typedef enum {
    MT_ROLE_MASTER,
    MT_ROLE_WEB,
    MT_ROLE_MULE,
    MT_ROLE_STANDALONE,
} mt_role_t;

/* ------------------------------------------------------------------ */
/* Configuration options                                               */
/* ------------------------------------------------------------------ */

/*
 * An option table: the stack declares its own ("muleteer" section, alias
 * "uwsgi"), and an application may declare one for its own section
 * (mt_app_t.config_section). Options of any section can be given in INI
 * ("[section]"), YAML ("section:"), on the command line ("--section.name")
 * or with "--set section.name=value"; precedence and error reporting are
 * the same for all (docs/operator-guide.md).
 */
typedef enum {
    MT_OPT_STRING,
    MT_OPT_INT,  /* decimal integer within [min, max] */
    MT_OPT_BOOL, /* true/false, yes/no, on/off, 1/0; a bare --flag means true */
    MT_OPT_LIST, /* repeatable: every occurrence kept in order */
} mt_opt_type_t;

/* mt_option_def_t.flags */
#define MT_OPT_VALUE_OPTIONAL 1 /* "--mule" alone or "mule:" empty means ""; a value only with "--mule=X" */
#define MT_OPT_IGNORED        2 /* accepted for compatibility (uWSGI), has no effect; logged once */
#define MT_OPT_CMDLINE_ONLY   4 /* ini, yaml, set, print-config: not valid inside a file */
#define MT_OPT_LOG_LEVEL      8 /* MT_OPT_STRING whose value must be a level name (mt_log_level_parse) */
#define MT_OPT_SECRET        16 /* values are SECRET[:REST]: --print-config shows "****[:REST]" */
#define MT_OPT_REFUSED       32 /* known (uWSGI) but refused: accepting it would mislead; `help` says why */
/*
 * Values without text: a bare "--flag", "flag =" in INI or "flag:" in YAML
 * means "true" for MT_OPT_BOOL and "" for MT_OPT_VALUE_OPTIONAL; for
 * MT_OPT_STRING an empty INI value is "", a YAML null is an error. The
 * values of MT_OPT_IGNORED options are not validated; their `help` is the
 * notice logged once at start-up (what the stack does instead), and
 * options sharing one `help` text share one notice. An MT_OPT_REFUSED
 * option is an error wherever it is given, its `help` the reason. Bools are stored
 * normalized ("true"/"false") and ints in decimal, so mt_config_get()
 * returns "true" for "yes" and "8" for "08".
 */

typedef struct mt_option_def {
    const char *name;          /* canonical name with dashes, e.g. "static-map"; NULL ends a table */
    mt_opt_type_t type;
    const char *default_value; /* NULL: unset (get_string returns NULL); lists have no default */
    long min, max;             /* MT_OPT_INT bounds, inclusive */
    unsigned flags;            /* MT_OPT_* flags above */
    const char *alias_of;      /* non-NULL: this name is another spelling of that option */
    const char *help;          /* one line, for --help and the operator guide */
} mt_option_def_t;

/* ------------------------------------------------------------------ */
/* Application hooks                                                   */
/* ------------------------------------------------------------------ */

typedef struct mt_app {
    const char *name; /* for logs and /api/stack */

    /*
     * Called once in the master after the configuration is loaded and before
     * anything is forked. Register routes and message handlers here.
     * Return 0, or a negative value after writing a message into err: the
     * master then exits non-zero without forking.
     */
    int (*load)(mt_stack_t *stack, void *app_data, char *err, size_t errlen);

    /* Called in each built-in mule after fork, before the first message. Optional. */
    void (*mule_start)(mt_stack_t *stack, void *app_data);

    /* Called in each web worker thread after fork, before it serves. Optional. */
    void (*web_thread_start)(mt_stack_t *stack, void *app_data);

    void *app_data; /* passed to every hook */

    /* Optional: the application's own configuration section and its options (NULL-terminated table). */
    const char *config_section;
    const mt_option_def_t *options;

    /*
     * Called when a built-in mule (or standalone process) is told to stop,
     * on its loop, before its handles are closed; and in a web worker
     * thread once it has drained. Optional. Must return within the
     * mule-reload-mercy / worker-reload-mercy (the master kills after).
     */
    void (*mule_stop)(mt_stack_t *stack, void *app_data);
    void (*web_thread_stop)(mt_stack_t *stack, void *app_data);

    /*
     * Called once the master has ended, however it ended (SIGKILL
     * included), in a process of its own forked at start-up that outlives
     * it for this call alone: the web workers and mules are gone by then
     * (they die with the master), and this hook ends what they started
     * outside the process table (job commands, say), so that nothing of
     * the stack survives it. Runs with no event loop and no database
     * connection of its own; should return within seconds. Optional: with
     * no hook there is no such process.
     */
    void (*stack_died)(mt_stack_t *stack, void *app_data);

    /*
     * Check the application's configuration (its files, directories and
     * definitions: everything load() would refuse) without creating,
     * opening a database or registering anything. Called by
     * --print-config in the master, after the stack's own checks, with no
     * process forked and privileges not dropped. Return 0, or a negative
     * value after writing the problems into err (one per line, each
     * naming the option, e.g. "option 'jobs.job-config': ..."); the
     * stack then prints them and exits non-zero. Optional.
     */
    int (*check)(mt_stack_t *stack, void *app_data, char *err, size_t errlen);

    /*
     * A web worker's own loop, for background work that must not share a
     * loop with HTTP requests (a job handler whose database calls may wait
     * on a lock): with web_worker_loop_start set, each web worker runs one
     * more thread with an event loop of its own that serves nothing. The
     * hook is called on that thread once, after fork and before any web
     * thread serves; mt_stack_loop() returns that loop there, and its
     * loop beats like the web threads' (a stuck one shows in /api/stack).
     * web_worker_loop_stop is called on it, on its loop, once every web
     * thread has drained (so no request is still running), before its
     * handles are closed; within worker-reload-mercy, as the other stop
     * hooks. Both optional.
     */
    void (*web_worker_loop_start)(mt_stack_t *stack, void *app_data);
    void (*web_worker_loop_stop)(mt_stack_t *stack, void *app_data);

    /*
     * Called in the master at the start of every graceful reload of the
     * whole stack (SIGHUP, master-fifo r, a grace_them_all hook action,
     * touch-reload), before the first child is restarted: re-read what the
     * application loaded from its own files (not the stack's options,
     * which are read once) into new structures, check them as fully as
     * load() does, and only then put them in place of the old ones, so
     * that every child forked from then on gets them; the children still
     * running keep what they had until their turn comes. Return 0, or a
     * negative value after writing into err why (naming the file and line,
     * as at start): the master logs it as an error, the old configuration
     * stays in place, and the restart of the processes goes on with it.
     * Runs on the master's thread, between its signals: keep it to reading
     * files (no database, no children). Not called by touch-chain-reload
     * (web workers only) nor by an immediate reload (R, reload_them_all).
     * Optional.
     */
    int (*reload)(mt_stack_t *stack, void *app_data, char *err, size_t errlen);
} mt_app_t;

/*
 * Run the stack: parse argv and config files, load the application, fork
 * and supervise the children until SIGTERM/SIGINT. Returns the process exit
 * status (0 after a clean shutdown, non-zero on a configuration error or a
 * fatal child). Call it once, from main().
 */
int mt_main(int argc, char **argv, const mt_app_t *app);

/* ------------------------------------------------------------------ */
/* Identity of the calling process                                     */
/* ------------------------------------------------------------------ */

/* Full server name, e.g. "main.job-handlers.1" ("main.master" in the master). */
const char *mt_stack_server_name(const mt_stack_t *stack);
/* Pool name ("web", a farm name, "mule" for a mule in no farm, "master"). */
const char *mt_stack_pool_name(const mt_stack_t *stack);
/* 1-based instance id within the pool (0 in the master). */
int mt_stack_instance_id(const mt_stack_t *stack);
mt_role_t mt_stack_role(const mt_stack_t *stack);
/* 1-based mule id of the calling mule, 0 elsewhere. */
int mt_stack_mule_id(const mt_stack_t *stack);
/*
 * Non-zero when the calling web worker or mule is being stopped by a
 * graceful reload (SIGHUP, touch-reload, ...): the master starts a process
 * of the same slot, with the same server name, as soon as this one has
 * exited. For the stop hooks (mule_stop, web_worker_loop_stop, ...), which
 * may then leave work for that successor instead of ending it. 0 in the
 * master, in a standalone process, and when the stop is the stack's own
 * (SIGTERM, SIGINT, a shutdown that overtook the reload). Any thread.
 */
int mt_stack_reloading(const mt_stack_t *stack);
/* A mule's farms, in the order of the configuration (a mule may be in several): count, and name i. */
size_t mt_stack_self_farm_count(const mt_stack_t *stack);
const char *mt_stack_self_farm(const mt_stack_t *stack, size_t i);
/*
 * The pools a standalone process is attached to (--attach-to-pool, which
 * may be repeated), in order: count (0 outside a standalone), and name i.
 */
size_t mt_stack_attached_pool_count(const mt_stack_t *stack);
const char *mt_stack_attached_pool(const mt_stack_t *stack, size_t i);

/* A process of this stack's table, as the application sees it. */
typedef struct mt_process_info {
    const char *server_name; /* "" until its spawn when the name template uses {pid} */
    const char *pool;        /* "web", a farm name (a mule's first), "mule", "master", a standalone's pool */
    mt_role_t role;
} mt_process_info_t;
/*
 * Process `index` of the table (the master, web workers, mules, and the
 * standalone handlers the pools form declares): returns how many there
 * are, and fills *info when index is below that. Valid from the
 * application's load() on, in every process.
 */
size_t mt_stack_process(const mt_stack_t *stack, size_t index, mt_process_info_t *info);
/*
 * Farm `index` of the table: returns how many farms there are, and when
 * index is below that, its name in *name, its mules in *mules and how many
 * of them run the built-in mule loop (not an external program) in
 * *builtin. Valid from the application's load() on, in every process.
 */
size_t mt_stack_farm(const mt_stack_t *stack, size_t index, const char **name, size_t *mules, size_t *builtin);

/*
 * The event loop of the calling thread: the web thread's loop in a web
 * worker, the mule's loop in a built-in mule, NULL in the master. Timers,
 * child processes and other handles the application adds run on it.
 */
uv_loop_t *mt_stack_loop(const mt_stack_t *stack);
/*
 * Say that the calling thread's loop is alive, now. Every web thread and
 * built-in mule loop beats on its own every 0.5 s (a timer on the loop),
 * and the master kills a mule whose loop has not beaten for mule-harakiri
 * seconds, so a callback that blocks its loop longer than that gets its
 * mule killed. Call this between the steps of a long synchronous task that
 * is making progress (a recovery at start-up walking many jobs), never from
 * a timer or thread of its own: a beat must mean the loop's thread is
 * still getting somewhere. Does nothing in the master and in threads
 * without a stack loop.
 */
void mt_heartbeat(const mt_stack_t *stack);
/*
 * Effective value of an option of the application's section (strings as
 * configured, ints in decimal, bools "true"/"false"), or NULL if unset
 * with no default. Asking for an option not in the table is a programming
 * error (assert).
 */
const char *mt_app_option(const mt_stack_t *stack, const char *name);
long mt_app_option_int(const mt_stack_t *stack, const char *name);

/*
 * Non-zero if `user` is one of the configured admin-users and API keys are
 * configured (with the API open there are no users). For work done on a
 * user's behalf outside a request (a mule scheduling their workflow).
 */
int mt_stack_user_is_admin(const mt_stack_t *stack, const char *user);

/* Whether a farm of that name exists in the process table. */
int mt_farm_exists(const mt_stack_t *stack, const char *farm);

/* ------------------------------------------------------------------ */
/* Messages                                                            */
/* ------------------------------------------------------------------ */

typedef struct mt_message {
    const char *target;  /* NUL-terminated target name */
    const void *payload; /* bytes, valid only during the callback */
    size_t len;          /* payload length */
    int sender_slot;     /* process-table slot of the sender */
} mt_message_t;

typedef void (*mt_message_cb)(mt_stack_t *stack, const mt_message_t *msg, void *data);

/*
 * Register cb for messages whose target is `target` (at most
 * MT_MSG_TARGET_MAX bytes). Only during app->load(): afterwards -EPERM.
 * -EEXIST if the target already has a handler, -EINVAL for a bad name.
 */
int mt_register_message_handler(mt_stack_t *stack, const char *target, mt_message_cb cb, void *data);

/*
 * Send a message to a farm: exactly one mule of the farm receives it.
 * Safe from any thread of any web worker or mule.
 *
 * Returns 0 once the message is queued to the farm. Never drops or
 * truncates: -EMSGSIZE if target + payload exceed MT_MSG_MAX_SIZE, -ENOENT
 * if no such farm, -EINVAL for a bad target, and -ETIMEDOUT if the farm's
 * queue stayed full for the configured msg-send-timeout (the caller decides
 * what to do; the message was not sent).
 */
int mt_send_to_farm(mt_stack_t *stack, const char *farm, const char *target, const void *payload,
                    size_t len);

/* Send a message to one mule by 1-based mule id. Errors as mt_send_to_farm. */
int mt_send_to_mule(mt_stack_t *stack, int mule_id, const char *target, const void *payload, size_t len);

/* Send a message to the mule with this server name, e.g. "main.job-handlers.2". */
int mt_send_to_server(mt_stack_t *stack, const char *server_name, const char *target,
                      const void *payload, size_t len);

/*
 * Flow control of a mule's farms: let the calling mule receive at most
 * `credit` more farm messages. At 0 it stops reading its farms' queues, so
 * the other mules of the farm take the messages (or they wait in the
 * queue); each farm message received uses one unit; a new call replaces
 * the count. Its own channel is always read. -1 (the default): no limit.
 * A handler that can start n more tasks at once sets n, so no mule hoards
 * work while another is idle. Built-in mule loop thread only.
 */
void mt_mule_set_credit(mt_stack_t *stack, long credit);

/* Text for a negative error value from this API. */
const char *mt_strerror(int err);

/* ------------------------------------------------------------------ */
/* HTTP routes (web workers)                                           */
/* ------------------------------------------------------------------ */

typedef struct mt_request mt_request_t;
typedef void (*mt_route_cb)(mt_request_t *req, void *data);

/* mt_route_add flags */
#define MT_ROUTE_PREFIX 1 /* match `path` and everything below it ("/api/jobs" matches "/api/jobs/7") */
/*
 * Run the handler off the web thread's event loop, on one of the worker's
 * route-threads (a small pool per web worker process), for handlers that
 * may block: a database query that waits for a lock or a server. The loop
 * serves its other connections meanwhile. Such a handler uses the same
 * request and response calls, from the pool thread (the request stays
 * valid until it returns; its answer is buffered and written by the
 * loop); it must not touch the loop (mt_stack_loop() is NULL there), and
 * state it keeps per thread is per pool thread. With route-threads = 0 it
 * runs on the loop like any other.
 */
#define MT_ROUTE_OFFLOAD 2
/*
 * As MT_ROUTE_OFFLOAD for the requests that may change something (every
 * method but GET, HEAD and OPTIONS); GET, HEAD and OPTIONS run on the loop.
 * For a store where a read never waits (SQLite in WAL mode: readers do not
 * wait for the write lock) and where a write may: a trip to a route thread
 * costs a request two thread wake-ups, which a cheap read does not need.
 */
#define MT_ROUTE_OFFLOAD_WRITES 4

/*
 * Route requests for `path` (and below it, with MT_ROUTE_PREFIX) with
 * `method` ("GET", "POST", ...; NULL for any) to cb. Exact routes win over
 * prefix routes, longer prefixes over shorter. Only during app->load():
 * afterwards -EPERM. The handler runs on a web thread (an offload thread
 * with MT_ROUTE_OFFLOAD) and must answer with one mt_respond*() call
 * before it returns; if it does not, the client gets a 500.
 */
int mt_route_add(mt_stack_t *stack, const char *method, const char *path, int flags, mt_route_cb cb,
                 void *data);

/*
 * Serve files shipped with the application, to anyone (no API key, as
 * static-map): PATH a directory, its files served beneath URL and confined
 * to it; or PATH a regular file, served at exactly URL ("/" allowed). GET
 * and HEAD only; Content-Type by extension, Last-Modified, an ETag and
 * Cache-Control: no-cache, a 304 to a matching If-None-Match or
 * If-Modified-Since. Only during app->load(): afterwards -EPERM. Returns 0,
 * or -EINVAL with the reason in err (PATH missing, URL not starting with '/').
 */
int mt_static_add(mt_stack_t *stack, const char *url, const char *path, char *err, size_t errlen);

mt_stack_t *mt_request_stack(const mt_request_t *req);
const char *mt_request_method(const mt_request_t *req);
/* Path without the query string, percent-decoding not applied. */
const char *mt_request_path(const mt_request_t *req);
/* Query string without '?', "" if none. */
const char *mt_request_query(const mt_request_t *req);
/*
 * Value of query parameter `name`, percent-decoded into out (NUL-terminated).
 * Returns its length, -ENOENT if absent, -ENOSPC if it does not fit.
 */
int mt_request_query_param(const mt_request_t *req, const char *name, char *out, size_t outlen);
/*
 * Query parameter `name` as a decimal integer in [min, max] into *out; def
 * when absent. Written canonically: digits with an optional '-', no '+',
 * no blank (decoded %20 included), no leading zero. Returns 0, or -1
 * after answering the request 400 ("query parameter 'limit' must be an
 * integer from 1 to 1000").
 */
int mt_request_query_int(mt_request_t *req, const char *name, int64_t def, int64_t min, int64_t max, int64_t *out);
/*
 * Who sent the request, by its API key (the option api-key = KEY:USER):
 * the user name, valid until the handler returns. NULL when no api-key is
 * configured (the API is open to all) and for routes open without a key
 * (/api/health).
 */
const char *mt_request_user(const mt_request_t *req);
/*
 * Non-zero if the request may see and change everything: its key belongs
 * to one of admin-users, or no api-key is configured (the API is open).
 * Applications limit everyone else to what mt_request_user() owns.
 */
int mt_request_is_admin(const mt_request_t *req);
/* First header of that name (case-insensitive), or NULL. */
const char *mt_request_header(const mt_request_t *req, const char *name);
/* Request body (NUL-terminated for convenience); *len gets its length. */
const char *mt_request_body(const mt_request_t *req, size_t *len);

/* Add a response header; call before mt_respond*(). */
void mt_response_header(mt_request_t *req, const char *name, const char *value);
/* Answer with status, content type and body (copied). */
void mt_respond(mt_request_t *req, int status, const char *content_type, const void *body, size_t len);
/* Answer with a JSON document (serialized compactly; the reference is not stolen). */
struct json_t;
void mt_respond_json(mt_request_t *req, int status, const struct json_t *doc);
/* Answer {"err_msg": "...", "err_code": status} with that status. */
void mt_respond_error(mt_request_t *req, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#ifdef __cplusplus
}
#endif
#endif
