"""jobs: `true` jobs end to end through POST /api/jobs with ../shared/bench/jobs_bench.py.

A burst (-n 2000 -c 8): jobs/s end to end against the reference peer
(target 1.6x) and against the floor, posix_spawn + wait of /bin/true on every
core measured in every round (target 0.75x), with no job stuck. A steady
200 jobs/s: create->start p50 / p99 with the peer's durability
(accept-sync=normal: WAL, synchronous=NORMAL; targets 0.3 ms / 2 ms) and,
beside it, with the default durable acceptance (full). The same at a quiet
20 jobs/s (accept-sync=normal), reported: it tells the latency a job's path
has from what a busy machine adds to it. Every round starts a fresh server
and database for each durability, and a fresh peer.
"""
import os
import subprocess
import tempfile

from sections.common import PYTHON, SHARED_BENCH, Figure, jobs_bench, jobs_stack_args, peer_available, say, \
    start_muleteer, start_peer, stop, stop_group


def spawn_floor(seconds=3.0):
    """posix_spawn + wait of /bin/true on every core, side by side: the ceiling for running `true` jobs."""
    code = ("import os,time\nn=0\nt=time.time()+%f\n"
            "while time.time()<t:\n os.waitpid(os.posix_spawn('/bin/true',['/bin/true'],{}),0); n+=1\n"
            "print(n)\n" % seconds)
    procs = [subprocess.Popen([PYTHON, "-c", code], stdout=subprocess.PIPE, text=True)
             for _ in range(os.cpu_count() or 1)]
    return sum(int(p.communicate()[0]) for p in procs) / seconds


def run(o, tmp):
    if not os.path.exists(os.path.join(SHARED_BENCH, "jobs_bench.py")):
        say("skipped: no jobs_bench.py in %s" % SHARED_BENCH)
        return []
    n = 300 if o.quick else 2000
    burst = ["-n", str(n), "-c", "8", "--timeout", "60"]
    # The peer loses farm messages when its queue is full: those jobs stay 'new' for ever, and
    # jobs_bench.py would wait its whole timeout for them. The others end within seconds.
    peer_burst = burst[:-1] + ["20"]
    steady = ["-n", str(n // 2), "-c", "4", "--rate", "200"]
    quiet = ["-n", "60" if o.quick else "200", "-c", "4", "--rate", "20"]
    floors = []
    rounds = {k: [] for k in ("burst_full", "burst_normal", "burst_peer", "steady_full", "steady_normal",
                              "steady_peer", "quiet_normal", "quiet_peer")}
    for r in range(o.rounds):
        floors.append(spawn_floor(1.0 if o.quick else 3.0))
        for accept in ("full", "normal"):
            proc, port = start_muleteer(jobs_stack_args(tempfile.mkdtemp(dir=tmp), accept))
            try:
                rounds["burst_" + accept].append(jobs_bench(port, burst))
                rounds["steady_" + accept].append(jobs_bench(port, steady))
                if accept == "normal":
                    rounds["quiet_normal"].append(jobs_bench(port, quiet))
            finally:
                stop(proc)
        if peer_available():
            proc, port = start_peer(tmp)
            try:
                rounds["burst_peer"].append(jobs_bench(port, peer_burst))
                rounds["steady_peer"].append(jobs_bench(port, steady))
                rounds["quiet_peer"].append(jobs_bench(port, quiet))
            finally:
                stop_group(proc)
        say("round %d: floor %d spawns/s, %s" % (r + 1, floors[-1], {k: v[-1] if v else None
                                                                       for k, v in rounds.items()}))
    get = lambda key, field: [x[field] for x in rounds[key]]
    stuck = lambda key: [max(get(key, "stuck"))] if rounds[key] else []
    figs = []
    for accept in ("full", "normal"):
        figs += [Figure("Jobs burst %d×8, accept-sync=%s" % (n, accept), "jobs/s", get("burst_" + accept, "jobs_per_s"),
                        get("burst_peer", "jobs_per_s"), "peer", ("≥ 1.6× peer", "ratio>=", 1.6)),
                 Figure("Jobs burst %d×8, accept-sync=%s" % (n, accept), "jobs/s", get("burst_" + accept, "jobs_per_s"),
                        floors, "floor", ("≥ 0.75× spawn floor", "ratio>=", 0.75))]
    figs.append(Figure("Jobs stuck after a burst (worst round)", "", [max(stuck("burst_full") + stuck("burst_normal"))],
                       stuck("burst_peer"), "peer", ("0", "<=", 0), show_ratio=False))
    for accept, p50, p99 in (("normal", ("≤ 0.3 ms", "<=", 0.3), ("≤ 2 ms", "<=", 2.0)),
                             ("full", ("report", None, None), ("report", None, None))):
        figs += [Figure("Steady 200/s create→start p50, accept-sync=%s" % accept, "ms",
                        get("steady_" + accept, "start_ms_p50"), get("steady_peer", "start_ms_p50"), "peer", p50,
                        digits=2),
                 Figure("Steady 200/s create→start p99, accept-sync=%s" % accept, "ms",
                        get("steady_" + accept, "start_ms_p99"), get("steady_peer", "start_ms_p99"), "peer", p99,
                        digits=2)]
    for pct in ("p50", "p99"):
        figs.append(Figure("Quiet 20/s create→start %s, accept-sync=normal" % pct, "ms",
                           get("quiet_normal", "start_ms_" + pct), get("quiet_peer", "start_ms_" + pct), "peer",
                           ("report", None, None), digits=2))
    return figs
