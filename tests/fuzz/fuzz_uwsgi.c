/*
 * fuzz_uwsgi: the uwsgi packet decoder (src/stack/uwsgi_proto.c) on
 * arbitrary packets: a 4-byte header, then the rest of the input as the
 * vars block (from a buffer of exactly its size, so ASan sees any read
 * past it).
 *
 * Checked against an oracle restated from the wire format:
 *   - the header decodes to the input's bytes (datasize little-endian),
 *     and fewer than 4 bytes are -EAGAIN;
 *   - mt_uwsgi_vars_each() succeeds exactly when the (u16 LE length,
 *     bytes) pairs chain to the end of the block, calls back once per var
 *     with spans inside the block, and otherwise gives -EBADMSG with a
 *     one-line message naming an offset;
 *   - mt_uwsgi_request_parse() fails on every framing error, and on
 *     success has a method that is a token of 1..32 bytes, a REQUEST_URI
 *     or a PATH_INFO inside the block, a header count equal to the vars
 *     mt_uwsgi_header_name() calls headers; its messages are one line;
 *   - mt_uwsgi_target() starts with '/', has no NUL, returns the same
 *     length whatever the buffer (a cut copy is a prefix), stays within the
 *     documented bound, and a target made from PATH_INFO percent-decodes
 *     back to PATH_INFO.
 */
#include <errno.h>
#include <string.h>

#include "fuzz.h"
#include "stack/uwsgi_proto.h"

static size_t get16(const uint8_t *p)
{
    return (size_t)p[0] | ((size_t)p[1] << 8);
}

/* The number of vars if the block frames exactly, else -1. */
static long oracle_vars(const uint8_t *p, size_t n)
{
    size_t at = 0;
    long count = 0;
    while (at < n) {
        for (int half = 0; half < 2; half++) {
            if (n - at < 2)
                return -1;
            size_t len = get16(p + at);
            at += 2;
            if (n - at < len)
                return -1;
            at += len;
        }
        count++;
    }
    return count;
}

typedef struct walk {
    const uint8_t *base;
    size_t len;
    long calls;
    size_t headers;
} walk_t;

static bool inside(const walk_t *w, const char *p, size_t n)
{
    return (const uint8_t *)p >= w->base && (const uint8_t *)p + n <= w->base + w->len;
}

static int walk_cb(const char *key, size_t key_len, const char *value, size_t value_len, void *data)
{
    walk_t *w = data;
    FUZZ_CHECK(inside(w, key, key_len) && inside(w, value, value_len), "a var's span is outside the block");
    FUZZ_CHECK(key + key_len <= value, "the value starts before the key ends");
    w->calls++;
    static char name[65536];
    int n = mt_uwsgi_header_name(key, key_len, name, sizeof name);
    FUZZ_CHECK(n == -EINVAL || (n >= 0 && (size_t)n <= key_len), "header name length %d for a key of %zu bytes", n,
               key_len);
    if (n > 0) {
        FUZZ_CHECK(strlen(name) == (size_t)n, "header name not NUL-terminated at its length");
        w->headers++;
    }
    return 0;
}

static void check_message(const char *err)
{
    FUZZ_CHECK(err[0] != '\0', "an error without a message");
    FUZZ_CHECK(strpbrk(err, "\r\n") == NULL, "a message of more than one line: %s", err);
}

static int unhex(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static void check_target(const mt_uwsgi_request_t *r)
{
    size_t n = mt_uwsgi_target(r, NULL, 0);
    size_t bound = r->uri.ptr != NULL ? r->uri.len + 1 : 3 * r->path_info.len + r->query.len + 2;
    FUZZ_CHECK(n <= bound, "target of %zu bytes over the bound %zu", n, bound);
    char *t = malloc(n + 1);
    FUZZ_CHECK(t != NULL, "out of memory");
    FUZZ_CHECK(mt_uwsgi_target(r, t, n + 1) == n, "length differs with a buffer");
    FUZZ_CHECK(strlen(t) == n, "a NUL inside the target");
    FUZZ_CHECK(n > 0 && t[0] == '/', "the target does not start with '/': %s", t);
    char cut[5];
    mt_uwsgi_target(r, cut, sizeof cut);
    FUZZ_CHECK(strncmp(cut, t, sizeof cut - 1) == 0 && strlen(cut) == (n < 4 ? n : 4), "a cut copy is no prefix");
    if (r->uri.ptr == NULL) {
        /* Decode the path part: it must give PATH_INFO back. */
        size_t qlen = r->query.len > 0 ? r->query.len + 1 : 0;
        size_t plen = n - qlen;
        char *dec = malloc(plen + 1);
        FUZZ_CHECK(dec != NULL, "out of memory");
        size_t d = 0;
        for (size_t i = 0; i < plen; i++) {
            FUZZ_CHECK(t[i] != '?' && t[i] != '#', "an unencoded '%c' in the path", t[i]);
            if (t[i] == '%') {
                FUZZ_CHECK(i + 2 < plen && unhex(t[i + 1]) >= 0 && unhex(t[i + 2]) >= 0, "a bad escape");
                dec[d++] = (char)(unhex(t[i + 1]) * 16 + unhex(t[i + 2]));
                i += 2;
            } else {
                dec[d++] = t[i];
            }
        }
        FUZZ_CHECK(d == r->path_info.len && memcmp(dec, r->path_info.ptr, d) == 0, "the path does not decode back");
        free(dec);
    }
    free(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mt_uwsgi_header_t h;
    int rc = mt_uwsgi_header_decode(data, size, &h);
    if (size < MT_UWSGI_HEADER_SIZE) {
        FUZZ_CHECK(rc == -EAGAIN, "a %zu-byte header decoded: %d", size, rc);
        return 0;
    }
    FUZZ_CHECK(rc == 0 && h.modifier1 == data[0] && h.datasize == get16(data + 1) && h.modifier2 == data[3],
               "header decoded wrong");

    size_t len = size - MT_UWSGI_HEADER_SIZE;
    uint8_t *vars = malloc(len ? len : 1);
    FUZZ_CHECK(vars != NULL, "out of memory");
    if (len > 0)
        memcpy(vars, data + MT_UWSGI_HEADER_SIZE, len);

    long want = oracle_vars(vars, len);
    walk_t w = {.base = vars, .len = len};
    char err[256];
    memset(err, 0, sizeof err);
    rc = mt_uwsgi_vars_each(vars, len, walk_cb, &w, err, sizeof err);
    FUZZ_CHECK((rc == 0) == (want >= 0), "vars_each says %d, the format says %ld", rc, want);
    if (rc == 0) {
        FUZZ_CHECK(w.calls == want, "%ld callbacks for %ld vars", w.calls, want);
    } else {
        FUZZ_CHECK(rc == -EBADMSG, "framing error %d", rc);
        check_message(err);
        FUZZ_CHECK(strstr(err, "offset") != NULL, "the message names no offset: %s", err);
    }

    mt_uwsgi_request_t r;
    memset(err, 0, sizeof err);
    int prc = mt_uwsgi_request_parse(vars, len, &r, err, sizeof err);
    if (prc != 0) {
        FUZZ_CHECK(prc == -EBADMSG, "parse error %d", prc);
        check_message(err);
        FUZZ_CHECK(r.method.ptr == NULL && r.header_count == 0, "a refused request left fields set");
    } else {
        FUZZ_CHECK(rc == 0, "a request parsed from a block that does not frame");
        FUZZ_CHECK(r.method.len >= 1 && r.method.len <= MT_UWSGI_METHOD_MAX && inside(&w, r.method.ptr, r.method.len),
                   "bad method span");
        for (size_t i = 0; i < r.method.len; i++)
            FUZZ_CHECK((unsigned char)r.method.ptr[i] > 0x20 && (unsigned char)r.method.ptr[i] < 0x7f,
                       "a method byte 0x%02x", (unsigned char)r.method.ptr[i]);
        FUZZ_CHECK(r.uri.ptr != NULL || r.path_info.ptr != NULL, "neither uri nor path_info");
        FUZZ_CHECK(r.uri.ptr == NULL || r.uri.len == 0 || inside(&w, r.uri.ptr, r.uri.len), "uri outside");
        FUZZ_CHECK(r.path_info.ptr == NULL || inside(&w, r.path_info.ptr, r.path_info.len), "path_info outside");
        FUZZ_CHECK(r.query.ptr == NULL || r.query.len == 0 || inside(&w, r.query.ptr, r.query.len), "query outside");
        FUZZ_CHECK(r.header_count == w.headers, "%zu headers counted, %zu vars are headers", r.header_count,
                   w.headers);
        check_target(&r);
    }
    free(vars);
    return 0;
}
