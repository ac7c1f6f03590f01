/*
 * yaml: small helpers over libfyaml shared by every YAML reader (the stack's
 * configuration, tool files, the job configuration).
 *
 * Debian's libfyaml 0.7.12 has no public fy_node_get_start_mark(), so a
 * node's line comes from the token of its first scalar.
 */
#ifndef MT_YAML_H
#define MT_YAML_H

#include <libfyaml.h>
#include <stdbool.h>

/* 1-based line where node starts, or `fallback` when it has no token of its own. */
int mt_yaml_node_line(struct fy_node *node, int fallback);

/* Follow an alias (*name) to its anchored node. NULL stays NULL; a broken alias gives NULL and *broken. */
struct fy_node *mt_yaml_deref(struct fy_node *node, bool *broken);

/* "", "~" and "null" in plain style, or no node at all. */
bool mt_yaml_is_null(struct fy_node *node);

#endif
