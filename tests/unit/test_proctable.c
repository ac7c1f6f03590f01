/*
 * Unit tests for proctable.c: the shared live half, lookups, and channels.
 */
#include <criterion/criterion.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "stack/config.h"
#include "stack/options.h"
#include "stack/pools.h"
#include "stack/proctable.h"

static mt_config_t *cfg;
static mt_proctable_t table;
static char err[512];

static void setup(void)
{
    cfg = mt_config_create();
    mt_config_add_section(cfg, MT_STACK_SECTION, MT_STACK_SECTION_ALIAS, mt_stack_options);
    char *argv[] = {"muleteer", "--processes", "2", "--mules", "3", "--farm", "jobs:3,1", "--server-name", "t"};
    cr_assert_eq(mt_config_load(cfg, 9, argv, err, sizeof err), 0, "%s", err);
    memset(&table, 0, sizeof table);
    cr_assert_eq(mt_pools_build(&table, cfg, err, sizeof err), 0, "%s", err);
    cr_assert_eq(mt_proctable_share(&table), 0);
}

static void teardown(void)
{
    mt_proctable_destroy(&table);
    mt_config_destroy(cfg);
}

TestSuite(proctable, .init = setup, .fini = teardown);

Test(proctable, lookups)
{
    cr_assert_eq(table.nprocs, 1 + 2 + 3);
    cr_assert_eq(mt_proctable_find_mule(&table, 1), (ssize_t)table.first_mule);
    cr_assert_eq(mt_proctable_find_mule(&table, 3), (ssize_t)table.first_mule + 2);
    cr_assert_eq(mt_proctable_find_mule(&table, 0), -1);
    cr_assert_eq(mt_proctable_find_mule(&table, 4), -1);
    cr_assert_eq(mt_proctable_find_server(&table, "t.jobs.1"), (ssize_t)table.first_mule + 2);
    cr_assert_eq(mt_proctable_find_server(&table, "t.jobs.2"), (ssize_t)table.first_mule);
    cr_assert_eq(mt_proctable_find_server(&table, "t.mule.2"), (ssize_t)table.first_mule + 1);
    cr_assert_eq(mt_proctable_find_server(&table, "t.web.3"), -1);
    cr_assert_eq(mt_proctable_find_farm(&table, "jobs"), 0);
    cr_assert_eq(mt_proctable_find_farm(&table, "nope"), -1);
}

Test(proctable, live_half_is_shared_with_children)
{
    atomic_store(&table.procs[1].live->pid, 1234);
    pid_t child = fork();
    cr_assert_geq(child, 0);
    if (child == 0) {
        atomic_fetch_add(&table.procs[1].live->msgs_sent, 5);
        atomic_store(&table.procs[2].live->state, MT_PROC_RUNNING);
        _exit(atomic_load(&table.procs[1].live->pid) == 1234 ? 0 : 1);
    }
    int status;
    waitpid(child, &status, 0);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    cr_assert_eq(atomic_load(&table.procs[1].live->msgs_sent), 5);
    cr_assert_eq(atomic_load(&table.procs[2].live->state), MT_PROC_RUNNING);
    cr_assert_eq(mt_proctable_find_pid(&table, 1234), 1);
    cr_assert_eq(mt_proctable_find_pid(&table, 999999), -1);
}

Test(proctable, pid_in_name_template_comes_from_the_live_half)
{
    snprintf(table.procs[1].live->server_name, sizeof table.procs[1].live->server_name, "t.web.4242");
    cr_assert_str_eq(mt_proctable_server_name(&table, 1), "t.web.4242");
    cr_assert_str_eq(mt_proctable_server_name(&table, 2), "t.web.2");
}

Test(proctable, channels_open_for_every_mule_and_farm)
{
    cr_assert_eq(mt_proctable_open_channels(&table, err, sizeof err), 0, "%s", err);
    for (size_t i = 0; i < table.nmules; i++) {
        const mt_proc_t *p = &table.procs[table.first_mule + i];
        cr_assert_geq(p->channel.send_fd, 0);
        cr_assert_geq(p->channel.recv_fd, 0);
    }
    cr_assert_geq(table.farms[0].channel.recv_fd, 0);
    cr_assert_eq(table.procs[1].channel.send_fd, -1, "web workers have no channel of their own");
}

Test(proctable, names_of_states_and_roles)
{
    cr_assert_str_eq(mt_proc_state_name(MT_PROC_BACKOFF), "respawning");
    cr_assert_str_eq(mt_proc_state_name(MT_PROC_EXTERNAL), "external");
    cr_assert_str_eq(mt_role_name(MT_ROLE_MULE), "mule");
    cr_assert_str_eq(mt_role_name(MT_ROLE_STANDALONE), "standalone");
}

/* mt_proc_beat_stale: times in microseconds of one monotonic clock; the limit 3 s. */
#define S 1000000LL

Test(proctable, a_process_beating_within_the_limit_is_not_stale)
{
    cr_assert_not(mt_proc_beat_stale(100 * S, 90 * S, 102 * S, 3 * S));
    cr_assert_not(mt_proc_beat_stale(100 * S, 90 * S, 103 * S - 1, 3 * S), "just under the limit");
    cr_assert_not(mt_proc_beat_stale(100 * S, 90 * S, 100 * S, 3 * S), "a beat now");
}

Test(proctable, a_process_silent_for_the_limit_is_stale)
{
    cr_assert(mt_proc_beat_stale(100 * S, 90 * S, 103 * S, 3 * S), "exactly the limit");
    cr_assert(mt_proc_beat_stale(100 * S, 90 * S, 160 * S, 3 * S));
}

Test(proctable, a_process_starting_gets_the_limit_from_its_fork)
{
    /* No beat since its fork: measured from the fork, not stale before the limit. */
    cr_assert_not(mt_proc_beat_stale(0, 100 * S, 102 * S, 3 * S));
    cr_assert(mt_proc_beat_stale(0, 100 * S, 103 * S, 3 * S), "never beat within the limit of its fork");
    /* The last beat is its predecessor's (older than the fork): the same as no beat. */
    cr_assert_not(mt_proc_beat_stale(95 * S, 100 * S, 102 * S, 3 * S));
    cr_assert(mt_proc_beat_stale(95 * S, 100 * S, 103 * S, 3 * S));
    /* Once it beats, the beat counts, not the fork. */
    cr_assert_not(mt_proc_beat_stale(104 * S, 100 * S, 106 * S, 3 * S));
    cr_assert(mt_proc_beat_stale(104 * S, 100 * S, 107 * S, 3 * S));
}

Test(proctable, no_limit_or_no_times_is_never_stale)
{
    cr_assert_not(mt_proc_beat_stale(100 * S, 90 * S, 1000 * S, 0), "limit 0: off");
    cr_assert_not(mt_proc_beat_stale(100 * S, 90 * S, 1000 * S, -1));
    cr_assert_not(mt_proc_beat_stale(0, 0, 1000 * S, 3 * S), "never forked, never beat: nothing to measure");
    cr_assert(mt_proc_beat_stale(100 * S, 0, 104 * S, 3 * S), "a beat without a fork time still counts");
}

Test(proctable, which_slots_have_a_heartbeat)
{
    cr_assert(mt_proc_beats(&table.procs[0]), "the master");
    cr_assert(mt_proc_beats(&table.procs[table.first_web]), "a web worker");
    cr_assert(mt_proc_beats(&table.procs[table.first_mule]), "a built-in mule");
    mt_proc_t external = table.procs[table.first_mule];
    external.program = "/bin/true";
    cr_assert_not(mt_proc_beats(&external), "a mule that execs a program cannot beat");
    mt_proc_t standalone = {.role = MT_ROLE_STANDALONE};
    cr_assert_not(mt_proc_beats(&standalone), "a standalone listed in a stack's table beats elsewhere");
}

Test(proctable, the_live_half_starts_with_no_beat)
{
    for (size_t i = 0; i < table.nprocs; i++) {
        cr_assert_eq(atomic_load(&table.procs[i].live->beat_mono_us), 0);
        cr_assert_eq(atomic_load(&table.procs[i].live->forked_mono_us), 0);
    }
}
