/*
 * metrics: counters in shared memory, one block per process slot, and the
 * Prometheus text of GET /metrics (see metrics.h and muleteer_metrics.h).
 *
 * The registry (families, their cells, the collectors) is built in the
 * master before the fork and inherited read-only; only the cells change.
 * A family is `nvalues` values of `width` cells each: a counter's value is
 * one cell, a histogram's is one cell per bucket (not cumulative: a single
 * add per observation), then the sum in microseconds; its count is the sum
 * of its buckets. Blocks are padded to 64 bytes so that two processes
 * never write one cache line.
 *
 * The request counters are the hot path (every request, about 3 us of CPU
 * each): an atomic read-modify-write costs 20-40 ns there on a busy host.
 * So a slot's block holds the HTTP cells 1 + `threads` times: each web
 * thread takes an area of its own at its first request (a thread-local
 * pointer) and is its only writer, which lets it add with a plain load and
 * store (relaxed atomics, no lock prefix); a thread beyond `threads` (none
 * today) shares area 0 with atomic adds. /metrics sums every area.
 */
#include "stack/metrics.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <linux/sockios.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/mem.h"
#include "stack/stack.h"

#define MAX_FAMILIES 64
#define MAX_BOUNDS 24
#define MAX_COLLECTORS 8
#define CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

typedef _Atomic uint64_t cell_t;

typedef struct family {
    char *name;
    char *help;
    char *label;          /* NULL: one value, no label */
    char **values;        /* nvalues label values (NULL without label) */
    size_t nvalues;
    bool histogram;
    bool micro;           /* a counter of microseconds, shown in seconds (mt_metric_counter_us) */
    int64_t bounds_us[MAX_BOUNDS];
    size_t nbounds;
    size_t first;         /* its first cell */
    size_t width;         /* cells per value: 1, or nbounds + 1 buckets + the sum */
} family_t;

typedef struct collector {
    mt_metrics_collect_cb cb;
    void *data;
} collector_t;

struct mt_metrics_out {
    char *data;
    size_t len, cap;
};

/* Status codes with a label of their own; any other is counted by its class ("4xx"), or as "other". */
static const int known_codes[] = {200, 201, 202, 204, 206, 301, 302, 304, 307, 308, 400, 401, 403, 404, 405, 408, 409,
                                  410, 411, 412, 413, 414, 415, 416, 422, 429, 431, 500, 501, 502, 503, 504, 505};
#define NKNOWN (sizeof known_codes / sizeof known_codes[0])
#define NCODES (NKNOWN + 5) /* + 1xx 2xx 3xx 4xx 5xx ... */
#define CODE_OTHER (NKNOWN + 5 - 1)
/* The buckets of muleteer_http_request_duration_seconds. */
static const double http_bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
#define HTTP_NB (sizeof http_bounds / sizeof http_bounds[0])

static struct {
    family_t fam[MAX_FAMILIES];
    size_t nfam;
    size_t ncells;
    collector_t coll[MAX_COLLECTORS];
    size_t ncoll;
    bool started;               /* registrations closed */
    cell_t *shm;                /* nslots blocks of stride cells; NULL: off */
    size_t nslots, stride;
    const mt_router_t *router;
    size_t nroutes;             /* route r's cells; index nroutes: no route */
    size_t http_base;           /* the first HTTP area in a block */
    size_t http_area;           /* cells of one area (padded to 64 bytes) */
    size_t http_areas;          /* 1 + web threads */
    size_t http_first;          /* in an area: (nroutes + 1) * NCODES counts */
    size_t http_hist_first;     /* in an area: (nroutes + 1) * (HTTP_NB + 2): buckets, sum */
    int64_t http_bounds_us[HTTP_NB];
    uint8_t code_index[600];
    int reloads, log_dropped, farm_sent, farm_failed, farm_received;
} reg = {.reloads = -1, .log_dropped = -1, .farm_sent = -1, .farm_failed = -1, .farm_received = -1};

/* This process's block: set once after the fork, before any thread starts; NULL while off. */
static cell_t *self_block;
/* The calling thread's HTTP area, taken at its first request; single: it is the area's only writer. */
static __thread cell_t *thread_http;
static __thread bool thread_http_single;
static atomic_size_t next_http_area; /* this process's areas handed out so far */

/* ------------------------------------------------------------------ */
/* Registry                                                            */
/* ------------------------------------------------------------------ */

static bool valid_name(const char *s, bool label)
{
    if (s == NULL || !*s)
        return false;
    for (const char *p = s; *p; p++) {
        char c = *p;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (!label && c == ':') ||
                  (p > s && c >= '0' && c <= '9');
        if (!ok)
            return false;
    }
    return !(label && s[0] == '_' && s[1] == '_'); /* __ labels are Prometheus's own */
}

static int add_family(const char *name, const char *help, const char *label, const char *const *values,
                      size_t nvalues, const double *bounds, size_t nbounds, bool histogram)
{
    if (reg.started)
        return -EPERM;
    if (!valid_name(name, false) || (label && (!valid_name(label, true) || strcmp(label, "le") == 0)) ||
        (label && (values == NULL || nvalues == 0)) || (histogram && (nbounds == 0 || nbounds > MAX_BOUNDS)))
        return -EINVAL;
    for (size_t i = 0; label && i < nvalues; i++)
        if (values[i] == NULL)
            return -EINVAL;
    for (size_t i = 0; histogram && i < nbounds; i++)
        if (!(bounds[i] > 0) || (i > 0 && !(bounds[i] > bounds[i - 1])))
            return -EINVAL;
    for (size_t i = 0; i < reg.nfam; i++)
        if (strcmp(reg.fam[i].name, name) == 0)
            return -EEXIST;
    if (reg.nfam == MAX_FAMILIES)
        return -ENOSPC;
    family_t *f = &reg.fam[reg.nfam];
    memset(f, 0, sizeof *f);
    f->name = mt_strdup(name);
    f->help = mt_strdup(help ? help : "");
    f->label = label ? mt_strdup(label) : NULL;
    f->nvalues = label ? nvalues : 1;
    if (label) {
        f->values = mt_calloc(nvalues, sizeof *f->values);
        for (size_t i = 0; i < nvalues; i++)
            f->values[i] = mt_strdup(values[i]);
    }
    f->histogram = histogram;
    f->nbounds = histogram ? nbounds : 0;
    for (size_t i = 0; i < f->nbounds; i++)
        f->bounds_us[i] = (int64_t)(bounds[i] * 1e6 + 0.5);
    f->width = histogram ? nbounds + 2 : 1;
    f->first = reg.ncells;
    reg.ncells += f->nvalues * f->width;
    return (int)reg.nfam++;
}

int mt_metric_counter(mt_stack_t *stack, const char *name, const char *help, const char *label,
                      const char *const *values, size_t nvalues)
{
    if (stack->frozen)
        return -EPERM;
    return add_family(name, help, label, values, nvalues, NULL, 0, false);
}

int mt_metric_counter_us(mt_stack_t *stack, const char *name, const char *help, const char *label,
                         const char *const *values, size_t nvalues)
{
    size_t len = name ? strlen(name) : 0;
    if (len < sizeof "_seconds_total" || strcmp(name + len - (sizeof "_seconds_total" - 1), "_seconds_total") != 0)
        return -EINVAL;
    int id = mt_metric_counter(stack, name, help, label, values, nvalues);
    if (id >= 0)
        reg.fam[id].micro = true;
    return id;
}

int mt_metric_histogram(mt_stack_t *stack, const char *name, const char *help, const char *label,
                        const char *const *values, size_t nvalues, const double *bounds, size_t nbounds)
{
    if (stack->frozen)
        return -EPERM;
    return add_family(name, help, label, values, nvalues, bounds, nbounds, true);
}

int mt_metrics_add_collector(mt_stack_t *stack, mt_metrics_collect_cb cb, void *data)
{
    if (stack->frozen || reg.started)
        return -EPERM;
    if (cb == NULL)
        return -EINVAL;
    if (reg.ncoll == MAX_COLLECTORS)
        return -ENOSPC;
    reg.coll[reg.ncoll++] = (collector_t){cb, data};
    return 0;
}

/* ------------------------------------------------------------------ */
/* Writing (any process, any thread)                                   */
/* ------------------------------------------------------------------ */

bool mt_metrics_collecting(void)
{
    return self_block != NULL;
}

bool mt_metrics_enabled(void)
{
    return reg.shm != NULL;
}

static inline void cell_add(cell_t *block, size_t cell, uint64_t n)
{
    atomic_fetch_add_explicit(&block[cell], n, memory_order_relaxed);
}

/* One observation into buckets cells[0..nb] and the sum cells[nb + 1]. */
static inline void observe(cell_t *cells, const int64_t *bounds_us, size_t nb, int64_t us)
{
    if (us < 0)
        us = 0;
    size_t i = 0;
    while (i < nb && us > bounds_us[i])
        i++;
    atomic_fetch_add_explicit(&cells[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&cells[nb + 1], (uint64_t)us, memory_order_relaxed);
}

void mt_metric_add(int id, size_t value, uint64_t n)
{
    cell_t *b = self_block;
    if (b == NULL || id < 0 || (size_t)id >= reg.nfam)
        return;
    const family_t *f = &reg.fam[id];
    if (f->histogram || value >= f->nvalues)
        return;
    cell_add(b, f->first + value, n);
}

void mt_metric_observe_us(int id, size_t value, int64_t us)
{
    cell_t *b = self_block;
    if (b == NULL || id < 0 || (size_t)id >= reg.nfam)
        return;
    const family_t *f = &reg.fam[id];
    if (!f->histogram || value >= f->nvalues)
        return;
    observe(b + f->first + value * f->width, f->bounds_us, f->nbounds, us);
}

/* Add n to a cell that only the calling thread writes: no lock prefix; readers see whole values. */
static inline void single_add(cell_t *c, uint64_t n)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n, memory_order_relaxed);
}

/* The calling thread's HTTP area: its own while there are some left, else area 0 (shared, atomic adds). */
static cell_t *http_area_of_thread(void)
{
    size_t i = atomic_fetch_add(&next_http_area, 1) + 1;
    thread_http_single = i < reg.http_areas;
    thread_http = self_block + reg.http_base + (thread_http_single ? i : 0) * reg.http_area;
    return thread_http;
}

void mt_metrics_http_done(const struct mt_route **route, int status, int64_t start_us)
{
    const mt_route_t *r = *route;
    *route = NULL;
    if (self_block == NULL)
        return;
    cell_t *a = thread_http ? thread_http : http_area_of_thread();
    size_t ri = r ? mt_router_index(reg.router, r) : reg.nroutes;
    if (ri > reg.nroutes)
        ri = reg.nroutes;
    size_t code = status >= 100 && status < 600 ? reg.code_index[status] : CODE_OTHER;
    int64_t us = mt_clock_us() - start_us;
    if (!thread_http_single) {
        cell_add(a, reg.http_first + ri * NCODES + code, 1);
        observe(a + reg.http_hist_first + ri * (HTTP_NB + 2), reg.http_bounds_us, HTTP_NB, us);
        return;
    }
    if (us < 0)
        us = 0;
    cell_t *h = a + reg.http_hist_first + ri * (HTTP_NB + 2);
    size_t i = 0;
    while (i < HTTP_NB && us > reg.http_bounds_us[i])
        i++;
    single_add(a + reg.http_first + ri * NCODES + code, 1);
    single_add(h + i, 1);
    single_add(h + HTTP_NB + 1, (uint64_t)us);
}

void mt_metrics_reload(void)
{
    mt_metric_add(reg.reloads, 0, 1);
}

void mt_metrics_farm_sent(size_t farm, int rc)
{
    mt_metric_add(rc == 0 ? reg.farm_sent : reg.farm_failed, farm, 1);
}

void mt_metrics_farm_received(const mt_stack_t *stack, const char *farm_name, int n)
{
    if (self_block == NULL || farm_name == NULL || n <= 0)
        return;
    const mt_proctable_t *t = &stack->procs;
    for (size_t i = 0; i < t->nfarms; i++)
        if (t->farms[i].name == farm_name || strcmp(t->farms[i].name, farm_name) == 0) {
            mt_metric_add(reg.farm_received, i, (uint64_t)n);
            return;
        }
}

/* ------------------------------------------------------------------ */
/* Start and bind                                                      */
/* ------------------------------------------------------------------ */

static void build_code_index(void)
{
    for (int s = 0; s < 600; s++)
        reg.code_index[s] = (uint8_t)(s >= 100 ? NKNOWN + (size_t)(s / 100 - 1) : CODE_OTHER);
    for (size_t i = 0; i < NKNOWN; i++)
        reg.code_index[known_codes[i]] = (uint8_t)i;
}

static const char *code_label(size_t i, char *buf)
{
    if (i < NKNOWN) {
        snprintf(buf, 8, "%d", known_codes[i]);
        return buf;
    }
    if (i == CODE_OTHER)
        return "other";
    snprintf(buf, 8, "%zuxx", i - NKNOWN + 1);
    return buf;
}

/* The stack's own families, after the application's (registration is closed to others by then). */
static int add_stack_families(const mt_proctable_t *t)
{
    const char **farms = mt_calloc(t->nfarms ? t->nfarms : 1, sizeof *farms);
    for (size_t i = 0; i < t->nfarms; i++)
        farms[i] = t->farms[i].name;
    reg.reloads = add_family("muleteer_reloads_total",
                             "Reloads of the processes begun (SIGHUP, touch-reload, master FIFO r).", NULL, NULL, 0,
                             NULL, 0, false);
    reg.log_dropped = add_family("muleteer_log_records_dropped_total",
                                 "Log records dropped (a handler's file unwritable, full or blocking).", NULL, NULL,
                                 0, NULL, 0, false);
    if (t->nfarms) {
        reg.farm_sent = add_family("muleteer_farm_messages_sent_total", "Messages queued to a farm.", "farm", farms,
                                   t->nfarms, NULL, 0, false);
        reg.farm_failed = add_family("muleteer_farm_messages_failed_total",
                                     "Sends to a farm that failed (queue full past msg-send-timeout, too large).",
                                     "farm", farms, t->nfarms, NULL, 0, false);
        reg.farm_received = add_family("muleteer_farm_messages_received_total",
                                       "Messages the farm's built-in mules took from its queue.", "farm", farms,
                                       t->nfarms, NULL, 0, false);
    }
    free(farms);
    return reg.reloads < 0 || reg.log_dropped < 0 || (t->nfarms && reg.farm_received < 0) ? -EEXIST : 0;
}

int mt_metrics_start(mt_stack_t *stack, char *err, size_t errlen)
{
    if (!mt_config_get_bool(stack->config, NULL, "metrics")) {
        reg.started = true;
        return 0;
    }
    if (add_stack_families(&stack->procs) < 0) {
        snprintf(err, errlen, "the application declared a metric of the stack's own names (muleteer_reloads_total, ...)");
        return -EEXIST;
    }
    reg.started = true;
    reg.router = stack->router;
    reg.nroutes = mt_router_count(stack->router);
    build_code_index();
    for (size_t i = 0; i < HTTP_NB; i++)
        reg.http_bounds_us[i] = (int64_t)(http_bounds[i] * 1e6 + 0.5);
    reg.http_base = (reg.ncells + 7) / 8 * 8;
    reg.http_first = 0;
    reg.http_hist_first = (reg.nroutes + 1) * NCODES;
    reg.http_area = (reg.http_hist_first + (reg.nroutes + 1) * (HTTP_NB + 2) + 7) / 8 * 8; /* 64-byte areas */
    reg.http_areas = 1 + (size_t)mt_config_get_int(stack->config, NULL, "threads");
    reg.stride = reg.http_base + reg.http_areas * reg.http_area;
    reg.nslots = stack->procs.nprocs;
    size_t size = reg.nslots * reg.stride * sizeof(cell_t);
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        int rc = -errno;
        snprintf(err, errlen, "mmap() of %zu bytes for the metrics failed: %s", size, strerror(-rc));
        return rc;
    }
    reg.shm = p;
    mt_metrics__bind(stack->self_slot);
    return 0;
}

void mt_metrics__bind(size_t slot)
{
    if (reg.shm == NULL || slot >= reg.nslots)
        return;
    self_block = reg.shm + slot * reg.stride;
    atomic_store(&next_http_area, 0);
    thread_http = NULL; /* the calling thread's area is taken again in this block */
    mt_log_count_drops_in(&self_block[reg.fam[reg.log_dropped].first]);
}

void mt_metrics_reset(void)
{
    mt_log_count_drops_in(NULL);
    self_block = NULL;
    thread_http = NULL;
    atomic_store(&next_http_area, 0);
    if (reg.shm)
        munmap(reg.shm, reg.nslots * reg.stride * sizeof(cell_t));
    for (size_t i = 0; i < reg.nfam; i++) {
        family_t *f = &reg.fam[i];
        free(f->name);
        free(f->help);
        free(f->label);
        for (size_t k = 0; f->values && k < f->nvalues; k++)
            free(f->values[k]);
        free(f->values);
    }
    memset(&reg, 0, sizeof reg);
    reg.reloads = reg.log_dropped = reg.farm_sent = reg.farm_failed = reg.farm_received = -1;
}

/* ------------------------------------------------------------------ */
/* Reading and rendering                                               */
/* ------------------------------------------------------------------ */

static uint64_t sum_cell(size_t cell)
{
    uint64_t v = 0;
    for (size_t s = 0; s < reg.nslots; s++)
        v += atomic_load_explicit(&reg.shm[s * reg.stride + cell], memory_order_relaxed);
    return v;
}

/* An HTTP cell (its index within an area), summed over every area of every slot. */
static uint64_t sum_http_cell(size_t cell)
{
    uint64_t v = 0;
    for (size_t a = 0; a < reg.http_areas; a++)
        v += sum_cell(reg.http_base + a * reg.http_area + cell);
    return v;
}

static void out_reserve(mt_metrics_out_t *o, size_t n)
{
    if (o->len + n + 1 <= o->cap)
        return;
    size_t cap = o->cap ? o->cap : 4096;
    while (cap < o->len + n + 1)
        cap *= 2;
    o->data = mt_realloc(o->data, cap);
    o->cap = cap;
}

static void out_put(mt_metrics_out_t *o, const char *s, size_t n)
{
    out_reserve(o, n);
    memcpy(o->data + o->len, s, n);
    o->len += n;
    o->data[o->len] = '\0';
}

__attribute__((format(printf, 2, 3))) static void out_printf(mt_metrics_out_t *o, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n <= 0)
        return;
    out_reserve(o, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(o->data + o->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    o->len += (size_t)n;
}

/* Text escaped for a label value (\\, \", \n) or a HELP line (\\, \n). */
static void out_escaped(mt_metrics_out_t *o, const char *s, bool quote)
{
    for (const char *p = s; *p; p++) {
        if (*p == '\\')
            out_put(o, "\\\\", 2);
        else if (*p == '\n')
            out_put(o, "\\n", 2);
        else if (quote && *p == '"')
            out_put(o, "\\\"", 2);
        else
            out_put(o, p, 1);
    }
}

void mt_metrics_family(mt_metrics_out_t *o, const char *name, const char *type, const char *help)
{
    out_printf(o, "# HELP %s ", name);
    out_escaped(o, help ? help : "", false);
    out_printf(o, "\n# TYPE %s %s\n", name, type);
}

/* A value as Prometheus reads it: integers without a decimal point. */
static void out_value(mt_metrics_out_t *o, double v)
{
    if (v == (double)(int64_t)v && v > -9e15 && v < 9e15)
        out_printf(o, " %lld\n", (long long)v);
    else
        out_printf(o, " %.9g\n", v);
}

void mt_metrics_sample(mt_metrics_out_t *o, const char *name, const char *label, const char *value, double v)
{
    out_put(o, name, strlen(name));
    if (label) {
        out_printf(o, "{%s=\"", label);
        out_escaped(o, value ? value : "", true);
        out_put(o, "\"}", 2);
    }
    out_value(o, v);
}

/* `labels` is a ready label list without braces ("" for none). */
static void out_counter(mt_metrics_out_t *o, const char *name, const char *labels, uint64_t v)
{
    out_printf(o, "%s%s%s%s %llu\n", name, *labels ? "{" : "", labels, *labels ? "}" : "", (unsigned long long)v);
}

/* A histogram's lines from its summed cells: nb + 1 buckets then the sum (us). */
static void out_histogram(mt_metrics_out_t *o, const char *name, const char *labels, const uint64_t *cells,
                          const int64_t *bounds_us, size_t nb)
{
    const char *sep = *labels ? "," : "";
    uint64_t cum = 0;
    for (size_t i = 0; i <= nb; i++) {
        cum += cells[i];
        if (i < nb)
            out_printf(o, "%s_bucket{%s%sle=\"%.9g\"} %llu\n", name, labels, sep, (double)bounds_us[i] / 1e6,
                       (unsigned long long)cum);
        else
            out_printf(o, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels, sep, (unsigned long long)cum);
    }
    out_printf(o, "%s_sum%s%s%s %.6f\n", name, *labels ? "{" : "", labels, *labels ? "}" : "",
               (double)cells[nb + 1] / 1e6);
    out_printf(o, "%s_count%s%s%s %llu\n", name, *labels ? "{" : "", labels, *labels ? "}" : "",
               (unsigned long long)cum);
}

/* label="escaped value" into a small buffer-backed out (for building label lists). */
static const char *label_pair(mt_metrics_out_t *tmp, const char *label, const char *value)
{
    tmp->len = 0;
    out_printf(tmp, "%s=\"", label);
    out_escaped(tmp, value, true);
    out_put(tmp, "\"", 1);
    return tmp->data;
}

static void route_labels(mt_metrics_out_t *tmp, size_t ri)
{
    tmp->len = 0;
    const mt_route_t *r = ri < reg.nroutes ? mt_router_at(reg.router, ri) : NULL;
    out_put(tmp, "route=\"", 7);
    if (r == NULL) {
        out_put(tmp, "(none)", 6);
    } else {
        out_escaped(tmp, r->path, true);
        if (r->flags & MT_ROUTE_PREFIX)
            out_put(tmp, r->path[strlen(r->path) - 1] == '/' ? "*" : "/*", r->path[strlen(r->path) - 1] == '/' ? 1 : 2);
    }
    out_printf(tmp, "\",method=\"%s\"", r == NULL ? "(any)" : r->method ? r->method : "(any)");
}

static void render_http(mt_metrics_out_t *o, mt_metrics_out_t *tmp)
{
    mt_metrics_family(o, "muleteer_http_requests_total", "counter",
                      "HTTP requests answered, by route (the registered pattern; (none): static files, no route, "
                      "refused before routing) and status code.");
    char code[8];
    for (size_t ri = 0; ri <= reg.nroutes; ri++)
        for (size_t c = 0; c < NCODES; c++) {
            uint64_t v = sum_http_cell(reg.http_first + ri * NCODES + c);
            if (v == 0)
                continue;
            route_labels(tmp, ri);
            out_printf(tmp, ",code=\"%s\"", code_label(c, code));
            out_counter(o, "muleteer_http_requests_total", tmp->data, v);
        }
    mt_metrics_family(o, "muleteer_http_request_duration_seconds", "histogram",
                      "Time from a request's first byte to its response being ready, by route.");
    uint64_t cells[HTTP_NB + 2];
    for (size_t ri = 0; ri <= reg.nroutes; ri++) {
        size_t first = reg.http_hist_first + ri * (HTTP_NB + 2);
        uint64_t n = 0;
        for (size_t i = 0; i < HTTP_NB + 2; i++) {
            cells[i] = sum_http_cell(first + i);
            n += i <= HTTP_NB ? cells[i] : 0;
        }
        if (n == 0)
            continue;
        route_labels(tmp, ri);
        out_histogram(o, "muleteer_http_request_duration_seconds", tmp->data, cells, reg.http_bounds_us, HTTP_NB);
    }
}

static void render_processes(mt_metrics_out_t *o, mt_metrics_out_t *tmp, const mt_proctable_t *t)
{
    static const struct {
        const char *name, *type, *help;
    } fams[] = {
        {"muleteer_process_up", "gauge", "Whether the process is running (1) or not (0)."},
        {"muleteer_process_respawns_total", "counter", "Times the process was forked again after it died."},
        {"muleteer_process_messages_sent_total", "counter", "Messages the process queued to a mule or a farm."},
        {"muleteer_process_messages_handled_total", "counter",
         "Messages the process (a built-in mule) received and gave to a handler."},
        {"muleteer_process_messages_failed_total", "counter", "Sends of the process that failed."},
        {"muleteer_process_farm_wakeups_total", "counter",
         "Times the process (a built-in mule) woke to read one of its farms' queues."},
        {"muleteer_process_farm_empty_wakeups_total", "counter",
         "Of those wakeups, the ones that found the queue empty (another mule of the farm had taken the message)."},
    };
    for (size_t k = 0; k < sizeof fams / sizeof fams[0]; k++) {
        mt_metrics_family(o, fams[k].name, fams[k].type, fams[k].help);
        for (size_t i = 0; i < t->nprocs; i++) {
            const mt_proc_t *p = &t->procs[i];
            const mt_proc_live_t *l = p->live;
            if (p->role == MT_ROLE_STANDALONE)
                continue; /* listed here, counted in its own stack */
            if (k >= 5 && p->role != MT_ROLE_MULE)
                continue; /* the farm wakeups: mules only */
            label_pair(tmp, "server_name", mt_proctable_server_name(t, i));
            out_printf(tmp, ",role=\"%s\",pool=\"", mt_role_name(p->role));
            out_escaped(tmp, p->pool, true);
            out_put(tmp, "\"", 1);
            uint64_t v = 0;
            switch (k) {
            case 0: v = atomic_load(&l->state) == MT_PROC_RUNNING || p->role == MT_ROLE_MASTER; break;
            case 1: v = atomic_load(&l->respawns); break;
            case 2: v = atomic_load(&l->msgs_sent); break;
            case 3: v = atomic_load(&l->msgs_handled); break;
            case 4: v = atomic_load(&l->msgs_failed); break;
            case 5: v = atomic_load(&l->farm_wakeups); break;
            case 6: v = atomic_load(&l->farm_empty_wakeups); break;
            }
            out_counter(o, fams[k].name, tmp->data, v);
        }
    }
}

/* Queue depth of each farm: sent minus taken (built-in mules only) and the kernel's count of queued bytes. */
static void render_farm_queues(mt_metrics_out_t *o, mt_metrics_out_t *tmp, const mt_proctable_t *t)
{
    if (t->nfarms == 0)
        return;
    mt_metrics_family(o, "muleteer_farm_queue_messages", "gauge",
                      "Messages waiting in a farm's queue: sent less taken (farms whose mules are all built-in).");
    for (size_t i = 0; i < t->nfarms; i++) {
        bool builtin = true;
        for (size_t k = 0; k < t->farms[i].nmules; k++) {
            ssize_t s = mt_proctable_find_mule(t, t->farms[i].mule_ids[k]);
            if (s >= 0 && t->procs[s].program != NULL)
                builtin = false;
        }
        if (!builtin)
            continue;
        uint64_t sent = sum_cell(reg.fam[reg.farm_sent].first + i);
        uint64_t taken = sum_cell(reg.fam[reg.farm_received].first + i);
        out_counter(o, "muleteer_farm_queue_messages", label_pair(tmp, "farm", t->farms[i].name),
                    sent > taken ? sent - taken : 0);
    }
    mt_metrics_family(o, "muleteer_farm_queue_bytes", "gauge",
                      "Kernel memory held by the messages queued to a farm (SIOCOUTQ of its channel), in bytes.");
    for (size_t i = 0; i < t->nfarms; i++) {
        int queued = 0;
        if (t->farms[i].channel.send_fd < 0 || ioctl(t->farms[i].channel.send_fd, SIOCOUTQ, &queued) < 0)
            continue;
        out_counter(o, "muleteer_farm_queue_bytes", label_pair(tmp, "farm", t->farms[i].name),
                    queued > 0 ? (uint64_t)queued : 0);
    }
}

static void render_families(mt_metrics_out_t *o, mt_metrics_out_t *tmp)
{
    uint64_t cells[MAX_BOUNDS + 2];
    for (size_t i = 0; i < reg.nfam; i++) {
        const family_t *f = &reg.fam[i];
        mt_metrics_family(o, f->name, f->histogram ? "histogram" : "counter", f->help);
        for (size_t v = 0; v < f->nvalues; v++) {
            const char *labels = f->label ? label_pair(tmp, f->label, f->values[v]) : "";
            size_t first = f->first + v * f->width;
            if (!f->histogram && f->micro) {
                uint64_t us = sum_cell(first);
                out_printf(o, "%s%s%s%s %llu.%06llu\n", f->name, *labels ? "{" : "", labels, *labels ? "}" : "",
                           (unsigned long long)(us / 1000000), (unsigned long long)(us % 1000000));
                continue;
            }
            if (!f->histogram) {
                out_counter(o, f->name, labels, sum_cell(first));
                continue;
            }
            for (size_t k = 0; k < f->width; k++)
                cells[k] = sum_cell(first + k);
            out_histogram(o, f->name, labels, cells, f->bounds_us, f->nbounds);
        }
    }
}

char *mt_metrics_render(mt_stack_t *stack, size_t *len)
{
    if (reg.shm == NULL)
        return NULL;
    mt_metrics_out_t o = {0}, tmp = {0};
    out_reserve(&o, 16384);
    render_http(&o, &tmp);
    render_processes(&o, &tmp, &stack->procs);
    render_farm_queues(&o, &tmp, &stack->procs);
    render_families(&o, &tmp);
    for (size_t i = 0; i < reg.ncoll; i++)
        reg.coll[i].cb(stack, &o, reg.coll[i].data);
    free(tmp.data);
    *len = o.len;
    return o.data;
}

void mt_metrics_route_cb(mt_request_t *req, void *data)
{
    (void)data;
    if (reg.shm == NULL) {
        mt_respond_error(req, 404, "metrics are off (option metrics = false)");
        return;
    }
    if (!mt_request_is_admin(req)) {
        mt_respond_error(req, 403, "only admin users (option admin-users) may read /metrics");
        return;
    }
    size_t len = 0;
    char *text = mt_metrics_render(mt_request_stack(req), &len);
    mt_respond(req, 200, CONTENT_TYPE, text, len);
    free(text);
}
