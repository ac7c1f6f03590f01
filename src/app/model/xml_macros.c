/*
 * xml_macros: expat -> a tree of elements with their file and line, then
 * Galaxy's <macros> expanded in it (see xml_macros.h for the rules).
 *
 * Two passes, as Galaxy does it: the whole file is read first (its
 * <macros> usually come last), then every <expand> is replaced by a copy of
 * its macro, recursively, with the chain of macros being expanded kept to
 * refuse a macro that expands itself; then the file-wide tokens are
 * replaced everywhere, and whatever still looks like a token is an error.
 * Copies remember the <expand> in the file that produced them, so that a
 * message about an element a macro made names the line the operator wrote.
 */
#include "app/model/xml_macros.h"

#include <ctype.h>
#include <errno.h>
#include <expat.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/mem.h"
#include "common/message.h"

#define MT__XML_MAX_FILE_BYTES (16u << 20)
#define MT__XML_MAX_IMPORT_DEPTH 8

typedef struct mt__token {
    char *name;  /* with its quotes: "@ID@" */
    char *value;
} mt__token_t;

typedef struct mt__macro {
    const char *name;
    mt_xml_node_t *def; /* the <xml> / <macro type="xml"> element */
} mt__macro_t;

struct mt_xml_doc {
    mt_xml_node_t *root;
    mt_xml_node_t **extra_roots; /* imported files' trees, kept for their macros */
    size_t nextra;
    char **strings;              /* file names and macro names the nodes point at */
    size_t nstrings;
    size_t nnodes;               /* made so far: bounded by MT_XML_MAX_NODES */
    size_t token_bytes;          /* made by token replacement so far: bounded by MT_XML_MAX_TOKEN_BYTES */
    mt__token_t *tokens;
    size_t ntokens;
    mt__macro_t *macros;
    size_t nmacros;
    char *err;
    size_t errlen;
};

/* ---- errors ---- */

static int mt__xml_fail(mt_xml_doc_t *doc, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int mt__xml_fail(mt_xml_doc_t *doc, const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    mt_message_vformat_at(doc->err, doc->errlen, file, line, fmt, ap);
    va_end(ap);
    return -1;
}

int mt_xml_line(const mt_xml_node_t *node)
{
    return node->via_line > 0 ? node->via_line : node->line;
}

const char *mt_xml_file(const mt_xml_node_t *node)
{
    return node->via_line > 0 ? node->via_file : node->file;
}

const char *mt_xml_origin(const mt_xml_node_t *node, char *buf, size_t len)
{
    if (node->via_line > 0 && node->via_macro)
        snprintf(buf, len, " (from macro '%s', %s:%d)", node->via_macro, node->file, node->line);
    else if (len > 0)
        buf[0] = '\0';
    return buf;
}

/* An error about node: "FILE:LINE: what (from macro ...)". */
static int mt__node_fail(mt_xml_doc_t *doc, const mt_xml_node_t *node, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int mt__node_fail(mt_xml_doc_t *doc, const mt_xml_node_t *node, const char *fmt, ...)
{
    char what[768], origin[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return mt__xml_fail(doc, mt_xml_file(node), mt_xml_line(node), "%s%s", what,
                        mt_xml_origin(node, origin, sizeof origin));
}

static const char *mt__keep(mt_xml_doc_t *doc, const char *s)
{
    doc->strings = mt_realloc(doc->strings, (doc->nstrings + 1) * sizeof *doc->strings);
    doc->strings[doc->nstrings] = mt_strdup(s);
    return doc->strings[doc->nstrings++];
}

/* ---- nodes ---- */

static mt_xml_node_t *mt__node_new(mt_xml_doc_t *doc, const char *name)
{
    if (doc->nnodes >= MT_XML_MAX_NODES)
        return NULL;
    doc->nnodes++;
    mt_xml_node_t *node = mt_calloc(1, sizeof *node);
    node->name = mt_strdup(name);
    node->text = mt_strdup("");
    return node;
}

static void mt__node_free(mt_xml_node_t *node)
{
    if (!node)
        return;
    for (size_t i = 0; i < node->nchildren; i++)
        mt__node_free(node->children[i]);
    free(node->children);
    for (size_t i = 0; i < 2 * node->nattrs; i++)
        free(node->attrs[i]);
    free(node->attrs);
    free(node->text);
    free(node->name);
    free(node);
}

static void mt__append_child(mt_xml_node_t *parent, mt_xml_node_t *child)
{
    if (parent->nchildren == parent->children_cap) {
        parent->children_cap = parent->children_cap ? 2 * parent->children_cap : 4;
        parent->children = mt_realloc(parent->children, parent->children_cap * sizeof *parent->children);
    }
    parent->children[parent->nchildren++] = child;
    child->parent = parent;
}

/* Replace parent's child at index by the n nodes of repl (which become parent's). */
static void mt__splice(mt_xml_node_t *parent, size_t index, mt_xml_node_t **repl, size_t n)
{
    size_t total = parent->nchildren - 1 + n;
    if (total > parent->children_cap) {
        parent->children_cap = total;
        parent->children = mt_realloc(parent->children, parent->children_cap * sizeof *parent->children);
    }
    memmove(parent->children + index + n, parent->children + index + 1,
            (parent->nchildren - index - 1) * sizeof *parent->children);
    for (size_t i = 0; i < n; i++) {
        parent->children[index + i] = repl[i];
        repl[i]->parent = parent;
    }
    parent->nchildren = total;
}

const char *mt_xml_attr(const mt_xml_node_t *node, const char *name)
{
    for (size_t i = 0; i < node->nattrs; i++) {
        if (strcmp(node->attrs[2 * i], name) == 0)
            return node->attrs[2 * i + 1];
    }
    return NULL;
}

/* A deep copy of node, marked as made by the <expand> at via (file, line) from macro. */
static mt_xml_node_t *mt__copy(mt_xml_doc_t *doc, const mt_xml_node_t *node, const mt_xml_node_t *expand,
                               const char *macro)
{
    mt_xml_node_t *copy = mt__node_new(doc, node->name);
    if (!copy)
        return NULL;
    copy->file = node->file;
    copy->line = node->line;
    if (!expand || node->via_line > 0) { /* written in the file, or already a copy: keep where it is from */
        copy->via_file = node->via_file;
        copy->via_line = node->via_line;
        copy->via_macro = node->via_macro;
    } else {
        copy->via_file = mt_xml_file(expand);
        copy->via_line = mt_xml_line(expand);
        copy->via_macro = macro;
    }
    free(copy->text);
    copy->text = mt_strdup(node->text);
    copy->text_len = strlen(copy->text);
    copy->nattrs = node->nattrs;
    copy->attrs = mt_calloc(2 * node->nattrs + 1, sizeof *copy->attrs);
    for (size_t i = 0; i < 2 * node->nattrs; i++)
        copy->attrs[i] = mt_strdup(node->attrs[i]);
    for (size_t i = 0; i < node->nchildren; i++) {
        mt_xml_node_t *child = mt__copy(doc, node->children[i], expand, macro);
        if (!child) {
            mt__node_free(copy);
            return NULL;
        }
        mt__append_child(copy, child);
    }
    return copy;
}

/* ---- parsing ---- */

typedef struct mt__parse {
    mt_xml_doc_t *doc;
    XML_Parser parser;
    const char *file;
    mt_xml_node_t *root, *current;
    int depth;
    bool failed;
} mt__parse_t;

static int mt__parse_line(mt__parse_t *p)
{
    XML_Size line = XML_GetCurrentLineNumber(p->parser);
    return line > INT32_MAX ? INT32_MAX : (int)line;
}

static void mt__start_cb(void *data, const XML_Char *name, const XML_Char **atts)
{
    mt__parse_t *p = data;
    if (p->failed)
        return;
    if (++p->depth > MT_XML_MAX_DEPTH) {
        mt__xml_fail(p->doc, p->file, mt__parse_line(p), "elements nest more than %d deep: not a configuration file",
                     MT_XML_MAX_DEPTH);
        p->failed = true;
        XML_StopParser(p->parser, XML_FALSE);
        return;
    }
    mt_xml_node_t *node = mt__node_new(p->doc, name);
    if (!node) {
        mt__xml_fail(p->doc, p->file, mt__parse_line(p), "more than %d elements: not a configuration file",
                     MT_XML_MAX_NODES);
        p->failed = true;
        XML_StopParser(p->parser, XML_FALSE);
        return;
    }
    node->file = p->file;
    node->line = mt__parse_line(p);
    size_t n = 0;
    while (atts[2 * n])
        n++;
    node->nattrs = n;
    node->attrs = mt_calloc(2 * n + 1, sizeof *node->attrs);
    for (size_t i = 0; i < 2 * n; i++)
        node->attrs[i] = mt_strdup(atts[i]);
    if (p->current)
        mt__append_child(p->current, node);
    else
        p->root = node;
    p->current = node;
}

static void mt__end_cb(void *data, const XML_Char *name)
{
    mt__parse_t *p = data;
    (void)name;
    p->depth--;
    if (!p->failed && p->current)
        p->current = p->current->parent;
}

/* The allocation for a text of `need` bytes (with its NUL) grown by appends: a power of two, 16 at least. */
static size_t mt__text_cap(size_t need)
{
    size_t cap = 16;
    while (cap < need)
        cap *= 2;
    return cap;
}

static void mt__text_cb(void *data, const XML_Char *s, int len)
{
    mt__parse_t *p = data;
    if (p->failed || !p->current || len <= 0)
        return;
    mt_xml_node_t *n = p->current;
    size_t old = n->text_len;
    /*
     * Grow by doubling: expat hands text over in many small pieces. While
     * parsing, a node's text is "" (1 byte, from mt__node_new) or was grown
     * here, to mt__text_cap(its length + 1) bytes.
     */
    size_t have = old == 0 ? 1 : mt__text_cap(old + 1);
    if (old + (size_t)len + 1 > have)
        n->text = mt_realloc(n->text, mt__text_cap(old + (size_t)len + 1));
    memcpy(n->text + old, s, (size_t)len);
    n->text_len = old + (size_t)len;
    n->text[n->text_len] = '\0';
}

/* Parse text into a tree whose nodes name `file` (a string the document keeps). */
static int mt__parse(mt_xml_doc_t *doc, const char *file, const char *text, size_t len, mt_xml_node_t **out)
{
    *out = NULL;
    if (len > MT__XML_MAX_FILE_BYTES)
        return mt__xml_fail(doc, file, 0, "larger than %u bytes: not a configuration file", MT__XML_MAX_FILE_BYTES);
    if (memchr(text, '\0', len))
        return mt__xml_fail(doc, file, 0, "contains a NUL byte: not an XML file");
    mt__parse_t p = { .doc = doc, .file = file };
    p.parser = XML_ParserCreate(NULL);
    if (!p.parser)
        return mt__xml_fail(doc, file, 0, "cannot create the XML parser");
    XML_SetUserData(p.parser, &p);
    XML_SetElementHandler(p.parser, mt__start_cb, mt__end_cb);
    XML_SetCharacterDataHandler(p.parser, mt__text_cb);
    int rc = 0;
    if (XML_Parse(p.parser, text, (int)len, XML_TRUE) != XML_STATUS_OK && !p.failed) {
        XML_Size col = XML_GetCurrentColumnNumber(p.parser);
        rc = mt__xml_fail(doc, file, mt__parse_line(&p), "XML syntax error: %s (column %lu)",
                          XML_ErrorString(XML_GetErrorCode(p.parser)), (unsigned long)col + 1);
    }
    if (p.failed)
        rc = -1;
    XML_ParserFree(p.parser);
    if (rc < 0) {
        mt__node_free(p.root);
        return -1;
    }
    *out = p.root;
    return 0;
}

/* ---- tokens ---- */

/*
 * s with every occurrence of each token's name replaced by its value (a new
 * string), or NULL if the result would be longer than `limit` bytes.
 */
static char *mt__replace_tokens(const char *s, const mt__token_t *tokens, size_t ntokens, size_t limit)
{
    char *cur = mt_strdup(s);
    for (size_t t = 0; t < ntokens; t++) {
        const char *name = tokens[t].name;
        size_t nlen = strlen(name), vlen = strlen(tokens[t].value);
        if (nlen == 0 || !strstr(cur, name))
            continue;
        size_t count = 0;
        for (const char *q = cur; (q = strstr(q, name)); q += nlen)
            count++;
        size_t out_len = strlen(cur) - count * nlen;
        if (vlen > 0 && count > (limit - (out_len < limit ? out_len : limit)) / vlen) {
            free(cur);
            return NULL; /* longer than limit */
        }
        out_len += count * vlen;
        if (out_len > limit) {
            free(cur);
            return NULL;
        }
        char *out = mt_malloc(out_len + 1), *w = out;
        const char *q = cur, *hit;
        while ((hit = strstr(q, name))) {
            memcpy(w, q, (size_t)(hit - q));
            w += hit - q;
            memcpy(w, tokens[t].value, vlen);
            w += vlen;
            q = hit + nlen;
        }
        strcpy(w, q);
        free(cur);
        cur = out;
    }
    return cur;
}

/* One string of node with its tokens replaced, counted against the budget; -1 (reported) past it. */
static int mt__tokens_in_string(mt_xml_doc_t *doc, const mt_xml_node_t *node, char **s, const mt__token_t *tokens,
                                size_t ntokens)
{
    size_t before = strlen(*s);
    char *r = mt__replace_tokens(*s, tokens, ntokens, before + (MT_XML_MAX_TOKEN_BYTES - doc->token_bytes));
    if (!r)
        return mt__node_fail(doc, node, "tokens make more than %u bytes of text: not a configuration file",
                             MT_XML_MAX_TOKEN_BYTES);
    free(*s);
    *s = r;
    size_t after = strlen(r);
    doc->token_bytes += after > before ? after - before : 0;
    return 0;
}

/* Replace tokens in node's text, attribute names and values, and its children's. */
static int mt__tokens_in_tree(mt_xml_doc_t *doc, mt_xml_node_t *node, const mt__token_t *tokens, size_t ntokens)
{
    if (ntokens == 0)
        return 0;
    if (mt__tokens_in_string(doc, node, &node->text, tokens, ntokens) < 0)
        return -1;
    node->text_len = strlen(node->text);
    for (size_t i = 0; i < 2 * node->nattrs; i++) {
        if (mt__tokens_in_string(doc, node, &node->attrs[i], tokens, ntokens) < 0)
            return -1;
    }
    for (size_t i = 0; i < node->nchildren; i++) {
        if (mt__tokens_in_tree(doc, node->children[i], tokens, ntokens) < 0)
            return -1;
    }
    return 0;
}

/* The first "@NAME@" (upper case, digits, '_') in s, copied into buf; NULL if none. */
static const char *mt__find_token_like(const char *s, char *buf, size_t len)
{
    for (const char *p = strchr(s, '@'); p; p = strchr(p + 1, '@')) {
        const char *q = p + 1;
        if (!(isupper((unsigned char)*q) || *q == '_'))
            continue;
        while (isupper((unsigned char)*q) || isdigit((unsigned char)*q) || *q == '_')
            q++;
        if (*q == '@') {
            snprintf(buf, len, "%.*s", (int)(q - p + 1), p);
            return buf;
        }
    }
    return NULL;
}

static int mt__check_no_tokens_left(mt_xml_doc_t *doc, const mt_xml_node_t *node)
{
    char token[128];
    const char *hit = mt__find_token_like(node->text, token, sizeof token);
    for (size_t i = 0; !hit && i < 2 * node->nattrs; i++)
        hit = mt__find_token_like(node->attrs[i], token, sizeof token);
    if (hit) {
        char known[256] = "";
        size_t used = 0;
        for (size_t t = 0; t < doc->ntokens && used < sizeof known - 1; t++) {
            int n = snprintf(known + used, sizeof known - used, "%s%s", t ? ", " : "", doc->tokens[t].name);
            used = n > 0 && used + (size_t)n < sizeof known ? used + (size_t)n : sizeof known - 1;
        }
        return mt__node_fail(doc, node, "<%s>: unknown token '%s' (%s%s)", node->name, hit,
                             doc->ntokens ? "the <macros> define " : "no <token> is defined", known);
    }
    for (size_t i = 0; i < node->nchildren; i++) {
        if (mt__check_no_tokens_left(doc, node->children[i]) < 0)
            return -1;
    }
    return 0;
}

/* Tokens may use tokens (Galaxy's expand_nested_tokens): replace, refusing a token that holds itself. */
static int mt__nest_tokens(mt_xml_doc_t *doc, const mt_xml_node_t *macros_el)
{
    for (size_t i = 0; i < doc->ntokens; i++) {
        for (size_t k = 0; k < doc->ntokens; k++) {
            if (!strstr(doc->tokens[k].value, doc->tokens[i].name))
                continue;
            if (i == k)
                return mt__node_fail(doc, macros_el, "token '%s' contains itself", doc->tokens[i].name);
            size_t before = strlen(doc->tokens[k].value);
            char *v = mt__replace_tokens(doc->tokens[k].value, &doc->tokens[i], 1,
                                         before + (MT_XML_MAX_TOKEN_BYTES - doc->token_bytes));
            if (!v)
                return mt__node_fail(doc, macros_el, "tokens make more than %u bytes of text: not a configuration file",
                                     MT_XML_MAX_TOKEN_BYTES);
            free(doc->tokens[k].value);
            doc->tokens[k].value = v;
            size_t after = strlen(v);
            doc->token_bytes += after > before ? after - before : 0;
        }
    }
    return 0;
}

/* ---- collecting macros ---- */

static int mt__collect(mt_xml_doc_t *doc, const mt_xml_node_t *macros_el, bool allow_import, int depth);

static int mt__import(mt_xml_doc_t *doc, const mt_xml_node_t *el, bool allow_import, int depth)
{
    const char *rel = el->text;
    while (*rel == ' ' || *rel == '\t' || *rel == '\n' || *rel == '\r')
        rel++;
    char name[4096];
    snprintf(name, sizeof name, "%s", rel);
    for (size_t n = strlen(name); n > 0 && strchr(" \t\r\n", name[n - 1]); n--)
        name[n - 1] = '\0';
    if (!allow_import)
        return mt__node_fail(doc, el, "<import>: files can only be imported by a job configuration read from a file");
    if (!name[0])
        return mt__node_fail(doc, el, "<import> names no file");
    if (depth >= MT__XML_MAX_IMPORT_DEPTH)
        return mt__node_fail(doc, el, "<import> of '%s': imports nest more than %d deep (an import cycle?)", name,
                             MT__XML_MAX_IMPORT_DEPTH);
    char path[8192];
    const char *slash = strrchr(el->file, '/');
    if (name[0] == '/' || !slash)
        snprintf(path, sizeof path, "%s", name);
    else
        snprintf(path, sizeof path, "%.*s/%s", (int)(slash - el->file), el->file, name);
    FILE *fp = fopen(path, "r");
    if (!fp)
        return mt__node_fail(doc, el, "<import> of '%s': cannot open %s: %s", name, path, strerror(errno));
    size_t cap = 8192, len = 0, got;
    char *text = mt_malloc(cap);
    while ((got = fread(text + len, 1, cap - len, fp)) > 0) {
        len += got;
        if (len > MT__XML_MAX_FILE_BYTES)
            break;
        if (len == cap)
            text = mt_realloc(text, cap *= 2);
    }
    bool bad = ferror(fp);
    fclose(fp);
    if (bad) {
        free(text);
        return mt__node_fail(doc, el, "<import> of '%s': cannot read %s", name, path);
    }
    mt_xml_node_t *root;
    int rc = mt__parse(doc, mt__keep(doc, path), text, len, &root);
    free(text);
    if (rc < 0)
        return -1;
    doc->extra_roots = mt_realloc(doc->extra_roots, (doc->nextra + 1) * sizeof *doc->extra_roots);
    doc->extra_roots[doc->nextra++] = root;
    return mt__collect(doc, root, allow_import, depth + 1); /* the imported root holds macros as <macros> does */
}

static int mt__add_macro(mt_xml_doc_t *doc, mt_xml_node_t *el)
{
    const char *name = mt_xml_attr(el, "name");
    if (!name || !name[0])
        return mt__node_fail(doc, el, "<%s> in <macros> needs a name", el->name);
    for (size_t i = 0; i < doc->nmacros; i++) {
        if (strcmp(doc->macros[i].name, name) == 0)
            return mt__node_fail(doc, el, "macro '%s' defined twice (first at %s:%d)", name, doc->macros[i].def->file,
                                 doc->macros[i].def->line);
    }
    for (size_t i = 0; i < el->nattrs; i++) {
        const char *a = el->attrs[2 * i];
        if (strcmp(a, "name") && strcmp(a, "tokens") && strcmp(a, "type") && strcmp(a, "token_quote") &&
            strncmp(a, "token_", 6))
            return mt__node_fail(doc, el, "macro '%s': unknown attribute '%s' (expected name, tokens, token_NAME, "
                                 "token_quote)", name, a);
    }
    doc->macros = mt_realloc(doc->macros, (doc->nmacros + 1) * sizeof *doc->macros);
    doc->macros[doc->nmacros++] = (mt__macro_t){ .name = mt__keep(doc, name), .def = el };
    return 0;
}

static int mt__add_token(mt_xml_doc_t *doc, const mt_xml_node_t *el)
{
    const char *name = mt_xml_attr(el, "name");
    if (!name || !name[0])
        return mt__node_fail(doc, el, "<token> in <macros> needs a name (such as name=\"@PATH@\")");
    for (size_t i = 0; i < doc->ntokens; i++) {
        if (strcmp(doc->tokens[i].name, name) == 0)
            return mt__node_fail(doc, el, "token '%s' defined twice", name);
    }
    if (el->nchildren > 0)
        return mt__node_fail(doc, el, "token '%s': a token is text, it holds no elements", name);
    doc->tokens = mt_realloc(doc->tokens, (doc->ntokens + 1) * sizeof *doc->tokens);
    doc->tokens[doc->ntokens++] = (mt__token_t){ .name = mt_strdup(name), .value = mt_strdup(el->text) };
    return 0;
}

/* Imports first, then the macros written here, as Galaxy's _load_macros does. */
static int mt__collect(mt_xml_doc_t *doc, const mt_xml_node_t *macros_el, bool allow_import, int depth)
{
    for (size_t i = 0; i < macros_el->nchildren; i++) {
        const mt_xml_node_t *el = macros_el->children[i];
        if (strcmp(el->name, "import") == 0 && mt__import(doc, el, allow_import, depth) < 0)
            return -1;
    }
    for (size_t i = 0; i < macros_el->nchildren; i++) {
        mt_xml_node_t *el = macros_el->children[i];
        const char *type = mt_xml_attr(el, "type");
        int rc = 0;
        if (strcmp(el->name, "import") == 0 || strcmp(el->name, "template") == 0)
            continue;
        if (strcmp(el->name, "xml") == 0)
            rc = mt__add_macro(doc, el);
        else if (strcmp(el->name, "token") == 0)
            rc = mt__add_token(doc, el);
        else if (strcmp(el->name, "macro") == 0 && (!type || strcmp(type, "xml") == 0))
            rc = mt__add_macro(doc, el);
        else if (strcmp(el->name, "macro") == 0 && strcmp(type, "template") == 0)
            continue;
        else if (strcmp(el->name, "macro") == 0)
            rc = mt__node_fail(doc, el, "<macro type=\"%s\">: unknown macro type (expected xml or template)", type);
        else
            rc = mt__node_fail(doc, el, "<macros> holds <xml>, <token>, <macro>, <template> and <import>, not <%s>",
                               el->name);
        if (rc < 0)
            return -1;
    }
    return 0;
}

/* ---- expanding ---- */

typedef struct mt__chain {
    const char *macro;
    const struct mt__chain *up;
} mt__chain_t;

static const mt__macro_t *mt__find_macro(const mt_xml_doc_t *doc, const char *name)
{
    for (size_t i = 0; i < doc->nmacros; i++) {
        if (strcmp(doc->macros[i].name, name) == 0)
            return &doc->macros[i];
    }
    return NULL;
}

/* The parameters of a macro definition as tokens, given the expand's attributes. */
static int mt__macro_params(mt_xml_doc_t *doc, const mt__macro_t *m, const mt_xml_node_t *expand,
                            mt__token_t **out, size_t *nout)
{
    const mt_xml_node_t *def = m->def;
    const char *quote = mt_xml_attr(def, "token_quote");
    if (!quote)
        quote = "@";
    mt__token_t *params = NULL;
    size_t n = 0;
    char declared[512] = "";
    size_t used = 0;
    int rc = 0;
    /* Required ones (tokens="a,b"), then those with a default (token_x="..."). */
    for (size_t pass = 0; pass < 2 && rc == 0; pass++) {
        for (size_t i = 0; i < def->nattrs && rc == 0; i++) {
            const char *key = def->attrs[2 * i], *val = def->attrs[2 * i + 1];
            char names[1024];
            if (pass == 0 && strcmp(key, "tokens") == 0)
                snprintf(names, sizeof names, "%s", val);
            else if (pass == 1 && strncmp(key, "token_", 6) == 0 && strcmp(key, "token_quote") != 0)
                snprintf(names, sizeof names, "%s", key + 6);
            else
                continue;
            char *save = NULL;
            for (char *tok = strtok_r(names, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
                while (*tok == ' ' || *tok == '\t' || *tok == '\n')
                    tok++;
                size_t tl = strlen(tok);
                while (tl > 0 && strchr(" \t\n\r", tok[tl - 1]))
                    tok[--tl] = '\0';
                if (!tok[0])
                    continue;
                const char *given = mt_xml_attr(expand, tok);
                if (!given && pass == 0) {
                    rc = mt__node_fail(doc, expand, "<expand macro=\"%s\">: the required parameter '%s' is missing",
                                       m->name, tok);
                    break;
                }
                char *upper = mt_strdup(tok);
                for (char *u = upper; *u; u++)
                    *u = (char)toupper((unsigned char)*u);
                params = mt_realloc(params, (n + 1) * sizeof *params);
                params[n].name = mt_asprintf("%s%s%s", quote, upper, quote);
                params[n].value = mt_strdup(given ? given : val);
                n++;
                free(upper);
                int w = snprintf(declared + used, sizeof declared - used, "%s%s", used ? ", " : "", tok);
                used = w > 0 && used + (size_t)w < sizeof declared ? used + (size_t)w : sizeof declared - 1;
            }
        }
    }
    /* Every attribute of the expand but `macro` must be a parameter: a typo would silently keep a default. */
    for (size_t i = 0; i < expand->nattrs && rc == 0; i++) {
        const char *key = expand->attrs[2 * i];
        if (strcmp(key, "macro") == 0)
            continue;
        bool known = false;
        for (size_t k = 0; k < n && !known; k++) {
            const char *pname = params[k].name + strlen(quote);
            size_t plen = strlen(params[k].name) - 2 * strlen(quote);
            known = strlen(key) == plen && strncasecmp(pname, key, plen) == 0;
        }
        if (!known)
            rc = mt__node_fail(doc, expand, "<expand macro=\"%s\">: the macro has no parameter '%s' (%s%s)", m->name,
                               key, used ? "its parameters: " : "it takes none", declared);
    }
    if (rc < 0) {
        for (size_t k = 0; k < n; k++) {
            free(params[k].name);
            free(params[k].value);
        }
        free(params);
        return -1;
    }
    *out = params;
    *nout = n;
    return 0;
}

static int mt__expand_children(mt_xml_doc_t *doc, mt_xml_node_t *parent, const mt__chain_t *chain);

/* Replace each <yield> under node: named ones by the children of the expand's <token name>, others by its other children. */
static int mt__yields(mt_xml_doc_t *doc, mt_xml_node_t *node, const mt_xml_node_t *expand)
{
    for (size_t i = 0; i < node->nchildren;) {
        mt_xml_node_t *child = node->children[i];
        if (strcmp(child->name, "yield") != 0) {
            if (mt__yields(doc, child, expand) < 0)
                return -1;
            i++;
            continue;
        }
        const char *yname = mt_xml_attr(child, "name");
        const mt_xml_node_t *source = expand;
        if (yname) {
            source = NULL;
            for (size_t k = 0; k < expand->nchildren && !source; k++) {
                const mt_xml_node_t *t = expand->children[k];
                const char *tname = mt_xml_attr(t, "name");
                if (strcmp(t->name, "token") == 0 && tname && strcmp(tname, yname) == 0)
                    source = t;
            }
        }
        mt_xml_node_t **repl = NULL;
        size_t n = 0;
        for (size_t k = 0; source && k < source->nchildren; k++) {
            const mt_xml_node_t *c = source->children[k];
            if (!yname && strcmp(c->name, "token") == 0)
                continue;
            mt_xml_node_t *copy = mt__copy(doc, c, NULL, NULL); /* written at the expand: keeps its own line */
            if (!copy) {
                for (size_t j = 0; j < n; j++)
                    mt__node_free(repl[j]);
                free(repl);
                return mt__node_fail(doc, expand, "macro expansion makes more than %d elements", MT_XML_MAX_NODES);
            }
            repl = mt_realloc(repl, (n + 1) * sizeof *repl);
            repl[n++] = copy;
        }
        mt__splice(node, i, repl, n);
        free(repl);
        mt__node_free(child);
        i += n;
    }
    return 0;
}

/* The nodes that replace `expand`: its macro's children, copied, yields and parameters filled, expanded in turn. */
static int mt__expand_one(mt_xml_doc_t *doc, mt_xml_node_t *expand, const mt__chain_t *chain, mt_xml_node_t **holder)
{
    *holder = NULL;
    const char *name = mt_xml_attr(expand, "macro");
    if (!name)
        return mt__node_fail(doc, expand, "<expand> needs a macro attribute");
    const mt__macro_t *m = mt__find_macro(doc, name);
    if (!m) {
        char known[256] = "";
        size_t used = 0;
        for (size_t i = 0; i < doc->nmacros; i++) {
            int w = snprintf(known + used, sizeof known - used, "%s%s", i ? ", " : "", doc->macros[i].name);
            used = w > 0 && used + (size_t)w < sizeof known ? used + (size_t)w : sizeof known - 1;
        }
        return mt__node_fail(doc, expand, "<expand macro=\"%s\">: no macro of that name (%s%s)", name,
                             doc->nmacros ? "defined: " : "no <xml> macro is defined", known);
    }
    for (const mt__chain_t *c = chain; c; c = c->up) {
        if (strcmp(c->macro, name) == 0) {
            const char *names[64];
            size_t depth = 0;
            for (const mt__chain_t *d = chain; d && depth < 64; d = d->up)
                names[depth++] = d->macro;
            char path[512] = "";
            size_t used = 0;
            while (depth > 0) { /* outermost first */
                int w = snprintf(path + used, sizeof path - used, "%s -> ", names[--depth]);
                used = w > 0 && used + (size_t)w < sizeof path ? used + (size_t)w : sizeof path - 1;
            }
            return mt__node_fail(doc, expand, "macro '%s' expands itself (%s%s)", name, path, name);
        }
    }
    /* A container for the copies, so that yields and nested expands can be spliced in place. */
    mt_xml_node_t *box = mt__node_new(doc, "expanded");
    if (!box)
        return mt__node_fail(doc, expand, "macro expansion makes more than %d elements", MT_XML_MAX_NODES);
    box->file = expand->file;
    box->line = expand->line;
    for (size_t i = 0; i < m->def->nchildren; i++) {
        mt_xml_node_t *copy = mt__copy(doc, m->def->children[i], expand, m->name);
        if (!copy) {
            mt__node_free(box);
            return mt__node_fail(doc, expand, "macro expansion makes more than %d elements", MT_XML_MAX_NODES);
        }
        mt__append_child(box, copy);
    }
    mt__token_t *params = NULL;
    size_t nparams = 0;
    int rc = mt__yields(doc, box, expand);
    if (rc == 0)
        rc = mt__macro_params(doc, m, expand, &params, &nparams);
    if (rc == 0) {
        for (size_t i = 0; i < box->nchildren && rc == 0; i++)
            rc = mt__tokens_in_tree(doc, box->children[i], params, nparams);
        mt__chain_t link = { .macro = m->name, .up = chain };
        if (rc == 0)
            rc = mt__expand_children(doc, box, &link);
    }
    for (size_t k = 0; k < nparams; k++) {
        free(params[k].name);
        free(params[k].value);
    }
    free(params);
    if (rc < 0) {
        mt__node_free(box);
        return -1;
    }
    *holder = box;
    return 0;
}

static int mt__expand_children(mt_xml_doc_t *doc, mt_xml_node_t *parent, const mt__chain_t *chain)
{
    for (size_t i = 0; i < parent->nchildren;) {
        mt_xml_node_t *child = parent->children[i];
        if (strcmp(child->name, "expand") != 0) {
            if (mt__expand_children(doc, child, chain) < 0)
                return -1;
            i++;
            continue;
        }
        mt_xml_node_t *box;
        if (mt__expand_one(doc, child, chain, &box) < 0)
            return -1;
        size_t n = box->nchildren;
        mt__splice(parent, i, box->children, n);
        box->nchildren = 0;
        mt__node_free(box);
        mt__node_free(child);
        i += n;
    }
    return 0;
}

static int mt__expand(mt_xml_doc_t *doc, bool allow_import)
{
    mt_xml_node_t *root = doc->root;
    mt_xml_node_t *macros_el = NULL;
    for (size_t i = 0; i < root->nchildren; i++) {
        mt_xml_node_t *child = root->children[i];
        if (strcmp(child->name, "macros") != 0)
            continue;
        if (macros_el)
            return mt__node_fail(doc, child, "<macros> given twice (first at line %d)", macros_el->line);
        macros_el = child;
    }
    if (macros_el) {
        if (macros_el->nattrs > 0)
            return mt__node_fail(doc, macros_el, "<macros>: unknown attribute '%s'", macros_el->attrs[0]);
        /* Out of the tree, kept alive with the document: its definitions are used as written, never expanded. */
        for (size_t i = 0; i < root->nchildren; i++) {
            if (root->children[i] == macros_el) {
                memmove(root->children + i, root->children + i + 1,
                        (root->nchildren - i - 1) * sizeof *root->children);
                root->nchildren--;
                break;
            }
        }
        macros_el->parent = NULL;
        doc->extra_roots = mt_realloc(doc->extra_roots, (doc->nextra + 1) * sizeof *doc->extra_roots);
        doc->extra_roots[doc->nextra++] = macros_el;
        if (mt__collect(doc, macros_el, allow_import, 0) < 0)
            return -1;
        if (mt__nest_tokens(doc, macros_el) < 0)
            return -1;
    }
    if (strcmp(root->name, "expand") == 0)
        return mt__node_fail(doc, root, "the root element cannot be an <expand>");
    if (mt__expand_children(doc, root, NULL) < 0)
        return -1;
    if (mt__tokens_in_tree(doc, root, doc->tokens, doc->ntokens) < 0)
        return -1;
    return mt__check_no_tokens_left(doc, root);
}

/* ---- the document ---- */

int mt_xml_doc_load(const char *file, const char *text, size_t len, bool allow_import, mt_xml_doc_t **out, char *err,
                    size_t errlen)
{
    *out = NULL;
    mt_xml_doc_t *doc = mt_calloc(1, sizeof *doc);
    doc->err = err;
    doc->errlen = errlen;
    const char *name = mt__keep(doc, file);
    if (mt__parse(doc, name, text, len, &doc->root) < 0 || mt__expand(doc, allow_import) < 0) {
        mt_xml_doc_free(doc);
        return -1;
    }
    doc->err = NULL;
    doc->errlen = 0;
    *out = doc;
    return 0;
}

mt_xml_node_t *mt_xml_doc_root(const mt_xml_doc_t *doc)
{
    return doc->root;
}

void mt_xml_doc_free(mt_xml_doc_t *doc)
{
    if (!doc)
        return;
    mt__node_free(doc->root);
    for (size_t i = 0; i < doc->nextra; i++)
        mt__node_free(doc->extra_roots[i]);
    free(doc->extra_roots);
    for (size_t i = 0; i < doc->ntokens; i++) {
        free(doc->tokens[i].name);
        free(doc->tokens[i].value);
    }
    free(doc->tokens);
    free(doc->macros);
    for (size_t i = 0; i < doc->nstrings; i++)
        free(doc->strings[i]);
    free(doc->strings);
    free(doc);
}
