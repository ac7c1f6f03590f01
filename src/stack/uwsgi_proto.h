/*
 * uwsgi_proto: the uwsgi binary protocol, as a web server (nginx's
 * uwsgi_pass, Apache's mod_proxy_uwsgi) speaks it to an application server.
 *
 * A request is one packet and then its body:
 *
 *   modifier1  u8        0 for a request (nginx's uwsgi_modifier1 default)
 *   datasize   u16 LE    bytes of the vars block that follows
 *   modifier2  u8        0
 *   vars       datasize bytes: (u16 LE key length, key, u16 LE value length, value)...
 *   body       CONTENT_LENGTH bytes
 *
 * The vars are CGI's: REQUEST_METHOD, REQUEST_URI (or PATH_INFO and
 * QUERY_STRING), CONTENT_LENGTH, CONTENT_TYPE and one HTTP_* var per
 * request header. The answer is plain HTTP/1.x (status line, headers,
 * body) and the connection closes after it.
 *
 * This module only decodes bytes: no I/O, no allocation, nothing kept
 * between calls, so the unit tests and the fuzz driver
 * (tests/fuzz/fuzz_uwsgi.c) check it directly. The connection code
 * (http_conn.c) reads the packet, calls it, and turns the result into the
 * same request the HTTP parser produces.
 */
#ifndef MT_UWSGI_PROTO_H
#define MT_UWSGI_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MT_UWSGI_HEADER_SIZE 4
#define MT_UWSGI_METHOD_MAX  32 /* longest REQUEST_METHOD accepted */

/* The packet header. */
typedef struct mt_uwsgi_header {
    uint8_t modifier1;
    uint16_t datasize; /* bytes of vars after the header */
    uint8_t modifier2;
} mt_uwsgi_header_t;

/* Bytes of the input, not NUL-terminated; ptr NULL when the var was absent. */
typedef struct mt_uwsgi_span {
    const char *ptr;
    size_t len;
} mt_uwsgi_span_t;

/* What a request's vars say, pointing into the vars block. */
typedef struct mt_uwsgi_request {
    mt_uwsgi_span_t method;    /* REQUEST_METHOD: an HTTP token of 1..MT_UWSGI_METHOD_MAX bytes */
    mt_uwsgi_span_t uri;       /* REQUEST_URI: the request target as the client sent it */
    mt_uwsgi_span_t path_info; /* PATH_INFO: the path, already percent-decoded by the web server */
    mt_uwsgi_span_t query;     /* QUERY_STRING */
    uint64_t content_length;   /* CONTENT_LENGTH; 0 when absent or empty */
    size_t header_count;       /* vars that are request headers (mt_uwsgi_header_name() > 0) */
} mt_uwsgi_request_t;

/* Decode the 4-byte header at buf. Returns 0, or -EAGAIN when len < MT_UWSGI_HEADER_SIZE. */
int mt_uwsgi_header_decode(const void *buf, size_t len, mt_uwsgi_header_t *out);

/*
 * Call cb for each var of the vars block (len bytes at vars), in order.
 * Returns 0; -EBADMSG when a length runs past the end of the block, with
 * a one-line message in err naming the offset; or the first negative
 * value cb returned (iteration stops there).
 */
typedef int (*mt_uwsgi_var_cb)(const char *key, size_t key_len, const char *value, size_t value_len, void *data);
int mt_uwsgi_vars_each(const void *vars, size_t len, mt_uwsgi_var_cb cb, void *data, char *err, size_t errlen);

/*
 * Read a vars block as a request. Checks the framing and then: a
 * REQUEST_METHOD that is an HTTP token; a REQUEST_URI or a PATH_INFO,
 * starting with '/' (REQUEST_URI may also be absolute-form, http://host/...),
 * with no control byte, space or NUL (PATH_INFO: no NUL); a QUERY_STRING
 * without control bytes or spaces; a CONTENT_LENGTH of decimal digits (or
 * empty); each of these at most once; header vars with token names and
 * values without NUL, CR or LF. Other vars (SERVER_NAME, REMOTE_ADDR, ...)
 * are skipped. Returns 0, or -EBADMSG with a one-line message in err that
 * names the var at fault.
 */
int mt_uwsgi_request_parse(const void *vars, size_t len, mt_uwsgi_request_t *out, char *err, size_t errlen);

/*
 * The request header a var carries, written NUL-terminated to out:
 * HTTP_X_API_KEY -> "X-Api-Key", CONTENT_TYPE -> "Content-Type",
 * CONTENT_LENGTH -> "Content-Length". HTTP_CONTENT_TYPE and
 * HTTP_CONTENT_LENGTH give 0, as does any var that is no header: the
 * CONTENT_* vars are the web server's word on the body. Returns the name's
 * length, 0 for no header, -EINVAL for a name that is not an HTTP token
 * (checked first), or -ENOSPC if out is too small (out may then be NULL).
 */
int mt_uwsgi_header_name(const char *key, size_t key_len, char *out, size_t outlen);

/*
 * The request target, as an HTTP request line would carry it: REQUEST_URI
 * (from its path on, when absolute-form), else PATH_INFO percent-encoded
 * where it needs to be (it was decoded by the web server; '%' and '?'
 * among others are encoded again, so the path decodes back to itself)
 * followed by '?' and QUERY_STRING when that is not empty. Written
 * NUL-terminated to out (truncated if outlen is too small, like snprintf);
 * returns the full length. At most 3 * path_info.len + query.len + 2, or
 * uri.len + 1 bytes are needed.
 */
size_t mt_uwsgi_target(const mt_uwsgi_request_t *req, char *out, size_t outlen);

#endif
