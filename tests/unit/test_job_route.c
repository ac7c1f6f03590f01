/*
 * Unit tests for job_route.c: where a job goes (the tool's destination,
 * the default, a tag's runnable members), the refusal of a destination
 * that cannot run here with its reason (a runner plugin that is not local
 * or not declared, dynamic rules, containers), a job's stored destination,
 * and the start-up warnings with FILE:LINE.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/model/job_conf.h"
#include "app/model/job_route.h"

static char err[1024];

static mt_job_conf_t *load(const char *name, const char *text)
{
    mt_job_conf_t *conf;
    cr_assert_eq(mt_job_conf_load_string(name, text, strlen(text), &conf, err, sizeof err), 0, "%s", err);
    return conf;
}

static const char site_xml[] =
    "<job_conf>\n"                                                                                     /* 1 */
    "  <plugins>\n"                                                                                    /* 2 */
    "    <plugin id=\"local\" type=\"runner\" load=\"galaxy.jobs.runners.local:LocalJobRunner\"/>\n"    /* 3 */
    "    <plugin id=\"slurm\" type=\"runner\" load=\"galaxy.jobs.runners.slurm:SlurmJobRunner\"/>\n"    /* 4 */
    "  </plugins>\n"                                                                                   /* 5 */
    "  <destinations default=\"cluster\">\n"                                                           /* 6 */
    "    <destination id=\"cluster\" runner=\"slurm\" tags=\"mixed\"/>\n"                              /* 7 */
    "    <destination id=\"local\" runner=\"local\" tags=\"mixed\"/>\n"                                /* 8 */
    "    <destination id=\"multi\" runner=\"local\"><param id=\"local_slots\">4</param></destination>\n" /* 9 */
    "    <destination id=\"docker\" runner=\"local\"><param id=\"docker_enabled\">True</param></destination>\n" /* 10 */
    "    <destination id=\"typo\" runner=\"drmma\" tags=\"bad\"/>\n"                                   /* 11 */
    "    <destination id=\"rules\" runner=\"dynamic\"><param id=\"function\">f</param></destination>\n" /* 12 */
    "  </destinations>\n"                                                                              /* 13 */
    "  <tools>\n"                                                                                      /* 14 */
    "    <tool id=\"wc\" destination=\"multi\"/>\n"                                                    /* 15 */
    "    <tool id=\"cat\" destination=\"mixed\"/>\n"                                                   /* 16 */
    "    <tool id=\"echo\" destination=\"docker\"/>\n"                                                 /* 17 */
    "    <tool id=\"sort\" destination=\"bad\"/>\n"                                                    /* 18 */
    "    <tool id=\"rule\" destination=\"rules\"/>\n"                                                  /* 19 */
    "  </tools>\n"                                                                                     /* 20 */
    "  <limits><limit type=\"walltime\">00:10:00</limit></limits>\n"                                   /* 21 */
    "</job_conf>\n";

Test(job_route, no_configuration_runs_locally_without_a_destination)
{
    mt_job_route_t r;
    cr_assert_eq(mt_job_route(NULL, "anything", &r, err, sizeof err), 0);
    cr_assert_null(r.destination);
    cr_assert_null(r.dest);
    cr_assert_str_eq(r.runner_type, "local");
    cr_assert_eq(r.walltime_s, 0.0);
    /* Handlers only, no destinations: the same. */
    mt_job_conf_t *conf = load("h.yml", "handling:\n  handlers:\n    h1:\n");
    cr_assert_eq(mt_job_route(conf, "wc", &r, err, sizeof err), 0);
    cr_assert_null(r.destination);
    mt_job_conf_destroy(conf);
}

Test(job_route, a_cluster_default_refuses_with_the_reason)
{
    mt_job_conf_t *conf = load("site.xml", site_xml);
    mt_job_route_t r;
    cr_assert_eq(mt_job_route(conf, "X", &r, err, sizeof err), -1);
    cr_assert_str_eq(err, "tool 'X' goes to destination 'cluster' (runner plugin 'slurm', type slurm), which this "
                          "muleteer cannot run: only the local runner exists; change the destination or map the tool "
                          "to a local one");
    cr_assert_null(r.destination, "zeroed on failure");
    mt_job_conf_destroy(conf);
}

Test(job_route, a_local_destination_gives_its_params_and_the_walltime_limit)
{
    mt_job_conf_t *conf = load("site.xml", site_xml);
    mt_job_route_t r;
    cr_assert_eq(mt_job_route(conf, "wc", &r, err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(r.destination, "multi");
    cr_assert_str_eq(r.runner, "local");
    cr_assert_str_eq(r.runner_type, "local");
    cr_assert_eq(r.slots, 4);
    cr_assert_eq(r.walltime_s, 600.0);
    cr_assert_eq(r.dest, mt_job_conf_find_destination(conf, "multi"));
    mt_job_conf_destroy(conf);
}

Test(job_route, a_tag_picks_only_among_destinations_that_can_run)
{
    mt_job_conf_t *conf = load("site.xml", site_xml);
    for (int i = 0; i < 50; i++) {
        mt_job_route_t r;
        cr_assert_eq(mt_job_route(conf, "cat", &r, err, sizeof err), 0, "%s", err);
        cr_assert_str_eq(r.destination, "local", "the tag's slurm member was picked");
    }
    mt_job_route_t r;
    cr_assert_eq(mt_job_route(conf, "sort", &r, err, sizeof err), -1);
    cr_assert(strstr(err, "tool 'sort' goes to destination 'bad' (a tag), which this muleteer cannot run: none of "
                          "its destinations can run here (typo: runner plugin 'drmma': no such plugin is declared)"),
              "%s", err);
    mt_job_conf_destroy(conf);
}

Test(job_route, containers_and_dynamic_rules_are_refused)
{
    mt_job_conf_t *conf = load("site.xml", site_xml);
    mt_job_route_t r;
    cr_assert_eq(mt_job_route(conf, "echo", &r, err, sizeof err), -1);
    cr_assert(strstr(err, "(runner plugin 'local', type local), which this muleteer cannot run: docker_enabled is set "
                          "and jobs are not run in containers here"), "%s", err);
    cr_assert_eq(mt_job_route(conf, "rule", &r, err, sizeof err), -1);
    cr_assert(strstr(err, "(runner plugin 'dynamic', type dynamic), which this muleteer cannot run: Galaxy's dynamic "
                          "rules (Python) are not evaluated here"), "%s", err);
    mt_job_conf_destroy(conf);
}

Test(job_route, a_stored_destination_is_used_and_checked)
{
    mt_job_conf_t *conf = load("site.xml", site_xml);
    mt_job_route_t r;
    /* The job's own destination, not the tool's mapping. */
    cr_assert_eq(mt_job_route_stored(conf, "wc", "local", &r, err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(r.destination, "local");
    cr_assert_eq(r.slots, 0);
    cr_assert_eq(mt_job_route_stored(conf, "wc", NULL, &r, err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(r.destination, "multi");
    cr_assert_eq(mt_job_route_stored(conf, "wc", "gone", &r, err, sizeof err), -1);
    cr_assert_str_eq(err, "destination 'gone' of this job is no longer in the job configuration");
    cr_assert_eq(mt_job_route_stored(conf, "wc", "cluster", &r, err, sizeof err), -1);
    cr_assert(strstr(err, "only the local runner exists"), "%s", err);
    mt_job_conf_destroy(conf);
}

typedef struct {
    char lines[16][512];
    int n;
} collected_t;

static void collect(const char *msg, void *data)
{
    collected_t *c = data;
    cr_assert_lt(c->n, 16);
    snprintf(c->lines[c->n++], sizeof c->lines[0], "%s", msg);
}

Test(job_route, start_up_names_every_destination_that_cannot_run)
{
    mt_job_conf_t *conf = load("site.xml", site_xml);
    collected_t c = {0};
    mt_job_conf_warn_unrunnable(conf, collect, &c);
    cr_assert_eq(c.n, 5, "cluster, docker, typo, rules, and the default");
    cr_assert_str_eq(c.lines[0], "site.xml:7: destination 'cluster' (runner plugin 'slurm', type slurm: only the local "
                                 "runner exists) cannot run here; jobs routed to it are refused");
    cr_assert(strstr(c.lines[1], "site.xml:10: destination 'docker'"), "%s", c.lines[1]);
    cr_assert(strstr(c.lines[2], "site.xml:11: destination 'typo' (runner plugin 'drmma': no such plugin is declared)"),
              "%s", c.lines[2]);
    cr_assert(strstr(c.lines[3], "site.xml:12: destination 'rules'"), "%s", c.lines[3]);
    cr_assert_str_eq(c.lines[4], "site.xml:6: the default destination 'cluster' cannot run here: every job of a tool "
                                 "not mapped to a local destination is refused");
    mt_job_conf_destroy(conf);

    c.n = 0;
    mt_job_conf_warn_unrunnable(NULL, collect, &c);
    conf = load("l.yml", "runners:\n  local: {load: galaxy.jobs.runners.local:LocalJobRunner}\n"
                         "execution:\n  environments:\n    local: {runner: local}\n");
    mt_job_conf_warn_unrunnable(conf, collect, &c);
    cr_assert_eq(c.n, 0, "a local-only site gets no warning: %s", c.lines[0]);
    mt_job_conf_destroy(conf);
}

Test(job_route, start_up_lists_what_is_accepted_but_not_done)
{
    mt_job_conf_t *conf = load("site.xml", site_xml);
    collected_t c = {0};
    mt_job_conf_warn_unhonoured(conf, collect, &c);
    cr_assert_eq(c.n, 0, "walltime is enforced; nothing else is left undone: %s", c.lines[0]);
    mt_job_conf_destroy(conf);
    conf = load("n.xml", "<job_conf><limits>\n<limit type=\"anonymous_user_concurrent_jobs\">1</limit>\n"
                         "</limits></job_conf>");
    mt_job_conf_warn_unhonoured(conf, collect, &c);
    cr_assert_eq(c.n, 1);
    cr_assert_str_eq(c.lines[0], "n.xml:2: limits not enforced here (only walltime is): anonymous_user_concurrent_jobs "
                                 "(line 2)");
    mt_job_conf_destroy(conf);
}
