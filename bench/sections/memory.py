"""memory: resident size (VmRSS) of an idle web worker and an idle mule, muleteer against the reference peer.

Both run their jobs stack (2 web workers, 2 job-handler mules). Measured
twice: a second after start-up (fresh), and after the web workers have
answered a few GET /api/health and one job has run, then sat idle for a
second (after work: pages a job's spawn and database writes touched stay
resident).
muleteer's processes are found through GET /api/stack, the peer's in uWSGI's
start-up log ("spawned uWSGI worker/mule N (pid: P"). The largest of each
kind is reported. Target: a fresh muleteer mule <= 4 MiB.
"""
import json
import os
import re
import tempfile
import time
import urllib.request

from sections.common import Figure, jobs_stack_args, peer_available, rss_kib, say, start_muleteer, start_peer, stop, \
    stop_group
from sections.dbread import one_finished_job


def warm(port):
    for _ in range(50):
        urllib.request.urlopen("http://127.0.0.1:%d/api/health" % port, timeout=5).read()
    one_finished_job(port)
    time.sleep(1.0)


def sample(pids, master):
    return {"web": max(rss_kib(p) for p in pids("web")), "mule": max(rss_kib(p) for p in pids("mule")),
            "master": rss_kib(master)}


def measure_muleteer(tmp):
    proc, port = start_muleteer(jobs_stack_args(tempfile.mkdtemp(dir=tmp)))
    try:
        st = json.loads(urllib.request.urlopen("http://127.0.0.1:%d/api/stack" % port).read())
        pids = lambda role: [p["pid"] for p in st["processes"] if p["role"] == role]
        time.sleep(1.0)
        fresh = sample(pids, proc.pid)
        warm(port)
        return fresh, sample(pids, proc.pid)
    finally:
        stop(proc)


def measure_peer(tmp):
    log = os.path.join(tempfile.mkdtemp(dir=tmp), "peer.log")
    proc, port = start_peer(tmp, log=log)
    try:
        time.sleep(1.0)
        with open(log) as f:
            text = f.read()
        pids = lambda kind: [int(p) for p in re.findall(r"spawned uWSGI %s \d+ \(pid: (\d+)" %
                                                        {"web": "worker", "mule": "mule"}[kind], text)]
        fresh = sample(pids, proc.pid)
        warm(port)
        return fresh, sample(pids, proc.pid)
    finally:
        stop_group(proc)


def run(o, tmp):
    ours, theirs = [], []
    for r in range(o.rounds):
        ours.append(measure_muleteer(tmp))
        if peer_available():
            theirs.append(measure_peer(tmp))
        say("round %d: muleteer (fresh, after work) %s KiB | peer %s" % (r + 1, ours[-1], theirs[-1] if theirs else "-"))
    mib = lambda runs, when, k: [x[when][k] / 1024.0 for x in runs]
    figs = []
    for when, label in ((0, "fresh"), (1, "after work")):
        figs += [Figure("Idle web worker RSS, %s" % label, "MiB", mib(ours, when, "web"), mib(theirs, when, "web"),
                        "peer", ("report", None, None), digits=1),
                 Figure("Idle mule RSS, %s" % label, "MiB", mib(ours, when, "mule"), mib(theirs, when, "mule"), "peer",
                        ("≤ 4 MiB", "<=", 4.0) if when == 0 else ("report", None, None), digits=1)]
    return figs
