/*
 * messages: the message-handler registry and the send side of the API.
 *
 * Handlers are registered by target name while the application loads (in
 * the master, before fork); the registry is then frozen and every mule has
 * the same copy, so dispatch takes no lock. mt_send_to_* (declared in
 * muleteer.h) are implemented here on top of channel.c and count every
 * send in the sender's slot.
 */
#ifndef MT_MESSAGES_H
#define MT_MESSAGES_H

#include "muleteer.h"

typedef struct mt_registry mt_registry_t;

mt_registry_t *mt_registry_create(void);
/* Accepts NULL. */
void mt_registry_destroy(mt_registry_t *reg);

/* 0; -EINVAL bad target; -EEXIST already registered. */
int mt_registry_add(mt_registry_t *reg, const char *target, mt_message_cb cb, void *data);

/*
 * Dispatch one received message to its handler. Returns 0, or -ENOENT when
 * no handler is registered for the target (the caller logs it).
 */
int mt_registry_dispatch(const mt_registry_t *reg, mt_stack_t *stack, const mt_message_t *msg);

#endif
