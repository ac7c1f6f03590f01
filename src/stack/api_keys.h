/*
 * api_keys: who may use the HTTP API -- the table of API keys, each
 * mapping to a user name, and the admin users.
 *
 * Built once in the master from the options `api-key = KEY:USER`
 * (repeatable) and `admin-users = USER[,USER...]`, then inherited read-only
 * by every web worker. With no api-key configured there is no table and
 * the API stays open (http_request.c lets every request through).
 *
 * Keys are secrets: no message this module writes quotes one (errors say
 * "api-key #2 (user alice): ..."), and a lookup compares the presented key
 * with every configured key over the same fixed number of bytes, so its
 * time does not depend on which key, or how much of one, matched.
 */
#ifndef MT_API_KEYS_H
#define MT_API_KEYS_H

#include <stdbool.h>
#include <stddef.h>

#include "stack/config.h"

#define MT_API_KEY_MIN 16  /* shortest key accepted, in characters */
#define MT_API_KEY_MAX 128 /* longest key accepted, in characters */
#define MT_API_USER_MAX 64 /* longest user name */

/* The characters a key may hold: base64, base64url and hex keys fit. */
#define MT_API_KEY_CHARSET "A-Z a-z 0-9 - _ . ~ + / ="

typedef struct mt_api_keys mt_api_keys_t;

mt_api_keys_t *mt_api_keys_create(void);
/* Accepts NULL. */
void mt_api_keys_destroy(mt_api_keys_t *keys);

/*
 * Add one "KEY:USER" entry (the key ends at the first ':'). Refused, with
 * the reason in why (which never quotes the key): an empty key, no user, a
 * user name outside A-Z a-z 0-9 . _ @ - or longer than MT_API_USER_MAX, a
 * key shorter than MT_API_KEY_MIN or longer than MT_API_KEY_MAX, a key
 * character outside MT_API_KEY_CHARSET, a key already in the table (why
 * then names the entry that has it: "the same key as #1 (user alice)").
 * Returns 0, or -EINVAL. *user_out (may be NULL) gets the user part of
 * spec (for the caller's message), or "" when there is none: owned by the
 * caller, free() it.
 */
int mt_api_keys_add(mt_api_keys_t *keys, const char *spec, char **user_out, char *why, size_t whylen);

/*
 * Make these users admins: a comma-separated list, spaces around names
 * ignored. A user need not have a key (yet). Returns 0, or -EINVAL with
 * the reason in why (an empty name, a bad character).
 */
int mt_api_keys_set_admins(mt_api_keys_t *keys, const char *list, char *why, size_t whylen);

/* Number of keys in the table. */
size_t mt_api_keys_count(const mt_api_keys_t *keys);

/* Whether user is an admin user. */
bool mt_api_keys_is_admin(const mt_api_keys_t *keys, const char *user);

/*
 * The user the key `presented` (len bytes, not NUL-terminated) maps to, or
 * NULL for no such key. Every configured key is compared, each over
 * MT_API_KEY_MAX bytes, with no early exit. *admin (may be NULL) says
 * whether that user is an admin. The string lives as long as the table.
 * Thread-safe (the table is read-only).
 */
const char *mt_api_keys_lookup(const mt_api_keys_t *keys, const char *presented, size_t len, bool *admin);

/*
 * The key in an "Authorization: Bearer KEY" header value (what Prometheus
 * sends with `authorization: {credentials: KEY}`), or NULL if `value` is
 * NULL or not of that form ("Bearer" in any case, then blanks). Points
 * into value.
 */
const char *mt_api_keys_bearer(const char *value);

/*
 * The table for a configuration: the main section's api-key entries and
 * admin-users. Returns 0 and *out -- NULL when no api-key is configured --
 * or -1 with a message in err: "FILE:LINE: option 'api-key' #2 (user
 * alice): the key is 8 characters; at least 16 are required". Warnings
 * (an admin user without a key, admin-users without any key) are logged.
 */
int mt_api_keys_from_config(const mt_config_t *cfg, mt_api_keys_t **out, char *err, size_t errlen);

/*
 * Equality of two buffers of n bytes, in time that depends on n only.
 * Exported for the unit tests.
 */
bool mt_api_keys__equal(const unsigned char *a, const unsigned char *b, size_t n);

#endif
