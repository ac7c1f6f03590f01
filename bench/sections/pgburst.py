"""pgburst: the jobs section's loads on PostgreSQL, against the same on SQLite and the reference peer, in one run.

One host: the jobs stack of the `jobs` section (2 web workers x 4 threads, a
job-handlers farm of 2 mules, accept-sync=full), once with its default SQLite
database and once with `--jobs.database postgresql://...` (a fresh database
on a throwaway server, fsync and synchronous_commit on: see pgcommon), in
alternating rounds. On each, bench/jobs_load.py runs 1,000 jobs from 1 client
and then a burst of 2,000 from 8, with --server-pid: end-to-end jobs/s, the
jobs stuck, and muleteer's own CPU per job (its processes, not the jobs'
commands). The PostgreSQL server's CPU over the same loads, divided by the
jobs done, is reported beside it, since on SQLite that work is done inside
muleteer's processes; and the transactions per job (pg_stat_database: the
job's own, and those of jobs_load.py's GETs while it waits, which read the
database too), over both loads.

Targets: the PostgreSQL burst >= 0.8x the SQLite burst of the same round, 0
stuck; and the CPU per job of 1,000 jobs from 1 client, muleteer's plus the
PostgreSQL server's, <= 0.5x the reference peer's (the `jobs` section's
target). The peer has no PostgreSQL: its figure is its SQLite one
(synchronous=NORMAL, a lighter durability than PostgreSQL's flushed
commits), measured in the same round.
"""
import tempfile

from sections.common import Figure, jobs_load, jobs_stack_args, peer_available, say, start_muleteer, start_peer, \
    stop, stop_group
from sections.pgcommon import PgServer, missing


def loads(args, sizes, pg=None, db=None):
    """Start muleteer with args; {"one": ..., "burst": ...}: jobs_load's results, with the PostgreSQL server's part.

    Transactions are counted over both loads together ("xacts_per_job" in both): a backend reports its counts
    at the latest when it exits, so they are read once muleteer is stopped."""
    proc, port = start_muleteer(args)
    out = {}
    try:
        x0 = pg.transactions(db) if pg else None
        for load, clients in (("one", 1), ("burst", 8)):
            cpu0 = pg.cpu_seconds() if pg else None
            j = out[load] = jobs_load(port, ["-n", str(sizes[load]), "-c", str(clients), "--timeout", "60",
                                             "--server-pid", str(proc.pid)])
            if pg:
                j["pg_cpu_ms_per_job"] = round(1000 * (pg.cpu_seconds() - cpu0) / max(1, j["done"]), 3)
                j["total_cpu_ms_per_job"] = (None if j.get("server_cpu_ms_per_job") is None else
                                             round(j["server_cpu_ms_per_job"] + j["pg_cpu_ms_per_job"], 3))
    finally:
        stop(proc)
    if pg:
        xacts = round((pg.transactions(db) - x0) / max(1, out["one"]["done"] + out["burst"]["done"]), 2)
        for load in out:
            out[load]["xacts_per_job"] = xacts
    return out


def peer_one(tmp, n):
    proc, port = start_peer(tmp)
    try:
        return jobs_load(port, ["-n", str(n), "-c", "1", "--timeout", "15", "--server-pid", str(proc.pid)])
    finally:
        stop_group(proc)


def run(o, tmp):
    why = missing()
    if why:
        say(why)
        return []
    sizes = {"one": 300 if o.quick else 1000, "burst": 2000}
    res = {"sqlite": [], "pg": [], "peer": []}
    with PgServer() as pg:
        for r in range(o.rounds):
            res["sqlite"].append(loads(jobs_stack_args(tempfile.mkdtemp(dir=tmp), "full"), sizes))
            url, db = pg.new_database("burst")
            res["pg"].append(loads(jobs_stack_args(tempfile.mkdtemp(dir=tmp), "full",
                                                   extra=["--jobs.database", url]), sizes, pg, db))
            if peer_available():
                res["peer"].append(peer_one(tmp, sizes["one"]))
            for k in res:
                if res[k]:
                    say("round %d: %s %s" % (r + 1, k, res[k][-1]))
    get = lambda key, load, field: [x[load].get(field) for x in res[key]]
    # As in the jobs section: a round in which the peer lost jobs counts too, its CPU over the jobs it finished.
    peer_cpu = [x.get("server_cpu_ms_per_job") for x in res["peer"]]
    lost = sum(1 for x in res["peer"] if x.get("stuck"))
    one, burst = "{:,}".format(sizes["one"]), "{:,}".format(sizes["burst"])
    return [
        Figure("PostgreSQL jobs burst %s×8, one host" % burst, "jobs/s", get("pg", "burst", "jobs_per_s"),
               get("sqlite", "burst", "jobs_per_s"), "SQLite", ("≥ 0.8× SQLite", "ratio>=", 0.8)),
        Figure("PostgreSQL jobs stuck after the burst (worst round)", "", [max(get("pg", "burst", "stuck"))],
               [max(get("sqlite", "burst", "stuck"))], "SQLite", ("0", "<=", 0), show_ratio=False),
        Figure("PostgreSQL %s×1: muleteer + PostgreSQL server CPU per `true` job" % one, "ms",
               get("pg", "one", "total_cpu_ms_per_job"), peer_cpu, "peer (SQLite)", ("≤ 0.5× peer", "ratio<=", 0.5),
               digits=3, note="the peer has no PostgreSQL: its SQLite figure, same round" +
                              ("; it lost jobs in %d of %d rounds" % (lost, len(res["peer"])) if lost else "")),
        Figure("PostgreSQL %s×1: muleteer CPU per job" % one, "ms", get("pg", "one", "server_cpu_ms_per_job"),
               get("sqlite", "one", "server_cpu_ms_per_job"), "SQLite", ("report", None, None), digits=3),
        Figure("PostgreSQL %s×1: PostgreSQL server CPU per job" % one, "ms", get("pg", "one", "pg_cpu_ms_per_job"),
               target=("report", None, None), digits=3),
        Figure("PostgreSQL burst: muleteer CPU per job", "ms", get("pg", "burst", "server_cpu_ms_per_job"),
               get("sqlite", "burst", "server_cpu_ms_per_job"), "SQLite", ("report", None, None), digits=3),
        Figure("PostgreSQL burst: PostgreSQL server CPU per job", "ms", get("pg", "burst", "pg_cpu_ms_per_job"),
               target=("report", None, None), digits=3),
        Figure("PostgreSQL burst: muleteer + server CPU per job", "ms", get("pg", "burst", "total_cpu_ms_per_job"),
               get("sqlite", "burst", "server_cpu_ms_per_job"), "SQLite", ("report", None, None), digits=3),
        Figure("PostgreSQL: transactions per job, both loads (the jobs' and the clients' polling)", "",
               get("pg", "burst", "xacts_per_job"), target=("report", None, None), digits=1),
    ]
