"""No path escapes its directory: job outputs, static files, tools, workflows.

Requests that http.client would normalize are sent raw. Every escape must
answer 4xx without the secret in the body, and nothing may be created
outside the directories the server owns. The server runs as root here
(as in CI), the worst case: only the path checks stand in the way.
"""
import json
import os

import pytest

from conftest import MULETEER, wait_for, write
from test_jobs import post_job, wait_state

SECRET = "TOPSECRET-7c1f"


def raw_get(s, path):
    data = s.raw(("GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % path).encode())
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


def snapshot(root):
    out = set()
    for d, dirs, files in os.walk(root):
        for name in dirs + files:
            out.add(os.path.join(d, name))
    return out


@pytest.fixture
def outside(tmp_path):
    """A secret file and a directory holding one, outside every directory the server serves."""
    (tmp_path / "secret.txt").write_text(SECRET + "\n")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret.txt").write_text(SECRET + " in a directory\n")
    return tmp_path


def escape_tools(tmp_path):
    tools = tmp_path / "tools"
    tools.mkdir()
    secret = tmp_path / "secret.txt"
    # The job replaces what the server will read back by links out of its directory.
    (tools / "escape.yml").write_text("""\
id: escape
version: "1"
name: Leaves links to files outside its directory
command: ["/bin/sh", "-c", "echo inside > real.txt; ln -s real.txt alias.txt; ln -s %(secret)s out.txt; \
ln -s %(outdir)s sub; ln -s /proc/self/root%(secret)s magic.txt; rm -f stderr; ln -s %(secret)s stderr"]
outputs:
  - name: out
    path: out.txt
  - name: sub
    path: sub/secret.txt
  - name: magic
    path: magic.txt
  - name: alias
    path: alias.txt
  - name: log
    from: stdout
""" % {"secret": secret, "outdir": tmp_path / "outside"})
    (tools / "cat.yml").write_text("""\
id: cat
version: "1"
name: Cat a dataset
command: ["/bin/cat", "{input}"]
inputs:
  - name: input
    type: data
outputs:
  - name: out
    from: stdout
""")
    return str(tools)


@pytest.fixture
def escaped_job(servers, outside):
    s = servers(["--jobs.data-dir", str(outside / "data"), "--jobs.tools-dir", escape_tools(outside)])
    status, job = post_job(s, "escape")
    assert status == 201, job
    done = wait_state(s, job["id"], timeout=30)
    assert done["state"] == "ok", done
    return s, done["id"]


@pytest.mark.parametrize("output", ["out", "sub", "magic"])
def test_a_job_output_linked_outside_its_directory_is_not_served(escaped_job, output):
    s, jid = escaped_job
    status, _, body = s.request("GET", "/api/jobs/%s/outputs/%s" % (jid, output))
    assert status == 404, body
    assert SECRET.encode() not in body
    assert "is not a file in the job's directory" in json.loads(body)["err_msg"]
    wait_for(lambda: "leads outside the job's directory: refused" in s.log(), 10, what="the refusal to be logged")


def test_a_job_output_linked_inside_its_directory_is_served(escaped_job):
    s, jid = escaped_job
    status, _, body = s.request("GET", "/api/jobs/%s/outputs/alias" % jid)
    assert status == 200 and body == b"inside\n"


def test_a_job_stderr_replaced_by_a_link_out_is_not_served(escaped_job):
    s, jid = escaped_job
    status, _, body = s.request("GET", "/api/jobs/%s/stderr" % jid)
    assert status == 404 and SECRET.encode() not in body


def test_the_output_listing_does_not_look_through_links_out(escaped_job):
    s, jid = escaped_job
    status, doc = s.get_json("/api/jobs/%s/outputs" % jid)
    assert status == 200
    exists = {o["name"]: (o["exists"], o["size"]) for o in doc["outputs"]}
    assert exists["out"] == (False, None) and exists["sub"] == (False, None) and exists["magic"] == (False, None)
    assert exists["alias"] == (True, len("inside\n"))


def test_a_data_input_cannot_hand_a_link_out_to_the_next_job(escaped_job):
    s, jid = escaped_job
    status, doc = post_job(s, "cat", {"input": {"job": jid, "output": "out"}})
    assert status == 400, doc
    assert "is not a file in the job's directory" in doc["err_msg"]
    assert SECRET not in json.dumps(doc)
    status, doc = post_job(s, "cat", {"input": {"job": jid, "output": "alias"}})
    assert status == 201, doc
    done = wait_state(s, doc["id"], timeout=30)
    assert done["state"] == "ok", done
    assert s.request("GET", "/api/jobs/%s/stdout" % doc["id"])[2] == b"inside\n"


@pytest.mark.parametrize("path", [
    "/api/jobs/%(id)s/outputs/../../../../secret.txt",
    "/api/jobs/%(id)s/outputs/%%2e%%2e/%%2e%%2e/%%2e%%2e/%%2e%%2e/secret.txt",
    "/api/jobs/%(id)s/outputs/..%%2f..%%2f..%%2f..%%2fsecret.txt",
    "/api/jobs/%(id)s/outputs/%%2fetc%%2fpasswd",
    "/api/jobs/%(id)s/outputs//etc/passwd",
    "/api/jobs/%(id)s/outputs/out.txt",
    "/api/jobs/%(id)s/../../../../etc/passwd",
    "/api/jobs/%(id)s/..%%2fstdout",
    "/api/jobs/..%%2f..%%2fsecret.txt",
    "/api/jobs/%(id)s/%%2e%%2e/%(id)s/stdout",
])
def test_output_names_in_urls_name_no_file(escaped_job, path):
    s, jid = escaped_job
    status, body = raw_get(s, path % {"id": jid})
    assert status in (400, 404), (status, body)
    assert SECRET.encode() not in body and b"root:" not in body


def test_tool_output_paths_must_stay_in_the_job_directory(tmp_path):
    import subprocess
    for bad in ("../escaped.txt", "/tmp/escaped.txt", "sub/../../escaped.txt", "."):
        tools = tmp_path / ("tools-%d" % len(bad))
        tools.mkdir()
        (tools / "t.yml").write_text('id: t\nversion: "1"\nname: t\ncommand: ["/bin/true"]\n'
                                     'outputs:\n  - name: o\n    path: "%s"\n' % bad)
        r = subprocess.run([MULETEER, "--http", "127.0.0.1:0", "--jobs.tools-dir", str(tools),
                            "--jobs.data-dir", str(tmp_path / "data")], capture_output=True, text=True,
                           timeout=20, cwd=str(tmp_path))
        assert r.returncode != 0, r.stderr
        assert "option 'jobs.tools-dir'" in r.stderr and "t.yml:7" in r.stderr, r.stderr
        assert "must be a file path relative to the working directory" in r.stderr, r.stderr


@pytest.fixture
def static_server(servers, outside):
    root = outside / "static"
    root.mkdir()
    (root / "index.txt").write_text("public\n")
    os.symlink(outside / "secret.txt", root / "link-out.txt")
    os.symlink(outside / "outside", root / "dir-out")
    os.symlink("/proc/self/root%s" % (outside / "secret.txt"), root / "magic.txt")
    os.symlink("index.txt", root / "link-in.txt")
    return servers(["--static-map", "/static=%s" % root])


@pytest.mark.parametrize("path", [
    "/static/link-out.txt",
    "/static/dir-out/secret.txt",
    "/static/magic.txt",
    "/static/../secret.txt",
    "/static/%2e%2e/secret.txt",
    "/static/dir-out/%2e%2e/secret.txt",
    "/static/%2e%2e%2fsecret.txt",
    "/static/%2e%2e%2foutside%2fsecret.txt",
])
def test_static_files_cannot_escape_by_links_or_dots(static_server, path):
    status, body = raw_get(static_server, path)
    assert status in (403, 404), (status, body)
    assert SECRET.encode() not in body


def test_static_links_inside_are_served(static_server):
    assert raw_get(static_server, "/static/link-in.txt") == (200, b"public\n")


@pytest.mark.parametrize("path", [
    "/api/tools/../../../etc/passwd",
    "/api/tools/..%2f..%2f..%2fetc%2fpasswd",
    "/api/tools/%2e%2e",
    "/api/tools/..",
    "/api/tools/true.yml",
    "/api/workflows/../../../etc/passwd",
    "/api/workflows/..%2f..%2fetc%2fpasswd",
    "/api/workflows/diamond.yml",
    "/api/workflows/%2e%2e",
])
def test_tool_and_workflow_ids_in_urls_name_no_file(servers, path):
    s = servers([])
    status, body = raw_get(s, path)
    assert status == 404, (status, body)
    assert b"root:" not in body and b"command" not in body  # neither /etc/passwd nor a tool file's text


def test_posted_workflows_and_jobs_name_no_file(servers, tmp_path):
    data = tmp_path / "data"
    s = servers(["--jobs.data-dir", str(data)])
    before = snapshot(str(tmp_path))
    for wid in ("../../evil", "..", "/tmp/evil", "a/b", ".hidden", "evil.yml/../x"):
        body = json.dumps({"id": wid, "steps": [{"id": "a", "tool": "true", "inputs": {}}]})
        status, _, data_ = s.request("POST", "/api/workflows", body=body,
                                     headers={"Content-Type": "application/json"})
        assert status == 400, (wid, data_)
        assert "must be letters, digits" in json.loads(data_)["err_msg"]
    status, body = raw_get(s, "/api/workflows/..%2f..%2fevil/invocations")
    assert status in (404, 405)
    s.raw(b"POST /api/workflows/../../evil/invocations HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
          b"Connection: close\r\n\r\n{}")
    for tool in ("../../etc/passwd", "../tools/true", "/bin/true", "true.yml"):
        status, doc = post_job(s, tool)
        assert status == 400 and "no-such" not in doc["err_msg"], (tool, doc)
    after = snapshot(str(tmp_path))
    created = {p for p in after - before if not p.startswith(str(data) + "/")}
    assert created == set(), created
    assert not os.path.exists("/tmp/evil") and not os.path.exists(os.path.join(str(tmp_path), "evil"))
