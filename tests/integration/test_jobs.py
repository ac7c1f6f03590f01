"""The job application end to end: the real binary, a real database (SQLite or PostgreSQL), real child processes."""
import json
import os
import signal
import socket
import subprocess
import threading
import time

import pytest

from conftest import MULETEER, alive, wait_for, write

TERMINAL = ("ok", "error", "deleted")


def post_job(s, tool_id, inputs=None):
    body = {"tool_id": tool_id}
    if inputs is not None:
        body["inputs"] = inputs
    status, _, data = s.request("POST", "/api/jobs", body=json.dumps(body),
                                headers={"Content-Type": "application/json"})
    return status, json.loads(data)


def get_job(s, jid):
    status, doc = s.get_json("/api/jobs/%s" % jid)
    assert status == 200, doc
    return doc


def wait_state(s, jid, states=TERMINAL, timeout=20):
    return wait_for(lambda: (lambda j: j if j["state"] in states else None)(get_job(s, jid)), timeout,
                    what="job %s to reach %s" % (jid, states))


def created_unassigned(s, jid):
    """The job was committed with no handler (the response may already show the claim: a mule can be that fast)."""
    status, hist = s.get_json("/api/jobs/%s/history" % jid)
    first = hist["history"][0]
    return first["state"] == "new" and first["handler"] is None


def test_default_stack_runs_jobs_in_the_web_worker(servers):
    s = servers([])
    status, job = post_job(s, "true")
    assert status == 201, job
    assert isinstance(job["id"], str) and job["state"] in ("new", "queued", "running", "ok")
    done = wait_state(s, job["id"])
    assert done["state"] == "ok" and done["exit_code"] == 0
    assert done["handler"] == "main.web.1"
    for key in ("create_time", "update_time", "start_time", "end_time"):
        assert done[key] and done[key].endswith("Z")


def test_job_handlers_farm_runs_jobs_in_mules(servers):
    s = servers(["--mules", "2", "--farm", "job-handlers:1,2"])
    ids = [post_job(s, "true")[1]["id"] for _ in range(10)]
    handlers = set()
    for jid in ids:
        done = wait_state(s, jid)
        assert done["state"] == "ok", done
        handlers.add(done["handler"])
    assert handlers <= {"main.job-handlers.1", "main.job-handlers.2"}
    st = s.by_name()
    assert st["main.web.1"]["messages_sent"] >= 10


def test_a_job_that_ends_before_its_pid_is_written_keeps_its_pid(servers):
    """The pid rides with the next write; a `true` ends first, and its result must not leave the pid behind."""
    s = servers(["--mules", "1", "--farm", "job-handlers:1", "--set", "jobs.poll-interval=60000"])
    for jid in [post_job(s, "true")[1]["id"] for _ in range(5)]:
        done = wait_state(s, jid)
        assert done["state"] == "ok", done
        assert done["external_id"] is not None and int(done["external_id"]) > 1, done


def test_a_stream_of_jobs_writes_each_result_with_the_next_jobs_start(servers):
    """One slot, jobs waiting in the farm: a result and the next job's take and start share one commit.

    The changes of one transaction carry one time, so sharing shows as end_time == the next start_time.
    """
    s = servers(["--mules", "1", "--farm", "job-handlers:1", "--set", "jobs.workers=1",
                 "--set", "jobs.poll-interval=60000"])
    ids = [post_job(s, "sleep", {"seconds": 0.3})[1]["id"] for _ in range(4)]
    done = [wait_state(s, jid) for jid in ids]
    assert all(j["state"] == "ok" for j in done), done
    by_start = sorted(done, key=lambda j: j["start_time"])
    for prev, nxt in zip(by_start, by_start[1:]):
        assert prev["end_time"] == nxt["start_time"], (prev, nxt)
        assert nxt["claim_time"] == nxt["start_time"], nxt


def test_bad_requests_are_400_or_404_with_err_msg(servers):
    s = servers([])
    status, doc = post_job(s, "no-such-tool")
    assert status == 400 and "no-such-tool" in doc["err_msg"]
    status, _, data = s.request("POST", "/api/jobs", body=b"{not json", headers={"Content-Type": "application/json"})
    assert status == 400 and "malformed JSON" in json.loads(data)["err_msg"]
    status, doc = post_job(s, "sleep", {"seconds": "forever"})
    assert status == 400 and "seconds" in doc["err_msg"]
    status, doc = post_job(s, "sleep", {"bogus": 1})
    assert status == 400 and "bogus" in doc["err_msg"]
    status, doc = s.get_json("/api/jobs/999999")
    assert status == 404 and doc["err_code"] == 404
    status, doc = s.get_json("/api/jobs/abc")
    assert status == 400 and "'abc' is not a job id" in doc["err_msg"]


def test_outputs_and_a_data_input_from_another_job(servers):
    s = servers([])
    status, echo = post_job(s, "echo", {"text": "one; rm -rf / $(id) `id`"})
    assert status == 201, echo
    assert wait_state(s, echo["id"])["state"] == "ok"
    status, _, out = s.request("GET", "/api/jobs/%s/outputs/out" % echo["id"])
    assert status == 200 and out == b"one; rm -rf / $(id) `id`\n"  # one argv element, no shell
    status, _, stdout = s.request("GET", "/api/jobs/%s/stdout" % echo["id"])
    assert status == 200 and stdout == out
    status, wc = post_job(s, "wc", {"input": {"job": echo["id"], "output": "out"}})
    assert status == 201, wc
    assert wait_state(s, wc["id"])["state"] == "ok"
    status, _, count = s.request("GET", "/api/jobs/%s/outputs/count" % wc["id"])
    assert status == 200 and count.split()[0] == b"1"
    status, doc = post_job(s, "wc", {"input": {"job": "999999", "output": "out"}})
    assert status == 400 and "999999" in doc["err_msg"]


def test_list_filters_paging_and_history(servers):
    s = servers([])
    ids = [post_job(s, "true")[1]["id"] for _ in range(5)]
    post_job(s, "echo", {"text": "x"})
    for jid in ids:
        wait_state(s, jid)
    status, doc = s.get_json("/api/jobs?tool_id=true&limit=2&offset=1")
    assert status == 200 and doc["total"] == 5 and len(doc["jobs"]) == 2
    assert [j["id"] for j in doc["jobs"]] == list(reversed(ids))[1:3]
    status, doc = s.get_json("/api/jobs?state=ok&tool_id=true")
    assert doc["total"] == 5
    status, doc = s.get_json("/api/jobs?state=nonsense")
    assert status == 400
    for bad in ("limit=0", "limit=1001", "limit=x", "offset=-1", "limit=" + "0" * 40 + "1", "offset="):
        status, doc = s.get_json("/api/jobs?" + bad)
        assert status == 400 and "query parameter" in doc["err_msg"], (bad, doc)
    status, doc = s.get_json("/api/invocations?limit=" + "0" * 40 + "1")
    assert status == 400, doc
    status, hist = s.get_json("/api/jobs/%s/history" % ids[0])
    assert [h["state"] for h in hist["history"]] == ["new", "queued", "running", "ok"]


def test_cancel_a_running_job(servers):
    s = servers(["--mules", "1", "--farm", "job-handlers:1"])
    status, job = post_job(s, "sleep", {"seconds": 30})
    assert status == 201
    running = wait_state(s, job["id"], ("running",))
    pid = int(wait_for(lambda: get_job(s, job["id"])["external_id"], 5, what="the job's pid"))
    assert alive(pid)
    status, _, data = s.request("DELETE", "/api/jobs/%s" % job["id"])
    assert status in (200, 202), data
    done = wait_state(s, job["id"])
    assert done["state"] == "deleted"
    wait_for(lambda: not alive(pid), 10, what="the sleep to be killed")
    status, _, data = s.request("DELETE", "/api/jobs/%s" % job["id"])
    assert status == 409
    assert running["handler"] == "main.job-handlers.1"


def test_sweeper_takes_a_job_whose_message_was_lost(servers, tmp_path):
    s = servers(["--mules", "1", "--farm", "job-handlers:1", "--set", "jobs.sweep-delay=100"])
    now = int(time.time() * 1e6)
    # a job committed for the farm whose message never came: only the sweeper can find it
    jid = s.sql("INSERT INTO job (tool_id, tool_version, params, state, queue, create_time, update_time)"
                " VALUES ('true', '1.0', '{}', 'new', 'job-handlers', ?, ?) RETURNING id", (now, now))[0][0]
    done = wait_state(s, jid, timeout=10)
    assert done["state"] == "ok" and done["handler"] == "main.job-handlers.1"


def test_burst_leaves_no_job_stuck(servers):
    s = servers(["--processes", "2", "--threads", "4", "--mules", "2", "--farm", "job-handlers:1,2",
                 "--msg-send-timeout", "50"])
    n, clients = 600, 8
    ids, errors, lock = [], [], threading.Lock()
    def submit(k):
        c = s.conn(30)
        for _ in range(k):
            c.request("POST", "/api/jobs", body=json.dumps({"tool_id": "true"}),
                      headers={"Content-Type": "application/json"})
            r = c.getresponse()
            d = r.read()
            with lock:
                (ids if r.status == 201 else errors).append(json.loads(d).get("id", r.status))
        c.close()
    threads = [threading.Thread(target=submit, args=(n // clients,)) for _ in range(clients)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert not errors and len(ids) == n
    def all_terminal():
        status, doc = s.get_json("/api/jobs?state=ok&limit=1")
        return doc["total"] == n
    wait_for(all_terminal, 90, interval=0.5, what="every job to finish")
    rows = s.sql("SELECT state, count(*) FROM job GROUP BY state")
    runs = s.sql("SELECT job_id, count(*) FROM job_state_history WHERE state='running' GROUP BY job_id "
                 "HAVING count(*) > 1")
    shares = dict(s.sql("SELECT handler, count(*) FROM job GROUP BY handler"))
    # flow control: a mule takes from the farm only what it can start, so both share the burst
    assert set(shares) == {"main.job-handlers.1", "main.job-handlers.2"}, shares
    assert min(shares.values()) >= n // 5, shares
    assert rows == [("ok", n)]
    assert runs == [], "jobs ran more than once: %s" % runs[:5]


def test_explicit_mapping_to_a_mule_server_name(servers, tmp_path):
    conf = write(tmp_path, "job_conf.yml", "handling:\n  handlers:\n    main.job-handlers.2: {}\n"
                 "tools:\n  - id: echo\n    handler: main.job-handlers.2\n")
    s = servers(["--mules", "2", "--farm", "job-handlers:1,2", "--set", "jobs.job-config=%s" % conf])
    status, job = post_job(s, "echo", {"text": "mapped"})
    assert status == 201 and job["handler"] == "main.job-handlers.2"  # set at creation, no message
    assert wait_state(s, job["id"])["state"] == "ok"
    status, job = post_job(s, "true")
    assert created_unassigned(s, job["id"])  # unmapped: mule-message, claimed later
    assert wait_state(s, job["id"])["handler"] in ("main.job-handlers.1", "main.job-handlers.2")


def test_job_conf_xml_default_handler(servers, tmp_path):
    conf = write(tmp_path, "job_conf.xml", '<job_conf><handlers default="main.web.1">'
                 '<handler id="main.web.1"/></handlers></job_conf>')
    s = servers(["--mules", "1", "--farm", "job-handlers:1", "--set", "jobs.job-config=%s" % conf])
    status, job = post_job(s, "true")
    assert status == 201 and job["handler"] == "main.web.1"
    assert wait_state(s, job["id"])["state"] == "ok"


def test_standalone_handler_claims_with_db_skip_locked(servers, database, tmp_path):
    conf = write(tmp_path, "job_conf.yml", "handling:\n  assign: [db-skip-locked]\n")
    common = ["--set", "jobs.job-config=%s" % conf, "--set", "jobs.data-dir=%s" % (tmp_path / "data")] + database.args()
    s = servers(common)
    h = subprocess.Popen([MULETEER, "--attach-to-pool", "job-handlers", "--server-name", "handler0"] + common,
                         stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, cwd=str(tmp_path))
    try:
        # The web worker stands in for the pool until it sees the standalone handler, then leaves it the jobs.
        wait_for(lambda: "a handler serving its pools is running: leaving their jobs to it" in s.log(), timeout=15,
                 what="the web worker to leave the pool to handler0")
        status, job = post_job(s, "true")
        assert status == 201 and created_unassigned(s, job["id"])
        done = wait_state(s, job["id"])
        assert done["state"] == "ok" and done["handler"] == "handler0"
    finally:
        h.send_signal(signal.SIGTERM)
        assert h.wait(10) == 0


def test_tools_api(servers):
    s = servers([])
    status, doc = s.get_json("/api/tools")
    ids = {t["id"] for t in doc["tools"]}
    assert {"true", "sleep", "echo", "wc"} <= ids
    status, tool = s.get_json("/api/tools/sleep")
    assert status == 200 and tool["id"] == "sleep"
    status, _ = s.get_json("/api/tools/nope")
    assert status == 404


def test_job_survives_a_restart_of_the_whole_stack(servers, tmp_path):
    s = servers(["--mules", "1", "--farm", "job-handlers:1"])
    status, job = post_job(s, "true")
    assert wait_state(s, job["id"])["state"] == "ok"
    assert s.stop() == 0
    s2 = servers(["--mules", "1", "--farm", "job-handlers:1"])
    assert get_job(s2, job["id"])["state"] == "ok"


def test_second_standalone_handler_with_the_same_name_is_refused(database, tmp_path):
    args = [MULETEER, "--attach-to-pool", "job-handlers", "--server-name", "handler0",
            "--set", "jobs.data-dir=%s" % (tmp_path / "data")] + database.args()
    first = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=str(tmp_path))
    try:
        wait_for(lambda: "standalone process ready" in first.stdout.readline(), 10, what="the first handler")
        second = subprocess.run(args, capture_output=True, text=True, timeout=10, cwd=str(tmp_path))
        assert second.returncode != 0
        assert "a handler named handler0 is already running on host %s (pid %d)" % (socket.gethostname(), first.pid) \
            in second.stderr, second.stderr
        assert first.poll() is None
    finally:
        first.send_signal(signal.SIGTERM)
        assert first.wait(10) == 0
    # once it is gone, the name is free again
    third = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=str(tmp_path))
    try:
        wait_for(lambda: "standalone process ready" in third.stdout.readline(), 10, what="the name to be free")
    finally:
        third.send_signal(signal.SIGTERM)
        third.wait(10)


def test_graceful_stop_puts_a_running_job_back_and_it_runs_after_restart(servers):
    args = ["--mules", "1", "--farm", "job-handlers:1", "--set", "jobs.cancel-grace=1"]
    s = servers(args)
    status, job = post_job(s, "sleep", {"seconds": 1.5})
    wait_state(s, job["id"], ("running",))
    pid = int(wait_for(lambda: get_job(s, job["id"])["external_id"], 5, what="the job's pid"))
    assert s.stop() == 0
    assert not alive(pid), "a job's command outlived a clean stop"
    s2 = servers(args)
    done = wait_state(s2, job["id"], timeout=20)
    assert done["state"] == "ok", done
    status, hist = s2.get_json("/api/jobs/%s/history" % job["id"])
    states = [h["state"] for h in hist["history"]]
    assert states == ["new", "queued", "running", "queued", "running", "ok"], states


def test_default_tag_resolves_to_a_random_member(servers, tmp_path):
    conf = write(tmp_path, "job_conf.yml", "handling:\n  default: fast\n  handlers:\n"
                 "    main.job-handlers.1: {tags: [fast]}\n    main.job-handlers.2: {tags: [fast]}\n")
    s = servers(["--mules", "2", "--farm", "job-handlers:1,2", "--set", "jobs.job-config=%s" % conf])
    chosen = set()
    for _ in range(30):
        status, job = post_job(s, "true")
        assert status == 201
        chosen.add(job["handler"])  # set at creation: no message
    assert chosen == {"main.job-handlers.1", "main.job-handlers.2"}
    status, doc = s.get_json("/api/jobs?limit=1")
    assert wait_state(s, doc["jobs"][0]["id"])["state"] == "ok"


def test_tag_with_its_own_farm_is_served_by_that_farm(servers, tmp_path):
    conf = write(tmp_path, "job_conf.yml", "handling:\n  handlers:\n    main.job-handlers.special.1: {tags: [special]}\n"
                 "tools:\n  - id: echo\n    handler: special\n")
    s = servers(["--mules", "2", "--farm", "job-handlers:1", "--farm", "job-handlers.special:2",
                 "--set", "jobs.job-config=%s" % conf])
    status, job = post_job(s, "echo", {"text": "tagged"})
    assert status == 201 and created_unassigned(s, job["id"])  # a farm message, claimed by a mule of that farm
    assert wait_state(s, job["id"])["handler"] == "main.job-handlers.special.1"
    status, job = post_job(s, "true")
    assert wait_state(s, job["id"])["handler"] == "main.job-handlers.1"


def test_walltime_ends_a_job_in_error_with_the_reason(servers, tmp_path):
    tools = tmp_path / "tools"
    tools.mkdir()
    (tools / "slow.yml").write_text('id: slow\nversion: "1"\nname: Slow\ncommand: ["/bin/sleep", "30"]\n'
                                    'walltime: 0.5\n')
    s = servers(["--set", "jobs.tools-dir=%s" % tools, "--set", "jobs.cancel-grace=1"])
    status, job = post_job(s, "slow")
    assert status == 201, job
    done = wait_state(s, job["id"], timeout=15)
    assert done["state"] == "error" and "walltime" in done["info"], done


def test_newer_database_schema_is_refused_before_anything_forks(servers, database, tmp_path):
    s = servers([])
    assert s.stop() == 0
    # what a newer muleteer leaves: SQLite keeps the schema version in user_version, PostgreSQL in a table
    if s.db_backend == "sqlite":
        s.sql("PRAGMA user_version = 99")
    else:
        s.sql("UPDATE schema_version SET version = 99")
    r = subprocess.run([MULETEER, "--http", "127.0.0.1:0"] + database.args(), capture_output=True, text=True,
                       timeout=10, cwd=str(tmp_path))
    assert r.returncode != 0
    assert "schema version 99" in r.stderr and "upgrade muleteer" in r.stderr, r.stderr
    assert "stack up" not in r.stderr
