/*
 * fuzz_workflow: mt_workflow_parse() on arbitrary bytes, against the
 * sample toolbox of the repository (tools/: echo, wc, cat, sleep, true),
 * loaded once; then what the server does with a parsed workflow: GET
 * /api/workflows/{id} (mt_workflow_to_json) and an invocation without
 * inputs (mt_workflow_check_inputs of {}).
 *
 * The toolbox directory is $MULETEER_TOOLS_DIR if set; else the tools/ of
 * the repository the driver was built in, found by walking up from the
 * executable (build/tests/fuzz_workflow, build/fuzz/fuzz_workflow) to the
 * first directory holding tools/echo.yml and workflows/diamond.yml; else
 * "tools" in the current directory (where `make fuzz-replay` and `make
 * fuzz` run drivers: the repository root).
 *
 * Checks (workflow.h):
 *   - the return is 0 or -1; on -1 the workflow is NULL and the message
 *     is non-empty, one line (no CR, no LF) and starts with the origin,
 *     followed by ": " or ":LINE: " with LINE inside the input (or the one
 *     just past its end);
 *   - on 0: the id and name are non-empty, the id is a valid id; there is
 *     at least one step; step ids are valid and distinct, and
 *     mt_workflow_find_step() finds each at its index; every step's tool
 *     is in the toolbox; every source names an input of that tool (at most
 *     once), every required tool input has a source; a literal is a
 *     string, a number or a boolean, an {input: X} names a workflow input,
 *     a {step: S, output: O} refers to an earlier step (the steps are in
 *     dependency order) that has output O and feeds a data input;
 *   - mt_workflow_to_json() serializes, and that JSON, parsed back with
 *     mt_workflow_parse() (JSON is YAML), gives a workflow whose JSON is
 *     the same (round trip: what GET returns can be POSTed again);
 *   - mt_workflow_check_inputs() of {} fails, with a non-empty one-line
 *     message and no object, exactly when some workflow input has no
 *     default; else it gives an object with one member per workflow
 *     input, each its default, and checking that object again gives the
 *     same object (normalized values are accepted as they are);
 *   - no leaks (LeakSanitizer under libFuzzer and `make asan`).
 *
 * FUZZ_VERBOSE=1 in the environment prints each outcome.
 */
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "app/model/tools.h"
#include "app/model/workflow.h"
#include "fuzz.h"

#define ORIGIN "workflows/fuzz.yml"
#define ROUND_TRIP_ORIGIN "round trip"

static mt_toolbox_t *toolbox;

static bool is_file(const char *dir, const char *name)
{
    char path[PATH_MAX + 64];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* The repository's tools/ above the executable, into out; false if there is none. */
static bool tools_dir_near_executable(char *out, size_t size)
{
    char dir[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", dir, sizeof dir - 1);
    if (n <= 0)
        return false;
    dir[n] = '\0';
    for (int up = 0; up < 8; up++) {
        char *slash = strrchr(dir, '/');
        if (slash == NULL)
            return false;
        *slash = '\0'; /* "/x" becomes "": the root, tried last */
        const char *here = dir[0] ? dir : "/";
        char tools[PATH_MAX + 8];
        snprintf(tools, sizeof tools, "%s/tools", dir);
        if (is_file(tools, "echo.yml") && is_file(here, "workflows/diamond.yml")) {
            snprintf(out, size, "%s", tools);
            return true;
        }
        if (dir[0] == '\0')
            return false;
    }
    return false;
}

static void init(void)
{
    if (toolbox != NULL)
        return;
    char dir[PATH_MAX + 8];
    const char *env = getenv("MULETEER_TOOLS_DIR");
    if (env != NULL && env[0] != '\0')
        snprintf(dir, sizeof dir, "%s", env);
    else if (!tools_dir_near_executable(dir, sizeof dir))
        snprintf(dir, sizeof dir, "tools");
    char err[1024] = "";
    int rc = mt_toolbox_load(dir, &toolbox, err, sizeof err);
    FUZZ_CHECK(rc == 0 && toolbox != NULL && mt_toolbox_count(toolbox) > 0,
               "cannot load the sample toolbox from %s (set MULETEER_TOOLS_DIR): %s", dir,
               rc == 0 ? "no tools" : err);
}

/*
 * Lines a message may name: those of the input (YAML also breaks lines at
 * CR, NEL, LS and PS), and the one after them, where libfyaml reports
 * errors at the end of a text that does not end with a line break.
 */
static long max_line(const char *text, size_t len)
{
    long lines = 2;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        lines += c == '\n' || c == '\r' || c == 0x85 || c == 0xa8 || c == 0xa9;
    }
    return lines;
}

static void check_message(const char *err, const char *what)
{
    FUZZ_CHECK(err[0] != '\0', "%s: error without a message", what);
    FUZZ_CHECK(strpbrk(err, "\r\n") == NULL, "%s: error message of more than one line: \"%s\"", what, err);
}

static void check_parse_error(int rc, const mt_workflow_t *wf, const char *err, const char *origin, const char *text,
                              size_t len)
{
    FUZZ_CHECK(rc == -1, "parse returned %d", rc);
    FUZZ_CHECK(wf == NULL, "parse failed but gave a workflow");
    check_message(err, "parse");
    size_t n = strlen(origin);
    FUZZ_CHECK(strncmp(err, origin, n) == 0 && err[n] == ':', "error does not start with the origin: \"%s\"", err);
    const char *p = err + n + 1;
    if (*p == ' ')
        return; /* "ORIGIN: message" */
    char *end;
    long line = strtol(p, &end, 10);
    FUZZ_CHECK(end != p && end[0] == ':' && end[1] == ' ', "error is neither ORIGIN: nor ORIGIN:LINE: \"%s\"", err);
    FUZZ_CHECK(line >= 1 && line <= max_line(text, len), "error names line %ld, past line %ld: \"%s\"", line,
               max_line(text, len), err);
}

/* [A-Za-z0-9][A-Za-z0-9._-]*, at most 128 bytes (workflow.h). */
static bool is_id(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 128)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!alnum && (i == 0 || (c != '.' && c != '_' && c != '-')))
            return false;
    }
    return true;
}

static bool is_workflow_input(const mt_workflow_t *wf, const char *name)
{
    for (size_t i = 0; i < mt_workflow_input_count(wf); i++)
        if (strcmp(mt_workflow_input_name(wf, i), name) == 0)
            return true;
    return false;
}

static void check_source(const mt_workflow_t *wf, size_t step, const mt_tool_t *tool, const mt_wf_source_t *src)
{
    const char *id = mt_workflow_step_id(wf, step);
    FUZZ_CHECK(src != NULL && src->tool_input != NULL, "step '%s': a source without a tool input", id);
    int index = mt_tool_find_input(tool, src->tool_input);
    FUZZ_CHECK(index >= 0, "step '%s': source for '%s', which tool '%s' does not have", id, src->tool_input,
               mt_tool_id(tool));
    switch (src->kind) {
    case MT_WF_FROM_LITERAL:
        FUZZ_CHECK(json_is_string(src->literal) || json_is_number(src->literal) || json_is_boolean(src->literal),
                   "step '%s': input '%s': a literal that is not a string, number or boolean", id, src->tool_input);
        FUZZ_CHECK(mt_tool_input_type(tool, (size_t)index) != MT_TOOL_INPUT_DATA,
                   "step '%s': input '%s': a literal feeds a data input", id, src->tool_input);
        break;
    case MT_WF_FROM_INPUT:
        FUZZ_CHECK(src->input != NULL && is_workflow_input(wf, src->input),
                   "step '%s': input '%s': from workflow input '%s', which does not exist", id, src->tool_input,
                   src->input ? src->input : "(null)");
        break;
    case MT_WF_FROM_STEP: {
        FUZZ_CHECK(src->step < step, "step %zu '%s': input '%s' from step %zu, which is not an earlier step", step, id,
                   src->tool_input, src->step);
        const mt_tool_t *uptool = mt_toolbox_find(toolbox, mt_workflow_step_tool(wf, src->step));
        FUZZ_CHECK(src->output != NULL && uptool != NULL && mt_tool_find_output(uptool, src->output) >= 0,
                   "step '%s': input '%s': step '%s' has no output '%s'", id, src->tool_input,
                   mt_workflow_step_id(wf, src->step), src->output ? src->output : "(null)");
        FUZZ_CHECK(mt_tool_input_type(tool, (size_t)index) == MT_TOOL_INPUT_DATA,
                   "step '%s': input '%s': a step's output feeds a %s input", id, src->tool_input,
                   mt_tool_input_type_name(mt_tool_input_type(tool, (size_t)index)));
        break;
    }
    default:
        FUZZ_CHECK(0, "step '%s': input '%s': source kind %d", id, src->tool_input, (int)src->kind);
    }
}

static void check_steps(const mt_workflow_t *wf)
{
    size_t nsteps = mt_workflow_step_count(wf);
    FUZZ_CHECK(nsteps >= 1, "a workflow without steps");
    for (size_t i = 0; i < nsteps; i++) {
        const char *id = mt_workflow_step_id(wf, i);
        FUZZ_CHECK(id != NULL && is_id(id), "step %zu: id '%s'", i, id ? id : "(null)");
        FUZZ_CHECK(mt_workflow_find_step(wf, id) == (int)i, "step %zu '%s' found at %d", i, id,
                   mt_workflow_find_step(wf, id));
        const char *tool_id = mt_workflow_step_tool(wf, i);
        const mt_tool_t *tool = tool_id ? mt_toolbox_find(toolbox, tool_id) : NULL;
        FUZZ_CHECK(tool != NULL, "step '%s': tool '%s' is not in the toolbox", id, tool_id ? tool_id : "(null)");

        size_t nsources = mt_workflow_step_source_count(wf, i);
        FUZZ_CHECK(nsources <= mt_tool_input_count(tool), "step '%s': %zu sources for %zu tool inputs", id, nsources,
                   mt_tool_input_count(tool));
        bool given[256] = { false };
        for (size_t k = 0; k < nsources; k++) {
            const mt_wf_source_t *src = mt_workflow_step_source(wf, i, k);
            check_source(wf, i, tool, src);
            size_t index = (size_t)mt_tool_find_input(tool, src->tool_input);
            if (index < sizeof given / sizeof given[0]) {
                FUZZ_CHECK(!given[index], "step '%s': two sources for input '%s'", id, src->tool_input);
                given[index] = true;
            }
        }
        FUZZ_CHECK(mt_workflow_step_source(wf, i, nsources) == NULL, "step '%s': a source past the count", id);
        for (size_t t = 0; t < mt_tool_input_count(tool) && t < sizeof given / sizeof given[0]; t++)
            FUZZ_CHECK(given[t] || !mt_tool_input_required(tool, t),
                       "step '%s': required input '%s' of tool '%s' has no source", id, mt_tool_input_name(tool, t),
                       tool_id);
    }
    FUZZ_CHECK(mt_workflow_step_id(wf, nsteps) == NULL, "a step past the count");
}

/* GET /api/workflows/{id}, then POST of what it gave: the same workflow. */
static void check_round_trip(const mt_workflow_t *wf)
{
    json_t *doc = mt_workflow_to_json(wf);
    FUZZ_CHECK(json_is_object(doc), "mt_workflow_to_json gave no object");
    json_t *steps = json_object_get(doc, "steps"), *inputs = json_object_get(doc, "inputs");
    FUZZ_CHECK(json_is_array(steps) && json_array_size(steps) == mt_workflow_step_count(wf),
               "JSON steps: %zu entries for %zu steps", json_array_size(steps), mt_workflow_step_count(wf));
    FUZZ_CHECK(json_is_array(inputs) && json_array_size(inputs) == mt_workflow_input_count(wf),
               "JSON inputs: %zu entries for %zu inputs", json_array_size(inputs), mt_workflow_input_count(wf));
    char *text = json_dumps(doc, 0); /* one line, UTF-8 as it is: no \uD83D\uDE00 pairs for YAML to misread */
    FUZZ_CHECK(text != NULL, "the workflow's JSON does not serialize");
    char *sorted = json_dumps(doc, JSON_SORT_KEYS | JSON_COMPACT);

    mt_workflow_t *again = (mt_workflow_t *)1;
    char err[1024];
    memset(err, 0, sizeof err);
    int rc = mt_workflow_parse(text, strlen(text), ROUND_TRIP_ORIGIN, toolbox, &again, err, sizeof err);
    FUZZ_CHECK(rc == 0, "the workflow's own JSON does not parse: %s\n--- JSON:\n%s", err, text);
    json_t *doc2 = mt_workflow_to_json(again);
    char *sorted2 = json_dumps(doc2, JSON_SORT_KEYS | JSON_COMPACT);
    FUZZ_CHECK(sorted2 != NULL && strcmp(sorted, sorted2) == 0 && json_equal(doc, doc2),
               "round trip changed the workflow:\n--- first:\n%s\n--- after parsing that back:\n%s", sorted,
               sorted2 ? sorted2 : "(no JSON)");
    free(sorted2);
    json_decref(doc2);
    mt_workflow_free(again);
    free(sorted);
    free(text);
    json_decref(doc);
}

/* An invocation without inputs: fails exactly when an input has no default, else gives every default. */
static void check_empty_invocation(const mt_workflow_t *wf)
{
    bool needs_value = false;
    for (size_t i = 0; i < mt_workflow_input_count(wf); i++)
        needs_value = needs_value || mt_workflow_input_default(wf, i) == NULL;

    json_t *empty = json_object(), *normalized = (json_t *)1;
    char err[1024];
    memset(err, 0, sizeof err);
    int rc = mt_workflow_check_inputs(wf, empty, &normalized, err, sizeof err);
    json_decref(empty);
    if (getenv("FUZZ_VERBOSE") != NULL)
        fprintf(stderr, "inputs {}: %s\n", rc == 0 ? "ok" : err);
    if (rc != 0) {
        FUZZ_CHECK(rc == -1, "check_inputs returned %d", rc);
        FUZZ_CHECK(normalized == NULL, "check_inputs failed but gave an object");
        check_message(err, "check_inputs");
        FUZZ_CHECK(needs_value, "check_inputs of {} failed though every input has a default: %s", err);
        return;
    }
    FUZZ_CHECK(!needs_value, "check_inputs of {} passed though an input has no default");
    FUZZ_CHECK(json_is_object(normalized) && json_object_size(normalized) == mt_workflow_input_count(wf),
               "check_inputs gave %zu members for %zu inputs", json_object_size(normalized),
               mt_workflow_input_count(wf));
    for (size_t i = 0; i < mt_workflow_input_count(wf); i++) {
        const char *name = mt_workflow_input_name(wf, i);
        FUZZ_CHECK(json_equal(json_object_get(normalized, name), (json_t *)mt_workflow_input_default(wf, i)),
                   "input '%s': not its default", name);
    }
    json_t *again = NULL;
    rc = mt_workflow_check_inputs(wf, normalized, &again, err, sizeof err);
    FUZZ_CHECK(rc == 0 && json_equal(again, normalized), "normalized inputs do not check as they are: %s",
               rc == 0 ? "changed" : err);
    json_decref(again);
    json_decref(normalized);
}

static void check_workflow(const mt_workflow_t *wf)
{
    const char *id = mt_workflow_id(wf), *name = mt_workflow_name(wf);
    FUZZ_CHECK(id != NULL && is_id(id), "workflow id '%s'", id ? id : "(null)");
    FUZZ_CHECK(name != NULL && name[0] != '\0', "workflow '%s': empty name", id);
    for (size_t i = 0; i < mt_workflow_input_count(wf); i++) {
        const char *in = mt_workflow_input_name(wf, i);
        FUZZ_CHECK(in != NULL && in[0] != '\0', "workflow input %zu without a name", i);
        FUZZ_CHECK((unsigned)mt_workflow_input_type(wf, i) <= MT_TOOL_INPUT_DATA, "input '%s': type %d", in,
                   (int)mt_workflow_input_type(wf, i));
    }
    check_steps(wf);
    check_round_trip(wf);
    check_empty_invocation(wf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    init();
    mt_workflow_t *wf = (mt_workflow_t *)1;
    char err[1024];
    memset(err, 0, sizeof err);
    int rc = mt_workflow_parse((const char *)data, size, ORIGIN, toolbox, &wf, err, sizeof err);
    if (getenv("FUZZ_VERBOSE") != NULL)
        fprintf(stderr, "parse: %s\n", rc == 0 ? mt_workflow_id(wf) : err);
    if (rc != 0) {
        check_parse_error(rc, wf, err, ORIGIN, (const char *)data, size);
        return 0;
    }
    FUZZ_CHECK(wf != NULL, "parse succeeded without a workflow");
    check_workflow(wf);
    mt_workflow_free(wf);
    return 0;
}
