"""pgburst: the jobs burst on PostgreSQL against the same burst on SQLite, in one run.

One host: the jobs stack of the `jobs` section (2 web workers x 4 threads, a
job-handlers farm of 2 mules, accept-sync=full), once with its default SQLite
database and once with `--jobs.database postgresql://...` (a fresh database
on a throwaway server, fsync and synchronous_commit on: see pgcommon), in
alternating rounds. `../shared/bench/jobs_bench.py -n 2000 -c 8
--server-pid` gives end-to-end jobs/s, the jobs stuck, and muleteer's own
CPU per job (its processes, not the jobs' commands); the PostgreSQL server's
CPU over the same run, divided by the jobs done, is reported beside it,
since on SQLite that work is done inside muleteer's processes; and the
transactions per job (pg_stat_database: the job's own, and those of
jobs_bench.py's GETs while it waits, which read the database too).

Target: PostgreSQL >= 0.8x the SQLite burst of the same round, 0 stuck.
"""
import os
import tempfile

from sections.common import SHARED_BENCH, Figure, jobs_bench, jobs_stack_args, say, start_muleteer, stop
from sections.pgcommon import PgServer, missing


def burst(args, n, pg=None, db=None):
    proc, port = start_muleteer(args)
    try:
        cpu0, x0 = (pg.cpu_seconds(), pg.transactions(db)) if pg else (None, None)
        j = jobs_bench(port, ["-n", str(n), "-c", "8", "--timeout", "60", "--server-pid", str(proc.pid)])
        if pg:
            j["pg_cpu_ms_per_job"] = round(1000 * (pg.cpu_seconds() - cpu0) / max(1, j["done"]), 3)
    finally:
        stop(proc)
    if pg:  # read once its connections are closed: a backend reports its counts at the latest when it exits
        j["xacts_per_job"] = round((pg.transactions(db) - x0) / max(1, j["done"]), 2)
    return j


def run(o, tmp):
    why = missing() or (None if os.path.exists(os.path.join(SHARED_BENCH, "jobs_bench.py"))
                        else "skipped: no jobs_bench.py in %s" % SHARED_BENCH)
    if why:
        say(why)
        return []
    n = 2000
    res = {"sqlite": [], "pg": []}
    with PgServer() as pg:
        for r in range(o.rounds):
            res["sqlite"].append(burst(jobs_stack_args(tempfile.mkdtemp(dir=tmp), "full"), n))
            url, db = pg.new_database("burst")
            res["pg"].append(burst(jobs_stack_args(tempfile.mkdtemp(dir=tmp), "full",
                                                   extra=["--jobs.database", url]), n, pg, db))
            say("round %d: sqlite %s" % (r + 1, res["sqlite"][-1]))
            say("round %d: postgresql %s" % (r + 1, res["pg"][-1]))
    get = lambda key, field: [x.get(field) for x in res[key]]
    return [
        Figure("PostgreSQL jobs burst %s×8, one host" % "{:,}".format(n), "jobs/s", get("pg", "jobs_per_s"),
               get("sqlite", "jobs_per_s"), "SQLite", ("≥ 0.8× SQLite", "ratio>=", 0.8)),
        Figure("PostgreSQL jobs stuck after the burst (worst round)", "", [max(get("pg", "stuck"))],
               [max(get("sqlite", "stuck"))], "SQLite", ("0", "<=", 0), show_ratio=False),
        Figure("PostgreSQL burst: muleteer CPU per job", "ms", get("pg", "server_cpu_ms_per_job"),
               get("sqlite", "server_cpu_ms_per_job"), "SQLite", ("report", None, None), digits=3),
        Figure("PostgreSQL burst: PostgreSQL server CPU per job", "ms", get("pg", "pg_cpu_ms_per_job"),
               target=("report", None, None), digits=3),
        Figure("PostgreSQL burst: muleteer + server CPU per job", "ms",
               [a + b for a, b in zip(get("pg", "server_cpu_ms_per_job"), get("pg", "pg_cpu_ms_per_job"))],
               get("sqlite", "server_cpu_ms_per_job"), "SQLite", ("report", None, None), digits=3),
        Figure("PostgreSQL burst: transactions per job (the jobs' and the clients' polling)", "",
               get("pg", "xacts_per_job"), target=("report", None, None), digits=1),
    ]
