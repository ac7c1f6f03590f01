/*
 * identity: what the application may know of the stack's processes -- the
 * calling mule's farms, the pools a standalone is attached to, the table
 * of every process with its server name, and the farms with how many of
 * their mules run the built-in loop (include/muleteer.h).
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

size_t mt_stack_farm(const mt_stack_t *stack, size_t index, const char **name, size_t *mules, size_t *builtin)
{
    const mt_proctable_t *t = &stack->procs;
    if (index >= t->nfarms)
        return t->nfarms;
    const mt_farm_t *farm = &t->farms[index];
    size_t n = 0;
    for (size_t k = 0; k < farm->nmules; k++) {
        ssize_t slot = mt_proctable_find_mule(t, farm->mule_ids[k]);
        n += slot >= 0 && t->procs[slot].program == NULL;
    }
    *name = farm->name;
    *mules = farm->nmules;
    *builtin = n;
    return t->nfarms;
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
