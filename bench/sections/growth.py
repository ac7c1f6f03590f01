"""growth: does a job cost the same with a million finished jobs in the table, and with more mules than cores?

(a) Table size. The database is prefilled from Python, straight into SQLite
through muleteer's own schema (created by starting muleteer once on it),
with jobs shaped like real finished `true` jobs: state 'ok', handler one of
the farm's two mules, every time column set, a working_dir, and the four
events of its history (new, queued, running, ok) a real job leaves. There is one
database of each size, 10,000, 100,000 and 1,000,000 jobs, and every round
measures each in turn, so that a ratio compares figures taken a minute
apart (a shared machine can change speed between the first round and the
last). For each, the round starts the jobs stack (2 web workers x 4
threads, 2 mules, accept-sync=normal) and measures create->start latency
of new jobs at a modest steady rate (jobs_load.py --rate, which includes
the claim), and the latency of GET /api/jobs?limit=100 (newest first, with
its total) from one keep-alive client. Target: flat, the 1M figure within
1.5x of the 10k one.

Each fresh server first runs 100 jobs that are not measured. Without them
the p99 measures the start instead of the table: each thread's first use
of its connection, and SQLite's page caches (and, right after the prefill,
the kernel's) still cold. With 1,000,000 jobs the first 400 jobs after a
start had a p99 of 10.9 ms, and of 73.6 ms right after the prefill; the next
400 on the same server, 1.7 to 4.3 ms. The measured run is 1,000 jobs: the
p99 of 400 is the fourth-worst job, which one hiccup of a shared machine
moves (1.5 to 7.5 ms between rounds of one size).

(b) Mule count. A burst of `true` jobs (jobs_load.py -c 8, default
acceptance) through a job-handlers farm of 1, 2, 4, 8, 16, 32 and 64 mules
on this 2-core machine, a fresh server for every count in every round, with
the server's CPU per job (jobs_load.py --server-pid: the master, web
workers and mules, the jobs' commands excluded) and the create->start
latency of the burst's jobs. Target: flat, every count from 4 to 64 mules
>= 0.8x the throughput of 2. An idle mule sleeps until a message is for it
(one farm message wakes one mule, docs/messages.md): before that, every
farm message woke every idle mule of the farm, and 32 mules ran the burst
at 0.60x the figure of 2.

BENCH_GROWTH_PARTS=table or =mules runs one part only (default: both).
"""
import http.client
import os
import sqlite3
import tempfile
import time

from sections.common import Figure, jobs_load, jobs_stack_args, pct, say, start_muleteer, stop

HISTORY = (("new", "create_time", "NULL"), ("queued", "claim_time", "handler"), ("running", "start_time", "handler"),
           ("ok", "end_time", "handler"))


def create_schema(data_dir):
    proc, _ = start_muleteer(jobs_stack_args(data_dir, mules=0))
    stop(proc)


def prefill(db_path, data_dir, upto, base_us):
    """Add finished jobs to the database at db_path until it holds upto. Returns the seconds it took."""
    t0 = time.time()
    c = sqlite3.connect(db_path, isolation_level=None)
    have = c.execute("SELECT count(*) FROM job").fetchone()[0]
    first = (c.execute("SELECT max(id) FROM job").fetchone()[0] or 0) + 1
    last = first + (upto - have) - 1
    if last < first:
        return 0.0
    # A rollback journal while nothing else has the file open: one transaction of a million rows
    # would otherwise build a WAL as large as the table before the checkpoint.
    c.execute("PRAGMA journal_mode=DELETE")
    c.execute("PRAGMA synchronous=OFF")
    c.execute("PRAGMA cache_size=-200000")
    c.execute("BEGIN")
    rows = ("WITH RECURSIVE s(i) AS (SELECT ?1 UNION ALL SELECT i + 1 FROM s WHERE i < ?2) "
            "SELECT i AS id, ?3 + i * 1000 AS create_time, ?3 + i * 1000 + 4000 AS claim_time, "
            "?3 + i * 1000 + 5000 AS start_time, ?3 + i * 1000 + 10000 AS end_time, "
            "'main.job-handlers.' || (1 + i % 2) AS handler FROM s")
    # Each job's history, as the job's own row holds it (schema 11): new, queued, running and ok.
    history = " || ',' || ".join("json_array('%s', %s, %s, NULL)" % (state, time_col, handler)
                                 for state, time_col, handler in HISTORY)
    c.execute("INSERT INTO job (id, tool_id, tool_version, params, state, handler, destination, create_time, "
              "update_time, claim_time, start_time, end_time, exit_code, runner, working_dir, history) "
              "SELECT id, 'true', '1.0', '{}', 'ok', handler, 'job-handlers', create_time, end_time, claim_time, "
              "start_time, end_time, 0, 'local', ?4 || '/jobs/' || id, %s FROM (%s)" % (history, rows),
              (first, last, base_us, data_dir))
    c.execute("COMMIT")
    c.execute("PRAGMA journal_mode=WAL")
    c.close()
    return time.time() - t0


def list_latency(port, seconds, most=300):
    """GET /api/jobs?limit=100 from one keep-alive client for about seconds: per-request ms."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    out, deadline = [], time.time() + seconds
    while len(out) < most and (time.time() < deadline or len(out) < 20):
        t = time.perf_counter()
        c.request("GET", "/api/jobs?limit=100")
        r = c.getresponse()
        r.read()
        if r.status != 200:
            raise RuntimeError("GET /api/jobs?limit=100 answered %d" % r.status)
        out.append((time.perf_counter() - t) * 1000)
    c.close()
    return out


def table_size(o, tmp):
    sizes = [10000, 100000] if o.quick else [10000, 100000, 1000000]
    base_us = int(time.time() * 1e6) - (max(sizes) + 1) * 1000 - 3600 * 1000000
    steady = ["-n", "150" if o.quick else "1000", "-c", "2", "--rate", "100"]
    warm_up = ["-n", "100", "-c", "2", "--rate", "100"]
    # One database per size, so that every round measures every size in turn: a ratio then compares
    # figures taken a minute apart, not the first round of 10,000 with the last of 1,000,000.
    data_dirs, res = {}, {}
    for size in sizes:
        data_dirs[size] = tempfile.mkdtemp(dir=tmp)
        db = os.path.join(data_dirs[size], "jobs.sqlite")
        create_schema(data_dirs[size])
        took = prefill(db, data_dirs[size], size, base_us)
        say("prefilled to %d jobs in %.1f s (%.0f MB)" % (size, took, os.path.getsize(db) / 1e6))
        res[size] = {"start_p50": [], "start_p99": [], "list_p50": [], "list_p99": []}
    # The prefills' own writes (440 MB for 1,000,000 jobs, written without fsync) go to disk now,
    # not during the measurement: they are the benchmark's setup, not muleteer's work.
    os.sync()
    for r in range(o.rounds):
        for size in sizes:
            proc, port = start_muleteer(jobs_stack_args(data_dirs[size], "normal"))
            try:
                jobs_load(port, warm_up)  # not measured: see the module's docstring
                j = jobs_load(port, steady)
                lat = list_latency(port, 1 if o.quick else 3)
            finally:
                stop(proc)
            for k, v in (("start_p50", j["start_ms_p50"]), ("start_p99", j["start_ms_p99"]),
                         ("list_p50", pct(lat, 50)), ("list_p99", pct(lat, 99))):
                res[size][k].append(v)
            say("%d jobs, round %d: create->start p50 %.2f p99 %.2f ms, stuck %d; list p50 %.2f p99 %.2f ms (%d)"
                % (size, r + 1, j["start_ms_p50"], j["start_ms_p99"], j["stuck"], pct(lat, 50), pct(lat, 99),
                   len(lat)))
    figs = []
    small = sizes[0]
    label = lambda n: "{:,}".format(n)
    for key, what in (("start_p50", "create→start p50"), ("start_p99", "create→start p99"),
                      ("list_p50", "GET /api/jobs?limit=100 p50"), ("list_p99", "GET /api/jobs?limit=100 p99")):
        figs.append(Figure("%s, %s jobs" % (what, label(small)), "ms", res[small][key], digits=2))
        for size in sizes[1:]:
            flat = ("≤ 1.5× %s (flat)" % label(small), "ratio<=", 1.5) if size == sizes[-1] else ("report", None, None)
            figs.append(Figure("%s, %s jobs" % (what, label(size)), "ms", res[size][key], res[small][key],
                               "%s jobs" % label(small), flat, digits=2))
    return figs


def mule_count(o, tmp):
    counts = [1, 2, 4, 8, 16, 32, 64]
    burst = ["-n", "300" if o.quick else "1500", "-c", "8", "--timeout", "120"]
    res = {n: {"jobs_per_s": [], "cpu": [], "start_p50": [], "start_p99": []} for n in counts}
    for r in range(o.rounds):
        for n in counts:
            proc, port = start_muleteer(jobs_stack_args(tempfile.mkdtemp(dir=tmp), "full", mules=n))
            try:
                j = jobs_load(port, burst + ["--server-pid", str(proc.pid)])
            finally:
                stop(proc)
            if j["stuck"] or j["submit_errors"]:
                raise RuntimeError("%d mules: %d jobs stuck, %d submissions failed" % (n, j["stuck"],
                                                                                       j["submit_errors"]))
            for k, v in (("jobs_per_s", j["jobs_per_s"]), ("cpu", j.get("server_cpu_ms_per_job")),
                         ("start_p50", j["start_ms_p50"]), ("start_p99", j["start_ms_p99"])):
                if v is not None:
                    res[n][k].append(v)
            say("%d mules, round %d: %.0f jobs/s, server CPU %s ms/job, create->start p50 %.2f p99 %.2f ms"
                % (n, r + 1, j["jobs_per_s"], j.get("server_cpu_ms_per_job"), j["start_ms_p50"], j["start_ms_p99"]))
    figs = []
    name = lambda n: "Jobs burst with %d mule%s on 2 cores" % (n, "" if n == 1 else "s")
    for n in counts:
        target = ("≥ 0.8× 2 mules (flat)", "ratio>=", 0.8) if n > 2 else ("report", None, None)
        figs.append(Figure(name(n), "jobs/s", res[n]["jobs_per_s"], res[2]["jobs_per_s"] if n != 2 else [],
                           "2 mules" if n != 2 else "", target))
    for n in counts:
        if res[n]["cpu"]:
            figs.append(Figure("%s: server CPU per job" % name(n), "ms", res[n]["cpu"],
                               res[2]["cpu"] if n != 2 else [], "2 mules" if n != 2 else "", digits=3))
    for n in counts:
        figs.append(Figure("%s: create→start p50" % name(n), "ms", res[n]["start_p50"], digits=2))
        figs.append(Figure("%s: create→start p99" % name(n), "ms", res[n]["start_p99"], digits=2))
    return figs


def run(o, tmp):
    parts = os.environ.get("BENCH_GROWTH_PARTS", "table,mules").split(",")
    unknown = set(parts) - {"table", "mules"}
    if unknown:
        raise RuntimeError("BENCH_GROWTH_PARTS: unknown part %s (the parts are table and mules)"
                           % ", ".join(sorted(unknown)))
    return (table_size(o, tmp) if "table" in parts else []) + (mule_count(o, tmp) if "mules" in parts else [])
