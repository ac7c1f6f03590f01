/*
 * slurm_parse: the text Slurm's client commands print, read (see
 * slurm_parse.h). Everything here is a pure function over a string, so the
 * unit tests feed it what a real cluster printed (tests/unit/test_slurm_parse.c).
 */
#include "app/run/slurm_parse.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/message.h"
#include "common/mem.h"


static bool is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* ------------------------------------------------------------------ */
/* sbatch --parsable                                                   */
/* ------------------------------------------------------------------ */

int mt_slurm_parse_sbatch(const char *out, char *id, size_t idlen)
{
    if (id && idlen > 0)
        id[0] = '\0';
    if (!out || !id || idlen == 0)
        return -EINVAL;
    const char *p = out, *end = out + strlen(out);
    while (p < end && is_blank(*p))
        p++;
    while (end > p && is_blank(end[-1]))
        end--;
    if (p == end || !isdigit((unsigned char)*p))
        return -EINVAL;
    const char *q = p;
    while (q < end && (isdigit((unsigned char)*q) || *q == '_'))
        q++;
    if (q < end) {
        /* Only ";CLUSTER" may follow: a name without white space. */
        if (*q != ';' || q + 1 == end)
            return -EINVAL;
        for (const char *c = q + 1; c < end; c++)
            if (isspace((unsigned char)*c) || iscntrl((unsigned char)*c) || *c == ';')
                return -EINVAL;
    }
    size_t n = (size_t)(q - p);
    if (n >= idlen)
        return -ENOSPC;
    memcpy(id, p, n);
    id[n] = '\0';
    return 0;
}

/* ------------------------------------------------------------------ */
/* Errors on stderr                                                    */
/* ------------------------------------------------------------------ */

/* Does [line, line+len) contain needle, ignoring case? */
static bool line_has(const char *line, size_t len, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = 0; i + n <= len; i++)
        if (strncasecmp(line + i, needle, n) == 0)
            return true;
    return false;
}

/* The controller (or munge, which every request goes through) unreachable or busy: worth trying again later. */
static bool line_transient(const char *line, size_t len)
{
    static const char *const patterns[] = {
        "unable to contact slurm controller",
        "socket timed out",
        "zero bytes were transmitted",
        "connection refused",
        "resource temporarily unavailable",
        "temporarily unable to accept job",
        "communication connection failure",
        "connection timed out",
        "timed out",
        "standby mode",
        "transaction in progress",
    };
    for (size_t i = 0; i < sizeof patterns / sizeof patterns[0]; i++)
        if (line_has(line, len, patterns[i]))
            return true;
    return line_has(line, len, "munge") &&
           (line_has(line, len, "failed to access") || line_has(line, len, "failed to connect"));
}

/* Slurm's verdicts on the request itself: trying again gives the same answer. */
static bool line_permanent(const char *line, size_t len)
{
    static const char *const patterns[] = {
        "violates", "invalid", "not available", "denied", "not permitted", "not allowed", "unrecognized option",
        "unknown option", "no such", "requires",
    };
    for (size_t i = 0; i < sizeof patterns / sizeof patterns[0]; i++)
        if (line_has(line, len, patterns[i]))
            return true;
    return false;
}

bool mt_slurm_error_transient(const char *err)
{
    if (!err || !*err)
        return false;
    /* Slurm's last word decides when it is clear; retries it made on the way ("sleeping and retrying") do not. */
    char last[512];
    mt_slurm_error_message(err, last, sizeof last);
    size_t n = strlen(last);
    if (line_transient(last, n))
        return true;
    if (line_permanent(last, n))
        return false;
    for (const char *line = err; *line;) {
        const char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        if (line_transient(line, len))
            return true;
        line += len + (nl ? 1 : 0);
    }
    return false;
}

/* The message of an error line: without "PROG: error: " (PROG one word) or a leading "error: ". */
static void strip_error_prefix(const char **start, const char *end)
{
    const char *p = *start;
    const char *word = p;
    while (word < end && !is_blank(*word) && *word != ':')
        word++;
    if (word < end && *word == ':' && word > p && end - word >= 8 && strncmp(word, ": error:", 8) == 0)
        p = word + 8;
    else if (end - p >= 6 && strncmp(p, "error:", 6) == 0)
        p += 6;
    while (p < end && is_blank(*p))
        p++;
    *start = p;
}

const char *mt_slurm_error_message(const char *err, char *buf, size_t len)
{
    if (!buf || len == 0)
        return buf;
    buf[0] = '\0';
    if (!err)
        return buf;
    const char *best = NULL, *best_end = NULL, *last = NULL, *last_end = NULL;
    for (const char *line = err; *line;) {
        const char *nl = strchr(line, '\n');
        const char *end = nl ? nl : line + strlen(line);
        const char *s = line, *e = end;
        while (s < e && is_blank(*s))
            s++;
        while (e > s && is_blank(e[-1]))
            e--;
        if (s < e) {
            last = s;
            last_end = e;
            if (line_has(s, (size_t)(e - s), "error:")) {
                best = s;
                best_end = e;
            }
        }
        line = nl ? nl + 1 : end;
    }
    if (best) {
        strip_error_prefix(&best, best_end);
    } else {
        best = last;
        best_end = last_end;
    }
    if (!best)
        return buf;
    size_t n = (size_t)(best_end - best);
    if (n >= len)
        n = len - 1;
    for (size_t i = 0; i < n; i++)
        buf[i] = iscntrl((unsigned char)best[i]) ? ' ' : best[i];
    buf[n] = '\0';
    return buf;
}

/* ------------------------------------------------------------------ */
/* Job states                                                          */
/* ------------------------------------------------------------------ */

static const struct {
    const char *name, *abbrev;
} state_names[] = {
    [MT_SLURM_PENDING] = {"PENDING", "PD"},
    [MT_SLURM_RUNNING] = {"RUNNING", "R"},
    [MT_SLURM_SUSPENDED] = {"SUSPENDED", "S"},
    [MT_SLURM_COMPLETING] = {"COMPLETING", "CG"},
    [MT_SLURM_COMPLETED] = {"COMPLETED", "CD"},
    [MT_SLURM_FAILED] = {"FAILED", "F"},
    [MT_SLURM_TIMEOUT] = {"TIMEOUT", "TO"},
    [MT_SLURM_OUT_OF_MEMORY] = {"OUT_OF_MEMORY", "OOM"},
    [MT_SLURM_NODE_FAIL] = {"NODE_FAIL", "NF"},
    [MT_SLURM_CANCELLED] = {"CANCELLED", "CA"},
    [MT_SLURM_PREEMPTED] = {"PREEMPTED", "PR"},
    [MT_SLURM_BOOT_FAIL] = {"BOOT_FAIL", "BF"},
    [MT_SLURM_DEADLINE] = {"DEADLINE", "DL"},
    [MT_SLURM_OTHER] = {"OTHER", NULL},
};

/* The length of the state name at the start of s, without sacct's "+" or " by UID". */
static size_t state_name_len(const char *s, size_t len)
{
    size_t n = 0;
    while (n < len && (isalpha((unsigned char)s[n]) || s[n] == '_'))
        n++;
    return n;
}

static mt_slurm_state_t state_parse_n(const char *name, size_t n)
{
    for (int i = 0; i < MT_SLURM_OTHER; i++) {
        const char *l = state_names[i].name, *a = state_names[i].abbrev;
        if ((strlen(l) == n && strncasecmp(l, name, n) == 0) || (strlen(a) == n && strncasecmp(a, name, n) == 0))
            return (mt_slurm_state_t)i;
    }
    return MT_SLURM_OTHER;
}

mt_slurm_state_t mt_slurm_state_parse(const char *name)
{
    if (!name)
        return MT_SLURM_OTHER;
    while (is_blank(*name))
        name++;
    return state_parse_n(name, state_name_len(name, strlen(name)));
}

const char *mt_slurm_state_name(mt_slurm_state_t s)
{
    return (unsigned)s <= MT_SLURM_OTHER ? state_names[s].name : "OTHER";
}

bool mt_slurm_state_final(mt_slurm_state_t s)
{
    switch (s) {
    case MT_SLURM_COMPLETED:
    case MT_SLURM_FAILED:
    case MT_SLURM_TIMEOUT:
    case MT_SLURM_OUT_OF_MEMORY:
    case MT_SLURM_NODE_FAIL:
    case MT_SLURM_CANCELLED:
    case MT_SLURM_PREEMPTED:
    case MT_SLURM_BOOT_FAIL:
    case MT_SLURM_DEADLINE:
        return true;
    default:
        return false;
    }
}

/* ------------------------------------------------------------------ */
/* squeue -o '%i|%T|%r'                                                */
/* ------------------------------------------------------------------ */

/* Copy [s, e) into dst of size cap, cut to fit. */
static void copy_cut(char *dst, size_t cap, const char *s, const char *e)
{
    size_t n = (size_t)(e - s);
    if (n >= cap)
        n = cap - 1;
    memcpy(dst, s, n);
    dst[n] = '\0';
}

/* -EINVAL, err "squeue output line N: 'LINE': WHY" on one line (the line cut at 80, control characters as spaces). */
static int line_fail(const char *s, const char *e, int lineno, char *err, size_t errlen, const char *why)
{
    char shown[84];
    size_t n = (size_t)(e - s) > 80 ? 80 : (size_t)(e - s);
    for (size_t i = 0; i < n; i++)
        shown[i] = iscntrl((unsigned char)s[i]) ? ' ' : s[i];
    shown[n] = '\0';
    return mt_message_fail_rc(err, errlen, -EINVAL, "squeue output line %d: '%s%s': %s", lineno, shown, e - s > 80 ? "..." : "",
                why);
}

static int parse_job_line(const char *s, const char *e, int lineno, mt_slurm_job_line_t *out, char *err,
                          size_t errlen)
{
    memset(out, 0, sizeof *out);
    const char *bar = memchr(s, '|', (size_t)(e - s));
    if (!bar)
        return line_fail(s, e, lineno, err, errlen, "no '|' between job id and state");
    if (bar == s || (size_t)(bar - s) >= sizeof out->id)
        return line_fail(s, e, lineno, err, errlen, bar == s ? "an empty job id" : "an over-long job id");
    for (const char *c = s; c < bar; c++)
        if (isspace((unsigned char)*c) || iscntrl((unsigned char)*c))
            return line_fail(s, e, lineno, err, errlen, "white space in the job id");
    copy_cut(out->id, sizeof out->id, s, bar);
    const char *st = bar + 1;
    const char *st_end = memchr(st, '|', (size_t)(e - st));
    if (!st_end)
        st_end = e;
    while (st < st_end && is_blank(*st))
        st++;
    size_t n = state_name_len(st, (size_t)(st_end - st));
    if (n == 0)
        return line_fail(s, e, lineno, err, errlen, "no state after the job id");
    out->state = state_parse_n(st, n);
    copy_cut(out->state_name, sizeof out->state_name, st, st + n);
    if (st_end < e)
        copy_cut(out->reason, sizeof out->reason, st_end + 1, e);
    return 0;
}

ssize_t mt_slurm_parse_squeue(const char *out, mt_slurm_job_line_t **lines, char *err, size_t errlen)
{
    if (!lines)
        return -EINVAL;
    *lines = NULL;
    if (!out)
        return 0;
    mt_slurm_job_line_t *v = NULL;
    size_t count = 0, cap = 0;
    int lineno = 0;
    for (const char *line = out; *line;) {
        const char *nl = strchr(line, '\n');
        const char *e = nl ? nl : line + strlen(line);
        const char *s = line;
        lineno++;
        line = nl ? nl + 1 : e;
        while (s < e && is_blank(*s))
            s++;
        while (e > s && is_blank(e[-1]))
            e--;
        if (s == e)
            continue;
        if (count == cap) {
            cap = cap ? 2 * cap : 16;
            v = mt_realloc(v, cap * sizeof *v);
        }
        int rc = parse_job_line(s, e, lineno, &v[count], err, errlen);
        if (rc < 0) {
            free(v);
            return rc;
        }
        count++;
    }
    *lines = v;
    return (ssize_t)count;
}

/* ------------------------------------------------------------------ */
/* nativeSpecification -> words                                        */
/* ------------------------------------------------------------------ */

typedef struct word_buf {
    char **words;
    size_t count, cap;
    char *cur;        /* the word being read, or NULL between words */
    size_t len, size;
} word_buf_t;

static void word_put(word_buf_t *b, char c)
{
    if (!b->cur || b->len + 1 >= b->size) {
        b->size = b->size ? 2 * b->size : 32;
        b->cur = mt_realloc(b->cur, b->size);
    }
    b->cur[b->len++] = c;
    b->cur[b->len] = '\0';
}

/* Start a word (an empty one exists once a quote opens). */
static void word_begin(word_buf_t *b)
{
    if (!b->cur) {
        b->size = 32;
        b->cur = mt_malloc(b->size);
        b->cur[0] = '\0';
        b->len = 0;
    }
}

static void word_end(word_buf_t *b)
{
    if (!b->cur)
        return;
    if (b->count + 1 >= b->cap) {
        b->cap = b->cap ? 2 * b->cap : 8;
        b->words = mt_realloc(b->words, b->cap * sizeof *b->words);
    }
    b->words[b->count++] = b->cur;
    b->words[b->count] = NULL;
    b->cur = NULL;
    b->len = b->size = 0;
}

static int split_fail(const char *spec, char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* -EINVAL, err "nativeSpecification 'SPEC': WHY" on one line (the spec's control characters as spaces, cut at 200). */
static int split_fail(const char *spec, char *err, size_t errlen, const char *fmt, ...)
{
    char shown[201], why[160];
    size_t n = strlen(spec);
    if (n > sizeof shown - 1)
        n = sizeof shown - 1;
    for (size_t i = 0; i < n; i++)
        shown[i] = iscntrl((unsigned char)spec[i]) ? ' ' : spec[i];
    shown[n] = '\0';
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    return mt_message_fail_rc(err, errlen, -EINVAL, "nativeSpecification '%s%s': %s", shown, strlen(spec) > n ? "..." : "", why);
}

int mt_slurm_split_words(const char *spec, char ***words, char *err, size_t errlen)
{
    if (!words)
        return -EINVAL;
    *words = NULL;
    word_buf_t b = {0};
    b.cap = 8;
    b.words = mt_calloc(b.cap, sizeof *b.words);
    const char *p = spec ? spec : "";
    while (*p) {
        char c = *p;
        if (c == ' ' || c == '\t' || c == '\n') {
            word_end(&b);
            p++;
        } else if (c == '\\') {
            if (p[1] == '\0') {
                free(b.cur);
                mt_slurm_words_free(b.words);
                return split_fail(spec, err, errlen, "a backslash at the end escapes nothing");
            }
            if (p[1] != '\n') {
                word_begin(&b);
                word_put(&b, p[1]);
            }
            p += 2;
        } else if (c == '\'') {
            const char *close = strchr(p + 1, '\'');
            if (!close) {
                free(b.cur);
                mt_slurm_words_free(b.words);
                return split_fail(spec, err, errlen, "the single quote at offset %zu is never closed", (size_t)(p - spec));
            }
            word_begin(&b);
            for (const char *q = p + 1; q < close; q++)
                word_put(&b, *q);
            p = close + 1;
        } else if (c == '"') {
            const char *open = p++;
            word_begin(&b);
            while (*p && *p != '"') {
                if (*p == '\\' && p[1] && strchr("$`\"\\\n", p[1])) {
                    if (p[1] != '\n')
                        word_put(&b, p[1]);
                    p += 2;
                } else {
                    word_put(&b, *p++);
                }
            }
            if (*p != '"') {
                free(b.cur);
                mt_slurm_words_free(b.words);
                return split_fail(spec, err, errlen, "the double quote at offset %zu is never closed",
                                  (size_t)(open - spec));
            }
            p++;
        } else {
            word_begin(&b);
            word_put(&b, c);
            p++;
        }
    }
    word_end(&b);
    *words = b.words;
    return 0;
}

void mt_slurm_words_free(char **words)
{
    if (!words)
        return;
    for (char **w = words; *w; w++)
        free(*w);
    free(words);
}
