/*
 * Unit tests for the job configuration (src/app/model/job_conf.c): the YAML and
 * XML forms, every load error with its file:line; Galaxy's XML macros and
 * tokens; runner plugins, destinations (params, env, resubmit), tool
 * destinations, limits and resource groups in both forms; Galaxy's whole
 * advanced sample. Handler assignment has its own tests
 * (test_job_assign.c), routing too (test_job_route.c).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app/model/job_conf.h"
#include "app/model/job_route.h"

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
                                          "  environments:\n"
                                          "    local: {runner: local}\n"
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

/* ------------------------------------------------------------------ */
/* XML macros and tokens (Galaxy's xml_macros.py)                       */
/* ------------------------------------------------------------------ */

/* The param `id` of destination `dest` (which must exist). */
static const char *dest_param(const mt_job_conf_t *conf, const char *dest, const char *id)
{
    const mt_job_destination_t *d = mt_job_conf_find_destination(conf, dest);
    cr_assert_not_null(d, "no destination '%s'", dest);
    return mt_job_destination_param(d, id);
}

Test(job_conf, macros_expand_with_parameters_defaults_and_tokens)
{
    mt_job_conf_t *conf = load_ok(".xml",
        "<job_conf>\n"
        "  <plugins><plugin id=\"local\" type=\"runner\" load=\"galaxy.jobs.runners.local:LocalJobRunner\"/></plugins>\n"
        "  <destinations default=\"@DEFAULT@\">\n"
        "    <expand macro=\"dest\" id=\"small\" slots=\"1\"/>\n"
        "    <expand macro=\"dest\" id=\"big\" slots=\"8\" queue=\"long\"/>\n"
        "  </destinations>\n"
        "  <macros>\n"
        "    <token name=\"@DEFAULT@\">small</token>\n"
        "    <token name=\"@ROOT@\">/srv/@SITE@</token>\n"
        "    <token name=\"@SITE@\">galaxy</token>\n"
        "    <xml name=\"dest\" tokens=\"id,slots\" token_queue=\"short\">\n"
        "      <destination id=\"@ID@\" runner=\"local\">\n"
        "        <param id=\"local_slots\">@SLOTS@</param>\n"
        "        <param id=\"queue\">@QUEUE@</param>\n"
        "        <env id=\"ROOT\">@ROOT@</env>\n"
        "      </destination>\n"
        "    </xml>\n"
        "  </macros>\n"
        "</job_conf>\n");
    cr_assert_eq(mt_job_conf_destination_count(conf), 2);
    cr_assert_str_eq(mt_job_conf_default_destination(conf, NULL), "small");
    cr_assert_str_eq(dest_param(conf, "small", "local_slots"), "1");
    cr_assert_str_eq(dest_param(conf, "small", "queue"), "short");
    cr_assert_str_eq(dest_param(conf, "big", "queue"), "long");
    const mt_job_destination_t *big = mt_job_conf_find_destination(conf, "big");
    cr_assert_eq(mt_job_destination_slots(big), 8);
    cr_assert_eq(mt_job_destination_line(big), 5, "a macro's element is where its <expand> is");
    const mt_job_env_t *env;
    cr_assert_eq(mt_job_destination_env(big, &env), 1);
    cr_assert_str_eq(env[0].value, "/srv/galaxy", "tokens may use tokens");
    mt_job_conf_destroy(conf);
}

Test(job_conf, macros_yield_nest_and_macro_type_xml)
{
    mt_job_conf_t *conf = load_ok(".xml",
        "<job_conf>\n"
        "  <macros>\n"
        "    <macro type=\"xml\" name=\"outer\" tokens=\"id\">\n"
        "      <destination id=\"@ID@\" runner=\"local\"><yield/><expand macro=\"inner\"/>"
        "<yield name=\"extra\"/></destination>\n"
        "    </macro>\n"
        "    <xml name=\"inner\"><param id=\"from_inner\">yes</param></xml>\n"
        "    <template name=\"t\">kept for tools</template>\n"
        "  </macros>\n"
        "  <plugins><plugin id=\"local\" type=\"runner\" load=\"galaxy.jobs.runners.local:LocalJobRunner\"/></plugins>\n"
        "  <destinations>\n"
        "    <expand macro=\"outer\" id=\"d\">\n"
        "      <param id=\"from_yield\">1</param>\n"
        "      <token name=\"extra\"><env id=\"X\">y</env></token>\n"
        "    </expand>\n"
        "  </destinations>\n"
        "</job_conf>\n");
    cr_assert_str_eq(dest_param(conf, "d", "from_yield"), "1");
    cr_assert_str_eq(dest_param(conf, "d", "from_inner"), "yes");
    const mt_job_env_t *env;
    cr_assert_eq(mt_job_destination_env(mt_job_conf_find_destination(conf, "d"), &env), 1);
    cr_assert_str_eq(env[0].name, "X");
    cr_assert_str_eq(mt_job_conf_default_destination(conf, NULL), "d", "the only destination is the default");
    mt_job_conf_destroy(conf);
}

Test(job_conf, macros_import_a_file_beside_the_configuration)
{
    const char *macros = tmp_file(".xml", "<macros>\n  <token name=\"@R@\">local</token>\n"
                                          "  <xml name=\"d\" tokens=\"id\"><destination id=\"@ID@\" runner=\"@R@\"/></xml>\n"
                                          "</macros>\n");
    const char *base = strrchr(macros, '/') + 1;
    char text[512];
    snprintf(text, sizeof text,
             "<job_conf>\n<macros><import>%s</import></macros>\n"
             "<plugins><plugin id=\"local\" type=\"runner\" load=\"galaxy.jobs.runners.local:LocalJobRunner\"/></plugins>\n"
             "<destinations><expand macro=\"d\" id=\"here\"/></destinations>\n</job_conf>\n",
             base);
    mt_job_conf_t *conf = load_ok(".xml", text);
    cr_assert_str_eq(mt_job_destination_runner(mt_job_conf_find_destination(conf, "here")), "local");
    mt_job_conf_destroy(conf);

    /* From memory (the fuzzer's way in), no file is read. */
    mt_job_conf_t *none = (mt_job_conf_t *)1;
    cr_assert_eq(mt_job_conf_load_string("m.xml", text, strlen(text), &none, err, sizeof err), -1);
    cr_assert(strstr(err, "m.xml:2: <import>: files can only be imported"), "%s", err);
    load_fails(".xml", "<job_conf>\n<macros>\n<import>no-such-macros.xml</import></macros></job_conf>", 3,
               "<import> of 'no-such-macros.xml': cannot open");
}

Test(job_conf, error_macros_name_file_and_line)
{
    load_fails(".xml", "<job_conf>\n<destinations>\n<expand macro=\"nope\"/>\n</destinations>\n"
                       "<macros><xml name=\"a\"/></macros></job_conf>", 3,
               "<expand macro=\"nope\">: no macro of that name (defined: a)");
    load_fails(".xml", "<job_conf>\n<macros>\n<xml name=\"a\"><expand macro=\"b\"/></xml>\n"
                       "<xml name=\"b\"><expand macro=\"a\"/></xml>\n</macros>\n<destinations>\n"
                       "<expand macro=\"a\"/>\n</destinations></job_conf>", 7,
               "macro 'a' expands itself (a -> b -> a) (from macro 'b', ");
    load_fails(".xml", "<job_conf>\n<macros><xml name=\"m\" tokens=\"id\"/></macros>\n"
                       "<destinations><expand macro=\"m\"/></destinations></job_conf>", 3,
               "the required parameter 'id' is missing");
    load_fails(".xml", "<job_conf>\n<macros><xml name=\"m\" tokens=\"id\"/></macros>\n"
                       "<destinations>\n<expand macro=\"m\" id=\"x\" walltme=\"1\"/></destinations></job_conf>", 4,
               "the macro has no parameter 'walltme' (its parameters: id)");
    load_fails(".xml", "<job_conf>\n<destinations default=\"@NOPE@\">\n</destinations>\n"
                       "<macros><token name=\"@X@\">x</token></macros></job_conf>", 2,
               "unknown token '@NOPE@' (the <macros> define @X@)");
    load_fails(".xml", "<job_conf>\n<macros>\n<token name=\"@A@\">x@A@</token>\n</macros></job_conf>", 2,
               "token '@A@' contains itself");
    load_fails(".xml", "<job_conf>\n<macros/>\n<macros/>\n</job_conf>", 3, "<macros> given twice (first at line 2)");
    load_fails(".xml", "<job_conf>\n<macros>\n<xml name=\"a\"/>\n<xml name=\"a\"/>\n</macros></job_conf>", 4,
               "macro 'a' defined twice");
    load_fails(".xml", "<job_conf>\n<macros>\n<junk/>\n</macros></job_conf>", 3, "<macros> holds <xml>, <token>");
    load_fails(".xml", "<job_conf>\n<destinations><expand/></destinations></job_conf>", 2,
               "<expand> needs a macro attribute");
    /* An error in what a macro made: the <expand>'s line, and where the macro says it. */
    load_fails(".xml", "<job_conf>\n<macros>\n<xml name=\"d\"><destination id=\"x\"/></xml>\n</macros>\n"
                       "<destinations>\n<expand macro=\"d\"/>\n</destinations></job_conf>", 6,
               "<destination id=\"x\"> needs a runner attribute (a plugin id) (from macro 'd',");
}

/* ------------------------------------------------------------------ */
/* Plugins, destinations, tools, limits, resources                     */
/* ------------------------------------------------------------------ */

static const char exec_xml[] =
    "<job_conf>\n"                                                                                         /* 1 */
    "  <plugins workers=\"3\">\n"                                                                          /* 2 */
    "    <plugin id=\"local\" type=\"runner\" load=\"galaxy.jobs.runners.local:LocalJobRunner\"/>\n"        /* 3 */
    "    <plugin id=\"slurm\" type=\"runner\" load=\"galaxy.jobs.runners.slurm:SlurmJobRunner\" workers=\"2\">\n" /* 4 */
    "      <param id=\"drmaa_library_path\">/usr/lib/libdrmaa.so</param>\n"                               /* 5 */
    "    </plugin>\n"                                                                                      /* 6 */
    "  </plugins>\n"                                                                                       /* 7 */
    "  <destinations default=\"local\">\n"                                                                 /* 8 */
    "    <destination id=\"local\" runner=\"local\" tags=\"here, small\"/>\n"                              /* 9 */
    "    <destination id=\"multi\" runner=\"local\" tags=\"here\">\n"                                      /* 10 */
    "      <param id=\"local_slots\">4</param>\n"                                                          /* 11 */
    "      <env id=\"_JAVA_OPTIONS\">-Xmx6G</env>\n"                                                       /* 12 */
    "      <env id=\"RAW\" raw=\"true\">'5'</env>\n"                                                       /* 13 */
    "      <env file=\"/etc/profile.d/site.sh\"/>\n"                                                       /* 14 */
    "      <env exec=\"module load java\"/>\n"                                                             /* 15 */
    "      <resubmit condition=\"walltime_reached\" destination=\"cluster\" handler=\"h\" delay=\"5\"/>\n" /* 16 */
    "      <job_metrics/>\n"                                                                               /* 17 */
    "    </destination>\n"                                                                                 /* 18 */
    "    <destination id=\"cluster\" runner=\"slurm\">\n"                                                  /* 19 */
    "      <param id=\"nativeSpecification\">--time=00:05:00</param>\n"                                    /* 20 */
    "    </destination>\n"                                                                                 /* 21 */
    "  </destinations>\n"                                                                                  /* 22 */
    "  <tools>\n"                                                                                          /* 23 */
    "    <tool id=\"bwa\" destination=\"cluster\" resources=\"all\"/>\n"                                   /* 24 */
    "    <tool id=\"wc\" destination=\"here\"/>\n"                                                         /* 25 */
    "    <tool id=\"cat\" destination=\"multi\"/>\n"                                                       /* 26 */
    "    <tool id=\"cat\" destination=\"cluster\"><param id=\"source\">trackster</param></tool>\n"        /* 27 */
    "  </tools>\n"                                                                                         /* 28 */
    "  <limits>\n"                                                                                         /* 29 */
    "    <limit type=\"registered_user_concurrent_jobs\">2</limit>\n"                                      /* 30 */
    "    <limit type=\"destination_total_concurrent_jobs\" id=\"local\">16</limit>\n"                      /* 31 */
    "    <limit type=\"walltime\">01:02:03</limit>\n"                                                      /* 32 */
    "    <limit type=\"total_walltime\" window=\"7\">24:00:00</limit>\n"                                   /* 33 */
    "    <limit type=\"output_size\">10GB</limit>\n"                                                       /* 34 */
    "  </limits>\n"                                                                                        /* 35 */
    "  <resources default=\"none\">\n"                                                                     /* 36 */
    "    <group id=\"none\"></group>\n"                                                                    /* 37 */
    "    <group id=\"all\">processors,memory</group>\n"                                                    /* 38 */
    "  </resources>\n"                                                                                     /* 39 */
    "</job_conf>\n";

static const char exec_yaml[] =
    "runners:\n"                                                    /* 1 */
    "  local:\n"                                                    /* 2 */
    "    load: galaxy.jobs.runners.local:LocalJobRunner\n"          /* 3 */
    "  slurm:\n"                                                    /* 4 */
    "    load: galaxy.jobs.runners.slurm:SlurmJobRunner\n"          /* 5 */
    "    workers: 2\n"                                              /* 6 */
    "    drmaa_library_path: /usr/lib/libdrmaa.so\n"                /* 7 */
    "execution:\n"                                                  /* 8 */
    "  default: local\n"                                            /* 9 */
    "  environments:\n"                                             /* 10 */
    "    local:\n"                                                  /* 11 */
    "      runner: local\n"                                         /* 12 */
    "      tags: [here, small]\n"                                   /* 13 */
    "    multi:\n"                                                  /* 14 */
    "      runner: local\n"                                         /* 15 */
    "      tags: here\n"                                            /* 16 */
    "      local_slots: 4\n"                                        /* 17 */
    "      env:\n"                                                  /* 18 */
    "        - name: _JAVA_OPTIONS\n"                               /* 19 */
    "          value: -Xmx6G\n"                                     /* 20 */
    "        - name: RAW\n"                                         /* 21 */
    "          raw: true\n"                                         /* 22 */
    "          value: \"'5'\"\n"                                    /* 23 */
    "        - file: /etc/profile.d/site.sh\n"                      /* 24 */
    "        - execute: module load java\n"                         /* 25 */
    "      resubmit:\n"                                             /* 26 */
    "        - condition: walltime_reached\n"                       /* 27 */
    "          environment: cluster\n"                              /* 28 */
    "          handler: h\n"                                        /* 29 */
    "          delay: 5\n"                                          /* 30 */
    "      metrics: []\n"                                           /* 31 */
    "    cluster:\n"                                                /* 32 */
    "      runner: slurm\n"                                         /* 33 */
    "      nativeSpecification: --time=00:05:00\n"                  /* 34 */
    "tools:\n"                                                      /* 35 */
    "  - id: bwa\n"                                                 /* 36 */
    "    environment: cluster\n"                                    /* 37 */
    "    resources: all\n"                                          /* 38 */
    "  - id: wc\n"                                                  /* 39 */
    "    environment: here\n"                                       /* 40 */
    "  - id: cat\n"                                                 /* 41 */
    "    environment: multi\n"                                      /* 42 */
    "  - id: cat\n"                                                 /* 43 */
    "    environment: cluster\n"                                    /* 44 */
    "    source: trackster\n"                                       /* 45 */
    "limits:\n"                                                     /* 46 */
    "  - type: registered_user_concurrent_jobs\n"                   /* 47 */
    "    value: 2\n"                                                /* 48 */
    "  - type: environment_total_concurrent_jobs\n"                 /* 49 */
    "    id: local\n"                                               /* 50 */
    "    value: 16\n"                                               /* 51 */
    "  - type: walltime\n"                                          /* 52 */
    "    value: '01:02:03'\n"                                       /* 53 */
    "  - type: total_walltime\n"                                    /* 54 */
    "    window: 7\n"                                               /* 55 */
    "    value: '24:00:00'\n"                                       /* 56 */
    "  - type: output_size\n"                                       /* 57 */
    "    value: 10GB\n"                                             /* 58 */
    "resources:\n"                                                  /* 59 */
    "  default: none\n"                                             /* 60 */
    "  groups:\n"                                                   /* 61 */
    "    none: []\n"                                                /* 62 */
    "    all: [processors, memory]\n";                              /* 63 */

/* The same model from both forms (lines differ). */
static void assert_exec(const mt_job_conf_t *conf)
{
    /* plugins / runners */
    cr_assert_eq(mt_job_conf_runner_count(conf), 2);
    const mt_job_runner_t *slurm = mt_job_conf_find_runner(conf, "slurm");
    cr_assert_str_eq(mt_job_runner_type(slurm), "slurm");
    cr_assert_str_eq(mt_job_runner_load(slurm), "galaxy.jobs.runners.slurm:SlurmJobRunner");
    cr_assert_eq(mt_job_runner_workers(slurm), 2);
    const mt_job_param_t *params;
    cr_assert_eq(mt_job_runner_params(slurm, &params), 1);
    cr_assert_str_eq(params[0].id, "drmaa_library_path");
    cr_assert_str_eq(params[0].value, "/usr/lib/libdrmaa.so");
    cr_assert_str_eq(mt_job_runner_type(mt_job_conf_find_runner(conf, "local")), "local");
    cr_assert_str_eq(mt_job_runner_type(mt_job_conf_find_runner(conf, "dynamic")), "dynamic", "always there");
    cr_assert_null(mt_job_conf_find_runner(conf, "pbs"));

    /* destinations */
    cr_assert_eq(mt_job_conf_destination_count(conf), 3);
    cr_assert_str_eq(mt_job_conf_default_destination(conf, NULL), "local");
    const mt_job_destination_t *multi = mt_job_conf_find_destination(conf, "multi");
    cr_assert_str_eq(mt_job_destination_runner(multi), "local");
    cr_assert(mt_job_destination_has_tag(multi, "here"));
    cr_assert_not(mt_job_destination_has_tag(multi, "small"));
    cr_assert(mt_job_conf_is_destination_tag(conf, "small"));
    cr_assert_eq(mt_job_destination_slots(multi), 4);
    const mt_job_env_t *env;
    cr_assert_eq(mt_job_destination_env(multi, &env), 4);
    cr_assert_eq(env[0].kind, MT_JOB_ENV_SET);
    cr_assert_str_eq(env[0].name, "_JAVA_OPTIONS");
    cr_assert_str_eq(env[0].value, "-Xmx6G");
    cr_assert_not(env[0].raw);
    cr_assert(env[1].raw);
    cr_assert_str_eq(env[1].value, "'5'");
    cr_assert_eq(env[2].kind, MT_JOB_ENV_FILE);
    cr_assert_str_eq(env[2].value, "/etc/profile.d/site.sh");
    cr_assert_eq(env[3].kind, MT_JOB_ENV_EXEC);
    cr_assert_str_eq(env[3].value, "module load java");
    const mt_job_resubmit_t *rs;
    cr_assert_eq(mt_job_destination_resubmits(multi, &rs), 1);
    cr_assert_str_eq(rs[0].condition, "walltime_reached");
    cr_assert_str_eq(rs[0].destination, "cluster");
    cr_assert_str_eq(rs[0].handler, "h");
    cr_assert_str_eq(rs[0].delay, "5");
    cr_assert_not_null(rs[0].condition_expr, "compiled at load");
    cr_assert_not_null(rs[0].delay_expr);
    cr_assert_str_eq(dest_param(conf, "cluster", "nativeSpecification"), "--time=00:05:00");
    const mt_job_destination_t *cluster = mt_job_conf_find_destination(conf, "cluster");
    cr_assert_str_eq(mt_job_destination_native_specification(cluster), "--time=00:05:00");
    cr_assert_eq(mt_job_destination_walltime(cluster), 0.0);
    cr_assert_null(mt_job_destination_native_specification(multi), "a local destination has none");

    /* tools: the entry without params applies; a tag is kept as written */
    cr_assert_str_eq(mt_job_conf_tool_destination(conf, "bwa", NULL), "cluster");
    cr_assert_str_eq(mt_job_conf_tool_destination(conf, "wc", NULL), "here");
    cr_assert_str_eq(mt_job_conf_tool_destination(conf, "cat", NULL), "multi");
    cr_assert_null(mt_job_conf_tool_destination(conf, "sleep", NULL));

    /* limits */
    const mt_job_limit_t *limits;
    cr_assert_eq(mt_job_conf_limits(conf, &limits), 5);
    cr_assert_str_eq(limits[0].type, "registered_user_concurrent_jobs");
    cr_assert_eq(limits[0].number, 2);
    cr_assert_str_eq(limits[1].type, "destination_total_concurrent_jobs");
    cr_assert_str_eq(limits[1].id, "local");
    cr_assert_eq(limits[1].number, 16);
    cr_assert_eq(limits[2].number, 3723);
    cr_assert(limits[2].enforced);
    cr_assert_eq(limits[3].window_days, 7);
    cr_assert_eq(limits[3].number, 86400);
    cr_assert_not(limits[3].enforced);
    cr_assert_eq(limits[4].number, 10LL << 30);
    cr_assert_eq(mt_job_conf_walltime_limit(conf), 3723.0);

    /* resources */
    cr_assert_eq(mt_job_conf_resource_group_count(conf), 2);
    cr_assert_str_eq(mt_job_conf_default_resource_group(conf), "none");
}

/* True if some notice contains `text`. */
static bool has_notice(const mt_job_conf_t *conf, const char *text)
{
    for (size_t i = 0; i < mt_job_conf_notice_count(conf); i++) {
        if (strstr(mt_job_conf_notice(conf, i), text))
            return true;
    }
    return false;
}

Test(job_conf, xml_plugins_destinations_tools_limits_resources)
{
    mt_job_conf_t *conf = load_ok(".xml", exec_xml);
    assert_exec(conf);
    cr_assert_eq(mt_job_runner_workers(mt_job_conf_find_runner(conf, "local")), 3, "<plugins workers> is the default");
    cr_assert_eq(mt_job_destination_line(mt_job_conf_find_destination(conf, "cluster")), 19);
    int line;
    cr_assert_str_eq(mt_job_conf_tool_destination(conf, "bwa", &line), "cluster");
    cr_assert_eq(line, 24);
    /* What is read but not done here is said, with its line. */
    char expect[256];
    snprintf(expect, sizeof expect, "%s:32", mt_job_conf_file(conf));
    cr_assert(has_notice(conf, "limits not enforced here (only walltime is): registered_user_concurrent_jobs (line "
                               "30), destination_total_concurrent_jobs (line 31), total_walltime (line 33), "
                               "output_size (line 34)"));
    cr_assert_not(has_notice(conf, "resubmit is"), "resubmit is carried out: no notice");
    cr_assert(has_notice(conf, ":16: destination 'multi': resubmit handler 'h': the next attempt stays with the "
                               "handler that ran the job"));
    cr_assert(has_notice(conf, ":5: runner plugin 'slurm': param 'drmaa_library_path' is read but not used here"));
    cr_assert_not(has_notice(conf, "'slurm': workers"), "a slurm plugin's workers are used");
    cr_assert(has_notice(conf, ":17: destination 'multi': <job_metrics>: job metrics are not collected here"));
    cr_assert(has_notice(conf, ":27: tool 'cat': the entry with params (source=trackster)"));
    cr_assert(has_notice(conf, "resources: 2 group(s) read"));
    cr_assert(has_notice(conf, ":3: runner plugin 'local': workers=3 is not read"));
    mt_job_conf_destroy(conf);
}

Test(job_conf, yaml_runners_execution_tools_limits_resources)
{
    mt_job_conf_t *conf = load_ok(".yml", exec_yaml);
    assert_exec(conf);
    cr_assert_eq(mt_job_runner_workers(mt_job_conf_find_runner(conf, "local")), 0);
    cr_assert_eq(mt_job_destination_line(mt_job_conf_find_destination(conf, "cluster")), 32);
    cr_assert(has_notice(conf, ":31: environment 'multi': metrics: job metrics are not collected here"));
    cr_assert_not(has_notice(conf, "resubmit is"), "resubmit is carried out: no notice");
    cr_assert(has_notice(conf, ":27: destination 'multi': resubmit handler 'h'"));
    cr_assert(has_notice(conf, ":7: runner plugin 'slurm': param 'drmaa_library_path' is read but not used here"));
    mt_job_conf_destroy(conf);

    /* Environments as a list of {id: ...}, params under params:, kwds: for a runner, a shell. */
    conf = load_ok(".yml", "runners:\n  local: {load: galaxy.jobs.runners.local:LocalJobRunner, kwds: {a: 1}}\n"
                           "execution:\n  environments:\n    - id: only\n      runner: local\n"
                           "      shell: /bin/sh\n      params: {local_slots: 2}\n");
    const mt_job_destination_t *only = mt_job_conf_find_destination(conf, "only");
    cr_assert_not_null(only);
    cr_assert_eq(mt_job_destination_slots(only), 2);
    cr_assert_str_eq(mt_job_destination_shell(only), "/bin/sh");
    cr_assert_str_eq(mt_job_conf_default_destination(conf, NULL), "only");
    const mt_job_param_t *params;
    cr_assert_eq(mt_job_runner_params(mt_job_conf_find_runner(conf, "local"), &params), 1);
    cr_assert_str_eq(params[0].id, "a");
    mt_job_conf_destroy(conf);
}

Test(job_conf, param_enabled_and_from_environ_and_from_config)
{
    setenv("MT_TEST_JOB_CONF_SLOTS", "6", 1);
    unsetenv("MT_TEST_JOB_CONF_UNSET");
    mt_job_conf_t *conf = load_ok(".xml",
        "<job_conf>\n"
        "<plugins><plugin id=\"local\" type=\"runner\" load=\"galaxy.jobs.runners.local:LocalJobRunner\"/>\n"
        "<plugin id=\"off\" type=\"runner\" load=\"x.y:Z\"><param id=\"enabled\">false</param></plugin></plugins>\n"
        "<destinations default=\"a\">\n"
        "<destination id=\"a\" runner=\"local\">\n"
        "<param id=\"local_slots\" from_environ=\"MT_TEST_JOB_CONF_SLOTS\">1</param>\n"
        "<param id=\"tmp\" from_environ=\"MT_TEST_JOB_CONF_UNSET\">text</param>\n"
        "<param id=\"docker_enabled\" from_config=\"use_docker\">false</param>\n"
        "</destination>\n"
        "<destination id=\"b\" runner=\"local\"><param id=\"enabled\" from_environ=\"MT_TEST_JOB_CONF_UNSET\">no</param>"
        "</destination>\n"
        "</destinations></job_conf>\n");
    cr_assert_eq(mt_job_destination_slots(mt_job_conf_find_destination(conf, "a")), 6);
    cr_assert_str_eq(dest_param(conf, "a", "tmp"), "text");
    cr_assert_null(mt_job_conf_find_destination(conf, "b"), "disabled");
    cr_assert_eq(mt_job_conf_destination_count(conf), 1);
    cr_assert_null(mt_job_conf_find_runner(conf, "off"));
    cr_assert(has_notice(conf, ":8: destination 'a': param 'docker_enabled' from_config=\"use_docker\": galaxy.yml is "
                               "not read here: the text 'false' is used"));
    cr_assert(has_notice(conf, "destination 'b' is disabled"));
    mt_job_conf_destroy(conf);
}

Test(job_conf, error_plugins)
{
    load_fails(".xml", "<job_conf><plugins>\n<plugin id=\"x\" type=\"runner\"/></plugins></job_conf>", 2,
               "runner plugin 'x' needs a load");
    load_fails(".xml", "<job_conf><plugins>\n<plugin id=\"x\" type=\"handler\" load=\"a\"/></plugins></job_conf>", 2,
               "unknown plugin type 'handler'");
    load_fails(".xml", "<job_conf><plugins>\n<plugin id=\"x\" load=\"a\"/></plugins></job_conf>", 2,
               "needs a type attribute");
    load_fails(".xml", "<job_conf><plugins>\n<plugin id=\"x\" type=\"runner\" load=\"a\" workers=\"0\"/></plugins>"
                       "</job_conf>", 2, "workers '0' is not a positive whole number");
    load_fails(".xml", "<job_conf><plugins><plugin id=\"x\" type=\"runner\" load=\"a\"/>\n"
                       "<plugin id=\"x\" type=\"runner\" load=\"b\"/></plugins></job_conf>", 2,
               "runner plugin 'x' given twice (first at line 1)");
    load_fails(".xml", "<job_conf><plugins>\n<plugin id=\"x\" type=\"runner\" load=\"a\" lod=\"b\"/></plugins>"
                       "</job_conf>", 2, "<plugin>: unknown attribute 'lod' (expected id, type, load, workers)");
    load_fails(".xml", "<job_conf><plugins><plugin id=\"x\" type=\"runner\" load=\"a\">\n<parm id=\"a\"/></plugin>"
                       "</plugins></job_conf>", 2, "<plugin> holds <param> elements, not <parm>");
    load_fails(".yml", "runners:\n  x:\n    workers: 2\n", 2, "runner plugin 'x' needs a load");
    load_fails(".yml", "runners:\n  x:\n    load: a\n    workers: many\n", 4, "workers 'many' is not a positive");
    /* A line break inside load (here from a character reference) names no module. */
    load_fails(".xml", "<job_conf><plugins>\n<plugin id=\"p\" type=\"runner\" "
                       "load=\"galaxy.jobs.runners.&#10;:LocalJobRunner\"/></plugins></job_conf>", 2,
               "runner plugin 'p': load contains a control character (it names a Python module and class, such as "
               "galaxy.jobs.runners.local:LocalJobRunner)");
}

Test(job_conf, error_destinations)
{
    load_fails(".xml", "<job_conf><destinations>\n<destination id=\"a\"/></destinations></job_conf>", 2,
               "<destination id=\"a\"> needs a runner attribute");
    load_fails(".xml", "<job_conf><destinations default=\"a\"><destination id=\"a\" runner=\"local\"/>\n"
                       "<destination id=\"a\" runner=\"local\"/></destinations></job_conf>", 2,
               "destination 'a' given twice (first at line 1)");
    load_fails(".xml", "<job_conf>\n<destinations default=\"nope\"><destination id=\"a\" runner=\"local\"/>"
                       "</destinations></job_conf>", 2,
               "the default destination 'nope', which is neither a destination nor a destination tag");
    load_fails(".xml", "<job_conf>\n<destinations>\n<destination id=\"a\" runner=\"local\"/>"
                       "<destination id=\"b\" runner=\"local\"/></destinations></job_conf>", 2,
               "2 destinations and no default");
    load_fails(".xml", "<job_conf><destinations><destination id=\"a\" runner=\"local\">\n"
                       "<env id=\"A\" file=\"/x\">v</env></destination></destinations></job_conf>", 2,
               "<env> takes exactly one of id, file or exec");
    load_fails(".xml", "<job_conf><destinations><destination id=\"a\" runner=\"local\">\n"
                       "<env id=\"A-B\">v</env></destination></destinations></job_conf>", 2,
               "env name 'A-B' is not a shell variable name");
    load_fails(".xml", "<job_conf><destinations><destination id=\"a\" runner=\"local\">\n"
                       "<env id=\"MULETEER_JOB_DIR\">/tmp</env></destination></destinations></job_conf>", 2,
               "env name 'MULETEER_JOB_DIR' is reserved");
    load_fails(".xml", "<job_conf><destinations><destination id=\"a\" runner=\"local\">\n"
                       "<param id=\"local_slots\">four</param></destination></destinations></job_conf>", 2,
               "local_slots 'four' is not a positive whole number");
    load_fails(".xml", "<job_conf><destinations><destination id=\"a\" runner=\"local\">\n"
                       "<resubmit destination=\"b\"/></destination></destinations></job_conf>", 2,
               "destination 'a': resubmit to 'b', which is neither a destination nor a destination tag");
    load_fails(".xml", "<job_conf><destinations><destination id=\"a\" runner=\"local\">\n"
                       "<parameter id=\"x\"/></destination></destinations></job_conf>", 2,
               "<destination> holds <param>, <env>, <resubmit> and <job_metrics>, not <parameter>");
    load_fails(".xml", "<job_conf><destinations><destination id=\"a\" runner=\"local\">\n"
                       "<param id=\"x\">1</param><param id=\"x\">2</param></destination></destinations></job_conf>", 2,
               "destination 'a': param 'x' given twice");
    load_fails(".xml", "<job_conf>\n<destinations/>\n<destinations/></job_conf>", 3,
               "<destinations> given twice (first at line 2)");
    load_fails(".yml", "execution:\n  environments:\n    a:\n      runner: local\n      env:\n        - name: A\n"
                       "          valu: x\n", 7, "env entry: unknown key 'valu'");
    load_fails(".yml", "execution:\n  default: a\n  envs: {}\n", 3, "execution: unknown key 'envs'");
    load_fails(".yml", "execution:\n  environments:\n    a:\n      tags: [x]\n", 3, "environment 'a' needs a runner");
    load_fails(".yml", "execution:\n  environments:\n    a:\n      runner: local\n      resubmit:\n"
                       "        - condition: x\n          when: y\n", 7, "resubmit: unknown key 'when'");
}

Test(job_conf, error_tools_limits_resources_and_unknown_blocks)
{
    load_fails(".xml", "<job_conf><destinations><destination id=\"a\" runner=\"local\"/></destinations><tools>\n"
                       "<tool id=\"t\" destination=\"b\"/></tools></job_conf>", 2,
               "tool 't' is mapped to destination 'b', which is neither a destination nor a destination tag");
    load_fails(".xml", "<job_conf><tools>\n<tool id=\"t\" destination=\"b\"/></tools></job_conf>", 2,
               "tool 't' is mapped to destination 'b' (no destinations are declared)");
    load_fails(".xml", "<job_conf><tools>\n<tool id=\"t\" resources=\"all\"/></tools></job_conf>", 2,
               "tool 't': resources 'all' is not a resource group");
    load_fails(".xml", "<job_conf><tools>\n<tool id=\"t\" handlr=\"h\"/></tools></job_conf>", 2,
               "<tool>: unknown attribute 'handlr'");
    load_fails(".xml", "<job_conf><limits>\n<limit type=\"walltme\">1</limit></limits></job_conf>", 2,
               "unknown limit type 'walltme'");
    load_fails(".xml", "<job_conf><limits>\n<limit type=\"walltime\">24h</limit></limits></job_conf>", 2,
               "limit walltime: '24h' is not a time as H:M:S");
    load_fails(".xml", "<job_conf><limits>\n<limit type=\"output_size\">big</limit></limits></job_conf>", 2,
               "limit output_size: 'big' is not a size");
    load_fails(".xml", "<job_conf><limits>\n<limit type=\"destination_user_concurrent_jobs\">1</limit></limits>"
                       "</job_conf>", 2, "needs the id or the tag of the destinations it counts");
    load_fails(".xml", "<job_conf><limits>\n<limit type=\"registered_user_concurrent_jobs\">-1</limit></limits>"
                       "</job_conf>", 2, "'-1' is not a whole number of jobs");
    load_fails(".xml", "<job_conf><resources default=\"x\">\n<group id=\"y\">a</group></resources></job_conf>", 1,
               "the default resource group 'x' is not a group");
    load_fails(".xml", "<job_conf>\n<destination id=\"a\" runner=\"local\"/></job_conf>", 2,
               "unknown element <destination> in <job_conf>");
    load_fails(".yml", "runners: {}\nexecuton: {}\n", 2, "unknown top-level key 'executon'");
    load_fails(".yml", "limits:\n  - type: walltime\n    valeu: '1:00:00'\n", 3, "limits: unknown key 'valeu'");
    load_fails(".yml", "resources:\n  groups:\n    a: [x]\n  dflt: a\n", 4, "resources: unknown key 'dflt'");
    load_fails(".xml", "<job_conf><destinations><destination id=\"a\" runner=\"local\"/></destinations><tools>\n"
                       "<tool id=\"t\" destination=\"a\"/>\n<tool id=\"t\" destination=\"a\"/></tools></job_conf>", 3,
               "tool 't' mapped to a destination twice (first at line 2)");
    load_fails(".yml", "tools:\n  - id: t\n    environment: nowhere\n", 2,
               "tool 't' is mapped to destination 'nowhere'");
}

Test(job_conf, limits_legacy_and_environment_spellings)
{
    mt_job_conf_t *conf = load_ok(".xml", "<job_conf><limits>\n"
                                          "<limit type=\"concurrent_jobs\" id=\"gone\">3</limit>\n"
                                          "<limit type=\"output_size\">10240 Mb</limit>\n"
                                          "<limit type=\"total_walltime\">1:00:00</limit>\n"
                                          "</limits></job_conf>");
    const mt_job_limit_t *limits;
    cr_assert_eq(mt_job_conf_limits(conf, &limits), 3);
    cr_assert_str_eq(limits[0].type, "destination_user_concurrent_jobs");
    cr_assert_eq(limits[1].number, 10240LL << 20);
    cr_assert_eq(limits[2].window_days, 30);
    cr_assert_eq(mt_job_conf_walltime_limit(conf), 0.0);
    cr_assert(has_notice(conf, ":2: limit destination_user_concurrent_jobs names destination 'gone', which is not "
                               "declared"));
    mt_job_conf_destroy(conf);
}

/* ------------------------------------------------------------------ */
/* Slurm destinations: nativeSpecification, walltime, the rest noticed   */
/* ------------------------------------------------------------------ */

#define SLURM_PLUGINS                                                                                      \
    "<job_conf>\n"                                                                                        \
    "<plugins>\n"                                                                                         \
    "<plugin id=\"local\" type=\"runner\" load=\"galaxy.jobs.runners.local:LocalJobRunner\"/>\n"          \
    "<plugin id=\"slurm\" type=\"runner\" load=\"galaxy.jobs.runners.slurm:SlurmJobRunner\" workers=\"3\"/>\n" \
    "</plugins>\n"

static double slurm_walltime(const char *value)
{
    char text[1024];
    snprintf(text, sizeof text, SLURM_PLUGINS "<destinations>\n<destination id=\"c\" runner=\"slurm\">\n"
                                "<param id=\"walltime\">%s</param>\n</destination>\n</destinations>\n</job_conf>\n",
             value);
    mt_job_conf_t *conf = load_ok(".xml", text);
    double w = mt_job_destination_walltime(mt_job_conf_find_destination(conf, "c"));
    mt_job_conf_destroy(conf);
    return w;
}

Test(job_conf, slurm_walltime_in_every_form_slurm_takes)
{
    cr_assert_eq(slurm_walltime("90"), 90 * 60.0, "MM");
    cr_assert_eq(slurm_walltime("5:30"), 5 * 60 + 30.0, "MM:SS");
    cr_assert_eq(slurm_walltime("02:00:05"), 2 * 3600 + 5.0, "HH:MM:SS");
    cr_assert_eq(slurm_walltime("1-12"), 86400 + 12 * 3600.0, "D-HH");
    cr_assert_eq(slurm_walltime("2-01:30"), 2 * 86400 + 3600 + 30 * 60.0, "D-HH:MM");
    cr_assert_eq(slurm_walltime("0-00:00:42"), 42.0, "D-HH:MM:SS");
    cr_assert_eq(slurm_walltime(" 10 "), 600.0, "blanks around");
    cr_assert_eq(slurm_walltime("UNLIMITED"), 0.0, "no limit");
    cr_assert_eq(slurm_walltime("infinite"), 0.0, "no limit");
    cr_assert_eq(slurm_walltime("0"), 0.0, "Slurm: zero is no limit");
}

Test(job_conf, error_slurm_walltime_malformed)
{
    static const char *const bad[] = { "", "1:2:3:4", "1h", "-5", "1-", "1-2-3", "a-01", "1-1:2:3:4", "1.5", "1:",
                                       ":30", "1 :30", "24:00:00 extra", "1-1:" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char text[1024], expected[256];
        snprintf(text, sizeof text, SLURM_PLUGINS "<destinations>\n<destination id=\"c\" runner=\"slurm\">\n"
                                    "<param id=\"walltime\">%s</param>\n</destination>\n</destinations>\n</job_conf>\n",
                 bad[i]);
        snprintf(expected, sizeof expected, "destination 'c': param walltime '%s' is not a Slurm time (MM, MM:SS, "
                                            "HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS)", bad[i]);
        load_fails(".xml", text, 8, expected);
    }
    /* YAML: the same check, its line. */
    load_fails(".yml", "runners:\n  slurm:\n    load: galaxy.jobs.runners.slurm:SlurmJobRunner\nexecution:\n"
                       "  environments:\n    c:\n      runner: slurm\n      walltime: 3 days\n", 8,
               "destination 'c': param walltime '3 days' is not a Slurm time");
    /* A local destination's walltime param is not Slurm's: it is not parsed, only noticed. */
    mt_job_conf_t *conf = load_ok(".xml", SLURM_PLUGINS "<destinations>\n<destination id=\"l\" runner=\"local\">\n"
                                  "<param id=\"walltime\">3 days</param>\n</destination>\n</destinations>\n</job_conf>\n");
    cr_assert(has_notice(conf, ":7: destination 'l': params not honoured by the local runner here: walltime"));
    cr_assert_eq(mt_job_destination_walltime(mt_job_conf_find_destination(conf, "l")), 0.0);
    mt_job_conf_destroy(conf);
}

Test(job_conf, slurm_native_specification_and_unused_params_noticed)
{
    mt_job_conf_t *conf = load_ok(".xml", SLURM_PLUGINS
                                  "<destinations default=\"a\">\n"                                         /* 6 */
                                  "<destination id=\"a\" runner=\"slurm\">\n"                              /* 7 */
                                  "<param id=\"nativeSpecification\">--partition=short --mem=2G</param>\n" /* 8 */
                                  "<param id=\"walltime\">10</param>\n"                                    /* 9 */
                                  "<param id=\"tmp_dir\">true</param>\n"                                   /* 10 */
                                  "<param id=\"local_slots\">4</param>\n"                                  /* 11 */
                                  "<param id=\"outputs_to_working_directory\">true</param>\n"              /* 12 */
                                  "</destination>\n"                                                       /* 13 */
                                  "<destination id=\"b\" runner=\"slurm\">\n"                              /* 14 */
                                  "<param id=\"native_specification\">-p long</param>\n"                   /* 15 */
                                  "</destination>\n"                                                       /* 16 */
                                  "</destinations>\n</job_conf>\n");
    const mt_job_destination_t *a = mt_job_conf_find_destination(conf, "a");
    cr_assert_str_eq(mt_job_destination_native_specification(a), "--partition=short --mem=2G");
    cr_assert_eq(mt_job_destination_walltime(a), 600.0);
    cr_assert_str_eq(mt_job_destination_native_specification(mt_job_conf_find_destination(conf, "b")), "-p long",
                     "Galaxy's other spelling");
    cr_assert(has_notice(conf, ":7: destination 'a': params read but not used by the slurm runner here: local_slots, "
                               "outputs_to_working_directory"));
    cr_assert_eq(mt_job_runner_workers(mt_job_conf_find_runner(conf, "slurm")), 3);
    for (size_t i = 0; i < mt_job_conf_notice_count(conf); i++)
        cr_assert_null(strstr(mt_job_conf_notice(conf, i), "'b'"), "nothing unused in b: %s",
                       mt_job_conf_notice(conf, i));
    mt_job_conf_destroy(conf);

    load_fails(".xml", SLURM_PLUGINS "<destinations>\n<destination id=\"c\" runner=\"slurm\">\n"
                                     "<param id=\"nativeSpecification\">-p a</param>\n"
                                     "<param id=\"native_specification\">-p b</param>\n"
                                     "</destination>\n</destinations>\n</job_conf>\n",
               9, "destination 'c': nativeSpecification and native_specification are the same param: give one (first "
                  "at line 8)");
}

/* ------------------------------------------------------------------ */
/* Resubmit rules are compiled at load                                  */
/* ------------------------------------------------------------------ */

static void resubmit_fails(const char *attrs, const char *expected)
{
    char text[2048];
    snprintf(text, sizeof text, SLURM_PLUGINS "<destinations default=\"a\">\n<destination id=\"a\" runner=\"slurm\">\n"
                                "<resubmit %s/>\n</destination>\n<destination id=\"b\" runner=\"slurm\"/>\n"
                                "</destinations>\n</job_conf>\n",
             attrs);
    load_fails(".xml", text, 8, expected);
}

Test(job_conf, error_resubmit_condition_or_delay_that_does_not_compile)
{
    resubmit_fails("condition=\"walltime_reachd\"",
                   "destination 'a': resubmit condition 'walltime_reachd': unknown name 'walltime_reachd' at column 1 "
                   "(known: walltime_reached, memory_limit_reached, unknown_error, any_failure, "
                   "any_potential_job_failure, attempt, seconds_running, seconds_since_queued, True, False)");
    resubmit_fails("condition=\"unknown_error and\"",
                   "destination 'a': resubmit condition 'unknown_error and': unexpected end (expected a name, a number "
                   "or '(')");
    resubmit_fails("condition=\"attempt &lt; 3)\"",
                   "resubmit condition 'attempt < 3)': unexpected ')' at column 12 (expected an operator or the end)");
    resubmit_fails("condition=\"attempt = 3\"", "resubmit condition 'attempt = 3': '=' at column 9: comparing is '=='");
    resubmit_fails("condition=\"len(x)\"", "resubmit condition 'len(x)': unknown name 'len'");
    resubmit_fails("condition=\"attempt == 'x'\"",
                   "resubmit condition 'attempt == 'x'': strings are not supported (at column 12)");
    resubmit_fails("delay=\"soon\"", "destination 'a': resubmit delay 'soon': unknown name 'soon'");
    resubmit_fails("delay=\"2 ** attempt\"", "resubmit delay '2 ** attempt': '**' at column 3 is not supported");
    /* YAML: the entry's line. */
    load_fails(".yml", "runners:\n  slurm:\n    load: galaxy.jobs.runners.slurm:SlurmJobRunner\nexecution:\n"
                       "  environments:\n    c:\n      runner: slurm\n      resubmit:\n"
                       "        - condition: (attempt < 3\n", 9,
               "destination 'c': resubmit condition '(attempt < 3': unexpected end (expected ')')");
}

Test(job_conf, resubmit_without_condition_or_destination)
{
    mt_job_conf_t *conf = load_ok(".yml", "runners:\n  slurm:\n    load: galaxy.jobs.runners.slurm:SlurmJobRunner\n"
                                          "execution:\n  environments:\n    c:\n      runner: slurm\n"
                                          "      resubmit:\n        - delay: 10\n        - condition: ''\n"
                                          "          destination: ''\n");
    const mt_job_resubmit_t *rs;
    cr_assert_eq(mt_job_destination_resubmits(mt_job_conf_find_destination(conf, "c"), &rs), 2);
    cr_assert_null(rs[0].condition_expr, "no condition: every failure");
    cr_assert_null(rs[0].destination, "no destination: the same one");
    cr_assert_null(rs[1].condition_expr, "a blank condition is none (Galaxy: if condition)");
    cr_assert_null(rs[1].destination, "a blank destination is none");
    cr_assert_null(rs[1].delay_expr);
    mt_job_conf_destroy(conf);
}

/* ------------------------------------------------------------------ */
/* Galaxy's advanced sample, as shipped                                 */
/* ------------------------------------------------------------------ */

#define GALAXY_ADVANCED_SAMPLE "/work/shared/reference/galaxy-job_conf.xml.sample_advanced-21.01"

static void count_cb(const char *msg, void *data)
{
    (void)msg;
    (*(int *)data)++;
}

Test(job_conf, galaxys_advanced_sample_loads)
{
    const char *path = getenv("MT_GALAXY_ADVANCED_SAMPLE") ? getenv("MT_GALAXY_ADVANCED_SAMPLE")
                                                            : GALAXY_ADVANCED_SAMPLE;
    if (access(path, R_OK) != 0)
        cr_skip_test("%s is not here", path);
    mt_job_conf_t *conf = (mt_job_conf_t *)1;
    cr_assert_eq(mt_job_conf_load(path, &conf, err, sizeof err), 0, "%s", err);
    cr_assert_eq(mt_job_conf_runner_count(conf), 15);
    cr_assert_eq(mt_job_conf_destination_count(conf), 42);
    cr_assert_eq(mt_job_conf_handler_count(conf), 5);
    cr_assert_str_eq(mt_job_conf_default_destination(conf, NULL), "local");
    /* The macro-made destinations, their tokens filled in. */
    cr_assert_str_eq(dest_param(conf, "foo_medium", "job_Resource_List"), "walltime=4:00:00,ncpus=2");
    cr_assert_eq(mt_job_destination_slots(mt_job_conf_find_destination(conf, "multicore_local")), 4);
    cr_assert_str_eq(mt_job_runner_type(mt_job_conf_find_runner(conf, "sge")), "drmaa");
    cr_assert_str_eq(mt_job_conf_tool_destination(conf, "baz", NULL), "bigmem");
    cr_assert_eq(mt_job_conf_walltime_limit(conf), 24 * 3600.0);
    /* Every destination that cannot run here is named at start; the local ones are not. */
    int unrunnable = 0;
    mt_job_conf_warn_unrunnable(conf, count_cb, &unrunnable);
    cr_assert_eq(unrunnable, 35, "all but local, multicore_local, customized_container and the five slurm ones "
                                 "(34), and short_fast's resubmit to long_slow (sge)");
    /* Its resubmit rules compile: "unknown_error and attempt <= 3", delay "attempt * 30". */
    const mt_job_resubmit_t *rs;
    cr_assert_eq(mt_job_destination_resubmits(mt_job_conf_find_destination(conf, "retry_on_unknown_problems"), &rs), 1);
    cr_assert_str_eq(rs[0].delay, "attempt * 30");
    cr_assert_not_null(rs[0].delay_expr);
    cr_assert_str_eq(mt_job_destination_native_specification(mt_job_conf_find_destination(conf, "short_fast")),
                     "--time=00:05:00 --nodes=1");
    cr_assert(mt_job_conf_notice_count(conf) >= 8, "job metrics, resources, limits, workers, params ...");
    mt_job_conf_destroy(conf);
}

/* ------------------------------------------------------------------ */
/* Absurd input is refused quickly                                     */
/* ------------------------------------------------------------------ */

Test(job_conf, bounds_on_nesting_expansion_and_tokens)
{
    size_t cap = 1 << 20;
    char *text = malloc(cap);
    /* 200 nested elements. */
    size_t n = (size_t)snprintf(text, cap, "<job_conf>\n");
    for (int i = 0; i < 200; i++)
        n += (size_t)snprintf(text + n, cap - n, "<a>");
    snprintf(text + n, cap - n, "</job_conf>");
    load_fails(".xml", text, 2, "elements nest more than 128 deep");
    /* Macros that double eighteen times. */
    n = (size_t)snprintf(text, cap, "<job_conf><macros>\n<xml name=\"m0\"><param id=\"x\">1</param></xml>\n");
    for (int i = 1; i <= 18; i++)
        n += (size_t)snprintf(text + n, cap - n, "<xml name=\"m%d\"><expand macro=\"m%d\"/><expand macro=\"m%d\"/></xml>\n",
                              i, i - 1, i - 1);
    snprintf(text + n, cap - n, "</macros>\n<plugins><plugin id=\"p\" type=\"runner\" load=\"x\">\n"
                                "<expand macro=\"m18\"/></plugin></plugins></job_conf>");
    load_fails(".xml", text, 23, "macro expansion makes more than 200000 elements");
    /* A token of a megabyte, used a hundred times. */
    n = (size_t)snprintf(text, cap, "<job_conf><macros><token name=\"@K@\">");
    for (int i = 0; i < 1000; i++)
        n += (size_t)snprintf(text + n, cap - n, "kkkkkkkkkk");
    n += (size_t)snprintf(text + n, cap - n, "</token><token name=\"@M@\">");
    for (int i = 0; i < 100; i++)
        n += (size_t)snprintf(text + n, cap - n, "@K@");
    n += (size_t)snprintf(text + n, cap - n, "</token></macros>\n<resources>");
    for (int i = 0; i < 100; i++)
        n += (size_t)snprintf(text + n, cap - n, "<group id=\"g%d\">@M@</group>", i);
    snprintf(text + n, cap - n, "</resources></job_conf>");
    load_fails(".xml", text, 2, "tokens make more than 67108864 bytes of text");
    free(text);
}
