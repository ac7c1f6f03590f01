"""Galaxy's handler assignment rules, run as the scaling guide writes its examples.

Each test starts the real stack (and, for the webless shapes, real standalone
handler processes) with the guide's galaxy.yml uwsgi section and job_conf.xml
as written, posts jobs of the guide's tools (test1, test2, test3 and an
unmapped one) and checks which handler ran each job.
(../shared/reference/galaxy-scaling-19.09.md: "uWSGI + Mules", "uWSGI +
Webless", "uWSGI + Hybrid", "Job Handler Assignment Methods".)
"""
import json
import os
import signal
import subprocess
import time

import pytest

from conftest import MULE_ECHO, MULETEER, wait_for, write

TERMINAL = ("ok", "error", "deleted")


def tools_dir(tmp_path):
    """The guide's tools: test1, test2, test3, and `other`, which no mapping names. Each sleeps 0.2 s: a handler
    that claims from its pools takes the next job as soon as one of its own ends, so with instant jobs the first
    to claim could run a whole batch alone before another handler of the pool polls; with jobs that last, every
    handler of a pool gets some, which is what the tests below look at."""
    d = tmp_path / "tools"
    d.mkdir(exist_ok=True)
    for tid in ("test1", "test2", "test3", "other"):
        (d / ("%s.yml" % tid)).write_text('id: "%s"\nversion: "1.0"\nname: %s\ncommand: ["/bin/sleep", "0.2"]\n'
                                          % (tid, tid))
    return str(d)


def galaxy_yml(tmp_path, uwsgi_lines, job_conf=None):
    """A galaxy.yml with the guide's uwsgi lines and the job application's section."""
    text = "uwsgi:\n" + "".join("  %s\n" % line for line in uwsgi_lines)
    text += "jobs:\n  data-dir: %s\n  tools-dir: %s\n" % (tmp_path / "data", tools_dir(tmp_path))
    if job_conf is not None:
        text += "  job-config: %s\n" % write(tmp_path, "job_conf.xml", job_conf)
    return write(tmp_path, "galaxy.yml", text)


def post(s, tool_id):
    status, _, data = s.request("POST", "/api/jobs", body=json.dumps({"tool_id": tool_id}),
                                headers={"Content-Type": "application/json"})
    assert status == 201, data
    return json.loads(data)


def get_job(s, jid):
    status, job = s.get_json("/api/jobs/%s" % jid)
    assert status == 200, job
    return job


def handlers_of(s, tool_id, n=12, timeout=30):
    """Post n jobs of tool_id, wait for all of them to end ok, return the set of handlers that ran them."""
    ids = [post(s, tool_id)["id"] for _ in range(n)]
    seen = set()
    for jid in ids:
        job = wait_for(lambda: (lambda j: j if j["state"] in TERMINAL else None)(get_job(s, jid)), timeout,
                       what="job %s to end" % jid)
        assert job["state"] == "ok", job
        seen.add(job["handler"])
    return seen


class Standalone:
    """A webless handler: `muleteer --yaml galaxy.yml --server-name NAME --attach-to-pool POOL ...`."""

    def __init__(self, tmp_path, config, name, pools, db_args=()):
        self.log_path = tmp_path / ("%s.log" % name)
        cmd = [MULETEER, "--yaml", config, "--server-name", name]
        for p in pools:
            cmd += ["--attach-to-pool", p]
        cmd += list(db_args)  # the test's database (conftest: database), as its stacks have it
        self.proc = subprocess.Popen(cmd, stdout=open(self.log_path, "wb"), stderr=subprocess.STDOUT,
                                     cwd=str(tmp_path))
        wait_for(lambda: "handling jobs" in self.log() or self.proc.poll() is not None, 15,
                 what="standalone %s to start" % name)
        assert self.proc.poll() is None, self.log()

    def log(self):
        return self.log_path.read_text(errors="replace")

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        assert self.proc.wait(15) == 0, self.log()


@pytest.fixture
def standalones(database):
    started = []
    yield lambda *a: started.append(Standalone(*a, db_args=database.args())) or started[-1]
    for h in started:
        if h.proc.poll() is None:
            h.stop()


def web_yields(s):
    wait_for(lambda: "a handler serving its pools is running: leaving their jobs to it" in s.log(), 15,
             what="the web workers to leave the default pool to the standalone handlers\n" + s.log())


# ---- uWSGI all-in-one ----

def test_all_in_one_the_creating_web_worker_handles_the_job(servers, tmp_path):
    s = servers(["--yaml", galaxy_yml(tmp_path, ["processes: 2"])])
    assert "handler assignment db-self (Galaxy's default for this stack)" in s.log()
    for _ in range(6):
        job = post(s, "other")
        done = wait_for(lambda: (lambda j: j if j["state"] in TERMINAL else None)(get_job(s, job["id"])), 20)
        assert done["state"] == "ok"
        assert done["handler"] in ("main.web.1", "main.web.2"), done


# ---- uWSGI + Mules ----

THREE_MULES = ["mule: lib/galaxy/main.py", "mule: lib/galaxy/main.py", "mule: lib/galaxy/main.py"]


def test_mules_handle_every_job_through_the_farm(servers, tmp_path):
    s = servers(["--yaml", galaxy_yml(tmp_path, THREE_MULES + ["farm: job-handlers:1,2,3"])])
    assert "handler assignment mule-message (Galaxy's default for this stack)" in s.log()
    seen = handlers_of(s, "other", n=20)
    assert seen <= {"main.job-handlers.1", "main.job-handlers.2", "main.job-handlers.3"} and len(seen) >= 2, seen


def test_mules_a_tool_mapped_to_the_second_mule(servers, tmp_path):
    job_conf = ("<job_conf>\n    <handlers>\n        <handler id=\"main.job-handlers.2\" />\n    </handlers>\n"
                "    <tools>\n        <tool id=\"test1\" handler=\"main.job-handlers.2\" />\n    </tools>\n</job_conf>\n")
    s = servers(["--yaml", galaxy_yml(tmp_path, THREE_MULES + ["farm: job-handlers:1,2,3"], job_conf)])
    assert handlers_of(s, "test1") == {"main.job-handlers.2"}
    others = handlers_of(s, "other", n=20)
    assert others <= {"main.job-handlers.1", "main.job-handlers.2", "main.job-handlers.3"} and len(others) >= 2


def test_mules_a_tag_farm_serves_the_tag(servers, tmp_path):
    job_conf = "<job_conf>\n    <tools>\n        <tool id=\"test1\" handler=\"special\" />\n    </tools>\n</job_conf>\n"
    s = servers(["--yaml", galaxy_yml(tmp_path, THREE_MULES + ["farm: job-handlers:1,2", "farm: job-handlers.special:3"],
                                      job_conf)])
    assert handlers_of(s, "test1") == {"main.job-handlers.special.1"}
    assert handlers_of(s, "other", n=20) <= {"main.job-handlers.1", "main.job-handlers.2"}


def test_mules_claim_from_the_database_under_db_skip_locked(servers, tmp_path):
    job_conf = "<job_conf><handlers assign_with=\"db-skip-locked\"/></job_conf>"
    s = servers(["--yaml", galaxy_yml(tmp_path, THREE_MULES[:2] + ["farm: job-handlers:1,2"], job_conf)])
    wait_for(lambda: "pools job-handlers, claimed from the database" in s.log(), 10, what="the mules' start lines")
    job = post(s, "other")
    status, hist = s.get_json("/api/jobs/%s/history" % job["id"])
    assert hist["history"][0]["handler"] is None, "committed unassigned"
    assert handlers_of(s, "other", n=12) <= {"main.job-handlers.1", "main.job-handlers.2"}


def test_mules_claim_from_the_database_under_db_transaction_isolation(servers, tmp_path):
    job_conf = "<job_conf><handlers assign_with=\"db-transaction-isolation\"/></job_conf>"
    s = servers(["--yaml", galaxy_yml(tmp_path, THREE_MULES[:2] + ["farm: job-handlers:1,2"], job_conf)])
    assert handlers_of(s, "other", n=12) <= {"main.job-handlers.1", "main.job-handlers.2"}


# ---- uWSGI + Webless ----

WEBLESS_STATIC = """<job_conf>
    <handlers>
        <handler id="handler1" />
        <handler id="handler2" />
        <handler id="handler3" tags="nodefault" />
        <handler id="handler4" tags="special" />
        <handler id="handler5" tags="special" />
    </handlers>
    <tools>
        <tool id="test1" handler="handler3" />
        <tool id="test2" handler="special" />
        <tool id="test3" handler="handler2" />
    </tools>
</job_conf>
"""


def test_webless_statically_defined_handlers(servers, standalones, tmp_path):
    config = galaxy_yml(tmp_path, ["processes: 1"], WEBLESS_STATIC)
    for i in range(1, 6):
        standalones(tmp_path, config, "handler%d" % i, ["job-handlers"])
    s = servers(["--yaml", config])
    assert "handler assignment db-preassign (Galaxy's default for this stack)" in s.log()
    assert "is not running" not in s.log(), "every handler runs: no warning"
    assert handlers_of(s, "other", n=20) == {"handler1", "handler2"}
    assert handlers_of(s, "test1", n=4) == {"handler3"}
    assert handlers_of(s, "test2", n=20) == {"handler4", "handler5"}
    assert handlers_of(s, "test3", n=4) == {"handler2"}


def test_webless_a_configured_handler_that_is_not_running_is_reported(servers, tmp_path):
    config = galaxy_yml(tmp_path, ["processes: 1"], WEBLESS_STATIC)
    s = servers(["--yaml", config])
    for name, line in (("handler1", 3), ("handler5", 7)):
        assert "job_conf.xml:%d: handler '%s' is not a process of this stack and is not running" % (line, name) \
            in s.log(), s.log()
    job = post(s, "test1")
    assert job["state"] == "new" and job["handler"] == "handler3"
    assert "its handler handler3 is not running" in job["info"], job
    # The log is read from the server's pipe by another thread: wait for the line, it may lag the answer.
    wait_for(lambda: "job %s (test1): its handler handler3 is not running" % job["id"] in s.log(), 10,
             what="the warning about job %s" % job["id"])


def test_webless_dynamic_handlers_and_several_pools(servers, standalones, tmp_path):
    job_conf = ("<job_conf>\n    <handlers assign_with=\"db-skip-locked\" />\n    <tools>\n"
                "        <tool id=\"test1\" handler=\"special\" />\n    </tools>\n</job_conf>\n")
    config = galaxy_yml(tmp_path, ["processes: 1"], job_conf)
    s = servers(["--yaml", config])
    standalones(tmp_path, config, "handler0", ["job-handlers"])
    standalones(tmp_path, config, "handler1", ["job-handlers.special"])
    h2 = standalones(tmp_path, config, "handler2", ["job-handlers", "job-handlers.special"])
    assert "pools job-handlers, job-handlers.special" in h2.log()
    web_yields(s)
    # handler0 and handler2 handle tools not mapped; handler1 and handler2 the `special` tag.
    assert handlers_of(s, "other", n=24) == {"handler0", "handler2"}
    assert handlers_of(s, "test1", n=24) == {"handler1", "handler2"}


def test_webless_a_pool_nobody_serves_is_reported_on_the_job(servers, tmp_path):
    job_conf = "<job_conf><handlers assign_with=\"db-skip-locked\"/><tools><tool id=\"test1\" handler=\"special\"/>" \
               "</tools></job_conf>"
    s = servers(["--yaml", galaxy_yml(tmp_path, ["processes: 1"], job_conf)])
    assert "tool 'test1' names tag 'special'" in s.log()
    job = post(s, "test1")
    assert job["handler"] is None and "pool job-handlers.special, which no running handler serves" in job["info"], job
    time.sleep(1)
    assert get_job(s, job["id"])["state"] == "new"
    # Untagged jobs have the web worker, standing in for the default pool's handlers.
    assert handlers_of(s, "other", n=3) == {"main.web.1"}


# ---- uWSGI + Hybrid ----

def test_hybrid_mules_for_the_default_pool_webless_for_a_tag(servers, standalones, tmp_path):
    job_conf = ("<job_conf><handlers assign_with=\"mule-message,db-skip-locked\"/>"
                "<tools><tool id=\"test1\" handler=\"special\"/></tools></job_conf>")
    config = galaxy_yml(tmp_path, THREE_MULES[:2] + ["farm: job-handlers:1,2"], job_conf)
    s = servers(["--yaml", config])
    standalones(tmp_path, config, "webless0", ["job-handlers.special"])
    assert handlers_of(s, "test1", n=8) == {"webless0"}
    assert handlers_of(s, "other", n=12) <= {"main.job-handlers.1", "main.job-handlers.2"}


# ---- names the configuration gets wrong ----

def test_a_mapping_to_a_server_name_nobody_has_is_reported(servers, tmp_path):
    job_conf = "<job_conf>\n<tools>\n<tool id=\"test1\" handler=\"main.job-handler.2\"/>\n</tools>\n</job_conf>\n"
    s = servers(["--yaml", galaxy_yml(tmp_path, THREE_MULES[:2] + ["farm: job-handlers:1,2"], job_conf)])
    assert "job_conf.xml:3: tool 'test1' names handler 'main.job-handler.2', which is not a process of this stack" \
        in s.log(), s.log()
    job = post(s, "test1")
    assert "its handler main.job-handler.2 is not running" in job["info"], job


def test_a_tag_nothing_can_serve_is_refused_at_start(tmp_path):
    job_conf = "<job_conf>\n<tools>\n<tool id=\"test1\" handler=\"speciall\"/>\n</tools>\n</job_conf>\n"
    config = galaxy_yml(tmp_path, THREE_MULES[:2] + ["farm: job-handlers:1,2", "farm: job-handlers.special:2"],
                        job_conf)
    r = subprocess.run([MULETEER, "--yaml", config, "--http", "127.0.0.1:0"], capture_output=True, text=True,
                       timeout=30, cwd=str(tmp_path))
    assert r.returncode != 0
    assert "job_conf.xml:3: tool 'test1' names 'speciall', which is neither a handler, a tag, a " \
           "job-handlers.speciall farm, nor a server name" in r.stderr + r.stdout, r.stderr + r.stdout


# ---- workflow steps follow the job configuration ----

def test_workflow_steps_are_assigned_like_their_tools_jobs(servers, tmp_path):
    tools = tools_dir(tmp_path)
    (tmp_path / "workflows").mkdir()
    (tmp_path / "workflows" / "chain.yml").write_text(
        "id: chain\nname: Chain\nsteps:\n"
        "  - {id: a, tool: test1}\n  - {id: b, tool: other}\n  - {id: c, tool: test1}\n  - {id: d, tool: other}\n")
    job_conf = write(tmp_path, "job_conf.yml", "tools:\n  - {id: test1, handler: main.job-handlers.2}\n")
    s = servers(["--mules", "3", "--farm", "job-handlers:1,2,3", "--set", "jobs.tools-dir=%s" % tools,
                 "--set", "jobs.workflows-dir=%s" % (tmp_path / "workflows"), "--set", "jobs.job-config=%s" % job_conf])
    for _ in range(4):
        status, _, data = s.request("POST", "/api/workflows/chain/invocations", body="{}",
                                    headers={"Content-Type": "application/json"})
        assert status == 201, data
        inv = json.loads(data)
        done = wait_for(lambda: (lambda d: d if d["state"] in ("ok", "failed") else None)(
            s.get_json("/api/invocations/%s" % inv["id"])[1]), 30)
        assert done["state"] == "ok", done
        for step in done["steps"]:
            job = get_job(s, step["job_id"])
            if job["tool_id"] == "test1":
                assert job["handler"] == "main.job-handlers.2", (step, job)
            else:
                assert job["handler"].startswith("main.job-handlers."), job


# ---- destinations: nothing runs where the configuration did not say ----

CLUSTER_CONF = """<job_conf>
    <plugins>
        <plugin id="local" type="runner" load="galaxy.jobs.runners.local:LocalJobRunner" workers="4"/>
        <plugin id="sge" type="runner" load="galaxy.jobs.runners.drmaa:DRMAAJobRunner"/>
    </plugins>
    <destinations default="local">
        <destination id="local" runner="local"/>
        <destination id="cluster" runner="sge"/>
    </destinations>
    <tools>
        <tool id="test1" destination="cluster"/>
    </tools>
</job_conf>
"""


def test_a_job_for_a_cluster_destination_is_refused_at_submit(servers, tmp_path):
    s = servers(["--yaml", galaxy_yml(tmp_path, ["processes: 1"], CLUSTER_CONF)])
    assert "job_conf.xml:8: destination 'cluster' (runner plugin 'sge', type drmaa" in s.log(), s.log()
    assert "cannot run here; jobs routed to it are refused" in s.log()
    status, _, data = s.request("POST", "/api/jobs", body=json.dumps({"tool_id": "test1"}),
                                headers={"Content-Type": "application/json"})
    doc = json.loads(data)
    assert status == 409 and "tool 'test1' goes to destination 'cluster'" in doc["err_msg"], (status, doc)
    status, jobs = s.get_json("/api/jobs")
    assert jobs["total"] == 0, "nothing was stored"
    job = post(s, "other")
    done = wait_for(lambda: (lambda j: j if j["state"] in TERMINAL else None)(get_job(s, job["id"])), 20)
    assert done["state"] == "ok" and done["handler"] == "main.web.1"


def test_a_workflow_step_for_a_cluster_destination_fails_with_the_reason(servers, tmp_path):
    (tmp_path / "workflows").mkdir()
    (tmp_path / "workflows" / "two.yml").write_text(
        "id: two\nname: Two\nsteps:\n  - {id: a, tool: other}\n  - {id: b, tool: test1}\n")
    config = galaxy_yml(tmp_path, ["processes: 1"], CLUSTER_CONF)
    s = servers(["--yaml", config, "--set", "jobs.workflows-dir=%s" % (tmp_path / "workflows")])
    status, _, data = s.request("POST", "/api/workflows/two/invocations", body="{}",
                                headers={"Content-Type": "application/json"})
    assert status == 201, data
    inv = json.loads(data)
    done = wait_for(lambda: (lambda d: d if d["state"] in ("ok", "failed") else None)(
        s.get_json("/api/invocations/%s" % inv["id"])[1]), 30)
    steps = {st["id"]: st for st in done["steps"]}
    assert done["state"] == "failed" and steps["a"]["state"] == "ok", done
    assert steps["b"]["state"] == "failed" and "goes to destination 'cluster'" in steps["b"]["info"], done


def test_a_handler_farm_of_external_programs_is_reported(servers, tmp_path):
    s = servers(["--yaml", galaxy_yml(tmp_path, ["mule: %s" % MULE_ECHO, "farm: job-handlers:1"])])
    assert "farm job-handlers: every mule runs an external program, which handles no job" in s.log(), s.log()
    job = post(s, "other")
    assert job["handler"] is None and "it waits in pool job-handlers, which no running handler serves" in job["info"]
