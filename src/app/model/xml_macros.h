/*
 * xml_macros: an XML file read by expat into a small tree that remembers
 * where each element came from (file and line), with Galaxy's XML macros
 * expanded -- the preprocessing Galaxy applies to job_conf.xml (and to tool
 * files) before it reads them.
 *
 * Galaxy's macros, as lib/galaxy/util/xml_macros.py defines them, live in a
 * <macros> child of the root element:
 *   <token name="@NAME@">text</token>      replaced wherever @NAME@ appears in
 *                                          attribute values, attribute names and
 *                                          element text, in the whole file (tokens
 *                                          may use other tokens);
 *   <xml name="M" tokens="a,b" token_c="dflt">...</xml>
 *                                          a macro: <expand macro="M" a=".." b=".."/>
 *                                          is replaced by a copy of its children, in
 *                                          which @A@, @B@ and @C@ stand for the
 *                                          expand's attributes (tokens= lists the
 *                                          required ones, token_X= gives X a default,
 *                                          token_quote= another quote than '@');
 *                                          <yield/> in the macro takes the expand's
 *                                          children, <yield name="n"/> the children
 *                                          of the expand's <token name="n">;
 *                                          <macro type="xml" name="M"> is the same;
 *   <import>file.xml</import>              more macros from a file relative to
 *                                          this one (from a file on disk only);
 *   <template>, <macro type="template">    kept for Galaxy's tools, unused here.
 * The <macros> element is removed from the tree once expanded.
 *
 * Stricter than Galaxy, so that a typo does not silently change a file:
 * an <expand> naming no macro, a macro expanding itself (directly or not),
 * an expand attribute the macro does not declare, a missing required one,
 * and a @TOKEN@ (upper-case letters, digits, '_') left in the expanded file
 * that no token or parameter defines are errors, each "FILE:LINE: what".
 * Expansion is bounded (MT_XML_MAX_NODES elements in all, nesting
 * MT_XML_MAX_DEPTH deep, MT_XML_MAX_TOKEN_BYTES made by tokens).
 */
#ifndef MT_XML_MACROS_H
#define MT_XML_MACROS_H

#include <stdbool.h>
#include <stddef.h>

#define MT_XML_MAX_NODES 200000
#define MT_XML_MAX_DEPTH 128              /* elements nested deeper are refused (the tree is walked recursively) */
#define MT_XML_MAX_TOKEN_BYTES (64u << 20) /* all text made by token replacement, in bytes */

typedef struct mt_xml_node mt_xml_node_t;

struct mt_xml_node {
    char *name;
    char **attrs;           /* name, value, name, value, ... (nattrs pairs) */
    size_t nattrs;
    char *text;             /* the character data directly inside, children's excluded; never NULL */
    size_t text_len;        /* strlen(text), kept while parsing so that long text appends in linear time */
    const char *file;       /* where the element is written (owned by the document) */
    int line;
    const char *via_file;   /* for an element copied from a macro: the outermost <expand> that made it */
    int via_line;           /* 0 when the element is written where it stands */
    const char *via_macro;  /* the macro it comes from (owned by the document), or NULL */
    mt_xml_node_t *parent;
    mt_xml_node_t **children;
    size_t nchildren, children_cap;
};

typedef struct mt_xml_doc mt_xml_doc_t;

/*
 * Parse `text` (len bytes, named `file` in messages) and expand its macros.
 * `allow_import`: whether <import> may read files (relative to the
 * directory of `file`). Returns 0 and a new document in *out, or -1 with
 * "FILE:LINE: what" in err (expat's syntax errors with their column).
 */
int mt_xml_doc_load(const char *file, const char *text, size_t len, bool allow_import, mt_xml_doc_t **out, char *err,
                    size_t errlen);

/* The root element. */
mt_xml_node_t *mt_xml_doc_root(const mt_xml_doc_t *doc);

/* Free a document. Accepts NULL. */
void mt_xml_doc_free(mt_xml_doc_t *doc);

/* The value of attribute `name`, or NULL. */
const char *mt_xml_attr(const mt_xml_node_t *node, const char *name);

/* The line to report for node: the <expand>'s for what a macro made, else its own. */
int mt_xml_line(const mt_xml_node_t *node);
/* The file to report for node, likewise. */
const char *mt_xml_file(const mt_xml_node_t *node);
/*
 * " (from macro 'M', FILE:LINE)" for what a macro made, "" otherwise: to
 * append to a message about node. Written into buf, which is returned.
 */
const char *mt_xml_origin(const mt_xml_node_t *node, char *buf, size_t len);

#endif
