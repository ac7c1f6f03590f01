/*
 * proctable: slots, farms and the shared live state (see proctable.h).
 */
#include "stack/proctable.h"
#include "stack/farm_wait.h"
#include "stack/stack.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int mt_proctable_share(mt_proctable_t *t)
{
    size_t size = t->nprocs * sizeof(mt_proc_live_t);
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return -errno;
    t->shm = p;
    for (size_t i = 0; i < t->nprocs; i++) {
        t->procs[i].live = &t->shm[i];
        atomic_store(&t->shm[i].state, t->procs[i].role == MT_ROLE_STANDALONE ? MT_PROC_EXTERNAL : MT_PROC_DOWN);
    }
    return 0;
}

void mt_proctable_destroy(mt_proctable_t *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->nprocs; i++) {
        mt_proc_t *p = &t->procs[i];
        free(p->server_name);
        free(p->name_template);
        free(p->pool);
        free(p->program);
        free(p->purpose);
        free(p->farms);
        mt_channel_close(&p->channel);
    }
    free(t->procs);
    for (size_t i = 0; i < t->nfarms; i++) {
        free(t->farms[i].name);
        free(t->farms[i].mule_ids);
        if (t->farms[i].channel.send_fd >= 0 && t->farms[i].doorbell_fd >= 0)
            close(t->farms[i].doorbell_fd); /* opened with the channel (proctable.h) */
        mt_channel_close(&t->farms[i].channel);
    }
    free(t->farms);
    if (t->shm)
        munmap(t->shm, t->nprocs * sizeof(mt_proc_live_t));
    memset(t, 0, sizeof *t);
}

int mt_proctable_open_channels(mt_proctable_t *t, char *err, size_t errlen)
{
    for (size_t i = 0; i < t->nmules; i++) {
        mt_proc_t *p = &t->procs[t->first_mule + i];
        int rc = mt_channel_open(&p->channel);
        if (rc < 0) {
            snprintf(err, errlen, "socketpair() failed while creating the channel of mule %d: %s", p->mule_id,
                     strerror(-rc));
            return rc;
        }
    }
    for (size_t i = 0; i < t->nfarms; i++) {
        int rc = mt_channel_open(&t->farms[i].channel);
        if (rc < 0) {
            snprintf(err, errlen, "socketpair() failed while creating the channel of farm \"%s\": %s",
                     t->farms[i].name, strerror(-rc));
            return rc;
        }
        t->farms[i].doorbell_fd = rc = mt_farm_doorbell_open();
        if (rc < 0) {
            snprintf(err, errlen, "eventfd() failed while creating the doorbell of farm \"%s\": %s",
                     t->farms[i].name, strerror(-rc));
            return rc;
        }
    }
    return 0;
}

ssize_t mt_proctable_find_pid(const mt_proctable_t *t, pid_t pid)
{
    for (size_t i = 1; i < t->nprocs; i++)
        if (atomic_load(&t->procs[i].live->pid) == pid)
            return (ssize_t)i;
    return -1;
}

ssize_t mt_proctable_find_mule(const mt_proctable_t *t, int mule_id)
{
    if (mule_id < 1 || (size_t)mule_id > t->nmules)
        return -1;
    return (ssize_t)(t->first_mule + (size_t)mule_id - 1);
}

ssize_t mt_proctable_find_server(const mt_proctable_t *t, const char *server_name)
{
    for (size_t i = 0; i < t->nprocs; i++)
        if (strcmp(mt_proctable_server_name(t, i), server_name) == 0)
            return (ssize_t)i;
    return -1;
}

ssize_t mt_proctable_find_farm(const mt_proctable_t *t, const char *name)
{
    for (size_t i = 0; i < t->nfarms; i++)
        if (strcmp(t->farms[i].name, name) == 0)
            return (ssize_t)i;
    return -1;
}

const char *mt_proctable_server_name(const mt_proctable_t *t, size_t slot)
{
    const mt_proc_t *p = &t->procs[slot];
    if (p->live && p->live->server_name[0])
        return p->live->server_name;
    return p->server_name;
}

int mt_stack_reloading(const mt_stack_t *stack)
{
    if (!stack || stack->self_slot == 0 || stack->self_slot >= stack->procs.nprocs)
        return 0;
    const mt_proc_live_t *live = stack->procs.procs[stack->self_slot].live;
    return live && atomic_load(&live->stop_for_reload) ? 1 : 0;
}

bool mt_proc_beat_stale(int64_t beat_us, int64_t forked_us, int64_t now_us, int64_t limit_us)
{
    if (limit_us <= 0)
        return false;
    int64_t since = beat_us > 0 && beat_us >= forked_us ? beat_us : forked_us;
    if (since <= 0)
        return false;
    return now_us - since >= limit_us;
}

bool mt_proc_beats(const mt_proc_t *p)
{
    switch (p->role) {
    case MT_ROLE_MASTER:
    case MT_ROLE_WEB:
        return true;
    case MT_ROLE_MULE:
        return p->program == NULL;
    case MT_ROLE_STANDALONE:
        return false; /* listed in a stack's table, running elsewhere: its own process beats in its own table */
    }
    return false;
}

const char *mt_proc_state_name(mt_proc_state_t state)
{
    switch (state) {
    case MT_PROC_DOWN: return "down";
    case MT_PROC_RUNNING: return "running";
    case MT_PROC_BACKOFF: return "respawning";
    case MT_PROC_STOPPING: return "stopping";
    case MT_PROC_STOPPED: return "stopped";
    case MT_PROC_FAILED: return "failed";
    case MT_PROC_EXTERNAL: return "external";
    }
    return "unknown";
}

const char *mt_role_name(mt_role_t role)
{
    switch (role) {
    case MT_ROLE_MASTER: return "master";
    case MT_ROLE_WEB: return "web";
    case MT_ROLE_MULE: return "mule";
    case MT_ROLE_STANDALONE: return "standalone";
    }
    return "unknown";
}
