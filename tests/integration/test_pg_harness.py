"""The PostgreSQL test harness itself: scripts/pg-server.sh and the fixtures of conftest.py.

The server the PostgreSQL tests run against must really be a separate, unprivileged PostgreSQL reached over
TCP and its unix socket; each test's database must be its own; a stopped server must leave no process behind;
and `servers` must give every stack of a test the same fresh database. None of this starts muleteer.
"""
import json
import os
import pwd
import shutil
import signal
import socket
import sqlite3
import subprocess
import tempfile

import pytest

from conftest import (EXAMPLE, MULETEER, PG_SERVER, ROOT, PgServer, Server, alive, children_of, sqlite_files,
                      wait_for)

PG_USER = "muleteer-pg"


def psycopg2():
    return pytest.importorskip("psycopg2")


def query(dsn, sql, params=None):
    conn = psycopg2().connect(dsn, connect_timeout=10)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall() if cur.description else []
    finally:
        conn.close()


def postmaster_pid(d):
    with open(os.path.join(d, "data", "postmaster.pid")) as f:
        return int(f.readline())


def uids(pid):
    """(real, effective) uid of a process; None when it is gone."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("Uid:"):
                    real, effective = line.split()[1:3]
                    return int(real), int(effective)
    except FileNotFoundError:
        return None
    raise AssertionError("no Uid line for pid %d" % pid)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def processes_mentioning(text):
    """Pids whose command line mentions text."""
    found = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % d, "rb") as f:
                if text.encode() in f.read():
                    found.append(int(d))
        except OSError:
            pass
    return found


def script(*args, timeout=120):
    return subprocess.run([PG_SERVER] + list(args), capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def own_dir():
    """A directory for a server of the test's own, under /tmp (the server's user must reach it); stopped and
    removed at the end whatever happened."""
    if not PgServer.bindir():
        pytest.skip("the PostgreSQL server binaries are missing: install the Debian package postgresql")
    d = tempfile.mkdtemp(prefix="muleteer-pg-test-", dir="/tmp")
    yield d
    script("stop", d)
    shutil.rmtree(d, ignore_errors=True)


def test_the_server_runs_as_an_unprivileged_user(pg):
    pid = postmaster_pid(pg.dir)
    assert os.path.basename(os.readlink("/proc/%d/exe" % pid)) == "postgres"
    procs = {p: uids(p) for p in [pid] + children_of(pid)}
    procs = {p: ids for p, ids in procs.items() if ids}  # a short-lived backend may be gone already
    assert len(procs) >= 3, "a postmaster and its background processes: %s" % procs
    for p, (real, effective) in procs.items():
        assert real != 0 and effective != 0, "postgres process %d runs as root" % p
        if os.geteuid() == 0:
            assert effective == pwd.getpwnam(PG_USER).pw_uid, (p, effective)
    st = os.stat(os.path.join(pg.dir, "data"))
    assert st.st_uid == uids(pid)[1] and st.st_mode & 0o077 == 0, "the data directory is the server's alone"
    if os.geteuid() == 0:
        shell = pwd.getpwnam(PG_USER).pw_shell
        assert shell.endswith("nologin") or shell.endswith("false"), "%s can log in: %s" % (PG_USER, shell)


def test_it_accepts_connections_over_tcp_and_its_unix_socket(pg):
    url = pg.url_base + "/postgres"
    assert url.startswith("postgresql://muleteer@127.0.0.1:")
    port = int(pg.url_base.rsplit(":", 1)[1])
    addr, user, superuser, listen, max_conn, fsync = query(url,
        "SELECT inet_server_addr()::text, current_user, rolsuper, current_setting('listen_addresses'),"
        " current_setting('max_connections')::int, current_setting('fsync')"
        " FROM pg_roles WHERE rolname = current_user")[0]
    assert addr.split("/")[0] == "127.0.0.1" and user == "muleteer" and superuser
    assert listen == "127.0.0.1", "the test server listens on the loopback only"
    assert max_conn >= 500 and fsync == "off"
    sock = os.path.join(pg.dir, ".s.PGSQL.%d" % port)
    assert os.path.exists(sock), "no unix socket in the server's directory"
    (addr, user), = query("host=%s port=%d user=muleteer dbname=postgres" % (pg.dir, port),
                          "SELECT inet_server_addr()::text, current_user")
    assert addr is None and user == "muleteer", "a unix-socket connection has no server address"
    # a connection string naming the socket directory in a URL works too (libpq's host= parameter)
    (one,), = query("postgresql://muleteer@/postgres?host=%s&port=%d" % (pg.dir, port), "SELECT 1")
    assert one == 1


def test_two_fresh_databases_are_independent(pg):
    url_base, new_database = pg
    a, b = new_database(), new_database()
    assert a != b and a.startswith(url_base + "/t_") and b.startswith(url_base + "/t_")
    for u in (a, b):
        assert query(u, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") == [(0,)], "not empty"
    query(a, 'CREATE TABLE job (id BIGINT PRIMARY KEY, "user" TEXT)')
    query(a, 'INSERT INTO job VALUES (1, %s)', ("alice",))
    assert query(a, 'SELECT id, "user" FROM job') == [(1, "alice")]
    assert query(b, "SELECT to_regclass('job')") == [(None,)], "a table made in one database shows in the other"
    query(b, 'CREATE TABLE job (id BIGINT PRIMARY KEY, "user" TEXT)')
    assert query(b, "SELECT count(*) FROM job") == [(0,)]
    names = {r[0] for r in query(url_base + "/postgres", "SELECT datname FROM pg_database")}
    assert {a.rsplit("/", 1)[1], b.rsplit("/", 1)[1]} <= names


def test_a_restart_cuts_the_sessions_and_keeps_the_port_and_the_data(pg):
    url = pg.new_database()
    query(url, "CREATE TABLE kept (x INTEGER)")
    before = postmaster_pid(pg.dir)
    conn = psycopg2().connect(url, connect_timeout=10)
    try:
        pg.restart()
        assert postmaster_pid(pg.dir) != before and not alive(before)
        with pytest.raises(psycopg2().OperationalError):  # the session did not survive
            conn.cursor().execute("SELECT 1")
    finally:
        conn.close()
    assert query(url, "SELECT count(*) FROM kept") == [(0,)]


def test_start_and_stop_leave_no_process_behind(own_dir):
    port = free_port()
    r = script("start", own_dir, str(port))
    assert r.returncode == 0, r.stderr
    url = r.stdout.strip()
    assert url == "postgresql://muleteer@127.0.0.1:%d/postgres" % port
    assert script("url", own_dir).stdout.strip() == url
    pid = postmaster_pid(own_dir)
    conn = psycopg2().connect(url, connect_timeout=10)  # a session open across the stop: -m fast ends it
    try:
        (backend,), = query(url, "SELECT 1")
        cur = conn.cursor()
        cur.execute("SELECT pg_backend_pid()")
        session = cur.fetchone()[0]
        procs = set([pid] + children_of(pid))
        assert session in procs and len(procs) >= 4, procs
        r = script("stop", own_dir)
        assert r.returncode == 0, r.stderr
        left = [p for p in procs if alive(p)]
        assert not left, "postgres processes left after stop: %s" % left
        assert not processes_mentioning(own_dir), "a process still names the server's directory"
    finally:
        conn.close()
    with pytest.raises(psycopg2().OperationalError):
        query(url, "SELECT 1")
    r = script("url", own_dir)
    assert r.returncode != 0 and "no server is running" in r.stderr
    assert script("stop", own_dir).returncode == 0, "stopping a stopped server is not an error"
    # the cluster is kept: started again (on a port of its own choosing), it has what it had
    r = script("start", own_dir)
    assert r.returncode == 0, r.stderr
    assert query(r.stdout.strip(), "SELECT current_user") == [("muleteer",)]
    pid = postmaster_pid(own_dir)
    procs = set([pid] + children_of(pid))
    assert script("stop", own_dir).returncode == 0
    assert not [p for p in procs if alive(p)]


def test_start_refuses_a_second_server_and_a_taken_port(own_dir):
    r = script("start", own_dir)
    assert r.returncode == 0, r.stderr
    r2 = script("start", own_dir)
    assert r2.returncode != 0 and "already running" in r2.stderr
    other = tempfile.mkdtemp(prefix="muleteer-pg-test-", dir="/tmp")
    try:
        port = int(r.stdout.strip().rsplit(":", 1)[1].split("/")[0])
        r3 = script("start", other, str(port))  # a port given is not silently replaced by another
        assert r3.returncode != 0 and "did not start on 127.0.0.1:%d" % port in r3.stderr, r3.stderr
        assert not processes_mentioning(other)
    finally:
        script("stop", other)
        shutil.rmtree(other, ignore_errors=True)


@pytest.mark.skipif(os.geteuid() != 0, reason="only root hands the directory to another user")
def test_start_says_when_the_servers_user_cannot_reach_the_directory():
    if not PgServer.bindir():
        pytest.skip("the PostgreSQL server binaries are missing")
    outer = tempfile.mkdtemp(prefix="muleteer-pg-test-", dir="/tmp")  # 0700, root's
    try:
        r = script("start", os.path.join(outer, "inner"))
        assert r.returncode != 0
        assert "cannot be reached by the user %s" % PG_USER in r.stderr, r.stderr
    finally:
        shutil.rmtree(outer, ignore_errors=True)


def test_missing_binaries_are_named():
    r = subprocess.run([PG_SERVER, "start", "/tmp/never-made"], capture_output=True, text=True, timeout=30,
                       env=dict(os.environ, PG_BIN="/nonexistent/bin"))
    assert r.returncode == 3 and "holds no PostgreSQL server binaries" in r.stderr, r.stderr
    assert not os.path.exists("/tmp/never-made")


def test_a_server_left_by_a_killed_session_is_reaped(pg):
    d = tempfile.mkdtemp(prefix=PgServer.PREFIX, dir="/tmp")
    try:
        dead = subprocess.Popen(["true"])
        dead.wait()
        with open(os.path.join(d, "owner"), "w") as f:
            f.write("%d\n" % dead.pid)
        r = script("start", d)
        assert r.returncode == 0, r.stderr
        pid = postmaster_pid(d)
        PgServer.reap_orphans()
        assert not alive(pid) and not os.path.exists(d), "the orphaned server was left running"
        assert alive(postmaster_pid(pg.dir)), "the session's own server was reaped"
    finally:
        script("stop", d)
        shutil.rmtree(d, ignore_errors=True)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_session_stops_its_server(pg, tmp_path, sig):
    """A pytest session of its own (this harness as a plugin), interrupted while a test waits: no server left."""
    ready = tmp_path / "ready"
    (tmp_path / "test_wait.py").write_text(
        "import time\n"
        "def test_wait(pg):\n"
        "    open(%r, 'w').write(pg.dir)\n"
        "    time.sleep(60)\n" % str(ready))
    env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "tests", "integration"))
    child = subprocess.Popen(["/usr/bin/python3", "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "conftest",
                              "--rootdir", str(tmp_path), str(tmp_path / "test_wait.py")],
                             cwd=str(tmp_path), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: ready.exists() and ready.read_text(), 60, what="the session's server")
        d = ready.read_text()
        pid = postmaster_pid(d)
        assert d != pg.dir and alive(pid)
        child.send_signal(sig)
        out = child.communicate(timeout=60)[0].decode(errors="replace")
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode != 0, out
    assert not alive(pid), "the server outlived its session:\n" + out
    assert not os.path.exists(d), "the server's directory was left:\n" + out


def child_session(tmp_path, test_text, env):
    """Run one test file in a pytest session of its own with this harness as a plugin: (exit status, output)."""
    (tmp_path / "test_child.py").write_text(test_text)
    env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "tests", "integration"), **env)
    r = subprocess.run(["/usr/bin/python3", "-m", "pytest", "-q", "-rsf", "-p", "no:cacheprovider", "-p", "conftest",
                        "--rootdir", str(tmp_path), str(tmp_path / "test_child.py")],
                       cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=120)
    return r.returncode, r.stdout + r.stderr


def test_without_the_server_binaries_pg_tests_skip_and_a_postgresql_run_fails(tmp_path):
    missing = {"PG_BIN": "/nonexistent/bin"}
    rc, out = child_session(tmp_path, "def test_x(pg):\n    pass\n", missing)
    assert rc == 0 and "1 skipped" in out and "the PostgreSQL server binaries are missing" in out, out
    rc, out = child_session(tmp_path, "def test_x(servers):\n    servers([], start=False)\n",
                            dict(missing, MULETEER_TEST_BACKEND="postgresql"))
    assert rc != 0 and "1 failed" in out and "the PostgreSQL server binaries are missing" in out, out


def test_sql_helper_on_sqlite(tmp_path):
    s = Server(tmp_path, MULETEER, [])
    assert s.db_backend == "sqlite"
    with pytest.raises(sqlite3.OperationalError):  # no database yet: an error, not a new empty file
        s.sql("SELECT 1")
    assert not (tmp_path / "data" / "jobs.sqlite").exists()
    (tmp_path / "data").mkdir()
    sqlite3.connect(str(tmp_path / "data" / "jobs.sqlite")).close()
    check_sql_helper(s)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    sqlite3.connect(str(elsewhere / "jobs.sqlite")).close()
    for args in (["--set", "jobs.data-dir=%s" % elsewhere], ["--jobs.database", "elsewhere/jobs.sqlite"],
                 ["--set", "jobs.database=sqlite://%s" % (elsewhere / "jobs.sqlite")]):
        s2 = Server(tmp_path, MULETEER, args)
        assert s2.db_backend == "sqlite"
        assert s2.sql("SELECT count(*) FROM sqlite_master") == [(0,)], args
    s2.sql("CREATE TABLE mark (x INTEGER)")
    assert s.sql("SELECT count(*) FROM sqlite_master WHERE name = 'mark'") == [(0,)], "two files, not one"


def test_sql_helper_on_postgresql(pg, tmp_path):
    url = pg.new_database()
    for args in (["--jobs.database", url], ["--set", "jobs.database=%s" % url], ["--database=%s" % url]):
        assert Server(tmp_path, MULETEER, args).db_backend == "postgresql", args
    s = Server(tmp_path, MULETEER, ["--jobs.database", url])
    assert s.db_url == url
    check_sql_helper(s)
    conninfo = "host=127.0.0.1 port=%s user=muleteer dbname=%s" % (url.rsplit(":", 1)[1].split("/")[0],
                                                                   url.rsplit("/", 1)[1])
    s2 = Server(tmp_path, MULETEER, ["--jobs.database", conninfo])
    assert s2.db_backend == "postgresql"
    assert s2.sql("SELECT count(*) FROM job") == [(2,)], "a key=value connection string reaches the same database"


def check_sql_helper(s):
    """`?` placeholders, a quoted "user" column, literals holding ? and %, RETURNING, writes committed."""
    s.sql('CREATE TABLE job (id INTEGER PRIMARY KEY, "user" TEXT, info TEXT)')
    (jid,), = s.sql('INSERT INTO job (id, "user", info) VALUES (?, ?, \'100% done?\') RETURNING id', (7, "alice"))
    assert jid == 7
    s.sql('INSERT INTO job (id, "user", info) VALUES (8, \'bob\', \'what? 5%\')')
    assert s.sql('SELECT id, "user", info FROM job WHERE "user" = ? OR info LIKE \'%?%\' ORDER BY id', ("alice",)) \
        == [(7, "alice", "100% done?"), (8, "bob", "what? 5%")]
    assert s.sql("UPDATE job SET info = ? WHERE id = ?", ("x", 8)) == []
    assert s.sql("SELECT info FROM job WHERE id = 8") == [("x",)]


def test_a_stack_given_a_pg_database_keeps_its_jobs_there(pg, servers, tmp_path):
    """The other side of the harness: muleteer itself on the database the fixture made, nothing in SQLite."""
    url = pg.new_database()
    s = servers(["--jobs.database", url])
    assert s.db_backend == "postgresql"
    status, _, data = s.request("POST", "/api/jobs", body=json.dumps({"tool_id": "true"}),
                                headers={"Content-Type": "application/json"})
    assert status == 201, data
    jid = int(json.loads(data)["id"])
    wait_for(lambda: query(url, "SELECT state FROM job WHERE id = %s", (jid,)) == [("ok",)], 20,
             what="job %d to end ok in PostgreSQL" % jid)
    assert s.sql("SELECT tool_id, state FROM job WHERE id = ?", (jid,)) == [("true", "ok")]
    assert sqlite_files(tmp_path) == [], "a SQLite database beside a stack on PostgreSQL"


@pytest.fixture
def backend_postgresql(monkeypatch):
    monkeypatch.setenv("MULETEER_TEST_BACKEND", "postgresql")


def test_servers_share_one_fresh_database_per_test_on_postgresql(pg, backend_postgresql, servers, database):
    s1 = servers(["--mules", "1"], start=False)
    s2 = servers([], start=False)
    assert s1.db_backend == s2.db_backend == "postgresql"
    assert s1.args[-2:] == ["--jobs.database", s1.db_url] and s1.db_url == s2.db_url
    assert database.args() == ["--jobs.database", s1.db_url]
    name = s1.db_url.rsplit("/", 1)[1]
    assert s1.db_url == "%s/%s" % (pg.url_base, name) and name.startswith("t_")
    assert s1.sql("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") == [(0,)], "not empty"
    s1.sql("CREATE TABLE seen (x INTEGER)")
    assert s2.sql("SELECT count(*) FROM seen") == [(0,)], "the test's stacks are on one database"
    other = pg.new_database()
    s3 = servers(["--jobs.database", other], start=False)  # a test naming its database keeps it
    assert s3.args == ["--jobs.database", other] and s3.db_url == other
    s4 = servers(["--set", "jobs.database=%s" % other], start=False)
    assert s4.args.count("--jobs.database") == 0 and s4.db_url == other
    assert servers([], binary=EXAMPLE, start=False).args == [], "only muleteer has a job database"
    datname = "SELECT count(*) FROM pg_database WHERE datname = %s"
    assert query(pg.url_base + "/postgres", datname, (name,)) == [(1,)]
    database.close()  # what the fixture does when the test ends
    assert query(pg.url_base + "/postgres", datname, (name,)) == [(0,)], "the test's database was not dropped"


def test_servers_add_nothing_on_sqlite(monkeypatch, servers, database):
    monkeypatch.setenv("MULETEER_TEST_BACKEND", "sqlite")
    s = servers(["--mules", "1"], start=False)
    assert s.args == ["--mules", "1"] and s.db_backend == "sqlite" and database.args() == []


def test_an_unknown_backend_is_refused():
    r = subprocess.run(["/usr/bin/python3", "-m", "pytest", "-q", "-p", "no:cacheprovider", "--collect-only",
                        os.path.join(ROOT, "tests", "integration", "test_pg_harness.py")],
                       capture_output=True, text=True, timeout=60, cwd=ROOT,
                       env=dict(os.environ, MULETEER_TEST_BACKEND="mysql"))
    assert r.returncode != 0
    assert "MULETEER_TEST_BACKEND=mysql: expected sqlite or postgresql" in r.stdout + r.stderr
