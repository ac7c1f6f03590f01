/*
 * messages: handler registry and sending (see messages.h and muleteer.h).
 */
#include "stack/messages.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "stack/channel.h"
#include "common/mem.h"
#include "stack/metrics.h"
#include "stack/stack.h"

typedef struct handler {
    char *target;
    mt_message_cb cb;
    void *data;
} handler_t;

struct mt_registry {
    handler_t *handlers;
    size_t count;
};

mt_registry_t *mt_registry_create(void)
{
    return mt_calloc(1, sizeof(mt_registry_t));
}

void mt_registry_destroy(mt_registry_t *reg)
{
    if (!reg)
        return;
    for (size_t i = 0; i < reg->count; i++)
        free(reg->handlers[i].target);
    free(reg->handlers);
    free(reg);
}

static const handler_t *find(const mt_registry_t *reg, const char *target)
{
    for (size_t i = 0; i < reg->count; i++)
        if (strcmp(reg->handlers[i].target, target) == 0)
            return &reg->handlers[i];
    return NULL;
}

int mt_registry_add(mt_registry_t *reg, const char *target, mt_message_cb cb, void *data)
{
    if (!target || !*target || strlen(target) > MT_MSG_TARGET_MAX || !cb)
        return -EINVAL;
    if (find(reg, target))
        return -EEXIST;
    reg->handlers = mt_realloc(reg->handlers, (reg->count + 1) * sizeof *reg->handlers);
    reg->handlers[reg->count++] = (handler_t){.target = mt_strdup(target), .cb = cb, .data = data};
    return 0;
}

int mt_registry_dispatch(const mt_registry_t *reg, mt_stack_t *stack, const mt_message_t *msg)
{
    const handler_t *h = find(reg, msg->target);
    if (!h)
        return -ENOENT;
    h->cb(stack, msg, h->data);
    return 0;
}

/* ---- public API ---- */

int mt_register_message_handler(mt_stack_t *stack, const char *target, mt_message_cb cb, void *data)
{
    if (stack->frozen)
        return -EPERM;
    return mt_registry_add(stack->handlers, target, cb, data);
}

static int send_counted(mt_stack_t *stack, int fd, const char *target, const void *payload, size_t len)
{
    mt_proc_live_t *live = stack->procs.procs[stack->self_slot].live;
    int rc = mt_channel_send(fd, (uint32_t)stack->self_slot, target, payload, len, stack->msg_send_timeout_ms);
    if (live) {
        if (rc == 0)
            atomic_fetch_add_explicit(&live->msgs_sent, 1, memory_order_relaxed);
        else
            atomic_fetch_add_explicit(&live->msgs_failed, 1, memory_order_relaxed);
    }
    return rc;
}

int mt_send_to_farm(mt_stack_t *stack, const char *farm, const char *target, const void *payload, size_t len)
{
    ssize_t f = farm ? mt_proctable_find_farm(&stack->procs, farm) : -1;
    if (f < 0)
        return -ENOENT;
    int rc = send_counted(stack, stack->procs.farms[f].channel.send_fd, target, payload, len);
    mt_metrics_farm_sent((size_t)f, rc);
    return rc;
}

int mt_send_to_mule(mt_stack_t *stack, int mule_id, const char *target, const void *payload, size_t len)
{
    ssize_t slot = mt_proctable_find_mule(&stack->procs, mule_id);
    if (slot < 0)
        return -ENOENT;
    return send_counted(stack, stack->procs.procs[slot].channel.send_fd, target, payload, len);
}

int mt_send_to_server(mt_stack_t *stack, const char *server_name, const char *target, const void *payload,
                      size_t len)
{
    ssize_t slot = server_name ? mt_proctable_find_server(&stack->procs, server_name) : -1;
    if (slot < 0 || stack->procs.procs[slot].role != MT_ROLE_MULE)
        return -ENOENT;
    return send_counted(stack, stack->procs.procs[slot].channel.send_fd, target, payload, len);
}

int mt_farm_exists(const mt_stack_t *stack, const char *farm)
{
    return farm && mt_proctable_find_farm(&stack->procs, farm) >= 0;
}

const char *mt_strerror(int err)
{
    switch (err) {
    case 0: return "success";
    case -ETIMEDOUT: return "queue full: timed out waiting for room";
    case -EMSGSIZE: return "message too large";
    case -ENOENT: return "no such farm, mule or route";
    case -EPERM: return "registration is only allowed while the application loads";
    default: return strerror(err < 0 ? -err : err);
    }
}
