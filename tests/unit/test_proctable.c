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
