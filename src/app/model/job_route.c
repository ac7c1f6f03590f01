/*
 * job_route: a job's destination, and whether it can run here (see
 * job_route.h). Galaxy's order: the tool's own destination, else the
 * default; either may be a tag, which stands for the destinations carrying
 * it. "Can run here" is: the destination's runner plugin is declared, its
 * type is local or slurm, and it asks for no container (docker_enabled,
 * singularity_enabled), which neither runner here provides.
 */
#include "app/model/job_route.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "app/model/job_resubmit.h"
#include "common/message.h"

static bool mt__truthy(const char *v)
{
    if (!v)
        return false;
    while (*v == ' ' || *v == '\t' || *v == '\n')
        v++;
    static const char *const yes[] = { "true", "yes", "on", "y", "t", "1" };
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        size_t n = strlen(yes[i]);
        if (strncasecmp(v, yes[i], n) == 0 && (v[n] == '\0' || v[n] == ' ' || v[n] == '\n' || v[n] == '\t'))
            return true;
    }
    return false;
}

bool mt_job_destination_runnable(const mt_job_conf_t *conf, const mt_job_destination_t *dest, char *why,
                                 size_t whylen)
{
    const char *plugin = mt_job_destination_runner(dest);
    const mt_job_runner_t *runner = mt_job_conf_find_runner(conf, plugin);
    if (!runner) {
        snprintf(why, whylen, "runner plugin '%s': no such plugin is declared%s", plugin,
                 mt_job_conf_runner_count(conf) ? "" : " (there are no runner plugins)");
        return false;
    }
    const char *type = mt_job_runner_type(runner);
    if (strcmp(type, MT_JOB_RUNNER_LOCAL) != 0 && strcmp(type, MT_JOB_RUNNER_SLURM) != 0) {
        if (strcmp(type, "dynamic") == 0)
            snprintf(why, whylen, "runner plugin '%s', type dynamic: Galaxy's dynamic rules (Python) are not "
                     "evaluated here", plugin);
        else
            snprintf(why, whylen, "runner plugin '%s', type %s: only the local and slurm runners exist", plugin, type);
        return false;
    }
    static const char *const containers[] = { "docker_enabled", "singularity_enabled" };
    for (size_t i = 0; i < 2; i++) {
        if (mt__truthy(mt_job_destination_param(dest, containers[i]))) {
            snprintf(why, whylen, "runner plugin '%s', type %s: %s is set and jobs are not run in containers here",
                     plugin, type, containers[i]);
            return false;
        }
    }
    return true;
}

static void mt__fill(const mt_job_conf_t *conf, const mt_job_destination_t *dest, mt_job_route_t *out)
{
    memset(out, 0, sizeof *out);
    out->walltime_s = mt_job_conf_walltime_limit(conf);
    if (!dest) {
        out->runner = MT_JOB_RUNNER_LOCAL;
        out->runner_type = MT_JOB_RUNNER_LOCAL;
        return;
    }
    out->destination = mt_job_destination_id(dest);
    out->dest = dest;
    out->runner = mt_job_destination_runner(dest);
    out->runner_type = mt_job_runner_type(mt_job_conf_find_runner(conf, out->runner));
    if (strcmp(out->runner_type, MT_JOB_RUNNER_SLURM) == 0) {
        double own = mt_job_destination_walltime(dest);
        if (own > 0 && (out->walltime_s == 0 || own < out->walltime_s))
            out->walltime_s = own; /* the smaller applies */
        out->native_specification = mt_job_destination_native_specification(dest);
    } else {
        out->slots = mt_job_destination_slots(dest);
    }
}

/*
 * why is "WHAT: REASON" (mt_job_destination_runnable). tool_id NULL: a
 * resubmit rule's destination.
 */
static int mt__refuse(char *err, size_t errlen, const char *tool_id, const char *dest_id, const char *why)
{
    const char *colon = strstr(why, ": ");
    int what_len = colon ? (int)(colon - why) : (int)strlen(why);
    const char *reason = colon ? colon + 2 : "it cannot run here";
    if (tool_id)
        snprintf(err, errlen,
                 "tool '%s' goes to destination '%s' (%.*s), which this muleteer cannot run: %s; change the "
                 "destination or map the tool to a local or slurm one",
                 tool_id, dest_id, what_len, why, reason);
    else
        snprintf(err, errlen, "resubmit to destination '%s' (%.*s), which this muleteer cannot run: %s", dest_id,
                 what_len, why, reason);
    mt_message_one_line(err, errlen);
    return -1;
}

/* Route to `target`, a destination id or tag. */
static int mt__route_to(const mt_job_conf_t *conf, const char *tool_id, const char *target, mt_job_route_t *out,
                        char *err, size_t errlen)
{
    char why[512];
    const mt_job_destination_t *dest = mt_job_conf_find_destination(conf, target);
    if (dest) {
        if (!mt_job_destination_runnable(conf, dest, why, sizeof why)) {
            memset(out, 0, sizeof *out);
            return mt__refuse(err, errlen, tool_id, target, why);
        }
        mt__fill(conf, dest, out);
        return 0;
    }
    /* A tag: one of its runnable destinations, at random (Galaxy picks among all of them). */
    size_t count = 0, n = mt_job_conf_destination_count(conf);
    const mt_job_destination_t *first_bad = NULL;
    for (size_t i = 0; i < n; i++) {
        const mt_job_destination_t *d = mt_job_conf_destination_at(conf, i);
        if (!mt_job_destination_has_tag(d, target))
            continue;
        if (mt_job_destination_runnable(conf, d, why, sizeof why))
            count++;
        else if (!first_bad)
            first_bad = d;
    }
    if (count == 0) {
        memset(out, 0, sizeof *out);
        if (!first_bad) { /* checked at load: cannot happen with a loaded configuration */
            if (tool_id)
                snprintf(err, errlen, "tool '%s' goes to '%s', which is neither a destination nor a destination tag",
                         tool_id, target);
            else
                snprintf(err, errlen, "resubmit to '%s', which is neither a destination nor a destination tag", target);
            mt_message_one_line(err, errlen);
            return -1;
        }
        mt_job_destination_runnable(conf, first_bad, why, sizeof why);
        char tagged[700];
        snprintf(tagged, sizeof tagged, "a tag: none of its destinations can run here (%s: %s)",
                 mt_job_destination_id(first_bad), why);
        return mt__refuse(err, errlen, tool_id, target, tagged);
    }
    size_t pick = (size_t)random() % count;
    for (size_t i = 0; i < n; i++) {
        const mt_job_destination_t *d = mt_job_conf_destination_at(conf, i);
        if (mt_job_destination_has_tag(d, target) && mt_job_destination_runnable(conf, d, why, sizeof why) &&
            pick-- == 0) {
            mt__fill(conf, d, out);
            return 0;
        }
    }
    return -1; /* unreachable: count > pick */
}

int mt_job_route(const mt_job_conf_t *conf, const char *tool_id, mt_job_route_t *out, char *err, size_t errlen)
{
    if (mt_job_conf_destination_count(conf) == 0) {
        mt__fill(conf, NULL, out);
        return 0;
    }
    const char *target = mt_job_conf_tool_destination(conf, tool_id, NULL);
    if (!target)
        target = mt_job_conf_default_destination(conf, NULL);
    return mt__route_to(conf, tool_id ? tool_id : "", target, out, err, errlen);
}

int mt_job_route_destination(const mt_job_conf_t *conf, const char *id_or_tag, mt_job_route_t *out, char *err,
                             size_t errlen)
{
    return mt__route_to(conf, NULL, id_or_tag, out, err, errlen) < 0 ? -EINVAL : 0;
}

int mt_job_route_stored(const mt_job_conf_t *conf, const char *tool_id, const char *destination,
                        mt_job_route_t *out, char *err, size_t errlen)
{
    if (!destination)
        return mt_job_route(conf, tool_id, out, err, errlen);
    if (!mt_job_conf_find_destination(conf, destination)) {
        memset(out, 0, sizeof *out);
        snprintf(err, errlen, "destination '%s' of this job is no longer in the job configuration", destination);
        mt_message_one_line(err, errlen);
        return -1;
    }
    return mt__route_to(conf, tool_id ? tool_id : "", destination, out, err, errlen);
}

void mt_job_conf_warn_unrunnable(const mt_job_conf_t *conf, void (*warn)(const char *msg, void *data), void *data)
{
    char why[512], msg[1024];
    size_t n = mt_job_conf_destination_count(conf);
    for (size_t i = 0; i < n; i++) {
        const mt_job_destination_t *d = mt_job_conf_destination_at(conf, i);
        if (mt_job_destination_runnable(conf, d, why, sizeof why))
            continue;
        mt_message_format_at(msg, sizeof msg, mt_job_conf_file(conf), mt_job_destination_line(d),
                             "destination '%s' (%s) cannot run here; jobs routed to it are refused",
                             mt_job_destination_id(d), why);
        warn(msg, data);
    }
    int line;
    const char *dflt = mt_job_conf_default_destination(conf, &line);
    mt_job_route_t route;
    if (dflt && mt_job_route(conf, NULL, &route, why, sizeof why) < 0) {
        mt_message_format_at(msg, sizeof msg, mt_job_conf_file(conf), line,
                             "the default destination '%s' cannot run here: every job of a tool not mapped to a "
                             "local or slurm destination is refused", dflt);
        warn(msg, data);
    }
    /* Resubmit rules of the destinations that run, to a destination that cannot. */
    for (size_t i = 0; i < n; i++) {
        const mt_job_destination_t *d = mt_job_conf_destination_at(conf, i);
        if (!mt_job_destination_runnable(conf, d, why, sizeof why))
            continue;
        const mt_job_resubmit_t *rules;
        size_t nrules = mt_job_destination_resubmits(d, &rules);
        for (size_t k = 0; k < nrules; k++) {
            char reason[768];
            if (!rules[k].destination ||
                mt_job_route_destination(conf, rules[k].destination, &route, reason, sizeof reason) == 0)
                continue;
            /* reason: "resubmit to destination 'X' (WHAT), which this muleteer cannot run: REASON" */
            const char *what = strchr(reason, '(');
            mt_message_format_at(msg, sizeof msg, mt_job_conf_file(conf), rules[k].line,
                                 "destination '%s': resubmit to '%s' %s; a job this rule applies to stays failed",
                                 mt_job_destination_id(d), rules[k].destination, what ? what : reason);
            warn(msg, data);
        }
    }
}

void mt_job_conf_warn_unhonoured(const mt_job_conf_t *conf, void (*notice)(const char *msg, void *data), void *data)
{
    size_t n = mt_job_conf_notice_count(conf);
    for (size_t i = 0; i < n; i++)
        notice(mt_job_conf_notice(conf, i), data);
}
