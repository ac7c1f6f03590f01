"""jobs: `true` jobs end to end through POST /api/jobs, with bench/jobs_load.py, against the reference peer.

Every round starts, in turn, a fresh muleteer with accept-sync=full (the
default: a job is fsynced before its 201), a fresh muleteer with
accept-sync=normal (WAL, synchronous=NORMAL: the peer's durability), and a
fresh reference peer (bench/peer-uwsgi-jobs), each the same shape: 2 web
workers x 4 threads, a job-handlers farm of 2 mules. The order turns from
round to round. Each server in turn runs:

- 1,000 jobs from 1 client (closed loop), with --server-pid on muleteer's
  master and on the peer's uWSGI master: the server's CPU per job (its
  processes in its session, the jobs' commands excluded) and jobs/s.
  Targets: muleteer's CPU per job <= 0.5x the peer's, jobs/s >= 1.3x.
  muleteer runs each job's waiter in a session of its own, which
  --server-pid does not count: when the server exposes
  muleteer_job_waiter_cpu_seconds_total in GET /metrics, that counter read
  before and after the run gives the waiters' CPU per job, reported beside
  (else "n/a").
- a burst of 2,000 jobs from 8 clients: jobs/s (target >= 1.6x the peer's,
  the peer's over the jobs it finished), 0 stuck, and the CPU per job,
  reported. Beside it, reported only: the floor, posix_spawn + wait of
  /bin/true on every core, measured in every round.
- a steady 200 jobs/s (1,000 jobs from 4 clients, paced): create->start
  p50 <= 0.3 ms and p99 <= 2 ms with accept-sync=normal (the table's first
  line says what the machine adds); full reported.
- with accept-sync=normal and the peer, a quiet 20 jobs/s (200 jobs),
  reported: the latency of a job's path without a busy machine's.

The peer loses jobs: uWSGI drops a farm message when the mules' queue is
full, and that job stays 'new' for ever. jobs_load.py then waits its
timeout for them, counts them stuck, and charges the peer's CPU only up to
the last job that ended; the peer's jobs/s are over the jobs it finished.
A lost job's POST (and the reads of it while others ran) is in the peer's
CPU but not in its jobs done: that raises the peer's figure a little, in
muleteer's favour (0.41 ms per job in a round it lost none, 0.45 in two
that lost 63 and 170 of 1,000, in one run). Every round counts; the rows
say in how many the peer lost jobs.
"""
import os
import subprocess
import tempfile

from sections.common import PYTHON, Figure, jobs_load, jobs_stack_args, metric, peer_available, say, \
    start_muleteer, start_peer, stop, stop_group

WAITER_CPU = "muleteer_job_waiter_cpu_seconds_total"


def spawn_floor(seconds=3.0):
    """posix_spawn + wait of /bin/true on every core, side by side: the ceiling for running `true` jobs."""
    code = ("import os,time\nn=0\nt=time.time()+%f\n"
            "while time.time()<t:\n os.waitpid(os.posix_spawn('/bin/true',['/bin/true'],{}),0); n+=1\n"
            "print(n)\n" % seconds)
    procs = [subprocess.Popen([PYTHON, "-c", code], stdout=subprocess.PIPE, text=True)
             for _ in range(os.cpu_count() or 1)]
    return sum(int(p.communicate()[0]) for p in procs) / seconds


def one_server(side, o, tmp, sizes):
    """Start side (full, normal or peer), run the loads on it, stop it; {load: jobs_load's result}."""
    peer = side == "peer"
    if peer:
        proc, port = start_peer(tmp)
    else:
        proc, port = start_muleteer(jobs_stack_args(tempfile.mkdtemp(dir=tmp), side))
    # The peer's lost jobs never end: wait for them less long (the others end within seconds).
    timeout = ["--timeout", "15" if peer else "60"]
    pid = ["--server-pid", str(proc.pid)]
    out = {}
    try:
        w0 = None if peer else metric(port, WAITER_CPU)
        out["one"] = jobs_load(port, ["-n", str(sizes["one"]), "-c", "1"] + timeout + pid)
        w1 = None if peer else metric(port, WAITER_CPU)
        out["one"]["waiter_cpu_ms_per_job"] = (round(1000 * (w1 - w0) / out["one"]["done"], 3)
                                               if w0 is not None and w1 is not None and out["one"]["done"] else None)
        out["burst"] = jobs_load(port, ["-n", str(sizes["burst"]), "-c", "8"] + timeout + pid)
        out["steady"] = jobs_load(port, ["-n", str(sizes["steady"]), "-c", "4", "--rate", "200"] + timeout)
        if side != "full":
            out["quiet"] = jobs_load(port, ["-n", str(sizes["quiet"]), "-c", "4", "--rate", "20"] + timeout)
    finally:
        stop_group(proc) if peer else stop(proc)
    return out


def run(o, tmp):
    sizes = {"one": 300 if o.quick else 1000, "burst": 300 if o.quick else 2000,
             "steady": 300 if o.quick else 1000, "quiet": 60 if o.quick else 200}
    sides = ["full", "normal"] + (["peer"] if peer_available() else [])
    res = {s: [] for s in sides}
    floors = []
    for r in range(o.rounds):
        floors.append(spawn_floor(1.0 if o.quick else 3.0))
        for side in (sides if r % 2 == 0 else sides[::-1]):
            res[side].append(one_server(side, o, tmp, sizes))
        say("round %d: floor %d spawns/s" % (r + 1, floors[-1]))
        for side in sides:
            say("  %-6s %s" % (side, {k: {f: v.get(f) for f in ("jobs_per_s", "stuck", "server_cpu_ms_per_job",
                                                                  "waiter_cpu_ms_per_job", "start_ms_p50",
                                                                  "start_ms_p99") if v.get(f) is not None}
                                      for k, v in res[side][-1].items()}))

    def get(side, load, field):
        return [x[load].get(field) for x in res.get(side, [])]

    def peer_lost(load):
        stuck = get("peer", load, "stuck")
        lost = sum(1 for s in stuck if s)
        return "the peer lost jobs in %d of %d rounds" % (lost, len(stuck)) if lost else ""

    one, burst = "{:,}".format(sizes["one"]), "{:,}".format(sizes["burst"])
    figs = []
    peer_cpu = get("peer", "one", "server_cpu_ms_per_job")
    cpu_note = peer_lost("one") + (": its CPU over the jobs it finished" if peer_lost("one") else "")
    for accept in ("full", "normal"):
        figs.append(Figure("Server CPU per `true` job, %s×1, accept-sync=%s" % (one, accept), "ms",
                           get(accept, "one", "server_cpu_ms_per_job"), peer_cpu,
                           "peer", ("≤ 0.5× peer", "ratio<=", 0.5), digits=3, note=cpu_note))
    for accept in ("full", "normal"):
        waiter = get(accept, "one", "waiter_cpu_ms_per_job")
        if all(w is None for w in waiter):
            figs.append(Figure("Job waiter CPU per job, %s×1, accept-sync=%s" % (one, accept), "ms", [None],
                               target=("report", None, None), digits=3, absent="n/a",
                               note="GET /metrics has no %s" % WAITER_CPU))
            continue
        figs += [Figure("Job waiter CPU per job, %s×1, accept-sync=%s" % (one, accept), "ms", waiter,
                        target=("report", None, None), digits=3, note="not in the server's figure"),
                 Figure("Server + waiter CPU per job, %s×1, accept-sync=%s" % (one, accept), "ms",
                        [None if w is None or s is None else s + w
                         for s, w in zip(get(accept, "one", "server_cpu_ms_per_job"), waiter)],
                        peer_cpu, "peer", ("report", None, None), digits=3, note=cpu_note)]
    peer_one, one_note = get("peer", "one", "jobs_per_s"), peer_lost("one")
    for accept in ("full", "normal"):
        figs.append(Figure("Jobs %s from 1 client, accept-sync=%s" % (one, accept), "jobs/s",
                           get(accept, "one", "jobs_per_s"), peer_one, "peer", ("≥ 1.3× peer", "ratio>=", 1.3),
                           note=one_note))
    for accept in ("full", "normal"):
        figs += [Figure("Jobs burst %s×8, accept-sync=%s" % (burst, accept), "jobs/s",
                        get(accept, "burst", "jobs_per_s"), get("peer", "burst", "jobs_per_s"), "peer",
                        ("≥ 1.6× peer", "ratio>=", 1.6), note=peer_lost("burst")),
                 Figure("Jobs burst %s×8, accept-sync=%s" % (burst, accept), "jobs/s",
                        get(accept, "burst", "jobs_per_s"), floors, "spawn floor", ("report", None, None)),
                 Figure("Server CPU per job, burst %s×8, accept-sync=%s" % (burst, accept), "ms",
                        get(accept, "burst", "server_cpu_ms_per_job"), get("peer", "burst", "server_cpu_ms_per_job"),
                        "peer", ("report", None, None), digits=3,
                        note=("the peer's over the jobs it finished" if peer_lost("burst") else ""))]
    worst = lambda side: [max(get(side, "burst", "stuck"))] if res.get(side) else []
    figs.append(Figure("Jobs stuck after a burst (worst round)", "", [max(worst("full") + worst("normal"))],
                       worst("peer"), "peer", ("0", "<=", 0), show_ratio=False))
    for accept, p50, p99 in (("normal", ("≤ 0.3 ms", "<=", 0.3), ("≤ 2 ms", "<=", 2.0)),
                             ("full", ("report", None, None), ("report", None, None))):
        for pct, target in (("p50", p50), ("p99", p99)):
            figs.append(Figure("Steady 200/s create→start %s, accept-sync=%s" % (pct, accept), "ms",
                               get(accept, "steady", "start_ms_" + pct), get("peer", "steady", "start_ms_" + pct),
                               "peer", target, digits=2))
    for pct in ("p50", "p99"):
        figs.append(Figure("Quiet 20/s create→start %s, accept-sync=normal" % pct, "ms",
                           get("normal", "quiet", "start_ms_" + pct), get("peer", "quiet", "start_ms_" + pct), "peer",
                           ("report", None, None), digits=2))
    return figs
