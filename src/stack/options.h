/*
 * options: the stack's own option table.
 *
 * The master registers it as the main configuration section:
 *
 *   mt_config_add_section(cfg, MT_STACK_SECTION, MT_STACK_SECTION_ALIAS, mt_stack_options);
 *
 * Names, defaults and meanings follow uWSGI where an option exists there, so
 * a galaxy.ini / galaxy.yml written for uWSGI loads unchanged. Every uWSGI
 * option of Galaxy's sample configurations is in the table, in one of three
 * kinds (docs/compatibility-uwsgi.md lists them all):
 *   - honoured: it does here what it does in uWSGI;
 *   - MT_OPT_IGNORED: no counterpart (Python, uWSGI's router...): accepted,
 *     and one notice at start-up says what the stack does instead;
 *   - MT_OPT_REFUSED: accepting it would mislead (https: there is no TLS
 *     here): an error saying why.
 * Values that need more than a type check (umask, hook-master-start) are
 * checked by mt_stack_options_check() after loading.
 */
#ifndef MT_OPTIONS_H
#define MT_OPTIONS_H

#include "stack/config.h"

/* "[muleteer]" / "muleteer:" in files; "[uwsgi]" / "uwsgi:" is accepted too. */
#define MT_STACK_SECTION       "muleteer"
#define MT_STACK_SECTION_ALIAS "uwsgi"

/* The stack's options; the last entry has name NULL. Read-only. */
extern const mt_option_def_t mt_stack_options[];

/* What a signal to the master does (hook-master-start "unix_signal:N ACTION"). */
typedef enum {
    MT_SIGNAL_DEFAULT,      /* the built-in meaning: HUP reloads; INT, QUIT, TERM stop in order */
    MT_SIGNAL_STOP,         /* gracefully_kill_them_all: web workers finish, then mules, within the mercies */
    MT_SIGNAL_STOP_NOW,     /* kill_them_all: SIGKILL every child at once, then exit */
    MT_SIGNAL_RELOAD,       /* grace_them_all: restart the children one at a time */
    MT_SIGNAL_RELOAD_NOW,   /* reload_them_all: SIGKILL every child and start it again at once */
} mt_signal_action_t;

/* Highest signal number hook-master-start may name, plus one. */
#define MT_SIGNAL_SLOTS 32

/* The stack's settings that are parsed from option text (filled by mt_stack_options_check). */
typedef struct mt_stack_settings {
    int umask;                                       /* -1: leave the inherited umask */
    mt_signal_action_t on_signal[MT_SIGNAL_SLOTS];   /* by signal number */
} mt_stack_settings_t;

/*
 * Check the values of the stack's options that their types do not cover,
 * and fill *out. Each problem is recorded in cfg (mt_config_add_error, with
 * the file, line and option); notices for values accepted without effect
 * (master = false, ...) are added with mt_config_add_notice. reload-mercy
 * is stored as worker-reload-mercy / mule-reload-mercy where those are not
 * given. Call once, after mt_config_load. Returns 0, or -EINVAL when
 * something was recorded.
 */
int mt_stack_options_check(mt_config_t *cfg, mt_stack_settings_t *out);

#endif
