/*
 * fence: the handler's side of self-fencing (see fence.h; the waiter's side
 * is in job_waiter.c and src/waiter/).
 */
#include "app/run/fence.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "common/mem.h"
#include "common/mkdirs.h"

struct mt_fence {
    int fd;
    char *path;
};

int mt_fence_open(const char *dir, const char *name, mt_fence_t **out, char *err, size_t errlen)
{
    int rc = mt_mkdirs(dir, 0755);
    if (rc < 0) {
        snprintf(err, errlen, "cannot create %s for the fence of %s: %s", dir, name, strerror(-rc));
        return rc;
    }
    char *path = mt_asprintf("%s/%s.fence", dir, name);
    /* Not O_TRUNC, never replaced: waiters of an earlier incarnation read this very file. */
    int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0) {
        int e = errno;
        snprintf(err, errlen, "cannot open the fence %s: %s", path, strerror(e));
        free(path);
        return -e;
    }
    (void)fchmod(fd, 0644); /* a job user's waiter reads it through its descriptor; others may look */
    mt_fence_t *f = mt_calloc(1, sizeof *f);
    f->fd = fd;
    f->path = path;
    *out = f;
    return 0;
}

int mt_fence_renew(mt_fence_t *fence, int64_t deadline_ns)
{
    char line[64];
    /* Fixed width: a shorter number must not leave digits of a longer one behind. */
    int n = snprintf(line, sizeof line, "%020lld %020lld\n", (long long)deadline_ns, (long long)deadline_ns);
    ssize_t w = pwrite(fence->fd, line, (size_t)n, 0);
    if (w < 0)
        return -errno;
    return w == n ? 0 : -EIO;
}

int mt_fence_fd(const mt_fence_t *fence)
{
    return fence->fd;
}

const char *mt_fence_path(const mt_fence_t *fence)
{
    return fence->path;
}

void mt_fence_close(mt_fence_t *fence, bool remove)
{
    if (!fence)
        return;
    if (remove)
        (void)unlink(fence->path);
    close(fence->fd);
    free(fence->path);
    free(fence);
}
