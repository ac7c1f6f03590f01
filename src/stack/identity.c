/*
 * identity: what the application may know of the stack's processes -- the
 * calling mule's farms, the pools a standalone is attached to, and the
 * table of every process with its server name (include/muleteer.h).
 *
 * The job application uses them to decide which pools a process serves
 * and whether a handler named in its configuration is a process of this
 * stack at all.
 */
#include <assert.h>

#include "stack/config.h"
#include "stack/proctable.h"
#include "stack/stack.h"

size_t mt_stack_self_farm_count(const mt_stack_t *stack)
{
    return stack->procs.procs[stack->self_slot].nfarms;
}

const char *mt_stack_self_farm(const mt_stack_t *stack, size_t i)
{
    const mt_proc_t *self = &stack->procs.procs[stack->self_slot];
    assert(i < self->nfarms);
    return stack->procs.farms[self->farms[i]].name;
}

size_t mt_stack_attached_pool_count(const mt_stack_t *stack)
{
    if (stack->procs.procs[stack->self_slot].role != MT_ROLE_STANDALONE)
        return 0;
    return mt_config_list_count(stack->config, NULL, "attach-to-pool");
}

const char *mt_stack_attached_pool(const mt_stack_t *stack, size_t i)
{
    assert(i < mt_stack_attached_pool_count(stack));
    return mt_config_list_get(stack->config, NULL, "attach-to-pool", i, NULL);
}

size_t mt_stack_process(const mt_stack_t *stack, size_t index, mt_process_info_t *info)
{
    const mt_proctable_t *t = &stack->procs;
    if (index < t->nprocs && info) {
        info->server_name = mt_proctable_server_name(t, index);
        info->pool = t->procs[index].pool;
        info->role = t->procs[index].role;
    }
    return t->nprocs;
}
