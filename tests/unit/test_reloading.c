/*
 * Unit tests for mt_stack_reloading (proctable.c): a reload's stop is told
 * from the stack's own stop by the flag the master sets in the child's
 * shared live slot before its SIGTERM, and only the child of that slot sees it.
 */
#include <criterion/criterion.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "stack/config.h"
#include "stack/options.h"
#include "stack/pools.h"
#include "stack/proctable.h"
#include "stack/stack.h"

static mt_config_t *cfg;
static mt_stack_t stack;
static char err[512];

static void setup(void)
{
    cfg = mt_config_create();
    mt_config_add_section(cfg, MT_STACK_SECTION, MT_STACK_SECTION_ALIAS, mt_stack_options);
    char *argv[] = {"muleteer", "--processes", "2", "--mules", "2", "--farm", "job-handlers:1,2"};
    cr_assert_eq(mt_config_load(cfg, 7, argv, err, sizeof err), 0, "%s", err);
    memset(&stack, 0, sizeof stack);
    cr_assert_eq(mt_pools_build(&stack.procs, cfg, err, sizeof err), 0, "%s", err);
    cr_assert_eq(mt_proctable_share(&stack.procs), 0);
}

static void teardown(void)
{
    mt_proctable_destroy(&stack.procs);
    mt_config_destroy(cfg);
}

TestSuite(reloading, .init = setup, .fini = teardown);

Test(reloading, only_the_flagged_slot_is_reloading_and_the_master_never)
{
    size_t mule = stack.procs.first_mule + 1;
    stack.self_slot = mule;
    cr_assert_eq(mt_stack_reloading(&stack), 0, "no flag: a stop is the stack's own");
    atomic_store(&stack.procs.procs[mule].live->stop_for_reload, 1);
    cr_assert_eq(mt_stack_reloading(&stack), 1);
    stack.self_slot = stack.procs.first_mule;
    cr_assert_eq(mt_stack_reloading(&stack), 0, "another slot's flag is not this one's");
    atomic_store(&stack.procs.procs[0].live->stop_for_reload, 1);
    stack.self_slot = 0;
    cr_assert_eq(mt_stack_reloading(&stack), 0, "the master is never reloading");
    cr_assert_eq(mt_stack_reloading(NULL), 0);
}

Test(reloading, a_child_sees_the_flag_the_master_sets_after_its_fork)
{
    size_t web = stack.procs.first_web;
    int pipefd[2];
    cr_assert_eq(pipe(pipefd), 0);
    pid_t child = fork();
    cr_assert_geq(child, 0);
    if (child == 0) {
        stack.self_slot = web;
        char c;
        close(pipefd[1]);
        if (read(pipefd[0], &c, 1) != 1) /* the master has set the flag */
            _exit(2);
        _exit(mt_stack_reloading(&stack) == 1 ? 0 : 1);
    }
    close(pipefd[0]);
    atomic_store(&stack.procs.procs[web].live->stop_for_reload, 1);
    cr_assert_eq(write(pipefd[1], "x", 1), 1);
    close(pipefd[1]);
    int status;
    cr_assert_eq(waitpid(child, &status, 0), child);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the child did not see the flag");
}
