"""claims: skip-locked claim rate with 1, 4, 16 and 64 handlers on one PostgreSQL database.

N standalone handlers (c1 .. cN, each its own process with its own
connections, as N hosts would run them; jobs.workers=4 each, the default)
attach to the pool job-handlers with `handling: assign: [db-skip-locked]`.
Once the handler table shows all N running, M `true` jobs are inserted
into the pool in one transaction (rows shaped as POST /api/jobs makes them:
state new, no handler, queue job-handlers), so that every handler is woken
by the same commit (NOTIFY) and they all claim from one queue at once with
FOR UPDATE SKIP LOCKED. From the jobs' own times (the database's rows): jobs
claimed per second (M over the time from the commit to the last claim) and
jobs done per second (to the last end). A fresh database for every count in
every round.

On this 2-core machine the jobs' commands compete with the claims for the
CPUs, so the done/s figure is bounded by spawning `true` (the `jobs`
section's floor); what this shows is whether claiming collapses as handlers
are added (lock waits, retries, a thundering herd on each notification).
Target: 16 and 64 handlers >= 0.8x the claim rate of 4.
"""
import os
import tempfile
import time

from sections.common import Figure, say
from sections.pgcommon import PgServer, missing, start_stack, stop_proc, tail, wait_until, write_conf

COUNTS = (1, 4, 16, 64)


def one_count(pg, tmp, n, m, workers):
    d = tempfile.mkdtemp(dir=tmp)
    url, name = pg.new_database("claims%d" % n)
    conf = write_conf(d, "job_conf.yml", "handling:\n  assign: [db-skip-locked]\n")
    common = ["--attach-to-pool", "job-handlers", "--set", "jobs.job-config=%s" % conf,
              "--set", "jobs.data-dir=%s" % os.path.join(d, "data"), "--set", "jobs.workers=%d" % workers,
              "--jobs.database", url]
    log = os.path.join(d, "handlers.log")
    procs = []
    conn = None
    try:
        # The first creates the schema; the others start once it is there (they would wait on its lock anyway).
        procs.append(start_stack(["--server-name", "c1"] + common, log, http=False)[0])
        conn = pg.connect(name)
        cur = conn.cursor()

        def running():
            try:
                cur.execute("SELECT count(*) FROM handler WHERE state = 'running'")
                return cur.fetchone()[0]
            except Exception:
                return 0

        wait_until("c1 to register", lambda: running() >= 1, 30)
        for i in range(2, n + 1):
            procs.append(start_stack(["--server-name", "c%d" % i] + common, log, http=False)[0])
        wait_until("%d handlers to register" % n, lambda: running() >= n, 60, every=0.1)
        time.sleep(0.5)  # their first poll done: they all sit idle, listening

        mine = [0]  # this function's own transactions on the database, taken off the count

        def xacts():
            return pg.transactions(name) - mine[0]

        # Idle, for 3 s: what N handlers cost the server with nothing to do (polls, lease renewals). A busy
        # backend reports its counts to pg_stat_database once a second, so both ends lag alike.
        cpu0, x0, t = pg.cpu_seconds(), xacts(), time.time()
        time.sleep(3.0)
        idle_cpu, idle_x, t = pg.cpu_seconds() - cpu0, xacts() - x0, time.time() - t
        cpu0, x0 = pg.cpu_seconds(), xacts()
        cur.execute("BEGIN")
        cur.execute("INSERT INTO job (tool_id, tool_version, params, state, handler, queue, create_time, update_time) "
                    "SELECT 'true', '1.0', '{}', 'new', NULL, 'job-handlers', t, t "
                    "FROM generate_series(1, %s), "
                    "(SELECT (extract(epoch FROM clock_timestamp()) * 1e6)::bigint AS t) n",
                    (m,))
        cur.execute("COMMIT")
        t0 = int(time.time() * 1e6)
        mine[0] += 1

        def finished():
            mine[0] += 1
            cur.execute("SELECT count(*) FROM job WHERE state IN ('ok', 'error', 'deleted')")
            return cur.fetchone()[0] >= m

        wait_until("%d jobs to end with %d handlers" % (m, n), finished, 300, every=0.05)
        cur.execute("SELECT max(claim_time), max(end_time), count(DISTINCT handler), "
                    "count(*) FILTER (WHERE state = 'ok') FROM job")
        last_claim, last_end, used, ok = cur.fetchone()
        mine[0] += 1
        pg_cpu = pg.cpu_seconds() - cpu0
    except Exception as e:
        raise RuntimeError("%d handlers: %s; their log ends:\n%s" % (n, e, tail(log)))
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
        for p in procs:
            stop_proc(p)
    try:  # once the handlers' connections are closed: a backend reports its counts at the latest when it exits
        time.sleep(0.2)
        x = xacts() - x0
    finally:
        conn.close()
    if ok != m:
        raise RuntimeError("%d handlers: %d of %d jobs ok" % (n, ok, m))
    return {"claimed_per_s": m / max(1e-6, (last_claim - t0) / 1e6), "done_per_s": m / max(1e-6, (last_end - t0) / 1e6),
            "handlers_used": used, "pg_cpu_ms_per_job": 1000 * pg_cpu / m, "xacts_per_job": x / m,
            "idle_pg_cpu_ms_per_s": 1000 * idle_cpu / t, "idle_xacts_per_s": idle_x / t}


def run(o, tmp):
    why = missing()
    if why:
        say(why)
        return []
    # (a) claims alone: every handler may hold every job (jobs.workers = M), so that one notification
    # sets all of them claiming from one queue until it is empty. (b) as deployed: 4 at once each.
    variants = (("claims", 1000, None), ("default", 200 if o.quick else 600, 4))
    res = {(v, n): [] for v, _, _ in variants for n in COUNTS}
    with PgServer() as pg:
        for r in range(o.rounds):
            for v, m, workers in variants:
                for n in COUNTS:
                    x = one_count(pg, tmp, n, m, workers or m)
                    res[v, n].append(x)
                    say("round %d, %s, %d handler%s x %d workers: %.0f claimed/s, %.0f done/s, %d handlers claimed "
                        "jobs, server CPU %.3f ms/job, %.1f transactions/job; idle: server CPU %.1f ms/s, %.0f "
                        "transactions/s" % (r + 1, v, n, "" if n == 1 else "s", workers or m, x["claimed_per_s"],
                                            x["done_per_s"], x["handlers_used"], x["pg_cpu_ms_per_job"],
                                            x["xacts_per_job"], x["idle_pg_cpu_ms_per_s"], x["idle_xacts_per_s"]))
    get = lambda v, n, k: [x[k] for x in res[v, n]]
    plural = lambda n: "%d handler%s" % (n, "" if n == 1 else "s")
    figs = []
    for v, m, workers in variants:
        what = "each may hold all" if workers is None else "%d at once each (default)" % workers
        for n in COUNTS:
            ref = [] if n == 4 else get(v, 4, "claimed_per_s")
            target = ("≥ 0.8× 4 handlers", "ratio>=", 0.8) if n > 4 and workers is None else ("report", None, None)
            figs.append(Figure("Skip-locked claims of %s jobs, %s, %s" % ("{:,}".format(m), plural(n), what),
                               "claimed/s", get(v, n, "claimed_per_s"), ref, "4 handlers" if ref else "", target))
        for n in COUNTS:
            figs.append(Figure("  same, jobs done (%s)" % plural(n), "jobs/s", get(v, n, "done_per_s"),
                               target=("report", None, None)))
        if workers is None:  # with 4 at once, the jobs' own transactions are the same and the handlers' polls more
            for n in COUNTS:
                figs.append(Figure("  same, PostgreSQL server CPU per job (%s)" % plural(n), "ms",
                                   get(v, n, "pg_cpu_ms_per_job"), target=("report", None, None), digits=3))
            for n in COUNTS:
                figs.append(Figure("  same, transactions per job (%s)" % plural(n), "", get(v, n, "xacts_per_job"),
                                   target=("report", None, None), digits=1))
    for n in COUNTS:
        figs.append(Figure("Idle, %s (default): PostgreSQL server CPU" % plural(n), "ms/s",
                           get("default", n, "idle_pg_cpu_ms_per_s"), target=("report", None, None), digits=1))
        figs.append(Figure("Idle, %s (default): transactions" % plural(n), "/s", get("default", n, "idle_xacts_per_s"),
                           target=("report", None, None)))
    return figs
