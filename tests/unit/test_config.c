/*
 * Unit tests for the configuration store (config.c), its INI and YAML
 * loaders (config_ini.c, config_yaml.c) and the stack's option table
 * (options.c): sources, precedence, the list rule, error messages naming
 * file:line and option, the pools form and --print-config.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "stack/config.h"
#include "stack/options.h"

/* A small application section, as the job application registers one. */
static const mt_option_def_t jobs_options[] = {
    { "db-url", MT_OPT_STRING, NULL, 0, 0, 0, NULL, "database URL" },
    { "sweep-interval", MT_OPT_INT, "5", 1, 60, 0, NULL, "seconds" },
    { NULL },
};

#define MAX_TMP 16
static char *tmp_paths[MAX_TMP];
static size_t ntmp;
static mt_config_t *cfg;
static char err[1024];

static void setup(void)
{
    cfg = mt_config_create();
    cr_assert_eq(mt_config_add_section(cfg, MT_STACK_SECTION, MT_STACK_SECTION_ALIAS, mt_stack_options), 0);
    cr_assert_eq(mt_config_add_section(cfg, "jobs", NULL, jobs_options), 0);
    err[0] = '\0';
}

static void teardown(void)
{
    mt_config_destroy(cfg);
    cfg = NULL;
    for (size_t i = 0; i < ntmp; i++) {
        unlink(tmp_paths[i]);
        free(tmp_paths[i]);
    }
    ntmp = 0;
}

TestSuite(config, .init = setup, .fini = teardown);

/* Write content to a new temporary file; the path lives until teardown. */
static const char *tmp_file(const char *content)
{
    char tmpl[] = "/tmp/mt_test_config_XXXXXX";
    int fd = mkstemp(tmpl);
    cr_assert(fd >= 0, "mkstemp: %s", strerror(errno));
    size_t len = strlen(content);
    cr_assert_eq(write(fd, content, len), (ssize_t)len);
    close(fd);
    cr_assert(ntmp < MAX_TMP);
    tmp_paths[ntmp] = strdup(tmpl);
    return tmp_paths[ntmp++];
}

/* mt_config_load with the given arguments (NULL-terminated), argv[0] supplied. */
static int load_args(const char *first, ...)
{
    char *argv[64];
    int argc = 0;
    va_list ap;
    argv[argc++] = "muleteer";
    va_start(ap, first);
    for (const char *a = first; a; a = va_arg(ap, const char *)) {
        cr_assert(argc < 63);
        argv[argc++] = (char *)a;
    }
    va_end(ap);
    argv[argc] = NULL;
    return mt_config_load(cfg, argc, argv, err, sizeof err);
}

/* printf into one of a few rotating static buffers (test helper only). */
static char *arg_fmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static char *arg_fmt(const char *fmt, ...)
{
    static char bufs[8][512];
    static int next;
    char *buf = bufs[next++ % 8];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof bufs[0], fmt, ap);
    va_end(ap);
    return buf;
}

static void assert_error(const char *expected)
{
    cr_assert(strstr(err, expected), "error '%s' does not contain '%s'", err, expected);
}

static void assert_src_file(const mt_source_t *src, const char *path, int line)
{
    cr_assert_eq(src->kind, MT_SRC_FILE);
    cr_assert_str_eq(src->file, path);
    cr_assert_eq(src->line, line, "line %d, expected %d", src->line, line);
}

/* ------------------------------------------------------------------ */
/* Defaults and the command line                                       */
/* ------------------------------------------------------------------ */

Test(config, defaults_and_their_source)
{
    mt_source_t src;
    cr_assert_eq(load_args(NULL), 0);
    cr_assert_str_eq(mt_config_get(cfg, NULL, "processes", &src), "1");
    cr_assert_eq(src.kind, MT_SRC_DEFAULT);
    cr_assert_eq(mt_config_get_int(cfg, NULL, "processes"), 1);
    cr_assert_str_eq(mt_config_get(cfg, NULL, "http", NULL), "127.0.0.1:8080");
    cr_assert_str_eq(mt_config_get(cfg, MT_STACK_SECTION, "server-name", NULL), "main");
    cr_assert_str_eq(mt_config_get(cfg, NULL, "server-name-template", NULL), "{server_name}.{pool_name}.{instance_id}");
    cr_assert_eq(mt_config_get_int(cfg, NULL, "buffer-size"), 8192);
    cr_assert_eq(mt_config_get_int(cfg, NULL, "limit-post"), 16777216);
    cr_assert_eq(mt_config_get_int(cfg, NULL, "msg-send-timeout"), 2000);
    cr_assert_str_eq(mt_config_get(cfg, NULL, "log-level", NULL), "info");
    cr_assert(mt_config_get_bool(cfg, NULL, "master"));
    cr_assert_not(mt_config_get_bool(cfg, NULL, "print-config"));
    cr_assert_eq(mt_config_list_count(cfg, NULL, "mule"), 0);
    cr_assert_eq(mt_config_list_count(cfg, NULL, "farm"), 0);
    cr_assert_eq(mt_config_pool_count(cfg), 0);
    cr_assert_null(mt_config_get(cfg, "jobs", "db-url", NULL));
    cr_assert_eq(mt_config_get_int(cfg, "jobs", "sweep-interval"), 5);
    cr_assert_not(mt_config_wants_help(cfg));
}

Test(config, cmdline_value_forms)
{
    mt_source_t src;
    cr_assert_eq(load_args("--processes", "4", "--threads=2", NULL), 0, "%s", err);
    cr_assert_eq(mt_config_get_int(cfg, NULL, "processes"), 4);
    mt_config_get(cfg, NULL, "processes", &src);
    cr_assert_eq(src.kind, MT_SRC_CMDLINE);
    cr_assert_eq(mt_config_get_int(cfg, NULL, "threads"), 2);
}

Test(config, cmdline_equals_form)
{
    cr_assert_eq(load_args("--processes=4", NULL), 0, "%s", err);
    cr_assert_str_eq(mt_config_get(cfg, NULL, "processes", NULL), "4");
}

Test(config, cmdline_mule_bare_and_with_program)
{
    mt_source_t src;
    cr_assert_eq(load_args("--mule", "--mule=/bin/x", "--mule", "--processes", "2", NULL), 0, "%s", err);
    cr_assert_eq(mt_config_list_count(cfg, NULL, "mule"), 3);
    cr_assert_str_eq(mt_config_list_get(cfg, NULL, "mule", 0, &src), "");
    cr_assert_eq(src.kind, MT_SRC_CMDLINE);
    cr_assert_str_eq(mt_config_list_get(cfg, NULL, "mule", 1, NULL), "/bin/x");
    cr_assert_str_eq(mt_config_list_get(cfg, NULL, "mule", 2, NULL), "");
    cr_assert_eq(mt_config_get_int(cfg, NULL, "processes"), 2);
}

Test(config, cmdline_bool_flags)
{
    cr_assert_eq(load_args("--master", "--die-on-term=no", "--print-config", NULL), 0, "%s", err);
    cr_assert(mt_config_get_bool(cfg, NULL, "master"));
    cr_assert_not(mt_config_get_bool(cfg, NULL, "die-on-term"));
    cr_assert_str_eq(mt_config_get(cfg, NULL, "die-on-term", NULL), "false");
    cr_assert(mt_config_get_bool(cfg, NULL, "print-config"));
}

Test(config, cmdline_bad_bool)
{
    cr_assert_eq(load_args("--master=maybe", NULL), -1);
    assert_error("command line: option '--master': 'maybe' is not a boolean");
}

Test(config, cmdline_set)
{
    cr_assert_eq(load_args("--set", "threads=3", NULL), 0, "%s", err);
    cr_assert_eq(mt_config_get_int(cfg, NULL, "threads"), 3);
}

Test(config, cmdline_set_with_section)
{
    mt_source_t src;
    cr_assert_eq(load_args("--set", "muleteer.threads=3", "--set=jobs.db-url=sqlite:///x.db", "--set",
                           "uwsgi.mule=", NULL),
                 0, "%s", err);
    cr_assert_eq(mt_config_get_int(cfg, NULL, "threads"), 3);
    cr_assert_str_eq(mt_config_get(cfg, "jobs", "db-url", &src), "sqlite:///x.db");
    cr_assert_eq(src.kind, MT_SRC_CMDLINE);
    cr_assert_eq(mt_config_list_count(cfg, NULL, "mule"), 1);
    cr_assert_str_eq(mt_config_list_get(cfg, NULL, "mule", 0, NULL), "");
}

Test(config, cmdline_set_errors)
{
    cr_assert_eq(load_args("--set", "threads", NULL), -1);
    assert_error("command line: option '--set': expected KEY=VALUE");
}

Test(config, cmdline_set_unknown)
{
    cr_assert_eq(load_args("--set", "jobs.nope=1", NULL), -1);
    assert_error("unknown option 'jobs.nope'");
}

Test(config, cmdline_section_prefix)
{
    cr_assert_eq(load_args("--jobs.sweep-interval", "7", NULL), 0, "%s", err);
    cr_assert_eq(mt_config_get_int(cfg, "jobs", "sweep-interval"), 7);
}

Test(config, cmdline_unknown_option)
{
    cr_assert_eq(load_args("--processes", "2", "--procs", "4", NULL), -1);
    cr_assert_str_eq(err, "command line: unknown option '--procs'");
}

Test(config, cmdline_not_an_option)
{
    cr_assert_eq(load_args("processes", NULL), -1);
    assert_error("command line: unexpected argument 'processes'");
}

Test(config, cmdline_missing_value)
{
    cr_assert_eq(load_args("--processes", NULL), -1);
    cr_assert_str_eq(err, "command line: option '--processes': a value is required");
    cr_assert_eq(load_args("--http", "--processes", "2", NULL), -1);
    assert_error("option '--http': a value is required");
}

Test(config, cmdline_bad_number)
{
    cr_assert_eq(load_args("--processes", "four", NULL), -1);
    cr_assert_str_eq(err, "command line: option '--processes': 'four' is not a number");
    cr_assert_eq(load_args("--threads=3x", NULL), -1);
    assert_error("'3x' is not a number");
}

Test(config, cmdline_out_of_range)
{
    cr_assert_eq(load_args("--processes", "0", NULL), -1);
    cr_assert_str_eq(err, "command line: option '--processes': 0 is out of range [1, 1024]");
    cr_assert_eq(load_args("--threads", "257", NULL), -1);
    assert_error("option '--threads': 257 is out of range [1, 256]");
    cr_assert_eq(load_args("--limit-post", "99999999999999999999999", NULL), -1);
    assert_error("out of range");
}

Test(config, help_and_version)
{
    cr_assert_eq(load_args("--processes", "2", "--help", "--bogus", NULL), 0);
    cr_assert(mt_config_wants_help(cfg));
    mt_config_t *other = mt_config_create();
    mt_config_add_section(other, MT_STACK_SECTION, MT_STACK_SECTION_ALIAS, mt_stack_options);
    char *argv[] = { "muleteer", "--version", NULL };
    cr_assert_eq(mt_config_load(other, 2, argv, err, sizeof err), 0);
    cr_assert(mt_config_wants_version(other));
    mt_config_destroy(other);
}

Test(config, underscore_and_dash)
{
    const char *ini = tmp_file("[uwsgi]\nlimit_post = 10\nstatic_map = /s=/tmp\n");
    cr_assert_eq(load_args("--buffer_size", "2048", "--ini", ini, NULL), 0, "%s", err);
    cr_assert_eq(mt_config_get_int(cfg, NULL, "buffer-size"), 2048);
    cr_assert_eq(mt_config_get_int(cfg, NULL, "buffer_size"), 2048);
    cr_assert_eq(mt_config_get_int(cfg, NULL, "limit-post"), 10);
    cr_assert_eq(mt_config_list_count(cfg, NULL, "static-map"), 1);
}

Test(config, aliases)
{
    const char *ini = tmp_file("[uwsgi]\nhttp-socket = 0.0.0.0:9090\n");
    cr_assert_eq(load_args("--workers", "3", "--ini-paste", ini, NULL), 0, "%s", err);
    cr_assert_eq(mt_config_get_int(cfg, NULL, "processes"), 3);
    cr_assert_eq(mt_config_get_int(cfg, NULL, "workers"), 3);
    cr_assert_str_eq(mt_config_get(cfg, NULL, "http", NULL), "0.0.0.0:9090");

    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    mt_config_print(cfg, out);
    fclose(out);
    cr_assert(strstr(buf, "processes = 3    # command line"), "%s", buf);
    cr_assert_null(strstr(buf, "workers"), "%s", buf);
    cr_assert_null(strstr(buf, "http-socket"), "%s", buf);
    free(buf);
}

Test(config, ignored_options_accepted)
{
    const char *ini = tmp_file("[uwsgi]\nplugins = python\nvacuum = true\nneed-app = false\nmodule = galaxy.webapps\n");
    cr_assert_eq(load_args("--virtualenv", "/srv/venv", "--enable-threads", "--py-call-osafterfork", "--ini", ini,
                           "--thunder-lock", "--processes", "2", NULL),
                 0, "%s", err);
    cr_assert_eq(mt_config_get_int(cfg, NULL, "processes"), 2);
    cr_assert_str_eq(mt_config_get(cfg, NULL, "virtualenv", NULL), "/srv/venv");
}

Test(config, log_level_validated)
{
    const char *ini = tmp_file("[uwsgi]\nlog-level = loud\n");
    cr_assert_eq(load_args("--ini", ini, NULL), -1);
    cr_assert_str_eq(err, arg_fmt("%s:2: option 'log-level': 'loud' is not a log level "
                                  "(debug, info, notice, warn, error, alert)",
                                  ini));
}

Test(config, log_level_accepted)
{
    cr_assert_eq(load_args("--log-level", "debug", NULL), 0, "%s", err);
    cr_assert_str_eq(mt_config_get(cfg, NULL, "log-level", NULL), "debug");
}

Test(config, add_section_twice)
{
    cr_assert_eq(mt_config_add_section(cfg, "jobs", NULL, jobs_options), -EEXIST);
    cr_assert_eq(mt_config_add_section(cfg, "other", "uwsgi", jobs_options), -EEXIST);
}

Test(config, source_format)
{
    char buf[64];
    mt_source_t s1 = { MT_SRC_FILE, "a.ini", 7 }, s2 = { MT_SRC_CMDLINE, NULL, 0 }, s3 = { MT_SRC_DEFAULT, NULL, 0 };
    cr_assert_str_eq(mt_source_format(&s1, buf, sizeof buf), "a.ini:7");
    cr_assert_str_eq(mt_source_format(&s2, buf, sizeof buf), "command line");
    cr_assert_str_eq(mt_source_format(&s3, buf, sizeof buf), "default");
}

/* ------------------------------------------------------------------ */
/* INI                                                                 */
/* ------------------------------------------------------------------ */

static const char galaxy_ini[] = "# galaxy.ini\n"        /* 1 */
                                 "[uwsgi]\n"             /* 2 */
                                 "processes = 4\n"       /* 3 */
                                 "mule =\n"              /* 4 */
                                 "mule =\n"              /* 5 */
                                 "mule = /bin/true\n"    /* 6 */
                                 "farm = job-handlers:2,3\n" /* 7 */
                                 "farm = something-else:1\n" /* 8 */
                                 "\n"                    /* 9 */
                                 "[galaxy]\n"            /* 10 */
                                 "anything = goes\n"     /* 11 */
                                 "[jobs]\n"              /* 12 */
                                 "db_url = postgres:///galaxy\n"; /* 13 */

Test(config, ini_repeated_keys_in_order)
{
    mt_source_t src;
    const char *ini = tmp_file(galaxy_ini);
    cr_assert_eq(load_args("--ini", ini, NULL), 0, "%s", err);

    cr_assert_str_eq(mt_config_get(cfg, NULL, "processes", &src), "4");
    assert_src_file(&src, ini, 3);

    cr_assert_eq(mt_config_list_count(cfg, NULL, "mule"), 3);
    const char *mules[] = { "", "", "/bin/true" };
    for (size_t i = 0; i < 3; i++) {
        cr_assert_str_eq(mt_config_list_get(cfg, NULL, "mule", i, &src), mules[i]);
        assert_src_file(&src, ini, 4 + (int)i);
    }
    cr_assert_eq(mt_config_list_count(cfg, NULL, "farm"), 2);
    cr_assert_str_eq(mt_config_list_get(cfg, NULL, "farm", 0, &src), "job-handlers:2,3");
    assert_src_file(&src, ini, 7);
    cr_assert_str_eq(mt_config_list_get(cfg, NULL, "farm", 1, &src), "something-else:1");
    assert_src_file(&src, ini, 8);
    cr_assert_str_eq(mt_config_get(cfg, "jobs", "db-url", &src), "postgres:///galaxy");
    assert_src_file(&src, ini, 13);
}

Test(config, ini_main_section_name)
{
    const char *ini = tmp_file("[muleteer]\nthreads = 8\n");
    cr_assert_eq(mt_config_load_ini(cfg, ini, NULL, err, sizeof err), 0, "%s", err);
    cr_assert_eq(mt_config_get_int(cfg, NULL, "threads"), 8);
}

Test(config, ini_file_colon_section)
{
    const char *ini = tmp_file("[uwsgi]\nprocesses = 4\n"
                               "[other]\nprocesses = 6\nmule =\n"
                               "[jobs]\nsweep-interval = 9\n");
    cr_assert_eq(load_args("--ini", arg_fmt("%s:other", ini), NULL), 0, "%s", err);
    cr_assert_eq(mt_config_get_int(cfg, NULL, "processes"), 6);
    cr_assert_eq(mt_config_list_count(cfg, NULL, "mule"), 1);
    cr_assert_eq(mt_config_get_int(cfg, "jobs", "sweep-interval"), 9);
}

Test(config, ini_unknown_option)
{
    const char *ini = tmp_file("[uwsgi]\nprocesses = 2\nprocs = 4\n");
    cr_assert_eq(load_args("--ini", ini, NULL), -1);
    cr_assert_str_eq(err, arg_fmt("%s:3: unknown option 'procs'", ini));
}

Test(config, ini_unknown_option_in_app_section)
{
    const char *ini = tmp_file("[jobs]\n\ndb-uri = x\n");
    cr_assert_eq(load_args("--ini", ini, NULL), -1);
    cr_assert_str_eq(err, arg_fmt("%s:3: unknown option 'db-uri' in section 'jobs'", ini));
}

Test(config, ini_bad_number)
{
    const char *ini = tmp_file("[uwsgi]\n; comment\nprocesses = four\n");
    cr_assert_eq(load_args("--ini", ini, NULL), -1);
    cr_assert_str_eq(err, arg_fmt("%s:3: option 'processes': 'four' is not a number", ini));
}

Test(config, ini_cmdline_only_refused)
{
    const char *ini = tmp_file("[uwsgi]\nini = other.ini\n");
    cr_assert_eq(load_args("--ini", ini, NULL), -1);
    cr_assert_str_eq(err, arg_fmt("%s:2: option 'ini': only allowed on the command line", ini));
}

Test(config, ini_set_refused)
{
    const char *ini = tmp_file("[uwsgi]\n\nset = threads=2\n");
    cr_assert_eq(mt_config_load_ini(cfg, ini, NULL, err, sizeof err), -1);
    assert_error(":3: option 'set': only allowed on the command line");
}

Test(config, ini_line_too_long)
{
    char content[600];
    int n = snprintf(content, sizeof content, "[uwsgi]\nprocesses = 2\nserver-name = ");
    memset(content + n, 'x', 300);
    strcpy(content + n + 300, "\nthreads = 2\n");
    const char *ini = tmp_file(content);
    cr_assert_eq(load_args("--ini", ini, NULL), -1);
    assert_error(arg_fmt("%s:3: line too long", ini));
}

Test(config, ini_line_just_fits)
{
    /* 199 bytes + newline fills inih's 200-byte buffer exactly: accepted. */
    char content[600];
    int n = snprintf(content, sizeof content, "[uwsgi]\nserver-name = ");
    int fill = 199 - (int)strlen("server-name = ");
    memset(content + n, 'y', (size_t)fill);
    strcpy(content + n + fill, "\nthreads = 2\n");
    const char *ini = tmp_file(content);
    cr_assert_eq(load_args("--ini", ini, NULL), 0, "%s", err);
    cr_assert_eq(strlen(mt_config_get(cfg, NULL, "server-name", NULL)), (size_t)fill);
    mt_source_t src;
    cr_assert_eq(mt_config_get_int(cfg, NULL, "threads"), 2);
    mt_config_get(cfg, NULL, "threads", &src);
    assert_src_file(&src, ini, 3);
}

Test(config, ini_syntax_error)
{
    const char *ini = tmp_file("[uwsgi]\nprocesses = 2\nthis line has no equals sign\n");
    cr_assert_eq(load_args("--ini", ini, NULL), -1);
    assert_error(arg_fmt("%s:3: syntax error", ini));
}

Test(config, ini_missing_file)
{
    cr_assert_eq(load_args("--ini", "/nonexistent/galaxy.ini", NULL), -1);
    cr_assert_str_eq(err, "/nonexistent/galaxy.ini: cannot open: No such file or directory");
}

/* A fresh config, for a test that loads several command lines (mt_config_load is once per config). */
static void cfg_reset(void)
{
    mt_config_destroy(cfg);
    setup();
}

Test(config, config_file_that_is_a_directory_or_empty_name)
{
    cr_assert_eq(load_args("--ini", "/tmp", NULL), -1);
    cr_assert_str_eq(err, "/tmp: is a directory, not a file");
    cfg_reset();
    cr_assert_eq(load_args("--yaml=/tmp", NULL), -1);
    cr_assert_str_eq(err, "/tmp: is a directory, not a file");
    cfg_reset();
    cr_assert_eq(load_args("--ini", "", NULL), -1);
    cr_assert_str_eq(err, "command line: option '--ini' needs a file name");
    cfg_reset();
    cr_assert_eq(load_args("--set", "yaml=", NULL), -1);
    cr_assert_str_eq(err, "command line: option '--yaml' needs a file name");
}

/* ------------------------------------------------------------------ */
/* YAML                                                                */
/* ------------------------------------------------------------------ */

static const char galaxy_yml[] = "uwsgi:\n"
                                 "  processes: 4\n"
                                 "  mule:\n"
                                 "  mule:\n"
                                 "  mule:\n"
                                 "  farm: job-handlers:2,3\n"
                                 "  farm: something-else:1\n"
                                 "  server-name: galaxy\n";

Test(config, yaml_repeated_keys)
{
    mt_source_t src;
    const char *yml = tmp_file(galaxy_yml);
    cr_assert_eq(load_args("--yaml", yml, NULL), 0, "%s", err);

    cr_assert_str_eq(mt_config_get(cfg, NULL, "processes", &src), "4");
    assert_src_file(&src, yml, 2);
    cr_assert_eq(mt_config_list_count(cfg, NULL, "mule"), 3);
    for (size_t i = 0; i < 3; i++) {
        cr_assert_str_eq(mt_config_list_get(cfg, NULL, "mule", i, &src), "");
        assert_src_file(&src, yml, 3 + (int)i);
    }
    cr_assert_eq(mt_config_list_count(cfg, NULL, "farm"), 2);
    cr_assert_str_eq(mt_config_list_get(cfg, NULL, "farm", 0, &src), "job-handlers:2,3");
    assert_src_file(&src, yml, 6);
    cr_assert_str_eq(mt_config_list_get(cfg, NULL, "farm", 1, &src), "something-else:1");
    assert_src_file(&src, yml, 7);
    cr_assert_str_eq(mt_config_get(cfg, NULL, "server-name", &src), "galaxy");
    assert_src_file(&src, yml, 8);
}

Test(config, yaml_other_layouts)
{
    mt_source_t src;
    const char *yml = tmp_file("---\n"
                               "# comment\n"
                               "galaxy:\n"
                               "  whatever: [1, 2]\n"
                               "muleteer:\n"
                               "    processes: 3\n"
                               "    mule:\n"
                               "    - /bin/a\n"
                               "    -   \"\"\n"
                               "    static_map: \"/static=/srv\"\n"
                               "    master: yes\n"
                               "jobs:\n"
                               "  db-url: 'sqlite:///j.db'\n");
    cr_assert_eq(mt_config_load_yaml(cfg, yml, err, sizeof err), 0, "%s", err);
    cr_assert_eq(mt_config_get_int(cfg, NULL, "processes"), 3);
    cr_assert_eq(mt_config_list_count(cfg, NULL, "mule"), 2);
    cr_assert_str_eq(mt_config_list_get(cfg, NULL, "mule", 0, &src), "/bin/a");
    assert_src_file(&src, yml, 8);
    cr_assert_str_eq(mt_config_list_get(cfg, NULL, "mule", 1, &src), "");
    assert_src_file(&src, yml, 9);
    cr_assert_str_eq(mt_config_list_get(cfg, NULL, "static-map", 0, NULL), "/static=/srv");
    cr_assert_str_eq(mt_config_get(cfg, NULL, "master", NULL), "true");
    cr_assert_str_eq(mt_config_get(cfg, "jobs", "db-url", NULL), "sqlite:///j.db");
}

Test(config, yaml_flow_list)
{
    mt_source_t src;
    const char *yml = tmp_file("uwsgi:\n  mule: [a, b,\n    c]\n  farm: [f:1]\n");
    cr_assert_eq(load_args("--yaml", yml, NULL), 0, "%s", err);
    cr_assert_eq(mt_config_list_count(cfg, NULL, "mule"), 3);
    const char *want[] = { "a", "b", "c" };
    int lines[] = { 2, 2, 3 };
    for (size_t i = 0; i < 3; i++) {
        cr_assert_str_eq(mt_config_list_get(cfg, NULL, "mule", i, &src), want[i]);
        assert_src_file(&src, yml, lines[i]);
    }
    cr_assert_str_eq(mt_config_list_get(cfg, NULL, "farm", 0, NULL), "f:1");
}

Test(config, yaml_list_for_scalar)
{
    const char *yml = tmp_file("uwsgi:\n  mule:\n  processes: [1, 2]\n");
    cr_assert_eq(load_args("--yaml", yml, NULL), -1);
    cr_assert_str_eq(err, arg_fmt("%s:3: option 'processes': expected a single value, not a list", yml));
}

Test(config, yaml_mapping_value)
{
    const char *yml = tmp_file("uwsgi:\n  farm:\n    name: x\n");
    cr_assert_eq(load_args("--yaml", yml, NULL), -1);
    cr_assert_str_eq(err, arg_fmt("%s:2: option 'farm': expected a value, not a mapping", yml));
}

Test(config, yaml_unknown_option)
{
    const char *yml = tmp_file("muleteer:\n  processes: 2\n  procs: 4\n");
    cr_assert_eq(load_args("--yaml", yml, NULL), -1);
    cr_assert_str_eq(err, arg_fmt("%s:3: unknown option 'procs'", yml));
}

Test(config, yaml_bad_number)
{
    const char *yml = tmp_file("uwsgi:\n  threads: 2\n  processes: four\n");
    cr_assert_eq(load_args("--yaml", yml, NULL), -1);
    cr_assert_str_eq(err, arg_fmt("%s:3: option 'processes': 'four' is not a number", yml));
}

Test(config, yaml_null_scalar_refused)
{
    const char *yml = tmp_file("uwsgi:\n  http:\n");
    cr_assert_eq(load_args("--yaml", yml, NULL), -1);
    cr_assert_str_eq(err, arg_fmt("%s:2: option 'http': a value is required", yml));
}

Test(config, yaml_cmdline_only_refused)
{
    const char *yml = tmp_file("uwsgi:\n  yaml: [other.yml]\n");
    cr_assert_eq(load_args("--yaml", yml, NULL), -1);
    cr_assert_str_eq(err, arg_fmt("%s:2: option 'yaml': only allowed on the command line", yml));
}

Test(config, yaml_syntax_error)
{
    const char *yml = tmp_file("uwsgi:\n  processes: 4\n  mule: \"unterminated\n");
    cr_assert_eq(load_args("--yaml", yml, NULL), -1);
    cr_assert(strncmp(err, yml, strlen(yml)) == 0 && err[strlen(yml)] == ':', "%s", err);
    assert_error("YAML syntax error");
    cr_assert_null(strchr(err, '\n'));
    int line = atoi(err + strlen(yml) + 1);
    cr_assert(line >= 3 && line <= 4, "%s", err); /* the quote opens on 3; EOF is 4 */
}

Test(config, yaml_syntax_error_bad_indent)
{
    const char *yml = tmp_file("uwsgi:\n  processes: 4\n threads: 2\n");
    cr_assert_eq(load_args("--yaml", yml, NULL), -1);
    assert_error(arg_fmt("%s:3: YAML syntax error", yml));
}

Test(config, yaml_empty_and_foreign)
{
    const char *empty = tmp_file("");
    const char *foreign = tmp_file("galaxy:\n  config: 1\n");
    cr_assert_eq(load_args("--yaml", empty, "--yml", foreign, NULL), 0, "%s", err);
    cr_assert_eq(mt_config_get_int(cfg, NULL, "processes"), 1);
}

Test(config, yaml_top_level_not_mapping)
{
    const char *yml = tmp_file("- a\n- b\n");
    cr_assert_eq(load_args("--yaml", yml, NULL), -1);
    assert_error(arg_fmt("%s:1: expected a mapping", yml));
}

Test(config, yaml_second_document_refused)
{
    const char *yml = tmp_file("uwsgi:\n  processes: 2\n---\nuwsgi:\n  processes: 3\n");
    cr_assert_eq(load_args("--yaml", yml, NULL), -1);
    cr_assert_str_eq(err, arg_fmt("%s:4: only one YAML document is supported (found a second one)", yml));
}

Test(config, yaml_alias_followed)
{
    const char *yml = tmp_file("defaults:\n  n: &n 3\nuwsgi:\n  processes: *n\n");
    cr_assert_eq(load_args("--yaml", yml, NULL), 0, "%s", err);
    cr_assert_eq(mt_config_get_int(cfg, NULL, "processes"), 3);
}

/* ------------------------------------------------------------------ */
/* Pools                                                               */
/* ------------------------------------------------------------------ */

Test(config, yaml_pools_forms)
{
    const char *yml = tmp_file("stack:\n"                                   /* 1 */
                               "  workers:\n"                               /* 2 */
                               "    - name: job-handlers\n"                 /* 3 */
                               "      purpose: handle_jobs\n"               /* 4 */
                               "      processes: 3\n"                       /* 5 */
                               "      server_name: \"{server_name}.{pool_name}.{process_num}\"\n" /* 6 */
                               "    - name: standalone-handlers\n"          /* 7 */
                               "      type: standalone\n"                   /* 8 */
                               "      processes: 0\n"                       /* 9 */
                               "uwsgi:\n"                                   /* 10 */
                               "  processes: 2\n"                           /* 11 */
                               "  pools:\n"                                 /* 12 */
                               "  - {name: echo, program: /usr/bin/mule-echo}\n"); /* 13 */
    cr_assert_eq(load_args("--yaml", yml, NULL), 0, "%s", err);
    cr_assert_eq(mt_config_pool_count(cfg), 3);

    const mt_config_pool_t *p = mt_config_pool_get(cfg, 0);
    cr_assert_str_eq(p->name, "job-handlers");
    cr_assert_str_eq(p->purpose, "handle_jobs");
    cr_assert_str_eq(p->type, "mule");
    cr_assert_eq(p->processes, 3);
    cr_assert_str_eq(p->server_name_template, "{server_name}.{pool_name}.{process_num}");
    cr_assert_null(p->program);
    assert_src_file(&p->src, yml, 3);

    p = mt_config_pool_get(cfg, 1);
    cr_assert_str_eq(p->name, "standalone-handlers");
    cr_assert_str_eq(p->type, "standalone");
    cr_assert_eq(p->processes, 0);
    cr_assert_null(p->purpose);
    assert_src_file(&p->src, yml, 7);

    p = mt_config_pool_get(cfg, 2);
    cr_assert_str_eq(p->name, "echo");
    cr_assert_eq(p->processes, 1);
    cr_assert_str_eq(p->program, "/usr/bin/mule-echo");
    assert_src_file(&p->src, yml, 13);
    cr_assert_eq(mt_config_get_int(cfg, NULL, "processes"), 2);
}

/* expected: the error after "FILE:" */
static void expect_pool_error(const char *content, const char *expected)
{
    const char *yml = tmp_file(content);
    cr_assert_eq(mt_config_load_yaml(cfg, yml, err, sizeof err), -1, "accepted: %s", content);
    cr_assert_str_eq(err, arg_fmt("%s:%s", yml, expected));
}

Test(config, yaml_pools_errors)
{
    expect_pool_error("stack:\n  workers:\n    - purpose: x\n", "3: pools: a pool needs a name");
    expect_pool_error("stack:\n  workers:\n    - name: a\n      procs: 2\n",
                      "4: pools: unknown key 'procs' (expected name, purpose, type, processes, server_name, "
                      "program)");
    expect_pool_error("stack:\n  workers:\n    - name: a\n      processes: many\n",
                      "4: pools: processes: 'many' is not a number in [0, 1024]");
    expect_pool_error("stack:\n  workers:\n    - name: a\n      processes: -1\n",
                      "4: pools: processes: '-1' is not a number in [0, 1024]");
    expect_pool_error("stack:\n  workers:\n    - name: a\n      type: thread\n",
                      "4: pools: pool 'a': type 'thread' is not mule or standalone");
    expect_pool_error("stack:\n  workers:\n    - name: [a, b]\n", "3: pools: 'name' must be a single value");
    expect_pool_error("stack:\n  workers: job-handlers\n", "2: pools: expected a list of pools (- name: ...)");
    expect_pool_error("stack:\n  workers:\n    - just-a-name\n",
                      "3: pools: each pool must be a mapping (name: ..., processes: ...)");
    expect_pool_error("stack:\n  handlers: []\n", "2: stack: unknown key 'handlers' (expected workers)");
    expect_pool_error("uwsgi:\n  pools:\n  - name: a\n    name: b\n", "4: pools: 'name' given twice");
    cr_assert_eq(mt_config_pool_count(cfg), 0);
}

/* ------------------------------------------------------------------ */
/* Precedence                                                          */
/* ------------------------------------------------------------------ */

Test(config, precedence_scalars)
{
    mt_source_t src;
    const char *a = tmp_file("[uwsgi]\nprocesses = 2\nthreads = 2\nhttp = :1\n");
    const char *b = tmp_file("uwsgi:\n  threads: 5\n");
    cr_assert_eq(load_args("--ini", a, "--processes", "4", "--yaml", b, NULL), 0, "%s", err);
    /* command line over file */
    cr_assert_eq(mt_config_get_int(cfg, NULL, "processes"), 4);
    mt_config_get(cfg, NULL, "processes", &src);
    cr_assert_eq(src.kind, MT_SRC_CMDLINE);
    /* among files, the last one read */
    cr_assert_eq(mt_config_get_int(cfg, NULL, "threads"), 5);
    mt_config_get(cfg, NULL, "threads", &src);
    assert_src_file(&src, b, 2);
    /* file over default */
    cr_assert_str_eq(mt_config_get(cfg, NULL, "http", &src), ":1");
    assert_src_file(&src, a, 4);
    cr_assert_str_eq(mt_config_get(cfg, NULL, "server-name", &src), "main");
    cr_assert_eq(src.kind, MT_SRC_DEFAULT);
}

Test(config, precedence_cmdline_list_replaces_files)
{
    mt_source_t src;
    const char *a = tmp_file("[uwsgi]\nmule =\nmule =\nfarm = f:1,2\n");
    cr_assert_eq(load_args("--ini", a, "--mule=/bin/c", NULL), 0, "%s", err);
    cr_assert_eq(mt_config_list_count(cfg, NULL, "mule"), 1);
    cr_assert_str_eq(mt_config_list_get(cfg, NULL, "mule", 0, &src), "/bin/c");
    cr_assert_eq(src.kind, MT_SRC_CMDLINE);
    /* a list not given on the command line keeps the files' entries */
    cr_assert_eq(mt_config_list_count(cfg, NULL, "farm"), 1);
}

Test(config, precedence_files_accumulate_lists)
{
    mt_source_t src;
    const char *a = tmp_file("[uwsgi]\nmule =\nmule = /bin/a\n");
    const char *b = tmp_file("uwsgi:\n  mule: /bin/b\n");
    cr_assert_eq(load_args("--ini", a, "--yaml", b, NULL), 0, "%s", err);
    cr_assert_eq(mt_config_list_count(cfg, NULL, "mule"), 3);
    cr_assert_str_eq(mt_config_list_get(cfg, NULL, "mule", 0, &src), "");
    assert_src_file(&src, a, 2);
    cr_assert_str_eq(mt_config_list_get(cfg, NULL, "mule", 1, &src), "/bin/a");
    assert_src_file(&src, a, 3);
    cr_assert_str_eq(mt_config_list_get(cfg, NULL, "mule", 2, &src), "/bin/b");
    assert_src_file(&src, b, 2);
}

Test(config, files_read_in_command_line_order)
{
    const char *y = tmp_file("uwsgi:\n  threads: 7\n");
    const char *i = tmp_file("[uwsgi]\nthreads = 9\n");
    cr_assert_eq(load_args("--yaml", y, "--ini", i, NULL), 0, "%s", err);
    cr_assert_eq(mt_config_get_int(cfg, NULL, "threads"), 9);
}

Test(config, set_is_a_command_line_source)
{
    const char *i = tmp_file("[uwsgi]\nthreads = 9\n");
    cr_assert_eq(load_args("--set", "threads=3", "--ini", i, NULL), 0, "%s", err);
    cr_assert_eq(mt_config_get_int(cfg, NULL, "threads"), 3);
}

/* ------------------------------------------------------------------ */
/* Printing                                                            */
/* ------------------------------------------------------------------ */

static char *print_to_string(void (*fn)(const mt_config_t *, FILE *))
{
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    fn(cfg, out);
    fclose(out);
    return buf;
}

Test(config, print_config)
{
    const char *yml = tmp_file(galaxy_yml);
    cr_assert_eq(load_args("--yaml", yml, "--print-config", NULL), 0, "%s", err);
    char *out = print_to_string(mt_config_print);
    char want[512];
    snprintf(want, sizeof want, "processes = 4    # %s:2\n", yml);
    cr_assert(strstr(out, want), "%s", out);
    snprintf(want, sizeof want, "farm = something-else:1    # %s:7\n", yml);
    cr_assert(strstr(out, want), "%s", out);
    snprintf(want, sizeof want, "mule =     # %s:5\n", yml);
    cr_assert(strstr(out, want), "%s", out);
    cr_assert(strstr(out, "threads = 1    # default\n"), "%s", out);
    cr_assert(strstr(out, "print-config = true    # command line\n"), "%s", out);
    cr_assert(strstr(out, "[jobs]\n"), "%s", out);
    cr_assert_null(strstr(out, "db-url"), "%s", out); /* unset, no default */
    free(out);
}

Test(config, print_help)
{
    char *out = print_to_string(mt_config_print_help);
    cr_assert(strstr(out, "--processes N"), "%s", out);
    cr_assert(strstr(out, "web worker processes"), "%s", out);
    cr_assert(strstr(out, "--workers"), "%s", out);
    cr_assert(strstr(out, "--mule[=VALUE]"), "%s", out);
    free(out);
}

/* ------------------------------------------------------------------ */
/* Every error of a run; uWSGI options honoured, noticed and refused    */
/* ------------------------------------------------------------------ */

/* Whether some recorded error is exactly `want`. */
static bool has_error(const char *want)
{
    for (size_t i = 0; i < mt_config_error_count(cfg); i++)
        if (strcmp(mt_config_error_get(cfg, i), want) == 0)
            return true;
    return false;
}

static void assert_has_error(const char *want)
{
    if (has_error(want))
        return;
    char all[4096] = "";
    for (size_t i = 0; i < mt_config_error_count(cfg); i++) {
        strncat(all, mt_config_error_get(cfg, i), sizeof all - strlen(all) - 2);
        strcat(all, "\n");
    }
    cr_assert_fail("missing error: %s\nrecorded:\n%s", want, all);
}

Test(config, every_error_of_a_yaml_file_in_one_load)
{
    const char *yml = tmp_file("uwsgi:\n  processes: four\n  frobnicate: 1\n  threads: 2\n  https: :443,c,k\n"
                               "  static-map:\n    - /a=a\n    - [x]\n");
    cr_assert_eq(load_args("--yaml", yml, NULL), -1);
    cr_assert_str_eq(err, arg_fmt("%s:2: option 'processes': 'four' is not a number", yml), "err is the first");
    cr_assert_eq(mt_config_error_count(cfg), 4);
    assert_has_error(arg_fmt("%s:3: unknown option 'frobnicate'", yml));
    assert_has_error(arg_fmt("%s:5: option 'https': not supported: muleteer speaks plain HTTP only: terminate TLS in a "
                             "proxy in front of it (nginx, Apache) and point the proxy at the http address",
                             yml));
    assert_has_error(arg_fmt("%s:8: option 'static-map': list items must be single values", yml));
    cr_assert_eq(mt_config_get_int(cfg, NULL, "threads"), 2, "good lines after a bad one are read");
    cr_assert_eq(mt_config_list_count(cfg, NULL, "static-map"), 1);
}

Test(config, every_error_of_an_ini_file_and_the_command_line_in_one_load)
{
    const char *ini = tmp_file("[uwsgi]\nprocesses = 0\nzerg = /tmp/z\nmount = /galaxy=app\nthreads = 3\n"
                               "[jobs]\nsweep-interval = 99\n");
    const char *yml = tmp_file("uwsgi:\n  nope: 1\n");
    cr_assert_eq(load_args("--procs", "2", "--ini", ini, "--yaml", yml, "--limit-post", "x", NULL), -1);
    cr_assert_str_eq(err, "command line: unknown option '--procs'");
    cr_assert_eq(mt_config_error_count(cfg), 7, "each once: %s", mt_config_error_get(cfg, 0));
    assert_has_error("command line: option '--limit-post': 'x' is not a number");
    assert_has_error(arg_fmt("%s:2: option 'processes': 0 is out of range [1, 1024]", ini));
    cr_assert(strstr(mt_config_error_get(cfg, 3), "option 'zerg': not supported: there is no zerg server"),
              "%s", mt_config_error_get(cfg, 3));
    cr_assert(strstr(mt_config_error_get(cfg, 4), "option 'mount': not supported: the application is served at /"),
              "%s", mt_config_error_get(cfg, 4));
    assert_has_error(arg_fmt("%s:7: option 'sweep-interval': 99 is out of range [1, 60]", ini));
    assert_has_error(arg_fmt("%s:2: unknown option 'nope'", yml));
    cr_assert_eq(mt_config_get_int(cfg, NULL, "threads"), 3);
}

Test(config, a_file_loaded_alone_reports_its_first_error)
{
    const char *ini = tmp_file("[uwsgi]\nthreads = 2\nbad1 = 1\nbad2 = 2\n");
    cr_assert_eq(mt_config_load_ini(cfg, ini, NULL, err, sizeof err), -1);
    cr_assert_str_eq(err, arg_fmt("%s:3: unknown option 'bad1'", ini));
    cr_assert_eq(mt_config_error_count(cfg), 2);
    const char *missing = "/nonexistent/galaxy.yml";
    cr_assert_eq(mt_config_load_yaml(cfg, missing, err, sizeof err), -1);
    assert_error("/nonexistent/galaxy.yml: cannot open");
    cr_assert_eq(mt_config_error_count(cfg), 3);
}

Test(config, ignored_options_give_one_notice_each_shared_texts_one)
{
    const char *yml = tmp_file("uwsgi:\n  virtualenv: .venv\n  pythonpath: lib\n  module: galaxy:app\n"
                               "  offload-threads: 2\n  offload-threads: 4\n  route-run: goto:x\n  route-label: x\n");
    cr_assert_eq(load_args("--yaml", yml, NULL), 0, "%s", err);
    cr_assert_eq(mt_config_notice_count(cfg), 3, "python (3 options), offload-threads (twice), routing (2)");
    cr_assert(strstr(mt_config_notice_get(cfg, 0), arg_fmt("%s:2: option 'virtualenv' is accepted and has no effect", yml)),
              "%s", mt_config_notice_get(cfg, 0));
    cr_assert(strstr(mt_config_notice_get(cfg, 0), "muleteer runs no Python"));
    cr_assert(strstr(mt_config_notice_get(cfg, 1), arg_fmt("%s:5: option 'offload-threads'", yml)));
    cr_assert(strstr(mt_config_notice_get(cfg, 1), "sent by the web threads themselves"));
    cr_assert(strstr(mt_config_notice_get(cfg, 2), "option 'route-run'"));
    cr_assert(strstr(mt_config_notice_get(cfg, 2), "not evaluated"));
}

Test(config, refused_on_the_command_line_too)
{
    cr_assert_eq(load_args("--http-to-https", "--threads", "2", NULL), -1);
    cr_assert(strstr(err, "command line: option '--http-to-https': not supported: muleteer speaks plain HTTP only"),
              "%s", err);
    cr_assert_eq(mt_config_get_int(cfg, NULL, "threads"), 2);
}

static mt_stack_settings_t settings;

Test(config, options_check_umask_and_hooks)
{
    const char *yml = tmp_file("uwsgi:\n  umask: '027'\n"
                               "  hook-master-start: unix_signal:2 kill_them_all\n"
                               "  hook-master-start: unix_signal:15 gracefully_kill_them_all\n"
                               "  hook-master-start: unix_signal:1 reload_them_all\n"
                               "  hook-master-start: unix_signal:3 grace_them_all\n");
    cr_assert_eq(load_args("--yaml", yml, NULL), 0, "%s", err);
    cr_assert_eq(mt_stack_options_check(cfg, &settings), 0);
    cr_assert_eq(settings.umask, 027);
    cr_assert_eq(settings.on_signal[2], MT_SIGNAL_STOP_NOW);
    cr_assert_eq(settings.on_signal[15], MT_SIGNAL_STOP);
    cr_assert_eq(settings.on_signal[1], MT_SIGNAL_RELOAD_NOW);
    cr_assert_eq(settings.on_signal[3], MT_SIGNAL_RELOAD);
    cr_assert_eq(settings.on_signal[10], MT_SIGNAL_DEFAULT);
    cr_assert_eq(mt_config_error_count(cfg), 0);
}

Test(config, options_check_reports_every_bad_value)
{
    const char *yml = tmp_file("uwsgi:\n  umask: 0899\n"
                               "  hook-master-start: unix_signal:9 kill_them_all\n"
                               "  hook-master-start: unix_signal:15 burn_them_all\n"
                               "  hook-master-start: exec:/bin/true\n"
                               "  hook-master-start: unix_signal:x kill_them_all\n"
                               "  pidfile: ''\n");
    cr_assert_eq(load_args("--yaml", yml, NULL), 0, "%s", err);
    cr_assert_eq(mt_stack_options_check(cfg, &settings), -EINVAL);
    cr_assert_eq(mt_config_error_count(cfg), 6);
    assert_has_error(arg_fmt("%s:2: option 'umask': '0899' is not an octal mask from 000 to 777", yml));
    cr_assert(strstr(mt_config_error_get(cfg, 1), arg_fmt("%s:3: option 'hook-master-start': 'unix_signal:9 "
                                                          "kill_them_all': signal 9 cannot be given an action", yml)));
    cr_assert(strstr(mt_config_error_get(cfg, 2), ":4: option 'hook-master-start': 'unix_signal:15 burn_them_all': "
                                                  "unknown action"));
    cr_assert(strstr(mt_config_error_get(cfg, 3), ":5: option 'hook-master-start': 'exec:/bin/true': only "
                                                  "unix_signal:N ACTION hooks"));
    cr_assert(strstr(mt_config_error_get(cfg, 4), ":6: option 'hook-master-start': 'unix_signal:x kill_them_all': "
                                                  "expected unix_signal:N ACTION"));
    assert_has_error(arg_fmt("%s:7: option 'pidfile': needs a path", yml));
    cr_assert_eq(settings.umask, -1);
}

Test(config, reload_mercy_fills_the_mercies_not_given)
{
    const char *ini = tmp_file("[uwsgi]\nreload-mercy = 7\nmule-reload-mercy = 3\n");
    mt_source_t src;
    cr_assert_eq(load_args("--ini", ini, NULL), 0, "%s", err);
    cr_assert_eq(mt_stack_options_check(cfg, &settings), 0);
    cr_assert_eq(mt_config_get_int(cfg, NULL, "worker-reload-mercy"), 7);
    mt_config_get(cfg, NULL, "worker-reload-mercy", &src);
    assert_src_file(&src, ini, 2);
    cr_assert_eq(mt_config_get_int(cfg, NULL, "mule-reload-mercy"), 3, "given: kept");
}

Test(config, false_master_and_manage_script_name_get_notices)
{
    const char *yml = tmp_file("uwsgi:\n  master: false\n  die-on-term: true\n  manage-script-name: true\n");
    cr_assert_eq(load_args("--yaml", yml, NULL), 0, "%s", err);
    cr_assert_eq(mt_stack_options_check(cfg, &settings), 0);
    cr_assert_eq(mt_config_notice_count(cfg), 2);
    cr_assert(strstr(mt_config_notice_get(cfg, 0), arg_fmt("%s:2: option 'master' = false has no effect here", yml)));
    cr_assert(strstr(mt_config_notice_get(cfg, 1), arg_fmt("%s:4: option 'manage-script-name' has no effect", yml)));
}

Test(config, daemonize_twice_or_with_a_standalone_refused)
{
    cr_assert_eq(load_args("--daemonize", "a.log", "--daemonize2", "b.log", "--attach-to-pool", "job-handlers", NULL),
                 0, "%s", err);
    cr_assert_eq(mt_stack_options_check(cfg, &settings), -EINVAL);
    cr_assert(strstr(mt_config_error_get(cfg, 0), "command line: option '--daemonize2': daemonize is given too"),
              "%s", mt_config_error_get(cfg, 0));
    cr_assert(strstr(mt_config_error_get(cfg, 1), "option '--daemonize': a standalone handler (attach-to-pool) runs "
                                                  "in the foreground"),
              "%s", mt_config_error_get(cfg, 1));
}
