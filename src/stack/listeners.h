/*
 * listeners: the sockets the stack serves on, bound by the master.
 *
 * Options (uWSGI's names and meanings):
 *   http = ADDR            HTTP (default 127.0.0.1:8080)
 *   socket = ADDR          the uwsgi protocol, for a web server's uwsgi_pass
 *                          (repeatable; uwsgi-socket is the same option)
 *   shared-socket = ADDR   bound by the master before privileges drop,
 *                          served by nothing until http or socket names it
 *                          as "=N" (N the 0-based position among the
 *                          shared-socket options), so a port below 1024
 *                          can be served by a stack running as --uid
 *   chmod-socket[=MODE]    mode of the unix socket files (octal; no value: 666)
 *
 * ADDR is HOST:PORT (HOST may be empty for every address, a name, or [v6];
 * port 0 asks for a free one, and the real one is reported), a unix socket
 * path (anything without ':' or with a '/'), or @NAME for Linux's abstract
 * namespace. When socket is given and http is left at its default, no HTTP
 * port is opened: as with uWSGI, a stack given a socket speaks to its web
 * server, not to browsers. Setting both serves both.
 *
 * A unix socket path that exists is taken over only when it is a socket
 * nobody accepts on (a stale file from a stack that was killed); one in
 * use or a file that is not a socket is an error. The socket files are
 * removed when the master that made them ends cleanly.
 *
 * All of this runs in the master before it forks and before it drops
 * privileges; errors name the option and where it was set.
 */
#ifndef MT_LISTENERS_H
#define MT_LISTENERS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "stack/config.h"

typedef enum {
    MT_LISTEN_HTTP,
    MT_LISTEN_UWSGI,
} mt_listen_proto_t;

typedef struct mt_listeners mt_listeners_t;

/*
 * Parse the options above and bind every socket. Returns 0 with *out set,
 * or a negative errno with a one-line message in err ("galaxy.yml:12:
 * option 'socket': cannot listen on 127.0.0.1:4001: Address already in
 * use"); on failure nothing stays bound and no file is left behind.
 */
int mt_listeners_open(const mt_config_t *config, mt_listeners_t **out, char *err, size_t errlen);

/*
 * Check the options without binding anything, recording every error in
 * config (mt_config_add_error), so that one run reports them all with the
 * other options' errors, --print-config included. Returns 0, or the first
 * error's negative errno.
 */
int mt_listeners_check(mt_config_t *config);

/* Served sockets: HTTP first, then each socket option in order. */
size_t mt_listeners_count(const mt_listeners_t *l);
int mt_listeners_fd(const mt_listeners_t *l, size_t i);
mt_listen_proto_t mt_listeners_proto(const mt_listeners_t *l, size_t i);
/* "127.0.0.1:4001" (the real port), "/srv/galaxy/var/uwsgi.sock", "@name"; with "(shared socket N)" when so. */
const char *mt_listeners_addr(const mt_listeners_t *l, size_t i);

/* "HTTP on 127.0.0.1:8080, uwsgi on /srv/x.sock" into buf; returns buf. */
const char *mt_listeners_describe(const mt_listeners_t *l, char *buf, size_t len);

/*
 * Log what the operator should know about the sockets (a shared socket no
 * option serves, a chmod-socket with no unix socket to apply to): once, by
 * the master, after logging is set up. Accepts NULL.
 */
void mt_listeners_log_notes(const mt_listeners_t *l);

/*
 * Which process removes the unix socket files in mt_listeners_destroy():
 * pid (the one that opened them, unless said otherwise), or 0 for none --
 * the parent of a daemonize fork, which exits while its child serves.
 */
void mt_listeners_owned_by(mt_listeners_t *l, pid_t pid);

/* Close every descriptor (a child that serves nothing); files stay. Accepts NULL. */
void mt_listeners_close(mt_listeners_t *l);

/*
 * Close every descriptor and free; in the process that opened them, also
 * remove the unix socket files (a failure is logged). Accepts NULL.
 */
void mt_listeners_destroy(mt_listeners_t *l);

#endif
