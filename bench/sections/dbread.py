"""dbread: GET /api/jobs/{id}, a read that touches the database, with wrk against muleteer's own /api/health.

muleteer runs its jobs stack (2 web workers x 4 threads, 2 job-handler
mules); one `true` job is created through POST /api/jobs and run, then wrk
reads that job, and, on the same server in the same round, GET /api/health,
which answers a constant: the cost of the request itself. Target: the read
>= 0.75x /api/health, that is, the database read adds at most a third to a
request's cost. Reported beside it: the same read from a second muleteer
whose two web workers have one thread each, as in the http section (no
mules: its web worker ran the job), and from the reference peer
(bench/peer-uwsgi-jobs), for scale. All servers stay up and are measured
in turn within each round.
"""
import os
import time

from sections.common import Figure, http_json, jobs_stack_args, peer_available, say, start_muleteer, start_peer, \
    stop, stop_group, wrk


def one_finished_job(port):
    job = http_json(port, "POST", "/api/jobs", {"tool_id": "true"})
    deadline = time.time() + 30
    while time.time() < deadline:
        if http_json(port, "GET", "/api/jobs/%s" % job["id"]).get("state") in ("ok", "error"):
            return "/api/jobs/%s" % job["id"]
        time.sleep(0.05)
    raise RuntimeError("job %s did not finish within 30 s" % job["id"])


def run(o, tmp):
    mt, mt_port = start_muleteer(jobs_stack_args(os.path.join(tmp, "dbread-data")))
    # Web workers of one thread each, as in the http section; no mules, so the web worker runs the job.
    one, one_port = start_muleteer(jobs_stack_args(os.path.join(tmp, "dbread-data-1"), mules=0,
                                                   extra=["--threads", "1"]))
    peer, peer_port = start_peer(tmp) if peer_available() else (None, None)
    ours, health, ours_one, theirs = [], [], [], []
    try:
        mt_path = one_finished_job(mt_port)
        one_path = one_finished_job(one_port)
        peer_path = one_finished_job(peer_port) if peer else None
        for r in range(o.rounds):
            ours.append(wrk(mt_port, mt_path, o.duration))
            health.append(wrk(mt_port, "/api/health", o.duration))
            ours_one.append(wrk(one_port, one_path, o.duration))
            if peer:
                theirs.append(wrk(peer_port, peer_path, o.duration))
            say("round %d: muleteer %.0f req/s (/api/health %.0f; 1 thread: %.0f), peer %s" % (
                r + 1, ours[-1], health[-1], ours_one[-1], theirs[-1] if theirs else "-"))
    finally:
        stop(mt)
        stop(one)
        if peer:
            stop_group(peer)
    return [Figure("DB read GET /api/jobs/{id}, 2 workers × 4 threads", "req/s", ours, health, "/api/health",
                   ("≥ 0.75× /api/health", "ratio>=", 0.75)),
            Figure("DB read GET /api/jobs/{id}, 2 workers × 4 threads", "req/s", ours, theirs, "peer",
                   ("report", None, None)),
            Figure("DB read GET /api/jobs/{id}, 2 workers × 1 thread", "req/s", ours_one, theirs, "peer",
                   ("report", None, None))]
