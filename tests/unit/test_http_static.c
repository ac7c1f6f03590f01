/*
 * Unit tests of http_static: a temporary tree with a file, a subdirectory,
 * symlinks inside and outside, a FIFO and a secret file next to the served
 * directory. Every escape ("..", "%2e%2e", absolute paths, symlinks out,
 * encoded NUL, bad escapes) must be refused, with openat2 and with the
 * realpath fallback used when openat2 answers ENOSYS. A mapping may name a
 * single file (served at exactly its URL), and static-safe lets symlinks
 * lead into a directory named safe, and nowhere else.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "stack/http_static.h"

static char tmp[256];
static char root[300];
static char other[300];

static void write_file(const char *dir, const char *name, const char *content)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "fopen %s", path);
    fputs(content, f);
    fclose(f);
}

static void setup(void)
{
    snprintf(tmp, sizeof tmp, "/tmp/mt_static_XXXXXX");
    cr_assert_not_null(mkdtemp(tmp));
    snprintf(root, sizeof root, "%s/root", tmp);
    snprintf(other, sizeof other, "%s/other", tmp);
    char path[512];
    cr_assert_eq(mkdir(root, 0755), 0);
    cr_assert_eq(mkdir(other, 0755), 0);
    snprintf(path, sizeof path, "%s/sub", root);
    cr_assert_eq(mkdir(path, 0755), 0);
    write_file(root, "a.txt", "hello");
    write_file(root, "with space.txt", "spaced");
    write_file(root, "sub/b.css", "body{}");
    write_file(tmp, "secret.txt", "secret");
    write_file(other, "x.txt", "other");
    snprintf(path, sizeof path, "%s/evil", root);
    cr_assert_eq(symlink("../secret.txt", path), 0);
    snprintf(path, sizeof path, "%s/passwd", root);
    cr_assert_eq(symlink("/etc/passwd", path), 0);
    snprintf(path, sizeof path, "%s/inside", root);
    cr_assert_eq(symlink("a.txt", path), 0);
    snprintf(path, sizeof path, "%s/fifo", root);
    cr_assert_eq(mkfifo(path, 0644), 0);
}

static void teardown(void)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(http_static, .init = setup, .fini = teardown);

static mt_static_map_t *make_map(void)
{
    mt_static_map_t *map = mt_static_map_create();
    char spec[700], err[256];
    snprintf(spec, sizeof spec, "/s=%s", root);
    cr_assert_eq(mt_static_map_add(map, spec, err, sizeof err), 0, "%s", err);
    snprintf(spec, sizeof spec, "/s/deep/=%s/", other);
    cr_assert_eq(mt_static_map_add(map, spec, err, sizeof err), 0, "%s", err);
    cr_assert_eq(mt_static_map_count(map), 2);
    return map;
}

/* Resolve and, for a file, check its content. */
static int resolve(const mt_static_map_t *map, const char *path, const char *want_content)
{
    int fd = -1;
    struct stat st;
    int rc = mt_static_resolve(map, path, &fd, &st);
    if (rc == 1) {
        char buf[64] = {0};
        ssize_t n = read(fd, buf, sizeof buf - 1);
        close(fd);
        cr_assert_eq(n, st.st_size, "%s: size", path);
        if (want_content != NULL)
            cr_assert_str_eq(buf, want_content, "%s", path);
    }
    return rc;
}

static void check_all(const mt_static_map_t *map)
{
    /* served */
    cr_assert_eq(resolve(map, "/s/a.txt", "hello"), 1);
    cr_assert_eq(resolve(map, "/s/sub/b.css", "body{}"), 1);
    cr_assert_eq(resolve(map, "/s/with%20space.txt", "spaced"), 1);
    cr_assert_eq(resolve(map, "/s/inside", "hello"), 1, "a symlink staying inside is fine");
    cr_assert_eq(resolve(map, "/s/sub/../a.txt", "hello"), 1, "\"..\" staying inside is fine");
    cr_assert_eq(resolve(map, "/s/deep/x.txt", "other"), 1, "longest URL prefix first");

    /* not found: missing, directories, special files */
    cr_assert_eq(resolve(map, "/s/missing.txt", NULL), -ENOENT);
    cr_assert_eq(resolve(map, "/s/sub", NULL), -ENOENT);
    cr_assert_eq(resolve(map, "/s/sub/", NULL), -ENOENT);
    cr_assert_eq(resolve(map, "/s/", NULL), -ENOENT);
    cr_assert_eq(resolve(map, "/s", NULL), -ENOENT);
    cr_assert_eq(resolve(map, "/s/fifo", NULL), -ENOENT);
    cr_assert_eq(resolve(map, "/s/a.txt/x", NULL), -ENOENT);

    /* escapes */
    cr_assert_eq(resolve(map, "/s/../secret.txt", NULL), -EACCES);
    cr_assert_eq(resolve(map, "/s/sub/../../secret.txt", NULL), -EACCES);
    cr_assert_eq(resolve(map, "/s/%2e%2e/secret.txt", NULL), -EACCES);
    cr_assert_eq(resolve(map, "/s/%2E%2E/%2E%2E/%2E%2E/etc/passwd", NULL), -EACCES);
    cr_assert_eq(resolve(map, "/s/..%2fsecret.txt", NULL), -EACCES);
    cr_assert_eq(resolve(map, "/s//etc/passwd", NULL), -EACCES);
    cr_assert_eq(resolve(map, "/s/%2fetc%2fpasswd", NULL), -EACCES);
    cr_assert_eq(resolve(map, "/s/evil", NULL), -EACCES);
    cr_assert_eq(resolve(map, "/s/passwd", NULL), -EACCES);

    /* malformed */
    cr_assert_eq(resolve(map, "/s/a.txt%00.html", NULL), -EACCES);
    cr_assert_eq(resolve(map, "/s/%zz", NULL), -EACCES);
    cr_assert_eq(resolve(map, "/s/a%2", NULL), -EACCES);
    cr_assert_eq(resolve(map, "/s/a%", NULL), -EACCES);

    /* not under a mapping */
    cr_assert_eq(resolve(map, "/other", NULL), 0);
    cr_assert_eq(resolve(map, "/sx/a.txt", NULL), 0);
    cr_assert_eq(resolve(map, "/", NULL), 0);
}

Test(http_static, resolves_and_refuses_escapes)
{
    mt_static_map_t *map = make_map();
    check_all(map);
    mt_static_map_destroy(map);
}

static long openat2_enosys(int dirfd, const char *path, struct open_how *how, size_t size)
{
    (void)dirfd;
    (void)path;
    (void)how;
    (void)size;
    errno = ENOSYS;
    return -1;
}

Test(http_static, realpath_fallback_without_openat2)
{
    mt_static__openat2 = openat2_enosys;
    mt_static_map_t *map = make_map();
    check_all(map);
    mt_static_map_destroy(map);
}

Test(http_static, map_for_root_url)
{
    mt_static_map_t *map = mt_static_map_create();
    char spec[700], err[256];
    snprintf(spec, sizeof spec, "/=%s", root);
    cr_assert_eq(mt_static_map_add(map, spec, err, sizeof err), 0, "%s", err);
    cr_assert_eq(resolve(map, "/a.txt", "hello"), 1);
    cr_assert_eq(resolve(map, "/../secret.txt", NULL), -EACCES);
    cr_assert_eq(resolve(map, "/", NULL), -ENOENT);
    mt_static_map_destroy(map);
}

Test(http_static, add_errors)
{
    mt_static_map_t *map = mt_static_map_create();
    char err[256];
    cr_assert_eq(mt_static_map_add(map, "/static", err, sizeof err), -1);
    cr_assert(strstr(err, "URL=DIR") != NULL, "%s", err);
    cr_assert_eq(mt_static_map_add(map, "static=/tmp", err, sizeof err), -1);
    cr_assert(strstr(err, "start with '/'") != NULL, "%s", err);
    cr_assert_eq(mt_static_map_add(map, "/static=/nonexistent/dir", err, sizeof err), -1);
    cr_assert(strstr(err, "/nonexistent/dir") != NULL, "%s", err);
    char spec[700];
    snprintf(spec, sizeof spec, "/=%s/a.txt", root);
    cr_assert_eq(mt_static_map_add(map, spec, err, sizeof err), -1, "a file at / would hide everything");
    cr_assert(strstr(err, "URL of its own") != NULL, "%s", err);
    snprintf(spec, sizeof spec, "/f=%s/fifo", root);
    cr_assert_eq(mt_static_map_add(map, spec, err, sizeof err), -1, "a FIFO is neither a directory nor a file");
    cr_assert(strstr(err, "neither a directory nor a regular file") != NULL, "%s", err);
    cr_assert_eq(mt_static_map_count(map), 0);
    cr_assert_eq(mt_static_map_add_safe(map, "/nonexistent/dir", err, sizeof err), -1);
    cr_assert(strstr(err, "/nonexistent/dir") != NULL, "%s", err);
    snprintf(spec, sizeof spec, "%s/a.txt", root);
    cr_assert_eq(mt_static_map_add_safe(map, spec, err, sizeof err), -1, "static-safe names a directory");
    mt_static_map_destroy(map);
    mt_static_map_destroy(NULL);
    cr_assert_eq(mt_static_map_count(NULL), 0);
}

Test(http_static, content_types)
{
    cr_assert_str_eq(mt_static_content_type("/a/index.html"), "text/html; charset=utf-8");
    cr_assert_str_eq(mt_static_content_type("style.CSS"), "text/css; charset=utf-8");
    cr_assert_str_eq(mt_static_content_type("app.js"), "text/javascript; charset=utf-8");
    cr_assert_str_eq(mt_static_content_type("data.json"), "application/json");
    cr_assert_str_eq(mt_static_content_type("logo.png"), "image/png");
    cr_assert_str_eq(mt_static_content_type("photo.jpeg"), "image/jpeg");
    cr_assert_str_eq(mt_static_content_type("icon.svg"), "image/svg+xml");
    cr_assert_str_eq(mt_static_content_type("notes.txt"), "text/plain; charset=utf-8");
    cr_assert_str_eq(mt_static_content_type("archive.tar.gz"), "application/gzip");
    cr_assert_str_eq(mt_static_content_type("README"), "application/octet-stream");
    cr_assert_str_eq(mt_static_content_type("dir.d/file"), "application/octet-stream");
    cr_assert_str_eq(mt_static_content_type("file."), "application/octet-stream");
}

Test(http_static, single_file_at_exactly_its_url)
{
    mt_static_map_t *map = make_map();
    char spec[700], err[256];
    snprintf(spec, sizeof spec, "/favicon.ico=%s/sub/b.css", root);
    cr_assert_eq(mt_static_map_add(map, spec, err, sizeof err), 0, "%s", err);
    snprintf(spec, sizeof spec, "/s/a.txt=%s/x.txt", other);
    cr_assert_eq(mt_static_map_add(map, spec, err, sizeof err), 0, "%s", err);
    cr_assert_eq(mt_static_map_count(map), 4);
    cr_assert_eq(resolve(map, "/favicon.ico", "body{}"), 1);
    cr_assert_eq(resolve(map, "/favicon.ico/x", NULL), 0, "only the exact URL");
    cr_assert_eq(resolve(map, "/favicon.icox", NULL), 0);
    cr_assert_eq(resolve(map, "/s/a.txt", "other"), 1, "a file mapping wins over the directory above it");
    cr_assert_eq(resolve(map, "/s/sub/b.css", "body{}"), 1, "the directory mapping still serves the rest");
    /* The file is named by the configuration: a file that went away is a 404, not an escape. */
    char path[512];
    snprintf(path, sizeof path, "%s/x.txt", other);
    cr_assert_eq(unlink(path), 0);
    cr_assert_eq(resolve(map, "/s/a.txt", NULL), -ENOENT);
    mt_static_map_destroy(map);
}

Test(http_static, static_safe_lets_symlinks_into_safe_dirs_only)
{
    char path[512], err[256];
    snprintf(path, sizeof path, "%s/to-other", root);
    cr_assert_eq(symlink("../other/x.txt", path), 0);
    mt_static_map_t *map = make_map();
    cr_assert_eq(resolve(map, "/s/to-other", NULL), -EACCES, "without static-safe, a symlink out is refused");
    cr_assert_eq(mt_static_map_add_safe(map, other, err, sizeof err), 0, "%s", err);
    cr_assert_eq(resolve(map, "/s/to-other", "other"), 1, "into a static-safe directory");
    cr_assert_eq(resolve(map, "/s/evil", NULL), -EACCES, "secret.txt is not under a safe directory");
    cr_assert_eq(resolve(map, "/s/passwd", NULL), -EACCES);
    cr_assert_eq(resolve(map, "/s/../other/x.txt", NULL), -EACCES, "\"..\" is never the way in");
    cr_assert_eq(resolve(map, "/s/%2e%2e/other/x.txt", NULL), -EACCES);
    mt_static_map_destroy(map);
}

Test(http_static, static_safe_with_the_realpath_fallback)
{
    mt_static__openat2 = openat2_enosys;
    char path[512], err[256];
    snprintf(path, sizeof path, "%s/to-other", root);
    cr_assert_eq(symlink("../other/x.txt", path), 0);
    mt_static_map_t *map = make_map();
    cr_assert_eq(resolve(map, "/s/to-other", NULL), -EACCES);
    cr_assert_eq(mt_static_map_add_safe(map, other, err, sizeof err), 0, "%s", err);
    cr_assert_eq(resolve(map, "/s/to-other", "other"), 1);
    cr_assert_eq(resolve(map, "/s/evil", NULL), -EACCES);
    mt_static_map_destroy(map);
}

/* mt_static_map_add_file: an application's index page at "/" beside its directory under "/ui". */
Test(http_static, a_file_at_the_root_url_beside_a_directory)
{
    mt_static_map_t *map = mt_static_map_create();
    char err[512], file[512], spec[600];
    snprintf(file, sizeof file, "%s/sub/b.css", root);
    cr_assert_eq(mt_static_map_add_file(map, "/", file, err, sizeof err), 0, "%s", err);
    snprintf(spec, sizeof spec, "/ui=%s", root);
    cr_assert_eq(mt_static_map_add(map, spec, err, sizeof err), 0, "%s", err);
    int fd = -1;
    struct stat st;
    cr_assert_eq(mt_static_resolve(map, "/", &fd, &st), 1);
    cr_assert_eq(st.st_size, 6, "the file itself");
    close(fd);
    cr_assert_str_eq(mt_static_type_for(map, "/"), "text/css; charset=utf-8", "typed by the file's name, not the URL");
    cr_assert_str_eq(mt_static_type_for(map, "/ui/a.txt"), "text/plain; charset=utf-8");
    cr_assert_eq(mt_static_resolve(map, "/other", &fd, &st), 0, "only \"/\" itself is the file");
    cr_assert_eq(mt_static_resolve(map, "/ui/a.txt", &fd, &st), 1);
    close(fd);
    cr_assert_eq(mt_static_resolve(map, "/ui/../secret.txt", &fd, &st), -EACCES);
    cr_assert_eq(mt_static_resolve(map, "/ui/%2e%2e/secret.txt", &fd, &st), -EACCES);
    cr_assert_eq(mt_static_map_add_file(map, "/x", root, err, sizeof err), -1, "a directory is not a file");
    cr_assert(strstr(err, "not a regular file") != NULL, "%s", err);
    cr_assert_eq(mt_static_map_add_file(map, "x", file, err, sizeof err), -1);
    cr_assert_eq(mt_static_map_add_file(map, "/y", "/nonexistent/f", err, sizeof err), -1);
    cr_assert(strstr(err, "/nonexistent/f") != NULL, "%s", err);
    mt_static_map_destroy(map);
}
