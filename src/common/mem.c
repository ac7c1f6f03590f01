/*
 * mem: allocation wrappers that abort on failure (see mem.h).
 */
#include "common/mem.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void mt__oom(size_t size)
{
    char msg[96];
    int n = snprintf(msg, sizeof msg, "muleteer: out of memory allocating %zu bytes\n", size);
    if (n > 0)
        (void)!write(2, msg, (size_t)n);
    abort();
}

void *mt_malloc(size_t size)
{
    void *p = malloc(size ? size : 1);
    if (!p)
        mt__oom(size);
    return p;
}

void *mt_calloc(size_t count, size_t size)
{
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p)
        mt__oom(count * size);
    return p;
}

void *mt_realloc(void *ptr, size_t size)
{
    void *p = realloc(ptr, size ? size : 1);
    if (!p)
        mt__oom(size);
    return p;
}

char *mt_strdup(const char *s)
{
    return mt_strndup(s, strlen(s));
}

char *mt_strndup(const char *s, size_t n)
{
    char *p = mt_malloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *mt_asprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *out = NULL;
    int n = vasprintf(&out, fmt, ap);
    va_end(ap);
    if (n < 0)
        mt__oom(0);
    return out;
}
