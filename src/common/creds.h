/*
 * creds: the user and group a process runs as, resolved from the
 * configuration and switched to.
 *
 * Two users of it: the stack drops the privileges of the whole stack to
 * --uid / --gid once the HTTP port is bound (stack.c), and the job runner
 * starts each job's command as jobs.job-user / jobs.job-group
 * (runner_local.c). Both give a user and a group the way uWSGI's --uid and
 * --gid are given: a name from the user / group database, or a number.
 *
 * Everything that needs the user database (getpwnam, getgrnam,
 * getgrouplist: NSS, locks, allocation) happens in mt_creds_resolve(), in
 * the parent, at start-up. mt_creds_apply() makes system calls only, so a
 * child between fork and exec may call it.
 */
#ifndef MT_CREDS_H
#define MT_CREDS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define MT_CREDS_MAX_GROUPS 64 /* supplementary groups kept; more is a configuration error */

typedef struct mt_creds {
    bool set_uid;                        /* a user was given: switch the uid */
    bool set_gid;                        /* a user or a group was given: switch the gid and the groups */
    uid_t uid;
    gid_t gid;
    gid_t groups[MT_CREDS_MAX_GROUPS];   /* supplementary groups: the user's (from the group database) or just gid */
    size_t ngroups;
    char user[64];                       /* "nobody", or "uid 1234" for a number with no name; "" if none given */
    char group[64];                      /* likewise for the group */
} mt_creds_t;

/*
 * Resolve a user and a group as configured; either may be NULL (not given).
 * A user is a name or a decimal uid; a group a name or a decimal gid.
 * Without a group, the user's primary group (from the user database) is
 * used, so a user given alone never leaves the process in group root; a
 * numeric uid with no entry in the database then needs a group. With a
 * user that has an entry, the supplementary groups are that user's (as
 * initgroups(3) sets them); otherwise just the group.
 *
 * user_option and group_option name the options in messages. Returns 0, or
 * -1 with err set ("option 'uid': no user named 'nosuch'").
 */
int mt_creds_resolve(const char *user, const char *user_option, const char *group, const char *group_option,
                     mt_creds_t *out, char *err, size_t errlen);

/* Whether anything was given (a user or a group). */
bool mt_creds_given(const mt_creds_t *c);

/*
 * Whether the calling process must change credentials to become c:
 *   1   it runs as root and c differs from what it is now (apply it);
 *   0   it already runs as c (nothing to do; also when nothing was given);
 *  -1   it is not root and c differs: it cannot switch; err says so,
 *       naming user_option / group_option.
 */
int mt_creds_need_switch(const mt_creds_t *c, const char *user_option, const char *group_option, char *err,
                         size_t errlen);

/*
 * Become c: setgroups(), setresgid(), then setresuid(), each to the one
 * value (real, effective and saved alike), then check that it cannot be
 * undone: every id is the new one and, when a non-root uid was set,
 * setuid(0) fails. Returns 0, or -errno with *step naming what failed
 * ("setgroups", "setgid", "setuid", "setuid(0) still succeeds", "check").
 * Async-signal-safe: system calls only, no allocation, no logging.
 */
int mt_creds_apply(const mt_creds_t *c, const char **step);

/*
 * The check that ends mt_creds_apply(), alone: the process runs as c (real,
 * effective and saved ids) and, with a non-root uid, cannot setuid(0).
 * Returns 0 or -EPERM (or -errno) with *step set. Async-signal-safe.
 */
int mt_creds_verify(const mt_creds_t *c, const char **step);

#endif
