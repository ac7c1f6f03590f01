/*
 * options: the stack's option table (see options.h).
 *
 * Every option the stack reads is declared here, with its type, default,
 * bounds and the one-line help that --help and the operator guide show.
 * Other modules read the values through mt_config_get*() by these names.
 */
#include "stack/options.h"

#include <stddef.h>

#define OPT_STR(n, def, help)                  { (n), MT_OPT_STRING, (def), 0, 0, 0, NULL, (help) }
#define OPT_INT(n, def, lo, hi, help)          { (n), MT_OPT_INT, (def), (lo), (hi), 0, NULL, (help) }
#define OPT_BOOL(n, def, help)                 { (n), MT_OPT_BOOL, (def), 0, 0, 0, NULL, (help) }
#define OPT_LIST(n, flags, help)               { (n), MT_OPT_LIST, NULL, 0, 0, (flags), NULL, (help) }
#define OPT_ALIAS(n, of)                       { (n), MT_OPT_STRING, NULL, 0, 0, 0, (of), NULL }
#define OPT_IGNORED(n, type)                   { (n), (type), NULL, 0, 0, MT_OPT_IGNORED, NULL, \
                                                 "accepted for uWSGI compatibility; no effect" }

const mt_option_def_t mt_stack_options[] = {
    /* Serving HTTP. */
    OPT_STR("http", "127.0.0.1:8080", "address:port to serve HTTP on"),
    OPT_ALIAS("http-socket", "http"),
    OPT_INT("processes", "1", 1, 1024, "web worker processes"),
    OPT_ALIAS("workers", "processes"),
    OPT_INT("threads", "1", 1, 256, "threads per web worker"),
    OPT_LIST("static-map", 0, "URL=DIR: serve the files of DIR under URL"),
    OPT_INT("buffer-size", "8192", 1024, 1048576, "max bytes of request line + headers"),
    OPT_INT("limit-post", "16777216", 0, 1073741824, "max request body bytes"),
    OPT_INT("http-timeout", "30", 1, 86400, "seconds a client may stay idle or take to send a request"),
    OPT_INT("listen", "1024", 1, 65535, "listen backlog"),
    /* Sockets and request limits (listeners.h, uwsgi_proto.h, web_worker.h). */
    OPT_LIST("socket", 0,
             "ADDR: serve the uwsgi protocol (nginx uwsgi_pass) on HOST:PORT, a unix socket path or =N (shared "
             "socket N); with socket and no http, no HTTP port is opened"),
    OPT_ALIAS("uwsgi-socket", "socket"),
    OPT_LIST("shared-socket", 0,
             "ADDR: bind HOST:PORT or a unix socket path in the master before privileges drop; serve it with "
             "http = =N or socket = =N (N counts shared-socket options from 0)"),
    { "chmod-socket", MT_OPT_STRING, NULL, 0, 0, MT_OPT_VALUE_OPTIONAL, NULL,
      "octal mode of the unix socket files (e.g. 660); given with no value: 666" },
    OPT_INT("harakiri", "0", 0, 86400,
            "seconds a request's handler may run: a web worker whose handler runs longer is killed and respawned "
            "(0: no limit)"),
    OPT_BOOL("harakiri-verbose", "false", "when harakiri kills a web worker, also log the other requests it cuts"),


    /* Who may use the HTTP API: none configured means open to all. */
    { "api-key", MT_OPT_LIST, NULL, 0, 0, MT_OPT_SECRET, NULL,
      "KEY:USER: a key (X-API-Key header or ?key=) that acts as USER; any key makes the API need one" },
    OPT_STR("admin-users", NULL, "USER[,USER...]: users who see and cancel everything and may read /api/stack"),

    /* Mules and farms. */
    OPT_LIST("mule", MT_OPT_VALUE_OPTIONAL,
             "add a mule; no value: built-in mule loop; =PROGRAM: exec that program"),
    OPT_INT("mules", "0", 0, 1024, "add N built-in mules"),
    OPT_LIST("farm", 0, "NAME:ID[,ID...]: a farm of mule ids"),
    OPT_INT("msg-send-timeout", "2000", 0, 600000,
            "milliseconds a sender waits on a full farm/mule queue before failing"),

    /* Process naming. */
    OPT_STR("server-name", "main", "first part of every process's server name"),
    OPT_STR("server-name-template", "{server_name}.{pool_name}.{instance_id}",
            "server name of each process (may also use {hostname} {pid})"),

    /* A standalone (webless) handler: no master, no web workers, one process. */
    OPT_STR("attach-to-pool", NULL,
            "run one standalone process attached to this pool instead of the stack (named by --server-name)"),
    OPT_INT("instance-id", "1", 1, 1000000, "instance id of a standalone process within its pool"),

    /* Privileges: dropped by the master once the port is bound, before anything else. */
    OPT_STR("uid", NULL, "user (name or number) to run as once the port is bound (needs root unless it is the current user)"),
    OPT_STR("gid", NULL, "group (name or number) to run as; default with uid: that user's primary group"),

    /* Master and shutdown. */
    OPT_BOOL("master", "true", "always on; accepted for compatibility"),
    OPT_BOOL("die-on-term", "true", "accepted; SIGTERM always stops the stack"),
    OPT_INT("worker-reload-mercy", "30", 0, 3600,
            "seconds web workers get to finish in-flight requests at shutdown"),
    OPT_INT("mule-reload-mercy", "10", 0, 3600, "seconds mules get to exit at shutdown before SIGKILL"),
    { "log-level", MT_OPT_STRING, "info", 0, 0, MT_OPT_LOG_LEVEL, NULL,
      "lowest level logged: debug, info, notice, warn, error, alert" },
    OPT_STR("log-format", "classic",
            "format of the default stderr log: classic, json (JSON lines), or a Python logging %-format"),
    OPT_BOOL("access-log", "true", "log one line per HTTP request (logger muleteer.access)"),
    OPT_BOOL("disable-logging", "false", "uWSGI's name for access-log = false"),

    /* Configuration sources: command line only. */
    OPT_LIST("ini", MT_OPT_CMDLINE_ONLY, "FILE[:SECTION]: read options from an INI file"),
    OPT_ALIAS("ini-paste", "ini"),
    OPT_LIST("yaml", MT_OPT_CMDLINE_ONLY, "FILE: read options from a YAML file"),
    OPT_ALIAS("yml", "yaml"),
    OPT_LIST("set", MT_OPT_CMDLINE_ONLY, "KEY=VALUE (KEY may be SECTION.KEY): set an option"),
    { "print-config", MT_OPT_BOOL, NULL, 0, 0, MT_OPT_CMDLINE_ONLY, NULL,
      "print the effective configuration and where each value came from, then exit" },

    /* uWSGI options that have no meaning here. */
    OPT_IGNORED("virtualenv", MT_OPT_STRING),
    OPT_IGNORED("pythonpath", MT_OPT_STRING),
    OPT_IGNORED("enable-threads", MT_OPT_BOOL),
    OPT_IGNORED("py-call-osafterfork", MT_OPT_BOOL),
    OPT_IGNORED("module", MT_OPT_STRING),
    OPT_IGNORED("wsgi-file", MT_OPT_STRING),
    OPT_IGNORED("paste-logger", MT_OPT_BOOL),
    OPT_IGNORED("need-app", MT_OPT_BOOL),
    OPT_IGNORED("plugin", MT_OPT_STRING),
    OPT_IGNORED("plugins", MT_OPT_STRING),
    OPT_IGNORED("vacuum", MT_OPT_BOOL),
    OPT_IGNORED("thunder-lock", MT_OPT_BOOL),

    { NULL },
};
