/*
 * privileges: resolving --uid / --gid and dropping to them (see privileges.h).
 */
#define MT_LOG_NAME "muleteer.stack.privileges"

#include "stack/privileges.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"

/* "command line: " / "galaxy.yml:4: " before a message about option `name`. */
static void prefix_source(const mt_config_t *config, const char *name, char *err, size_t errlen)
{
    mt_source_t src;
    char where[512], msg[768];
    if (!mt_config_get(config, NULL, name, &src))
        return;
    snprintf(msg, sizeof msg, "%s", err);
    snprintf(err, errlen, "%s: %s", mt_source_format(&src, where, sizeof where), msg);
}

int mt_privileges_resolve(const mt_config_t *config, mt_creds_t *out, char *err, size_t errlen)
{
    const char *user = mt_config_get(config, NULL, "uid", NULL);
    const char *group = mt_config_get(config, NULL, "gid", NULL);
    if (mt_creds_resolve(user, "uid", group, "gid", out, err, errlen) < 0 ||
        mt_creds_need_switch(out, "uid", "gid", err, errlen) < 0) {
        prefix_source(config, strncmp(err, "option 'gid'", 12) == 0 ? "gid" : "uid", err, errlen);
        return -1;
    }
    return 0;
}

int mt_privileges_drop(const mt_creds_t *creds, char *err, size_t errlen)
{
    char why[256];
    int need = mt_creds_need_switch(creds, "uid", "gid", why, sizeof why);
    if (need < 0) {
        snprintf(err, errlen, "%s", why);
        return -1;
    }
    if (need == 0)
        return 0;
    const char *step = "";
    int rc = mt_creds_apply(creds, &step);
    if (rc < 0) {
        snprintf(err, errlen, "cannot drop privileges to user %s (uid %lu), group %s (gid %lu): %s: %s",
                 creds->set_uid ? creds->user : "(unchanged)", (unsigned long)(creds->set_uid ? creds->uid : getuid()),
                 creds->group, (unsigned long)creds->gid, step, strerror(-rc));
        return -1;
    }
    return 1;
}

void mt_privileges_log(const mt_creds_t *creds)
{
    mt_info("privileges dropped: uid %lu (%s), gid %lu (%s), %zu supplementary group%s", (unsigned long)getuid(),
            creds->set_uid ? creds->user : "unchanged", (unsigned long)getgid(), creds->group, creds->ngroups,
            creds->ngroups == 1 ? "" : "s");
}
