"""A handler killed while its job's waiter is still starting: the run is adopted, not run a second time.

A handler commits a job as `running`, then starts its waiter (muleteer-waiter), which starts the command and only
then writes its pid file. A handler killed in between leaves a waiter that will run the command all the same; its
successor must not take the run for lost before that waiter had its chance to show up, or the command runs twice.
The waiter is made slow to start here (a wrapper that sleeps before it execs the real one, found beside a copy of the
binary, as the real one is), so that the successor's recovery comes while it is still starting.

A handler's waiters are forked by its waiter helper (`muleteer-waiter --helper`, executed once), or executed one by one
where the helper cannot serve. The first test refuses the helper (the wrapper exits at once when asked for one), so
every waiter is executed through the slow wrapper. The second makes the helper itself slow to start: the handler dies
before any waiter exists, and its successor runs the job, once, as attempt 2.
"""
import json
import os
import shutil
import signal

from conftest import BUILD, wait_for

MULE = "main.job-handlers.1"


def slow_waiter_stack(servers, tmp_path, helper):
    """A stack whose waiter program sleeps 1 s before it starts: as a waiter, or (helper="slow") as the helper.

    helper="refused": asked for a helper, the program exits at once, so waiters are executed (slowly).
    Returns (stack, job id, file the command appends its job id to, file touched when the slow start begins)."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    shutil.copy(os.path.join(BUILD, "muleteer"), str(bindir / "muleteer"))
    wrapper = bindir / "muleteer-waiter"
    started = tmp_path / "waiter-started"
    real = os.path.join(BUILD, "muleteer-waiter")
    if helper == "refused":
        script = 'if [ "$1" = --helper ]; then exit 3; fi\ntouch %s\nsleep 1\nexec %s "$@"\n' % (started, real)
    else:
        script = 'if [ "$1" = --helper ]; then touch %s; sleep 1; fi\nexec %s "$@"\n' % (started, real)
    wrapper.write_text("#!/bin/sh\n" + script)
    wrapper.chmod(0o755)
    out = str(tmp_path / "ids.txt")
    tools = tmp_path / "tools"
    tools.mkdir()
    (tools / "append.yml").write_text(json.dumps({"id": "append", "version": "1.0", "name": "append",
                                                  "command": ["/bin/sh", "-c",
                                                              'echo "$MULETEER_JOB_ID" >> %s' % out]}))
    s = servers(["--mules", "1", "--farm", "job-handlers:1", "--set", "jobs.tools-dir=%s" % tools,
                 "--set", "jobs.data-dir=%s" % (tmp_path / "data")], binary=str(bindir / "muleteer"))
    status, _, data = s.request("POST", "/api/jobs", body=json.dumps({"tool_id": "append"}),
                                headers={"Content-Type": "application/json"})
    assert status == 201, data
    jid = json.loads(data)["id"]
    return s, jid, out, started


def kill_handler_and_wait_for_the_end(s, jid, out, started):
    wait_for(lambda: started.exists(), 10, what="the waiter to be starting")
    mule = s.by_name()[MULE]["pid"]
    os.kill(mule, signal.SIGKILL)  # the waiter is in its 1 s sleep: it has written nothing yet
    assert not os.path.exists(out)

    def ended():
        status, doc = s.get_json("/api/jobs/%s" % jid)
        return doc if doc["state"] in ("ok", "error", "deleted") else None
    job = wait_for(ended, 20, what="the job to end\n" + s.log()[-3000:])
    assert job["state"] == "ok", job
    with open(out) as f:
        assert f.read().split() == [str(jid)], "the command ran more than once"
    return s.sql("SELECT attempt FROM job WHERE id = ?", (int(jid),))[0][0]


def test_a_handler_killed_while_its_waiter_starts_leaves_the_run_to_be_adopted_not_run_again(servers, tmp_path):
    s, jid, out, started = slow_waiter_stack(servers, tmp_path, helper="refused")
    assert kill_handler_and_wait_for_the_end(s, jid, out, started) == 1
    assert "the waiter helper" in s.log() and "cannot serve" in s.log()
    s.wait_ready()


def test_a_handler_killed_while_its_waiter_helper_starts_runs_the_job_once_as_attempt_2(servers, tmp_path):
    s, jid, out, started = slow_waiter_stack(servers, tmp_path, helper="slow")
    assert kill_handler_and_wait_for_the_end(s, jid, out, started) == 2
    s.wait_ready()
