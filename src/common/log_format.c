/*
 * log_format: rendering one log record as one line (see log_format.h).
 *
 * A %-style format is compiled once into an array of segments -- literal
 * text, or a field with its conversion -- and every check (field names,
 * conversions, flags) happens then, so that rendering, which runs for
 * every log line, is a walk over the segments writing straight into the
 * caller's buffer: no parsing, no allocation, no static buffers.
 *
 * Numeric conversions (d, i, f) go through snprintf with a C conversion
 * rebuilt at compile time from the validated flags, width and precision
 * ("%-05lld"). String conversions (s) are written here instead, for two
 * reasons: Python counts width and precision in characters, not bytes, so
 * "%(message).20s" must not cut a UTF-8 character in two; and control
 * characters from the record must become spaces on their way in.
 *
 * JSON lines are escaped by hand rather than built with jansson: that
 * needs no allocation, and knowing the exact escaped length of every
 * piece is what lets a long record be cut inside its message (then the
 * other strings, last first) while the line stays one valid JSON object.
 */
#include "common/log_format.h"

#include <assert.h>
#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/mem.h"

/* Largest width or precision a field may ask for: far beyond any sane line. */
#define FIELD_SIZE_MAX 4096
/* Room for asctime; a datefmt that expands beyond it is refused at compile time. */
#define ASCTIME_SIZE 256

typedef enum {
    KIND_STRING,
    KIND_INTEGER,
    KIND_REAL,
} field_kind_t;

typedef enum {
    FIELD_NAME,
    FIELD_LEVELNAME,
    FIELD_LEVELNO,
    FIELD_ASCTIME,
    FIELD_CREATED,
    FIELD_MSECS,
    FIELD_RELATIVE_CREATED,
    FIELD_PROCESS,
    FIELD_THREAD,
    FIELD_THREAD_NAME,
    FIELD_MESSAGE,
    FIELD_WORKER_ID,
    FIELD_MULE_ID,
    FIELD_SERVER_NAME,
    FIELD_POOL_NAME,
    FIELD_SERVER_ID,
} field_id_t;

typedef struct {
    const char *name; /* as written inside %(...) */
    field_id_t id;
    field_kind_t kind; /* which conversions suit it: s always, d/i integers, f reals */
} field_def_t;

static const field_def_t field_defs[] = {
    {"name", FIELD_NAME, KIND_STRING},
    {"module", FIELD_NAME, KIND_STRING},
    {"levelname", FIELD_LEVELNAME, KIND_STRING},
    {"levelno", FIELD_LEVELNO, KIND_INTEGER},
    {"asctime", FIELD_ASCTIME, KIND_STRING},
    {"created", FIELD_CREATED, KIND_REAL},
    {"msecs", FIELD_MSECS, KIND_INTEGER},
    {"relativeCreated", FIELD_RELATIVE_CREATED, KIND_REAL},
    {"process", FIELD_PROCESS, KIND_INTEGER},
    {"thread", FIELD_THREAD, KIND_INTEGER},
    {"threadName", FIELD_THREAD_NAME, KIND_STRING},
    {"message", FIELD_MESSAGE, KIND_STRING},
    {"worker_id", FIELD_WORKER_ID, KIND_INTEGER},
    {"mule_id", FIELD_MULE_ID, KIND_INTEGER},
    {"server_name", FIELD_SERVER_NAME, KIND_STRING},
    {"processName", FIELD_SERVER_NAME, KIND_STRING},
    {"pool_name", FIELD_POOL_NAME, KIND_STRING},
    {"server_id", FIELD_SERVER_ID, KIND_INTEGER},
};

enum {
    FLAG_LEFT = 1 << 0,  /* '-' */
    FLAG_ZERO = 1 << 1,  /* '0' */
    FLAG_SPACE = 1 << 2, /* ' ' */
    FLAG_PLUS = 1 << 3,  /* '+' */
    FLAG_ALT = 1 << 4,   /* '#' */
};

typedef struct {
    bool is_field;
    size_t text_offset;  /* literal: its bytes in the format's text */
    size_t text_len;
    field_id_t field;    /* field: which one */
    char conversion;     /* 's', 'd' or 'f' ('i' is stored as 'd') */
    bool left_align;     /* s: the '-' flag */
    int width;           /* s: in characters; -1 when not given */
    int precision;       /* s: in characters; -1 when not given */
    char c_spec[24];     /* d, f: the snprintf conversion, e.g. "%-05lld" or "%.3f" */
} segment_t;

struct mt_log_format {
    bool json;
    segment_t *segments;
    size_t segment_count;
    char *text;    /* literal text of all segments, "%%" already collapsed */
    char *datefmt; /* strftime format for asctime; NULL for Python's default */
};

/* The JSON format holds nothing, so one immutable instance serves every caller. */
static const mt_log_format_t json_format = {.json = true};

static const char *const python_level_names[] = {"DEBUG", "INFO", "NOTICE", "WARNING", "ERROR", "CRITICAL"};
static const int python_level_numbers[] = {10, 20, 25, 30, 40, 50};

#define LEVEL_COUNT (sizeof python_level_names / sizeof python_level_names[0])

const char *mt_log_level_python_name(mt_log_level_t level)
{
    if ((unsigned)level >= LEVEL_COUNT)
        return "NOTSET";
    return python_level_names[level];
}

int mt_log_level_python_number(mt_log_level_t level)
{
    if ((unsigned)level >= LEVEL_COUNT)
        return 0;
    return python_level_numbers[level];
}

/* ------------------------------------------------------------------ */
/* Compiling                                                           */
/* ------------------------------------------------------------------ */

static void set_error(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void set_error(char *err, size_t errlen, const char *fmt, ...)
{
    if (err == NULL || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    /* Pieces of the format (a field's name) may hold control characters: the message stays one line. */
    for (char *c = err; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            *c = ' ';
}

static const field_def_t *find_field(const char *name, size_t name_len)
{
    for (size_t i = 0; i < sizeof field_defs / sizeof field_defs[0]; i++) {
        if (strlen(field_defs[i].name) == name_len && memcmp(field_defs[i].name, name, name_len) == 0)
            return &field_defs[i];
    }
    return NULL;
}

static unsigned flag_bit(char c)
{
    switch (c) {
    case '-':
        return FLAG_LEFT;
    case '0':
        return FLAG_ZERO;
    case ' ':
        return FLAG_SPACE;
    case '+':
        return FLAG_PLUS;
    case '#':
        return FLAG_ALT;
    default:
        return 0;
    }
}

/*
 * Read the digits at *p into *out (at most FIELD_SIZE_MAX). Returns -1 when
 * the number is larger, leaving *p past the digits either way.
 */
static int parse_size(const char **p, int *out)
{
    long value = 0;
    bool too_large = false;
    while (isdigit((unsigned char)**p)) {
        if (!too_large)
            value = value * 10 + (**p - '0');
        if (value > FIELD_SIZE_MAX)
            too_large = true;
        (*p)++;
    }
    *out = (int)value;
    return too_large ? -1 : 0;
}

/*
 * The C conversion for a numeric field. Flags C leaves undefined for the
 * conversion ('#' with d) are dropped, as Python ignores them.
 */
static void build_c_spec(segment_t *seg, unsigned flags, int width, int precision)
{
    char *out = seg->c_spec;
    *out++ = '%';
    if (flags & FLAG_LEFT)
        *out++ = '-';
    if (flags & FLAG_ZERO)
        *out++ = '0';
    if (flags & FLAG_PLUS)
        *out++ = '+';
    if (flags & FLAG_SPACE)
        *out++ = ' ';
    if ((flags & FLAG_ALT) && seg->conversion == 'f')
        *out++ = '#';
    /* Both numbers are at most FIELD_SIZE_MAX: 4 digits each, the buffer holds them. */
    if (width >= 0)
        out += sprintf(out, "%d", width);
    if (precision >= 0)
        out += sprintf(out, ".%d", precision);
    strcpy(out, seg->conversion == 'f' ? "f" : "lld");
}

/*
 * strftime with the operator's datefmt, which is not a literal (hence the
 * pragma): strftime takes no arguments that could mismatch it, and what it
 * writes is bounded by size.
 */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
static size_t strftime_datefmt(char *out, size_t size, const char *datefmt, const struct tm *tm)
{
    return strftime(out, size, datefmt, tm);
}
#pragma GCC diagnostic pop

/*
 * Check that datefmt's expansion fits the asctime buffer, using a date
 * whose names are the longest in English (Wednesday, September).
 */
static int check_datefmt(const char *datefmt, char *err, size_t errlen)
{
    struct tm sample = {.tm_year = 126, .tm_mon = 8, .tm_mday = 30, .tm_wday = 3, .tm_yday = 272,
                        .tm_hour = 23, .tm_min = 59, .tm_sec = 59};
    char small[ASCTIME_SIZE];
    if (datefmt[0] == '\0' || strftime_datefmt(small, sizeof small, datefmt, &sample) > 0)
        return 0;
    char *large = mt_malloc(16 * ASCTIME_SIZE);
    size_t large_len = strftime_datefmt(large, 16 * ASCTIME_SIZE, datefmt, &sample);
    free(large);
    if (large_len == 0)
        return 0; /* expands to nothing at all, which is allowed */
    set_error(err, errlen, "datefmt expands to more than %d bytes", ASCTIME_SIZE - 1);
    return -1;
}

/*
 * Parse the field that starts at fmt[at] ("%(") into seg. Returns the
 * offset just past it, or 0 with err set.
 */
static size_t parse_field(const char *fmt, size_t at, segment_t *seg, char *err, size_t errlen)
{
    const char *name = fmt + at + 2;
    const char *close = strchr(name, ')');
    if (close == NULL) {
        set_error(err, errlen, "unterminated field at offset %zu (no ')' after '%%(')", at);
        return 0;
    }
    int name_len = (int)(close - name);
    const field_def_t *def = find_field(name, (size_t)name_len);
    if (def == NULL) {
        set_error(err, errlen, "unknown field '%.*s' at offset %zu", name_len > 64 ? 64 : name_len, name, at);
        return 0;
    }

    const char *p = close + 1;
    unsigned flags = 0;
    while (*p != '\0' && flag_bit(*p) != 0)
        flags |= flag_bit(*p++);
    int width = -1, precision = -1;
    if (*p == '*' || (*p == '.' && p[1] == '*')) {
        set_error(err, errlen, "field '%s' at offset %zu: '*' width or precision is not supported", def->name, at);
        return 0;
    }
    if (isdigit((unsigned char)*p) && parse_size(&p, &width) < 0) {
        set_error(err, errlen, "field '%s' at offset %zu: width larger than %d", def->name, at, FIELD_SIZE_MAX);
        return 0;
    }
    if (*p == '.') {
        p++;
        if (parse_size(&p, &precision) < 0) {
            set_error(err, errlen, "field '%s' at offset %zu: precision larger than %d", def->name, at,
                      FIELD_SIZE_MAX);
            return 0;
        }
    }

    char conversion = *p;
    if (conversion == '\0') {
        set_error(err, errlen, "field '%s' at offset %zu has no conversion type (expected s, d, i or f)", def->name,
                  at);
        return 0;
    }
    if (flag_bit(conversion) != 0) {
        set_error(err, errlen, "field '%s' at offset %zu: flag '%c' after the width or precision", def->name, at,
                  conversion);
        return 0;
    }
    if (conversion == '*') {
        set_error(err, errlen, "field '%s' at offset %zu: '*' width or precision is not supported", def->name, at);
        return 0;
    }
    if (conversion != 's' && conversion != 'd' && conversion != 'i' && conversion != 'f') {
        if (isprint((unsigned char)conversion))
            set_error(err, errlen, "field '%s' at offset %zu: unsupported conversion '%c' (expected s, d, i or f)",
                      def->name, at, conversion);
        else
            set_error(err, errlen,
                      "field '%s' at offset %zu: unsupported conversion byte 0x%02x (expected s, d, i or f)",
                      def->name, at, (unsigned char)conversion);
        return 0;
    }
    if (((conversion == 'd' || conversion == 'i') && def->kind != KIND_INTEGER) ||
        (conversion == 'f' && def->kind != KIND_REAL)) {
        set_error(err, errlen, "field '%s' cannot be shown with %%%c (at offset %zu; use %%s)", def->name,
                  conversion, at);
        return 0;
    }

    memset(seg, 0, sizeof *seg);
    seg->is_field = true;
    seg->field = def->id;
    seg->conversion = conversion == 'i' ? 'd' : conversion;
    seg->left_align = (flags & FLAG_LEFT) != 0;
    seg->width = width;
    seg->precision = precision;
    if (seg->conversion != 's')
        build_c_spec(seg, flags, width, precision);
    return (size_t)(p + 1 - fmt);
}

/* Append the literal text f->text[start, end) as a segment, if there is any. */
static void add_literal(mt_log_format_t *f, size_t start, size_t end)
{
    if (end == start)
        return;
    segment_t *seg = &f->segments[f->segment_count++];
    memset(seg, 0, sizeof *seg);
    seg->text_offset = start;
    seg->text_len = end - start;
}

/*
 * fmt NULL means Python's default, "%(message)s". Literal text is kept as
 * written (the operator chose it, tabs and colour escapes included), except
 * CR and LF, which would break the one-line rule and become spaces.
 */
mt_log_format_t *mt_log_format_compile(const char *fmt, const char *datefmt, char *err, size_t errlen)
{
    if (fmt == NULL)
        fmt = "%(message)s";
    if (datefmt != NULL && check_datefmt(datefmt, err, errlen) < 0)
        return NULL;

    size_t fmt_len = strlen(fmt);
    size_t percent_count = 0;
    for (const char *p = fmt; (p = strchr(p, '%')) != NULL; p++)
        percent_count++;

    mt_log_format_t *f = mt_calloc(1, sizeof *f);
    /* Each '%' ends at most one literal and starts at most one field. */
    f->segments = mt_calloc(2 * percent_count + 1, sizeof *f->segments);
    f->text = mt_malloc(fmt_len + 1);
    f->datefmt = datefmt != NULL ? mt_strdup(datefmt) : NULL;

    size_t text_len = 0, literal_start = 0;
    size_t i = 0;
    while (fmt[i] != '\0') {
        if (fmt[i] != '%') {
            f->text[text_len++] = (fmt[i] == '\n' || fmt[i] == '\r') ? ' ' : fmt[i];
            i++;
            continue;
        }
        if (fmt[i + 1] == '%') {
            f->text[text_len++] = '%';
            i += 2;
            continue;
        }
        if (fmt[i + 1] != '(') {
            set_error(err, errlen, "lone '%%' at offset %zu (write %%%% for a literal '%%', %%(field)s for a field)",
                      i);
            goto error;
        }
        add_literal(f, literal_start, text_len);
        literal_start = text_len;
        size_t next = parse_field(fmt, i, &f->segments[f->segment_count], err, errlen);
        if (next == 0)
            goto error;
        f->segment_count++;
        i = next;
    }
    add_literal(f, literal_start, text_len);
    f->text[text_len] = '\0';
    return f;

error:
    mt_log_format_free(f);
    return NULL;
}

mt_log_format_t *mt_log_format_json(void)
{
    /* Immutable and never freed (mt_log_format_free ignores it); the cast drops a const no one writes through. */
    return (mt_log_format_t *)&json_format;
}

void mt_log_format_free(mt_log_format_t *f)
{
    if (f == NULL || f == &json_format)
        return;
    free(f->segments);
    free(f->text);
    free(f->datefmt);
    free(f);
}

/* ------------------------------------------------------------------ */
/* Rendering: helpers                                                  */
/* ------------------------------------------------------------------ */

/* Bytes go into buf[0, limit); the caller keeps two more for '\n' and NUL. */
typedef struct {
    char *buf;
    size_t limit;
    size_t len;
    bool truncated; /* something did not fit: the rest of the line is dropped */
} line_writer_t;

static bool is_utf8_continuation(unsigned char c)
{
    return (c & 0xC0) == 0x80;
}

static bool is_control(unsigned char c)
{
    return c < 0x20 || c == 0x7F;
}

static void put_bytes(line_writer_t *w, const char *src, size_t n)
{
    size_t room = w->limit - w->len;
    if (n > room) {
        n = room;
        w->truncated = true;
    }
    memcpy(w->buf + w->len, src, n);
    w->len += n;
}

/* Copy n bytes, control characters turned into spaces. */
static void put_sanitized(line_writer_t *w, const char *src, size_t n)
{
    size_t room = w->limit - w->len;
    if (n > room) {
        n = room;
        w->truncated = true;
    }
    char *out = w->buf + w->len;
    for (size_t i = 0; i < n; i++)
        out[i] = is_control((unsigned char)src[i]) ? ' ' : src[i];
    w->len += n;
}

static void put_spaces(line_writer_t *w, size_t n)
{
    size_t room = w->limit - w->len;
    if (n > room) {
        n = room;
        w->truncated = true;
    }
    memset(w->buf + w->len, ' ', n);
    w->len += n;
}

/* Account for an snprintf into the writer that wanted `wanted` bytes. */
static void advance_after_snprintf(line_writer_t *w, int wanted)
{
    size_t room = w->limit - w->len;
    if (wanted < 0)
        return;
    if ((size_t)wanted > room) {
        w->len += room;
        w->truncated = true;
    } else {
        w->len += (size_t)wanted;
    }
}

/*
 * The c_spec strings are not literals, but each was built by build_c_spec
 * from validated parts and has exactly one conversion of the type passed.
 */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
static void put_integer(line_writer_t *w, const char *c_spec, long long value)
{
    advance_after_snprintf(w, snprintf(w->buf + w->len, w->limit - w->len + 1, c_spec, value));
}

static void put_real(line_writer_t *w, const char *c_spec, double value)
{
    advance_after_snprintf(w, snprintf(w->buf + w->len, w->limit - w->len + 1, c_spec, value));
}
#pragma GCC diagnostic pop

/*
 * A string field: width and precision count characters (UTF-8 sequences),
 * as Python counts them, and control characters become spaces.
 */
static void put_string_field(line_writer_t *w, const segment_t *seg, const char *s)
{
    size_t shown_bytes = 0, shown_chars = 0;
    for (; s[shown_bytes] != '\0'; shown_bytes++) {
        if (is_utf8_continuation((unsigned char)s[shown_bytes]))
            continue;
        if (seg->precision >= 0 && shown_chars == (size_t)seg->precision)
            break;
        shown_chars++;
    }
    size_t pad = seg->width > 0 && (size_t)seg->width > shown_chars ? (size_t)seg->width - shown_chars : 0;
    if (!seg->left_align)
        put_spaces(w, pad);
    put_sanitized(w, s, shown_bytes);
    if (seg->left_align)
        put_spaces(w, pad);
}

/* A line cut at the buffer's end may end inside a UTF-8 sequence: drop that partial character. */
static size_t trim_partial_utf8(const char *buf, size_t len)
{
    size_t start = len;
    int continuation_count = 0;
    while (start > 0 && continuation_count < 3 && is_utf8_continuation((unsigned char)buf[start - 1])) {
        start--;
        continuation_count++;
    }
    if (start == 0)
        return len;
    unsigned char lead = (unsigned char)buf[start - 1];
    size_t needed = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
    if (needed > 1 && len - (start - 1) < needed)
        return start - 1;
    return len;
}

/* Split microseconds since the epoch into seconds and microseconds, rounding down (also before 1970). */
static void split_time_us(int64_t time_us, time_t *seconds, long *micros)
{
    int64_t s = time_us / 1000000;
    int64_t us = time_us % 1000000;
    if (us < 0) {
        us += 1000000;
        s -= 1;
    }
    *seconds = (time_t)s;
    *micros = (long)us;
}

/* Python's str(float): the shortest text that reads back as the same double. */
static void format_python_float(double value, char *out, size_t size)
{
    if (isfinite(value) && value == floor(value) && fabs(value) < 1e16) {
        snprintf(out, size, "%.1f", value);
        return;
    }
    for (int precision = 1; precision <= 17; precision++) {
        snprintf(out, size, "%.*g", precision, value);
        if (strtod(out, NULL) == value)
            return;
    }
}

/* What a render needs besides the record: asctime, computed at most once and only when used. */
typedef struct {
    const mt_log_format_t *format;
    const mt_log_record_t *record;
    bool have_asctime;
    char asctime[ASCTIME_SIZE];
} render_context_t;

static const char *asctime_of(render_context_t *ctx)
{
    if (ctx->have_asctime)
        return ctx->asctime;
    time_t seconds;
    long micros;
    split_time_us(ctx->record->time_us, &seconds, &micros);
    struct tm tm;
    if (localtime_r(&seconds, &tm) == NULL)
        memset(&tm, 0, sizeof tm);
    if (ctx->format->datefmt != NULL) {
        if (strftime_datefmt(ctx->asctime, sizeof ctx->asctime, ctx->format->datefmt, &tm) == 0)
            ctx->asctime[0] = '\0';
    } else {
        size_t n = strftime(ctx->asctime, sizeof ctx->asctime, "%Y-%m-%d %H:%M:%S", &tm);
        snprintf(ctx->asctime + n, sizeof ctx->asctime - n, ",%03ld", micros / 1000);
    }
    ctx->have_asctime = true;
    return ctx->asctime;
}

static long long integer_value(const mt_log_record_t *r, field_id_t field)
{
    switch (field) {
    case FIELD_LEVELNO:
        return mt_log_level_python_number(r->level);
    case FIELD_MSECS: {
        time_t seconds;
        long micros;
        split_time_us(r->time_us, &seconds, &micros);
        return micros / 1000;
    }
    case FIELD_PROCESS:
        return r->pid;
    case FIELD_THREAD:
        return r->thread_id;
    case FIELD_WORKER_ID:
        return r->worker_id;
    case FIELD_MULE_ID:
        return r->mule_id;
    case FIELD_SERVER_ID:
        return r->server_id;
    default:
        assert(!"not an integer field");
        return 0;
    }
}

static double real_value(const mt_log_record_t *r, field_id_t field)
{
    switch (field) {
    case FIELD_CREATED:
        return (double)r->time_us / 1e6;
    case FIELD_RELATIVE_CREATED:
        return (double)(r->time_us - r->start_us) / 1e3;
    default:
        assert(!"not a real field");
        return 0;
    }
}

static const char *or_empty(const char *s)
{
    return s != NULL ? s : "";
}

/* The text of any field, as %s shows it; numbers are written into scratch. */
static const char *string_value(render_context_t *ctx, field_id_t field, char *scratch, size_t scratch_size)
{
    const mt_log_record_t *r = ctx->record;
    switch (field) {
    case FIELD_NAME:
        return or_empty(r->logger);
    case FIELD_LEVELNAME:
        return mt_log_level_python_name(r->level);
    case FIELD_ASCTIME:
        return asctime_of(ctx);
    case FIELD_THREAD_NAME:
        return or_empty(r->thread_name);
    case FIELD_MESSAGE:
        return or_empty(r->message);
    case FIELD_SERVER_NAME:
        return or_empty(r->server_name);
    case FIELD_POOL_NAME:
        return or_empty(r->pool_name);
    case FIELD_CREATED:
    case FIELD_RELATIVE_CREATED:
        format_python_float(real_value(r, field), scratch, scratch_size);
        return scratch;
    default:
        snprintf(scratch, scratch_size, "%lld", integer_value(r, field));
        return scratch;
    }
}

static size_t render_text(const mt_log_format_t *f, const mt_log_record_t *r, char *buf, size_t size)
{
    line_writer_t w = {.buf = buf, .limit = size - 2};
    render_context_t ctx = {.format = f, .record = r};
    char scratch[64];
    for (size_t i = 0; i < f->segment_count && !w.truncated; i++) {
        const segment_t *seg = &f->segments[i];
        if (!seg->is_field)
            put_bytes(&w, f->text + seg->text_offset, seg->text_len);
        else if (seg->conversion == 's')
            put_string_field(&w, seg, string_value(&ctx, seg->field, scratch, sizeof scratch));
        else if (seg->conversion == 'd')
            put_integer(&w, seg->c_spec, integer_value(r, seg->field));
        else
            put_real(&w, seg->c_spec, real_value(r, seg->field));
    }
    size_t len = w.truncated ? trim_partial_utf8(buf, w.len) : w.len;
    buf[len++] = '\n';
    buf[len] = '\0';
    return len;
}

/* ------------------------------------------------------------------ */
/* Rendering: JSON lines                                               */
/* ------------------------------------------------------------------ */

/*
 * Length of the valid UTF-8 sequence at p (1 to 4), or 0 if the bytes
 * there are not one (stray continuation, overlong form, surrogate, beyond
 * U+10FFFF, cut short by the terminating NUL).
 */
static size_t utf8_sequence_length(const unsigned char *p)
{
    unsigned char c = p[0];
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        return is_utf8_continuation(p[1]) ? 2 : 0;
    if (c >= 0xE0 && c <= 0xEF) {
        unsigned char low = c == 0xE0 ? 0xA0 : 0x80;
        unsigned char high = c == 0xED ? 0x9F : 0xBF;
        return p[1] >= low && p[1] <= high && is_utf8_continuation(p[2]) ? 3 : 0;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        unsigned char low = c == 0xF0 ? 0x90 : 0x80;
        unsigned char high = c == 0xF4 ? 0x8F : 0xBF;
        return p[1] >= low && p[1] <= high && is_utf8_continuation(p[2]) && is_utf8_continuation(p[3]) ? 4 : 0;
    }
    return 0;
}

/*
 * Writes JSON text into buf, or only counts it when buf is NULL (a dry
 * run, to measure the line before writing it).
 */
typedef struct {
    char *buf;
    size_t len;
} json_writer_t;

static void json_put(json_writer_t *w, const char *src, size_t n)
{
    if (w->buf != NULL)
        memcpy(w->buf + w->len, src, n);
    w->len += n;
}

static void json_put_str(json_writer_t *w, const char *s)
{
    json_put(w, s, strlen(s));
}

/*
 * Write s escaped as the inside of a JSON string, in at most budget bytes:
 * stops before the first character whose escaped form does not fit, so a
 * cut never splits an escape or a UTF-8 sequence. Invalid UTF-8 bytes
 * become U+FFFD, so the output is always valid JSON. Returns the bytes
 * written (or that would be).
 */
static size_t json_put_escaped(json_writer_t *w, const char *s, size_t budget)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    size_t used = 0;
    while (*p != '\0') {
        char escape[8];
        const char *piece = escape;
        size_t piece_len;
        size_t consumed = 1;
        if (*p == '"' || *p == '\\') {
            escape[0] = '\\';
            escape[1] = (char)*p;
            piece_len = 2;
        } else if (*p < 0x20) {
            const char *short_form = *p == '\n' ? "\\n" : *p == '\r' ? "\\r" : *p == '\t' ? "\\t"
                                   : *p == '\b' ? "\\b" : *p == '\f' ? "\\f" : NULL;
            if (short_form != NULL) {
                piece = short_form;
                piece_len = 2;
            } else {
                memcpy(escape, "\\u00", 4);
                escape[4] = hex[*p >> 4];
                escape[5] = hex[*p & 0xF];
                piece_len = 6;
            }
        } else {
            consumed = utf8_sequence_length(p);
            if (consumed == 0) {
                piece = "\\ufffd";
                piece_len = 6;
                consumed = 1;
            } else {
                piece = (const char *)p;
                piece_len = consumed;
            }
        }
        if (used + piece_len > budget)
            break;
        json_put(w, piece, piece_len);
        used += piece_len;
        p += consumed;
    }
    return used;
}

/* The record's strings in the order they are cut when the line is too long: the message first. */
enum { JSON_MESSAGE, JSON_THREAD, JSON_POOL_NAME, JSON_SERVER_NAME, JSON_LOGGER, JSON_STRING_COUNT };

typedef struct {
    char time[64];
    const char *level;
    int pid, worker_id, mule_id;
    const char *strings[JSON_STRING_COUNT];
    size_t budgets[JSON_STRING_COUNT]; /* most escaped bytes each string may take */
} json_line_t;

static void json_put_key_string(json_writer_t *w, const char *key, const char *value, size_t budget)
{
    json_put_str(w, key);
    json_put_escaped(w, value, budget);
    json_put(w, "\"", 1);
}

static void json_put_key_int(json_writer_t *w, const char *key, int value)
{
    char number[16];
    int n = snprintf(number, sizeof number, "%d", value);
    json_put_str(w, key);
    json_put(w, number, (size_t)n);
}

static void json_write_line(json_writer_t *w, const json_line_t *line)
{
    json_put_str(w, "{\"time\":\"");
    json_put_str(w, line->time);
    json_put_str(w, "\",\"level\":\"");
    json_put_str(w, line->level);
    json_put_key_string(w, "\",\"logger\":\"", line->strings[JSON_LOGGER], line->budgets[JSON_LOGGER]);
    json_put_key_int(w, ",\"pid\":", line->pid);
    json_put_key_int(w, ",\"worker_id\":", line->worker_id);
    json_put_key_int(w, ",\"mule_id\":", line->mule_id);
    json_put_key_string(w, ",\"server_name\":\"", line->strings[JSON_SERVER_NAME], line->budgets[JSON_SERVER_NAME]);
    json_put_key_string(w, ",\"pool_name\":\"", line->strings[JSON_POOL_NAME], line->budgets[JSON_POOL_NAME]);
    json_put_key_string(w, ",\"thread\":\"", line->strings[JSON_THREAD], line->budgets[JSON_THREAD]);
    json_put_key_string(w, ",\"message\":\"", line->strings[JSON_MESSAGE], line->budgets[JSON_MESSAGE]);
    json_put(w, "}", 1);
}

static size_t render_json(const mt_log_record_t *r, char *buf, size_t size)
{
    json_line_t line = {.level = mt_log_level_python_name(r->level), .pid = r->pid,
                        .worker_id = r->worker_id, .mule_id = r->mule_id};
    time_t seconds;
    long micros;
    split_time_us(r->time_us, &seconds, &micros);
    struct tm tm;
    if (gmtime_r(&seconds, &tm) == NULL)
        memset(&tm, 0, sizeof tm);
    size_t n = strftime(line.time, sizeof line.time, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(line.time + n, sizeof line.time - n, ".%06ldZ", micros);
    line.strings[JSON_MESSAGE] = or_empty(r->message);
    line.strings[JSON_THREAD] = or_empty(r->thread_name);
    line.strings[JSON_POOL_NAME] = or_empty(r->pool_name);
    line.strings[JSON_SERVER_NAME] = or_empty(r->server_name);
    line.strings[JSON_LOGGER] = or_empty(r->logger);

    /* The line with every string empty; what is left goes to the strings, the logger's first, the message's last. */
    json_writer_t counter = {0};
    json_write_line(&counter, &line);
    size_t limit = size - 2;
    if (counter.len > limit) {
        /* Not even the keys fit: the smallest valid object, or an empty line if not even that. */
        size_t len = 0;
        if (limit >= 2) {
            memcpy(buf, "{}", 2);
            len = 2;
        }
        buf[len++] = '\n';
        buf[len] = '\0';
        return len;
    }
    size_t left = limit - counter.len;
    for (int i = JSON_STRING_COUNT - 1; i >= 0; i--) {
        json_writer_t measure = {0};
        line.budgets[i] = json_put_escaped(&measure, line.strings[i], left);
        left -= line.budgets[i];
    }

    json_writer_t out = {.buf = buf};
    json_write_line(&out, &line);
    assert(out.len <= limit);
    buf[out.len++] = '\n';
    buf[out.len] = '\0';
    return out.len;
}

size_t mt_log_format_render(const mt_log_format_t *f, const mt_log_record_t *r, char *buf, size_t size)
{
    assert(size >= 2);
    if (f->json)
        return render_json(r, buf, size);
    return render_text(f, r, buf, size);
}
