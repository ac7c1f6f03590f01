#!/usr/bin/env python3
"""Side-by-side benchmarks for muleteer (run by `make bench`; see bench/README.md).

Every figure is measured against its reference in the same run, in
alternating rounds, and the medians are compared, because these machines
are shared and noisy. The reference peer (bench/peer-uwsgi-jobs; BENCH_PEER_DIR
for another) and the job load (bench/jobs_load.py) are in bench/ too. One
module per section in bench/sections/:

  http      GET /api/health with wrk: nginx (target 0.8x) and the peer for scale
  dbread    GET /api/jobs/{id} with wrk: muleteer's own /api/health (target 0.75x), the peer reported
  submit    POST /api/jobs with wrk, jobs not run: accepted jobs/s, full and normal
  messages  web worker -> farm of 3 mules, msg/s and latency: uWSGI's farm_msg
  memory    VmRSS of an idle web worker and mule: the peer's
  jobs      `true` jobs end to end against the peer: server CPU per job (0.5x), 1 client
            (1.3x), a burst (1.6x, 0 stuck), steady 200/s create->start (p50 0.3 ms, p99 2 ms)
  growth    claim and list latency at 10k/100k/1M jobs (flat); 1..64 mules (flat)
  pgburst   the jobs burst on PostgreSQL against SQLite's, same run (0.8x); CPU per job
            (muleteer + PostgreSQL) against the peer's on SQLite (0.5x)
  pgnotify  create->start of a job started by a standalone handler of another stack
            (NOTIFY, p50 1 ms), against the same stacks on SQLite polling every 1 s
  takeover  a host SIGKILLed whole with a running job: kill -> handler lost, job back
            in its pool (lease 2 s: lease + 1 s), over 10 kills
  claims    skip-locked claims with 1, 4, 16, 64 standalone handlers (no collapse)
  slurm     the Slurm runner on a one-node cluster of its own: submission against sbatch alone,
            create->running against Slurm's own latency, the poll's cost with 50..2,000 jobs
            (bench/slurm_bench.py; skipped with a message without Slurm)
  dashboard the web dashboard's first render of the overview and the jobs list over 1,000,000 jobs
            (300 ms) in headless Chromium; /api/health with five overviews open (0.95x)
  (pg: the four PostgreSQL sections; skipped with a message without PostgreSQL)

It ends with one table, one row per figure (muleteer, reference, the median
of the per-round ratios, target, met?), also written as markdown to
build/bench/results.md, and one JSON line with every round's values.

usage: bench/bench.py [--rounds 3] [--duration 5] [--messages 200000] [--msg-rate 1000]
                      [--only http,dbread,submit,messages,memory,jobs,growth,pgburst,pgnotify,takeover,claims,slurm,dashboard]
                      [--quick]          (--only pg: the four PostgreSQL sections)
"""
import argparse
import gzip
import json
import os
import platform
import re
import shutil
import sys
import tempfile
import time

import scratch_fs
import slurm_bench
from sections import claims, common, dashboard, dbread, growth, http, jobs, memory, messages, pgburst, pgnotify, \
    submit, takeover

SECTIONS = {"http": http, "dbread": dbread, "submit": submit, "messages": messages, "memory": memory,
            "jobs": jobs, "growth": growth, "pgburst": pgburst, "pgnotify": pgnotify, "takeover": takeover,
            "claims": claims, "slurm": slurm_bench, "dashboard": dashboard}
GROUPS = {"pg": ["pgburst", "pgnotify", "takeover", "claims"]}


def preemption():
    """The kernel's preemption model (none, voluntary, full, lazy, rt), or 'unknown'.

    It decides what a woken process waits for while another one works in the
    kernel (an exec, say): with none, until that one leaves the kernel."""
    try:
        with open("/sys/kernel/debug/sched/preempt") as f:  # "none (voluntary) full": the current in brackets
            m = re.search(r"\((\w+)\)", f.read())
            if m:
                return m.group(1)
    except OSError:
        pass
    try:
        with open("/proc/cmdline") as f:
            m = re.search(r"(?:^|\s)preempt=(\w+)", f.read())
            if m:
                return m.group(1)
        with gzip.open("/proc/config.gz", "rt") as f:
            config = set(line.strip() for line in f)
    except OSError:
        return "unknown"
    for option, model in (("CONFIG_PREEMPT_NONE=y", "none"), ("CONFIG_PREEMPT_VOLUNTARY=y", "voluntary"),
                          ("CONFIG_PREEMPT=y", "full"), ("CONFIG_PREEMPT_LAZY=y", "lazy"),
                          ("CONFIG_PREEMPT_RT=y", "rt")):
        if option in config:
            return model
    return "unknown"


def page_table_isolation():
    """'on' when the kernel isolates its page tables (every kernel entry then switches them)."""
    try:
        with open("/sys/devices/system/cpu/vulnerabilities/meltdown") as f:
            return "on" if "PTI" in f.read() else "off"
    except OSError:
        return "unknown"


def syscall_us(calls=200000):
    """Microseconds per os.getppid() from Python: a system call's cost on this machine, plus the call's."""
    t = time.perf_counter()
    for _ in range(calls):
        os.getppid()
    return (time.perf_counter() - t) / calls * 1e6


def machine():
    """One line on the machine: what the figures depend on besides the code."""
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            model = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return "%d CPUs (%s), Linux %s, kernel preemption %s, page-table isolation %s, a system call %.2f µs" % (
        os.cpu_count() or 0, model, platform.release(), preemption(), page_table_isolation(), syscall_us())


def main():
    a = argparse.ArgumentParser(description="side-by-side benchmarks of muleteer and its peers")
    a.add_argument("--rounds", type=int, default=3)
    a.add_argument("--duration", type=int, default=5, help="seconds of each wrk run")
    a.add_argument("--messages", type=int, default=200000, help="messages per throughput run")
    a.add_argument("--msg-rate", type=float, default=1000, help="messages per second of the latency runs")
    a.add_argument("--only", default=",".join(SECTIONS),
                   help="comma-separated sections: %s (pg: %s)" % (",".join(SECTIONS), ",".join(GROUPS["pg"])))
    a.add_argument("--quick", action="store_true", help="a short smoke run: 1 round, 1 s, small counts")
    a.add_argument("--no-fresh-fs", action="store_true",
                   help="keep the data in the usual temporary directory instead of a freshly made ext4 "
                        "(see bench/scratch_fs.py)")
    o = a.parse_args()
    if o.quick:
        o.rounds, o.duration, o.messages, o.msg_rate = 1, 1, min(o.messages, 20000), min(o.msg_rate, 500)
    names = []
    for n in (n.strip() for n in o.only.split(",")):
        names += [x for x in GROUPS.get(n, [n] if n else []) if x not in names]
    unknown = [n for n in names if n not in SECTIONS]
    if unknown:
        a.error("unknown section(s) %s (expected some of %s, or pg)" % (", ".join(unknown), ", ".join(SECTIONS)))
    mountpoint, where, unmount = (None, "data in %s (--no-fresh-fs)" % tempfile.gettempdir(), None) \
        if o.no_fresh_fs else scratch_fs.fresh_fs(os.path.join(common.BUILD, "bench"))
    print("== " + where, flush=True)
    tmp = tempfile.mkdtemp(prefix="muleteer-bench-", dir=mountpoint)
    figures, started = [], time.time()
    try:
        for name in names:
            print("== %s" % name, flush=True)
            t = time.time()
            figs = SECTIONS[name].run(o, tmp)
            figures += figs
            print(common.table(figs), "  (%s: %.0f s)" % (name, time.time() - t), flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if unmount:
            unmount()
    head = "%s; %s; %d round(s), wrk %d s; %s UTC; %.0f s%s\n\n" % (
        machine(), where, o.rounds, o.duration, time.strftime("%Y-%m-%d %H:%M", time.gmtime(started)), time.time() - started,
        "; reference peer " + common.PEER_DIR if os.environ.get("BENCH_PEER_DIR") else "")
    text = common.table(figures)
    print("\n== results\n" + head + text, flush=True)
    out = os.path.join(common.BUILD, "bench")
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "results.md"), "w") as f:
        f.write(head + text)
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump([x.as_dict() for x in figures], f, indent=1)
    print(json.dumps([x.as_dict() for x in figures]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
