/*
 * farm_wait: one exclusive epoll set per mule, so a farm message wakes one
 * mule (see farm_wait.h).
 *
 * Each registration carries a tag in epoll's data: what it is (the loop, a
 * farm's socket, a farm's doorbell) and the farm's index. EPOLLEXCLUSIVE
 * can only be given to EPOLL_CTL_ADD, never changed by EPOLL_CTL_MOD, so
 * arming adds both descriptors and disarming deletes them.
 */
#include "stack/farm_wait.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/mem.h"

enum { TAG_LOOP = 1, TAG_QUEUE = 2, TAG_DOORBELL = 3 };
#define TAG_BITS 2
#define MAX_EVENTS 32

typedef struct farm {
    int recv_fd;
    int doorbell_fd; /* -1: none */
    bool armed;
    bool seen;       /* in the current wait's ready list already */
} farm_t;

struct mt_farm_wait {
    int epoll_fd;
    farm_t *farms;
    size_t nfarms;
};

int mt_farm_doorbell_open(void)
{
    int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

int mt_farm_doorbell_ring(int doorbell_fd)
{
    if (doorbell_fd < 0)
        return 0;
    uint64_t one = 1;
    for (;;) {
        if (write(doorbell_fd, &one, sizeof one) == (ssize_t)sizeof one)
            return 0;
        if (errno == EINTR)
            continue;
        /* EAGAIN: the count is at its maximum, so it is rung already. */
        return errno == EAGAIN ? 0 : -errno;
    }
}

/* Empty a doorbell: one read takes the whole count (not EFD_SEMAPHORE), so rings that found nobody waiting add up
 * to one look at the queue. */
static void doorbell_empty(int doorbell_fd)
{
    uint64_t count;
    while (read(doorbell_fd, &count, sizeof count) < 0 && errno == EINTR)
        ;
}

bool mt_farm_queue_pending(int recv_fd)
{
    char byte;
    for (;;) {
        /* A datagram longer than the byte is reported truncated and stays queued: MSG_PEEK takes nothing. */
        if (recv(recv_fd, &byte, sizeof byte, MSG_PEEK | MSG_DONTWAIT) >= 0)
            return true;
        if (errno != EINTR)
            return false;
    }
}

static int ctl(int epoll_fd, int op, int fd, uint32_t events, uint64_t tag)
{
    struct epoll_event ev = {.events = events, .data.u64 = tag};
    return epoll_ctl(epoll_fd, op, fd, &ev) < 0 ? -errno : 0;
}

static uint64_t tag_of(int kind, size_t farm)
{
    return (uint64_t)kind | ((uint64_t)farm << TAG_BITS);
}

int mt_farm_wait_create(mt_farm_wait_t **out, int loop_fd)
{
    *out = NULL;
    int epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    if (epoll_fd < 0)
        return -errno;
    if (loop_fd >= 0) {
        int rc = ctl(epoll_fd, EPOLL_CTL_ADD, loop_fd, EPOLLIN, tag_of(TAG_LOOP, 0));
        if (rc < 0) {
            close(epoll_fd);
            return rc;
        }
    }
    mt_farm_wait_t *w = mt_calloc(1, sizeof *w);
    w->epoll_fd = epoll_fd;
    *out = w;
    return 0;
}

void mt_farm_wait_destroy(mt_farm_wait_t *w)
{
    if (!w)
        return;
    for (size_t i = 0; i < w->nfarms; i++)
        (void)mt_farm_wait_arm(w, i, false);
    close(w->epoll_fd);
    free(w->farms);
    free(w);
}

int mt_farm_wait_add(mt_farm_wait_t *w, int recv_fd, int doorbell_fd)
{
    if (recv_fd < 0)
        return -EBADF;
    w->farms = mt_realloc(w->farms, (w->nfarms + 1) * sizeof *w->farms);
    w->farms[w->nfarms] = (farm_t){.recv_fd = recv_fd, .doorbell_fd = doorbell_fd};
    return (int)w->nfarms++;
}

int mt_farm_wait_arm(mt_farm_wait_t *w, size_t i, bool armed)
{
    if (i >= w->nfarms)
        return -EINVAL;
    farm_t *f = &w->farms[i];
    if (f->armed == armed)
        return 0;
    if (armed) {
        /* Added while messages wait, the socket is reported ready at the next wait (epoll polls it on insert). */
        int rc = ctl(w->epoll_fd, EPOLL_CTL_ADD, f->recv_fd, EPOLLIN | EPOLLEXCLUSIVE, tag_of(TAG_QUEUE, i));
        if (rc < 0)
            return rc;
        if (f->doorbell_fd >= 0) {
            rc = ctl(w->epoll_fd, EPOLL_CTL_ADD, f->doorbell_fd, EPOLLIN | EPOLLEXCLUSIVE, tag_of(TAG_DOORBELL, i));
            if (rc < 0) {
                (void)ctl(w->epoll_fd, EPOLL_CTL_DEL, f->recv_fd, 0, 0);
                return rc;
            }
        }
        f->armed = true;
        return 0;
    }
    int rc = ctl(w->epoll_fd, EPOLL_CTL_DEL, f->recv_fd, 0, 0);
    if (f->doorbell_fd >= 0) {
        int rc2 = ctl(w->epoll_fd, EPOLL_CTL_DEL, f->doorbell_fd, 0, 0);
        rc = rc < 0 ? rc : rc2;
    }
    f->armed = false;
    /*
     * This mule may have been the one the kernel woke for what is queued (it is not woken again for it), or
     * it stops with messages it could not take: wake another.
     */
    if (mt_farm_queue_pending(f->recv_fd)) {
        int rr = mt_farm_doorbell_ring(f->doorbell_fd);
        rc = rc < 0 ? rc : rr;
    }
    return rc;
}

int mt_farm_wait_wait(mt_farm_wait_t *w, int timeout_ms, size_t *ready, size_t max)
{
    struct epoll_event events[MAX_EVENTS];
    int n = epoll_wait(w->epoll_fd, events, MAX_EVENTS, timeout_ms);
    if (n < 0)
        return errno == EINTR ? 0 : -errno;
    size_t count = 0;
    for (int k = 0; k < n; k++) {
        uint64_t tag = events[k].data.u64;
        int kind = (int)(tag & ((1u << TAG_BITS) - 1));
        size_t i = (size_t)(tag >> TAG_BITS);
        if (kind == TAG_LOOP || i >= w->nfarms)
            continue;
        farm_t *f = &w->farms[i];
        if (!f->armed || (!f->seen && count >= max))
            continue; /* (no room: level-triggered, it is reported again at the next wait) */
        if (kind == TAG_DOORBELL)
            doorbell_empty(f->doorbell_fd);
        if (!f->seen) {
            f->seen = true;
            ready[count++] = i;
        }
    }
    for (size_t k = 0; k < count; k++)
        w->farms[ready[k]].seen = false;
    return (int)count;
}

int mt_farm_wait_pass(mt_farm_wait_t *w, size_t i)
{
    if (i >= w->nfarms)
        return -EINVAL;
    farm_t *f = &w->farms[i];
    return mt_farm_queue_pending(f->recv_fd) ? mt_farm_doorbell_ring(f->doorbell_fd) : 0;
}
