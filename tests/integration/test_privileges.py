"""--uid / --gid and jobs.job-user: who the processes and the jobs' commands run as.

The stack is started as root (CI runs as root); it must bind its port, then
drop to nobody/nogroup for good before any web worker or mule exists. Jobs
run as jobs.job-user. What each process is, is read from /proc/PID/status,
which no process can lie about.
"""
import grp
import json
import os
import pwd
import shutil
import signal
import socket
import sqlite3
import subprocess
import tempfile
import time

import pytest

from conftest import MULETEER, children_of, wait_for, write
from test_jobs import post_job, wait_state

ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(not ROOT, reason="switching users needs root (CI runs the suite as root)")

try:
    NOBODY = pwd.getpwnam("nobody").pw_uid
    NOGROUP = grp.getgrnam("nogroup").gr_gid
except KeyError:  # not Debian-like: the tests that need them are skipped
    NOBODY = NOGROUP = None
needs_nobody = pytest.mark.skipif(NOBODY is None, reason="no user nobody / group nogroup on this system")

WHOAMI_TOOL = """\
id: whoami
version: "1"
name: Who am I
command: ["/bin/sh", "-c", "id -u > uid.txt; id -g; id -G; touch written-by-the-job"]
outputs:
  - name: uid
    path: uid.txt
  - name: ids
    from: stdout
"""


@pytest.fixture
def open_dir():
    """A directory nobody can reach (pytest's tmp_path is under a 0700 directory of root's)."""
    d = tempfile.mkdtemp(prefix="muleteer-privs-", dir="/tmp")
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def nobody_dir(parent, name):
    path = os.path.join(parent, name)
    os.mkdir(path)
    os.chown(path, NOBODY, NOGROUP)
    return path


def tools_dir(parent, text=WHOAMI_TOOL, name="whoami.yml"):
    path = os.path.join(parent, "tools")
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, name), "w") as f:
        f.write(text)
    os.chmod(path, 0o755)
    os.chmod(os.path.join(path, name), 0o644)
    return path


def status_of(pid):
    """The Uid:, Gid:, Groups:, CapEff: and CapPrm: lines of /proc/PID/status, parsed."""
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("Uid", "Gid", "Groups"):
                out[key] = [int(v) for v in value.split()]
            elif key in ("CapEff", "CapPrm"):
                out[key] = int(value, 16)
    return out


def assert_is_nobody_for_good(pid):
    st = status_of(pid)
    # real, effective, saved and filesystem ids: all four nobody, so setuid(0) has nothing to go back to
    assert st["Uid"] == [NOBODY] * 4, (pid, st)
    assert st["Gid"] == [NOGROUP] * 4, (pid, st)
    assert st["Groups"] == [NOGROUP], (pid, st)  # root's supplementary groups are gone
    assert st["CapEff"] == 0 and st["CapPrm"] == 0, (pid, st)


def run_fail(args, cwd, preexec_fn=None):
    r = subprocess.run([MULETEER, "--http", "127.0.0.1:0"] + args, capture_output=True, text=True, cwd=cwd,
                       timeout=20, preexec_fn=preexec_fn)
    assert r.returncode != 0, "expected a start-up failure, got 0:\n" + r.stdout + r.stderr
    assert "stack up" not in r.stderr and "serving on" not in r.stderr, "children were forked:\n" + r.stderr
    return r


@needs_root
@needs_nobody
def test_web_workers_and_mules_run_as_nobody_for_good(servers, open_dir):
    data = nobody_dir(open_dir, "data")
    s = servers(["--uid", "nobody", "--gid", "nogroup", "--processes", "2", "--mule", "--mule",
                 "--farm", "job-handlers:1,2", "--jobs.data-dir", data])
    assert "privileges dropped: uid %d (nobody), gid %d (nogroup)" % (NOBODY, NOGROUP) in s.log()
    procs = s.stack()["processes"]
    kids = sorted(children_of(s.proc.pid))
    workers = sorted(p["pid"] for p in procs if p["role"] in ("web", "mule"))
    assert len(workers) == 4
    # besides them, the undertaker: alone in its own process group (undertaker.c)
    others = [pid for pid in kids if pid not in workers]
    assert set(workers) <= set(kids) and len(others) == 1, (kids, procs)
    assert os.getpgid(others[0]) == others[0]
    for pid in kids + [s.proc.pid]:  # the master drops too (documented): it binds, then drops, then forks
        assert_is_nobody_for_good(pid)
    # What the application created at start-up belongs to nobody: it ran after the drop.
    assert os.stat(os.path.join(data, "jobs.sqlite")).st_uid == NOBODY
    assert os.stat(os.path.join(data, "jobs")).st_uid == NOBODY
    # A respawned process is forked from the same unprivileged master.
    victim = next(p for p in procs if p["server_name"] == "main.job-handlers.1")["pid"]
    os.kill(victim, signal.SIGKILL)
    def respawned():
        p = s.by_name()["main.job-handlers.1"]
        return p["pid"] if p["state"] == "running" and p["pid"] not in (0, victim) else None
    pid = wait_for(respawned, 20, what="the mule to be respawned")
    s.known_pids.add(pid)
    assert_is_nobody_for_good(pid)
    # The master, as nobody, still signals its children: a rolling restart goes through.
    s.send(signal.SIGHUP)
    wait_for(lambda: "reload: every process restarted" in s.log(), 60, what="the reload to finish\n" + s.log())
    s.wait_ready()
    for pid in children_of(s.proc.pid):
        s.known_pids.add(pid)
        assert_is_nobody_for_good(pid)


def free_privileged_port():
    for port in [80, 81, 88, 280, 443, 591, 777, 888, 999] + list(range(1000, 1024)):
        sock = socket.socket()
        try:
            sock.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
        finally:
            sock.close()
    pytest.skip("no free port below 1024 on 127.0.0.1")


@needs_root
@needs_nobody
def test_a_port_below_1024_is_bound_by_root_before_the_drop(servers, open_dir):
    port = free_privileged_port()
    data = nobody_dir(open_dir, "data")
    s = servers(["--http", "127.0.0.1:%d" % port, "--uid", "nobody", "--processes", "2",
                 "--jobs.data-dir", data])
    assert s.port == port
    for pid in children_of(s.proc.pid):
        assert_is_nobody_for_good(pid)  # nobody could never have bound it
    for _ in range(4):
        assert s.request("GET", "/api/health")[0] == 200


def whoami_job(s):
    status, job = post_job(s, "whoami")
    assert status == 201, job
    done = wait_state(s, job["id"], timeout=30)
    assert done["state"] == "ok", done
    status, _, uid = s.request("GET", "/api/jobs/%s/outputs/uid" % job["id"])
    assert status == 200
    status, _, ids = s.request("GET", "/api/jobs/%s/outputs/ids" % job["id"])
    assert status == 200
    return done, uid.decode(), ids.decode()


@needs_root
@needs_nobody
def test_a_root_handler_runs_jobs_as_job_user(servers, open_dir):
    data = os.path.join(open_dir, "data")  # created by the (root) master: root's, 0755
    # jobs.cleanup=never: the empty stdout and stderr whose owner is checked below stay.
    s = servers(["--mule", "--farm", "job-handlers:1", "--jobs.data-dir", data,
                 "--jobs.tools-dir", tools_dir(open_dir), "--jobs.job-user", "nobody", "--set", "jobs.cleanup=never"])
    handler = s.by_name()["main.job-handlers.1"]["pid"]
    assert status_of(handler)["Uid"] == [0, 0, 0, 0]
    done, uid, ids = whoami_job(s)
    assert done["handler"] == "main.job-handlers.1"
    assert uid == "%d\n" % NOBODY
    assert ids == "%d\n%d\n" % (NOGROUP, NOGROUP)  # id -g, then id -G: no group of root's
    workdir = os.path.join(data, "jobs", done["id"])
    for name in (".", "stdout", "stderr", "uid.txt", "written-by-the-job"):
        st = os.stat(os.path.join(workdir, name))
        assert (st.st_uid, st.st_gid) == (NOBODY, NOGROUP), name


@needs_root
@needs_nobody
def test_a_dropped_stack_runs_jobs_as_itself(servers, open_dir):
    data = nobody_dir(open_dir, "data")
    s = servers(["--uid", "nobody", "--jobs.data-dir", data, "--jobs.tools-dir", tools_dir(open_dir),
                 "--jobs.job-user", "nobody"])
    done, uid, ids = whoami_job(s)
    assert done["handler"] == "main.web.1"
    assert uid == "%d\n" % NOBODY and ids == "%d\n%d\n" % (NOGROUP, NOGROUP)


@needs_root
@needs_nobody
def test_a_job_the_job_user_cannot_start_ends_in_error_with_the_reason(servers, open_dir):
    secret_tool = os.path.join(open_dir, "only-root.sh")
    with open(secret_tool, "w") as f:
        f.write("#!/bin/sh\necho should not run\n")
    os.chmod(secret_tool, 0o700)
    tools = tools_dir(open_dir, 'id: onlyroot\nversion: "1"\nname: x\ncommand: ["%s"]\n' % secret_tool,
                      "onlyroot.yml")
    s = servers(["--jobs.data-dir", os.path.join(open_dir, "data"), "--jobs.tools-dir", tools,
                 "--jobs.job-user", "nobody"])
    status, job = post_job(s, "onlyroot")
    assert status == 201, job
    done = wait_state(s, job["id"], timeout=30)
    assert done["state"] == "error", done
    assert "as user nobody: exec: Permission denied" in done["info"], done


@needs_root
@needs_nobody
def test_a_working_directory_the_job_user_cannot_enter_is_reported(servers, open_dir):
    data = os.path.join(open_dir, "data")
    os.mkdir(data, 0o700)  # root's alone: the job's directory below it is out of nobody's reach
    s = servers(["--jobs.data-dir", data, "--jobs.tools-dir", tools_dir(open_dir), "--jobs.job-user", "nobody"])
    status, job = post_job(s, "whoami")
    done = wait_state(s, job["id"], timeout=30)
    assert done["state"] == "error", done
    assert "as user nobody: chdir %s/jobs/%s: Permission denied" % (data, job["id"]) in done["info"], done


@needs_root
@needs_nobody
def test_sigusr1_reopens_log_files_as_the_dropped_user(servers, open_dir):
    logs = nobody_dir(open_dir, "logs")
    conf = write_open(open_dir, "muleteer.yml", """\
logging:
  version: 1
  root: {level: INFO, handlers: [console, file]}
  handlers:
    console: {class: logging.StreamHandler, stream: ext://sys.stderr}
    file: {class: logging.FileHandler, filename: %s/access.log}
""" % logs)
    s = servers(["--yaml", conf, "--uid", "nobody", "--processes", "2",
                 "--jobs.data-dir", nobody_dir(open_dir, "data")])
    log = os.path.join(logs, "access.log")
    assert os.stat(log).st_uid == NOBODY
    os.rename(log, log + ".1")
    s.send(signal.SIGUSR1)
    wait_for(lambda: os.path.exists(log), 10, what="the master to reopen its file")
    def served_after():
        assert s.request("GET", "/api/health?n=after")[0] == 200
        with open(log) as f:
            return f.read().count("GET /api/health?n=after") >= 1
    wait_for(served_after, 20, interval=0.2, what="a web worker to write to the new file")
    assert os.stat(log).st_uid == NOBODY
    assert "cannot open" not in s.log()


def write_open(parent, name, text):
    path = os.path.join(parent, name)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o644)
    return path


@needs_root
@needs_nobody
def test_a_standalone_handler_drops_before_loading_the_application(open_dir):
    data = nobody_dir(open_dir, "data")
    p = subprocess.Popen([MULETEER, "--attach-to-pool", "job-handlers", "--server-name", "handler0",
                          "--uid", "nobody", "--jobs.data-dir", data], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True, cwd=open_dir)
    lines = []
    try:
        def ready():
            line = p.stdout.readline()
            lines.append(line)
            return "attached to pool job-handlers" in line
        wait_for(ready, 15, what="the standalone process to be ready")
        assert any("privileges dropped" in l for l in lines), lines
        assert_is_nobody_for_good(p.pid)
        assert os.stat(os.path.join(data, "jobs.sqlite")).st_uid == NOBODY
        p.send_signal(signal.SIGTERM)
        assert p.wait(10) == 0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_unknown_users_and_groups_are_start_up_errors_naming_the_option(tmp_path):
    r = run_fail(["--uid", "no-such-user-here"], str(tmp_path))
    assert "command line: option 'uid': no user named 'no-such-user-here'" in r.stderr
    r = run_fail(["--gid", "no-such-group-here"], str(tmp_path))
    assert "option 'gid': no group named 'no-such-group-here'" in r.stderr
    ini = write(tmp_path, "bad.ini", "[uwsgi]\nprocesses = 1\nuid = no-such-user-here\n")
    r = run_fail(["--ini", ini], str(tmp_path))
    assert "bad.ini:3: option 'uid': no user named 'no-such-user-here'" in r.stderr
    r = run_fail(["--jobs.job-user", "no-such-user-here", "--jobs.data-dir", str(tmp_path / "d")], str(tmp_path))
    assert "option 'jobs.job-user': no user named 'no-such-user-here'" in r.stderr
    r = run_fail(["--jobs.job-group", "no-such-group-here", "--jobs.data-dir", str(tmp_path / "d")],
                 str(tmp_path))
    assert "option 'jobs.job-group': no group named 'no-such-group-here'" in r.stderr


def unused_uid():
    uid = 54321
    while True:
        try:
            pwd.getpwuid(uid)
            uid += 1
        except KeyError:
            return uid


def test_a_numeric_uid_without_a_user_entry_needs_a_gid(tmp_path):
    uid = unused_uid()
    r = run_fail(["--uid", str(uid)], str(tmp_path))
    assert "option 'uid': uid %d has no entry in the user database" % uid in r.stderr
    assert "give 'gid' too" in r.stderr


@needs_root
@needs_nobody
def test_job_user_other_than_a_dropped_handler_is_a_start_up_error(open_dir):
    other = next(u for u in ("daemon", "bin", "sys") if u in {p.pw_name for p in pwd.getpwall()})
    data = nobody_dir(open_dir, "data")
    r = run_fail(["--uid", "nobody", "--jobs.data-dir", data, "--jobs.job-user", other], open_dir)
    assert "option 'jobs.job-user': cannot switch to user %s" % other in r.stderr
    assert "the handlers are not root" in r.stderr


@needs_root
@needs_nobody
def test_a_database_the_dropped_user_cannot_write_is_a_clear_start_up_error(open_dir):
    data = nobody_dir(open_dir, "data")
    db = os.path.join(data, "jobs.sqlite")
    sqlite3.connect(db).close()  # root's, 0644: nobody may read it, not write it
    os.chmod(db, 0o644)
    r = run_fail(["--uid", "nobody", "--jobs.data-dir", data], open_dir)
    assert "option 'jobs.database': %s is not writable by user nobody (uid %d): Permission denied" % (
        db, NOBODY) in r.stderr, r.stderr
    assert "readonly" not in r.stderr
    # A data directory that is root's: the jobs' directory cannot even be created.
    root_data = os.path.join(open_dir, "rootdata")
    os.mkdir(root_data, 0o755)
    r = run_fail(["--uid", "nobody", "--jobs.data-dir", root_data], open_dir)
    assert "option 'jobs.data-dir': cannot create %s/jobs as user nobody (uid %d): Permission denied" % (
        root_data, NOBODY) in r.stderr, r.stderr


def as_nobody():
    os.setgroups([])
    os.setgid(NOGROUP)
    os.setuid(NOBODY)


@needs_root
@needs_nobody
def test_not_root_the_own_uid_is_a_no_op_and_another_is_an_error(open_dir):
    data = nobody_dir(open_dir, "data")
    other = next(u for u in ("daemon", "bin", "sys") if u in {p.pw_name for p in pwd.getpwall()})
    r = run_fail(["--uid", other, "--jobs.data-dir", data], open_dir, preexec_fn=as_nobody)
    assert "option 'uid': cannot switch to user %s" % other in r.stderr
    assert "this process runs as uid %d, not root" % NOBODY in r.stderr
    r = run_fail(["--gid", "root", "--jobs.data-dir", data], open_dir, preexec_fn=as_nobody)
    assert "option 'gid': cannot switch to group root" in r.stderr

    p = subprocess.Popen([MULETEER, "--http", "127.0.0.1:0", "--uid", "nobody", "--gid", "nogroup",
                          "--jobs.data-dir", data], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         cwd=open_dir, preexec_fn=as_nobody)
    lines = []
    try:
        def up():
            line = p.stdout.readline()
            lines.append(line)
            assert line or p.poll() is None, "".join(lines)
            return "stack up" in line
        wait_for(up, 15, what="the stack to start as nobody")
        assert not any("privileges dropped" in l for l in lines)  # nothing to drop
        p.send_signal(signal.SIGTERM)
        assert p.wait(30) == 0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
