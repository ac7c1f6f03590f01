/*
 * Unit tests for job_resubmit.c: Galaxy's resubmit conditions and delays
 * compiled (Python's precedence, chained comparisons, and/or returning an
 * operand) and refused with their reason; the rule a failure picks (the
 * first that holds, none, a rule without a condition); the delay of a
 * rule for a failure; and where the next attempt goes.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "app/model/job_conf.h"
#include "app/model/job_resubmit.h"
#include "app/model/job_route.h"

static char err[1024];

static double eval(const char *text, const mt_job_failure_t *f)
{
    mt_job_expr_t *e;
    cr_assert_eq(mt_job_expr_compile(text, &e, err, sizeof err), 0, "'%s': %s", text, err);
    cr_assert_str_eq(mt_job_expr_text(e), text);
    double v = -12345;
    cr_assert_eq(mt_job_expr_eval(e, f, &v), 0, "'%s' could not be evaluated", text);
    mt_job_expr_free(e);
    return v;
}

static void refused(const char *text, const char *expected)
{
    mt_job_expr_t *e = (mt_job_expr_t *)1;
    cr_assert_eq(mt_job_expr_compile(text, &e, err, sizeof err), -EINVAL, "'%s' compiled", text);
    cr_assert_null(e);
    cr_assert_str_eq(err, expected, "'%s'", text);
}

static const mt_job_failure_t walltime = { .walltime_reached = true, .attempt = 1, .seconds_running = 3600.5,
                                           .seconds_since_queued = 3700 };
static const mt_job_failure_t oom = { .memory_limit_reached = true, .attempt = 2, .seconds_running = 10 };
static const mt_job_failure_t other = { .unknown_error = true, .attempt = 4 };

Test(job_resubmit, the_variables)
{
    cr_assert_eq(eval("walltime_reached", &walltime), 1);
    cr_assert_eq(eval("walltime_reached", &oom), 0);
    cr_assert_eq(eval("memory_limit_reached", &oom), 1);
    cr_assert_eq(eval("unknown_error", &other), 1);
    cr_assert_eq(eval("unknown_error", &walltime), 0);
    cr_assert_eq(eval("any_failure", &walltime), 1);
    cr_assert_eq(eval("any_potential_job_failure", &oom), 1);
    cr_assert_eq(eval("attempt", &other), 4);
    cr_assert_eq(eval("seconds_running", &walltime), 3600.5);
    cr_assert_eq(eval("seconds_since_queued", &walltime), 3700);
    cr_assert_eq(eval("True", &walltime), 1);
    cr_assert_eq(eval("False", &walltime), 0);
}

Test(job_resubmit, pythons_operators_and_precedence)
{
    /* Galaxy's own samples. */
    cr_assert_eq(eval("unknown_error and attempt <= 3", &other), 0, "the fourth attempt stops");
    cr_assert_eq(eval("unknown_error and attempt <= 5", &other), 1);
    cr_assert_eq(eval("attempt * 30", &other), 120);
    cr_assert_eq(eval("walltime_reached or memory_limit_reached", &oom), 1);
    cr_assert_eq(eval("walltime_reached or memory_limit_reached", &other), 0);
    /* not binds looser than comparisons, and tighter than and / or. */
    cr_assert_eq(eval("not attempt > 3", &other), 0);
    cr_assert_eq(eval("not walltime_reached and attempt == 4", &other), 1);
    cr_assert_eq(eval("not not True", &other), 1);
    /* and before or. */
    cr_assert_eq(eval("True or False and False", &other), 1);
    cr_assert_eq(eval("(True or False) and False", &other), 0);
    /* Chained comparisons, as Python. */
    cr_assert_eq(eval("1 < attempt <= 3", &oom), 1);
    cr_assert_eq(eval("1 < attempt <= 3", &other), 0);
    cr_assert_eq(eval("3 > attempt > 1", &walltime), 0, "3 > 1 > 1 is false in Python (not (3 > 1) > 1)");
    cr_assert_eq(eval("attempt != 2", &oom), 0);
    cr_assert_eq(eval("attempt >= 2.0", &oom), 1);
    /* Arithmetic: * / before + -, true division, unary minus. */
    cr_assert_eq(eval("1 + 2 * 3", &oom), 7);
    cr_assert_eq(eval("(1 + 2) * 3", &oom), 9);
    cr_assert_eq(eval("7 / 2", &oom), 3.5);
    cr_assert_eq(eval("10 - 4 - 3", &oom), 3, "left to right");
    cr_assert_eq(eval("-attempt + 5", &oom), 3);
    cr_assert_eq(eval("- -2", &oom), 2);
    cr_assert_eq(eval("+.5", &oom), 0.5);
    cr_assert_eq(eval("1e3", &oom), 1000);
    cr_assert_eq(eval("seconds_running > 1.5e1", &oom), 0);
    /* and / or give an operand, as Python's. */
    cr_assert_eq(eval("attempt or 7", &oom), 2);
    cr_assert_eq(eval("0 or 7", &oom), 7);
    cr_assert_eq(eval("attempt and 7", &oom), 7);
    cr_assert_eq(eval("0 and 1 / 0", &oom), 0, "short-circuit: the right side is not evaluated");
    /* Blanks and newlines anywhere. */
    cr_assert_eq(eval("  walltime_reached\n and\tattempt<=1 ", &walltime), 1);
}

Test(job_resubmit, division_by_zero_cannot_be_evaluated)
{
    mt_job_expr_t *e;
    cr_assert_eq(mt_job_expr_compile("attempt / (attempt - 2)", &e, err, sizeof err), 0, "%s", err);
    double v;
    cr_assert_eq(mt_job_expr_eval(e, &oom, &v), -EDOM);
    cr_assert_eq(mt_job_expr_eval(e, &other, &v), 0);
    cr_assert_eq(v, 2);
    mt_job_expr_free(e);
    mt_job_expr_free(NULL);
}

Test(job_resubmit, what_does_not_compile_says_why)
{
    refused("", "is empty");
    refused("   ", "is empty");
    refused("walltime", "unknown name 'walltime' at column 1 (known: walltime_reached, memory_limit_reached, "
                        "unknown_error, any_failure, any_potential_job_failure, attempt, seconds_running, "
                        "seconds_since_queued, True, False)");
    refused("attempt < 3 and tool_detected_failure",
            "unknown name 'tool_detected_failure' at column 17 (known: walltime_reached, memory_limit_reached, "
            "unknown_error, any_failure, any_potential_job_failure, attempt, seconds_running, seconds_since_queued, "
            "True, False)");
    refused("true", "unknown name 'true' at column 1 (known: walltime_reached, memory_limit_reached, unknown_error, "
                    "any_failure, any_potential_job_failure, attempt, seconds_running, seconds_since_queued, True, "
                    "False)");
    refused("walltime_reached and", "unexpected end (expected a name, a number or '(')");
    refused("and attempt", "unexpected 'and' at column 1 (expected a name, a number or '(')");
    refused("(attempt < 3", "unexpected end (expected ')')");
    refused("attempt < 3)", "unexpected ')' at column 12 (expected an operator or the end)");
    refused("attempt 3", "unexpected '3' at column 9 (expected an operator or the end)");
    refused("walltime_reached memory_limit_reached",
            "unexpected 'memory_limit_reached' at column 18 (expected an operator or the end)");
    refused("()", "unexpected ')' at column 2 (expected a name, a number or '(')");
    refused("attempt = 1", "'=' at column 9: comparing is '=='");
    refused("attempt <> 1", "unexpected '>' at column 10 (expected a name, a number or '(')");
    refused("attempt ** 2", "'**' at column 9 is not supported (+ - * / are)");
    refused("attempt // 2", "'//' at column 9 is not supported (+ - * / are)");
    refused("attempt % 2", "unexpected '%' at column 9");
    refused("walltime_reached && attempt", "unexpected '&' at column 18");
    refused("attempt == \"1\"", "strings are not supported (at column 12)");
    refused("max(attempt, 2)", "unknown name 'max' at column 1 (known: walltime_reached, memory_limit_reached, "
                               "unknown_error, any_failure, any_potential_job_failure, attempt, seconds_running, "
                               "seconds_since_queued, True, False)");
    refused("True(1)", "calls are not supported (at column 5)");
    refused("1.2.3", "malformed number '1.2.' at column 1");
    refused("0x10", "malformed number '0x' at column 1");
    refused("3abc", "malformed number '3a' at column 1");
    refused("1e", "malformed number '1e' at column 1");
    refused("attempt < 3\x01", "unexpected byte 0x01 at column 12");
}

Test(job_resubmit, bounds_on_nesting_and_length)
{
    char text[MT_JOB_EXPR_MAX_LEN + 2];
    /* Nesting: 64 parentheses compile, 65 do not; the same for not and unary minus. */
    int n = 0;
    for (int i = 0; i < MT_JOB_EXPR_MAX_DEPTH; i++)
        text[n++] = '(';
    text[n++] = '1';
    for (int i = 0; i < MT_JOB_EXPR_MAX_DEPTH; i++)
        text[n++] = ')';
    text[n] = '\0';
    cr_assert_eq(eval(text, &oom), 1);
    memmove(text + 1, text, (size_t)n + 1);
    text[0] = '(';
    strcat(text, ")");
    refused(text, "nests more than 64 deep");
    n = 0;
    for (int i = 0; i <= MT_JOB_EXPR_MAX_DEPTH; i++)
        n += snprintf(text + n, sizeof text - (size_t)n, "not ");
    snprintf(text + n, sizeof text - (size_t)n, "True");
    refused(text, "nests more than 64 deep");
    memset(text, '-', MT_JOB_EXPR_MAX_DEPTH + 1);
    snprintf(text + MT_JOB_EXPR_MAX_DEPTH + 1, 4, "1");
    refused(text, "nests more than 64 deep");
    /* Length. */
    memset(text, ' ', sizeof text - 1);
    text[sizeof text - 1] = '\0';
    text[0] = '1';
    refused(text, "longer than 4096 bytes");
    /* A long chain is not nesting: it compiles and evaluates (its depth is bounded by the length). */
    n = snprintf(text, sizeof text, "0");
    while (n < MT_JOB_EXPR_MAX_LEN - 4)
        n += snprintf(text + n, sizeof text - (size_t)n, "+1");
    cr_assert_eq(eval(text, &oom), (n - 1) / 2);
}

/* ------------------------------------------------------------------ */
/* Rules of a loaded configuration                                      */
/* ------------------------------------------------------------------ */

static const char rules_xml[] =
    "<job_conf>\n"                                                                                           /* 1 */
    "  <plugins>\n"                                                                                          /* 2 */
    "    <plugin id=\"local\" type=\"runner\" load=\"galaxy.jobs.runners.local:LocalJobRunner\"/>\n"          /* 3 */
    "    <plugin id=\"slurm\" type=\"runner\" load=\"galaxy.jobs.runners.slurm:SlurmJobRunner\"/>\n"          /* 4 */
    "    <plugin id=\"sge\" type=\"runner\" load=\"galaxy.jobs.runners.drmaa:DRMAAJobRunner\"/>\n"            /* 5 */
    "  </plugins>\n"                                                                                         /* 6 */
    "  <destinations default=\"short\">\n"                                                                   /* 7 */
    "    <destination id=\"short\" runner=\"slurm\">\n"                                                      /* 8 */
    "      <param id=\"walltime\">00:05:00</param>\n"                                                        /* 9 */
    "      <resubmit condition=\"walltime_reached\" destination=\"long\" handler=\"big_handler\"/>\n"        /* 10 */
    "      <resubmit condition=\"memory_limit_reached and attempt &lt; 3\" destination=\"bigmem\"/>\n"       /* 11 */
    "      <resubmit condition=\"unknown_error and attempt &lt;= 5\" delay=\"attempt * 30\"/>\n"             /* 12 */
    "    </destination>\n"                                                                                   /* 13 */
    "    <destination id=\"long\" runner=\"slurm\" tags=\"big\"><param id=\"walltime\">2-00</param>\n"      /* 14 */
    "      <resubmit destination=\"local\" delay=\"10\"/>\n"                                                 /* 15 */
    "      <resubmit condition=\"any_failure\" destination=\"never\"/>\n"                                    /* 16 */
    "    </destination>\n"                                                                                   /* 17 */
    "    <destination id=\"bigmem\" runner=\"slurm\" tags=\"big\">\n"                                        /* 18 */
    "      <param id=\"nativeSpecification\">--mem=64G</param>\n"                                           /* 19 */
    "      <resubmit condition=\"memory_limit_reached\" destination=\"grid\"/>\n"                            /* 20 */
    "      <resubmit condition=\"seconds_running / 0 > 1\" destination=\"local\"/>\n"                        /* 21 */
    "      <resubmit condition=\"seconds_running &gt; 60\" delay=\"-5\"/>\n"                                 /* 22 */
    "    </destination>\n"                                                                                   /* 23 */
    "    <destination id=\"local\" runner=\"local\"/>\n"                                                     /* 24 */
    "    <destination id=\"never\" runner=\"local\"/>\n"                                                     /* 25 */
    "    <destination id=\"grid\" runner=\"sge\"/>\n"                                                        /* 26 */
    "  </destinations>\n"                                                                                    /* 27 */
    "</job_conf>\n";

static mt_job_conf_t *load_rules(void)
{
    mt_job_conf_t *conf;
    cr_assert_eq(mt_job_conf_load_string("rules.xml", rules_xml, strlen(rules_xml), &conf, err, sizeof err), 0, "%s",
                 err);
    return conf;
}

Test(job_resubmit, the_first_rule_that_holds_is_picked)
{
    mt_job_conf_t *conf = load_rules();
    const mt_job_destination_t *shrt = mt_job_conf_find_destination(conf, "short");
    const mt_job_resubmit_t *r = mt_job_resubmit_pick(shrt, &walltime);
    cr_assert_not_null(r);
    cr_assert_eq(r->line, 10);
    cr_assert_str_eq(r->destination, "long");
    cr_assert_str_eq(r->handler, "big_handler");
    cr_assert_eq(mt_job_resubmit_delay(r, &walltime), 0, "no delay");

    r = mt_job_resubmit_pick(shrt, &oom); /* attempt 2 < 3 */
    cr_assert_not_null(r);
    cr_assert_str_eq(r->destination, "bigmem");
    mt_job_failure_t oom3 = oom;
    oom3.attempt = 3;
    cr_assert_null(mt_job_resubmit_pick(shrt, &oom3), "memory at the third attempt: no rule holds, the job fails");

    r = mt_job_resubmit_pick(shrt, &other); /* unknown error, attempt 4 <= 5 */
    cr_assert_not_null(r);
    cr_assert_eq(r->line, 12);
    cr_assert_null(r->destination, "the same destination");
    cr_assert_eq(mt_job_resubmit_delay(r, &other), 120, "attempt * 30");
    mt_job_failure_t other6 = other;
    other6.attempt = 6;
    cr_assert_null(mt_job_resubmit_pick(shrt, &other6));

    mt_job_failure_t nothing = { .attempt = 1 }; /* a failure no flag describes */
    cr_assert_null(mt_job_resubmit_pick(shrt, &nothing));
    mt_job_conf_destroy(conf);
}

Test(job_resubmit, a_rule_without_condition_takes_every_failure)
{
    mt_job_conf_t *conf = load_rules();
    const mt_job_destination_t *lng = mt_job_conf_find_destination(conf, "long");
    const mt_job_failure_t *all[] = { &walltime, &oom, &other };
    for (size_t i = 0; i < 3; i++) {
        const mt_job_resubmit_t *r = mt_job_resubmit_pick(lng, all[i]);
        cr_assert_not_null(r);
        cr_assert_eq(r->line, 15, "the first rule, before any_failure");
        cr_assert_null(r->condition_expr);
        cr_assert_eq(mt_job_resubmit_delay(r, all[i]), 10);
    }
    /* A destination without rules, and NULLs. */
    cr_assert_null(mt_job_resubmit_pick(mt_job_conf_find_destination(conf, "local"), &walltime));
    cr_assert_null(mt_job_resubmit_pick(NULL, &walltime));
    cr_assert_null(mt_job_resubmit_pick(lng, NULL));
    cr_assert_eq(mt_job_resubmit_delay(NULL, &walltime), 0);
    mt_job_conf_destroy(conf);
}

Test(job_resubmit, a_condition_that_cannot_be_evaluated_does_not_hold)
{
    mt_job_conf_t *conf = load_rules();
    const mt_job_destination_t *bigmem = mt_job_conf_find_destination(conf, "bigmem");
    mt_job_failure_t slow = { .unknown_error = true, .attempt = 1, .seconds_running = 61 };
    const mt_job_resubmit_t *r = mt_job_resubmit_pick(bigmem, &slow);
    cr_assert_not_null(r);
    cr_assert_eq(r->line, 22, "line 21 divides by zero: skipped");
    cr_assert_eq(mt_job_resubmit_delay(r, &slow), 0, "a negative delay is none");
    mt_job_conf_destroy(conf);
}

Test(job_resubmit, the_next_attempt_is_routed)
{
    mt_job_conf_t *conf = load_rules();
    const mt_job_destination_t *shrt = mt_job_conf_find_destination(conf, "short");
    mt_job_route_t route;
    /* To the rule's destination, with its own walltime. */
    const mt_job_resubmit_t *r = mt_job_resubmit_pick(shrt, &walltime);
    cr_assert_eq(mt_job_resubmit_route(conf, shrt, r, &route, err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(route.destination, "long");
    cr_assert_str_eq(route.runner_type, "slurm");
    cr_assert_eq(route.walltime_s, 2 * 86400.0);
    /* No destination in the rule: the same one again. */
    r = mt_job_resubmit_pick(shrt, &other);
    cr_assert_eq(mt_job_resubmit_route(conf, shrt, r, &route, err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(route.destination, "short");
    cr_assert_eq(route.walltime_s, 300.0);
    /* To a destination that cannot run here: refused with the reason (warned at start). */
    const mt_job_destination_t *bigmem = mt_job_conf_find_destination(conf, "bigmem");
    r = mt_job_resubmit_pick(bigmem, &oom);
    cr_assert_str_eq(r->destination, "grid");
    cr_assert_eq(mt_job_resubmit_route(conf, bigmem, r, &route, err, sizeof err), -EINVAL);
    cr_assert_str_eq(err, "resubmit to destination 'grid' (runner plugin 'sge', type drmaa), which this muleteer "
                          "cannot run: only the local and slurm runners exist");
    cr_assert_null(route.destination);
    /* A tag picks one of its runnable destinations. */
    mt_job_resubmit_t by_tag = { .destination = "big", .line = 1 };
    cr_assert_eq(mt_job_resubmit_route(conf, shrt, &by_tag, &route, err, sizeof err), 0, "%s", err);
    cr_assert(strcmp(route.destination, "long") == 0 || strcmp(route.destination, "bigmem") == 0, "%s",
              route.destination);
    mt_job_conf_destroy(conf);
}
