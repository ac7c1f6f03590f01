"""pgnotify: create->start of a job started by a handler in another stack (another "host").

Two stacks on one database, as two hosts would run them: stack A (server
name hostA) has 2 web workers x 4 threads and no mules; its web workers
accept the jobs and must not take them, so the job configuration says
`handling: assign: [db-skip-locked]` (a job is committed unassigned, waiting
in the pool job-handlers) and stack B is a standalone handler `hostB`
attached to job-handlers, with its own process and database connections. A
web worker stands in for the pool only while no handler serves it; the
section waits until probe jobs are started by hostB, and every measured job
must have been started by hostB (else the round fails).

On PostgreSQL, the commit of the job announces it (NOTIFY on the pool's
channel) and hostB, listening, claims it at once. The reference is what
Galaxy does, a handler that polls the database every second: the same two
stacks on SQLite (one file shared by both; nothing tells hostB of a job but
its poll), with room for 64 jobs at once on hostB so that the poll and not
its slots limits it (Galaxy's handler grabs every ready job at each poll).
jobs.poll-interval=1000 on both backends, so that on PostgreSQL too the
poll is only the safety net. Jobs come at a steady rate from
bench/jobs_load.py --rate; the figures are create->start p50 and
p99 from the jobs' own times (create_time is stamped by hostA before its
commit, start_time by hostB once the command is started). The cases:
- 200/s and 50/s with hostB's default 4 jobs at once (the targets);
- 200/s with 64 at once: what the slots add;
- 50/s with `synchronous_commit = off` for the database: what the two
  flushed commits on the path (hostA's accept, hostB's claim) add; the
  server otherwise flushes every commit (pgcommon).

Target: p50 <= 1 ms at 50/s on PostgreSQL (with the 1 s poll beside it);
200/s is reported: on a 2-core machine shared with other work, 200 `true`
jobs a second can be more than the machine runs, and the figure then
measures the backlog. For PostgreSQL, the p50 of create->claim and of
claim->start is read from the jobs' rows, to say where the time goes.
Every case gets fresh stacks and a fresh database: a case that leaves a
backlog (jobs_load.py waits 60 s after the last submission) must not hold
up the next.
"""
import os
import tempfile

from sections.common import Figure, http_json, jobs_load, say
from sections.pgcommon import PgServer, missing, start_stack, stop_proc, tail, wait_until, write_conf

POLL_MS = 1000
WAIT_S = 60  # how long after the last submission jobs_load.py waits for the jobs to end


def two_hosts(tmp, database, workers):
    """Start stack A (web only) and standalone hostB on database; return (a, b, port) once hostB takes the jobs."""
    d = log_dir = tempfile.mkdtemp(dir=tmp)
    conf = write_conf(d, "job_conf.yml", "handling:\n  assign: [db-skip-locked]\n")
    common = ["--set", "jobs.job-config=%s" % conf, "--set", "jobs.data-dir=%s" % os.path.join(d, "data"),
              "--set", "jobs.poll-interval=%d" % POLL_MS] + (["--jobs.database", database] if database else [])
    a, port = start_stack(["--server-name", "hostA", "--processes", "2", "--threads", "4", "--disable-logging"]
                          + common, os.path.join(log_dir, "hostA.log"))
    b, _ = start_stack(["--attach-to-pool", "job-handlers", "--server-name", "hostB",
                        "--set", "jobs.workers=%d" % workers] + common, os.path.join(log_dir, "hostB.log"), http=False)

    def probe_taken_by_b():
        j = http_json(port, "POST", "/api/jobs", {"tool_id": "true"})
        done = wait_until("probe job %s" % j["id"], lambda: (lambda x: x if x["state"] == "ok" else None)(
            http_json(port, "GET", "/api/jobs/%s" % j["id"])), 10)
        return done["handler"] == "hostB"

    def yielded():
        with open(os.path.join(log_dir, "hostA.log"), errors="replace") as f:
            return f.read().count("a handler serving its pools is running: leaving their jobs to it") >= 2

    try:
        # Each of hostA's two web workers leaves the pool to hostB once it sees it running (it looks every
        # second) and says so in the log; then a few probes make sure.
        wait_until("hostA's web workers to leave the pool to hostB", yielded, 30, every=0.1)
        wait_until("hostB to start the jobs", lambda: all(probe_taken_by_b() for _ in range(3)), 30, every=0.2)
    except Exception:
        stop_proc(b)
        stop_proc(a)
        raise RuntimeError("hostB never took the jobs; logs:\n%s\n%s" % (tail(os.path.join(log_dir, "hostA.log")),
                                                                       tail(os.path.join(log_dir, "hostB.log"))))
    return a, b, port


def measure(port, n, rate, strict=True):
    j = jobs_load(port, ["-n", str(n), "-c", "4", "--rate", str(rate), "--timeout", str(WAIT_S)])
    others = {h: c for h, c in j["handlers"].items() if h != "hostB"}
    if strict and (others or j["submit_errors"]):
        raise RuntimeError("jobs not all started by hostB, or not accepted: %s" % j)
    return j


def split(pg, db, n):
    """p50 of create->claim (hostA's commit, the notification, hostB's claim) and of claim->start (hostB's commit
    of the claim, the start's write) over the last n jobs, from their rows."""
    c = pg.connect(db)
    cur = c.cursor()
    cur.execute("SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY claim_time - create_time), "
                "percentile_cont(0.5) WITHIN GROUP (ORDER BY start_time - claim_time) "
                "FROM (SELECT * FROM job ORDER BY id DESC LIMIT %s) j", (n,))
    a, b = cur.fetchone()
    c.close()
    return {"claim_ms_p50": a / 1000.0, "run_ms_p50": b / 1000.0}


# (name, backend, rate, hostB's jobs.workers, PostgreSQL commits flushed): see the module's docstring.
CASES = (("pg50", "postgresql", 50, 4, True), ("pg200", "postgresql", 200, 4, True),
         ("pg200w64", "postgresql", 200, 64, True), ("pg50async", "postgresql", 50, 4, False),
         ("poll50", "sqlite", 50, 64, None))


def run(o, tmp):
    why = missing()
    if why:
        say(why)
        return []
    jobs = lambda rate: (rate if o.quick else 5 * rate)  # 1 s of jobs (5 s in a full run) at each rate
    res = {c[0]: [] for c in CASES}
    with PgServer() as pg:
        for r in range(o.rounds):
            for name, backend, rate, workers, flushed in CASES:
                # Fresh stacks and database for every case: a case that left a backlog must not hold up the next.
                url = db = None
                if backend == "postgresql":
                    url, db = pg.new_database("notify")
                    if not flushed:
                        c = pg.connect("postgres")
                        c.cursor().execute("ALTER DATABASE %s SET synchronous_commit = off" % db)
                        c.close()
                a, b, port = two_hosts(tmp, url, workers)
                try:
                    measure(port, 50, 50, strict=False)  # not measured: each thread's first statements, cold caches
                    res[name].append(measure(port, jobs(rate), rate))
                    if backend == "postgresql":
                        res[name][-1].update(split(pg, db, jobs(rate)))
                finally:
                    stop_proc(b)
                    stop_proc(a)
                x = res[name][-1]
                say("round %d, %s: create->start p50 %.2f ms, p99 %.2f ms (%d jobs at %d/s, all by hostB; %d still "
                    "not ended %d s after the last)%s" % (r + 1, name, x["start_ms_p50"], x["start_ms_p99"], x["done"],
                                                         rate, x["stuck"], WAIT_S,
                                                         "; p50 create->claim %.2f ms, claim->start %.2f ms"
                                                         % (x["claim_ms_p50"], x["run_ms_p50"])
                                                         if "claim_ms_p50" in x else ""))
    get = lambda key, field: [x[field] for x in res[key]]
    poll = "1 s poll"
    figs = []
    for key, what, p50 in (("pg50", "50/s", ("≤ 1 ms", "<=", 1.0)), ("pg200", "200/s", ("report", None, None)),
                           ("pg200w64", "200/s, hostB 64 at once", ("report", None, None)),
                           ("pg50async", "50/s, synchronous_commit=off", ("report", None, None))):
        figs += [Figure("Another stack's handler, PostgreSQL NOTIFY, %s: create→start p50" % what, "ms",
                        get(key, "start_ms_p50"), get("poll50", "start_ms_p50"), poll, p50, digits=2),
                 Figure("Another stack's handler, PostgreSQL NOTIFY, %s: create→start p99" % what, "ms",
                        get(key, "start_ms_p99"), get("poll50", "start_ms_p99"), poll, ("report", None, None),
                        digits=2)]
    figs += [Figure("  50/s: create→claim p50 (hostA's commit, NOTIFY, hostB's claim statement)", "ms",
                    get("pg50", "claim_ms_p50"), target=("report", None, None), digits=2),
             Figure("  50/s: claim→start p50 (hostB's claim commit, the start's write)", "ms",
                    get("pg50", "run_ms_p50"), target=("report", None, None), digits=2),
             Figure("  50/s, synchronous_commit=off: create→claim p50", "ms",
                    get("pg50async", "claim_ms_p50"), target=("report", None, None), digits=2),
             Figure("  50/s, synchronous_commit=off: claim→start p50", "ms",
                    get("pg50async", "run_ms_p50"), target=("report", None, None), digits=2)]
    figs.append(Figure("Another stack's handler, PostgreSQL NOTIFY: jobs not ended %d s after the last (worst case)"
                       % WAIT_S,
                       "", [max(max(get(c[0], "stuck")) for c in CASES if c[1] == "postgresql")],
                       target=("0", "<=", 0), show_ratio=False))
    figs += [Figure("Reference: the same stacks on SQLite, hostB polling every 1 s (Galaxy's way), 50/s: p50", "ms",
                    get("poll50", "start_ms_p50"), target=("report", None, None), digits=1),
             Figure("Reference: the same stacks on SQLite, hostB polling every 1 s (Galaxy's way), 50/s: p99", "ms",
                    get("poll50", "start_ms_p99"), target=("report", None, None), digits=1)]
    return figs
