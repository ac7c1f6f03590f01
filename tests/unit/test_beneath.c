/*
 * Unit tests of common/beneath: a job directory holding a file, a
 * subdirectory, a FIFO, and links inside, outside and through /proc, next to
 * a secret file. Every way out must be -EXDEV; a link inside is followed;
 * anything but a regular file is -ENOENT, and a FIFO never blocks.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/beneath.h"

static char tmp[64];
static char job[128];

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static const char *at(const char *dir, const char *name)
{
    static char bufs[4][512];
    static int next;
    char *p = bufs[next++ % 4];
    snprintf(p, sizeof bufs[0], "%s/%s", dir, name);
    return p;
}

static void write_file(const char *path, const char *content)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "fopen %s", path);
    fputs(content, f);
    fclose(f);
}

static void setup(void)
{
    snprintf(tmp, sizeof tmp, "/tmp/mt_beneath_XXXXXX");
    cr_assert_not_null(mkdtemp(tmp));
    snprintf(job, sizeof job, "%s/job", tmp);
    cr_assert_eq(mkdir(job, 0755), 0);
    write_file(at(tmp, "secret.txt"), "secret\n");
    write_file(at(job, "out.txt"), "output\n");
    cr_assert_eq(mkdir(at(job, "sub"), 0755), 0);
    write_file(at(job, "sub/inner.txt"), "inner\n");
    cr_assert_eq(symlink("out.txt", at(job, "alias.txt")), 0);
    cr_assert_eq(symlink("sub/../out.txt", at(job, "dotted-alias.txt")), 0);
    cr_assert_eq(symlink("../secret.txt", at(job, "up.txt")), 0);
    cr_assert_eq(symlink(at(tmp, "secret.txt"), at(job, "absolute.txt")), 0);
    cr_assert_eq(symlink(tmp, at(job, "parent")), 0);
    char magic[600];
    snprintf(magic, sizeof magic, "/proc/self/root%s/secret.txt", tmp);
    cr_assert_eq(symlink(magic, at(job, "magic.txt")), 0);
    cr_assert_eq(mkfifo(at(job, "fifo"), 0644), 0);
}

static void teardown(void)
{
    nftw(tmp, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(beneath, .init = setup, .fini = teardown, .timeout = 10);

static char *read_fd(int fd)
{
    static char buf[256];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    buf[n > 0 ? n : 0] = '\0';
    close(fd);
    return buf;
}

Test(beneath, a_file_and_links_inside_are_opened)
{
    struct stat st;
    int fd = mt_open_beneath(job, "out.txt", &st);
    cr_assert_geq(fd, 0, "%s", strerror(-fd));
    cr_assert_eq(st.st_size, 7);
    cr_assert_str_eq(read_fd(fd), "output\n");
    cr_assert_str_eq(read_fd(mt_open_beneath(job, "alias.txt", &st)), "output\n");
    cr_assert_str_eq(read_fd(mt_open_beneath(job, "dotted-alias.txt", &st)), "output\n");
    cr_assert_str_eq(read_fd(mt_open_beneath(job, "sub/inner.txt", &st)), "inner\n");
    cr_assert_str_eq(read_fd(mt_open_beneath(job, "sub/../out.txt", &st)), "output\n");
}

Test(beneath, every_way_out_is_exdev)
{
    static const char *const ways[] = {"../secret.txt", "sub/../../secret.txt", "up.txt", "absolute.txt",
                                       "parent/secret.txt", "magic.txt"};
    char abs_path[512];
    snprintf(abs_path, sizeof abs_path, "%s/secret.txt", tmp);
    struct stat st;
    for (size_t i = 0; i < sizeof ways / sizeof ways[0]; i++) {
        int fd = mt_open_beneath(job, ways[i], &st);
        cr_assert_eq(fd, -EXDEV, "%s: %d (%s)", ways[i], fd, fd < 0 ? strerror(-fd) : "opened");
    }
    cr_assert_eq(mt_open_beneath(job, abs_path, &st), -EXDEV);
    cr_assert_eq(mt_open_beneath(job, "/etc/passwd", &st), -EXDEV);
}

Test(beneath, what_is_not_a_regular_file_is_enoent)
{
    struct stat st;
    cr_assert_eq(mt_open_beneath(job, "missing.txt", &st), -ENOENT);
    cr_assert_eq(mt_open_beneath(job, "sub", &st), -ENOENT);
    cr_assert_eq(mt_open_beneath(job, ".", &st), -ENOENT);
    cr_assert_eq(mt_open_beneath(job, "", &st), -ENOENT);
    cr_assert_eq(mt_open_beneath(job, "fifo", &st), -ENOENT); /* and it returned: no writer, no block */
    cr_assert_eq(mt_open_beneath(at(tmp, "nodir"), "out.txt", &st), -ENOENT);
}
