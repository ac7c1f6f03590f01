/*
 * Unit tests for log_config.c: the two logging configurations operators
 * already write (the Galaxy proposal's fileConfig INI sections and its
 * dictConfig `logging:` mapping) load into the right structs, sections and
 * keys that are not about logging are ignored, and every broken
 * configuration is refused with "file:line: where: what".
 *
 * Each test writes its file into a fresh temporary directory; error
 * tests compare the start of the message exactly (file, line, place and
 * the problem), leaving the "(expected ...)" hints free to change.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log_config.h"

/* ------------------------------------------------------------------ */
/* Helpers                                                             */
/* ------------------------------------------------------------------ */

static char tmpdir[64];
static char path[256];
static char err[1024];
static mt_log_conf_t conf;

static void setup(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/mt-test-log-config-XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
    memset(&conf, 0, sizeof conf);
    err[0] = '\0';
}

static void teardown(void)
{
    mt_log_conf_free(&conf);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(log_config, .init = setup, .fini = teardown);

/* Write text to tmpdir/name; its path in `path`. */
static void write_file(const char *name, const char *text)
{
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *fp = fopen(path, "w");
    cr_assert_not_null(fp, "%s: %s", path, strerror(errno));
    size_t len = strlen(text);
    cr_assert_eq(fwrite(text, 1, len, fp), len);
    fclose(fp);
}

static void load_ini_ok(const char *text)
{
    write_file("muleteer.ini", text);
    int rc = mt_log_conf_load_ini(path, &conf, err, sizeof err);
    cr_assert_eq(rc, 0, "load failed: %s", err);
}

static void load_yaml_ok(const char *text)
{
    write_file("muleteer.yml", text);
    int rc = mt_log_conf_load_yaml(path, &conf, err, sizeof err);
    cr_assert_eq(rc, 0, "load failed: %s", err);
}

/* The load failed: conf is left empty and err is one line starting "path:line: expected". */
static void assert_failed(int rc, int line, const char *expected)
{
    char want[1024];
    snprintf(want, sizeof want, "%s:%d: %s", path, line, expected);
    cr_assert_eq(rc, -1, "load should fail with: %s", want);
    cr_assert_eq(strncmp(err, want, strlen(want)), 0, "error:\n  %s\nexpected it to start with:\n  %s", err, want);
    cr_assert_null(strchr(err, '\n'), "error is not one line: %s", err);
    cr_assert_not(conf.present);
    cr_assert_null(conf.path);
    cr_assert_null(conf.loggers);
    cr_assert_null(conf.handlers);
    cr_assert_null(conf.formatters);
    cr_assert_eq(conf.nloggers + conf.nhandlers + conf.nformatters, 0);
}

static void ini_fails(const char *text, int line, const char *expected)
{
    write_file("muleteer.ini", text);
    err[0] = '\0';
    assert_failed(mt_log_conf_load_ini(path, &conf, err, sizeof err), line, expected);
}

static void yaml_fails(const char *text, int line, const char *expected)
{
    write_file("muleteer.yml", text);
    err[0] = '\0';
    assert_failed(mt_log_conf_load_yaml(path, &conf, err, sizeof err), line, expected);
}

static const mt_log_logger_conf_t *logger(const char *name)
{
    for (size_t i = 0; i < conf.nloggers; i++)
        if (strcmp(conf.loggers[i].name, name) == 0)
            return &conf.loggers[i];
    cr_assert_fail("no logger '%s'", name);
    return NULL;
}

static const mt_log_handler_conf_t *handler(const char *name)
{
    for (size_t i = 0; i < conf.nhandlers; i++)
        if (strcmp(conf.handlers[i].name, name) == 0)
            return &conf.handlers[i];
    cr_assert_fail("no handler '%s'", name);
    return NULL;
}

static const mt_log_formatter_conf_t *formatter(const char *name)
{
    for (size_t i = 0; i < conf.nformatters; i++)
        if (strcmp(conf.formatters[i].name, name) == 0)
            return &conf.formatters[i];
    cr_assert_fail("no formatter '%s'", name);
    return NULL;
}

#define GALAXY_FORMAT                                                                                          \
    "%(name)s %(levelname)-5.5s %(asctime)s [p:%(process)s,w:%(worker_id)s,m:%(mule_id)s] [%(threadName)s] " \
    "%(message)s"

/* ------------------------------------------------------------------ */
/* The proposal's INI example                                          */
/* ------------------------------------------------------------------ */

static const char proposal_ini[] = "[muleteer]\n"                  /* 1 */
                                   "processes = 4\n"               /* 2 */
                                   "\n"                            /* 3 */
                                   "[loggers]\n"                   /* 4 */
                                   "keys = root, galaxy\n"         /* 5 */
                                   "\n"                            /* 6 */
                                   "[handlers]\n"                  /* 7 */
                                   "keys = console\n"              /* 8 */
                                   "\n"                            /* 9 */
                                   "[formatters]\n"                /* 10 */
                                   "keys = generic\n"              /* 11 */
                                   "\n"                            /* 12 */
                                   "[logger_root]\n"               /* 13 */
                                   "level = INFO\n"                /* 14 */
                                   "handlers = console\n"          /* 15 */
                                   "\n"                            /* 16 */
                                   "[logger_galaxy]\n"             /* 17 */
                                   "level = DEBUG\n"               /* 18 */
                                   "handlers = console\n"          /* 19 */
                                   "qualname = galaxy\n"           /* 20 */
                                   "propagate = 0\n"               /* 21 */
                                   "\n"                            /* 22 */
                                   "[handler_console]\n"           /* 23 */
                                   "class = StreamHandler\n"       /* 24 */
                                   "args = (sys.stderr,)\n"        /* 25 */
                                   "level = DEBUG\n"               /* 26 */
                                   "formatter = generic\n"         /* 27 */
                                   "\n"                            /* 28 */
                                   "[formatter_generic]\n"         /* 29 */
                                   "format = " GALAXY_FORMAT "\n"  /* 30 */
                                   "\n"                            /* 31 */
                                   "[jobs]\n"                      /* 32 */
                                   "data-dir = data\n";            /* 33 */

Test(log_config, ini_proposal_example)
{
    load_ini_ok(proposal_ini);
    cr_assert(conf.present);
    cr_assert_str_eq(conf.path, path);

    cr_assert_eq(conf.nloggers, 2);
    const mt_log_logger_conf_t *root = &conf.loggers[0], *galaxy = &conf.loggers[1];
    cr_assert_str_eq(root->name, "root");
    cr_assert(root->has_level);
    cr_assert_eq(root->level, MT_LOG_INFO);
    cr_assert_eq(root->nhandlers, 1);
    cr_assert_str_eq(root->handlers[0], "console");
    cr_assert(root->propagate);
    cr_assert_eq(root->line, 13);

    cr_assert_str_eq(galaxy->name, "galaxy");
    cr_assert(galaxy->has_level);
    cr_assert_eq(galaxy->level, MT_LOG_DEBUG);
    cr_assert_eq(galaxy->nhandlers, 1);
    cr_assert_str_eq(galaxy->handlers[0], "console");
    cr_assert_not(galaxy->propagate);
    cr_assert_eq(galaxy->line, 17);

    cr_assert_eq(conf.nhandlers, 1);
    const mt_log_handler_conf_t *console = &conf.handlers[0];
    cr_assert_str_eq(console->name, "console");
    cr_assert_eq(console->target, MT_LOG_TO_STDERR);
    cr_assert_null(console->filename);
    cr_assert_null(console->filename_template);
    cr_assert(console->has_level);
    cr_assert_eq(console->level, MT_LOG_DEBUG);
    cr_assert_str_eq(console->formatter, "generic");
    cr_assert_eq(console->line, 23);

    cr_assert_eq(conf.nformatters, 1);
    const mt_log_formatter_conf_t *generic = &conf.formatters[0];
    cr_assert_str_eq(generic->name, "generic");
    cr_assert_str_eq(generic->format, GALAXY_FORMAT);
    cr_assert_null(generic->datefmt);
    cr_assert_not(generic->json);
    cr_assert_eq(generic->line, 29);
}

Test(log_config, ini_free_zeroes_and_accepts_zeroed)
{
    load_ini_ok(proposal_ini);
    mt_log_conf_free(&conf);
    mt_log_conf_t zero;
    memset(&zero, 0, sizeof zero);
    cr_assert_eq(memcmp(&conf, &zero, sizeof conf), 0);
    mt_log_conf_free(&conf); /* zeroed: nothing to do */
    mt_log_conf_free(&zero);
    mt_log_conf_free(NULL);
    cr_assert_eq(memcmp(&conf, &zero, sizeof conf), 0);
}

Test(log_config, ini_without_logging_sections)
{
    load_ini_ok("[muleteer]\nprocesses = 4\n[jobs]\ndata-dir = data\n");
    cr_assert_not(conf.present);
    cr_assert_eq(conf.nloggers + conf.nhandlers + conf.nformatters, 0);

    mt_log_conf_free(&conf);
    load_ini_ok("");
    cr_assert_not(conf.present);

    /* A [logger_X] alone is not listed anywhere: ignored, as Python does. */
    mt_log_conf_free(&conf);
    load_ini_ok("[logger_root]\nlevel = LOUD\nbogus = 1\n");
    cr_assert_not(conf.present);
}

Test(log_config, ini_other_sections_and_unlisted_sections_ignored)
{
    load_ini_ok("[muleteer]\n"
                "anything = goes\n"
                "[loggers]\n"
                "keys = root\n"
                "[logger_root]\n"
                "handlers =\n"
                "[logger_unlisted]\n"
                "level = LOUD\n"
                "whatever = 1\n"
                "[handler_unlisted]\n"
                "class = Nope\n"
                "[uwsgi]\n"
                "mule =\n"
                "mule =\n");
    cr_assert(conf.present);
    cr_assert_eq(conf.nloggers, 1);
    cr_assert_str_eq(conf.loggers[0].name, "root");
    cr_assert_not(conf.loggers[0].has_level);
    cr_assert_eq(conf.loggers[0].nhandlers, 0);
    cr_assert_eq(conf.nhandlers, 0);
    cr_assert_eq(conf.nformatters, 0);
}

Test(log_config, ini_file_handlers_and_variants)
{
    load_ini_ok("[loggers]\n"                                         /* 1 */
                "keys = root, jobs\n"                                 /* 2 */
                "[handlers]\n"                                        /* 3 */
                "keys = out, plain, quoted, appended, named, watched\n" /* 4 */
                "[formatters]\n"                                      /* 5 */
                "keys = js, stamped, empty\n"                         /* 6 */
                "[logger_root]\n"                                     /* 7 */
                "Level = notset\n"                                    /* 8 */
                "handlers = out,plain , quoted\n"                     /* 9 */
                "[logger_jobs]\n"                                     /* 10 */
                "qualname = galaxy.jobs\n"                            /* 11 */
                "propagate = Yes\n"                                   /* 12 */
                "level = warn\n"                                      /* 13 */
                "handlers = appended,\n"                              /* 14 */
                "  named, watched\n"                                  /* 15 */
                "[handler_out]\n"                                     /* 16 */
                "class = logging.StreamHandler\n"                     /* 17 */
                "args = ( sys.stdout , )\n"                           /* 18 */
                "formatter = js\n"                                    /* 19 */
                "[handler_plain]\n"                                   /* 20 */
                "class = StreamHandler\n"                             /* 21 */
                "formatter =\n"                                       /* 22 */
                "[handler_quoted]\n"                                  /* 23 */
                "class = FileHandler\n"                               /* 24 */
                "args = ('logs/main.log',)\n"                         /* 25 */
                "level = CRITICAL\n"                                  /* 26 */
                "formatter = stamped\n"                               /* 27 */
                "[handler_appended]\n"                                /* 28 */
                "class = logging.FileHandler\n"                       /* 29 */
                "args = (\"a.log\", \"a\")\n"                         /* 30 */
                "filename_template = a_{server_name}_{pid}.log\n"     /* 31 */
                "[handler_named]\n"                                   /* 32 */
                "class = handlers.WatchedFileHandler\n"               /* 33 */
                "filename = /var/log/muleteer.log\n"                  /* 34 */
                "[handler_watched]\n"                                 /* 35 */
                "class = logging.handlers.WatchedFileHandler\n"       /* 36 */
                "args = ('w.log', 'a')\n"                             /* 37 */
                "level = NOTSET\n"                                    /* 38 */
                "[formatter_js]\n"                                    /* 39 */
                "class = json\n"                                      /* 40 */
                "[formatter_stamped]\n"                               /* 41 */
                "format = %(asctime)s %(message)s\n"                  /* 42 */
                "datefmt = %H:%M:%S\n"                                /* 43 */
                "class = logging.Formatter\n"                         /* 44 */
                "[formatter_empty]\n");                               /* 45 */

    const mt_log_logger_conf_t *root = logger("root"), *jobs = logger("galaxy.jobs");
    cr_assert_not(root->has_level);
    cr_assert_eq(root->nhandlers, 3);
    cr_assert_str_eq(root->handlers[0], "out");
    cr_assert_str_eq(root->handlers[1], "plain");
    cr_assert_str_eq(root->handlers[2], "quoted");
    cr_assert(jobs->propagate);
    cr_assert(jobs->has_level);
    cr_assert_eq(jobs->level, MT_LOG_WARN);
    cr_assert_eq(jobs->nhandlers, 3, "a list continued on an indented line");
    cr_assert_str_eq(jobs->handlers[2], "watched");
    cr_assert_eq(jobs->line, 10);

    const mt_log_handler_conf_t *h = handler("out");
    cr_assert_eq(h->target, MT_LOG_TO_STDOUT);
    cr_assert_str_eq(h->formatter, "js");
    cr_assert_not(h->has_level);
    h = handler("plain");
    cr_assert_eq(h->target, MT_LOG_TO_STDERR);
    cr_assert_null(h->formatter);
    h = handler("quoted");
    cr_assert_eq(h->target, MT_LOG_TO_FILE);
    cr_assert_str_eq(h->filename, "logs/main.log");
    cr_assert_null(h->filename_template);
    cr_assert_eq(h->level, MT_LOG_ALERT);
    cr_assert_eq(h->line, 23);
    h = handler("appended");
    cr_assert_eq(h->target, MT_LOG_TO_FILE);
    cr_assert_str_eq(h->filename, "a.log");
    cr_assert_str_eq(h->filename_template, "a_{server_name}_{pid}.log");
    h = handler("named");
    cr_assert_eq(h->target, MT_LOG_TO_FILE);
    cr_assert_str_eq(h->filename, "/var/log/muleteer.log");
    h = handler("watched");
    cr_assert_eq(h->target, MT_LOG_TO_FILE);
    cr_assert_str_eq(h->filename, "w.log");
    cr_assert_not(h->has_level);

    const mt_log_formatter_conf_t *f = formatter("js");
    cr_assert(f->json);
    cr_assert_null(f->format);
    f = formatter("stamped");
    cr_assert_not(f->json);
    cr_assert_str_eq(f->format, "%(asctime)s %(message)s");
    cr_assert_str_eq(f->datefmt, "%H:%M:%S");
    cr_assert_eq(f->line, 41);
    f = formatter("empty");
    cr_assert_not(f->json);
    cr_assert_null(f->format);
    cr_assert_null(f->datefmt);
    cr_assert_eq(f->line, 45, "a section without keys still has its line");
}

Test(log_config, ini_json_formatter_class_spellings)
{
    load_ini_ok("[formatters]\nkeys = a, b\n"
                "[formatter_a]\nclass = muleteer.JsonFormatter\n"
                "[formatter_b]\nclass = JSON\n");
    cr_assert(formatter("a")->json);
    cr_assert(formatter("b")->json);
}

/* ------------------------------------------------------------------ */
/* INI errors                                                          */
/* ------------------------------------------------------------------ */

/* A valid configuration around one handler section, for the handler errors. */
#define INI_ONE_HANDLER(body)                                                                                   \
    "[loggers]\nkeys = root\n"                       /* 1-2 */                                                   \
    "[handlers]\nkeys = h\n"                         /* 3-4 */                                                   \
    "[formatters]\nkeys = generic\n"                 /* 5-6 */                                                   \
    "[logger_root]\nlevel = INFO\nhandlers = h\n"    /* 7-9 */                                                   \
    "[formatter_generic]\nformat = %(message)s\n"    /* 10-11 */                                                 \
    "[handler_h]\n"                                  /* 12 */                                                    \
    body                                             /* 13- */

Test(log_config, ini_handler_baseline_loads)
{
    /* The fixture the handler error tests vary is itself valid. */
    load_ini_ok(INI_ONE_HANDLER("class = StreamHandler\nformatter = generic\n"));
    cr_assert_eq(handler("h")->line, 12);
}

Test(log_config, ini_unknown_keys)
{
    ini_fails(INI_ONE_HANDLER("class = StreamHandler\nfilname = x.log\n"), 14,
              "[handler_h]: unknown key 'filname'");
    ini_fails("[loggers]\nkey = root\n", 2, "[loggers]: unknown key 'key'");
    ini_fails("[loggers]\nkeys = root\n[logger_root]\nlevel = INFO\nhandler = h\n", 5,
              "[logger_root]: unknown key 'handler'");
    ini_fails("[formatters]\nkeys = f\n[formatter_f]\nformat = %(message)s\nstyle = %\n", 5,
              "[formatter_f]: unknown key 'style'");
    ini_fails("[handlers]\nkeys = h\n[handler_h]\nclass = StreamHandler\nkwargs = {}\n", 5,
              "[handler_h]: unknown key 'kwargs'");
}

Test(log_config, ini_listed_name_without_section)
{
    ini_fails("[loggers]\nkeys = root, galaxy\n[logger_root]\nlevel = INFO\n", 2,
              "[loggers] keys: no section [logger_galaxy] for 'galaxy'");
    ini_fails("[handlers]\nkeys = console\n[handler_consol]\nclass = StreamHandler\n", 2,
              "[handlers] keys: no section [handler_console] for 'console'");
    ini_fails("[formatters]\n\nkeys = generic\n", 3, "[formatters] keys: no section [formatter_generic] for 'generic'");
}

Test(log_config, ini_bad_lists)
{
    ini_fails("[loggers]\nkeys = root,,x\n[logger_root]\n", 2, "[loggers] keys: empty name in the list");
    ini_fails("[loggers]\nkeys = root, root\n[logger_root]\n", 2, "[loggers] keys: 'root' listed twice");
    ini_fails(INI_ONE_HANDLER("class = StreamHandler\n") "[logger_root]\n", 14, "[logger_root]: section given twice");
    ini_fails("[loggers]\nkeys = root\nkeys = other\n", 3, "[loggers] keys: given twice (first on line 2)");
}

Test(log_config, ini_logger_names_undefined_handler)
{
    ini_fails("[loggers]\nkeys = root\n[handlers]\nkeys = console\n"
              "[logger_root]\nhandlers = console, files\n"
              "[handler_console]\nclass = StreamHandler\n"
              "[handler_files]\nclass = FileHandler\nargs = ('x.log',)\n",
              6, "[logger_root] handlers: no handler 'files'");
    ini_fails("[loggers]\nkeys = root\n[logger_root]\nhandlers = console, console\n", 4,
              "[logger_root] handlers: no handler 'console'");
    ini_fails("[loggers]\nkeys = root\n[handlers]\nkeys = console\n[handler_console]\nclass = StreamHandler\n"
              "[logger_root]\nhandlers = console, console\n",
              8, "[logger_root] handlers: handler 'console' listed twice");
}

Test(log_config, ini_handler_names_undefined_formatter)
{
    ini_fails(INI_ONE_HANDLER("class = StreamHandler\nformatter = generik\n"), 14,
              "[handler_h] formatter: no formatter 'generik'");
}

Test(log_config, ini_unknown_level)
{
    ini_fails(INI_ONE_HANDLER("class = StreamHandler\nlevel = LOUD\n"), 14, "[handler_h] level: unknown level 'LOUD'");
    ini_fails("[loggers]\nkeys = root\n[logger_root]\nlevel = verbose\n", 4,
              "[logger_root] level: unknown level 'verbose'");
}

Test(log_config, ini_unknown_handler_class)
{
    ini_fails(INI_ONE_HANDLER("class = SysLogHandler\n"), 13,
              "[handler_h] class: unknown handler class 'SysLogHandler'");
    ini_fails(INI_ONE_HANDLER("class = logging.handlers.StreamHandlr\n"), 13,
              "[handler_h] class: unknown handler class 'logging.handlers.StreamHandlr'");
    ini_fails(INI_ONE_HANDLER("level = INFO\n"), 12, "[handler_h]: no class");
}

Test(log_config, ini_bad_args)
{
    ini_fails(INI_ONE_HANDLER("class = StreamHandler\nargs = (sys.stdin,)\n"), 14,
              "[handler_h] args: unknown stream 'sys.stdin'");
    const char *unreadable[] = {
        "(sys.stderr)", "sys.stderr,", "(sys.stderr,", "('a.log', 'a', 'utf-8')", "('a.log)", "('a.log', a)",
        "(sys.stderr,) x", "(,)", "('a\\\\b.log',)", "(1,)",
    };
    for (size_t i = 0; i < sizeof unreadable / sizeof unreadable[0]; i++) {
        char text[512];
        snprintf(text, sizeof text, "%s%s\n", INI_ONE_HANDLER("class = FileHandler\nargs = "), unreadable[i]);
        ini_fails(text, 14, "[handler_h] args: cannot read");
        mt_log_conf_free(&conf);
    }
    ini_fails(INI_ONE_HANDLER("class = StreamHandler\nargs = ('x.log',)\n"), 14,
              "[handler_h] args: a StreamHandler writes to sys.stderr or sys.stdout, not to a file");
    ini_fails(INI_ONE_HANDLER("class = FileHandler\nargs = (sys.stderr,)\n"), 14,
              "[handler_h] args: a FileHandler writes to a file");
    ini_fails(INI_ONE_HANDLER("class = FileHandler\nargs = ('',)\n"), 14, "[handler_h] args: empty file name");
}

Test(log_config, ini_file_handler_without_file)
{
    ini_fails(INI_ONE_HANDLER("class = FileHandler\nlevel = INFO\n"), 12, "[handler_h]: a FileHandler needs a file");
    ini_fails(INI_ONE_HANDLER("class = WatchedFileHandler\nargs = ()\nfilename_template = {pid}.log\n"), 12,
              "[handler_h]: a WatchedFileHandler needs a file");
    ini_fails(INI_ONE_HANDLER("class = FileHandler\nfilename =\n"), 14, "[handler_h] filename: empty file name");
}

Test(log_config, ini_file_keys_on_a_stream_handler_and_twice)
{
    ini_fails(INI_ONE_HANDLER("class = StreamHandler\nfilename = x.log\n"), 14,
              "[handler_h] filename: only for FileHandler or WatchedFileHandler");
    ini_fails(INI_ONE_HANDLER("class = StreamHandler\nfilename_template = {pid}.log\n"), 14,
              "[handler_h] filename_template: only for FileHandler or WatchedFileHandler");
    ini_fails(INI_ONE_HANDLER("class = FileHandler\nargs = ('a.log',)\nfilename = b.log\n"), 15,
              "[handler_h] filename: the file is already given by args (line 14)");
}

Test(log_config, ini_mode_other_than_append)
{
    ini_fails(INI_ONE_HANDLER("class = FileHandler\nargs = ('x.log', 'w')\n"), 14,
              "[handler_h] args: mode 'w' is not supported");
}

Test(log_config, ini_bad_filename_template)
{
    ini_fails(INI_ONE_HANDLER("class = FileHandler\nfilename = x.log\nfilename_template = x_{pool}.log\n"), 15,
              "[handler_h] filename_template: unknown placeholder '{pool}'");
    ini_fails(INI_ONE_HANDLER("class = FileHandler\nfilename = x.log\nfilename_template = x_{pid.log\n"), 15,
              "[handler_h] filename_template: unbalanced '{' at offset 2");
    ini_fails(INI_ONE_HANDLER("class = FileHandler\nfilename = x.log\nfilename_template = x_{pid{server_id}}.log\n"),
              15, "[handler_h] filename_template: unbalanced '{' at offset 2");
    ini_fails(INI_ONE_HANDLER("class = FileHandler\nfilename = x.log\nfilename_template = x_pid}.log\n"), 15,
              "[handler_h] filename_template: unbalanced '}' at offset 5");
    ini_fails(INI_ONE_HANDLER("class = FileHandler\nfilename = x.log\nfilename_template = {}.log\n"), 15,
              "[handler_h] filename_template: unknown placeholder '{}'");
}

Test(log_config, ini_logger_without_qualname)
{
    ini_fails("[loggers]\nkeys = root, galaxy\n[logger_root]\n[logger_galaxy]\nlevel = DEBUG\n", 4,
              "[logger_galaxy]: no qualname");
    ini_fails("[loggers]\nkeys = root, galaxy\n[logger_root]\n[logger_galaxy]\nqualname =\n", 5,
              "[logger_galaxy] qualname: empty logger name");
    ini_fails("[loggers]\nkeys = a, b\n[logger_a]\nqualname = galaxy\n[logger_b]\nqualname = galaxy\n", 6,
              "[logger_b] qualname: logger 'galaxy' is already configured on line 3");
    ini_fails("[loggers]\nkeys = a\n[logger_a]\nqualname = root\n", 4,
              "[logger_a] qualname: 'root' is the root logger");
}

Test(log_config, ini_bad_propagate)
{
    const char *good[] = { "0", "1", "true", "False", "YES", "no" };
    const bool want[] = { false, true, true, false, true, false };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        char text[256];
        snprintf(text, sizeof text, "[loggers]\nkeys = g\n[logger_g]\nqualname = g\npropagate = %s\n", good[i]);
        load_ini_ok(text);
        cr_assert_eq(logger("g")->propagate, want[i], "propagate = %s", good[i]);
        mt_log_conf_free(&conf);
    }
    ini_fails("[loggers]\nkeys = g\n[logger_g]\nqualname = g\npropagate = maybe\n", 5,
              "[logger_g] propagate: 'maybe' is not a boolean");
    ini_fails("[loggers]\nkeys = g\n[logger_g]\nqualname = g\npropagate = 2\n", 5,
              "[logger_g] propagate: '2' is not a boolean");
}

Test(log_config, ini_bad_format)
{
    ini_fails("[formatters]\nkeys = generic\n[formatter_generic]\nformat = %(name)s %(nope)s\n", 4,
              "[formatter_generic] format: unknown field 'nope'");
    ini_fails("[formatters]\nkeys = f\n[formatter_f]\nformat = %(message)s\n  and more\n", 4,
              "[formatter_f] format: the value continues on an indented line");
    ini_fails("[formatters]\nkeys = f\n[formatter_f]\nclass = mypackage.Formatter\n", 4,
              "[formatter_f] class: unknown formatter class 'mypackage.Formatter'");
}

Test(log_config, ini_json_formatter_skips_the_format_check)
{
    load_ini_ok("[formatters]\nkeys = f\n[formatter_f]\nclass = json\nformat = %(nope)s\n");
    cr_assert(formatter("f")->json);
}

Test(log_config, ini_syntax_errors_and_missing_file)
{
    ini_fails("[loggers]\nkeys = root\nthis line has no equals sign\n", 3, "syntax error");

    char line[400];
    memset(line, 'x', sizeof line - 2);
    line[sizeof line - 2] = '\n';
    line[sizeof line - 1] = '\0';
    char text[512];
    snprintf(text, sizeof text, "[loggers]\nkeys = root\n# %s", line);
    ini_fails(text, 3, "line too long");

    snprintf(path, sizeof path, "%s/absent.ini", tmpdir);
    cr_assert_eq(mt_log_conf_load_ini(path, &conf, err, sizeof err), -1);
    cr_assert(strstr(err, "absent.ini: cannot open"), "%s", err);
}

/* ------------------------------------------------------------------ */
/* The proposal's YAML example                                         */
/* ------------------------------------------------------------------ */

static const char proposal_yaml[] = "muleteer:\n"                                                   /* 1 */
                                    "  processes: 4\n"                                              /* 2 */
                                    "  mule:\n"                                                     /* 3 */
                                    "  mule:\n"                                                     /* 4 */
                                    "logging:\n"                                                    /* 5 */
                                    "  version: 1\n"                                                /* 6 */
                                    "  root:\n"                                                     /* 7 */
                                    "    level: INFO\n"                                             /* 8 */
                                    "    handlers: [console, files]\n"                              /* 9 */
                                    "  loggers:\n"                                                  /* 10 */
                                    "    muleteer:\n"                                               /* 11 */
                                    "      level: DEBUG\n"                                          /* 12 */
                                    "      handlers: [console, files]\n"                            /* 13 */
                                    "      qualname: muleteer\n"                                    /* 14 */
                                    "      propagate: 0\n"                                          /* 15 */
                                    "  handlers:\n"                                                 /* 16 */
                                    "    console:\n"                                                /* 17 */
                                    "      class: logging.StreamHandler\n"                          /* 18 */
                                    "      level: DEBUG\n"                                          /* 19 */
                                    "      formatter: generic\n"                                    /* 20 */
                                    "      stream: ext://sys.stderr\n"                              /* 21 */
                                    "    files:\n"                                                  /* 22 */
                                    "      class: logging.FileHandler\n"                            /* 23 */
                                    "      level: DEBUG\n"                                          /* 24 */
                                    "      formatter: generic\n"                                    /* 25 */
                                    "      filename: muleteer_default.log\n"                        /* 26 */
                                    "      filename_template: muleteer_{pool_name}_{server_id}.log\n" /* 27 */
                                    "  formatters:\n"                                               /* 28 */
                                    "    generic:\n"                                                /* 29 */
                                    "      format: \"" GALAXY_FORMAT "\"\n"                         /* 30 */
                                    "jobs:\n"                                                       /* 31 */
                                    "  data-dir: data\n"                                            /* 32 */
                                    "galaxy:\n"                                                     /* 33 */
                                    "  admin_users: [a@example.org]\n";                             /* 34 */

Test(log_config, yaml_proposal_example)
{
    load_yaml_ok(proposal_yaml);
    cr_assert(conf.present);
    cr_assert_str_eq(conf.path, path);

    cr_assert_eq(conf.nloggers, 2);
    const mt_log_logger_conf_t *root = logger("root"), *mul = logger("muleteer");
    cr_assert(root->has_level);
    cr_assert_eq(root->level, MT_LOG_INFO);
    cr_assert_eq(root->nhandlers, 2);
    cr_assert_str_eq(root->handlers[0], "console");
    cr_assert_str_eq(root->handlers[1], "files");
    cr_assert(root->propagate);
    cr_assert_eq(root->line, 7);
    cr_assert(mul->has_level);
    cr_assert_eq(mul->level, MT_LOG_DEBUG);
    cr_assert_eq(mul->nhandlers, 2);
    cr_assert_str_eq(mul->handlers[0], "console");
    cr_assert_str_eq(mul->handlers[1], "files");
    cr_assert_not(mul->propagate);
    cr_assert_eq(mul->line, 11);

    cr_assert_eq(conf.nhandlers, 2);
    const mt_log_handler_conf_t *console = handler("console"), *files = handler("files");
    cr_assert_eq(console->target, MT_LOG_TO_STDERR);
    cr_assert_null(console->filename);
    cr_assert(console->has_level);
    cr_assert_eq(console->level, MT_LOG_DEBUG);
    cr_assert_str_eq(console->formatter, "generic");
    cr_assert_eq(console->line, 17);
    cr_assert_eq(files->target, MT_LOG_TO_FILE);
    cr_assert_str_eq(files->filename, "muleteer_default.log");
    cr_assert_str_eq(files->filename_template, "muleteer_{pool_name}_{server_id}.log");
    cr_assert(files->has_level);
    cr_assert_eq(files->level, MT_LOG_DEBUG);
    cr_assert_str_eq(files->formatter, "generic");
    cr_assert_eq(files->line, 22);

    cr_assert_eq(conf.nformatters, 1);
    const mt_log_formatter_conf_t *generic = formatter("generic");
    cr_assert_str_eq(generic->format, GALAXY_FORMAT);
    cr_assert_null(generic->datefmt);
    cr_assert_not(generic->json);
    cr_assert_eq(generic->line, 29);
}

Test(log_config, yaml_without_logging_key)
{
    load_yaml_ok("muleteer:\n  processes: 4\njobs:\n  data-dir: data\n");
    cr_assert_not(conf.present);
    cr_assert_eq(conf.nloggers + conf.nhandlers + conf.nformatters, 0);
    mt_log_conf_free(&conf);
    load_yaml_ok("");
    cr_assert_not(conf.present);
    mt_log_conf_free(&conf);
    load_yaml_ok("logging:\n");
    cr_assert_not(conf.present);
}

Test(log_config, yaml_variants)
{
    load_yaml_ok("logging:\n"
                 "  version: 1\n"
                 "  disable_existing_loggers: false\n"
                 "  formatters:\n"
                 "    js: {class: json}\n"
                 "    stamped:\n"
                 "      format: '%(asctime)s %(message)s'\n"
                 "      datefmt: '%H:%M'\n"
                 "  handlers:\n"
                 "    out:\n"
                 "      class: StreamHandler\n"
                 "      stream: ext://sys.stdout\n"
                 "      formatter: js\n"
                 "    w:\n"
                 "      class: logging.handlers.WatchedFileHandler\n"
                 "      filename: w.log\n"
                 "      mode: a\n"
                 "      level: notset\n"
                 "  loggers:\n"
                 "    galaxy.jobs:\n"
                 "      handlers:\n"
                 "        - out\n"
                 "        - w\n"
                 "      propagate: false\n"
                 "    quiet: {}\n");
    cr_assert(conf.present);
    cr_assert_eq(conf.nloggers, 2);
    const mt_log_logger_conf_t *jobs = logger("galaxy.jobs");
    cr_assert_not(jobs->has_level);
    cr_assert_not(jobs->propagate);
    cr_assert_eq(jobs->nhandlers, 2);
    cr_assert_str_eq(jobs->handlers[1], "w");
    cr_assert_eq(jobs->line, 20);
    cr_assert_eq(logger("quiet")->nhandlers, 0);
    cr_assert(logger("quiet")->propagate);
    cr_assert_eq(handler("out")->target, MT_LOG_TO_STDOUT);
    cr_assert_str_eq(handler("out")->formatter, "js");
    cr_assert_eq(handler("w")->target, MT_LOG_TO_FILE);
    cr_assert_str_eq(handler("w")->filename, "w.log");
    cr_assert_null(handler("w")->filename_template);
    cr_assert_not(handler("w")->has_level);
    cr_assert(formatter("js")->json);
    cr_assert_str_eq(formatter("stamped")->datefmt, "%H:%M");
}

/* ------------------------------------------------------------------ */
/* YAML errors                                                         */
/* ------------------------------------------------------------------ */

/* A valid logging mapping around one handler, for the handler errors. */
#define YAML_ONE_HANDLER(body)                          \
    "logging:\n"                     /* 1 */            \
    "  version: 1\n"                 /* 2 */            \
    "  formatters:\n"                /* 3 */            \
    "    generic:\n"                 /* 4 */            \
    "      format: '%(message)s'\n"  /* 5 */            \
    "  root:\n"                      /* 6 */            \
    "    handlers: [h]\n"            /* 7 */            \
    "  handlers:\n"                  /* 8 */            \
    "    h:\n"                       /* 9 */            \
    body                             /* 10- */

Test(log_config, yaml_handler_baseline_loads)
{
    load_yaml_ok(YAML_ONE_HANDLER("      class: StreamHandler\n      formatter: generic\n"));
    cr_assert_eq(handler("h")->line, 9);
}

Test(log_config, yaml_unknown_keys)
{
    yaml_fails(YAML_ONE_HANDLER("      class: FileHandler\n      filname: x.log\n"), 11,
               "logging.handlers.h: unknown key 'filname'");
    yaml_fails("logging:\n  version: 1\n  filters: {}\n", 3, "logging: unknown key 'filters'");
    yaml_fails("logging:\n  version: 1\n  root:\n    level: INFO\n    filters: []\n", 5,
               "logging.root: unknown key 'filters'");
    yaml_fails("logging:\n  version: 1\n  formatters:\n    f:\n      style: '{'\n", 5,
               "logging.formatters.f: unknown key 'style'");
    yaml_fails("logging:\n  version: 1\n  loggers:\n    a:\n      levl: INFO\n", 5,
               "logging.loggers.a: unknown key 'levl'");
    /* A key holding a line break stays on one line in the message. */
    yaml_fails("logging:\n  version: 1\n  \"a\\nb\": 1\n", 3, "logging: unknown key 'a\\nb'");
}

Test(log_config, yaml_version)
{
    yaml_fails("muleteer: {}\nlogging:\n  root: {level: INFO}\n", 2, "logging: no version");
    yaml_fails("logging:\n  version: 2\n", 2, "logging.version: must be 1, not '2'");
    yaml_fails("logging:\n  version: [1]\n", 2, "logging.version: expected a single value");
}

Test(log_config, yaml_repeated_keys)
{
    yaml_fails("logging:\n  version: 1\n  handlers: {}\n  handlers: {}\n", 4,
               "logging: 'handlers' given twice (first on line 3)");
    yaml_fails(YAML_ONE_HANDLER("      class: StreamHandler\n    h:\n      class: StreamHandler\n"), 11,
               "logging.handlers: 'h' given twice (first on line 9)");
    yaml_fails(YAML_ONE_HANDLER("      class: StreamHandler\n      level: INFO\n      level: DEBUG\n"), 12,
               "logging.handlers.h: 'level' given twice (first on line 11)");
    yaml_fails("logging:\n  version: 1\nlogging:\n  version: 1\n", 3, "logging: given twice (first on line 1)");
}

Test(log_config, yaml_logger_names_undefined_handler)
{
    yaml_fails(YAML_ONE_HANDLER("      class: StreamHandler\n"
                                "  loggers:\n"
                                "    muleteer:\n"
                                "      handlers: [h, files]\n"),
               13, "logging.loggers.muleteer.handlers: no handler 'files'");
    yaml_fails("logging:\n  version: 1\n  root:\n    handlers: [console]\n", 4,
               "logging.root.handlers: no handler 'console'");
    yaml_fails("logging:\n  version: 1\n  root:\n    handlers: console\n", 4,
               "logging.root.handlers: expected a list of handler names");
}

Test(log_config, yaml_handler_names_undefined_formatter)
{
    yaml_fails(YAML_ONE_HANDLER("      class: StreamHandler\n      formatter: generik\n"), 11,
               "logging.handlers.h.formatter: no formatter 'generik'");
}

Test(log_config, yaml_unknown_level)
{
    yaml_fails(YAML_ONE_HANDLER("      class: StreamHandler\n      level: LOUD\n"), 11,
               "logging.handlers.h.level: unknown level 'LOUD'");
    yaml_fails("logging:\n  version: 1\n  root:\n    level: 10\n", 4, "logging.root.level: unknown level '10'");
}

Test(log_config, yaml_unknown_handler_class)
{
    yaml_fails(YAML_ONE_HANDLER("      class: logging.handlers.SysLogHandler\n"), 10,
               "logging.handlers.h.class: unknown handler class 'logging.handlers.SysLogHandler'");
    yaml_fails(YAML_ONE_HANDLER("      level: INFO\n"), 9, "logging.handlers.h: no class");
}

Test(log_config, yaml_unknown_stream)
{
    yaml_fails(YAML_ONE_HANDLER("      class: StreamHandler\n      stream: ext://sys.stdin\n"), 11,
               "logging.handlers.h.stream: unknown stream 'ext://sys.stdin'");
    yaml_fails(YAML_ONE_HANDLER("      class: StreamHandler\n      stream: sys.stderr\n"), 11,
               "logging.handlers.h.stream: unknown stream 'sys.stderr'");
    yaml_fails(YAML_ONE_HANDLER("      class: FileHandler\n      filename: x.log\n"
                                "      stream: ext://sys.stderr\n"),
               12,
               "logging.handlers.h.stream: only for StreamHandler");
}

Test(log_config, yaml_file_handler_without_filename)
{
    yaml_fails(YAML_ONE_HANDLER("      class: logging.FileHandler\n"
                                "      filename_template: x_{pid}.log\n"),
               9, "logging.handlers.h: a logging.FileHandler needs a filename");
    yaml_fails(YAML_ONE_HANDLER("      class: FileHandler\n      filename: ''\n"), 11,
               "logging.handlers.h.filename: empty file name");
    yaml_fails(YAML_ONE_HANDLER("      class: StreamHandler\n      filename: x.log\n"), 11,
               "logging.handlers.h.filename: only for FileHandler or WatchedFileHandler");
}

Test(log_config, yaml_mode_other_than_append)
{
    yaml_fails(YAML_ONE_HANDLER("      class: FileHandler\n      filename: x.log\n      mode: w\n"), 12,
               "logging.handlers.h.mode: mode 'w' is not supported");
}

Test(log_config, yaml_bad_filename_template)
{
    yaml_fails(YAML_ONE_HANDLER("      class: FileHandler\n      filename: x.log\n"
                                "      filename_template: x_{worker_id}.log\n"),
               12, "logging.handlers.h.filename_template: unknown placeholder '{worker_id}'");
    yaml_fails(YAML_ONE_HANDLER("      class: FileHandler\n      filename: x.log\n"
                                "      filename_template: 'x_{pid'\n"),
               12, "logging.handlers.h.filename_template: unbalanced '{' at offset 2");
    yaml_fails(YAML_ONE_HANDLER("      class: FileHandler\n      filename: x.log\n"
                                "      filename_template: 'x}'\n"),
               12, "logging.handlers.h.filename_template: unbalanced '}' at offset 1");
}

Test(log_config, yaml_bad_propagate_and_qualname)
{
    yaml_fails("logging:\n  version: 1\n  loggers:\n    a:\n      propagate: sometimes\n", 5,
               "logging.loggers.a.propagate: 'sometimes' is not a boolean");
    yaml_fails("logging:\n  version: 1\n  loggers:\n    a:\n      qualname: b\n", 5,
               "logging.loggers.a.qualname: 'b' differs from the logger's name 'a'");
    yaml_fails("logging:\n  version: 1\n  loggers:\n    root:\n      level: INFO\n", 4,
               "logging.loggers.root: configure the root logger under logging.root");
    yaml_fails("logging:\n  version: 1\n  disable_existing_loggers: perhaps\n", 3,
               "logging.disable_existing_loggers: 'perhaps' is not a boolean");
}

Test(log_config, yaml_bad_format)
{
    yaml_fails("logging:\n  version: 1\n  formatters:\n    generic:\n      datefmt: '%H'\n"
               "      format: '%(asctime)s %(bogus)d'\n",
               6, "logging.formatters.generic.format: unknown field 'bogus'");
    yaml_fails("logging:\n  version: 1\n  formatters:\n    f:\n      class: my.Formatter\n", 5,
               "logging.formatters.f.class: unknown formatter class 'my.Formatter'");
}

Test(log_config, yaml_bad_shapes)
{
    yaml_fails("logging:\n  version: 1\n  handlers: [a, b]\n", 3, "logging.handlers: expected a mapping");
    yaml_fails("logging:\n  version: 1\n  handlers:\n    h: StreamHandler\n", 4,
               "logging.handlers.h: expected a mapping");
    yaml_fails("logging: [1]\n", 1, "logging: expected a mapping");
    yaml_fails(YAML_ONE_HANDLER("      class: [StreamHandler]\n"), 10,
               "logging.handlers.h.class: expected a single value");
    yaml_fails("logging:\n  version: 1\n  root: [INFO]\n", 3, "logging.root: expected a mapping");
    yaml_fails("logging:\n  version: 1\n  root: {handlers: [*nope]}\n", 3, "logging.root.handlers: unresolvable alias");
    yaml_fails("logging:\n  version: 1\n  root: {handlers: [{a: 1}]}\n", 3,
               "logging.root.handlers: each item must be a handler name");
    yaml_fails("logging:\n  version: 1\n  root: {level: INFO\n", 4, "YAML syntax error");
    yaml_fails("logging:\n  version: 1\n---\nlogging:\n  version: 1\n", 4, "only one YAML document");
}

/* ------------------------------------------------------------------ */
/* Levels                                                              */
/* ------------------------------------------------------------------ */

Test(log_config, level_parser)
{
    static const struct {
        const char *name;
        mt_log_level_t level;
    } levels[] = {
        { "DEBUG", MT_LOG_DEBUG }, { "info", MT_LOG_INFO },    { "Notice", MT_LOG_NOTICE },
        { "WARNING", MT_LOG_WARN }, { "warn", MT_LOG_WARN },   { "ERROR", MT_LOG_ERROR },
        { "CRITICAL", MT_LOG_ALERT }, { "alert", MT_LOG_ALERT }, { "FATAL", MT_LOG_ALERT },
    };
    for (size_t i = 0; i < sizeof levels / sizeof levels[0]; i++) {
        mt_log_level_t level = (mt_log_level_t)99;
        bool notset = true;
        cr_assert_eq(mt_log_conf_parse_level(levels[i].name, &level, &notset), 0, "%s", levels[i].name);
        cr_assert_eq(level, levels[i].level, "%s", levels[i].name);
        cr_assert_not(notset, "%s", levels[i].name);
    }

    mt_log_level_t level = MT_LOG_INFO;
    bool notset = false;
    cr_assert_eq(mt_log_conf_parse_level("NOTSET", &level, &notset), 0);
    cr_assert(notset);
    cr_assert_eq((int)level, -1);
    cr_assert_eq(mt_log_conf_parse_level("notset", &level, &notset), 0);
    cr_assert(notset);
    cr_assert_eq(mt_log_conf_parse_level("NOTSET", &level, NULL), -1, "NOTSET needs somewhere to say so");

    const char *bad[] = { "", "LOUD", "10", "DEBUG ", "warnings", "info2" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        notset = true;
        cr_assert_eq(mt_log_conf_parse_level(bad[i], &level, &notset), -1, "'%s'", bad[i]);
        cr_assert_not(notset, "'%s'", bad[i]);
    }
    cr_assert_eq(mt_log_conf_parse_level(NULL, &level, &notset), -1);
}
