/*
 * handler_registry: name locks of the handlers on this host (see
 * handler_registry.h).
 *
 * The locks are open-file-description locks (F_OFD_SETLK) on the whole
 * file: like flock they belong to the open file, not the process, and die
 * with it; unlike flock they can be tested without being taken
 * (F_OFD_GETLK), so asking "is it running?" never makes the real holder's
 * start-up fail.
 */
#include "app/run/handler_registry.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/mkdirs.h"

static pthread_mutex_t registered_lock = PTHREAD_MUTEX_INITIALIZER;
static char registered_name[256]; /* this process's name, once registered */

/* Is the lock of the open file fd held by another open file? */
static bool held_elsewhere(int fd)
{
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
    if (fcntl(fd, F_OFD_GETLK, &fl) < 0)
        return false;
    return fl.l_type != F_UNLCK;
}

int mt_handler_registry_register(const char *dir, const char *name, const char *const *pools, size_t npools,
                                 char *err, size_t errlen)
{
    pthread_mutex_lock(&registered_lock);
    int rc = 0;
    if (registered_name[0]) {
        if (strcmp(registered_name, name) != 0) {
            snprintf(err, errlen, "this process is registered as handler %s already, not %s", registered_name, name);
            rc = -EINVAL;
        }
        goto out;
    }
    if ((rc = mt_mkdirs(dir, 0755)) < 0) {
        snprintf(err, errlen, "cannot create %s: %s", dir, strerror(-rc));
        goto out;
    }
    char path[PATH_MAX + 300];
    snprintf(path, sizeof path, "%s/%s.lock", dir, name);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        rc = -errno;
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        goto out;
    }
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
    if (fcntl(fd, F_OFD_SETLK, &fl) < 0) {
        char holder[32] = "";
        ssize_t n = pread(fd, holder, sizeof holder - 1, 0);
        holder[n > 0 ? n : 0] = '\0';
        holder[strcspn(holder, "\n")] = '\0';
        snprintf(err, errlen, "a handler named %s is already running (pid %s, lock %s): server names must be unique",
                 name, holder[0] ? holder : "?", path);
        close(fd);
        rc = -EEXIST;
        goto out;
    }
    /* "PID\nPOOL\nPOOL\n...": read by mt_handler_registry_pool_served. */
    char text[4096];
    int len = snprintf(text, sizeof text, "%d\n", (int)getpid());
    for (size_t i = 0; i < npools && len > 0 && (size_t)len < sizeof text; i++)
        len += snprintf(text + len, sizeof text - (size_t)len, "%s\n", pools[i]);
    if (len > 0 && (size_t)len >= sizeof text)
        len = (int)sizeof text - 1;
    if (ftruncate(fd, 0) == 0)
        (void)!pwrite(fd, text, (size_t)len, 0);
    snprintf(registered_name, sizeof registered_name, "%s", name);
    /* fd stays open: the lock lives as long as the process. */
out:
    pthread_mutex_unlock(&registered_lock);
    return rc;
}

bool mt_handler_registry_running(const char *dir, const char *name)
{
    pthread_mutex_lock(&registered_lock);
    bool self = strcmp(registered_name, name) == 0;
    pthread_mutex_unlock(&registered_lock);
    if (self)
        return true;
    char path[PATH_MAX + 300];
    snprintf(path, sizeof path, "%s/%s.lock", dir, name);
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return false;
    bool held = held_elsewhere(fd);
    close(fd);
    return held;
}

/* Does the registration text list `pool` on a line of its own (after the pid line)? */
static bool lists_pool(const char *text, const char *pool)
{
    size_t n = strlen(pool);
    const char *line = strchr(text, '\n');
    while (line) {
        line++;
        if (strncmp(line, pool, n) == 0 && line[n] == '\n')
            return true;
        line = strchr(line, '\n');
    }
    return false;
}

bool mt_handler_registry_pool_served(const char *dir, const char *pool)
{
    DIR *d = opendir(dir);
    if (!d)
        return false;
    bool served = false;
    struct dirent *e;
    while (!served && (e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len < 6 || strcmp(e->d_name + len - 5, ".lock") != 0)
            continue;
        int fd = openat(dirfd(d), e->d_name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
            continue;
        char text[4096];
        ssize_t n = pread(fd, text, sizeof text - 1, 0);
        text[n > 0 ? n : 0] = '\0';
        if (lists_pool(text, pool)) {
            /* Our own registration holds the lock here: that counts as running. */
            char name[256];
            snprintf(name, sizeof name, "%.*s", (int)(len - 5), e->d_name);
            pthread_mutex_lock(&registered_lock);
            bool self = strcmp(registered_name, name) == 0;
            pthread_mutex_unlock(&registered_lock);
            served = self || held_elsewhere(fd);
        }
        close(fd);
    }
    closedir(d);
    return served;
}
