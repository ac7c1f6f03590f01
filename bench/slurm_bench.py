#!/usr/bin/env python3
"""slurm: muleteer's Slurm runner against Slurm itself, on a one-node cluster of its own.

The section starts a private cluster (scripts/slurm-cluster.sh start, in a
temporary directory under /tmp: munged, slurmctld, slurmd; the node
advertises 64 CPUs) and stops it at the end. muleteer runs as a stack of
2 web workers x 4 threads and one job-handler mule, whose job configuration
sends every tool to a destination of a `slurm` plugin with workers="4" (at
most 4 Slurm commands at once). Every round measures, each side against its
reference on the same cluster minutes apart:

1. Submission. N `true` jobs (300; --quick 60) POSTed by 4 clients as fast
   as they go, until all are `ok`. muleteer's rate to Slurm: from the first
   job's create_time to the moment the last job's Slurm id (external_id) is
   in its row -- the bench reads the job table (SQLite, read-only) every
   20 ms. The reference: `sbatch --parsable` of an equivalent batch script
   (the same options, the same shape of script: cd, /bin/true with its
   output to files, its status written beside them), the same N jobs, in a
   shell loop one after the other and with `xargs -P 4` (4 at once, as the
   plugin's workers). Reported as ms per job and the ratios; the overhead
   per job is muleteer's ms per job minus that of sbatch 4 at once.
2. Create -> running of a cluster job at 2 jobs/s (40 jobs; --quick 10) of
   `sleep 3` (long enough for a poll to see it run), the gaps between jobs
   drawn at random between 0.25 and 0.75 s (the same draws for both sides
   in a round: with a fixed 0.5 s gap, every job would meet the 1 s poll at
   the same phase), with
   jobs.cluster-poll-interval 1000 (the default) and 250: start_time -
   create_time from the job table, p50 and p90; create -> Slurm id beside it.
   The reference is Slurm's own latency for the same jobs at the same rate:
   the bench runs sbatch and asks squeue every 50 ms until the job shows
   RUNNING (sbatch's start -> the first such answer), and Slurm's own
   SubmitTime -> StartTime (1 s resolution) of those jobs.
3. The poll's cost with 0, 50, 500 and 2,000 cluster jobs in flight (--quick:
   up to 500) of `sleep 3600`: 64 run, the others stay PENDING, both are
   polled alike. Once every job has its Slurm id, 20 s (--quick 5) of the
   handler mule's CPU (its own from /proc/PID/task/*/schedstat, the squeue
   processes it started and reaped from cutime+cstime in /proc/PID/stat),
   divided by the polls (the interval is 1000 ms), and then 20 s of
   `strace -f -ff -p MULE`: system calls per process, the mule's and each
   squeue's (one squeue per poll: their count is the polls). The mule's
   figures are net of what it does with no cluster job at all (its database
   polling and heartbeats: the 0-job case). Then the stack is stopped (its
   jobs stay in Slurm) and the poll's squeue command line, for the same
   jobs, is run 20 times from the bench: its wall time, and slurmctld's CPU
   per run (what each poll costs the controller).

Skipped, saying why, when Slurm or munge is not installed (Debian packages
slurmctld slurmd slurm-client munge: scripts/install-deps.sh bench) or the
cluster cannot start, and without strace (the system-call rows only).

Standalone: bench/slurm_bench.py [--rounds 3] [--quick]  (the same as
bench/run.sh --only slurm, with the table and a summary printed).
"""
import argparse
import json
import os
import random
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sections.common import BUILD, ROOT, Figure, http_json, jobs_stack_args, pct, say, start_muleteer, \
    stop  # noqa: E402

CLUSTER_SCRIPT = os.path.join(ROOT, "scripts", "slurm-cluster.sh")
INSTALL = "Debian packages slurmctld slurmd slurm-client munge (scripts/install-deps.sh bench)"
WORKERS = 4  # the slurm plugin's workers, and the reference's sbatch commands at once
CLK_TCK = os.sysconf("SC_CLK_TCK")
TERMINAL = ("ok", "error", "deleted")

JOB_CONF = """<?xml version="1.0"?>
<job_conf>
    <plugins>
        <plugin id="slurm" type="runner" load="galaxy.jobs.runners.slurm:SlurmJobRunner" workers="%d"/>
    </plugins>
    <destinations default="cluster">
        <destination id="cluster" runner="slurm"/>
    </destinations>
</job_conf>
""" % WORKERS

TOOLS = {
    "true": {"command": ["/bin/true"]},
    "nap": {"command": ["/bin/sleep", "{seconds}"],
            "inputs": [{"name": "seconds", "type": "integer", "default": 1, "min": 0, "max": 86400}]},
}

# The reference's batch script: what muleteer's slurm_job.sh does for a `true` job (src/app/run/slurm_script.c).
REF_SCRIPT = """#!/bin/sh
cd '{dir}' || exit 1
REF_JOB_ID='{i}'; export REF_JOB_ID
REF_JOB_DIR='{dir}'; export REF_JOB_DIR
trap : TERM
rc=0
{command} </dev/null >'{dir}/stdout' 2>'{dir}/stderr' || rc=$?
printf '%s %s\\n' 1 "$rc" >'{dir}/exit_code.tmp' && command -p mv -f '{dir}/exit_code.tmp' '{dir}/exit_code'
exit "$rc"
"""


# ---------------------------------------------------------------- the cluster

class Cluster:
    """A private one-node cluster (scripts/slurm-cluster.sh) in a directory under /tmp; stop() leaves nothing."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="mt-bench-slurm-", dir="/tmp")  # short: Unix socket paths
        self.conf = None
        r = subprocess.run(["bash", CLUSTER_SCRIPT, "start", self.dir], capture_output=True, text=True, timeout=120)
        lines = [l for l in r.stdout.splitlines() if l.startswith("SLURM_CONF=")]
        if r.returncode != 0 or not lines:
            self.stop()
            raise RuntimeError("the cluster did not start (scripts/slurm-cluster.sh start %s: exit %d):\n%s"
                               % (self.dir, r.returncode, r.stderr[-2000:]))
        self.conf = lines[-1].split("=", 1)[1]
        self.env = dict(os.environ, SLURM_CONF=self.conf)

    def stop(self):
        r = subprocess.run(["bash", CLUSTER_SCRIPT, "stop", self.dir], capture_output=True, text=True, timeout=180)
        if r.returncode == 0:
            shutil.rmtree(self.dir, ignore_errors=True)
        else:
            say("scripts/slurm-cluster.sh stop %s failed (the directory is kept):\n%s" % (self.dir, r.stderr))

    def run(self, *argv, check=True):
        r = subprocess.run(list(argv), capture_output=True, text=True, env=self.env, timeout=300)
        if check and r.returncode != 0:
            raise RuntimeError("%s: exit %d: %s" % (" ".join(argv[:3]), r.returncode, r.stderr.strip()))
        return r.stdout

    def active(self):
        """Ids of the jobs Slurm has not finished (pending, running, completing, ...)."""
        return self.run("squeue", "-h", "-o", "%i").split()

    def idle(self, timeout=120):
        """Cancel every job and wait until none is left, so that one measurement does not weigh on the next."""
        deadline = time.time() + timeout
        while True:
            ids = self.active()
            if not ids:
                return
            if time.time() > deadline:
                raise RuntimeError("Slurm jobs still active after %d s: %s" % (timeout, " ".join(ids[:20])))
            self.run("scancel", *ids, check=False)
            time.sleep(0.5)

    def wait_done(self, ids, timeout=300):
        ids, deadline = set(ids), time.time() + timeout
        while ids & set(self.active()):
            if time.time() > deadline:
                raise RuntimeError("reference jobs not done after %d s" % timeout)
            time.sleep(0.2)

    def ctld_pid(self):
        with open(os.path.join(self.dir, "run", "slurmctld.pid")) as f:
            return int(f.read().strip())

    def sbatch_argv(self, d, name):
        """The options muleteer gives sbatch (runner_slurm.c build_sbatch), then the script."""
        return ["sbatch", "--parsable", "--job-name=%s" % name, "--chdir=%s" % d, "--output=%s/slurm.log" % d,
                "--open-mode=append", "%s/job.sh" % d]

    def ref_jobs(self, top, n, command="/bin/true"):
        """n job directories with their batch scripts, made before any clock starts."""
        dirs = []
        for i in range(n):
            d = os.path.join(top, str(i))
            os.makedirs(d)
            with open(os.path.join(d, "job.sh"), "w") as f:
                f.write(REF_SCRIPT.format(dir=d, i=i, command=command))
            dirs.append(d)
        return dirs


def unavailable():
    """Why the section cannot run here, or None."""
    if not os.path.exists(CLUSTER_SCRIPT):
        return "skipped: no %s" % CLUSTER_SCRIPT
    r = subprocess.run(["bash", CLUSTER_SCRIPT, "check"], capture_output=True, text=True)
    if r.returncode != 0:
        return "skipped: Slurm is not installed (%s): install the %s" % (r.stderr.strip(), INSTALL)
    return None


# ---------------------------------------------------------------- the muleteer stack

class Stack:
    """muleteer with a slurm destination for every tool; its job table read directly (read-only)."""

    def __init__(self, cluster, tmp, poll_ms=1000):
        self.dir = tempfile.mkdtemp(dir=tmp, prefix="stack-")
        tools = os.path.join(self.dir, "tools")
        os.makedirs(tools)
        for name, spec in TOOLS.items():
            with open(os.path.join(tools, name + ".yml"), "w") as f:
                json.dump(dict({"id": name, "version": "1", "name": name}, **spec), f)
        conf = os.path.join(self.dir, "job_conf.xml")
        with open(conf, "w") as f:
            f.write(JOB_CONF)
        data = os.path.join(self.dir, "data")
        self.proc, self.port = start_muleteer(jobs_stack_args(data, "full", mules=1, extra=[
            "--set", "jobs.tools-dir=%s" % tools, "--set", "jobs.job-config=%s" % conf,
            "--set", "jobs.cluster-poll-interval=%d" % poll_ms]), env={"SLURM_CONF": cluster.conf})
        self.db_path = os.path.join(data, "jobs.sqlite")
        self.db = None
        procs = http_json(self.port, "GET", "/api/stack")["processes"]
        self.mule = [p["pid"] for p in procs if p["server_name"].endswith(".job-handlers.1")][0]

    def rows(self, sql, args=()):
        if self.db is None:
            self.db = sqlite3.connect("file:%s?mode=ro" % self.db_path, uri=True, timeout=10, check_same_thread=False)
        return self.db.execute(sql, args).fetchall()

    def post(self, tool, **inputs):
        return int(http_json(self.port, "POST", "/api/jobs", {"tool_id": tool, "inputs": inputs})["id"])

    def post_many(self, n, clients, tool, **inputs):
        ids, lock = [], threading.Lock()

        def client(k):
            mine = [self.post(tool, **inputs) for _ in range(k)]
            with lock:
                ids.extend(mine)

        threads = [threading.Thread(target=client, args=(n // clients + (c < n % clients),)) for c in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if len(ids) != n:
            raise RuntimeError("%d of %d POSTs answered" % (len(ids), n))
        return ids

    def wait(self, what, cond, timeout, every=0.1):
        deadline = time.time() + timeout
        while True:
            v = cond()
            if v:
                return v
            if time.time() > deadline:
                raise RuntimeError("muleteer: %s not reached in %d s" % (what, timeout))
            time.sleep(every)

    def stop(self):
        stop(self.proc)
        if self.db is not None:
            self.db.close()
            self.db = None


class SubmitWatch(threading.Thread):
    """Reads the job table every `every` s: the wall time at which each job was first seen with its Slurm id."""

    def __init__(self, stack, every=0.02):
        super().__init__(daemon=True)
        self.db = sqlite3.connect("file:%s?mode=ro" % stack.db_path, uri=True, timeout=10, check_same_thread=False)
        self.every, self.seen, self.done = every, {}, threading.Event()

    def run(self):
        while not self.done.is_set():
            now = time.time()
            for (jid,) in self.db.execute("SELECT id FROM job WHERE external_id IS NOT NULL"):
                self.seen.setdefault(jid, now)
            time.sleep(self.every)

    def finish(self):
        self.done.set()
        self.join()
        self.db.close()


# ---------------------------------------------------------------- 1. submission

def sbatch_loop(cluster, dirs, parallel):
    """sbatch of every script from a shell, one at a time or `parallel` at once: seconds taken, Slurm ids."""
    listing = os.path.join(os.path.dirname(dirs[0]), "dirs")
    with open(listing, "w") as f:
        f.write("\n".join(dirs) + "\n")
    if parallel == 1:
        script = ('while read -r d; do sbatch --parsable --job-name=ref --chdir="$d" --output="$d/slurm.log" '
                  '--open-mode=append "$d/job.sh" || exit 1; done < "$1"')
    else:
        script = ('xargs -P %d -I{} sbatch --parsable --job-name=ref --chdir={} --output={}/slurm.log '
                  '--open-mode=append {}/job.sh < "$1"' % parallel)
    t = time.time()
    out = cluster.run("sh", "-c", script, "sh", listing)
    took = time.time() - t
    ids = out.split()
    if len(ids) != len(dirs):
        raise RuntimeError("sbatch loop: %d ids for %d jobs" % (len(ids), len(dirs)))
    return took, ids


def submission(cluster, tmp, n, rnd):
    """muleteer's N jobs, and the same N with sbatch one at a time and WORKERS at once; in a rotating order."""
    res = {}

    def reference(parallel):
        dirs = cluster.ref_jobs(tempfile.mkdtemp(dir=tmp, prefix="ref-"), n)
        took, ids = sbatch_loop(cluster, dirs, parallel)
        cluster.wait_done(ids)
        res["sbatch_%d_ms" % parallel] = 1000.0 * took / n
        cluster.idle()

    def ours():
        s = Stack(cluster, tmp)
        try:
            watch = SubmitWatch(s)
            watch.start()
            s.post_many(n, WORKERS, "true")
            s.wait("every job's Slurm id", lambda: len(watch.seen) >= n, 300, every=0.05)
            watch.finish()
            s.wait("every job to end", lambda: s.rows(
                "SELECT count(*) FROM job WHERE state IN ('ok','error','deleted')")[0][0] >= n, 300, every=0.2)
            first_create = s.rows("SELECT min(create_time) FROM job")[0][0] / 1e6
            last_end = s.rows("SELECT max(end_time) FROM job")[0][0] / 1e6
            not_ok = s.rows("SELECT count(*) FROM job WHERE state != 'ok'")[0][0]
            handlers = s.rows("SELECT DISTINCT handler FROM job")
            if len(handlers) != 1 or not (handlers[0][0] or "").endswith(".job-handlers.1"):
                raise RuntimeError("jobs handled by %s, not by the one mule" % handlers)
            res.update(muleteer_ms=1000.0 * (max(watch.seen.values()) - first_create) / n,
                       end_to_end_per_s=n / (last_end - first_create), not_ok=not_ok)
        finally:
            s.stop()
        cluster.idle()

    steps = [lambda: reference(1), lambda: reference(WORKERS), ours]
    for step in steps[rnd % 3:] + steps[:rnd % 3]:
        step()
    res["overhead_ms"] = res["muleteer_ms"] - res["sbatch_%d_ms" % WORKERS]
    return res


# ---------------------------------------------------------------- 2. create -> running

def paced(n, rate, fn, seed):
    """Calls fn(i) n times, rate a second on average, each gap drawn evenly from 0.5/rate to 1.5/rate (a fixed
    gap that divides the poll interval would give every job the same phase against the poll); the same seed
    gives both sides the same schedule. A late call does not delay the next ones."""
    rng, t = random.Random(seed), time.time()
    for i in range(n):
        wait = t - time.time()
        if wait > 0:
            time.sleep(wait)
        fn(i)
        t += rng.uniform(0.5, 1.5) / rate


def slurm_time(text):
    return time.mktime(time.strptime(text, "%Y-%m-%dT%H:%M:%S"))


def reference_latency(cluster, tmp, n, rate, seconds, seed):
    """Slurm alone: sbatch, then squeue every 50 ms until RUNNING; and Slurm's SubmitTime -> StartTime."""
    dirs = cluster.ref_jobs(tempfile.mkdtemp(dir=tmp, prefix="lat-"), n, command="/bin/sleep %d" % seconds)
    sent, running, alloc, lock, done = {}, {}, {}, threading.Lock(), threading.Event()

    def watcher():
        while (not done.is_set() or len(running) < len(sent)) and time.time() < stop_at[0]:
            with lock:
                ids = [i for i in sent if i not in running]
            if ids:
                out = cluster.run("squeue", "-h", "--states=all", "-o", "%i|%T", "--jobs", ",".join(ids), check=False)
                now = time.time()
                for line in out.splitlines():
                    jid, _, state = line.partition("|")
                    if state != "PENDING":
                        alloc.setdefault(jid, now)
                    if state in ("RUNNING", "COMPLETING", "COMPLETED") and jid not in running:
                        running[jid] = now
            time.sleep(0.05)

    def submit(i):
        t = time.time()
        jid = cluster.run(*cluster.sbatch_argv(dirs[i], "lat")).strip().split(";")[0]
        with lock:
            sent[jid] = t

    stop_at = [time.time() + n / rate + 120]
    w = threading.Thread(target=watcher, daemon=True)
    w.start()
    paced(n, rate, submit, seed)
    done.set()
    w.join()
    ids = list(sent)
    out = cluster.run("squeue", "-h", "--states=all", "-o", "%i|%V|%S", "--jobs", ",".join(ids))
    own = []
    for line in out.splitlines():
        _, v, s = line.split("|")
        own.append(slurm_time(s) - slurm_time(v))
    cluster.wait_done(ids)
    cluster.idle()
    lat = [1000.0 * (running[j] - sent[j]) for j in ids if j in running]
    pending = [1000.0 * (alloc[j] - sent[j]) for j in ids if j in alloc]
    return {"p50": pct(lat, 50), "p90": pct(lat, 90), "left_pending_p50": pct(pending, 50),
            "own_p50": 1000.0 * pct(own, 50),
            "own_p90": 1000.0 * pct(own, 90), "seen": len(lat)}


def muleteer_latency(cluster, tmp, n, rate, seconds, poll_ms, seed):
    s = Stack(cluster, tmp, poll_ms)
    try:
        watch = SubmitWatch(s)
        watch.start()
        ids = []
        paced(n, rate, lambda i: ids.append(s.post("nap", seconds=seconds)), seed)
        s.wait("every job to end", lambda: s.rows("SELECT count(*) FROM job WHERE state IN ('ok','error','deleted')")
               [0][0] >= n, 120 + seconds, every=0.2)
        watch.finish()
        rows = s.rows("SELECT id, create_time, start_time, state FROM job")
    finally:
        s.stop()
    cluster.idle()
    start = [(st - c) / 1000.0 for _, c, st, _ in rows if st]
    sub = [1000.0 * (watch.seen[j] - c / 1e6) for j, c, _, _ in rows if j in watch.seen]
    return {"p50": pct(start, 50), "p90": pct(start, 90), "submit_p50": pct(sub, 50),
            "not_ok": sum(1 for r in rows if r[3] != "ok")}


# ---------------------------------------------------------------- 3. the poll's cost

def proc_cpu(pid):
    """(own CPU seconds, reaped children's CPU seconds) of a process: its threads' schedstat (ns), cutime+cstime."""
    own = 0
    for t in os.listdir("/proc/%d/task" % pid):
        with open("/proc/%d/task/%s/schedstat" % (pid, t)) as f:
            own += int(f.read().split()[0])
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return own / 1e9, (int(fields[13]) + int(fields[14])) / CLK_TCK


def strace_counts(pid, seconds, out_dir):
    """System calls over `seconds` of pid and what it starts: (the process's own, [each child's])."""
    prefix = os.path.join(out_dir, "st")
    p = subprocess.Popen(["strace", "-f", "-ff", "-qq", "-o", prefix, "-p", str(pid)], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    time.sleep(seconds)
    p.send_signal(signal.SIGINT)
    try:  # it detaches once the calls in progress return: a squeue of thousands of ids takes a while under it
        p.wait(120)
    except subprocess.TimeoutExpired:
        p.kill()  # the kernel detaches the tracees of a tracer that dies
        p.wait()
    threads = set(os.listdir("/proc/%d/task" % pid))
    own, children = 0, []
    for name in os.listdir(out_dir):
        if not name.startswith("st."):
            continue
        with open(os.path.join(out_dir, name), errors="replace") as f:
            calls = sum(1 for l in f if not l.startswith(("+++", "---")) and "resumed>" not in l)
        if name[3:] in threads:
            own += calls
        else:
            children.append(calls)
    return own, children


POLL_S = 1.0  # the interval of the poll-cost stacks


def poll_level(cluster, tmp, n, window):
    """n cluster jobs in flight (none: the mule's idle work): the mule's CPU and system calls over the window."""
    poll_s = POLL_S
    s = Stack(cluster, tmp, int(poll_s * 1000))
    try:
        if n:
            s.post_many(n, WORKERS, "nap", seconds=3600)
            s.wait("%d jobs' Slurm ids" % n,
                   lambda: s.rows("SELECT count(*) FROM job WHERE external_id IS NOT NULL")[0][0] >= n, 300, 0.2)
        time.sleep(3 * poll_s)  # the last submissions' answers, the first polls of all of them
        m0, t0 = proc_cpu(s.mule), time.time()
        time.sleep(window)
        m1, t1 = proc_cpu(s.mule), time.time()
        r = {"wall": t1 - t0, "mule_cpu_s": m1[0] - m0[0], "squeue_cpu_s": m1[1] - m0[1]}
        if shutil.which("strace"):
            d = tempfile.mkdtemp(dir=tmp, prefix="strace-")
            t = time.time()
            try:
                own, children = strace_counts(s.mule, window, d)
                r.update(strace_wall=time.time() - t, mule_calls=own, polls_traced=len(children),
                         squeue_calls=statistics.median(children) if children else None)
            except (OSError, subprocess.SubprocessError) as e:
                say("  strace of the mule failed (no system-call figures at %d jobs): %s" % (n, e))
            shutil.rmtree(d, ignore_errors=True)
        states = s.rows("SELECT state, count(*) FROM job GROUP BY state")
        r["states"] = dict(states)
    finally:
        s.stop()
    if n:  # the poll's squeue alone, run from here on the same jobs (no one else polls them now)
        r["squeue_wall_ms"], r["ctld_ms"] = squeue_probe(cluster, cluster.active())
        r["slurm_running"] = len(cluster.run("squeue", "-h", "-t", "RUNNING", "-o", "%i").split())
    cluster.idle()
    say("  %d jobs in flight: %s" % (n, {k: round(v, 4) if isinstance(v, float) else v for k, v in r.items()}))
    return r


def poll_cost(res, levels):
    """Per poll, for each count of jobs in flight: the mule's CPU and system calls net of its idle work (levels[0]
    is 0 jobs), squeue's CPU and system calls, slurmctld's CPU, squeue's wall time."""
    poll_s = POLL_S
    base = res[levels[0]]
    base_cpu_per_s = base["mule_cpu_s"] / base["wall"]
    base_calls_per_s = base.get("mule_calls", 0) / base.get("strace_wall", 1)
    out = {}
    for n in levels[1:]:
        r = res[n]
        polls = r["wall"] / poll_s
        o = {"mule_ms": 1000.0 * (r["mule_cpu_s"] - base_cpu_per_s * r["wall"]) / polls,
             "squeue_ms": 1000.0 * r["squeue_cpu_s"] / polls,
             "ctld_ms": r["ctld_ms"], "squeue_wall_ms": r["squeue_wall_ms"], "running": r["slurm_running"]}
        if r.get("polls_traced"):
            o["mule_calls"] = (r["mule_calls"] - base_calls_per_s * r["strace_wall"]) / r["polls_traced"]
            o["squeue_calls"] = r["squeue_calls"]
            o["polls_per_s"] = r["polls_traced"] / r["strace_wall"]
        out[n] = o
    out["idle_mule_ms_per_s"] = 1000.0 * base_cpu_per_s
    out["idle_mule_calls_per_s"] = base_calls_per_s
    return out


def stat_cpu(pid):
    """CPU seconds of a whole process from /proc/PID/stat (threads that ended included; 1/CLK_TCK steps)."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def squeue_probe(cluster, ids, times=20):
    """The poll's own squeue command line (every job of the jobs' owner: src/app/run/runner_slurm.c), run `times`
    times from here: its median wall ms, and slurmctld's CPU ms per run (slurmctld answers each in a thread of its
    own: its whole process's CPU). `ids` are the jobs in flight (the answer holds at least those)."""
    del ids
    walls, ctld = [], cluster.ctld_pid()
    c0 = stat_cpu(ctld)
    for _ in range(times):
        t = time.time()
        cluster.run("squeue", "--states=all", "--noheader", "--format=%i|%T|%r", "--user=%d" % os.geteuid())
        walls.append(1000.0 * (time.time() - t))
    return statistics.median(walls), 1000.0 * (stat_cpu(ctld) - c0) / times


# ---------------------------------------------------------------- the section

def run(o, tmp):
    why = unavailable()
    if why:
        say(why)
        return []
    quick = getattr(o, "quick", False)
    n_submit = 60 if quick else 300
    n_lat, rate, nap = (10 if quick else 40), 2.0, 3
    levels = (0, 50, 500) if quick else (0, 50, 500, 2000)
    window = 5 if quick else 20
    rounds = {"submit": [], "ref_lat": [], "lat_1000": [], "lat_250": [], "poll": []}

    def fresh_cluster():
        """A new cluster for each part of each round: slurmctld keeps every finished job (MinJobAge is a day),
        and squeue's cost grows with the jobs it holds (docs/performance.md), so no part inherits another's."""
        cluster = Cluster()
        try:  # slurmctld's first scheduling pass comes a few seconds after it starts: a probe job takes that wait
            probe = cluster.ref_jobs(tempfile.mkdtemp(dir=tmp, prefix="probe-"), 1)
            cluster.wait_done([cluster.run(*cluster.sbatch_argv(probe[0], "probe")).strip()], 60)
        except BaseException:
            cluster.stop()
            raise
        return cluster

    def part(fn):
        cluster = fresh_cluster()
        try:
            return fn(cluster)
        finally:
            cluster.stop()

    try:
        part(lambda c: None)
    except RuntimeError as e:
        say("skipped: %s" % e)
        return []
    for r in range(o.rounds):
        rounds["submit"].append(part(lambda c: submission(c, tmp, n_submit, r)))
        say("round %d: submission %s" % (r + 1, rounds["submit"][-1]))

        def latency(c):
            rounds["ref_lat"].append(reference_latency(c, tmp, n_lat, rate, nap, r))
            for poll_ms in (1000, 250):
                rounds["lat_%d" % poll_ms].append(muleteer_latency(c, tmp, n_lat, rate, nap, poll_ms, r))

        part(latency)
        say("round %d: create->running %s" % (r + 1, {k: rounds[k][-1] for k in ("ref_lat", "lat_1000", "lat_250")}))
        # a fresh cluster for each count, too: the jobs cancelled at one count would weigh on the next's squeue
        rounds["poll"].append(poll_cost({n: part(lambda c: poll_level(c, tmp, n, window)) for n in levels}, levels))
        say("round %d: poll %s" % (r + 1, rounds["poll"][-1]))
    figs = figures(rounds, n_submit, n_lat, rate, nap, levels)
    print("  summary (medians of %d round(s)):\n%s" % (o.rounds, summary(figs)), flush=True)
    return figs


def figures(rounds, n_submit, n_lat, rate, nap, levels):
    get = lambda key, field: [x.get(field) for x in rounds[key]]
    rep = ("report", None, None)
    sub = "Slurm: %d `true` jobs from %d clients" % (n_submit, WORKERS)
    figs = [
        Figure(sub + ", submitted to Slurm (first create → last Slurm id)", "jobs/s",
               [1000.0 / x for x in get("submit", "muleteer_ms")],
               [1000.0 / x for x in get("submit", "sbatch_%d_ms" % WORKERS)], "sbatch ×%d at once" % WORKERS, rep,
               digits=1),
        Figure(sub + ": ms per job, muleteer against sbatch alone one at a time", "ms", get("submit", "muleteer_ms"),
               get("submit", "sbatch_1_ms"), "sbatch loop", rep, digits=2),
        Figure(sub + ": ms per job, muleteer against sbatch alone %d at once" % WORKERS, "ms",
               get("submit", "muleteer_ms"), get("submit", "sbatch_%d_ms" % WORKERS), "sbatch ×%d" % WORKERS, rep,
               digits=2),
        Figure(sub + ": muleteer's overhead per job (over sbatch ×%d)" % WORKERS, "ms", get("submit", "overhead_ms"),
               target=rep, digits=2),
        Figure(sub + ": end to end (first create → last end)", "jobs/s", get("submit", "end_to_end_per_s"),
               target=rep, digits=1),
        Figure(sub + ": jobs not ok (worst round)", "", [max(get("submit", "not_ok"))], target=("0", "<=", 0),
               show_ratio=False),
    ]
    lat = "Slurm: create→running of a `sleep %d` job at %g/s (%d jobs)" % (nap, rate, n_lat)
    for poll_ms in (1000, 250):
        key = "lat_%d" % poll_ms
        for p in ("p50", "p90"):
            figs.append(Figure("%s, cluster-poll-interval %d ms, %s" % (lat, poll_ms, p), "ms", get(key, p),
                               get("ref_lat", p), "Slurm (squeue every 50 ms)", rep, digits=0))
        figs.append(Figure("  same, %d ms: create → Slurm id recorded, p50" % poll_ms, "ms", get(key, "submit_p50"),
                           target=rep, digits=0))
    figs.append(Figure("  Slurm alone: sbatch → out of PENDING (squeue every 50 ms), p50", "ms",
                       get("ref_lat", "left_pending_p50"), target=rep, digits=0))
    figs.append(Figure("  Slurm alone: SubmitTime → StartTime (1 s resolution), p50 / p90", "ms",
                       get("ref_lat", "own_p50"), target=rep, note="p90 %s ms" % ", ".join(
                           "%.0f" % v for v in get("ref_lat", "own_p90"))))
    figs.append(Figure("  jobs not ok in the create→running runs (worst)", "",
                       [max(get("lat_1000", "not_ok") + get("lat_250", "not_ok"))], target=("0", "<=", 0),
                       show_ratio=False))
    pg = lambda n, f: [x[n].get(f) for x in rounds["poll"]]
    first = levels[1]
    for n in levels[1:]:
        poll = "Slurm poll (1 s) with %d cluster jobs in flight" % n
        ref = (lambda f: pg(first, f)) if n != first else (lambda f: [])
        rn = "%d jobs" % first if n != first else ""
        figs += [
            Figure(poll + ": handler mule CPU per poll (net of idle)", "ms", pg(n, "mule_ms"), ref("mule_ms"), rn, rep,
                   digits=3),
            Figure(poll + ": squeue CPU per poll (its process)", "ms", pg(n, "squeue_ms"), ref("squeue_ms"), rn, rep,
                   digits=2),
            Figure(poll + ": slurmctld CPU per poll (its squeue run 20× from the bench)", "ms", pg(n, "ctld_ms"),
                   ref("ctld_ms"), rn, rep, digits=2),
            Figure(poll + ": mule system calls per poll (net of idle)", "", pg(n, "mule_calls"), ref("mule_calls"),
                   rn, rep, digits=0),
            Figure(poll + ": squeue system calls per poll", "", pg(n, "squeue_calls"), ref("squeue_calls"), rn, rep,
                   digits=0),
            Figure(poll + ": squeue wall time, run from the bench", "ms", pg(n, "squeue_wall_ms"),
                   ref("squeue_wall_ms"), rn, rep, digits=1),
        ]
    figs.append(Figure("  idle mule, no cluster job: CPU", "ms/s", [x["idle_mule_ms_per_s"] for x in rounds["poll"]],
                       target=rep, digits=2))
    figs.append(Figure("  idle mule, no cluster job: system calls", "/s",
                       [x["idle_mule_calls_per_s"] for x in rounds["poll"]], target=rep, digits=0))
    return figs


def summary(figs):
    """The figures in a few lines of prose, for a note to quote."""
    lines = []
    for f in figs:
        m = f.median()
        if m is None:
            continue
        ref = "" if not f.ref else "; %s %s%s" % (f.ref_name, "{:,.{d}f}".format(f.ref_median(), d=f.digits),
                                                   " (%.2f×)" % f.ratio() if f.ratio() is not None else "")
        lines.append("  - %s: %s %s%s" % (f.name.strip(), "{:,.{d}f}".format(m, d=f.digits), f.unit, ref))
    return "\n".join(lines)


def main():
    from sections.common import table
    a = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    a.add_argument("--rounds", type=int, default=3)
    a.add_argument("--quick", action="store_true", help="1 round, small counts, 5 s windows")
    o = a.parse_args()
    if o.quick:
        o.rounds = 1
    tmp = tempfile.mkdtemp(prefix="muleteer-bench-")
    try:
        figs = run(o, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(table(figs))
    print(json.dumps([f.as_dict() for f in figs]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
