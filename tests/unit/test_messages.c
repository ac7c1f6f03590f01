/*
 * Unit tests for the message-handler registry (messages.c).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "stack/messages.h"

static int calls;
static char last_payload[64];

static void handler(mt_stack_t *stack, const mt_message_t *msg, void *data)
{
    (void)stack;
    calls += *(int *)data;
    snprintf(last_payload, sizeof last_payload, "%.*s", (int)msg->len, (const char *)msg->payload);
}

Test(registry, dispatches_by_target)
{
    mt_registry_t *reg = mt_registry_create();
    int one = 1, ten = 10;
    cr_assert_eq(mt_registry_add(reg, "setup", handler, &one), 0);
    cr_assert_eq(mt_registry_add(reg, "cancel", handler, &ten), 0);
    mt_message_t msg = {.target = "cancel", .payload = "7", .len = 1};
    calls = 0;
    cr_assert_eq(mt_registry_dispatch(reg, NULL, &msg), 0);
    cr_assert_eq(calls, 10);
    cr_assert_str_eq(last_payload, "7");
    msg.target = "setup";
    cr_assert_eq(mt_registry_dispatch(reg, NULL, &msg), 0);
    cr_assert_eq(calls, 11);
    msg.target = "unknown";
    cr_assert_eq(mt_registry_dispatch(reg, NULL, &msg), -ENOENT);
    cr_assert_eq(calls, 11);
    mt_registry_destroy(reg);
}

Test(registry, refuses_duplicates_and_bad_names)
{
    mt_registry_t *reg = mt_registry_create();
    int one = 1;
    char long_name[MT_MSG_TARGET_MAX + 2];
    memset(long_name, 'x', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    cr_assert_eq(mt_registry_add(reg, "setup", handler, &one), 0);
    cr_assert_eq(mt_registry_add(reg, "setup", handler, &one), -EEXIST);
    cr_assert_eq(mt_registry_add(reg, "", handler, &one), -EINVAL);
    cr_assert_eq(mt_registry_add(reg, long_name, handler, &one), -EINVAL);
    cr_assert_eq(mt_registry_add(reg, "ok", NULL, &one), -EINVAL);
    mt_registry_destroy(reg);
    mt_registry_destroy(NULL);
}
