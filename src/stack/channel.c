/*
 * channel: SOCK_SEQPACKET message channels between processes (see channel.h).
 *
 * Sends use sendmsg with an iovec (header, target, payload), so the payload
 * is never copied in user space. A full queue is handled by waiting for
 * POLLOUT up to the caller's timeout: the sender is slowed, nothing is
 * dropped. Receives use recvmmsg to take a batch of datagrams per system
 * call; several mules read the same farm socket and each datagram goes to
 * exactly one of them.
 */
#include "stack/channel.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/mem.h"

/* Send buffer per channel: the kernel doubles it; bounded by net.core.wmem_max. */
#define MT_CHANNEL_SNDBUF (4 * 1024 * 1024)

int mt_channel_open(mt_channel_t *ch)
{
    int fds[2];
    ch->send_fd = ch->recv_fd = -1;
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) < 0)
        return -errno;
    /*
     * Only the sender's buffer limits a queue of a socketpair (its peer is
     * the sender, so net.unix.max_dgram_qlen does not apply); ask for a
     * large one so a burst queues instead of making senders wait.
     */
    int size = MT_CHANNEL_SNDBUF;
    (void)setsockopt(fds[0], SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
    (void)setsockopt(fds[1], SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
    /* Readers never send: shut that direction so a stray write fails loudly. */
    (void)shutdown(fds[1], SHUT_WR);
    ch->send_fd = fds[0];
    ch->recv_fd = fds[1];
    return 0;
}

void mt_channel_close(mt_channel_t *ch)
{
    if (ch->send_fd >= 0)
        close(ch->send_fd);
    if (ch->recv_fd >= 0)
        close(ch->recv_fd);
    ch->send_fd = ch->recv_fd = -1;
}

int mt_channel_send(int send_fd, uint32_t sender_slot, const char *target, const void *payload, size_t len,
                    int timeout_ms)
{
    size_t target_len = target ? strlen(target) : 0;
    if (target_len == 0 || target_len > MT_MSG_TARGET_MAX)
        return -EINVAL;
    if (len > MT_MSG_MAX_SIZE || MT_FRAME_HEADER_SIZE + target_len + len > MT_MSG_MAX_SIZE)
        return -EMSGSIZE;

    uint8_t header[MT_FRAME_HEADER_SIZE] = {MT_FRAME_MAGIC, MT_FRAME_VERSION, (uint8_t)target_len, 0};
    memcpy(header + 4, &sender_slot, sizeof sender_slot);
    struct iovec iov[3] = {
        {.iov_base = header, .iov_len = sizeof header},
        {.iov_base = (void *)target, .iov_len = target_len},
        {.iov_base = (void *)payload, .iov_len = len},
    };
    struct msghdr mh = {.msg_iov = iov, .msg_iovlen = len ? 3 : 2};

    int64_t deadline = -1;
    for (;;) {
        ssize_t n = sendmsg(send_fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n >= 0)
            return 0; /* SEQPACKET: all or nothing */
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return -errno;
        /* Queue full: wait for room, bounded. */
        int64_t now = mt_clock_ms();
        if (deadline < 0)
            deadline = now + timeout_ms;
        if (now >= deadline)
            return -ETIMEDOUT;
        struct pollfd pfd = {.fd = send_fd, .events = POLLOUT};
        int r = poll(&pfd, 1, (int)(deadline - now));
        if (r < 0 && errno != EINTR)
            return -errno;
    }
}

int mt_frame_decode(void *buf, size_t n, mt_message_t *msg, char target_out[MT_MSG_TARGET_MAX + 1])
{
    const uint8_t *p = buf;
    if (n < MT_FRAME_HEADER_SIZE || p[0] != MT_FRAME_MAGIC || p[1] != MT_FRAME_VERSION)
        return -EBADMSG;
    size_t target_len = p[2];
    if (target_len == 0 || target_len > MT_MSG_TARGET_MAX || n < MT_FRAME_HEADER_SIZE + target_len)
        return -EBADMSG;
    uint32_t sender;
    memcpy(&sender, p + 4, sizeof sender);
    memcpy(target_out, p + MT_FRAME_HEADER_SIZE, target_len);
    target_out[target_len] = '\0';
    if (memchr(target_out, '\0', target_len))
        return -EBADMSG;
    msg->target = target_out;
    msg->payload = p + MT_FRAME_HEADER_SIZE + target_len;
    msg->len = n - MT_FRAME_HEADER_SIZE - target_len;
    msg->sender_slot = (int)sender;
    return 0;
}

struct mt_recv_batch {
    unsigned capacity;
    unsigned count;
    struct mmsghdr *headers;
    struct iovec *iovs;
    char *buffers; /* capacity * MT_MSG_MAX_SIZE, touched only as far as messages fill it */
};

mt_recv_batch_t *mt_recv_batch_create(unsigned capacity)
{
    mt_recv_batch_t *b = mt_calloc(1, sizeof *b);
    b->capacity = capacity ? capacity : 1;
    b->headers = mt_calloc(b->capacity, sizeof *b->headers);
    b->iovs = mt_calloc(b->capacity, sizeof *b->iovs);
    b->buffers = mt_malloc((size_t)b->capacity * MT_MSG_MAX_SIZE);
    for (unsigned i = 0; i < b->capacity; i++) {
        b->iovs[i].iov_base = b->buffers + (size_t)i * MT_MSG_MAX_SIZE;
        b->iovs[i].iov_len = MT_MSG_MAX_SIZE;
        b->headers[i].msg_hdr.msg_iov = &b->iovs[i];
        b->headers[i].msg_hdr.msg_iovlen = 1;
    }
    return b;
}

void mt_recv_batch_destroy(mt_recv_batch_t *b)
{
    if (!b)
        return;
    free(b->buffers);
    free(b->iovs);
    free(b->headers);
    free(b);
}

int mt_channel_recv_batch(int recv_fd, mt_recv_batch_t *b)
{
    return mt_channel_recv_upto(recv_fd, b, b->capacity);
}

int mt_channel_recv_upto(int recv_fd, mt_recv_batch_t *b, unsigned max)
{
    if (max == 0 || max > b->capacity)
        max = b->capacity;
    for (unsigned i = 0; i < max; i++)
        b->headers[i].msg_hdr.msg_flags = 0;
    for (;;) {
        int n = recvmmsg(recv_fd, b->headers, max, MSG_DONTWAIT, NULL);
        if (n > 0) {
            b->count = (unsigned)n;
            return n;
        }
        if (n == 0)
            return -EAGAIN; /* no datagram (peer closed is impossible: the master holds it) */
        if (errno == EINTR)
            continue;
        if (errno == EWOULDBLOCK)
            return -EAGAIN;
        return -errno;
    }
}

void *mt_recv_batch_get(mt_recv_batch_t *b, unsigned i, size_t *len, int *truncated)
{
    *len = b->headers[i].msg_len;
    *truncated = (b->headers[i].msg_hdr.msg_flags & MSG_TRUNC) != 0;
    return b->iovs[i].iov_base;
}
