/*
 * job_cleanup: removing what an ended job's working directory need not
 * keep (see job_cleanup.h). The walk uses directory descriptors (openat,
 * unlinkat) with O_NOFOLLOW: the job wrote that directory, maybe as
 * another user, and a link it planted must not lead the removal outside.
 */
#define MT_LOG_NAME "muleteer.jobs.cleanup"

#include "app/run/job_cleanup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/beneath.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/spawner.h"

static const char *const names[] = {
    [MT_JOB_CLEANUP_ALWAYS] = "always",
    [MT_JOB_CLEANUP_ONSUCCESS] = "onsuccess",
    [MT_JOB_CLEANUP_NEVER] = "never",
};

int mt_job_cleanup_parse(const char *value, mt_job_cleanup_t *out)
{
    for (size_t i = 0; value && i < sizeof names / sizeof names[0]; i++) {
        if (strcasecmp(value, names[i]) == 0) {
            *out = (mt_job_cleanup_t)i;
            return 0;
        }
    }
    return -EINVAL;
}

const char *mt_job_cleanup_name(mt_job_cleanup_t policy)
{
    return (unsigned)policy < sizeof names / sizeof names[0] ? names[policy] : "?";
}

bool mt_job_cleanup_applies(mt_job_cleanup_t policy, mt_job_state_t state)
{
    switch (policy) {
    case MT_JOB_CLEANUP_ALWAYS:
        return state == MT_JOB_OK || state == MT_JOB_ERROR || state == MT_JOB_DELETED;
    case MT_JOB_CLEANUP_ONSUCCESS:
        return state == MT_JOB_OK;
    default:
        return false;
    }
}

/* How rel (relative to the job's directory) stands to the keep list. */
typedef enum { DROP, KEEP, ABOVE_KEPT } verdict_t;

static const char *plain(const char *path)
{
    while (path[0] == '.' && path[1] == '/')
        path += 2;
    return path;
}

static verdict_t judge(const char *rel, const char *const *keep, size_t nkeep)
{
    size_t len = strlen(rel);
    verdict_t v = DROP;
    for (size_t i = 0; i < nkeep; i++) {
        const char *k = plain(keep[i]);
        if (strcmp(k, rel) == 0)
            return KEEP;
        if (strncmp(k, rel, len) == 0 && k[len] == '/')
            v = ABOVE_KEPT;
    }
    return v;
}

static int remove_all(int dirfd);

/* Remove entry `name` of dirfd, a whole tree if it is a directory. 0 or -errno. */
static int remove_entry(int dirfd, const char *name, bool is_dir)
{
    if (!is_dir)
        return unlinkat(dirfd, name, 0) == 0 || errno == ENOENT ? 0 : -errno;
    int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : -errno;
    int rc = remove_all(fd); /* closes fd */
    if (unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT && rc == 0)
        rc = -errno;
    return rc;
}

/* Is entry de of dirfd a directory (not a link to one)? */
static bool entry_is_dir(int dirfd, const struct dirent *de)
{
    if (de->d_type != DT_UNKNOWN)
        return de->d_type == DT_DIR;
    struct stat st;
    return fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
}

/* Walk dirfd (taken: closed here), whose path relative to the job's directory is prefix ("" at the top). */
static int walk(int dirfd, const char *prefix, const char *const *keep, size_t nkeep, bool everything)
{
    DIR *d = fdopendir(dirfd);
    if (!d) {
        int e = errno;
        close(dirfd);
        return -e;
    }
    int rc = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        const char *name = de->d_name;
        if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
            continue;
        bool is_dir = entry_is_dir(dirfd, de);
        int r = 0;
        if (everything) {
            r = remove_entry(dirfd, name, is_dir);
        } else {
            char *rel = prefix[0] ? mt_asprintf("%s/%s", prefix, name) : mt_strdup(name);
            verdict_t v = judge(rel, keep, nkeep);
            if (v == DROP && !prefix[0] && !is_dir && (strcmp(name, "stdout") == 0 || strcmp(name, "stderr") == 0)) {
                /*
                 * Served (GET .../stdout): removed only when an empty file, which the API then answers as
                 * empty; anything else the job put there (a link out) stays, for the API to refuse as before.
                 */
                struct stat st;
                if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && !(S_ISREG(st.st_mode) && st.st_size == 0))
                    v = KEEP;
            }
            if (v == ABOVE_KEPT && !is_dir) {
                /* A link on the way to a kept path: kept, so that the API still refuses it as a link. */
            } else if (v == ABOVE_KEPT) {
                int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                r = fd < 0 ? (errno == ENOENT ? 0 : -errno) : walk(fd, rel, keep, nkeep, false);
                (void)unlinkat(dirfd, name, AT_REMOVEDIR); /* if nothing of it was kept after all */
            } else if (v != KEEP) {
                r = remove_entry(dirfd, name, is_dir);
            }
            free(rel);
        }
        if (r < 0 && rc == 0)
            rc = r;
    }
    closedir(d); /* closes dirfd */
    return rc;
}

static int remove_all(int dirfd)
{
    return walk(dirfd, "", NULL, 0, true);
}

/*
 * The keep list, plus the file each kept path leads to through links that
 * stay inside dir (an output "alias.txt" linked to "real.txt": the API
 * serves real.txt's bytes, so real.txt stays). Returns the list (*n
 * entries); the entries past nkeep are its own (free them, then it).
 */
static char **resolve_keeps(const char *dir, const char *const *keep, size_t nkeep, size_t *n)
{
    char **all = mt_calloc(2 * nkeep + 1, sizeof *all);
    size_t k = 0;
    for (size_t i = 0; i < nkeep; i++)
        all[k++] = (char *)keep[i];
    char *real = nkeep ? realpath(dir, NULL) : NULL;
    size_t rlen = real ? strlen(real) : 0;
    for (size_t i = 0; real && i < nkeep; i++) {
        struct stat st;
        int fd = mt_open_beneath(dir, keep[i], &st);
        if (fd < 0)
            continue;
        char proc[64], target[4096];
        snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
        ssize_t len = readlink(proc, target, sizeof target - 1);
        close(fd);
        if (len <= (ssize_t)rlen + 1)
            continue;
        target[len] = '\0';
        const char *rel = target + rlen + 1;
        if (strncmp(target, real, rlen) == 0 && target[rlen] == '/' && strcmp(rel, plain(keep[i])) != 0)
            all[k++] = mt_strdup(rel);
    }
    free(real);
    *n = k;
    return all;
}

int mt_job_cleanup_dir(const char *dir, const char *const *keep, size_t nkeep)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    size_t nall;
    char **all = resolve_keeps(dir, keep, nkeep, &nall);
    int rc = walk(fd, "", (const char *const *)all, nall, false);
    for (size_t i = nkeep; i < nall; i++)
        free(all[i]);
    free(all);
    if (rmdir(dir) < 0 && errno != ENOTEMPTY && errno != EEXIST && errno != ENOENT && rc == 0)
        rc = -errno;
    return rc;
}

char **mt_job_cleanup_keep_list(const mt_tool_t *tool)
{
    if (!tool)
        return NULL;
    size_t n = mt_tool_output_count(tool), bytes = (n + 1) * sizeof(char *);
    for (size_t i = 0; i < n; i++) {
        const char *p = mt_tool_output_kind(tool, i) == MT_TOOL_OUTPUT_STDOUT ? "stdout" : mt_tool_output_path(tool, i);
        bytes += strlen(p ? p : "") + 1;
    }
    char **keep = mt_malloc(bytes);
    char *at = (char *)(keep + n + 1);
    for (size_t i = 0; i < n; i++) {
        const char *p = mt_tool_output_kind(tool, i) == MT_TOOL_OUTPUT_STDOUT ? "stdout" : mt_tool_output_path(tool, i);
        size_t len = strlen(p ? p : "") + 1;
        memcpy(at, p ? p : "", len);
        keep[i] = at;
        at += len;
    }
    keep[n] = NULL;
    return keep;
}

/* ---- the cleanup thread ---- */

typedef struct cleanup_req {
    mt_spawn_request_t req; /* first: the request is the allocation */
    char *dir;
    char **keep;
} cleanup_req_t;

static mt_spawner_t cleaner = MT_SPAWNER_INIT;

static void cleanup_run(mt_spawn_request_t *req)
{
    cleanup_req_t *c = (cleanup_req_t *)req;
    size_t n = 0;
    while (c->keep && c->keep[n])
        n++;
    int rc = mt_job_cleanup_dir(c->dir, (const char *const *)c->keep, n);
    if (rc < 0 && rc != -ENOENT)
        mt_warn("jobs.cleanup: cannot remove all of %s: %s", c->dir, strerror(-rc));
    free(c->keep);
    free(c->dir);
    free(c);
}

void mt_job_cleanup_submit(char *dir, char **keep)
{
    cleanup_req_t *c = mt_calloc(1, sizeof *c);
    c->req.run = cleanup_run;
    c->dir = dir;
    c->keep = keep;
    if (mt_spawner_submit(&cleaner, &c->req) < 0)
        cleanup_run(&c->req); /* no thread: here, then */
}
