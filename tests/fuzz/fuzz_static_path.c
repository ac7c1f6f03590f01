/*
 * fuzz_static_path: mt_static_resolve() on arbitrary request paths.
 *
 * The fixture is a small tree in a temporary directory:
 *
 *   T/root/          mapped at /s
 *     a.txt  with space.txt  sub/b.css  sub/deeper/c.txt
 *     inside -> a.txt              (a symlink that stays inside)
 *     subdir -> sub                (a directory symlink inside)
 *     evil -> ../secret.txt        (relative, escaping)
 *     sibling -> ../root2/f.txt    (escaping into a directory whose name extends root's)
 *     abs -> T/secret.txt          (absolute, escaping)
 *     up -> ..                     (a directory symlink escaping)
 *     loop -> loop                 (a symlink loop)
 *     fifo                         (not a regular file)
 *   T/other/x.txt    mapped at /s/deep
 *   T/root2/f.txt, T/secret.txt    never to be served
 *
 * The input (up to its first NUL) is the raw path. Each one is resolved
 * twice: with openat2(RESOLVE_BENEATH), and with the realpath() fallback
 * forced through the mt_static__openat2 seam. Both times:
 *   - the result is 1, 0, -ENOENT or -EACCES (http_static.h);
 *   - 0 exactly when no mapping covers the path (longest URL prefix of
 *     whole segments: /s/deep, then /s);
 *   - on 1, the descriptor is a regular file of st's size whose real path
 *     (readlink of /proc/self/fd/N) is inside the directory of the mapping
 *     that covers the path;
 *   - no descriptor leaks (the lowest free descriptor stays the same).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"
#include "stack/http_static.h"

static mt_static_map_t *map;
static char root_real[PATH_MAX];  /* realpath of T/root */
static char other_real[PATH_MAX]; /* realpath of T/other */
static int lowest_free_fd;
static long (*openat2_real)(int dirfd, const char *path, struct open_how *how, size_t size);

static long openat2_enosys(int dirfd, const char *path, struct open_how *how, size_t size)
{
    (void)dirfd;
    (void)path;
    (void)how;
    (void)size;
    errno = ENOSYS;
    return -1;
}

static void tree_path(char *out, const char *rel)
{
    snprintf(out, PATH_MAX, "%s/%s", fuzz_tmpdir(), rel);
}

static void make_dir(const char *rel)
{
    char path[PATH_MAX];
    tree_path(path, rel);
    FUZZ_CHECK(mkdir(path, 0755) == 0, "mkdir %s: %s", path, strerror(errno));
}

static void make_file(const char *rel, const char *content)
{
    char path[PATH_MAX];
    tree_path(path, rel);
    fuzz_write_file(path, content, strlen(content));
}

static void make_link(const char *rel, const char *target)
{
    char path[PATH_MAX];
    tree_path(path, rel);
    FUZZ_CHECK(symlink(target, path) == 0, "symlink %s: %s", path, strerror(errno));
}

static int lowest_fd(void)
{
    int fd = dup(0);
    FUZZ_CHECK(fd >= 0, "dup: %s", strerror(errno));
    close(fd);
    return fd;
}

static void fixture_init(void)
{
    if (map != NULL)
        return;
    make_dir("root");
    make_dir("root/sub");
    make_dir("root/sub/deeper");
    make_dir("root2");
    make_dir("other");
    make_file("root/a.txt", "hello");
    make_file("root/with space.txt", "spaced");
    make_file("root/sub/b.css", "body{}");
    make_file("root/sub/deeper/c.txt", "deep");
    make_file("root2/f.txt", "root2");
    make_file("other/x.txt", "other");
    make_file("secret.txt", "secret");
    make_link("root/inside", "a.txt");
    make_link("root/subdir", "sub");
    make_link("root/evil", "../secret.txt");
    make_link("root/sibling", "../root2/f.txt");
    char secret[PATH_MAX];
    tree_path(secret, "secret.txt");
    make_link("root/abs", secret);
    make_link("root/up", "..");
    make_link("root/loop", "loop");
    char fifo[PATH_MAX];
    tree_path(fifo, "root/fifo");
    FUZZ_CHECK(mkfifo(fifo, 0644) == 0, "mkfifo %s: %s", fifo, strerror(errno));

    char dir[PATH_MAX], spec[PATH_MAX + 16], err[256];
    tree_path(dir, "root");
    FUZZ_CHECK(realpath(dir, root_real) != NULL, "realpath %s", dir);
    map = mt_static_map_create();
    snprintf(spec, sizeof spec, "/s=%s", dir);
    FUZZ_CHECK(mt_static_map_add(map, spec, err, sizeof err) == 0, "%s", err);
    tree_path(dir, "other");
    FUZZ_CHECK(realpath(dir, other_real) != NULL, "realpath %s", dir);
    snprintf(spec, sizeof spec, "/s/deep/=%s/", dir);
    FUZZ_CHECK(mt_static_map_add(map, spec, err, sizeof err) == 0, "%s", err);
    openat2_real = mt_static__openat2;
    lowest_free_fd = lowest_fd();
}

/* Whether path is url or below it, by whole segments. */
static bool covered(const char *path, const char *url)
{
    size_t n = strlen(url);
    return strncmp(path, url, n) == 0 && (path[n] == '/' || path[n] == '\0');
}

/* The real directory of the mapping covering path, or NULL. */
static const char *expected_dir(const char *path)
{
    if (covered(path, "/s/deep"))
        return other_real;
    if (covered(path, "/s"))
        return root_real;
    return NULL;
}

static void check_resolve(const char *path, const char *mode)
{
    int fd = -1;
    struct stat st;
    int rc = mt_static_resolve(map, path, &fd, &st);
    const char *dir = expected_dir(path);
    FUZZ_CHECK(rc == 1 || rc == 0 || rc == -ENOENT || rc == -EACCES, "%s: '%s': unexpected result %d", mode, path,
               rc);
    FUZZ_CHECK((rc == 0) == (dir == NULL), "%s: '%s': result %d, but it is %s a mapping", mode, path, rc,
               dir ? "under" : "not under");
    if (rc == 1) {
        struct stat now;
        FUZZ_CHECK(fstat(fd, &now) == 0 && S_ISREG(now.st_mode) && now.st_ino == st.st_ino &&
                       now.st_size == st.st_size,
                   "%s: '%s': descriptor %d is not the regular file described by st", mode, path, fd);
        char link[64], real[PATH_MAX];
        snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
        ssize_t n = readlink(link, real, sizeof real - 1);
        FUZZ_CHECK(n > 0, "%s: readlink %s: %s", mode, link, strerror(errno));
        real[n] = '\0';
        size_t dir_len = strlen(dir);
        FUZZ_CHECK(strncmp(real, dir, dir_len) == 0 && real[dir_len] == '/',
                   "%s: '%s' escaped its directory %s: opened %s", mode, path, dir, real);
        close(fd);
    }
    FUZZ_CHECK(lowest_fd() == lowest_free_fd, "%s: '%s': a descriptor leaked (result %d)", mode, path, rc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fixture_init();
    char *path = malloc(size + 1);
    FUZZ_CHECK(path != NULL, "out of memory");
    memcpy(path, data, size);
    path[size] = '\0';

    mt_static__openat2 = openat2_real;
    check_resolve(path, "openat2");
    mt_static__openat2 = openat2_enosys;
    check_resolve(path, "realpath fallback");
    mt_static__openat2 = openat2_real;
    free(path);
    return 0;
}
