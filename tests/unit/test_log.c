/*
 * Unit tests for log.c: the classic line, levels and loggers, handlers and
 * file name templates, one write per record (several processes on one
 * file), reopening for logrotate, and drops instead of blocking.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <regex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/log.h"
#include "common/log_config.h"

#define MT_LOG_NAME "muleteer.test"

static char dir[64];
static char err[512];

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/mt_log.XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    cr_assert_eq(mt_log_configure(NULL, MT_LOG_INFO, NULL, err, sizeof err), 0, "%s", err);
    mt_log_set_identity(&(mt_log_identity_t){.server_name = "main.job-handlers.2", .pool_name = "job-handlers",
                                              .file_server_id = 2, .mule_id = 3, .server_id = 2});
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    (void)!system(cmd);
}

TestSuite(log, .init = setup, .fini = teardown, .timeout = 60);

/* Run fn with stderr redirected to a pipe; return what it wrote. */
static void capture(void (*fn)(void), char *out, size_t outlen)
{
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    int saved = dup(2);
    dup2(fds[1], 2);
    close(fds[1]);
    fn();
    dup2(saved, 2);
    close(saved);
    ssize_t n = read(fds[0], out, outlen - 1);
    out[n > 0 ? n : 0] = '\0';
    close(fds[0]);
}

/* The whole file as a string ("" if it does not exist). Caller frees. */
static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return strdup("");
    char *buf = NULL;
    size_t cap = 0, len = 0;
    for (;;) {
        if (len + 65536 + 1 > cap) {
            cap = cap * 2 + 65536 + 1;
            buf = realloc(buf, cap);
        }
        size_t n = fread(buf + len, 1, cap - len - 1, f);
        if (n == 0)
            break;
        len += n;
    }
    fclose(f);
    buf[len] = '\0';
    return buf;
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

static const char *in_dir(const char *name)
{
    static char bufs[4][256];
    static int next;
    char *p = bufs[next++ % 4];
    snprintf(p, sizeof bufs[0], "%s/%s", dir, name);
    return p;
}

/* ------------------------------------------------------------------ */
/* Configurations built by hand (the loaders have their own tests)     */
/* ------------------------------------------------------------------ */

static mt_log_conf_t conf;
static mt_log_handler_conf_t handlers[4];
static mt_log_logger_conf_t loggers[4];
static mt_log_formatter_conf_t formatters[2];
static char *root_handlers[4], *sub_handlers[4];

static void conf_reset(void)
{
    memset(&conf, 0, sizeof conf);
    memset(handlers, 0, sizeof handlers);
    memset(loggers, 0, sizeof loggers);
    memset(formatters, 0, sizeof formatters);
    conf.present = true;
    conf.path = "test.yml";
    conf.handlers = handlers;
    conf.loggers = loggers;
    conf.formatters = formatters;
}

static void file_handler(const char *name, const char *filename, const char *tmpl, const char *formatter)
{
    mt_log_handler_conf_t *h = &handlers[conf.nhandlers++];
    h->name = (char *)name;
    h->target = MT_LOG_TO_FILE;
    h->filename = (char *)filename;
    h->filename_template = (char *)tmpl;
    h->formatter = (char *)formatter;
}

static void root_to(const char *handler, mt_log_level_t level)
{
    mt_log_logger_conf_t *l = &loggers[conf.nloggers++];
    root_handlers[0] = (char *)handler;
    l->name = "root";
    l->has_level = true;
    l->level = level;
    l->handlers = root_handlers;
    l->nhandlers = 1;
}

static void configure(void)
{
    cr_assert_eq(mt_log_configure(&conf, MT_LOG_INFO, NULL, err, sizeof err), 0, "%s", err);
    mt_log_set_identity(&(mt_log_identity_t){.server_name = "main.job-handlers.2", .pool_name = "job-handlers",
                                              .file_server_id = 2, .mule_id = 3, .server_id = 2});
}

/* ------------------------------------------------------------------ */
/* The classic line                                                    */
/* ------------------------------------------------------------------ */

static void write_two(void)
{
    mt_log_set_level(MT_LOG_INFO);
    mt_debug("hidden %d", 1);
    mt_warn("queue full for %s", "farm x");
    mt_alert("invariant broken");
}

Test(log, classic_line_says_who_wrote_it)
{
    char out[1024];
    capture(write_two, out, sizeof out);
    regex_t re;
    cr_assert_eq(regcomp(&re,
                         "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{6}Z \\[warn\\] "
                         "main\\.job-handlers\\.2\\[[0-9]+\\] muleteer\\.test: queue full for farm x\n",
                         REG_EXTENDED),
                 0);
    cr_assert_eq(regexec(&re, out, 0, NULL, 0), 0, "got: %s", out);
    regfree(&re);
    cr_assert_null(strstr(out, "hidden"));
    cr_assert_not_null(strstr(out, "[alert] main.job-handlers.2"));
}

static void write_long(void)
{
    char big[9000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    mt_info("%s", big);
    mt_info("two\nlines");
}

Test(log, long_lines_are_cut_and_newlines_flattened)
{
    char out[16384];
    capture(write_long, out, sizeof out);
    cr_assert_eq(count_lines(out), 2, "%s", out);
    cr_assert_lt(strlen(out), 4096 + 200);
    cr_assert_not_null(strstr(out, "two lines\n"));
}

Test(log, level_names)
{
    mt_log_level_t l;
    cr_assert_eq(mt_log_level_parse("WARN", &l), 0);
    cr_assert_eq(l, MT_LOG_WARN);
    cr_assert_eq(mt_log_level_parse("warning", &l), 0);
    cr_assert_eq(l, MT_LOG_WARN);
    cr_assert_eq(mt_log_level_parse("CRITICAL", &l), 0);
    cr_assert_eq(l, MT_LOG_ALERT);
    cr_assert_eq(mt_log_level_parse("debug", &l), 0);
    cr_assert_eq(l, MT_LOG_DEBUG);
    cr_assert_eq(mt_log_level_parse("verbose", &l), -1);
    cr_assert_str_eq(mt_log_level_name(MT_LOG_NOTICE), "notice");
}

Test(log, default_format_can_be_json)
{
    cr_assert_eq(mt_log_configure(NULL, MT_LOG_INFO, "json", err, sizeof err), 0, "%s", err);
    char out[1024];
    capture(write_two, out, sizeof out);
    char *nl = strchr(out, '\n');
    cr_assert_not_null(nl);
    json_error_t jerr;
    json_t *doc = json_loadb(out, (size_t)(nl - out), 0, &jerr);
    cr_assert_not_null(doc, "%s: %s", jerr.text, out);
    cr_assert_str_eq(json_string_value(json_object_get(doc, "message")), "queue full for farm x");
    cr_assert_str_eq(json_string_value(json_object_get(doc, "logger")), "muleteer.test");
    cr_assert_str_eq(json_string_value(json_object_get(doc, "server_name")), "main.job-handlers.2");
    json_decref(doc);
    cr_assert_lt(mt_log_configure(NULL, MT_LOG_INFO, "%(nosuchfield)s", err, sizeof err), 0);
    cr_assert_not_null(strstr(err, "log-format"), "%s", err);
}

/* ------------------------------------------------------------------ */
/* Loggers, handlers, templates                                        */
/* ------------------------------------------------------------------ */

Test(log, template_names_a_file_per_process_and_loggers_filter_by_level)
{
    conf_reset();
    char tmpl[256];
    snprintf(tmpl, sizeof tmpl, "%s/muleteer_{pool_name}_{server_id}.log", dir);
    file_handler("files", in_dir("default.log"), tmpl, NULL);
    root_to("files", MT_LOG_WARN);
    /* muleteer.jobs at DEBUG, feeding root's handler through propagation. */
    loggers[conf.nloggers++] = (mt_log_logger_conf_t){.name = "muleteer.jobs", .has_level = true,
                                                       .level = MT_LOG_DEBUG, .propagate = true};
    configure();
    mt_log_emit("muleteer.jobs.handler", MT_LOG_DEBUG, "claimed job %d", 7);
    mt_log_emit("muleteer.jobsx", MT_LOG_INFO, "not a child of muleteer.jobs");
    mt_log_emit("muleteer.stack.master", MT_LOG_INFO, "below root's level");
    mt_log_emit("muleteer.stack.master", MT_LOG_ERROR, "at root's level");
    char *got = slurp(in_dir("muleteer_job-handlers_2.log"));
    cr_assert_not_null(strstr(got, "muleteer.jobs.handler: claimed job 7\n"), "%s", got);
    cr_assert_not_null(strstr(got, "at root's level"), "%s", got);
    cr_assert_null(strstr(got, "below root's level"), "%s", got);
    cr_assert_null(strstr(got, "not a child"), "%s", got);
    cr_assert_eq(count_lines(got), 2, "%s", got);
    cr_assert_eq(access(in_dir("default.log"), F_OK), -1, "the template replaces the file name");
    free(got);
}

Test(log, a_logger_that_does_not_propagate_keeps_its_records)
{
    conf_reset();
    file_handler("all", in_dir("all.log"), NULL, NULL);
    file_handler("jobs", in_dir("jobs.log"), NULL, NULL);
    root_to("all", MT_LOG_INFO);
    sub_handlers[0] = "jobs";
    loggers[conf.nloggers++] = (mt_log_logger_conf_t){.name = "muleteer.jobs", .handlers = sub_handlers,
                                                       .nhandlers = 1, .propagate = false};
    configure();
    mt_log_emit("muleteer.jobs.handler", MT_LOG_INFO, "a job line");
    mt_log_emit("muleteer.stack", MT_LOG_INFO, "a stack line");
    char *all = slurp(in_dir("all.log")), *jobs = slurp(in_dir("jobs.log"));
    cr_assert_not_null(strstr(jobs, "a job line"));
    cr_assert_null(strstr(all, "a job line"), "propagate = 0 keeps it out of root's handlers");
    cr_assert_not_null(strstr(all, "a stack line"));
    cr_assert_null(strstr(jobs, "a stack line"));
    free(all);
    free(jobs);
}

Test(log, handler_level_and_python_format)
{
    conf_reset();
    formatters[conf.nformatters++] = (mt_log_formatter_conf_t){
        .name = "generic",
        .format = "%(name)s %(levelname)-5.5s [p:%(process)s,w:%(worker_id)s,m:%(mule_id)s] [%(threadName)s] %(message)s"};
    file_handler("f", in_dir("f.log"), NULL, "generic");
    handlers[0].has_level = true;
    handlers[0].level = MT_LOG_NOTICE;
    root_to("f", MT_LOG_DEBUG);
    configure();
    mt_log_set_thread_name("WebThread-3");
    mt_info("below the handler's level");
    mt_warn("written");
    mt_log_set_thread_name("MainThread");
    char *got = slurp(in_dir("f.log"));
    char want[256];
    snprintf(want, sizeof want, "muleteer.test WARNI [p:%d,w:0,m:3] [WebThread-3] written\n", (int)getpid());
    cr_assert_str_eq(got, want);
    free(got);
}

Test(log, an_undefined_handler_or_formatter_is_refused_and_the_old_setup_stays)
{
    conf_reset();
    file_handler("f", in_dir("f.log"), NULL, "nosuch");
    root_to("f", MT_LOG_INFO);
    cr_assert_lt(mt_log_configure(&conf, MT_LOG_INFO, NULL, err, sizeof err), 0);
    cr_assert_not_null(strstr(err, "no formatter named 'nosuch'"), "%s", err);
    conf_reset();
    file_handler("f", in_dir("f.log"), NULL, NULL);
    root_to("g", MT_LOG_INFO);
    cr_assert_lt(mt_log_configure(&conf, MT_LOG_INFO, NULL, err, sizeof err), 0);
    cr_assert_not_null(strstr(err, "no handler named 'g'"), "%s", err);
    char out[1024];
    capture(write_two, out, sizeof out);
    cr_assert_not_null(strstr(out, "queue full"), "the default setup still writes: %s", out);
}

/* ------------------------------------------------------------------ */
/* One write per record, reopen, drops                                 */
/* ------------------------------------------------------------------ */

Test(log, records_from_several_processes_never_interleave)
{
    conf_reset();
    file_handler("f", in_dir("shared.log"), NULL, NULL);
    root_to("f", MT_LOG_INFO);
    configure();
    enum { WRITERS = 4, LINES = 2000 };
    pid_t pids[WRITERS];
    for (int w = 0; w < WRITERS; w++) {
        pids[w] = fork();
        cr_assert_geq(pids[w], 0);
        if (pids[w] == 0) {
            char pad[300];
            memset(pad, 'a' + w, sizeof pad - 1);
            pad[sizeof pad - 1] = '\0';
            for (int i = 0; i < LINES; i++)
                mt_info("writer %d line %d %s end", w, i, pad);
            _exit(0);
        }
    }
    for (int w = 0; w < WRITERS; w++) {
        int status;
        cr_assert_eq(waitpid(pids[w], &status, 0), pids[w]);
        cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    char *got = slurp(in_dir("shared.log"));
    cr_assert_eq(count_lines(got), WRITERS * LINES);
    regex_t re;
    cr_assert_eq(regcomp(&re, "^.* muleteer\\.test: writer ([0-9]) line [0-9]+ ([a-d])+ end$", REG_EXTENDED), 0);
    int per_writer[WRITERS] = {0};
    for (char *save = NULL, *line = strtok_r(got, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        regmatch_t m[2];
        cr_assert_eq(regexec(&re, line, 2, m, 0), 0, "a torn line: %.120s", line);
        int w = line[m[1].rm_so] - '0';
        const char *pad = strstr(line, " line ");
        pad = strchr(pad + 6, ' ') + 1;
        for (int i = 0; i < 299; i++)
            cr_assert_eq(pad[i], 'a' + w, "writer %d's line holds another's bytes", w);
        per_writer[w]++;
    }
    regfree(&re);
    for (int w = 0; w < WRITERS; w++)
        cr_assert_eq(per_writer[w], LINES);
    free(got);
}

Test(log, reopen_moves_to_the_new_file_without_losing_a_record)
{
    conf_reset();
    file_handler("f", in_dir("app.log"), NULL, NULL);
    root_to("f", MT_LOG_INFO);
    configure();
    mt_info("before the rotation");
    cr_assert_eq(rename(in_dir("app.log"), in_dir("app.log.1")), 0);
    mt_info("after the rename, before the reopen");
    mt_log_catch_reopen_signal();
    cr_assert_eq(raise(SIGUSR1), 0);
    mt_info("after the reopen");
    char *old = slurp(in_dir("app.log.1")), *cur = slurp(in_dir("app.log"));
    cr_assert_not_null(strstr(old, "before the rotation"));
    cr_assert_not_null(strstr(old, "after the rename, before the reopen"));
    cr_assert_null(strstr(old, "after the reopen\n"));
    cr_assert_str_eq(strstr(cur, "muleteer.test: "), "muleteer.test: after the reopen\n");
    cr_assert_eq(count_lines(cur), 1);
    free(old);
    free(cur);
    signal(SIGUSR1, SIG_DFL);
}

Test(log, a_full_pipe_drops_records_and_says_so_later_instead_of_blocking)
{
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    int flags = fcntl(fds[1], F_GETFL);
    fcntl(fds[1], F_SETFL, flags | O_NONBLOCK);
    char chunk[4096];
    memset(chunk, 'z', sizeof chunk);
    while (write(fds[1], chunk, sizeof chunk) > 0)
        ;
    fcntl(fds[1], F_SETFL, flags); /* blocking again: a write now would wait for the reader */
    int saved = dup(2);
    dup2(fds[1], 2);
    close(fds[1]);
    cr_assert_eq(mt_log_configure(NULL, MT_LOG_INFO, NULL, err, sizeof err), 0, "%s", err);
    mt_log_set_identity(&(mt_log_identity_t){.server_name = "main.web.1", .pool_name = "web", .worker_id = 1});
    uint64_t before = mt_log_dropped();
    mt_info("lost 1");
    mt_info("lost 2");
    cr_assert_eq(mt_log_dropped() - before, 2, "the records were dropped, and we are still here");
    /* Drain, then log again: the record goes out, followed by the count of what was lost. */
    int rflags = fcntl(fds[0], F_GETFL);
    fcntl(fds[0], F_SETFL, rflags | O_NONBLOCK);
    while (read(fds[0], chunk, sizeof chunk) > 0)
        ;
    mt_info("back");
    dup2(saved, 2);
    close(saved);
    char out[4096];
    ssize_t n = read(fds[0], out, sizeof out - 1);
    out[n > 0 ? n : 0] = '\0';
    close(fds[0]);
    cr_assert_not_null(strstr(out, "muleteer.test: back\n"), "%s", out);
    cr_assert_not_null(strstr(out, "2 log records dropped on handler stderr"), "%s", out);
    cr_assert_null(strstr(out, "lost"), "%s", out);
}

Test(log, a_failing_file_counts_drops)
{
    conf_reset();
    file_handler("full", "/dev/full", NULL, NULL);
    root_to("full", MT_LOG_INFO);
    configure();
    uint64_t before = mt_log_dropped();
    mt_info("nowhere to go");
    cr_assert_eq(mt_log_dropped() - before, 1);
}
