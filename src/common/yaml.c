/*
 * yaml: helpers over libfyaml shared by every YAML reader (see yaml.h).
 */
#include "common/yaml.h"

#include <string.h>

/* 1-based line where node starts, or `fallback` when it has no token of its own. */
int mt_yaml_node_line(struct fy_node *node, int fallback)
{
    void *iter = NULL;
    struct fy_node *child;
    struct fy_node_pair *pair;

    if (!node)
        return fallback;
    switch (fy_node_get_type(node)) {
    case FYNT_SCALAR: {
        struct fy_token *tok = fy_node_get_scalar_token(node);
        const struct fy_mark *mark = tok ? fy_token_start_mark(tok) : NULL;
        return mark ? mark->line + 1 : fallback;
    }
    case FYNT_SEQUENCE:
        child = fy_node_sequence_iterate(node, &iter);
        return mt_yaml_node_line(child, fallback);
    case FYNT_MAPPING:
        pair = fy_node_mapping_iterate(node, &iter);
        return pair ? mt_yaml_node_line(fy_node_pair_key(pair), fallback) : fallback;
    }
    return fallback;
}

/* Follow an alias (*name) to its anchored node. NULL stays NULL; a broken alias gives NULL too. */
struct fy_node *mt_yaml_deref(struct fy_node *node, bool *broken)
{
    *broken = false;
    if (node && fy_node_is_alias(node)) {
        struct fy_node *target = fy_node_resolve_alias(node);
        *broken = target == NULL;
        return target;
    }
    return node;
}

/* "", "~" and "null" in plain style, or no node at all. */
bool mt_yaml_is_null(struct fy_node *node)
{
    if (!node)
        return true;
    if (fy_node_get_type(node) != FYNT_SCALAR || fy_node_get_style(node) != FYNS_PLAIN)
        return false;
    size_t len;
    const char *text = fy_node_get_scalar(node, &len);
    if (!text || len == 0)
        return true;
    return (len == 1 && text[0] == '~') ||
           (len == 4 && (!memcmp(text, "null", 4) || !memcmp(text, "Null", 4) || !memcmp(text, "NULL", 4)));
}
