/*
 * Unit tests for common/yaml.c's duplicate-key finder (mt_yaml_first_duplicate_key):
 * none, the first repeated key in document order at any depth, inside
 * sequences, and a mapping of many keys.
 */
#include <criterion/criterion.h>
#include <libfyaml.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/yaml.h"

/* The repeated key of text (its text and line into key/line), or "" when there is none. */
static void first_duplicate(const char *text, char *key, size_t keylen, int *line)
{
    mt_yaml_doc_t y = {0};
    int yline;
    char why[256];
    cr_assert_eq(mt_yaml_parse_one(text, strlen(text), FYPCF_ALLOW_DUPLICATE_KEYS, &y, &yline, why, sizeof why), 0,
                 "%s", why);
    struct fy_node *node = mt_yaml_first_duplicate_key(y.doc ? fy_document_root(y.doc) : NULL);
    key[0] = '\0';
    *line = 0;
    if (node) {
        size_t n = 0;
        const char *k = fy_node_get_scalar(node, &n);
        snprintf(key, keylen, "%.*s", (int)n, k);
        *line = mt_yaml_node_line(node, 0);
    }
    mt_yaml_doc_free(&y);
}

Test(yaml, no_duplicate)
{
    char key[64];
    int line;
    first_duplicate("a: 1\nb: {a: 2, b: 3}\nc: [ {a: 1}, {a: 2} ]\n", key, sizeof key, &line);
    cr_assert_str_empty(key);
    first_duplicate("", key, sizeof key, &line);
    cr_assert_str_empty(key);
}

Test(yaml, the_later_occurrence_of_the_first_repeated_key)
{
    char key[64];
    int line;
    first_duplicate("a: 1\nb: 2\nc: 3\nb: 4\na: 5\n", key, sizeof key, &line);
    cr_assert_str_eq(key, "b", "b repeats first (line 4), before a (line 5)");
    cr_assert_eq(line, 4);
}

Test(yaml, nested_and_in_sequences)
{
    char key[64];
    int line;
    first_duplicate("steps:\n  - id: a\n    tool: echo\n    tool: wc\n", key, sizeof key, &line);
    cr_assert_str_eq(key, "tool");
    cr_assert_eq(line, 4);
    first_duplicate("x:\n  y:\n    z: 1\n    w: 2\n    z: 3\n", key, sizeof key, &line);
    cr_assert_str_eq(key, "z");
    cr_assert_eq(line, 5);
}

Test(yaml, a_mapping_of_many_keys)
{
    size_t n = 50000, size = n * 16 + 64, used = 0;
    char *text = malloc(size);
    for (size_t i = 0; i < n; i++)
        used += (size_t)snprintf(text + used, size - used, "k%zu: 1\n", i);
    char key[64];
    int line;
    first_duplicate(text, key, sizeof key, &line);
    cr_assert_str_empty(key);
    snprintf(text + used, size - used, "k123: 2\n");
    first_duplicate(text, key, sizeof key, &line);
    cr_assert_str_eq(key, "k123");
    cr_assert_eq(line, (int)n + 1);
    free(text);
}
