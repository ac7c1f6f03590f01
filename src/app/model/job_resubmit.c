/*
 * job_resubmit: Galaxy's resubmit rules (see job_resubmit.h) -- a small
 * compiler for their Python-like conditions and delays, the pick of the
 * rule that applies to a failure, and the route of the next attempt.
 *
 * The compiler is a recursive-descent parser over Python's precedence
 * (or < and < not < comparisons < + - < * / < unary - +) that builds a tree
 * of nodes in one array; a chained comparison a < b <= c becomes
 * (a < b) and (b <= c), b shared. Values are doubles, as every variable
 * is a number or a boolean; truth is Python's (non-zero).
 */
#include "app/model/job_resubmit.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "common/message.h"

typedef enum {
    MT__X_NUM, MT__X_VAR, MT__X_NOT, MT__X_NEG, MT__X_AND, MT__X_OR,
    MT__X_LT, MT__X_LE, MT__X_GT, MT__X_GE, MT__X_EQ, MT__X_NE,
    MT__X_ADD, MT__X_SUB, MT__X_MUL, MT__X_DIV,
} mt__x_kind_t;

typedef struct mt__x_node {
    mt__x_kind_t kind;
    double num; /* NUM */
    int var;    /* VAR: index in mt__vars */
    int a, b;   /* operands (node indexes) */
} mt__x_node_t;

struct mt_job_expr {
    char *text;
    mt__x_node_t *nodes;
    size_t n, cap;
    int root;
};

/* The variables, in the order of the known-names list of the messages. */
static const char *const mt__vars[] = {
    "walltime_reached", "memory_limit_reached", "unknown_error", "any_failure", "any_potential_job_failure",
    "attempt", "seconds_running", "seconds_since_queued",
};
#define MT__NVARS ((int)(sizeof mt__vars / sizeof mt__vars[0]))

/* ------------------------------------------------------------------ */
/* Tokens                                                              */
/* ------------------------------------------------------------------ */

typedef enum {
    MT__T_END, MT__T_NUM, MT__T_NAME, MT__T_LPAREN, MT__T_RPAREN,
    MT__T_LT, MT__T_LE, MT__T_GT, MT__T_GE, MT__T_EQ, MT__T_NE,
    MT__T_PLUS, MT__T_MINUS, MT__T_STAR, MT__T_SLASH,
} mt__t_kind_t;

typedef struct mt__parser {
    mt_job_expr_t *e;
    const char *text, *pos;
    mt__t_kind_t tok;
    const char *tok_start;
    size_t tok_len;
    double num;
    int depth;
    char *err;
    size_t errlen;
    bool failed;
} mt__parser_t;

static int mt__fail(mt__parser_t *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int mt__fail(mt__parser_t *p, const char *fmt, ...)
{
    if (!p->failed) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(p->err, p->errlen, fmt, ap);
        va_end(ap);
        p->failed = true;
    }
    return -1;
}

static int mt__column(const mt__parser_t *p)
{
    return (int)(p->tok_start - p->text) + 1;
}

/* The current token as written, for messages. */
static int mt__unexpected(mt__parser_t *p, const char *expected)
{
    if (p->tok == MT__T_END)
        return mt__fail(p, "unexpected end (expected %s)", expected);
    return mt__fail(p, "unexpected '%.*s' at column %d (expected %s)", (int)p->tok_len, p->tok_start, mt__column(p),
                    expected);
}

/* Read the next token into p->tok. -1 on a character that starts none. */
static int mt__next(mt__parser_t *p)
{
    while (*p->pos && isspace((unsigned char)*p->pos))
        p->pos++;
    const char *s = p->pos;
    p->tok_start = s;
    p->tok_len = 1;
    if (!*s) {
        p->tok = MT__T_END;
        p->tok_len = 0;
        return 0;
    }
    if (isdigit((unsigned char)*s) || (*s == '.' && isdigit((unsigned char)s[1]))) {
        char *end;
        strtod(s, &end); /* the C locale's decimal point: the server never sets another */
        /* strtod also reads hex, which Python does not: digits, '.', and an exponent only. */
        for (const char *q = s; q < end; q++) {
            if (!(isdigit((unsigned char)*q) || *q == '.' || *q == 'e' || *q == 'E' || *q == '+' || *q == '-'))
                end = (char *)q;
        }
        if (isalnum((unsigned char)*end) || *end == '_' || *end == '.')
            return mt__fail(p, "malformed number '%.*s' at column %d", (int)(end - s) + 1, s, mt__column(p));
        char *digits = mt_strndup(s, (size_t)(end - s));
        p->num = strtod(digits, NULL);
        free(digits);
        p->tok = MT__T_NUM;
        p->tok_len = (size_t)(end - s);
        p->pos = end;
        return 0;
    }
    if (isalpha((unsigned char)*s) || *s == '_') {
        const char *q = s;
        while (isalnum((unsigned char)*q) || *q == '_')
            q++;
        p->tok = MT__T_NAME;
        p->tok_len = (size_t)(q - s);
        p->pos = q;
        return 0;
    }
    static const struct {
        const char *text;
        mt__t_kind_t kind;
    } ops[] = {
        { "<=", MT__T_LE }, { ">=", MT__T_GE }, { "==", MT__T_EQ }, { "!=", MT__T_NE }, { "<", MT__T_LT },
        { ">", MT__T_GT },  { "(", MT__T_LPAREN }, { ")", MT__T_RPAREN }, { "+", MT__T_PLUS },
        { "-", MT__T_MINUS }, { "*", MT__T_STAR }, { "/", MT__T_SLASH },
    };
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        size_t n = strlen(ops[i].text);
        if (strncmp(s, ops[i].text, n) == 0) {
            /* Python's //, ** and a lone = are not in the language: say so rather than misread them. */
            if (n == 1 && (*s == '/' || *s == '*') && s[1] == *s)
                return mt__fail(p, "'%.2s' at column %d is not supported (+ - * / are)", s, mt__column(p));
            p->tok = ops[i].kind;
            p->tok_len = n;
            p->pos = s + n;
            return 0;
        }
    }
    if (*s == '"' || *s == '\'')
        return mt__fail(p, "strings are not supported (at column %d)", mt__column(p));
    if (*s == '=')
        return mt__fail(p, "'=' at column %d: comparing is '=='", mt__column(p));
    if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
        return mt__fail(p, "unexpected byte 0x%02x at column %d", (unsigned char)*s, mt__column(p));
    return mt__fail(p, "unexpected '%c' at column %d", *s, mt__column(p));
}

static bool mt__is_word(const mt__parser_t *p, const char *word)
{
    return p->tok == MT__T_NAME && p->tok_len == strlen(word) && strncmp(p->tok_start, word, p->tok_len) == 0;
}

/* ------------------------------------------------------------------ */
/* The tree                                                            */
/* ------------------------------------------------------------------ */

static int mt__node(mt__parser_t *p, mt__x_kind_t kind, int a, int b)
{
    mt_job_expr_t *e = p->e;
    if (e->n == e->cap) {
        e->cap = e->cap ? e->cap * 2 : 16;
        e->nodes = mt_realloc(e->nodes, e->cap * sizeof *e->nodes);
    }
    e->nodes[e->n] = (mt__x_node_t){ .kind = kind, .a = a, .b = b };
    return (int)e->n++;
}

static int mt__or(mt__parser_t *p);

static int mt__atom(mt__parser_t *p)
{
    if (p->tok == MT__T_NUM) {
        int n = mt__node(p, MT__X_NUM, -1, -1);
        p->e->nodes[n].num = p->num;
        return mt__next(p) < 0 ? -1 : n;
    }
    if (p->tok == MT__T_LPAREN) {
        if (++p->depth > MT_JOB_EXPR_MAX_DEPTH)
            return mt__fail(p, "nests more than %d deep", MT_JOB_EXPR_MAX_DEPTH);
        if (mt__next(p) < 0)
            return -1;
        int n = mt__or(p);
        if (n < 0)
            return -1;
        if (p->tok != MT__T_RPAREN)
            return mt__unexpected(p, "')'");
        p->depth--;
        return mt__next(p) < 0 ? -1 : n;
    }
    if (p->tok == MT__T_NAME) {
        int n;
        if (mt__is_word(p, "True") || mt__is_word(p, "False")) {
            n = mt__node(p, MT__X_NUM, -1, -1);
            p->e->nodes[n].num = mt__is_word(p, "True");
        } else if (mt__is_word(p, "and") || mt__is_word(p, "or") || mt__is_word(p, "not")) {
            return mt__unexpected(p, "a name, a number or '('");
        } else {
            int var = -1;
            for (int i = 0; i < MT__NVARS && var < 0; i++) {
                if (p->tok_len == strlen(mt__vars[i]) && strncmp(p->tok_start, mt__vars[i], p->tok_len) == 0)
                    var = i;
            }
            if (var < 0)
                return mt__fail(p, "unknown name '%.*s' at column %d (known: walltime_reached, memory_limit_reached, "
                                "unknown_error, any_failure, any_potential_job_failure, attempt, seconds_running, "
                                "seconds_since_queued, True, False)", (int)p->tok_len, p->tok_start, mt__column(p));
            n = mt__node(p, MT__X_VAR, -1, -1);
            p->e->nodes[n].var = var;
        }
        if (mt__next(p) < 0)
            return -1;
        if (p->tok == MT__T_LPAREN)
            return mt__fail(p, "calls are not supported (at column %d)", mt__column(p));
        return n;
    }
    return mt__unexpected(p, "a name, a number or '('");
}

static int mt__unary(mt__parser_t *p)
{
    if (p->tok == MT__T_MINUS || p->tok == MT__T_PLUS) {
        bool neg = p->tok == MT__T_MINUS;
        if (++p->depth > MT_JOB_EXPR_MAX_DEPTH)
            return mt__fail(p, "nests more than %d deep", MT_JOB_EXPR_MAX_DEPTH);
        if (mt__next(p) < 0)
            return -1;
        int a = mt__unary(p);
        p->depth--;
        if (a < 0)
            return -1;
        return neg ? mt__node(p, MT__X_NEG, a, -1) : a;
    }
    return mt__atom(p);
}

static int mt__product(mt__parser_t *p)
{
    int a = mt__unary(p);
    while (a >= 0 && (p->tok == MT__T_STAR || p->tok == MT__T_SLASH)) {
        mt__x_kind_t kind = p->tok == MT__T_STAR ? MT__X_MUL : MT__X_DIV;
        if (mt__next(p) < 0)
            return -1;
        int b = mt__unary(p);
        a = b < 0 ? -1 : mt__node(p, kind, a, b);
    }
    return a;
}

static int mt__sum(mt__parser_t *p)
{
    int a = mt__product(p);
    while (a >= 0 && (p->tok == MT__T_PLUS || p->tok == MT__T_MINUS)) {
        mt__x_kind_t kind = p->tok == MT__T_PLUS ? MT__X_ADD : MT__X_SUB;
        if (mt__next(p) < 0)
            return -1;
        int b = mt__product(p);
        a = b < 0 ? -1 : mt__node(p, kind, a, b);
    }
    return a;
}

static bool mt__cmp_kind(mt__t_kind_t tok, mt__x_kind_t *kind)
{
    switch (tok) {
    case MT__T_LT: *kind = MT__X_LT; return true;
    case MT__T_LE: *kind = MT__X_LE; return true;
    case MT__T_GT: *kind = MT__X_GT; return true;
    case MT__T_GE: *kind = MT__X_GE; return true;
    case MT__T_EQ: *kind = MT__X_EQ; return true;
    case MT__T_NE: *kind = MT__X_NE; return true;
    default: return false;
    }
}

/* a < b <= c: (a < b) and (b <= c), as Python chains them. */
static int mt__comparison(mt__parser_t *p)
{
    int left = mt__sum(p), result = -1;
    mt__x_kind_t kind;
    while (left >= 0 && mt__cmp_kind(p->tok, &kind)) {
        if (mt__next(p) < 0)
            return -1;
        int right = mt__sum(p);
        if (right < 0)
            return -1;
        int cmp = mt__node(p, kind, left, right);
        result = result < 0 ? cmp : mt__node(p, MT__X_AND, result, cmp);
        left = right;
    }
    return left < 0 ? -1 : result >= 0 ? result : left;
}

static int mt__not(mt__parser_t *p)
{
    if (mt__is_word(p, "not")) {
        if (++p->depth > MT_JOB_EXPR_MAX_DEPTH)
            return mt__fail(p, "nests more than %d deep", MT_JOB_EXPR_MAX_DEPTH);
        if (mt__next(p) < 0)
            return -1;
        int a = mt__not(p);
        p->depth--;
        return a < 0 ? -1 : mt__node(p, MT__X_NOT, a, -1);
    }
    return mt__comparison(p);
}

static int mt__and(mt__parser_t *p)
{
    int a = mt__not(p);
    while (a >= 0 && mt__is_word(p, "and")) {
        if (mt__next(p) < 0)
            return -1;
        int b = mt__not(p);
        a = b < 0 ? -1 : mt__node(p, MT__X_AND, a, b);
    }
    return a;
}

static int mt__or(mt__parser_t *p)
{
    int a = mt__and(p);
    while (a >= 0 && mt__is_word(p, "or")) {
        if (mt__next(p) < 0)
            return -1;
        int b = mt__and(p);
        a = b < 0 ? -1 : mt__node(p, MT__X_OR, a, b);
    }
    return a;
}

int mt_job_expr_compile(const char *text, mt_job_expr_t **out, char *err, size_t errlen)
{
    *out = NULL;
    if (strlen(text) > MT_JOB_EXPR_MAX_LEN) {
        snprintf(err, errlen, "longer than %d bytes", MT_JOB_EXPR_MAX_LEN);
        return -EINVAL;
    }
    mt_job_expr_t *e = mt_calloc(1, sizeof *e);
    e->text = mt_strdup(text);
    mt__parser_t p = { .e = e, .text = e->text, .pos = e->text, .err = err, .errlen = errlen };
    int root = -1;
    if (mt__next(&p) == 0) {
        if (p.tok == MT__T_END)
            mt__fail(&p, "is empty");
        else
            root = mt__or(&p);
    }
    if (root >= 0 && p.tok != MT__T_END)
        root = mt__unexpected(&p, "an operator or the end");
    if (root < 0 || p.failed) {
        mt_job_expr_free(e);
        return -EINVAL;
    }
    e->root = root;
    *out = e;
    return 0;
}

void mt_job_expr_free(mt_job_expr_t *expr)
{
    if (!expr)
        return;
    free(expr->text);
    free(expr->nodes);
    free(expr);
}

const char *mt_job_expr_text(const mt_job_expr_t *expr)
{
    return expr->text;
}

/* ------------------------------------------------------------------ */
/* Evaluation                                                          */
/* ------------------------------------------------------------------ */

static double mt__var(int var, const mt_job_failure_t *f)
{
    switch (var) {
    case 0: return f->walltime_reached;
    case 1: return f->memory_limit_reached;
    case 2: return f->unknown_error;
    case 3: /* any_failure */
    case 4: return 1; /* any_potential_job_failure: Galaxy's is always true as well */
    case 5: return f->attempt;
    case 6: return f->seconds_running;
    default: return f->seconds_since_queued;
    }
}

/* Recursion: as deep as the tree, which MT_JOB_EXPR_MAX_LEN bounds (a chain of 2,000 '+1' at most). */
static int mt__eval(const mt_job_expr_t *e, int i, const mt_job_failure_t *f, double *v)
{
    const mt__x_node_t *n = &e->nodes[i];
    double a, b;
    switch (n->kind) {
    case MT__X_NUM:
        *v = n->num;
        return 0;
    case MT__X_VAR:
        *v = mt__var(n->var, f);
        return 0;
    case MT__X_AND: /* Python: a if a is false, else b */
    case MT__X_OR:  /* Python: a if a is true, else b */
        if (mt__eval(e, n->a, f, &a) < 0)
            return -EDOM;
        if ((n->kind == MT__X_AND) == (a == 0)) {
            *v = a;
            return 0;
        }
        return mt__eval(e, n->b, f, v);
    default:
        break;
    }
    if (mt__eval(e, n->a, f, &a) < 0)
        return -EDOM;
    if (n->kind == MT__X_NOT || n->kind == MT__X_NEG) {
        *v = n->kind == MT__X_NOT ? (a == 0) : -a;
        return 0;
    }
    if (mt__eval(e, n->b, f, &b) < 0)
        return -EDOM;
    switch (n->kind) {
    case MT__X_LT: *v = a < b; break;
    case MT__X_LE: *v = a <= b; break;
    case MT__X_GT: *v = a > b; break;
    case MT__X_GE: *v = a >= b; break;
    case MT__X_EQ: *v = a == b; break;
    case MT__X_NE: *v = a != b; break;
    case MT__X_ADD: *v = a + b; break;
    case MT__X_SUB: *v = a - b; break;
    case MT__X_MUL: *v = a * b; break;
    default: /* MT__X_DIV */
        if (b == 0)
            return -EDOM; /* Python raises ZeroDivisionError */
        *v = a / b;
        break;
    }
    return 0;
}

int mt_job_expr_eval(const mt_job_expr_t *expr, const mt_job_failure_t *f, double *value)
{
    *value = 0;
    return mt__eval(expr, expr->root, f, value);
}

/* ------------------------------------------------------------------ */
/* Rules                                                               */
/* ------------------------------------------------------------------ */

const mt_job_resubmit_t *mt_job_resubmit_pick(const mt_job_destination_t *dest, const mt_job_failure_t *f)
{
    if (!dest || !f)
        return NULL;
    const mt_job_resubmit_t *rules;
    size_t n = mt_job_destination_resubmits(dest, &rules);
    for (size_t i = 0; i < n; i++) {
        double v;
        if (!rules[i].condition_expr)
            return &rules[i];
        if (mt_job_expr_eval(rules[i].condition_expr, f, &v) == 0 && v != 0)
            return &rules[i];
    }
    return NULL;
}

double mt_job_resubmit_delay(const mt_job_resubmit_t *rule, const mt_job_failure_t *f)
{
    double v;
    if (!rule || !rule->delay_expr || mt_job_expr_eval(rule->delay_expr, f, &v) < 0 || !(v > 0))
        return 0;
    return isinf(v) ? 0 : v;
}

int mt_job_resubmit_route(const mt_job_conf_t *conf, const mt_job_destination_t *from, const mt_job_resubmit_t *rule,
                          mt_job_route_t *out, char *err, size_t errlen)
{
    const char *target = rule && rule->destination ? rule->destination : from ? mt_job_destination_id(from) : NULL;
    if (!target) {
        memset(out, 0, sizeof *out);
        snprintf(err, errlen, "resubmit: no destination to resubmit to");
        return -EINVAL;
    }
    return mt_job_route_destination(conf, target, out, err, errlen);
}
