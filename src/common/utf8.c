/*
 * utf8: the one UTF-8 decoder (see utf8.h).
 */
#include "common/utf8.h"

#include <stdint.h>

size_t mt_utf8_sequence(const unsigned char *s, size_t n)
{
    static const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000}; /* by length: shorter forms are overlong */
    size_t width = s[0] < 0x80 ? 1 : (s[0] & 0xe0) == 0xc0 ? 2 : (s[0] & 0xf0) == 0xe0 ? 3 : (s[0] & 0xf8) == 0xf0 ? 4 : 0;
    if (width == 0 || width > n)
        return 0;
    if (width == 1)
        return 1;
    uint32_t cp = s[0] & (0x7fu >> width);
    for (size_t k = 1; k < width; k++) {
        if ((s[k] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[k] & 0x3f);
    }
    if (cp < min_cp[width] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return width;
}
