"""Storage faults injected into a running stack: the database locked by another process, the disk full.

Each scenario runs the real binary on real SQLite and a real filesystem, and checks what the API answers
while the fault lasts (a wait, or 503 / 507 with Retry-After and a JSON error naming the cause), that
nothing acknowledged is lost and nothing refused was stored, and that the service resumes by itself once
the fault is gone. Each prints a summary line ("chaos-storage ...") with its counts.
"""
import errno
import json
import os
import sqlite3
import subprocess
import sys
import threading
import time

import pytest

from conftest import MULETEER, alive, wait_for

pytestmark = pytest.mark.chaos

TERMINAL = ("ok", "error", "deleted")
STACK = ["--processes", "2", "--threads", "2", "--mules", "2", "--farm", "job-handlers:1,2"]


def post(s, tool_id, inputs=None, timeout=60):
    body = {"tool_id": tool_id, "inputs": inputs or {}}
    return s.request("POST", "/api/jobs", body=json.dumps(body), headers={"Content-Type": "application/json"},
                     timeout=timeout)


def job(s, jid):
    status, _, data = s.request("GET", "/api/jobs/%s" % jid, timeout=60)
    assert status == 200, (status, data)
    return json.loads(data)


def wait_terminal(s, ids, timeout=120):
    left = set(ids)

    def done():
        for jid in list(left):
            if job(s, jid)["state"] in TERMINAL:
                left.discard(jid)
        return not left
    wait_for(done, timeout, interval=0.2, what="jobs %s to end" % sorted(left, key=int)[:20])
    return {jid: job(s, jid) for jid in ids}


def check_refusal(status, headers, data, code, cause):
    """A refusal for a storage fault: the status, a small integer Retry-After, the API's JSON error body."""
    assert status == code, (status, data)
    retry = {k.lower(): v for k, v in headers.items()}.get("retry-after")
    assert retry is not None and retry.isdigit() and 0 < int(retry) <= 60, headers
    doc = json.loads(data)
    assert doc["err_code"] == code and cause in doc["err_msg"], doc


def db_rows(path):
    db = sqlite3.connect(path, timeout=30)
    try:
        ids = {str(r[0]) for r in db.execute("SELECT id FROM job")}
        integrity = db.execute("PRAGMA integrity_check").fetchall()
    finally:
        db.close()
    return ids, integrity


def no_respawns(s):
    procs = [p for p in s.stack()["processes"] if p["role"] in ("web", "mule")]
    assert all(p["state"] == "running" and p["respawns"] == 0 for p in procs), procs


# ---------------------------------------------------------------------------------------------------------
# 3. The database held locked by another process
# ---------------------------------------------------------------------------------------------------------

LOCKER = r"""
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=60)
db.execute(sys.argv[2])
print("locked", flush=True)
sys.stdin.readline()
db.execute("COMMIT")
print("released", flush=True)
"""


class Locker:
    """Another process holding a lock on the database until released."""

    def __init__(self, path, begin="BEGIN EXCLUSIVE"):
        self.proc = subprocess.Popen([sys.executable, "-c", LOCKER, path, begin], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout.readline().strip() == "locked"
        self.since = time.monotonic()
        self.until = None

    def release(self):
        self.until = time.monotonic()
        self.proc.stdin.write("release\n")
        self.proc.stdin.flush()
        assert self.proc.stdout.readline().strip() == "released"
        assert self.proc.wait(30) == 0

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


class Clients:
    """Threads posting short jobs and reading them back (one job, the list) until stopped."""

    def __init__(self, s, n=6):
        self.s = s
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.results = []  # (kind, status, headers, data, sent, answered)
        self.created = []
        self.errors = []
        self.threads = [threading.Thread(target=self.run, daemon=True) for _ in range(n)]
        for t in self.threads:
            t.start()

    def record(self, kind, fn):
        sent = time.monotonic()
        status, headers, data = fn()
        r = (kind, status, headers, data, sent, time.monotonic())
        with self.lock:
            self.results.append(r)
            if kind == "post" and status == 201:
                self.created.append(json.loads(data)["id"])
        return r

    def run(self):
        try:
            last = None
            while not self.stop.is_set():
                r = self.record("post", lambda: post(self.s, "sleep", {"seconds": 0.2}))
                if r[1] == 201:
                    last = json.loads(r[3])["id"]
                if last:
                    self.record("get", lambda: self.s.request("GET", "/api/jobs/%s" % last, timeout=60))
                self.record("list", lambda: self.s.request("GET", "/api/jobs?limit=5", timeout=60))
        except Exception as e:  # noqa: BLE001 -- reported by finish()
            self.errors.append(repr(e))

    def count(self, pred):
        with self.lock:
            return sum(1 for r in self.results if pred(r))

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(120)
        assert not any(t.is_alive() for t in self.threads), "a client hung"
        assert not self.errors, self.errors


def test_database_locked_by_another_process(servers, tmp_path):
    """A writer holds the write lock (BEGIN EXCLUSIVE, in WAL mode), and a reader holds a snapshot open all the
    while (the WAL cannot be checkpointed): first for less than the busy timeout -- requests wait and succeed
    --, then until a POST has been answered 503 -- refused with Retry-After, nothing stored for it. Afterwards
    every acknowledged job runs, and the service resumes by itself."""
    s = servers(STACK)
    path = str(tmp_path / "data" / "jobs.sqlite")
    reader = sqlite3.connect(path, isolation_level=None, timeout=30)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM job").fetchall()  # a snapshot: blocks checkpoints until it ends

    clients = Clients(s)
    lockers = []
    try:
        wait_for(lambda: len(clients.created) >= 10, 60, what="jobs before the lock")
        # Phase 1: shorter than the busy timeout (10 s): every write waits for the lock.
        short = Locker(path)
        lockers.append(short)
        time.sleep(7)  # the fault's duration, not an assertion
        short.release()
        n = len(clients.created)
        wait_for(lambda: len(clients.created) >= n + 10, 60, what="jobs after the short lock")
        # Phase 2: held until a POST has been refused.
        long_ = Locker(path)
        lockers.append(long_)
        wait_for(lambda: clients.count(lambda r: r[0] == "post" and r[1] == 503 and r[4] > long_.since), 120,
                 what="a POST refused while the lock is held")
        long_.release()
        n = len(clients.created)
        wait_for(lambda: len(clients.created) >= n + 10, 60, what="jobs after the long lock")
    finally:
        clients.stop.set()
        for lk in lockers:
            lk.kill()
        reader.execute("COMMIT")
        reader.close()
    clients.finish()

    results = list(clients.results)
    for kind, status, headers, data, sent, answered in results:
        if status in (503, 507):
            check_refusal(status, headers, data, 503, "database is busy")
        else:
            assert status == (201 if kind == "post" else 200), (kind, status, data)

    # A write in flight when the short lock was released had waited for it (unlocked, one takes milliseconds).
    waits = sum(1 for r in results if r[0] == "post" and r[1] == 201 and r[4] < short.until < r[5])
    assert waits >= 1, "no POST waited for the short lock"
    refused = [r for r in results if r[1] == 503]
    assert any(r[0] == "post" for r in refused)

    # Every acknowledged job ran; none was stored for a refusal; the handlers claim again.
    created = list(clients.created)
    states = wait_terminal(s, created)
    assert all(j["state"] == "ok" for j in states.values()), [j for j in states.values() if j["state"] != "ok"]
    status, _, data = post(s, "true")
    assert status == 201, data
    after = wait_terminal(s, [json.loads(data)["id"]])
    assert all(j["state"] == "ok" and j["handler"].startswith("main.job-handlers.") for j in after.values())
    ids, integrity = db_rows(path)
    assert ids == set(created) | set(after), "jobs in the database that no 201 acknowledged, or lost: %s" % (
        sorted(ids ^ (set(created) | set(after)), key=int))
    assert integrity == [("ok",)]
    no_respawns(s)
    # The log names the cause, once per web thread (4) for a fault this short, not once per refusal.
    busy_lines = [l for l in s.log().splitlines() if ": 503: " in l and "database is busy" in l]
    assert 1 <= len(busy_lines) <= 4, "\n".join(busy_lines)
    print("\nchaos-storage locked-db: requests=%d posts=%d created=%d waits=%d 503s=%d (posts %d, reads %d) "
          "jobs=%d lost=0 stored-after-503=0" % (
              len(results), sum(1 for r in results if r[0] == "post"), len(created), waits, len(refused),
              sum(1 for r in refused if r[0] == "post"), sum(1 for r in refused if r[0] != "post"), len(ids)))


# ---------------------------------------------------------------------------------------------------------
# 4. The data directory's filesystem full
# ---------------------------------------------------------------------------------------------------------

class Tmpfs:
    """A small tmpfs at path (root only), with a filler that takes its inodes and then its blocks."""

    def __init__(self, path, size="8m", inodes=400):
        self.path = str(path)
        os.makedirs(self.path, exist_ok=True)
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%s,nr_inodes=%d" % (size, inodes), "tmpfs",
                            self.path], capture_output=True, text=True)
        if r.returncode != 0:
            pytest.skip("cannot mount a tmpfs for the data directory (%s): %s" % (
                "not root" if os.geteuid() != 0 else "mount failed", r.stderr.strip()))
        self.fill_dir = os.path.join(self.path, "filler")
        os.mkdir(self.fill_dir)

    def fill_inodes(self):
        n = 0
        try:
            while True:
                open(os.path.join(self.fill_dir, "i%d" % n), "w").close()
                n += 1
        except OSError as e:
            assert e.errno == errno.ENOSPC, e
        return n

    def fill_blocks(self):
        """The blocks: one file grown until ENOSPC (created before the inodes run out). Returns blocks left."""
        fd = os.open(os.path.join(self.fill_dir, "i0"), os.O_WRONLY | os.O_APPEND)
        try:
            for chunk in (1 << 20, 1 << 16, 1 << 12, 1):
                try:
                    while True:
                        os.write(fd, b"\0" * chunk)
                except OSError as e:
                    assert e.errno == errno.ENOSPC, e
        finally:
            os.close(fd)
        return os.statvfs(self.path).f_bavail

    def empty(self):
        for name in os.listdir(self.fill_dir):
            os.unlink(os.path.join(self.fill_dir, name))

    def umount(self):
        subprocess.run(["umount", "-l", self.path])


def test_disk_full(servers, tmp_path):
    """The data directory (database and working directories) on a small tmpfs, filled while the stack runs:
    first its inodes (a job's working directory cannot be created), then its blocks (the database cannot
    grow). Requests are refused with 507 and Retry-After, jobs that cannot run end in error naming ENOSPC, the
    logs say it once, the database stays intact; once space returns the service resumes by itself. Then the
    stack is started on a full disk: it refuses, saying why."""
    data = tmp_path / "data"
    fs = Tmpfs(data)
    try:
        disk_full_scenario(servers, tmp_path, fs)
    finally:
        fs.umount()


LATE_WRITER = """id: late-writer
version: "1.0"
name: Write after a while
description: Sleeps, then writes to its output (which fails if the disk is full by then).
command: ["/bin/sh", "-c", "sleep 6; /bin/echo written"]
outputs:
  - name: out
    from: stdout
"""


def disk_full_scenario(servers, tmp_path, fs):
    path = str(tmp_path / "data" / "jobs.sqlite")
    tools = tmp_path / "tools"
    tools.mkdir()
    here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools")
    for name in ("true.yml", "echo.yml", "sleep.yml"):
        with open(os.path.join(here, name)) as f:
            (tools / name).write_text(f.read())
    (tools / "late-writer.yml").write_text(LATE_WRITER)
    stack = STACK + ["--set", "jobs.tools-dir=%s" % tools]
    s = servers(stack)
    created = []
    for _ in range(5):
        status, _, data = post(s, "echo", {"text": "before"})
        assert status == 201, data
        created.append(json.loads(data)["id"])
    before = wait_terminal(s, created)
    assert all(j["state"] == "ok" for j in before.values()), before

    # Jobs that will end while the disk is full: their results wait for space. One writes at its end.
    sleepers = []
    for tool, inputs in (("sleep", {"seconds": 6}), ("late-writer", {})):
        status, _, data = post(s, tool, inputs)
        assert status == 201, data
        sleepers.append(json.loads(data)["id"])
    created += sleepers
    pids = []
    for jid in sleepers:
        j = wait_for(lambda: (lambda j: j if j["state"] == "running" and j["external_id"] else None)(job(s, jid)),
                     30, what="job %s to run" % jid)
        pids.append(int(j["external_id"]))

    # Inodes gone, blocks left: the database writes, the working directory cannot be created.
    fs.fill_inodes()
    status, _, data = post(s, "echo", {"text": "no inode"})
    assert status == 201, data
    jid = json.loads(data)["id"]
    created.append(jid)
    j = wait_terminal(s, [jid])[jid]
    assert j["state"] == "error" and "No space left on device" in j["info"] and "working directory" in j["info"], j

    # Blocks gone too: POST until the database cannot grow (its WAL may have room for a few first).
    assert fs.fill_blocks() == 0
    t_full = time.monotonic()
    posts = refused = 0
    while True:
        status, headers, data = post(s, "echo", {"text": "full"})
        posts += 1
        if status == 201:
            created.append(json.loads(data)["id"])
        else:
            check_refusal(status, headers, data, 507, "disk is full")
            refused += 1
            break
        assert posts < 3000, "the database kept growing on a full disk"
    # The handlers meanwhile cannot write what their jobs did: it waits, and is logged once, not per turn.
    _, integrity = db_rows(path)
    assert integrity == [("ok",)], integrity
    for _ in range(10):  # more refusals while full: the same answer, no crash, no flood
        status, headers, data = post(s, "true")
        if status == 201:
            created.append(json.loads(data)["id"])
        else:
            check_refusal(status, headers, data, 507, "disk is full")
            refused += 1
        posts += 1
    status, _, data = s.request("GET", "/api/jobs?limit=5")
    assert status == 200, data  # reads go on
    # The sleepers end meanwhile; then a dozen poll turns of the handlers while full (the fault's duration).
    wait_for(lambda: not any(alive(p) for p in pids), 30, interval=0.2, what="the sleepers to end")
    time.sleep(3)
    full_for = time.monotonic() - t_full
    log = s.log()
    write_errors = [l for l in log.splitlines() if "cannot write job changes" in l]
    # Per handler process: the first failure, then at most one line a minute.
    assert len(write_errors) <= 2 * (1 + int(full_for // 60) + 1), "\n".join(write_errors)
    # The web threads' refusals: the first one logged with its cause, then one a minute (4 threads).
    refusals = [l for l in log.splitlines() if ": 507: " in l and "disk is full" in l]
    assert 1 <= len(refusals) <= 4 * (1 + int(full_for // 60) + 1), "\n".join(refusals)
    no_respawns(s)

    # Space returns: everything acknowledged ends, new jobs run, nothing refused was stored.
    fs.empty()
    states = wait_terminal(s, created)
    assert states[sleepers[0]]["state"] == "ok", states[sleepers[0]]
    late = states[sleepers[1]]
    assert late["state"] == "error" and late["exit_code"] != 0 and "filesystem is full (No space left on device)" in \
        late["info"], late
    for jid, j in states.items():
        assert j["state"] in ("ok", "error"), j
        if j["state"] == "error":
            assert "No space left on device" in (j["info"] or ""), j
    errors = sum(1 for j in states.values() if j["state"] == "error")
    status, _, data = post(s, "echo", {"text": "after"})
    assert status == 201, data
    jid = json.loads(data)["id"]
    created.append(jid)
    assert wait_terminal(s, [jid])[jid]["state"] == "ok"
    status, _, out = s.request("GET", "/api/jobs/%s/outputs/out" % jid)
    assert status == 200 and out == b"after\n"
    if write_errors:
        wait_for(lambda: "job changes written again" in s.log(), 30, what="the end of the failures logged")
    ids, integrity = db_rows(path)
    assert ids == set(created), sorted(ids ^ set(created), key=int)
    assert integrity == [("ok",)], integrity
    no_respawns(s)
    assert s.stop() == 0
    ids, integrity = db_rows(path)
    assert integrity == [("ok",)] and ids == set(created)
    print("\nchaos-storage disk-full: posts=%d created=%d 507s=%d jobs-in-error(ENOSPC)=%d write-error-lines=%d "
          "over %.0f s lost=0 stored-after-507=0 integrity=ok" % (
              posts + 9, len(created), refused, errors, len(write_errors), full_for))

    # Starting on a full disk: a clear error, no crash; then it starts once space returns.
    assert not os.path.exists(path + "-wal"), "the WAL outlived a clean stop"
    fs.fill_inodes()
    fs.fill_blocks()
    r = subprocess.run([MULETEER, "--http", "127.0.0.1:0"] + stack, capture_output=True, text=True,
                       cwd=str(tmp_path), timeout=60)
    assert r.returncode > 0, (r.returncode, r.stderr)
    assert "No space left on device" in r.stderr and "jobs.sqlite" in r.stderr, r.stderr
    assert "serving on" not in r.stderr and "[alert]" not in r.stderr, r.stderr
    fs.empty()
    s2 = servers(stack)
    status, _, data = post(s2, "true")
    assert status == 201, data
    assert wait_terminal(s2, [json.loads(data)["id"]])[json.loads(data)["id"]]["state"] == "ok"
    print("chaos-storage disk-full start: refused with: %s" % [l for l in r.stderr.splitlines()
                                                               if "No space" in l][0].strip())
