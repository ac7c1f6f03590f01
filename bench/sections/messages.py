"""messages: web worker -> a farm of 3 mules, throughput and latency, in muleteer and in uWSGI.

Throughput: one web worker sends N messages as fast as it can to a farm of 3
counting mules, in muleteer (build/muleteer-example, target "count") and in
uWSGI's own farm messaging (bench/peer-uwsgi-msg, the sender retrying
while the queue is full, since uWSGI drops a message then). The
rate is messages received / (last receipt - start of the send).
Target: muleteer >= uWSGI, none lost.

Latency: the same processes, the sender pacing --msg-rate messages per second
(2 s worth), each payload its send time; every mule records receive time -
send time (muleteer-example target "latency"; for uWSGI, bench/peer-uwsgi-msg
in its latency mode, whose mules do the same in Python). Reported:
p50 and p99 over all messages of a round. Both clocks are the same
CLOCK_REALTIME of one machine.
"""
import glob
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
import urllib.request

from sections.common import HERE, Figure, free_port, pct, say, start_muleteer, stop_group, wait_http, \
    stop


def read_counts(d, prefix):
    n, first, last = 0, None, None
    for path in glob.glob(os.path.join(d, prefix + "*")):
        if path.endswith(".tmp"):
            continue
        with open(path) as f:
            parts = f.read().split()
        if len(parts) != 3:
            continue
        n += int(parts[0])
        first = float(parts[1]) if first is None else min(first, float(parts[1]))
        last = float(parts[2]) if last is None else max(last, float(parts[2]))
    return n, first, last


def read_latencies(d, prefix):
    out = []
    for path in glob.glob(os.path.join(d, prefix + "*")):
        if not path.endswith(".tmp"):
            with open(path) as f:
                out += [int(x) for x in f.read().split()]
    return out


def wait_stable(read, want, timeout=30):
    """Poll read() (returning a count first) until it reaches want or stops changing for 3 s."""
    deadline, seen, stable_since = time.time() + timeout, -1, time.time()
    while time.time() < deadline:
        got = read()
        n = got[0] if isinstance(got, tuple) else len(got)
        if n != seen:
            seen, stable_since = n, time.time()
        if n >= want or time.time() - stable_since > 3:
            time.sleep(0.3)
            return read()
        time.sleep(0.05)
    return read()


def post(port, path, timeout=120):
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), method="POST")
    return json.loads(urllib.request.urlopen(req, timeout=timeout).read())


def muleteer_run(o, tmp):
    """One round in muleteer: throughput of o.messages, then latency at o.msg_rate."""
    d = tempfile.mkdtemp(dir=tmp)
    proc, port = start_muleteer(["--processes", "1", "--mules", "3", "--farm", "counters:1,2,3",
                                 "--disable-logging", "--example.out-dir", d], binary="muleteer-example")
    try:
        time.sleep(0.5)
        doc = post(port, "/example/send?farm=counters&target=count&count=%d" % o.messages)
        got, first, last = wait_stable(lambda: read_counts(d, "count."), o.messages)
        n = int(o.msg_rate * 2)
        post(port, "/example/send?farm=counters&target=latency&count=%d&rate=%g&stamp=1" % (n, o.msg_rate))
        lat = wait_stable(lambda: read_latencies(d, "latency."), n)
        return {"sent": doc["sent"], "received": got, "send_s": doc["elapsed"],
                "deliver_s": (last - doc["started"]) if last else None, "retries": 0,
                "lat_sent": n, "lat_received": len(lat), "lat_p50_us": pct(lat, 50), "lat_p99_us": pct(lat, 99)}
    finally:
        stop(proc)


def start_uwsgi(mode, d, warm_up):
    port = free_port()
    proc = subprocess.Popen(["sh", os.path.join(HERE, "peer-uwsgi-msg", "run.sh"), str(port), mode],
                            env=dict(os.environ, OUT_DIR=d), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    wait_http(port, "/?n=%d" % warm_up)
    if warm_up:
        time.sleep(1.5)  # the warm-up message is counted and reported after a quiet second
        for p in glob.glob(os.path.join(d, "*_*")):
            os.unlink(p)
    return proc, port


def uwsgi_run(o, tmp):
    if not shutil.which("uwsgi"):
        return None
    d = tempfile.mkdtemp(dir=tmp)
    proc, port = start_uwsgi("count", d, 1)
    try:
        t0 = time.time()
        body = urllib.request.urlopen("http://127.0.0.1:%d/?n=%d" % (port, o.messages), timeout=120).read().decode()
        sent, retries, elapsed = body.split()
        got, first, last = wait_stable(lambda: read_counts(d, "count_"), o.messages)
        res = {"sent": int(sent), "received": got, "send_s": float(elapsed),
               "deliver_s": (last - t0) if last else None, "retries": int(retries)}
    finally:
        stop_group(proc)
    d = tempfile.mkdtemp(dir=tmp)
    proc, port = start_uwsgi("latency", d, 0)
    try:
        n = int(o.msg_rate * 2)
        urllib.request.urlopen("http://127.0.0.1:%d/?n=%d&rate=%g&stamp=1" % (port, n, o.msg_rate),
                               timeout=120).read()
        lat = wait_stable(lambda: read_latencies(d, "latency_"), n)
        res.update({"lat_sent": n, "lat_received": len(lat), "lat_p50_us": pct(lat, 50), "lat_p99_us": pct(lat, 99)})
    finally:
        stop_group(proc)
    return res


def run(o, tmp):
    ours, theirs = [], []
    for r in range(o.rounds):
        ours.append(muleteer_run(o, tmp))
        u = uwsgi_run(o, tmp)
        if u:
            theirs.append(u)
        say("round %d: muleteer %s | uWSGI %s" % (r + 1, ours[-1], u))
    rate = lambda x: x["received"] / x["deliver_s"] if x["deliver_s"] else None
    field = lambda runs, k: [x[k] for x in runs]
    lost = lambda runs: [x["sent"] - x["received"] for x in runs]
    median_of = lambda runs, k: "{:,.0f}".format(statistics.median(field(runs, k))) if runs else "–"
    reported = "received: muleteer %s, uWSGI %s of %s" % (median_of(ours, "lat_received"),
                                                         median_of(theirs, "lat_received"), median_of(ours, "lat_sent"))
    return [
        Figure("Messages web → 3 mules, %d msgs" % o.messages, "msg/s", [rate(x) for x in ours],
               [rate(x) for x in theirs], "uWSGI", ("≥ 1× uWSGI, none lost", "ratio>=", 1.0)),
        Figure("Messages lost (worst round)", "", [max(lost(ours))], [max(lost(theirs))] if theirs else [],
               "uWSGI", ("0", "<=", 0), show_ratio=False,
               note="uWSGI retried %s sends on a full queue" % (
                   "{:,.0f}".format(statistics.median(field(theirs, "retries"))) if theirs else "no")),
        Figure("Message latency p50 at %g msg/s" % o.msg_rate, "µs", field(ours, "lat_p50_us"),
               field(theirs, "lat_p50_us"), "uWSGI", ("report", None, None), note=reported),
        Figure("Message latency p99 at %g msg/s" % o.msg_rate, "µs", field(ours, "lat_p99_us"),
               field(theirs, "lat_p99_us"), "uWSGI", ("report", None, None), note=reported),
    ]
