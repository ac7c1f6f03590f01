/*
 * utf8: the one UTF-8 decoder of the project, for the readers that refuse
 * what is not UTF-8 (YAML files) and the writers that must not pass it on
 * (JSON text).
 */
#ifndef MT_COMMON_UTF8_H
#define MT_COMMON_UTF8_H

#include <stddef.h>

/*
 * The length (1 to 4) of the valid UTF-8 sequence that starts at s, of
 * which n > 0 bytes may be read; 0 if none starts there: a continuation
 * or undefined lead byte, a sequence cut short, an overlong form, a
 * surrogate, or a code point past U+10FFFF. An ASCII byte, NUL included,
 * is a sequence of 1.
 */
size_t mt_utf8_sequence(const unsigned char *s, size_t n);

#endif
