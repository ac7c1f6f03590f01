"""Integration test harness: runs the real muleteer binaries.

Each test starts the binary on 127.0.0.1 port 0 (the kernel picks a free
port; the master logs the real one) with a generated config in a temporary
directory, talks to it over real sockets, and stops it with real signals.
Every server started here is checked when the test ends: it must not have
died of a signal, printed a sanitizer report or logged at [alert] level,
and it must leave no child process behind.
"""
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time

import pytest

BUILD = os.environ.get("MULETEER_BUILD") or os.path.join(os.path.dirname(__file__), "..", "..", "build")
BUILD = os.path.abspath(BUILD)
MULETEER = os.path.join(BUILD, "muleteer")
EXAMPLE = os.path.join(BUILD, "muleteer-example")
MULE_ECHO = os.path.join(BUILD, "mule-echo")



def pytest_configure(config):
    config.addinivalue_line(
        "markers", "chaos: fault injection (SIGKILLs, locked database, full disk); run by `make chaos`, "
        "left out of `make integration`")


BAD_LOG = re.compile(r"(ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:|\[alert\])")


def children_of(pid):
    """Pids whose parent is pid (from /proc)."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid and fields[0] != "Z":
                out.append(int(d))
        except (OSError, IndexError, ValueError):
            pass
    return out


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return state != "Z"
    except OSError:
        return False


def wait_for(pred, timeout=10.0, interval=0.02, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(interval)
    raise AssertionError("timed out after %.1fs waiting for %s" % (timeout, what))


class Server:
    """One running stack: the master process, its log, its port."""

    def __init__(self, tmp_path, binary, args, env=None):
        self.tmp = tmp_path
        self.binary = binary
        self.args = list(args)
        self.env = dict(os.environ, **(env or {}))
        self.log_lines = []
        self.proc = None
        self.port = None
        self.known_pids = set()
        self.expect_status = 0
        self.expect_signal = None  # set when a test kills the master on purpose
        self.api_key = None  # sent with /api/stack (wait_ready) when the API needs keys

    # -- lifecycle --
    def start(self, wait_ready=True):
        cmd = [self.binary, "--http", "127.0.0.1:0"] + self.args
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=self.env,
                                     cwd=str(self.tmp))
        self._reader = threading.Thread(target=self._read_log, daemon=True)
        self._reader.start()
        if wait_ready:
            self.port = int(wait_for(self._find_port, what="the master to log its port\n" + self.log()))
            self.wait_ready()
        return self

    def _read_log(self):
        for raw in self.proc.stdout:
            self.log_lines.append(raw.decode("utf-8", "replace"))

    def _find_port(self):
        for line in self.log_lines:
            m = re.search(r"HTTP on [^ ]*:(\d+)", line)
            if m:
                return m.group(1)
        if self.proc.poll() is not None:
            raise AssertionError("server exited with %s before serving:\n%s" % (self.proc.returncode, self.log()))
        return None

    def wait_ready(self, timeout=15):
        def ready():
            try:
                st = self.stack()
            except (OSError, http.client.HTTPException, ValueError):
                return None
            procs = [p for p in st["processes"] if p["role"] in ("web", "mule")]
            if all(p["state"] == "running" and p["pid"] for p in procs):
                # every web worker must also be accepting: each logs "serving on"
                if self.log().count("serving on") >= sum(1 for p in procs if p["role"] == "web"):
                    return st
            return None
        st = wait_for(ready, timeout, what="every process to run\n" + self.log())
        self.known_pids.update(p["pid"] for p in st["processes"] if p["pid"])
        return st

    def log(self):
        return "".join(self.log_lines)

    def send(self, sig):
        self.proc.send_signal(sig)

    def stop(self, sig=signal.SIGTERM, timeout=30):
        """Stop with sig; return the exit status. Asserts no child is left."""
        kids = set(children_of(self.proc.pid)) | self.known_pids
        kids.discard(self.proc.pid)
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise AssertionError("master did not exit within %ss after %s:\n%s" % (timeout, sig, self.log()))
        self._reader.join(5)
        left = [p for p in kids if alive(p)]
        assert not left, "children left behind after the master exited: %s\n%s" % (left, self.log())
        return rc

    def check_log(self):
        bad = [l for l in self.log_lines if BAD_LOG.search(l)]
        assert not bad, "bad lines in the server log:\n" + "".join(bad) + "\n--- full log ---\n" + self.log()

    # -- HTTP helpers --
    def conn(self, timeout=10):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def request(self, method, path, body=None, headers=None, timeout=30):
        c = self.conn(timeout)
        try:
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            data = r.read()
            return r.status, dict(r.getheaders()), data
        finally:
            c.close()

    def get_json(self, path):
        status, _, data = self.request("GET", path)
        return status, json.loads(data)

    def stack(self):
        headers = {"X-API-Key": self.api_key} if self.api_key else None
        status, _, data = self.request("GET", "/api/stack", headers=headers)
        assert status == 200
        return json.loads(data)

    def by_name(self):
        return {p["server_name"]: p for p in self.stack()["processes"]}

    def raw(self, data, timeout=5, read_until_close=True):
        """Send raw bytes on a new connection, return everything read until close or timeout."""
        s = socket.create_connection(("127.0.0.1", self.port), timeout=timeout)
        try:
            s.sendall(data)
            chunks = []
            while True:
                try:
                    b = s.recv(65536)
                except socket.timeout:
                    break
                if not b:
                    break
                chunks.append(b)
                if not read_until_close:
                    break
            return b"".join(chunks)
        finally:
            s.close()


@pytest.fixture
def servers(tmp_path):
    """Factory: servers(args, binary=MULETEER, env=None, start=True). Checked and stopped at teardown."""
    started = []

    def make(args, binary=MULETEER, env=None, start=True):
        s = Server(tmp_path, binary, args, env)
        started.append(s)
        if start:
            s.start()
        return s

    yield make
    for s in started:
        if s.proc is None:
            continue
        if s.proc.poll() is None:
            rc = s.stop()
            assert rc == s.expect_status, "exit status %s, expected %s\n%s" % (rc, s.expect_status, s.log())
        rc = s.proc.returncode
        assert rc is None or rc >= 0 or -rc == s.expect_signal, "master died of signal %d\n%s" % (-rc, s.log())
        s.check_log()


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return str(p)
