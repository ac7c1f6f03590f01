/*
 * Unit tests for the job configuration (src/app/job_conf.c): the YAML and
 * XML forms (equivalent files give the same decisions), every load error
 * with its file:line, and handler assignment -- each rule of the
 * proposal's Caveats as its own test, with a fake stack (farm_exists) and
 * a deterministic random, plus the assign order's fall-through.
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

/* The fake stack: which farms exist, and the values random() returns in turn. */
typedef struct fake_stack {
    const char *farms[4];
    unsigned randoms[8];
    size_t nrandoms, next_random, random_calls;
} fake_stack_t;

static fake_stack_t stack;

static bool fake_farm_exists(const char *farm, void *data)
{
    fake_stack_t *s = data;
    for (size_t i = 0; i < 4 && s->farms[i]; i++) {
        if (strcmp(s->farms[i], farm) == 0)
            return true;
    }
    return false;
}

static unsigned fake_random(void *data)
{
    fake_stack_t *s = data;
    s->random_calls++;
    return s->nrandoms ? s->randoms[s->next_random++ % s->nrandoms] : 0;
}

static mt_assign_facts_t facts;

static void setup(void)
{
    memset(&stack, 0, sizeof stack);
    facts = (mt_assign_facts_t){
        .self_server_name = "main.web.2",
        .farm_exists = fake_farm_exists,
        .data = &stack,
        .random = fake_random,
    };
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
TestSuite(assign, .init = setup, .fini = teardown);

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

static mt_assignment_t assign_ok(const mt_job_conf_t *conf, const char *tool_id)
{
    mt_assignment_t out;
    int rc = mt_job_conf_assign(conf, tool_id, &facts, &out, err, sizeof err);
    cr_assert_eq(rc, 0, "assign failed: %s", err);
    return out;
}

/* The handler was set directly: no farm, no message, nothing waiting. */
static void assert_direct(const mt_assignment_t *a, mt_assign_method_t method, const char *handler)
{
    cr_assert_eq(a->method, method, "method %s, expected %s", mt_assign_method_name(a->method),
                 mt_assign_method_name(method));
    cr_assert_str_eq(a->handler, handler);
    cr_assert_str_empty(a->farm);
    cr_assert_str_empty(a->destination);
}

/* Handler NULL and a message to farm, where the job waits. */
static void assert_message(const mt_assignment_t *a, const char *farm)
{
    cr_assert_eq(a->method, MT_ASSIGN_MULE_MESSAGE, "method %s", mt_assign_method_name(a->method));
    cr_assert_str_empty(a->handler);
    cr_assert_str_eq(a->farm, farm);
    cr_assert_str_eq(a->destination, farm);
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

Test(job_conf, yaml_and_xml_give_the_same_decisions)
{
    mt_job_conf_t *yaml = load_ok(".yaml", example_yaml);
    mt_job_conf_t *xml = load_ok(".xml", example_xml);
    const char *tools[] = { "sleep", "cat", "env-only", "other", NULL };
    const char *farm_sets[][2] = { { NULL, NULL }, { "job-handlers", NULL }, { "job-handlers.special", NULL } };
    for (size_t f = 0; f < 3; f++) {
        for (size_t t = 0; t < 5; t++) {
            memset(&stack, 0, sizeof stack);
            stack.farms[0] = farm_sets[f][0];
            mt_assignment_t a = assign_ok(yaml, tools[t]);
            stack.next_random = 0;
            mt_assignment_t b = assign_ok(xml, tools[t]);
            cr_assert_eq(memcmp(&a, &b, sizeof a), 0, "tool %s, farm %s: %s/%s vs %s/%s", tools[t],
                         farm_sets[f][0], a.handler, a.farm, b.handler, b.farm);
        }
    }
    mt_job_conf_destroy(yaml);
    mt_job_conf_destroy(xml);
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
    cr_assert_eq(mt_job_conf_assign_methods(NULL, &methods), 2);
    cr_assert_eq(methods[0], MT_ASSIGN_MULE_MESSAGE);
    cr_assert_eq(methods[1], MT_ASSIGN_DB_SELF);
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
    cr_assert_eq(mt_assign_method_parse("db-transaction-isolation", &m), -1);
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

Test(job_conf, error_default_names_neither_handler_nor_tag)
{
    load_fails(".yml", "handling:\n  handlers:\n    h1:\n      tags: [a]\n  default: b\n", 5,
               "default 'b' names neither a handler nor a tag");
    load_fails(".xml", "<job_conf>\n <handlers default=\"b\">\n  <handler id=\"h1\" tags=\"a\"/>\n </handlers>\n</job_conf>",
               2, "default 'b' names neither a handler nor a tag");
    /* A default without handlers at all, even a server name. */
    load_fails(".yml", "handling:\n  default: main.job-handlers.1\n", 2, "(no handlers are configured)");
}

Test(job_conf, error_tool_mapped_to_unknown_handler_or_tag)
{
    load_fails(".yml", "tools:\n  - id: sleep\n    handler: nobody\n", 3,
               "tool 'sleep' is mapped to 'nobody', which is neither a handler, a tag nor a server name");
    load_fails(".xml",
               "<job_conf>\n <handlers><handler id=\"h\"/></handlers>\n <tools>\n"
               "  <tool id=\"ok\" handler=\"h\"/>\n  <tool id=\"sleep\" handler=\"nobody\"/>\n </tools>\n</job_conf>",
               5, "tool 'sleep' is mapped to 'nobody'");
    /* Tools may come before the handlers they name. */
    mt_job_conf_t *conf = load_ok(".yml", "tools:\n  - id: sleep\n    handler: h\nhandling:\n  handlers:\n    h:\n");
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

/* Rule 1: no job configuration, no job-handlers farm -> the web worker handles the job. */
Test(assign, rule1_no_conf_no_farm_web_worker_handles)
{
    mt_assignment_t a = assign_ok(NULL, "sleep");
    assert_direct(&a, MT_ASSIGN_DB_SELF, "main.web.2");
}

/* Rule 1: no job configuration, a job-handlers farm -> its mules, by message. */
Test(assign, rule1_no_conf_farm_mules_handle)
{
    stack.farms[0] = "job-handlers";
    mt_assignment_t a = assign_ok(NULL, "sleep");
    assert_message(&a, "job-handlers");
}

/* Rule 1: a file without a handlers block behaves as no file. */
Test(assign, rule1_conf_without_handlers_block)
{
    mt_job_conf_t *conf = load_ok(".xml", "<job_conf><plugins/><destinations/></job_conf>");
    mt_assignment_t a = assign_ok(conf, "sleep");
    assert_direct(&a, MT_ASSIGN_DB_SELF, "main.web.2");
    stack.farms[0] = "job-handlers";
    a = assign_ok(conf, "sleep");
    assert_message(&a, "job-handlers");
    mt_job_conf_destroy(conf);
}

static const char no_default_yaml[] = "handling:\n"
                                      "  handlers:\n"
                                      "    handler0:\n"
                                      "    handler1:\n"
                                      "tools:\n"
                                      "  - id: sleep\n"
                                      "    handler: handler1\n";

/* Rule 2: handlers but no default: unmapped tools go where rule 1 says. */
Test(assign, rule2_no_default_unmapped_tool_as_rule1)
{
    mt_job_conf_t *conf = load_ok(".yml", no_default_yaml);
    mt_assignment_t a = assign_ok(conf, "cat");
    assert_direct(&a, MT_ASSIGN_DB_SELF, "main.web.2");
    stack.farms[0] = "job-handlers";
    a = assign_ok(conf, "cat");
    assert_message(&a, "job-handlers");
    a = assign_ok(conf, NULL);
    assert_message(&a, "job-handlers");
    mt_job_conf_destroy(conf);
}

/* Rule 2: ... except a mapped tool, which gets the handler named, with no message even with the farm. */
Test(assign, rule2_no_default_mapped_tool_set_directly)
{
    mt_job_conf_t *conf = load_ok(".yml", no_default_yaml);
    mt_assignment_t a = assign_ok(conf, "sleep");
    assert_direct(&a, MT_ASSIGN_DB_PREASSIGN, "handler1");
    stack.farms[0] = "job-handlers";
    a = assign_ok(conf, "sleep");
    assert_direct(&a, MT_ASSIGN_DB_PREASSIGN, "handler1");
    mt_job_conf_destroy(conf);
}

/* Rule 3: a default handler id is set directly, even with the job-handlers farm. */
Test(assign, rule3_default_handler_set_directly)
{
    mt_job_conf_t *conf = load_ok(".xml", "<job_conf><handlers default=\"handler0\">"
                                          "<handler id=\"handler0\"/><handler id=\"handler1\"/></handlers></job_conf>");
    stack.farms[0] = "job-handlers";
    mt_assignment_t a = assign_ok(conf, "cat");
    assert_direct(&a, MT_ASSIGN_DB_PREASSIGN, "handler0");
    a = assign_ok(conf, NULL);
    assert_direct(&a, MT_ASSIGN_DB_PREASSIGN, "handler0");
    mt_job_conf_destroy(conf);
}

/* Rule 3: a default tag gives one of its members, set directly. */
Test(assign, rule3_default_tag_set_directly)
{
    mt_job_conf_t *conf = load_ok(".yml", "handling:\n  default: fast\n  handlers:\n"
                                          "    h0: {tags: [fast]}\n    h1: {tags: [slow]}\n    h2: {tags: [fast]}\n");
    stack.farms[0] = "job-handlers";
    stack.randoms[0] = 1;
    stack.nrandoms = 1;
    mt_assignment_t a = assign_ok(conf, "cat");
    assert_direct(&a, MT_ASSIGN_DB_PREASSIGN, "h2");
    cr_assert_eq(stack.random_calls, 1);
    mt_job_conf_destroy(conf);
}

/* Rule 3: explicit mappings override the default. */
Test(assign, rule3_mapping_overrides_default)
{
    mt_job_conf_t *conf = load_ok(".yml", "handling:\n  default: h0\n  handlers:\n    h0:\n    h1:\n"
                                          "tools:\n  - id: sleep\n    handler: h1\n");
    mt_assignment_t a = assign_ok(conf, "sleep");
    assert_direct(&a, MT_ASSIGN_DB_PREASSIGN, "h1");
    a = assign_ok(conf, "cat");
    assert_direct(&a, MT_ASSIGN_DB_PREASSIGN, "h0");
    mt_job_conf_destroy(conf);
}

static const char tags_xml[] = "<job_conf>\n"
                               " <handlers>\n"
                               "  <handler id=\"h0\" tags=\"special\"/>\n"
                               "  <handler id=\"h1\"/>\n"
                               "  <handler id=\"h2\" tags=\"other,special\"/>\n"
                               "  <handler id=\"h3\" tags=\"special\"/>\n"
                               " </handlers>\n"
                               " <tools><tool id=\"sleep\" handler=\"special\"/></tools>\n"
                               "</job_conf>\n";

/* Rule 4: a tag resolves to members[random() % count], members in file order. */
Test(assign, rule4_tag_random_member)
{
    mt_job_conf_t *conf = load_ok(".xml", tags_xml);
    const unsigned randoms[] = { 0, 1, 2, 3, 7 };
    const char *expected[] = { "h0", "h2", "h3", "h0", "h2" };
    memcpy(stack.randoms, randoms, sizeof randoms);
    stack.nrandoms = 5;
    stack.farms[0] = "job-handlers"; /* no job-handlers.special: the tag is not a farm's */
    for (size_t i = 0; i < 5; i++) {
        mt_assignment_t a = assign_ok(conf, "sleep");
        assert_direct(&a, MT_ASSIGN_DB_PREASSIGN, expected[i]);
    }
    cr_assert_eq(stack.random_calls, 5);
    mt_job_conf_destroy(conf);
}

/* Rule 4: a farm job-handlers.TAG serves tag TAG: a message to it, whoever the members are. */
Test(assign, rule4_tag_served_by_its_farm)
{
    mt_job_conf_t *conf = load_ok(".xml", tags_xml);
    stack.farms[0] = "job-handlers";
    stack.farms[1] = "job-handlers.special";
    mt_assignment_t a = assign_ok(conf, "sleep");
    assert_message(&a, "job-handlers.special");
    cr_assert_eq(stack.random_calls, 0);
    /* Unmapped tools still go to the plain farm (rule 2). */
    a = assign_ok(conf, "cat");
    assert_message(&a, "job-handlers");
    mt_job_conf_destroy(conf);
}

/* Rule 4 through rule 3: a default tag with its farm. */
Test(assign, rule4_default_tag_served_by_its_farm)
{
    mt_job_conf_t *conf = load_ok(".yml", example_yaml);
    stack.farms[0] = "job-handlers.special";
    mt_assignment_t a = assign_ok(conf, "other");
    assert_message(&a, "job-handlers.special");
    /* The mapping still wins (rule 5). */
    a = assign_ok(conf, "sleep");
    assert_direct(&a, MT_ASSIGN_DB_PREASSIGN, "handler0");
    mt_job_conf_destroy(conf);
}

/* Rule 4: with mule-message left out of the assign order, the farm is not messaged: a member is picked. */
Test(assign, rule4_tag_farm_needs_mule_message_in_order)
{
    mt_job_conf_t *conf = load_ok(".yml", "handling:\n  assign: [db-self]\n  handlers:\n"
                                          "    h0: {tags: [special]}\n"
                                          "tools:\n  - {id: sleep, handler: special}\n");
    stack.farms[0] = "job-handlers.special";
    mt_assignment_t a = assign_ok(conf, "sleep");
    assert_direct(&a, MT_ASSIGN_DB_PREASSIGN, "h0");
    mt_job_conf_destroy(conf);
}

/* Rule 5: a tool mapped to a mule's server name gets it directly: no message, though its farm exists. */
Test(assign, rule5_mapping_to_mule_server_name)
{
    mt_job_conf_t *conf = load_ok(".yml", example_yaml);
    stack.farms[0] = "job-handlers";
    mt_assignment_t a = assign_ok(conf, "cat");
    assert_direct(&a, MT_ASSIGN_DB_PREASSIGN, "main.job-handlers.1");
    mt_job_conf_destroy(conf);

    /* Without any handlers block, and whatever the assign order. */
    conf = load_ok(".xml", "<job_conf><handlers assign_with=\"mule-message\"/><tools>"
                           "<tool id=\"sleep\" handler=\"main.job-handlers.2\"/></tools></job_conf>");
    a = assign_ok(conf, "sleep");
    assert_direct(&a, MT_ASSIGN_DB_PREASSIGN, "main.job-handlers.2");
    mt_job_conf_destroy(conf);
}

/* Rule 6: the default order is mule-message, then db-self. */
Test(assign, rule6_default_order)
{
    const mt_assign_method_t *methods;
    cr_assert_eq(mt_job_conf_assign_methods(NULL, &methods), 2);
    cr_assert_eq(methods[0], MT_ASSIGN_MULE_MESSAGE);
    cr_assert_eq(methods[1], MT_ASSIGN_DB_SELF);
    /* db-skip-locked is never tried implicitly, standalone handlers or not. */
    facts.standalone_handlers = true;
    mt_assignment_t a = assign_ok(NULL, "sleep");
    assert_direct(&a, MT_ASSIGN_DB_SELF, "main.web.2");
}

/* Rule 6: mule-message without its farm falls through to db-preassign, which picks among the handlers. */
Test(assign, rule6_falls_through_to_db_preassign)
{
    mt_job_conf_t *conf = load_ok(".yml", "handling:\n  assign: [mule-message, db-preassign, db-self]\n"
                                          "  handlers:\n    h0:\n    h1:\n    h2:\n");
    stack.randoms[0] = 4;
    stack.nrandoms = 1;
    mt_assignment_t a = assign_ok(conf, "sleep");
    assert_direct(&a, MT_ASSIGN_DB_PREASSIGN, "h1");
    stack.farms[0] = "job-handlers";
    a = assign_ok(conf, "sleep");
    assert_message(&a, "job-handlers");
    mt_job_conf_destroy(conf);
}

/* Rule 6: db-preassign needs configured handlers; without them the next method applies. */
Test(assign, rule6_db_preassign_needs_handlers)
{
    mt_job_conf_t *conf = load_ok(".yml", "handling:\n  assign: [db-preassign, mem-self]\n");
    mt_assignment_t a = assign_ok(conf, "sleep");
    assert_direct(&a, MT_ASSIGN_MEM_SELF, "main.web.2");
    cr_assert_eq(stack.random_calls, 0);
    mt_job_conf_destroy(conf);
}

/* Rule 6: db-skip-locked, listed by the operator: handler NULL, no message, waits in the database. */
Test(assign, rule6_db_skip_locked)
{
    mt_job_conf_t *conf = load_ok(".yml", "handling:\n  assign: [mule-message, db-skip-locked, db-self]\n");
    mt_assignment_t a = assign_ok(conf, "sleep");
    cr_assert_eq(a.method, MT_ASSIGN_DB_SKIP_LOCKED);
    cr_assert_str_empty(a.handler);
    cr_assert_str_empty(a.farm);
    cr_assert_str_eq(a.destination, "db");
    facts.standalone_handlers = true;
    a = assign_ok(conf, "sleep");
    cr_assert_eq(a.method, MT_ASSIGN_DB_SKIP_LOCKED);
    /* mule-message comes first when its farm exists. */
    stack.farms[0] = "job-handlers";
    a = assign_ok(conf, "sleep");
    assert_message(&a, "job-handlers");
    mt_job_conf_destroy(conf);
}

/* Rule 6: nothing applies -> an error naming the tool and every method tried, and why. */
Test(assign, rule6_nothing_applies)
{
    mt_job_conf_t *conf = load_ok(".xml", "<job_conf><handlers assign_with=\"mule-message,db-preassign\"/></job_conf>");
    mt_assignment_t a;
    memset(&a, 0x55, sizeof a);
    cr_assert_eq(mt_job_conf_assign(conf, "sleep", &facts, &a, err, sizeof err), -1);
    cr_assert_str_eq(err, "tool 'sleep': no handler assignment method applies (tried mule-message: no "
                          "'job-handlers' farm; db-preassign: no handlers configured)");
    cr_assert_str_empty(a.handler);
    cr_assert_str_empty(a.farm);
    mt_job_conf_destroy(conf);

    /* db-self outside a web worker (no server name), with the default order. */
    facts.self_server_name = NULL;
    cr_assert_eq(mt_job_conf_assign(NULL, "sleep", &facts, &a, err, sizeof err), -1);
    cr_assert_str_eq(err, "tool 'sleep': no handler assignment method applies (tried mule-message: no "
                          "'job-handlers' farm; db-self: not in a web worker)");
    /* No facts at all: no farms, no server name. */
    cr_assert_eq(mt_job_conf_assign(NULL, NULL, NULL, &a, err, sizeof err), -1);
    cr_assert(strstr(err, "tool '(none)'"), "%s", err);
}

/* Without an injected random, a tag still resolves to one of its members. */
Test(assign, libc_random_by_default)
{
    mt_job_conf_t *conf = load_ok(".xml", tags_xml);
    facts.random = NULL;
    for (int i = 0; i < 20; i++) {
        mt_assignment_t a = assign_ok(conf, "sleep");
        cr_assert(mt_job_conf_handler_has_tag(conf, a.handler, "special"), "%s", a.handler);
    }
    mt_job_conf_destroy(conf);
}
