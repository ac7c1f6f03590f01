/*
 * values: the small checks and conversions the tool and workflow readers
 * share -- names and ids, decimal numbers, JSON value kinds, a growing
 * string, and a value quoted for a one-line error message -- so that a
 * tool file and a workflow file accept and report the same things the
 * same way; and the one parser of job and invocation ids, used wherever
 * such an id comes in (URLs, data inputs, handler messages).
 */
#ifndef MT_VALUES_H
#define MT_VALUES_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Bytes of a value quoted in an error message, and the buffer mt_value_quote needs. */
#define MT_VALUE_QUOTE_MAX 64
#define MT_VALUE_QUOTE_BUF (MT_VALUE_QUOTE_MAX * 4 + 8)

/*
 * `value` (len bytes) fit for a one-line message: control bytes escaped,
 * at most MT_VALUE_QUOTE_MAX bytes of it (cut at a character boundary) and
 * "..." if cut, into out (MT_VALUE_QUOTE_BUF bytes). Returns out.
 */
const char *mt_value_quote(const char *value, size_t len, char *out);


/* [A-Za-z_][A-Za-z0-9_]*, at most maxlen bytes: input and variable names. */
bool mt_value_is_name(const char *s, size_t maxlen);

/* [A-Za-z0-9][A-Za-z0-9._-]*, at most maxlen bytes: tool, workflow and step ids. */
bool mt_value_is_id(const char *s, size_t maxlen);

/*
 * The id of a job or an invocation as the API, the messages and the data
 * inputs carry it: canonical decimal -- ASCII digits only, no sign, no
 * blank, no leading zero -- from 1 to INT64_MAX, so that one id has one
 * spelling and a value too large is refused, never clamped. `text` is len
 * bytes (a NUL among them is refused).
 *
 * Returns 0 and sets *out; or -EINVAL (not canonical: empty, "0", "01",
 * "+1", " 1", "1a", ...) or -ERANGE (above INT64_MAX), with *why (if not
 * NULL) set to a static reason for a message: "ids are decimal numbers
 * without leading zeros". *out is untouched on failure.
 */
int mt_value_parse_id(const char *text, size_t len, int64_t *out, const char **why);

/*
 * The message for a value mt_value_parse_id refused, into out (outlen
 * bytes): "'01' is not a job id: ids are decimal numbers without leading
 * zeros", with `what` ("job", "invocation") naming the kind of id and the
 * value quoted as mt_value_quote does. Returns out.
 */
const char *mt_value_id_error(const char *text, size_t len, const char *what, char *out, size_t outlen);

/* A decimal integer: optional '-', then digits, nothing else. 0, -1 (not one) or -ERANGE. */
int mt_value_parse_int(const char *s, json_int_t *out);

/* A decimal number: -?(D+(.D*)?|.D+)([eE][+-]?D+)?, finite. 0, -1 (not one) or -ERANGE. */
int mt_value_parse_float(const char *s, double *out);

/* "a string", "an integer", ... for messages. */
const char *mt_value_json_kind(const json_t *v);

/* Whether a JSON string holds a NUL byte (jansson allows "\u0000"). */
bool mt_value_json_has_nul(const json_t *str);

/* A growing NUL-terminated string. Zero-initialize; free data when done. */
typedef struct mt_value_buf {
    char *data;
    size_t len, cap;
} mt_value_buf_t;

void mt_value_buf_add(mt_value_buf_t *buf, const char *bytes, size_t n);

#endif
