/*
 * tools: tool files (YAML, read with libfyaml) into immutable mt_tool_t
 * records, request inputs into normalized parameters, parameters into an
 * argv. See tools.h for the file format and docs/tools.md for operators.
 *
 * Loading is strict because it runs once, in the master, before anything is
 * forked: every key is known or an error, every placeholder names an input,
 * argv[0] is an executable file, defaults obey their own limits. Validation
 * is strict because its input comes from the network. argv building trusts
 * the structure of the parameters (they were validated when the job was
 * created) but still checks each value's type and NUL bytes, since they come
 * back from the database and the tool may have changed in between.
 *
 * libfyaml 0.7 (Debian) has no public fy_node_get_start_mark(): as in
 * config_yaml.c, line numbers come from scalar tokens, and a collection's
 * line is that of its first scalar. Files are checked to be UTF-8 without
 * NUL bytes before libfyaml sees them (it can loop forever on malformed
 * UTF-8), and parsed with duplicate keys refused.
 *
 * Numbers are parsed and printed with strtod / snprintf, which follow
 * LC_NUMERIC: muleteer never calls setlocale(), so that is the C locale.
 */
#include "app/model/tools.h"

#include <dirent.h>
#include <errno.h>
#include <libfyaml.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "app/model/values.h"
#include "common/mem.h"
#include "common/yaml.h"
#include "common/message.h"

#define MT__TOOL_ID_MAX 128
#define MT__NAME_MAX 64             /* input and output names */
#define MT__FILE_MAX (1024 * 1024)  /* a tool file larger than this is surely not one */
#define MT__ARG_MAX 131072          /* Linux MAX_ARG_STRLEN: one argv element, with its NUL */
#define MT__QUOTE_MAX MT_VALUE_QUOTE_MAX            /* bytes of a value quoted in an error message */
#define MT__QUOTE_BUF MT_VALUE_QUOTE_BUF
#define MT__WHERE_BUF (MT__QUOTE_BUF + 32) /* "input 'NAME': " */
#define MT__WHAT_BUF (MT__WHERE_BUF + 32)  /* "input 'NAME': max_length" */

/* ------------------------------------------------------------------ */
/* Records                                                             */
/* ------------------------------------------------------------------ */

/* One piece of a command element: literal text, or an input's value. */
typedef struct mt__piece {
    char *text; /* literal text (braces unescaped), NULL for a placeholder */
    int input;  /* index into tool->inputs for a placeholder, -1 for text */
} mt__piece_t;

/* One command element: the concatenation of its pieces. */
typedef struct mt__arg {
    mt__piece_t *pieces;
    size_t npieces;
} mt__arg_t;

typedef struct mt__input {
    char *name;
    mt_tool_input_type_t type;
    char *label;          /* NULL if none */
    char *description;    /* NULL if none */
    json_t *default_value; /* normalized like a request's value; NULL: required */
    json_t *min, *max;    /* integer / float bounds (JSON integer or real), NULL: unbounded */
    size_t max_length;    /* text only */
    char **options;       /* select only */
    size_t noptions;
    char *truevalue, *falsevalue; /* boolean only */
} mt__input_t;

typedef struct mt__output {
    char *name;
    char *path; /* NULL: from stdout */
} mt__output_t;

struct mt_tool {
    char *id, *version, *name, *description;
    char *origin; /* "FILE:LINE" of the id */
    size_t load_index; /* position in load order, to report duplicates in file order */
    mt__arg_t *command;
    size_t ncommand;
    mt__input_t *inputs;
    size_t ninputs;
    mt__output_t *outputs;
    size_t noutputs;
    double walltime; /* seconds, 0: none */
    char **environment; /* "KEY=VALUE", NULL-terminated */
    size_t nenvironment;
};

struct mt_toolbox {
    mt_tool_t **tools; /* sorted by id */
    size_t count;
};

static const char *const mt__type_names[] = {
    [MT_TOOL_INPUT_INTEGER] = "integer", [MT_TOOL_INPUT_FLOAT] = "float",
    [MT_TOOL_INPUT_TEXT] = "text",       [MT_TOOL_INPUT_BOOLEAN] = "boolean",
    [MT_TOOL_INPUT_SELECT] = "select",   [MT_TOOL_INPUT_DATA] = "data",
};
#define MT__NTYPES (sizeof mt__type_names / sizeof mt__type_names[0])

static void mt__input_free(mt__input_t *in)
{
    free(in->name);
    free(in->label);
    free(in->description);
    json_decref(in->default_value);
    json_decref(in->min);
    json_decref(in->max);
    for (size_t i = 0; i < in->noptions; i++)
        free(in->options[i]);
    free(in->options);
    free(in->truevalue);
    free(in->falsevalue);
}

static void mt__tool_free(mt_tool_t *tool)
{
    if (!tool)
        return;
    free(tool->id);
    free(tool->version);
    free(tool->name);
    free(tool->description);
    free(tool->origin);
    for (size_t i = 0; i < tool->ncommand; i++) {
        for (size_t k = 0; k < tool->command[i].npieces; k++)
            free(tool->command[i].pieces[k].text);
        free(tool->command[i].pieces);
    }
    free(tool->command);
    for (size_t i = 0; i < tool->ninputs; i++)
        mt__input_free(&tool->inputs[i]);
    free(tool->inputs);
    for (size_t i = 0; i < tool->noutputs; i++) {
        free(tool->outputs[i].name);
        free(tool->outputs[i].path);
    }
    free(tool->outputs);
    for (size_t i = 0; i < tool->nenvironment; i++)
        free(tool->environment[i]);
    free(tool->environment);
    free(tool);
}

/* ------------------------------------------------------------------ */
/* Small helpers                                                       */
/* ------------------------------------------------------------------ */

/*
 * The shortest text that reads back as v: integral values without an
 * exponent ("3600", not "3.6e+03"), others in %g form ("0.25", "1e-07").
 */
static void mt__format_double(double v, char *out, size_t outlen)
{
    if (v == 0) {
        snprintf(out, outlen, "0"); /* also for -0 */
        return;
    }
    if (v > -1e15 && v < 1e15 && v == (double)(long long)v) {
        snprintf(out, outlen, "%lld", (long long)v);
        return;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(out, outlen, "%.*g", prec, v);
        if (strtod(out, NULL) == v)
            return;
    }
}

/* ------------------------------------------------------------------ */
/* Values: checks shared by defaults (at load) and requests            */
/* ------------------------------------------------------------------ */

/*
 * Check a value of a non-data input and normalize it: *out gets a new
 * reference to an integer, real, string or boolean. On failure -EINVAL and
 * the reason in err, without the input's name (callers prefix it).
 */
static int mt__check_value(const mt__input_t *in, const json_t *value, json_t **out, char *err, size_t errlen)
{
    char q[MT__QUOTE_BUF];
    const char *text = json_is_string(value) ? json_string_value(value) : NULL;
    size_t textlen = text ? json_string_length(value) : 0;

    *out = NULL;
    switch (in->type) {
    case MT_TOOL_INPUT_INTEGER: {
        json_int_t v;
        if (json_is_integer(value)) {
            v = json_integer_value(value);
        } else if (text) {
            int rc = mt_value_json_has_nul(value) ? -1 : mt_value_parse_int(text, &v);
            if (rc == -ERANGE) {
                snprintf(err, errlen, "%s is out of range", mt_value_quote(text, textlen, q));
                return -EINVAL;
            }
            if (rc < 0) {
                snprintf(err, errlen, "expected an integer, got the string '%s'", mt_value_quote(text, textlen, q));
                return -EINVAL;
            }
        } else {
            snprintf(err, errlen, "expected an integer, got %s", mt_value_json_kind(value));
            return -EINVAL;
        }
        if (in->min && v < json_integer_value(in->min)) {
            snprintf(err, errlen, "%" JSON_INTEGER_FORMAT " is below the minimum %" JSON_INTEGER_FORMAT, v,
                     json_integer_value(in->min));
            return -EINVAL;
        }
        if (in->max && v > json_integer_value(in->max)) {
            snprintf(err, errlen, "%" JSON_INTEGER_FORMAT " is above the maximum %" JSON_INTEGER_FORMAT, v,
                     json_integer_value(in->max));
            return -EINVAL;
        }
        *out = json_integer(v);
        return 0;
    }
    case MT_TOOL_INPUT_FLOAT: {
        double v;
        char a[32], b[32];
        if (json_is_number(value)) {
            v = json_number_value(value);
        } else if (text) {
            int rc = mt_value_json_has_nul(value) ? -1 : mt_value_parse_float(text, &v);
            if (rc == -ERANGE) {
                snprintf(err, errlen, "%s is out of range", mt_value_quote(text, textlen, q));
                return -EINVAL;
            }
            if (rc < 0) {
                snprintf(err, errlen, "expected a number, got the string '%s'", mt_value_quote(text, textlen, q));
                return -EINVAL;
            }
        } else {
            snprintf(err, errlen, "expected a number, got %s", mt_value_json_kind(value));
            return -EINVAL;
        }
        if (in->min && v < json_number_value(in->min)) {
            mt__format_double(v, a, sizeof a);
            mt__format_double(json_number_value(in->min), b, sizeof b);
            snprintf(err, errlen, "%s is below the minimum %s", a, b);
            return -EINVAL;
        }
        if (in->max && v > json_number_value(in->max)) {
            mt__format_double(v, a, sizeof a);
            mt__format_double(json_number_value(in->max), b, sizeof b);
            snprintf(err, errlen, "%s is above the maximum %s", a, b);
            return -EINVAL;
        }
        *out = json_real(v);
        return 0;
    }
    case MT_TOOL_INPUT_TEXT:
        if (!text) {
            snprintf(err, errlen, "expected a string, got %s", mt_value_json_kind(value));
            return -EINVAL;
        }
        if (mt_value_json_has_nul(value)) {
            snprintf(err, errlen, "contains a NUL byte");
            return -EINVAL;
        }
        if (textlen > in->max_length) {
            snprintf(err, errlen, "%zu bytes long, more than the maximum %zu", textlen, in->max_length);
            return -EINVAL;
        }
        *out = json_stringn(text, textlen);
        return 0;
    case MT_TOOL_INPUT_BOOLEAN:
        if (json_is_boolean(value)) {
            *out = json_boolean(json_is_true(value));
            return 0;
        }
        if (text && !mt_value_json_has_nul(value) && (!strcmp(text, "true") || !strcmp(text, "false"))) {
            *out = json_boolean(text[0] == 't');
            return 0;
        }
        if (text)
            snprintf(err, errlen, "expected true or false, got the string '%s'", mt_value_quote(text, textlen, q));
        else
            snprintf(err, errlen, "expected true or false, got %s", mt_value_json_kind(value));
        return -EINVAL;
    case MT_TOOL_INPUT_SELECT:
        if (!text) {
            snprintf(err, errlen, "expected one of the options as a string, got %s", mt_value_json_kind(value));
            return -EINVAL;
        }
        for (size_t i = 0; i < in->noptions; i++) {
            if (!mt_value_json_has_nul(value) && strcmp(text, in->options[i]) == 0) {
                *out = json_stringn(text, textlen);
                return 0;
            }
        }
        mt_value_buf_t list = { 0 };
        for (size_t i = 0; i < in->noptions; i++) {
            if (i)
                mt_value_buf_add(&list, ", ", 2);
            mt_value_buf_add(&list, in->options[i], strlen(in->options[i]));
        }
        snprintf(err, errlen, "'%s' is not one of the options (%s)", mt_value_quote(text, textlen, q), list.data);
        free(list.data);
        return -EINVAL;
    case MT_TOOL_INPUT_DATA:
        break;
    }
    snprintf(err, errlen, "internal error: no check for this type");
    return -EINVAL;
}

/* ------------------------------------------------------------------ */
/* YAML                                                                */
/* ------------------------------------------------------------------ */

typedef struct mt__ctx {
    const char *file;
    char *err;
    size_t errlen;
} mt__ctx_t;

/* "FILE:LINE: message" into ctx->err (just "FILE: message" for line 0); returns -EINVAL. */
static int mt__error(mt__ctx_t *ctx, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int mt__error(mt__ctx_t *ctx, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    mt_message_vformat_at(ctx->err, ctx->errlen, ctx->file, line, fmt, ap);
    va_end(ap);
    return -EINVAL;
}

/*
 * The text of a non-null scalar as a new string in *out; otherwise an error
 * "WHAT must be a single value" (or "... must not be empty"). `what` names
 * the key for the message.
 */
static int mt__scalar(mt__ctx_t *ctx, struct fy_node *node, int line, const char *what, char **out)
{
    char why[64];
    if (mt_yaml_scalar_dup(node, out, why, sizeof why) < 0)
        return mt__error(ctx, line, "%s %s", what, why);
    return 0;
}

/* A mapping's value slot, filled by mt__collect. */
typedef struct mt__slot {
    struct fy_node *node; /* the value, aliases followed; NULL for a null value */
    int line;             /* the key's line */
    bool present;
} mt__slot_t;

/*
 * Sort the pairs of `map` into slots by key (keys[i] -> slots[i]). An
 * unknown key, a non-scalar key or a broken alias is an error prefixed by
 * `where`. libfyaml has already refused repeated keys.
 */
static int mt__collect(mt__ctx_t *ctx, struct fy_node *map, int line, const char *where, const char *const *keys,
                       size_t nkeys, mt__slot_t *slots)
{
    void *iter = NULL;
    struct fy_node_pair *pair;
    char q[MT__QUOTE_BUF];

    memset(slots, 0, nkeys * sizeof *slots);
    while ((pair = fy_node_mapping_iterate(map, &iter))) {
        struct fy_node *knode = fy_node_pair_key(pair);
        int kline = mt_yaml_node_line(knode, line);
        if (!knode || fy_node_get_type(knode) != FYNT_SCALAR || mt_yaml_is_null(knode))
            return mt__error(ctx, kline, "%skeys must be plain names", where);
        size_t klen;
        const char *key = fy_node_get_scalar(knode, &klen);
        size_t i;
        for (i = 0; i < nkeys; i++)
            if (strlen(keys[i]) == klen && memcmp(keys[i], key, klen) == 0)
                break;
        if (i == nkeys) {
            mt_value_buf_t list = { 0 };
            for (size_t k = 0; k < nkeys; k++) {
                if (k)
                    mt_value_buf_add(&list, ", ", 2);
                mt_value_buf_add(&list, keys[k], strlen(keys[k]));
            }
            mt__error(ctx, kline, "%sunknown key '%s' (expected %s)", where, mt_value_quote(key, klen, q), list.data);
            free(list.data);
            return -EINVAL;
        }
        bool broken;
        slots[i].node = mt_yaml_deref(fy_node_pair_value(pair), &broken);
        if (broken)
            return mt__error(ctx, kline, "%s%s: unresolvable alias", where, keys[i]);
        if (mt_yaml_is_null(slots[i].node))
            slots[i].node = NULL;
        slots[i].line = kline;
        slots[i].present = true;
    }
    return 0;
}

/* The line of a slot's value, falling back to its key's. */
static int mt__slot_line(const mt__slot_t *slot)
{
    return mt_yaml_node_line(slot->node, slot->line);
}

/* ------------------------------------------------------------------ */
/* Loading: inputs                                                     */
/* ------------------------------------------------------------------ */

enum {
    IK_NAME, IK_TYPE, IK_LABEL, IK_DESCRIPTION, IK_DEFAULT, IK_MAX_LENGTH, IK_MIN, IK_MAX, IK_OPTIONS,
    IK_TRUEVALUE, IK_FALSEVALUE, IK_COUNT
};
static const char *const mt__input_keys[IK_COUNT] = {
    "name", "type", "label", "description", "default", "max_length", "min", "max", "options", "truevalue", "falsevalue",
};
#define T(x) (1u << MT_TOOL_INPUT_##x)
/* Types each key applies to. */
static const unsigned mt__input_key_types[IK_COUNT] = {
    [IK_NAME] = ~0u,
    [IK_TYPE] = ~0u,
    [IK_LABEL] = ~0u,
    [IK_DESCRIPTION] = ~0u,
    [IK_DEFAULT] = ~0u & ~T(DATA),
    [IK_MAX_LENGTH] = T(TEXT),
    [IK_MIN] = T(INTEGER) | T(FLOAT),
    [IK_MAX] = T(INTEGER) | T(FLOAT),
    [IK_OPTIONS] = T(SELECT),
    [IK_TRUEVALUE] = T(BOOLEAN),
    [IK_FALSEVALUE] = T(BOOLEAN),
};
#undef T

/* A number from YAML for an integer or float input ("min", "max"). */
static int mt__yaml_number(mt__ctx_t *ctx, const mt__input_t *in, const mt__slot_t *slot, const char *where,
                           const char *key, json_t **out)
{
    char *text, q[MT__QUOTE_BUF];
    int line = mt__slot_line(slot);
    char what[MT__WHAT_BUF];
    snprintf(what, sizeof what, "%s%s", where, key);
    if (mt__scalar(ctx, slot->node, line, what, &text) < 0)
        return -EINVAL;
    int rc;
    if (in->type == MT_TOOL_INPUT_INTEGER) {
        json_int_t v;
        rc = mt_value_parse_int(text, &v);
        if (rc == 0)
            *out = json_integer(v);
    } else {
        double v;
        rc = mt_value_parse_float(text, &v);
        if (rc == 0)
            *out = json_real(v);
    }
    if (rc < 0)
        mt__error(ctx, line, "%s: '%s' is not %s", what, mt_value_quote(text, strlen(text), q),
                  rc == -ERANGE ? "in range" : in->type == MT_TOOL_INPUT_INTEGER ? "an integer" : "a number");
    free(text);
    return rc < 0 ? -EINVAL : 0;
}

/* The default from YAML, as the JSON value a request would give, then checked like one. */
static int mt__yaml_default(mt__ctx_t *ctx, mt__input_t *in, const mt__slot_t *slot, const char *where)
{
    char *text, what[MT__WHAT_BUF], q[MT__QUOTE_BUF], reason[512];
    int line = mt__slot_line(slot);
    json_t *value = NULL;

    snprintf(what, sizeof what, "%sdefault", where);
    if (mt__scalar(ctx, slot->node, line, what, &text) < 0)
        return -EINVAL;
    switch (in->type) {
    case MT_TOOL_INPUT_BOOLEAN:
        if (!strcmp(text, "true") || !strcmp(text, "True") || !strcmp(text, "TRUE"))
            value = json_true();
        else if (!strcmp(text, "false") || !strcmp(text, "False") || !strcmp(text, "FALSE"))
            value = json_false();
        break;
    case MT_TOOL_INPUT_INTEGER:
    case MT_TOOL_INPUT_FLOAT:
    case MT_TOOL_INPUT_TEXT:
    case MT_TOOL_INPUT_SELECT:
        value = json_string(text); /* NULL if not UTF-8, which the file check rules out */
        break;
    case MT_TOOL_INPUT_DATA:
        break;
    }
    if (!value) {
        mt__error(ctx, line, "%s: '%s' is not %s", what, mt_value_quote(text, strlen(text), q),
                  in->type == MT_TOOL_INPUT_BOOLEAN ? "true or false" : "valid text");
        free(text);
        return -EINVAL;
    }
    free(text);
    int rc = mt__check_value(in, value, &in->default_value, reason, sizeof reason);
    json_decref(value);
    if (rc < 0)
        return mt__error(ctx, line, "%s: %s", what, reason);
    return 0;
}

static int mt__load_input(mt__ctx_t *ctx, mt_tool_t *tool, struct fy_node *map, int line, size_t index)
{
    mt__input_t *in = &tool->inputs[index];
    mt__slot_t s[IK_COUNT];
    char where[MT__WHERE_BUF], q[MT__QUOTE_BUF], *text = NULL;

    in->max_length = MT_TOOL_TEXT_DEFAULT_MAX;
    /* Name the input in every message if it has a usable name. */
    snprintf(where, sizeof where, "inputs[%zu]: ", index);
    struct fy_node *name_node = fy_node_mapping_lookup_by_string(map, "name", 4);
    if (name_node && fy_node_get_type(name_node) == FYNT_SCALAR && !mt_yaml_is_null(name_node)) {
        size_t len;
        const char *name = fy_node_get_scalar(name_node, &len);
        snprintf(where, sizeof where, "input '%s': ", mt_value_quote(name, len, q));
    }
    if (mt__collect(ctx, map, line, where, mt__input_keys, IK_COUNT, s) < 0)
        return -EINVAL;

    if (!s[IK_NAME].present)
        return mt__error(ctx, line, "%smissing 'name'", where);
    if (mt__scalar(ctx, s[IK_NAME].node, mt__slot_line(&s[IK_NAME]), "input name", &in->name) < 0)
        return -EINVAL;
    if (!mt_value_is_name(in->name, MT__NAME_MAX))
        return mt__error(ctx, mt__slot_line(&s[IK_NAME]),
                         "input name '%s' is not a name ([A-Za-z_][A-Za-z0-9_]*, at most %d bytes)",
                         mt_value_quote(in->name, strlen(in->name), q), MT__NAME_MAX);
    for (size_t i = 0; i < index; i++)
        if (strcmp(tool->inputs[i].name, in->name) == 0)
            return mt__error(ctx, mt__slot_line(&s[IK_NAME]), "input '%s' declared twice", in->name);

    if (!s[IK_TYPE].present)
        return mt__error(ctx, line, "%smissing 'type' (integer, float, text, boolean, select or data)", where);
    int tline = mt__slot_line(&s[IK_TYPE]);
    if (mt__scalar(ctx, s[IK_TYPE].node, tline, "type", &text) < 0)
        return -EINVAL;
    size_t t;
    for (t = 0; t < MT__NTYPES; t++)
        if (strcmp(text, mt__type_names[t]) == 0)
            break;
    if (t == MT__NTYPES) {
        mt__error(ctx, tline, "%stype '%s' is not integer, float, text, boolean, select or data", where,
                  mt_value_quote(text, strlen(text), q));
        free(text);
        return -EINVAL;
    }
    free(text);
    text = NULL;
    in->type = (mt_tool_input_type_t)t;

    for (size_t k = 0; k < IK_COUNT; k++)
        if (s[k].present && !(mt__input_key_types[k] & (1u << in->type)))
            return mt__error(ctx, s[k].line, "%s'%s' does not apply to a %s input", where, mt__input_keys[k],
                             mt__type_names[in->type]);

    char what[MT__WHAT_BUF];
    if (s[IK_LABEL].present && s[IK_LABEL].node) {
        snprintf(what, sizeof what, "%slabel", where);
        if (mt__scalar(ctx, s[IK_LABEL].node, mt__slot_line(&s[IK_LABEL]), what, &in->label) < 0)
            return -EINVAL;
    }
    if (s[IK_DESCRIPTION].present && s[IK_DESCRIPTION].node) {
        snprintf(what, sizeof what, "%sdescription", where);
        if (mt__scalar(ctx, s[IK_DESCRIPTION].node, mt__slot_line(&s[IK_DESCRIPTION]), what, &in->description) < 0)
            return -EINVAL;
    }

    if (s[IK_MAX_LENGTH].present) {
        int l = mt__slot_line(&s[IK_MAX_LENGTH]);
        json_int_t n = -1;
        snprintf(what, sizeof what, "%smax_length", where);
        if (mt__scalar(ctx, s[IK_MAX_LENGTH].node, l, what, &text) < 0)
            return -EINVAL;
        int rc = mt_value_parse_int(text, &n);
        free(text);
        text = NULL;
        if (rc < 0 || n < 0 || n > MT_TOOL_TEXT_LIMIT)
            return mt__error(ctx, l, "%s must be an integer in [0, %d] (bytes)", what, MT_TOOL_TEXT_LIMIT);
        in->max_length = (size_t)n;
    }
    if (s[IK_MIN].present && mt__yaml_number(ctx, in, &s[IK_MIN], where, "min", &in->min) < 0)
        return -EINVAL;
    if (s[IK_MAX].present && mt__yaml_number(ctx, in, &s[IK_MAX], where, "max", &in->max) < 0)
        return -EINVAL;
    if (in->min && in->max && json_number_value(in->min) > json_number_value(in->max))
        return mt__error(ctx, s[IK_MAX].line, "%smin is greater than max", where);

    if (in->type == MT_TOOL_INPUT_SELECT) {
        struct fy_node *seq = s[IK_OPTIONS].node;
        int l = s[IK_OPTIONS].present ? mt__slot_line(&s[IK_OPTIONS]) : line;
        if (!seq || fy_node_get_type(seq) != FYNT_SEQUENCE || fy_node_sequence_item_count(seq) <= 0)
            return mt__error(ctx, l, "%sa select input needs 'options', a non-empty list", where);
        in->options = mt_calloc((size_t)fy_node_sequence_item_count(seq), sizeof *in->options);
        void *iter = NULL;
        struct fy_node *item;
        snprintf(what, sizeof what, "%soption", where);
        while ((item = fy_node_sequence_iterate(seq, &iter))) {
            bool broken;
            int il = mt_yaml_node_line(item, l);
            item = mt_yaml_deref(item, &broken);
            if (broken)
                return mt__error(ctx, il, "%s: unresolvable alias", what);
            if (mt__scalar(ctx, item, il, what, &text) < 0)
                return -EINVAL;
            for (size_t i = 0; i < in->noptions; i++) {
                if (strcmp(in->options[i], text) == 0) {
                    mt__error(ctx, il, "%soption '%s' listed twice", where, mt_value_quote(text, strlen(text), q));
                    free(text);
                    return -EINVAL;
                }
            }
            in->options[in->noptions++] = text;
            text = NULL;
        }
    }

    if (in->type == MT_TOOL_INPUT_BOOLEAN) {
        snprintf(what, sizeof what, "%struevalue", where);
        if (s[IK_TRUEVALUE].present &&
            mt__scalar(ctx, s[IK_TRUEVALUE].node, mt__slot_line(&s[IK_TRUEVALUE]), what, &in->truevalue) < 0)
            return -EINVAL;
        snprintf(what, sizeof what, "%sfalsevalue", where);
        if (s[IK_FALSEVALUE].present &&
            mt__scalar(ctx, s[IK_FALSEVALUE].node, mt__slot_line(&s[IK_FALSEVALUE]), what, &in->falsevalue) < 0)
            return -EINVAL;
        if (!in->truevalue)
            in->truevalue = mt_strdup("true");
        if (!in->falsevalue)
            in->falsevalue = mt_strdup("false");
    }

    if (s[IK_DEFAULT].present && mt__yaml_default(ctx, in, &s[IK_DEFAULT], where) < 0)
        return -EINVAL;
    return 0;
}

static int mt__load_inputs(mt__ctx_t *ctx, mt_tool_t *tool, const mt__slot_t *slot)
{
    struct fy_node *seq = slot->node;
    if (!seq)
        return 0;
    if (fy_node_get_type(seq) != FYNT_SEQUENCE)
        return mt__error(ctx, slot->line, "inputs: expected a list of inputs (- name: ..., type: ...)");
    int n = fy_node_sequence_item_count(seq);
    tool->inputs = mt_calloc(n > 0 ? (size_t)n : 1, sizeof *tool->inputs);
    void *iter = NULL;
    struct fy_node *item;
    while ((item = fy_node_sequence_iterate(seq, &iter))) {
        bool broken;
        int line = mt_yaml_node_line(item, slot->line);
        item = mt_yaml_deref(item, &broken);
        if (broken || !item || fy_node_get_type(item) != FYNT_MAPPING)
            return mt__error(ctx, line, "inputs[%zu]: each input must be a mapping (name: ..., type: ...)",
                             tool->ninputs);
        /* Counted before loading, so that a half-loaded input is freed with the tool. */
        size_t index = tool->ninputs++;
        if (mt__load_input(ctx, tool, item, mt_yaml_node_line(item, line), index) < 0)
            return -EINVAL;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Loading: outputs, environment, command                              */
/* ------------------------------------------------------------------ */

enum { OK_NAME, OK_FROM, OK_PATH, OK_COUNT };
static const char *const mt__output_keys[OK_COUNT] = { "name", "from", "path" };

/* A relative path inside the working directory: not absolute, no ".." component, not "." itself. */
static bool mt__is_inside_path(const char *path)
{
    if (path[0] == '\0' || path[0] == '/')
        return false;
    bool only_dots = true;
    for (const char *p = path; *p;) {
        size_t n = strcspn(p, "/");
        if (n == 2 && p[0] == '.' && p[1] == '.')
            return false;
        if (n > 0 && !(n == 1 && p[0] == '.'))
            only_dots = false;
        p += n;
        p += *p == '/';
    }
    return !only_dots && path[strlen(path) - 1] != '/';
}

static int mt__load_output(mt__ctx_t *ctx, mt_tool_t *tool, struct fy_node *map, int line, size_t index)
{
    mt__output_t *out = &tool->outputs[index];
    mt__slot_t s[OK_COUNT];
    char where[64], q[MT__QUOTE_BUF], *from = NULL;

    snprintf(where, sizeof where, "outputs[%zu]: ", index);
    if (mt__collect(ctx, map, line, where, mt__output_keys, OK_COUNT, s) < 0)
        return -EINVAL;
    if (!s[OK_NAME].present)
        return mt__error(ctx, line, "%smissing 'name'", where);
    int nline = mt__slot_line(&s[OK_NAME]);
    if (mt__scalar(ctx, s[OK_NAME].node, nline, "output name", &out->name) < 0)
        return -EINVAL;
    if (!mt_value_is_name(out->name, MT__NAME_MAX))
        return mt__error(ctx, nline, "output name '%s' is not a name ([A-Za-z_][A-Za-z0-9_]*, at most %d bytes)",
                         mt_value_quote(out->name, strlen(out->name), q), MT__NAME_MAX);
    for (size_t i = 0; i < index; i++)
        if (strcmp(tool->outputs[i].name, out->name) == 0)
            return mt__error(ctx, nline, "output '%s' declared twice", out->name);
    if (s[OK_FROM].present == s[OK_PATH].present)
        return mt__error(ctx, line, "output '%s': give exactly one of 'from: stdout' and 'path: FILE'", out->name);
    if (s[OK_FROM].present) {
        int l = mt__slot_line(&s[OK_FROM]);
        if (mt__scalar(ctx, s[OK_FROM].node, l, "from", &from) < 0)
            return -EINVAL;
        bool ok = strcmp(from, "stdout") == 0;
        if (!ok)
            mt__error(ctx, l, "output '%s': from: '%s' is not stdout (use path: for a file)", out->name,
                      mt_value_quote(from, strlen(from), q));
        free(from);
        return ok ? 0 : -EINVAL;
    }
    int l = mt__slot_line(&s[OK_PATH]);
    if (mt__scalar(ctx, s[OK_PATH].node, l, "path", &out->path) < 0)
        return -EINVAL;
    if (!mt__is_inside_path(out->path))
        return mt__error(ctx, l,
                         "output '%s': path '%s' must be a file path relative to the working directory, without '..'",
                         out->name, mt_value_quote(out->path, strlen(out->path), q));
    return 0;
}

static int mt__load_outputs(mt__ctx_t *ctx, mt_tool_t *tool, const mt__slot_t *slot)
{
    struct fy_node *seq = slot->node;
    if (!seq)
        return 0;
    if (fy_node_get_type(seq) != FYNT_SEQUENCE)
        return mt__error(ctx, slot->line, "outputs: expected a list of outputs (- name: ..., from: stdout)");
    int n = fy_node_sequence_item_count(seq);
    tool->outputs = mt_calloc(n > 0 ? (size_t)n : 1, sizeof *tool->outputs);
    void *iter = NULL;
    struct fy_node *item;
    while ((item = fy_node_sequence_iterate(seq, &iter))) {
        bool broken;
        int line = mt_yaml_node_line(item, slot->line);
        item = mt_yaml_deref(item, &broken);
        if (broken || !item || fy_node_get_type(item) != FYNT_MAPPING)
            return mt__error(ctx, line, "outputs[%zu]: each output must be a mapping (name: ..., from: stdout)",
                             tool->noutputs);
        size_t index = tool->noutputs++;
        if (mt__load_output(ctx, tool, item, mt_yaml_node_line(item, line), index) < 0)
            return -EINVAL;
    }
    return 0;
}

static int mt__load_environment(mt__ctx_t *ctx, mt_tool_t *tool, const mt__slot_t *slot)
{
    struct fy_node *map = slot->node;
    char q[MT__QUOTE_BUF];
    if (!map) {
        tool->environment = mt_calloc(1, sizeof *tool->environment);
        return 0;
    }
    if (fy_node_get_type(map) != FYNT_MAPPING)
        return mt__error(ctx, slot->line, "environment: expected a mapping of NAME: value");
    tool->environment = mt_calloc((size_t)fy_node_mapping_item_count(map) + 1, sizeof *tool->environment);
    void *iter = NULL;
    struct fy_node_pair *pair;
    while ((pair = fy_node_mapping_iterate(map, &iter))) {
        struct fy_node *knode = fy_node_pair_key(pair);
        int kline = mt_yaml_node_line(knode, slot->line);
        char *key = NULL, *value = NULL;
        if (!knode || fy_node_get_type(knode) != FYNT_SCALAR)
            return mt__error(ctx, kline, "environment: variable names must be plain names");
        if (mt__scalar(ctx, knode, kline, "environment: a variable name", &key) < 0)
            return -EINVAL;
        if (!mt_value_is_name(key, 255)) {
            mt__error(ctx, kline, "environment: '%s' is not a variable name ([A-Za-z_][A-Za-z0-9_]*)",
                      mt_value_quote(key, strlen(key), q));
            free(key);
            return -EINVAL;
        }
        if (strncmp(key, "MULETEER_", 9) == 0) {
            mt__error(ctx, kline, "environment: '%s' is reserved: muleteer sets the MULETEER_ variables itself",
                      mt_value_quote(key, strlen(key), q));
            free(key);
            return -EINVAL;
        }
        bool broken;
        struct fy_node *vnode = mt_yaml_deref(fy_node_pair_value(pair), &broken);
        char what[300];
        snprintf(what, sizeof what, "environment: %s", key);
        int rc = broken ? mt__error(ctx, kline, "%s: unresolvable alias", what)
                        : mt__scalar(ctx, vnode, mt_yaml_node_line(vnode, kline), what, &value);
        if (rc < 0) {
            free(key);
            return -EINVAL;
        }
        tool->environment[tool->nenvironment++] = mt_asprintf("%s=%s", key, value);
        free(key);
        free(value);
    }
    return 0;
}

/*
 * Split one command element into pieces: literal text and "{input}"
 * placeholders; "{{" and "}}" are literal braces.
 */
static int mt__compile_arg(mt__ctx_t *ctx, mt_tool_t *tool, const char *text, int line, size_t index, mt__arg_t *arg)
{
    mt_value_buf_t lit = { 0 };
    char q[MT__QUOTE_BUF];
    const char *p = text;

    while (*p) {
        if ((p[0] == '{' && p[1] == '{') || (p[0] == '}' && p[1] == '}')) {
            mt_value_buf_add(&lit, p, 1);
            p += 2;
            continue;
        }
        if (p[0] == '}') {
            free(lit.data);
            return mt__error(ctx, line, "command[%zu]: a lone '}' (write '}}' for a literal brace)", index);
        }
        if (p[0] != '{') {
            size_t n = strcspn(p, "{}");
            mt_value_buf_add(&lit, p, n);
            p += n;
            continue;
        }
        const char *close = strchr(p, '}');
        if (!close) {
            free(lit.data);
            return mt__error(ctx, line, "command[%zu]: '{' without '}' (write '{{' for a literal brace)", index);
        }
        char *name = mt_strndup(p + 1, (size_t)(close - p - 1));
        size_t i;
        for (i = 0; i < tool->ninputs; i++)
            if (strcmp(tool->inputs[i].name, name) == 0)
                break;
        if (i == tool->ninputs) {
            mt__error(ctx, line, "command[%zu]: placeholder '{%s}' names no input of the tool%s", index,
                      mt_value_quote(name, strlen(name), q),
                      mt_value_is_name(name, MT__NAME_MAX) ? "" : " (write '{{' and '}}' for literal braces)");
            free(name);
            free(lit.data);
            return -EINVAL;
        }
        free(name);
        arg->pieces = mt_realloc(arg->pieces, (arg->npieces + 2) * sizeof *arg->pieces);
        if (lit.len) {
            arg->pieces[arg->npieces++] = (mt__piece_t){ lit.data, -1 };
            lit = (mt_value_buf_t){ 0 };
        }
        arg->pieces[arg->npieces++] = (mt__piece_t){ NULL, (int)i };
        p = close + 1;
    }
    if (lit.len || arg->npieces == 0) {
        if (!lit.data)
            mt_value_buf_add(&lit, "", 0);
        arg->pieces = mt_realloc(arg->pieces, (arg->npieces + 1) * sizeof *arg->pieces);
        arg->pieces[arg->npieces++] = (mt__piece_t){ lit.data, -1 };
    } else {
        free(lit.data);
    }
    return 0;
}

/* The command, once the inputs are known (placeholders refer to them). */
static int mt__load_command(mt__ctx_t *ctx, mt_tool_t *tool, const mt__slot_t *slot)
{
    struct fy_node *seq = slot->node;
    char q[MT__QUOTE_BUF];

    if (!seq || fy_node_get_type(seq) != FYNT_SEQUENCE || fy_node_sequence_item_count(seq) <= 0)
        return mt__error(ctx, slot->line,
                         "command must be a non-empty list, one item per argument (there is no shell), "
                         "e.g. [\"/bin/echo\", \"{text}\"]");
    tool->command = mt_calloc((size_t)fy_node_sequence_item_count(seq), sizeof *tool->command);
    void *iter = NULL;
    struct fy_node *item;
    while ((item = fy_node_sequence_iterate(seq, &iter))) {
        bool broken;
        int line = mt_yaml_node_line(item, slot->line);
        size_t index = tool->ncommand++;
        char what[64], *text;
        item = mt_yaml_deref(item, &broken);
        snprintf(what, sizeof what, "command[%zu]", index);
        if (broken)
            return mt__error(ctx, line, "%s: unresolvable alias", what);
        /* An empty argument is legitimate: "" (quoted) is a scalar, not null. */
        if (!item || fy_node_get_type(item) != FYNT_SCALAR || mt_yaml_is_null(item))
            return mt__error(ctx, line, "%s must be a single value (quote \"\" for an empty argument)", what);
        if (mt__scalar(ctx, item, line, what, &text) < 0)
            return -EINVAL;
        int rc = mt__compile_arg(ctx, tool, text, line, index, &tool->command[index]);
        free(text);
        if (rc < 0)
            return -EINVAL;
    }

    /* argv[0]: a literal absolute path to an executable file, so no input chooses the program. */
    int line = mt_yaml_node_line(seq, slot->line);
    const mt__arg_t *arg0 = &tool->command[0];
    if (arg0->npieces != 1 || arg0->pieces[0].input >= 0)
        return mt__error(ctx, line, "command[0] must be a fixed path, without placeholders");
    const char *prog = arg0->pieces[0].text;
    if (prog[0] != '/')
        return mt__error(ctx, line, "command[0] '%s' must be an absolute path", mt_value_quote(prog, strlen(prog), q));
    struct stat st;
    if (stat(prog, &st) != 0)
        return mt__error(ctx, line, "command[0] '%s': %s", mt_value_quote(prog, strlen(prog), q), strerror(errno));
    if (!S_ISREG(st.st_mode))
        return mt__error(ctx, line, "command[0] '%s' is not a regular file", mt_value_quote(prog, strlen(prog), q));
    if (access(prog, X_OK) != 0)
        return mt__error(ctx, line, "command[0] '%s' is not executable: %s", mt_value_quote(prog, strlen(prog), q),
                         strerror(errno));
    return 0;
}

/* ------------------------------------------------------------------ */
/* Loading: a tool file                                                */
/* ------------------------------------------------------------------ */

enum {
    TK_ID, TK_VERSION, TK_NAME, TK_DESCRIPTION, TK_COMMAND, TK_INPUTS, TK_OUTPUTS, TK_WALLTIME, TK_ENVIRONMENT, TK_COUNT
};
static const char *const mt__tool_keys[TK_COUNT] = {
    "id", "version", "name", "description", "command", "inputs", "outputs", "walltime", "environment",
};

static int mt__load_root(mt__ctx_t *ctx, struct fy_node *root, mt_tool_t *tool)
{
    mt__slot_t s[TK_COUNT];
    char q[MT__QUOTE_BUF], *text = NULL;

    if (mt_yaml_is_null(root))
        return mt__error(ctx, 1, "empty tool file (expected id, version, name, command, ...)");
    int line = mt_yaml_node_line(root, 1);
    if (fy_node_get_type(root) != FYNT_MAPPING)
        return mt__error(ctx, line, "expected a mapping at the top level (id: ..., version: ..., ...)");
    if (mt__collect(ctx, root, line, "", mt__tool_keys, TK_COUNT, s) < 0)
        return -EINVAL;

    static const int required[] = { TK_ID, TK_VERSION, TK_NAME, TK_COMMAND };
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++)
        if (!s[required[i]].present)
            return mt__error(ctx, line, "missing '%s'", mt__tool_keys[required[i]]);

    int idline = mt__slot_line(&s[TK_ID]);
    if (mt__scalar(ctx, s[TK_ID].node, idline, "id", &tool->id) < 0)
        return -EINVAL;
    if (!mt_value_is_id(tool->id, MT__TOOL_ID_MAX))
        return mt__error(ctx, idline,
                         "id '%s' must be letters, digits, '.', '_' and '-', starting with a letter or digit, "
                         "at most %d bytes",
                         mt_value_quote(tool->id, strlen(tool->id), q), MT__TOOL_ID_MAX);
    tool->origin = mt_asprintf("%s:%d", ctx->file, idline);
    if (mt__scalar(ctx, s[TK_VERSION].node, mt__slot_line(&s[TK_VERSION]), "version", &tool->version) < 0 ||
        mt__scalar(ctx, s[TK_NAME].node, mt__slot_line(&s[TK_NAME]), "name", &tool->name) < 0)
        return -EINVAL;
    /* A quoted "" is a scalar, not null: refused like an empty value. */
    if (!tool->version[0])
        return mt__error(ctx, mt__slot_line(&s[TK_VERSION]), "version must not be empty");
    if (!tool->name[0])
        return mt__error(ctx, mt__slot_line(&s[TK_NAME]), "name must not be empty");
    if (s[TK_DESCRIPTION].node &&
        mt__scalar(ctx, s[TK_DESCRIPTION].node, mt__slot_line(&s[TK_DESCRIPTION]), "description",
                   &tool->description) < 0)
        return -EINVAL;

    if (mt__load_inputs(ctx, tool, &s[TK_INPUTS]) < 0 || mt__load_outputs(ctx, tool, &s[TK_OUTPUTS]) < 0 ||
        mt__load_environment(ctx, tool, &s[TK_ENVIRONMENT]) < 0 || mt__load_command(ctx, tool, &s[TK_COMMAND]) < 0)
        return -EINVAL;

    if (s[TK_WALLTIME].node) {
        int l = mt__slot_line(&s[TK_WALLTIME]);
        double v = 0;
        if (mt__scalar(ctx, s[TK_WALLTIME].node, l, "walltime", &text) < 0)
            return -EINVAL;
        int rc = mt_value_parse_float(text, &v);
        free(text);
        if (rc < 0 || !(v > 0))
            return mt__error(ctx, l, "walltime must be a positive number of seconds");
        tool->walltime = v;
    }
    return 0;
}

/*
 * The whole file, checked to be UTF-8 without NUL bytes: libfyaml 0.7 loops
 * forever on some malformed sequences and reads UTF-16 as an empty document.
 * Returns the text (*len bytes, caller frees), or NULL with the error set.
 */
static char *mt__read_text(mt__ctx_t *ctx, size_t *len)
{
    struct stat st;
    if (stat(ctx->file, &st) != 0) {
        mt__error(ctx, 0, "cannot open: %s", strerror(errno));
        return NULL;
    }
    if (!S_ISREG(st.st_mode) || st.st_size > MT__FILE_MAX) {
        mt__error(ctx, 0, S_ISREG(st.st_mode) ? "larger than 1 MiB: not a tool file" : "not a regular file");
        return NULL;
    }
    FILE *fp = fopen(ctx->file, "r");
    if (!fp) {
        mt__error(ctx, 0, "cannot open: %s", strerror(errno));
        return NULL;
    }
    char *text = mt_malloc(MT__FILE_MAX + 1);
    size_t n = fread(text, 1, MT__FILE_MAX + 1, fp);
    bool failed = ferror(fp);
    fclose(fp);
    if (failed || n > MT__FILE_MAX) {
        mt__error(ctx, 0, failed ? "cannot read" : "larger than 1 MiB: not a tool file");
        free(text);
        return NULL;
    }

    int line;
    unsigned char bad;
    if (mt_yaml_check_utf8(text, n, true, &line, &bad) < 0) {
        if (bad == 0)
            mt__error(ctx, line, "a NUL byte: tool files must be text");
        else
            mt__error(ctx, line, "not UTF-8 (byte 0x%02x): tool files must be UTF-8", bad);
        free(text);
        return NULL;
    }
    *len = n;
    return text;
}

/* Load one tool file; *out gets the tool. */
static int mt__load_file(const char *path, mt_tool_t **out, char *err, size_t errlen)
{
    mt__ctx_t ctx = { path, err, errlen };
    mt_yaml_doc_t y = {0};
    mt_tool_t *tool = NULL;
    size_t len = 0;
    int rc = -EINVAL;

    *out = NULL;
    char *text = mt__read_text(&ctx, &len);
    if (!text)
        return -EINVAL;

    int yline;
    char why[512];
    if (mt_yaml_parse_unique(text, len, &y, &yline, why, sizeof why) < 0) {
        mt__error(&ctx, yline, "%s", why);
        goto out;
    }
    tool = mt_calloc(1, sizeof *tool);
    rc = mt__load_root(&ctx, y.doc ? fy_document_root(y.doc) : NULL, tool);
    if (rc == 0) {
        *out = tool;
        tool = NULL;
    }

out:
    mt__tool_free(tool);
    mt_yaml_doc_free(&y);
    free(text);
    return rc;
}

/* ------------------------------------------------------------------ */
/* The toolbox                                                         */
/* ------------------------------------------------------------------ */

static int mt__cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* By id, then load order, so that a duplicate follows the definition it repeats. */
static int mt__cmp_tools(const void *a, const void *b)
{
    const mt_tool_t *x = *(mt_tool_t *const *)a, *y = *(mt_tool_t *const *)b;
    int c = strcmp(x->id, y->id);
    return c ? c : (x->load_index > y->load_index) - (x->load_index < y->load_index);
}

static bool mt__is_tool_file(const char *name)
{
    size_t n = strlen(name);
    if (name[0] == '.')
        return false;
    return (n > 4 && strcmp(name + n - 4, ".yml") == 0) || (n > 5 && strcmp(name + n - 5, ".yaml") == 0);
}

int mt_toolbox_load(const char *dir, mt_toolbox_t **out, char *err, size_t errlen)
{
    mt_toolbox_t *box = mt_calloc(1, sizeof *box);
    char **names = NULL;
    size_t nnames = 0;
    int rc = 0;

    *out = NULL;
    DIR *d = opendir(dir);
    if (!d) {
        rc = -errno;
        snprintf(err, errlen, "tools directory %s: %s", dir, strerror(errno));
        mt_message_one_line(err, errlen);
        free(box);
        return rc;
    }
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!mt__is_tool_file(de->d_name))
            continue;
        names = mt_realloc(names, (nnames + 1) * sizeof *names);
        names[nnames++] = mt_strdup(de->d_name);
    }
    closedir(d);
    if (nnames > 1)
        qsort(names, nnames, sizeof *names, mt__cmp_names);

    size_t dirlen = strlen(dir);
    bool slash = dirlen > 0 && dir[dirlen - 1] == '/';
    box->tools = mt_calloc(nnames ? nnames : 1, sizeof *box->tools);
    for (size_t i = 0; i < nnames && rc == 0; i++) {
        char *path = mt_asprintf("%s%s%s", dir, slash ? "" : "/", names[i]);
        mt_tool_t *tool;
        rc = mt__load_file(path, &tool, err, errlen);
        free(path);
        if (rc == 0) {
            tool->load_index = i;
            box->tools[box->count++] = tool;
        }
    }
    for (size_t i = 0; i < nnames; i++)
        free(names[i]);
    free(names);
    if (rc < 0)
        goto error;

    if (box->count > 1)
        qsort(box->tools, box->count, sizeof *box->tools, mt__cmp_tools);
    for (size_t i = 1; i < box->count; i++) {
        if (strcmp(box->tools[i - 1]->id, box->tools[i]->id) == 0) {
            snprintf(err, errlen, "%s: tool id '%s' is already defined at %s", box->tools[i]->origin,
                     box->tools[i]->id, box->tools[i - 1]->origin);
            mt_message_one_line(err, errlen);
            rc = -EINVAL;
            goto error;
        }
    }
    *out = box;
    return 0;

error:
    mt_toolbox_destroy(box);
    return rc;
}

void mt_toolbox_destroy(mt_toolbox_t *box)
{
    if (!box)
        return;
    for (size_t i = 0; i < box->count; i++)
        mt__tool_free(box->tools[i]);
    free(box->tools);
    free(box);
}

static int mt__cmp_id_key(const void *key, const void *elem)
{
    return strcmp(key, (*(mt_tool_t *const *)elem)->id);
}

const mt_tool_t *mt_toolbox_find(const mt_toolbox_t *box, const char *id)
{
    if (!box || !id || box->count == 0)
        return NULL;
    mt_tool_t *const *found = bsearch(id, box->tools, box->count, sizeof *box->tools, mt__cmp_id_key);
    return found ? *found : NULL;
}

size_t mt_toolbox_count(const mt_toolbox_t *box)
{
    return box ? box->count : 0;
}

const mt_tool_t *mt_toolbox_get(const mt_toolbox_t *box, size_t i)
{
    return box && i < box->count ? box->tools[i] : NULL;
}

/* ------------------------------------------------------------------ */
/* Accessors                                                           */
/* ------------------------------------------------------------------ */

const char *mt_tool_id(const mt_tool_t *tool) { return tool->id; }
const char *mt_tool_version(const mt_tool_t *tool) { return tool->version; }
const char *mt_tool_name(const mt_tool_t *tool) { return tool->name; }
const char *mt_tool_description(const mt_tool_t *tool) { return tool->description; }
const char *mt_tool_origin(const mt_tool_t *tool) { return tool->origin; }
double mt_tool_walltime(const mt_tool_t *tool) { return tool->walltime; }

const char *const *mt_tool_environment(const mt_tool_t *tool, size_t *count)
{
    if (count)
        *count = tool->nenvironment;
    return (const char *const *)tool->environment;
}

size_t mt_tool_input_count(const mt_tool_t *tool) { return tool->ninputs; }

const char *mt_tool_input_name(const mt_tool_t *tool, size_t i)
{
    return i < tool->ninputs ? tool->inputs[i].name : NULL;
}

mt_tool_input_type_t mt_tool_input_type(const mt_tool_t *tool, size_t i)
{
    return i < tool->ninputs ? tool->inputs[i].type : MT_TOOL_INPUT_TEXT;
}

const char *mt_tool_input_type_name(mt_tool_input_type_t type)
{
    return (size_t)type < MT__NTYPES ? mt__type_names[type] : "unknown";
}

bool mt_tool_input_required(const mt_tool_t *tool, size_t i)
{
    return i < tool->ninputs && tool->inputs[i].default_value == NULL;
}

int mt_tool_find_input(const mt_tool_t *tool, const char *name)
{
    for (size_t i = 0; i < tool->ninputs; i++)
        if (strcmp(tool->inputs[i].name, name) == 0)
            return (int)i;
    return -1;
}

size_t mt_tool_output_count(const mt_tool_t *tool) { return tool->noutputs; }

const char *mt_tool_output_name(const mt_tool_t *tool, size_t i)
{
    return i < tool->noutputs ? tool->outputs[i].name : NULL;
}

mt_tool_output_kind_t mt_tool_output_kind(const mt_tool_t *tool, size_t i)
{
    return i < tool->noutputs && tool->outputs[i].path ? MT_TOOL_OUTPUT_PATH : MT_TOOL_OUTPUT_STDOUT;
}

const char *mt_tool_output_path(const mt_tool_t *tool, size_t i)
{
    return i < tool->noutputs ? tool->outputs[i].path : NULL;
}

int mt_tool_find_output(const mt_tool_t *tool, const char *name)
{
    for (size_t i = 0; i < tool->noutputs; i++)
        if (strcmp(tool->outputs[i].name, name) == 0)
            return (int)i;
    return -ENOENT;
}

json_t *mt_tool_to_json(const mt_tool_t *tool)
{
    json_t *doc = json_object();
    json_object_set_new(doc, "id", json_string(tool->id));
    json_object_set_new(doc, "version", json_string(tool->version));
    json_object_set_new(doc, "name", json_string(tool->name));
    json_object_set_new(doc, "description", tool->description ? json_string(tool->description) : json_null());

    json_t *inputs = json_array();
    for (size_t i = 0; i < tool->ninputs; i++) {
        const mt__input_t *in = &tool->inputs[i];
        json_t *o = json_object();
        json_object_set_new(o, "name", json_string(in->name));
        json_object_set_new(o, "type", json_string(mt__type_names[in->type]));
        json_object_set_new(o, "required", json_boolean(in->default_value == NULL));
        if (in->label)
            json_object_set_new(o, "label", json_string(in->label));
        if (in->description)
            json_object_set_new(o, "description", json_string(in->description));
        if (in->default_value)
            json_object_set(o, "default", in->default_value);
        if (in->min)
            json_object_set(o, "min", in->min);
        if (in->max)
            json_object_set(o, "max", in->max);
        if (in->type == MT_TOOL_INPUT_TEXT)
            json_object_set_new(o, "max_length", json_integer((json_int_t)in->max_length));
        if (in->type == MT_TOOL_INPUT_SELECT) {
            json_t *options = json_array();
            for (size_t k = 0; k < in->noptions; k++)
                json_array_append_new(options, json_string(in->options[k]));
            json_object_set_new(o, "options", options);
        }
        if (in->type == MT_TOOL_INPUT_BOOLEAN) {
            json_object_set_new(o, "truevalue", json_string(in->truevalue));
            json_object_set_new(o, "falsevalue", json_string(in->falsevalue));
        }
        json_array_append_new(inputs, o);
    }
    json_object_set_new(doc, "inputs", inputs);

    json_t *outputs = json_array();
    for (size_t i = 0; i < tool->noutputs; i++) {
        json_t *o = json_object();
        json_object_set_new(o, "name", json_string(tool->outputs[i].name));
        if (tool->outputs[i].path)
            json_object_set_new(o, "path", json_string(tool->outputs[i].path));
        else
            json_object_set_new(o, "from", json_string("stdout"));
        json_array_append_new(outputs, o);
    }
    json_object_set_new(doc, "outputs", outputs);
    json_object_set_new(doc, "walltime", tool->walltime > 0 ? json_real(tool->walltime) : json_null());
    return doc;
}

/* ------------------------------------------------------------------ */
/* Validation                                                          */
/* ------------------------------------------------------------------ */

/* A data input's {"job", "output"}: resolved to {"job", "output", "path"} in *out. */
static int mt__check_data(const mt__input_t *in, const json_t *value, mt_data_resolver_t resolver,
                          void *resolver_data, json_t **out, char *err, size_t errlen)
{
    char q[MT__QUOTE_BUF], job[32], reason[512] = "";
    const char *key, *job_id = NULL, *output = NULL;
    size_t job_len = 0;
    json_t *member;

    if (!json_is_object(value)) {
        snprintf(err, errlen, "input '%s': expected {\"job\": ID, \"output\": NAME}, got %s", in->name,
                 mt_value_json_kind(value));
        return -EINVAL;
    }
    json_object_foreach((json_t *)value, key, member) {
        if (strcmp(key, "job") == 0 && json_is_integer(member)) {
            /* a JSON number: as if its decimal text had been given */
            job_len = (size_t)snprintf(job, sizeof job, "%" JSON_INTEGER_FORMAT, json_integer_value(member));
            job_id = job;
        } else if (strcmp(key, "job") == 0 && json_is_string(member)) {
            job_id = json_string_value(member);
            job_len = json_string_length(member);
        } else if (strcmp(key, "job") == 0) {
            snprintf(err, errlen, "input '%s': \"job\" must be a job id, got %s", in->name, mt_value_json_kind(member));
            return -EINVAL;
        } else if (strcmp(key, "output") == 0 && json_is_string(member) && json_string_length(member) > 0 &&
                   !mt_value_json_has_nul(member)) {
            output = json_string_value(member);
        } else if (strcmp(key, "output") == 0) {
            snprintf(err, errlen, "input '%s': \"output\" must be an output name, got %s", in->name,
                     json_is_string(member) ? "an unusable string" : mt_value_json_kind(member));
            return -EINVAL;
        } else {
            snprintf(err, errlen, "input '%s': unknown key '%s' (expected job and output)", in->name,
                     mt_value_quote(key, strlen(key), q));
            return -EINVAL;
        }
    }
    if (!job_id || !output) {
        snprintf(err, errlen, "input '%s': expected {\"job\": ID, \"output\": NAME}, \"%s\" is missing", in->name,
                 job_id ? "output" : "job");
        return -EINVAL;
    }
    /* One spelling per id (no "01", "+1", " 1"), so what is stored is what any reader parses. */
    int64_t id;
    if (mt_value_parse_id(job_id, job_len, &id, NULL) < 0) {
        char why[MT__QUOTE_BUF + 160];
        snprintf(err, errlen, "input '%s': %s", in->name, mt_value_id_error(job_id, job_len, "job", why, sizeof why));
        return -EINVAL;
    }
    if (!resolver) {
        snprintf(err, errlen, "input '%s': data inputs cannot be resolved here", in->name);
        return -ENOTSUP;
    }
    char *path = NULL;
    int rc = resolver(resolver_data, job_id, output, &path, reason, sizeof reason);
    if (rc < 0) {
        free(path);
        if (!reason[0])
            snprintf(reason, sizeof reason, "cannot use output '%s' of job %s", mt_value_quote(output, strlen(output), q),
                     job_id);
        snprintf(err, errlen, "input '%s': %s", in->name, reason);
        return rc;
    }
    if (!path || !path[0]) {
        free(path);
        snprintf(err, errlen, "input '%s': the resolver gave no path for job %s", in->name, job_id);
        return -EIO;
    }
    *out = json_object();
    json_object_set_new(*out, "job", json_string(job_id));
    json_object_set_new(*out, "output", json_string(output));
    json_object_set_new(*out, "path", json_string(path));
    free(path);
    return 0;
}

int mt_tool_validate(const mt_tool_t *tool, const json_t *inputs, mt_data_resolver_t resolver,
                     void *resolver_data, json_t **params_out, char *err, size_t errlen)
{
    char q[MT__QUOTE_BUF], reason[512];
    const char *key;
    json_t *value;
    int rc = 0;

    *params_out = NULL;
    if (inputs && json_is_null(inputs))
        inputs = NULL;
    if (inputs && !json_is_object(inputs)) {
        snprintf(err, errlen, "inputs must be a JSON object, got %s", mt_value_json_kind(inputs));
        return -EINVAL;
    }
    if (inputs) {
        json_object_foreach((json_t *)inputs, key, value) {
            size_t i;
            for (i = 0; i < tool->ninputs; i++)
                if (strcmp(tool->inputs[i].name, key) == 0)
                    break;
            if (i < tool->ninputs)
                continue;
            mt_value_buf_t list = { 0 };
            for (i = 0; i < tool->ninputs; i++) {
                if (i)
                    mt_value_buf_add(&list, ", ", 2);
                mt_value_buf_add(&list, tool->inputs[i].name, strlen(tool->inputs[i].name));
            }
            snprintf(err, errlen, "unknown input '%s' (tool '%s' has %s%s)", mt_value_quote(key, strlen(key), q), tool->id,
                     list.data ? "inputs " : "no inputs", list.data ? list.data : "");
            free(list.data);
            mt_message_one_line(err, errlen);
            return -EINVAL;
        }
    }

    json_t *params = json_object();
    for (size_t i = 0; i < tool->ninputs; i++) {
        const mt__input_t *in = &tool->inputs[i];
        json_t *normalized = NULL;
        value = inputs ? json_object_get(inputs, in->name) : NULL;
        if (!value) {
            if (!in->default_value) {
                snprintf(err, errlen, "input '%s' is required", in->name);
                rc = -EINVAL;
                break;
            }
            normalized = json_incref(in->default_value);
        } else if (in->type == MT_TOOL_INPUT_DATA) {
            rc = mt__check_data(in, value, resolver, resolver_data, &normalized, err, errlen);
        } else {
            rc = mt__check_value(in, value, &normalized, reason, sizeof reason);
            if (rc < 0)
                snprintf(err, errlen, "input '%s': %s", in->name, reason);
        }
        if (rc < 0)
            break;
        json_object_set_new(params, in->name, normalized);
    }
    if (rc < 0) {
        json_decref(params);
        mt_message_one_line(err, errlen);
        return rc;
    }
    *params_out = params;
    return 0;
}

/* ------------------------------------------------------------------ */
/* argv                                                                */
/* ------------------------------------------------------------------ */

/* Append an input's value from params to buf, as text. */
static int mt__render(const mt__input_t *in, const json_t *params, mt_value_buf_t *buf, char *err, size_t errlen)
{
    const json_t *v = json_object_get(params, in->name);
    const json_t *str = NULL;
    char num[64];

    if (!v) {
        snprintf(err, errlen, "parameter '%s' is missing (did the tool change since the job was created?)", in->name);
        return -EINVAL;
    }
    switch (in->type) {
    case MT_TOOL_INPUT_INTEGER:
        if (!json_is_integer(v))
            break;
        snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        mt_value_buf_add(buf, num, strlen(num));
        return 0;
    case MT_TOOL_INPUT_FLOAT:
        if (!json_is_number(v))
            break;
        mt__format_double(json_number_value(v), num, sizeof num);
        mt_value_buf_add(buf, num, strlen(num));
        return 0;
    case MT_TOOL_INPUT_BOOLEAN:
        if (!json_is_boolean(v))
            break;
        mt_value_buf_add(buf, json_is_true(v) ? in->truevalue : in->falsevalue,
                    strlen(json_is_true(v) ? in->truevalue : in->falsevalue));
        return 0;
    case MT_TOOL_INPUT_TEXT:
    case MT_TOOL_INPUT_SELECT:
        str = json_is_string(v) ? v : NULL;
        break;
    case MT_TOOL_INPUT_DATA:
        str = json_is_object(v) ? json_object_get(v, "path") : NULL;
        if (!json_is_string(str) || json_string_length(str) == 0)
            str = NULL;
        break;
    }
    if (!str || mt_value_json_has_nul(str)) {
        snprintf(err, errlen,
                 "parameter '%s' does not hold a %s value (did the tool change since the job was created?)", in->name,
                 mt__type_names[in->type]);
        return -EINVAL;
    }
    mt_value_buf_add(buf, json_string_value(str), json_string_length(str));
    return 0;
}

int mt_tool_build_argv(const mt_tool_t *tool, const json_t *params, char ***argv_out, char *err, size_t errlen)
{
    char **argv = mt_calloc(tool->ncommand + 1, sizeof *argv);
    int rc = 0;

    *argv_out = NULL;
    if (!json_is_object(params)) {
        snprintf(err, errlen, "parameters must be a JSON object");
        rc = -EINVAL;
        goto error;
    }
    for (size_t i = 0; i < tool->ncommand; i++) {
        const mt__arg_t *arg = &tool->command[i];
        mt_value_buf_t buf = { 0 };
        mt_value_buf_add(&buf, "", 0);
        for (size_t k = 0; k < arg->npieces && rc == 0; k++) {
            const mt__piece_t *piece = &arg->pieces[k];
            if (piece->input < 0)
                mt_value_buf_add(&buf, piece->text, strlen(piece->text));
            else
                rc = mt__render(&tool->inputs[piece->input], params, &buf, err, errlen);
        }
        argv[i] = buf.data;
        if (rc < 0)
            goto error;
        if (buf.len >= MT__ARG_MAX) {
            snprintf(err, errlen, "argument %zu is %zu bytes long, more than the system accepts (%d)", i, buf.len,
                     MT__ARG_MAX - 1);
            rc = -E2BIG;
            goto error;
        }
    }
    *argv_out = argv;
    return 0;

error:
    mt_message_one_line(err, errlen);
    mt_tool_argv_free(argv);
    return rc;
}

void mt_tool_argv_free(char **argv)
{
    if (!argv)
        return;
    for (char **p = argv; *p; p++)
        free(*p);
    free(argv);
}
