/*
 * pools: compile the configuration into the process table (see pools.h).
 *
 * Mule ids are assigned in this order: one per `mule` entry, then `mules`
 * built-in mules, then the mules of each pool of the pools form. Farms are
 * kept in the order they are declared (flat `farm` entries first), which is
 * also the order in which a mule in several farms picks its name: the first
 * farm that lists it.
 *
 * A mule program that is a Python file (Galaxy's "mule: lib/galaxy/main.py",
 * which uWSGI runs inside its Python interpreter) names the job handler
 * loop that muleteer has built in: such a mule runs the built-in mule loop,
 * and one notice says so.
 */
#define MT_LOG_NAME "muleteer.stack.pools"

#include "stack/pools.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/mem.h"

#define MT_FARM_NAME_MAX 64

typedef struct mule_decl {
    char *program;     /* NULL: built-in loop */
    char *template;    /* NULL: the global template */
    char *purpose;
} mule_decl_t;

static int fail(char *err, size_t errlen, const mt_source_t *src, const char *option, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static int fail(char *err, size_t errlen, const mt_source_t *src, const char *option, const char *fmt, ...)
{
    char where[512];
    mt_source_format(src, where, sizeof where);
    int n = snprintf(err, errlen, "%s: option '%s': ", where, option);
    if (n < 0 || (size_t)n >= errlen)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
    va_end(ap);
    return -1;
}

int mt_server_name_expand(const char *tmpl, const char *server_name, const char *pool, int instance_id,
                          long pid, char *out, size_t outlen, char *err, size_t errlen)
{
    size_t o = 0;
    char host[256] = "";
    for (const char *p = tmpl; *p;) {
        const char *piece = NULL;
        char num[32];
        size_t piece_len = 0;
        if (*p == '{') {
            const char *end = strchr(p, '}');
            if (!end) {
                snprintf(err, errlen, "unterminated '{' in server name template \"%s\"", tmpl);
                return -1;
            }
            size_t klen = (size_t)(end - p - 1);
            const char *key = p + 1;
#define KEY_IS(s) (klen == strlen(s) && strncmp(key, s, klen) == 0)
            if (KEY_IS("server_name")) {
                piece = server_name;
            } else if (KEY_IS("pool_name")) {
                piece = pool;
            } else if (KEY_IS("instance_id") || KEY_IS("process_num") || KEY_IS("server_id")) {
                snprintf(num, sizeof num, "%d", instance_id);
                piece = num;
            } else if (KEY_IS("hostname")) {
                if (!host[0] && gethostname(host, sizeof host - 1) < 0)
                    snprintf(host, sizeof host, "localhost");
                piece = host;
            } else if (KEY_IS("pid")) {
                if (pid > 0) {
                    snprintf(num, sizeof num, "%ld", pid);
                    piece = num;
                } else {
                    piece = "{pid}";
                }
            } else {
                snprintf(err, errlen,
                         "unknown placeholder {%.*s} in server name template \"%s\" (known: {server_name} "
                         "{pool_name} {instance_id} {process_num} {hostname} {pid})",
                         (int)klen, key, tmpl);
                return -1;
            }
#undef KEY_IS
            piece_len = strlen(piece);
            p = end + 1;
        } else {
            piece = p;
            piece_len = 1;
            p++;
        }
        if (o + piece_len + 1 > outlen) {
            snprintf(err, errlen, "server name from template \"%s\" is too long", tmpl);
            return -1;
        }
        memcpy(out + o, piece, piece_len);
        o += piece_len;
    }
    out[o] = '\0';
    return 0;
}

static bool valid_farm_name(const char *s, size_t n)
{
    if (n == 0 || n > MT_FARM_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
            return false;
    return true;
}

/* Check that the first word of a mule program names an executable file. */
static int check_program(const char *program, const mt_source_t *src, const char *option, char *err,
                         size_t errlen)
{
    char path[4096];
    size_t n = strcspn(program, " \t");
    if (n >= sizeof path)
        return fail(err, errlen, src, option, "program path too long");
    memcpy(path, program, n);
    path[n] = '\0';
    if (access(path, X_OK) < 0)
        return fail(err, errlen, src, option, "%s: cannot execute: %s", path, strerror(errno));
    return 0;
}

/* Whether a mule program is a Python file: the first word ends in ".py". */
static bool is_python_mule(const char *program)
{
    size_t n = strcspn(program, " \t");
    return n > 3 && strncmp(program + n - 3, ".py", 3) == 0;
}

/* The mule's program, or NULL for the built-in loop (a Python file: one notice for all of them). */
static char *mule_program(const char *program, const mt_source_t *src, bool *noticed)
{
    if (!program || !*program)
        return NULL;
    if (!is_python_mule(program))
        return mt_strdup(program);
    if (!*noticed) {
        char where[512];
        *noticed = true;
        mt_notice("%s: mule '%s' is a Python program, which uWSGI runs in its interpreter: these mules run "
                  "muleteer's built-in mule loop (the job handler) instead",
                  mt_source_format(src, where, sizeof where), program);
    }
    return NULL;
}

static void add_farm(mt_proctable_t *t, const char *name, size_t name_len, int *ids, size_t nids)
{
    t->farms = mt_realloc(t->farms, (t->nfarms + 1) * sizeof *t->farms);
    mt_farm_t *f = &t->farms[t->nfarms++];
    memset(f, 0, sizeof *f);
    f->name = mt_strndup(name, name_len);
    f->mule_ids = ids;
    f->nmules = nids;
    f->channel.send_fd = f->channel.recv_fd = -1;
}

/* Parse "NAME:ID[,ID...]" and add the farm. */
static int parse_farm(mt_proctable_t *t, const char *spec, const mt_source_t *src, size_t nmules, char *err,
                      size_t errlen)
{
    const char *colon = strchr(spec, ':');
    if (!colon)
        return fail(err, errlen, src, "farm", "\"%s\" is not NAME:ID[,ID...]", spec);
    size_t name_len = (size_t)(colon - spec);
    if (!valid_farm_name(spec, name_len))
        return fail(err, errlen, src, "farm",
                    "farm name \"%.*s\" must be 1-%d characters of letters, digits, '-', '_' or '.'",
                    (int)name_len, spec, MT_FARM_NAME_MAX);
    for (size_t i = 0; i < t->nfarms; i++)
        if (strlen(t->farms[i].name) == name_len && strncmp(t->farms[i].name, spec, name_len) == 0)
            return fail(err, errlen, src, "farm", "farm \"%.*s\" is declared twice", (int)name_len, spec);

    int *ids = NULL;
    size_t nids = 0;
    const char *p = colon + 1;
    for (;;) {
        char *end;
        errno = 0;
        long id = strtol(p, &end, 10);
        if (end == p || errno || (*end != ',' && *end != '\0')) {
            free(ids);
            return fail(err, errlen, src, "farm", "\"%s\": mule ids must be integers separated by commas", spec);
        }
        if (id < 1 || (size_t)id > nmules) {
            free(ids);
            return fail(err, errlen, src, "farm", "farm \"%.*s\": mule %ld does not exist (%zu mule%s configured)",
                        (int)name_len, spec, id, nmules, nmules == 1 ? "" : "s");
        }
        for (size_t i = 0; i < nids; i++) {
            if (ids[i] == id) {
                free(ids);
                return fail(err, errlen, src, "farm", "farm \"%.*s\" lists mule %ld twice", (int)name_len, spec,
                            id);
            }
        }
        ids = mt_realloc(ids, (nids + 1) * sizeof *ids);
        ids[nids++] = (int)id;
        if (*end == '\0')
            break;
        p = end + 1;
    }
    add_farm(t, spec, name_len, ids, nids);
    return 0;
}

static mt_proc_t *add_slot(mt_proctable_t *t, mt_role_t role)
{
    t->procs = mt_realloc(t->procs, (t->nprocs + 1) * sizeof *t->procs);
    mt_proc_t *p = &t->procs[t->nprocs++];
    memset(p, 0, sizeof *p);
    p->role = role;
    p->channel.send_fd = p->channel.recv_fd = -1;
    return p;
}

static int name_slot(mt_proc_t *p, const char *tmpl, const char *server_name, char *err, size_t errlen)
{
    char name[MT_SERVER_NAME_MAX];
    if (mt_server_name_expand(tmpl, server_name, p->pool, p->instance_id, 0, name, sizeof name, err, errlen) < 0)
        return -1;
    p->server_name = mt_strdup(name);
    p->name_template = mt_strdup(tmpl);
    return 0;
}

int mt_pools_build(mt_proctable_t *t, const mt_config_t *cfg, char *err, size_t errlen)
{
    mt_source_t src;
    const char *server_name = mt_config_get(cfg, NULL, "server-name", &src);
    if (!server_name || !*server_name || strchr(server_name, '/'))
        return fail(err, errlen, &src, "server-name", "must be a non-empty name without '/'");
    const char *tmpl = mt_config_get(cfg, NULL, "server-name-template", &src);
    char probe[MT_SERVER_NAME_MAX], perr[256];
    if (mt_server_name_expand(tmpl, server_name, "web", 1, 0, probe, sizeof probe, perr, sizeof perr) < 0)
        return fail(err, errlen, &src, "server-name-template", "%s", perr);

    /* Collect mule declarations: `mule` entries, `mules` count, then pools. */
    mule_decl_t *decls = NULL;
    size_t ndecls = 0;
    int rc = -1;
    bool python_noticed = false;
    size_t nmule_opts = mt_config_list_count(cfg, NULL, "mule");
    for (size_t i = 0; i < nmule_opts; i++) {
        const char *v = mt_config_list_get(cfg, NULL, "mule", i, &src);
        char *program = mule_program(v, &src, &python_noticed);
        if (program && check_program(program, &src, "mule", err, errlen) < 0) {
            free(program);
            goto out;
        }
        decls = mt_realloc(decls, (ndecls + 1) * sizeof *decls);
        decls[ndecls++] = (mule_decl_t){.program = program};
    }
    long extra = mt_config_get_int(cfg, NULL, "mules");
    for (long i = 0; i < extra; i++) {
        decls = mt_realloc(decls, (ndecls + 1) * sizeof *decls);
        decls[ndecls++] = (mule_decl_t){0};
    }
    size_t flat_mules = ndecls;

    /* Flat farms refer to the mule ids declared so far. */
    size_t nfarm_opts = mt_config_list_count(cfg, NULL, "farm");
    for (size_t i = 0; i < nfarm_opts; i++) {
        const char *v = mt_config_list_get(cfg, NULL, "farm", i, &src);
        if (parse_farm(t, v, &src, flat_mules, err, errlen) < 0)
            goto out;
    }

    /* The pools form: each mule pool adds its mules and a farm of them. */
    size_t npools = mt_config_pool_count(cfg);
    size_t nstandalone = 0;
    for (size_t i = 0; i < npools; i++) {
        const mt_config_pool_t *pool = mt_config_pool_get(cfg, i);
        const char *ptype = pool->type ? pool->type : "mule";
        if (!valid_farm_name(pool->name, strlen(pool->name))) {
            fail(err, errlen, &pool->src, "pools",
                 "pool name \"%s\" must be 1-%d characters of letters, digits, '-', '_' or '.'", pool->name,
                 MT_FARM_NAME_MAX);
            goto out;
        }
        if (pool->server_name_template &&
            mt_server_name_expand(pool->server_name_template, server_name, pool->name, 1, 0, probe, sizeof probe,
                                  perr, sizeof perr) < 0) {
            fail(err, errlen, &pool->src, "pools", "pool \"%s\": %s", pool->name, perr);
            goto out;
        }
        if (strcmp(ptype, "standalone") == 0) {
            nstandalone += (size_t)pool->processes;
            continue;
        }
        if (strcmp(ptype, "mule") != 0) {
            fail(err, errlen, &pool->src, "pools", "pool \"%s\": type \"%s\" is not \"mule\" or \"standalone\"",
                 pool->name, ptype);
            goto out;
        }
        if (ndecls + (size_t)pool->processes > 1024) {
            fail(err, errlen, &pool->src, "pools", "too many mules (at most 1024)");
            goto out;
        }
        char *pool_program = mule_program(pool->program, &pool->src, &python_noticed);
        if (pool_program && check_program(pool_program, &pool->src, "pools", err, errlen) < 0) {
            free(pool_program);
            goto out;
        }
        for (size_t k = 0; k < t->nfarms; k++) {
            if (strcmp(t->farms[k].name, pool->name) == 0) {
                fail(err, errlen, &pool->src, "pools", "pool \"%s\" has the name of a farm already declared",
                     pool->name);
                goto out;
            }
        }
        int *ids = mt_calloc((size_t)pool->processes, sizeof *ids);
        for (long k = 0; k < pool->processes; k++) {
            decls = mt_realloc(decls, (ndecls + 1) * sizeof *decls);
            decls[ndecls] = (mule_decl_t){
                .program = pool_program ? mt_strdup(pool_program) : NULL,
                .template = pool->server_name_template ? mt_strdup(pool->server_name_template) : NULL,
                .purpose = pool->purpose ? mt_strdup(pool->purpose) : NULL,
            };
            ids[k] = (int)++ndecls;
        }
        free(pool_program);
        add_farm(t, pool->name, strlen(pool->name), ids, (size_t)pool->processes);
    }
    if (ndecls > 1024) {
        mt_source_t none = {.kind = MT_SRC_DEFAULT};
        fail(err, errlen, &none, "mule", "too many mules (%zu, at most 1024)", ndecls);
        goto out;
    }

    /* Slot 0: the master. */
    mt_proc_t *master = add_slot(t, MT_ROLE_MASTER);
    master->pool = mt_strdup("master");
    master->server_name = mt_asprintf("%s.master", server_name);
    master->name_template = mt_strdup("{server_name}.master");

    /* Web workers. */
    t->first_web = t->nprocs;
    t->nweb = (size_t)mt_config_get_int(cfg, NULL, "processes");
    for (size_t i = 0; i < t->nweb; i++) {
        mt_proc_t *p = add_slot(t, MT_ROLE_WEB);
        p->pool = mt_strdup("web");
        p->worker_id = p->instance_id = (int)i + 1;
        if (name_slot(p, tmpl, server_name, err, errlen) < 0)
            goto out;
    }

    /* Mules, named after the first farm that lists them. */
    t->first_mule = t->nprocs;
    t->nmules = ndecls;
    for (size_t i = 0; i < ndecls; i++) {
        mt_proc_t *p = add_slot(t, MT_ROLE_MULE);
        p->mule_id = (int)i + 1;
        p->program = decls[i].program;
        p->purpose = decls[i].purpose;
        decls[i].program = decls[i].purpose = NULL;
        for (size_t f = 0; f < t->nfarms; f++) {
            for (size_t k = 0; k < t->farms[f].nmules; k++) {
                if (t->farms[f].mule_ids[k] != p->mule_id)
                    continue;
                if (!p->pool) {
                    p->pool = mt_strdup(t->farms[f].name);
                    p->instance_id = (int)k + 1;
                }
                p->farms = mt_realloc(p->farms, (p->nfarms + 1) * sizeof *p->farms);
                p->farms[p->nfarms++] = f;
            }
        }
        if (!p->pool) {
            p->pool = mt_strdup("mule");
            p->instance_id = p->mule_id;
        }
        if (name_slot(p, decls[i].template ? decls[i].template : tmpl, server_name, err, errlen) < 0)
            goto out;
    }

    /* Standalone handlers: known by name, started elsewhere. */
    for (size_t i = 0; i < npools && nstandalone; i++) {
        const mt_config_pool_t *pool = mt_config_pool_get(cfg, i);
        if (!pool->type || strcmp(pool->type, "standalone") != 0)
            continue;
        for (long k = 0; k < pool->processes; k++) {
            mt_proc_t *p = add_slot(t, MT_ROLE_STANDALONE);
            p->pool = mt_strdup(pool->name);
            p->instance_id = (int)k + 1;
            p->purpose = pool->purpose ? mt_strdup(pool->purpose) : NULL;
            if (name_slot(p, pool->server_name_template ? pool->server_name_template : tmpl, server_name, err,
                          errlen) < 0)
                goto out;
        }
    }

    /* Names are what jobs are recovered by: they must be unique. */
    for (size_t i = 0; i < t->nprocs; i++) {
        for (size_t k = i + 1; k < t->nprocs; k++) {
            if (strcmp(t->procs[i].server_name, t->procs[k].server_name) == 0 &&
                !strstr(t->procs[i].name_template, "{pid}")) {
                mt_source_t tsrc;
                mt_config_get(cfg, NULL, "server-name-template", &tsrc);
                fail(err, errlen, &tsrc, "server-name-template",
                     "two processes would both be named \"%s\": the template must tell them apart",
                     t->procs[i].server_name);
                goto out;
            }
        }
    }
    rc = 0;
out:
    for (size_t i = 0; i < ndecls; i++) {
        free(decls[i].program);
        free(decls[i].template);
        free(decls[i].purpose);
    }
    free(decls);
    return rc;
}
