/*
 * Unit tests for channel.c: framing, the size limit, the bounded wait on a
 * full queue, batch receive, and exactly-once delivery to competing readers.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "stack/channel.h"

static mt_channel_t ch;

static void setup(void)
{
    cr_assert_eq(mt_channel_open(&ch), 0);
}

static void teardown(void)
{
    mt_channel_close(&ch);
}

TestSuite(channel, .init = setup, .fini = teardown);

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

Test(channel, round_trip_keeps_target_payload_and_sender)
{
    cr_assert_eq(mt_channel_send(ch.send_fd, 7, "setup", "job 42", 6, 0), 0);
    mt_recv_batch_t *b = mt_recv_batch_create(4);
    cr_assert_eq(mt_channel_recv_batch(ch.recv_fd, b), 1);
    size_t len;
    int truncated;
    void *buf = mt_recv_batch_get(b, 0, &len, &truncated);
    cr_assert_not(truncated);
    cr_assert_eq(len, MT_FRAME_HEADER_SIZE + 5 + 6);
    mt_message_t msg;
    char target[MT_MSG_TARGET_MAX + 1];
    cr_assert_eq(mt_frame_decode(buf, len, &msg, target), 0);
    cr_assert_str_eq(msg.target, "setup");
    cr_assert_eq(msg.len, 6);
    cr_assert_eq(memcmp(msg.payload, "job 42", 6), 0);
    cr_assert_eq(msg.sender_slot, 7);
    cr_assert_eq(mt_channel_recv_batch(ch.recv_fd, b), -EAGAIN);
    mt_recv_batch_destroy(b);
}

Test(channel, empty_payload_is_a_message)
{
    cr_assert_eq(mt_channel_send(ch.send_fd, 1, "ping", NULL, 0, 0), 0);
    mt_recv_batch_t *b = mt_recv_batch_create(1);
    cr_assert_eq(mt_channel_recv_batch(ch.recv_fd, b), 1);
    size_t len;
    int truncated;
    void *buf = mt_recv_batch_get(b, 0, &len, &truncated);
    mt_message_t msg;
    char target[MT_MSG_TARGET_MAX + 1];
    cr_assert_eq(mt_frame_decode(buf, len, &msg, target), 0);
    cr_assert_str_eq(msg.target, "ping");
    cr_assert_eq(msg.len, 0);
    mt_recv_batch_destroy(b);
}

Test(channel, largest_message_passes_whole_and_one_more_byte_is_refused)
{
    size_t target_len = 6;
    size_t max_payload = MT_MSG_MAX_SIZE - MT_FRAME_HEADER_SIZE - target_len;
    char *payload = malloc(max_payload + 1);
    for (size_t i = 0; i <= max_payload; i++)
        payload[i] = (char)('a' + i % 26);
    cr_assert_eq(mt_channel_send(ch.send_fd, 0, "record", payload, max_payload + 1, 0), -EMSGSIZE);
    cr_assert_eq(mt_channel_send(ch.send_fd, 0, "record", payload, max_payload, 0), 0);
    mt_recv_batch_t *b = mt_recv_batch_create(2);
    cr_assert_eq(mt_channel_recv_batch(ch.recv_fd, b), 1, "the refused message must not have been sent");
    size_t len;
    int truncated;
    void *buf = mt_recv_batch_get(b, 0, &len, &truncated);
    cr_assert_not(truncated);
    mt_message_t msg;
    char target[MT_MSG_TARGET_MAX + 1];
    cr_assert_eq(mt_frame_decode(buf, len, &msg, target), 0);
    cr_assert_eq(msg.len, max_payload);
    cr_assert_eq(memcmp(msg.payload, payload, max_payload), 0);
    mt_recv_batch_destroy(b);
    free(payload);
}

Test(channel, bad_targets_are_refused)
{
    char long_target[MT_MSG_TARGET_MAX + 2];
    memset(long_target, 't', sizeof long_target - 1);
    long_target[sizeof long_target - 1] = '\0';
    cr_assert_eq(mt_channel_send(ch.send_fd, 0, "", "x", 1, 0), -EINVAL);
    cr_assert_eq(mt_channel_send(ch.send_fd, 0, NULL, "x", 1, 0), -EINVAL);
    cr_assert_eq(mt_channel_send(ch.send_fd, 0, long_target, "x", 1, 0), -EINVAL);
}

Test(channel, full_queue_waits_the_timeout_then_fails)
{
    char payload[1000] = {0};
    int sent = 0, rc;
    while ((rc = mt_channel_send(ch.send_fd, 0, "fill", payload, sizeof payload, 0)) == 0)
        sent++;
    cr_assert_eq(rc, -ETIMEDOUT);
    cr_assert_gt(sent, 100, "the queue should hold a burst (held %d)", sent);
    double t0 = now_s();
    cr_assert_eq(mt_channel_send(ch.send_fd, 0, "fill", payload, sizeof payload, 200), -ETIMEDOUT);
    double waited = now_s() - t0;
    cr_assert_geq(waited, 0.19, "waited only %.3f s", waited);
    cr_assert_lt(waited, 2.0);
    /* Nothing was lost: everything accepted is there to read. */
    mt_recv_batch_t *b = mt_recv_batch_create(64);
    int got = 0, n;
    while ((n = mt_channel_recv_batch(ch.recv_fd, b)) > 0)
        got += n;
    cr_assert_eq(n, -EAGAIN);
    cr_assert_eq(got, sent);
    mt_recv_batch_destroy(b);
}

typedef struct drain_arg {
    mt_channel_t *ch;
    int delay_ms;
} drain_arg_t;

static void *drain_later(void *p)
{
    drain_arg_t *a = p;
    struct timespec d = {.tv_sec = a->delay_ms / 1000, .tv_nsec = (a->delay_ms % 1000) * 1000000L};
    nanosleep(&d, NULL);
    mt_recv_batch_t *b = mt_recv_batch_create(64);
    for (int i = 0; i < 50; i++)
        (void)mt_channel_recv_batch(a->ch->recv_fd, b);
    mt_recv_batch_destroy(b);
    return NULL;
}

Test(channel, full_queue_sender_proceeds_when_a_reader_makes_room)
{
    char payload[1000] = {0};
    while (mt_channel_send(ch.send_fd, 0, "fill", payload, sizeof payload, 0) == 0)
        ;
    drain_arg_t a = {&ch, 100};
    pthread_t t;
    pthread_create(&t, NULL, drain_later, &a);
    cr_assert_eq(mt_channel_send(ch.send_fd, 0, "fill", payload, sizeof payload, 5000), 0);
    pthread_join(t, NULL);
}

Test(channel, malformed_frames_are_rejected)
{
    mt_message_t msg;
    char target[MT_MSG_TARGET_MAX + 1];
    unsigned char short_frame[4] = {'M', 1, 1, 0};
    cr_assert_eq(mt_frame_decode(short_frame, sizeof short_frame, &msg, target), -EBADMSG);
    unsigned char bad_magic[12] = {'X', 1, 2, 0, 0, 0, 0, 0, 'h', 'i'};
    cr_assert_eq(mt_frame_decode(bad_magic, 10, &msg, target), -EBADMSG);
    unsigned char bad_version[12] = {'M', 9, 2, 0, 0, 0, 0, 0, 'h', 'i'};
    cr_assert_eq(mt_frame_decode(bad_version, 10, &msg, target), -EBADMSG);
    unsigned char target_overruns[10] = {'M', 1, 5, 0, 0, 0, 0, 0, 'h', 'i'};
    cr_assert_eq(mt_frame_decode(target_overruns, 10, &msg, target), -EBADMSG);
    unsigned char zero_target[10] = {'M', 1, 0, 0, 0, 0, 0, 0};
    cr_assert_eq(mt_frame_decode(zero_target, 8, &msg, target), -EBADMSG);
    unsigned char nul_in_target[10] = {'M', 1, 2, 0, 0, 0, 0, 0, 'h', 0};
    cr_assert_eq(mt_frame_decode(nul_in_target, 10, &msg, target), -EBADMSG);
    unsigned char too_long_target[8 + 70] = {'M', 1, 70, 0};
    cr_assert_eq(mt_frame_decode(too_long_target, sizeof too_long_target, &msg, target), -EBADMSG);
}

/*
 * Three reader processes compete on one farm socket, as mules do: every
 * message is received exactly once, and losing a race (EAGAIN) is normal.
 */
Test(channel, competing_readers_each_message_exactly_once)
{
    enum { READERS = 3, MESSAGES = 20000 };
    int pipes[READERS][2];
    pid_t pids[READERS];
    for (int r = 0; r < READERS; r++) {
        cr_assert_eq(pipe(pipes[r]), 0);
        pids[r] = fork();
        cr_assert_geq(pids[r], 0);
        if (pids[r] == 0) {
            close(pipes[r][0]);
            mt_recv_batch_t *b = mt_recv_batch_create(16);
            int idle_polls = 0;
            while (idle_polls < 200) {
                int n = mt_channel_recv_batch(ch.recv_fd, b);
                if (n == -EAGAIN) {
                    idle_polls++;
                    nanosleep(&(struct timespec){.tv_nsec = 5000000}, NULL);
                    continue;
                }
                idle_polls = 0;
                for (int i = 0; i < n; i++) {
                    size_t len;
                    int truncated;
                    void *buf = mt_recv_batch_get(b, (unsigned)i, &len, &truncated);
                    mt_message_t msg;
                    char target[MT_MSG_TARGET_MAX + 1];
                    if (mt_frame_decode(buf, len, &msg, target) == 0) {
                        int v;
                        memcpy(&v, msg.payload, sizeof v);
                        (void)!write(pipes[r][1], &v, sizeof v);
                    }
                }
            }
            _exit(0);
        }
        close(pipes[r][1]);
    }
    for (int i = 0; i < MESSAGES; i++)
        cr_assert_eq(mt_channel_send(ch.send_fd, 0, "n", &i, sizeof i, 5000), 0);
    unsigned char *seen = calloc(MESSAGES, 1);
    int total = 0;
    for (int r = 0; r < READERS; r++) {
        int v;
        while (read(pipes[r][0], &v, sizeof v) == (ssize_t)sizeof v) {
            cr_assert(v >= 0 && v < MESSAGES);
            cr_assert_eq(seen[v], 0, "message %d received twice", v);
            seen[v] = 1;
            total++;
        }
        close(pipes[r][0]);
        waitpid(pids[r], NULL, 0);
    }
    cr_assert_eq(total, MESSAGES);
    free(seen);
}
