"""The site of docs/migrating-from-galaxy.md (examples/galaxy/: galaxy.yml and job_conf.xml), started as written."""
import json
import os
import shutil

from conftest import wait_for

EXAMPLE = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "galaxy")
TERMINAL = ("ok", "error", "deleted")


def post(s, tool_id, inputs=None):
    status, _, data = s.request("POST", "/api/jobs", body=json.dumps({"tool_id": tool_id, "inputs": inputs or {}}),
                                headers={"Content-Type": "application/json"})
    return status, json.loads(data)


def ran_on(s, tool_id, inputs=None, n=8):
    seen = set()
    for _ in range(n):
        status, job = post(s, tool_id, inputs)
        assert status == 201, job
        done = wait_for(lambda: (lambda j: j if j["state"] in TERMINAL else None)(
            s.get_json("/api/jobs/%s" % job["id"])[1]), 20, what="job %s" % job["id"])
        assert done["state"] == "ok", done
        assert done["destination"] == "local", "the default destination: %s" % done
        seen.add(done["handler"])
    return seen


def line_of(path, text):
    with open(path) as f:
        return next(i for i, line in enumerate(f, 1) if text in line)


def test_the_migration_example_starts_as_written(servers, tmp_path):
    site = tmp_path / "site"
    shutil.copytree(EXAMPLE, str(site))
    s = servers(["--yaml", str(site / "galaxy.yml"), "--chdir", str(site)])
    log = s.log()
    # What the guide says the log shows, each naming its line.
    yml, xml = str(site / "galaxy.yml"), str(site / "job_conf.xml")
    assert "galaxy.yml:%d: Galaxy's option 'job_config_file'" % line_of(yml, "job_config_file") in log, log
    assert "galaxy.yml:%d: option 'offload-threads' is accepted and has no effect here" % line_of(
        yml, "offload-threads") in log
    assert "galaxy.yml:%d: mule 'lib/galaxy/main.py' is a Python program" % line_of(yml, "mule:") in log
    assert "job_conf.xml:%d: runner plugin 'slurm': param 'drmaa_library_path' is read but not used here" % line_of(
        xml, 'drmaa_library_path') in log
    assert "destination 'cluster' (" not in log, "a slurm destination runs"
    assert "jobs: handler assignment mule-message, db-preassign (as configured)" in log
    # The static maps, one of them a single file.
    status, _, body = s.request("GET", "/static/style.css")
    assert status == 200 and body == (site / "static" / "style.css").read_bytes()
    status, _, body = s.request("GET", "/favicon.ico")
    assert status == 200 and body == (site / "static" / "favicon.ico").read_bytes()
    # Jobs go where the site's rules send them.
    assert ran_on(s, "echo", {"text": "hi"}) <= {"main.job-handlers.1", "main.job-handlers.2"}
    assert ran_on(s, "sleep", {"seconds": 0}, n=3) == {"main.job-handlers.long.1"}
    status, job = post(s, "echo", {"text": "a line"})
    wait_for(lambda: s.get_json("/api/jobs/%s" % job["id"])[1]["state"] == "ok", 20)
    status, doc = post(s, "wc", {"input": {"job": job["id"], "output": "out"}})
    assert status == 201 and doc["destination"] == "cluster", doc
