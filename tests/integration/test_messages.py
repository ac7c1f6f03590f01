"""Messages from web workers to mules and farms: exactly once, never dropped or truncated."""
import collections
import glob
import json
import os
import signal
import threading
import time

from conftest import EXAMPLE, MULE_ECHO, wait_for


def received(dirpath):
    """Every payload recorded by every mule, with its mule id."""
    out = collections.Counter()
    per_mule = collections.Counter()
    for path in glob.glob(os.path.join(dirpath, "received.*")):
        mule = int(path.rsplit(".", 1)[1])
        with open(path) as f:
            for line in f:
                line = line.rstrip("\n")
                if line:
                    out[line] += 1
                    per_mule[mule] += 1
    return out, per_mule


def example(servers, tmp_path, args):
    d = tmp_path / "out"
    d.mkdir(exist_ok=True)
    s = servers(args + ["--set", "example.out-dir=%s" % d], binary=EXAMPLE)
    return s, str(d)


def test_100k_messages_from_4_threads_to_a_farm_of_3_arrive_exactly_once(servers, tmp_path):
    s, out = example(servers, tmp_path, ["--processes", "1", "--threads", "4", "--mules", "3",
                                         "--farm", "counters:1,2,3"])
    per_thread, nthreads = 25000, 4
    results = [None] * nthreads
    def send(k):
        status, _, body = s.request(
            "POST", "/example/send?farm=counters&target=record&from=%d&count=%d&wait=%d"
            % (k * per_thread, per_thread, nthreads), timeout=60)
        results[k] = (status, json.loads(body))
    threads = []
    for k in range(nthreads):
        t = threading.Thread(target=send, args=(k,))
        t.start()
        threads.append(t)
        time.sleep(0.2)  # each request is taken by an idle thread: the busy ones hold theirs
    [t.join() for t in threads]
    for status, doc in results:
        assert status == 200, doc
        assert doc["sent"] == per_thread
    assert len({doc["thread"] for _, doc in results}) == nthreads, "not sent from %d threads" % nthreads
    total = per_thread * nthreads
    wait_for(lambda: sum(received(out)[0].values()) >= total, 30, what="all messages to be recorded")
    time.sleep(0.3)  # anything extra (a duplicate) would show up now
    counts, per_mule = received(out)
    assert sum(counts.values()) == total
    assert set(counts) == {str(i) for i in range(total)}
    assert max(counts.values()) == 1
    assert len(per_mule) == 3, "every mule of the farm took a share: %s" % dict(per_mule)
    st = s.by_name()
    assert st["main.web.1"]["messages_sent"] == total
    assert sum(st["main.counters.%d" % i]["messages_handled"] for i in (1, 2, 3)) == total


def test_send_to_one_mule_by_id_and_by_server_name(servers, tmp_path):
    s, out = example(servers, tmp_path, ["--mules", "3", "--farm", "jobs:2,3"])
    status, _, body = s.request("POST", "/example/send?mule=1&target=record&from=100&count=5")
    assert status == 200, body
    status, _, body = s.request("POST", "/example/send?server=main.jobs.2&target=record&from=200&count=5")
    assert status == 200, body
    def both():
        _, per = received(out)
        return per if per[1] == 5 and per[3] == 5 else None
    wait_for(both, 10, what="messages at mule 1 and mule 3")
    with open(os.path.join(out, "received.1")) as f:
        assert f.read().split() == [str(i) for i in range(100, 105)]
    with open(os.path.join(out, "received.3")) as f:
        assert f.read().split() == [str(i) for i in range(200, 205)]


def test_oversized_message_is_refused_not_truncated(servers, tmp_path):
    s, out = example(servers, tmp_path, ["--mules", "1", "--farm", "f:1", "--limit-post", "200000"])
    big = b"x" * 70000
    status, _, body = s.request("POST", "/example/message?farm=f&target=record", body=big)
    assert status == 413, body
    assert b"too large" in body
    fits = b"y" * 60000
    status, _, body = s.request("POST", "/example/message?farm=f&target=record", body=fits)
    assert status == 202, body
    wait_for(lambda: received(out)[0].get("y" * 60000) == 1, 10, what="the 60000-byte message")
    assert not any(k.startswith("x") for k in received(out)[0])


def test_unknown_farm_and_target(servers, tmp_path):
    s, out = example(servers, tmp_path, ["--mules", "1", "--farm", "f:1"])
    status, _, body = s.request("POST", "/example/send?farm=nope&target=record&count=1")
    assert status == 404 and b"no such farm" in body
    status, _, _ = s.request("POST", "/example/send?farm=f&target=nobody-handles-this&count=1")
    assert status == 200
    wait_for(lambda: 'no handler registered for message target "nobody-handles-this"' in s.log(), 5,
             what="the unhandled message to be logged")


def test_full_queue_makes_the_sender_wait_then_fail(servers, tmp_path):
    # A mule that never reads: its farm's queue fills up.
    s, out = example(servers, tmp_path, ["--mule=/bin/sleep 3600", "--farm", "stuck:1",
                                         "--msg-send-timeout", "300"])
    t0 = time.time()
    status, _, body = s.request("POST", "/example/send?farm=stuck&target=record&count=10000000", timeout=60)
    elapsed = time.time() - t0
    doc = json.loads(body)
    assert status == 503, doc
    assert "queue full" in doc["err_msg"]
    sent = int(doc["err_msg"].split()[1])
    assert sent > 1000, doc  # the queue holds a burst before pushing back
    assert elapsed >= 0.3
    st = s.by_name()
    assert st["main.web.1"]["messages_sent"] == sent
    assert st["main.web.1"]["messages_failed"] == 1


def test_external_mule_program_receives_its_messages(servers, tmp_path):
    log = tmp_path / "echo.log"
    s2 = servers(["--mule=%s" % MULE_ECHO, "--mule", "--farm", "echoes:1"], binary=EXAMPLE,
                 env={"MULE_ECHO_FILE": str(log)})
    procs = s2.by_name()
    assert procs["main.echoes.1"]["program"] == MULE_ECHO
    status, _, body = s2.request("POST", "/example/message?farm=echoes&target=greet", body=b"hello farm")
    assert status == 202, body
    status, _, body = s2.request("POST", "/example/message?mule=1&target=direct", body=b"hello mule")
    assert status == 202, body
    wait_for(lambda: log.exists() and len(log.read_text().splitlines()) == 2, 10, what="mule-echo output")
    assert sorted(log.read_text().splitlines()) == ["direct hello mule", "greet hello farm"]
    assert "mule-echo: main.echoes.1 ready on 2 channel(s)" in s2.log()


def test_messages_queued_for_a_dead_mule_reach_its_successor(servers, tmp_path):
    s, out = example(servers, tmp_path, ["--mules", "1", "--farm", "solo:1"])
    old = s.by_name()["main.solo.1"]["pid"]
    os.kill(old, signal.SIGSTOP)  # it cannot read: whatever is sent now stays queued
    status, _, body = s.request("POST", "/example/send?farm=solo&target=record&from=0&count=50")
    assert status == 200, body
    status, _, body = s.request("POST", "/example/send?mule=1&target=record&from=50&count=50")
    assert status == 200, body
    os.kill(old, signal.SIGKILL)
    def respawned():
        p = s.by_name()["main.solo.1"]
        return p if p["pid"] not in (None, old) and p["state"] == "running" else None
    s.known_pids.add(wait_for(respawned, 10, what="respawn")["pid"])
    wait_for(lambda: sum(received(out)[0].values()) == 100, 10, what="the queued messages at the new mule")
    counts, _ = received(out)
    assert set(counts) == {str(i) for i in range(100)} and max(counts.values()) == 1
