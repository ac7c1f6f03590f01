/*
 * Unit tests for sd_notify.c: the datagram protocol (a path and an abstract
 * name, no socket, an address it cannot use), what mt_sd_init() takes from
 * the environment and removes from it, and the master's sequence on a
 * process table made by hand: READY=1 only once every child has beaten
 * since its fork, RELOADING=1 with MONOTONIC_USEC then READY=1, STOPPING=1
 * once, STATUS= lines, WATCHDOG=1 when due and the poll timeout it sets.
 * The integration tests (test_systemd.py) run the same against the binary.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/clock.h"
#include "stack/proctable.h"
#include "stack/sd_notify.h"
#include "stack/stack.h"

static char dir[64], path[128];
static int sock = -1;

static void listen_on(const char *addr)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t len = strlen(addr);
    memcpy(sa.sun_path, addr, len);
    if (addr[0] == '@')
        sa.sun_path[0] = '\0';
    sock = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    cr_assert_geq(sock, 0);
    socklen_t salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + (addr[0] == '@' ? 0 : 1));
    cr_assert_eq(bind(sock, (struct sockaddr *)&sa, salen), 0, "bind %s: %s", addr, strerror(errno));
}

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/mt_test_sd_XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/notify", dir);
    unsetenv("NOTIFY_SOCKET");
    unsetenv("WATCHDOG_USEC");
    unsetenv("WATCHDOG_PID");
}

static void teardown(void)
{
    if (sock >= 0)
        close(sock);
    sock = -1;
    unlink(path);
    rmdir(dir);
    mt_sd_init(false); /* nothing in the environment: off again */
}

/* The next datagram, "" if none is waiting. */
static const char *next_message(void)
{
    static char buf[1024];
    ssize_t n = recv(sock, buf, sizeof buf - 1, 0);
    buf[n > 0 ? n : 0] = '\0';
    return buf;
}

TestSuite(sd_notify, .init = setup, .fini = teardown);

Test(sd_notify, one_datagram_to_a_path)
{
    listen_on(path);
    setenv("NOTIFY_SOCKET", path, 1);
    cr_assert_eq(mt_sd_notify("READY=1\nSTATUS=up"), 1);
    cr_assert_str_eq(next_message(), "READY=1\nSTATUS=up");
    cr_assert_str_eq(next_message(), "");
}

Test(sd_notify, one_datagram_to_an_abstract_name)
{
    char name[64];
    snprintf(name, sizeof name, "@mt-test-sd-%d", (int)getpid());
    listen_on(name);
    setenv("NOTIFY_SOCKET", name, 1);
    cr_assert_eq(mt_sd_notify("STOPPING=1"), 1);
    cr_assert_str_eq(next_message(), "STOPPING=1");
}

Test(sd_notify, no_socket_no_message)
{
    cr_assert_eq(mt_sd_notify("READY=1"), 0);
    setenv("NOTIFY_SOCKET", "", 1);
    cr_assert_eq(mt_sd_notify("READY=1"), 0);
}

Test(sd_notify, an_address_it_cannot_use)
{
    setenv("NOTIFY_SOCKET", "relative/notify", 1);
    cr_assert_eq(mt_sd_notify("READY=1"), -EAFNOSUPPORT);
    mt_sd_init(false);
    cr_assert(!mt_sd_enabled(), "said in the log, and off");
    cr_assert_null(getenv("NOTIFY_SOCKET"));
    setenv("NOTIFY_SOCKET", path, 1); /* nobody bound there */
    cr_assert_eq(mt_sd_notify("READY=1"), -ENOENT);
}

Test(sd_notify, init_takes_the_variables_out_of_the_environment)
{
    listen_on(path);
    setenv("NOTIFY_SOCKET", path, 1);
    setenv("WATCHDOG_USEC", "3000000", 1);
    mt_sd_init(false);
    cr_assert(mt_sd_enabled());
    cr_assert_eq(mt_sd_watchdog_usec(), 3000000);
    cr_assert_null(getenv("NOTIFY_SOCKET"));
    cr_assert_null(getenv("WATCHDOG_USEC"));
    /* What a child would call finds nothing; the master still sends. */
    cr_assert_eq(mt_sd_notify("X=1"), 1);
    cr_assert_str_eq(next_message(), "X=1");
}

Test(sd_notify, the_watchdog_of_another_process_or_a_bad_value_is_off)
{
    setenv("NOTIFY_SOCKET", path, 1);
    setenv("WATCHDOG_USEC", "3000000", 1);
    setenv("WATCHDOG_PID", "1", 1);
    mt_sd_init(false);
    cr_assert_eq(mt_sd_watchdog_usec(), 0);
    cr_assert_null(getenv("WATCHDOG_PID"));
    setenv("NOTIFY_SOCKET", path, 1);
    setenv("WATCHDOG_USEC", "soon", 1);
    mt_sd_init(false);
    cr_assert_eq(mt_sd_watchdog_usec(), 0);
    char pid[16];
    snprintf(pid, sizeof pid, "%d", (int)getpid());
    setenv("NOTIFY_SOCKET", path, 1);
    setenv("WATCHDOG_USEC", "3000000", 1);
    setenv("WATCHDOG_PID", pid, 1);
    mt_sd_init(false);
    cr_assert_eq(mt_sd_watchdog_usec(), 3000000);
}

/* A table by hand: the master and one web worker, forked at `forked`, last beaten at `beat`. */
static mt_proc_live_t lives[2];
static mt_proc_t procs[2];
static mt_stack_t stack;

static void table(int64_t forked, int64_t beat)
{
    memset(lives, 0, sizeof lives);
    memset(procs, 0, sizeof procs);
    memset(&stack, 0, sizeof stack);
    procs[0].role = MT_ROLE_MASTER;
    procs[1].role = MT_ROLE_WEB;
    for (int i = 0; i < 2; i++)
        procs[i].live = &lives[i];
    atomic_store(&lives[1].pid, 4242);
    atomic_store(&lives[1].state, MT_PROC_RUNNING);
    atomic_store(&lives[1].forked_mono_us, forked);
    atomic_store(&lives[1].beat_mono_us, beat);
    stack.procs.procs = procs;
    stack.procs.nprocs = 2;
    stack.procs.nweb = 1;
}

Test(sd_notify, ready_once_the_child_has_beaten_then_reload_and_stop)
{
    listen_on(path);
    setenv("NOTIFY_SOCKET", path, 1);
    mt_sd_init(false);
    int64_t t = mt_clock_us();
    table(t, 0);
    cr_assert_leq(mt_sd_timeout(500), 50, "waiting for readiness: looks often");
    mt_sd_tick(&stack);
    cr_assert_str_eq(next_message(), "STATUS=starting: 0 of 1 processes up (1 web worker, 0 mules, 0 farms)");
    mt_sd_tick(&stack);
    cr_assert_str_eq(next_message(), "", "the same status is not sent twice");
    atomic_store(&lives[1].beat_mono_us, t + 1);
    mt_sd_tick(&stack);
    cr_assert_str_eq(next_message(), "READY=1\nSTATUS=up: 1 web worker, 0 mules, 0 farms");
    cr_assert_eq(mt_sd_timeout(500), 500, "up, no watchdog: the master's own timeout");
    mt_sd_tick(&stack);
    cr_assert_str_eq(next_message(), "");

    /* A rolling reload: READY=1 only after mt_sd_reloaded(), and once the new process is up. */
    mt_sd_reloading(&stack, false);
    const char *msg = next_message();
    long long mono = 0;
    cr_assert_eq(sscanf(msg, "RELOADING=1\nMONOTONIC_USEC=%lld\n", &mono), 1, "%s", msg);
    cr_assert(mono >= t && mono <= mt_clock_us(), "%lld", mono);
    cr_assert(strstr(msg, "\nSTATUS=reloading: 0 of 1 processes restarted"), "%s", msg);
    table(mt_clock_us(), 0); /* restarted, not beaten yet */
    mt_sd_tick(&stack);
    cr_assert_null(strstr(next_message(), "READY"));
    mt_sd_reloaded();
    mt_sd_tick(&stack);
    cr_assert_str_eq(next_message(), "");
    atomic_store(&lives[1].beat_mono_us, mt_clock_us());
    mt_sd_tick(&stack);
    cr_assert_str_eq(next_message(), "READY=1\nSTATUS=up: 1 web worker, 0 mules, 0 farms");

    mt_sd_stopping(&stack);
    cr_assert_str_eq(next_message(), "STOPPING=1\nSTATUS=stopping: 1 process left");
    mt_sd_stopping(&stack);
    mt_sd_reloading(&stack, true);
    cr_assert_str_eq(next_message(), "", "nothing but STATUS= once stopping");
    atomic_store(&lives[1].pid, 0);
    mt_sd_tick(&stack);
    cr_assert_str_eq(next_message(), "STATUS=stopping: 0 processes left");
}

Test(sd_notify, an_immediate_reload_waits_for_every_child_to_be_started_anew)
{
    listen_on(path);
    setenv("NOTIFY_SOCKET", path, 1);
    mt_sd_init(false);
    table(mt_clock_us(), mt_clock_us() + 1);
    mt_sd_tick(&stack);
    cr_assert_not_null(strstr(next_message(), "READY=1"));
    mt_sd_reloading(&stack, true);
    cr_assert_not_null(strstr(next_message(), "RELOADING=1"));
    mt_sd_tick(&stack); /* the old process, still up: not a reason to say ready */
    cr_assert_null(strstr(next_message(), "READY"));
    int64_t now = mt_clock_us();
    table(now + 1, now + 2);
    mt_sd_tick(&stack);
    cr_assert_str_eq(next_message(), "READY=1\nSTATUS=up: 1 web worker, 0 mules, 0 farms");
}

Test(sd_notify, the_watchdog_is_pinged_every_half_interval)
{
    listen_on(path);
    setenv("NOTIFY_SOCKET", path, 1);
    setenv("WATCHDOG_USEC", "200000", 1);
    mt_sd_init(true);
    table(mt_clock_us(), mt_clock_us() + 1);
    mt_sd_tick(&stack);
    char want[64];
    snprintf(want, sizeof want, "READY=1\nMAINPID=%d\nSTATUS=up", (int)getpid());
    cr_assert_eq(strncmp(next_message(), want, strlen(want)), 0, "daemonized: MAINPID= with READY=1");
    cr_assert_str_eq(next_message(), "WATCHDOG=1");
    int timeout = mt_sd_timeout(5000);
    cr_assert(timeout > 50 && timeout <= 100, "%d", timeout);
    mt_sd_tick(&stack);
    cr_assert_str_eq(next_message(), "", "not due yet");
    usleep(110 * 1000);
    cr_assert_eq(mt_sd_timeout(5000), 0);
    mt_sd_tick(&stack);
    cr_assert_str_eq(next_message(), "WATCHDOG=1");
}
