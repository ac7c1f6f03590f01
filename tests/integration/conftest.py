"""Integration test harness: runs the real muleteer binaries.

Each test starts the binary on 127.0.0.1 port 0 (the kernel picks a free
port; the master logs the real one) with a generated config in a temporary
directory, talks to it over real sockets, and stops it with real signals.
Every server started here is checked when the test ends: it must not have
died of a signal, printed a sanitizer report or logged at [alert] level,
and it must leave no child process behind.

The job database: SQLite in the test's directory by default. With
MULETEER_TEST_BACKEND=postgresql (`make integration-pg`), each test's stacks
share one fresh, empty PostgreSQL database instead, on a throwaway server
that this harness starts the first time a test needs it
(scripts/pg-server.sh, in a temporary directory) and stops when the session
ends. Tests that need PostgreSQL whatever the backend (several hosts on one
database) take the `pg` fixture. `Server.sql` queries a stack's database on
either backend.

Browser: tests that take the `browser` fixture drive a headless Chromium through Selenium (Debian's chromium,
chromium-driver, python3-selenium: scripts/install-deps.sh test), its console log kept; they are skipped, naming
the install command, where those are missing -- unless MULETEER_TEST_BROWSER=required, which makes that a failure.

Slurm: tests that take the `slurm` fixture get a real one-node Slurm cluster (munged, slurmctld, slurmd from
Debian's packages), which this harness starts the first time a test asks for it (scripts/slurm-cluster.sh, in a
short directory under /tmp) and stops, with every job process of it, when the session ends. They are marked
`slurm` (`make integration-slurm` runs them alone) and skipped, saying why, where Slurm is not installed or
cannot start -- unless MULETEER_TEST_SLURM=required (CI, `make integration-slurm`), which makes that a failure.
"""
import atexit
import http.client
import json
import os
import re
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

import pytest

BUILD = os.environ.get("MULETEER_BUILD") or os.path.join(os.path.dirname(__file__), "..", "..", "build")
BUILD = os.path.abspath(BUILD)
MULETEER = os.path.join(BUILD, "muleteer")
EXAMPLE = os.path.join(BUILD, "muleteer-example")
MULE_ECHO = os.path.join(BUILD, "mule-echo")
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PG_SERVER = os.path.join(ROOT, "scripts", "pg-server.sh")
BACKENDS = ("sqlite", "postgresql")


def backend_in_use():
    """The job database the `servers` fixture gives each test: MULETEER_TEST_BACKEND, sqlite by default."""
    b = os.environ.get("MULETEER_TEST_BACKEND", "") or "sqlite"
    if b not in BACKENDS:
        raise pytest.UsageError("MULETEER_TEST_BACKEND=%s: expected sqlite or postgresql" % b)
    return b


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "chaos: fault injection (SIGKILLs, locked database, full disk); run by `make chaos`, "
        "left out of `make integration`")
    config.addinivalue_line(
        "markers", "slurm: runs jobs on the test Slurm cluster (the `slurm` fixture; every test taking it is marked); "
        "`make integration-slurm` runs these alone")
    backend_in_use()


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "slurm" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slurm)


def pytest_report_header(config):
    return "muleteer job database: %s (MULETEER_TEST_BACKEND)" % backend_in_use()


def pytest_sessionfinish(session, exitstatus):
    PG.stop()
    SLURM.stop()


# -- the job database --------------------------------------------------------------------------------------------

DB_OPTIONS = ("--database", "--jobs.database")


def option_value(args, names, set_key):
    """The last value args give an option: `NAME V`, `NAME=V` or `--set KEY=V` (None when not given)."""
    value = None
    args = list(args)
    for i, a in enumerate(args):
        for n in names:
            if a == n and i + 1 < len(args):
                value = args[i + 1]
            elif a.startswith(n + "="):
                value = a[len(n) + 1:]
        if a == "--set" and i + 1 < len(args) and args[i + 1].startswith(set_key + "="):
            value = args[i + 1][len(set_key) + 1:]
    return value


def is_postgresql(database):
    """A PostgreSQL URL or libpq key=value connection string (as jobs.database takes them), not a SQLite path."""
    return bool(database) and (database.startswith(("postgresql://", "postgres://"))
                               or re.match(r"\s*\w+\s*=", database) is not None)


def sqlite_path(args, cwd):
    """Where a stack run with args in cwd keeps its SQLite database (the binary's rules: jobs.database, else
    DATA_DIR/jobs.sqlite with jobs.data-dir, default data)."""
    db = option_value(args, DB_OPTIONS, "jobs.database")
    if db:
        if db.startswith("sqlite://"):
            db = db[len("sqlite://"):]
        return os.path.join(str(cwd), db)
    data = option_value(args, ("--jobs.data-dir",), "jobs.data-dir") or "data"
    return os.path.join(str(cwd), data, "jobs.sqlite")


def psycopg2_module():
    try:
        import psycopg2
    except ImportError:
        pytest.fail("python3-psycopg2 is missing: the PostgreSQL tests need it (scripts/install-deps.sh test)")
    return psycopg2


def pg_placeholders(query):
    """A query written with sqlite3's `?` placeholders, for psycopg2: `?` outside quotes becomes %s, % becomes %%."""
    out, quote = [], None
    for c in query:
        if quote:
            if c == quote:
                quote = None
        elif c in "'\"":
            quote = c
        elif c == "?":
            out.append("%s")
            continue
        out.append("%%" if c == "%" else c)
    return "".join(out)


def run_sql(backend, target, query, params=()):
    """Run one statement on a SQLite file or a PostgreSQL URL; commit; return the rows as a list of tuples."""
    if backend == "sqlite":
        # mode=rw: a database that does not exist is an error here, not a new empty file
        db = sqlite3.connect("file:%s?mode=rw" % urllib.parse.quote(target), uri=True, timeout=10)
        try:
            rows = [tuple(r) for r in db.execute(query, tuple(params)).fetchall()]
            db.commit()
            return rows
        finally:
            db.close()
    psycopg2 = psycopg2_module()
    conn = psycopg2.connect(target, connect_timeout=10)
    try:
        with conn, conn.cursor() as cur:
            if params:
                cur.execute(pg_placeholders(query), tuple(params))
            else:
                cur.execute(query)
            return [tuple(r) for r in cur.fetchall()] if cur.description else []
    finally:
        conn.close()


def pid_alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


class PgServer:
    """The session's throwaway PostgreSQL server: started the first time a test asks for it, stopped at the end
    of the session (pytest_sessionfinish, and atexit should pytest be interrupted)."""

    PREFIX = "muleteer-pg-"

    def __init__(self):
        self.dir = None
        self.url_base = None  # postgresql://muleteer@127.0.0.1:PORT
        self.error = None

    @staticmethod
    def bindir():
        """The server binaries' directory, or None when PostgreSQL is not installed."""
        r = subprocess.run([PG_SERVER, "bindir"], capture_output=True, text=True)
        return r.stdout.strip() if r.returncode == 0 else None

    def ensure(self):
        if self.url_base:
            return self
        if self.error:
            pytest.fail(self.error, pytrace=False)
        if not self.bindir():
            self.error = ("the PostgreSQL server binaries are missing (%s): install the Debian package postgresql "
                          "(scripts/install-deps.sh test)" % subprocess.run(
                              [PG_SERVER, "bindir"], capture_output=True, text=True).stderr.strip())
            pytest.fail(self.error, pytrace=False)
        self.reap_orphans()
        # Under /tmp, not pytest's tmp_path: the server's user must reach it and pytest's base is root's, 0700.
        d = tempfile.mkdtemp(prefix=self.PREFIX, dir="/tmp")
        with open(os.path.join(d, "owner"), "w") as f:
            f.write("%d\n" % os.getpid())
        self.dir = d
        atexit.register(self.stop)
        interrupt_on_sigterm()
        r = subprocess.run([PG_SERVER, "start", d], capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            self.stop()
            self.error = "scripts/pg-server.sh start %s failed (exit %d):\n%s" % (d, r.returncode, r.stderr)
            pytest.fail(self.error, pytrace=False)
        url = r.stdout.strip().splitlines()[-1]
        assert url.endswith("/postgres"), r.stdout
        self.url_base = url[:-len("/postgres")]
        return self

    def stop(self):
        """Stop the server and remove its directory; nothing left running. Safe to call twice."""
        d, self.dir, self.url_base = self.dir, None, None
        if not d:
            return
        r = subprocess.run([PG_SERVER, "stop", d], capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            sys.stderr.write("scripts/pg-server.sh stop %s failed:\n%s" % (d, r.stderr))
            return
        shutil.rmtree(d, ignore_errors=True)

    @classmethod
    def reap_orphans(cls):
        """Stop the servers of earlier sessions that were killed before they could (their owner is gone)."""
        base = "/tmp"
        for name in os.listdir(base):
            d = os.path.join(base, name)
            if not name.startswith(cls.PREFIX) or not os.path.isdir(d):
                continue
            try:
                with open(os.path.join(d, "owner")) as f:
                    owner = int(f.read().strip())
            except (OSError, ValueError):
                continue
            if pid_alive(owner):
                continue
            if subprocess.run([PG_SERVER, "stop", d], capture_output=True, timeout=120).returncode == 0:
                shutil.rmtree(d, ignore_errors=True)

    def restart(self):
        """pg_ctl restart -m fast: every session is cut, the server comes back on the same port."""
        r = subprocess.run([PG_SERVER, "restart", self.dir], capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, "scripts/pg-server.sh restart %s failed:\n%s" % (self.dir, r.stderr)

    def url(self, dbname):
        return "%s/%s" % (self.url_base, dbname)

    def create_database(self):
        """A fresh, empty database: its URL."""
        self.ensure()
        name = "t_%d_%s" % (os.getpid(), secrets.token_hex(6))
        run_autocommit(self.url("postgres"), "CREATE DATABASE %s" % name)
        return self.url(name)

    def drop_database(self, url):
        if self.url_base and url.startswith(self.url_base + "/"):
            run_autocommit(self.url("postgres"), "DROP DATABASE IF EXISTS %s WITH (FORCE)" % url.rsplit("/", 1)[1])


def interrupt_on_sigterm():
    """A SIGTERM to pytest becomes a KeyboardInterrupt, as Ctrl-C: the session ends through its teardowns and
    pytest_sessionfinish, which stop the stacks and the PostgreSQL server, instead of leaving them behind."""
    def interrupt(signum, frame):
        raise KeyboardInterrupt("SIGTERM")
    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
        signal.signal(signal.SIGTERM, interrupt)


def run_autocommit(url, statement):
    """A statement that cannot run in a transaction (CREATE/DROP DATABASE)."""
    psycopg2 = psycopg2_module()
    conn = psycopg2.connect(url, connect_timeout=10)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(statement)
    finally:
        conn.close()


PG = PgServer()


class PgFixture(tuple):
    """What the `pg` fixture gives: (url_base, new_database); also .url_base, .new_database(), .restart() (the
    server, as `pg_ctl restart -m fast`) and .dir (the server's directory: its socket, data/ and server.log)."""

    def __new__(cls, server, created):
        def new_database():
            url = server.create_database()
            created.append(url)
            return url
        self = super().__new__(cls, (server.url_base, new_database))
        self.url_base, self.new_database, self.dir = server.url_base, new_database, server.dir
        self.restart = server.restart
        return self


@pytest.fixture
def pg():
    """PostgreSQL whatever MULETEER_TEST_BACKEND says: (url_base, new_database), new_database() returning the URL
    of a fresh, empty database (dropped when the test ends). Skips only when the server binaries are missing."""
    if not PgServer.bindir():
        pytest.skip("the PostgreSQL server binaries are missing: install the Debian package postgresql "
                    "(scripts/install-deps.sh test)")
    PG.ensure()
    created = []
    yield PgFixture(PG, created)
    for url in created:
        PG.drop_database(url)


class TestDatabase:
    """The job database of one test, shared by all its stacks: on PostgreSQL, created on first use."""

    __test__ = False

    def __init__(self):
        self.url = None

    def args(self):
        """What a muleteer command line needs to use this test's database ([] for SQLite: the default file)."""
        if backend_in_use() != "postgresql":
            return []
        if not self.url:
            self.url = PG.ensure().create_database()
        return ["--jobs.database", self.url]

    def close(self):
        if self.url:
            PG.drop_database(self.url)
            self.url = None


@pytest.fixture
def database():
    """This test's job database: database.args() gives the options that point a muleteer started by the test
    itself (not through `servers`) at the database its stacks share."""
    db = TestDatabase()
    yield db
    db.close()


# -- the Slurm cluster -------------------------------------------------------------------------------------------

SLURM_CLUSTER = os.path.join(ROOT, "scripts", "slurm-cluster.sh")
SLURM_INSTALL = ("install the Debian packages slurmctld slurmd slurm-client munge "
                 "(scripts/install-deps.sh test, or apt-get install slurmctld slurmd slurm-client munge)")
# Slurm's job states once a job is over (a job is PENDING, RUNNING, SUSPENDED or COMPLETING before)
SLURM_FINAL_STATES = ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL", "PREEMPTED",
                      "BOOT_FAIL", "DEADLINE")
SLURM_ACTIVE_STATES = "PENDING,RUNNING,SUSPENDED,COMPLETING,CONFIGURING,REQUEUED,RESIZING,SIGNALING,STAGE_OUT"
# `scontrol show job -o`: one line per job of KEY=VALUE pairs; a value may hold spaces (a path), never " KEY="
SCONTROL_PAIR = re.compile(r"(?:^|\s)([A-Za-z][\w/:]*)=(.*?)(?=\s[A-Za-z][\w/:]*=|\s*$)")


def slurm_minutes(text):
    """A Slurm duration ([D-]HH:MM:SS, MM:SS) in whole minutes (seconds rounded up, as Slurm does); None for
    UNLIMITED, INFINITE, NONE or N/A."""
    m = re.fullmatch(r"(?:(\d+)-)?(?:(\d+):)?(\d+):(\d+)", text or "")
    if not m:
        return None
    days, hours, minutes, seconds = (int(g) if g else 0 for g in m.groups())
    return days * 1440 + hours * 60 + minutes + (1 if seconds else 0)


def parse_scontrol_job(line):
    """One line of `scontrol show job -o` as a dict: the fields a test checks under plain names (id, name,
    state, reason, exit_code, signal, time_limit, time_limit_minutes, partition, command, work_dir, std_out,
    std_err, std_in, user, restarts, node_list, submit_time, start_time, end_time), and every field as Slurm
    names it under `raw`."""
    raw = {k: v for k, v in SCONTROL_PAIR.findall(line.strip())}
    code, _, sig = raw.get("ExitCode", "").partition(":")

    def null(v):
        return None if v in (None, "(null)", "", "N/A", "Unknown") else v
    return {
        "id": int(raw["JobId"]),
        "name": raw.get("JobName"),
        "state": raw.get("JobState"),
        "reason": null(raw.get("Reason")),
        "exit_code": int(code) if code.isdigit() else None,  # the batch script's exit status
        "signal": int(sig) if sig.isdigit() else None,       # the signal that ended it, 0 for none
        "time_limit": raw.get("TimeLimit"),                   # as Slurm shows it: 00:05:00, 1-00:00:00, UNLIMITED
        "time_limit_minutes": slurm_minutes(raw.get("TimeLimit")),
        "partition": raw.get("Partition"),
        "command": null(raw.get("Command")),                  # the batch script's path; None for sbatch --wrap
        "work_dir": null(raw.get("WorkDir")),
        "std_out": null(raw.get("StdOut")),
        "std_err": null(raw.get("StdErr")),
        "std_in": null(raw.get("StdIn")),
        "user": (raw.get("UserId") or "").split("(")[0] or None,
        "restarts": int(raw.get("Restarts") or 0),
        "node_list": null(raw.get("NodeList")),
        "submit_time": null(raw.get("SubmitTime")),
        "start_time": null(raw.get("StartTime")),
        "end_time": null(raw.get("EndTime")),
        "raw": raw,
    }


class SlurmCluster:
    """The session's one-node Slurm cluster (scripts/slurm-cluster.sh): started the first time a test asks for
    it, stopped at the end of the session (pytest_sessionfinish, and atexit should pytest be interrupted) with
    every process of it, its directory removed. A cluster left by a killed session is reaped by the next one
    (its directory names the pytest that owns it).

    What a test uses (the `slurm` fixture gives this object):
      .conf      the cluster's slurm.conf (SLURM_CONF); .env = {"SLURM_CONF": .conf}, for a server's environment
                 (servers(args, env=slurm.env)) so that its sbatch, squeue, scancel reach this cluster
      .dir       the cluster's directory: etc/slurm.conf, log/ (slurmctld.log, slurmd.log, jobcomp.txt), state/
      .jobcomp   log/jobcomp.txt: one line per finished job (JobId=... JobState=... ExitCode=...)
      .run(args) a Slurm command (sbatch, squeue, scontrol...) against the cluster: its stdout
      .jobs()    every job the cluster was given, oldest first, as parse_scontrol_job() dicts; .job(id) one
      .wait_job(id, states) a job's dict once its state is one of states (default: any final one)
      .sbatch_count() how many jobs the cluster has ever accepted
      .stop_ctld() / .start_ctld() stop slurmctld alone / start it again (same port, the jobs recovered)
      .cancel_all() scancel every job not yet over
    Partitions: `debug` (the default) and `batch`. The node has 64 CPUs (so 64 one-CPU jobs run at once),
    whatever the machine has. Time limits are whole minutes (Slurm's own rounding: --time=0:10 is 1 minute)."""

    PREFIX = "mt-slurm-"  # under /tmp: slurmd's Unix socket paths must stay short (scripts/slurm-cluster.sh)
    PROBE_NAME = "muleteer-test-probe"

    def __init__(self):
        self.dir = None
        self.conf = None
        self.jobcomp = None
        self.reason = None  # why the cluster cannot run here (the tests are skipped, or fail when required)
        self.ctld_stopped = False

    @property
    def env(self):
        return {"SLURM_CONF": self.conf}

    @staticmethod
    def required():
        return os.environ.get("MULETEER_TEST_SLURM", "") == "required"

    def unavailable(self, reason):
        self.reason = reason
        if self.required():
            pytest.fail(reason + "\n(MULETEER_TEST_SLURM=required: not skipped)", pytrace=False)
        pytest.skip(reason)

    def ensure(self):
        if self.conf:
            return self
        if self.reason:
            self.unavailable(self.reason)
        r = subprocess.run([SLURM_CLUSTER, "check"], capture_output=True, text=True, timeout=30)
        if r.returncode != 0:
            self.unavailable(r.stderr.strip().replace("slurm-cluster: ", "", 1) or
                             "scripts/slurm-cluster.sh check: exit %d; %s" % (r.returncode, SLURM_INSTALL))
        self.reap_orphans()
        d = tempfile.mkdtemp(prefix=self.PREFIX, dir="/tmp")
        with open(os.path.join(d, "owner"), "w") as f:
            f.write("%d\n" % os.getpid())
        self.dir = d
        atexit.register(self.stop)
        interrupt_on_sigterm()
        started = time.time()
        r = subprocess.run([SLURM_CLUSTER, "start", d], capture_output=True, text=True, timeout=120)
        last = (r.stdout.strip().splitlines() or [""])[-1]
        if r.returncode != 0 or not last.startswith("SLURM_CONF="):
            self.stop()
            self.unavailable("the test Slurm cluster did not start (scripts/slurm-cluster.sh start %s: exit %d):\n%s"
                             % (d, r.returncode, r.stderr.strip()))
        self.conf = last[len("SLURM_CONF="):]
        self.jobcomp = os.path.join(d, "log", "jobcomp.txt")
        # slurmctld schedules for the first time about 3 s after it starts: a probe job takes that wait here,
        # not in the first test's timings, and shows that jobs really run (a launch failure says so now)
        try:
            probe = self.run(["sbatch", "--parsable", "-J", self.PROBE_NAME, "-o", "/dev/null", "--wrap", "true"])
            job = self.wait_job(int(probe.split(";")[0]), timeout=60)
            if job["state"] != "COMPLETED":
                raise AssertionError("the probe job ended %s (%s)" % (job["state"], job["reason"]))
        except (AssertionError, subprocess.SubprocessError, ValueError) as e:
            detail = self.log_tails()
            self.stop()
            self.unavailable("the test Slurm cluster runs no job: %s\n%s" % (e, detail))
        sys.stderr.write("[test Slurm cluster in %s up in %.1fs]\n" % (d, time.time() - started))
        return self

    def log_tails(self):
        out = []
        for name in ("slurmctld.log", "slurmd.log"):
            try:
                with open(os.path.join(self.dir or "", "log", name)) as f:
                    out.append("---- last lines of %s\n%s" % (name, "".join(f.readlines()[-15:])))
            except OSError:
                pass
        return "\n".join(out)

    def stop(self):
        """Stop the cluster (every job cancelled, every process of it gone) and remove its directory. Safe to
        call twice."""
        d, self.dir, self.conf = self.dir, None, None
        if not d:
            return
        r = subprocess.run([SLURM_CLUSTER, "stop", d], capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            sys.stderr.write("scripts/slurm-cluster.sh stop %s failed (the directory is kept):\n%s" % (d, r.stderr))
            return
        shutil.rmtree(d, ignore_errors=True)

    @classmethod
    def reap_orphans(cls):
        """Stop the clusters of earlier sessions that were killed before they could (their owner is gone)."""
        for name in os.listdir("/tmp"):
            d = os.path.join("/tmp", name)
            if not name.startswith(cls.PREFIX) or not os.path.isdir(d):
                continue
            try:
                with open(os.path.join(d, "owner")) as f:
                    owner = int(f.read().strip())
            except (OSError, ValueError):
                continue
            if pid_alive(owner):
                continue
            if subprocess.run([SLURM_CLUSTER, "stop", d], capture_output=True, timeout=120).returncode == 0:
                shutil.rmtree(d, ignore_errors=True)

    # -- what tests use --
    def run(self, args, check=True, timeout=60):
        """Run a Slurm command against this cluster; its stdout. check=False: the CompletedProcess."""
        r = subprocess.run(list(args), capture_output=True, text=True, timeout=timeout,
                           env=dict(os.environ, SLURM_CONF=self.conf))
        if not check:
            return r
        assert r.returncode == 0, "%s: exit %d\n%s" % (" ".join(args), r.returncode, r.stderr)
        return r.stdout

    def jobs(self):
        """Every job slurmctld holds, oldest first: all it was given this session (MinJobAge is a day)."""
        out = self.run(["scontrol", "show", "job", "-o"])
        jobs = [parse_scontrol_job(l) for l in out.splitlines() if l.startswith("JobId=")]
        return sorted(jobs, key=lambda j: j["id"])

    def job(self, job_id):
        """One job's dict (parse_scontrol_job), None when slurmctld does not know it."""
        r = self.run(["scontrol", "show", "job", "-o", str(job_id)], check=False)
        if r.returncode != 0:
            assert "Invalid job id" in r.stderr, "scontrol show job %s: %s" % (job_id, r.stderr)
            return None
        lines = [l for l in r.stdout.splitlines() if l.startswith("JobId=")]
        return parse_scontrol_job(lines[0]) if lines else None

    def wait_job(self, job_id, states=SLURM_FINAL_STATES, timeout=30):
        """The job's dict once its state is one of states."""
        deadline = time.time() + timeout
        while True:
            job = self.job(job_id)
            if job and job["state"] in states:
                return job
            if time.time() > deadline:
                raise AssertionError("timed out after %.1fs waiting for Slurm job %s to be %s; it is %s" % (
                    timeout, job_id, "/".join(states), job and "%s (%s)" % (job["state"], job["reason"])))
            time.sleep(0.05)

    def sbatch_count(self):
        """How many jobs the cluster has ever accepted (the probe job of the start included): the number of job
        records slurmctld holds. Exact: with MinJobAge a day and MaxJobCount 100000 none is purged during a
        session, the records survive a restart of slurmctld (its state is saved), a rejected sbatch makes none,
        and a requeued job stays one record. Take differences: other tests share the cluster."""
        out = self.run(["squeue", "--states=all", "-h", "-o", "%i"])
        return len(set(out.split()))

    def cancel_all(self):
        """scancel every job not yet over; their ids."""
        ids = self.run(["squeue", "-h", "-t", SLURM_ACTIVE_STATES, "-o", "%i"]).split()
        if ids:
            self.run(["scancel"] + ids)
        return ids

    def stop_ctld(self):
        """Stop slurmctld alone: running jobs go on, sbatch and squeue fail until start_ctld()."""
        r = subprocess.run([SLURM_CLUSTER, "stop-ctld", self.dir], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, "scripts/slurm-cluster.sh stop-ctld %s failed:\n%s" % (self.dir, r.stderr)
        self.ctld_stopped = True

    def start_ctld(self):
        """Start slurmctld again (same port): it recovers its jobs; returns once the node takes jobs."""
        r = subprocess.run([SLURM_CLUSTER, "start-ctld", self.dir], capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, "scripts/slurm-cluster.sh start-ctld %s failed:\n%s" % (self.dir, r.stderr)
        self.ctld_stopped = False


SLURM = SlurmCluster()


@pytest.fixture(scope="session")
def slurm():
    """The session's Slurm cluster (SlurmCluster): .conf, .env, .dir, .jobs(), .sbatch_count(), .stop_ctld()...
    Skipped, saying why, where Slurm is not installed or cannot start (failed with MULETEER_TEST_SLURM=required)."""
    yield SLURM.ensure()
    SLURM.stop()


@pytest.fixture(autouse=True)
def slurm_after_test(request):
    """After a test that used the cluster: a slurmctld it left stopped is started again, and its jobs still
    pending or running are cancelled, so that the next test finds a working cluster with its CPUs free."""
    yield
    if "slurm" not in request.fixturenames or not SLURM.conf:
        return
    if SLURM.ctld_stopped:
        SLURM.start_ctld()
    SLURM.cancel_all()


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
        named = option_value(self.args, DB_OPTIONS, "jobs.database")
        self.db_backend = "postgresql" if is_postgresql(named) else "sqlite"
        self.db_url = named if self.db_backend == "postgresql" else None
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

    # -- the job database --
    def sql(self, query, params=()):
        """Run one statement on this stack's job database, SQLite or PostgreSQL, and commit; the rows as a list of
        tuples. Write `?` placeholders (turned into %s for psycopg2), and "user" quoted."""
        if self.db_backend == "postgresql":
            return run_sql("postgresql", self.db_url, query, params)
        return run_sql("sqlite", sqlite_path(self.args, self.tmp), query, params)

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


def sqlite_files(top):
    """The SQLite job databases under a directory."""
    return [os.path.join(d, f) for d, _, files in os.walk(str(top)) for f in files if f == "jobs.sqlite"]


def names_database(args):
    return any(a in DB_OPTIONS or a.startswith(tuple(o + "=" for o in DB_OPTIONS)) or a.startswith("jobs.database=")
               for a in args)


@pytest.fixture
def servers(tmp_path, database):
    """Factory: servers(args, binary=MULETEER, env=None, start=True). Checked and stopped at teardown.
    On PostgreSQL, every muleteer of the test gets the test's database unless its args name one."""
    started = []

    def make(args, binary=MULETEER, env=None, start=True):
        args = list(args)
        if binary == MULETEER and not names_database(args):
            args += database.args()
        s = Server(tmp_path, binary, args, env)
        started.append(s)
        if start:
            s.start()
        return s

    yield make
    # Every server is stopped before any is judged: a failed check must not leave the others running.
    failures = []
    for s in started:
        if s.proc is None:
            continue
        try:
            if s.proc.poll() is None:
                rc = s.stop()
                assert rc == s.expect_status, "exit status %s, expected %s\n%s" % (rc, s.expect_status, s.log())
            rc = s.proc.returncode
            assert rc is None or rc >= 0 or -rc == s.expect_signal, "master died of signal %d\n%s" % (-rc, s.log())
            s.check_log()
        except AssertionError as e:
            failures.append(e)
    if failures:
        raise failures[0]
    if database.url and not any(s.db_backend == "sqlite" and s.binary == MULETEER for s in started):
        stray = sqlite_files(tmp_path)
        assert not stray, ("a muleteer of this test kept its jobs in SQLite (%s) although its stacks are on "
                           "PostgreSQL: one started outside `servers` needs database.args()" % ", ".join(stray))


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return str(p)


# ---- the browser -------------------------------------------------------------------------------------------

BROWSER_INSTALL = "scripts/install-deps.sh test (apt-get install chromium chromium-driver python3-selenium)"


class Browser:
    """A headless Chromium (Selenium's webdriver in .driver) and what a test checks of it.

    get(server, path) opens a page of a stack; console() gives every console entry so far (kept across calls:
    the driver hands each out once); assert_no_console_errors() fails on any SEVERE entry; screenshot(name, width)
    saves NAME-WIDTHxHEIGHT.png in the test's tmp_path (and docs/NAME.png with docs=True) and returns its path."""

    def __init__(self, driver, tmp_path):
        self.driver = driver
        self.tmp = tmp_path
        self._log = []

    def get(self, server, path="/"):
        self.driver.get("http://127.0.0.1:%d%s" % (server.port, path))
        return self.driver

    def console(self):
        self._log.extend(self.driver.get_log("browser"))
        return list(self._log)

    def assert_no_console_errors(self, ignore=()):
        """No SEVERE entry in the console log, but those whose message matches one of the `ignore` regexes."""
        severe = [e for e in self.console() if e.get("level") == "SEVERE"
                  and not any(re.search(pattern, e.get("message", "")) for pattern in ignore)]
        assert not severe, "errors in the browser console:\n" + "\n".join(e["message"] for e in severe)

    def wait(self, pred, timeout=10.0, what="the page"):
        """Wait until pred(driver) is truthy; its value."""
        return wait_for(lambda: pred(self.driver), timeout, 0.05, what)

    def screenshot(self, name, width, height=800, docs=False):
        """The page as a person sees it at width x height (a phone's viewport below 600 px), saved as PNG."""
        self.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
            "width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600})
        try:
            time.sleep(0.2)  # the layout at the new width
            path = os.path.join(str(self.tmp), "%s-%dx%d.png" % (name, width, height))
            assert self.driver.save_screenshot(path), "the screenshot %s was not saved" % path
            if docs:
                shutil.copyfile(path, os.path.join(ROOT, "docs", name + ".png"))
            return path
        finally:
            self.driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def browser_missing():
    """Why no browser can be started here (None if one can)."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "python3-selenium is not installed"
    for name in ("chromium", "chromedriver"):
        if not shutil.which(name):
            return "%s is not installed" % name
    return None


@pytest.fixture
def browser(tmp_path):
    """A headless Chromium at 1280x800 (Browser above); quit at teardown."""
    why = browser_missing()
    if why:
        if os.environ.get("MULETEER_TEST_BROWSER") == "required":
            pytest.fail("MULETEER_TEST_BROWSER=required but %s; install: %s" % (why, BROWSER_INSTALL))
        pytest.skip("%s; install: %s" % (why, BROWSER_INSTALL))
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    # --no-sandbox: the tests run as root, where Chromium's sandbox refuses to start.
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,800",
                "--disable-dev-shm-usage", "--no-first-run", "--disable-extensions",
                "--user-data-dir=" + str(tmp_path / "chromium-profile")):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(executable_path=shutil.which("chromedriver"), log_path=str(tmp_path / "chromedriver.log"))
    driver = webdriver.Chrome(service=service, options=options)
    driver.set_page_load_timeout(30)
    try:
        yield Browser(driver, tmp_path)
    finally:
        driver.quit()
