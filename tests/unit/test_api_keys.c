/*
 * Unit tests for api_keys.c: parsing and validating KEY:USER entries and
 * admin-users (messages never quote a key), lookups, the constant-time
 * comparison, loading from a configuration, and url.c's redaction of a
 * query parameter for the access log.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stack/api_keys.h"
#include "stack/options.h"
#include "stack/url.h"

#define KEY_A "AAAAbbbbCCCCdddd0123"
#define KEY_B "zzzzYYYYxxxxWWWW-_.~+/="

static char why[256];

static int add(mt_api_keys_t *keys, const char *spec)
{
    char *user = NULL;
    why[0] = '\0';
    int rc = mt_api_keys_add(keys, spec, &user, why, sizeof why);
    free(user);
    return rc;
}

Test(api_keys, good_entries_are_found_by_their_key_only)
{
    mt_api_keys_t *keys = mt_api_keys_create();
    cr_assert_eq(add(keys, KEY_A ":alice"), 0, "%s", why);
    cr_assert_eq(add(keys, KEY_B ":bob@example.org"), 0, "%s", why);
    cr_assert_eq(mt_api_keys_count(keys), 2);
    cr_assert_eq(mt_api_keys_set_admins(keys, " bob@example.org , carol", why, sizeof why), 0, "%s", why);

    bool admin = true;
    const char *user = mt_api_keys_lookup(keys, KEY_A, strlen(KEY_A), &admin);
    cr_assert_str_eq(user, "alice");
    cr_assert_not(admin);
    user = mt_api_keys_lookup(keys, KEY_B, strlen(KEY_B), &admin);
    cr_assert_str_eq(user, "bob@example.org");
    cr_assert(admin);
    cr_assert(mt_api_keys_is_admin(keys, "carol"), "an admin need not have a key");
    cr_assert_not(mt_api_keys_is_admin(keys, "alice"));

    /* A prefix, an extension, a one-byte change, the empty key, a key padded with NULs: none match. */
    cr_assert_null(mt_api_keys_lookup(keys, KEY_A, strlen(KEY_A) - 1, &admin));
    cr_assert_null(mt_api_keys_lookup(keys, KEY_A "x", strlen(KEY_A) + 1, &admin));
    char changed[] = KEY_A;
    changed[7] ^= 1;
    cr_assert_null(mt_api_keys_lookup(keys, changed, strlen(changed), &admin));
    cr_assert_null(mt_api_keys_lookup(keys, "", 0, &admin));
    char padded[sizeof KEY_A + 1] = KEY_A;
    cr_assert_null(mt_api_keys_lookup(keys, padded, sizeof padded, &admin), "trailing NULs are part of the key");
    char huge[MT_API_KEY_MAX * 2];
    memset(huge, 'A', sizeof huge);
    cr_assert_null(mt_api_keys_lookup(keys, huge, sizeof huge, &admin));
    cr_assert_not(admin);
    cr_assert_null(mt_api_keys_lookup(NULL, KEY_A, strlen(KEY_A), NULL));
    mt_api_keys_destroy(keys);
    mt_api_keys_destroy(NULL);
}

Test(api_keys, a_key_of_the_longest_length_works)
{
    mt_api_keys_t *keys = mt_api_keys_create();
    char spec[MT_API_KEY_MAX + 16];
    memset(spec, 'k', MT_API_KEY_MAX);
    strcpy(spec + MT_API_KEY_MAX, ":max");
    cr_assert_eq(add(keys, spec), 0, "%s", why);
    cr_assert_str_eq(mt_api_keys_lookup(keys, spec, MT_API_KEY_MAX, NULL), "max");
    memset(spec, 'k', MT_API_KEY_MAX + 1);
    strcpy(spec + MT_API_KEY_MAX + 1, ":over");
    cr_assert_eq(add(keys, spec), -EINVAL);
    cr_assert(strstr(why, "at most 128"), "%s", why);
    mt_api_keys_destroy(keys);
}

/* Each bad entry is refused with a reason that does not quote the key. */
Test(api_keys, bad_entries_are_refused_without_quoting_the_key)
{
    static const struct {
        const char *spec;
        const char *reason;
    } cases[] = {
        {"", "empty key"},
        {":alice", "empty key"},
        {KEY_A, "no user"},
        {KEY_A ":", "no user"},
        {KEY_A ":al ice", "user name with a character outside"},
        {KEY_A ":alice:x", "user name with a character outside"},
        {"short-but-sec:alice", "the key is 13 characters; at least 16 are required"},
        {"has space inside the key:alice", "character 4 of the key is not one of"},
        {"unicode\xc3\xa9unicode-and-more:alice", "character 8 of the key"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mt_api_keys_t *keys = mt_api_keys_create();
        cr_assert_eq(add(keys, cases[i].spec), -EINVAL, "case %zu accepted", i);
        cr_assert(strstr(why, cases[i].reason), "case %zu: '%s' lacks '%s'", i, why, cases[i].reason);
        const char *colon = strchr(cases[i].spec, ':');
        size_t key_len = colon ? (size_t)(colon - cases[i].spec) : strlen(cases[i].spec);
        if (key_len >= 4) {
            char key[128];
            snprintf(key, sizeof key, "%.*s", (int)key_len, cases[i].spec);
            cr_assert_null(strstr(why, key), "case %zu quotes the key: %s", i, why);
        }
        cr_assert_eq(mt_api_keys_count(keys), 0);
        mt_api_keys_destroy(keys);
    }
}

Test(api_keys, a_key_given_twice_names_the_first_entry)
{
    mt_api_keys_t *keys = mt_api_keys_create();
    cr_assert_eq(add(keys, KEY_A ":alice"), 0);
    cr_assert_eq(add(keys, KEY_B ":bob"), 0);
    cr_assert_eq(add(keys, KEY_A ":mallory"), -EINVAL);
    cr_assert(strstr(why, "the same key as #1 (user alice)"), "%s", why);
    cr_assert_null(strstr(why, KEY_A));
    cr_assert_eq(add(keys, "AAAAbbbbCCCCdddd0124:alice"), 0, "a second key for one user is fine: %s", why);
    cr_assert_eq(mt_api_keys_count(keys), 3);
    mt_api_keys_destroy(keys);
}

Test(api_keys, bad_admin_lists_are_refused)
{
    mt_api_keys_t *keys = mt_api_keys_create();
    cr_assert_eq(mt_api_keys_set_admins(keys, "alice,,bob", why, sizeof why), -EINVAL);
    cr_assert(strstr(why, "empty user name"), "%s", why);
    cr_assert_eq(mt_api_keys_set_admins(keys, "alice,b/ob", why, sizeof why), -EINVAL);
    cr_assert(strstr(why, "'b/ob'"), "%s", why);
    cr_assert_eq(mt_api_keys_set_admins(keys, "", why, sizeof why), -EINVAL);
    mt_api_keys_destroy(keys);
}

Test(api_keys, equal_compares_every_byte)
{
    unsigned char a[64], b[64];
    memset(a, 7, sizeof a);
    memcpy(b, a, sizeof b);
    cr_assert(mt_api_keys__equal(a, b, sizeof a));
    for (size_t i = 0; i < sizeof a; i++) {
        b[i] ^= 0x80;
        cr_assert_not(mt_api_keys__equal(a, b, sizeof a), "difference at %zu missed", i);
        b[i] ^= 0x80;
    }
    cr_assert(mt_api_keys__equal(a, b, 0));
}

static mt_config_t *config_of(int argc, char **argv)
{
    mt_config_t *cfg = mt_config_create();
    mt_config_add_section(cfg, MT_STACK_SECTION, MT_STACK_SECTION_ALIAS, mt_stack_options);
    char err[512];
    cr_assert_eq(mt_config_load(cfg, argc, argv, err, sizeof err), 0, "%s", err);
    return cfg;
}

Test(api_keys, from_config_numbers_the_entry_and_names_its_user)
{
    char *argv[] = {"muleteer", "--api-key", KEY_A ":alice", "--api-key", "tooShort123:bob", NULL};
    mt_config_t *cfg = config_of(5, argv);
    mt_api_keys_t *keys = (mt_api_keys_t *)1;
    char err[512];
    cr_assert_eq(mt_api_keys_from_config(cfg, &keys, err, sizeof err), -1);
    cr_assert_null(keys);
    cr_assert_str_eq(err, "command line: option '--api-key' #2 (user bob): the key is 11 characters; at least 16 are "
                          "required");
    mt_config_destroy(cfg);
}

Test(api_keys, from_config_does_not_name_a_user_that_may_be_a_swapped_key)
{
    char *argv[] = {"muleteer", "--api-key", "alice:" KEY_A, NULL};
    mt_config_t *cfg = config_of(3, argv);
    mt_api_keys_t *keys;
    char err[512];
    cr_assert_eq(mt_api_keys_from_config(cfg, &keys, err, sizeof err), -1);
    cr_assert_null(strstr(err, KEY_A), "%s", err);
    cr_assert(strstr(err, "#1: the key is 5 characters") && strstr(err, "the key comes first: KEY:USER"), "%s", err);
    mt_config_destroy(cfg);
}

Test(api_keys, from_config_without_keys_leaves_the_api_open)
{
    char *argv[] = {"muleteer", NULL};
    mt_config_t *cfg = config_of(1, argv);
    mt_api_keys_t *keys = (mt_api_keys_t *)1;
    char err[512];
    cr_assert_eq(mt_api_keys_from_config(cfg, &keys, err, sizeof err), 0, "%s", err);
    cr_assert_null(keys);
    mt_config_destroy(cfg);

    char *argv2[] = {"muleteer", "--api-key", KEY_A ":alice", "--admin-users", "alice", NULL};
    cfg = config_of(5, argv2);
    cr_assert_eq(mt_api_keys_from_config(cfg, &keys, err, sizeof err), 0, "%s", err);
    cr_assert_eq(mt_api_keys_count(keys), 1);
    cr_assert(mt_api_keys_is_admin(keys, "alice"));
    mt_api_keys_destroy(keys);
    mt_config_destroy(cfg);
}

Test(api_keys, print_config_masks_the_key)
{
    char *argv[] = {"muleteer", "--api-key", KEY_A ":alice", NULL};
    mt_config_t *cfg = config_of(3, argv);
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    mt_config_print(cfg, out);
    fclose(out);
    cr_assert(strstr(text, "api-key = ****:alice    # command line"), "%s", text);
    cr_assert_null(strstr(text, KEY_A), "%s", text);
    free(text);
    mt_config_destroy(cfg);
}

static const char *redact(const char *query)
{
    static char out[256];
    size_t n = mt_url_redact_param(query, "key", "****", out, sizeof out);
    cr_assert_eq(n, strlen(out), "'%s'", query);
    return out;
}

Test(api_keys, the_access_log_query_hides_every_key_parameter)
{
    cr_assert_str_eq(redact("key=" KEY_A), "key=****");
    cr_assert_str_eq(redact("state=ok&key=" KEY_A "&limit=5"), "state=ok&key=****&limit=5");
    cr_assert_str_eq(redact("k%65y=" KEY_A "&key=x&key"), "k%65y=****&key=****&key");
    cr_assert_str_eq(redact("monkey=1&keys=2&akey=3"), "monkey=1&keys=2&akey=3");
    cr_assert_str_eq(redact("key="), "key=****");
    cr_assert_str_eq(redact(""), "");
    cr_assert_str_eq(redact("&&key=a&"), "&&key=****&");
    /* Like snprintf when it does not fit. */
    char small[8];
    size_t n = mt_url_redact_param("a=1&key=secret", "key", "****", small, sizeof small);
    cr_assert_eq(n, strlen("a=1&key=****"));
    cr_assert_str_eq(small, "a=1&key");
    cr_assert_eq(mt_url_redact_param("key=abc", "key", "****", NULL, 0), 8);
}
