"""systemd's notification protocol, as a unit with Type=notify sees it: a NOTIFY_SOCKET listener stands in for
systemd (an AF_UNIX datagram socket, with SO_PASSCRED so that each message's sender is known, as systemd knows it
for NotifyAccess=main), and the real binary runs with NOTIFY_SOCKET (and WATCHDOG_USEC) in its environment."""
import datetime
import json
import os
import re
import secrets
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time

import pytest

from conftest import MULETEER, alive, children_of, wait_for, write

LOG_TIME = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+)Z ")


class Message:
    def __init__(self, data, pid, wall, mono):
        self.text = data.decode("utf-8", "replace")
        self.fields = dict(l.split("=", 1) for l in self.text.split("\n") if "=" in l)
        self.pid, self.wall, self.mono = pid, wall, mono

    def __repr__(self):
        return "<%.3f pid %s %r>" % (self.wall, self.pid, self.text)


class NotifyListener:
    """What systemd does with NOTIFY_SOCKET: receives datagrams and notes who sent each (SCM_CREDENTIALS)."""

    def __init__(self, abstract=False):
        self.dir = tempfile.mkdtemp(prefix="mt-notify-", dir="/tmp")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        if abstract:
            name = "muleteer-test-%s" % secrets.token_hex(8)
            self.sock.bind("\0" + name)
            self.address = "@" + name
        else:
            self.address = os.path.join(self.dir, "notify")
            self.sock.bind(self.address)
        self.sock.settimeout(0.1)
        self.messages = []
        self._stop = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        creds_len = socket.CMSG_SPACE(struct.calcsize("iII"))
        while not self._stop:
            try:
                data, anc, _, _ = self.sock.recvmsg(65536, creds_len)
            except socket.timeout:
                continue
            except OSError:
                return
            wall, mono = time.time(), time.monotonic()
            pid = None
            for level, kind, cdata in anc:
                if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                    pid = struct.unpack("iII", cdata[:struct.calcsize("iII")])[0]
            self.messages.append(Message(data, pid, wall, mono))

    def env(self, **more):
        return dict({"NOTIFY_SOCKET": self.address}, **more)

    def having(self, key, value=None, start=0):
        return [m for m in self.messages[start:] if key in m.fields and (value is None or m.fields[key] == value)]

    def wait(self, key, value=None, start=0, timeout=15, what=None):
        """The first message from index start on with KEY (=value)."""
        return wait_for(lambda: (self.having(key, value, start) or [None])[0], timeout,
                        what=what or "%s%s from the master; got %r" % (key, "=" + value if value else "",
                                                                      self.messages[start:]))

    def close(self):
        self._stop = True
        self._thread.join(2)
        self.sock.close()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def notify():
    listener = NotifyListener()
    yield listener
    listener.close()


def log_time(line):
    m = LOG_TIME.match(line)
    assert m, line
    return datetime.datetime.strptime(m.group(1)[:26], "%Y-%m-%dT%H:%M:%S.%f").replace(
        tzinfo=datetime.timezone.utc).timestamp()


def lines_of(s, needle):
    return [l for l in s.log_lines if needle in l]


def up_lines(s, pids):
    """Each child's line saying it reached its loop ("serving on" for a web worker, "ready: mule" for a mule)."""
    return [l for l in s.log_lines if ("serving on" in l or ") ready: mule" in l)
            and any("(pid %d)" % p in l for p in pids)]


def child_pids(s):
    return [p["pid"] for p in s.stack()["processes"] if p["role"] in ("web", "mule")]


def test_ready_comes_once_every_process_is_up(servers, notify):
    s = servers(["--processes", "2", "--mules", "2", "--farm", "job-handlers:1,2"], env=notify.env())
    ready = notify.wait("READY")
    pids = child_pids(s)
    assert len(pids) == 4
    # Only the master speaks, and READY=1 comes once, after each child has logged that it reached its loop.
    assert {m.pid for m in notify.messages} == {s.proc.pid}, notify.messages
    lines = wait_for(lambda: (lambda l: l if len(l) == 4 else None)(up_lines(s, pids)), 10,
                     what="every child's start line\n" + s.log())
    for line in lines:
        assert log_time(line) <= ready.wall, "READY=1 at %.6f before %s" % (ready.wall, line)
    assert ready.fields["STATUS"] == "up: 2 web workers, 2 mules, 1 farm", ready.text
    assert "systemd: every process is up: READY=1" in s.log()
    before = notify.messages[:notify.messages.index(ready)]
    assert all(m.fields.get("STATUS", "").startswith("starting: ") for m in before if "STATUS" in m.fields), before
    time.sleep(0.5)
    assert len(notify.having("READY")) == 1, notify.messages
    assert not notify.having("WATCHDOG"), "no watchdog asked for, none pinged: %r" % notify.messages


def test_ready_on_an_abstract_socket(servers):
    listener = NotifyListener(abstract=True)
    try:
        s = servers(["--mules", "1"], env=listener.env())
        assert listener.address.startswith("@")
        ready = listener.wait("READY")
        assert ready.pid == s.proc.pid
        assert ready.fields["STATUS"] == "up: 1 web worker, 1 mule, 0 farms"
    finally:
        listener.close()


def test_a_rolling_reload_says_reloading_then_ready(servers, notify):
    s = servers(["--processes", "2", "--mules", "1"], env=notify.env())
    notify.wait("READY")
    old = set(child_pids(s))
    start = len(notify.messages)
    s.send(signal.SIGHUP)
    reloading = notify.wait("RELOADING", "1", start)
    # MONOTONIC_USEC (systemd 253's Type=notify-reload): CLOCK_MONOTONIC when the reload began.
    assert abs(int(reloading.fields["MONOTONIC_USEC"]) / 1e6 - reloading.mono) < 5, reloading.text
    assert reloading.fields["STATUS"].startswith("reloading: "), reloading.text
    ready = notify.wait("READY", "1", start, timeout=30)
    assert notify.messages.index(reloading) < notify.messages.index(ready)
    done = wait_for(lambda: lines_of(s, "reload: every process restarted"), 10, what="the reload's end\n" + s.log())
    assert log_time(done[0]) <= ready.wall
    new = set(child_pids(s))
    assert not (old & new), "every process restarted: %s then %s" % (old, new)
    lines = wait_for(lambda: (lambda l: l if len(l) == 3 else None)(up_lines(s, new)), 10,
                     what="the new children's start lines\n" + s.log())
    for line in lines:
        assert log_time(line) <= ready.wall, "READY=1 at %.6f before %s" % (ready.wall, line)
    assert ready.fields["STATUS"] == "up: 2 web workers, 1 mule, 0 farms"
    assert {m.pid for m in notify.messages} == {s.proc.pid}


def test_an_immediate_reload_is_ready_once_every_process_is_new(servers, notify, tmp_path):
    s = servers(["--mules", "2", "--master-fifo", "master.fifo"], env=notify.env())
    notify.wait("READY")
    old = set(child_pids(s))
    start = len(notify.messages)
    with open(str(tmp_path / "master.fifo"), "w") as f:
        f.write("R")
    notify.wait("RELOADING", "1", start)
    ready = notify.wait("READY", "1", start, timeout=30)
    new = set(child_pids(s))
    assert len(new) == 3 and not (old & new), (old, new)
    lines = wait_for(lambda: (lambda l: l if len(l) == 3 else None)(up_lines(s, new)), 10,
                     what="the new children's start lines\n" + s.log())
    for line in lines:
        assert log_time(line) <= ready.wall, "READY=1 at %.6f before %s" % (ready.wall, line)


def test_a_stop_says_stopping_first(servers, notify):
    s = servers(["--mules", "1"], env=notify.env())
    notify.wait("READY")
    start = len(notify.messages)
    assert s.stop() == 0
    stopping = notify.wait("STOPPING", "1", start, timeout=5)
    assert stopping.pid == s.proc.pid
    assert stopping.fields["STATUS"].startswith("stopping: "), stopping.text
    later = notify.messages[notify.messages.index(stopping):]
    assert not [m for m in later if "READY" in m.fields or "RELOADING" in m.fields], later
    # The first thing said after the signal: before any child went away.
    assert stopping.fields["STATUS"] == "stopping: 2 processes left", stopping.text
    first_exit = lines_of(s, "exited with status")[0]
    assert stopping.wall <= log_time(first_exit) + 0.5


def test_a_daemonized_master_gives_its_pid_with_ready(tmp_path, notify, database):
    """daemonize: the process systemd started exits; READY=1 carries MAINPID= of the daemon (which needs
    NotifyAccess=all, or better no daemonize: docs/operations.md)."""
    log, pidfile = tmp_path / "daemon.log", tmp_path / "master.pid"
    r = subprocess.run([MULETEER, "--http", "127.0.0.1:0", "--mules", "1", "--daemonize", str(log), "--pidfile",
                        str(pidfile)] + database.args(), env=dict(os.environ, **notify.env()), cwd=str(tmp_path),
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    pid = int(pidfile.read_text())
    kids = []
    try:
        ready = notify.wait("READY")
        kids = children_of(pid)
        assert ready.pid == pid and ready.fields["MAINPID"] == str(pid), ready
        assert ready.fields["STATUS"] == "up: 1 web worker, 1 mule, 0 farms"
    finally:
        os.kill(pid, signal.SIGTERM)
        wait_for(lambda: not alive(pid) and not any(alive(k) for k in kids), 30, what="the daemon to stop")
    assert notify.having("STOPPING", "1")
    text = log.read_text()
    assert "[alert]" not in text and "runtime error" not in text, text


def test_the_watchdog_is_pinged_every_half_interval(servers, notify):
    s = servers(["--mules", "1"], env=notify.env(WATCHDOG_USEC="1000000"))
    notify.wait("READY")
    t0 = time.time()
    time.sleep(3.0)
    pings = [m for m in notify.having("WATCHDOG", "1") if t0 <= m.wall <= t0 + 3.0]
    # 1 s / 2 = every 0.5 s: 6 in 3 s; generous bounds for a loaded machine.
    assert 4 <= len(pings) <= 8, pings
    gaps = [b.mono - a.mono for a, b in zip(pings, pings[1:])]
    assert all(0.3 <= g <= 0.9 for g in gaps), gaps
    assert {m.pid for m in pings} == {s.proc.pid}
    assert "watchdog every 0.500 s (WATCHDOG_USEC=1000000)" in s.log()


def test_the_watchdog_of_another_pid_is_not_pinged(servers, notify):
    s = servers(["--mules", "1"], env=notify.env(WATCHDOG_USEC="1000000", WATCHDOG_PID="1"))
    notify.wait("READY")
    time.sleep(1.5)
    assert not notify.having("WATCHDOG"), notify.messages
    assert "WATCHDOG_PID=1 is not the master" in s.log()


def test_nothing_is_sent_without_notify_socket(servers, notify):
    env = {"NOTIFY_SOCKET": ""}
    s = servers(["--mules", "1"], env=env)
    time.sleep(0.5)
    s.stop()
    assert not notify.messages
    assert "systemd" not in s.log()


def test_a_notify_socket_that_cannot_be_used_is_said(servers):
    s = servers(["--mules", "1"], env={"NOTIFY_SOCKET": "relative/path"})
    assert "NOTIFY_SOCKET=relative/path: not an absolute path nor an abstract socket name" in s.log()


ENV_TOOL = """\
id: env
version: "1.0"
name: Print the environment
description: Runs env.
command: ["/usr/bin/env"]
outputs:
  - name: out
    from: stdout
walltime: 60
"""

ENV_MULE = """\
#!/bin/sh
env > "%s"
exec sleep 600
"""


def test_no_child_inherits_notify_socket(servers, notify, tmp_path):
    """Only the master talks to systemd (NotifyAccess=main): neither a mule program nor a job's command finds
    NOTIFY_SOCKET or the watchdog's variables in its environment."""
    tools = tmp_path / "tools"
    tools.mkdir()
    write(tools, "env.yml", ENV_TOOL)
    mule_env = str(tmp_path / "mule-env.txt")
    script = write(tmp_path, "env-mule.sh", ENV_MULE % mule_env)
    os.chmod(script, 0o755)
    s = servers(["--mule=%s" % script, "--set", "jobs.tools-dir=%s" % tools],
                env=notify.env(WATCHDOG_USEC="5000000", MT_TEST_MARK="inherited"))
    notify.wait("READY")
    status, _, data = s.request("POST", "/api/jobs", body=json.dumps({"tool_id": "env"}),
                                headers={"Content-Type": "application/json"})
    assert status == 201, data
    jid = json.loads(data)["id"]
    wait_for(lambda: s.get_json("/api/jobs/%s" % jid)[1]["state"] == "ok", 20, what="the env job")
    status, _, out = s.request("GET", "/api/jobs/%s/outputs/out" % jid)
    assert status == 200 and b"MULETEER_JOB_ID=" in out, out
    text = wait_for(lambda: os.path.exists(mule_env) and open(mule_env).read(), 10, what="the mule program's env")
    assert "MT_TEST_MARK=inherited" in text, text  # the program does get the master's environment...
    for name in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"):
        assert name + "=" not in text, text  # ... but not these
        assert name.encode() + b"=" not in out, out
