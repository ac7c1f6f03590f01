/*
 * workflow: workflow documents (YAML, or JSON, which libfyaml reads as YAML)
 * into immutable mt_workflow_t records, checked against the toolbox; and an
 * invocation's inputs checked against a workflow. See workflow.h for the
 * format and the list of checks.
 *
 * Parsing runs in three passes over the document: the shape and every check
 * that needs only the step itself and the workflow inputs (keys, ids, tools,
 * tool inputs, literals, {input: X}); then {step: S, output: O} references,
 * which may point forward in the document; then the execution order (Kahn's
 * algorithm, ties broken in document order), which finds cycles. Only then
 * are the steps stored in that order and step references renumbered, so
 * every index a caller sees is an execution-order index.
 *
 * Literals are the JSON values their YAML scalars denote: a plain 3 is an
 * integer, 2.5 a real, true/false booleans, anything quoted a string. A
 * literal is checked by mt_tool_validate itself, with placeholder values
 * (the tool's own minimum, first option, an empty text, ...) standing in for
 * the tool's other required inputs: so a literal is judged exactly as a
 * request's value would be, bounds, options and lengths included, without
 * copying those rules here. Values that reach a step through a workflow
 * input are checked by type only (mt_workflow_check_inputs); their limits
 * are the tool's business when the step's job is created.
 *
 * Files are checked to be UTF-8 without NUL bytes before libfyaml sees
 * them (it can loop forever on malformed UTF-8), and parsed with duplicate
 * keys refused, as tool files are (tools.c).
 */
#include "app/model/workflow.h"

#include <errno.h>
#include <libfyaml.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "app/model/values.h"
#include "common/mem.h"
#include "common/yaml.h"
#include "common/message.h"

#define MT__WF_ID_MAX 128              /* workflow and step ids, as tool ids */
#define MT__WF_NAME_MAX 64             /* workflow input names, as tool input names */
#define MT__WF_JOB_ID_MAX 64           /* the "job" of a data input, as tools.c */
#define MT__WF_TEXT_MAX (1024 * 1024)  /* a larger document is surely not a workflow */
#define MT__QUOTE_MAX MT_VALUE_QUOTE_MAX               /* bytes of a value quoted in an error message */
#define MT__QUOTE_BUF MT_VALUE_QUOTE_BUF
#define MT__WHERE_BUF (2 * MT__QUOTE_BUF + 32) /* "step 'ID': input 'NAME'" */

/* ------------------------------------------------------------------ */
/* Records                                                             */
/* ------------------------------------------------------------------ */

typedef struct mt__wf_input {
    char *name;
    mt_tool_input_type_t type;
    json_t *default_value; /* normalized like an invocation's value; NULL: required */
} mt__wf_input_t;

/* One source of a step: the public view plus the memory it points into. */
typedef struct mt__source {
    mt_wf_source_t pub; /* what callers see; its pointers point at the fields below */
    char *tool_input;
    json_t *literal;
    char *input;
    char *step_id;      /* the upstream step's id (pub.step is resolved from it) */
    char *output;
    size_t tool_index;  /* the tool input's index: sources are kept in the tool's input order */
    int line;           /* for messages while parsing */
} mt__source_t;

typedef struct mt__step {
    char *id;
    char *tool_id;
    mt__source_t *sources;
    size_t nsources;
    int line; /* for messages while parsing */
} mt__step_t;

struct mt_workflow {
    char *id, *name, *description; /* description: NULL if none */
    mt__wf_input_t *inputs;
    size_t ninputs;
    mt__step_t *steps; /* in execution order once parsing is done */
    size_t nsteps;
};

static void mt__step_free(mt__step_t *step)
{
    free(step->id);
    free(step->tool_id);
    for (size_t i = 0; i < step->nsources; i++) {
        mt__source_t *src = &step->sources[i];
        free(src->tool_input);
        json_decref(src->literal);
        free(src->input);
        free(src->step_id);
        free(src->output);
    }
    free(step->sources);
}

void mt_workflow_free(mt_workflow_t *wf)
{
    if (!wf)
        return;
    free(wf->id);
    free(wf->name);
    free(wf->description);
    for (size_t i = 0; i < wf->ninputs; i++) {
        free(wf->inputs[i].name);
        json_decref(wf->inputs[i].default_value);
    }
    free(wf->inputs);
    for (size_t i = 0; i < wf->nsteps; i++)
        mt__step_free(&wf->steps[i]);
    free(wf->steps);
    free(wf);
}

/* ------------------------------------------------------------------ */
/* Small helpers                                                       */
/* ------------------------------------------------------------------ */

/* Add name to the comma-separated list in buf. */
static void mt__buf_add_list(mt_value_buf_t *buf, const char *name)
{
    if (buf->len)
        mt_value_buf_add(buf, ", ", 2);
    mt_value_buf_add(buf, name, strlen(name));
}

/* The type named `name` (as mt_tool_input_type_name spells it), or -1. */
static int mt__type_from_name(const char *name)
{
    for (int t = MT_TOOL_INPUT_INTEGER; t <= MT_TOOL_INPUT_DATA; t++)
        if (strcmp(name, mt_tool_input_type_name((mt_tool_input_type_t)t)) == 0)
            return t;
    return -1;
}

/* ------------------------------------------------------------------ */
/* Values of workflow inputs: checked by type only                     */
/* ------------------------------------------------------------------ */

/* A data input's value: {"job": "<id>" or <id>, "output": "<name>"} into {"job": "<id>", "output"}. */
static int mt__check_data(const json_t *value, json_t **out, char *reason, size_t len)
{
    char q[MT__QUOTE_BUF], job[32];
    const char *key, *job_id = NULL, *output = NULL;
    json_t *member;

    if (!json_is_object(value)) {
        snprintf(reason, len, "expected {\"job\": ID, \"output\": NAME}, got %s", mt_value_json_kind(value));
        return -1;
    }
    json_object_foreach((json_t *)value, key, member) {
        if (strcmp(key, "job") == 0 && json_is_integer(member) && json_integer_value(member) >= 0) {
            snprintf(job, sizeof job, "%" JSON_INTEGER_FORMAT, json_integer_value(member));
            job_id = job;
        } else if (strcmp(key, "job") == 0 && json_is_string(member) && json_string_length(member) > 0 &&
                   json_string_length(member) <= MT__WF_JOB_ID_MAX && !mt_value_json_has_nul(member)) {
            job_id = json_string_value(member);
        } else if (strcmp(key, "job") == 0) {
            snprintf(reason, len, "\"job\" must be a job id, got %s",
                     json_is_string(member) ? "an unusable string" : mt_value_json_kind(member));
            return -1;
        } else if (strcmp(key, "output") == 0 && json_is_string(member) && json_string_length(member) > 0 &&
                   !mt_value_json_has_nul(member)) {
            output = json_string_value(member);
        } else if (strcmp(key, "output") == 0) {
            snprintf(reason, len, "\"output\" must be an output name, got %s",
                     json_is_string(member) ? "an unusable string" : mt_value_json_kind(member));
            return -1;
        } else {
            snprintf(reason, len, "unknown key '%s' (expected job and output)", mt_value_quote(key, strlen(key), q));
            return -1;
        }
    }
    if (!job_id || !output) {
        snprintf(reason, len, "expected {\"job\": ID, \"output\": NAME}, \"%s\" is missing", job_id ? "output" : "job");
        return -1;
    }
    *out = json_object();
    json_object_set_new(*out, "job", json_string(job_id));
    json_object_set_new(*out, "output", json_string(output));
    return 0;
}

/*
 * Check a value against a workflow input's type, as mt_tool_validate reads
 * each type, and normalize it into *out (a new reference: integer, real,
 * string, boolean, string, {"job", "output"}). Limits (bounds, options,
 * lengths) belong to the tool inputs it feeds and are not checked here.
 * Returns 0, or -1 with the reason (without the input's name) in reason.
 */
static int mt__check_type(mt_tool_input_type_t type, const json_t *value, json_t **out, char *reason, size_t len)
{
    char q[MT__QUOTE_BUF];
    const char *text = json_is_string(value) ? json_string_value(value) : NULL;
    size_t textlen = text ? json_string_length(value) : 0;
    bool nul = text && mt_value_json_has_nul(value);

    *out = NULL;
    switch (type) {
    case MT_TOOL_INPUT_INTEGER: {
        json_int_t v = 0;
        int rc = json_is_integer(value) ? 0 : text && !nul ? mt_value_parse_int(text, &v) : -1;
        if (json_is_integer(value))
            v = json_integer_value(value);
        if (rc == -ERANGE)
            snprintf(reason, len, "%s is out of range", mt_value_quote(text, textlen, q));
        else if (rc < 0 && text)
            snprintf(reason, len, "expected an integer, got the string '%s'", mt_value_quote(text, textlen, q));
        else if (rc < 0)
            snprintf(reason, len, "expected an integer, got %s", mt_value_json_kind(value));
        else
            *out = json_integer(v);
        return rc < 0 ? -1 : 0;
    }
    case MT_TOOL_INPUT_FLOAT: {
        double v = 0;
        int rc = json_is_number(value) ? 0 : text && !nul ? mt_value_parse_float(text, &v) : -1;
        if (json_is_number(value))
            v = json_number_value(value);
        if (rc == -ERANGE)
            snprintf(reason, len, "%s is out of range", mt_value_quote(text, textlen, q));
        else if (rc < 0 && text)
            snprintf(reason, len, "expected a number, got the string '%s'", mt_value_quote(text, textlen, q));
        else if (rc < 0)
            snprintf(reason, len, "expected a number, got %s", mt_value_json_kind(value));
        else
            *out = json_real(v);
        return rc < 0 ? -1 : 0;
    }
    case MT_TOOL_INPUT_TEXT:
    case MT_TOOL_INPUT_SELECT:
        if (!text) {
            snprintf(reason, len, "expected a string, got %s", mt_value_json_kind(value));
            return -1;
        }
        if (nul) {
            snprintf(reason, len, "contains a NUL byte");
            return -1;
        }
        *out = json_stringn(text, textlen);
        return 0;
    case MT_TOOL_INPUT_BOOLEAN:
        if (json_is_boolean(value)) {
            *out = json_boolean(json_is_true(value));
            return 0;
        }
        if (text && !nul && (!strcmp(text, "true") || !strcmp(text, "false"))) {
            *out = json_boolean(text[0] == 't');
            return 0;
        }
        if (text)
            snprintf(reason, len, "expected true or false, got the string '%s'", mt_value_quote(text, textlen, q));
        else
            snprintf(reason, len, "expected true or false, got %s", mt_value_json_kind(value));
        return -1;
    case MT_TOOL_INPUT_DATA:
        return mt__check_data(value, out, reason, len);
    }
    snprintf(reason, len, "internal error: no check for this type");
    return -1;
}

/* ------------------------------------------------------------------ */
/* Literals: judged by mt_tool_validate itself                         */
/* ------------------------------------------------------------------ */

/* Stands in for the job database: every data placeholder resolves. Never reached by a literal. */
static int mt__placeholder_resolver(void *resolver_data, const char *job_id, const char *output, char **path_out,
                                    char *err, size_t errlen)
{
    *path_out = mt_strdup("/dev/null");
    return 0;
}

/*
 * A value that passes the tool's own checks for input `desc` (an element of
 * mt_tool_to_json's "inputs"), whatever its limits: its minimum (or maximum,
 * or 0), the empty text, false, its first option, a data reference.
 */
static json_t *mt__placeholder(mt_tool_input_type_t type, const json_t *desc)
{
    json_t *bound;
    switch (type) {
    case MT_TOOL_INPUT_INTEGER:
    case MT_TOOL_INPUT_FLOAT:
        bound = json_object_get(desc, "min");
        if (!bound)
            bound = json_object_get(desc, "max");
        return bound ? json_incref(bound) : json_integer(0);
    case MT_TOOL_INPUT_TEXT:
        return json_string("");
    case MT_TOOL_INPUT_BOOLEAN:
        return json_false();
    case MT_TOOL_INPUT_SELECT:
        return json_incref(json_array_get(json_object_get(desc, "options"), 0));
    case MT_TOOL_INPUT_DATA:
        return json_pack("{s:s, s:s}", "job", "1", "output", "placeholder");
    }
    return json_null();
}

/*
 * Check `literal` for the tool's input `index` as a request's value would be
 * checked: run mt_tool_validate on it, placeholders filling the tool's other
 * required inputs. Returns 0, or -1 with mt_tool_validate's message ("input
 * 'n': 500 is above the maximum 100") in reason.
 */
static int mt__check_literal(const mt_tool_t *tool, size_t index, const json_t *literal, char *reason, size_t len)
{
    json_t *desc = mt_tool_to_json(tool);
    json_t *descs = json_object_get(desc, "inputs");
    json_t *inputs = json_object();
    for (size_t i = 0; i < mt_tool_input_count(tool); i++) {
        if (i == index || !mt_tool_input_required(tool, i))
            continue;
        json_t *value = mt__placeholder(mt_tool_input_type(tool, i), json_array_get(descs, i));
        if (value)
            json_object_set_new(inputs, mt_tool_input_name(tool, i), value);
    }
    json_object_set(inputs, mt_tool_input_name(tool, index), (json_t *)literal);
    json_t *params = NULL;
    int rc = mt_tool_validate(tool, inputs, mt__placeholder_resolver, NULL, &params, reason, len);
    json_decref(params);
    json_decref(inputs);
    json_decref(desc);
    return rc < 0 ? -1 : 0;
}

/* ------------------------------------------------------------------ */
/* YAML                                                                */
/* ------------------------------------------------------------------ */

typedef struct mt__parse {
    const char *origin;
    const mt_toolbox_t *tools;
    char *err;
    size_t errlen;
    mt_workflow_t *wf;
    const mt_tool_t **step_tools; /* each step's tool, indexed like wf->steps while in document order */
} mt__parse_t;

/* "ORIGIN:LINE: message" into p->err ("ORIGIN: message" for line 0); returns -1. */
static int mt__fail(mt__parse_t *p, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int mt__fail(mt__parse_t *p, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    mt_message_vformat_at(p->err, p->errlen, p->origin, line, fmt, ap);
    va_end(ap);
    return -1;
}

/* The text of a non-null scalar as a new string in *out; otherwise an error naming `what`. */
static int mt__text(mt__parse_t *p, struct fy_node *node, int line, const char *what, char **out)
{
    char why[64];
    if (mt_yaml_scalar_dup(node, out, why, sizeof why) < 0)
        return mt__fail(p, line, "%s %s", what, why);
    return 0;
}

/*
 * The JSON value a scalar denotes, as a request would give it: a plain
 * true/false (or True, TRUE, ...) is a boolean, a plain decimal integer an
 * integer, a plain decimal number a real; anything else, and every quoted
 * scalar, a string. NULL for bytes that are not a valid JSON string.
 */
static json_t *mt__scalar_value(struct fy_node *node)
{
    size_t len;
    const char *text = fy_node_get_scalar(node, &len);
    if (!text)
        text = "", len = 0;
    if (fy_node_get_style(node) == FYNS_PLAIN && !memchr(text, '\0', len)) {
        char *s = mt_strndup(text, len);
        json_int_t i;
        double d;
        json_t *value = NULL;
        if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE"))
            value = json_true();
        else if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE"))
            value = json_false();
        else if (mt_value_parse_int(s, &i) == 0)
            value = json_integer(i);
        else if (mt_value_parse_float(s, &d) == 0)
            value = json_real(d);
        free(s);
        if (value)
            return value;
    }
    return json_stringn(text, len);
}

/* A mapping's value slot, filled by mt__collect. */
typedef struct mt__slot {
    struct fy_node *node; /* the value, aliases followed; NULL for a null value */
    int line;             /* the key's line */
    bool present;
} mt__slot_t;

/* The line of a slot's value, falling back to its key's. */
static int mt__slot_line(const mt__slot_t *slot)
{
    return mt_yaml_node_line(slot->node, slot->line);
}

/*
 * Sort the pairs of `map` into slots by key (keys[i] -> slots[i]). An
 * unknown key, a non-scalar key or a broken alias is an error prefixed by
 * `where` (NULL at the top level). libfyaml has already refused repeated keys.
 */
static int mt__collect(mt__parse_t *p, struct fy_node *map, int line, const char *where, const char *const *keys,
                       size_t nkeys, mt__slot_t *slots)
{
    void *iter = NULL;
    struct fy_node_pair *pair;
    char q[MT__QUOTE_BUF];
    const char *sep = where ? ": " : "";

    if (!where)
        where = "";
    memset(slots, 0, nkeys * sizeof *slots);
    while ((pair = fy_node_mapping_iterate(map, &iter))) {
        struct fy_node *knode = fy_node_pair_key(pair);
        int kline = mt_yaml_node_line(knode, line);
        if (!knode || fy_node_get_type(knode) != FYNT_SCALAR || mt_yaml_is_null(knode))
            return mt__fail(p, kline, "%s%skeys must be plain names", where, sep);
        size_t klen;
        const char *key = fy_node_get_scalar(knode, &klen);
        size_t i;
        for (i = 0; i < nkeys; i++)
            if (strlen(keys[i]) == klen && memcmp(keys[i], key, klen) == 0)
                break;
        if (i == nkeys) {
            mt_value_buf_t list = { 0 };
            for (size_t k = 0; k < nkeys; k++)
                mt__buf_add_list(&list, keys[k]);
            mt__fail(p, kline, "%s%sunknown key '%s' (expected %s)", where, sep, mt_value_quote(key, klen, q), list.data);
            free(list.data);
            return -1;
        }
        bool broken;
        slots[i].node = mt_yaml_deref(fy_node_pair_value(pair), &broken);
        if (broken)
            return mt__fail(p, kline, "%s%s%s: unresolvable alias", where, sep, keys[i]);
        if (mt_yaml_is_null(slots[i].node))
            slots[i].node = NULL;
        slots[i].line = kline;
        slots[i].present = true;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Workflow inputs                                                     */
/* ------------------------------------------------------------------ */

enum { IK_NAME, IK_TYPE, IK_DEFAULT, IK_COUNT };
static const char *const mt__input_keys[IK_COUNT] = { "name", "type", "default" };

static int mt__load_input(mt__parse_t *p, struct fy_node *map, int line, size_t index)
{
    mt__wf_input_t *in = &p->wf->inputs[index];
    mt__slot_t s[IK_COUNT];
    char where[MT__WHERE_BUF], q[MT__QUOTE_BUF], reason[512], *text = NULL;

    snprintf(where, sizeof where, "inputs[%zu]", index);
    struct fy_node *name_node = fy_node_mapping_lookup_by_string(map, "name", 4);
    if (name_node && fy_node_get_type(name_node) == FYNT_SCALAR && !mt_yaml_is_null(name_node)) {
        size_t len;
        const char *name = fy_node_get_scalar(name_node, &len);
        snprintf(where, sizeof where, "input '%s'", mt_value_quote(name, len, q));
    }
    if (mt__collect(p, map, line, where, mt__input_keys, IK_COUNT, s) < 0)
        return -1;

    if (!s[IK_NAME].present)
        return mt__fail(p, line, "%s: missing 'name'", where);
    int nline = mt__slot_line(&s[IK_NAME]);
    if (mt__text(p, s[IK_NAME].node, nline, "input name", &in->name) < 0)
        return -1;
    if (!mt_value_is_name(in->name, MT__WF_NAME_MAX))
        return mt__fail(p, nline, "input name '%s' is not a name ([A-Za-z_][A-Za-z0-9_]*, at most %d bytes)",
                        mt_value_quote(in->name, strlen(in->name), q), MT__WF_NAME_MAX);
    for (size_t i = 0; i < index; i++)
        if (strcmp(p->wf->inputs[i].name, in->name) == 0)
            return mt__fail(p, nline, "input '%s' declared twice", in->name);

    if (!s[IK_TYPE].present)
        return mt__fail(p, line, "%s: missing 'type' (integer, float, text, boolean, select or data)", where);
    int tline = mt__slot_line(&s[IK_TYPE]);
    if (mt__text(p, s[IK_TYPE].node, tline, "type", &text) < 0)
        return -1;
    int type = mt__type_from_name(text);
    if (type < 0) {
        mt__fail(p, tline, "%s: type '%s' is not integer, float, text, boolean, select or data", where,
                 mt_value_quote(text, strlen(text), q));
        free(text);
        return -1;
    }
    free(text);
    in->type = (mt_tool_input_type_t)type;

    if (!s[IK_DEFAULT].present)
        return 0;
    int dline = mt__slot_line(&s[IK_DEFAULT]);
    if (in->type == MT_TOOL_INPUT_DATA)
        return mt__fail(p, dline, "%s: a data input cannot have a default", where);
    struct fy_node *node = s[IK_DEFAULT].node;
    if (!node)
        return mt__fail(p, dline, "%s: default must not be empty (write \"\" for an empty text)", where);
    if (fy_node_get_type(node) != FYNT_SCALAR)
        return mt__fail(p, dline, "%s: default must be a single value", where);
    json_t *value = mt__scalar_value(node);
    if (!value)
        return mt__fail(p, dline, "%s: default is not valid text", where);
    int rc = mt__check_type(in->type, value, &in->default_value, reason, sizeof reason);
    bool plain = fy_node_get_style(node) == FYNS_PLAIN && !json_is_string(value);
    json_decref(value);
    if (rc < 0)
        return mt__fail(p, dline, "%s: default: %s%s", where, reason,
                        plain && (in->type == MT_TOOL_INPUT_TEXT || in->type == MT_TOOL_INPUT_SELECT)
                            ? " (quote it to give text)"
                            : "");
    return 0;
}

static int mt__load_inputs(mt__parse_t *p, const mt__slot_t *slot)
{
    struct fy_node *seq = slot->node;
    if (!seq)
        return 0;
    if (fy_node_get_type(seq) != FYNT_SEQUENCE)
        return mt__fail(p, slot->line, "inputs: expected a list of inputs (- name: ..., type: ...)");
    int n = fy_node_sequence_item_count(seq);
    p->wf->inputs = mt_calloc(n > 0 ? (size_t)n : 1, sizeof *p->wf->inputs);
    void *iter = NULL;
    struct fy_node *item;
    while ((item = fy_node_sequence_iterate(seq, &iter))) {
        bool broken;
        int line = mt_yaml_node_line(item, slot->line);
        item = mt_yaml_deref(item, &broken);
        if (broken || !item || fy_node_get_type(item) != FYNT_MAPPING)
            return mt__fail(p, line, "inputs[%zu]: each input must be a mapping (name: ..., type: ...)",
                            p->wf->ninputs);
        /* Counted before loading, so that a half-loaded input is freed with the workflow. */
        size_t index = p->wf->ninputs++;
        if (mt__load_input(p, item, mt_yaml_node_line(item, line), index) < 0)
            return -1;
    }
    return 0;
}

static const mt__wf_input_t *mt__find_input(const mt_workflow_t *wf, const char *name)
{
    for (size_t i = 0; i < wf->ninputs; i++)
        if (strcmp(wf->inputs[i].name, name) == 0)
            return &wf->inputs[i];
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Steps: pass 1, each step on its own                                 */
/* ------------------------------------------------------------------ */

enum { SK_ID, SK_TOOL, SK_INPUTS, SK_COUNT };
static const char *const mt__step_keys[SK_COUNT] = { "id", "tool", "inputs" };

enum { RK_INPUT, RK_STEP, RK_OUTPUT, RK_COUNT };
static const char *const mt__ref_keys[RK_COUNT] = { "input", "step", "output" };

/* Can a workflow input of type `from` feed a tool input of type `to`? A select's value is text; not the reverse. */
static bool mt__types_fit(mt_tool_input_type_t from, mt_tool_input_type_t to)
{
    return from == to || (from == MT_TOOL_INPUT_SELECT && to == MT_TOOL_INPUT_TEXT);
}

/* {input: X} or {step: S, output: O} into src. `where` is "step 'ID': input 'NAME'". */
static int mt__load_reference(mt__parse_t *p, const mt_tool_t *tool, struct fy_node *map, const char *where,
                              mt__source_t *src)
{
    mt__slot_t s[RK_COUNT];
    char q[MT__QUOTE_BUF], what[MT__WHERE_BUF + 16];

    if (mt__collect(p, map, src->line, where, mt__ref_keys, RK_COUNT, s) < 0)
        return -1;
    if (s[RK_INPUT].present && !s[RK_STEP].present && !s[RK_OUTPUT].present) {
        snprintf(what, sizeof what, "%s: input", where);
        if (mt__text(p, s[RK_INPUT].node, mt__slot_line(&s[RK_INPUT]), what, &src->input) < 0)
            return -1;
        src->pub.kind = MT_WF_FROM_INPUT;
        src->pub.input = src->input;
        const mt__wf_input_t *in = mt__find_input(p->wf, src->input);
        if (!in)
            return mt__fail(p, src->line, "%s: no workflow input '%s'", where,
                            mt_value_quote(src->input, strlen(src->input), q));
        mt_tool_input_type_t want = mt_tool_input_type(tool, src->tool_index);
        if (!mt__types_fit(in->type, want))
            return mt__fail(p, src->line, "%s: workflow input '%s' is %s, the tool input takes %s%s", where, in->name,
                            mt_tool_input_type_name(in->type), mt_tool_input_type_name(want),
                            in->type == MT_TOOL_INPUT_TEXT && want == MT_TOOL_INPUT_SELECT
                                ? " (a text cannot feed a select; a select can feed a text)"
                                : "");
        return 0;
    }
    if (!s[RK_INPUT].present && s[RK_STEP].present && s[RK_OUTPUT].present) {
        snprintf(what, sizeof what, "%s: step", where);
        if (mt__text(p, s[RK_STEP].node, mt__slot_line(&s[RK_STEP]), what, &src->step_id) < 0)
            return -1;
        snprintf(what, sizeof what, "%s: output", where);
        if (mt__text(p, s[RK_OUTPUT].node, mt__slot_line(&s[RK_OUTPUT]), what, &src->output) < 0)
            return -1;
        src->pub.kind = MT_WF_FROM_STEP;
        src->pub.output = src->output;
        return 0; /* checked once every step is known (mt__link_steps) */
    }
    return mt__fail(p, src->line, "%s: give {input: NAME} or {step: ID, output: NAME}", where);
}

/* One "tool input: source" pair of a step's inputs. */
static int mt__load_source(mt__parse_t *p, mt__step_t *step, const mt_tool_t *tool, struct fy_node_pair *pair,
                           int line)
{
    char q[MT__QUOTE_BUF], where[MT__WHERE_BUF], reason[512], *name = NULL;
    struct fy_node *knode = fy_node_pair_key(pair);
    int kline = mt_yaml_node_line(knode, line);

    char what[MT__QUOTE_BUF + 32];
    snprintf(what, sizeof what, "step '%s': an input name", step->id);
    if (!knode || fy_node_get_type(knode) != FYNT_SCALAR)
        return mt__fail(p, kline, "step '%s': input names must be plain names", step->id);
    if (mt__text(p, knode, kline, what, &name) < 0)
        return -1;
    int index = mt_tool_find_input(tool, name);
    if (index < 0) {
        mt_value_buf_t list = { 0 };
        for (size_t i = 0; i < mt_tool_input_count(tool); i++)
            mt__buf_add_list(&list, mt_tool_input_name(tool, i));
        mt__fail(p, kline, "step '%s': unknown input '%s' (tool '%s' has %s%s)", step->id,
                 mt_value_quote(name, strlen(name), q), mt_tool_id(tool), list.data ? "inputs " : "no inputs",
                 list.data ? list.data : "");
        free(list.data);
        free(name);
        return -1;
    }
    for (size_t i = 0; i < step->nsources; i++) {
        if (step->sources[i].tool_index == (size_t)index) { /* libfyaml refuses repeated keys; an alias could not */
            mt__fail(p, kline, "step '%s': input '%s' given twice", step->id, name);
            free(name);
            return -1;
        }
    }
    mt__source_t *src = &step->sources[step->nsources++];
    src->tool_input = name;
    src->tool_index = (size_t)index;
    src->line = kline;
    src->pub.tool_input = name;
    snprintf(where, sizeof where, "step '%s': input '%s'", step->id, name);

    bool broken;
    struct fy_node *value = mt_yaml_deref(fy_node_pair_value(pair), &broken);
    if (broken)
        return mt__fail(p, kline, "%s: unresolvable alias", where);
    if (mt_yaml_is_null(value))
        return mt__fail(p, kline, "%s: no value (give a literal, {input: NAME} or {step: ID, output: NAME})", where);
    if (fy_node_get_type(value) == FYNT_MAPPING)
        return mt__load_reference(p, tool, value, where, src);
    if (fy_node_get_type(value) != FYNT_SCALAR)
        return mt__fail(p, kline, "%s: a list is not a value (give a literal, {input: NAME} or {step: ID, output: NAME})",
                        where);

    mt_tool_input_type_t type = mt_tool_input_type(tool, (size_t)index);
    if (type == MT_TOOL_INPUT_DATA)
        return mt__fail(p, kline, "%s: a literal cannot feed a data input (use {step: ID, output: NAME} or {input: NAME})",
                        where);
    src->literal = mt__scalar_value(value);
    if (!src->literal)
        return mt__fail(p, kline, "%s: the value is not valid text", where);
    src->pub.kind = MT_WF_FROM_LITERAL;
    src->pub.literal = src->literal;
    if (mt__check_literal(tool, (size_t)index, src->literal, reason, sizeof reason) < 0) {
        bool plain = fy_node_get_style(value) == FYNS_PLAIN && !json_is_string(src->literal);
        return mt__fail(p, kline, "step '%s': %s%s", step->id, reason,
                        plain && (type == MT_TOOL_INPUT_TEXT || type == MT_TOOL_INPUT_SELECT)
                            ? " (quote it to give text)"
                            : "");
    }
    return 0;
}

static int mt__cmp_sources(const void *a, const void *b)
{
    const mt__source_t *x = a, *y = b;
    return (x->tool_index > y->tool_index) - (x->tool_index < y->tool_index);
}

static int mt__load_step(mt__parse_t *p, struct fy_node *map, int line, size_t index)
{
    mt__step_t *step = &p->wf->steps[index];
    mt__slot_t s[SK_COUNT];
    char where[MT__WHERE_BUF], q[MT__QUOTE_BUF];

    step->line = line;
    snprintf(where, sizeof where, "steps[%zu]", index);
    struct fy_node *id_node = fy_node_mapping_lookup_by_string(map, "id", 2);
    if (id_node && fy_node_get_type(id_node) == FYNT_SCALAR && !mt_yaml_is_null(id_node)) {
        size_t len;
        const char *id = fy_node_get_scalar(id_node, &len);
        snprintf(where, sizeof where, "step '%s'", mt_value_quote(id, len, q));
    }
    if (mt__collect(p, map, line, where, mt__step_keys, SK_COUNT, s) < 0)
        return -1;

    if (!s[SK_ID].present)
        return mt__fail(p, line, "%s: missing 'id'", where);
    int idline = mt__slot_line(&s[SK_ID]);
    if (mt__text(p, s[SK_ID].node, idline, "step id", &step->id) < 0)
        return -1;
    if (!mt_value_is_id(step->id, MT__WF_ID_MAX))
        return mt__fail(p, idline,
                        "step id '%s' must be letters, digits, '.', '_' and '-', starting with a letter or digit, "
                        "at most %d bytes",
                        mt_value_quote(step->id, strlen(step->id), q), MT__WF_ID_MAX);
    for (size_t i = 0; i < index; i++)
        if (strcmp(p->wf->steps[i].id, step->id) == 0)
            return mt__fail(p, idline, "step '%s' declared twice (first at line %d)", step->id, p->wf->steps[i].line);

    if (!s[SK_TOOL].present)
        return mt__fail(p, line, "step '%s': missing 'tool'", step->id);
    int tline = mt__slot_line(&s[SK_TOOL]);
    char what[MT__QUOTE_BUF + 32];
    snprintf(what, sizeof what, "step '%s': tool", step->id);
    if (mt__text(p, s[SK_TOOL].node, tline, what, &step->tool_id) < 0)
        return -1;
    const mt_tool_t *tool = mt_toolbox_find(p->tools, step->tool_id);
    if (!tool)
        return mt__fail(p, tline, "step '%s': unknown tool '%s'", step->id,
                        mt_value_quote(step->tool_id, strlen(step->tool_id), q));
    p->step_tools[index] = tool;

    struct fy_node *inputs = s[SK_INPUTS].node;
    if (inputs && fy_node_get_type(inputs) != FYNT_MAPPING)
        return mt__fail(p, s[SK_INPUTS].line, "step '%s': inputs: expected a mapping (tool input: source)", step->id);
    step->sources = mt_calloc(mt_tool_input_count(tool) + 1, sizeof *step->sources);
    void *iter = NULL;
    struct fy_node_pair *pair;
    while (inputs && (pair = fy_node_mapping_iterate(inputs, &iter)))
        if (mt__load_source(p, step, tool, pair, s[SK_INPUTS].line) < 0)
            return -1;
    if (step->nsources > 1)
        qsort(step->sources, step->nsources, sizeof *step->sources, mt__cmp_sources);

    for (size_t i = 0, k = 0; i < mt_tool_input_count(tool); i++) {
        while (k < step->nsources && step->sources[k].tool_index < i)
            k++;
        bool given = k < step->nsources && step->sources[k].tool_index == i;
        if (!given && mt_tool_input_required(tool, i))
            return mt__fail(p, line, "step '%s': input '%s' is required by tool '%s' and has no source", step->id,
                            mt_tool_input_name(tool, i), mt_tool_id(tool));
    }
    return 0;
}

static int mt__load_steps(mt__parse_t *p, const mt__slot_t *slot)
{
    struct fy_node *seq = slot->node;
    if (!seq || (fy_node_get_type(seq) == FYNT_SEQUENCE && fy_node_sequence_item_count(seq) <= 0))
        return mt__fail(p, slot->line, "steps: a workflow needs at least one step");
    if (fy_node_get_type(seq) != FYNT_SEQUENCE)
        return mt__fail(p, slot->line, "steps: expected a list of steps (- id: ..., tool: ...)");
    size_t n = (size_t)fy_node_sequence_item_count(seq);
    p->wf->steps = mt_calloc(n, sizeof *p->wf->steps);
    p->step_tools = mt_calloc(n, sizeof *p->step_tools);
    void *iter = NULL;
    struct fy_node *item;
    while ((item = fy_node_sequence_iterate(seq, &iter))) {
        bool broken;
        int line = mt_yaml_node_line(item, slot->line);
        item = mt_yaml_deref(item, &broken);
        if (broken || !item || fy_node_get_type(item) != FYNT_MAPPING)
            return mt__fail(p, line, "steps[%zu]: each step must be a mapping (id: ..., tool: ...)", p->wf->nsteps);
        size_t index = p->wf->nsteps++;
        if (mt__load_step(p, item, mt_yaml_node_line(item, line), index) < 0)
            return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Steps: pass 2, references between steps; pass 3, the order          */
/* ------------------------------------------------------------------ */

/* Resolve every {step: S, output: O}: pub.step gets S's document index. */
static int mt__link_steps(mt__parse_t *p)
{
    mt_workflow_t *wf = p->wf;
    char q[MT__QUOTE_BUF], q2[MT__QUOTE_BUF];

    for (size_t i = 0; i < wf->nsteps; i++) {
        mt__step_t *step = &wf->steps[i];
        const mt_tool_t *tool = p->step_tools[i];
        for (size_t k = 0; k < step->nsources; k++) {
            mt__source_t *src = &step->sources[k];
            if (src->pub.kind != MT_WF_FROM_STEP)
                continue;
            size_t up;
            for (up = 0; up < wf->nsteps; up++)
                if (strcmp(wf->steps[up].id, src->step_id) == 0)
                    break;
            if (up == wf->nsteps)
                return mt__fail(p, src->line, "step '%s': input '%s': no step '%s'", step->id, src->tool_input,
                                mt_value_quote(src->step_id, strlen(src->step_id), q));
            if (up == i)
                return mt__fail(p, src->line, "step '%s': input '%s': a step cannot take its own output", step->id,
                                src->tool_input);
            const mt_tool_t *uptool = p->step_tools[up];
            if (mt_tool_find_output(uptool, src->output) < 0) {
                mt_value_buf_t list = { 0 };
                for (size_t o = 0; o < mt_tool_output_count(uptool); o++)
                    mt__buf_add_list(&list, mt_tool_output_name(uptool, o));
                mt__fail(p, src->line, "step '%s': input '%s': step '%s' has no output '%s' (tool '%s' has %s%s)",
                         step->id, src->tool_input, wf->steps[up].id,
                         mt_value_quote(src->output, strlen(src->output), q2), mt_tool_id(uptool),
                         list.data ? "outputs " : "no outputs", list.data ? list.data : "");
                free(list.data);
                return -1;
            }
            mt_tool_input_type_t type = mt_tool_input_type(tool, src->tool_index);
            if (type != MT_TOOL_INPUT_DATA)
                return mt__fail(p, src->line,
                                "step '%s': input '%s': only a data input can take a step's output (this one is %s)",
                                step->id, src->tool_input, mt_tool_input_type_name(type));
            src->pub.step = up;
        }
    }
    return 0;
}

/*
 * Name a cycle among the steps not placed: walk upstream from the first of
 * them until a step repeats; the steps from that repeat on form a cycle,
 * reported in the direction data flows, starting at its first step in
 * document order.
 */
static int mt__report_cycle(mt__parse_t *p, const bool *placed)
{
    mt_workflow_t *wf = p->wf;
    size_t n = wf->nsteps;
    size_t *path = mt_malloc(n * sizeof *path), *flow = mt_malloc(n * sizeof *flow);
    long *pos = mt_malloc(n * sizeof *pos);
    size_t len = 0, v = 0;

    for (size_t i = 0; i < n; i++)
        pos[i] = -1;
    while (placed[v])
        v++;
    while (pos[v] < 0) {
        pos[v] = (long)len;
        path[len++] = v;
        /* A step left unplaced has an unplaced upstream step, else Kahn would have placed it. */
        size_t up = 0;
        for (size_t k = 0; k < wf->steps[v].nsources; k++) {
            const mt__source_t *src = &wf->steps[v].sources[k];
            if (src->pub.kind == MT_WF_FROM_STEP && !placed[src->pub.step]) {
                up = src->pub.step;
                break;
            }
        }
        v = up;
    }
    /* path[pos[v]..len-1]: each step is fed by the next, the last by the first. Reverse for the data flow. */
    size_t start = (size_t)pos[v], m = len - start, first = 0;
    for (size_t t = 0; t < m; t++)
        flow[t] = path[start + (t == 0 ? 0 : m - t)];
    for (size_t t = 1; t < m; t++)
        if (flow[t] < flow[first])
            first = t;
    mt_value_buf_t msg = { 0 };
    for (size_t t = 0; t <= m; t++) {
        const char *id = wf->steps[flow[(first + t) % m]].id;
        if (t)
            mt_value_buf_add(&msg, " -> ", 4);
        mt_value_buf_add(&msg, "'", 1);
        mt_value_buf_add(&msg, id, strlen(id));
        mt_value_buf_add(&msg, "'", 1);
    }
    mt__fail(p, 0, "steps %s form a cycle", msg.data);
    free(msg.data);
    free(path);
    free(flow);
    free(pos);
    return -1;
}

/*
 * Kahn's algorithm: repeatedly place the first step in document order whose
 * upstream steps are all placed. Then store the steps in that order and
 * renumber the step references.
 */
static int mt__order_steps(mt__parse_t *p)
{
    mt_workflow_t *wf = p->wf;
    size_t n = wf->nsteps;
    size_t *waiting = mt_calloc(n, sizeof *waiting); /* upstream references not yet placed */
    size_t *order = mt_malloc(n * sizeof *order), *rank = mt_malloc(n * sizeof *rank);
    bool *placed = mt_calloc(n, sizeof *placed);
    int rc = 0;

    for (size_t j = 0; j < n; j++)
        for (size_t k = 0; k < wf->steps[j].nsources; k++)
            waiting[j] += wf->steps[j].sources[k].pub.kind == MT_WF_FROM_STEP;
    for (size_t placed_count = 0; placed_count < n; placed_count++) {
        size_t i;
        for (i = 0; i < n; i++)
            if (!placed[i] && waiting[i] == 0)
                break;
        if (i == n) {
            rc = mt__report_cycle(p, placed);
            goto out;
        }
        placed[i] = true;
        order[placed_count] = i;
        rank[i] = placed_count;
        for (size_t j = 0; j < n; j++)
            for (size_t k = 0; k < wf->steps[j].nsources; k++)
                if (wf->steps[j].sources[k].pub.kind == MT_WF_FROM_STEP && wf->steps[j].sources[k].pub.step == i)
                    waiting[j]--;
    }

    mt__step_t *sorted = mt_malloc(n * sizeof *sorted);
    for (size_t k = 0; k < n; k++) {
        sorted[k] = wf->steps[order[k]];
        for (size_t s = 0; s < sorted[k].nsources; s++)
            if (sorted[k].sources[s].pub.kind == MT_WF_FROM_STEP)
                sorted[k].sources[s].pub.step = rank[sorted[k].sources[s].pub.step];
    }
    free(wf->steps);
    wf->steps = sorted;

out:
    free(waiting);
    free(order);
    free(rank);
    free(placed);
    return rc;
}

/* ------------------------------------------------------------------ */
/* The document                                                        */
/* ------------------------------------------------------------------ */

enum { WK_ID, WK_NAME, WK_DESCRIPTION, WK_INPUTS, WK_STEPS, WK_COUNT };
static const char *const mt__root_keys[WK_COUNT] = { "id", "name", "description", "inputs", "steps" };

static int mt__load_root(mt__parse_t *p, struct fy_node *root)
{
    mt_workflow_t *wf = p->wf;
    mt__slot_t s[WK_COUNT];
    char q[MT__QUOTE_BUF];

    if (mt_yaml_is_null(root))
        return mt__fail(p, 1, "empty workflow (expected id, steps, ...)");
    int line = mt_yaml_node_line(root, 1);
    if (fy_node_get_type(root) != FYNT_MAPPING)
        return mt__fail(p, line, "expected a mapping at the top level (id: ..., steps: ...)");
    if (mt__collect(p, root, line, NULL, mt__root_keys, WK_COUNT, s) < 0)
        return -1;

    if (!s[WK_ID].present)
        return mt__fail(p, line, "missing 'id'");
    int idline = mt__slot_line(&s[WK_ID]);
    if (mt__text(p, s[WK_ID].node, idline, "id", &wf->id) < 0)
        return -1;
    if (!mt_value_is_id(wf->id, MT__WF_ID_MAX))
        return mt__fail(p, idline,
                        "id '%s' must be letters, digits, '.', '_' and '-', starting with a letter or digit, "
                        "at most %d bytes",
                        mt_value_quote(wf->id, strlen(wf->id), q), MT__WF_ID_MAX);
    if (s[WK_NAME].present) {
        int l = mt__slot_line(&s[WK_NAME]);
        if (mt__text(p, s[WK_NAME].node, l, "name", &wf->name) < 0)
            return -1;
        if (!wf->name[0]) /* a quoted "" is a scalar, not null */
            return mt__fail(p, l, "name must not be empty");
    } else {
        wf->name = mt_strdup(wf->id);
    }
    if (s[WK_DESCRIPTION].node &&
        mt__text(p, s[WK_DESCRIPTION].node, mt__slot_line(&s[WK_DESCRIPTION]), "description", &wf->description) < 0)
        return -1;

    if (mt__load_inputs(p, &s[WK_INPUTS]) < 0)
        return -1;
    if (!s[WK_STEPS].present)
        return mt__fail(p, line, "missing 'steps' (a workflow needs at least one step)");
    if (mt__load_steps(p, &s[WK_STEPS]) < 0 || mt__link_steps(p) < 0 || mt__order_steps(p) < 0)
        return -1;
    return 0;
}

int mt_workflow_parse(const char *text, size_t len, const char *origin, const mt_toolbox_t *tools,
                      mt_workflow_t **out, char *err, size_t errlen)
{
    mt__parse_t p = { origin ? origin : "workflow", tools, err, errlen, NULL, NULL };
    mt_yaml_doc_t y = {0};
    int rc = -1;

    *out = NULL;
    if (err && errlen)
        err[0] = '\0';
    if (!text)
        len = 0;
    if (len > MT__WF_TEXT_MAX)
        return mt__fail(&p, 0, "larger than 1 MiB: not a workflow");
    if (len == 0)
        return mt__fail(&p, 1, "empty workflow (expected id, steps, ...)");
    int bad_line;
    unsigned char bad;
    if (mt_yaml_check_utf8(text, len, true, &bad_line, &bad) < 0) {
        if (bad == 0)
            return mt__fail(&p, bad_line, "a NUL byte: a workflow must be text");
        return mt__fail(&p, bad_line, "not UTF-8 (byte 0x%02x): a workflow must be UTF-8", bad);
    }

    int yline;
    char why[512];
    /* Duplicate keys in n log n: libfyaml's own check is quadratic, and bodies come from requests. */
    if (mt_yaml_parse_unique(text, len, &y, &yline, why, sizeof why) < 0) {
        mt__fail(&p, yline, "%s", why);
        goto done;
    }
    p.wf = mt_calloc(1, sizeof *p.wf);
    rc = mt__load_root(&p, y.doc ? fy_document_root(y.doc) : NULL);
    if (rc == 0) {
        *out = p.wf;
        p.wf = NULL;
    }

done:
    mt_workflow_free(p.wf);
    free(p.step_tools);
    mt_yaml_doc_free(&y);
    return rc;
}

int mt_workflow_load_file(const char *path, const mt_toolbox_t *tools, mt_workflow_t **out, char *err,
                          size_t errlen)
{
    struct stat st;
    *out = NULL;
    if (stat(path, &st) != 0) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        mt_message_one_line(err, errlen);
        return -1;
    }
    if (!S_ISREG(st.st_mode) || st.st_size > MT__WF_TEXT_MAX) {
        snprintf(err, errlen, "%s: %s", path,
                 S_ISREG(st.st_mode) ? "larger than 1 MiB: not a workflow" : "not a regular file");
        mt_message_one_line(err, errlen);
        return -1;
    }
    FILE *fp = fopen(path, "r");
    if (!fp) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        mt_message_one_line(err, errlen);
        return -1;
    }
    char *text = mt_malloc(MT__WF_TEXT_MAX + 1);
    size_t n = fread(text, 1, MT__WF_TEXT_MAX + 1, fp);
    bool failed = ferror(fp);
    fclose(fp);
    if (failed) {
        snprintf(err, errlen, "%s: cannot read", path);
        mt_message_one_line(err, errlen);
        free(text);
        return -1;
    }
    /* A file that grew past the limit since stat() is refused by the parse. */
    int rc = mt_workflow_parse(text, n, path, tools, out, err, errlen);
    free(text);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Accessors                                                           */
/* ------------------------------------------------------------------ */

const char *mt_workflow_id(const mt_workflow_t *wf) { return wf->id; }
const char *mt_workflow_name(const mt_workflow_t *wf) { return wf->name; }
const char *mt_workflow_description(const mt_workflow_t *wf) { return wf->description; }

size_t mt_workflow_input_count(const mt_workflow_t *wf) { return wf->ninputs; }

const char *mt_workflow_input_name(const mt_workflow_t *wf, size_t i)
{
    return i < wf->ninputs ? wf->inputs[i].name : NULL;
}

mt_tool_input_type_t mt_workflow_input_type(const mt_workflow_t *wf, size_t i)
{
    return i < wf->ninputs ? wf->inputs[i].type : MT_TOOL_INPUT_TEXT;
}

const json_t *mt_workflow_input_default(const mt_workflow_t *wf, size_t i)
{
    return i < wf->ninputs ? wf->inputs[i].default_value : NULL;
}

size_t mt_workflow_step_count(const mt_workflow_t *wf) { return wf->nsteps; }

const char *mt_workflow_step_id(const mt_workflow_t *wf, size_t step)
{
    return step < wf->nsteps ? wf->steps[step].id : NULL;
}

const char *mt_workflow_step_tool(const mt_workflow_t *wf, size_t step)
{
    return step < wf->nsteps ? wf->steps[step].tool_id : NULL;
}

size_t mt_workflow_step_source_count(const mt_workflow_t *wf, size_t step)
{
    return step < wf->nsteps ? wf->steps[step].nsources : 0;
}

const mt_wf_source_t *mt_workflow_step_source(const mt_workflow_t *wf, size_t step, size_t i)
{
    if (step >= wf->nsteps || i >= wf->steps[step].nsources)
        return NULL;
    return &wf->steps[step].sources[i].pub;
}

int mt_workflow_find_step(const mt_workflow_t *wf, const char *id)
{
    for (size_t i = 0; i < wf->nsteps; i++)
        if (strcmp(wf->steps[i].id, id) == 0)
            return (int)i;
    return -1;
}

/* ------------------------------------------------------------------ */
/* Invocations and JSON                                                */
/* ------------------------------------------------------------------ */

int mt_workflow_check_inputs(const mt_workflow_t *wf, const json_t *inputs, json_t **normalized_out, char *err,
                             size_t errlen)
{
    char q[MT__QUOTE_BUF], reason[512];
    const char *key;
    json_t *value;

    *normalized_out = NULL;
    if (inputs && json_is_null(inputs))
        inputs = NULL;
    if (inputs && !json_is_object(inputs)) {
        snprintf(err, errlen, "inputs must be a JSON object, got %s", mt_value_json_kind(inputs));
        return -1;
    }
    if (inputs) {
        json_object_foreach((json_t *)inputs, key, value) {
            if (mt__find_input(wf, key))
                continue;
            mt_value_buf_t list = { 0 };
            for (size_t i = 0; i < wf->ninputs; i++)
                mt__buf_add_list(&list, wf->inputs[i].name);
            snprintf(err, errlen, "unknown input '%s' (workflow '%s' has %s%s)", mt_value_quote(key, strlen(key), q), wf->id,
                     list.data ? "inputs " : "no inputs", list.data ? list.data : "");
            free(list.data);
            mt_message_one_line(err, errlen);
            return -1;
        }
    }

    json_t *normalized = json_object();
    for (size_t i = 0; i < wf->ninputs; i++) {
        const mt__wf_input_t *in = &wf->inputs[i];
        json_t *checked = NULL;
        value = inputs ? json_object_get(inputs, in->name) : NULL;
        if (!value && !in->default_value) {
            snprintf(err, errlen, "input '%s' is required", in->name);
            json_decref(normalized);
            return -1;
        }
        if (!value) {
            checked = json_incref(in->default_value);
        } else if (mt__check_type(in->type, value, &checked, reason, sizeof reason) < 0) {
            snprintf(err, errlen, "input '%s': %s", in->name, reason);
            mt_message_one_line(err, errlen);
            json_decref(normalized);
            return -1;
        }
        json_object_set_new(normalized, in->name, checked);
    }
    *normalized_out = normalized;
    return 0;
}

json_t *mt_workflow_to_json(const mt_workflow_t *wf)
{
    json_t *doc = json_object();
    json_object_set_new(doc, "id", json_string(wf->id));
    json_object_set_new(doc, "name", json_string(wf->name));
    json_object_set_new(doc, "description", wf->description ? json_string(wf->description) : json_null());

    json_t *inputs = json_array();
    for (size_t i = 0; i < wf->ninputs; i++) {
        const mt__wf_input_t *in = &wf->inputs[i];
        json_t *o = json_object();
        json_object_set_new(o, "name", json_string(in->name));
        json_object_set_new(o, "type", json_string(mt_tool_input_type_name(in->type)));
        if (in->default_value)
            json_object_set(o, "default", in->default_value);
        json_array_append_new(inputs, o);
    }
    json_object_set_new(doc, "inputs", inputs);

    json_t *steps = json_array();
    for (size_t i = 0; i < wf->nsteps; i++) {
        const mt__step_t *step = &wf->steps[i];
        json_t *o = json_object(), *sources = json_object();
        json_object_set_new(o, "id", json_string(step->id));
        json_object_set_new(o, "tool", json_string(step->tool_id));
        for (size_t k = 0; k < step->nsources; k++) {
            const mt_wf_source_t *src = &step->sources[k].pub;
            json_t *v = NULL;
            switch (src->kind) {
            case MT_WF_FROM_LITERAL:
                v = json_incref((json_t *)src->literal);
                break;
            case MT_WF_FROM_INPUT:
                v = json_pack("{s:s}", "input", src->input);
                break;
            case MT_WF_FROM_STEP:
                v = json_pack("{s:s, s:s}", "step", wf->steps[src->step].id, "output", src->output);
                break;
            }
            json_object_set_new(sources, src->tool_input, v);
        }
        json_object_set_new(o, "inputs", sources);
        json_array_append_new(steps, o);
    }
    json_object_set_new(doc, "steps", steps);
    return doc;
}
