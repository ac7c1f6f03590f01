/*
 * uwsgi_proto: decoding uwsgi packets (see uwsgi_proto.h).
 *
 * Every length comes from the peer, so each one is checked against the
 * bytes left before it is used; nothing is read outside [vars, vars + len).
 */
#include "stack/uwsgi_proto.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/message.h"

static uint16_t get_u16le(const unsigned char *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

int mt_uwsgi_header_decode(const void *buf, size_t len, mt_uwsgi_header_t *out)
{
    if (len < MT_UWSGI_HEADER_SIZE)
        return -EAGAIN;
    const unsigned char *p = buf;
    out->modifier1 = p[0];
    out->datasize = get_u16le(p + 1);
    out->modifier2 = p[3];
    return 0;
}

int mt_uwsgi_vars_each(const void *vars, size_t len, mt_uwsgi_var_cb cb, void *data, char *err, size_t errlen)
{
    const unsigned char *base = vars, *p = base, *end = base + len;
    while (p < end) {
        size_t at = (size_t)(p - base);
        if (end - p < 2) {
            snprintf(err, errlen, "at offset %zu of %zu: a key length is cut by the end of the vars block", at, len);
            mt_message_one_line(err, errlen); /* a key may hold any byte */
            return -EBADMSG;
        }
        size_t key_len = get_u16le(p);
        p += 2;
        if ((size_t)(end - p) < key_len) {
            snprintf(err, errlen, "at offset %zu of %zu: a key of %zu bytes runs past the end of the vars block",
                     at, len, key_len);
            mt_message_one_line(err, errlen); /* a key may hold any byte */
            return -EBADMSG;
        }
        const char *key = (const char *)p;
        p += key_len;
        if (end - p < 2) {
            snprintf(err, errlen, "at offset %zu: the value length of var '%.*s' is cut by the end of the vars block",
                     at, (int)(key_len < 64 ? key_len : 64), key);
            mt_message_one_line(err, errlen); /* a key may hold any byte */
            return -EBADMSG;
        }
        size_t value_len = get_u16le(p);
        p += 2;
        if ((size_t)(end - p) < value_len) {
            snprintf(err, errlen, "at offset %zu: the value of var '%.*s' (%zu bytes) runs past the end of the vars block",
                     at, (int)(key_len < 64 ? key_len : 64), key, value_len);
            mt_message_one_line(err, errlen); /* a key may hold any byte */
            return -EBADMSG;
        }
        const char *value = (const char *)p;
        p += value_len;
        int rc = cb(key, key_len, value, value_len, data);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static bool key_is(const char *key, size_t key_len, const char *name)
{
    return key_len == strlen(name) && memcmp(key, name, key_len) == 0;
}

static bool is_tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static bool all_tchars(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!is_tchar((unsigned char)s[i]))
            return false;
    return true;
}

/* No control byte, no space, no DEL (a request target or a query as it travels in a request line). */
static bool all_visible(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] == 0x7f)
            return false;
    return true;
}

int mt_uwsgi_header_name(const char *key, size_t key_len, char *out, size_t outlen)
{
    const char *name;
    size_t name_len;
    if (key_is(key, key_len, "CONTENT_TYPE") || key_is(key, key_len, "CONTENT_LENGTH")) {
        name = key;
        name_len = key_len;
    } else if (key_len > 5 && memcmp(key, "HTTP_", 5) == 0) {
        name = key + 5;
        name_len = key_len - 5;
        if (key_is(name, name_len, "CONTENT_TYPE") || key_is(name, name_len, "CONTENT_LENGTH"))
            return 0;
    } else {
        return 0;
    }
    if (!all_tchars(name, name_len))
        return -EINVAL;
    if (name_len + 1 > outlen)
        return -ENOSPC;
    bool word_start = true;
    for (size_t i = 0; i < name_len; i++) {
        char c = name[i];
        if (c == '_') {
            out[i] = '-';
            word_start = true;
            continue;
        }
        if (word_start && c >= 'a' && c <= 'z')
            c = (char)(c - 'a' + 'A');
        else if (!word_start && c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        out[i] = c;
        word_start = false;
    }
    out[name_len] = '\0';
    return (int)name_len;
}

typedef struct parse_state {
    mt_uwsgi_request_t *req;
    bool has_content_length;
    char *err;
    size_t errlen;
} parse_state_t;

static int bad_var(parse_state_t *st, const char *key, size_t key_len, const char *why)
{
    snprintf(st->err, st->errlen, "var %.*s: %s", (int)(key_len < 64 ? key_len : 64), key, why);
    mt_message_one_line(st->err, st->errlen);
    return -EBADMSG;
}

/* Store a var that may appear once. */
static int set_once(parse_state_t *st, mt_uwsgi_span_t *span, const char *key, size_t key_len, const char *value,
                    size_t value_len)
{
    if (span->ptr != NULL)
        return bad_var(st, key, key_len, "given twice");
    span->ptr = value_len > 0 ? value : key + key_len; /* non-NULL: present, even when empty */
    span->len = value_len;
    return 0;
}

static int parse_var_cb(const char *key, size_t key_len, const char *value, size_t value_len, void *data)
{
    parse_state_t *st = data;
    mt_uwsgi_request_t *req = st->req;
    if (key_is(key, key_len, "REQUEST_METHOD")) {
        if (value_len == 0 || value_len > MT_UWSGI_METHOD_MAX || !all_tchars(value, value_len))
            return bad_var(st, key, key_len, "not an HTTP method");
        return set_once(st, &req->method, key, key_len, value, value_len);
    }
    if (key_is(key, key_len, "REQUEST_URI")) {
        if (!all_visible(value, value_len))
            return bad_var(st, key, key_len, "has a control byte or a space");
        bool origin = value_len > 0 && value[0] == '/';
        bool absolute = (value_len >= 7 && strncasecmp(value, "http://", 7) == 0) ||
                        (value_len >= 8 && strncasecmp(value, "https://", 8) == 0);
        if (!origin && !absolute)
            return bad_var(st, key, key_len, "does not start with '/'");
        return set_once(st, &req->uri, key, key_len, value, value_len);
    }
    if (key_is(key, key_len, "PATH_INFO")) {
        if (value_len == 0 || value[0] != '/')
            return bad_var(st, key, key_len, "does not start with '/'");
        if (memchr(value, '\0', value_len) != NULL)
            return bad_var(st, key, key_len, "has a NUL byte");
        return set_once(st, &req->path_info, key, key_len, value, value_len);
    }
    if (key_is(key, key_len, "QUERY_STRING")) {
        if (!all_visible(value, value_len))
            return bad_var(st, key, key_len, "has a control byte or a space");
        return set_once(st, &req->query, key, key_len, value, value_len);
    }
    if (key_is(key, key_len, "CONTENT_LENGTH")) {
        if (st->has_content_length)
            return bad_var(st, key, key_len, "given twice");
        st->has_content_length = true;
        uint64_t n = 0;
        for (size_t i = 0; i < value_len; i++) {
            if (value[i] < '0' || value[i] > '9' || n > (UINT64_MAX - 9) / 10)
                return bad_var(st, key, key_len, "not a decimal number of bytes");
            n = n * 10 + (uint64_t)(value[i] - '0');
        }
        req->content_length = n;
    }
    int name_len = mt_uwsgi_header_name(key, key_len, NULL, 0); /* -ENOSPC: a header, whatever its length */
    if (name_len == 0)
        return 0;
    if (name_len == -EINVAL)
        return bad_var(st, key, key_len, "not a valid header name");
    for (size_t i = 0; i < value_len; i++)
        if (value[i] == '\0' || value[i] == '\r' || value[i] == '\n')
            return bad_var(st, key, key_len, "the header value has a NUL, CR or LF byte");
    req->header_count++;
    return 0;
}

int mt_uwsgi_request_parse(const void *vars, size_t len, mt_uwsgi_request_t *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    parse_state_t st = {.req = out, .err = err, .errlen = errlen};
    int rc = mt_uwsgi_vars_each(vars, len, parse_var_cb, &st, err, errlen);
    if (rc < 0) {
        memset(out, 0, sizeof *out);
        return rc;
    }
    if (out->method.ptr == NULL) {
        snprintf(err, errlen, "no REQUEST_METHOD var");
        memset(out, 0, sizeof *out);
        return -EBADMSG;
    }
    if (out->uri.ptr == NULL && out->path_info.ptr == NULL) {
        snprintf(err, errlen, "neither a REQUEST_URI nor a PATH_INFO var");
        memset(out, 0, sizeof *out);
        return -EBADMSG;
    }
    return 0;
}

/* Appends to out within outlen, counting every byte (snprintf-like). */
typedef struct writer {
    char *out;
    size_t cap;
    size_t len;
} writer_t;

static void put_byte(writer_t *w, char c)
{
    if (w->len + 1 < w->cap)
        w->out[w->len] = c;
    w->len++;
}

static void put_bytes(writer_t *w, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        put_byte(w, s[i]);
}

/* Bytes a path may carry as they are: unreserved, sub-delims, ':', '@', '/'. */
static bool path_safe(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != '\0' && strchr("-._~!$&'()*+,;=:@/", c) != NULL);
}

size_t mt_uwsgi_target(const mt_uwsgi_request_t *req, char *out, size_t outlen)
{
    writer_t w = {out, outlen, 0};
    if (req->uri.ptr != NULL) {
        const char *s = req->uri.ptr;
        size_t n = req->uri.len;
        if (n == 0 || s[0] != '/') {
            /* absolute-form: skip "scheme://authority" */
            size_t i = strncasecmp(s, "https://", n < 8 ? n : 8) == 0 && n >= 8 ? 8 : 7;
            while (i < n && s[i] != '/' && s[i] != '?')
                i++;
            if (i == n || s[i] == '?')
                put_byte(&w, '/');
            s += i;
            n -= i;
        }
        put_bytes(&w, s, n);
    } else {
        static const char hex[] = "0123456789ABCDEF";
        for (size_t i = 0; i < req->path_info.len; i++) {
            unsigned char c = (unsigned char)req->path_info.ptr[i];
            if (path_safe(c)) {
                put_byte(&w, (char)c);
            } else {
                put_byte(&w, '%');
                put_byte(&w, hex[c >> 4]);
                put_byte(&w, hex[c & 15]);
            }
        }
        if (req->query.len > 0) {
            put_byte(&w, '?');
            put_bytes(&w, req->query.ptr, req->query.len);
        }
    }
    if (outlen > 0)
        out[w.len < outlen ? w.len : outlen - 1] = '\0';
    return w.len;
}
