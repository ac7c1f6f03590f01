/*
 * config_ini: the INI loader (--ini FILE[:SECTION]), built on inih.
 *
 * inih as packaged by Debian neither tells the handler the line number
 * (INI_HANDLER_LINENO=0) nor reports lines longer than its 200-byte buffer
 * (it silently splits them). So the file is fed through our own reader:
 * it counts lines, so the handler knows which line it is called for, and
 * it stops with "FILE:LINE: line too long" when a full buffer holds no
 * newline, and at a NUL byte (which would hide the rest of a line from
 * that check). Values are handed to the store with mt_config__set().
 *
 * A bad option does not stop the file: the store records it and reading
 * goes on, so every bad line of the file is reported in one run. Only a
 * line the reader cannot take (too long, a NUL byte) ends the file.
 */
#define MT_LOG_NAME "muleteer.stack.config"

#include <errno.h>
#include <ini.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "stack/config.h"
#include "common/log.h"
#include "common/message.h"
#include "common/ini_reader.h"

typedef struct mt__ini_ctx {
    mt_config_t *cfg;
    FILE *fp;
    const char *file;         /* interned path, for sources */
    const char *main_section; /* --ini FILE:SECTION, or NULL for the main section's names */
    int line;                 /* lines handed to inih so far: the current one */
    bool failed;              /* err is filled; stop */
    char *err;
    size_t errlen;
} mt__ini_ctx_t;

/* inih's reader: lines counted, NUL bytes and overlong lines refused (common/ini_reader.h). */
static char *mt__ini_reader_cb(char *str, int num, void *stream)
{
    mt__ini_ctx_t *ctx = stream;
    return mt_ini_read_line(str, num, ctx->fp, ctx->file, &ctx->line, &ctx->failed, ctx->err, ctx->errlen);
}

/* The registered section that an INI [section] feeds, or -1 to skip it. */
static int mt__ini_section(const mt__ini_ctx_t *ctx, const char *section)
{
    int sect = mt_config__section_index(ctx->cfg, section);
    if (!ctx->main_section)
        return sect;
    /* FILE:SECTION: [SECTION] replaces [muleteer] / [uwsgi], which are then skipped. */
    if (strcmp(section, ctx->main_section) == 0)
        return 0;
    return sect == 0 ? -1 : sect;
}

static int mt__ini_handler_cb(void *user, const char *section, const char *name, const char *value)
{
    mt__ini_ctx_t *ctx = user;
    if (ctx->failed)
        return 0;
    int sect = mt__ini_section(ctx, section);
    if (sect < 0) {
        /* Galaxy's own section is not ours, but where it puts the job configuration must not vanish unsaid. */
        if ((strcmp(section, "app:main") == 0 || strcmp(section, "galaxy") == 0) &&
            strcmp(name, "job_config_file") == 0)
            mt_notice("%s:%d: Galaxy's option 'job_config_file' (%s) is not read here: the job application reads "
                      "its configuration from [jobs] job-config = %s",
                      ctx->file, ctx->line, value, value);
        return 1; /* another application's section */
    }
    mt_source_t src = { MT_SRC_FILE, ctx->file, ctx->line };
    (void)mt_config__set(ctx->cfg, sect, name, value, &src, ctx->err, ctx->errlen); /* recorded; go on */
    return 1;
}

int mt_config_load_ini(mt_config_t *cfg, const char *path, const char *section, char *err, size_t errlen)
{
    size_t errors_before = mt_config_error_count(cfg);
    FILE *fp = mt_config__open_file(path, err, errlen);
    if (!fp) {
        mt_config__record_error(cfg, err);
        return -1;
    }
    mt__ini_ctx_t ctx = {
        .cfg = cfg,
        .fp = fp,
        .file = mt_config__intern_file(cfg, path),
        .main_section = section,
        .err = err,
        .errlen = errlen,
    };
    int rc = ini_parse_stream(mt__ini_reader_cb, &ctx, mt__ini_handler_cb, &ctx);
    bool read_error = ferror(fp);
    fclose(fp);

    if (ctx.failed) {
        mt_message_one_line(err, errlen); /* the line may hold a CR */
        mt_config__record_error(cfg, err);
    } else if (read_error) {
        snprintf(err, errlen, "%s: read error", path);
        mt_config__record_error(cfg, err);
    } else if (rc > 0) {
        snprintf(err, errlen, "%s:%d: syntax error (expected [section] or name = value)", path, rc);
        mt_config__record_error(cfg, err);
    } else if (rc < 0) {
        snprintf(err, errlen, "%s: cannot parse (inih error %d)", path, rc);
        mt_config__record_error(cfg, err);
    }
    if (mt_config_error_count(cfg) == errors_before)
        return 0;
    snprintf(err, errlen, "%s", mt_config_error_get(cfg, errors_before)); /* this file's first */
    return -1;
}
