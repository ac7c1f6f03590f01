"""submit: job submission alone, POST /api/jobs with wrk (bench/post_job.lua), the jobs not run.

"Not run" without changing what acceptance does: a job configuration maps
the tool `true` to the handler `parked`, which is configured but never
started, so every POST inserts and commits its job exactly as usual (handler
set, state 'new') and answers 201, and nothing ever picks the job up. The
stack has no mules; its two web workers (x 4 threads) still look for jobs
assigned to them every poll-interval, as they always do.

Measured with the default durability (accept-sync=full: fsynced before the
201) and the relaxed one (normal: WAL, synchronous=NORMAL, the peer's). The
reference peer's POST is measured too, but it cannot leave jobs unrun: its
two mules run every job whose message arrives while wrk submits, so its
figure includes that work. A fresh server and database in every round.
"""
import os
import tempfile

from sections.common import HERE, Figure, jobs_stack_args, peer_available, say, start_muleteer, start_peer, stop, \
    stop_group, wrk

JOB_CONF = """handling:
  handlers:
    parked: {}
tools:
  - {id: "true", handler: parked}
"""


def run(o, tmp):
    conf = os.path.join(tmp, "parked_job_conf.yml")
    with open(conf, "w") as f:
        f.write(JOB_CONF)
    script = os.path.join(HERE, "post_job.lua")
    rounds = {"full": [], "normal": [], "peer": []}
    for r in range(o.rounds):
        for accept in ("full", "normal"):
            proc, port = start_muleteer(jobs_stack_args(tempfile.mkdtemp(dir=tmp), accept, mules=0,
                                                        extra=["--set", "jobs.job-config=%s" % conf]))
            try:
                rounds[accept].append(wrk(port, "/api/jobs", o.duration, script=script))
            finally:
                stop(proc)
        if peer_available():
            proc, port = start_peer(tmp)
            try:
                rounds["peer"].append(wrk(port, "/api/jobs", o.duration, script=script))
            finally:
                stop_group(proc)
        say("round %d: accepted jobs/s %s" % (r + 1, {k: v[-1] if v else None for k, v in rounds.items()}))
    return [Figure("Submit POST /api/jobs, accept-sync=full", "jobs/s", rounds["full"], rounds["peer"], "peer",
                   ("report (peer runs its jobs meanwhile)", None, None)),
            Figure("Submit POST /api/jobs, accept-sync=normal", "jobs/s", rounds["normal"], rounds["peer"], "peer",
                   ("report (peer runs its jobs meanwhile)", None, None))]
