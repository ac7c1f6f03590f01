"""One farm message wakes one idle mule of the farm, not all of them (docs/messages.md, "How a mule waits").

The herd is measured two ways: the mules' own count of wakeups that found the farm's queue empty
(/api/stack farm_empty_wakeups, /metrics), and the kernel's count of the times each mule blocked
(voluntary_ctxt_switches in /proc/PID/status), which also sees the wakeups that end inside the kernel
(a mule woken for a message another took goes back to sleep before epoll_wait returns).
"""
import os
import re
import signal
import time

from conftest import EXAMPLE, wait_for

MULES = 8
MESSAGES = 500
RATE = 200  # messages per second: every mule is idle again before the next message


def farm_of(servers, n):
    ids = ",".join(str(i) for i in range(1, n + 1))
    s = servers(["--processes", "1", "--threads", "2", "--mules", str(n), "--farm", "f:" + ids], binary=EXAMPLE)
    return s


def mules(s):
    return [p for p in s.stack()["processes"] if p["role"] == "mule"]


def voluntary_switches(pids):
    total = 0
    for pid in pids:
        with open("/proc/%d/status" % pid) as f:
            total += int(re.search(r"^voluntary_ctxt_switches:\s+(\d+)", f.read(), re.M).group(1))
    return total


def handled(s):
    return sum(p["messages_handled"] for p in mules(s))


def test_each_farm_message_wakes_one_of_eight_idle_mules(servers):
    s = farm_of(servers, MULES)
    procs = mules(s)
    pids = [p["pid"] for p in procs]
    assert all(p["farm_wakeups"] == 0 and p["farm_empty_wakeups"] == 0 for p in procs), procs
    time.sleep(0.5)  # past the start

    # What the idle mules do anyway (their heartbeat and the example's timers), over as long as the sends take.
    idle_span = MESSAGES / RATE
    before = voluntary_switches(pids)
    time.sleep(idle_span)
    idle = voluntary_switches(pids) - before

    before = voluntary_switches(pids)
    status, _, body = s.request("POST", "/example/send?farm=f&target=count&from=0&count=%d&rate=%d"
                                % (MESSAGES, RATE), timeout=60)
    assert status == 200, body
    wait_for(lambda: handled(s) >= MESSAGES, 30, what="every message handled")
    switches = voluntary_switches(pids) - before - idle

    procs = mules(s)
    assert sum(p["messages_handled"] for p in procs) == MESSAGES
    wakeups = sum(p["farm_wakeups"] for p in procs)
    empty = sum(p["farm_empty_wakeups"] for p in procs)
    # Every idle mule woken per message (the herd) measured 227 empty wakeups and 4,100 switches here.
    assert empty <= MESSAGES // 20, "%d of %d farm wakeups found the queue empty" % (empty, wakeups)
    assert wakeups <= MESSAGES + MESSAGES // 20, wakeups
    assert switches <= 2 * MESSAGES, "the mules blocked %d times for %d messages (%d when idle)" % (
        switches, MESSAGES, idle)

    # The same counters in /metrics, per mule.
    status, _, body = s.request("GET", "/metrics")
    assert status == 200
    text = body.decode()
    for name, want in (("muleteer_process_farm_wakeups_total", wakeups),
                       ("muleteer_process_farm_empty_wakeups_total", empty)):
        got = [int(v) for v in re.findall(r"^%s\{[^}]*role=\"mule\"[^}]*\} (\d+)$" % name, text, re.M)]
        assert len(got) == MULES, (name, got)
        assert sum(got) >= want, (name, got, want)


def test_a_stopped_mule_does_not_hold_back_the_farm_s_messages(servers):
    """A mule stopped in its wait (SIGSTOP, a debugger attached) leaves each message to the other mule.

    The kernel wakes the waiting mules in the order they began to wait on the farm, so one of the two
    rounds stops the mule it would wake first.
    """
    s = farm_of(servers, 2)
    procs = {p["mule_id"]: p["pid"] for p in mules(s)}
    time.sleep(0.3)
    for k, mule_id in enumerate((1, 2)):
        victim = procs[mule_id]
        had = {p["mule_id"]: p["messages_handled"] for p in mules(s)}
        os.kill(victim, signal.SIGSTOP)
        try:
            time.sleep(0.2)
            status, _, body = s.request("POST", "/example/send?farm=f&target=count&from=%d&count=1" % k)
            assert status == 200, body
            wait_for(lambda: handled(s) >= k + 1, 10, what="the message taken while mule %d is stopped" % mule_id)
        finally:
            os.kill(victim, signal.SIGCONT)
        now = {p["mule_id"]: p["messages_handled"] for p in mules(s)}
        assert now[mule_id] == had[mule_id], "the stopped mule took it"
    assert handled(s) == 2
