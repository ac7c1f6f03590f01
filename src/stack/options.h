/*
 * options: the stack's own option table.
 *
 * The master registers it as the main configuration section:
 *
 *   mt_config_add_section(cfg, MT_STACK_SECTION, MT_STACK_SECTION_ALIAS, mt_stack_options);
 *
 * Names, defaults and meanings follow uWSGI where an option exists there, so
 * a galaxy.ini / galaxy.yml written for uWSGI loads unchanged; uWSGI options
 * that make no sense here are accepted and ignored (MT_OPT_IGNORED).
 */
#ifndef MT_OPTIONS_H
#define MT_OPTIONS_H

#include "stack/config.h"

/* "[muleteer]" / "muleteer:" in files; "[uwsgi]" / "uwsgi:" is accepted too. */
#define MT_STACK_SECTION       "muleteer"
#define MT_STACK_SECTION_ALIAS "uwsgi"

/* The stack's options; the last entry has name NULL. Read-only. */
extern const mt_option_def_t mt_stack_options[];

#endif
