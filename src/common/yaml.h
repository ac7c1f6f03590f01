/*
 * yaml: small helpers over libfyaml shared by every YAML reader (the stack's
 * configuration, tool files, the job configuration, workflows, the logging
 * configuration).
 *
 * Debian's libfyaml 0.7.12 has no public fy_node_get_start_mark(), so a
 * node's line comes from the token of its first scalar.
 */
#ifndef MT_YAML_H
#define MT_YAML_H

#include <libfyaml.h>
#include <stdbool.h>
#include <stdio.h>
#include <stddef.h>

/* 1-based line where node starts, or `fallback` when it has no token of its own. */
int mt_yaml_node_line(struct fy_node *node, int fallback);

/* Follow an alias (*name) to its anchored node. NULL stays NULL; a broken alias gives NULL and *broken. */
struct fy_node *mt_yaml_deref(struct fy_node *node, bool *broken);

/* "", "~" and "null" in plain style, or no node at all. */
bool mt_yaml_is_null(struct fy_node *node);

/*
 * Check that text (n bytes) is UTF-8, as libfyaml 0.7 needs: it loops
 * forever on some malformed UTF-8 and reads UTF-16 as an empty document.
 * Overlong forms, surrogates and code points past U+10FFFF are refused;
 * with refuse_nul, a NUL byte too. Returns 0, or -1 with *line (1-based)
 * and *byte (the offending lead byte; 0 for a NUL) set.
 */
int mt_yaml_check_utf8(const char *text, size_t n, bool refuse_nul, int *line, unsigned char *byte);

/*
 * The text of a non-null scalar as a new string in *out (caller frees).
 * Otherwise -1, *out NULL, and in why what is wrong, worded to follow the
 * caller's name for the value: "must not be empty", "must be a single
 * value, not a mapping" (or "list"), "contains a NUL byte".
 */
int mt_yaml_scalar_dup(struct fy_node *node, char **out, char *why, size_t whylen);

/*
 * Read the whole of fp (the file `path`) and check it with
 * mt_yaml_check_utf8 (NUL bytes allowed). Returns the text (*len bytes,
 * caller frees), or NULL with "PATH: cannot read: REASON" or
 * "PATH:LINE: not UTF-8 (byte 0xHH): YAML files must be UTF-8" in err.
 */
char *mt_yaml_read_file(FILE *fp, const char *path, size_t *len, char *err, size_t errlen);

/* A libfyaml diagnostic output function that prints nothing (errors are collected instead). */
void mt_yaml_diag_discard_cb(struct fy_diag *diag, void *user, const char *buf, size_t len);

/* A parsed YAML text. The parser owns the document. */
typedef struct mt_yaml_doc {
    struct fy_diag *diag;
    struct fy_parser *parser;
    struct fy_document *doc; /* NULL: the text holds no document (empty, or only comments) */
} mt_yaml_doc_t;

/*
 * Parse text (len bytes, already checked with mt_yaml_check_utf8) as at
 * most one YAML document, libfyaml's own diagnostics kept silent. flags:
 * FYPCF_* flags besides FYPCF_QUIET (e.g. FYPCF_ALLOW_DUPLICATE_KEYS).
 * Returns 0 with *out; or -1 with *line (1-based, 0 when the error has no
 * line) and the reason in why: "YAML syntax error: MSG (column N)", "only
 * one YAML document is supported (found a second one)", "cannot read
 * YAML", ... Free *out with mt_yaml_doc_free() either way.
 */
int mt_yaml_parse_one(const char *text, size_t len, unsigned flags, mt_yaml_doc_t *out, int *line, char *why,
                      size_t whylen);

/* Free what mt_yaml_parse_one() made. Accepts a zeroed or freed doc. */
void mt_yaml_doc_free(mt_yaml_doc_t *y);

/*
 * The first key that a mapping repeats anywhere under root (depth first, in
 * document order: the later of the two occurrences), or NULL. Sorts each
 * mapping's keys rather than comparing them pair by pair, so a document
 * parsed with FYPCF_ALLOW_DUPLICATE_KEYS is checked in n log n -- libfyaml's
 * own check is quadratic, seconds for a mapping of tens of thousands of
 * keys. Mappings nested deeper than 256 levels are not walked.
 */
struct fy_node *mt_yaml_first_duplicate_key(struct fy_node *root);

/*
 * mt_yaml_parse_one with duplicate keys refused, found with
 * mt_yaml_first_duplicate_key (so in n log n): on such a key, -1 with the
 * line of its later occurrence in *line and "duplicate key 'KEY': a key may
 * appear once in a mapping" in why (KEY cut at 64 bytes). Free *out with
 * mt_yaml_doc_free() either way.
 */
int mt_yaml_parse_unique(const char *text, size_t len, mt_yaml_doc_t *out, int *line, char *why, size_t whylen);

#endif
