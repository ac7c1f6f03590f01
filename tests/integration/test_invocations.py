"""Workflow invocations end to end: scheduling by a handler, outputs byte for byte, failures, cancel, kill -9."""
import json
import os
import signal
import subprocess
import time

from conftest import MULETEER, wait_for, write

TERMINAL = ("ok", "failed", "cancelled")

TOOLS = {
    "echo.yml": """\
id: echo
version: "1"
name: echo
command: ["/bin/echo", "{text}"]
inputs:
  - {name: text, type: text}
outputs:
  - {name: out, from: stdout}
""",
    "cat.yml": """\
id: cat
version: "1"
name: cat
command: ["/bin/cat", "{first}", "{second}"]
inputs:
  - {name: first, type: data}
  - {name: second, type: data}
outputs:
  - {name: out, from: stdout}
""",
    "fail.yml": """\
id: fail
version: "1"
name: fails when given a non-empty path
command: ["/usr/bin/test", "-z", "{input}"]
inputs:
  - {name: input, type: data}
outputs:
  - {name: out, from: stdout}
""",
    "nap.yml": """\
id: nap
version: "1"
name: sleeps
command: ["/bin/sleep", "{seconds}"]
inputs:
  - {name: seconds, type: integer}
outputs:
  - {name: out, from: stdout}
""",
}


def tools_dir(tmp_path):
    d = tmp_path / "tools"
    d.mkdir()
    for name, text in TOOLS.items():
        (d / name).write_text(text)
    return str(d)


def post_workflow(s, text):
    status, _, data = s.request("POST", "/api/workflows", body=text, headers={"Content-Type": "application/yaml"})
    assert status == 201, data
    return json.loads(data)


def invoke(s, wf, inputs=None):
    status, _, data = s.request("POST", "/api/workflows/%s/invocations" % wf, body=json.dumps({"inputs": inputs or {}}),
                                headers={"Content-Type": "application/json"})
    assert status == 201, data
    return json.loads(data)


def get_inv(s, iid):
    status, doc = s.get_json("/api/invocations/%s" % iid)
    assert status == 200, doc
    return doc


def wait_inv(s, iid, states=TERMINAL, timeout=30):
    return wait_for(lambda: (lambda d: d if d["state"] in states else None)(get_inv(s, iid)), timeout,
                    what="invocation %s to reach %s" % (iid, states))


def output(s, job_id, name):
    status, _, data = s.request("GET", "/api/jobs/%s/outputs/%s" % (job_id, name))
    assert status == 200, data
    return data


def steps_by_id(inv):
    return {st["id"]: st for st in inv["steps"]}


def jobs_of(s, iid):
    """The invocation's jobs as the stack's database has them: (id, state) by id."""
    return s.sql("SELECT id, state FROM job WHERE invocation_id = ? ORDER BY id", (int(iid),))


def wait_step_process(s, iid, step):
    """Until the step's command has surely started: its job is running with a pid, the steps before it recorded."""
    def started():
        st = steps_by_id(get_inv(s, iid))
        if st[step]["job_state"] != "running" or st["a"]["state"] != "ok":
            return None
        status, job = s.get_json("/api/jobs/%s" % st[step]["job_id"])
        return job if job["external_id"] else None
    return wait_for(started, 20, what="step %s's command to run" % step)


def test_the_sample_diamond_runs_each_step_once_and_its_outputs_match(servers, tmp_path):
    s = servers(["--mules", "2", "--farm", "job-handlers:1,2"])
    inv = invoke(s, "diamond", {"text": "hello world"})
    assert inv["state"] in ("new", "scheduling") and [st["id"] for st in inv["steps"]][-1] == "d"
    done = wait_inv(s, inv["id"])
    assert done["state"] == "ok", json.dumps(done)
    assert done["handler"] in ("main.job-handlers.1", "main.job-handlers.2")
    steps = steps_by_id(done)
    assert all(st["state"] == "ok" and st["job_state"] == "ok" for st in steps.values()), steps
    assert output(s, steps["a"]["job_id"], "out") == b"hello world\n"
    assert output(s, steps["b"]["job_id"], "count") == b"1\n"
    assert output(s, steps["c"]["job_id"], "out") == b"hello world\nhello world\n"
    assert output(s, steps["d"]["job_id"], "out") == b"1\nhello world\nhello world\n"
    jobs = jobs_of(s, inv["id"])
    assert len(jobs) == 4 and {str(j) for j, _ in jobs} == {st["job_id"] for st in steps.values()}
    status, job = s.get_json("/api/jobs/%s" % steps["d"]["job_id"])
    assert job["invocation_id"] == inv["id"]


def test_a_failed_step_stops_what_is_downstream_and_the_rest_finishes(servers, tmp_path):
    s = servers(["--set", "jobs.tools-dir=%s" % tools_dir(tmp_path)])
    post_workflow(s, """\
id: branches
inputs: [{name: text, type: text}]
steps:
  - {id: a, tool: echo, inputs: {text: {input: text}}}
  - {id: bad, tool: fail, inputs: {input: {step: a, output: out}}}
  - {id: after-bad, tool: cat, inputs: {first: {step: bad, output: out}, second: {step: a, output: out}}}
  - {id: good, tool: cat, inputs: {first: {step: a, output: out}, second: {step: a, output: out}}}
  - {id: after-good, tool: cat, inputs: {first: {step: good, output: out}, second: {step: a, output: out}}}
""")
    inv = invoke(s, "branches", {"text": "x"})
    done = wait_inv(s, inv["id"])
    assert done["state"] == "failed" and "'bad'" in done["info"], done
    steps = steps_by_id(done)
    assert steps["bad"]["state"] == "failed" and "exited with status 1" in steps["bad"]["info"], steps["bad"]
    assert steps["after-bad"]["state"] == "not_run" and steps["after-bad"]["job_id"] is None
    assert "'bad'" in steps["after-bad"]["info"]
    assert steps["good"]["state"] == "ok" and steps["after-good"]["state"] == "ok"
    assert output(s, steps["after-good"]["job_id"], "out") == b"x\nx\nx\n"


def test_bad_invocation_inputs_are_400_and_an_unknown_workflow_404(servers):
    s = servers([])
    status, _, data = s.request("POST", "/api/workflows/diamond/invocations",
                                body=json.dumps({"inputs": {"text": 3}}), headers={"Content-Type": "application/json"})
    assert status == 400 and "text" in json.loads(data)["err_msg"]
    status, _, data = s.request("POST", "/api/workflows/diamond/invocations", body="{not json",
                                headers={"Content-Type": "application/json"})
    assert status == 400
    status, _, data = s.request("POST", "/api/workflows/nope/invocations", body="{}",
                                headers={"Content-Type": "application/json"})
    assert status == 404
    status, doc = s.get_json("/api/invocations/999")
    assert status == 404


def test_cancel_mid_run_stops_the_running_job_and_ends_the_invocation(servers, tmp_path):
    s = servers(["--set", "jobs.tools-dir=%s" % tools_dir(tmp_path), "--set", "jobs.cancel-grace=1"])
    post_workflow(s, """\
id: long
steps:
  - {id: a, tool: echo, inputs: {text: "x"}}
  - {id: wait, tool: nap, inputs: {seconds: 60}}
  - {id: last, tool: cat, inputs: {first: {step: wait, output: out}, second: {step: a, output: out}}}
""")
    inv = invoke(s, "long")
    wait_for(lambda: (lambda st: st["wait"]["job_state"] == "running" and st["a"]["state"] == "ok")(
        steps_by_id(get_inv(s, inv["id"]))), 20, what="the first step done and the slow one running")
    status, _, data = s.request("DELETE", "/api/invocations/%s" % inv["id"])
    assert status == 200, data
    done = wait_inv(s, inv["id"])
    assert done["state"] == "cancelled"
    steps = steps_by_id(done)
    assert steps["wait"]["state"] == "cancelled" and steps["last"]["state"] == "cancelled"
    assert steps["a"]["state"] == "ok"
    wait_for(lambda: steps_by_id(get_inv(s, inv["id"]))["wait"]["job_state"] == "deleted", 20,
             what="the slow job to be stopped")
    assert steps_by_id(get_inv(s, inv["id"]))["last"]["job_id"] is None
    status, _, data = s.request("DELETE", "/api/invocations/%s" % inv["id"])
    assert status == 409


def get_job_attempt(s, job_id):
    status, job = s.get_json("/api/jobs/%s" % job_id)
    assert status == 200, job
    return job["attempt"]


def test_killed_scheduling_mule_then_every_step_runs_exactly_once(servers, tmp_path):
    s = servers(["--set", "jobs.tools-dir=%s" % tools_dir(tmp_path), "--set", "jobs.cancel-grace=1",
                 "--mules", "1", "--farm", "job-handlers:1"])
    post_workflow(s, """\
id: survive
steps:
  - {id: a, tool: echo, inputs: {text: "x"}}
  - {id: wait, tool: nap, inputs: {seconds: 3}}
  - {id: last, tool: cat, inputs: {first: {step: wait, output: out}, second: {step: a, output: out}}}
""")
    inv = invoke(s, "survive")
    wait_step_process(s, inv["id"], "wait")
    mule = s.by_name()["main.job-handlers.1"]["pid"]
    os.kill(mule, signal.SIGKILL)
    done = wait_inv(s, inv["id"], timeout=60)
    s.known_pids.add(s.by_name()["main.job-handlers.1"]["pid"])
    steps = steps_by_id(done)
    assert done["state"] == "ok", json.dumps(done)
    jobs = jobs_of(s, inv["id"])
    assert len(jobs) == 3 and all(state == "ok" for _, state in jobs), jobs
    assert output(s, steps["last"]["job_id"], "out") == b"x\n"
    # The step's command outlived the mule (its waiter did): the respawned mule adopted it, so it ran once.
    status, hist = s.get_json("/api/jobs/%s/history" % steps["wait"]["job_id"])
    states = [h["state"] for h in hist["history"]]
    assert states.count("running") == 1 and states[-1] == "ok", states
    assert get_job_attempt(s, steps["wait"]["job_id"]) == 1


def test_200_invocations_across_two_farms_leave_nothing_stuck(servers, tmp_path):
    s = servers(["--set", "jobs.tools-dir=%s" % tools_dir(tmp_path), "--processes", "2", "--threads", "2",
                 "--mules", "4", "--farm", "workflow-schedulers:1,2", "--farm", "job-handlers:3,4"])
    post_workflow(s, """\
id: small
inputs: [{name: text, type: text}]
steps:
  - {id: a, tool: echo, inputs: {text: {input: text}}}
  - {id: b, tool: cat, inputs: {first: {step: a, output: out}, second: {step: a, output: out}}}
""")
    ids = [invoke(s, "small", {"text": "n%d" % i})["id"] for i in range(200)]
    deadline = time.time() + 120
    pending = list(ids)
    while pending and time.time() < deadline:
        pending = [i for i in pending if get_inv(s, i)["state"] not in TERMINAL]
        if pending:
            time.sleep(0.2)
    assert not pending, "%d invocations stuck" % len(pending)
    handlers = set()
    for n, i in enumerate(ids):
        inv = get_inv(s, i)
        assert inv["state"] == "ok", inv
        handlers.add(inv["handler"])
        if n % 40 == 0:
            assert output(s, steps_by_id(inv)["b"]["job_id"], "out") == ("n%d\n" % n).encode() * 2
    assert handlers <= {"main.workflow-schedulers.1", "main.workflow-schedulers.2"}, handlers
    per = s.sql("SELECT invocation_id, count(*) FROM job WHERE invocation_id IS NOT NULL GROUP BY invocation_id")
    assert len(per) == 200 and all(c == 2 for _, c in per), "every step ran exactly once"


def test_a_restarted_stack_goes_on_with_its_invocations(servers, tmp_path):
    """Stopped mid-run, then killed mid-run: each time the next start finishes the invocation, each step once."""
    args = ["--set", "jobs.tools-dir=%s" % tools_dir(tmp_path), "--set", "jobs.cancel-grace=1",
            "--mules", "1", "--farm", "job-handlers:1"]
    s = servers(args)
    post_workflow(s, """\
id: twice
steps:
  - {id: a, tool: echo, inputs: {text: "x"}}
  - {id: first-nap, tool: nap, inputs: {seconds: 2}}
  - {id: second-nap, tool: cat, inputs: {first: {step: first-nap, output: out}, second: {step: a, output: out}}}
""")
    inv = invoke(s, "twice")
    wait_step_process(s, inv["id"], "first-nap")
    assert s.stop() == 0  # a clean stop: the running nap goes back to the queue
    s2 = servers(args)
    done = wait_inv(s2, inv["id"], timeout=60)
    assert done["state"] == "ok", json.dumps(done)
    assert output(s2, steps_by_id(done)["second-nap"]["job_id"], "out") == b"x\n"
    jobs = jobs_of(s2, inv["id"])
    assert len(jobs) == 3 and all(state == "ok" for _, state in jobs), jobs

    inv = invoke(s2, "twice")
    wait_step_process(s2, inv["id"], "first-nap")
    os.kill(s2.proc.pid, signal.SIGKILL)  # the whole stack at once: no clean-up at all
    s2.expect_signal = signal.SIGKILL
    s2.proc.wait(10)
    s3 = servers(args)
    done = wait_inv(s3, inv["id"], timeout=60)
    assert done["state"] == "ok", json.dumps(done)
    jobs = jobs_of(s3, inv["id"])
    assert len(jobs) == 3 and all(state == "ok" for _, state in jobs), jobs


def test_job_configuration_assigns_invocations_too_a_skip_locked_standalone_handler_takes_one(servers, database,
                                                                                               tmp_path):
    conf = write(tmp_path, "job_conf.yml", "handling:\n  assign: [db-skip-locked]\n")
    common = ["--set", "jobs.job-config=%s" % conf, "--set", "jobs.data-dir=%s" % (tmp_path / "data")] + database.args()
    s = servers(common)
    h = subprocess.Popen([MULETEER, "--attach-to-pool", "job-handlers", "--server-name", "handler0"] + common,
                         stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, cwd=str(tmp_path))
    try:
        # The web worker stands in for the pool until it sees the standalone handler, then leaves it the jobs.
        wait_for(lambda: "a handler serving its pools is running: leaving their jobs to it" in s.log(), timeout=15,
                 what="the web worker to leave the pool to handler0")
        inv = invoke(s, "diamond", {"text": "skip"})
        done = wait_inv(s, inv["id"])
        assert done["state"] == "ok" and done["handler"] == "handler0", json.dumps(done)
        assert output(s, steps_by_id(done)["d"]["job_id"], "out") == b"1\nskip\nskip\n"
    finally:
        h.send_signal(signal.SIGTERM)
        assert h.wait(10) == 0
