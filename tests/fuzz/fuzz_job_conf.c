/*
 * fuzz_job_conf: mt_job_conf_load_string() on arbitrary bytes, read both
 * as "f.yml" (YAML, or XML when the first non-blank character is '<') and
 * as "f.xml" (always XML), then mt_job_assign() (job_assign.h) on what
 * loaded.
 *
 * Checks (job_conf.h):
 *   - the return is 0 or -1; on -1 *out is NULL and the message is
 *     non-empty, one line (no CR, no LF) and starts with "NAME:";
 *   - on 0, the configuration is sound: 0..6 distinct known assign
 *     methods; handler ids non-empty, at most MT_JOB_CONF_NAME_MAX bytes,
 *     distinct, never also a tag; the effective order (mt_job_assign_order)
 *     has 1..6 distinct methods;
 *   - mt_job_assign() for tool ids NULL, "", "sleep", one that is surely
 *     not mapped, and those words of the input that are mapped in the
 *     configuration (a few at most), under every combination of: the
 *     "job-handlers" farm exists or not, "job-handlers.TAG" farms exist or
 *     not, the creating process handles jobs (a server name) or not;
 *     random() is a fixed sequence;
 *   - the result is 0 or -1. On 0 the assignment is consistent: exactly
 *     one of a handler (method mem-self, db-self or db-preassign, or
 *     `direct`), a farm (method mule-message, a farm that exists, queued
 *     in the farm's pool) or a queue without a farm (db-skip-locked or
 *     db-transaction-isolation, a pool named job-handlers or
 *     job-handlers.TAG); a handler set directly is the tool's target
 *     (direct), a configured handler (db-preassign, or a self method for a
 *     tag) or the creating process (self methods); every string is
 *     terminated in its buffer. On -1 the assignment is zeroed and the
 *     message is non-empty and one line;
 *   - mt_job_assign_pools() for a web worker, a configured handler and a
 *     standalone gives pools named job-handlers or job-handlers.TAG;
 *   - no leaks (LeakSanitizer under libFuzzer and `make asan`).
 *
 * FUZZ_VERBOSE=1 in the environment prints each load's outcome and the
 * assignments made with a web worker and the job-handlers farm.
 */
#include <stdbool.h>
#include <string.h>

#include "app/model/job_assign.h"
#include "app/model/job_conf.h"
#include "fuzz.h"

#define SELF "main.web.1"

typedef struct fake_stack {
    bool plain_farm; /* "job-handlers" exists */
    bool tag_farms;  /* every "job-handlers.TAG" exists */
    unsigned seed;
} fake_stack_t;

static bool farm_exists(const char *farm, void *data)
{
    const fake_stack_t *s = data;
    size_t n = strlen(MT_JOB_HANDLERS_FARM);
    if (strcmp(farm, MT_JOB_HANDLERS_FARM) == 0)
        return s->plain_farm;
    return s->tag_farms && strncmp(farm, MT_JOB_HANDLERS_FARM, n) == 0 && farm[n] == '.';
}

static unsigned next_random(void *data)
{
    fake_stack_t *s = data;
    s->seed = s->seed * 1103515245u + 12345u;
    return s->seed ^ (s->seed >> 16); /* the whole range, high values included */
}

static bool terminated(const char *buf, size_t size)
{
    return memchr(buf, '\0', size) != NULL;
}

static bool is_handler(const mt_job_conf_t *conf, const char *id)
{
    for (size_t i = 0; i < mt_job_conf_handler_count(conf); i++)
        if (strcmp(mt_job_conf_handler_id(conf, i), id) == 0)
            return true;
    return false;
}

static void check_conf(const mt_job_conf_t *conf, const char *name)
{
    const mt_assign_method_t *methods;
    size_t count = mt_job_conf_assign_methods(conf, &methods);
    FUZZ_CHECK(count <= MT_ASSIGN_METHOD_COUNT, "%s: %zu assign methods", name, count);
    for (size_t i = 0; i < count; i++) {
        FUZZ_CHECK((unsigned)methods[i] < MT_ASSIGN_METHOD_COUNT, "%s: assign method %d", name, (int)methods[i]);
        for (size_t k = 0; k < i; k++)
            FUZZ_CHECK(methods[k] != methods[i], "%s: assign method %s listed twice", name,
                       mt_assign_method_name(methods[i]));
    }
    for (size_t i = 0; i < mt_job_conf_handler_count(conf); i++) {
        const char *id = mt_job_conf_handler_id(conf, i);
        FUZZ_CHECK(id && id[0] && strlen(id) <= MT_JOB_CONF_NAME_MAX, "%s: handler %zu id", name, i);
        FUZZ_CHECK(!mt_job_conf_is_tag(conf, id), "%s: handler '%s' is also a tag", name, id);
        for (size_t k = 0; k < i; k++)
            FUZZ_CHECK(strcmp(mt_job_conf_handler_id(conf, k), id) != 0, "%s: handler '%s' twice", name, id);
    }
    for (unsigned mode = 0; mode < 4; mode++) {
        fake_stack_t stack = { .plain_farm = mode & 1, .tag_farms = mode & 2 };
        mt_assign_facts_t facts = { .farm_exists = farm_exists, .data = &stack };
        mt_assign_method_t order[MT_ASSIGN_METHOD_COUNT];
        size_t n = mt_job_assign_order(conf, &facts, order);
        FUZZ_CHECK(n >= 1 && n <= MT_ASSIGN_METHOD_COUNT, "%s: effective order of %zu methods", name, n);
        for (size_t i = 0; i < n; i++)
            for (size_t k = 0; k < i; k++)
                FUZZ_CHECK(order[k] != order[i], "%s: effective order lists %s twice", name,
                           mt_assign_method_name(order[i]));
    }
    /* The pools of a few kinds of process. */
    const char *attached[] = { "job-handlers", "job-handlers.x" };
    mt_handler_identity_t whos[] = {
        { .server_name = SELF, .web = true },
        { .server_name = mt_job_conf_handler_count(conf) ? mt_job_conf_handler_id(conf, 0) : "h" },
        { .server_name = "standalone", .attached = attached, .nattached = 2 },
    };
    for (size_t w = 0; w < 3; w++) {
        char pools[8][128];
        size_t n = mt_job_assign_pools(conf, &whos[w], w == 1, pools, 8);
        FUZZ_CHECK(n <= 8, "%s: %zu pools", name, n);
        for (size_t i = 0; i < n; i++)
            FUZZ_CHECK(strncmp(pools[i], MT_JOB_HANDLERS_FARM, strlen(MT_JOB_HANDLERS_FARM)) == 0 &&
                           terminated(pools[i], sizeof pools[i]),
                       "%s: pool '%s'", name, pools[i]);
    }
}

static void check_assign(const mt_job_conf_t *conf, const char *tool_id, unsigned mode)
{
    fake_stack_t stack = { .plain_farm = mode & 1, .tag_farms = mode & 2, .seed = mode * 7919u };
    mt_assign_facts_t facts = {
        .self_server_name = (mode & 4) ? SELF : NULL,
        .farm_exists = farm_exists,
        .data = &stack,
        .random = next_random,
    };
    mt_assignment_t a;
    char err[1024];
    memset(&a, 0x5a, sizeof a);
    memset(err, 0, sizeof err);
    const char *tool = tool_id ? tool_id : "(NULL)";

    int rc = mt_job_assign(conf, tool_id, &facts, &a, err, sizeof err);
    FUZZ_CHECK(rc == 0 || rc == -1, "tool '%s', mode %u: assign returned %d", tool, mode, rc);
    FUZZ_CHECK(terminated(a.handler, sizeof a.handler) && terminated(a.farm, sizeof a.farm) &&
                   terminated(a.queue, sizeof a.queue),
               "tool '%s', mode %u: an unterminated string in the assignment", tool, mode);
    if (getenv("FUZZ_VERBOSE") != NULL && mode == 5)
        fprintf(stderr, "  tool %s: %s\n", tool, rc < 0 ? err : a.handler[0] ? a.handler : a.queue);
    if (rc < 0) {
        FUZZ_CHECK(!a.handler[0] && !a.farm[0] && !a.queue[0], "tool '%s', mode %u: failed but assigned",
                   tool, mode);
        FUZZ_CHECK(err[0] != '\0', "tool '%s', mode %u: error without a message", tool, mode);
        FUZZ_CHECK(strpbrk(err, "\r\n") == NULL, "error message of more than one line: \"%s\"", err);
        return;
    }
    bool handler = a.handler[0] && !a.farm[0] && !a.queue[0];
    bool message = !a.handler[0] && a.farm[0] && strcmp(a.queue, a.farm) == 0;
    bool db = !a.handler[0] && !a.farm[0] && a.queue[0];
    FUZZ_CHECK(handler + message + db == 1, "tool '%s', mode %u: handler '%s', farm '%s', queue '%s'", tool, mode,
               a.handler, a.farm, a.queue);
    const char *method = mt_assign_method_name(a.method);
    const char *mapped = mt_job_conf_tool_handler(conf, tool_id), *dflt = mt_job_conf_default(conf);
    const char *target = mapped ? mapped : dflt;
    if (handler && a.direct) {
        FUZZ_CHECK(target && strcmp(a.handler, target) == 0, "tool '%s', mode %u: direct to '%s', not its target",
                   tool, mode, a.handler);
    } else if (handler) {
        FUZZ_CHECK(a.method == MT_ASSIGN_MEM_SELF || a.method == MT_ASSIGN_DB_SELF ||
                       a.method == MT_ASSIGN_DB_PREASSIGN,
                   "tool '%s', mode %u: handler '%s' set by %s", tool, mode, a.handler, method);
        FUZZ_CHECK(is_handler(conf, a.handler) || ((mode & 4) && strcmp(a.handler, SELF) == 0),
                   "tool '%s', mode %u: %s gave '%s', neither a configured handler nor the creator", tool, mode,
                   method, a.handler);
    } else if (message) {
        FUZZ_CHECK(a.method == MT_ASSIGN_MULE_MESSAGE, "tool '%s', mode %u: farm '%s' by %s", tool, mode, a.farm,
                   method);
        FUZZ_CHECK(farm_exists(a.farm, &stack), "tool '%s', mode %u: message to farm '%s', which does not exist",
                   tool, mode, a.farm);
    } else {
        FUZZ_CHECK(a.method == MT_ASSIGN_DB_SKIP_LOCKED || a.method == MT_ASSIGN_DB_TRANSACTION_ISOLATION,
                   "tool '%s', mode %u: queue '%s' by %s", tool, mode, a.queue, method);
        FUZZ_CHECK(strncmp(a.queue, MT_JOB_HANDLERS_FARM, strlen(MT_JOB_HANDLERS_FARM)) == 0,
                   "tool '%s', mode %u: queue '%s' is not a pool", tool, mode, a.queue);
    }
}

/* Words of the input that are mapped tool ids (a few at most): the configuration has no list of mappings. */
static size_t mapped_words(const mt_job_conf_t *conf, const uint8_t *data, size_t size, char words[][256],
                           size_t max)
{
    static const char separators[] = " \t\r\n\"'<>=,:[]{}#&*!|?";
    size_t found = 0, tries = 0;
    for (size_t i = 0; i < size && found < max && tries < 64;) {
        size_t n = 0;
        while (i + n < size && data[i + n] && !strchr(separators, data[i + n]))
            n++;
        if (n == 0) {
            i++;
            continue;
        }
        if (n < 256) {
            char word[256];
            memcpy(word, data + i, n);
            word[n] = '\0';
            tries++;
            bool seen = strcmp(word, "sleep") == 0; /* tried anyway */
            for (size_t k = 0; k < found && !seen; k++)
                seen = strcmp(words[k], word) == 0;
            if (!seen && mt_job_conf_tool_handler(conf, word))
                memcpy(words[found++], word, n + 1);
        }
        i += n;
    }
    return found;
}

static void check_one(const uint8_t *data, size_t size, const char *name)
{
    mt_job_conf_t *conf = (mt_job_conf_t *)1;
    char err[1024];
    memset(err, 0, sizeof err);
    int rc = mt_job_conf_load_string(name, (const char *)data, size, &conf, err, sizeof err);
    FUZZ_CHECK(rc == 0 || rc == -1, "%s: load returned %d", name, rc);
    if (getenv("FUZZ_VERBOSE") != NULL)
        fprintf(stderr, "%s: %s\n", name, rc == 0 ? "loaded" : err);
    if (rc < 0) {
        size_t n = strlen(name);
        FUZZ_CHECK(conf == NULL, "%s: load failed but gave a configuration", name);
        FUZZ_CHECK(err[0] != '\0', "%s: error without a message", name);
        FUZZ_CHECK(strpbrk(err, "\r\n") == NULL, "error message of more than one line: \"%s\"", err);
        FUZZ_CHECK(strncmp(err, name, n) == 0 && err[n] == ':', "error does not name the file: \"%s\"", err);
        return;
    }
    FUZZ_CHECK(conf != NULL, "%s: loaded as no configuration", name);
    check_conf(conf, name);

    char words[4][256];
    size_t nwords = mapped_words(conf, data, size, words, 4);
    const char *tools[4 + 4] = { NULL, "", "sleep", "surely-not-mapped-\x01" };
    size_t ntools = 4;
    for (size_t i = 0; i < nwords; i++)
        tools[ntools++] = words[i];
    for (size_t t = 0; t < ntools; t++)
        for (unsigned mode = 0; mode < 8; mode++)
            check_assign(conf, tools[t], mode);
    mt_job_conf_destroy(conf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_one(data, size, "f.yml");
    check_one(data, size, "f.xml");
    return 0;
}
