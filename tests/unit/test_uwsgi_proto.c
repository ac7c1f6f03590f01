/*
 * Tests of the uwsgi packet decoder (src/stack/uwsgi_proto.c): the header,
 * the vars block's framing (every way a length can run past the end), the
 * request vars it requires and refuses, header names, and the request
 * target built from REQUEST_URI or PATH_INFO + QUERY_STRING.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "stack/uwsgi_proto.h"

/* A vars block built in a test. */
typedef struct vars {
    unsigned char data[4096];
    size_t len;
} vars_t;

static void put16(vars_t *v, size_t n)
{
    v->data[v->len++] = (unsigned char)(n & 0xff);
    v->data[v->len++] = (unsigned char)(n >> 8);
}

static void add_n(vars_t *v, const char *key, const char *value, size_t value_len)
{
    put16(v, strlen(key));
    memcpy(v->data + v->len, key, strlen(key));
    v->len += strlen(key);
    put16(v, value_len);
    memcpy(v->data + v->len, value, value_len);
    v->len += value_len;
}

static void add(vars_t *v, const char *key, const char *value)
{
    add_n(v, key, value, strlen(value));
}

static int parse(const vars_t *v, mt_uwsgi_request_t *r, char *err)
{
    return mt_uwsgi_request_parse(v->data, v->len, r, err, 256);
}

static bool span_is(mt_uwsgi_span_t s, const char *want)
{
    return s.ptr != NULL && s.len == strlen(want) && memcmp(s.ptr, want, s.len) == 0;
}

Test(uwsgi_proto, header_is_little_endian_and_needs_four_bytes)
{
    const unsigned char p[] = {0, 0x34, 0x12, 7};
    mt_uwsgi_header_t h;
    cr_assert_eq(mt_uwsgi_header_decode(p, 3, &h), -EAGAIN);
    cr_assert_eq(mt_uwsgi_header_decode(p, 4, &h), 0);
    cr_assert_eq(h.modifier1, 0);
    cr_assert_eq(h.datasize, 0x1234);
    cr_assert_eq(h.modifier2, 7);
}

Test(uwsgi_proto, a_request_as_nginx_sends_it)
{
    vars_t v = {0};
    add(&v, "QUERY_STRING", "state=ok&limit=2");
    add(&v, "REQUEST_METHOD", "POST");
    add(&v, "CONTENT_TYPE", "application/json");
    add(&v, "CONTENT_LENGTH", "17");
    add(&v, "REQUEST_URI", "/api/jobs?state=ok&limit=2");
    add(&v, "PATH_INFO", "/api/jobs");
    add(&v, "SERVER_PROTOCOL", "HTTP/1.1");
    add(&v, "REMOTE_ADDR", "10.0.0.1");
    add(&v, "HTTP_HOST", "galaxy.example.org");
    add(&v, "HTTP_X_API_KEY", "secret");
    add(&v, "HTTP_CONTENT_LENGTH", "17");
    mt_uwsgi_request_t r;
    char err[256] = "";
    cr_assert_eq(parse(&v, &r, err), 0, "%s", err);
    cr_assert(span_is(r.method, "POST"));
    cr_assert(span_is(r.uri, "/api/jobs?state=ok&limit=2"));
    cr_assert(span_is(r.path_info, "/api/jobs"));
    cr_assert(span_is(r.query, "state=ok&limit=2"));
    cr_assert_eq(r.content_length, 17);
    cr_assert_eq(r.header_count, 4, "CONTENT_TYPE, CONTENT_LENGTH, HTTP_HOST, HTTP_X_API_KEY: got %zu", r.header_count);
    char target[128];
    cr_assert_eq(mt_uwsgi_target(&r, target, sizeof target), strlen("/api/jobs?state=ok&limit=2"));
    cr_assert_str_eq(target, "/api/jobs?state=ok&limit=2");
}

Test(uwsgi_proto, empty_content_length_means_no_body)
{
    vars_t v = {0};
    add(&v, "REQUEST_METHOD", "GET");
    add(&v, "REQUEST_URI", "/api/health");
    add(&v, "CONTENT_LENGTH", "");
    mt_uwsgi_request_t r;
    char err[256];
    cr_assert_eq(parse(&v, &r, err), 0, "%s", err);
    cr_assert_eq(r.content_length, 0);
    cr_assert(span_is(r.query, "") == false && r.query.ptr == NULL);
}

Test(uwsgi_proto, path_info_is_encoded_again_and_joined_with_the_query)
{
    vars_t v = {0};
    add(&v, "REQUEST_METHOD", "GET");
    add(&v, "PATH_INFO", "/static/a b%?#\x01\xc3\xa9.txt");
    add(&v, "QUERY_STRING", "x=1");
    mt_uwsgi_request_t r;
    char err[256];
    cr_assert_eq(parse(&v, &r, err), 0, "%s", err);
    char target[128];
    size_t n = mt_uwsgi_target(&r, target, sizeof target);
    cr_assert_str_eq(target, "/static/a%20b%25%3F%23%01%C3%A9.txt?x=1");
    cr_assert_eq(n, strlen(target));
    /* Truncation is snprintf's: the full length, a NUL-terminated prefix. */
    char small[8];
    cr_assert_eq(mt_uwsgi_target(&r, small, sizeof small), n);
    cr_assert_str_eq(small, "/static");
}

Test(uwsgi_proto, absolute_form_request_uri_keeps_its_path)
{
    const char *cases[][2] = {
        {"http://example.org/api/health?x=1", "/api/health?x=1"},
        {"HTTPS://example.org:8443/a", "/a"},
        {"http://example.org", "/"},
        {"http://example.org?q", "/?q"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        vars_t v = {0};
        add(&v, "REQUEST_METHOD", "GET");
        add(&v, "REQUEST_URI", cases[i][0]);
        mt_uwsgi_request_t r;
        char err[256], target[128];
        cr_assert_eq(parse(&v, &r, err), 0, "%s: %s", cases[i][0], err);
        mt_uwsgi_target(&r, target, sizeof target);
        cr_assert_str_eq(target, cases[i][1]);
    }
}

Test(uwsgi_proto, header_names)
{
    char name[64];
    cr_assert_eq(mt_uwsgi_header_name("HTTP_X_API_KEY", 14, name, sizeof name), 9);
    cr_assert_str_eq(name, "X-Api-Key");
    cr_assert_eq(mt_uwsgi_header_name("CONTENT_TYPE", 12, name, sizeof name), 12);
    cr_assert_str_eq(name, "Content-Type");
    cr_assert_eq(mt_uwsgi_header_name("CONTENT_LENGTH", 14, name, sizeof name), 14);
    cr_assert_str_eq(name, "Content-Length");
    cr_assert_eq(mt_uwsgi_header_name("HTTP_CONTENT_TYPE", 17, name, sizeof name), 0);
    cr_assert_eq(mt_uwsgi_header_name("HTTP_CONTENT_LENGTH", 19, name, sizeof name), 0);
    cr_assert_eq(mt_uwsgi_header_name("REQUEST_METHOD", 14, name, sizeof name), 0);
    cr_assert_eq(mt_uwsgi_header_name("HTTP_", 5, name, sizeof name), 0);
    cr_assert_eq(mt_uwsgi_header_name("HTTP_HOST", 9, name, 4), -ENOSPC);
    cr_assert_eq(mt_uwsgi_header_name("HTTP_A:B", 8, name, sizeof name), -EINVAL);
    cr_assert_eq(mt_uwsgi_header_name("HTTP_A\0B", 8, NULL, 0), -EINVAL);
}

/* Every cut of a valid block that is not at a var boundary is a framing error naming an offset. */
Test(uwsgi_proto, every_truncation_inside_a_var_is_refused)
{
    vars_t v = {0};
    add(&v, "REQUEST_METHOD", "GET");
    add(&v, "REQUEST_URI", "/api/health");
    size_t boundaries[] = {0, 2 + 14 + 2 + 3, v.len};
    for (size_t cut = 0; cut <= v.len; cut++) {
        mt_uwsgi_request_t r;
        char err[256] = "";
        int rc = mt_uwsgi_request_parse(v.data, cut, &r, err, sizeof err);
        bool boundary = cut == boundaries[0] || cut == boundaries[1] || cut == boundaries[2];
        if (boundary) {
            cr_assert(cut == v.len ? rc == 0 : rc == -EBADMSG, "cut %zu: %d %s", cut, rc, err);
            continue;
        }
        cr_assert_eq(rc, -EBADMSG, "cut %zu accepted", cut);
        cr_assert(strstr(err, "offset") != NULL || strstr(err, "var") != NULL, "cut %zu: %s", cut, err);
        cr_assert(r.method.ptr == NULL, "a refused block leaves nothing behind");
    }
}

static void assert_refused(vars_t *v, const char *want)
{
    mt_uwsgi_request_t r;
    char err[256] = "";
    cr_assert_eq(parse(v, &r, err), -EBADMSG, "accepted, wanted: %s", want);
    cr_assert(strstr(err, want) != NULL, "message \"%s\" does not say \"%s\"", err, want);
}

Test(uwsgi_proto, refused_requests_name_the_var)
{
    vars_t v = {0};
    add(&v, "REQUEST_URI", "/x");
    assert_refused(&v, "no REQUEST_METHOD");

    v = (vars_t){0};
    add(&v, "REQUEST_METHOD", "GET");
    assert_refused(&v, "neither a REQUEST_URI nor a PATH_INFO");

    v = (vars_t){0};
    add(&v, "REQUEST_METHOD", "GE T");
    add(&v, "REQUEST_URI", "/x");
    assert_refused(&v, "REQUEST_METHOD: not an HTTP method");

    v = (vars_t){0};
    add(&v, "REQUEST_METHOD", "GET");
    add(&v, "REQUEST_METHOD", "POST");
    add(&v, "REQUEST_URI", "/x");
    assert_refused(&v, "REQUEST_METHOD: given twice");

    v = (vars_t){0};
    add(&v, "REQUEST_METHOD", "GET");
    add(&v, "REQUEST_URI", "x");
    assert_refused(&v, "REQUEST_URI: does not start with '/'");

    v = (vars_t){0};
    add(&v, "REQUEST_METHOD", "GET");
    add(&v, "REQUEST_URI", "/a b");
    assert_refused(&v, "REQUEST_URI: has a control byte or a space");

    v = (vars_t){0};
    add(&v, "REQUEST_METHOD", "GET");
    add_n(&v, "PATH_INFO", "/a\0b", 4);
    assert_refused(&v, "PATH_INFO: has a NUL byte");

    v = (vars_t){0};
    add(&v, "REQUEST_METHOD", "GET");
    add(&v, "REQUEST_URI", "/x");
    add(&v, "CONTENT_LENGTH", "12a");
    assert_refused(&v, "CONTENT_LENGTH: not a decimal number");

    v = (vars_t){0};
    add(&v, "REQUEST_METHOD", "GET");
    add(&v, "REQUEST_URI", "/x");
    add(&v, "CONTENT_LENGTH", "99999999999999999999999");
    assert_refused(&v, "CONTENT_LENGTH: not a decimal number");

    v = (vars_t){0};
    add(&v, "REQUEST_METHOD", "GET");
    add(&v, "REQUEST_URI", "/x");
    add(&v, "HTTP_X_EVIL", "a\r\nSet-Cookie: x");
    assert_refused(&v, "HTTP_X_EVIL: the header value has a NUL, CR or LF byte");

    v = (vars_t){0};
    add(&v, "REQUEST_METHOD", "GET");
    add(&v, "REQUEST_URI", "/x");
    add(&v, "HTTP_X:Y", "1");
    assert_refused(&v, "not a valid header name");
}

Test(uwsgi_proto, a_length_past_the_end_says_where)
{
    /* key length 0x0100 with only 3 bytes after it */
    const unsigned char p[] = {0x00, 0x01, 'a', 'b', 'c'};
    mt_uwsgi_request_t r;
    char err[256];
    cr_assert_eq(mt_uwsgi_request_parse(p, sizeof p, &r, err, sizeof err), -EBADMSG);
    cr_assert(strstr(err, "at offset 0 of 5: a key of 256 bytes runs past the end of the vars block") != NULL, "%s", err);
}

static int count_cb(const char *key, size_t key_len, const char *value, size_t value_len, void *data)
{
    (void)key, (void)key_len, (void)value, (void)value_len;
    return ++*(int *)data == 2 ? -EINTR : 0;
}

Test(uwsgi_proto, a_callback_error_stops_the_iteration)
{
    vars_t v = {0};
    add(&v, "A", "1");
    add(&v, "B", "2");
    add(&v, "C", "3");
    int calls = 0;
    char err[64];
    cr_assert_eq(mt_uwsgi_vars_each(v.data, v.len, count_cb, &calls, err, sizeof err), -EINTR);
    cr_assert_eq(calls, 2);
}
