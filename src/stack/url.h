/*
 * url: percent-decoding of request paths and query components.
 */
#ifndef MT_URL_H
#define MT_URL_H

#include <stddef.h>

/* Value of a hex digit, or -1. */
int mt_url_hex_digit(char c);

/*
 * Decode the next byte of a form-encoded query component at *p and advance
 * *p past it: '+' is a space, "%XX" its byte, a malformed escape is taken
 * literally. *p must not point at the terminating NUL.
 */
char mt_url_form_next(const char **p);

/*
 * Percent-decode a path into out (outlen bytes, NUL-terminated); '+' stays
 * '+'. Returns 0, -EACCES for a bad escape or an encoded NUL, -ENOENT if
 * the result does not fit (no file has such a name).
 */
int mt_url_decode_path(const char *src, char *out, size_t outlen);

/*
 * Copy a query string (without '?') with the value of every parameter
 * named `name` -- names compared once decoded, as the request API reads
 * them, so "k%65y" is "key" too -- replaced by `mask`, for logging a
 * request without its secrets. Like snprintf: returns the length of the
 * whole result and writes at most outlen - 1 bytes of it, NUL-terminated
 * when outlen > 0 (out may be NULL when outlen is 0).
 */
size_t mt_url_redact_param(const char *query, const char *name, const char *mask, char *out, size_t outlen);

#endif
