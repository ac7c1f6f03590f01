/*
 * Unit tests for xml_macros.c on its own: the tree (names, attributes,
 * text, lines), where a macro's elements say they come from, Galaxy's
 * expansion rules (parameters, defaults, token_quote, yields, tokens in
 * attribute names, nested tokens), imports that nest too deep, and the
 * errors with their file:line. job_conf's own tests use macros in job
 * configurations (test_job_conf.c).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app/model/xml_macros.h"

static char err[1024];

static mt_xml_doc_t *load(const char *text)
{
    mt_xml_doc_t *doc;
    cr_assert_eq(mt_xml_doc_load("t.xml", text, strlen(text), false, &doc, err, sizeof err), 0, "%s", err);
    return doc;
}

static void fails(const char *text, const char *expected)
{
    mt_xml_doc_t *doc = (mt_xml_doc_t *)1;
    cr_assert_eq(mt_xml_doc_load("t.xml", text, strlen(text), false, &doc, err, sizeof err), -1);
    cr_assert_null(doc);
    cr_assert(strstr(err, expected), "error '%s' does not contain '%s'", err, expected);
    cr_assert_null(strchr(err, '\n'));
}

Test(xml_macros, a_tree_with_lines_attributes_and_text)
{
    mt_xml_doc_t *doc = load("<r a=\"1\">\n  <c b=\"2\">text &amp; more</c>\n  <!-- gone -->\n  <d/>\n</r>");
    const mt_xml_node_t *root = mt_xml_doc_root(doc);
    cr_assert_str_eq(root->name, "r");
    cr_assert_str_eq(mt_xml_attr(root, "a"), "1");
    cr_assert_null(mt_xml_attr(root, "b"));
    cr_assert_eq(root->nchildren, 2, "comments are not elements");
    cr_assert_str_eq(root->children[0]->text, "text & more");
    cr_assert_eq(root->children[0]->line, 2);
    cr_assert_eq(root->children[1]->line, 4);
    cr_assert_eq(root->children[1]->parent, root);
    char origin[64];
    cr_assert_str_eq(mt_xml_origin(root->children[0], origin, sizeof origin), "");
    cr_assert_str_eq(mt_xml_file(root), "t.xml");
    mt_xml_doc_free(doc);
    mt_xml_doc_free(NULL);
}

Test(xml_macros, expansion_as_galaxy_does_it)
{
    mt_xml_doc_t *doc = load("<r>\n"
                             "  <macros>\n"
                             "    <token name=\"@OUTER@\">[@INNER@]</token>\n"
                             "    <token name=\"@INNER@\">in</token>\n"
                             "    <token name=\"ATTRKEY\">renamed</token>\n"
                             "    <xml name=\"m\" tokens=\"a\" token_b=\"B default\" token_quote=\"%\">\n"
                             "      <e a=\"%A%\" b=\"%B%\" ATTRKEY=\"@OUTER@\"><yield/></e>\n"
                             "      <f><yield name=\"named\"/></f>\n"
                             "    </xml>\n"
                             "  </macros>\n"
                             "  <expand macro=\"m\" a=\"given\"><g/><token name=\"named\"><h/><i/></token></expand>\n"
                             "</r>\n");
    const mt_xml_node_t *root = mt_xml_doc_root(doc);
    cr_assert_eq(root->nchildren, 2, "<macros> is gone, the expand gave two elements");
    const mt_xml_node_t *e = root->children[0], *f = root->children[1];
    cr_assert_str_eq(e->name, "e");
    cr_assert_str_eq(mt_xml_attr(e, "a"), "given");
    cr_assert_str_eq(mt_xml_attr(e, "b"), "B default");
    cr_assert_str_eq(mt_xml_attr(e, "renamed"), "[in]", "tokens in attribute names, tokens in tokens");
    cr_assert_eq(e->nchildren, 1);
    cr_assert_str_eq(e->children[0]->name, "g", "the unnamed yield takes the expand's children but its tokens");
    cr_assert_eq(f->nchildren, 2);
    cr_assert_str_eq(f->children[0]->name, "h");
    cr_assert_str_eq(f->children[1]->name, "i");
    /* Where they come from: the expand's line, and the macro's. */
    cr_assert_eq(mt_xml_line(e), 11);
    cr_assert_eq(e->line, 7);
    char origin[128];
    cr_assert_str_eq(mt_xml_origin(e, origin, sizeof origin), " (from macro 'm', t.xml:7)");
    cr_assert_eq(mt_xml_line(e->children[0]), 11, "the yielded element is written at the expand");
    mt_xml_doc_free(doc);
}

Test(xml_macros, errors_name_the_line)
{
    fails("<r>\n<expand macro=\"x\"/></r>", "t.xml:2: <expand macro=\"x\">: no macro of that name (no <xml> macro is "
                                            "defined)");
    fails("<r><macros><xml name=\"m\"/></macros>\n<expand macro=\"m\" q=\"1\"/></r>",
          "t.xml:2: <expand macro=\"m\">: the macro has no parameter 'q' (it takes none)");
    fails("<r><macros><xml name=\"m\" nmae=\"x\"/></macros></r>", "t.xml:1: macro 'm': unknown attribute 'nmae'");
    fails("<r><macros><macro type=\"cheetah\" name=\"m\"/></macros></r>", "unknown macro type (expected xml or template)");
    fails("<r><macros><token>x</token></macros></r>", "<token> in <macros> needs a name");
    fails("<r><macros><token name=\"@T@\"><b/></token></macros></r>", "a token is text, it holds no elements");
    fails("<r>\n<x v=\"@LEFT@\"/></r>", "t.xml:2: <x>: unknown token '@LEFT@' (no <token> is defined)");
    fails("<expand macro=\"m\"/>", "the root element cannot be an <expand>");
    fails("<r><macros a=\"1\"/></r>", "<macros>: unknown attribute 'a'");
    fails("<r>\n<a>\n</r>", "t.xml:3: XML syntax error: mismatched tag");
    fails("<r>\0</r>", "XML syntax error"); /* strlen stops at the NUL: an unclosed element */
}

Test(xml_macros, imports_are_read_from_files_only_and_nest_boundedly)
{
    char dir[] = "/tmp/mt_xml_macros_XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char path[256], main_path[256];
    snprintf(path, sizeof path, "%s/loop.xml", dir);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs("<macros><import>loop.xml</import></macros>", f); /* imports itself */
    fclose(f);
    snprintf(main_path, sizeof main_path, "%s/main.xml", dir);
    const char *text = "<r><macros><import>loop.xml</import></macros></r>";
    mt_xml_doc_t *doc = (mt_xml_doc_t *)1;
    cr_assert_eq(mt_xml_doc_load(main_path, text, strlen(text), true, &doc, err, sizeof err), -1);
    cr_assert(strstr(err, "imports nest more than 8 deep (an import cycle?)"), "%s", err);
    cr_assert(strstr(err, "loop.xml:1: "), "the message names the imported file: %s", err);
    cr_assert_eq(mt_xml_doc_load(main_path, text, strlen(text), false, &doc, err, sizeof err), -1);
    cr_assert(strstr(err, "files can only be imported by a job configuration read from a file"), "%s", err);
    unlink(path);
    rmdir(dir);
}
