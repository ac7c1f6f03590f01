/*
 * tools: the tools jobs run, loaded from YAML files, and the two steps
 * between a request's inputs and an execve(): validation and argv building.
 *
 * The master loads every *.yml / *.yaml file of the tools directory at
 * start-up (mt_toolbox_load); a broken file is a start-up error naming the
 * file and line. The toolbox is then immutable, inherited by every web
 * worker and mule, and safe to query from any thread.
 *
 * POST /api/jobs validates the request's inputs against the tool
 * (mt_tool_validate) and stores the normalized parameters with the job; the
 * handler that runs the job turns them into an argv (mt_tool_build_argv).
 * There is no shell anywhere: each element of the tool's command template
 * becomes exactly one argv element, so a value such as "; rm -rf /" or
 * "$(id)" reaches the program as those very bytes in one argument.
 *
 * A tool file (docs/tools.md has the operator's version):
 *
 *   id: echo                              # required; [A-Za-z0-9][A-Za-z0-9._-]*, at most 128 bytes
 *   version: "1.0"                        # required
 *   name: Echo text into a file           # required
 *   description: ...                      # optional
 *   command: ["/bin/echo", "{text}"]      # required argv template (a list, never a string)
 *   inputs:                               # optional
 *     - name: text                        # [A-Za-z_][A-Za-z0-9_]*, unique in the tool
 *       type: text                        # integer | float | text | boolean | select | data
 *       label: ..., description: ...      # optional, shown by GET /api/tools
 *       default: "hello"                  # optional; without one the input is required
 *       max_length: 1000                  # text: bytes, default 65536, at most 131071
 *       min: 0                            # integer / float: optional bounds, inclusive
 *       max: 100
 *       options: [a, b]                   # select: required, non-empty, no repeats
 *       truevalue: "--yes"                # boolean: argv text for true / false
 *       falsevalue: "--no"                #   (default "true" / "false")
 *   outputs:                              # optional
 *     - name: out
 *       from: stdout                      # either from: stdout ...
 *     - name: table
 *       path: result/table.txt            # ... or a relative path in the working directory, no ".."
 *   walltime: 60                          # optional, seconds (> 0, fractions allowed)
 *   environment: {LC_ALL: C}              # optional, literal strings, added to the job's environment
 *
 * Command template: each element is one argv element. "{name}" anywhere in
 * an element is replaced by that input's value; "{{" and "}}" stand for
 * literal braces; any other brace is an error. Every placeholder must name
 * a declared input. argv[0] must be a literal absolute path to an
 * executable regular file (checked with access(X_OK) at load). Unknown keys
 * anywhere are errors, so a typo is never silently ignored.
 *
 * Error convention: 0 on success, a negative errno value on failure with a
 * one-line message in the caller's err buffer.
 */
#ifndef MT_TOOLS_H
#define MT_TOOLS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct mt_toolbox mt_toolbox_t;
typedef struct mt_tool mt_tool_t;

typedef enum {
    MT_TOOL_INPUT_INTEGER,
    MT_TOOL_INPUT_FLOAT,
    MT_TOOL_INPUT_TEXT,
    MT_TOOL_INPUT_BOOLEAN,
    MT_TOOL_INPUT_SELECT,
    MT_TOOL_INPUT_DATA, /* an output of a job that finished ok */
} mt_tool_input_type_t;

typedef enum {
    MT_TOOL_OUTPUT_STDOUT, /* the command's standard output */
    MT_TOOL_OUTPUT_PATH,   /* a file the command writes, relative to its working directory */
} mt_tool_output_kind_t;

/* Default and upper bound of a text input's max_length, in bytes (Linux refuses longer argv elements). */
#define MT_TOOL_TEXT_DEFAULT_MAX 65536
#define MT_TOOL_TEXT_LIMIT 131071

/* ------------------------------------------------------------------ */
/* The toolbox                                                         */
/* ------------------------------------------------------------------ */

/*
 * Load every *.yml and *.yaml file of `dir`, in byte order of their names
 * (names starting with '.' are skipped: editor and backup files). Each file
 * holds one tool. On success *out is a new toolbox (possibly empty) and 0 is
 * returned; on failure *out is NULL, a negative errno value is returned
 * (-ENOENT/-EACCES/... for the directory itself, -EINVAL for a bad file) and
 * err holds one line such as "tools/echo.yml:7: input 'text': unknown key
 * 'max_lenght'". A tool id defined by two files is an error.
 */
int mt_toolbox_load(const char *dir, mt_toolbox_t **out, char *err, size_t errlen);

/* Free the toolbox and every tool in it. Accepts NULL. */
void mt_toolbox_destroy(mt_toolbox_t *box);

/* The tool with that id, or NULL. The tool lives as long as the box. */
const mt_tool_t *mt_toolbox_find(const mt_toolbox_t *box, const char *id);

/* Number of tools, and the i-th (0 <= i < count) in order of id. */
size_t mt_toolbox_count(const mt_toolbox_t *box);
const mt_tool_t *mt_toolbox_get(const mt_toolbox_t *box, size_t i);

/* ------------------------------------------------------------------ */
/* A tool                                                              */
/* ------------------------------------------------------------------ */

const char *mt_tool_id(const mt_tool_t *tool);
const char *mt_tool_version(const mt_tool_t *tool);
const char *mt_tool_name(const mt_tool_t *tool);
/* NULL when the file has none. */
const char *mt_tool_description(const mt_tool_t *tool);
/* "FILE:LINE" of the tool's definition, for log lines. */
const char *mt_tool_origin(const mt_tool_t *tool);

/* Walltime in seconds, 0 when the tool sets none. */
double mt_tool_walltime(const mt_tool_t *tool);

/*
 * The tool's environment as "KEY=VALUE" strings, in file order, NULL
 * terminated; *count (if not NULL) gets their number. Never NULL (an empty
 * list when the tool has no environment). Owned by the tool.
 */
const char *const *mt_tool_environment(const mt_tool_t *tool, size_t *count);

/* Inputs and outputs in file order; i < count (a bad index gives NULL / a default). */
size_t mt_tool_input_count(const mt_tool_t *tool);
const char *mt_tool_input_name(const mt_tool_t *tool, size_t i);
mt_tool_input_type_t mt_tool_input_type(const mt_tool_t *tool, size_t i);
/* Does input i need a value (it has no default)? */
bool mt_tool_input_required(const mt_tool_t *tool, size_t i);
/* Input i's index by name, or -1. */
int mt_tool_find_input(const mt_tool_t *tool, const char *name);
/* "integer", "float", "text", "boolean", "select", "data". */
const char *mt_tool_input_type_name(mt_tool_input_type_t type);

size_t mt_tool_output_count(const mt_tool_t *tool);
const char *mt_tool_output_name(const mt_tool_t *tool, size_t i);
mt_tool_output_kind_t mt_tool_output_kind(const mt_tool_t *tool, size_t i);
/* The relative path of a MT_TOOL_OUTPUT_PATH output; NULL for stdout. */
const char *mt_tool_output_path(const mt_tool_t *tool, size_t i);
/* Index of the output with that name, or -ENOENT. */
int mt_tool_find_output(const mt_tool_t *tool, const char *name);

/*
 * The tool as GET /api/tools shows it (a new reference):
 *   {"id", "version", "name", "description" (or null),
 *    "inputs": [{"name", "type", "required", "label"?, "description"?, "default"?,
 *                "min"?, "max"?, "max_length"?, "options"?, "truevalue"?, "falsevalue"?}],
 *    "outputs": [{"name", "from": "stdout"} | {"name", "path"}],
 *    "walltime" (seconds, or null)}
 * The command and the environment are not shown.
 */
json_t *mt_tool_to_json(const mt_tool_t *tool);

/* ------------------------------------------------------------------ */
/* Validation and argv                                                 */
/* ------------------------------------------------------------------ */

/*
 * Resolve a data input to a file: the output named `output` of job
 * `job_id` (the id as a decimal string). The callback belongs to the
 * caller, who owns the database: it checks that the job exists and finished
 * ok and that it has that output. Returns 0 and sets *path_out to a new
 * string (freed by validation with free()); or a negative errno value with
 * a reason in err, e.g. "job 7 is running, not ok". Use -EINVAL (or
 * -ENOENT) for a bad reference, anything else (e.g. -EIO) for a failure on
 * the server's side: validation returns the callback's value unchanged, so
 * the HTTP layer can answer 400 or 500.
 */
typedef int (*mt_data_resolver_t)(void *resolver_data, const char *job_id, const char *output,
                                  char **path_out, char *err, size_t errlen);

/*
 * Check a request's inputs against the tool and normalize them.
 *
 * `inputs` is the request's "inputs" JSON object; NULL or JSON null mean no
 * inputs. Accepted values per type:
 *   integer  a JSON integer, or a JSON string of decimal digits with an
 *            optional leading '-' ("12", "-3"); not 3.0, not true
 *   float    a JSON number, or a JSON string holding a decimal number
 *            ("2.5", "1e3"); not "inf" or "nan"
 *   text     a JSON string without NUL bytes, at most max_length bytes
 *   boolean  true / false, or the strings "true" / "false"
 *   select   a JSON string equal to one of the options
 *   data     {"job": "<id>" or <id>, "output": "<name>"}, nothing else;
 *            the id canonical decimal from 1 up (mt_value_parse_id: "7",
 *            not "07", "+7" or " 7"), checked before the resolver is asked;
 *            resolved through `resolver` (NULL: data inputs are refused)
 * Unknown input names, missing required inputs, wrong types, values out of
 * range, too long or not among the options are errors naming the input:
 * "input 'seconds': expected a number, got a string".
 *
 * On success *params_out is a new JSON object holding every input of the
 * tool (defaults filled in) as integer, real, string, boolean, string, and
 * {"job", "output", "path"} respectively, and 0 is returned. On failure
 * *params_out is NULL and the return is -EINVAL (bad inputs; err says why),
 * -ENOTSUP (a data input and no resolver) or the resolver's own error.
 * Thread-safe if the resolver is.
 */
int mt_tool_validate(const mt_tool_t *tool, const json_t *inputs, mt_data_resolver_t resolver,
                     void *resolver_data, json_t **params_out, char *err, size_t errlen);

/*
 * Build the argv for normalized parameters (mt_tool_validate's output, or
 * the same read back from the database). Each template element gives
 * exactly one argv element, values inserted verbatim; floats are written in
 * their shortest exact form ("1", "0.25"), booleans as truevalue/falsevalue,
 * data inputs as their path.
 *
 * On success *argv_out is a NULL-terminated array (free it with
 * mt_tool_argv_free) and 0 is returned. On failure *argv_out is NULL and the
 * return is -EINVAL (a placeholder's input is missing from params or has the
 * wrong type, e.g. the tool changed since the job was created) or -E2BIG (an
 * element longer than Linux accepts); err says which.
 */
int mt_tool_build_argv(const mt_tool_t *tool, const json_t *params, char ***argv_out, char *err,
                       size_t errlen);

/* Free an argv from mt_tool_build_argv. Accepts NULL. */
void mt_tool_argv_free(char **argv);

#endif
