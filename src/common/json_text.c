/*
 * json_text: JSON written straight to text (see json_text.h).
 */
#include "common/json_text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/decimal.h"
#include "common/mem.h"
#include "common/utf8.h"

void mt_json_text_init(mt_json_text_t *w, char *buf, size_t cap)
{
    *w = (mt_json_text_t){.data = buf, .cap = buf ? cap : 0};
}

void mt_json_text_free(mt_json_text_t *w)
{
    if (w->on_heap)
        free(w->data);
    w->data = NULL;
    w->len = w->cap = 0;
    w->on_heap = false;
}

static void reserve(mt_json_text_t *w, size_t more)
{
    if (w->len + more <= w->cap)
        return;
    size_t cap = w->cap ? w->cap : 256;
    while (cap < w->len + more)
        cap *= 2;
    if (w->on_heap) {
        w->data = mt_realloc(w->data, cap);
    } else {
        char *heap = mt_malloc(cap);
        if (w->len)
            memcpy(heap, w->data, w->len);
        w->data = heap;
        w->on_heap = true;
    }
    w->cap = cap;
}

static void put(mt_json_text_t *w, const char *s, size_t n)
{
    reserve(w, n);
    memcpy(w->data + w->len, s, n);
    w->len += n;
}

static void put_char(mt_json_text_t *w, char c)
{
    reserve(w, 1);
    w->data[w->len++] = c;
}

/* Before a value or a key: the comma that separates it from the previous one at this level. */
static void separate(mt_json_text_t *w)
{
    if (w->after_key) {
        w->after_key = false;
        return;
    }
    if (w->members[w->depth]++ > 0)
        put_char(w, ',');
}

static void open_level(mt_json_text_t *w, char c)
{
    separate(w);
    put_char(w, c);
    if (w->depth + 1 >= MT_JSON_TEXT_MAX_DEPTH) {
        w->failed = true;
        return;
    }
    w->members[++w->depth] = 0;
}

static void close_level(mt_json_text_t *w, char c)
{
    if (w->depth == 0 || w->after_key)
        w->failed = true;
    else
        w->depth--;
    put_char(w, c);
}

void mt_json_text_begin_object(mt_json_text_t *w)
{
    open_level(w, '{');
}

void mt_json_text_end_object(mt_json_text_t *w)
{
    close_level(w, '}');
}

void mt_json_text_begin_array(mt_json_text_t *w)
{
    open_level(w, '[');
}

void mt_json_text_end_array(mt_json_text_t *w)
{
    close_level(w, ']');
}

static void put_escaped(mt_json_text_t *w, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s);
    reserve(w, n + 2);
    put_char(w, '"');
    size_t i = 0;
    while (i < n) {
        /* The run of bytes that need nothing, copied at once. */
        size_t run = i;
        while (run < n && p[run] >= 0x20 && p[run] < 0x80 && p[run] != '"' && p[run] != '\\')
            run++;
        if (run > i) {
            put(w, s + i, run - i);
            i = run;
            continue;
        }
        unsigned char c = p[i];
        if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};
            put(w, esc, 2);
            i++;
        } else if (c < 0x20) {
            char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            if (c == '\n')
                put(w, "\\n", 2);
            else if (c == '\t')
                put(w, "\\t", 2);
            else if (c == '\r')
                put(w, "\\r", 2);
            else
                put(w, esc, 6);
            i++;
        } else {
            size_t len = mt_utf8_sequence(p + i, n - i);
            if (len == 0) {
                put(w, "\xef\xbf\xbd", 3); /* U+FFFD for a byte that starts no valid sequence */
                i++;
            } else {
                put(w, s + i, len);
                i += len;
            }
        }
    }
    put_char(w, '"');
}

void mt_json_text_key(mt_json_text_t *w, const char *key)
{
    if (w->depth == 0 || w->after_key)
        w->failed = true;
    separate(w);
    put_escaped(w, key);
    put_char(w, ':');
    w->after_key = true;
}

void mt_json_text_string(mt_json_text_t *w, const char *s)
{
    if (!s) {
        mt_json_text_null(w);
        return;
    }
    separate(w);
    put_escaped(w, s);
}

void mt_json_text_int(mt_json_text_t *w, int64_t v)
{
    separate(w);
    char buf[MT_DECIMAL_MAX];
    put(w, buf, mt_decimal_i64(buf, v));
}

void mt_json_text_int_string(mt_json_text_t *w, int64_t v)
{
    separate(w);
    char buf[MT_DECIMAL_MAX + 2];
    buf[0] = '"';
    size_t n = 1 + mt_decimal_i64(buf + 1, v);
    buf[n++] = '"';
    put(w, buf, n);
}

void mt_json_text_null(mt_json_text_t *w)
{
    separate(w);
    put(w, "null", 4);
}

static int append_cb(const char *buffer, size_t size, void *data)
{
    put(data, buffer, size);
    return 0;
}

void mt_json_text_value(mt_json_text_t *w, const json_t *v)
{
    if (!v) {
        mt_json_text_null(w);
        return;
    }
    separate(w);
    if (json_dump_callback(v, append_cb, w, JSON_COMPACT | JSON_ENCODE_ANY) != 0)
        w->failed = true;
}

bool mt_json_text_ok(const mt_json_text_t *w)
{
    return !w->failed && w->depth == 0 && !w->after_key && w->members[0] > 0;
}
