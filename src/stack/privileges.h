/*
 * privileges: --uid / --gid, the user and group the stack runs as.
 *
 * Started as root, the master binds the HTTP port, creates the message
 * channels and the shared process table, and then drops to --uid / --gid
 * for good, before it opens its log files, loads the application (which
 * creates the data directory and migrates the database) or forks anything:
 * every web worker and mule is forked from an unprivileged master and so
 * never runs a line of application code as root. A standalone process
 * (--attach-to-pool) drops the same way before it loads the application.
 *
 * The drop is setgroups (the user's supplementary groups, or only the
 * group), setgid, setuid, then a check that it cannot be undone; a failed
 * step stops the process with MT_EXIT_FATAL. Not root: --uid / --gid equal
 * to the current ids are accepted and change nothing, others are a
 * configuration error.
 */
#ifndef MT_PRIVILEGES_H
#define MT_PRIVILEGES_H

#include <stddef.h>

#include "common/creds.h"
#include "stack/config.h"

/*
 * Resolve the uid and gid options into *out, and check that this process
 * can become them. Returns 0, or -1 with err naming the option and where it
 * was set ("command line: option 'uid': no user named 'nosuch'").
 */
int mt_privileges_resolve(const mt_config_t *config, mt_creds_t *out, char *err, size_t errlen);

/*
 * Become *creds if anything is to change. Returns 1 if it changed the
 * process's credentials, 0 if there was nothing to change, or -1 with err
 * naming the step that failed (the caller exits with MT_EXIT_FATAL). Logs
 * nothing: call it before the log files are opened, so that they are
 * opened (and reopened on SIGUSR1) by the unprivileged user.
 */
int mt_privileges_drop(const mt_creds_t *creds, char *err, size_t errlen);

/* Log the line that says to whom privileges were dropped (after mt_privileges_drop() returned 1). */
void mt_privileges_log(const mt_creds_t *creds);

#endif
