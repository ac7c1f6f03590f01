/*
 * ini_reader: fgets() for inih, refusing NUL bytes and overlong lines (see ini_reader.h).
 */
#include "common/ini_reader.h"

#include <string.h>

#include "common/message.h"

char *mt_ini_read_line(char *str, int num, FILE *fp, const char *path, int *line, bool *failed, char *err,
                       size_t errlen)
{
    if (*failed || num < 1)
        return NULL;
    /*
     * fgets() does not say how much it read, and strlen() stops at a NUL
     * byte. So fill the buffer with non-NULs first: fgets()'s terminator
     * is then the last NUL in it.
     */
    memset(str, '\n', (size_t)num);
    if (!fgets(str, num, fp))
        return NULL;
    (*line)++;
    size_t len = (size_t)num - 1;
    while (str[len] != '\0')
        len--;
    if (memchr(str, '\0', len)) {
        mt_message_format_at(err, errlen, path, *line, "NUL byte in the line");
        *failed = true;
        return NULL;
    }
    if (num > 1 && len == (size_t)num - 1 && str[len - 1] != '\n') {
        /* The buffer is full: fine only if the line ends right here. */
        int c = getc(fp);
        if (c != '\n' && c != EOF) {
            mt_message_format_at(err, errlen, path, *line, "line too long (longer than %d bytes)", num - 2);
            *failed = true;
            return NULL;
        }
    }
    return str;
}
