"""memory: resident size (VmRSS) of an idle web worker and an idle mule, muleteer against the reference peer.

Both run their jobs stack (2 web workers, 2 job-handler mules); each web
worker first answers a few GET /api/health and one job runs, so the figures
are those of processes that have worked, then sat idle for a second.
muleteer's processes are found through GET /api/stack, the peer's in uWSGI's
start-up log ("spawned uWSGI worker/mule N (pid: P"). The largest of each
kind is reported. Target: a muleteer mule <= 4 MiB.
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


def measure_muleteer(tmp):
    proc, port = start_muleteer(jobs_stack_args(tempfile.mkdtemp(dir=tmp)))
    try:
        warm(port)
        st = json.loads(urllib.request.urlopen("http://127.0.0.1:%d/api/stack" % port).read())
        pids = lambda role: [p["pid"] for p in st["processes"] if p["role"] == role]
        return {"web": max(rss_kib(p) for p in pids("web")), "mule": max(rss_kib(p) for p in pids("mule")),
                "master": rss_kib(proc.pid)}
    finally:
        stop(proc)


def measure_peer(tmp):
    log = os.path.join(tempfile.mkdtemp(dir=tmp), "peer.log")
    proc, port = start_peer(tmp, log=log)
    try:
        warm(port)
        with open(log) as f:
            text = f.read()
        pids = lambda kind: [int(p) for p in re.findall(r"spawned uWSGI %s \d+ \(pid: (\d+)" % kind, text)]
        return {"web": max(rss_kib(p) for p in pids("worker")), "mule": max(rss_kib(p) for p in pids("mule")),
                "master": rss_kib(proc.pid)}
    finally:
        stop_group(proc)


def run(o, tmp):
    ours, theirs = [], []
    for r in range(o.rounds):
        ours.append(measure_muleteer(tmp))
        if peer_available():
            theirs.append(measure_peer(tmp))
        say("round %d: muleteer %s KiB | peer %s" % (r + 1, ours[-1], theirs[-1] if theirs else "-"))
    mib = lambda runs, k: [x[k] / 1024.0 for x in runs]
    return [Figure("Idle web worker RSS", "MiB", mib(ours, "web"), mib(theirs, "web"), "peer", ("report", None, None),
                   digits=1),
            Figure("Idle mule RSS", "MiB", mib(ours, "mule"), mib(theirs, "mule"), "peer", ("≤ 4 MiB", "<=", 4.0),
                   digits=1)]
