/*
 * Unit tests for tools.c: loading tool files (the shipped samples and every
 * kind of broken file, each error naming file and line), validating request
 * inputs, and building argv, where hostile values must land verbatim in
 * exactly one element.
 *
 * Run from the repository root (the sample tools are in tools/), or build
 * with -DMT_TEST_TOOLS_DIR=\"/path/to/tools\".
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

#ifndef MT_TEST_TOOLS_DIR
#define MT_TEST_TOOLS_DIR "tools"
#endif

/* ------------------------------------------------------------------ */
/* Helpers                                                             */
/* ------------------------------------------------------------------ */

static char tmpdir[64];
static char err[1024];

static void make_tmpdir(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/mt-test-tools-XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
}

static void remove_tmpdir(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(tools, .init = make_tmpdir, .fini = remove_tmpdir);

/* Write `text` (len bytes, or strlen) to tmpdir/name. */
static void write_file_n(const char *name, const char *text, size_t len)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *fp = fopen(path, "w");
    cr_assert_not_null(fp, "%s: %s", path, strerror(errno));
    cr_assert_eq(fwrite(text, 1, len, fp), len);
    fclose(fp);
}

static void write_file(const char *name, const char *text)
{
    write_file_n(name, text, strlen(text));
}

/* Load tmpdir; expect success. */
static mt_toolbox_t *load_ok(void)
{
    mt_toolbox_t *box = NULL;
    int rc = mt_toolbox_load(tmpdir, &box, err, sizeof err);
    cr_assert_eq(rc, 0, "load failed: %s", err);
    cr_assert_not_null(box);
    return box;
}

/* Load tmpdir; expect failure with an error containing each of the NULL-terminated strings. */
static void load_fails(const char *first, ...)
{
    mt_toolbox_t *box = (mt_toolbox_t *)1;
    err[0] = '\0';
    int rc = mt_toolbox_load(tmpdir, &box, err, sizeof err);
    cr_assert_lt(rc, 0, "load should fail (wanted: %s)", first);
    cr_assert_null(box);
    cr_assert_null(strchr(err, '\n'), "error is not one line: %s", err);
    va_list ap;
    va_start(ap, first);
    for (const char *s = first; s; s = va_arg(ap, const char *))
        cr_assert_not_null(strstr(err, s), "error lacks '%s': %s", s, err);
    va_end(ap);
}

/* A one-file toolbox from YAML; its single tool in *tool. */
static mt_toolbox_t *load_one(const char *yaml, const mt_tool_t **tool)
{
    write_file("t.yml", yaml);
    mt_toolbox_t *box = load_ok();
    cr_assert_eq(mt_toolbox_count(box), 1);
    *tool = mt_toolbox_get(box, 0);
    return box;
}

static mt_toolbox_t *load_samples(void)
{
    mt_toolbox_t *box = NULL;
    int rc = mt_toolbox_load(MT_TEST_TOOLS_DIR, &box, err, sizeof err);
    cr_assert_eq(rc, 0, "sample tools: %s", err);
    return box;
}

/* Validate a JSON text against tool; returns the return value, params in *params. */
static int validate(const mt_tool_t *tool, const char *json, json_t **params)
{
    json_error_t jerr;
    json_t *inputs = json ? json_loads(json, JSON_DECODE_ANY, &jerr) : NULL;
    if (json)
        cr_assert_not_null(inputs, "bad test JSON %s: %s", json, jerr.text);
    err[0] = '\0';
    int rc = mt_tool_validate(tool, inputs, NULL, NULL, params, err, sizeof err);
    json_decref(inputs);
    if (rc < 0)
        cr_assert_null(*params);
    return rc;
}

static void validate_fails(const mt_tool_t *tool, const char *json, const char *want)
{
    json_t *params = NULL;
    int rc = validate(tool, json, &params);
    cr_assert_eq(rc, -EINVAL, "%s should be refused (rc %d)", json, rc);
    cr_assert_not_null(strstr(err, want), "for %s: error lacks '%s': %s", json, want, err);
}

static json_t *validate_ok(const mt_tool_t *tool, const char *json)
{
    json_t *params = NULL;
    int rc = validate(tool, json, &params);
    cr_assert_eq(rc, 0, "%s refused: %s", json ? json : "NULL", err);
    return params;
}

static size_t argv_len(char **argv)
{
    size_t n = 0;
    while (argv[n])
        n++;
    return n;
}

/* argv for params; expect success. */
static char **build_ok(const mt_tool_t *tool, const json_t *params)
{
    char **argv = NULL;
    int rc = mt_tool_build_argv(tool, params, &argv, err, sizeof err);
    cr_assert_eq(rc, 0, "build_argv: %s", err);
    cr_assert_not_null(argv);
    return argv;
}

/* ------------------------------------------------------------------ */
/* The sample tools                                                    */
/* ------------------------------------------------------------------ */

Test(tools, samples_load)
{
    mt_toolbox_t *box = load_samples();
    cr_assert_geq(mt_toolbox_count(box), 4);
    const char *ids[] = { "true", "sleep", "echo", "wc" };
    for (size_t i = 0; i < 4; i++) {
        const mt_tool_t *tool = mt_toolbox_find(box, ids[i]);
        cr_assert_not_null(tool, "no sample tool %s", ids[i]);
        cr_assert_str_eq(mt_tool_id(tool), ids[i]);
        cr_assert_not_null(mt_tool_version(tool));
        cr_assert_not_null(mt_tool_name(tool));
        cr_assert_not_null(strstr(mt_tool_origin(tool), ".yml:"));
    }
    cr_assert_null(mt_toolbox_find(box, "nope"));
    cr_assert_null(mt_toolbox_find(box, ""));
    /* In order of id. */
    for (size_t i = 1; i < mt_toolbox_count(box); i++)
        cr_assert_lt(strcmp(mt_tool_id(mt_toolbox_get(box, i - 1)), mt_tool_id(mt_toolbox_get(box, i))), 0);
    cr_assert_null(mt_toolbox_get(box, mt_toolbox_count(box)));
    mt_toolbox_destroy(box);
}

Test(tools, sample_true)
{
    mt_toolbox_t *box = load_samples();
    const mt_tool_t *tool = mt_toolbox_find(box, "true");
    json_t *params = validate_ok(tool, NULL);
    cr_assert_eq(json_object_size(params), 0);
    char **argv = build_ok(tool, params);
    cr_assert_eq(argv_len(argv), 1);
    cr_assert_str_eq(argv[0], "/bin/true");
    size_t n = 99;
    const char *const *env = mt_tool_environment(tool, &n);
    cr_assert_eq(n, 0);
    cr_assert_null(env[0]);
    cr_assert_eq(mt_tool_output_count(tool), 0);
    mt_tool_argv_free(argv);
    json_decref(params);
    mt_toolbox_destroy(box);
}

Test(tools, sample_sleep)
{
    mt_toolbox_t *box = load_samples();
    const mt_tool_t *tool = mt_toolbox_find(box, "sleep");
    cr_assert_eq(mt_tool_input_count(tool), 1);
    cr_assert_str_eq(mt_tool_input_name(tool, 0), "seconds");
    cr_assert_eq(mt_tool_input_type(tool, 0), MT_TOOL_INPUT_FLOAT);
    cr_assert_gt(mt_tool_walltime(tool), 3600);

    json_t *params = validate_ok(tool, "{}");
    cr_assert(json_is_real(json_object_get(params, "seconds")));
    cr_assert_float_eq(json_real_value(json_object_get(params, "seconds")), 1.0, 1e-12);
    char **argv = build_ok(tool, params);
    cr_assert_eq(argv_len(argv), 2);
    cr_assert_str_eq(argv[0], "/bin/sleep");
    cr_assert_str_eq(argv[1], "1");
    mt_tool_argv_free(argv);
    json_decref(params);

    params = validate_ok(tool, "{\"seconds\": 0.25}");
    argv = build_ok(tool, params);
    cr_assert_str_eq(argv[1], "0.25");
    mt_tool_argv_free(argv);
    json_decref(params);

    params = validate_ok(tool, "{\"seconds\": \"3600\"}");
    argv = build_ok(tool, params);
    cr_assert_str_eq(argv[1], "3600");
    mt_tool_argv_free(argv);
    json_decref(params);

    validate_fails(tool, "{\"seconds\": 3600.5}", "input 'seconds': 3600.5 is above the maximum 3600");
    validate_fails(tool, "{\"seconds\": -1}", "input 'seconds': -1 is below the minimum 0");
    validate_fails(tool, "{\"seconds\": \"abc\"}", "input 'seconds': expected a number, got the string 'abc'");
    validate_fails(tool, "{\"seconds\": \"1; rm -rf /\"}", "expected a number");
    validate_fails(tool, "{\"seconds\": \"inf\"}", "expected a number");
    validate_fails(tool, "{\"seconds\": \"nan\"}", "expected a number");
    validate_fails(tool, "{\"seconds\": \"0x10\"}", "expected a number");
    validate_fails(tool, "{\"seconds\": \" 1\"}", "expected a number");
    validate_fails(tool, "{\"seconds\": \"1e999\"}", "out of range");
    validate_fails(tool, "{\"seconds\": true}", "input 'seconds': expected a number, got a boolean");
    validate_fails(tool, "{\"seconds\": null}", "got null");
    validate_fails(tool, "{\"seconds\": [1]}", "got an array");
    mt_toolbox_destroy(box);
}

Test(tools, sample_echo_and_json)
{
    mt_toolbox_t *box = load_samples();
    const mt_tool_t *tool = mt_toolbox_find(box, "echo");
    json_t *params = validate_ok(tool, NULL);
    cr_assert_str_eq(json_string_value(json_object_get(params, "text")), "hello");
    json_decref(params);

    cr_assert_eq(mt_tool_output_count(tool), 1);
    cr_assert_str_eq(mt_tool_output_name(tool, 0), "out");
    cr_assert_eq(mt_tool_output_kind(tool, 0), MT_TOOL_OUTPUT_STDOUT);
    cr_assert_null(mt_tool_output_path(tool, 0));
    cr_assert_eq(mt_tool_find_output(tool, "out"), 0);
    cr_assert_eq(mt_tool_find_output(tool, "nope"), -ENOENT);
    size_t n = 0;
    const char *const *env = mt_tool_environment(tool, &n);
    cr_assert_eq(n, 1);
    cr_assert_str_eq(env[0], "LC_ALL=C");
    cr_assert_null(env[1]);

    json_t *doc = mt_tool_to_json(tool);
    cr_assert_str_eq(json_string_value(json_object_get(doc, "id")), "echo");
    cr_assert_str_eq(json_string_value(json_object_get(doc, "version")), "1.0");
    cr_assert(json_is_string(json_object_get(doc, "description")));
    json_t *in = json_array_get(json_object_get(doc, "inputs"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(in, "name")), "text");
    cr_assert_str_eq(json_string_value(json_object_get(in, "type")), "text");
    cr_assert(json_is_false(json_object_get(in, "required")));
    cr_assert_str_eq(json_string_value(json_object_get(in, "default")), "hello");
    cr_assert_eq(json_integer_value(json_object_get(in, "max_length")), 65536);
    json_t *out = json_array_get(json_object_get(doc, "outputs"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(out, "from")), "stdout");
    cr_assert(json_is_number(json_object_get(doc, "walltime")));
    cr_assert_null(json_object_get(doc, "command"));
    cr_assert_null(json_object_get(doc, "environment"));
    json_decref(doc);

    doc = mt_tool_to_json(mt_toolbox_find(box, "sleep"));
    in = json_array_get(json_object_get(doc, "inputs"), 0);
    cr_assert_float_eq(json_number_value(json_object_get(in, "min")), 0, 1e-12);
    cr_assert_float_eq(json_number_value(json_object_get(in, "max")), 3600, 1e-12);
    json_decref(doc);

    doc = mt_tool_to_json(mt_toolbox_find(box, "wc"));
    in = json_array_get(json_object_get(doc, "inputs"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(in, "type")), "data");
    cr_assert(json_is_true(json_object_get(in, "required")));
    cr_assert_null(json_object_get(in, "default"));
    json_decref(doc);

    doc = mt_tool_to_json(mt_toolbox_find(box, "true"));
    cr_assert(json_is_null(json_object_get(doc, "walltime")) || json_is_number(json_object_get(doc, "walltime")));
    cr_assert_eq(json_array_size(json_object_get(doc, "inputs")), 0);
    json_decref(doc);
    mt_toolbox_destroy(box);
}

/* ------------------------------------------------------------------ */
/* Load errors                                                         */
/* ------------------------------------------------------------------ */

#define HEAD "id: t\nversion: \"1\"\nname: T\n"

Test(tools, error_missing_directory)
{
    mt_toolbox_t *box = (mt_toolbox_t *)1;
    int rc = mt_toolbox_load("/nonexistent/tools", &box, err, sizeof err);
    cr_assert_eq(rc, -ENOENT);
    cr_assert_null(box);
    cr_assert_not_null(strstr(err, "/nonexistent/tools"));
}

Test(tools, empty_directory_and_ignored_files)
{
    write_file("README.md", "not a tool");
    write_file(".hidden.yml", "garbage: [");
    write_file("t.yml~", "garbage: [");
    mt_toolbox_t *box = load_ok();
    cr_assert_eq(mt_toolbox_count(box), 0);
    cr_assert_null(mt_toolbox_find(box, "t"));
    mt_toolbox_destroy(box);
    mt_toolbox_destroy(NULL);
}

Test(tools, yml_and_yaml_both_load)
{
    write_file("a.yml", "id: a\nversion: \"1\"\nname: A\ncommand: [/bin/true]\n");
    write_file("b.yaml", "id: b\nversion: \"1\"\nname: B\ncommand: [/bin/true]\n");
    mt_toolbox_t *box = load_ok();
    cr_assert_eq(mt_toolbox_count(box), 2);
    cr_assert_not_null(mt_toolbox_find(box, "a"));
    cr_assert_not_null(mt_toolbox_find(box, "b"));
    mt_toolbox_destroy(box);
}

Test(tools, error_bad_yaml)
{
    write_file("bad.yml", HEAD "command: [/bin/true\ninputs: x\n");
    load_fails("bad.yml:", "YAML syntax error", NULL);
    write_file("bad.yml", HEAD "command: [/bin/true]\n  nested: wrong\n");
    load_fails("bad.yml:5:", NULL);
}

Test(tools, error_bad_yaml_line)
{
    write_file("bad.yml", HEAD "command: [/bin/true]\ndescription: \"unterminated\n");
    load_fails("bad.yml:", "YAML syntax error", NULL);
    /* The line is that of the problem, not 1. */
    cr_assert_null(strstr(err, "bad.yml:1:"), "%s", err);
}

Test(tools, error_not_utf8)
{
    write_file("bad.yml", HEAD "command: [/bin/true]\ndescription: caf\xe9\n");
    load_fails("bad.yml:5:", "not UTF-8", NULL);
    write_file_n("bad.yml", HEAD "command: [/bin/true]\n\0\n", sizeof HEAD + 21);
    load_fails("bad.yml:5:", "NUL", NULL);
}

Test(tools, error_unknown_key)
{
    write_file("t.yml", HEAD "command: [/bin/true]\nwaltime: 10\n");
    load_fails("t.yml:5:", "unknown key 'waltime'", NULL);
}

Test(tools, error_unknown_key_in_input)
{
    write_file("t.yml", HEAD "command: [/bin/echo, \"{text}\"]\ninputs:\n  - name: text\n    type: text\n"
                             "    max_lenght: 10\n");
    load_fails("t.yml:8:", "input 'text': unknown key 'max_lenght'", NULL);
}

Test(tools, error_unknown_key_in_output)
{
    write_file("t.yml", HEAD "command: [/bin/true]\noutputs:\n  - name: out\n    form: stdout\n");
    load_fails("t.yml:7:", "unknown key 'form'", NULL);
}

Test(tools, error_missing_id)
{
    write_file("t.yml", "version: \"1\"\nname: T\ncommand: [/bin/true]\n");
    load_fails("t.yml:1:", "missing 'id'", NULL);
    write_file("t.yml", "id:\nversion: \"1\"\nname: T\ncommand: [/bin/true]\n");
    load_fails("t.yml:1:", "id must not be empty", NULL);
    write_file("t.yml", "id: \"a b\"\nversion: \"1\"\nname: T\ncommand: [/bin/true]\n");
    load_fails("t.yml:1:", "id 'a b'", NULL);
}

Test(tools, error_missing_command_and_others)
{
    write_file("t.yml", HEAD);
    load_fails("t.yml:1:", "missing 'command'", NULL);
    write_file("t.yml", "id: t\nname: T\ncommand: [/bin/true]\n");
    load_fails("missing 'version'", NULL);
    write_file("t.yml", "");
    load_fails("t.yml", "empty tool file", NULL);
    write_file("t.yml", "- id: t\n");
    load_fails("t.yml:1:", "expected a mapping", NULL);
}

Test(tools, error_command_not_a_list)
{
    write_file("t.yml", HEAD "command: /bin/echo hello\n");
    load_fails("t.yml:4:", "command must be a non-empty list", NULL);
    write_file("t.yml", HEAD "command: []\n");
    load_fails("t.yml:4:", "non-empty list", NULL);
    write_file("t.yml", HEAD "command: [/bin/echo, [a, b]]\n");
    load_fails("t.yml:4:", "command[1] must be a single value", NULL);
}

Test(tools, error_duplicate_id)
{
    write_file("a.yml", "id: same\nversion: \"1\"\nname: A\ncommand: [/bin/true]\n");
    write_file("b.yml", "# another\nid: same\nversion: \"2\"\nname: B\ncommand: [/bin/true]\n");
    load_fails("b.yml:2:", "tool id 'same' is already defined at", "a.yml:1", NULL);
}

Test(tools, error_duplicate_key)
{
    write_file("t.yml", HEAD "command: [/bin/true]\nname: again\n");
    load_fails("t.yml:5:", NULL);
}

Test(tools, error_two_documents)
{
    write_file("t.yml", HEAD "command: [/bin/true]\n---\nid: u\n");
    load_fails("t.yml:6:", "one YAML document", NULL);
}

Test(tools, error_argv0_not_executable)
{
    char path[128], yaml[512];
    snprintf(path, sizeof path, "%s/prog", tmpdir);
    write_file("prog", "#!/bin/sh\n");
    cr_assert_eq(chmod(path, 0644), 0);
    snprintf(yaml, sizeof yaml, HEAD "command: [\"%s\"]\n", path);
    write_file("t.yml", yaml);
    load_fails("t.yml:4:", "is not executable", NULL);

    write_file("t.yml", HEAD "command: [/nonexistent/prog]\n");
    load_fails("t.yml:4:", "/nonexistent/prog", "No such file", NULL);
    write_file("t.yml", HEAD "command: [echo, hi]\n");
    load_fails("t.yml:4:", "must be an absolute path", NULL);
    write_file("t.yml", HEAD "command: [/bin]\n");
    load_fails("t.yml:4:", "not a regular file", NULL);
}

Test(tools, error_argv0_placeholder)
{
    write_file("t.yml", HEAD "command: [\"{prog}\"]\ninputs:\n  - name: prog\n    type: text\n");
    load_fails("t.yml:4:", "command[0] must be a fixed path", NULL);
}

Test(tools, error_unknown_placeholder)
{
    write_file("t.yml", HEAD "command:\n  - /bin/echo\n  - \"--text={txt}\"\n"
                             "inputs:\n  - name: text\n    type: text\n");
    load_fails("t.yml:6:", "command[1]: placeholder '{txt}' names no input", NULL);
}

Test(tools, error_lone_braces)
{
    write_file("t.yml", HEAD "command: [/bin/echo, \"a}b\"]\n");
    load_fails("t.yml:4:", "lone '}'", NULL);
    write_file("t.yml", HEAD "command: [/bin/echo, \"a{b\"]\n");
    load_fails("t.yml:4:", "'{' without '}'", NULL);
    write_file("t.yml", HEAD "command: [/bin/echo, \"{}\"]\n");
    load_fails("t.yml:4:", "placeholder '{}'", NULL);
    write_file("t.yml", HEAD "command: [/bin/echo, \"{ x }\"]\ninputs: [{name: x, type: text}]\n");
    load_fails("t.yml:4:", "placeholder '{ x }'", NULL);
}

Test(tools, error_bad_type)
{
    write_file("t.yml", HEAD "command: [/bin/echo, \"{n}\"]\ninputs:\n  - name: n\n    type: number\n");
    load_fails("t.yml:7:", "type 'number' is not integer, float, text, boolean, select or data", NULL);
    write_file("t.yml", HEAD "command: [/bin/echo, \"{n}\"]\ninputs:\n  - name: n\n");
    load_fails("t.yml:6:", "input 'n': missing 'type'", NULL);
}

Test(tools, error_bad_input_name)
{
    write_file("t.yml", HEAD "command: [/bin/true]\ninputs:\n  - name: \"a-b\"\n    type: text\n");
    load_fails("t.yml:6:", "input name 'a-b' is not a name", NULL);
    write_file("t.yml", HEAD "command: [/bin/true]\ninputs:\n  - {name: a, type: text}\n  - {name: a, type: text}\n");
    load_fails("t.yml:7:", "input 'a' declared twice", NULL);
}

Test(tools, error_select_without_options)
{
    write_file("t.yml", HEAD "command: [/bin/echo, \"{m}\"]\ninputs:\n  - name: m\n    type: select\n");
    load_fails("t.yml:6:", "input 'm': a select input needs 'options'", NULL);
    write_file("t.yml", HEAD "command: [/bin/echo, \"{m}\"]\ninputs:\n  - name: m\n    type: select\n"
                             "    options: []\n");
    load_fails("t.yml:", "needs 'options'", NULL);
    write_file("t.yml", HEAD "command: [/bin/echo, \"{m}\"]\ninputs:\n  - name: m\n    type: select\n"
                             "    options: [a, b, a]\n");
    load_fails("t.yml:8:", "option 'a' listed twice", NULL);
}

Test(tools, error_key_for_another_type)
{
    write_file("t.yml", HEAD "command: [/bin/true]\ninputs:\n  - name: t\n    type: text\n    options: [a]\n");
    load_fails("t.yml:8:", "input 't': 'options' does not apply to a text input", NULL);
    write_file("t.yml", HEAD "command: [/bin/true]\ninputs:\n  - name: d\n    type: data\n    default: x\n");
    load_fails("t.yml:8:", "'default' does not apply to a data input", NULL);
    write_file("t.yml", HEAD "command: [/bin/true]\ninputs:\n  - name: s\n    type: select\n    options: [a]\n"
                             "    min: 1\n");
    load_fails("t.yml:9:", "'min' does not apply to a select input", NULL);
}

Test(tools, error_bad_defaults_and_limits)
{
    write_file("t.yml", HEAD "command: [/bin/true]\ninputs:\n  - name: s\n    type: float\n    max: 10\n"
                             "    default: 11\n");
    load_fails("t.yml:9:", "input 's': default: 11 is above the maximum 10", NULL);
    write_file("t.yml", HEAD "command: [/bin/true]\ninputs:\n  - name: n\n    type: integer\n    default: 1.5\n");
    load_fails("t.yml:8:", "default: expected an integer", NULL);
    write_file("t.yml", HEAD "command: [/bin/true]\ninputs:\n  - name: n\n    type: integer\n    min: 0.5\n");
    load_fails("t.yml:8:", "min: '0.5' is not an integer", NULL);
    write_file("t.yml", HEAD "command: [/bin/true]\ninputs:\n  - name: n\n    type: integer\n    min: 5\n    max: 1\n");
    load_fails("t.yml:9:", "min is greater than max", NULL);
    write_file("t.yml", HEAD "command: [/bin/true]\ninputs:\n  - name: b\n    type: boolean\n    default: yes\n");
    load_fails("t.yml:8:", "default: 'yes' is not true or false", NULL);
    write_file("t.yml", HEAD "command: [/bin/true]\ninputs:\n  - name: m\n    type: select\n    options: [a, b]\n"
                             "    default: c\n");
    load_fails("t.yml:9:", "'c' is not one of the options (a, b)", NULL);
    write_file("t.yml", HEAD "command: [/bin/true]\ninputs:\n  - name: t\n    type: text\n    max_length: 3\n"
                             "    default: abcd\n");
    load_fails("t.yml:9:", "4 bytes long, more than the maximum 3", NULL);
    write_file("t.yml", HEAD "command: [/bin/true]\ninputs:\n  - name: t\n    type: text\n    max_length: 200000\n");
    load_fails("t.yml:8:", "max_length must be an integer in [0, 131071]", NULL);
    write_file("t.yml", HEAD "command: [/bin/true]\nwalltime: -1\n");
    load_fails("t.yml:5:", "walltime must be a positive number", NULL);
    write_file("t.yml", HEAD "command: [/bin/true]\nwalltime: forever\n");
    load_fails("t.yml:5:", "walltime", NULL);
}

Test(tools, error_output_paths)
{
    const char *bad[] = { "../x", "a/../../b", "a/..", "/etc/passwd", ".", "./", "dir/" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char yaml[256];
        snprintf(yaml, sizeof yaml, HEAD "command: [/bin/true]\noutputs:\n  - name: o\n    path: \"%s\"\n", bad[i]);
        write_file("t.yml", yaml);
        load_fails("t.yml:7:", "output 'o': path", "without '..'", NULL);
    }
    write_file("t.yml", HEAD "command: [/bin/true]\noutputs:\n  - name: o\n    from: stderr\n");
    load_fails("t.yml:7:", "from: 'stderr' is not stdout", NULL);
    write_file("t.yml", HEAD "command: [/bin/true]\noutputs:\n  - name: o\n    from: stdout\n    path: x\n");
    load_fails("t.yml:6:", "exactly one of", NULL);
    write_file("t.yml", HEAD "command: [/bin/true]\noutputs:\n  - name: o\n");
    load_fails("t.yml:6:", "exactly one of", NULL);
    write_file("t.yml", HEAD "command: [/bin/true]\noutputs:\n  - {name: o, from: stdout}\n  - {name: o, path: x}\n");
    load_fails("t.yml:7:", "output 'o' declared twice", NULL);
}

Test(tools, good_output_paths)
{
    const mt_tool_t *tool;
    mt_toolbox_t *box = load_one(HEAD "command: [/bin/true]\noutputs:\n  - {name: a, path: result.txt}\n"
                                      "  - {name: b, path: ./sub/dir/x..y}\n  - {name: c, from: stdout}\n",
                                 &tool);
    cr_assert_eq(mt_tool_output_count(tool), 3);
    cr_assert_eq(mt_tool_output_kind(tool, 0), MT_TOOL_OUTPUT_PATH);
    cr_assert_str_eq(mt_tool_output_path(tool, 0), "result.txt");
    cr_assert_str_eq(mt_tool_output_path(tool, 1), "./sub/dir/x..y");
    cr_assert_eq(mt_tool_output_kind(tool, 2), MT_TOOL_OUTPUT_STDOUT);
    cr_assert_eq(mt_tool_find_output(tool, "c"), 2);
    json_t *doc = mt_tool_to_json(tool);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(json_object_get(doc, "outputs"), 0), "path")),
                     "result.txt");
    json_decref(doc);
    mt_toolbox_destroy(box);
}

Test(tools, error_environment)
{
    write_file("t.yml", HEAD "command: [/bin/true]\nenvironment: [A=1]\n");
    load_fails("t.yml:5:", "environment: expected a mapping", NULL);
    write_file("t.yml", HEAD "command: [/bin/true]\nenvironment:\n  \"A B\": 1\n");
    load_fails("t.yml:6:", "'A B' is not a variable name", NULL);
    write_file("t.yml", HEAD "command: [/bin/true]\nenvironment:\n  A:\n");
    load_fails("t.yml:6:", "environment: A must not be empty", NULL);
    write_file("t.yml", HEAD "command: [/bin/true]\nenvironment:\n  MULETEER_JOB_DIR: /elsewhere\n");
    load_fails("t.yml:6:", "'MULETEER_JOB_DIR' is reserved", NULL);
}

Test(tools, environment_literal)
{
    const mt_tool_t *tool;
    mt_toolbox_t *box = load_one(HEAD "command: [/bin/true]\nenvironment:\n  LC_ALL: C\n  N: 4\n"
                                      "  X: \"{notaplaceholder} $(id)\"\n",
                                 &tool);
    size_t n;
    const char *const *env = mt_tool_environment(tool, &n);
    cr_assert_eq(n, 3);
    cr_assert_str_eq(env[0], "LC_ALL=C");
    cr_assert_str_eq(env[1], "N=4");
    cr_assert_str_eq(env[2], "X={notaplaceholder} $(id)");
    cr_assert_null(env[3]);
    mt_toolbox_destroy(box);
}

Test(tools, error_messages_are_one_line)
{
    write_file("t.yml", HEAD "command: [/bin/true]\n\"bad\\nkey\": 1\n");
    load_fails("t.yml:5:", "unknown key 'bad\\nkey'", NULL);
}

/* ------------------------------------------------------------------ */
/* Validation                                                          */
/* ------------------------------------------------------------------ */

static const char *const all_types =
    HEAD "command: [/bin/echo, \"{n}\", \"{f}\", \"{t}\", \"{b}\", \"{m}\"]\n"
         "inputs:\n"
         "  - name: n\n    type: integer\n    min: -5\n    max: 10\n"
         "  - name: f\n    type: float\n    default: 0.5\n"
         "  - name: t\n    type: text\n    max_length: 5\n    default: \"\"\n"
         "  - name: b\n    type: boolean\n    default: false\n    truevalue: --yes\n    falsevalue: --no\n"
         "  - name: m\n    type: select\n    options: [fast, slow]\n    default: slow\n";

Test(tools, validate_required_and_unknown)
{
    const mt_tool_t *tool;
    mt_toolbox_t *box = load_one(all_types, &tool);
    validate_fails(tool, NULL, "input 'n' is required");
    validate_fails(tool, "{}", "input 'n' is required");
    validate_fails(tool, "{\"n\": 1, \"x\": 2}", "unknown input 'x' (tool 't' has inputs n, f, t, b, m)");
    validate_fails(tool, "[1]", "inputs must be a JSON object, got an array");
    mt_toolbox_destroy(box);

    box = load_one(HEAD "command: [/bin/true]\n", &tool);
    json_t *params = validate_ok(tool, "null");
    json_decref(params);
    validate_fails(tool, "{\"a\": 1}", "unknown input 'a' (tool 't' has no inputs)");
    mt_toolbox_destroy(box);
}

Test(tools, validate_defaults_filled)
{
    const mt_tool_t *tool;
    mt_toolbox_t *box = load_one(all_types, &tool);
    json_t *params = validate_ok(tool, "{\"n\": 3}");
    cr_assert_eq(json_object_size(params), 5);
    cr_assert_eq(json_integer_value(json_object_get(params, "n")), 3);
    cr_assert_float_eq(json_real_value(json_object_get(params, "f")), 0.5, 1e-12);
    cr_assert_str_eq(json_string_value(json_object_get(params, "t")), "");
    cr_assert(json_is_false(json_object_get(params, "b")));
    cr_assert_str_eq(json_string_value(json_object_get(params, "m")), "slow");
    char **argv = build_ok(tool, params);
    cr_assert_eq(argv_len(argv), 6);
    cr_assert_str_eq(argv[1], "3");
    cr_assert_str_eq(argv[2], "0.5");
    cr_assert_str_eq(argv[3], "");
    cr_assert_str_eq(argv[4], "--no");
    cr_assert_str_eq(argv[5], "slow");
    mt_tool_argv_free(argv);
    json_decref(params);
    mt_toolbox_destroy(box);
}

Test(tools, validate_integer)
{
    const mt_tool_t *tool;
    mt_toolbox_t *box = load_one(all_types, &tool);
    json_t *params = validate_ok(tool, "{\"n\": \"-5\"}");
    cr_assert(json_is_integer(json_object_get(params, "n")));
    cr_assert_eq(json_integer_value(json_object_get(params, "n")), -5);
    json_decref(params);
    params = validate_ok(tool, "{\"n\": 10}");
    json_decref(params);
    validate_fails(tool, "{\"n\": 11}", "input 'n': 11 is above the maximum 10");
    validate_fails(tool, "{\"n\": -6}", "input 'n': -6 is below the minimum -5");
    validate_fails(tool, "{\"n\": 2.0}", "input 'n': expected an integer, got a real number");
    validate_fails(tool, "{\"n\": \"2.0\"}", "input 'n': expected an integer, got the string '2.0'");
    validate_fails(tool, "{\"n\": \"+2\"}", "expected an integer");
    validate_fails(tool, "{\"n\": \"\"}", "expected an integer");
    validate_fails(tool, "{\"n\": \"1 \"}", "expected an integer");
    validate_fails(tool, "{\"n\": \"99999999999999999999\"}", "out of range");
    validate_fails(tool, "{\"n\": true}", "input 'n': expected an integer, got a boolean");
    validate_fails(tool, "{\"n\": {}}", "got an object");
    mt_toolbox_destroy(box);
}

Test(tools, validate_text)
{
    const mt_tool_t *tool;
    mt_toolbox_t *box = load_one(all_types, &tool);
    json_t *params = validate_ok(tool, "{\"n\": 0, \"t\": \"abcde\"}");
    json_decref(params);
    params = validate_ok(tool, "{\"n\": 0, \"t\": \"\\u00e9\\u00e9\"}"); /* 4 bytes */
    json_decref(params);
    validate_fails(tool, "{\"n\": 0, \"t\": \"abcdef\"}", "input 't': 6 bytes long, more than the maximum 5");
    validate_fails(tool, "{\"n\": 0, \"t\": 5}", "input 't': expected a string, got an integer");

    /* A NUL inside a JSON string ("\u0000"). */
    json_t *inputs = json_pack("{s:i, s:o}", "n", 0, "t", json_stringn("a\0b", 3));
    json_t *out = (json_t *)1;
    int rc = mt_tool_validate(tool, inputs, NULL, NULL, &out, err, sizeof err);
    cr_assert_eq(rc, -EINVAL);
    cr_assert_null(out);
    cr_assert_not_null(strstr(err, "input 't': contains a NUL byte"), "%s", err);
    json_decref(inputs);
    mt_toolbox_destroy(box);
}

Test(tools, validate_boolean)
{
    const mt_tool_t *tool;
    mt_toolbox_t *box = load_one(all_types, &tool);
    json_t *params = validate_ok(tool, "{\"n\": 0, \"b\": true}");
    cr_assert(json_is_true(json_object_get(params, "b")));
    char **argv = build_ok(tool, params);
    cr_assert_str_eq(argv[4], "--yes");
    mt_tool_argv_free(argv);
    json_decref(params);
    params = validate_ok(tool, "{\"n\": 0, \"b\": \"false\"}");
    cr_assert(json_is_false(json_object_get(params, "b")));
    json_decref(params);
    validate_fails(tool, "{\"n\": 0, \"b\": 1}", "input 'b': expected true or false, got an integer");
    validate_fails(tool, "{\"n\": 0, \"b\": \"yes\"}", "input 'b': expected true or false, got the string 'yes'");
    mt_toolbox_destroy(box);
}

Test(tools, validate_select)
{
    const mt_tool_t *tool;
    mt_toolbox_t *box = load_one(all_types, &tool);
    json_t *params = validate_ok(tool, "{\"n\": 0, \"m\": \"fast\"}");
    cr_assert_str_eq(json_string_value(json_object_get(params, "m")), "fast");
    json_decref(params);
    validate_fails(tool, "{\"n\": 0, \"m\": \"Fast\"}", "input 'm': 'Fast' is not one of the options (fast, slow)");
    validate_fails(tool, "{\"n\": 0, \"m\": \"fast; rm -rf /\"}", "is not one of the options");
    validate_fails(tool, "{\"n\": 0, \"m\": 1}", "input 'm': expected one of the options as a string, got an integer");
    mt_toolbox_destroy(box);
}

Test(tools, validate_error_quotes_safely)
{
    const mt_tool_t *tool;
    mt_toolbox_t *box = load_one(all_types, &tool);
    char json[600] = "{\"n\": 0, \"m\": \"line1\\nline2";
    for (int i = 0; i < 100; i++)
        strcat(json, "xxxx");
    strcat(json, "\"}");
    validate_fails(tool, json, "'line1\\nline2xx");
    cr_assert_null(strchr(err, '\n'));
    cr_assert_not_null(strstr(err, "...'"), "long values are cut: %s", err);
    cr_assert_lt(strlen(err), 300);
    mt_toolbox_destroy(box);
}

/* The fake resolver: job "7" (or 7) has output "out" at /data/7/out; job "8" is still running. */
static int fake_calls;
static int fake_resolver(void *data, const char *job_id, const char *output, char **path_out, char *reason,
                         size_t reasonlen)
{
    cr_assert_str_eq((const char *)data, "db");
    fake_calls++;
    if (strcmp(job_id, "8") == 0) {
        snprintf(reason, reasonlen, "job 8 is running, not ok");
        return -EINVAL;
    }
    if (strcmp(job_id, "500") == 0) {
        snprintf(reason, reasonlen, "database is locked");
        return -EIO;
    }
    if (strcmp(job_id, "7") != 0 || strcmp(output, "out") != 0) {
        snprintf(reason, reasonlen, "job %s has no output '%s'", job_id, output);
        return -ENOENT;
    }
    *path_out = strdup("/data/7/out; rm -rf $HOME");
    return 0;
}

static int validate_data(const mt_tool_t *tool, const char *json, json_t **params)
{
    json_t *inputs = json_loads(json, JSON_ALLOW_NUL, NULL);
    cr_assert_not_null(inputs, "%s", json);
    err[0] = '\0';
    int rc = mt_tool_validate(tool, inputs, fake_resolver, "db", params, err, sizeof err);
    json_decref(inputs);
    return rc;
}

Test(tools, validate_data_input)
{
    mt_toolbox_t *box = load_samples();
    const mt_tool_t *tool = mt_toolbox_find(box, "wc");
    json_t *params = NULL;
    fake_calls = 0;
    int rc = validate_data(tool, "{\"input\": {\"job\": \"7\", \"output\": \"out\"}}", &params);
    cr_assert_eq(rc, 0, "%s", err);
    cr_assert_eq(fake_calls, 1);
    json_t *d = json_object_get(params, "input");
    cr_assert_str_eq(json_string_value(json_object_get(d, "job")), "7");
    cr_assert_str_eq(json_string_value(json_object_get(d, "output")), "out");
    cr_assert_str_eq(json_string_value(json_object_get(d, "path")), "/data/7/out; rm -rf $HOME");
    char **argv = build_ok(tool, params);
    cr_assert_eq(argv_len(argv), 3);
    cr_assert_str_eq(argv[0], "/usr/bin/awk");
    cr_assert_str_eq(argv[1], "END { print NR }");
    cr_assert_str_eq(argv[2], "/data/7/out; rm -rf $HOME");
    mt_tool_argv_free(argv);
    json_decref(params);

    /* A job id given as a JSON integer. */
    rc = validate_data(tool, "{\"input\": {\"job\": 7, \"output\": \"out\"}}", &params);
    cr_assert_eq(rc, 0, "%s", err);
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(params, "input"), "job")), "7");
    json_decref(params);

    /* The largest id is an id: the resolver gets it as written. */
    rc = validate_data(tool, "{\"input\": {\"job\": \"9223372036854775807\", \"output\": \"out\"}}", &params);
    cr_assert_eq(rc, -ENOENT, "%s", err);
    cr_assert_str_eq(err, "input 'input': job 9223372036854775807 has no output 'out'");
    rc = validate_data(tool, "{\"input\": {\"job\": 9223372036854775807, \"output\": \"out\"}}", &params);
    cr_assert_str_eq(err, "input 'input': job 9223372036854775807 has no output 'out'");
    mt_toolbox_destroy(box);
}

Test(tools, validate_data_errors)
{
    mt_toolbox_t *box = load_samples();
    const mt_tool_t *tool = mt_toolbox_find(box, "wc");
    json_t *params = (json_t *)1;

    /* The resolver's reason and return value are passed through. */
    int rc = validate_data(tool, "{\"input\": {\"job\": \"8\", \"output\": \"out\"}}", &params);
    cr_assert_eq(rc, -EINVAL);
    cr_assert_null(params);
    cr_assert_str_eq(err, "input 'input': job 8 is running, not ok");
    rc = validate_data(tool, "{\"input\": {\"job\": \"7\", \"output\": \"nope\"}}", &params);
    cr_assert_eq(rc, -ENOENT);
    cr_assert_str_eq(err, "input 'input': job 7 has no output 'nope'");
    rc = validate_data(tool, "{\"input\": {\"job\": \"500\", \"output\": \"out\"}}", &params);
    cr_assert_eq(rc, -EIO);
    cr_assert_not_null(strstr(err, "database is locked"));

    /* Shape errors, before the resolver is asked. */
    fake_calls = 0;
    const char *bad[][2] = {
        { "{\"input\": \"/etc/passwd\"}", "expected {\"job\": ID, \"output\": NAME}, got a string" },
        { "{\"input\": {\"job\": \"7\"}}", "\"output\" is missing" },
        { "{\"input\": {\"output\": \"out\"}}", "\"job\" is missing" },
        { "{\"input\": {\"job\": \"7\", \"output\": \"out\", \"path\": \"/etc/shadow\"}}", "unknown key 'path'" },
        { "{\"input\": {\"job\": true, \"output\": \"out\"}}", "\"job\" must be a job id, got a boolean" },
        { "{\"input\": {\"job\": 7.0, \"output\": \"out\"}}", "\"job\" must be a job id, got a real number" },
        { "{\"input\": {\"job\": -1, \"output\": \"out\"}}",
          "'-1' is not a job id: ids are decimal digits only, without sign" },
        { "{\"input\": {\"job\": 0, \"output\": \"out\"}}", "'0' is not a job id: ids are decimal numbers from 1 up" },
        { "{\"input\": {\"job\": \"\", \"output\": \"out\"}}", "'' is not a job id" },
        { "{\"input\": {\"job\": \"01\", \"output\": \"out\"}}",
          "'01' is not a job id: ids are decimal numbers without leading zeros" },
        { "{\"input\": {\"job\": \"+7\", \"output\": \"out\"}}", "'+7' is not a job id" },
        { "{\"input\": {\"job\": \" 7\", \"output\": \"out\"}}", "' 7' is not a job id" },
        { "{\"input\": {\"job\": \"7 \", \"output\": \"out\"}}", "'7 ' is not a job id" },
        { "{\"input\": {\"job\": \"0x7\", \"output\": \"out\"}}", "'0x7' is not a job id" },
        { "{\"input\": {\"job\": \"7\\u0000\", \"output\": \"out\"}}", "'7\\x00' is not a job id" },
        { "{\"input\": {\"job\": \"9223372036854775808\", \"output\": \"out\"}}",
          "'9223372036854775808' is not a job id: ids are at most 9223372036854775807" },
        { "{\"input\": {\"job\": \"7\", \"output\": 3}}", "\"output\" must be an output name, got an integer" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        rc = validate_data(tool, bad[i][0], &params);
        cr_assert_eq(rc, -EINVAL, "%s", bad[i][0]);
        cr_assert_not_null(strstr(err, bad[i][1]), "for %s: %s", bad[i][0], err);
        cr_assert_not_null(strstr(err, "input 'input'"), "%s", err);
    }
    cr_assert_eq(fake_calls, 0);

    /* Missing, and no resolver at all. */
    validate_fails(tool, "{}", "input 'input' is required");
    json_t *inputs = json_loads("{\"input\": {\"job\": \"7\", \"output\": \"out\"}}", 0, NULL);
    rc = mt_tool_validate(tool, inputs, NULL, NULL, &params, err, sizeof err);
    cr_assert_eq(rc, -ENOTSUP);
    json_decref(inputs);
    mt_toolbox_destroy(box);
}

/* ------------------------------------------------------------------ */
/* argv                                                                */
/* ------------------------------------------------------------------ */

static const char *const hostile[] = {
    "; rm -rf /",
    "$(id)",
    "`id`",
    "a | cat /etc/passwd",
    "it's \"quoted\"",
    "line1\nline2",
    "  spaces  around  ",
    "&& reboot &",
    "> /etc/passwd",
    "*",
    "~root",
    "${HOME}",
    "-n",
    "--help",
    "{text}",
    "{{}}",
    "\\",
    "",
    "\t\r\x01",
    "\xe2\x98\x83 unicode",
};

Test(tools, argv_hostile_values_verbatim)
{
    mt_toolbox_t *box = load_samples();
    const mt_tool_t *tool = mt_toolbox_find(box, "echo");
    for (size_t i = 0; i < sizeof hostile / sizeof hostile[0]; i++) {
        json_t *inputs = json_pack("{s:s}", "text", hostile[i]);
        cr_assert_not_null(inputs);
        json_t *params = NULL;
        int rc = mt_tool_validate(tool, inputs, NULL, NULL, &params, err, sizeof err);
        cr_assert_eq(rc, 0, "%s", err);
        char **argv = build_ok(tool, params);
        cr_assert_eq(argv_len(argv), 2, "value %zu split into several arguments", i);
        cr_assert_str_eq(argv[0], "/bin/echo");
        cr_assert_str_eq(argv[1], hostile[i]);
        mt_tool_argv_free(argv);

        /* The same after a round trip through the database as JSON text. */
        char *text = json_dumps(params, JSON_COMPACT);
        json_t *back = json_loads(text, 0, NULL);
        argv = build_ok(tool, back);
        cr_assert_eq(argv_len(argv), 2);
        cr_assert_str_eq(argv[1], hostile[i]);
        mt_tool_argv_free(argv);
        json_decref(back);
        free(text);
        json_decref(params);
        json_decref(inputs);
    }
    mt_toolbox_destroy(box);
}

Test(tools, argv_inside_an_element)
{
    const mt_tool_t *tool;
    mt_toolbox_t *box = load_one(HEAD "command: [/bin/echo, \"--text={text}\", \"{a}{b}\", \"{a}-{a}\", \"plain\"]\n"
                                      "inputs:\n  - {name: text, type: text}\n  - {name: a, type: text}\n"
                                      "  - {name: b, type: integer}\n",
                                 &tool);
    for (size_t i = 0; i < sizeof hostile / sizeof hostile[0]; i++) {
        json_t *inputs = json_pack("{s:s, s:s, s:i}", "text", hostile[i], "a", hostile[i], "b", 42);
        json_t *params = NULL;
        cr_assert_eq(mt_tool_validate(tool, inputs, NULL, NULL, &params, err, sizeof err), 0, "%s", err);
        char **argv = build_ok(tool, params);
        cr_assert_eq(argv_len(argv), 5);
        char want[128];
        snprintf(want, sizeof want, "--text=%s", hostile[i]);
        cr_assert_str_eq(argv[1], want);
        snprintf(want, sizeof want, "%s42", hostile[i]);
        cr_assert_str_eq(argv[2], want);
        snprintf(want, sizeof want, "%s-%s", hostile[i], hostile[i]);
        cr_assert_str_eq(argv[3], want);
        cr_assert_str_eq(argv[4], "plain");
        mt_tool_argv_free(argv);
        json_decref(params);
        json_decref(inputs);
    }
    mt_toolbox_destroy(box);
}

Test(tools, argv_brace_escaping)
{
    const mt_tool_t *tool;
    mt_toolbox_t *box = load_one(HEAD "command: [/bin/echo, \"{{literal}}\", \"{{{text}}}\", \"a}}b{{c\", \"{{{{\",\n"
                                      "          \"{{text}}\"]\n"
                                      "inputs:\n  - {name: text, type: text, default: \"v{x}\"}\n",
                                 &tool);
    json_t *params = validate_ok(tool, NULL);
    char **argv = build_ok(tool, params);
    cr_assert_eq(argv_len(argv), 6);
    cr_assert_str_eq(argv[1], "{literal}");
    cr_assert_str_eq(argv[2], "{v{x}}"); /* braces in a value are not placeholders */
    cr_assert_str_eq(argv[3], "a}b{c");
    cr_assert_str_eq(argv[4], "{{");
    cr_assert_str_eq(argv[5], "{text}");
    mt_tool_argv_free(argv);
    json_decref(params);
    mt_toolbox_destroy(box);
}

Test(tools, argv_floats)
{
    const mt_tool_t *tool;
    mt_toolbox_t *box = load_one(HEAD "command: [/bin/echo, \"{f}\"]\ninputs:\n  - {name: f, type: float}\n", &tool);
    const char *cases[][2] = {
        { "1", "1" },         { "1.0", "1" },     { "0.1", "0.1" },       { "-2.5", "-2.5" },
        { "3600", "3600" },   { "1e-7", "1e-07" }, { "\"1e3\"", "1000" }, { "0", "0" },
        { "-0.0", "0" },      { "1e300", "1e+300" }, { "0.30000000000000004", "0.30000000000000004" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char json[128];
        snprintf(json, sizeof json, "{\"f\": %s}", cases[i][0]);
        json_t *params = validate_ok(tool, json);
        char **argv = build_ok(tool, params);
        cr_assert_str_eq(argv[1], cases[i][1], "for %s", cases[i][0]);
        mt_tool_argv_free(argv);
        json_decref(params);
    }
    mt_toolbox_destroy(box);
}

Test(tools, argv_bad_params)
{
    mt_toolbox_t *box = load_samples();
    const mt_tool_t *sleep_tool = mt_toolbox_find(box, "sleep");
    const mt_tool_t *wc = mt_toolbox_find(box, "wc");
    char **argv = (char **)1;
    const char *bad[][2] = {
        { "{}", "parameter 'seconds' is missing" },
        { "{\"seconds\": \"1; reboot\"}", "parameter 'seconds' does not hold a float value" },
        { "[]", "parameters must be a JSON object" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *params = json_loads(bad[i][0], 0, NULL);
        int rc = mt_tool_build_argv(sleep_tool, params, &argv, err, sizeof err);
        cr_assert_eq(rc, -EINVAL);
        cr_assert_null(argv);
        cr_assert_not_null(strstr(err, bad[i][1]), "%s", err);
        json_decref(params);
    }
    /* A data parameter without its resolved path. */
    json_t *params = json_loads("{\"input\": {\"job\": \"7\", \"output\": \"out\"}}", 0, NULL);
    cr_assert_eq(mt_tool_build_argv(wc, params, &argv, err, sizeof err), -EINVAL);
    cr_assert_not_null(strstr(err, "parameter 'input' does not hold a data value"), "%s", err);
    json_decref(params);
    mt_tool_argv_free(NULL);
    mt_toolbox_destroy(box);
}

Test(tools, argv_too_long)
{
    const mt_tool_t *tool;
    mt_toolbox_t *box = load_one(HEAD "command: [/bin/echo, \"x{t}\"]\n"
                                      "inputs:\n  - {name: t, type: text, max_length: 131071}\n",
                                 &tool);
    char *big = malloc(131072);
    memset(big, 'a', 131071);
    big[131071] = '\0';
    json_t *inputs = json_pack("{s:s}", "t", big);
    json_t *params = NULL;
    cr_assert_eq(mt_tool_validate(tool, inputs, NULL, NULL, &params, err, sizeof err), 0, "%s", err);
    char **argv = (char **)1;
    cr_assert_eq(mt_tool_build_argv(tool, params, &argv, err, sizeof err), -E2BIG);
    cr_assert_null(argv);
    cr_assert_not_null(strstr(err, "argument 1"), "%s", err);
    json_decref(params);
    json_decref(inputs);
    free(big);
    mt_toolbox_destroy(box);
}
