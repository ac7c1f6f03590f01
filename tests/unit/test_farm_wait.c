/*
 * Unit tests for farm_wait.c: a farm message wakes one waiting reader, not
 * all of them; a reader that stops with messages left rings the doorbell
 * and another reader takes them; the loop's descriptor and the timeout
 * end a wait without reporting a farm. Threads stand in for mules: each
 * has a wait set of its own on one shared farm channel and doorbell, as
 * the mules of a farm do after fork.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "stack/channel.h"
#include "stack/farm_wait.h"

static mt_channel_t ch;
static int doorbell;

static void setup(void)
{
    cr_assert_eq(mt_channel_open(&ch), 0);
    doorbell = mt_farm_doorbell_open();
    cr_assert_geq(doorbell, 0);
}

static void teardown(void)
{
    mt_channel_close(&ch);
    close(doorbell);
}

TestSuite(farm_wait, .init = setup, .fini = teardown);

static void sleep_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static bool readable(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    return poll(&p, 1, 0) == 1;
}

static void send_one(int i)
{
    char payload[16];
    int n = snprintf(payload, sizeof payload, "%d", i);
    cr_assert_eq(mt_channel_send(ch.send_fd, 0, "t", payload, (size_t)n, 1000), 0);
}

/* A wait set holding the farm, armed; NULL on failure (callable from any thread). */
static mt_farm_wait_t *try_armed_set(int loop_fd)
{
    mt_farm_wait_t *w;
    if (mt_farm_wait_create(&w, loop_fd) < 0)
        return NULL;
    if (mt_farm_wait_add(w, ch.recv_fd, doorbell) != 0 || mt_farm_wait_arm(w, 0, true) != 0) {
        mt_farm_wait_destroy(w);
        return NULL;
    }
    return w;
}

static mt_farm_wait_t *armed_set(int loop_fd)
{
    mt_farm_wait_t *w = try_armed_set(loop_fd);
    cr_assert_not_null(w);
    return w;
}

Test(farm_wait, a_queued_message_is_reported_and_an_empty_queue_is_not)
{
    mt_farm_wait_t *w = armed_set(-1);
    size_t ready[1];
    cr_assert_eq(mt_farm_wait_wait(w, 0, ready, 1), 0, "nothing queued: the timeout ends the wait");
    send_one(1);
    cr_assert_eq(mt_farm_wait_wait(w, 1000, ready, 1), 1);
    cr_assert_eq(ready[0], 0);
    cr_assert(mt_farm_queue_pending(ch.recv_fd), "waiting takes nothing from the queue");
    mt_recv_batch_t *b = mt_recv_batch_create(4);
    cr_assert_eq(mt_channel_recv_batch(ch.recv_fd, b), 1);
    cr_assert_not(mt_farm_queue_pending(ch.recv_fd));
    cr_assert_eq(mt_farm_wait_wait(w, 0, ready, 1), 0);
    mt_recv_batch_destroy(b);
    mt_farm_wait_destroy(w);
}

Test(farm_wait, the_loop_descriptor_ends_a_wait_without_a_farm)
{
    int loop_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    mt_farm_wait_t *w = armed_set(loop_fd);
    uint64_t one = 1;
    cr_assert_eq(write(loop_fd, &one, sizeof one), (ssize_t)sizeof one);
    size_t ready[1];
    cr_assert_eq(mt_farm_wait_wait(w, 5000, ready, 1), 0);
    cr_assert(readable(loop_fd), "the loop's own events are left to the loop");
    mt_farm_wait_destroy(w);
    close(loop_fd);
}

Test(farm_wait, a_disarmed_farm_is_not_reported_and_arming_twice_is_harmless)
{
    mt_farm_wait_t *w = armed_set(-1);
    cr_assert_eq(mt_farm_wait_arm(w, 0, true), 0);
    cr_assert_eq(mt_farm_wait_arm(w, 0, false), 0);
    cr_assert_eq(mt_farm_wait_arm(w, 0, false), 0);
    send_one(1);
    size_t ready[1];
    cr_assert_eq(mt_farm_wait_wait(w, 0, ready, 1), 0);
    cr_assert_eq(mt_farm_wait_arm(w, 0, true), 0);
    cr_assert_eq(mt_farm_wait_wait(w, 0, ready, 1), 1, "armed again, it sees what waited meanwhile");
    cr_assert_eq(mt_farm_wait_arm(w, 1, true), -EINVAL);
    cr_assert_eq(mt_farm_wait_add(w, -1, -1), -EBADF);
    mt_farm_wait_destroy(w);
}

Test(farm_wait, disarming_rings_the_doorbell_only_when_messages_are_left)
{
    mt_farm_wait_t *w = armed_set(-1);
    cr_assert_eq(mt_farm_wait_arm(w, 0, false), 0);
    cr_assert_not(readable(doorbell), "nothing queued: nothing to hand on");
    cr_assert_eq(mt_farm_wait_arm(w, 0, true), 0);
    send_one(1);
    cr_assert_eq(mt_farm_wait_arm(w, 0, false), 0);
    cr_assert(readable(doorbell));
    mt_farm_wait_destroy(w);
}

Test(farm_wait, a_wait_woken_by_the_doorbell_empties_it)
{
    mt_farm_wait_t *w = armed_set(-1);
    cr_assert_eq(mt_farm_doorbell_ring(doorbell), 0);
    cr_assert_eq(mt_farm_doorbell_ring(doorbell), 0);
    size_t ready[1];
    cr_assert_eq(mt_farm_wait_wait(w, 1000, ready, 1), 1, "rung: look at the queue");
    cr_assert_not(readable(doorbell), "two rings that found nobody waiting make one look");
    cr_assert_eq(mt_farm_wait_wait(w, 0, ready, 1), 0);
    mt_farm_wait_destroy(w);
}

Test(farm_wait, pass_rings_only_when_messages_are_left)
{
    mt_farm_wait_t *w = armed_set(-1);
    cr_assert_eq(mt_farm_wait_pass(w, 0), 0);
    cr_assert_not(readable(doorbell));
    send_one(1);
    cr_assert_eq(mt_farm_wait_pass(w, 0), 0);
    cr_assert(readable(doorbell));
    mt_farm_wait_destroy(w);
}

Test(farm_wait, destroying_an_armed_set_hands_on_what_is_queued)
{
    mt_farm_wait_t *w = armed_set(-1);
    send_one(1);
    mt_farm_wait_destroy(w);
    cr_assert(readable(doorbell));
}

/* ---- several readers: threads, each with a wait set of its own ---- */

#define READERS 8

typedef struct reader {
    int stop_fd;                /* its "loop": written to end the thread */
    bool strand_first;          /* the first time it is woken for the farm, disarm without reading (credit gone) */
    atomic_int wakeups;         /* waits that reported the farm */
    atomic_int empty;           /* of those, the ones that found nothing to read */
    atomic_int taken;           /* messages it read */
    atomic_int waiting;         /* 1 while it is about to block */
    atomic_int failed;          /* a call that should have worked failed (asserted by the test's thread) */
    atomic_long switches;       /* its voluntary context switches (each time it blocked), set when it ends */
} reader_t;

static void *reader_main(void *arg)
{
    reader_t *r = arg;
    mt_farm_wait_t *w = try_armed_set(r->stop_fd);
    if (!w) {
        atomic_store(&r->failed, 1);
        atomic_store(&r->waiting, 1);
        return NULL;
    }
    mt_recv_batch_t *b = mt_recv_batch_create(1);
    struct rusage ru0, ru1;
    getrusage(RUSAGE_THREAD, &ru0);
    for (;;) {
        size_t ready[1];
        atomic_store(&r->waiting, 1);
        int n = mt_farm_wait_wait(w, 10000, ready, 1);
        atomic_store(&r->waiting, 0);
        if (readable(r->stop_fd) || n < 0)
            break;
        if (n == 0)
            continue;
        atomic_fetch_add(&r->wakeups, 1);
        if (r->strand_first) {
            r->strand_first = false;
            if (mt_farm_wait_arm(w, 0, false) != 0) /* leaves the message: the doorbell must hand it on */
                atomic_store(&r->failed, 1);
            break;
        }
        int got = mt_channel_recv_upto(ch.recv_fd, b, 1); /* one at a time, as a mule with one free slot */
        if (got == -EAGAIN)
            atomic_fetch_add(&r->empty, 1);
        else if (got > 0)
            atomic_fetch_add(&r->taken, got);
        else
            atomic_store(&r->failed, 1);
    }
    getrusage(RUSAGE_THREAD, &ru1);
    atomic_store(&r->switches, ru1.ru_nvcsw - ru0.ru_nvcsw);
    mt_recv_batch_destroy(b);
    mt_farm_wait_destroy(w);
    return NULL;
}

static void start_readers(reader_t *rs, pthread_t *threads, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        rs[i].stop_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        cr_assert_eq(pthread_create(&threads[i], NULL, reader_main, &rs[i]), 0);
    }
    for (int tries = 0; tries < 500; tries++) {
        size_t blocked = 0;
        for (size_t i = 0; i < n; i++)
            blocked += (size_t)atomic_load(&rs[i].waiting);
        if (blocked == n)
            break;
        sleep_ms(2);
    }
    sleep_ms(50); /* from "about to block" to blocked in epoll_wait */
}

static void stop_readers(reader_t *rs, pthread_t *threads, size_t n)
{
    uint64_t one = 1;
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(write(rs[i].stop_fd, &one, sizeof one), (ssize_t)sizeof one);
    for (size_t i = 0; i < n; i++) {
        pthread_join(threads[i], NULL);
        close(rs[i].stop_fd);
        cr_assert_eq(atomic_load(&rs[i].failed), 0, "reader %zu: a wait-set call failed", i);
    }
}

static int total(reader_t *rs, size_t n, size_t field)
{
    int sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += atomic_load((atomic_int *)((char *)&rs[i] + field));
    return sum;
}

Test(farm_wait, each_message_wakes_one_of_eight_idle_readers)
{
    reader_t rs[READERS] = {0};
    pthread_t threads[READERS];
    start_readers(rs, threads, READERS);
    const int messages = 100;
    for (int i = 0; i < messages; i++) {
        send_one(i);
        sleep_ms(3); /* a modest rate: every reader is idle again when the next message comes */
    }
    for (int tries = 0; tries < 1000 && total(rs, READERS, offsetof(reader_t, taken)) < messages; tries++)
        sleep_ms(5);
    stop_readers(rs, threads, READERS);
    cr_assert_eq(total(rs, READERS, offsetof(reader_t, taken)), messages, "every message read exactly once");
    cr_assert_not(mt_farm_queue_pending(ch.recv_fd));
    /*
     * A reader blocks once per wakeup. Shared (non-exclusive) registrations wake all eight per message: about
     * 800 switches, most of them inside the kernel (a reader that finds the message taken blocks again before
     * epoll_wait returns), so they do not show as empty wakeups here.
     */
    long switches = 0;
    for (size_t i = 0; i < READERS; i++)
        switches += atomic_load(&rs[i].switches);
    int empty = total(rs, READERS, offsetof(reader_t, empty));
    cr_assert_leq(switches, 2 * messages, "%ld context switches for %d messages (%d empty wakeups)", switches,
                  messages, empty);
    cr_assert_leq(empty, messages / 10, "%d wakeups of %d found nothing to read", empty,
                  total(rs, READERS, offsetof(reader_t, wakeups)));
}

Test(farm_wait, a_message_left_by_the_woken_reader_reaches_another_one)
{
    /*
     * The kernel wakes the exclusive waiters in the order they registered: the first reader, which leaves the
     * message (its credit gone) and quits. Only the doorbell it rings then wakes the second.
     */
    reader_t rs[2] = {{.strand_first = true}, {0}};
    pthread_t threads[2];
    start_readers(&rs[0], &threads[0], 1);
    start_readers(&rs[1], &threads[1], 1);
    send_one(1);
    for (int tries = 0; tries < 1000 && atomic_load(&rs[1].taken) < 1; tries++)
        sleep_ms(2);
    stop_readers(rs, threads, 2);
    cr_assert_eq(atomic_load(&rs[1].taken), 1, "the message was stranded in the queue (woken: %d and %d)",
                 atomic_load(&rs[0].wakeups), atomic_load(&rs[1].wakeups));
    cr_assert_eq(atomic_load(&rs[0].wakeups), 1, "the first reader was the one woken by the message");
}
