/*
 * Unit tests of common/creds: resolving users and groups by name and number
 * (nobody / nogroup, present on Debian), the errors that name the option,
 * and switching for good in a forked child (root only: skipped otherwise).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/creds.h"

static char err[512];

static void need_nobody(void)
{
    if (!getpwnam("nobody") || !getgrnam("nogroup"))
        cr_skip_test("no user nobody / group nogroup here");
}

Test(creds, a_user_by_name_brings_its_primary_group_and_groups)
{
    need_nobody();
    mt_creds_t c;
    cr_assert_eq(mt_creds_resolve("nobody", "uid", NULL, "gid", &c, err, sizeof err), 0, "%s", err);
    const struct passwd *pw = getpwnam("nobody");
    cr_assert(c.set_uid && c.set_gid);
    cr_assert_eq(c.uid, pw->pw_uid);
    cr_assert_eq(c.gid, pw->pw_gid);
    cr_assert_str_eq(c.user, "nobody");
    cr_assert_geq(c.ngroups, 1);
    bool has_primary = false;
    for (size_t i = 0; i < c.ngroups; i++)
        has_primary = has_primary || c.groups[i] == pw->pw_gid;
    cr_assert(has_primary);
}

Test(creds, numbers_are_ids_and_get_their_names)
{
    need_nobody();
    char uid[32], gid[32];
    snprintf(uid, sizeof uid, "%lu", (unsigned long)getpwnam("nobody")->pw_uid);
    snprintf(gid, sizeof gid, "%lu", (unsigned long)getgrnam("nogroup")->gr_gid);
    mt_creds_t c;
    cr_assert_eq(mt_creds_resolve(uid, "uid", gid, "gid", &c, err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(c.user, "nobody");
    cr_assert_str_eq(c.group, "nogroup");
    cr_assert_eq(c.gid, getgrnam("nogroup")->gr_gid);
}

Test(creds, a_group_alone_changes_only_the_group)
{
    need_nobody();
    mt_creds_t c;
    cr_assert_eq(mt_creds_resolve(NULL, "uid", "nogroup", "gid", &c, err, sizeof err), 0, "%s", err);
    cr_assert_not(c.set_uid);
    cr_assert(c.set_gid);
    cr_assert_eq(c.ngroups, 1);
    cr_assert_eq(c.groups[0], getgrnam("nogroup")->gr_gid);
}

Test(creds, nothing_given_is_nothing_to_do)
{
    mt_creds_t c;
    cr_assert_eq(mt_creds_resolve(NULL, "uid", "", "gid", &c, err, sizeof err), 0);
    cr_assert_not(mt_creds_given(&c));
    cr_assert_eq(mt_creds_need_switch(&c, "uid", "gid", err, sizeof err), 0);
}

Test(creds, unknown_names_and_orphan_numbers_are_errors_naming_the_option)
{
    mt_creds_t c;
    cr_assert_eq(mt_creds_resolve("mt-no-such-user", "jobs.job-user", NULL, "jobs.job-group", &c, err, sizeof err), -1);
    cr_assert_str_eq(err, "option 'jobs.job-user': no user named 'mt-no-such-user'");
    cr_assert_eq(mt_creds_resolve(NULL, "uid", "mt-no-such-group", "gid", &c, err, sizeof err), -1);
    cr_assert_str_eq(err, "option 'gid': no group named 'mt-no-such-group'");
    unsigned long orphan = 54321;
    while (getpwuid((uid_t)orphan))
        orphan++;
    char num[32];
    snprintf(num, sizeof num, "%lu", orphan);
    cr_assert_eq(mt_creds_resolve(num, "uid", NULL, "gid", &c, err, sizeof err), -1);
    cr_assert(strstr(err, "give 'gid' too"), "%s", err);
    cr_assert_eq(mt_creds_resolve(num, "uid", "0", "gid", &c, err, sizeof err), 0, "%s", err);
    cr_assert(strncmp(c.user, "uid ", 4) == 0, "%s", c.user);
    cr_assert_eq(mt_creds_resolve("4294967295", "uid", "0", "gid", &c, err, sizeof err), -1); /* (uid_t)-1 */
}

Test(creds, root_switches_for_good_in_a_child)
{
    need_nobody();
    if (geteuid() != 0)
        cr_skip_test("switching users needs root");
    mt_creds_t c;
    cr_assert_eq(mt_creds_resolve("nobody", "uid", NULL, "gid", &c, err, sizeof err), 0, "%s", err);
    cr_assert_eq(mt_creds_need_switch(&c, "uid", "gid", err, sizeof err), 1);
    pid_t pid = fork();
    if (pid == 0) {
        const char *step = "";
        if (mt_creds_apply(&c, &step) < 0)
            _exit(1);
        if (setuid(0) == 0 || seteuid(0) == 0 || getuid() != c.uid || getegid() != c.gid)
            _exit(2);
        gid_t groups[8];
        if (getgroups(8, groups) != (int)c.ngroups)
            _exit(3);
        /* Now not root: its own ids need nothing, root's are refused with the reason. */
        char why[256];
        if (mt_creds_need_switch(&c, "uid", "gid", why, sizeof why) != 0)
            _exit(4);
        mt_creds_t r;
        mt_creds_resolve("root", "uid", NULL, "gid", &r, why, sizeof why);
        if (mt_creds_need_switch(&r, "uid", "gid", why, sizeof why) != -1 || !strstr(why, "not root"))
            _exit(5);
        _exit(0);
    }
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status));
    cr_assert_eq(WEXITSTATUS(status), 0, "the child failed at check %d", WEXITSTATUS(status));
}
