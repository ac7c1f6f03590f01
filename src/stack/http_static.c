/*
 * http_static: --static-map URL=DIR (see http_static.h).
 *
 * Each mapping keeps an O_PATH descriptor on its directory. A request path
 * is matched against the URL prefixes (longest first), the rest of it is
 * percent-decoded, and the file is opened with openat2(RESOLVE_BENEATH |
 * RESOLVE_NO_MAGICLINKS) relative to that descriptor: the kernel refuses
 * "..", absolute paths and symlinks that would leave the directory (EXDEV),
 * so no string check stands between a request and /etc/passwd.
 *
 * Kernels before 5.6 (or seccomp filters) answer ENOSYS; then the path is
 * resolved with realpath() and must stay under the directory's own real
 * path. That fallback is racy against someone swapping symlinks inside the
 * served tree while requests run, which is acceptable for a fallback.
 *
 * A mapping may also name a single file (URL=FILE, as Galaxy's
 * /favicon.ico=static/favicon.ico): it serves that file at exactly that
 * URL. The file's real path is fixed when the mapping is added and no part
 * of a request reaches it, so it is opened by that path.
 *
 * static-safe DIR: a file reached through a symlink that leaves the mapped
 * directory is served if its real path lies under DIR (uWSGI's meaning:
 * "files under DIR are safe to serve"). Only then is the path resolved
 * with realpath() and checked by prefix; a ".." component in the request
 * is refused outright on that path, so it only ever follows symlinks.
 *
 * mt_static_map_add_file serves one file at an exact URL, "/" included
 * (an application's index page; static-map itself refuses a file at "/").
 *
 * The openat2 call goes through mt_static__openat2 so tests can force the
 * fallback.
 */
#include "stack/http_static.h"
#include "stack/url.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/mem.h"

typedef struct mt_static_mapping {
    char *url;      /* URL prefix without trailing '/' ("" for "/"); a file mapping's exact URL */
    size_t url_len;
    char *dir_real; /* realpath of DIR (for the ENOSYS fallback), or of FILE for a file mapping */
    int dir_fd;     /* O_PATH | O_DIRECTORY; -1 for a file mapping */
    bool is_file;   /* URL=FILE: serves dir_real at exactly url */
} mt_static_mapping_t;

struct mt_static_map {
    mt_static_mapping_t *maps; /* longest URL first */
    size_t count;
    size_t cap;
    char **safe;               /* static-safe: real paths of directories whose files may be served */
    size_t nsafe;
};

static long openat2_syscall(int dirfd, const char *path, struct open_how *how, size_t size)
{
    return syscall(SYS_openat2, dirfd, path, how, size);
}

long (*mt_static__openat2)(int dirfd, const char *path, struct open_how *how, size_t size) = openat2_syscall;

mt_static_map_t *mt_static_map_create(void)
{
    return mt_calloc(1, sizeof(mt_static_map_t));
}

void mt_static_map_destroy(mt_static_map_t *map)
{
    if (map == NULL)
        return;
    for (size_t i = 0; i < map->count; i++) {
        free(map->maps[i].url);
        free(map->maps[i].dir_real);
        if (map->maps[i].dir_fd >= 0)
            close(map->maps[i].dir_fd);
    }
    free(map->maps);
    for (size_t i = 0; i < map->nsafe; i++)
        free(map->safe[i]);
    free(map->safe);
    free(map);
}

/* Keep the mappings longest URL first; takes url and dir_real. */
static void insert_mapping(mt_static_map_t *map, char *url, size_t url_len, char *dir_real, int dir_fd, bool is_file)
{
    if (map->count == map->cap) {
        map->cap = map->cap ? map->cap * 2 : 4;
        map->maps = mt_realloc(map->maps, map->cap * sizeof(*map->maps));
    }
    size_t pos = map->count;
    while (pos > 0 && map->maps[pos - 1].url_len < url_len)
        pos--;
    memmove(&map->maps[pos + 1], &map->maps[pos], (map->count - pos) * sizeof(*map->maps));
    map->maps[pos] = (mt_static_mapping_t){
        .url = url,
        .url_len = url_len,
        .dir_real = dir_real,
        .dir_fd = dir_fd,
        .is_file = is_file,
    };
    map->count++;
}

int mt_static_map_add(mt_static_map_t *map, const char *spec, char *err, size_t errlen)
{
    const char *eq = strchr(spec, '=');
    if (eq == NULL) {
        snprintf(err, errlen, "static-map '%s': expected URL=DIR", spec);
        return -1;
    }
    if (spec[0] != '/') {
        snprintf(err, errlen, "static-map '%s': URL must start with '/'", spec);
        return -1;
    }
    const char *dir = eq + 1;
    if (dir[0] == '\0') {
        snprintf(err, errlen, "static-map '%s': empty directory", spec);
        return -1;
    }
    size_t url_len = (size_t)(eq - spec);
    while (url_len > 0 && spec[url_len - 1] == '/')
        url_len--;

    bool is_file = false;
    int dir_fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd < 0 && errno == ENOTDIR) {
        /* URL=FILE: a regular file, served at exactly URL. */
        struct stat st;
        if (stat(dir, &st) < 0 || !S_ISREG(st.st_mode)) {
            snprintf(err, errlen, "static-map '%s': '%s' is neither a directory nor a regular file", spec, dir);
            return -1;
        }
        if (url_len == 0) {
            snprintf(err, errlen, "static-map '%s': a single file needs a URL of its own, not '/'", spec);
            return -1;
        }
        is_file = true;
    } else if (dir_fd < 0) {
        snprintf(err, errlen, "static-map '%s': cannot open directory '%s': %s", spec, dir, strerror(errno));
        return -1;
    }
    char *dir_real = realpath(dir, NULL);
    if (dir_real == NULL) {
        snprintf(err, errlen, "static-map '%s': realpath('%s') failed: %s", spec, dir, strerror(errno));
        if (dir_fd >= 0)
            close(dir_fd);
        return -1;
    }

    insert_mapping(map, mt_strndup(spec, url_len), url_len, dir_real, dir_fd, is_file);
    return 0;
}

int mt_static_map_add_file(mt_static_map_t *map, const char *url, const char *file, char *err, size_t errlen)
{
    if (url[0] != '/') {
        snprintf(err, errlen, "URL '%s' must start with '/'", url);
        return -1;
    }
    struct stat st;
    if (stat(file, &st) < 0) {
        snprintf(err, errlen, "'%s': %s", file, strerror(errno));
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "'%s' is not a regular file", file);
        return -1;
    }
    char *real = realpath(file, NULL);
    if (real == NULL) {
        snprintf(err, errlen, "realpath('%s') failed: %s", file, strerror(errno));
        return -1;
    }
    insert_mapping(map, mt_strdup(url), strlen(url), real, -1, true);
    return 0;
}

int mt_static_map_add_safe(mt_static_map_t *map, const char *dir, char *err, size_t errlen)
{
    char *real = realpath(dir, NULL);
    struct stat st;
    if (real == NULL || stat(real, &st) < 0 || !S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "'%s' is not a directory%s%s", dir, real ? "" : ": ", real ? "" : strerror(errno));
        free(real);
        return -1;
    }
    map->safe = mt_realloc(map->safe, (map->nsafe + 1) * sizeof *map->safe);
    map->safe[map->nsafe++] = real;
    return 0;
}

size_t mt_static_map_count(const mt_static_map_t *map)
{
    return map ? map->count : 0;
}

static int errno_to_result(int err)
{
    switch (err) {
    case EXDEV:  /* RESOLVE_BENEATH: "..", absolute path or symlink escaping */
    case ELOOP:  /* a magic link, or a symlink loop */
    case EACCES:
    case EPERM:
        return -EACCES;
    case ENOENT:
    case ENOTDIR:
    case ENAMETOOLONG:
        return -ENOENT;
    default:
        return -err;
    }
}

/* The ENOSYS fallback: realpath, then a prefix check against the directory's real path. */
static int open_fallback(const mt_static_mapping_t *m, const char *rel)
{
    if (rel[0] == '/')
        return -EACCES; /* as RESOLVE_BENEATH refuses absolute paths */
    char joined[PATH_MAX];
    int k = snprintf(joined, sizeof joined, "%s/%s", m->dir_real, rel);
    if (k < 0 || (size_t)k >= sizeof joined)
        return -ENOENT;
    char resolved[PATH_MAX];
    if (realpath(joined, resolved) == NULL)
        return errno_to_result(errno);
    size_t dir_len = strlen(m->dir_real);
    bool root = dir_len == 1; /* DIR is "/" itself */
    if (!root && (strncmp(resolved, m->dir_real, dir_len) != 0 || resolved[dir_len] != '/'))
        return -EACCES;
    int fd = open(resolved, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    return fd < 0 ? errno_to_result(errno) : fd;
}

/* Whether `path` (a real path) is `dir` or below it. */
static bool path_under(const char *path, const char *dir)
{
    size_t len = strlen(dir);
    if (len == 1)
        return true; /* "/" */
    return strncmp(path, dir, len) == 0 && (path[len] == '/' || path[len] == '\0');
}

/* Whether rel has a ".." component. */
static bool has_dotdot(const char *rel)
{
    for (const char *p = rel; *p;) {
        size_t n = strcspn(p, "/");
        if (n == 2 && p[0] == '.' && p[1] == '.')
            return true;
        p += n;
        while (*p == '/')
            p++;
    }
    return false;
}

/*
 * static-safe: the file the kernel refused to reach beneath the mapping
 * (a symlink out of it) is served if its real path is under one of the
 * safe directories.
 */
static int open_safe(const mt_static_map_t *map, const mt_static_mapping_t *m, const char *rel)
{
    if (rel[0] == '/' || has_dotdot(rel))
        return -EACCES;
    char joined[PATH_MAX], resolved[PATH_MAX];
    int k = snprintf(joined, sizeof joined, "%s/%s", m->dir_real, rel);
    if (k < 0 || (size_t)k >= sizeof joined)
        return -ENOENT;
    if (realpath(joined, resolved) == NULL)
        return errno_to_result(errno);
    bool safe = false;
    for (size_t i = 0; i < map->nsafe && !safe; i++)
        safe = path_under(resolved, map->safe[i]);
    if (!safe)
        return -EACCES;
    int fd = open(resolved, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    return fd < 0 ? errno_to_result(errno) : fd;
}

static int open_beneath(const mt_static_map_t *map, const mt_static_mapping_t *m, const char *rel)
{
    /* O_NONBLOCK: opening a FIFO must not block the loop; it is refused below anyway. */
    struct open_how how = {
        .flags = O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY,
        .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
    };
    long fd;
    do {
        fd = mt_static__openat2(m->dir_fd, rel, &how, sizeof how);
    } while (fd < 0 && (errno == EINTR || errno == EAGAIN));
    if (fd >= 0)
        return (int)fd;
    if (errno == ENOSYS)
        fd = open_fallback(m, rel);
    else
        fd = errno_to_result(errno);
    if (fd == -EACCES && map->nsafe > 0)
        fd = open_safe(map, m, rel);
    return (int)fd;
}

int mt_static_resolve(const mt_static_map_t *map, const char *raw_path, int *fd_out, struct stat *st)
{
    if (map == NULL)
        return 0;
    const mt_static_mapping_t *m = NULL;
    for (size_t i = 0; i < map->count; i++) {
        const mt_static_mapping_t *cand = &map->maps[i];
        if (cand->is_file ? strcmp(raw_path, cand->url) == 0
                          : strncmp(raw_path, cand->url, cand->url_len) == 0 &&
                                (raw_path[cand->url_len] == '/' || raw_path[cand->url_len] == '\0')) {
            m = cand;
            break;
        }
    }
    if (m == NULL)
        return 0;
    if (m->is_file) {
        /* Fixed by the configuration, not by the request: opened by its real path. */
        int fd = open(m->dir_real, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
        if (fd < 0)
            return errno_to_result(errno);
        if (fstat(fd, st) < 0 || !S_ISREG(st->st_mode)) {
            close(fd);
            return -ENOENT;
        }
        *fd_out = fd;
        return 1;
    }
    const char *rest = raw_path + m->url_len;
    if (*rest == '/')
        rest++; /* one separator; a second one makes the rest absolute, which is refused */

    char rel[PATH_MAX];
    int rc = mt_url_decode_path(rest, rel, sizeof rel);
    if (rc < 0)
        return rc;
    if (rel[0] == '\0')
        return -ENOENT; /* the mapped directory itself */

    int fd = open_beneath(map, m, rel);
    if (fd < 0)
        return fd;
    if (fstat(fd, st) < 0) {
        rc = errno_to_result(errno);
        close(fd);
        return rc;
    }
    if (!S_ISREG(st->st_mode)) {
        close(fd);
        return -ENOENT; /* directories (no listings), devices, FIFOs */
    }
    *fd_out = fd;
    return 1;
}

typedef struct content_type {
    const char *ext;
    const char *type;
} content_type_t;

static const content_type_t content_types[] = {
    {"html", "text/html; charset=utf-8"},
    {"htm", "text/html; charset=utf-8"},
    {"css", "text/css; charset=utf-8"},
    {"js", "text/javascript; charset=utf-8"},
    {"mjs", "text/javascript; charset=utf-8"},
    {"json", "application/json"},
    {"map", "application/json"},
    {"txt", "text/plain; charset=utf-8"},
    {"log", "text/plain; charset=utf-8"},
    {"md", "text/markdown; charset=utf-8"},
    {"csv", "text/csv; charset=utf-8"},
    {"tsv", "text/tab-separated-values; charset=utf-8"},
    {"xml", "application/xml"},
    {"svg", "image/svg+xml"},
    {"png", "image/png"},
    {"jpg", "image/jpeg"},
    {"jpeg", "image/jpeg"},
    {"gif", "image/gif"},
    {"webp", "image/webp"},
    {"ico", "image/x-icon"},
    {"pdf", "application/pdf"},
    {"wasm", "application/wasm"},
    {"woff", "font/woff"},
    {"woff2", "font/woff2"},
    {"ttf", "font/ttf"},
    {"otf", "font/otf"},
    {"zip", "application/zip"},
    {"gz", "application/gzip"},
    {"tar", "application/x-tar"},
    {"mp3", "audio/mpeg"},
    {"mp4", "video/mp4"},
    {"webm", "video/webm"},
};

const char *mt_static_content_type(const char *path)
{
    const char *slash = strrchr(path, '/');
    const char *dot = strrchr(slash ? slash : path, '.');
    if (dot != NULL) {
        for (size_t i = 0; i < sizeof content_types / sizeof content_types[0]; i++) {
            if (strcasecmp(dot + 1, content_types[i].ext) == 0)
                return content_types[i].type;
        }
    }
    return "application/octet-stream";
}

const char *mt_static_type_for(const mt_static_map_t *map, const char *raw_path)
{
    for (size_t i = 0; map != NULL && i < map->count; i++) {
        if (map->maps[i].is_file && strcmp(raw_path, map->maps[i].url) == 0)
            return mt_static_content_type(map->maps[i].dir_real);
    }
    return mt_static_content_type(raw_path);
}
