/*
 * creds: resolving and switching users and groups (see creds.h).
 */
#include "common/creds.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A decimal id: digits only, within the id range (-1, all ones, is "no change" to the kernel: refused). */
static bool parse_id(const char *s, unsigned long *out)
{
    if (!s[0] || strspn(s, "0123456789") != strlen(s) || strlen(s) > 10)
        return false;
    errno = 0;
    unsigned long v = strtoul(s, NULL, 10);
    if (errno || v >= 0xffffffffUL)
        return false;
    *out = v;
    return true;
}

int mt_creds_resolve(const char *user, const char *user_option, const char *group, const char *group_option,
                     mt_creds_t *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (user && !user[0])
        user = NULL;
    if (group && !group[0])
        group = NULL;

    const struct passwd *pw = NULL;
    unsigned long id;
    if (user) {
        if (parse_id(user, &id)) {
            out->uid = (uid_t)id;
            pw = getpwuid(out->uid);
        } else if ((pw = getpwnam(user)) != NULL) {
            out->uid = pw->pw_uid;
        } else {
            snprintf(err, errlen, "option '%s': no user named '%s'", user_option, user);
            return -1;
        }
        out->set_uid = true;
        if (pw)
            snprintf(out->user, sizeof out->user, "%s", pw->pw_name);
        else
            snprintf(out->user, sizeof out->user, "uid %lu", id);
    }
    if (group) {
        const struct group *gr = NULL;
        if (parse_id(group, &id)) {
            out->gid = (gid_t)id;
            gr = getgrgid(out->gid);
        } else if ((gr = getgrnam(group)) != NULL) {
            out->gid = gr->gr_gid;
        } else {
            snprintf(err, errlen, "option '%s': no group named '%s'", group_option, group);
            return -1;
        }
        if (gr)
            snprintf(out->group, sizeof out->group, "%s", gr->gr_name);
        else
            snprintf(out->group, sizeof out->group, "gid %lu", id);
    } else if (user) {
        if (!pw) {
            snprintf(err, errlen,
                     "option '%s': uid %lu has no entry in the user database, so it has no primary group: give "
                     "'%s' too",
                     user_option, (unsigned long)out->uid, group_option);
            return -1;
        }
        out->gid = pw->pw_gid;
        const struct group *gr = getgrgid(out->gid);
        if (gr)
            snprintf(out->group, sizeof out->group, "%s", gr->gr_name);
        else
            snprintf(out->group, sizeof out->group, "gid %lu", (unsigned long)out->gid);
    }
    out->set_gid = user || group;
    if (!out->set_gid)
        return 0;

    /* The supplementary groups: the user's, as initgroups() would set them, else only the group. */
    out->groups[0] = out->gid;
    out->ngroups = 1;
    if (pw) {
        int n = MT_CREDS_MAX_GROUPS;
        if (getgrouplist(pw->pw_name, out->gid, out->groups, &n) < 0) {
            snprintf(err, errlen, "option '%s': user '%s' is in more than %d groups", user_option, pw->pw_name,
                     MT_CREDS_MAX_GROUPS);
            return -1;
        }
        out->ngroups = (size_t)n;
    }
    return 0;
}

bool mt_creds_given(const mt_creds_t *c)
{
    return c->set_uid || c->set_gid;
}

/* Are the current supplementary groups exactly c's (in any order)? */
static bool groups_match(const mt_creds_t *c)
{
    gid_t now[MT_CREDS_MAX_GROUPS + 1];
    int n = getgroups(MT_CREDS_MAX_GROUPS + 1, now);
    if (n < 0 || (size_t)n != c->ngroups)
        return false;
    for (size_t i = 0; i < c->ngroups; i++) {
        bool found = false;
        for (int k = 0; k < n && !found; k++)
            found = now[k] == c->groups[i];
        if (!found)
            return false;
    }
    return true;
}

int mt_creds_need_switch(const mt_creds_t *c, const char *user_option, const char *group_option, char *err,
                         size_t errlen)
{
    if (!mt_creds_given(c))
        return 0;
    uid_t uid = geteuid();
    gid_t gid = getegid();
    bool same_uid = !c->set_uid || c->uid == uid;
    bool same_gid = !c->set_gid || c->gid == gid;
    if (uid == 0)
        return same_uid && same_gid && groups_match(c) ? 0 : 1;
    if (!same_uid) {
        snprintf(err, errlen, "option '%s': cannot switch to user %s (uid %lu): this process runs as uid %lu, not root",
                 user_option, c->user, (unsigned long)c->uid, (unsigned long)uid);
        return -1;
    }
    if (!same_gid) {
        snprintf(err, errlen,
                 "option '%s': cannot switch to group %s (gid %lu): this process runs as uid %lu and gid %lu, not root",
                 c->set_uid ? user_option : group_option, c->group, (unsigned long)c->gid, (unsigned long)uid,
                 (unsigned long)gid);
        return -1;
    }
    return 0; /* already that user: its groups are whatever it was started with */
}

int mt_creds_apply(const mt_creds_t *c, const char **step)
{
    if (c->set_gid) {
        *step = "setgroups";
        if (setgroups(c->ngroups, c->groups) < 0)
            return -errno;
        *step = "setgid";
        if (setresgid(c->gid, c->gid, c->gid) < 0)
            return -errno;
    }
    if (c->set_uid) {
        *step = "setuid";
        if (setresuid(c->uid, c->uid, c->uid) < 0)
            return -errno;
    }
    return mt_creds_verify(c, step);
}

int mt_creds_verify(const mt_creds_t *c, const char **step)
{
    *step = "check";
    uid_t r, e, s;
    gid_t rg, eg, sg;
    if (getresuid(&r, &e, &s) < 0 || getresgid(&rg, &eg, &sg) < 0)
        return -errno;
    if ((c->set_uid && (r != c->uid || e != c->uid || s != c->uid)) ||
        (c->set_gid && (rg != c->gid || eg != c->gid || sg != c->gid)))
        return -EPERM;
    if (c->set_uid && c->uid != 0 && setuid(0) == 0) {
        *step = "setuid(0) still succeeds";
        return -EPERM;
    }
    return 0;
}
