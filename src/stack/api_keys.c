/*
 * api_keys: the API key table (see api_keys.h).
 *
 * Each key is stored zero-padded to MT_API_KEY_MAX bytes beside its
 * length. A lookup pads the presented key the same way and compares it
 * with every entry over all MT_API_KEY_MAX bytes, folding the differences
 * with OR and the match into an index with masks, so neither the position
 * of the first differing byte nor the position of the matching entry shows
 * in the time taken. Keys are unique (mt_api_keys_add refuses a repeat), so
 * at most one entry matches. Presented keys longer than any configured key
 * can be are refused by their length alone: the length is the client's own
 * knowledge, not the secret's.
 */
#define MT_LOG_NAME "muleteer.stack.auth"

#include "stack/api_keys.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/log.h"
#include "common/mem.h"

typedef struct mt_api_key_entry {
    unsigned char key[MT_API_KEY_MAX]; /* zero-padded */
    size_t len;
    char *user;
} mt_api_key_entry_t;

struct mt_api_keys {
    mt_api_key_entry_t *entries;
    size_t count;
    size_t cap;
    char **admins;
    size_t nadmins;
};

mt_api_keys_t *mt_api_keys_create(void)
{
    return mt_calloc(1, sizeof(mt_api_keys_t));
}

void mt_api_keys_destroy(mt_api_keys_t *keys)
{
    if (keys == NULL)
        return;
    for (size_t i = 0; i < keys->count; i++) {
        /* Not a defence against a core dump of a live process, but no copy outlives the table. */
        memset(keys->entries[i].key, 0, sizeof keys->entries[i].key);
        free(keys->entries[i].user);
    }
    free(keys->entries);
    for (size_t i = 0; i < keys->nadmins; i++)
        free(keys->admins[i]);
    free(keys->admins);
    free(keys);
}

const char *mt_api_keys_bearer(const char *value)
{
    if (value == NULL || strncasecmp(value, "Bearer", 6) != 0 || (value[6] != ' ' && value[6] != '\t'))
        return NULL;
    value += 6;
    while (*value == ' ' || *value == '\t')
        value++;
    return *value ? value : NULL;
}

size_t mt_api_keys_count(const mt_api_keys_t *keys)
{
    return keys ? keys->count : 0;
}

bool mt_api_keys__equal(const unsigned char *a, const unsigned char *b, size_t n)
{
    unsigned char diff = 0;
    for (size_t i = 0; i < n; i++) {
        diff |= (unsigned char)(a[i] ^ b[i]);
        /* Keep the compiler from turning the loop into one that stops at the first difference. */
        __asm__ volatile("" : "+r"(diff));
    }
    return diff == 0;
}

/* All ones if x == 0, else zero, without a branch. */
static size_t mask_if_zero(size_t x)
{
    return (size_t)0 - (size_t)(1 ^ ((x | ((size_t)0 - x)) >> (sizeof(size_t) * 8 - 1)));
}

const char *mt_api_keys_lookup(const mt_api_keys_t *keys, const char *presented, size_t len, bool *admin)
{
    if (admin)
        *admin = false;
    if (keys == NULL || len == 0 || len > MT_API_KEY_MAX)
        return NULL;
    unsigned char padded[MT_API_KEY_MAX] = {0};
    memcpy(padded, presented, len);
    size_t found = 0; /* index + 1 of the matching entry, 0 for none */
    for (size_t i = 0; i < keys->count; i++) {
        const mt_api_key_entry_t *e = &keys->entries[i];
        unsigned char diff = 0;
        for (size_t k = 0; k < MT_API_KEY_MAX; k++) {
            diff |= (unsigned char)(padded[k] ^ e->key[k]);
            __asm__ volatile("" : "+r"(diff));
        }
        size_t mismatch = (size_t)diff | (len ^ e->len);
        found |= (i + 1) & mask_if_zero(mismatch);
    }
    memset(padded, 0, sizeof padded);
    if (found == 0)
        return NULL;
    const char *user = keys->entries[found - 1].user;
    if (admin)
        *admin = mt_api_keys_is_admin(keys, user);
    return user;
}

bool mt_api_keys_is_admin(const mt_api_keys_t *keys, const char *user)
{
    if (keys == NULL || user == NULL)
        return false;
    for (size_t i = 0; i < keys->nadmins; i++)
        if (strcmp(keys->admins[i], user) == 0)
            return true;
    return false;
}

static bool key_char_ok(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           (c != '\0' && strchr("-_.~+/=", c) != NULL);
}

/* NULL if name is a valid user name, else what is wrong with it. */
static const char *user_problem(const char *name, size_t len)
{
    if (len == 0)
        return "empty user name";
    if (len > MT_API_USER_MAX)
        return "user name longer than 64 characters";
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              (c != '\0' && strchr("._@+-", c) != NULL)))
            return "user name with a character outside A-Z a-z 0-9 . _ @ + -";
    }
    return NULL;
}

int mt_api_keys_add(mt_api_keys_t *keys, const char *spec, char **user_out, char *why, size_t whylen)
{
    const char *colon = strchr(spec, ':');
    size_t key_len = colon ? (size_t)(colon - spec) : strlen(spec);
    const char *user = colon ? colon + 1 : "";
    if (user_out)
        *user_out = mt_strdup(user);
    if (key_len == 0) {
        snprintf(why, whylen, "empty key (expected KEY:USER)");
        return -EINVAL;
    }
    if (!colon || !*user) {
        snprintf(why, whylen, "no user after the key (expected KEY:USER)");
        return -EINVAL;
    }
    const char *problem = user_problem(user, strlen(user));
    if (problem) {
        snprintf(why, whylen, "%s", problem);
        return -EINVAL;
    }
    for (size_t i = 0; i < key_len; i++) {
        if (!key_char_ok((unsigned char)spec[i])) {
            snprintf(why, whylen, "character %zu of the key is not one of %s", i + 1, MT_API_KEY_CHARSET);
            return -EINVAL;
        }
    }
    if (key_len < MT_API_KEY_MIN) {
        snprintf(why, whylen, "the key is %zu characters; at least %d are required", key_len, MT_API_KEY_MIN);
        return -EINVAL;
    }
    if (key_len > MT_API_KEY_MAX) {
        snprintf(why, whylen, "the key is %zu characters; at most %d are allowed", key_len, MT_API_KEY_MAX);
        return -EINVAL;
    }
    const char *holder = mt_api_keys_lookup(keys, spec, key_len, NULL);
    if (holder) {
        size_t k = 0;
        while (keys->entries[k].user != holder)
            k++;
        snprintf(why, whylen, "the same key as #%zu (user %s): every key must be different", k + 1, holder);
        return -EINVAL;
    }
    if (keys->count == keys->cap) {
        keys->cap = keys->cap ? keys->cap * 2 : 4;
        keys->entries = mt_realloc(keys->entries, keys->cap * sizeof *keys->entries);
    }
    mt_api_key_entry_t *e = &keys->entries[keys->count++];
    memset(e, 0, sizeof *e);
    memcpy(e->key, spec, key_len);
    e->len = key_len;
    e->user = mt_strdup(user);
    return 0;
}

int mt_api_keys_set_admins(mt_api_keys_t *keys, const char *list, char *why, size_t whylen)
{
    const char *p = list;
    for (;;) {
        size_t n = strcspn(p, ",");
        const char *start = p, *end = p + n;
        while (start < end && *start == ' ')
            start++;
        while (end > start && end[-1] == ' ')
            end--;
        const char *problem = user_problem(start, (size_t)(end - start));
        if (problem) {
            snprintf(why, whylen, "'%.*s': %s", (int)(end - start), start, problem);
            return -EINVAL;
        }
        keys->admins = mt_realloc(keys->admins, (keys->nadmins + 1) * sizeof *keys->admins);
        keys->admins[keys->nadmins++] = mt_strndup(start, (size_t)(end - start));
        if (p[n] == '\0')
            break;
        p += n + 1;
    }
    return 0;
}

static bool has_key(const mt_api_keys_t *keys, const char *user)
{
    for (size_t i = 0; i < keys->count; i++)
        if (strcmp(keys->entries[i].user, user) == 0)
            return true;
    return false;
}

int mt_api_keys_from_config(const mt_config_t *cfg, mt_api_keys_t **out, char *err, size_t errlen)
{
    *out = NULL;
    char where[512], why[256];
    mt_source_t src;
    mt_api_keys_t *keys = mt_api_keys_create();
    size_t n = mt_config_list_count(cfg, NULL, "api-key");
    for (size_t i = 0; i < n; i++) {
        const char *spec = mt_config_list_get(cfg, NULL, "api-key", i, &src);
        char *user = NULL;
        if (mt_api_keys_add(keys, spec, &user, why, sizeof why) < 0) {
            /* Name the user, unless the "user" may be a key written first by mistake (USER:KEY). */
            char who[128] = "";
            size_t key_len = strcspn(spec, ":");
            bool swapped = key_len < MT_API_KEY_MIN && strlen(user) >= MT_API_KEY_MIN;
            if (user[0] && !user_problem(user, strlen(user)) && !swapped)
                snprintf(who, sizeof who, " (user %s)", user);
            if (swapped)
                snprintf(why + strlen(why), sizeof why - strlen(why), " (the key comes first: KEY:USER)");
            snprintf(err, errlen, "%s: option '%sapi-key' #%zu%s: %s", mt_source_format(&src, where, sizeof where),
                     src.kind == MT_SRC_CMDLINE ? "--" : "", i + 1, who, why);
            free(user);
            goto error;
        }
        free(user);
    }
    const char *admins = mt_config_get(cfg, NULL, "admin-users", &src);
    if (admins && mt_api_keys_set_admins(keys, admins, why, sizeof why) < 0) {
        snprintf(err, errlen, "%s: option '%sadmin-users': %s", mt_source_format(&src, where, sizeof where),
                 src.kind == MT_SRC_CMDLINE ? "--" : "", why);
        goto error;
    }
    if (keys->count == 0) {
        if (admins)
            mt_warn("option 'admin-users' has no effect: no api-key is configured, so the HTTP API is open to all");
        mt_api_keys_destroy(keys);
        return 0;
    }
    for (size_t i = 0; i < keys->nadmins; i++)
        if (!has_key(keys, keys->admins[i]))
            mt_warn("option 'admin-users': user %s has no api-key", keys->admins[i]);
    *out = keys;
    return 0;
error:
    mt_api_keys_destroy(keys);
    return -1;
}
