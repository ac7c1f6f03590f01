/*
 * http_static: --static-map URL=DIR, serving files without escaping DIR.
 *
 * Each mapping opens DIR once (O_PATH) when configured; requests are
 * resolved relative to that descriptor with openat2(RESOLVE_BENEATH |
 * RESOLVE_NO_MAGICLINKS), so neither "..", "%2e%2e", an absolute path nor a
 * symlink pointing outside DIR can reach a file outside it (the kernel
 * enforces it, not string checks alone). Mappings are tried longest URL
 * prefix first. A mapping may name a single file instead of a directory
 * (URL=FILE): that file is served at exactly URL. static-safe directories
 * (mt_static_map_add_safe) let a symlink inside a mapped directory lead
 * to a file under them.
 */
#ifndef MT_HTTP_STATIC_H
#define MT_HTTP_STATIC_H

#include <stddef.h>
#include <sys/stat.h>

typedef struct mt_static_map mt_static_map_t;

mt_static_map_t *mt_static_map_create(void);
/* Accepts NULL; closes the directory descriptors. */
void mt_static_map_destroy(mt_static_map_t *map);

/*
 * Parse and add one "URL=DIR" or "URL=FILE" mapping. Returns 0, or -1 with
 * a message in err (missing '=', URL not starting with '/', DIR neither an
 * accessible directory nor a regular file, a file mapped at "/").
 */
int mt_static_map_add(mt_static_map_t *map, const char *spec, char *err, size_t errlen);

/*
 * Serve the regular file FILE at exactly URL, which may be "/" (an
 * application's index page). FILE's real path is fixed now. Returns 0, or
 * -1 with a message in err (URL not starting with '/', FILE missing or not
 * a regular file).
 */
int mt_static_map_add_file(mt_static_map_t *map, const char *url, const char *file, char *err, size_t errlen);

/*
 * static-safe: files whose real path is under DIR may be served even when
 * reached through a symlink that leaves the mapped directory (requests
 * with a ".." component are still refused). Returns 0, or -1 with a
 * message in err (DIR not a directory).
 */
int mt_static_map_add_safe(mt_static_map_t *map, const char *dir, char *err, size_t errlen);

/* Number of mappings. */
size_t mt_static_map_count(const mt_static_map_t *map);

/*
 * Resolve a raw request path (not yet percent-decoded, no query string).
 * Returns:
 *   1   the path is under a mapping and a regular file was opened:
 *       *fd_out is a read-only descriptor the caller closes, *st its stat
 *   0   no mapping covers this path (route it elsewhere)
 *  -ENOENT   under a mapping but no such file (or a directory)
 *  -EACCES   under a mapping but the path tries to escape or is malformed
 *            (bad percent-encoding, NUL byte)
 */
int mt_static_resolve(const mt_static_map_t *map, const char *raw_path, int *fd_out, struct stat *st);

/*
 * Content-Type of what raw_path resolves to: by the extension of the file
 * a single-file mapping names when raw_path is its URL, else by raw_path's.
 */
const char *mt_static_type_for(const mt_static_map_t *map, const char *raw_path);

/* Content-Type for a file name by extension ("application/octet-stream" if unknown). */
const char *mt_static_content_type(const char *path);

/*
 * Testing seam: the openat2 system call, syscall(SYS_openat2, ...) by
 * default. Returns the descriptor, or -1 with errno set. Tests replace it
 * (e.g. with one failing with ENOSYS to exercise the realpath fallback);
 * set it before any thread resolves paths.
 */
struct open_how;
extern long (*mt_static__openat2)(int dirfd, const char *path, struct open_how *how, size_t size);

#endif
