/*
 * Unit tests for pools.c: configuration -> process table, server names,
 * farms and their errors, the pools form, and server-name templates.
 */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "stack/config.h"
#include "stack/options.h"
#include "stack/pools.h"

static mt_config_t *cfg;
static mt_proctable_t table;
static char err[1024];

static void setup(void)
{
    cfg = mt_config_create();
    mt_config_add_section(cfg, MT_STACK_SECTION, MT_STACK_SECTION_ALIAS, mt_stack_options);
    memset(&table, 0, sizeof table);
    err[0] = '\0';
}

static void teardown(void)
{
    mt_proctable_destroy(&table);
    mt_config_destroy(cfg);
}

TestSuite(pools, .init = setup, .fini = teardown);

/* Load argv (NULL-terminated, without argv[0]) and build; returns mt_pools_build's result. */
static int build(const char *first, ...)
{
    char *argv[64] = {"muleteer"};
    int argc = 1;
    va_list ap;
    va_start(ap, first);
    for (const char *a = first; a; a = va_arg(ap, const char *))
        argv[argc++] = (char *)a;
    va_end(ap);
    cr_assert_eq(mt_config_load(cfg, argc, argv, err, sizeof err), 0, "config: %s", err);
    return mt_pools_build(&table, cfg, err, sizeof err);
}

static const mt_proc_t *named(const char *name)
{
    for (size_t i = 0; i < table.nprocs; i++)
        if (strcmp(table.procs[i].server_name, name) == 0)
            return &table.procs[i];
    cr_assert_fail("no process named %s", name);
    return NULL;
}

Test(pools, proposal_example_names)
{
    cr_assert_eq(build("--processes", "4", "--mule", "--mule", "--mule", "--farm", "job-handlers:2,3", "--farm",
                       "something-else:1", "--server-name", "galaxy", NULL),
                 0, "%s", err);
    cr_assert_eq(table.nprocs, 1 + 4 + 3);
    cr_assert_str_eq(table.procs[0].server_name, "galaxy.master");
    for (int i = 1; i <= 4; i++) {
        char name[64];
        snprintf(name, sizeof name, "galaxy.web.%d", i);
        cr_assert_eq(named(name)->worker_id, i);
        cr_assert_eq(named(name)->role, MT_ROLE_WEB);
    }
    const mt_proc_t *jh1 = named("galaxy.job-handlers.1"), *jh2 = named("galaxy.job-handlers.2");
    cr_assert_eq(jh1->mule_id, 2);
    cr_assert_eq(jh1->instance_id, 1);
    cr_assert_eq(jh2->mule_id, 3);
    cr_assert_eq(jh2->instance_id, 2);
    cr_assert_eq(named("galaxy.something-else.1")->mule_id, 1);
    cr_assert_eq(table.nfarms, 2);
    cr_assert_str_eq(table.farms[0].name, "job-handlers");
    cr_assert_eq(table.farms[0].nmules, 2);
}

Test(pools, defaults_one_web_worker_no_mules)
{
    cr_assert_eq(build(NULL), 0, "%s", err);
    cr_assert_eq(table.nprocs, 2);
    cr_assert_str_eq(table.procs[1].server_name, "main.web.1");
    cr_assert_eq(table.nmules, 0);
}

Test(pools, mule_outside_farms_and_in_two_farms)
{
    cr_assert_eq(build("--mules", "3", "--farm", "a:2", "--farm", "b:1,2", NULL), 0, "%s", err);
    cr_assert_eq(named("main.b.1")->mule_id, 1);
    const mt_proc_t *m2 = named("main.a.1");
    cr_assert_eq(m2->mule_id, 2);
    cr_assert_eq(m2->nfarms, 2);
    cr_assert_eq(named("main.mule.3")->nfarms, 0);
}

Test(pools, farm_errors_name_the_option_and_the_problem)
{
    cr_assert_eq(build("--mules", "2", "--farm", "f:1,3", NULL), -1);
    cr_assert(strstr(err, "command line") && strstr(err, "'farm'") && strstr(err, "mule 3 does not exist"), "%s", err);
}

Test(pools, farm_syntax_errors)
{
    static const char *const bad[] = {"nocolon", ":1", "f:", "f:1,,2", "f:x", "f:1,1", "bad name:1", "f:0"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        teardown();
        setup();
        cr_assert_eq(build("--mules", "2", "--farm", bad[i], NULL), -1, "\"%s\" accepted", bad[i]);
        cr_assert(strstr(err, "'farm'"), "%s", err);
    }
}

Test(pools, duplicate_farm_is_an_error)
{
    cr_assert_eq(build("--mules", "2", "--farm", "f:1", "--farm", "f:2", NULL), -1);
    cr_assert(strstr(err, "declared twice"), "%s", err);
}

Test(pools, template_with_hostname_and_pid)
{
    char host[256];
    gethostname(host, sizeof host);
    cr_assert_eq(build("--mules", "1", "--server-name-template", "{server_name}@{hostname}.{pool_name}.{pid}", NULL),
                 -0, "%s", err);
    char want[512];
    snprintf(want, sizeof want, "main@%s.web.{pid}", host);
    cr_assert_str_eq(table.procs[1].server_name, want);
    char out[256];
    cr_assert_eq(mt_server_name_expand("{server_name}.{pool_name}.{pid}", "main", "web", 1, 4242, out, sizeof out,
                                       err, sizeof err),
                 0);
    cr_assert_str_eq(out, "main.web.4242");
}

Test(pools, template_errors)
{
    char out[64];
    cr_assert_eq(mt_server_name_expand("{server_name}.{nope}", "main", "web", 1, 0, out, sizeof out, err, sizeof err),
                 -1);
    cr_assert(strstr(err, "{nope}"), "%s", err);
    cr_assert_eq(mt_server_name_expand("{server_name", "main", "web", 1, 0, out, sizeof out, err, sizeof err), -1);
    cr_assert_eq(mt_server_name_expand("{server_name}{server_name}{server_name}{server_name}{server_name}",
                                       "a-rather-long-name", "web", 1, 0, out, sizeof out, err, sizeof err),
                 -1);
}

Test(pools, template_that_cannot_tell_processes_apart)
{
    cr_assert_eq(build("--processes", "2", "--server-name-template", "{server_name}.{pool_name}", NULL), -1);
    cr_assert(strstr(err, "server-name-template") && strstr(err, "main.web"), "%s", err);
}

Test(pools, mule_program_must_be_executable)
{
    cr_assert_eq(build("--mule=/nonexistent/program --flag", NULL), -1);
    cr_assert(strstr(err, "/nonexistent/program") && strstr(err, "'mule'"), "%s", err);
    teardown();
    setup();
    cr_assert_eq(build("--mule=/bin/sleep 100", NULL), 0, "%s", err);
    cr_assert_str_eq(named("main.mule.1")->program, "/bin/sleep 100");
}

Test(pools, pools_form_adds_mules_farms_and_standalone_slots)
{
    char path[] = "/tmp/mt_test_pools_XXXXXX";
    int fd = mkstemp(path);
    const char *yaml = "muleteer:\n  mule:\nstack:\n  workers:\n"
                       "    - name: handlers\n      purpose: handle_jobs\n      processes: 2\n"
                       "      server_name: \"{server_name}.{pool_name}.{process_num}\"\n"
                       "    - name: eggs\n      type: standalone\n";
    cr_assert_eq(write(fd, yaml, strlen(yaml)), (ssize_t)strlen(yaml));
    close(fd);
    int rc = build("--yaml", path, NULL);
    unlink(path);
    cr_assert_eq(rc, 0, "%s", err);
    cr_assert_eq(table.nmules, 3);
    cr_assert_eq(named("main.mule.1")->mule_id, 1);
    cr_assert_eq(named("main.handlers.1")->mule_id, 2);
    cr_assert_eq(named("main.handlers.2")->mule_id, 3);
    cr_assert_str_eq(named("main.handlers.2")->purpose, "handle_jobs");
    const mt_proc_t *eggs = named("main.eggs.1");
    cr_assert_eq(eggs->role, MT_ROLE_STANDALONE);
}

Test(pools, pool_with_bad_type)
{
    char path[] = "/tmp/mt_test_pools_XXXXXX";
    int fd = mkstemp(path);
    const char *yaml = "stack:\n  workers:\n    - name: x\n      type: sidecar\n";
    cr_assert_eq(write(fd, yaml, strlen(yaml)), (ssize_t)strlen(yaml));
    close(fd);
    char *argv[] = {"muleteer", "--yaml", path};
    int rc = mt_config_load(cfg, 3, argv, err, sizeof err);
    if (rc == 0)
        rc = mt_pools_build(&table, cfg, err, sizeof err);
    unlink(path);
    cr_assert_eq(rc, -1);
    cr_assert(strstr(err, "sidecar") && strstr(err, ":4:"), "%s", err);
}

Test(pools, python_mule_runs_the_built_in_loop)
{
    /* Galaxy's "mule: lib/galaxy/main.py": no such file here, and it is not executed: no program. */
    cr_assert_eq(build("--mule=lib/galaxy/main.py", "--mule=lib/galaxy/main.py", "--mule=/bin/true",
                       "--farm", "job-handlers:1,2", NULL),
                 0, "%s", err);
    cr_assert_null(named("main.job-handlers.1")->program);
    cr_assert_null(named("main.job-handlers.2")->program);
    cr_assert_str_eq(named("main.mule.3")->program, "/bin/true", "other programs are still exec'd");
}

Test(pools, python_mule_in_the_pools_form)
{
    const char *path = "/tmp/mt_test_pools_py.yml";
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs("stack:\n  workers:\n    - name: job-handlers\n      processes: 2\n      program: lib/galaxy/main.py\n", f);
    fclose(f);
    cr_assert_eq(build("--yaml", path, NULL), 0, "%s", err);
    unlink(path);
    cr_assert_null(named("main.job-handlers.1")->program);
    cr_assert_null(named("main.job-handlers.2")->program);
}

Test(pools, a_missing_program_that_is_not_python_still_fails)
{
    cr_assert_eq(build("--mule=lib/galaxy/main.pyc", NULL), -1);
    cr_assert(strstr(err, "option 'mule': lib/galaxy/main.pyc: cannot execute"), "%s", err);
}
