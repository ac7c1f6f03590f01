/*
 * mkdirs: create a directory and its missing parents ("mkdir -p"), for
 * the data directory and the handlers' registry.
 */
#ifndef MT_MKDIRS_H
#define MT_MKDIRS_H

#include <sys/types.h>

/*
 * Create path (absolute or relative) and every missing parent with mode
 * (less the umask). A directory that exists already is fine; a file of
 * that name is -ENOTDIR. Returns 0, or -errno of the first mkdir that
 * failed (-ENAMETOOLONG for a path longer than PATH_MAX).
 */
int mt_mkdirs(const char *path, mode_t mode);

#endif
