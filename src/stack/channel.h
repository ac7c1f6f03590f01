/*
 * channel: message transport between processes on one host.
 *
 * A channel is a SOCK_SEQPACKET socketpair created by the master before it
 * forks: senders write to send_fd, readers read from recv_fd. Every mule has
 * one channel of its own and every farm has one, read by all the mules of
 * the farm: the kernel hands each message to exactly one reader, and a
 * reader that loses the race sees EAGAIN, which is normal. The master keeps
 * both ends open, so messages queued for a mule that dies wait for its
 * respawned successor.
 *
 * Wire format of one message (one datagram, never split, never truncated):
 *
 *   offset 0  u8   magic 'M' (0x4d)
 *          1  u8   version (1)
 *          2  u8   target length T, 1..MT_MSG_TARGET_MAX
 *          3  u8   flags (0)
 *          4  u32  sender slot, host byte order
 *          8  T bytes target name (no NUL)
 *        8+T  payload (the rest of the datagram)
 *
 * The whole datagram is at most MT_MSG_MAX_SIZE bytes. docs/messages.md
 * describes it for mules written in other languages.
 */
#ifndef MT_CHANNEL_H
#define MT_CHANNEL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "muleteer.h"

#define MT_FRAME_HEADER_SIZE 8
#define MT_FRAME_MAGIC 0x4d
#define MT_FRAME_VERSION 1

typedef struct mt_channel {
    int send_fd; /* senders write here (non-blocking) */
    int recv_fd; /* readers read here (non-blocking) */
} mt_channel_t;

/*
 * Create a channel: both ends non-blocking and close-on-exec, with send
 * buffers large enough to queue a burst. Returns 0 or -errno.
 */
int mt_channel_open(mt_channel_t *ch);
/* Close both ends (those that are >= 0). */
void mt_channel_close(mt_channel_t *ch);

/*
 * Send one message on send_fd. Never truncates, never drops silently:
 * returns 0 when queued; -EINVAL for an empty or too long target,
 * -EMSGSIZE when header + target + payload exceed MT_MSG_MAX_SIZE,
 * -ETIMEDOUT when the queue stayed full for timeout_ms (0: do not wait),
 * other -errno from the socket. Thread-safe (one sendmsg per message).
 */
int mt_channel_send(int send_fd, uint32_t sender_slot, const char *target, const void *payload, size_t len,
                    int timeout_ms);

/*
 * Decode one received datagram of n bytes. Returns 0 and fills msg: the
 * target is copied NUL-terminated into target_out (msg->target points to
 * it), the payload points into buf. -EBADMSG for a malformed datagram.
 */
int mt_frame_decode(void *buf, size_t n, mt_message_t *msg, char target_out[MT_MSG_TARGET_MAX + 1]);

/* A reusable batch of receive buffers for mt_channel_recv_batch. */
typedef struct mt_recv_batch mt_recv_batch_t;

mt_recv_batch_t *mt_recv_batch_create(unsigned capacity);
void mt_recv_batch_destroy(mt_recv_batch_t *batch);

/*
 * Receive up to the batch capacity of messages without blocking (one
 * recvmmsg). Returns the count received (> 0), -EAGAIN when nothing was
 * waiting (another reader won the race, or the queue is empty), or -errno.
 */
int mt_channel_recv_batch(int recv_fd, mt_recv_batch_t *batch);
/* The same, receiving at most max datagrams (1..capacity). */
int mt_channel_recv_upto(int recv_fd, mt_recv_batch_t *batch, unsigned max);
/* The i-th datagram of the last receive. *truncated is set if the kernel cut it (never expected). */
void *mt_recv_batch_get(mt_recv_batch_t *batch, unsigned i, size_t *len, int *truncated);

#endif
