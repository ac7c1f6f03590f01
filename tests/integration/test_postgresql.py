"""The PostgreSQL backend as an operator meets it: the forms of jobs.database, stacks migrating one database
at once, a newer schema refused, a password kept out of the logs, a server that cannot be reached, the handler
table and a handler woken by NOTIFY on another stack. Real server (the `pg` fixture), real binary."""
import json
import re
import subprocess
import threading
import time

import psycopg2

from conftest import MULETEER, wait_for, write


def query(url, sql, params=()):
    conn = psycopg2.connect(url, connect_timeout=10)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall() if cur.description else None
    finally:
        conn.close()


def post(s, tool="true", inputs=None):
    status, _, data = s.request("POST", "/api/jobs", body=json.dumps({"tool_id": tool, "inputs": inputs or {}}))
    assert status == 201, data
    return json.loads(data)


def wait_job(s, jid, states=("ok", "error", "deleted"), timeout=30):
    def done():
        status, job = s.get_json("/api/jobs/%s" % jid)
        return job if job["state"] in states else None
    return wait_for(done, timeout, what="job %s to reach %s" % (jid, states))


def test_three_stacks_started_at_once_migrate_one_database_once(servers, pg, tmp_path):
    url = pg.new_database()
    stacks = [servers(["--jobs.database", url, "--server-name", "h%d" % i,
                       "--jobs.data-dir", str(tmp_path / ("d%d" % i))], start=False) for i in range(3)]
    threads = [threading.Thread(target=s.start) for s in stacks]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert query(url, "SELECT version FROM schema_version") == [(11,)]
    jobs = [post(s) for s in stacks]
    assert len({j["id"] for j in jobs}) == 3, "one job table"
    for s, j in zip(stacks, jobs):
        assert wait_job(s, j["id"])["state"] == "ok"


def test_a_newer_schema_is_refused_naming_both_versions(servers, pg, tmp_path):
    url = pg.new_database()
    s = servers(["--jobs.database", url])
    s.stop()
    query(url, "UPDATE schema_version SET version = 99")
    r = subprocess.run([MULETEER, "--http", "127.0.0.1:0", "--jobs.database", url], capture_output=True, text=True,
                       timeout=30, cwd=str(tmp_path))
    assert r.returncode != 0
    assert re.search(r"has schema version 99 but this muleteer knows up to 11: upgrade muleteer", r.stderr), r.stderr


def test_a_connection_string_works_and_a_password_never_reaches_the_log(servers, pg, tmp_path):
    url = pg.new_database()
    m = re.match(r"postgresql://(\w+)@([\d.]+):(\d+)/(\w+)$", url)
    assert m, url
    user, host, port, db = m.groups()
    # trust authentication: the password is not checked, but it must not be shown
    conninfo = "host=%s port=%s dbname=%s user=%s password=s3cret" % (host, port, db, user)
    s = servers(["--jobs.database", conninfo])
    assert wait_job(s, post(s)["id"])["state"] == "ok"
    assert "password=***" in s.log()
    secret_url = "postgresql://%s:s3cret@%s:%s/%s" % (user, host, port, db)
    s2 = servers(["--jobs.database", secret_url, "--server-name", "other", "--jobs.data-dir", str(tmp_path / "d2")])
    assert "%s:***@%s" % (user, host) in s2.log()
    assert "s3cret" not in s.log() + s2.log()


def test_a_server_that_cannot_be_reached_stops_the_start_with_a_clear_error(tmp_path):
    r = subprocess.run([MULETEER, "--http", "127.0.0.1:0", "--jobs.database",
                        "postgresql://nobody:pw@127.0.0.1:1/none"], capture_output=True, text=True, timeout=60,
                       cwd=str(tmp_path))
    assert r.returncode != 0
    assert "cannot connect to database postgresql://nobody:***@127.0.0.1:1/none" in r.stderr, r.stderr
    assert "pw@" not in r.stderr


def test_an_unknown_scheme_is_refused_naming_the_option(tmp_path):
    r = subprocess.run([MULETEER, "--http", "127.0.0.1:0", "--jobs.database", "mysql://db/galaxy"],
                       capture_output=True, text=True, timeout=30, cwd=str(tmp_path))
    assert r.returncode != 0
    assert "option 'jobs.database': 'mysql://db/galaxy': not a database this muleteer knows" in r.stderr, r.stderr


def test_handlers_of_every_stack_are_listed_and_a_job_for_another_stack_starts_on_notify(servers, pg, tmp_path):
    url = pg.new_database()
    conf = write(tmp_path, "job_conf.yml", "handling:\n  assign: [db-skip-locked]\n")
    # A long poll: a handler that started the job within it was woken by the database, not by its poll.
    common = ["--jobs.database", url, "--jobs.job-config", conf, "--jobs.poll-interval", "5000"]
    web = servers(common + ["--server-name", "web"])
    handler = subprocess.Popen([MULETEER, "--attach-to-pool", "job-handlers", "--server-name", "far.h1",
                                "--jobs.data-dir", str(tmp_path / "far")] + common,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=str(tmp_path))
    try:
        wait_for(lambda: "a handler serving its pools is running: leaving their jobs to it" in web.log(), 20,
                 what="the web worker to leave the pool to far.h1")
        status, doc = web.get_json("/api/handlers")
        assert status == 200
        rows = {h["server_name"]: h for h in doc["handlers"]}
        assert rows["far.h1"]["state"] == "running" and rows["far.h1"]["pools"] == ["job-handlers"]
        assert rows["far.h1"]["pid"] == handler.pid and rows["far.h1"]["lease_left_s"] > 0
        assert rows["web.web.1"]["state"] == "running"
        started = []
        for _ in range(5):
            job = wait_job(web, post(web)["id"])
            assert job["state"] == "ok" and job["handler"] == "far.h1", job
            started.append(job)
        # Every one started long before the 5 s poll would have found it.
        for job in started:
            rows = query(url, "SELECT (start_time - create_time) / 1000.0 FROM job WHERE id = %s", (int(job["id"]),))
            assert rows[0][0] < 1000, "job %s started %.1f ms after its creation" % (job["id"], rows[0][0])
    finally:
        handler.terminate()
        assert handler.wait(20) == 0
    status, doc = web.get_json("/api/handlers")
    assert {h["server_name"]: h for h in doc["handlers"]}["far.h1"]["state"] == "stopped"
