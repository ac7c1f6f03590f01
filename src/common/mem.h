/*
 * mem: allocation wrappers that abort on failure (common: used by every layer).
 *
 * Every allocation in muleteer goes through these, so callers never check
 * for NULL after allocating: running out of memory is not a condition the
 * server can recover from meaningfully, and a clear abort beats a crash
 * somewhere downstream.
 */
#ifndef MT_MEM_H
#define MT_MEM_H

#include <stddef.h>

/* Each returns valid memory or aborts the process with a message. */
void *mt_malloc(size_t size);
void *mt_calloc(size_t count, size_t size);
void *mt_realloc(void *ptr, size_t size);
char *mt_strdup(const char *s);
/* A new string of exactly the n bytes at s (which must all be readable: not strndup's "at most n") and a NUL. */
char *mt_strndup(const char *s, size_t n);
/* printf into a new string owned by the caller. */
char *mt_asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
