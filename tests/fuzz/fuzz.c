/*
 * fuzz.c: helpers shared by the fuzz drivers (see fuzz.h), linked into
 * both the libFuzzer and the replay builds: the fixture directory, and the
 * checks of the two config drivers, which differ only in the loader.
 */
#include "fuzz.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <string.h>
#include <sys/mman.h>
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

static void check_source(const mt_source_t *src, int lines, const char *name)
{
    if (src->kind == MT_SRC_DEFAULT)
        return;
    FUZZ_CHECK(src->kind == MT_SRC_FILE, "option '%s': source kind %d", name, (int)src->kind);
    FUZZ_CHECK(src->file != NULL && strcmp(src->file, config_path) == 0, "option '%s': source file %s", name,
               src->file ? src->file : "(null)");
    FUZZ_CHECK(src->line >= 1 && src->line <= lines, "option '%s': line %d of a %d-line file", name, src->line,
               lines);
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

static void check_section(const mt_config_t *cfg, const char *section, const mt_option_def_t *defs, int lines)
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
                FUZZ_CHECK(!(def->flags & MT_OPT_CMDLINE_ONLY), "command-line-only '%s' set by a file", def->name);
                check_source(&src, lines, def->name);
            }
        } else {
            const char *value = mt_config_get(cfg, section, def->name, &src);
            FUZZ_CHECK(src.kind == MT_SRC_DEFAULT || !(def->flags & MT_OPT_CMDLINE_ONLY),
                       "command-line-only '%s' set by a file", def->name);
            check_source(&src, lines, def->name);
            check_value(def, value);
        }
    }
}

static void check_loaded(const mt_config_t *cfg, int lines)
{
    check_section(cfg, NULL, mt_stack_options, lines);
    check_section(cfg, "jobs", app_options, lines);
    for (size_t i = 0; i < mt_config_pool_count(cfg); i++) {
        const mt_config_pool_t *pool = mt_config_pool_get(cfg, i);
        FUZZ_CHECK(pool->name != NULL && pool->name[0] != '\0', "pool %zu without a name", i);
        FUZZ_CHECK(pool->type != NULL && (strcmp(pool->type, "mule") == 0 || strcmp(pool->type, "standalone") == 0),
                   "pool '%s': type %s", pool->name, pool->type ? pool->type : "(null)");
        FUZZ_CHECK(pool->processes >= 0 && pool->processes <= 1024, "pool '%s': %ld processes", pool->name,
                   pool->processes);
        check_source(&pool->src, lines, pool->name);
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
    if (rc < 0) {
        FUZZ_CHECK(err[0] != '\0', "error without a message");
        FUZZ_CHECK(strpbrk(err, "\r\n") == NULL, "error message of more than one line: \"%s\"", err);
        FUZZ_CHECK(strncmp(err, config_path, strlen(config_path)) == 0, "error does not name the file: \"%s\"",
                   err);
    } else {
        check_loaded(cfg, max_line(data, size, format));
    }
    mt_config_destroy(cfg);
}
