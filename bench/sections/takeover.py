"""takeover: how long after a host dies its running job is back in the pool.

Three "hosts" on one PostgreSQL database, every process with
jobs.handler-lease=2 (renewed every 2/3 s; a handler looks for lapsed ones
every second):
- hostW, a stack of one web worker, takes the POSTs;
- hostS, a standalone handler attached to job-handlers: the survivor;
- hostK, a standalone handler attached to job-handlers: the host that dies.
The job configuration sends the tool `sleep` to the handler hostK by name
(the rest is db-skip-locked), so the measured job runs on hostK and nowhere
else. Each kill: hostK starts (taking its name back under a new epoch),
a `sleep 60` job is posted and starts on hostK, and after a random wait of
up to one lease (so the kill lands anywhere between two renewals), hostK,
its waiter and the command are SIGKILLed together, as a host that dies
takes everything with it. No exit status is left, so the job must come
back as attempt 2.

From the kill, the database is polled every 5 ms for: the handler row
hostK 'lost' (the takeover's transaction, which also puts the job back in
its pool: its handler no longer hostK), and the job running again on hostS.
Then the job is cancelled, and the next kill starts. 10 kills per round.

Expected: a handler is taken as dead once its lease_until (its last
renewal's time + 2 s, on the database's clock) has passed, and hostS finds
that within its next look (every lease/2): from the kill, between
lease - lease/3 and lease + lease/2. Target: median and max <= lease + 1 s.
"""
import os
import random
import tempfile
import time

from sections.common import Figure, http_json, say
from sections.pgcommon import PgServer, kill_tree, missing, reap_tree, start_stack, stop_proc, tail, wait_until, \
    write_conf

LEASE = 2
CONF = """handling:
  assign: [db-skip-locked]
  handlers:
    hostK: {}
tools:
  - id: sleep
    handler: hostK
"""


def one_kill(pg_conn, port, common, log_dir, i):
    k, _ = start_stack(["--attach-to-pool", "job-handlers", "--server-name", "hostK"] + common,
                       os.path.join(log_dir, "hostK.log"), http=False)
    cur = pg_conn.cursor()

    def row(name):
        cur.execute("SELECT state, pid, epoch FROM handler WHERE name = %s", (name,))
        return cur.fetchone()

    try:
        wait_until("hostK to take its name", lambda: (lambda r: r and r[0] == "running" and r[1] == k.pid)(
            row("hostK")), 15)
        epoch = row("hostK")[2]
        job = http_json(port, "POST", "/api/jobs", {"tool_id": "sleep", "inputs": {"seconds": 60}})
        jid = int(job["id"])

        def job_row():
            cur.execute("SELECT state, handler, attempt, external_id FROM job WHERE id = %s", (jid,))
            return cur.fetchone()

        wait_until("job %d to run on hostK" % jid, lambda: (lambda r: r[0] == "running" and r[1] == "hostK" and r[3])(
            job_row()), 15)
        time.sleep(random.uniform(0, LEASE))
    except Exception:
        stop_proc(k)
        raise RuntimeError("kill %d: hostK did not run the job; its log:\n%s" % (i, tail(os.path.join(log_dir,
                                                                                                      "hostK.log"))))
    t_kill = time.monotonic()
    pids = kill_tree(k.pid)
    k.wait()
    lost = back = rerun = None
    deadline = t_kill + 4 * LEASE + 5
    while time.monotonic() < deadline and (lost is None or back is None or rerun is None):
        now = time.monotonic() - t_kill
        r = row("hostK")
        if lost is None and r[0] == "lost":
            lost = now
        j = job_row()
        if back is None and (j[1] != "hostK" or j[2] > 1):
            back = now
        if rerun is None and j[0] == "running" and j[1] == "hostS" and j[2] == 2:
            rerun = now
        time.sleep(0.005)
    if len(pids) < 3:
        say("kill %d: only %d processes killed (hostK, its waiter, the command expected)" % (i, len(pids)))
    reap_tree(pids)
    if lost is None or back is None:
        raise RuntimeError("kill %d: hostK %s, job %d %s after %.0f s" % (i, row("hostK"), jid, job_row(),
                                                                           time.monotonic() - t_kill))
    # The job must not stay on: cancel it (hostS stops its sleep), and wait for it to end.
    try:
        http_json(port, "DELETE", "/api/jobs/%d" % jid)
    except Exception:
        pass
    wait_until("job %d to end" % jid, lambda: job_row()[0] in ("deleted", "ok", "error"), 15)
    say("kill %d (epoch %d, %d processes): lost after %.2f s, job back in the pool after %.2f s, running again on "
        "hostS after %s s" % (i, epoch, len(pids), lost, back, "%.2f" % rerun if rerun is not None else "–"))
    return lost, back, rerun


def run(o, tmp):
    why = missing()
    if why:
        say(why)
        return []
    kills = 10
    lost, back, rerun = [], [], []
    with PgServer() as pg:
        for r in range(o.rounds):
            d = tempfile.mkdtemp(dir=tmp)
            url, name = pg.new_database("takeover")
            conf = write_conf(d, "job_conf.yml", CONF)
            common = ["--set", "jobs.job-config=%s" % conf, "--set", "jobs.data-dir=%s" % os.path.join(d, "data"),
                      "--set", "jobs.handler-lease=%d" % LEASE, "--set", "jobs.cancel-grace=1",
                      "--jobs.database", url]
            w, port = start_stack(["--server-name", "hostW", "--processes", "1", "--disable-logging"] + common,
                                  os.path.join(d, "hostW.log"))
            s, _ = start_stack(["--attach-to-pool", "job-handlers", "--server-name", "hostS"] + common,
                               os.path.join(d, "hostS.log"), http=False)
            conn = pg.connect(name)
            try:
                for i in range(kills):
                    a, b, c = one_kill(conn, port, common, d, len(lost) + 1)
                    lost.append(a)
                    back.append(b)
                    if c is not None:
                        rerun.append(c)
            finally:
                conn.close()
                stop_proc(s)
                stop_proc(w)
    goal = ("≤ lease + 1 s = %d s" % (LEASE + 1), "<=", LEASE + 1.0)
    n = len(lost)
    return [
        Figure("Takeover, lease %d s: kill → handler 'lost', median of %d kills" % (LEASE, n), "s", lost,
               target=goal, digits=2),
        Figure("Takeover, lease %d s: kill → handler 'lost', worst of %d kills" % (LEASE, n), "s", [max(lost)],
               target=goal, digits=2),
        Figure("Takeover, lease %d s: kill → job back in its pool, median of %d kills" % (LEASE, n), "s", back,
               target=goal, digits=2),
        Figure("Takeover, lease %d s: kill → job back in its pool, worst of %d kills" % (LEASE, n), "s", [max(back)],
               target=goal, digits=2),
        Figure("Takeover, lease %d s: kill → job running again elsewhere, median of %d" % (LEASE, len(rerun)), "s",
               rerun, target=("report", None, None), digits=2),
    ]
