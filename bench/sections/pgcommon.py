"""What the PostgreSQL sections share: a throwaway server, fresh databases, stacks as "hosts", process trees.

The server is scripts/pg-server.sh's (initdb in a temporary directory under
/tmp, a free port, run as an unprivileged user when the bench runs as root),
started by each section and stopped at its end. pg-server.sh sets it up for
tests, with fsync and synchronous_commit off; the benchmarks turn both back
on (and full_page_writes), so that a PostgreSQL figure is taken at the
durability of the SQLite figure beside it (accept-sync=full: a job accepted
survives a power loss). The server's CPU is read from /proc: the postmaster
and its children (the backends), which are not muleteer's descendants and so
not in jobs_load.py's --server-pid figure.

Several hosts are several stacks on this machine with different
--server-name and the same jobs.database URL, as in the integration tests.
"""
import importlib.util
import os
import shutil
import signal
import subprocess
import tempfile
import time

from sections.common import BUILD, ROOT, free_port, say, wait_http

PG_SERVER = os.path.join(ROOT, "scripts", "pg-server.sh")
SKIP_LOOP = "handling:\n  assign: [db-skip-locked]\n"


def missing():
    """Why the PostgreSQL sections cannot run here (None when they can)."""
    r = subprocess.run(["sh", PG_SERVER, "bindir"], capture_output=True, text=True)
    if r.returncode != 0:
        return "skipped: the PostgreSQL server binaries are missing (%s); install the Debian package postgresql " \
               "(scripts/install-deps.sh bench)" % (r.stderr.strip() or "pg-server.sh bindir failed")
    if importlib.util.find_spec("psycopg2") is None:
        return "skipped: python3-psycopg2 is missing (scripts/install-deps.sh bench)"
    return None


class PgServer:
    """One throwaway PostgreSQL server; use as a context manager (stopped and removed at exit)."""

    def __enter__(self):
        # Under /tmp itself: the server's user must be able to reach the directory, and the bench's
        # own temporary directory is root's alone (0700).
        self.dir = tempfile.mkdtemp(prefix="muleteer-bench-pg-", dir="/tmp")
        r = subprocess.run(["sh", PG_SERVER, "start", self.dir], capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            shutil.rmtree(self.dir, ignore_errors=True)
            raise RuntimeError("scripts/pg-server.sh start failed:\n" + r.stderr)
        url = r.stdout.strip().splitlines()[-1]
        self.base = url[:-len("/postgres")]
        self.count = 0
        c = self.connect("postgres")
        cur = c.cursor()
        for setting in ("fsync = on", "synchronous_commit = on", "full_page_writes = on"):
            cur.execute("ALTER SYSTEM SET " + setting)
        cur.execute("SELECT pg_reload_conf()")
        time.sleep(0.2)
        cur.execute("SHOW fsync")
        fsync = cur.fetchone()[0]
        cur.execute("SHOW synchronous_commit")
        sync = cur.fetchone()[0]
        c.close()
        if (fsync, sync) != ("on", "on"):
            raise RuntimeError("the bench server kept fsync=%s synchronous_commit=%s" % (fsync, sync))
        say("PostgreSQL %s in %s (fsync on, synchronous_commit on)" % (self.version(), self.dir))
        return self

    def __exit__(self, *exc):
        r = subprocess.run(["sh", PG_SERVER, "stop", self.dir], capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            say("scripts/pg-server.sh stop %s failed: %s" % (self.dir, r.stderr.strip()))
        else:
            shutil.rmtree(self.dir, ignore_errors=True)
        return False

    def version(self):
        c = self.connect("postgres")
        cur = c.cursor()
        cur.execute("SHOW server_version")
        v = cur.fetchone()[0]
        c.close()
        return v

    def connect(self, dbname):
        import psycopg2
        c = psycopg2.connect("%s/%s" % (self.base, dbname), connect_timeout=10)
        c.autocommit = True
        return c

    def new_database(self, prefix="bench"):
        """A fresh, empty database: its URL."""
        self.count += 1
        name = "%s_%d" % (prefix, self.count)
        c = self.connect("postgres")
        c.cursor().execute("CREATE DATABASE %s" % name)
        c.close()
        return "%s/%s" % (self.base, name), name

    def transactions(self, dbname):
        """Transactions committed or rolled back in dbname so far (pg_stat_database, as the server last reported)."""
        c = self.connect(dbname)
        cur = c.cursor()
        cur.execute("SELECT pg_stat_clear_snapshot()")
        cur.execute("SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = %s", (dbname,))
        v = cur.fetchone()[0]
        c.close()
        return v

    def cpu_seconds(self):
        """User+system CPU the server has used so far: the postmaster and its children (backends, writers)."""
        try:
            with open(os.path.join(self.dir, "data", "postmaster.pid")) as f:
                root = int(f.readline())
        except (OSError, ValueError):
            return 0.0
        return tree_cpu(root)


# ---------------------------------------------------------------- processes

def proc_table():
    """{pid: (ppid, sid, utime+stime ticks)} of every process."""
    out = {}
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % p) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[int(p)] = (int(fields[1]), int(fields[3]), int(fields[11]) + int(fields[12]))
    return out


def descendants(root, table=None):
    """root and every process below it (whatever session it is in)."""
    table = table or proc_table()
    kids = {}
    for pid, (ppid, _, _) in table.items():
        kids.setdefault(ppid, []).append(pid)
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        if p in table:
            out.append(p)
        todo += kids.get(p, [])
    return out


def tree_cpu(root):
    table = proc_table()
    return sum(table[p][2] for p in descendants(root, table)) / os.sysconf("SC_CLK_TCK")


def kill_tree(root):
    """SIGKILL root and everything below it at once (a host dying: handler, waiters, commands). The pids."""
    pids = descendants(root)
    for p in pids:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return pids


def stop_proc(proc, timeout=20):
    """SIGTERM, wait; SIGKILL if it does not end."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def reap_tree(pids, timeout=10):
    """Wait until none of pids is alive (SIGKILLed processes of ours that another parent reaps)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if not any(os.path.exists("/proc/%d" % p) and not zombie(p) for p in pids):
            return True
        time.sleep(0.02)
    return False


def zombie(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


# ---------------------------------------------------------------- stacks

def write_conf(d, name, text):
    path = os.path.join(d, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def start_stack(args, log, http=True, binary="muleteer"):
    """A muleteer stack (or, with http=False, a standalone handler) in a session of its own.

    Returns (proc, port or None); its output goes to the file log."""
    port = free_port() if http else None
    cmd = [os.path.join(BUILD, binary)] + (["--http", "127.0.0.1:%d" % port] if http else []) + list(args)
    with open(log, "ab") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    if http:
        try:
            wait_http(port, "/api/health")
        except RuntimeError:
            stop_proc(proc)
            raise RuntimeError("%s did not answer; its log:\n%s" % (" ".join(cmd), tail(log)))
    return proc, port


def tail(path, n=30):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError:
        return ""


def wait_until(what, fn, timeout, every=0.02):
    deadline = time.time() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.time() > deadline:
            raise RuntimeError("timed out after %.0f s waiting for %s" % (timeout, what))
        time.sleep(every)
