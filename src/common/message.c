/*
 * message: one-line error messages (see message.h).
 */
#include "common/message.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"

void mt_message_one_line(char *msg, size_t size)
{
    if (!msg || size == 0)
        return;
    const unsigned char *p = (const unsigned char *)msg;
    while (*p >= 0x20 && *p != 0x7f)
        p++;
    if (!*p)
        return; /* nothing to escape */
    char *copy = mt_strdup(msg);
    size_t n = 0;
    for (p = (const unsigned char *)copy; *p; p++) {
        char esc[5];
        if (*p == '\n')
            snprintf(esc, sizeof esc, "\\n");
        else if (*p == '\r')
            snprintf(esc, sizeof esc, "\\r");
        else if (*p < 0x20 || *p == 0x7f)
            snprintf(esc, sizeof esc, "\\x%02x", *p);
        else
            snprintf(esc, sizeof esc, "%c", *p);
        size_t k = strlen(esc);
        if (n + k >= size)
            break;
        memcpy(msg + n, esc, k);
        n += k;
    }
    msg[n] = '\0';
    free(copy);
}

void mt_message_vformat_at(char *err, size_t errlen, const char *origin, int line, const char *fmt, va_list ap)
{
    if (!err || errlen == 0)
        return;
    char what[1024];
    vsnprintf(what, sizeof what, fmt, ap);
    if (line > 0)
        snprintf(err, errlen, "%s:%d: %s", origin, line, what);
    else
        snprintf(err, errlen, "%s: %s", origin, what);
    mt_message_one_line(err, errlen);
}

void mt_message_format_at(char *err, size_t errlen, const char *origin, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    mt_message_vformat_at(err, errlen, origin, line, fmt, ap);
    va_end(ap);
}

static void vfail(char *err, size_t errlen, const char *fmt, va_list ap)
{
    if (err && errlen > 0) {
        vsnprintf(err, errlen, fmt, ap);
        mt_message_one_line(err, errlen);
    }
}

int mt_message_fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

int mt_message_fail_rc(char *err, size_t errlen, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(err, errlen, fmt, ap);
    va_end(ap);
    return rc;
}
