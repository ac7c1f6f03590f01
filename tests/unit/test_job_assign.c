/*
 * Unit tests for handler assignment (src/app/model/job_assign.c): Galaxy's rules
 * from the scaling guide ("Job Handler Assignment Methods", "uWSGI +
 * Mules", "uWSGI + Webless") each as its own test, with a fake stack
 * (which farms exist) and a deterministic random; the pools each kind of
 * process serves; the start-up check of the configuration's names.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/model/job_assign.h"

static char err[1024];

/* The fake stack: which farms exist, and the values random() returns in turn. */
typedef struct fake_stack {
    const char *farms[4];
    const char *processes[4];
    unsigned randoms[8];
    size_t nrandoms, next_random, random_calls;
    char warnings[8][1024];
    size_t nwarnings;
} fake_stack_t;

static fake_stack_t stack;
static mt_assign_facts_t facts;

static bool fake_farm_exists(const char *farm, void *data)
{
    fake_stack_t *s = data;
    for (size_t i = 0; i < 4 && s->farms[i]; i++)
        if (strcmp(s->farms[i], farm) == 0)
            return true;
    return false;
}

static unsigned fake_random(void *data)
{
    fake_stack_t *s = data;
    s->random_calls++;
    return s->nrandoms ? s->randoms[s->next_random++ % s->nrandoms] : 0;
}

static bool fake_is_process(const char *name, void *data)
{
    fake_stack_t *s = data;
    for (size_t i = 0; i < 4 && s->processes[i]; i++)
        if (strcmp(s->processes[i], name) == 0)
            return true;
    return false;
}

static void fake_warn(const char *message, void *data)
{
    fake_stack_t *s = data;
    if (s->nwarnings < 8)
        snprintf(s->warnings[s->nwarnings++], sizeof s->warnings[0], "%s", message);
}

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

TestSuite(assign, .init = setup);
TestSuite(pools, .init = setup);
TestSuite(check, .init = setup);

static mt_job_conf_t *conf_of(const char *name, const char *text)
{
    mt_job_conf_t *conf = NULL;
    cr_assert_eq(mt_job_conf_load_string(name, text, strlen(text), &conf, err, sizeof err), 0, "%s", err);
    return conf;
}

static mt_assignment_t assign_ok(const mt_job_conf_t *conf, const char *tool_id)
{
    mt_assignment_t out;
    int rc = mt_job_assign(conf, tool_id, &facts, &out, err, sizeof err);
    cr_assert_eq(rc, 0, "assign failed: %s", err);
    return out;
}

/* The handler was set at creation: no farm, no message, no queue. */
static void assert_handler(const mt_assignment_t *a, mt_assign_method_t method, bool direct, const char *handler)
{
    cr_assert_eq(a->method, method, "method %s, expected %s", mt_assign_method_name(a->method),
                 mt_assign_method_name(method));
    cr_assert_eq(a->direct, direct);
    cr_assert_str_eq(a->handler, handler);
    cr_assert_str_empty(a->farm);
    cr_assert_str_empty(a->queue);
}

/* Handler NULL and a message to the farm, where the job waits. */
static void assert_message(const mt_assignment_t *a, const char *farm)
{
    cr_assert_eq(a->method, MT_ASSIGN_MULE_MESSAGE, "method %s", mt_assign_method_name(a->method));
    cr_assert_str_empty(a->handler);
    cr_assert_str_eq(a->farm, farm);
    cr_assert_str_eq(a->queue, farm);
}

/* Handler NULL, no message: waits in the pool's queue for a handler to claim it from the database. */
static void assert_queue(const mt_assignment_t *a, mt_assign_method_t method, const char *pool)
{
    cr_assert_eq(a->method, method, "method %s", mt_assign_method_name(a->method));
    cr_assert_str_empty(a->handler);
    cr_assert_str_empty(a->farm);
    cr_assert_str_eq(a->queue, pool);
}

/* ---- the default order per configuration (scaling guide, "Job Handler Assignment Methods") ---- */

static void assert_order(const mt_job_conf_t *conf, size_t n, const mt_assign_method_t *want)
{
    mt_assign_method_t got[MT_ASSIGN_METHOD_COUNT];
    size_t count = mt_job_assign_order(conf, &facts, got);
    cr_assert_eq(count, n, "order of %zu methods, expected %zu", count, n);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(got[i], want[i], "method %zu is %s, expected %s", i, mt_assign_method_name(got[i]),
                     mt_assign_method_name(want[i]));
}

Test(assign, default_order_no_handlers_no_farm_is_db_self)
{
    assert_order(NULL, 1, (mt_assign_method_t[]){MT_ASSIGN_DB_SELF});
    mt_assignment_t a = assign_ok(NULL, "sleep");
    assert_handler(&a, MT_ASSIGN_DB_SELF, false, "main.web.2");
}

Test(assign, default_order_handlers_no_farm_is_db_preassign)
{
    mt_job_conf_t *conf = conf_of("j.xml", "<job_conf><handlers><handler id=\"handler1\"/><handler id=\"handler2\"/>"
                                           "</handlers></job_conf>");
    assert_order(conf, 1, (mt_assign_method_t[]){MT_ASSIGN_DB_PREASSIGN});
    stack.randoms[0] = 1;
    stack.nrandoms = 1;
    /* Unmapped jobs go to the untagged handlers, not to the web worker. */
    mt_assignment_t a = assign_ok(conf, "sleep");
    assert_handler(&a, MT_ASSIGN_DB_PREASSIGN, false, "handler2");
    mt_job_conf_destroy(conf);
}

Test(assign, default_order_farm_no_handlers_is_mule_message)
{
    stack.farms[0] = "job-handlers";
    assert_order(NULL, 1, (mt_assign_method_t[]){MT_ASSIGN_MULE_MESSAGE});
    mt_assignment_t a = assign_ok(NULL, "sleep");
    assert_message(&a, "job-handlers");
}

Test(assign, default_order_a_tag_farm_counts_as_a_farm)
{
    mt_job_conf_t *conf = conf_of("j.xml", "<job_conf><tools><tool id=\"test1\" handler=\"special\"/></tools>"
                                           "</job_conf>");
    stack.farms[0] = "job-handlers.special";
    assert_order(conf, 1, (mt_assign_method_t[]){MT_ASSIGN_MULE_MESSAGE});
    mt_job_conf_destroy(conf);
}

Test(assign, default_order_farm_and_handlers_is_mule_message_then_db_preassign)
{
    mt_job_conf_t *conf = conf_of("j.yml", "handling:\n  handlers:\n    handler1:\n");
    stack.farms[0] = "job-handlers";
    assert_order(conf, 2, (mt_assign_method_t[]){MT_ASSIGN_MULE_MESSAGE, MT_ASSIGN_DB_PREASSIGN});
    mt_assignment_t a = assign_ok(conf, "sleep");
    assert_message(&a, "job-handlers");
    mt_job_conf_destroy(conf);
}

Test(assign, configured_order_wins)
{
    mt_job_conf_t *conf = conf_of("j.xml", "<job_conf><handlers assign_with=\"db-skip-locked\"/></job_conf>");
    stack.farms[0] = "job-handlers";
    assert_order(conf, 1, (mt_assign_method_t[]){MT_ASSIGN_DB_SKIP_LOCKED});
    cr_assert(mt_job_assign_claims_from_db(conf, &facts));
    cr_assert_not(mt_job_assign_claims_from_db(NULL, &facts));
    mt_job_conf_destroy(conf);
}

/* ---- uWSGI + Mules ---- */

/* "all jobs will be handled by mules 1 and 2, except for executions of tool test1: those jobs will be handled by mule 3" */
Test(assign, mules_tag_farm_without_a_declared_handler)
{
    mt_job_conf_t *conf = conf_of("j.xml", "<job_conf>\n    <tools>\n        <tool id=\"test1\" handler=\"special\" />\n"
                                           "    </tools>\n</job_conf>\n");
    stack.farms[0] = "job-handlers";
    stack.farms[1] = "job-handlers.special";
    mt_assignment_t a = assign_ok(conf, "test1");
    assert_message(&a, "job-handlers.special");
    a = assign_ok(conf, "other");
    assert_message(&a, "job-handlers");
    mt_job_conf_destroy(conf);
}

/* "to have the 2nd mule in the three-mule job-handlers farm handle the test1 tool" */
Test(assign, mules_tool_mapped_to_a_mule_by_server_name)
{
    mt_job_conf_t *conf = conf_of("j.xml", "<job_conf>\n    <handlers>\n        <handler id=\"main.job-handlers.2\" />\n"
                                           "    </handlers>\n    <tools>\n"
                                           "        <tool id=\"test1\" handler=\"main.job-handlers.2\" />\n"
                                           "    </tools>\n</job_conf>\n");
    stack.farms[0] = "job-handlers";
    mt_assignment_t a = assign_ok(conf, "test1");
    assert_handler(&a, MT_ASSIGN_DB_PREASSIGN, true, "main.job-handlers.2");
    /* Others go to the farm: mule-message comes first with a farm and handlers. */
    a = assign_ok(conf, "other");
    assert_message(&a, "job-handlers");
    mt_job_conf_destroy(conf);
}

/* ---- uWSGI + Webless, statically defined handlers ---- */

static const char webless_static_xml[] = "<job_conf>\n"
                                         "    <handlers>\n"
                                         "        <handler id=\"handler1\" />\n"
                                         "        <handler id=\"handler2\" />\n"
                                         "        <handler id=\"handler3\" tags=\"nodefault\" />\n"
                                         "        <handler id=\"handler4\" tags=\"special\" />\n"
                                         "        <handler id=\"handler5\" tags=\"special\" />\n"
                                         "    </handlers>\n"
                                         "    <tools>\n"
                                         "        <tool id=\"test1\" handler=\"handler3\" />\n"
                                         "        <tool id=\"test2\" handler=\"special\" />\n"
                                         "        <tool id=\"test3\" handler=\"handler2\" />\n"
                                         "    </tools>\n"
                                         "</job_conf>\n";

Test(assign, webless_static_untagged_handlers_are_the_default)
{
    mt_job_conf_t *conf = conf_of("j.xml", webless_static_xml);
    const unsigned randoms[] = {0, 1, 2, 3};
    memcpy(stack.randoms, randoms, sizeof randoms);
    stack.nrandoms = 4;
    const char *expected[] = {"handler1", "handler2", "handler1", "handler2"};
    for (size_t i = 0; i < 4; i++) {
        mt_assignment_t a = assign_ok(conf, "unmapped");
        assert_handler(&a, MT_ASSIGN_DB_PREASSIGN, false, expected[i]);
    }
    mt_job_conf_destroy(conf);
}

Test(assign, webless_static_mappings)
{
    mt_job_conf_t *conf = conf_of("j.xml", webless_static_xml);
    mt_assignment_t a = assign_ok(conf, "test1");
    assert_handler(&a, MT_ASSIGN_DB_PREASSIGN, true, "handler3"); /* the nodefault handler, only by mapping */
    a = assign_ok(conf, "test3");
    assert_handler(&a, MT_ASSIGN_DB_PREASSIGN, true, "handler2");
    const unsigned randoms[] = {0, 1};
    memcpy(stack.randoms, randoms, sizeof randoms);
    stack.nrandoms = 2;
    a = assign_ok(conf, "test2");
    assert_handler(&a, MT_ASSIGN_DB_PREASSIGN, false, "handler4");
    a = assign_ok(conf, "test2");
    assert_handler(&a, MT_ASSIGN_DB_PREASSIGN, false, "handler5");
    mt_job_conf_destroy(conf);
}

/* "configure it with an unused tag (e.g. <handler id="handler5" tags="drain" />)": no new jobs. */
Test(assign, drain_tag_keeps_a_handler_out_of_the_default_pool)
{
    mt_job_conf_t *conf = conf_of("j.xml", "<job_conf><handlers><handler id=\"h1\"/><handler id=\"h5\" tags=\"drain\"/>"
                                           "</handlers></job_conf>");
    for (unsigned r = 0; r < 8; r++) {
        stack.randoms[0] = r;
        stack.nrandoms = 1;
        stack.next_random = 0;
        mt_assignment_t a = assign_ok(conf, "any");
        assert_handler(&a, MT_ASSIGN_DB_PREASSIGN, false, "h1");
    }
    mt_job_conf_destroy(conf);
}

/* ---- uWSGI + Webless, dynamically defined handlers ---- */

static const char webless_dynamic_xml[] = "<job_conf>\n"
                                          "    <handlers assign_with=\"db-skip-locked\" />\n"
                                          "    <tools>\n"
                                          "        <tool id=\"test1\" handler=\"special\" />\n"
                                          "    </tools>\n"
                                          "</job_conf>\n";

Test(assign, webless_dynamic_jobs_wait_in_their_pool)
{
    mt_job_conf_t *conf = conf_of("j.xml", webless_dynamic_xml);
    mt_assignment_t a = assign_ok(conf, "test1");
    assert_queue(&a, MT_ASSIGN_DB_SKIP_LOCKED, "job-handlers.special");
    a = assign_ok(conf, "other");
    assert_queue(&a, MT_ASSIGN_DB_SKIP_LOCKED, "job-handlers");
    /* With the stack's mules too: still the database, no message. */
    stack.farms[0] = "job-handlers";
    a = assign_ok(conf, "other");
    assert_queue(&a, MT_ASSIGN_DB_SKIP_LOCKED, "job-handlers");
    mt_job_conf_destroy(conf);
}

Test(assign, db_transaction_isolation_behaves_as_skip_locked)
{
    mt_job_conf_t *conf = conf_of("j.yml", "handling:\n  assign: [db-transaction-isolation]\n"
                                           "tools:\n  - {id: test1, handler: special}\n");
    mt_assignment_t a = assign_ok(conf, "test1");
    assert_queue(&a, MT_ASSIGN_DB_TRANSACTION_ISOLATION, "job-handlers.special");
    a = assign_ok(conf, "x");
    assert_queue(&a, MT_ASSIGN_DB_TRANSACTION_ISOLATION, "job-handlers");
    mt_job_conf_destroy(conf);
}

/* A default that is a tag is that tag's pool, walked by the methods: under skip-locked, the database. */
Test(assign, default_tag_under_skip_locked_waits_in_its_pool)
{
    mt_job_conf_t *conf = conf_of("j.yml", "handling:\n  assign: [db-skip-locked]\n  default: special\n"
                                           "  handlers:\n    h1: {tags: [special]}\n");
    mt_assignment_t a = assign_ok(conf, "x");
    assert_queue(&a, MT_ASSIGN_DB_SKIP_LOCKED, "job-handlers.special");
    cr_assert_eq(stack.random_calls, 0, "nothing is preassigned");
    mt_job_conf_destroy(conf);
}

/* ---- uWSGI + Hybrid: mule-message, then a database method ---- */

Test(assign, hybrid_mules_first_then_the_database)
{
    mt_job_conf_t *conf = conf_of("j.xml", "<job_conf><handlers assign_with=\"mule-message,db-skip-locked\"/>"
                                           "<tools><tool id=\"test1\" handler=\"special\"/></tools></job_conf>");
    stack.farms[0] = "job-handlers";
    mt_assignment_t a = assign_ok(conf, "other");
    assert_message(&a, "job-handlers");
    /* No job-handlers.special farm: mule-message defers to the next method. */
    a = assign_ok(conf, "test1");
    assert_queue(&a, MT_ASSIGN_DB_SKIP_LOCKED, "job-handlers.special");
    mt_job_conf_destroy(conf);
}

/* ---- explicit mappings bypass the methods ---- */

Test(assign, a_mapping_to_a_handler_id_ignores_the_methods)
{
    mt_job_conf_t *conf = conf_of("j.yml", "handling:\n  assign: [db-skip-locked]\n  handlers:\n    h1:\n"
                                           "tools:\n  - {id: t, handler: h1}\n  - {id: u, handler: other.host.1}\n");
    stack.farms[0] = "job-handlers";
    mt_assignment_t a = assign_ok(conf, "t");
    assert_handler(&a, MT_ASSIGN_DB_PREASSIGN, true, "h1");
    a = assign_ok(conf, "u");
    assert_handler(&a, MT_ASSIGN_DB_PREASSIGN, true, "other.host.1");
    mt_job_conf_destroy(conf);
}

Test(assign, a_default_handler_id_is_set_directly)
{
    mt_job_conf_t *conf = conf_of("j.xml", "<job_conf><handlers default=\"handler0\">"
                                           "<handler id=\"handler0\"/><handler id=\"handler1\"/></handlers></job_conf>");
    stack.farms[0] = "job-handlers";
    mt_assignment_t a = assign_ok(conf, "cat");
    assert_handler(&a, MT_ASSIGN_DB_PREASSIGN, true, "handler0");
    mt_job_conf_destroy(conf);
}

/* ---- tags by preassignment, and errors ---- */

Test(assign, a_tag_without_farm_or_db_method_is_preassigned_among_its_members)
{
    mt_job_conf_t *conf = conf_of("j.xml", "<job_conf><handlers><handler id=\"h0\" tags=\"special\"/>"
                                           "<handler id=\"h1\"/><handler id=\"h2\" tags=\"other,special\"/></handlers>"
                                           "<tools><tool id=\"sleep\" handler=\"special\"/></tools></job_conf>");
    const unsigned randoms[] = {0, 1, 2};
    const char *expected[] = {"h0", "h2", "h0"};
    memcpy(stack.randoms, randoms, sizeof randoms);
    stack.nrandoms = 3;
    for (size_t i = 0; i < 3; i++) {
        mt_assignment_t a = assign_ok(conf, "sleep");
        assert_handler(&a, MT_ASSIGN_DB_PREASSIGN, false, expected[i]);
    }
    mt_job_conf_destroy(conf);
}

Test(assign, db_self_for_a_tag_is_preassignment)
{
    mt_job_conf_t *conf = conf_of("j.yml", "handling:\n  assign: [db-self]\n  handlers:\n    h0: {tags: [special]}\n"
                                           "tools:\n  - {id: sleep, handler: special}\n");
    mt_assignment_t a = assign_ok(conf, "sleep");
    assert_handler(&a, MT_ASSIGN_DB_SELF, false, "h0");
    a = assign_ok(conf, "cat");
    assert_handler(&a, MT_ASSIGN_DB_SELF, false, "main.web.2");
    mt_job_conf_destroy(conf);
}

Test(assign, nothing_applies_names_every_method_and_why)
{
    mt_job_conf_t *conf = conf_of("j.xml", "<job_conf><handlers assign_with=\"mule-message,db-preassign\">"
                                           "<handler id=\"h\" tags=\"x\"/></handlers></job_conf>");
    mt_assignment_t a;
    memset(&a, 0x55, sizeof a);
    cr_assert_eq(mt_job_assign(conf, "sleep", &facts, &a, err, sizeof err), -1);
    cr_assert_str_eq(err, "tool 'sleep' goes to pool job-handlers, which no handler assignment method can place "
                          "(tried mule-message: no 'job-handlers' farm; db-preassign: every handler is tagged)");
    cr_assert_str_empty(a.handler);
    cr_assert_str_empty(a.queue);
    mt_job_conf_destroy(conf);
    /* db-self outside a process that handles jobs. */
    facts.self_server_name = NULL;
    cr_assert_eq(mt_job_assign(NULL, "sleep", &facts, &a, err, sizeof err), -1);
    cr_assert(strstr(err, "db-self: not created by a process that handles jobs"), "%s", err);
    cr_assert_eq(mt_job_assign(NULL, NULL, NULL, &a, err, sizeof err), -1);
    cr_assert(strstr(err, "tool '(none)'"), "%s", err);
}

Test(assign, yaml_and_xml_give_the_same_decisions)
{
    mt_job_conf_t *yaml = conf_of("j.yml", "handling:\n  default: special\n  handlers:\n    handler0:\n"
                                           "      tags: [special]\n    main.job-handlers.2: {}\n"
                                           "tools:\n  - id: sleep\n    handler: handler0\n"
                                           "  - id: cat\n    handler: main.job-handlers.1\n");
    mt_job_conf_t *xml = conf_of("j.xml", "<job_conf><handlers default=\"special\">"
                                          "<handler id=\"handler0\" tags=\"special\"/><handler id=\"main.job-handlers.2\"/>"
                                          "</handlers><tools><tool id=\"sleep\" handler=\"handler0\"/>"
                                          "<tool id=\"cat\" handler=\"main.job-handlers.1\"/></tools></job_conf>");
    const char *tools[] = {"sleep", "cat", "other", NULL};
    const char *farm_sets[] = {NULL, "job-handlers", "job-handlers.special"};
    for (size_t f = 0; f < 3; f++) {
        for (size_t t = 0; t < 4; t++) {
            memset(&stack, 0, sizeof stack);
            stack.farms[0] = farm_sets[f];
            mt_assignment_t a = assign_ok(yaml, tools[t]);
            stack.next_random = 0;
            mt_assignment_t b = assign_ok(xml, tools[t]);
            cr_assert_eq(memcmp(&a, &b, sizeof a), 0, "tool %s, farm %s: %s/%s vs %s/%s", tools[t], farm_sets[f],
                         a.handler, a.queue, b.handler, b.queue);
        }
    }
    mt_job_conf_destroy(yaml);
    mt_job_conf_destroy(xml);
}

/* ---- the pools a process serves ---- */

static size_t pools_of(const mt_job_conf_t *conf, const mt_handler_identity_t *who, bool elsewhere, char pools[][128])
{
    return mt_job_assign_pools(conf, who, elsewhere, pools, 8);
}

Test(pools, a_mule_serves_its_handler_farms)
{
    const char *farms[] = {"job-handlers", "something-else", "job-handlers.special"};
    mt_handler_identity_t who = {.server_name = "main.job-handlers.1", .farms = farms, .nfarms = 3};
    char pools[8][128];
    cr_assert_eq(pools_of(NULL, &who, true, pools), 2);
    cr_assert_str_eq(pools[0], "job-handlers");
    cr_assert_str_eq(pools[1], "job-handlers.special");
}

Test(pools, a_standalone_serves_every_attached_pool_and_no_other)
{
    const char *attached[] = {"job-handlers.special"};
    mt_handler_identity_t who = {.server_name = "handler1", .attached = attached, .nattached = 1};
    char pools[8][128];
    cr_assert_eq(pools_of(NULL, &who, false, pools), 1);
    cr_assert_str_eq(pools[0], "job-handlers.special");
    const char *both[] = {"job-handlers", "job-handlers.special"};
    who = (mt_handler_identity_t){.server_name = "handler2", .attached = both, .nattached = 2};
    cr_assert_eq(pools_of(NULL, &who, false, pools), 2);
    cr_assert_str_eq(pools[0], "job-handlers");
    cr_assert_str_eq(pools[1], "job-handlers.special");
}

Test(pools, a_configured_handler_serves_its_tags_or_the_default)
{
    mt_job_conf_t *conf = conf_of("j.xml", webless_static_xml);
    char pools[8][128];
    mt_handler_identity_t who = {.server_name = "handler1"};
    cr_assert_eq(pools_of(conf, &who, true, pools), 1);
    cr_assert_str_eq(pools[0], "job-handlers");
    who.server_name = "handler3";
    cr_assert_eq(pools_of(conf, &who, true, pools), 1);
    cr_assert_str_eq(pools[0], "job-handlers.nodefault");
    who.server_name = "nobody";
    cr_assert_eq(pools_of(conf, &who, true, pools), 0);
    mt_job_conf_destroy(conf);
}

Test(pools, web_workers_serve_the_default_pool_only_when_nothing_else_does)
{
    mt_handler_identity_t who = {.server_name = "main.web.1", .web = true};
    char pools[8][128];
    cr_assert_eq(pools_of(NULL, &who, false, pools), 1);
    cr_assert_str_eq(pools[0], "job-handlers");
    cr_assert_eq(pools_of(NULL, &who, true, pools), 0);
}

/* ---- the start-up check ---- */

static int check(const mt_job_conf_t *conf)
{
    mt_assign_stack_t s = {.facts = facts, .is_process = fake_is_process, .warn = fake_warn, .data = &stack};
    return mt_job_assign_check(conf, "job_conf.xml", &s, err, sizeof err);
}

Test(check, a_tag_served_only_by_its_farm_needs_no_declared_handler)
{
    mt_job_conf_t *conf = conf_of("j.xml", "<job_conf>\n<tools>\n<tool id=\"test1\" handler=\"special\"/>\n</tools>\n"
                                           "</job_conf>\n");
    stack.farms[0] = "job-handlers";
    stack.farms[1] = "job-handlers.special";
    cr_assert_eq(check(conf), 0, "%s", err);
    cr_assert_eq(stack.nwarnings, 0, "%s", stack.warnings[0]);
    /* The tag's farm alone: unmapped tools have nowhere to go, which is worth a warning. */
    stack.farms[0] = "job-handlers.special";
    stack.farms[1] = NULL;
    cr_assert_eq(check(conf), 0, "%s", err);
    cr_assert_eq(stack.nwarnings, 1);
    cr_assert(strstr(stack.warnings[0], "no 'job-handlers' farm"), "%s", stack.warnings[0]);
    stack.farms[0] = NULL;
    cr_assert_eq(check(conf), -1);
    cr_assert_str_eq(err, "job_conf.xml:3: tool 'test1' names 'special', which is neither a handler, a tag, a "
                          "job-handlers.special farm, nor a server name (such as main.job-handlers.1)");
    mt_job_conf_destroy(conf);
}

Test(check, a_tag_left_to_standalones_is_a_warning)
{
    mt_job_conf_t *conf = conf_of("j.xml", webless_dynamic_xml);
    cr_assert_eq(check(conf), 0, "%s", err);
    cr_assert_eq(stack.nwarnings, 1);
    cr_assert(strstr(stack.warnings[0], "job_conf.xml:4: tool 'test1' names tag 'special'"), "%s", stack.warnings[0]);
    cr_assert(strstr(stack.warnings[0], "standalone handler attached to job-handlers.special"), "%s",
              stack.warnings[0]);
    mt_job_conf_destroy(conf);
}

Test(check, handlers_nobody_runs_are_warned_about)
{
    mt_job_conf_t *conf = conf_of("j.xml", "<job_conf>\n<handlers>\n<handler id=\"main.job-handlers.1\"/>\n"
                                           "<handler id=\"handler9\"/>\n</handlers>\n<tools>\n"
                                           "<tool id=\"t\" handler=\"main.job-handler.2\"/>\n</tools>\n</job_conf>\n");
    stack.processes[0] = "main.job-handlers.1";
    stack.farms[0] = "job-handlers";
    cr_assert_eq(check(conf), 0, "%s", err);
    cr_assert_eq(stack.nwarnings, 2);
    cr_assert(strstr(stack.warnings[0], "job_conf.xml:7: tool 't' names handler 'main.job-handler.2', which is not a "
                                        "process of this stack"),
              "%s", stack.warnings[0]);
    cr_assert(strstr(stack.warnings[1], "job_conf.xml:4: handler 'handler9' is not a process of this stack"), "%s",
              stack.warnings[1]);
    mt_job_conf_destroy(conf);
}

Test(check, unmapped_tools_nobody_can_place_are_warned_about)
{
    mt_job_conf_t *conf = conf_of("j.xml", "<job_conf><handlers><handler id=\"h\" tags=\"x\"/></handlers></job_conf>");
    stack.processes[0] = "h";
    cr_assert_eq(check(conf), 0, "%s", err);
    cr_assert_eq(stack.nwarnings, 1);
    cr_assert(strstr(stack.warnings[0], "jobs of tools that are not mapped cannot be placed"), "%s", stack.warnings[0]);
    mt_job_conf_destroy(conf);
}
