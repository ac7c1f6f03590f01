/*
 * api_request: strict reading of bodies, path ids and query strings for
 * the job API (see api_request.h).
 */
#include "app/api/api_request.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/app.h"
#include "app/model/values.h"
#include "app/store/db.h"
#include "common/mem.h"
#include "common/yaml.h"

/* Whether name is one of the NULL-terminated list. */
static bool listed(const char *const *names, const char *name, size_t len)
{
    for (size_t i = 0; names && names[i]; i++)
        if (strlen(names[i]) == len && memcmp(names[i], name, len) == 0)
            return true;
    return false;
}

/* "a, b, c" from a NULL-terminated list, appended to buf ("nothing" for none). */
static void add_list(mt_value_buf_t *buf, const char *const *names)
{
    if (!names || !names[0]) {
        mt_value_buf_add(buf, "nothing", 7);
        return;
    }
    for (size_t i = 0; names[i]; i++) {
        if (i)
            mt_value_buf_add(buf, ", ", 2);
        mt_value_buf_add(buf, names[i], strlen(names[i]));
    }
}

static void add_quoted(mt_value_buf_t *buf, const char *text, size_t len)
{
    char q[MT_VALUE_QUOTE_BUF];
    mt_value_quote(text, len, q);
    mt_value_buf_add(buf, "'", 1);
    mt_value_buf_add(buf, q, strlen(q));
    mt_value_buf_add(buf, "'", 1);
}

/*
 * jansson says "duplicate object key near '"tool_id"'": the key is the JSON
 * string token quoted there, decoded (escapes and all) into out.
 */
static const char *duplicate_key(const char *text, char *out, size_t outlen)
{
    const char *start = strstr(text, "near '");
    const char *end = start ? strrchr(text, '\'') : NULL;
    if (!start || end <= start + 6) {
        snprintf(out, outlen, "?");
        return out;
    }
    start += 6;
    json_t *key = json_loadb(start, (size_t)(end - start), JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    if (json_is_string(key))
        mt_value_quote(json_string_value(key), json_string_length(key), out);
    else /* cut by jansson's message length: shown as it was written */
        mt_value_quote(start, (size_t)(end - start), out);
    json_decref(key);
    return out;
}

/* 400 for jansson's duplicate-key error jerr. */
static void respond_duplicate(mt_request_t *req, const json_error_t *jerr)
{
    char q[MT_VALUE_QUOTE_BUF];
    mt_respond_error(req, 400, "duplicate key '%s' at line %d, column %d of the body: a key may appear once in an object",
                     duplicate_key(jerr->text, q, sizeof q), jerr->line, jerr->column);
}

/* A YAML body's first repeated key: 400 naming it and its line, -EINVAL; 0 if none (or not YAML). */
static int refuse_yaml_duplicate(mt_request_t *req, const char *body, size_t len)
{
    int line = 0;
    unsigned char byte;
    char why[256];
    mt_yaml_doc_t y = {0};
    if (mt_yaml_check_utf8(body, len, true, &line, &byte) < 0 ||
        mt_yaml_parse_one(body, len, FYPCF_ALLOW_DUPLICATE_KEYS, &y, &line, why, sizeof why) < 0 || !y.doc) {
        mt_yaml_doc_free(&y); /* the workflow reader says what is wrong with it */
        return 0;
    }
    struct fy_node *key = mt_yaml_first_duplicate_key(fy_document_root(y.doc));
    if (key) {
        size_t n = 0;
        const char *text = fy_node_is_scalar(key) ? fy_node_get_scalar(key, &n) : NULL;
        char q[MT_VALUE_QUOTE_BUF];
        mt_respond_error(req, 400, "duplicate key '%s' at line %d of the body: a key may appear once in a mapping",
                         text ? mt_value_quote(text, n, q) : "(a collection)", mt_yaml_node_line(key, 0));
    }
    mt_yaml_doc_free(&y);
    return key ? -EINVAL : 0;
}

int mt_api_refuse_duplicate_keys(mt_request_t *req)
{
    size_t len;
    const char *body = mt_request_body(req, &len);
    json_error_t jerr;
    json_t *doc = json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    json_decref(doc);
    if (doc)
        return 0;
    if (json_error_code(&jerr) != json_error_duplicate_key)
        return refuse_yaml_duplicate(req, body, len);
    respond_duplicate(req, &jerr);
    return -EINVAL;
}

json_t *mt_api_body_object(mt_request_t *req, const char *const *keys, bool empty_ok)
{
    size_t len;
    const char *body = mt_request_body(req, &len);
    mt_value_buf_t list = {0};
    if (len == 0 && empty_ok)
        return json_object();
    if (len == 0) {
        add_list(&list, keys);
        mt_respond_error(req, 400, "the body must be a JSON object with keys %s; it is empty", list.data);
        free(list.data);
        return NULL;
    }
    json_error_t jerr;
    json_t *doc = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!doc && json_error_code(&jerr) == json_error_duplicate_key) {
        respond_duplicate(req, &jerr);
        return NULL;
    }
    if (!doc) {
        mt_respond_error(req, 400, "malformed JSON at line %d, column %d: %s", jerr.line, jerr.column, jerr.text);
        return NULL;
    }
    if (!json_is_object(doc)) {
        add_list(&list, keys);
        mt_respond_error(req, 400, "the body must be a JSON object with keys %s, got %s", list.data,
                         mt_value_json_kind(doc));
        free(list.data);
        json_decref(doc);
        return NULL;
    }
    mt_value_buf_t unknown = {0};
    size_t nunknown = 0;
    const char *key;
    json_t *value;
    json_object_foreach(doc, key, value) {
        if (listed(keys, key, strlen(key)))
            continue;
        if (nunknown++)
            mt_value_buf_add(&unknown, ", ", 2);
        add_quoted(&unknown, key, strlen(key));
    }
    if (nunknown) {
        add_list(&list, keys);
        mt_respond_error(req, 400, "unknown key%s %s in the body (accepted keys: %s)", nunknown == 1 ? "" : "s",
                         unknown.data, list.data);
        free(unknown.data);
        free(list.data);
        json_decref(doc);
        return NULL;
    }
    return doc;
}

int mt_api_path_id(mt_request_t *req, const char *text, const char *what, int64_t *id, const char **rest)
{
    size_t len = strcspn(text, "/");
    if (rest)
        *rest = text + len;
    if (mt_value_parse_id(text, len, id, NULL) == 0)
        return 0;
    char msg[MT_VALUE_QUOTE_BUF + 160];
    mt_respond_error(req, 400, "%s", mt_value_id_error(text, len, what, msg, sizeof msg));
    return -EINVAL;
}

static int hex_digit(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/*
 * A query component form-decoded into out (outlen bytes, NUL-terminated,
 * cut if longer), as the stack reads names: '+' is a space, "%XX" its
 * byte, a malformed escape is taken literally. Returns the bytes written.
 */
static size_t form_decode(const char *s, size_t len, char *out, size_t outlen)
{
    size_t n = 0;
    for (size_t i = 0; i < len && n + 1 < outlen; n++) {
        int hi = s[i] == '%' && i + 2 < len ? hex_digit(s[i + 1]) : -1;
        int lo = hi >= 0 ? hex_digit(s[i + 2]) : -1;
        if (s[i] == '+') {
            out[n] = ' ';
            i++;
        } else if (lo >= 0) {
            out[n] = (char)(hi << 4 | lo);
            i += 3;
        } else {
            out[n] = s[i++];
        }
    }
    out[n] = '\0';
    return n;
}

int mt_api_check_query(mt_request_t *req, const char *const *names)
{
    const char *query = mt_request_query(req);
    static const char *const stack_names[] = {"key", NULL};
    char seen[32][64];
    size_t nseen = 0;
    for (const char *p = query; *p;) {
        size_t seg = strcspn(p, "&");
        size_t klen = strcspn(p, "=&");
        char name[64];
        size_t n = form_decode(p, klen < seg ? klen : seg, name, sizeof name);
        bool known = listed(names, name, n) || listed(stack_names, name, n);
        if (seg > 0 && !known) {
            mt_value_buf_t list = {0};
            add_list(&list, names);
            char q[MT_VALUE_QUOTE_BUF];
            mt_respond_error(req, 400, "unknown query parameter '%s' (accepted: %s%skey)",
                             mt_value_quote(name, n, q), names && names[0] ? list.data : "",
                             names && names[0] ? ", " : "");
            free(list.data);
            return -EINVAL;
        }
        for (size_t i = 0; seg > 0 && i < nseen; i++) {
            if (strcmp(seen[i], name) == 0) {
                mt_respond_error(req, 400, "query parameter '%s' is given twice", name);
                return -EINVAL;
            }
        }
        if (seg > 0 && nseen < sizeof seen / sizeof seen[0])
            memcpy(seen[nseen++], name, n + 1);
        p += seg + (p[seg] == '&');
    }
    return 0;
}

int mt_api_route_flags(void)
{
    return mt_db_kind_of(mt_jobs()->db_path) == MT_DB_POSTGRESQL ? MT_ROUTE_OFFLOAD : MT_ROUTE_OFFLOAD_WRITES;
}
