/*
 * fuzz_tools: mt_toolbox_load() on a directory holding one arbitrary tool
 * file (T/tools/t.yml, rewritten for each input), then what the server
 * does with a loaded tool: GET /api/tools (mt_tool_to_json) and a job
 * created with no inputs (mt_tool_validate of {}, mt_tool_build_argv).
 *
 * Checks (tools.h):
 *   - on failure, the return is a negative errno value, the box is NULL,
 *     and the message is non-empty, one line (no CR, no LF) and starts with
 *     the file's path, followed by ": " or ":LINE: " with LINE inside the
 *     input (or the line just past its end);
 *   - on success, the box holds exactly the one tool, whose id, version
 *     and name are non-empty, whose id finds it, whose origin names the
 *     file, whose environment is NULL-terminated "KEY=VALUE" strings;
 *   - mt_tool_to_json() gives an object whose id, version and name are
 *     those of the tool and whose inputs and outputs are arrays of the
 *     tool's counts (nothing silently dropped), and which serializes;
 *   - validating {} either fails with -EINVAL, no parameters and a
 *     non-empty one-line message, or gives an object with one member per
 *     input; mt_tool_build_argv() on it then either fails with -E2BIG (an
 *     element longer than Linux accepts, a one-line message) or gives a
 *     NULL-terminated argv whose argv[0] is an absolute path to an
 *     executable regular file;
 *   - no leaks (LeakSanitizer under libFuzzer and `make asan`).
 *
 * FUZZ_VERBOSE=1 in the environment prints each outcome.
 */
#include <errno.h>
#include <jansson.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "app/model/tools.h"
#include "fuzz.h"

static char dir[512];  /* T/tools */
static char path[600]; /* T/tools/t.yml */

static void init(void)
{
    if (dir[0])
        return;
    snprintf(dir, sizeof dir, "%s/tools", fuzz_tmpdir());
    FUZZ_CHECK(mkdir(dir, 0700) == 0, "mkdir %s: %s", dir, strerror(errno));
    snprintf(path, sizeof path, "%s/t.yml", dir);
}

/*
 * Lines a message may name: those of the input (YAML also breaks lines at
 * CR, NEL, LS and PS), and the one after them, where libfyaml reports
 * errors at the end of a file that does not end with a line break.
 */
static long max_line(const uint8_t *data, size_t size)
{
    long lines = 2;
    for (size_t i = 0; i < size; i++)
        lines += data[i] == '\n' || data[i] == '\r' || data[i] == 0x85 || data[i] == 0xa8 || data[i] == 0xa9;
    return lines;
}

static void check_message(const char *err, const char *what)
{
    FUZZ_CHECK(err[0] != '\0', "%s: error without a message", what);
    FUZZ_CHECK(strpbrk(err, "\r\n") == NULL, "%s: error message of more than one line: \"%s\"", what, err);
}

static void check_load_error(int rc, const mt_toolbox_t *box, const char *err, const uint8_t *data, size_t size)
{
    FUZZ_CHECK(rc < 0 && rc > -4096, "load returned %d", rc);
    FUZZ_CHECK(box == NULL, "load failed (%d) but gave a toolbox", rc);
    check_message(err, "load");
    size_t n = strlen(path);
    FUZZ_CHECK(strncmp(err, path, n) == 0 && err[n] == ':', "error does not name the file: \"%s\"", err);
    const char *p = err + n + 1;
    if (*p == ' ')
        return; /* "FILE: message" */
    char *end;
    long line = strtol(p, &end, 10);
    FUZZ_CHECK(end != p && end[0] == ':' && end[1] == ' ', "error is neither FILE: nor FILE:LINE: \"%s\"", err);
    FUZZ_CHECK(line >= 1 && line <= max_line(data, size), "error names line %ld, past line %ld: \"%s\"", line,
               max_line(data, size), err);
}

static void check_json(const mt_tool_t *tool)
{
    json_t *doc = mt_tool_to_json(tool);
    FUZZ_CHECK(json_is_object(doc), "mt_tool_to_json gave no object");
    static const char *const keys[] = { "id", "version", "name" };
    const char *values[] = { mt_tool_id(tool), mt_tool_version(tool), mt_tool_name(tool) };
    for (size_t i = 0; i < 3; i++) {
        const char *v = json_string_value(json_object_get(doc, keys[i]));
        FUZZ_CHECK(v != NULL && strcmp(v, values[i]) == 0, "JSON \"%s\" is %s, the tool's is '%s'", keys[i],
                   v ? v : "missing", values[i]);
    }
    const char *description = mt_tool_description(tool);
    json_t *jdesc = json_object_get(doc, "description");
    FUZZ_CHECK(description ? json_is_string(jdesc) && strcmp(json_string_value(jdesc), description) == 0
                           : json_is_null(jdesc),
               "JSON description does not match the tool's");
    json_t *inputs = json_object_get(doc, "inputs"), *outputs = json_object_get(doc, "outputs");
    FUZZ_CHECK(json_is_array(inputs) && json_array_size(inputs) == mt_tool_input_count(tool),
               "JSON inputs: %zu entries for %zu inputs", json_array_size(inputs), mt_tool_input_count(tool));
    for (size_t i = 0; i < json_array_size(inputs); i++) {
        json_t *in = json_array_get(inputs, i);
        const char *name = json_string_value(json_object_get(in, "name"));
        const char *type = json_string_value(json_object_get(in, "type"));
        FUZZ_CHECK(name && strcmp(name, mt_tool_input_name(tool, i)) == 0, "JSON input %zu: name", i);
        FUZZ_CHECK(type && strcmp(type, mt_tool_input_type_name(mt_tool_input_type(tool, i))) == 0,
                   "JSON input %zu: type", i);
        FUZZ_CHECK(json_is_boolean(json_object_get(in, "required")), "JSON input %zu: required", i);
    }
    FUZZ_CHECK(json_is_array(outputs) && json_array_size(outputs) == mt_tool_output_count(tool),
               "JSON outputs: %zu entries for %zu outputs", json_array_size(outputs), mt_tool_output_count(tool));
    for (size_t i = 0; i < json_array_size(outputs); i++) {
        json_t *out = json_array_get(outputs, i);
        const char *name = json_string_value(json_object_get(out, "name"));
        FUZZ_CHECK(name && strcmp(name, mt_tool_output_name(tool, i)) == 0, "JSON output %zu: name", i);
        FUZZ_CHECK(json_is_string(json_object_get(out, "path")) || json_is_string(json_object_get(out, "from")),
                   "JSON output %zu: neither path nor from", i);
    }
    char *text = json_dumps(doc, JSON_COMPACT);
    FUZZ_CHECK(text != NULL, "the tool's JSON does not serialize");
    free(text);
    json_decref(doc);
}

static void check_tool(const mt_toolbox_t *box, const mt_tool_t *tool)
{
    const char *id = mt_tool_id(tool), *version = mt_tool_version(tool), *name = mt_tool_name(tool);
    FUZZ_CHECK(id && id[0], "a tool without an id");
    FUZZ_CHECK(version && version[0], "tool '%s': empty version", id);
    FUZZ_CHECK(name && name[0], "tool '%s': empty name", id);
    FUZZ_CHECK(mt_toolbox_find(box, id) == tool, "tool '%s' not found by its id", id);
    const char *origin = mt_tool_origin(tool);
    FUZZ_CHECK(origin && strncmp(origin, path, strlen(path)) == 0 && origin[strlen(path)] == ':',
               "tool '%s': origin %s", id, origin ? origin : "(null)");
    FUZZ_CHECK(mt_tool_walltime(tool) >= 0, "tool '%s': negative walltime", id);
    size_t nenv = 0;
    const char *const *env = mt_tool_environment(tool, &nenv);
    FUZZ_CHECK(env != NULL && env[nenv] == NULL, "tool '%s': environment not NULL-terminated", id);
    for (size_t i = 0; i < nenv; i++)
        FUZZ_CHECK(env[i] && strchr(env[i], '=') && env[i][0] != '=', "tool '%s': environment entry %zu", id, i);
    for (size_t i = 0; i < mt_tool_output_count(tool); i++) {
        const char *out = mt_tool_output_path(tool, i);
        FUZZ_CHECK(mt_tool_find_output(tool, mt_tool_output_name(tool, i)) == (int)i, "tool '%s': output %zu", id, i);
        FUZZ_CHECK(out == NULL || (out[0] && out[0] != '/'), "tool '%s': output path '%s'", id, out);
    }
    check_json(tool);

    /* A job created with no inputs. */
    char err[1024] = "";
    json_t *inputs = json_object(), *params = (json_t *)1;
    int rc = mt_tool_validate(tool, inputs, NULL, NULL, &params, err, sizeof err);
    json_decref(inputs);
    if (getenv("FUZZ_VERBOSE") != NULL)
        fprintf(stderr, "validate {}: %s\n", rc == 0 ? "ok" : err);
    if (rc < 0) {
        FUZZ_CHECK(rc == -EINVAL, "tool '%s': validating {} returned %d: %s", id, rc, err);
        FUZZ_CHECK(params == NULL, "tool '%s': validation failed but gave parameters", id);
        check_message(err, "validate");
        return;
    }
    FUZZ_CHECK(rc == 0, "tool '%s': validate returned %d", id, rc);
    FUZZ_CHECK(json_is_object(params) && json_object_size(params) == mt_tool_input_count(tool),
               "tool '%s': %zu parameters for %zu inputs", id, json_object_size(params), mt_tool_input_count(tool));
    char **argv = (char **)1;
    err[0] = '\0';
    rc = mt_tool_build_argv(tool, params, &argv, err, sizeof err);
    json_decref(params);
    if (getenv("FUZZ_VERBOSE") != NULL)
        fprintf(stderr, "argv: %s\n", rc == 0 ? argv[0] : err);
    if (rc < 0) {
        FUZZ_CHECK(rc == -E2BIG, "tool '%s': argv from validated parameters failed (%d): %s", id, rc, err);
        FUZZ_CHECK(argv == NULL, "tool '%s': build_argv failed but gave an argv", id);
        check_message(err, "build_argv");
        return;
    }
    FUZZ_CHECK(argv != NULL && argv[0] != NULL, "tool '%s': empty argv", id);
    FUZZ_CHECK(argv[0][0] == '/', "tool '%s': argv[0] '%s' is not an absolute path", id, argv[0]);
    struct stat st;
    FUZZ_CHECK(stat(argv[0], &st) == 0 && S_ISREG(st.st_mode) && access(argv[0], X_OK) == 0,
               "tool '%s': argv[0] '%s' is not an executable file", id, argv[0]);
    mt_tool_argv_free(argv);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    init();
    fuzz_write_file(path, data, size);

    mt_toolbox_t *box = (mt_toolbox_t *)1;
    char err[1024];
    memset(err, 0, sizeof err);
    int rc = mt_toolbox_load(dir, &box, err, sizeof err);
    if (getenv("FUZZ_VERBOSE") != NULL)
        fprintf(stderr, "load: %s\n", rc == 0 ? mt_tool_id(mt_toolbox_get(box, 0)) : err);
    if (rc != 0) {
        check_load_error(rc, box, err, data, size);
        return 0;
    }
    FUZZ_CHECK(box != NULL && mt_toolbox_count(box) == 1, "one file loaded as %zu tools", mt_toolbox_count(box));
    check_tool(box, mt_toolbox_get(box, 0));
    mt_toolbox_destroy(box);
    return 0;
}
