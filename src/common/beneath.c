/*
 * beneath: openat2(RESOLVE_BENEATH), with a realpath fallback (see beneath.h).
 */
#include "common/beneath.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define OPEN_FLAGS (O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)

/* Without openat2: the real path must be dir's real path or below it. */
static int open_fallback(const char *dir, const char *rel)
{
    if (rel[0] == '/')
        return -EXDEV;
    char dir_real[PATH_MAX], joined[PATH_MAX + 1], resolved[PATH_MAX];
    if (!realpath(dir, dir_real))
        return -errno;
    int k = snprintf(joined, sizeof joined, "%s/%s", dir_real, rel);
    if (k < 0 || (size_t)k >= sizeof joined)
        return -ENAMETOOLONG;
    if (!realpath(joined, resolved))
        return -errno;
    size_t n = strlen(dir_real);
    if (strncmp(resolved, dir_real, n) != 0 || (resolved[n] != '/' && strcmp(dir_real, "/") != 0))
        return -EXDEV;
    int fd = open(resolved, OPEN_FLAGS | O_NOFOLLOW);
    return fd < 0 ? -errno : fd;
}

int mt_open_beneath(const char *dir, const char *rel, struct stat *st)
{
    if (!rel[0])
        return -ENOENT;
    int dirfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0)
        return -errno;
    struct open_how how = {.flags = OPEN_FLAGS, .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS};
    long fd;
    do
        fd = syscall(SYS_openat2, dirfd, rel, &how, sizeof how);
    while (fd < 0 && (errno == EINTR || errno == EAGAIN));
    int e = errno;
    close(dirfd);
    if (fd < 0)
        fd = e == ENOSYS ? open_fallback(dir, rel) : -e;
    if (fd == -ELOOP)
        fd = -EXDEV; /* a magic link (/proc/self/fd/N): a way out as well */
    if (fd < 0)
        return (int)fd;
    if (fstat((int)fd, st) < 0 || !S_ISREG(st->st_mode)) {
        close((int)fd);
        return -ENOENT;
    }
    /* A regular file: reads need no O_NONBLOCK (it only kept a FIFO from blocking the open). */
    int flags = fcntl((int)fd, F_GETFL);
    if (flags >= 0)
        (void)fcntl((int)fd, F_SETFL, flags & ~O_NONBLOCK);
    return (int)fd;
}
