/*
 * options: the stack's option table (see options.h).
 *
 * Every option the stack reads is declared here, with its type, default,
 * bounds and the one-line help that --help and the operator guide show.
 * Other modules read the values through mt_config_get*() by these names.
 */
#include "stack/options.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#define OPT_STR(n, def, help)                  { (n), MT_OPT_STRING, (def), 0, 0, 0, NULL, (help) }
#define OPT_INT(n, def, lo, hi, help)          { (n), MT_OPT_INT, (def), (lo), (hi), 0, NULL, (help) }
#define OPT_BOOL(n, def, help)                 { (n), MT_OPT_BOOL, (def), 0, 0, 0, NULL, (help) }
#define OPT_LIST(n, flags, help)               { (n), MT_OPT_LIST, NULL, 0, 0, (flags), NULL, (help) }
#define OPT_ALIAS(n, of)                       { (n), MT_OPT_STRING, NULL, 0, 0, 0, (of), NULL }
/* A uWSGI option with no counterpart here: accepted, and `why` (what the stack does instead) logged once. */
#define OPT_IGNORED(n, type, why)              { (n), (type), NULL, 0, 0, MT_OPT_IGNORED, NULL, (why) }
/* A uWSGI option refused because accepting it would mislead: an error naming `why`. */
#define OPT_REFUSED(n, why)                    { (n), MT_OPT_STRING, NULL, 0, 0, MT_OPT_REFUSED, NULL, (why) }

/* Notices shared by several options: options with one text log one notice between them. */
static const char python_only[] =
    "it configures uWSGI's Python interpreter; muleteer runs no Python: the application is built in";
static const char routing[] =
    "uWSGI's internal routing (Galaxy's interactive tools proxy) is not evaluated here: requests go to the "
    "static maps and the application's routes; proxy interactive tools from the front-end proxy";
static const char no_tls[] =
    "muleteer speaks plain HTTP only: terminate TLS in a proxy in front of it (nginx, Apache) and point the proxy "
    "at the http address";

const mt_option_def_t mt_stack_options[] = {
    /* Serving HTTP. */
    OPT_STR("http", "127.0.0.1:8080", "address:port to serve HTTP on"),
    OPT_ALIAS("http-socket", "http"),
    OPT_INT("processes", "1", 1, 1024, "web worker processes"),
    OPT_ALIAS("workers", "processes"),
    OPT_INT("threads", "1", 1, 256, "threads per web worker"),
    OPT_INT("route-threads", "4", 0, 256,
            "threads per web worker that run the routes which may block (the job API's database work), so that "
            "a web thread's loop never waits on them; 0 runs them on the web threads' loops"),
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
    OPT_INT("max-requests", "0", 0, 2000000000,
            "recycle a web worker once it has served N requests: it stops accepting, finishes its requests, "
            "closes its connections cleanly and exits, and the master starts a new one (0: never)"),
    OPT_INT("max-requests-delta", "0", 0, 1000000,
            "add worker id x N to max-requests for each web worker, so that they do not all recycle at once"),
    OPT_INT("reload-on-rss", "0", 0, 1048576,
            "recycle a web worker (as max-requests does) once its resident memory exceeds N megabytes after "
            "serving requests (checked 5 times a second; 0: never)"),
    OPT_INT("worker-connections", "0", 0, 1048576,
            "open connections per web worker; beyond it the oldest idle one is closed to make room, or the new "
            "one is answered 503 with Retry-After if none is idle (0: the worker's descriptor limit, "
            "RLIMIT_NOFILE, less those it has open at start and a reserve for database files and responses)"),

    /* Who may use the HTTP API: none configured means open to all. */
    { "api-key", MT_OPT_LIST, NULL, 0, 0, MT_OPT_SECRET, NULL,
      "KEY:USER: a key (X-API-Key header or ?key=) that acts as USER; any key makes the API need one" },
    OPT_STR("admin-users", NULL, "USER[,USER...]: users who see and cancel everything and may read /api/stack"),

    /* Mules and farms. */
    OPT_LIST("mule", MT_OPT_VALUE_OPTIONAL,
             "add a mule; no value: built-in mule loop; =PROGRAM: exec that program"),
    OPT_INT("mules", "0", 0, 1024, "add N built-in mules"),
    OPT_LIST("farm", 0, "NAME:ID[,ID...]: a farm of mule ids"),
    OPT_INT("mule-harakiri", "0", 0, 86400,
            "seconds a built-in mule's loop may go without beating (a handler that does not return, a process "
            "stopped): the master kills it and respawns it (0: never)"),
    OPT_INT("msg-send-timeout", "2000", 0, 600000,
            "milliseconds a sender waits on a full farm/mule queue before failing"),

    /* Process naming. */
    OPT_STR("server-name", "main", "first part of every process's server name"),
    OPT_STR("server-name-template", "{server_name}.{pool_name}.{instance_id}",
            "server name of each process (may also use {hostname} {pid})"),

    /* A standalone (webless) handler: no master, no web workers, one process. */
    OPT_LIST("attach-to-pool", 0,
             "run one standalone process attached to this pool instead of the stack (named by --server-name); "
             "repeat it to serve several pools"),
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
    OPT_BOOL("metrics", "true",
             "collect counters (requests, jobs, messages, reloads...) and serve them at GET /metrics in the "
             "Prometheus text format; false: nothing is collected and /metrics answers 404"),
    OPT_BOOL("disable-logging", "false", "uWSGI's name for access-log = false"),

    /* Configuration sources: command line only. */
    OPT_LIST("ini", MT_OPT_CMDLINE_ONLY, "FILE[:SECTION]: read options from an INI file"),
    OPT_ALIAS("ini-paste", "ini"),
    OPT_LIST("yaml", MT_OPT_CMDLINE_ONLY, "FILE: read options from a YAML file"),
    OPT_ALIAS("yml", "yaml"),
    OPT_LIST("set", MT_OPT_CMDLINE_ONLY, "KEY=VALUE (KEY may be SECTION.KEY): set an option"),
    { "print-config", MT_OPT_BOOL, NULL, 0, 0, MT_OPT_CMDLINE_ONLY, NULL,
      "print the effective configuration and where each value came from, then exit" },

    /* The master process: its files, its directory, its signals (see options.h, stack.c, daemon.c). */
    OPT_STR("umask", NULL, "octal file mode mask for the whole stack (e.g. 022), set before anything is created"),
    OPT_STR("chdir", NULL, "directory to change to before anything else; later relative paths start there"),
    OPT_STR("pidfile", NULL, "write the master's pid to this file (before privileges are dropped)"),
    OPT_STR("pidfile2", NULL, "write the master's pid to this file after privileges are dropped"),
    OPT_STR("logto", NULL, "append the log (stderr and stdout of every process) to this file; reopened on SIGUSR1"),
    OPT_STR("logto2", NULL, "as logto, but opened after privileges are dropped"),
    OPT_STR("daemonize", NULL,
            "LOGFILE: run in the background once start-up has succeeded, logging to LOGFILE (as logto)"),
    OPT_STR("daemonize2", NULL, "the same as daemonize (muleteer always detaches after loading the application)"),
    OPT_BOOL("vacuum", "false", "remove the pidfiles and the master FIFO at exit"),
    OPT_INT("reload-mercy", NULL, 0, 3600,
            "seconds web workers and mules get at shutdown and reload, for whichever of worker-reload-mercy / "
            "mule-reload-mercy is not set"),
    OPT_LIST("hook-master-start", 0,
             "unix_signal:N ACTION: what signal N (1, 2, 3 or 15) does: gracefully_kill_them_all (orderly stop), "
             "kill_them_all (immediate stop), grace_them_all (rolling reload), reload_them_all (immediate reload)"),
    OPT_LIST("touch-reload", 0,
             "FILE: when its modification time changes (or it is created), reload every web worker and mule "
             "gracefully, as SIGHUP does (checked about once a second)"),
    OPT_LIST("touch-chain-reload", 0,
             "FILE: when its modification time changes (or it is created), restart the web workers one at a time "
             "(mules are left running)"),
    OPT_STR("master-fifo", NULL,
            "FIFO the master reads one-letter commands from: q stop, Q stop now, r reload, R reload now, l reopen logs"),
    OPT_LIST("static-safe", 0,
             "DIR: a static-map may serve files reached through symlinks that lead into DIR"),
    OPT_BOOL("manage-script-name", "false", "accepted: the application is always served at / (mount is refused)"),

    /* uWSGI options with no counterpart here: accepted, one notice each says what happens instead. */
    OPT_IGNORED("virtualenv", MT_OPT_STRING, python_only),
    OPT_IGNORED("venv", MT_OPT_STRING, python_only),
    OPT_IGNORED("home", MT_OPT_STRING, python_only),
    OPT_IGNORED("pyhome", MT_OPT_STRING, python_only),
    OPT_IGNORED("pythonpath", MT_OPT_LIST, python_only),
    OPT_IGNORED("module", MT_OPT_STRING, python_only),
    OPT_IGNORED("wsgi-file", MT_OPT_STRING, python_only),
    OPT_IGNORED("paste", MT_OPT_STRING, python_only),
    OPT_IGNORED("paste-logger", MT_OPT_BOOL, python_only),
    OPT_IGNORED("py-call-osafterfork", MT_OPT_BOOL, python_only),
    OPT_IGNORED("single-interpreter", MT_OPT_BOOL, python_only),
    OPT_IGNORED("python-raw", MT_OPT_STRING, python_only),
    OPT_IGNORED("need-app", MT_OPT_BOOL, "the application is built in: there is always one (a failed load stops start-up)"),
    OPT_IGNORED("plugin", MT_OPT_LIST, "there are no plugins to load: HTTP, static files and mules are built in"),
    OPT_IGNORED("plugins", MT_OPT_LIST, "there are no plugins to load: HTTP, static files and mules are built in"),
    OPT_IGNORED("enable-threads", MT_OPT_BOOL, "threads are always enabled: each web worker runs `threads` threads"),
    OPT_IGNORED("lazy-apps", MT_OPT_BOOL,
                "the application is loaded once, in the master, before the web workers and mules are forked"),
    OPT_IGNORED("lazy", MT_OPT_BOOL,
                "the application is loaded once, in the master, before the web workers and mules are forked"),
    OPT_IGNORED("thunder-lock", MT_OPT_BOOL,
                "the web workers share one listening socket and the kernel hands each connection to one of them; "
                "there is no accept lock to configure"),
    OPT_IGNORED("offload-threads", MT_OPT_INT,
                "static files are sent by the web threads themselves (see threads); there are no offload threads"),
    OPT_IGNORED("post-buffering", MT_OPT_INT,
                "a request body is always read whole before the route runs, up to limit-post bytes"),
    OPT_IGNORED("http-raw-body", MT_OPT_BOOL,
                "the web workers parse HTTP themselves and hand the routes the body as received"),
    OPT_IGNORED("log-master-bufsize", MT_OPT_INT,
                "every process writes its own log lines, one write(2) each; there is no master log pipe to size"),
    OPT_IGNORED("logdate", MT_OPT_STRING,
                "every line of the classic log starts with its ISO 8601 UTC time; log-format or a logging "
                "configuration changes the format"),
    OPT_IGNORED("memory-report", MT_OPT_BOOL,
                "no per-request memory report; GET /api/stack lists every process with its pid and state"),
    OPT_IGNORED("stats", MT_OPT_STRING,
                "there is no stats server: GET /metrics gives the counters in the Prometheus format, and "
                "GET /api/stack every process's pid, state, respawns and message counters"),
    OPT_IGNORED("interactivetools-map", MT_OPT_STRING, routing),
    OPT_IGNORED("route", MT_OPT_LIST, routing),
    OPT_IGNORED("route-uri", MT_OPT_LIST, routing),
    OPT_IGNORED("route-host", MT_OPT_LIST, routing),
    OPT_IGNORED("route-run", MT_OPT_LIST, routing),
    OPT_IGNORED("route-label", MT_OPT_LIST, routing),
    OPT_IGNORED("route-if", MT_OPT_LIST, routing),
    OPT_IGNORED("route-if-not", MT_OPT_LIST, routing),

    /* uWSGI options refused: accepting them would mislead. */
    OPT_REFUSED("https", no_tls),
    OPT_REFUSED("http-to-https", no_tls),
    OPT_REFUSED("mount",
                "the application is served at / only, there are no mount points: serve it under a prefix by having "
                "the front-end proxy strip the prefix (nginx: location /galaxy/ { proxy_pass http://ADDR/; })"),
    OPT_REFUSED("zerg",
                "there is no zerg server to attach to: add web workers with processes, or run several stacks "
                "behind a proxy"),

    { NULL },
};

/* ------------------------------------------------------------------ */
/* Checks beyond the types                                             */
/* ------------------------------------------------------------------ */

static int check_umask(mt_config_t *cfg, mt_stack_settings_t *out)
{
    mt_source_t src;
    const char *value = mt_config_get(cfg, NULL, "umask", &src);
    out->umask = -1;
    if (!value)
        return 0;
    char *end;
    errno = 0;
    long mask = strtol(value, &end, 8);
    if (!*value || *end || errno || mask < 0 || mask > 0777) {
        mt_config_add_error(cfg, &src, "umask", "'%s' is not an octal mask from 000 to 777", value);
        return -EINVAL;
    }
    out->umask = (int)mask;
    return 0;
}

/* "unix_signal:N ACTION", as Galaxy's samples write it. */
static int check_hook(mt_config_t *cfg, const char *value, const mt_source_t *src, mt_stack_settings_t *out)
{
    static const struct {
        const char *name;
        mt_signal_action_t action;
    } actions[] = {
        {"gracefully_kill_them_all", MT_SIGNAL_STOP},
        {"kill_them_all", MT_SIGNAL_STOP_NOW},
        {"grace_them_all", MT_SIGNAL_RELOAD},
        {"reload_them_all", MT_SIGNAL_RELOAD_NOW},
    };
    const char *prefix = "unix_signal:";
    if (strncmp(value, prefix, strlen(prefix)) != 0) {
        mt_config_add_error(cfg, src, "hook-master-start",
                            "'%s': only unix_signal:N ACTION hooks exist here (uWSGI's other hooks run code in "
                            "the master, which muleteer does not do)",
                            value);
        return -EINVAL;
    }
    const char *p = value + strlen(prefix);
    char *end;
    errno = 0;
    long sig = strtol(p, &end, 10);
    if (end == p || errno || (*end != ' ' && *end != '\t')) {
        mt_config_add_error(cfg, src, "hook-master-start", "'%s': expected unix_signal:N ACTION", value);
        return -EINVAL;
    }
    if (sig != SIGHUP && sig != SIGINT && sig != SIGQUIT && sig != SIGTERM) {
        mt_config_add_error(cfg, src, "hook-master-start",
                            "'%s': signal %ld cannot be given an action (only 1 HUP, 2 INT, 3 QUIT and 15 TERM; the "
                            "master keeps SIGUSR1 for reopening logs)",
                            value, sig);
        return -EINVAL;
    }
    while (*end == ' ' || *end == '\t')
        end++;
    size_t len = strcspn(end, " \t");
    const char *rest = end + len + strspn(end + len, " \t");
    for (size_t i = 0; i < sizeof actions / sizeof actions[0]; i++) {
        if (strlen(actions[i].name) == len && strncmp(end, actions[i].name, len) == 0 && !*rest) {
            out->on_signal[sig] = actions[i].action;
            return 0;
        }
    }
    mt_config_add_error(cfg, src, "hook-master-start",
                        "'%s': unknown action (known: gracefully_kill_them_all, kill_them_all, grace_them_all, "
                        "reload_them_all)",
                        value);
    return -EINVAL;
}

/* A bool whose value the stack cannot honour when false: a notice says what happens. */
static void notice_if_false(mt_config_t *cfg, const char *name, const char *what)
{
    mt_source_t src;
    char where[512];
    const char *value = mt_config_get(cfg, NULL, name, &src);
    if (src.kind != MT_SRC_DEFAULT && value && strcmp(value, "false") == 0)
        mt_config_add_notice(cfg, NULL, "%s: option '%s%s' = false has no effect here: %s",
                             mt_source_format(&src, where, sizeof where), src.kind == MT_SRC_CMDLINE ? "--" : "",
                             name, what);
}

/*
 * reload-mercy: uWSGI's one mercy for every process. It becomes the value
 * of worker-reload-mercy and mule-reload-mercy where they are not given
 * (with reload-mercy's source, so --print-config shows where it came from),
 * so every reader of those two sees it.
 */
static int apply_reload_mercy(mt_config_t *cfg)
{
    mt_source_t src;
    const char *value = mt_config_get(cfg, NULL, "reload-mercy", &src);
    if (!value)
        return 0;
    static const char *const names[] = {"worker-reload-mercy", "mule-reload-mercy"};
    for (size_t i = 0; i < 2; i++) {
        mt_source_t own;
        mt_config_get(cfg, NULL, names[i], &own);
        char err[512];
        if (own.kind == MT_SRC_DEFAULT && mt_config__set(cfg, 0, names[i], value, &src, err, sizeof err) < 0)
            return -EINVAL; /* recorded */
    }
    return 0;
}

int mt_stack_options_check(mt_config_t *cfg, mt_stack_settings_t *out)
{
    int rc = 0;
    memset(out, 0, sizeof *out);
    if (check_umask(cfg, out) < 0)
        rc = -EINVAL;
    size_t n = mt_config_list_count(cfg, NULL, "hook-master-start");
    for (size_t i = 0; i < n; i++) {
        mt_source_t src;
        const char *value = mt_config_list_get(cfg, NULL, "hook-master-start", i, &src);
        if (check_hook(cfg, value, &src, out) < 0)
            rc = -EINVAL;
    }
    static const char *const paths[] = {"chdir", "pidfile", "pidfile2", "logto", "logto2", "daemonize",
                                        "daemonize2", "master-fifo"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        mt_source_t src;
        const char *value = mt_config_get(cfg, NULL, paths[i], &src);
        if (value && !*value) {
            mt_config_add_error(cfg, &src, paths[i], "needs a path");
            rc = -EINVAL;
        }
    }
    mt_source_t d1, d2;
    const char *daemonize = mt_config_get(cfg, NULL, "daemonize", &d1);
    const char *daemonize2 = mt_config_get(cfg, NULL, "daemonize2", &d2);
    if (daemonize && daemonize2) {
        mt_config_add_error(cfg, &d2, "daemonize2", "daemonize is given too (%s): give one of them",
                            mt_source_format(&d1, (char[512]){0}, 512));
        rc = -EINVAL;
    }
    mt_source_t asrc;
    if ((daemonize || daemonize2) && mt_config_get(cfg, NULL, "attach-to-pool", &asrc)) {
        mt_config_add_error(cfg, daemonize ? &d1 : &d2, daemonize ? "daemonize" : "daemonize2",
                            "a standalone handler (attach-to-pool) runs in the foreground: let systemd or "
                            "supervisord run it in the background");
        rc = -EINVAL;
    }
    if (apply_reload_mercy(cfg) < 0)
        rc = -EINVAL;
    notice_if_false(cfg, "master", "there is always a master process; it forks and supervises every process");
    notice_if_false(cfg, "die-on-term",
                    "SIGTERM always stops the stack in order (SIGHUP reloads; hook-master-start changes either)");
    mt_source_t msrc;
    const char *manage = mt_config_get(cfg, NULL, "manage-script-name", &msrc);
    if (manage && strcmp(manage, "true") == 0) {
        char where[512];
        mt_config_add_notice(cfg, NULL,
                             "%s: option '%smanage-script-name' has no effect here: there are no mount points, "
                             "requests are routed by their whole path",
                             mt_source_format(&msrc, where, sizeof where), msrc.kind == MT_SRC_CMDLINE ? "--" : "");
    }
    return rc;
}
