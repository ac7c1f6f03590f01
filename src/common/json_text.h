/*
 * json_text: JSON written straight to text, for answers of a fixed shape
 * that are sent often (a job, a page of jobs).
 *
 * jansson builds a tree first: an allocation per member, a hash table per
 * object, then a walk to print it. For GET /api/jobs/{id} that was a third
 * of the request's CPU. This writer appends to one buffer: a stack buffer
 * the caller provides, moved to the heap only if the text outgrows it.
 * Commas are placed by the writer; the caller says what comes in what order.
 * A value that must be parsed anyway (a job's stored parameters) can still
 * be a json_t, written in place by mt_json_text_value().
 *
 * Strings are written as JSON strings: '"', '\\' and control characters
 * escaped, valid UTF-8 as it is, and every byte of invalid UTF-8 as U+FFFD
 * (jansson would refuse the whole string).
 */
#ifndef MT_COMMON_JSON_TEXT_H
#define MT_COMMON_JSON_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define MT_JSON_TEXT_MAX_DEPTH 16

typedef struct mt_json_text {
    char *data;           /* the text so far (not NUL-terminated) */
    size_t len, cap;
    bool on_heap;         /* data was allocated here: mt_json_text_free() frees it */
    bool failed;          /* nesting too deep, a value jansson could not print: the text is not valid */
    int depth;
    bool after_key;       /* the next value belongs to the key just written */
    unsigned members[MT_JSON_TEXT_MAX_DEPTH]; /* values written so far at each level */
} mt_json_text_t;

/* Start an empty text in buf (cap bytes; buf may be NULL with cap 0: then on the heap from the start). */
void mt_json_text_init(mt_json_text_t *w, char *buf, size_t cap);

/* Free what the writer allocated (nothing if the text fit in the caller's buffer). */
void mt_json_text_free(mt_json_text_t *w);

void mt_json_text_begin_object(mt_json_text_t *w);
void mt_json_text_end_object(mt_json_text_t *w);
void mt_json_text_begin_array(mt_json_text_t *w);
void mt_json_text_end_array(mt_json_text_t *w);

/* A member's key, inside an object; its value comes next. */
void mt_json_text_key(mt_json_text_t *w, const char *key);

/* Values. mt_json_text_string(w, NULL) writes null. */
void mt_json_text_string(mt_json_text_t *w, const char *s);
void mt_json_text_int(mt_json_text_t *w, int64_t v);
/* v as a JSON string of its decimal digits ("42"): the API's ids. */
void mt_json_text_int_string(mt_json_text_t *w, int64_t v);
void mt_json_text_null(mt_json_text_t *w);
/* A jansson value, printed compactly (NULL writes null). */
void mt_json_text_value(mt_json_text_t *w, const json_t *v);

/* True when the text is complete, valid JSON: every container closed and nothing failed. */
bool mt_json_text_ok(const mt_json_text_t *w);

#endif
