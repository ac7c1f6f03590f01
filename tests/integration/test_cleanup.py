"""jobs.cleanup: what is left of a job's working directory once it has ended, and what the API still serves."""
import os
import subprocess
import time

from conftest import MULETEER, wait_for
from job_api import post_job, wait_job_end

# Leaves a bit of everything: a declared output in a subdirectory, a declared output that is empty, scratch
# files and a scratch directory, something on stderr and nothing on stdout; then exits with the given code.
MAKER = """id: maker
version: "1"
name: Leaves files
command: ["/bin/sh", "-c", "mkdir -p sub scratch && printf 'a\\\\nb\\\\n' > sub/out.txt && : > empty.txt && echo x > scratch/x && echo junk > junk.txt && echo said >&2 && exit {code}"]
inputs:
  - name: code
    type: integer
    default: 0
outputs:
  - name: out
    path: sub/out.txt
  - name: empty
    path: empty.txt
walltime: 60
"""


def stack(servers, tmp_path, cleanup=None, extra=()):
    tools = tmp_path / "tools"
    if not tools.exists():
        tools.mkdir()
        (tools / "maker.yml").write_text(MAKER)
        for sample in ("true.yml", "wc.yml", "echo.yml"):
            src = os.path.join(os.path.dirname(MULETEER), "..", "tools", sample)
            (tools / sample).write_text(open(src).read())
    args = ["--mules", "1", "--farm", "job-handlers:1", "--set", "jobs.tools-dir=%s" % tools] + list(extra)
    if cleanup:
        args += ["--set", "jobs.cleanup=%s" % cleanup]
    return servers(args)


def job_dir(tmp_path, jid):
    return tmp_path / "data" / "jobs" / str(jid)


def run(s, tool, inputs=None):
    return wait_job_end(s, post_job(s, tool, inputs))


def listing(d):
    """Every path under d, relative, directories with a trailing slash."""
    out = set()
    for top, dirs, files in os.walk(d):
        rel = os.path.relpath(top, d)
        for name in dirs:
            out.add(os.path.normpath(os.path.join(rel, name)) + "/")
        for name in files:
            out.add(os.path.normpath(os.path.join(rel, name)))
    return out


def wait_cleaned(d):
    """The removal runs on a thread of the handler, after the end state is committed."""
    return wait_for(lambda: not (d / "exit_status").exists(), what="the cleanup of %s" % d)


def test_always_keeps_outputs_and_what_was_said_and_still_serves_them(servers, tmp_path):
    s = stack(servers, tmp_path)  # the default is always
    job = run(s, "maker")
    assert job["state"] == "ok", job
    d = job_dir(tmp_path, job["id"])
    wait_cleaned(d)
    assert listing(d) == {"sub/", "sub/out.txt", "empty.txt", "stderr"}
    status, _, body = s.request("GET", "/api/jobs/%s/outputs/out" % job["id"])
    assert status == 200 and body == b"a\nb\n"
    status, _, body = s.request("GET", "/api/jobs/%s/outputs/empty" % job["id"])
    assert status == 200 and body == b""
    status, _, body = s.request("GET", "/api/jobs/%s/stderr" % job["id"])
    assert status == 200 and body == b"said\n"
    # stdout was empty: removed, and still answered as what it was.
    status, _, body = s.request("GET", "/api/jobs/%s/stdout" % job["id"])
    assert status == 200 and body == b""
    status, doc = s.get_json("/api/jobs/%s/outputs" % job["id"])
    assert status == 200 and [o["exists"] for o in doc["outputs"]] == [True, True]
    # A later step reads an output of the cleaned-up job (workflows pass outputs this way).
    wc = run(s, "wc", {"input": {"job": job["id"], "output": "out"}})
    assert wc["state"] == "ok", wc
    status, _, count = s.request("GET", "/api/jobs/%s/outputs/count" % wc["id"])
    assert status == 200 and count.strip() == b"2"
    # Its stdout is its declared output: kept, and not empty here.
    wait_cleaned(job_dir(tmp_path, wc["id"]))
    assert listing(job_dir(tmp_path, wc["id"])) == {"stdout"}


def test_always_removes_the_whole_directory_of_a_job_that_keeps_nothing_and_failed_jobs_too(servers, tmp_path):
    s = stack(servers, tmp_path)
    ok = run(s, "true")
    assert ok["state"] == "ok"
    wait_for(lambda: not job_dir(tmp_path, ok["id"]).exists(), what="the directory of a true job to go")
    for name in ("stdout", "stderr"):
        status, _, body = s.request("GET", "/api/jobs/%s/%s" % (ok["id"], name))
        assert status == 200 and body == b"", (name, status, body)
    failed = run(s, "maker", {"code": 3})
    assert failed["state"] == "error" and failed["exit_code"] == 3
    d = job_dir(tmp_path, failed["id"])
    wait_cleaned(d)
    assert listing(d) == {"sub/", "sub/out.txt", "empty.txt", "stderr"}


def test_never_keeps_everything(servers, tmp_path):
    s = stack(servers, tmp_path, "never")
    job = run(s, "maker")
    assert job["state"] == "ok"
    later = run(s, "true")  # a whole run later, any cleanup of the first would long be done
    time.sleep(0.3)
    assert listing(job_dir(tmp_path, job["id"])) >= {"sub/", "sub/out.txt", "empty.txt", "stderr", "stdout",
                                                     "scratch/", "scratch/x", "junk.txt", "exit_status", "waiter"}
    assert (job_dir(tmp_path, later["id"]) / "exit_status").exists()
    status, _, body = s.request("GET", "/api/jobs/%s/stdout" % later["id"])
    assert status == 200 and body == b""


def test_onsuccess_keeps_a_failed_jobs_directory_whole(servers, tmp_path):
    s = stack(servers, tmp_path, "onsuccess")
    failed = run(s, "maker", {"code": 1})
    ok = run(s, "maker")
    assert failed["state"] == "error" and ok["state"] == "ok"
    wait_cleaned(job_dir(tmp_path, ok["id"]))
    assert listing(job_dir(tmp_path, ok["id"])) == {"sub/", "sub/out.txt", "empty.txt", "stderr"}
    time.sleep(0.3)
    kept = listing(job_dir(tmp_path, failed["id"]))
    assert {"scratch/x", "junk.txt", "exit_status", "stdout", "stderr"} <= kept, kept
    status, _, body = s.request("GET", "/api/jobs/%s/stdout" % ok["id"])
    assert status == 200 and body == b""
    status, _, body = s.request("GET", "/api/jobs/%s/stdout" % failed["id"])
    assert status == 200 and body == b""


def test_an_invalid_value_is_a_start_up_error_naming_the_option(tmp_path):
    r = subprocess.run([MULETEER, "--http", "127.0.0.1:0", "--set", "jobs.cleanup=sometimes"], capture_output=True,
                       text=True, timeout=20, cwd=str(tmp_path))
    assert r.returncode != 0
    assert "option 'jobs.cleanup'" in r.stderr and "'sometimes' is not always, onsuccess or never" in r.stderr, r.stderr
    assert "stack up" not in r.stderr
