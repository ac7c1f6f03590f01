/*
 * fuzz_frame: mt_frame_decode() on arbitrary datagrams.
 *
 * A mule decodes whatever arrives on its channel, so the decoder must
 * never read outside the datagram. The input is decoded from a buffer of
 * exactly its size, and the result is checked against the wire format of
 * channel.h, restated here as an oracle:
 *   - accepted iff: at least 8 bytes, magic 'M', version 1, target length
 *     T in 1..64, at least 8 + T bytes, no NUL in the target; otherwise
 *     -EBADMSG and nothing else;
 *   - on success the target is the T bytes at offset 8, NUL-terminated in
 *     the caller's buffer, the payload is the rest of the datagram (within
 *     it, ending at its end) and the sender slot is the u32 at offset 4.
 * Then the encoder: a datagram that fits MT_MSG_MAX_SIZE, sent again with
 * mt_channel_send() from the decoded fields and received with
 * mt_channel_recv_batch(), must come back byte for byte (flags, which
 * the decoder ignores, become 0).
 */
#include <errno.h>
#include <string.h>

#include "fuzz.h"
#include "stack/channel.h"

static mt_channel_t channel = {-1, -1};
static mt_recv_batch_t *batch;

static void channel_init(void)
{
    if (batch != NULL)
        return;
    FUZZ_CHECK(mt_channel_open(&channel) == 0, "mt_channel_open failed");
    batch = mt_recv_batch_create(1);
}

static int oracle_accepts(const uint8_t *p, size_t n)
{
    if (n < MT_FRAME_HEADER_SIZE || p[0] != MT_FRAME_MAGIC || p[1] != MT_FRAME_VERSION)
        return 0;
    size_t target_len = p[2];
    if (target_len < 1 || target_len > MT_MSG_TARGET_MAX || n < MT_FRAME_HEADER_SIZE + target_len)
        return 0;
    return memchr(p + MT_FRAME_HEADER_SIZE, '\0', target_len) == NULL;
}

/* Encode the decoded message again and compare with the input. */
static void check_round_trip(const uint8_t *data, size_t size, const mt_message_t *msg)
{
    channel_init();
    int rc = mt_channel_send(channel.send_fd, (uint32_t)msg->sender_slot, msg->target, msg->payload, msg->len, 0);
    FUZZ_CHECK(rc == 0, "mt_channel_send of a decoded message failed: %s", strerror(-rc));
    int n = mt_channel_recv_batch(channel.recv_fd, batch);
    FUZZ_CHECK(n == 1, "mt_channel_recv_batch returned %d", n);
    size_t len;
    int truncated;
    const uint8_t *got = mt_recv_batch_get(batch, 0, &len, &truncated);
    FUZZ_CHECK(!truncated && len == size, "sent %zu bytes, received %zu (truncated %d)", size, len, truncated);
    FUZZ_CHECK(memcmp(got, data, 3) == 0 && got[3] == 0, "header differs");
    FUZZ_CHECK(memcmp(got + 4, data + 4, size - 4) == 0, "datagram differs after the flags byte");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* An exact copy: the decoder takes a mutable buffer, and ASan guards its end. */
    uint8_t *buf = malloc(size ? size : 1);
    FUZZ_CHECK(buf != NULL, "out of memory");
    if (size > 0)
        memcpy(buf, data, size);
    char target[MT_MSG_TARGET_MAX + 1];
    memset(target, 0x5a, sizeof target);
    mt_message_t msg = {0};

    int rc = mt_frame_decode(buf, size, &msg, target);
    FUZZ_CHECK(rc == 0 || rc == -EBADMSG, "unexpected return %d", rc);
    FUZZ_CHECK((rc == 0) == oracle_accepts(data, size), "decode says %d for a datagram the format %s", rc,
               oracle_accepts(data, size) ? "accepts" : "refuses");
    if (rc == 0) {
        size_t target_len = data[2];
        FUZZ_CHECK(msg.target == target, "target not in the caller's buffer");
        FUZZ_CHECK(strlen(target) == target_len, "target length %zu, header says %zu", strlen(target), target_len);
        FUZZ_CHECK(memcmp(target, data + MT_FRAME_HEADER_SIZE, target_len) == 0, "target bytes differ");
        const uint8_t *payload = msg.payload;
        FUZZ_CHECK(payload == buf + MT_FRAME_HEADER_SIZE + target_len, "payload does not follow the target");
        FUZZ_CHECK(msg.len == size - MT_FRAME_HEADER_SIZE - target_len && payload + msg.len == buf + size,
                   "payload of %zu bytes does not end with the datagram", msg.len);
        uint32_t slot;
        memcpy(&slot, data + 4, sizeof slot);
        FUZZ_CHECK((uint32_t)msg.sender_slot == slot, "sender slot %d, header says %u", msg.sender_slot, slot);
        if (size <= MT_MSG_MAX_SIZE)
            check_round_trip(data, size, &msg);
    }
    free(buf);
    return 0;
}
