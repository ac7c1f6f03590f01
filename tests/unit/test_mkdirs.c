/*
 * Unit tests for mt_mkdirs (src/common/mkdirs.c): nested creation, an
 * existing directory, a file in the way, an overlong path.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/mkdirs.h"

static char root[] = "/tmp/mt_mkdirs.XXXXXX";

static void setup(void)
{
    strcpy(root, "/tmp/mt_mkdirs.XXXXXX");
    cr_assert_not_null(mkdtemp(root));
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", root);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(mkdirs, .init = setup, .fini = teardown);

static bool is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

Test(mkdirs, creates_every_missing_parent_and_accepts_an_existing_one)
{
    char path[256];
    snprintf(path, sizeof path, "%s/a/b/c", root);
    cr_assert_eq(mt_mkdirs(path, 0755), 0);
    cr_assert(is_dir(path));
    cr_assert_eq(mt_mkdirs(path, 0755), 0, "existing: fine");
    snprintf(path, sizeof path, "%s/a/b/c/", root);
    cr_assert_eq(mt_mkdirs(path, 0755), 0, "a trailing slash: fine");
}

Test(mkdirs, a_file_in_the_way_is_an_error)
{
    char path[256];
    snprintf(path, sizeof path, "%s/file", root);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fclose(f);
    snprintf(path, sizeof path, "%s/file/sub", root);
    cr_assert_eq(mt_mkdirs(path, 0755), -ENOTDIR);
    snprintf(path, sizeof path, "%s/file", root);
    cr_assert_eq(mt_mkdirs(path, 0755), -ENOTDIR, "the path itself is a file");
}

Test(mkdirs, an_overlong_path_is_refused)
{
    char *path = malloc(PATH_MAX + 16);
    memset(path, 'a', PATH_MAX + 8);
    path[0] = '/';
    path[PATH_MAX + 8] = '\0';
    cr_assert_eq(mt_mkdirs(path, 0755), -ENAMETOOLONG);
    free(path);
}
