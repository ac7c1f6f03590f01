/*
 * Unit tests for the job configuration (src/app/job_conf.c): the YAML and
 * XML forms, every load error with its file:line. Handler assignment has
 * its own tests (test_job_assign.c).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app/job_conf.h"

#define MAX_TMP 16
static char *tmp_paths[MAX_TMP];
static size_t ntmp;
static char err[1024];

static void setup(void)
{
    err[0] = '\0';
}

static void teardown(void)
{
    for (size_t i = 0; i < ntmp; i++) {
        unlink(tmp_paths[i]);
        free(tmp_paths[i]);
    }
    ntmp = 0;
}

TestSuite(job_conf, .init = setup, .fini = teardown);

/* Write content to a new temporary file ending in suffix; the path lives until teardown. */
static const char *tmp_file(const char *suffix, const char *content)
{
    char tmpl[64];
    snprintf(tmpl, sizeof tmpl, "/tmp/mt_test_job_conf_XXXXXX%s", suffix);
    int fd = mkstemps(tmpl, (int)strlen(suffix));
    cr_assert(fd >= 0, "mkstemps: %s", strerror(errno));
    size_t len = strlen(content);
    cr_assert_eq(write(fd, content, len), (ssize_t)len);
    close(fd);
    cr_assert(ntmp < MAX_TMP);
    tmp_paths[ntmp] = strdup(tmpl);
    return tmp_paths[ntmp++];
}

/* Load content from a file ending in suffix; must succeed. */
static mt_job_conf_t *load_ok(const char *suffix, const char *content)
{
    mt_job_conf_t *conf = (mt_job_conf_t *)1;
    const char *path = tmp_file(suffix, content);
    int rc = mt_job_conf_load(path, &conf, err, sizeof err);
    cr_assert_eq(rc, 0, "load failed: %s", err);
    cr_assert_not_null(conf);
    return conf;
}

/* Load content from a file ending in suffix; must fail with "PATH:LINE: " and `expected` in the message. */
static void load_fails(const char *suffix, const char *content, int line, const char *expected)
{
    mt_job_conf_t *conf = (mt_job_conf_t *)1;
    const char *path = tmp_file(suffix, content);
    cr_assert_eq(mt_job_conf_load(path, &conf, err, sizeof err), -1, "load of %s succeeded", content);
    cr_assert_null(conf);
    char prefix[128];
    snprintf(prefix, sizeof prefix, "%s:%d: ", path, line);
    cr_assert(strncmp(err, prefix, strlen(prefix)) == 0, "error '%s' does not start with '%s'", err, prefix);
    cr_assert(strstr(err, expected), "error '%s' does not contain '%s'", err, expected);
    cr_assert_null(strchr(err, '\n'), "error '%s' spans lines", err);
}

/* The brief's example, in both forms. */
static const char example_yaml[] = "handling:\n"
                                    "  assign: [mule-message, db-self]\n"
                                    "  default: special\n"
                                    "  handlers:\n"
                                    "    handler0:\n"
                                    "      tags: [special]\n"
                                    "    main.job-handlers.2: {}\n"
                                    "tools:\n"
                                    "  - id: sleep\n"
                                    "    handler: handler0\n"
                                    "  - id: cat\n"
                                    "    handler: main.job-handlers.1\n";

static const char example_xml[] = "<?xml version=\"1.0\"?>\n"
                                  "<job_conf>\n"
                                  "  <plugins><plugin id=\"local\" type=\"runner\" load=\"x\"/></plugins>\n"
                                  "  <handlers assign_with=\"mule-message,db-self\" default=\"special\">\n"
                                  "    <handler id=\"handler0\" tags=\"special\"/>\n"
                                  "    <handler id=\"main.job-handlers.2\"/>\n"
                                  "  </handlers>\n"
                                  "  <destinations default=\"local\"><destination id=\"local\" runner=\"local\"/>"
                                  "</destinations>\n"
                                  "  <tools>\n"
                                  "    <tool id=\"sleep\" handler=\"handler0\"/>\n"
                                  "    <tool id=\"cat\" handler=\"main.job-handlers.1\" destination=\"local\"/>\n"
                                  "    <tool id=\"env-only\" destination=\"local\"><param id=\"x\">1</param></tool>\n"
                                  "  </tools>\n"
                                  "</job_conf>\n";

static void assert_example(const mt_job_conf_t *conf)
{
    const mt_assign_method_t *methods;
    cr_assert_eq(mt_job_conf_assign_methods(conf, &methods), 2);
    cr_assert_eq(methods[0], MT_ASSIGN_MULE_MESSAGE);
    cr_assert_eq(methods[1], MT_ASSIGN_DB_SELF);
    cr_assert(mt_job_conf_assign_configured(conf));
    cr_assert_str_eq(mt_job_conf_default(conf), "special");
    cr_assert_eq(mt_job_conf_handler_count(conf), 2);
    cr_assert_str_eq(mt_job_conf_handler_id(conf, 0), "handler0");
    cr_assert_str_eq(mt_job_conf_handler_id(conf, 1), "main.job-handlers.2");
    cr_assert(mt_job_conf_handler_has_tag(conf, "handler0", "special"));
    cr_assert_not(mt_job_conf_handler_has_tag(conf, "main.job-handlers.2", "special"));
    cr_assert(mt_job_conf_is_tag(conf, "special"));
    cr_assert_not(mt_job_conf_is_tag(conf, "handler0"));
    cr_assert_str_eq(mt_job_conf_tool_handler(conf, "sleep"), "handler0");
    cr_assert_str_eq(mt_job_conf_tool_handler(conf, "cat"), "main.job-handlers.1");
    cr_assert_null(mt_job_conf_tool_handler(conf, "env-only"));
    cr_assert_null(mt_job_conf_tool_handler(conf, "other"));
    cr_assert_null(mt_job_conf_tool_handler(conf, NULL));
}

/* ------------------------------------------------------------------ */
/* Parsing                                                             */
/* ------------------------------------------------------------------ */

Test(job_conf, yaml_form)
{
    mt_job_conf_t *conf = load_ok(".yml", example_yaml);
    assert_example(conf);
    mt_job_conf_destroy(conf);
}

Test(job_conf, xml_form)
{
    mt_job_conf_t *conf = load_ok(".xml", example_xml);
    assert_example(conf);
    mt_job_conf_destroy(conf);
}

Test(job_conf, format_chosen_by_extension_then_content)
{
    /* No telling extension: '<' first means XML, with or without a byte order mark. */
    mt_job_conf_t *conf = load_ok(".conf", example_xml);
    assert_example(conf);
    mt_job_conf_destroy(conf);
    conf = load_ok(".sample", "\xef\xbb\xbf\n  <job_conf><handlers><handler id=\"h\"/></handlers></job_conf>");
    cr_assert_str_eq(mt_job_conf_handler_id(conf, 0), "h");
    mt_job_conf_destroy(conf);
    conf = load_ok(".conf", example_yaml);
    assert_example(conf);
    mt_job_conf_destroy(conf);
    /* .xml is XML even when it is not: expat says why. */
    load_fails(".xml", "handling: {}\n", 1, "XML syntax error");
    /* From memory, the name picks the format the same way. */
    cr_assert_eq(mt_job_conf_load_string("inline.xml", "<job_conf/>", 11, &conf, err, sizeof err), 0, "%s", err);
    cr_assert_eq(mt_job_conf_handler_count(conf), 0);
    mt_job_conf_destroy(conf);
}

Test(job_conf, galaxy_spellings)
{
    mt_job_conf_t *conf = load_ok(".yml", "runners:\n"
                                          "  local: {load: galaxy.jobs.runners.local:LocalJobRunner}\n"
                                          "execution:\n"
                                          "  default: local\n"
                                          "handling:\n"
                                          "  assign: uwsgi-mule-message, db-preassign\n"
                                          "  max_grab: 8\n"
                                          "  ready_window_size: 100\n"
                                          "  processes:\n"
                                          "    handler0:\n"
                                          "    handler1:\n"
                                          "      plugins: [local]\n"
                                          "      tags: 'a, b'\n"
                                          "tools:\n"
                                          "  - class: local\n"
                                          "    environment: local\n"
                                          "  - id: t\n"
                                          "    environment: local\n"
                                          "    handler:\n");
    const mt_assign_method_t *methods;
    cr_assert_eq(mt_job_conf_assign_methods(conf, &methods), 2);
    cr_assert_eq(methods[0], MT_ASSIGN_MULE_MESSAGE);
    cr_assert_eq(methods[1], MT_ASSIGN_DB_PREASSIGN);
    cr_assert_eq(mt_job_conf_handler_count(conf), 2);
    cr_assert(mt_job_conf_handler_has_tag(conf, "handler1", "a"));
    cr_assert(mt_job_conf_handler_has_tag(conf, "handler1", "b"));
    cr_assert_null(mt_job_conf_tool_handler(conf, "t"));
    mt_job_conf_destroy(conf);

    conf = load_ok(".xml", "<job_conf><handlers assign_with=\" db-skip-locked , db-self \" max_grab=\"4\">"
                           "<handler id=\"h\" tags=\"x, y\"><plugin id=\"local\"/></handler></handlers></job_conf>");
    cr_assert_eq(mt_job_conf_assign_methods(conf, &methods), 2);
    cr_assert_eq(methods[0], MT_ASSIGN_DB_SKIP_LOCKED);
    cr_assert(mt_job_conf_handler_has_tag(conf, "h", "y"));
    mt_job_conf_destroy(conf);
}

Test(job_conf, no_configuration)
{
    mt_job_conf_t *conf = (mt_job_conf_t *)1;
    cr_assert_eq(mt_job_conf_load(NULL, &conf, err, sizeof err), 0);
    cr_assert_null(conf);
    mt_job_conf_destroy(NULL);
    const mt_assign_method_t *methods;
    cr_assert_eq(mt_job_conf_assign_methods(NULL, &methods), 0, "no order: the stack decides (job_assign.h)");
    cr_assert_not(mt_job_conf_assign_configured(NULL));
    cr_assert_null(mt_job_conf_default(NULL));
    cr_assert_eq(mt_job_conf_handler_count(NULL), 0);
    cr_assert_not(mt_job_conf_is_tag(NULL, "x"));
    cr_assert_not(mt_job_conf_handler_has_tag(NULL, "h", "x"));
    cr_assert_null(mt_job_conf_tool_handler(NULL, "sleep"));

    /* An empty file, or one without a handling block: nothing configured. */
    conf = load_ok(".yml", "");
    cr_assert_eq(mt_job_conf_handler_count(conf), 0);
    cr_assert_not(mt_job_conf_assign_configured(conf));
    mt_job_conf_destroy(conf);
}

Test(job_conf, method_names)
{
    mt_assign_method_t m;
    for (int i = 0; i < MT_ASSIGN_METHOD_COUNT; i++) {
        cr_assert_eq(mt_assign_method_parse(mt_assign_method_name((mt_assign_method_t)i), &m), 0);
        cr_assert_eq(m, (mt_assign_method_t)i);
    }
    cr_assert_str_eq(mt_assign_method_name(MT_ASSIGN_DB_SKIP_LOCKED), "db-skip-locked");
    cr_assert_eq(mt_assign_method_parse("db-transaction-isolation", &m), 0);
    cr_assert_eq(m, MT_ASSIGN_DB_TRANSACTION_ISOLATION);
    cr_assert_eq(mt_assign_method_parse("uwsgi-mule-message", &m), 0);
    cr_assert_eq(m, MT_ASSIGN_MULE_MESSAGE);
    cr_assert_eq(mt_assign_method_parse("db-magic", &m), -1);
    cr_assert_str_eq(mt_assign_method_name((mt_assign_method_t)42), "unknown");
}

/* ------------------------------------------------------------------ */
/* Errors: file, line and what is wrong                                */
/* ------------------------------------------------------------------ */

Test(job_conf, error_unknown_assign_method)
{
    load_fails(".yml", "handling:\n  assign:\n    - mule-message\n    - db-magic\n", 4,
               "unknown assign method 'db-magic'");
    load_fails(".xml", "<job_conf>\n\n<handlers assign_with=\"db-self,db-magic\"/>\n</job_conf>\n", 3,
               "unknown assign method 'db-magic'");
    load_fails(".yml", "handling:\n  assign: [db-self, mem-self, db-self]\n", 2, "'db-self' listed twice");
    load_fails(".yml", "handling:\n  assign: []\n", 2, "assign: expected a list of methods");
    load_fails(".xml", "<job_conf><handlers assign_with=\"\"/></job_conf>", 1, "empty method name");
}

/* A default or a mapping naming what only the stack knows (a farm's tag, a server name) loads: job_assign checks it. */
Test(job_conf, names_the_stack_may_know_load)
{
    mt_job_conf_t *conf = load_ok(".yml", "handling:\n  handlers:\n    h1:\n      tags: [a]\n  default: b\n"
                                          "tools:\n  - id: sleep\n    handler: special\n");
    cr_assert_str_eq(mt_job_conf_default(conf), "b");
    cr_assert_eq(mt_job_conf_default_line(conf), 5);
    cr_assert_str_eq(mt_job_conf_tool_handler(conf, "sleep"), "special");
    const char *target;
    int line;
    cr_assert_eq(mt_job_conf_mapping_count(conf), 1);
    cr_assert_str_eq(mt_job_conf_mapping(conf, 0, &target, &line), "sleep");
    cr_assert_str_eq(target, "special");
    cr_assert_eq(line, 8);
    cr_assert_eq(mt_job_conf_handler_line(conf, 0), 3);
    cr_assert_eq(mt_job_conf_handler_tag_count(conf, 0), 1);
    cr_assert_str_eq(mt_job_conf_handler_tag(conf, 0, 0), "a");
    cr_assert(mt_job_conf_is_handler(conf, "h1"));
    cr_assert_not(mt_job_conf_is_handler(conf, "a"));
    mt_job_conf_destroy(conf);
    /* Tools may come before the handlers they name. */
    conf = load_ok(".yml", "tools:\n  - id: sleep\n    handler: h\nhandling:\n  handlers:\n    h:\n");
    mt_job_conf_destroy(conf);
}

Test(job_conf, mapping_to_a_server_name_needs_no_handler)
{
    mt_job_conf_t *conf = load_ok(".yml", "tools:\n  - id: sleep\n    handler: main.job-handlers.2\n");
    cr_assert_str_eq(mt_job_conf_tool_handler(conf, "sleep"), "main.job-handlers.2");
    cr_assert_eq(mt_job_conf_handler_count(conf), 0);
    mt_job_conf_destroy(conf);
    conf = load_ok(".xml", "<job_conf><tools><tool id=\"sleep\" handler=\"main.job-handlers.2\"/></tools></job_conf>");
    cr_assert_str_eq(mt_job_conf_tool_handler(conf, "sleep"), "main.job-handlers.2");
    mt_job_conf_destroy(conf);
}

Test(job_conf, error_handler_id_given_twice)
{
    load_fails(".yml", "handling:\n  handlers:\n    h1:\n    h2:\n    h1:\n      tags: [a]\n", 5,
               "handler 'h1' given twice (first at line 3)");
    load_fails(".xml",
               "<job_conf>\n <handlers>\n  <handler id=\"h1\"/>\n  <handler id=\"h2\"/>\n  <handler id=\"h1\"/>\n"
               " </handlers>\n</job_conf>",
               5, "handler 'h1' given twice (first at line 3)");
}

Test(job_conf, error_malformed_xml_with_expat_line)
{
    load_fails(".xml", "<job_conf>\n  <handlers>\n    <handler id=\"h\">\n  </handlers>\n</job_conf>\n", 4,
               "XML syntax error: mismatched tag");
    load_fails(".xml", "<job_conf>\n<handlers>\n<handler id=\"h\" id=\"g\"/>\n", 3, "XML syntax error: duplicate attribute");
    load_fails(".xml", "", 1, "XML syntax error: no element found");
}

Test(job_conf, error_xml_structure)
{
    load_fails(".xml", "<?xml version=\"1.0\"?>\n<jobs/>\n", 2, "the root element is <jobs>, expected <job_conf>");
    load_fails(".xml", "<job_conf>\n<handlers>\n<handler tags=\"a\"/>\n</handlers></job_conf>", 3,
               "<handler> needs an id attribute");
    load_fails(".xml", "<job_conf>\n<handlers>\n<handle id=\"a\"/>\n</handlers></job_conf>", 3,
               "<handlers> holds <handler> elements, not <handle>");
    load_fails(".xml", "<job_conf><handlers/>\n<handlers/></job_conf>", 2, "<handlers> given twice (first at line 1)");
    load_fails(".xml", "<job_conf><tools>\n<tool handler=\"a.b\"/></tools></job_conf>", 2, "needs an id attribute");
}

Test(job_conf, error_yaml_structure)
{
    load_fails(".yml", "handling:\n  handlers:\n    h:\n  defualt: h\n", 4, "unknown key 'defualt'");
    load_fails(".yml", "handling:\n  handlers:\n    h:\n      tag: [a]\n", 4, "handler 'h': unknown key 'tag'");
    load_fails(".yml", "handling:\n  handlers: [h1, h2]\n", 2, "expected a mapping of handler ids");
    load_fails(".yml", "handling: {}\nhandling: {}\n", 2, "'handling' given twice (first at line 1)");
    load_fails(".yml", "tools:\n  - id: t\n    handler: a.b\n  - id: t\n    handler: c.d\n", 5,
               "tool 't' mapped to a handler twice (first at line 3)");
    load_fails(".yml", "tools:\n  - handler: a.b\n", 2, "an entry with a handler needs an id");
    load_fails(".yml", "tools: {id: t}\n", 1, "tools: expected a list");
    load_fails(".yml", "- handling\n", 1, "expected a mapping at the top level");
    load_fails(".yml", "handling:\n  default: [a, b]\n", 2, "default: expected a single value");
    load_fails(".yml", "handling: {}\n---\ntools: []\n", 3, "only one YAML document");
}

Test(job_conf, error_bad_names)
{
    load_fails(".yml", "handling:\n  handlers:\n    \"h 1\":\n", 3, "handler id 'h 1' must not contain blanks");
    load_fails(".yml", "handling:\n  handlers:\n    \"h\\n1\":\n", 3, "must not contain blanks");
    load_fails(".xml", "<job_conf><handlers>\n<handler id=\"h\" tags=\"a,,b\"/></handlers></job_conf>", 2,
               "tag is empty");
    load_fails(".yml", "handling:\n  handlers:\n    h:\n      tags: [g]\n    g:\n", 3,
               "handler 'h': tag 'g' is also a handler id");
    char big[400];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    char text[512];
    snprintf(text, sizeof text, "handling:\n  handlers:\n    h:\n      tags: [%.120s]\n", big);
    load_fails(".yml", text, 4, "is longer than 114 bytes");
    snprintf(text, sizeof text, "<job_conf><handlers><handler id=\"%s\"/></handlers></job_conf>", big);
    load_fails(".xml", text, 1, "is longer than 255 bytes");
}

Test(job_conf, error_yaml_syntax_and_encoding)
{
    load_fails(".yml", "handling:\n  handlers:\n    h: [\n", 4, "YAML syntax error");
    load_fails(".yml", "handling:\n  default: \"caf\xe9\"\n", 2, "not UTF-8 (byte 0xe9)");
    load_fails(".yml", "handling:\n  default: *nowhere\n", 2, "default: unresolvable alias");
}

Test(job_conf, error_cannot_open)
{
    mt_job_conf_t *conf = (mt_job_conf_t *)1;
    cr_assert_eq(mt_job_conf_load("/nonexistent/job_conf.yml", &conf, err, sizeof err), -1);
    cr_assert_null(conf);
    cr_assert_str_eq(err, "/nonexistent/job_conf.yml: cannot open: No such file or directory");
}

/* ------------------------------------------------------------------ */
/* Assignment: the proposal's Caveats                                  */
/* ------------------------------------------------------------------ */
