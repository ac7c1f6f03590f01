/*
 * values: the small checks and conversions the tool and workflow readers
 * share -- names and ids, decimal numbers, JSON value kinds, a growing
 * string, and a value quoted for a one-line error message -- so that a
 * tool file and a workflow file accept and report the same things the
 * same way.
 */
#ifndef MT_VALUES_H
#define MT_VALUES_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

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
