/*
 * Unit tests for workflow.c: workflows parsed and checked against a small
 * toolbox written into a temporary directory (echo, wcf, cat2, count): the
 * step order, every kind of source, every validation failure the header
 * lists (each error one line, naming the place and, for the document's
 * shape, the line), JSON read as YAML, an invocation's inputs, and the JSON
 * form read back as a workflow.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "app/model/tools.h"
#include "app/model/workflow.h"

/* ------------------------------------------------------------------ */
/* Helpers                                                             */
/* ------------------------------------------------------------------ */

static char tmpdir[64];
static char err[1024];
static mt_toolbox_t *box;

/* Write `text` to tmpdir/name. */
static void write_file(const char *name, const char *text)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *fp = fopen(path, "w");
    cr_assert_not_null(fp, "%s: %s", path, strerror(errno));
    cr_assert_eq(fwrite(text, 1, strlen(text), fp), strlen(text));
    fclose(fp);
}

/*
 * The toolbox every test uses:
 *   echo   text (text, required)                           -> out
 *   wcf    file (data, required)                           -> count
 *   cat2   a, b (data, required)                           -> out, log
 *   count  n (integer 1..100, required), mode (select lines|words, required),
 *          scale (float, default 1.5), verbose (boolean, default false),
 *          label (text, max_length 5, default "x")         -> result
 */
static void setup(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/mt-test-workflow-XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
    char tools[128];
    snprintf(tools, sizeof tools, "%s/tools", tmpdir);
    cr_assert_eq(mkdir(tools, 0700), 0);
    write_file("tools/echo.yml", "id: echo\nversion: \"1\"\nname: Echo\ncommand: [/bin/echo, \"{text}\"]\n"
                                 "inputs:\n  - {name: text, type: text}\n"
                                 "outputs:\n  - {name: out, from: stdout}\n");
    write_file("tools/wcf.yml", "id: wcf\nversion: \"1\"\nname: Count a file\ncommand: [/bin/true, \"{file}\"]\n"
                                "inputs:\n  - {name: file, type: data}\n"
                                "outputs:\n  - {name: count, from: stdout}\n");
    write_file("tools/cat2.yml", "id: cat2\nversion: \"1\"\nname: Cat two\ncommand: [/bin/cat, \"{a}\", \"{b}\"]\n"
                                 "inputs:\n  - {name: a, type: data}\n  - {name: b, type: data}\n"
                                 "outputs:\n  - {name: out, from: stdout}\n  - {name: log, path: log.txt}\n");
    write_file("tools/count.yml",
               "id: count\nversion: \"1\"\nname: Count\n"
               "command: [/bin/true, \"{n}\", \"{mode}\", \"{scale}\", \"{verbose}\", \"{label}\"]\n"
               "inputs:\n"
               "  - {name: n, type: integer, min: 1, max: 100}\n"
               "  - {name: mode, type: select, options: [lines, words]}\n"
               "  - {name: scale, type: float, default: 1.5}\n"
               "  - {name: verbose, type: boolean, default: false}\n"
               "  - {name: label, type: text, default: \"x\", max_length: 5}\n"
               "outputs:\n  - {name: result, from: stdout}\n");
    box = NULL;
    int rc = mt_toolbox_load(tools, &box, err, sizeof err);
    cr_assert_eq(rc, 0, "toolbox: %s", err);
    cr_assert_eq(mt_toolbox_count(box), 4);
}

static void teardown(void)
{
    mt_toolbox_destroy(box);
    box = NULL;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(workflow, .init = setup, .fini = teardown);

static mt_workflow_t *parse_ok(const char *text)
{
    mt_workflow_t *wf = NULL;
    err[0] = '\0';
    int rc = mt_workflow_parse(text, strlen(text), "wf.yml", box, &wf, err, sizeof err);
    cr_assert_eq(rc, 0, "parse failed: %s\n--- text:\n%s", err, text);
    cr_assert_not_null(wf);
    return wf;
}

/* Parse text; expect failure with a one-line error containing each of the NULL-terminated strings. */
static void parse_fails(const char *text, const char *first, ...)
{
    mt_workflow_t *wf = (mt_workflow_t *)1;
    err[0] = '\0';
    int rc = mt_workflow_parse(text, strlen(text), "wf.yml", box, &wf, err, sizeof err);
    cr_assert_eq(rc, -1, "parse should fail (wanted: %s)\n--- text:\n%s", first, text);
    cr_assert_null(wf);
    cr_assert_null(strchr(err, '\n'), "error is not one line: %s", err);
    va_list ap;
    va_start(ap, first);
    for (const char *s = first; s; s = va_arg(ap, const char *))
        cr_assert_not_null(strstr(err, s), "error lacks '%s': %s", s, err);
    va_end(ap);
}

/* The step with that id; its index must be valid. */
static size_t step_index(const mt_workflow_t *wf, const char *id)
{
    int i = mt_workflow_find_step(wf, id);
    cr_assert_geq(i, 0, "no step %s", id);
    return (size_t)i;
}

/* The source of step `id` for tool input `name`, or NULL. */
static const mt_wf_source_t *source_of(const mt_workflow_t *wf, const char *id, const char *name)
{
    size_t step = step_index(wf, id);
    for (size_t i = 0; i < mt_workflow_step_source_count(wf, step); i++) {
        const mt_wf_source_t *src = mt_workflow_step_source(wf, step, i);
        if (strcmp(src->tool_input, name) == 0)
            return src;
    }
    return NULL;
}

/* The steps' ids in order, joined by spaces. */
static const char *step_order(const mt_workflow_t *wf)
{
    static char order[256];
    order[0] = '\0';
    for (size_t i = 0; i < mt_workflow_step_count(wf); i++) {
        if (i)
            strcat(order, " ");
        strcat(order, mt_workflow_step_id(wf, i));
    }
    return order;
}

/* ------------------------------------------------------------------ */
/* Well-formed workflows                                               */
/* ------------------------------------------------------------------ */

#define DIAMOND                                                                                                        \
    "id: diamond\n"                                                                                                    \
    "name: A diamond\n"                                                                                                \
    "description: a feeds b and c, which feed d\n"                                                                     \
    "inputs:\n"                                                                                                        \
    "  - name: text\n"                                                                                                 \
    "    type: text\n"                                                                                                 \
    "    default: \"hello\"\n"                                                                                         \
    "steps:\n"                                                                                                         \
    "  - id: a\n"                                                                                                      \
    "    tool: echo\n"                                                                                                 \
    "    inputs:\n"                                                                                                    \
    "      text: {input: text}\n"                                                                                      \
    "  - id: b\n"                                                                                                      \
    "    tool: wcf\n"                                                                                                  \
    "    inputs:\n"                                                                                                    \
    "      file: {step: a, output: out}\n"                                                                             \
    "  - id: c\n"                                                                                                      \
    "    tool: wcf\n"                                                                                                  \
    "    inputs:\n"                                                                                                    \
    "      file: {step: a, output: out}\n"                                                                             \
    "  - id: d\n"                                                                                                      \
    "    tool: cat2\n"                                                                                                 \
    "    inputs:\n"                                                                                                    \
    "      b: {step: c, output: count}\n"                                                                              \
    "      a: {step: b, output: count}\n"

Test(workflow, diamond)
{
    mt_workflow_t *wf = parse_ok(DIAMOND);
    cr_assert_str_eq(mt_workflow_id(wf), "diamond");
    cr_assert_str_eq(mt_workflow_name(wf), "A diamond");
    cr_assert_str_eq(mt_workflow_description(wf), "a feeds b and c, which feed d");
    cr_assert_eq(mt_workflow_input_count(wf), 1);
    cr_assert_str_eq(mt_workflow_input_name(wf, 0), "text");
    cr_assert_eq(mt_workflow_input_type(wf, 0), MT_TOOL_INPUT_TEXT);
    cr_assert_str_eq(json_string_value(mt_workflow_input_default(wf, 0)), "hello");
    cr_assert_null(mt_workflow_input_name(wf, 1));
    cr_assert_null(mt_workflow_input_default(wf, 1));

    cr_assert_eq(mt_workflow_step_count(wf), 4);
    cr_assert_str_eq(step_order(wf), "a b c d");
    cr_assert_eq(mt_workflow_find_step(wf, "a"), 0);
    cr_assert_eq(mt_workflow_find_step(wf, "d"), 3);
    cr_assert_eq(mt_workflow_find_step(wf, "e"), -1);
    cr_assert_str_eq(mt_workflow_step_tool(wf, 0), "echo");
    cr_assert_str_eq(mt_workflow_step_tool(wf, 3), "cat2");
    cr_assert_null(mt_workflow_step_id(wf, 4));
    cr_assert_null(mt_workflow_step_source(wf, 4, 0));
    cr_assert_eq(mt_workflow_step_source_count(wf, 4), 0);

    /* a: from the workflow input. */
    cr_assert_eq(mt_workflow_step_source_count(wf, 0), 1);
    const mt_wf_source_t *src = mt_workflow_step_source(wf, 0, 0);
    cr_assert_str_eq(src->tool_input, "text");
    cr_assert_eq(src->kind, MT_WF_FROM_INPUT);
    cr_assert_str_eq(src->input, "text");
    cr_assert_null(mt_workflow_step_source(wf, 0, 1));

    /* b and c: from a's output. */
    for (size_t s = 1; s <= 2; s++) {
        src = mt_workflow_step_source(wf, s, 0);
        cr_assert_str_eq(src->tool_input, "file");
        cr_assert_eq(src->kind, MT_WF_FROM_STEP);
        cr_assert_eq(src->step, 0);
        cr_assert_str_eq(src->output, "out");
    }

    /* d: in the tool's input order (a, b), whatever the document's order. */
    cr_assert_eq(mt_workflow_step_source_count(wf, 3), 2);
    src = mt_workflow_step_source(wf, 3, 0);
    cr_assert_str_eq(src->tool_input, "a");
    cr_assert_eq(src->kind, MT_WF_FROM_STEP);
    cr_assert_eq(src->step, step_index(wf, "b"));
    cr_assert_str_eq(src->output, "count");
    src = mt_workflow_step_source(wf, 3, 1);
    cr_assert_str_eq(src->tool_input, "b");
    cr_assert_eq(src->step, step_index(wf, "c"));
    mt_workflow_free(wf);
    mt_workflow_free(NULL);
}

Test(workflow, order_follows_dependencies_then_document)
{
    /* Written backwards: a must still come first, and c before b (c comes first in the document). */
    mt_workflow_t *wf = parse_ok("id: w\n"
                                 "steps:\n"
                                 "  - {id: d, tool: cat2, inputs: {a: {step: b, output: count}, b: {step: c, output: count}}}\n"
                                 "  - {id: c, tool: wcf, inputs: {file: {step: a, output: out}}}\n"
                                 "  - {id: b, tool: wcf, inputs: {file: {step: a, output: out}}}\n"
                                 "  - {id: a, tool: echo, inputs: {text: hi}}\n");
    cr_assert_str_eq(step_order(wf), "a c b d");
    cr_assert_eq(source_of(wf, "d", "a")->step, 2); /* b */
    cr_assert_eq(source_of(wf, "d", "b")->step, 1); /* c */
    cr_assert_eq(source_of(wf, "c", "file")->step, 0);
    cr_assert_eq(source_of(wf, "b", "file")->step, 0);
    /* The name defaults to the id; no description. */
    cr_assert_str_eq(mt_workflow_name(wf), "w");
    cr_assert_null(mt_workflow_description(wf));
    cr_assert_eq(mt_workflow_input_count(wf), 0);
    mt_workflow_free(wf);

    /* Independent steps keep the document's order. */
    wf = parse_ok("id: w\nsteps:\n"
                  "  - {id: z, tool: echo, inputs: {text: a}}\n"
                  "  - {id: y, tool: echo, inputs: {text: b}}\n"
                  "  - {id: x, tool: echo, inputs: {text: c}}\n");
    cr_assert_str_eq(step_order(wf), "z y x");
    mt_workflow_free(wf);
}

Test(workflow, literal_sources)
{
    mt_workflow_t *wf = parse_ok("id: lit\n"
                                 "steps:\n"
                                 "  - id: s\n"
                                 "    tool: count\n"
                                 "    inputs:\n"
                                 "      label: \"abc\"\n"
                                 "      verbose: true\n"
                                 "      scale: 2.5\n"
                                 "      mode: words\n"
                                 "      n: 3\n"
                                 "  - id: t\n"
                                 "    tool: count\n"
                                 "    inputs: {n: \"7\", mode: 'lines', label: 42abc, scale: 3}\n");
    cr_assert_eq(mt_workflow_step_source_count(wf, 0), 5);
    const char *order[] = { "n", "mode", "scale", "verbose", "label" };
    for (size_t i = 0; i < 5; i++) {
        const mt_wf_source_t *src = mt_workflow_step_source(wf, 0, i);
        cr_assert_str_eq(src->tool_input, order[i]);
        cr_assert_eq(src->kind, MT_WF_FROM_LITERAL);
        cr_assert_not_null(src->literal);
    }
    /* The JSON value the scalar denotes: plain numbers and booleans keep their type, quoted text is a string. */
    const json_t *v = source_of(wf, "s", "n")->literal;
    cr_assert(json_is_integer(v));
    cr_assert_eq(json_integer_value(v), 3);
    v = source_of(wf, "s", "scale")->literal;
    cr_assert(json_is_real(v));
    cr_assert_float_eq(json_real_value(v), 2.5, 1e-12);
    cr_assert(json_is_true(source_of(wf, "s", "verbose")->literal));
    cr_assert_str_eq(json_string_value(source_of(wf, "s", "mode")->literal), "words");
    cr_assert_str_eq(json_string_value(source_of(wf, "s", "label")->literal), "abc");

    /* As a request would give them: a quoted "7" stays a string (an integer input accepts it). */
    cr_assert_eq(mt_workflow_step_source_count(wf, 1), 4);
    v = source_of(wf, "t", "n")->literal;
    cr_assert(json_is_string(v));
    cr_assert_str_eq(json_string_value(v), "7");
    cr_assert_str_eq(json_string_value(source_of(wf, "t", "mode")->literal), "lines");
    cr_assert_str_eq(json_string_value(source_of(wf, "t", "label")->literal), "42abc");
    cr_assert(json_is_integer(source_of(wf, "t", "scale")->literal));
    cr_assert_null(source_of(wf, "t", "verbose")); /* the tool's default applies */
    mt_workflow_free(wf);
}

Test(workflow, workflow_input_sources)
{
    mt_workflow_t *wf = parse_ok("id: w\n"
                                 "inputs:\n"
                                 "  - {name: n, type: integer, default: 5}\n"
                                 "  - {name: mode, type: select}\n"
                                 "  - {name: f, type: data}\n"
                                 "  - {name: big, type: float, default: \"2.5\"}\n"
                                 "  - {name: flag, type: boolean, default: True}\n"
                                 "steps:\n"
                                 "  - id: s\n"
                                 "    tool: count\n"
                                 "    inputs: {n: {input: n}, mode: {input: mode}, scale: {input: big},\n"
                                 "             verbose: {input: flag}, label: {input: mode}}\n"
                                 "  - {id: t, tool: wcf, inputs: {file: {input: f}}}\n"
                                 "  - {id: u, tool: echo, inputs: {text: {input: mode}}}\n");
    cr_assert_eq(mt_workflow_input_count(wf), 5);
    cr_assert_eq(mt_workflow_input_type(wf, 0), MT_TOOL_INPUT_INTEGER);
    cr_assert_eq(mt_workflow_input_type(wf, 1), MT_TOOL_INPUT_SELECT);
    cr_assert_eq(mt_workflow_input_type(wf, 2), MT_TOOL_INPUT_DATA);
    cr_assert_eq(json_integer_value(mt_workflow_input_default(wf, 0)), 5);
    cr_assert_null(mt_workflow_input_default(wf, 1));
    cr_assert_null(mt_workflow_input_default(wf, 2));
    /* Defaults are normalized to the input's type. */
    cr_assert(json_is_real(mt_workflow_input_default(wf, 3)));
    cr_assert_float_eq(json_real_value(mt_workflow_input_default(wf, 3)), 2.5, 1e-12);
    cr_assert(json_is_true(mt_workflow_input_default(wf, 4)));

    const mt_wf_source_t *src = source_of(wf, "s", "label");
    cr_assert_eq(src->kind, MT_WF_FROM_INPUT);
    cr_assert_str_eq(src->input, "mode"); /* a select feeds a text */
    src = source_of(wf, "t", "file");
    cr_assert_eq(src->kind, MT_WF_FROM_INPUT);
    cr_assert_str_eq(src->input, "f");
    cr_assert_str_eq(source_of(wf, "u", "text")->input, "mode");
    mt_workflow_free(wf);
}

Test(workflow, json_parses_like_yaml)
{
    const char *json =
        "{\"id\": \"diamond\", \"name\": \"A diamond\", \"description\": \"a feeds b and c, which feed d\",\n"
        " \"inputs\": [{\"name\": \"text\", \"type\": \"text\", \"default\": \"hello\"}],\n"
        " \"steps\": [\n"
        "  {\"id\": \"d\", \"tool\": \"cat2\", \"inputs\": {\"a\": {\"step\": \"b\", \"output\": \"count\"},\n"
        "                                            \"b\": {\"step\": \"c\", \"output\": \"count\"}}},\n"
        "  {\"id\": \"a\", \"tool\": \"echo\", \"inputs\": {\"text\": {\"input\": \"text\"}}},\n"
        "  {\"id\": \"b\", \"tool\": \"wcf\", \"inputs\": {\"file\": {\"step\": \"a\", \"output\": \"out\"}}},\n"
        "  {\"id\": \"c\", \"tool\": \"wcf\", \"inputs\": {\"file\": {\"step\": \"a\", \"output\": \"out\"}}}]}\n";
    mt_workflow_t *from_json = parse_ok(json);
    mt_workflow_t *from_yaml = parse_ok(DIAMOND);
    cr_assert_str_eq(step_order(from_json), "a b c d");
    json_t *a = mt_workflow_to_json(from_json), *b = mt_workflow_to_json(from_yaml);
    char *sa = json_dumps(a, JSON_SORT_KEYS), *sb = json_dumps(b, JSON_SORT_KEYS);
    cr_assert(json_equal(a, b), "JSON %s\nYAML %s", sa, sb);
    free(sa);
    free(sb);
    json_decref(a);
    json_decref(b);
    mt_workflow_free(from_json);
    mt_workflow_free(from_yaml);

    /* Compact JSON, literals of every JSON type: numbers stay numbers, strings strings. */
    mt_workflow_t *wf = parse_ok("{\"id\":\"c\",\"steps\":[{\"id\":\"s\",\"tool\":\"count\",\"inputs\":"
                                 "{\"n\":3,\"mode\":\"words\",\"scale\":0.5,\"verbose\":false,\"label\":\"12\"}}]}");
    cr_assert(json_is_integer(source_of(wf, "s", "n")->literal));
    cr_assert(json_is_real(source_of(wf, "s", "scale")->literal));
    cr_assert(json_is_false(source_of(wf, "s", "verbose")->literal));
    cr_assert(json_is_string(source_of(wf, "s", "label")->literal));
    mt_workflow_free(wf);

    /* A JSON error is reported like a YAML one. */
    parse_fails("{\"id\": \"c\", \"steps\": [}", "wf.yml:1:", "YAML syntax error", NULL);
}

/* ------------------------------------------------------------------ */
/* Validation failures                                                 */
/* ------------------------------------------------------------------ */

#define HEAD "id: w\nsteps:\n"

Test(workflow, error_unknown_tool)
{
    parse_fails(HEAD "  - id: a\n    tool: ech\n", "wf.yml:4: step 'a': unknown tool 'ech'", NULL);
}

Test(workflow, error_unknown_tool_input)
{
    parse_fails(HEAD "  - id: a\n    tool: echo\n    inputs:\n      txt: hi\n",
                "wf.yml:6: step 'a': unknown input 'txt' (tool 'echo' has inputs text)", NULL);
}

Test(workflow, error_unknown_keys)
{
    parse_fails(HEAD "  - id: a\n"             /* 3 */
                     "    tool: echo\n"        /* 4 */
                     "    inputs: {text: hi}\n" /* 5 */
                     "  - id: b\n"             /* 6 */
                     "    tol: echo\n",        /* 7 */
                "wf.yml:7: step 'b': unknown key 'tol' (expected id, tool, inputs)", NULL);
    parse_fails("id: w\nnmae: W\nsteps: []\n", "wf.yml:2: unknown key 'nmae'", NULL);
    parse_fails("id: w\ninputs:\n  - name: t\n    type: text\n    defualt: x\nsteps: []\n",
                "wf.yml:5: input 't': unknown key 'defualt'", NULL);
    parse_fails(HEAD "  - id: a\n    tool: echo\n    inputs:\n      text: {inptu: t}\n",
                "wf.yml:6: step 'a': input 'text': unknown key 'inptu'", NULL);
    /* A key given twice is refused, with its line. */
    parse_fails(HEAD "  - id: a\n    tool: echo\n    tool: wcf\n", "wf.yml:5:", "duplicate key 'tool'", NULL);
}

Test(workflow, error_missing_required_tool_input)
{
    parse_fails(HEAD "  - id: a\n    tool: echo\n", "wf.yml:3: step 'a': input 'text' is required by tool 'echo'",
                NULL);
    /* count's n has a source, mode (required) has none; scale and the others have defaults. */
    parse_fails(HEAD "  - id: a\n    tool: count\n    inputs: {n: 2}\n", "step 'a': input 'mode' is required", NULL);
}

Test(workflow, error_literal_of_the_wrong_type)
{
#define COUNT(inputs) HEAD "  - id: a\n    tool: count\n    inputs:\n      mode: lines\n      " inputs "\n"
    parse_fails(COUNT("n: abc"), "wf.yml:7: step 'a': input 'n': expected an integer, got the string 'abc'", NULL);
    parse_fails(COUNT("n: 2.5"), "step 'a': input 'n': expected an integer", NULL);
    parse_fails(COUNT("n: true"), "step 'a': input 'n': expected an integer", NULL);
    parse_fails(COUNT("n: 3\n      verbose: maybe"), "wf.yml:8: step 'a': input 'verbose': expected true or false",
                NULL);
    parse_fails(COUNT("n: 3\n      scale: fast"), "step 'a': input 'scale': expected a number", NULL);
    parse_fails(COUNT("n: 3\n      label: 12"), "step 'a': input 'label': expected a string", "quote it", NULL);
    /* Judged as mt_tool_validate would: bounds, options and lengths too. */
    parse_fails(COUNT("n: 500"), "step 'a': input 'n': 500 is above the maximum 100", NULL);
    parse_fails(COUNT("n: 0"), "step 'a': input 'n': 0 is below the minimum 1", NULL);
    parse_fails(COUNT("n: 3\n      label: toolong"), "step 'a': input 'label':", "more than the maximum 5", NULL);
    parse_fails(HEAD "  - id: a\n    tool: count\n    inputs: {n: 3, mode: chars}\n",
                "wf.yml:5: step 'a': input 'mode': 'chars' is not one of the options (lines, words)", NULL);
    parse_fails(HEAD "  - id: a\n    tool: echo\n    inputs: {text: [a, b]}\n", "step 'a': input 'text': a list", NULL);
    parse_fails(HEAD "  - id: a\n    tool: echo\n    inputs: {text: }\n", "step 'a': input 'text': no value", NULL);
    /* Valid values pass with the placeholders standing in for the other required input. */
    mt_workflow_t *wf = parse_ok(COUNT("n: 100\n      label: \"12345\"\n      scale: -1e3"));
    mt_workflow_free(wf);
#undef COUNT
}

Test(workflow, error_literal_for_a_data_input)
{
    parse_fails(HEAD "  - id: a\n    tool: wcf\n    inputs:\n      file: /etc/passwd\n",
                "wf.yml:6: step 'a': input 'file': a literal cannot feed a data input", NULL);
}

Test(workflow, error_unknown_workflow_input)
{
    parse_fails("id: w\ninputs:\n  - {name: text, type: text}\nsteps:\n"
                "  - id: a\n    tool: echo\n    inputs:\n      text: {input: txet}\n",
                "wf.yml:8: step 'a': input 'text': no workflow input 'txet'", NULL);
    parse_fails(HEAD "  - id: a\n    tool: echo\n    inputs: {text: {input: text}}\n",
                "step 'a': input 'text': no workflow input 'text'", NULL);
}

Test(workflow, error_workflow_input_type_mismatch)
{
    parse_fails("id: w\ninputs:\n  - {name: n, type: integer}\nsteps:\n"
                "  - {id: a, tool: echo, inputs: {text: {input: n}}}\n",
                "wf.yml:5: step 'a': input 'text': workflow input 'n' is integer, the tool input takes text", NULL);
    parse_fails("id: w\ninputs:\n  - {name: x, type: float}\nsteps:\n"
                "  - {id: a, tool: count, inputs: {n: {input: x}, mode: lines}}\n",
                "step 'a': input 'n': workflow input 'x' is float, the tool input takes integer", NULL);
    parse_fails("id: w\ninputs:\n  - {name: f, type: data}\nsteps:\n"
                "  - {id: a, tool: echo, inputs: {text: {input: f}}}\n",
                "workflow input 'f' is data", NULL);
    /* text -> select is refused, select -> text allowed. */
    parse_fails("id: w\ninputs:\n  - {name: t, type: text}\nsteps:\n"
                "  - {id: a, tool: count, inputs: {n: 1, mode: {input: t}}}\n",
                "step 'a': input 'mode': workflow input 't' is text, the tool input takes select",
                "a text cannot feed a select", NULL);
    mt_workflow_t *wf = parse_ok("id: w\ninputs:\n  - {name: m, type: select}\nsteps:\n"
                                 "  - {id: a, tool: echo, inputs: {text: {input: m}}}\n");
    mt_workflow_free(wf);
}

Test(workflow, error_step_references)
{
#define TWO(ref) HEAD "  - {id: a, tool: echo, inputs: {text: hi}}\n  - id: b\n    tool: wcf\n    inputs:\n      file: " ref "\n"
    parse_fails(TWO("{step: zz, output: out}"), "wf.yml:7: step 'b': input 'file': no step 'zz'", NULL);
    parse_fails(TWO("{step: b, output: count}"), "wf.yml:7: step 'b': input 'file': a step cannot take its own output",
                NULL);
    parse_fails(TWO("{step: a, output: outt}"),
                "wf.yml:7: step 'b': input 'file': step 'a' has no output 'outt' (tool 'echo' has outputs out)", NULL);
    parse_fails(TWO("{step: a}"), "step 'b': input 'file': give {input: NAME} or {step: ID, output: NAME}", NULL);
    parse_fails(TWO("{step: a, output: out, input: x}"), "step 'b': input 'file': give {input: NAME}", NULL);
#undef TWO
    /* A step's output into a non-data input. */
    parse_fails(HEAD "  - {id: a, tool: echo, inputs: {text: hi}}\n"
                     "  - {id: b, tool: echo, inputs: {text: {step: a, output: out}}}\n",
                "wf.yml:4: step 'b': input 'text': only a data input can take a step's output (this one is text)",
                NULL);
}

Test(workflow, error_cycle)
{
    parse_fails(HEAD "  - {id: a, tool: wcf, inputs: {file: {step: b, output: count}}}\n"
                     "  - {id: b, tool: wcf, inputs: {file: {step: a, output: count}}}\n",
                "wf.yml: steps 'a' -> 'b' -> 'a' form a cycle", NULL);
    /* Only the steps in the cycle, in the direction data flows, from the first in the document. */
    parse_fails(HEAD "  - {id: s, tool: echo, inputs: {text: hi}}\n"
                     "  - {id: after, tool: wcf, inputs: {file: {step: z, output: out}}}\n"
                     "  - {id: x, tool: wcf, inputs: {file: {step: z, output: out}}}\n"
                     "  - {id: y, tool: wcf, inputs: {file: {step: x, output: count}}}\n"
                     "  - {id: z, tool: cat2, inputs: {a: {step: y, output: count}, b: {step: s, output: out}}}\n",
                "wf.yml: steps 'x' -> 'y' -> 'z' -> 'x' form a cycle", NULL);
    cr_assert_eq(strncmp(err, "wf.yml: ", 8), 0, "a cycle has no line: %s", err);
}

Test(workflow, error_duplicates)
{
    parse_fails(HEAD "  - {id: a, tool: echo, inputs: {text: hi}}\n  - {id: a, tool: echo, inputs: {text: ho}}\n",
                "wf.yml:4: step 'a' declared twice (first at line 3)", NULL);
    parse_fails("id: w\ninputs:\n  - {name: t, type: text}\n  - {name: t, type: integer}\n"
                "steps:\n  - {id: a, tool: echo, inputs: {text: hi}}\n",
                "wf.yml:4: input 't' declared twice", NULL);
}

Test(workflow, error_bad_ids_and_names)
{
    parse_fails("id: bad id\nsteps:\n  - {id: a, tool: echo, inputs: {text: hi}}\n", "wf.yml:1: id 'bad id' must be",
                NULL);
    parse_fails("id: -w\nsteps:\n  - {id: a, tool: echo, inputs: {text: hi}}\n", "wf.yml:1: id '-w' must be", NULL);
    parse_fails(HEAD "  - {id: .a, tool: echo, inputs: {text: hi}}\n", "wf.yml:3: step id '.a' must be", NULL);
    parse_fails(HEAD "  - {id: \"a/b\", tool: echo, inputs: {text: hi}}\n", "step id 'a/b' must be", NULL);
    parse_fails("id: w\ninputs:\n  - {name: 1x, type: text}\nsteps: []\n", "wf.yml:3: input name '1x' is not a name",
                NULL);
    parse_fails("id: w\ninputs:\n  - {name: a-b, type: text}\nsteps: []\n", "input name 'a-b' is not a name", NULL);
    parse_fails("steps:\n  - {id: a, tool: echo, inputs: {text: hi}}\n", "wf.yml:1: missing 'id'", NULL);
    parse_fails(HEAD "  - {tool: echo, inputs: {text: hi}}\n", "wf.yml:3: steps[0]: missing 'id'", NULL);
    parse_fails(HEAD "  - {id: a, inputs: {text: hi}}\n", "wf.yml:3: step 'a': missing 'tool'", NULL);
    char long_id[200];
    memset(long_id, 'a', 129);
    long_id[129] = '\0';
    char text[512];
    snprintf(text, sizeof text, "id: %s\nsteps:\n  - {id: a, tool: echo, inputs: {text: hi}}\n", long_id);
    parse_fails(text, "at most 128 bytes", NULL);
}

Test(workflow, error_workflow_inputs)
{
    parse_fails("id: w\ninputs:\n  - {name: t, type: txt}\nsteps: []\n", "wf.yml:3: input 't': type 'txt' is not",
                NULL);
    parse_fails("id: w\ninputs:\n  - {name: t}\nsteps: []\n", "wf.yml:3: input 't': missing 'type'", NULL);
    parse_fails("id: w\ninputs:\n  - {name: f, type: data, default: x}\nsteps: []\n",
                "input 'f': a data input cannot have a default", NULL);
    parse_fails("id: w\ninputs:\n  - {name: n, type: integer, default: many}\nsteps: []\n",
                "wf.yml:3: input 'n': default: expected an integer, got the string 'many'", NULL);
    parse_fails("id: w\ninputs:\n  - {name: t, type: text, default: 3}\nsteps: []\n",
                "input 't': default: expected a string, got an integer", "quote it", NULL);
    parse_fails("id: w\ninputs:\n  - {name: t, type: text, default: }\nsteps: []\n", "default must not be empty",
                NULL);
    parse_fails("id: w\ninputs: {t: text}\nsteps: []\n", "wf.yml:2: inputs: expected a list", NULL);
}

Test(workflow, error_no_steps)
{
    parse_fails("id: w\nsteps: []\n", "wf.yml:2: steps: a workflow needs at least one step", NULL);
    parse_fails("id: w\nsteps:\n", "at least one step", NULL);
    parse_fails("id: w\n", "wf.yml:1: missing 'steps'", NULL);
    parse_fails("id: w\nsteps: {a: b}\n", "steps: expected a list", NULL);
}

Test(workflow, error_document)
{
    parse_fails("", "wf.yml:1: empty workflow", NULL);
    parse_fails("# nothing\n", "empty workflow", NULL);
    parse_fails("- a\n- b\n", "wf.yml:1: expected a mapping at the top level", NULL);
    parse_fails("id: w\nsteps: [\n", "wf.yml:", "YAML syntax error", NULL);
    parse_fails(HEAD "  - {id: a, tool: echo, inputs: {text: hi}}\n---\nid: v\n", "wf.yml:5:",
                "one YAML document", NULL);
    parse_fails("id: w\ndescription: caf\xe9\nsteps: []\n", "wf.yml:2: not UTF-8", NULL);

    mt_workflow_t *wf = (mt_workflow_t *)1;
    const char nul[] = "id: w\n\0steps: []\n";
    cr_assert_eq(mt_workflow_parse(nul, sizeof nul - 1, "body", box, &wf, err, sizeof err), -1);
    cr_assert_null(wf);
    cr_assert_not_null(strstr(err, "body:2: a NUL byte"), "%s", err);
}

/* ------------------------------------------------------------------ */
/* Files                                                               */
/* ------------------------------------------------------------------ */

Test(workflow, load_file)
{
    write_file("diamond.yml", DIAMOND);
    char path[256];
    snprintf(path, sizeof path, "%s/diamond.yml", tmpdir);
    mt_workflow_t *wf = NULL;
    int rc = mt_workflow_load_file(path, box, &wf, err, sizeof err);
    cr_assert_eq(rc, 0, "%s", err);
    cr_assert_str_eq(step_order(wf), "a b c d");
    mt_workflow_free(wf);

    write_file("bad.yml", HEAD "  - id: a\n    tool: echo\n    inputs:\n      text: {input: nope}\n");
    snprintf(path, sizeof path, "%s/bad.yml", tmpdir);
    wf = (mt_workflow_t *)1;
    cr_assert_eq(mt_workflow_load_file(path, box, &wf, err, sizeof err), -1);
    cr_assert_null(wf);
    char want[400];
    snprintf(want, sizeof want, "%s:6: step 'a': input 'text': no workflow input 'nope'", path);
    cr_assert_str_eq(err, want);

    snprintf(path, sizeof path, "%s/missing.yml", tmpdir);
    cr_assert_eq(mt_workflow_load_file(path, box, &wf, err, sizeof err), -1);
    cr_assert_not_null(strstr(err, "missing.yml: cannot open"), "%s", err);
}

/* ------------------------------------------------------------------ */
/* Invocations                                                         */
/* ------------------------------------------------------------------ */

#define INVOKED                                                                                                        \
    "id: inv\n"                                                                                                        \
    "inputs:\n"                                                                                                        \
    "  - {name: text, type: text, default: hi}\n"                                                                      \
    "  - {name: n, type: integer}\n"                                                                                   \
    "  - {name: ratio, type: float, default: 0.5}\n"                                                                   \
    "  - {name: flag, type: boolean, default: false}\n"                                                                \
    "  - {name: mode, type: select, default: words}\n"                                                                 \
    "  - {name: file, type: data}\n"                                                                                   \
    "steps:\n"                                                                                                         \
    "  - {id: a, tool: count, inputs: {n: {input: n}, mode: {input: mode}, scale: {input: ratio},\n"                   \
    "                                  verbose: {input: flag}, label: {input: text}}}\n"                               \
    "  - {id: b, tool: wcf, inputs: {file: {input: file}}}\n"

/* Check a JSON text (NULL: no inputs) against wf; returns the return value, normalized in *out. */
static int check(const mt_workflow_t *wf, const char *json, json_t **out)
{
    json_error_t jerr;
    json_t *inputs = json ? json_loads(json, JSON_DECODE_ANY, &jerr) : NULL;
    if (json)
        cr_assert_not_null(inputs, "bad test JSON %s: %s", json, jerr.text);
    err[0] = '\0';
    *out = (json_t *)1;
    int rc = mt_workflow_check_inputs(wf, inputs, out, err, sizeof err);
    json_decref(inputs);
    if (rc < 0)
        cr_assert_null(*out);
    return rc;
}

static void check_fails(const mt_workflow_t *wf, const char *json, const char *want)
{
    json_t *out;
    cr_assert_eq(check(wf, json, &out), -1, "%s should be refused", json);
    cr_assert_not_null(strstr(err, want), "for %s: error lacks '%s': %s", json, want, err);
    cr_assert_null(strchr(err, '\n'), "error is not one line: %s", err);
}

Test(workflow, check_inputs_fills_defaults_and_normalizes)
{
    mt_workflow_t *wf = parse_ok(INVOKED);
    json_t *out;
    int rc = check(wf, "{\"n\": \"5\", \"file\": {\"job\": 3, \"output\": \"out\"}}", &out);
    cr_assert_eq(rc, 0, "%s", err);
    json_t *want = json_pack("{s:s, s:i, s:f, s:b, s:s, s:{s:s, s:s}}", "text", "hi", "n", 5, "ratio", 0.5, "flag", 0,
                             "mode", "words", "file", "job", "3", "output", "out");
    char *got = json_dumps(out, JSON_SORT_KEYS);
    cr_assert(json_equal(out, want), "got %s", got);
    cr_assert(json_is_integer(json_object_get(out, "n")));
    cr_assert(json_is_real(json_object_get(out, "ratio")));
    free(got);
    json_decref(want);
    json_decref(out);

    rc = check(wf, "{\"n\": -2, \"text\": \"\", \"ratio\": \"1e3\", \"flag\": \"true\", \"mode\": \"anything\","
                   " \"file\": {\"output\": \"out\", \"job\": \"12\"}}",
               &out);
    cr_assert_eq(rc, 0, "%s", err);
    cr_assert_eq(json_integer_value(json_object_get(out, "n")), -2);
    cr_assert_str_eq(json_string_value(json_object_get(out, "text")), "");
    cr_assert_float_eq(json_real_value(json_object_get(out, "ratio")), 1000, 1e-9);
    cr_assert(json_is_true(json_object_get(out, "flag")));
    /* Type only: a select's options belong to the tools it feeds. */
    cr_assert_str_eq(json_string_value(json_object_get(out, "mode")), "anything");
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(out, "file"), "job")), "12");
    json_decref(out);
    mt_workflow_free(wf);

    /* No inputs at all: fine when every input has a default. */
    wf = parse_ok(DIAMOND);
    cr_assert_eq(check(wf, NULL, &out), 0, "%s", err);
    cr_assert_str_eq(json_string_value(json_object_get(out, "text")), "hello");
    json_decref(out);
    cr_assert_eq(check(wf, "null", &out), 0, "%s", err);
    json_decref(out);
    mt_workflow_free(wf);
}

Test(workflow, check_inputs_refuses)
{
    mt_workflow_t *wf = parse_ok(INVOKED);
    const char *file = "\"file\": {\"job\": 1, \"output\": \"out\"}";
    char json[512];

    check_fails(wf, "{\"file\": {\"job\": 1, \"output\": \"out\"}}", "input 'n' is required");
    check_fails(wf, "{\"n\": 1}", "input 'file' is required");
    check_fails(wf, "{\"n\": 1, \"zz\": 2}", "unknown input 'zz' (workflow 'inv' has inputs text, n, ratio, flag, mode, file)");
    check_fails(wf, "[1]", "inputs must be a JSON object, got an array");

#define WITH(x) (snprintf(json, sizeof json, "{%s, %s}", file, x), json)
    check_fails(wf, WITH("\"n\": \"abc\""), "input 'n': expected an integer, got the string 'abc'");
    check_fails(wf, WITH("\"n\": 2.5"), "input 'n': expected an integer, got a real number");
    check_fails(wf, WITH("\"n\": 1, \"text\": 3"), "input 'text': expected a string, got an integer");
    check_fails(wf, WITH("\"n\": 1, \"ratio\": \"fast\""), "input 'ratio': expected a number, got the string 'fast'");
    check_fails(wf, WITH("\"n\": 1, \"flag\": \"yes\""), "input 'flag': expected true or false");
    check_fails(wf, WITH("\"n\": 1, \"mode\": 7"), "input 'mode': expected a string, got an integer");
#undef WITH

    /* Data inputs: {"job", "output"} and nothing else. */
    check_fails(wf, "{\"n\": 1, \"file\": \"/etc/passwd\"}", "input 'file': expected {\"job\": ID, \"output\": NAME}, got a string");
    check_fails(wf, "{\"n\": 1, \"file\": {\"job\": 1}}", "input 'file': expected {\"job\": ID, \"output\": NAME}, \"output\" is missing");
    check_fails(wf, "{\"n\": 1, \"file\": {\"output\": \"out\"}}", "\"job\" is missing");
    check_fails(wf, "{\"n\": 1, \"file\": {\"job\": 1, \"output\": \"out\", \"path\": \"/etc/passwd\"}}",
                "input 'file': unknown key 'path' (expected job and output)");
    check_fails(wf, "{\"n\": 1, \"file\": {\"job\": true, \"output\": \"out\"}}", "input 'file': \"job\" must be a job id");
    check_fails(wf, "{\"n\": 1, \"file\": {\"job\": -1, \"output\": \"out\"}}", "\"job\" must be a job id");
    check_fails(wf, "{\"n\": 1, \"file\": {\"job\": 1, \"output\": \"\"}}", "\"output\" must be an output name");
    mt_workflow_free(wf);
}

/* ------------------------------------------------------------------ */
/* JSON form                                                           */
/* ------------------------------------------------------------------ */

Test(workflow, to_json_round_trip)
{
    mt_workflow_t *wf = parse_ok("id: rt\n"
                                 "inputs:\n"
                                 "  - {name: text, type: text, default: \"hi there\"}\n"
                                 "  - {name: n, type: integer}\n"
                                 "  - {name: x, type: float, default: 0.25}\n"
                                 "steps:\n"
                                 "  - {id: d, tool: cat2, inputs: {b: {step: c, output: result}, a: {step: b, output: out}}}\n"
                                 "  - {id: c, tool: count, inputs: {n: {input: n}, mode: words, scale: {input: x},\n"
                                 "                                  verbose: true, label: \"7\"}}\n"
                                 "  - {id: b, tool: echo, inputs: {text: {input: text}}}\n");
    json_t *doc = mt_workflow_to_json(wf);

    /* The shape GET /api/workflows/{id} shows. */
    cr_assert_str_eq(json_string_value(json_object_get(doc, "id")), "rt");
    cr_assert_str_eq(json_string_value(json_object_get(doc, "name")), "rt");
    cr_assert(json_is_null(json_object_get(doc, "description")));
    json_t *inputs = json_object_get(doc, "inputs");
    cr_assert_eq(json_array_size(inputs), 3);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(inputs, 0), "type")), "text");
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(inputs, 0), "default")), "hi there");
    cr_assert_null(json_object_get(json_array_get(inputs, 1), "default"));
    json_t *steps = json_object_get(doc, "steps");
    cr_assert_eq(json_array_size(steps), 3);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(steps, 0), "id")), "c");
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(steps, 2), "id")), "d");
    json_t *d_inputs = json_object_get(json_array_get(steps, 2), "inputs");
    json_t *want = json_pack("{s:{s:s, s:s}, s:{s:s, s:s}}", "a", "step", "b", "output", "out", "b", "step", "c",
                             "output", "result");
    cr_assert(json_equal(d_inputs, want));
    json_decref(want);
    json_t *c_inputs = json_object_get(json_array_get(steps, 0), "inputs");
    want = json_pack("{s:{s:s}, s:s, s:{s:s}, s:b, s:s}", "n", "input", "n", "mode", "words", "scale", "input", "x",
                     "verbose", 1, "label", "7");
    cr_assert(json_equal(c_inputs, want));
    json_decref(want);

    /* Read back: the same workflow. */
    char *text = json_dumps(doc, 0);
    mt_workflow_t *again = parse_ok(text);
    json_t *doc2 = mt_workflow_to_json(again);
    char *text2 = json_dumps(doc2, 0);
    cr_assert(json_equal(doc, doc2), "first  %s\nsecond %s", text, text2);
    cr_assert_str_eq(step_order(again), "c b d");
    cr_assert_eq(source_of(again, "d", "b")->step, 0);
    cr_assert(json_is_true(source_of(again, "c", "verbose")->literal));
    cr_assert(json_is_string(source_of(again, "c", "label")->literal));
    cr_assert(json_is_real(mt_workflow_input_default(again, 2)));
    free(text);
    free(text2);
    json_decref(doc);
    json_decref(doc2);
    mt_workflow_free(again);
    mt_workflow_free(wf);
}
