/*
 * fuzz.c: helpers shared by the fuzz drivers (see fuzz.h), linked into
 * both the libFuzzer and the replay builds: the fixture directory, and the
 * checks of the two config drivers, which differ only in the loader.
 */
#include "fuzz.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "stack/config.h"
#include "common/log.h"
#include "stack/options.h"

static char tmpdir[256];

static int remove_cb(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)type;
    (void)ftw;
    (void)remove(path);
    return 0;
}

static void tmpdir_remove(void)
{
    if (tmpdir[0] != '\0')
        (void)nftw(tmpdir, remove_cb, 16, FTW_DEPTH | FTW_PHYS);
}

const char *fuzz_tmpdir(void)
{
    if (tmpdir[0] != '\0')
        return tmpdir;
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/mt_fuzz_XXXXXX", base && base[0] ? base : "/tmp");
    FUZZ_CHECK(mkdtemp(tmpdir) != NULL, "mkdtemp %s failed", tmpdir);
    atexit(tmpdir_remove);
    return tmpdir;
}

void fuzz_write_file(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    FUZZ_CHECK(fd >= 0, "cannot create %s", path);
    FUZZ_CHECK(write(fd, data, len) == (ssize_t)len, "cannot write %s", path);
    close(fd);
}

/* ------------------------------------------------------------------ */
/* Config drivers                                                      */
/* ------------------------------------------------------------------ */

/* A small application section, as the job application registers one. */
static const mt_option_def_t app_options[] = {
    {"db-url", MT_OPT_STRING, NULL, 0, 0, 0, NULL, "database URL"},
    {"sweep-interval", MT_OPT_INT, "5", 1, 60, 0, NULL, "seconds"},
    {"handlers", MT_OPT_LIST, NULL, 0, 0, 0, NULL, "handler names"},
    {"debug", MT_OPT_BOOL, "false", 0, 0, 0, NULL, "debug mode"},
    {NULL},
};

static int config_fd = -1;    /* memfd holding the current input */
static char config_path[64];  /* /proc/self/fd/N */
static FILE *devnull;

static void config_init(void)
{
    if (config_fd >= 0)
        return;
    config_fd = memfd_create("fuzz-config", MFD_CLOEXEC);
    FUZZ_CHECK(config_fd >= 0, "memfd_create: %s", strerror(errno));
    snprintf(config_path, sizeof config_path, "/proc/self/fd/%d", config_fd);
    devnull = fopen("/dev/null", "w");
    FUZZ_CHECK(devnull != NULL, "cannot open /dev/null");
    mt_log_set_level(MT_LOG_WARN); /* no notice per ignored uWSGI option */
}

/* Lines a source may name: those of the input (YAML also breaks lines at CR, NEL, LS and PS). */
static int max_line(const uint8_t *data, size_t size, fuzz_config_format_t format)
{
    int lines = 1;
    for (size_t i = 0; i < size; i++) {
        if (data[i] == '\n' || (format == FUZZ_CONFIG_YAML && (data[i] == '\r' || data[i] == 0x85 ||
                                                              data[i] == 0xa8 || data[i] == 0xa9)))
            lines++;
    }
    return lines;
}

/*
 * Where a loaded value may come from: the files of the current input (with
 * their line counts) and, for the command-line driver, the command line.
 */
#define MAX_SOURCE_FILES 4
static struct {
    const char *path;
    int lines;
} source_files[MAX_SOURCE_FILES];
static size_t nsource_files;
static bool cmdline_allowed;

static void check_source(const mt_source_t *src, const char *name)
{
    if (src->kind == MT_SRC_DEFAULT)
        return;
    if (src->kind == MT_SRC_CMDLINE) {
        FUZZ_CHECK(cmdline_allowed, "option '%s': set by a command line that was not given", name);
        return;
    }
    FUZZ_CHECK(src->kind == MT_SRC_FILE, "option '%s': source kind %d", name, (int)src->kind);
    FUZZ_CHECK(src->file != NULL, "option '%s': a file source without a file", name);
    for (size_t i = 0; i < nsource_files; i++) {
        if (strcmp(src->file, source_files[i].path) != 0)
            continue;
        FUZZ_CHECK(src->line >= 1 && src->line <= source_files[i].lines, "option '%s': line %d of a %d-line file",
                   name, src->line, source_files[i].lines);
        return;
    }
    FUZZ_CHECK(false, "option '%s': source file %s was not read", name, src->file);
}

static void check_value(const mt_option_def_t *def, const char *value)
{
    if (value == NULL || (def->flags & MT_OPT_IGNORED))
        return;
    if (def->type == MT_OPT_INT) {
        char *end;
        errno = 0;
        long n = strtol(value, &end, 10);
        FUZZ_CHECK(end != value && *end == '\0' && errno == 0 && n >= def->min && n <= def->max,
                   "option '%s': stored int '%s' is not a decimal in [%ld, %ld]", def->name, value, def->min,
                   def->max);
        char normal[32];
        snprintf(normal, sizeof normal, "%ld", n);
        FUZZ_CHECK(strcmp(normal, value) == 0, "option '%s': int '%s' not normalized", def->name, value);
    } else if (def->type == MT_OPT_BOOL) {
        FUZZ_CHECK(strcmp(value, "true") == 0 || strcmp(value, "false") == 0, "option '%s': bool '%s'", def->name,
                   value);
    } else if (def->flags & MT_OPT_LOG_LEVEL) {
        mt_log_level_t level;
        FUZZ_CHECK(mt_log_level_parse(value, &level) == 0, "option '%s': level '%s'", def->name, value);
    }
}

static void check_section(const mt_config_t *cfg, const char *section, const mt_option_def_t *defs)
{
    for (const mt_option_def_t *def = defs; def->name != NULL; def++) {
        if (def->alias_of != NULL)
            continue;
        mt_source_t src;
        if (def->type == MT_OPT_LIST) {
            size_t count = mt_config_list_count(cfg, section, def->name);
            for (size_t i = 0; i < count; i++) {
                const char *value = mt_config_list_get(cfg, section, def->name, i, &src);
                FUZZ_CHECK(value != NULL, "list option '%s': entry %zu is NULL", def->name, i);
                FUZZ_CHECK(src.kind != MT_SRC_FILE || !(def->flags & MT_OPT_CMDLINE_ONLY),
                           "command-line-only '%s' set by a file", def->name);
                check_source(&src, def->name);
            }
        } else {
            const char *value = mt_config_get(cfg, section, def->name, &src);
            FUZZ_CHECK(src.kind != MT_SRC_FILE || !(def->flags & MT_OPT_CMDLINE_ONLY),
                       "command-line-only '%s' set by a file", def->name);
            check_source(&src, def->name);
            check_value(def, value);
        }
    }
}

static void check_loaded(const mt_config_t *cfg)
{
    check_section(cfg, NULL, mt_stack_options);
    check_section(cfg, "jobs", app_options);
    for (size_t i = 0; i < mt_config_pool_count(cfg); i++) {
        const mt_config_pool_t *pool = mt_config_pool_get(cfg, i);
        FUZZ_CHECK(pool->name != NULL && pool->name[0] != '\0', "pool %zu without a name", i);
        FUZZ_CHECK(pool->type != NULL && (strcmp(pool->type, "mule") == 0 || strcmp(pool->type, "standalone") == 0),
                   "pool '%s': type %s", pool->name, pool->type ? pool->type : "(null)");
        FUZZ_CHECK(pool->processes >= 0 && pool->processes <= 1024, "pool '%s': %ld processes", pool->name,
                   pool->processes);
        check_source(&pool->src, pool->name);
    }
    mt_config_print(cfg, devnull);
    fflush(devnull);
}

void fuzz_config_check(const uint8_t *data, size_t size, fuzz_config_format_t format, const char *ini_section)
{
    config_init();
    FUZZ_CHECK(ftruncate(config_fd, 0) == 0, "ftruncate: %s", strerror(errno));
    FUZZ_CHECK(pwrite(config_fd, data, size, 0) == (ssize_t)size, "pwrite: %s", strerror(errno));

    mt_config_t *cfg = mt_config_create();
    FUZZ_CHECK(mt_config_add_section(cfg, MT_STACK_SECTION, MT_STACK_SECTION_ALIAS, mt_stack_options) == 0, "section");
    FUZZ_CHECK(mt_config_add_section(cfg, "jobs", NULL, app_options) == 0, "section");
    char err[1024];
    memset(err, 0, sizeof err);
    int rc = format == FUZZ_CONFIG_YAML ? mt_config_load_yaml(cfg, config_path, err, sizeof err)
                                        : mt_config_load_ini(cfg, config_path, ini_section, err, sizeof err);
    FUZZ_CHECK(rc == 0 || rc == -1, "loader returned %d", rc);
    FUZZ_CHECK((rc < 0) == (mt_config_error_count(cfg) > 0), "rc %d with %zu errors recorded", rc,
               mt_config_error_count(cfg));
    for (size_t i = 0; i < mt_config_error_count(cfg); i++)
        FUZZ_CHECK(strpbrk(mt_config_error_get(cfg, i), "\r\n") == NULL, "recorded error of more than one line: \"%s\"",
                   mt_config_error_get(cfg, i));
    if (rc < 0) {
        FUZZ_CHECK(err[0] != '\0', "error without a message");
        FUZZ_CHECK(strpbrk(err, "\r\n") == NULL, "error message of more than one line: \"%s\"", err);
        FUZZ_CHECK(strncmp(err, config_path, strlen(config_path)) == 0, "error does not name the file: \"%s\"",
                   err);
    } else {
        nsource_files = 1;
        source_files[0].path = config_path;
        source_files[0].lines = max_line(data, size, format);
        cmdline_allowed = false;
        check_loaded(cfg);
    }
    mt_config_destroy(cfg);
}

/* ------------------------------------------------------------------ */
/* Command-line driver                                                 */
/* ------------------------------------------------------------------ */

/* The files a command line may name (--ini, --yaml), in the fixture directory, and their line counts. */
static const struct {
    const char *name;
    const char *text;
} cmdline_files[] = {
    {"a.ini", "[muleteer]\nprocesses = 2\nmule = \nfarm = job-handlers:1\n\n[galaxy]\nthreads = 3\n"
              "[jobs]\nsweep-interval = 7\nhandlers = h1\n"},
    {"b.yml", "muleteer:\n  threads: 4\n  mule: [m1, m2]\n  farm: pair:1,2\njobs:\n  debug: true\n"},
    {"c.yml", "stack:\n  workers:\n    - name: job-handlers\n      processes: 2\n"},
    {"bad.ini", "[muleteer]\nprocesses = many\n"},
};

void fuzz_config_check_cmdline(char **argv, int argc)
{
    static char dir[512];
    config_init();
    int cwd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC); /* the caller's, restored at the end */
    FUZZ_CHECK(cwd >= 0, "cannot open the working directory: %s", strerror(errno));
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "%s/cmdline", fuzz_tmpdir());
        FUZZ_CHECK(mkdir(dir, 0700) == 0, "mkdir %s: %s", dir, strerror(errno));
        FUZZ_CHECK(chdir(dir) == 0, "chdir %s: %s", dir, strerror(errno));
        for (size_t i = 0; i < sizeof cmdline_files / sizeof cmdline_files[0]; i++)
            fuzz_write_file(cmdline_files[i].name, cmdline_files[i].text, strlen(cmdline_files[i].text));
    }
    FUZZ_CHECK(chdir(dir) == 0, "chdir %s: %s", dir, strerror(errno));

    mt_config_t *cfg = mt_config_create();
    FUZZ_CHECK(mt_config_add_section(cfg, MT_STACK_SECTION, MT_STACK_SECTION_ALIAS, mt_stack_options) == 0, "section");
    FUZZ_CHECK(mt_config_add_section(cfg, "jobs", NULL, app_options) == 0, "section");
    char err[1024];
    memset(err, 0, sizeof err);
    int rc = mt_config_load(cfg, argc, argv, err, sizeof err);
    FUZZ_CHECK(rc == 0 || rc == -1, "mt_config_load returned %d", rc);
    if (rc < 0) {
        FUZZ_CHECK(err[0] != '\0', "error without a message");
        FUZZ_CHECK(strpbrk(err, "\r\n") == NULL, "error message of more than one line: \"%s\"", err);
        /*
         * "command line: ...", or "FILE: ..." / "FILE:LINE: ..." with FILE as an argument spelled it
         * (unless an argument holds bytes outside printable ASCII, which messages show escaped).
         */
        bool named = strncmp(err, "command line: ", 14) == 0;
        for (int i = 1; !named && i < argc; i++)
            for (const unsigned char *p = (const unsigned char *)argv[i]; *p && !named; p++)
                named = *p < 0x20 || *p > 0x7e;
        for (int i = 1; !named && i < argc; i++) {
            /* a file as "--ini F" / "--ini=F" / "--set=yaml=F" spell it (after any '='), with or without ":SECTION" */
            for (const char *f = argv[i]; f && !named; f = strchr(f, '=') ? strchr(f, '=') + 1 : NULL) {
                const char *colon = strrchr(f, ':');
                size_t lens[] = {strlen(f), colon ? (size_t)(colon - f) : strlen(f)};
                for (size_t l = 0; l < 2 && !named; l++)
                    named = lens[l] > 0 && strncmp(err, f, lens[l]) == 0 && err[lens[l]] == ':';
            }
        }
        FUZZ_CHECK(named, "error names neither the command line nor a file: \"%s\"", err);
    } else {
        nsource_files = 0;
        for (size_t i = 0; i < sizeof cmdline_files / sizeof cmdline_files[0]; i++) {
            int lines = 1;
            for (const char *p = cmdline_files[i].text; *p; p++)
                lines += *p == '\n';
            source_files[nsource_files].path = cmdline_files[i].name;
            source_files[nsource_files++].lines = lines;
        }
        cmdline_allowed = true;
        check_loaded(cfg);
    }
    mt_config_destroy(cfg);
    FUZZ_CHECK(fchdir(cwd) == 0, "cannot go back to the working directory: %s", strerror(errno));
    close(cwd);
}
