/*
 * log: records, loggers and handlers (see log.h).
 *
 * The configuration is turned into two flat arrays: handlers (where and
 * how a record is written) and loggers (a name prefix, an optional level,
 * the handlers it feeds, whether it propagates). Loggers are kept longest
 * name first, so the first one whose name is a dotted prefix of a record's
 * logger is the most specific; the root logger (name "") matches all and
 * comes last. A record walks that chain as Python's logging does: the
 * first logger with a level decides whether it is written at all, and it
 * goes to the handlers of each logger up the chain until one does not
 * propagate.
 *
 * Nothing here allocates or locks on the path of a record: the
 * configuration is fixed before threads start, lines are formatted on the
 * stack, and the per-handler counters are atomics.
 */
#include "common/log.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "common/log_config.h"
#include "common/log_format.h"
#include "common/mem.h"

#define LINE_MAX_BYTES 4096 /* one record; at most PIPE_BUF, so a write to a pipe is atomic */
#define MAX_CHAIN_HANDLERS 16

typedef struct log_handler {
    char *name;
    mt_log_target_t target;
    char *path_template;     /* files: filename_template, or filename */
    char path[1024];         /* files: expanded for this process */
    int fd;                  /* -1: not open */
    bool regular;            /* a regular file: write without polling first */
    bool has_level;
    mt_log_level_t level;
    mt_log_format_t *format; /* NULL: the classic line */
    atomic_uint_fast64_t dropped;
    atomic_uint_fast64_t reported;
    atomic_int last_errno;
} log_handler_t;

typedef struct log_logger {
    char *name;              /* "" for root */
    size_t len;
    bool has_level;
    mt_log_level_t level;
    size_t *handlers;        /* indices into the handlers */
    size_t nhandlers;
    bool propagate;
} log_logger_t;

typedef struct log_setup {
    log_handler_t *handlers;
    size_t nhandlers;
    log_logger_t *loggers;   /* longest name first; root last */
    size_t nloggers;
} log_setup_t;

static log_setup_t setup;
static mt_log_level_t root_default_level = MT_LOG_INFO;
static int64_t start_us;

static struct {
    char server_name[128];
    char pool_name[64];
    char file_pool[64];
    int file_server_id;
    int worker_id, mule_id, server_id;
} me = {.server_name = "muleteer", .pool_name = "master", .file_pool = "web"};

static __thread char thread_name[32] = "MainThread";
static volatile sig_atomic_t reopen_requested;
static char output_path[4096]; /* logto: the file stdout and stderr go to, "" if none */
static atomic_uint_fast64_t dropped_total;
static _Atomic uint64_t *_Atomic dropped_shared; /* also counted here if set (mt_log_count_drops_in) */

static const char *const level_names[] = {"debug", "info", "notice", "warn", "error", "alert"};

/* ------------------------------------------------------------------ */
/* Levels and names                                                    */
/* ------------------------------------------------------------------ */

int mt_log_level_parse(const char *name, mt_log_level_t *out)
{
    static const struct {
        const char *name;
        mt_log_level_t level;
    } aliases[] = {{"warning", MT_LOG_WARN}, {"critical", MT_LOG_ALERT}, {"fatal", MT_LOG_ALERT}};
    if (!name)
        return -1;
    for (size_t i = 0; i < sizeof level_names / sizeof level_names[0]; i++) {
        if (strcasecmp(name, level_names[i]) == 0) {
            *out = (mt_log_level_t)i;
            return 0;
        }
    }
    for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++) {
        if (strcasecmp(name, aliases[i].name) == 0) {
            *out = aliases[i].level;
            return 0;
        }
    }
    return -1;
}

const char *mt_log_level_name(mt_log_level_t level)
{
    return (unsigned)level < sizeof level_names / sizeof level_names[0] ? level_names[level] : "?";
}

void mt_log_set_level(mt_log_level_t level)
{
    root_default_level = level;
    for (size_t i = 0; i < setup.nloggers; i++)
        if (setup.loggers[i].len == 0 && !setup.loggers[i].has_level)
            setup.loggers[i].level = level;
}

void mt_log_set_thread_name(const char *name)
{
    snprintf(thread_name, sizeof thread_name, "%s", name ? name : "");
}

uint64_t mt_log_dropped(void)
{
    return atomic_load(&dropped_total);
}

void mt_log_count_drops_in(_Atomic uint64_t *counter)
{
    atomic_store(&dropped_shared, counter);
}

/* ------------------------------------------------------------------ */
/* Configuration                                                       */
/* ------------------------------------------------------------------ */

static void setup_free(log_setup_t *s)
{
    for (size_t i = 0; i < s->nhandlers; i++) {
        log_handler_t *h = &s->handlers[i];
        if (h->target == MT_LOG_TO_FILE && h->fd >= 0)
            close(h->fd);
        free(h->name);
        free(h->path_template);
        mt_log_format_free(h->format);
    }
    free(s->handlers);
    for (size_t i = 0; i < s->nloggers; i++) {
        free(s->loggers[i].name);
        free(s->loggers[i].handlers);
    }
    free(s->loggers);
    memset(s, 0, sizeof *s);
}

static void handler_init(log_handler_t *h, const char *name, mt_log_target_t target)
{
    memset(h, 0, sizeof *h);
    h->name = mt_strdup(name);
    h->target = target;
    h->fd = target == MT_LOG_TO_STDERR ? 2 : target == MT_LOG_TO_STDOUT ? 1 : -1;
    atomic_init(&h->dropped, 0);
    atomic_init(&h->reported, 0);
    atomic_init(&h->last_errno, 0);
}

/* The format of the default handler: classic (NULL), JSON lines, or a %-format. */
static int default_format(const char *spec, mt_log_format_t **out, char *err, size_t errlen)
{
    *out = NULL;
    if (!spec || !spec[0] || strcmp(spec, "classic") == 0)
        return 0;
    if (strcmp(spec, "json") == 0) {
        *out = mt_log_format_json();
        return 0;
    }
    char why[256];
    *out = mt_log_format_compile(spec, NULL, why, sizeof why);
    if (!*out) {
        snprintf(err, errlen, "log-format: %s", why);
        return -1;
    }
    return 0;
}

static const mt_log_formatter_conf_t *find_formatter(const struct mt_log_conf *conf, const char *name)
{
    for (size_t i = 0; i < conf->nformatters; i++)
        if (strcmp(conf->formatters[i].name, name) == 0)
            return &conf->formatters[i];
    return NULL;
}

static int find_handler(const log_setup_t *s, const char *name)
{
    for (size_t i = 0; i < s->nhandlers; i++)
        if (strcmp(s->handlers[i].name, name) == 0)
            return (int)i;
    return -1;
}

static int by_name_length_desc(const void *a, const void *b)
{
    const log_logger_t *x = a, *y = b;
    return x->len < y->len ? 1 : x->len > y->len ? -1 : 0;
}

/* Build a setup from conf, checking what the loaders leave to us. */
static int setup_from_conf(log_setup_t *s, const struct mt_log_conf *conf, mt_log_level_t root_level, char *err,
                           size_t errlen)
{
    memset(s, 0, sizeof *s);
    s->handlers = mt_calloc(conf->nhandlers ? conf->nhandlers : 1, sizeof *s->handlers);
    for (size_t i = 0; i < conf->nhandlers; i++) {
        const mt_log_handler_conf_t *hc = &conf->handlers[i];
        log_handler_t *h = &s->handlers[s->nhandlers++];
        handler_init(h, hc->name, hc->target);
        h->has_level = hc->has_level;
        h->level = hc->level;
        if (hc->target == MT_LOG_TO_FILE)
            h->path_template = mt_strdup(hc->filename_template ? hc->filename_template : hc->filename);
        if (hc->formatter) {
            const mt_log_formatter_conf_t *fc = find_formatter(conf, hc->formatter);
            if (!fc) {
                snprintf(err, errlen, "%s:%d: handler %s: no formatter named '%s'", conf->path, hc->line, hc->name,
                         hc->formatter);
                return -1;
            }
            if (fc->json) {
                h->format = mt_log_format_json();
            } else if (fc->format) {
                char why[256];
                h->format = mt_log_format_compile(fc->format, fc->datefmt, why, sizeof why);
                if (!h->format) {
                    snprintf(err, errlen, "%s:%d: formatter %s: %s", conf->path, fc->line, fc->name, why);
                    return -1;
                }
            }
        }
    }
    bool have_root = false;
    s->loggers = mt_calloc(conf->nloggers + 1, sizeof *s->loggers);
    for (size_t i = 0; i < conf->nloggers; i++) {
        const mt_log_logger_conf_t *lc = &conf->loggers[i];
        log_logger_t *l = &s->loggers[s->nloggers++];
        bool root = strcmp(lc->name, "root") == 0;
        have_root = have_root || root;
        l->name = mt_strdup(root ? "" : lc->name);
        l->len = strlen(l->name);
        l->has_level = lc->has_level || root;
        l->level = lc->has_level ? lc->level : root_level;
        l->propagate = root ? false : lc->propagate;
        l->handlers = mt_calloc(lc->nhandlers ? lc->nhandlers : 1, sizeof *l->handlers);
        for (size_t k = 0; k < lc->nhandlers; k++) {
            int idx = find_handler(s, lc->handlers[k]);
            if (idx < 0) {
                snprintf(err, errlen, "%s:%d: logger %s: no handler named '%s'", conf->path, lc->line, lc->name,
                         lc->handlers[k]);
                return -1;
            }
            l->handlers[l->nhandlers++] = (size_t)idx;
        }
    }
    if (!have_root) {
        /* Python's root has no handler unless configured; records that reach it are written nowhere. */
        log_logger_t *l = &s->loggers[s->nloggers++];
        l->name = mt_strdup("");
        l->has_level = true;
        l->level = root_level;
        l->handlers = mt_calloc(1, sizeof *l->handlers);
    }
    qsort(s->loggers, s->nloggers, sizeof *s->loggers, by_name_length_desc);
    return 0;
}

/* No configuration: everything from root_level up to stderr. */
static int setup_default(log_setup_t *s, mt_log_level_t root_level, const char *format, char *err, size_t errlen)
{
    memset(s, 0, sizeof *s);
    mt_log_format_t *f;
    if (default_format(format, &f, err, errlen) < 0)
        return -1;
    s->handlers = mt_calloc(1, sizeof *s->handlers);
    handler_init(&s->handlers[0], "stderr", MT_LOG_TO_STDERR);
    s->handlers[0].format = f;
    s->nhandlers = 1;
    s->loggers = mt_calloc(1, sizeof *s->loggers);
    s->loggers[0] = (log_logger_t){.name = mt_strdup(""), .has_level = true, .level = root_level};
    s->loggers[0].handlers = mt_calloc(1, sizeof *s->loggers[0].handlers);
    s->loggers[0].nhandlers = 1;
    s->nloggers = 1;
    return 0;
}

int mt_log_configure(const struct mt_log_conf *conf, mt_log_level_t root_level, const char *classic_format,
                     char *err, size_t errlen)
{
    log_setup_t next;
    int rc = conf && conf->present ? setup_from_conf(&next, conf, root_level, err, errlen)
                                   : setup_default(&next, root_level, classic_format, err, errlen);
    if (rc < 0) {
        setup_free(&next);
        return -1;
    }
    if (!start_us) {
        struct timeval tv;
        gettimeofday(&tv, NULL);
        start_us = (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
    }
    root_default_level = root_level;
    log_setup_t old = setup;
    setup = next;
    setup_free(&old);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Files                                                               */
/* ------------------------------------------------------------------ */

/* Expand {pool_name} {server_id} {server_name} {pid} for this process. */
static void expand_template(const char *tmpl, char *out, size_t size)
{
    size_t n = 0;
    out[0] = '\0';
    for (const char *p = tmpl; *p && n + 1 < size;) {
        const char *close = *p == '{' ? strchr(p, '}') : NULL;
        char value[160];
        const char *v = NULL;
        if (close) {
            size_t len = (size_t)(close - p - 1);
            if (len == 9 && strncmp(p + 1, "pool_name", 9) == 0)
                v = me.file_pool;
            else if (len == 9 && strncmp(p + 1, "server_id", 9) == 0)
                v = (snprintf(value, sizeof value, "%d", me.file_server_id), value);
            else if (len == 11 && strncmp(p + 1, "server_name", 11) == 0)
                v = me.server_name;
            else if (len == 3 && strncmp(p + 1, "pid", 3) == 0)
                v = (snprintf(value, sizeof value, "%d", (int)getpid()), value);
        }
        if (v) {
            int k = snprintf(out + n, size - n, "%s", v);
            n += k > 0 ? (size_t)k : 0;
            if (n >= size)
                n = size - 1;
            p = close + 1;
        } else {
            out[n++] = *p++;
            out[n] = '\0';
        }
    }
}

static int open_log_file(const char *path)
{
    return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0644);
}

static void note_regular(log_handler_t *h)
{
    struct stat st;
    h->regular = fstat(h->fd, &st) == 0 && S_ISREG(st.st_mode);
}

void mt_log_set_identity(const mt_log_identity_t *id)
{
    snprintf(me.server_name, sizeof me.server_name, "%s", id->server_name ? id->server_name : "");
    snprintf(me.pool_name, sizeof me.pool_name, "%s", id->pool_name ? id->pool_name : "");
    snprintf(me.file_pool, sizeof me.file_pool, "%s", id->file_pool ? id->file_pool : me.pool_name);
    me.file_server_id = id->file_server_id;
    me.worker_id = id->worker_id;
    me.mule_id = id->mule_id;
    me.server_id = id->server_id;
    for (size_t i = 0; i < setup.nhandlers; i++) {
        log_handler_t *h = &setup.handlers[i];
        if (h->target != MT_LOG_TO_FILE) {
            note_regular(h);
            continue;
        }
        if (h->fd >= 0)
            close(h->fd); /* the parent's file, or this process's previous one */
        expand_template(h->path_template, h->path, sizeof h->path);
        h->fd = open_log_file(h->path);
        if (h->fd < 0) {
            fprintf(stderr, "muleteer: log handler %s: cannot open %s: %s\n", h->name, h->path, strerror(errno));
            continue;
        }
        note_regular(h);
    }
}

/* Open the logto file and put it under descriptors 1 and 2 (dup2: writers never see a closed descriptor). */
static int redirect_output(const char *path)
{
    int fd = open_log_file(path);
    if (fd < 0)
        return -errno;
    int rc = 0;
    if (dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
        rc = -errno;
    close(fd);
    return rc;
}

int mt_log_redirect_output(const char *path, char *err, size_t errlen)
{
    int rc = redirect_output(path);
    if (rc < 0) {
        snprintf(err, errlen, "cannot open %s for the log: %s", path, strerror(-rc));
        return rc;
    }
    snprintf(output_path, sizeof output_path, "%s", path);
    for (size_t i = 0; i < setup.nhandlers; i++)
        if (setup.handlers[i].target != MT_LOG_TO_FILE)
            note_regular(&setup.handlers[i]);
    return 0;
}

const char *mt_log_output_path(void)
{
    return output_path[0] ? output_path : NULL;
}

void mt_log_reopen(void)
{
    reopen_requested = 0;
    if (output_path[0])
        (void)redirect_output(output_path); /* failing: keep writing to the old file */
    for (size_t i = 0; i < setup.nhandlers; i++) {
        log_handler_t *h = &setup.handlers[i];
        if (h->target != MT_LOG_TO_FILE || !h->path[0])
            continue;
        int fd = open_log_file(h->path);
        if (fd < 0) {
            atomic_store(&h->last_errno, errno);
            continue; /* keep writing to the old file: better than losing records */
        }
        if (h->fd < 0) {
            h->fd = fd;
        } else {
            /* One step: writers in other threads see the old file or the new one, never a closed descriptor. */
            dup2(fd, h->fd);
            close(fd);
        }
        note_regular(h);
    }
}

static void on_reopen_signal(int sig)
{
    (void)sig;
    reopen_requested = 1;
}

void mt_log_catch_reopen_signal(void)
{
    struct sigaction sa = {.sa_handler = on_reopen_signal, .sa_flags = SA_RESTART};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, NULL);
}

/* ------------------------------------------------------------------ */
/* Records                                                             */
/* ------------------------------------------------------------------ */

static bool logger_matches(const log_logger_t *l, const char *name, size_t len)
{
    if (l->len == 0)
        return true;
    return len >= l->len && strncmp(name, l->name, l->len) == 0 && (name[l->len] == '\0' || name[l->len] == '.');
}

/* The level that decides for this logger: the most specific configured logger with a level. */
static mt_log_level_t effective_level(const char *logger, size_t len)
{
    for (size_t i = 0; i < setup.nloggers; i++) {
        const log_logger_t *l = &setup.loggers[i];
        if (l->has_level && logger_matches(l, logger, len))
            return l->level;
    }
    return root_default_level;
}

bool mt_log_enabled(const char *logger, mt_log_level_t level)
{
    return level >= effective_level(logger, strlen(logger));
}

static size_t render_classic(const mt_log_record_t *r, char *buf, size_t size)
{
    time_t secs = (time_t)(r->time_us / 1000000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    size_t n = strftime(buf, size, "%Y-%m-%dT%H:%M:%S", &tm);
    int k = snprintf(buf + n, size - n, ".%06dZ [%s] %s[%d] %s: ", (int)(r->time_us % 1000000),
                     mt_log_level_name(r->level), r->server_name, r->pid, r->logger);
    if (k > 0)
        n += (size_t)k < size - n ? (size_t)k : size - n - 1;
    for (const char *m = r->message; *m && n + 2 < size; m++)
        buf[n++] = (unsigned char)*m < 0x20 ? ' ' : *m; /* one record, one line */
    buf[n++] = '\n';
    buf[n] = '\0';
    return n;
}

/* Can this descriptor take a line now? Pipes and sockets are asked; files always can. */
static bool writable_now(const log_handler_t *h)
{
    if (h->regular)
        return true;
    struct pollfd p = {.fd = h->fd, .events = POLLOUT};
    return poll(&p, 1, 0) == 1 && (p.revents & POLLOUT);
}

static void write_line(log_handler_t *h, const char *line, size_t len);

/* Tell, on this handler, how many records it dropped since it last said so. */
static void report_drops(log_handler_t *h)
{
    uint_fast64_t dropped = atomic_load(&h->dropped), reported = atomic_load(&h->reported);
    if (dropped == reported || !atomic_compare_exchange_strong(&h->reported, &reported, dropped))
        return;
    char msg[256];
    int e = atomic_load(&h->last_errno);
    snprintf(msg, sizeof msg, "%llu log record%s dropped on handler %s (%s)",
             (unsigned long long)(dropped - reported), dropped - reported == 1 ? "" : "s", h->name,
             e ? strerror(e) : "the stream could not take them");
    struct timeval tv;
    gettimeofday(&tv, NULL);
    mt_log_record_t r = {.time_us = (int64_t)tv.tv_sec * 1000000 + tv.tv_usec, .start_us = start_us,
                         .level = MT_LOG_WARN, .logger = "muleteer.log", .pid = (int)getpid(),
                         .thread_id = (long)syscall(SYS_gettid), .thread_name = thread_name,
                         .worker_id = me.worker_id, .mule_id = me.mule_id, .server_id = me.server_id,
                         .server_name = me.server_name, .pool_name = me.pool_name, .message = msg};
    char line[LINE_MAX_BYTES];
    size_t n = h->format ? mt_log_format_render(h->format, &r, line, sizeof line) : render_classic(&r, line, sizeof line);
    write_line(h, line, n);
}

/* One record lost on handler h. */
static void note_drop(log_handler_t *h)
{
    atomic_fetch_add(&h->dropped, 1);
    atomic_fetch_add(&dropped_total, 1);
    _Atomic uint64_t *shared = atomic_load_explicit(&dropped_shared, memory_order_relaxed);
    if (shared)
        atomic_fetch_add_explicit(shared, 1, memory_order_relaxed);
}

static void write_line(log_handler_t *h, const char *line, size_t len)
{
    if (h->fd < 0) {
        note_drop(h);
        return;
    }
    if (!writable_now(h)) {
        note_drop(h);
        return;
    }
    ssize_t n;
    do
        n = write(h->fd, line, len);
    while (n < 0 && errno == EINTR);
    if (n != (ssize_t)len) {
        atomic_store(&h->last_errno, n < 0 ? errno : ENOSPC);
        note_drop(h);
        return;
    }
    if (atomic_load(&h->dropped) != atomic_load(&h->reported))
        report_drops(h);
}

void mt_log_emit(const char *logger, mt_log_level_t level, const char *fmt, ...)
{
    if (!setup.nloggers) {
        /* Not configured yet (early start-up, a test): the default, to stderr. */
        char err[64];
        setup_default(&setup, root_default_level, NULL, err, sizeof err);
    }
    if (reopen_requested)
        mt_log_reopen();
    size_t len = strlen(logger);
    if (level < effective_level(logger, len))
        return;

    /* The handlers up the chain of loggers, each once. */
    size_t chain[MAX_CHAIN_HANDLERS];
    size_t nchain = 0;
    for (size_t i = 0; i < setup.nloggers; i++) {
        const log_logger_t *l = &setup.loggers[i];
        if (!logger_matches(l, logger, len))
            continue;
        for (size_t k = 0; k < l->nhandlers; k++) {
            bool seen = false;
            for (size_t j = 0; j < nchain; j++)
                seen = seen || chain[j] == l->handlers[k];
            if (!seen && nchain < MAX_CHAIN_HANDLERS)
                chain[nchain++] = l->handlers[k];
        }
        if (!l->propagate)
            break;
    }
    if (nchain == 0)
        return;

    char message[LINE_MAX_BYTES];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    struct timeval tv;
    gettimeofday(&tv, NULL);
    mt_log_record_t r = {
        .time_us = (int64_t)tv.tv_sec * 1000000 + tv.tv_usec,
        .start_us = start_us,
        .level = level,
        .logger = logger,
        .pid = (int)getpid(),
        .thread_id = (long)syscall(SYS_gettid),
        .thread_name = thread_name,
        .worker_id = me.worker_id,
        .mule_id = me.mule_id,
        .server_id = me.server_id,
        .server_name = me.server_name,
        .pool_name = me.pool_name,
        .message = message,
    };
    char line[LINE_MAX_BYTES];
    for (size_t i = 0; i < nchain; i++) {
        log_handler_t *h = &setup.handlers[chain[i]];
        if (h->has_level && level < h->level)
            continue;
        size_t n = h->format ? mt_log_format_render(h->format, &r, line, sizeof line)
                             : render_classic(&r, line, sizeof line);
        write_line(h, line, n);
    }
}
