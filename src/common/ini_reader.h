/*
 * ini_reader: the line reader the INI loaders give inih (ini_parse_stream).
 *
 * inih reads through fgets(), which says neither how much it read nor
 * whether a line was cut: a NUL byte would silently end a line early and a
 * long line would be split in two, its rest read as a line of its own. The
 * stack's config (stack/config_ini.c) and the logging config
 * (common/log_config.c) refuse both instead, with the line's number.
 */
#ifndef MT_COMMON_INI_READER_H
#define MT_COMMON_INI_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/*
 * Read the next line of fp into str (num bytes, as inih's reader gets
 * them) and count it in *line. Returns str; NULL at the end of the file;
 * or NULL with *failed set and "PATH:LINE: NUL byte in the line" or
 * "PATH:LINE: line too long (longer than N bytes)" in err.
 */
char *mt_ini_read_line(char *str, int num, FILE *fp, const char *path, int *line, bool *failed, char *err,
                       size_t errlen);

#endif
