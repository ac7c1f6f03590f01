/*
 * fuzz_log_config: mt_log_conf_load_ini() and mt_log_conf_load_yaml() on
 * arbitrary bytes (the input written as T/f.ini and as T/f.yml, T the
 * driver's temporary directory), then, for each configuration that loads,
 * what a process does with it: mt_log_configure(), mt_log_set_identity()
 * (which opens the files) and a few records through mt_log_emit().
 *
 * The fuzzer must never write outside T. File handlers name relative or
 * absolute paths, and relative ones are opened from the current directory,
 * so: a configuration is only applied when every file handler's filename
 * and filename_template is relative, has no ".." component and is short
 * (the placeholders this process expands them with -- pool "web", server
 * "main.web.1", numbers -- add no '/' and no ".."), and the files are
 * opened with T/run as the current directory, which is changed only
 * around mt_log_set_identity() and emptied after each input. stderr and
 * stdout handlers write to descriptors 2 and 1, which point to /dev/null
 * around mt_log_set_identity() and the mt_log_emit() calls only
 * (FUZZ_VERBOSE=1 leaves them alone, to see the records). Nothing else in
 * the driver writes outside T.
 *
 * Checks (log_config.h, log.h):
 *   - the return is 0 or -1; on -1 the configuration is zeroed and the
 *     message is non-empty, one line (no CR, no LF) and starts with the
 *     file's path, followed by ": " or ":LINE: " with LINE inside the
 *     input (or the one just past its end);
 *   - on 0 the path is the file's; `present` is true only if the input
 *     has a logging section ([loggers], [handlers] or [formatters]) or
 *     key (`logging`, or an escape that could spell it), and a
 *     configuration that is not present is empty;
 *   - formatter, handler and logger names are non-empty and distinct; a
 *     %-style format compiles with its datefmt (mt_log_format_compile);
 *     a handler's formatter is a defined formatter; a file handler has a
 *     non-empty filename, and only a file handler has a filename or a
 *     template; every logger's handlers are defined handlers, each named
 *     once; every level that is set is a value of mt_log_level_t;
 *   - mt_log_configure() accepts every configuration the loaders accept
 *     (they promise to have checked everything);
 *   - records emitted at every level on the configured loggers, on names
 *     below them and on the root do not crash, and files written hold
 *     only whole lines;
 *   - no leaks (LeakSanitizer under libFuzzer and `make asan`).
 *
 * FUZZ_VERBOSE=1 in the environment prints each outcome.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "common/log_config.h"
#include "common/log_format.h"
#include "fuzz.h"

#define PATH_SAFE_MAX 512 /* expanded, far below the 1024 bytes the log core keeps for a path */

static char ini_path[512], yaml_path[512], run_dir[512];
static int devnull_fd = -1;

static void init(void)
{
    if (run_dir[0])
        return;
    const char *tmp = fuzz_tmpdir();
    snprintf(ini_path, sizeof ini_path, "%s/f.ini", tmp);
    snprintf(yaml_path, sizeof yaml_path, "%s/f.yml", tmp);
    snprintf(run_dir, sizeof run_dir, "%s/run", tmp);
    FUZZ_CHECK(mkdir(run_dir, 0700) == 0, "mkdir %s: %s", run_dir, strerror(errno));
    devnull_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
    FUZZ_CHECK(devnull_fd >= 0, "cannot open /dev/null: %s", strerror(errno));
}

/* ------------------------------------------------------------------ */
/* Loading                                                             */
/* ------------------------------------------------------------------ */

/* Lines a message may name (as fuzz_tools.c: YAML breaks lines at CR, NEL, LS, PS too), plus one. */
static long max_line(const uint8_t *data, size_t size)
{
    long lines = 2;
    for (size_t i = 0; i < size; i++)
        lines += data[i] == '\n' || data[i] == '\r' || data[i] == 0x85 || data[i] == 0xa8 || data[i] == 0xa9;
    return lines;
}

static bool contains(const uint8_t *data, size_t size, const char *s)
{
    return memmem(data, size, s, strlen(s)) != NULL;
}

static void check_error(const char *path, const mt_log_conf_t *conf, const char *err, const uint8_t *data,
                        size_t size)
{
    static const mt_log_conf_t zero;
    FUZZ_CHECK(memcmp(conf, &zero, sizeof zero) == 0, "%s: load failed but left a configuration", path);
    FUZZ_CHECK(err[0] != '\0', "%s: error without a message", path);
    FUZZ_CHECK(strpbrk(err, "\r\n") == NULL, "error message of more than one line: \"%s\"", err);
    size_t n = strlen(path);
    FUZZ_CHECK(strncmp(err, path, n) == 0 && err[n] == ':', "error does not start with the path: \"%s\"", err);
    const char *p = err + n + 1;
    if (*p == ' ')
        return; /* "PATH: message" */
    char *end;
    long line = strtol(p, &end, 10);
    FUZZ_CHECK(end != p && end[0] == ':' && end[1] == ' ', "error is neither PATH: nor PATH:LINE: \"%s\"", err);
    FUZZ_CHECK(line >= 1 && line <= max_line(data, size), "error names line %ld, past line %ld: \"%s\"", line,
               max_line(data, size), err);
}

static bool level_ok(bool has_level, mt_log_level_t level)
{
    return !has_level || (level >= MT_LOG_DEBUG && level <= MT_LOG_ALERT);
}

static bool formatter_defined(const mt_log_conf_t *conf, const char *name)
{
    for (size_t i = 0; i < conf->nformatters; i++)
        if (strcmp(conf->formatters[i].name, name) == 0)
            return true;
    return false;
}

static bool handler_defined(const mt_log_conf_t *conf, const char *name)
{
    for (size_t i = 0; i < conf->nhandlers; i++)
        if (strcmp(conf->handlers[i].name, name) == 0)
            return true;
    return false;
}

static void check_formatters(const mt_log_conf_t *conf)
{
    for (size_t i = 0; i < conf->nformatters; i++) {
        const mt_log_formatter_conf_t *f = &conf->formatters[i];
        FUZZ_CHECK(f->name && f->name[0], "formatter %zu without a name", i);
        for (size_t k = 0; k < i; k++)
            FUZZ_CHECK(strcmp(conf->formatters[k].name, f->name) != 0, "formatter '%s' twice", f->name);
        if (f->json || !f->format)
            continue;
        char err[512] = "";
        mt_log_format_t *compiled = mt_log_format_compile(f->format, f->datefmt, err, sizeof err);
        FUZZ_CHECK(compiled != NULL, "formatter '%s' loaded, but its format does not compile: %s", f->name, err);
        mt_log_format_free(compiled);
    }
}

static void check_handlers(const mt_log_conf_t *conf)
{
    for (size_t i = 0; i < conf->nhandlers; i++) {
        const mt_log_handler_conf_t *h = &conf->handlers[i];
        FUZZ_CHECK(h->name && h->name[0], "handler %zu without a name", i);
        for (size_t k = 0; k < i; k++)
            FUZZ_CHECK(strcmp(conf->handlers[k].name, h->name) != 0, "handler '%s' twice", h->name);
        FUZZ_CHECK(h->target == MT_LOG_TO_STDERR || h->target == MT_LOG_TO_STDOUT || h->target == MT_LOG_TO_FILE,
                   "handler '%s': target %d", h->name, (int)h->target);
        if (h->target == MT_LOG_TO_FILE)
            FUZZ_CHECK(h->filename && h->filename[0], "file handler '%s' without a file", h->name);
        else
            FUZZ_CHECK(!h->filename && !h->filename_template, "stream handler '%s' with a file", h->name);
        FUZZ_CHECK(!h->filename_template || h->filename_template[0], "handler '%s': empty template", h->name);
        FUZZ_CHECK(level_ok(h->has_level, h->level), "handler '%s': level %d", h->name, (int)h->level);
        FUZZ_CHECK(!h->formatter || formatter_defined(conf, h->formatter),
                   "handler '%s': formatter '%s' is not defined", h->name, h->formatter);
    }
}

static void check_loggers(const mt_log_conf_t *conf)
{
    for (size_t i = 0; i < conf->nloggers; i++) {
        const mt_log_logger_conf_t *l = &conf->loggers[i];
        FUZZ_CHECK(l->name && l->name[0], "logger %zu without a name", i);
        for (size_t k = 0; k < i; k++)
            FUZZ_CHECK(strcmp(conf->loggers[k].name, l->name) != 0, "logger '%s' twice", l->name);
        FUZZ_CHECK(level_ok(l->has_level, l->level), "logger '%s': level %d", l->name, (int)l->level);
        for (size_t k = 0; k < l->nhandlers; k++) {
            FUZZ_CHECK(l->handlers[k] && handler_defined(conf, l->handlers[k]),
                       "logger '%s': handler '%s' is not defined", l->name, l->handlers[k]);
            for (size_t j = 0; j < k; j++)
                FUZZ_CHECK(strcmp(l->handlers[j], l->handlers[k]) != 0, "logger '%s': handler '%s' twice", l->name,
                           l->handlers[k]);
        }
    }
}

static void check_loaded(const char *path, const mt_log_conf_t *conf, bool is_yaml, const uint8_t *data,
                         size_t size)
{
    FUZZ_CHECK(conf->path && strcmp(conf->path, path) == 0, "%s: loaded with path %s", path,
               conf->path ? conf->path : "(null)");
    if (!conf->present) {
        FUZZ_CHECK(conf->nformatters == 0 && conf->nhandlers == 0 && conf->nloggers == 0,
                   "%s: no logging configuration, yet %zu formatters, %zu handlers, %zu loggers", path,
                   conf->nformatters, conf->nhandlers, conf->nloggers);
        return;
    }
    if (is_yaml)
        FUZZ_CHECK(contains(data, size, "logging") || memchr(data, '\\', size) != NULL,
                   "%s: a logging configuration, but no logging key", path);
    else
        FUZZ_CHECK(contains(data, size, "[loggers]") || contains(data, size, "[handlers]") ||
                       contains(data, size, "[formatters]"),
                   "%s: a logging configuration, but no logging section", path);
    check_formatters(conf);
    check_handlers(conf);
    check_loggers(conf);
}

/* ------------------------------------------------------------------ */
/* Applying                                                            */
/* ------------------------------------------------------------------ */

/* Relative, no ".." component, short: opened from run_dir, it stays inside it. */
static bool path_safe(const char *path)
{
    if (path == NULL)
        return true;
    if (path[0] == '\0' || path[0] == '/' || strlen(path) > PATH_SAFE_MAX)
        return false;
    for (const char *p = path; *p;) {
        size_t n = strcspn(p, "/");
        if (n == 2 && p[0] == '.' && p[1] == '.')
            return false;
        p += n;
        p += *p == '/';
    }
    return true;
}

static bool files_safe(const mt_log_conf_t *conf)
{
    for (size_t i = 0; i < conf->nhandlers; i++) {
        const mt_log_handler_conf_t *h = &conf->handlers[i];
        if (h->target == MT_LOG_TO_FILE && (!path_safe(h->filename) || !path_safe(h->filename_template)))
            return false;
    }
    return true;
}

/* Every file of run_dir holds whole lines; then it is removed. */
static void check_and_empty_run_dir(void)
{
    DIR *dir = opendir(run_dir);
    FUZZ_CHECK(dir != NULL, "opendir %s: %s", run_dir, strerror(errno));
    struct dirent *ent;
    while ((ent = readdir(dir)) != NULL) {
        if (strcmp(ent->d_name, ".") == 0 || strcmp(ent->d_name, "..") == 0)
            continue;
        char path[1024 + 600];
        snprintf(path, sizeof path, "%s/%s", run_dir, ent->d_name);
        struct stat st;
        FUZZ_CHECK(lstat(path, &st) == 0 && S_ISREG(st.st_mode), "%s is not a regular file", path);
        if (getenv("FUZZ_VERBOSE") != NULL)
            fprintf(stderr, "wrote %s: %lld bytes\n", ent->d_name, (long long)st.st_size);
        if (st.st_size > 0) {
            int fd = open(path, O_RDONLY | O_CLOEXEC);
            FUZZ_CHECK(fd >= 0, "cannot open %s", path);
            char last;
            FUZZ_CHECK(pread(fd, &last, 1, st.st_size - 1) == 1 && last == '\n', "%s does not end with a newline",
                       path);
            close(fd);
        }
        FUZZ_CHECK(unlink(path) == 0, "unlink %s: %s", path, strerror(errno));
    }
    closedir(dir);
}

/*
 * Descriptors 1 and 2 to /dev/null (unless FUZZ_VERBOSE is set), for the
 * records of stream handlers and mt_log_set_identity()'s complaints about
 * files it cannot open; quiet_end() puts them back.
 */
static int saved_out = -1, saved_err = -1;

static void quiet_begin(void)
{
    if (getenv("FUZZ_VERBOSE") != NULL)
        return;
    fflush(stdout);
    fflush(stderr);
    saved_out = dup(1);
    saved_err = dup(2);
    FUZZ_CHECK(saved_out >= 0 && saved_err >= 0, "dup: %s", strerror(errno));
    FUZZ_CHECK(dup2(devnull_fd, 1) == 1 && dup2(devnull_fd, 2) == 2, "dup2: %s", strerror(errno));
}

static void quiet_end(void)
{
    if (saved_out < 0)
        return;
    FUZZ_CHECK(dup2(saved_out, 1) == 1 && dup2(saved_err, 2) == 2, "dup2 back: %s", strerror(errno));
    close(saved_out);
    close(saved_err);
    saved_out = saved_err = -1;
}

/*
 * Open the files as a process named main.web.1 would, from run_dir. (A
 * crash in there leaves libFuzzer in run_dir, where a relative
 * -artifact_prefix does not exist: the reproducer is lost. The window is
 * short, and FUZZ_FLAGS=-artifact_prefix=/absolute/ closes it.)
 */
static void set_identity_in_run_dir(void)
{
    int cwd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    FUZZ_CHECK(cwd >= 0, "cannot open the current directory: %s", strerror(errno));
    FUZZ_CHECK(chdir(run_dir) == 0, "chdir %s: %s", run_dir, strerror(errno));
    mt_log_identity_t id = { .server_name = "main.web.1", .pool_name = "web", .file_pool = NULL,
                             .file_server_id = 0, .worker_id = 1, .mule_id = 0, .server_id = 1 };
    mt_log_set_identity(&id);
    FUZZ_CHECK(fchdir(cwd) == 0, "cannot go back to the current directory: %s", strerror(errno));
    close(cwd);
}

/* Records at every level on fixed names, on the configured loggers and on names below them. */
static void emit_records(const mt_log_conf_t *conf)
{
    static const char *const fixed[] = { "muleteer.stack.master", "muleteer.jobs.handler", "muleteer.log", "other",
                                         "" };
    char child[600];
    for (mt_log_level_t level = MT_LOG_DEBUG; level <= MT_LOG_ALERT; level++) {
        for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
            mt_log_emit(fixed[i], level, "record %d on %s: line\nbreak \"%s\"", (int)level, fixed[i], "\x01\xc3\xa9");
        for (size_t i = 0; i < conf->nloggers && i < 8; i++) {
            const char *name = conf->loggers[i].name;
            if (strcmp(name, "root") == 0)
                continue;
            (void)mt_log_enabled(name, level);
            mt_log_emit(name, level, "to %s", name);
            snprintf(child, sizeof child, "%.500s.child", name);
            mt_log_emit(child, level, "%s", child);
        }
    }
}

static void apply(const char *path, const mt_log_conf_t *conf)
{
    if (!files_safe(conf)) {
        if (getenv("FUZZ_VERBOSE") != NULL)
            fprintf(stderr, "%s: not applied (a file outside the run directory)\n", path);
        return;
    }
    char err[1024] = "";
    int rc = mt_log_configure(conf, MT_LOG_INFO, NULL, err, sizeof err);
    FUZZ_CHECK(rc == 0, "%s: loaded, but mt_log_configure refused it: %s", path, err);
    quiet_begin();
    set_identity_in_run_dir();
    emit_records(conf);
    quiet_end();
    /* Back to the default (stderr only), which closes the files before they are checked and removed. */
    FUZZ_CHECK(mt_log_configure(NULL, MT_LOG_WARN, NULL, err, sizeof err) == 0, "default configuration: %s", err);
    check_and_empty_run_dir();
}

static void check_one(const char *path, bool is_yaml, const uint8_t *data, size_t size)
{
    mt_log_conf_t conf;
    char err[1024];
    memset(err, 0, sizeof err);
    memset(&conf, 0x5a, sizeof conf);
    int rc = is_yaml ? mt_log_conf_load_yaml(path, &conf, err, sizeof err)
                     : mt_log_conf_load_ini(path, &conf, err, sizeof err);
    if (getenv("FUZZ_VERBOSE") != NULL)
        fprintf(stderr, "%s: %s\n", path, rc == 0 ? (conf.present ? "loaded" : "no logging configuration") : err);
    FUZZ_CHECK(rc == 0 || rc == -1, "%s: load returned %d", path, rc);
    if (rc < 0) {
        check_error(path, &conf, err, data, size);
        return;
    }
    check_loaded(path, &conf, is_yaml, data, size);
    apply(path, &conf);
    mt_log_conf_free(&conf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    init();
    fuzz_write_file(ini_path, data, size);
    fuzz_write_file(yaml_path, data, size);
    check_one(ini_path, false, data, size);
    check_one(yaml_path, true, data, size);
    return 0;
}
