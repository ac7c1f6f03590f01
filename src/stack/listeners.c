/*
 * listeners: binding the HTTP, uwsgi and shared sockets (see listeners.h).
 *
 * Two tables: the sockets bound (shared ones first, in option order, then
 * those http and socket bind themselves) and the sockets served (HTTP
 * first, then each socket option), each naming a bound socket. "=N" makes
 * a served entry point at shared socket N instead of binding one.
 */
#define MT_LOG_NAME "muleteer.stack"

#include "stack/listeners.h"

#include <errno.h>
#include <stdarg.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/log.h"
#include "common/mem.h"

#define ADDR_MAX 300

typedef struct bound {
    int fd;
    char addr[ADDR_MAX];                  /* as reported: the real port, the path */
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)]; /* a unix socket file we made, or "" */
    bool shared;                          /* a shared-socket */
    bool used;                            /* served by some option */
} bound_t;

typedef struct served {
    size_t bound;           /* index in socks */
    mt_listen_proto_t proto;
    char label[ADDR_MAX + 32];
} served_t;

struct mt_listeners {
    bound_t *socks;
    size_t nsocks;
    served_t *served;
    size_t nserved;
    pid_t owner;            /* the process that bound them: only it removes the files */
    bool chmod_unused;      /* chmod-socket given, but no unix socket file to apply it to */
};

/* What the options ask for, before anything is bound. */
typedef struct plan {
    const mt_config_t *config;
    int backlog;
    int mode;               /* chmod-socket, or -1 */
    mt_config_t *record;    /* check only: every error is recorded here, nothing is bound */
    bool dry;               /* check only */
    int failed;             /* the first error, when checking */
    char *err;
    size_t errlen;
} plan_t;

static const char *proto_name(mt_listen_proto_t p)
{
    return p == MT_LISTEN_HTTP ? "HTTP" : "uwsgi";
}

static int fail(plan_t *pl, const mt_source_t *src, const char *option, int rc, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static int fail(plan_t *pl, const mt_source_t *src, const char *option, int rc, const char *fmt, ...)
{
    char where[512], msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (pl->record != NULL) {
        mt_config_add_error(pl->record, src, option, "%s", msg);
        if (pl->failed == 0)
            pl->failed = rc;
        return rc;
    }
    snprintf(pl->err, pl->errlen, "%s: option '%s%s': %s", mt_source_format(src, where, sizeof where),
             src->kind == MT_SRC_CMDLINE ? "--" : "", option, msg);
    return rc;
}

static bool is_unix_spec(const char *spec)
{
    return spec[0] == '@' || strchr(spec, '/') != NULL || strchr(spec, ':') == NULL;
}

/* Bind and listen on a unix socket; "@name" is abstract. */
static int bind_unix(plan_t *pl, const char *spec, bound_t *b, const mt_source_t *src, const char *option)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    bool abstract = spec[0] == '@';
    size_t n = strlen(abstract ? spec + 1 : spec);
    if (n == 0 || n >= sizeof sun.sun_path)
        return fail(pl, src, option, -ENAMETOOLONG, "\"%s\": a unix socket path must have 1 to %zu bytes", spec,
                    sizeof sun.sun_path - 1);
    if (pl->dry)
        return 0;
    memcpy(sun.sun_path + (abstract ? 1 : 0), abstract ? spec + 1 : spec, n);
    socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + (abstract ? 1 : 0));
    int rc;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return fail(pl, src, option, -errno, "socket(): %s", strerror(errno));
    if (bind(fd, (struct sockaddr *)&sun, len) < 0) {
        if (errno != EADDRINUSE || abstract) {
            rc = fail(pl, src, option, -errno, "cannot listen on %s: %s", spec, strerror(errno));
            goto error;
        }
        /* A file is there: a stale socket of a killed stack may be taken over, nothing else. */
        struct stat st;
        if (lstat(spec, &st) == 0 && !S_ISSOCK(st.st_mode)) {
            rc = fail(pl, src, option, -EEXIST, "cannot listen on %s: the file exists and is not a socket", spec);
            goto error;
        }
        int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0); /* never waits on a full backlog */
        int c = probe < 0 ? -1 : connect(probe, (struct sockaddr *)&sun, len);
        int cerr = errno;
        if (probe >= 0)
            close(probe);
        if (c == 0 || cerr != ECONNREFUSED) {
            rc = fail(pl, src, option, -EADDRINUSE, "cannot listen on %s: %s", spec,
                      c == 0 ? "another process accepts connections on it" : strerror(cerr));
            goto error;
        }
        unlink(spec);
        if (bind(fd, (struct sockaddr *)&sun, len) < 0) {
            rc = fail(pl, src, option, -errno, "cannot listen on %s: %s", spec, strerror(errno));
            goto error;
        }
    }
    if (!abstract)
        snprintf(b->path, sizeof b->path, "%s", spec); /* ours now: removed on any failure below */
    if (!abstract && pl->mode >= 0 && chmod(spec, (mode_t)pl->mode) < 0) {
        rc = fail(pl, src, option, -errno, "chmod-socket %o on %s: %s", (unsigned)pl->mode, spec, strerror(errno));
        goto error;
    }
    if (listen(fd, pl->backlog) < 0) {
        rc = fail(pl, src, option, -errno, "cannot listen on %s: %s", spec, strerror(errno));
        goto error;
    }
    b->fd = fd;
    snprintf(b->addr, sizeof b->addr, "%s", spec);
    return 0;

error:
    if (b->path[0] != '\0')
        unlink(b->path);
    b->path[0] = '\0';
    close(fd);
    return rc;
}

/* Bind and listen on HOST:PORT (HOST may be empty, a name, or [v6]). */
static int bind_inet(plan_t *pl, const char *spec, bound_t *b, const mt_source_t *src, const char *option)
{
    char host[256];
    const char *colon = strrchr(spec, ':');
    if (!colon || !colon[1])
        return fail(pl, src, option, -EINVAL, "\"%s\" is not ADDRESS:PORT or a unix socket path", spec);
    size_t hlen = (size_t)(colon - spec);
    if (hlen >= sizeof host)
        return fail(pl, src, option, -ENAMETOOLONG, "\"%s\": the host name is too long", spec);
    memcpy(host, spec, hlen);
    host[hlen] = '\0';
    if (host[0] == '[' && hlen > 1 && host[hlen - 1] == ']') {
        memmove(host, host + 1, hlen - 2);
        host[hlen - 2] = '\0';
    }
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end || port < 0 || port > 65535 || colon[1] < '0' || colon[1] > '9')
        return fail(pl, src, option, -EINVAL, "\"%s\" has no valid port", spec);
    if (pl->dry)
        return 0;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE},
                    *res = NULL;
    int gai = getaddrinfo(host[0] ? host : NULL, colon + 1, &hints, &res);
    if (gai != 0)
        return fail(pl, src, option, -EADDRNOTAVAIL, "cannot resolve \"%s\": %s", host, gai_strerror(gai));
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        int e = errno;
        freeaddrinfo(res);
        return fail(pl, src, option, -e, "socket(): %s", strerror(e));
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, res->ai_addr, res->ai_addrlen) < 0 || listen(fd, pl->backlog) < 0) {
        int e = errno;
        close(fd);
        freeaddrinfo(res);
        return fail(pl, src, option, -e, "cannot listen on %s: %s", spec, strerror(e));
    }
    freeaddrinfo(res);
    snprintf(b->addr, sizeof b->addr, "%s", spec);
    /* Port 0 asks for any free port: report the real one. */
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (port == 0 && getsockname(fd, (struct sockaddr *)&ss, &sl) == 0) {
        int real = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                            : ntohs(((struct sockaddr_in *)&ss)->sin_port);
        snprintf(b->addr, sizeof b->addr, "%.*s:%d", (int)hlen, spec, real);
    }
    b->fd = fd;
    return 0;
}

static int add_bound(mt_listeners_t *l, plan_t *pl, const char *spec, bool shared, const mt_source_t *src,
                     const char *option)
{
    bound_t b = {.fd = -1, .shared = shared};
    int rc = is_unix_spec(spec) ? bind_unix(pl, spec, &b, src, option) : bind_inet(pl, spec, &b, src, option);
    if (rc < 0)
        return rc;
    l->socks = mt_realloc(l->socks, (l->nsocks + 1) * sizeof *l->socks);
    l->socks[l->nsocks++] = b;
    return 0;
}

/* A served entry from an http / socket value: "=N" or an address. */
static int add_served(mt_listeners_t *l, plan_t *pl, const char *spec, mt_listen_proto_t proto, size_t nshared,
                      const mt_source_t *src, const char *option)
{
    size_t index;
    if (spec[0] == '=') {
        char *end;
        errno = 0;
        long n = strtol(spec + 1, &end, 10);
        if (spec[1] < '0' || spec[1] > '9' || *end || errno)
            return fail(pl, src, option, -EINVAL, "\"%s\": =N names a shared socket by its number (from 0)", spec);
        if (n < 0 || (size_t)n >= nshared)
            return fail(pl, src, option, -ENOENT, "\"%s\": there is no shared socket %ld (%zu shared-socket option%s given)",
                        spec, n, nshared, nshared == 1 ? "" : "s");
        index = (size_t)n;
        if (l->socks[index].used)
            return fail(pl, src, option, -EBUSY, "\"%s\": shared socket %ld is already served by another option", spec, n);
    } else {
        if (spec[0] == '\0')
            return fail(pl, src, option, -EINVAL, "an address is needed (HOST:PORT, a unix socket path or =N)");
        int rc = add_bound(l, pl, spec, false, src, option);
        if (rc < 0)
            return rc;
        index = l->nsocks - 1;
    }
    l->socks[index].used = true;
    served_t s = {.bound = index, .proto = proto};
    if (l->socks[index].shared)
        snprintf(s.label, sizeof s.label, "%s (shared socket %zu)", l->socks[index].addr, index);
    else
        snprintf(s.label, sizeof s.label, "%s", l->socks[index].addr);
    l->served = mt_realloc(l->served, (l->nserved + 1) * sizeof *l->served);
    l->served[l->nserved++] = s;
    return 0;
}

static int parse_mode(plan_t *pl)
{
    mt_source_t src;
    const char *v = mt_config_get(pl->config, NULL, "chmod-socket", &src);
    pl->mode = -1;
    if (v == NULL)
        return 0;
    if (v[0] == '\0') {
        pl->mode = 0666; /* uWSGI's chmod-socket with no value */
        return 0;
    }
    char *end;
    long m = strtol(v, &end, 8);
    if (*end || m < 0 || m > 07777 || v[0] < '0' || v[0] > '7')
        return fail(pl, &src, "chmod-socket", -EINVAL, "\"%s\" is not an octal mode (e.g. 660)", v);
    pl->mode = (int)m;
    return 0;
}

static void unlink_files(mt_listeners_t *l)
{
    for (size_t i = 0; i < l->nsocks; i++) {
        if (l->socks[i].path[0] && unlink(l->socks[i].path) < 0 && errno != ENOENT)
            mt_warn("cannot remove the unix socket %s: %s", l->socks[i].path, strerror(errno));
        l->socks[i].path[0] = '\0';
    }
}

static void listeners_free(mt_listeners_t *l)
{
    free(l->socks);
    free(l->served);
    free(l);
}

/*
 * Binding stops at the first error (and undoes what was bound); checking
 * (pl->record) goes on through every option, recording each error.
 */
static int listeners_build(plan_t *pl, mt_listeners_t **out)
{
    const mt_config_t *config = pl->config;
    mt_listeners_t *l = mt_calloc(1, sizeof *l);
    l->owner = getpid();
    int rc = parse_mode(pl);

    size_t nshared = mt_config_list_count(config, NULL, "shared-socket");
    for (size_t i = 0; (rc == 0 || pl->dry) && i < nshared; i++) {
        mt_source_t src;
        const char *spec = mt_config_list_get(config, NULL, "shared-socket", i, &src);
        int one;
        if (spec[0] == '=')
            one = fail(pl, &src, "shared-socket", -EINVAL, "\"%s\": a shared socket is an address, not =N", spec);
        else if (spec[0] == '\0')
            one = fail(pl, &src, "shared-socket", -EINVAL, "an address is needed (HOST:PORT or a unix socket path)");
        else
            one = add_bound(l, pl, spec, true, &src, "shared-socket");
        if (one < 0 && pl->dry) {
            /* a stand-in keeps the numbering of the shared sockets after it */
            l->socks = mt_realloc(l->socks, (l->nsocks + 1) * sizeof *l->socks);
            l->socks[l->nsocks++] = (bound_t){.fd = -1, .shared = true};
        }
        rc = rc < 0 ? rc : one;
    }

    size_t nsocket = mt_config_list_count(config, NULL, "socket");
    mt_source_t http_src;
    const char *http = mt_config_get(config, NULL, "http", &http_src);
    bool http_wanted = http != NULL && !(http_src.kind == MT_SRC_DEFAULT && nsocket > 0);
    if ((rc == 0 || pl->dry) && http_wanted) {
        int one = add_served(l, pl, http, MT_LISTEN_HTTP, nshared, &http_src, "http");
        rc = rc < 0 ? rc : one;
    }
    for (size_t i = 0; (rc == 0 || pl->dry) && i < nsocket; i++) {
        mt_source_t src;
        const char *spec = mt_config_list_get(config, NULL, "socket", i, &src);
        int one = add_served(l, pl, spec, MT_LISTEN_UWSGI, nshared, &src, "socket");
        rc = rc < 0 ? rc : one;
    }
    if (rc == 0 && l->nserved == 0) {
        mt_source_t none = {.kind = MT_SRC_DEFAULT};
        rc = fail(pl, &none, "http", -EINVAL, "nothing to serve on: give http or socket");
    }
    if (rc < 0 || pl->dry) {
        mt_listeners_close(l);
        unlink_files(l);
        listeners_free(l);
        return rc;
    }
    l->chmod_unused = pl->mode >= 0;
    for (size_t i = 0; i < l->nsocks; i++)
        if (l->socks[i].path[0])
            l->chmod_unused = false;
    *out = l;
    return 0;
}

int mt_listeners_open(const mt_config_t *config, mt_listeners_t **out, char *err, size_t errlen)
{
    *out = NULL;
    plan_t pl = {.config = config, .err = err, .errlen = errlen,
                 .backlog = (int)mt_config_get_int(config, NULL, "listen")};
    return listeners_build(&pl, out);
}

int mt_listeners_check(mt_config_t *config)
{
    char unused[8];
    plan_t pl = {.config = config, .record = config, .dry = true, .err = unused, .errlen = sizeof unused,
                 .backlog = (int)mt_config_get_int(config, NULL, "listen")};
    listeners_build(&pl, NULL);
    return pl.failed;
}

size_t mt_listeners_count(const mt_listeners_t *l)
{
    return l ? l->nserved : 0;
}

int mt_listeners_fd(const mt_listeners_t *l, size_t i)
{
    return l->socks[l->served[i].bound].fd;
}

mt_listen_proto_t mt_listeners_proto(const mt_listeners_t *l, size_t i)
{
    return l->served[i].proto;
}

const char *mt_listeners_addr(const mt_listeners_t *l, size_t i)
{
    return l->served[i].label;
}

const char *mt_listeners_describe(const mt_listeners_t *l, char *buf, size_t len)
{
    size_t n = 0;
    if (len > 0)
        buf[0] = '\0';
    for (size_t i = 0; l != NULL && i < l->nserved && n < len; i++) {
        int w = snprintf(buf + n, len - n, "%s%s on %s", i ? ", " : "", proto_name(l->served[i].proto),
                         l->served[i].label);
        if (w < 0)
            break;
        n += (size_t)w;
    }
    return buf;
}

void mt_listeners_log_notes(const mt_listeners_t *l)
{
    if (l == NULL)
        return;
    for (size_t i = 0; i < l->nsocks; i++)
        if (l->socks[i].shared && !l->socks[i].used)
            mt_warn("shared socket %zu (%s) is bound but served by nothing: name it as =%zu in http or socket",
                    i, l->socks[i].addr, i);
    if (l->chmod_unused)
        mt_warn("chmod-socket is set but no unix socket file is bound: it changes nothing");
}

void mt_listeners_owned_by(mt_listeners_t *l, pid_t pid)
{
    if (l != NULL)
        l->owner = pid;
}

void mt_listeners_close(mt_listeners_t *l)
{
    if (l == NULL)
        return;
    for (size_t i = 0; i < l->nsocks; i++) {
        if (l->socks[i].fd >= 0)
            close(l->socks[i].fd);
        l->socks[i].fd = -1;
    }
}

void mt_listeners_destroy(mt_listeners_t *l)
{
    if (l == NULL)
        return;
    mt_listeners_close(l);
    if (l->owner != 0 && getpid() == l->owner)
        unlink_files(l);
    listeners_free(l);
}
