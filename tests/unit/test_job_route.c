/*
 * Unit tests for job_route.c: where a job goes (the tool's destination,
 * the default, a tag's runnable members), the refusal of a destination
 * that cannot run here with its reason (a runner plugin that is neither
 * local nor slurm, or not declared, dynamic rules, containers), a slurm
 * destination's native specification and walltime, a job's stored
 * destination, a resubmit's destination, and the start-up warnings with
 * FILE:LINE.
 */
#include <criterion/criterion.h>
#include <errno.h>
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
    "    <plugin id=\"local\" type=\"runner\" load=\"galaxy.jobs.runners.local:LocalJobRunner\"/>"
    "<plugin id=\"sge\" type=\"runner\" load=\"galaxy.jobs.runners.drmaa:DRMAAJobRunner\"/>\n"         /* 3 */
    "    <plugin id=\"slurm\" type=\"runner\" load=\"galaxy.jobs.runners.slurm:SlurmJobRunner\"/>\n"    /* 4 */
    "  </plugins>\n"                                                                                   /* 5 */
    "  <destinations default=\"grid\">\n"                                                              /* 6 */
    "    <destination id=\"grid\" runner=\"sge\" tags=\"mixed\"/>\n"                                   /* 7 */
    "    <destination id=\"local\" runner=\"local\" tags=\"mixed\"/>\n"                                /* 8 */
    "    <destination id=\"multi\" runner=\"local\"><param id=\"local_slots\">4</param></destination>\n" /* 9 */
    "    <destination id=\"docker\" runner=\"local\"><param id=\"docker_enabled\">True</param></destination>\n" /* 10 */
    "    <destination id=\"typo\" runner=\"drmma\" tags=\"bad\"/>\n"                                   /* 11 */
    "    <destination id=\"rules\" runner=\"dynamic\"><param id=\"function\">f</param></destination>\n" /* 12 */
    "    <destination id=\"cluster\" runner=\"slurm\" tags=\"hpc\">\n"                                 /* 13 */
    "      <param id=\"nativeSpecification\">--partition=short --mem=4G</param>\n"                     /* 14 */
    "      <param id=\"walltime\">5</param>\n"                                                         /* 15 */
    "      <param id=\"local_slots\">8</param>\n"                                                      /* 16 */
    "      <resubmit condition=\"walltime_reached\" destination=\"long\"/>\n"                          /* 17 */
    "      <resubmit condition=\"memory_limit_reached\" destination=\"grid\"/>\n"                     /* 18 */
    "      <resubmit condition=\"unknown_error\" destination=\"bad\"/>\n"                              /* 19 */
    "    </destination>\n"                                                                             /* 20 */
    "    <destination id=\"long\" runner=\"slurm\" tags=\"hpc\"><param id=\"walltime\">1-00</param></destination>\n" /* 21 */
    "    <destination id=\"plain\" runner=\"slurm\"/>\n"                                               /* 22 */
    "    <destination id=\"boxed\" runner=\"slurm\"><param id=\"singularity_enabled\">true</param></destination>\n" /* 23 */
    "  </destinations>\n"                                                                              /* 24 */
    "  <tools>\n"                                                                                      /* 25 */
    "    <tool id=\"wc\" destination=\"multi\"/>\n"                                                    /* 26 */
    "    <tool id=\"cat\" destination=\"mixed\"/>\n"                                                   /* 27 */
    "    <tool id=\"echo\" destination=\"docker\"/>\n"                                                 /* 28 */
    "    <tool id=\"sort\" destination=\"bad\"/>\n"                                                    /* 29 */
    "    <tool id=\"rule\" destination=\"rules\"/>\n"                                                  /* 30 */
    "    <tool id=\"bwa\" destination=\"cluster\"/>\n"                                                 /* 31 */
    "    <tool id=\"bowtie\" destination=\"long\"/>\n"                                                 /* 32 */
    "    <tool id=\"samtools\" destination=\"plain\"/>\n"                                              /* 33 */
    "    <tool id=\"apptainer\" destination=\"boxed\"/>\n"                                             /* 34 */
    "  </tools>\n"                                                                                     /* 35 */
    "  <limits><limit type=\"walltime\">00:10:00</limit></limits>\n"                                   /* 36 */
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
    cr_assert_str_eq(err, "tool 'X' goes to destination 'grid' (runner plugin 'sge', type drmaa), which this "
                          "muleteer cannot run: only the local and slurm runners exist; change the destination or map "
                          "the tool to a local or slurm one");
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
        cr_assert_str_eq(r.destination, "local", "the tag's sge member was picked");
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
    cr_assert_eq(mt_job_route_stored(conf, "wc", "grid", &r, err, sizeof err), -1);
    cr_assert(strstr(err, "only the local and slurm runners exist"), "%s", err);
    cr_assert_eq(mt_job_route_stored(conf, "wc", "cluster", &r, err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(r.runner_type, "slurm");
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
    cr_assert_eq(c.n, 8, "grid, docker, typo, rules, boxed, the default, and cluster's resubmits to grid and bad");
    cr_assert_str_eq(c.lines[0], "site.xml:7: destination 'grid' (runner plugin 'sge', type drmaa: only the local "
                                 "and slurm runners exist) cannot run here; jobs routed to it are refused");
    cr_assert(strstr(c.lines[1], "site.xml:10: destination 'docker'"), "%s", c.lines[1]);
    cr_assert(strstr(c.lines[2], "site.xml:11: destination 'typo' (runner plugin 'drmma': no such plugin is declared)"),
              "%s", c.lines[2]);
    cr_assert(strstr(c.lines[3], "site.xml:12: destination 'rules'"), "%s", c.lines[3]);
    cr_assert_str_eq(c.lines[4], "site.xml:23: destination 'boxed' (runner plugin 'slurm', type slurm: "
                                 "singularity_enabled is set and jobs are not run in containers here) cannot run here; "
                                 "jobs routed to it are refused");
    cr_assert_str_eq(c.lines[5], "site.xml:6: the default destination 'grid' cannot run here: every job of a tool "
                                 "not mapped to a local or slurm destination is refused");
    /* A runnable destination's resubmit rule to one that cannot run (17: long, a slurm one, is fine). */
    cr_assert_str_eq(c.lines[6], "site.xml:18: destination 'cluster': resubmit to 'grid' (runner plugin 'sge', type "
                                 "drmaa), which this muleteer cannot run: only the local and slurm runners exist; a job "
                                 "this rule applies to stays failed");
    cr_assert(strstr(c.lines[7], "site.xml:19: destination 'cluster': resubmit to 'bad' (a tag), which this muleteer "
                                 "cannot run: none of its destinations can run here (typo: runner plugin 'drmma': no "
                                 "such plugin is declared); a job this rule applies to stays failed"), "%s", c.lines[7]);
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
    cr_assert_eq(c.n, 1, "walltime is enforced; resubmit is done: only cluster's local_slots: %s", c.lines[0]);
    cr_assert_str_eq(c.lines[0], "site.xml:13: destination 'cluster': params read but not used by the slurm runner "
                                 "here: local_slots");
    c.n = 0;
    mt_job_conf_destroy(conf);
    conf = load("n.xml", "<job_conf><limits>\n<limit type=\"anonymous_user_concurrent_jobs\">1</limit>\n"
                         "</limits></job_conf>");
    mt_job_conf_warn_unhonoured(conf, collect, &c);
    cr_assert_eq(c.n, 1);
    cr_assert_str_eq(c.lines[0], "n.xml:2: limits not enforced here (only walltime is): anonymous_user_concurrent_jobs "
                                 "(line 2)");
    mt_job_conf_destroy(conf);
}

/* ------------------------------------------------------------------ */
/* Slurm destinations                                                   */
/* ------------------------------------------------------------------ */

Test(job_route, a_slurm_destination_runs_with_its_native_specification_and_walltime)
{
    mt_job_conf_t *conf = load("site.xml", site_xml);
    mt_job_route_t r;
    cr_assert_eq(mt_job_route(conf, "bwa", &r, err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(r.destination, "cluster");
    cr_assert_str_eq(r.runner, "slurm");
    cr_assert_str_eq(r.runner_type, MT_JOB_RUNNER_SLURM);
    cr_assert_str_eq(r.native_specification, "--partition=short --mem=4G");
    cr_assert_eq(r.walltime_s, 300.0, "its walltime (5 min) is below the limit (10 min): it applies");
    cr_assert_eq(r.slots, 0, "local_slots is the local runner's");
    cr_assert_eq(r.dest, mt_job_conf_find_destination(conf, "cluster"));

    cr_assert_eq(mt_job_route(conf, "bowtie", &r, err, sizeof err), 0, "%s", err);
    cr_assert_eq(r.walltime_s, 600.0, "a day is above the limit: the limit applies");
    cr_assert_null(r.native_specification);
    cr_assert_eq(mt_job_route(conf, "samtools", &r, err, sizeof err), 0, "%s", err);
    cr_assert_eq(r.walltime_s, 600.0, "no walltime of its own: the limit");

    /* Containers stay refused on a slurm destination too. */
    cr_assert_eq(mt_job_route(conf, "apptainer", &r, err, sizeof err), -1);
    cr_assert(strstr(err, "(runner plugin 'slurm', type slurm), which this muleteer cannot run: singularity_enabled is "
                          "set and jobs are not run in containers here"), "%s", err);
    /* A local destination gets no native specification. */
    cr_assert_eq(mt_job_route(conf, "wc", &r, err, sizeof err), 0, "%s", err);
    cr_assert_null(r.native_specification);
    cr_assert_eq(r.walltime_s, 600.0);
    mt_job_conf_destroy(conf);

    /* Without a walltime limit, the destination's own. */
    conf = load("w.yml", "runners:\n  slurm: {load: 'galaxy.jobs.runners.slurm:SlurmJobRunner', workers: 2}\n"
                         "execution:\n  environments:\n    c:\n      runner: slurm\n      walltime: '2-00:00:00'\n"
                         "      native_specification: -p long\n");
    cr_assert_eq(mt_job_route(conf, "any", &r, err, sizeof err), 0, "%s", err);
    cr_assert_eq(r.walltime_s, 2 * 86400.0);
    cr_assert_str_eq(r.native_specification, "-p long");
    cr_assert_eq(mt_job_runner_workers(mt_job_conf_find_runner(conf, r.runner)), 2);
    mt_job_conf_destroy(conf);
}

Test(job_route, other_cluster_runners_stay_refused)
{
    static const char *const loads[][2] = {
        { "galaxy.jobs.runners.drmaa:DRMAAJobRunner", "drmaa" },
        { "galaxy.jobs.runners.pulsar:PulsarRESTJobRunner", "pulsar" },
        { "galaxy.jobs.runners.condor:CondorJobRunner", "condor" },
        { "galaxy.jobs.runners.pbs:PBSJobRunner", "pbs" },
    };
    for (size_t i = 0; i < sizeof loads / sizeof loads[0]; i++) {
        char text[512], expected[256];
        snprintf(text, sizeof text, "runners:\n  r:\n    load: %s\nexecution:\n  environments:\n    d: {runner: r}\n",
                 loads[i][0]);
        mt_job_conf_t *conf = load("o.yml", text);
        mt_job_route_t r;
        cr_assert_eq(mt_job_route(conf, "t", &r, err, sizeof err), -1, "%s ran", loads[i][1]);
        snprintf(expected, sizeof expected, "(runner plugin 'r', type %s), which this muleteer cannot run: only the "
                                            "local and slurm runners exist", loads[i][1]);
        cr_assert(strstr(err, expected), "%s", err);
        mt_job_conf_destroy(conf);
    }
}

Test(job_route, a_destination_by_id_or_tag_for_a_resubmit)
{
    mt_job_conf_t *conf = load("site.xml", site_xml);
    mt_job_route_t r;
    cr_assert_eq(mt_job_route_destination(conf, "long", &r, err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(r.destination, "long");
    cr_assert_str_eq(r.runner_type, "slurm");
    cr_assert_eq(mt_job_route_destination(conf, "multi", &r, err, sizeof err), 0, "%s", err);
    cr_assert_eq(r.slots, 4);
    /* A tag: one of its runnable members (hpc: cluster and long). */
    bool seen_cluster = false, seen_long = false;
    for (int i = 0; i < 200; i++) {
        cr_assert_eq(mt_job_route_destination(conf, "hpc", &r, err, sizeof err), 0, "%s", err);
        seen_cluster = seen_cluster || strcmp(r.destination, "cluster") == 0;
        seen_long = seen_long || strcmp(r.destination, "long") == 0;
    }
    cr_assert(seen_cluster && seen_long, "a tag picks among its members");
    cr_assert_eq(mt_job_route_destination(conf, "mixed", &r, err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(r.destination, "local", "grid (sge) cannot run");
    /* Refusals. */
    cr_assert_eq(mt_job_route_destination(conf, "grid", &r, err, sizeof err), -EINVAL);
    cr_assert_str_eq(err, "resubmit to destination 'grid' (runner plugin 'sge', type drmaa), which this muleteer "
                          "cannot run: only the local and slurm runners exist");
    cr_assert_null(r.destination, "zeroed on failure");
    cr_assert_eq(mt_job_route_destination(conf, "bad", &r, err, sizeof err), -EINVAL);
    cr_assert(strstr(err, "resubmit to destination 'bad' (a tag), which this muleteer cannot run: none of its "
                          "destinations can run here"), "%s", err);
    cr_assert_eq(mt_job_route_destination(conf, "nowhere", &r, err, sizeof err), -EINVAL);
    cr_assert_str_eq(err, "resubmit to 'nowhere', which is neither a destination nor a destination tag");
    mt_job_conf_destroy(conf);
}
