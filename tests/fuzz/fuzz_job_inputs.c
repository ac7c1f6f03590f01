/*
 * fuzz_job_inputs: the "inputs" of POST /api/jobs against a tool that has
 * one input of every type, through mt_tool_validate() and
 * mt_tool_build_argv() (src/app/model/tools.c), as the API does for each new job.
 *
 * The input is parsed as JSON (jansson, any top-level value and NUL bytes in
 * strings allowed: more than the API's body parser lets through); an object with an "inputs" member is a
 * request body and its "inputs" are checked, anything else is checked as
 * the inputs themselves. Data inputs are resolved by a fixed resolver
 * standing in for the database: job 1's output "out" exists, job 2 is
 * "running, not ok" (-EINVAL), job 3 fails on the server's side (-EIO),
 * any other job is -ENOENT.
 *
 * Checks (tools.h):
 *   - the result is 0, -EINVAL, -ENOENT or -EIO (the resolver's own), and
 *     without a resolver 0, -EINVAL or -ENOTSUP;
 *   - on failure no parameters and a non-empty one-line message, which
 *     names an input ("input 'NAME'", "unknown input '...'") unless the
 *     inputs are not an object;
 *   - on success the parameters hold exactly one member per tool input,
 *     each normalized to its type and within its limits: an integer in
 *     [min, max], a finite real in [min, max], a string without NUL of at
 *     most max_length bytes, a boolean, one of the select's options, and
 *     {"job", "output", "path"} naming job 1's output with its path;
 *   - validating the normalized parameters again (data inputs given back as
 *     {"job", "output"}) succeeds and gives the same parameters;
 *   - mt_tool_build_argv() gives exactly one element per template element:
 *     the fixed ones unchanged, each placeholder the normalized value as
 *     text (booleans as truevalue/falsevalue, data as its path) -- or
 *     -E2BIG with a one-line message;
 *   - no leaks (LeakSanitizer under libFuzzer and `make asan`).
 *
 * FUZZ_VERBOSE=1 in the environment prints each outcome.
 */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>

#include "app/model/tools.h"
#include "fuzz.h"

#define TEXT_MAX 40
#define DATA_PATH "/data/jobs/1/out"

/* The tool's inputs, in the order of its file; the command uses each once. */
static const char TOOL_YML[] =
    "id: every-type\n"
    "version: \"1\"\n"
    "name: One input of every type\n"
    "command: [\"/bin/echo\", \"-n\", \"{count}\", \"{ratio}\", \"{label}\", \"{flag}\", \"{mode}\", \"{dataset}\",\n"
    "          \"--end\"]\n"
    "inputs:\n"
    "  - {name: count, type: integer, min: -5, max: 1000000}\n"
    "  - {name: ratio, type: float, min: -1.5, max: 1e6, default: 0.25}\n"
    "  - {name: label, type: text, max_length: 40, default: \"none\"}\n"
    "  - {name: flag, type: boolean, truevalue: \"--yes\", falsevalue: \"--no\", default: false}\n"
    "  - {name: mode, type: select, options: [fast, slow, \"\"], default: fast}\n"
    "  - {name: dataset, type: data}\n"
    "outputs:\n"
    "  - {name: out, from: stdout}\n";

static mt_toolbox_t *box;
static const mt_tool_t *tool;

static void init(void)
{
    if (tool)
        return;
    char dir[512], path[600], err[512];
    snprintf(dir, sizeof dir, "%s/tools", fuzz_tmpdir());
    FUZZ_CHECK(mkdir(dir, 0700) == 0, "mkdir %s: %s", dir, strerror(errno));
    snprintf(path, sizeof path, "%s/every-type.yml", dir);
    fuzz_write_file(path, TOOL_YML, sizeof TOOL_YML - 1);
    FUZZ_CHECK(mt_toolbox_load(dir, &box, err, sizeof err) == 0, "the driver's tool does not load: %s", err);
    tool = mt_toolbox_find(box, "every-type");
    FUZZ_CHECK(tool && mt_tool_input_count(tool) == 6, "the driver's tool is not as written");
}

static int resolve(void *data, const char *job_id, const char *output, char **path_out, char *err, size_t errlen)
{
    (void)data;
    if (strcmp(job_id, "1") == 0 && strcmp(output, "out") == 0) {
        *path_out = strdup(DATA_PATH);
        return 0;
    }
    if (strcmp(job_id, "1") == 0) {
        snprintf(err, errlen, "job 1 has no output '%s'", output);
        return -EINVAL;
    }
    if (strcmp(job_id, "2") == 0) {
        snprintf(err, errlen, "job 2 is running, not ok");
        return -EINVAL;
    }
    if (strcmp(job_id, "3") == 0) {
        snprintf(err, errlen, "cannot read job 3: disk I/O error");
        return -EIO;
    }
    snprintf(err, errlen, "no job %s", job_id);
    return -ENOENT;
}

static void check_error(int rc, const json_t *params, const char *err, const json_t *inputs)
{
    FUZZ_CHECK(params == NULL, "validation failed (%d) but gave parameters", rc);
    FUZZ_CHECK(err[0] != '\0', "error %d without a message", rc);
    FUZZ_CHECK(strpbrk(err, "\r\n") == NULL, "error message of more than one line: \"%s\"", err);
    if (inputs && !json_is_null(inputs) && !json_is_object(inputs))
        FUZZ_CHECK(strstr(err, "inputs must be a JSON object") == err, "a non-object refused with \"%s\"", err);
    else
        FUZZ_CHECK(strncmp(err, "input '", 7) == 0 || strncmp(err, "unknown input '", 15) == 0,
                   "error does not name the input: \"%s\"", err);
}

/* The one member of params for input i, checked against the input's type and limits. */
static void check_param(const json_t *params, size_t i)
{
    const char *name = mt_tool_input_name(tool, i);
    const json_t *v = json_object_get(params, name);
    FUZZ_CHECK(v != NULL, "input '%s' missing from the parameters", name);
    switch (mt_tool_input_type(tool, i)) {
    case MT_TOOL_INPUT_INTEGER:
        FUZZ_CHECK(json_is_integer(v) && json_integer_value(v) >= -5 && json_integer_value(v) <= 1000000,
                   "'%s' is not an integer in [-5, 1000000]", name);
        break;
    case MT_TOOL_INPUT_FLOAT:
        FUZZ_CHECK(json_is_real(v) && isfinite(json_real_value(v)) && json_real_value(v) >= -1.5 &&
                       json_real_value(v) <= 1e6,
                   "'%s' is not a finite real in [-1.5, 1e6]", name);
        break;
    case MT_TOOL_INPUT_TEXT:
        FUZZ_CHECK(json_is_string(v) && json_string_length(v) <= TEXT_MAX &&
                       strlen(json_string_value(v)) == json_string_length(v),
                   "'%s' is not a string of at most %d bytes without NUL", name, TEXT_MAX);
        break;
    case MT_TOOL_INPUT_BOOLEAN:
        FUZZ_CHECK(json_is_boolean(v), "'%s' is not a boolean", name);
        break;
    case MT_TOOL_INPUT_SELECT: {
        const char *s = json_string_value(v);
        FUZZ_CHECK(s && (!strcmp(s, "fast") || !strcmp(s, "slow") || !strcmp(s, "")), "'%s' is not an option",
                   name);
        break;
    }
    case MT_TOOL_INPUT_DATA:
        FUZZ_CHECK(json_is_object(v) && json_object_size(v) == 3, "'%s' is not {job, output, path}", name);
        FUZZ_CHECK(json_is_string(json_object_get(v, "job")) &&
                       !strcmp(json_string_value(json_object_get(v, "job")), "1"),
                   "'%s' names another job than \"1\"", name);
        FUZZ_CHECK(json_is_string(json_object_get(v, "output")) &&
                       !strcmp(json_string_value(json_object_get(v, "output")), "out"),
                   "'%s' names another output than out", name);
        FUZZ_CHECK(json_is_string(json_object_get(v, "path")) &&
                       !strcmp(json_string_value(json_object_get(v, "path")), DATA_PATH),
                   "'%s' has not the resolver's path", name);
        break;
    }
}

/* The argv text of a normalized value (what build_argv must write). */
static void expected_text(size_t i, const json_t *v, char *buf, size_t len)
{
    switch (mt_tool_input_type(tool, i)) {
    case MT_TOOL_INPUT_INTEGER:
        snprintf(buf, len, "%lld", (long long)json_integer_value(v));
        break;
    case MT_TOOL_INPUT_FLOAT:
        buf[0] = '\0'; /* the shortest exact form: checked by parsing back instead */
        break;
    case MT_TOOL_INPUT_BOOLEAN:
        snprintf(buf, len, "%s", json_is_true(v) ? "--yes" : "--no");
        break;
    case MT_TOOL_INPUT_DATA:
        snprintf(buf, len, "%s", DATA_PATH);
        break;
    default:
        snprintf(buf, len, "%s", json_string_value(v));
    }
}

static void check_argv(const json_t *params)
{
    char **argv = NULL, err[512] = "";
    int rc = mt_tool_build_argv(tool, params, &argv, err, sizeof err);
    if (rc == -E2BIG) {
        FUZZ_CHECK(argv == NULL && err[0] && !strpbrk(err, "\r\n"), "-E2BIG without a one-line message");
        return;
    }
    FUZZ_CHECK(rc == 0 && argv, "argv of valid parameters failed (%d): %s", rc, err);
    size_t n = 0;
    while (argv[n])
        n++;
    FUZZ_CHECK(n == 9, "argv has %zu elements, the template 9", n);
    FUZZ_CHECK(!strcmp(argv[0], "/bin/echo") && !strcmp(argv[1], "-n") && !strcmp(argv[8], "--end"),
               "a fixed element of the template changed");
    for (size_t i = 0; i < 6; i++) {
        const json_t *v = json_object_get(params, mt_tool_input_name(tool, i));
        const char *arg = argv[2 + i];
        char want[256];
        expected_text(i, v, want, sizeof want);
        if (mt_tool_input_type(tool, i) == MT_TOOL_INPUT_FLOAT) {
            char *end;
            double d = strtod(arg, &end);
            FUZZ_CHECK(*arg && *end == '\0' && d == json_real_value(v), "float '%s' written as \"%s\"",
                       mt_tool_input_name(tool, i), arg);
        } else {
            FUZZ_CHECK(!strcmp(arg, want), "'%s' written as \"%s\", expected \"%s\"", mt_tool_input_name(tool, i),
                       arg, want);
        }
    }
    mt_tool_argv_free(argv);
}

/* Parameters given back as inputs: the same, with data inputs stripped of their path. */
static json_t *as_inputs(const json_t *params)
{
    json_t *inputs = json_deep_copy(params);
    json_t *data = json_object_get(inputs, "dataset");
    if (data)
        json_object_del(data, "path");
    return inputs;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    init();
    json_error_t jerr;
    json_t *body = json_loadb((const char *)data, size, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    if (!body)
        return 0;
    json_t *inputs = body;
    if (json_is_object(body) && json_object_get(body, "inputs"))
        inputs = json_object_get(body, "inputs");

    json_t *params = NULL;
    char err[512] = "";
    int rc = mt_tool_validate(tool, inputs, resolve, NULL, &params, err, sizeof err);
    if (getenv("FUZZ_VERBOSE"))
        fprintf(stderr, "validate: %d %s\n", rc, rc ? err : "ok");
    FUZZ_CHECK(rc == 0 || rc == -EINVAL || rc == -ENOENT || rc == -EIO, "validate returned %d: %s", rc, err);
    if (rc < 0) {
        check_error(rc, params, err, inputs);
    } else {
        FUZZ_CHECK(json_is_object(params) && json_object_size(params) == 6,
                   "parameters are not one member per input");
        for (size_t i = 0; i < 6; i++)
            check_param(params, i);

        json_t *again_in = as_inputs(params), *again = NULL;
        char err2[512] = "";
        int rc2 = mt_tool_validate(tool, again_in, resolve, NULL, &again, err2, sizeof err2);
        FUZZ_CHECK(rc2 == 0 && json_equal(again, params), "normalized parameters do not validate to themselves: %s",
                   err2);
        json_decref(again);
        json_decref(again_in);
        check_argv(params);
        json_decref(params);
    }

    /* Without a resolver, a data input can only be refused with -ENOTSUP, never resolved. */
    params = NULL;
    err[0] = '\0';
    rc = mt_tool_validate(tool, inputs, NULL, NULL, &params, err, sizeof err);
    FUZZ_CHECK(rc == 0 || rc == -EINVAL || rc == -ENOTSUP, "validate without a resolver returned %d: %s", rc, err);
    if (rc < 0)
        check_error(rc, params, err, inputs);
    json_decref(params);
    json_decref(body);
    return 0;
}
