/*
 * message: error messages on one line, in the form every loader reports:
 * "ORIGIN:LINE: what was wrong" (or "ORIGIN: what was wrong" when no line
 * applies). A message quotes the input it complains about, and input may
 * hold line breaks or other control characters (a YAML key "a\nb", a CR
 * in an INI line): they are escaped, so that one error is one log line.
 */
#ifndef MT_COMMON_MESSAGE_H
#define MT_COMMON_MESSAGE_H

#include <stdarg.h>
#include <stddef.h>

/*
 * Escape, in place, the control characters of the NUL-terminated msg as
 * \n, \r or \xHH, keeping it within size bytes (cut at the end if the
 * escapes make it longer). Accepts NULL or size 0 (does nothing).
 */
void mt_message_one_line(char *msg, size_t size);

/*
 * Format "ORIGIN:LINE: " (line > 0) or "ORIGIN: " (line <= 0) followed by
 * fmt into err (errlen bytes, truncated to fit), then make it one line.
 * Accepts err NULL or errlen 0 (does nothing).
 */
void mt_message_vformat_at(char *err, size_t errlen, const char *origin, int line, const char *fmt, va_list ap)
    __attribute__((format(printf, 5, 0)));
void mt_message_format_at(char *err, size_t errlen, const char *origin, int line, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/*
 * Format fmt into err (errlen bytes, truncated to fit) and make it one
 * line; returns -1, for "return mt_message_fail(err, errlen, ...)".
 * Accepts err NULL or errlen 0 (formats nothing).
 */
int mt_message_fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* The same, returning rc (a negative errno value): "return mt_message_fail_rc(err, errlen, -EINVAL, ...)". */
int mt_message_fail_rc(char *err, size_t errlen, int rc, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

#endif
