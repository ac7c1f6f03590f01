/*
 * workflow: a multi-step run described in YAML (or JSON, which is YAML
 * too), checked against the toolbox before anything runs.
 *
 *   id: diamond                      # required; [A-Za-z0-9][A-Za-z0-9._-]*, at most 128 bytes
 *   name: A diamond                  # optional; defaults to the id
 *   description: ...                 # optional
 *   inputs:                          # optional: the workflow's named inputs
 *     - name: text                   # required; [A-Za-z_][A-Za-z0-9_]*, unique
 *       type: text                   # required: integer, float, text, boolean, select or data
 *       default: "hello"             # optional; without one the input is required
 *   steps:                           # required, at least one
 *     - id: a                        # required; as a workflow id, unique among the steps
 *       tool: echo                   # required: a tool of the toolbox
 *       inputs:                      # the tool's inputs, each from one source:
 *         text: {input: text}        #   a workflow input
 *         n: 3                       #   a literal (scalar) value
 *         file: {step: b, output: out}  # an output of another step (a data input)
 *
 * Validation (every failure an error naming the step and the reason, e.g.
 * "step 'b': input 'file': step 'a' has no output 'outt'"):
 *   - unknown tool; an input name the tool does not have; an unknown key;
 *   - a required tool input (no default in the tool) with no source;
 *   - a literal that is not valid for the tool input (as mt_tool_validate
 *     would judge it; a literal cannot feed a data input);
 *   - {input: X}: X is not a workflow input, or its type differs from the
 *     tool input's type (select and text are compatible one way: a text
 *     workflow input cannot feed a select; a select can feed text);
 *   - {step: S, output: O}: no step S, S is the step itself, S's tool has
 *     no output O, or the tool input is not of type data;
 *   - a cycle among the steps ("steps 'a' -> 'b' -> 'a' form a cycle").
 * Errors about the document's shape carry the line: "diamond.yml:12: step
 * 'b': unknown key 'tol'". The checks run on parse: a workflow that exists
 * is valid against the toolbox it was parsed with.
 *
 * Threading: a parsed workflow is immutable; read it from any thread.
 */
#ifndef MT_WORKFLOW_H
#define MT_WORKFLOW_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "app/model/tools.h"

typedef struct mt_workflow mt_workflow_t;

typedef enum {
    MT_WF_FROM_LITERAL, /* a value written in the workflow */
    MT_WF_FROM_INPUT,   /* a workflow input */
    MT_WF_FROM_STEP,    /* an output of an earlier step */
} mt_wf_source_kind_t;

/* Where one tool input of a step gets its value. */
typedef struct mt_wf_source {
    const char *tool_input;  /* the tool input's name */
    mt_wf_source_kind_t kind;
    const json_t *literal;   /* MT_WF_FROM_LITERAL: the value as a request would give it (string, number, bool) */
    const char *input;       /* MT_WF_FROM_INPUT: the workflow input's name */
    size_t step;             /* MT_WF_FROM_STEP: the upstream step's index */
    const char *output;      /* MT_WF_FROM_STEP: its output's name */
} mt_wf_source_t;

/*
 * Parse and validate a workflow from text (YAML or JSON), against tools.
 * origin names the text in error messages ("workflows/diamond.yml", or
 * "request body"). Returns 0 and *out, or -1 with one line in err and *out
 * NULL.
 */
int mt_workflow_parse(const char *text, size_t len, const char *origin, const mt_toolbox_t *tools,
                      mt_workflow_t **out, char *err, size_t errlen);

/* Read a file and parse it as above (origin: the path). */
int mt_workflow_load_file(const char *path, const mt_toolbox_t *tools, mt_workflow_t **out, char *err,
                          size_t errlen);

void mt_workflow_free(mt_workflow_t *wf); /* accepts NULL */

const char *mt_workflow_id(const mt_workflow_t *wf);
const char *mt_workflow_name(const mt_workflow_t *wf);
const char *mt_workflow_description(const mt_workflow_t *wf); /* NULL if none */

/* The workflow's inputs. */
size_t mt_workflow_input_count(const mt_workflow_t *wf);
const char *mt_workflow_input_name(const mt_workflow_t *wf, size_t i);
mt_tool_input_type_t mt_workflow_input_type(const mt_workflow_t *wf, size_t i);
const json_t *mt_workflow_input_default(const mt_workflow_t *wf, size_t i); /* NULL: required */

/*
 * Check an invocation's inputs (a JSON object; NULL or null = none) against
 * the workflow's: unknown names, missing required ones and wrong types are
 * errors naming the input ("input 'text': expected a string, got a number").
 * Values are checked by type only (a workflow input feeds tool inputs whose
 * own limits are checked when each step's job is created). Data inputs are
 * {"job": "<id>", "output": "<name>"}. On success *normalized_out is a new
 * object with every workflow input (defaults filled in) and 0 is returned;
 * else -1 with err.
 */
int mt_workflow_check_inputs(const mt_workflow_t *wf, const json_t *inputs, json_t **normalized_out, char *err,
                             size_t errlen);

/* The steps, in an order where every step comes after the steps it takes outputs from. */
size_t mt_workflow_step_count(const mt_workflow_t *wf);
const char *mt_workflow_step_id(const mt_workflow_t *wf, size_t step);
const char *mt_workflow_step_tool(const mt_workflow_t *wf, size_t step);
size_t mt_workflow_step_source_count(const mt_workflow_t *wf, size_t step);
const mt_wf_source_t *mt_workflow_step_source(const mt_workflow_t *wf, size_t step, size_t i);
/* Index of the step with that id, or -1. */
int mt_workflow_find_step(const mt_workflow_t *wf, const char *id);

/*
 * The workflow as JSON for GET /api/workflows/{id}: id, name, description,
 * inputs [{name, type, default?}], steps [{id, tool, inputs {name: literal
 * | {"input": X} | {"step": S, "output": O}}}] in step order. New reference.
 */
json_t *mt_workflow_to_json(const mt_workflow_t *wf);

#endif
