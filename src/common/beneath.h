/*
 * beneath: open a file by a relative path without leaving a directory.
 *
 * What a job leaves in its working directory is under the job's control,
 * and so is every symlink there: a job that replaces its output (or its
 * stdout) by a link to /etc/shadow must not have the server read that file
 * back to an HTTP client, or hand its path to the next job. Files in a job
 * directory are therefore opened relative to it with openat2(2) and
 * RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS: the kernel refuses "..", an
 * absolute path and any symlink that resolves outside the directory.
 * Kernels without openat2 (before 5.6, or behind a seccomp filter) get
 * realpath() and a prefix check instead, which is racy against a link
 * swapped at the same moment, and acceptable as a fallback.
 *
 * (Static files do the same in stack/http_static.c, which has its own
 * testing seam.)
 */
#ifndef MT_BENEATH_H
#define MT_BENEATH_H

#include <sys/stat.h>

/*
 * Open rel, resolved beneath the directory dir, read-only and close-on-exec,
 * if it is a regular file. Returns the descriptor (st filled), or:
 *   -EXDEV   rel leads outside dir (a "..", an absolute path, a symlink out)
 *   -ENOENT  no such file, or not a regular file (directory, FIFO, device)
 *   other negative errno values as open(2) gives them (-EACCES, ...).
 * Never blocks on a FIFO.
 */
int mt_open_beneath(const char *dir, const char *rel, struct stat *st);

#endif
