"""Several hosts on one PostgreSQL database: stacks that share their jobs, die, hang or lose their network.

Each "host" is a stack of its own (--server-name hostA, hostB, ...) with its own data directory, in a UTS
namespace of its own so that its handlers register under a host name of their own (unshare --uts; the pid stays
the master's): a handler taking over another host's jobs cannot reach that host's processes, as on real machines,
and must rely on the fence and the epoch. All of them use one PostgreSQL database (the `pg` fixture, whatever
MULETEER_TEST_BACKEND says) with short leases (jobs.handler-lease 2 s) to keep the tests short.

Tools append their job's id to one file when their work is done, so the file shows how often each job's command
finished. Each test prints one line (HOSTS ...) with its figures.
"""
import http.client
import json
import os
import re
import signal
import subprocess
import threading
import time
import urllib.parse

import pytest

from conftest import MULETEER, alive, run_sql, wait_for, write
from tcp_proxy import TcpProxy

TERMINAL = ("ok", "error", "deleted")
LEASE = 2  # seconds: jobs.handler-lease of every stack here
SKIP_LOCKED = "handling:\n  assign: [db-skip-locked]\n"


# -- hosts ------------------------------------------------------------------------------------------------------

def host_binary(tmp_path):
    """A wrapper that runs muleteer in a UTS namespace named $TEST_HOST (exec all the way: same pid)."""
    path = tmp_path / "on-host"
    if not path.exists():
        r = subprocess.run(["unshare", "--uts", "true"], capture_output=True, text=True)
        if r.returncode != 0:
            pytest.fail("these tests give each stack a host name of its own with `unshare --uts`, which needs root "
                        "(CAP_SYS_ADMIN): %s" % r.stderr.strip(), pytrace=False)
        path.write_text('#!/bin/sh\nexec unshare --uts /bin/sh -c \'hostname "$0" && exec %s "$@"\' '
                        '"$TEST_HOST" "$@"\n' % MULETEER)
        path.chmod(0o755)
    return str(path)


def tool(tmp_path, name, script):
    """A tools-dir tool whose command is `sh -c script` ($MULETEER_JOB_ID is the job's id)."""
    tools = tmp_path / "tools"
    tools.mkdir(exist_ok=True)
    write(tools, name + ".yml", json.dumps({"id": name, "version": "1.0", "name": name,
                                            "command": ["/bin/sh", "-c", script]}))
    return str(tools)


STARTED = []  # the Hosts of the running test


@pytest.fixture(autouse=True)
def keep_logs(tmp_path):
    """Each stack's log is left in the test's directory (log-HOST.txt), to read after a failure."""
    STARTED.clear()
    yield
    for hosts in STARTED:
        for name, s in hosts.stacks.items():
            with open(str(tmp_path / ("log-%s.txt" % name)), "w") as f:
                f.write(s.log())
    STARTED.clear()


class Hosts:
    """Stacks sharing one database, and the file their jobs append to."""

    def __init__(self, servers, tmp_path, url, script, job_conf=SKIP_LOCKED, lease=LEASE, workers=4):
        STARTED.append(self)
        self.servers, self.tmp, self.url, self.lease = servers, tmp_path, url, lease
        self.out = str(tmp_path / "ids.txt")
        self.tools = tool(tmp_path, "work", script.replace("OUT", self.out))
        self.conf = write(tmp_path, "job_conf.yml", job_conf) if job_conf else None
        self.workers = workers
        self.env = {}  # added to every stack's environment (the Slurm cluster's SLURM_CONF, say)
        self.stacks = {}

    def data_dir(self, name):
        return os.path.realpath(str(self.tmp / ("data-" + name)))

    def start(self, name, url=None, more=()):
        os.makedirs(self.data_dir(name), exist_ok=True)
        args = ["--server-name", name, "--processes", "1", "--threads", "4", "--mules", "2",
                "--farm", "job-handlers:1,2", "--jobs.database", url or self.url,
                "--jobs.handler-lease", str(self.lease), "--set", "jobs.tools-dir=%s" % self.tools,
                "--set", "jobs.data-dir=%s" % self.data_dir(name), "--set", "jobs.cancel-grace=1",
                "--set", "jobs.workers=%d" % self.workers] + list(more)
        if self.conf:
            args += ["--set", "jobs.job-config=%s" % self.conf]
        s = self.servers(args, binary=host_binary(self.tmp), env=dict(self.env, TEST_HOST=name))
        s.host = name
        self.stacks[name] = s
        return s

    def sql(self, query, params=()):
        return run_sql("postgresql", self.url, query, params)

    def states(self):
        return {str(i): st for i, st in self.sql("SELECT id, state FROM job")}

    def counts(self):
        counts = {}
        if os.path.exists(self.out):
            with open(self.out) as f:
                for jid in f.read().split():
                    counts[jid] = counts.get(jid, 0) + 1
        return counts

    def all_ended(self, ids, timeout):
        def ended():
            st = self.states()
            return st if all(st.get(i) in TERMINAL for i in ids) else None
        return wait_for(ended, timeout, interval=0.25,
                        what="every job to end: %s" % {i: s for i, s in self.states().items() if s not in TERMINAL})

    def handlers(self):
        """{name: (state, epoch, lease_until as seconds since the epoch, host, pid)} from the handler table."""
        return {n: (st, e, lu / 1e6, h, p)
                for n, st, e, lu, h, p in self.sql("SELECT name, state, epoch, lease_until, host, pid FROM handler")}

    def check_once(self, ids, states=None, crashed=()):
        """Each job ok, its command finished exactly once; nothing else finished. A job in crashed (running on a
        host when it crashed) may have finished twice only if the crash came between its command's work and the
        record of its end, so that it was run again: its attempt 1 lost with no result (history), then its attempt
        2. Returns those jobs."""
        states = states or self.states()
        counts = self.counts()
        cut = {str(i) for i, in self.sql("SELECT job_id FROM job_state_history WHERE info LIKE 'attempt 2: its handler "
                                         "% was lost while attempt 1 ran%'")}
        repeated = [i for i in ids if counts.get(i, 0) == 2 and i in crashed and i in cut]
        for i in repeated:
            counts[i] = 1
        bad = {i: states.get(i) for i in ids if states.get(i) != "ok"}
        assert not bad, "jobs not ok: %s\n%s" % (dict(list(bad.items())[:20]), self.sql(
            "SELECT job_id, state, handler, info FROM job_state_history WHERE job_id IN (%s) ORDER BY job_id, id"
            % ",".join(list(bad)[:3])) if bad else "")
        twice = {i: counts.get(i, 0) for i in ids if counts.get(i, 0) != 1}
        assert not twice, "jobs whose command did not finish exactly once: %s\n%s" % (
            dict(list(twice.items())[:20]), self.sql(
                "SELECT job_id, state, time, handler, info FROM job_state_history WHERE job_id IN (%s) "
                "ORDER BY job_id, id" % ",".join(list(twice)[:3])) if twice else "")
        assert set(counts) <= set(states), "a command finished for no job: %s" % (set(counts) - set(states))
        return repeated


def post(s, timeout=30):
    """POST one job of the tool `work`: (status, headers, doc), status None when the connection failed."""
    try:
        status, headers, data = s.request("POST", "/api/jobs", body=json.dumps({"tool_id": "work"}),
                                          headers={"Content-Type": "application/json"}, timeout=timeout)
    except (OSError, http.client.HTTPException) as e:
        return None, {}, e
    try:
        return status, headers, json.loads(data)
    except ValueError:
        return status, headers, data


class Burst:
    """n jobs POSTed from `clients` threads spread over the stacks' HTTP ports. A POST that fails (503, a dead
    stack) is tried again on the next stack; every answer is recorded."""

    def __init__(self, stacks, n, clients=16, pace=0.0):
        self.stacks, self.n, self.pace = list(stacks), n, pace
        self.acked, self.answers, self.lock = [], [], threading.Lock()
        self.todo = n
        self.dead = set()  # stacks not to post to any more
        self.threads = [threading.Thread(target=self._client, args=(k,), daemon=True) for k in range(clients)]

    def start(self):
        self.t0 = time.time()
        for t in self.threads:
            t.start()
        return self

    def join(self, timeout=600):
        for t in self.threads:
            t.join(timeout)
        assert not any(t.is_alive() for t in self.threads), "the clients did not finish"
        self.took = time.time() - self.t0
        return self

    def _client(self, k):
        turn = k
        while True:
            with self.lock:
                if self.todo == 0:
                    return
                self.todo -= 1
            for _ in range(2000):
                s = self.stacks[turn % len(self.stacks)]
                turn += 1
                if s in self.dead:
                    continue
                t = time.time()
                status, headers, doc = post(s)
                with self.lock:
                    self.answers.append((t, time.time(), s.host, status, headers, doc))
                if status == 201:
                    with self.lock:
                        self.acked.append(str(doc["id"]))
                    break
                time.sleep(0.05)
            else:
                raise AssertionError("no stack took a job in 2000 tries")
            if self.pace:
                time.sleep(self.pace)


# -- processes of a host ----------------------------------------------------------------------------------------

def environ_of(pid):
    try:
        with open("/proc/%d/environ" % pid, "rb") as f:
            return f.read().split(b"\0")
    except OSError:
        return []


def cmdline_of(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().split(b"\0")
    except OSError:
        return []


def pids():
    return [int(d) for d in os.listdir("/proc") if d.isdigit()]


def descendants(root):
    parent = {}
    for p in pids():
        try:
            with open("/proc/%d/stat" % p) as f:
                parent[p] = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            pass
    tree, todo = [], [root]
    while todo:
        p = todo.pop()
        tree.append(p)
        todo.extend(c for c, pp in parent.items() if pp == p)
    return [p for p in tree if alive(p)]


def commands_of(data_dir):
    """{pid: job id} of the live processes of jobs run under data_dir (by their MULETEER_JOB_DIR) on this host. A
    cluster job's processes (SLURM_JOB_ID in their environment) run on the cluster's nodes, which a host's crash
    does not take: they are not the host's."""
    prefix = ("MULETEER_JOB_DIR=" + os.path.join(data_dir, "jobs") + "/").encode()
    found = {}
    for p in pids():
        env = environ_of(p)
        if any(e.startswith(b"SLURM_JOB_ID=") for e in env):
            continue
        for e in env:
            if e.startswith(prefix) and alive(p):
                found[p] = e[len(prefix):].split(b"/")[0].decode()
    return found


def waiters_of(data_dir):
    """Live muleteer-waiter processes of runs under data_dir (their command line names the job's directory)."""
    prefix = (os.path.join(data_dir, "jobs") + "/").encode()
    out = []
    for p in pids():
        argv = cmdline_of(p)
        if argv and argv[0].endswith(b"/muleteer-waiter") and len(argv) > 2 and argv[2].startswith(prefix) \
                and alive(p):
            out.append(p)
    return out


def every_process_of(hosts, name):
    """The stack's master and descendants, its waiters and its commands (which may have left both)."""
    s, d = hosts.stacks[name], hosts.data_dir(name)
    found = set(descendants(s.proc.pid)) | set(waiters_of(d)) | set(commands_of(d))
    stack_id = ("MULETEER_STACK_ID=%d-" % s.proc.pid).encode()
    found |= {p for p in pids() if any(e.startswith(stack_id) for e in environ_of(p)) and alive(p)}
    return found


def signal_all(pids_, sig):
    for p in pids_:
        try:
            os.kill(p, sig)
        except ProcessLookupError:
            pass


def freeze(hosts, name):
    """SIGSTOP every process of the stack, looking again until no new one shows (a stopped process starts none,
    but one may have been started while the last look ran). Returns the set stopped."""
    stopped = set()
    for _ in range(50):
        found = every_process_of(hosts, name) - stopped
        if not found:
            return stopped
        signal_all(found, signal.SIGSTOP)
        stopped |= found
    raise AssertionError("%s kept starting processes" % name)


def crash(hosts, name):
    """A machine crash: every process of the stack frozen, then all killed at once. Returns the time."""
    s = hosts.stacks[name]
    signal_all(freeze(hosts, name), signal.SIGKILL)
    t = time.time()
    s.proc.wait(10)
    s.expect_signal = signal.SIGKILL
    wait_for(lambda: not every_process_of(hosts, name), 10, what="every process of %s to end" % name)
    return t


def api_handlers(s):
    status, doc = s.get_json("/api/handlers")
    assert status == 200, doc
    return {h["server_name"]: h for h in doc["handlers"]}


def HANDLER_NAMES(host):
    """The names of a host's two mules, the handlers of its farm job-handlers."""
    return {"%s.job-handlers.1" % host, "%s.job-handlers.2" % host}


# ---------------------------------------------------------------------------------------------------------------
# 1. Three hosts, one database: every job ok exactly once
# ---------------------------------------------------------------------------------------------------------------

N_BURST = int(os.environ.get("HOSTS_JOBS", "600"))


@pytest.mark.parametrize("assign", ["db-skip-locked", "mule-message"])
def test_three_hosts_share_a_burst_each_job_ok_exactly_once(pg, servers, tmp_path, assign):
    """3 stacks x 2 mules on one database; N jobs (600 here, HOSTS_JOBS=5000 for the issue's figure; `make
    bench` has the big burst) from 16 clients spread over the 3 stacks. db-skip-locked: any host's handler takes
    any job; mule-message (the default): each web worker hands its jobs to its own host's farm, and they run there."""
    url = pg.new_database()
    hosts = Hosts(servers, tmp_path, url, 'echo "$MULETEER_JOB_ID" >> OUT',
                  job_conf=SKIP_LOCKED if assign == "db-skip-locked" else None)
    # mule-message: the sweeper (any host's) takes a job its farm left unclaimed for sweep-delay; under this burst
    # a farm's queue can hold a job longer than the default 300 ms, so give it 20 s to see where each job runs.
    more = ["--set", "jobs.sweep-delay=20000"] if assign == "mule-message" else []
    for name in ("hostA", "hostB", "hostC"):
        hosts.start(name, more=more)
    # every host's handlers are registered, each on its own host
    expected = set().union(*(HANDLER_NAMES(h) for h in hosts.stacks))
    table = wait_for(lambda: (lambda t: t if expected <= set(t) else None)(hosts.handlers()), 20,
                     what="every host's handlers to register")
    assert {n: (v[0], v[3]) for n, v in table.items() if n in expected} == \
        {n: ("running", n.split(".")[0]) for n in expected}, table
    burst = Burst(hosts.stacks.values(), N_BURST).start().join()
    t0 = time.time()
    states = hosts.all_ended(burst.acked, 300)
    assert len(set(burst.acked)) == N_BURST
    hosts.check_once(burst.acked, states)
    by_handler = dict(hosts.sql("SELECT split_part(handler, '.', 1), COUNT(*) FROM job GROUP BY 1"))
    assert set(by_handler) == {"hostA", "hostB", "hostC"}, "every host ran jobs: %s" % by_handler
    if assign == "mule-message":
        # each job ran on the host that took it in
        posted_to = {str(doc["id"]): host for _, _, host, status, _, doc in burst.answers if status == 201}
        ran_on = {str(i): h.split(".")[0] for i, h in hosts.sql("SELECT id, handler FROM job")}
        moved = {i: (posted_to[i], ran_on.get(i)) for i in posted_to if ran_on.get(i) != posted_to[i]}
        assert not moved, "jobs run on another host than the one that took them in: %s\n%s" % (
            moved, hosts.sql("SELECT job_id, state, handler, info FROM job_state_history WHERE job_id IN (%s) "
                             "ORDER BY id" % ",".join(list(moved)[:5])))
    not201 = [a[3] for a in burst.answers if a[3] != 201]
    print("\nHOSTS burst[%s]: jobs=%d clients=16 hosts=3x2 mules posted-in=%.1fs all-ended=%.1fs later "
          "per-host=%s not-201=%d" % (assign, N_BURST, burst.took, time.time() - t0, by_handler, len(not201)))


# ---------------------------------------------------------------------------------------------------------------
# 2. One host crashes mid-burst and does not come back
# ---------------------------------------------------------------------------------------------------------------

TAKEN_OVER = re.compile(r"handler (\S+) \(host (\S+), pid \d+, epoch \d+\) was lost: its lease lapsed ([0-9.]+) s ago; "
                        r"taken over by (\S+)")


def takeovers(hosts):
    """{lost handler: (lapsed-ago seconds, taken over by)} from the live stacks' logs."""
    found = {}
    for s in hosts.stacks.values():
        for m in TAKEN_OVER.finditer(s.log()):
            found.setdefault(m.group(1), (float(m.group(3)), m.group(4)))
    return found


FENCED_RERUN = re.compile(r"job (\d+): runs again as attempt \d+: attempt \d+ stopped unfinished by its waiter: "
                          r"the handler's fence lapsed")


def check_reruns(hosts):
    """Only a job whose run was cut because its handler could not renew its lease runs again: each job of
    attempt > 1 had a `running` row by a handler that was taken over (the dead host's; or, on a loaded machine, a
    live one that could not renew in time), or its handler says its waiter stopped it as the handler's fence had
    lapsed (a renewal late, on a loaded machine, though the lease held). Returns {job id: attempt}."""
    lost = set(takeovers(hosts))
    fenced = {m.group(1) for s in hosts.stacks.values() for m in FENCED_RERUN.finditer(s.log())}
    reran = {str(i): a for i, a in hosts.sql("SELECT id, attempt FROM job WHERE attempt > 1")}
    ran_on = {}
    for i, h in hosts.sql("SELECT job_id, handler FROM job_state_history WHERE state = 'running'"):
        ran_on.setdefault(str(i), set()).add(h)
    bad = {i: sorted(ran_on.get(i, ())) for i in reran if not ran_on.get(i, set()) & lost and i not in fenced}
    assert not bad, "jobs run again whose handler was never lost nor fenced: %s (lost: %s)" % (bad, sorted(lost))
    return reran


def wait_lost(hosts, names, timeout=30):
    """Wait until each of names is `lost` in the handler table; {name: (lease_until, takeover time)}, the takeover
    time being lease_until + how late after it the taker's log says it took over."""
    wait_for(lambda: all(hosts.handlers().get(n, ("?",))[0] == "lost" for n in names), timeout,
             what="handlers %s to be lost: %s" % (sorted(names), hosts.handlers()))
    table = hosts.handlers()
    logged = wait_for(lambda: (lambda t: t if set(names) <= set(t) else None)(takeovers(hosts)), 10,
                      what="the takeover lines of %s" % sorted(names))
    return {n: (table[n][2], table[n][2] + logged[n][0], logged[n][1]) for n in names}


@pytest.mark.parametrize("assign", ["db-skip-locked", "mule-message"])
def test_a_host_crashes_mid_burst_its_jobs_are_taken_over_and_each_ends_ok_once(pg, servers, tmp_path, assign):
    """hostC and everything it runs (master, web worker, mules, waiters, commands) SIGKILLed at once when about a
    third of the burst is in, never restarted: its handlers are taken over within lease + 2 s; every job ends ok,
    its command finished exactly once (the ones hostC was running are run again elsewhere, as attempt 2, or get
    the result their waiter wrote) -- but for a command whose work was done when the crash came before its waiter
    could record its end: nothing can tell it from one that never finished, so it runs again (counted)."""
    url = pg.new_database()
    hosts = Hosts(servers, tmp_path, url, 'sleep 0.3; echo "$MULETEER_JOB_ID" >> OUT',
                  job_conf=SKIP_LOCKED if assign == "db-skip-locked" else None)
    for name in ("hostA", "hostB", "hostC"):
        hosts.start(name)
    dead = HANDLER_NAMES("hostC")
    wait_for(lambda: dead <= set(hosts.handlers()), 20, what="hostC's handlers to register")
    burst = Burst(hosts.stacks.values(), N_BURST).start()
    wait_for(lambda: len(burst.acked) >= N_BURST // 3, 120, what="a third of the burst to be acknowledged")
    wait_for(lambda: hosts.sql("SELECT COUNT(*) FROM job WHERE state = 'running' AND handler LIKE 'hostC.%'")[0][0]
             >= 2, 60, what="hostC to run jobs")
    burst.dead.add(hosts.stacks["hostC"])
    t_kill = crash(hosts, "hostC")
    held = {str(i): (h, a) for i, h, a in hosts.sql("SELECT id, handler, attempt FROM job WHERE handler LIKE "
                                                       "'hostC.%' AND state IN ('queued', 'running')")}
    taken = wait_lost(hosts, dead)
    burst.join()
    states = hosts.all_ended(burst.acked, 300)
    repeated = hosts.check_once(burst.acked, states, crashed=held)
    after = {t - t_kill for _, t, _ in taken.values()}
    assert max(after) <= LEASE + 2, "taken over %.2f s after the crash (lease %d s): %s" % (max(after), LEASE, taken)
    assert all(by.split(".")[0] in ("hostA", "hostB") for _, _, by in taken.values()), taken
    # nothing ended on a hostC handler after the crash but by a takeover (the result hostC's waiter had written)
    ended_on_c = hosts.sql("SELECT job_id, state, handler, info FROM job_state_history WHERE handler LIKE 'hostC.%' "
                           "AND state IN ('ok', 'error') AND time > ? AND (info IS NULL OR info NOT LIKE "
                           "'its handler was lost;%')", (int(t_kill * 1e6),))
    assert not ended_on_c, ended_on_c
    reran = check_reruns(hosts)
    print("\nHOSTS crash[%s]: jobs=%d acked-before-crash>=%d held-by-hostC=%d rerun=%d (finished twice, the crash "
          "between the work and its record: %d) takeover-after-crash=%s s "
          "(lease %d s) all-ended=%.1fs" % (assign, N_BURST, N_BURST // 3, len(held), len(reran), len(repeated),
                                           ",".join("%.2f" % a for a in sorted(after)), LEASE, time.time() - t_kill))


# ---------------------------------------------------------------------------------------------------------------
# 6. GET /api/handlers: every handler of every host; a crashed host's go lapsed, then lost
# ---------------------------------------------------------------------------------------------------------------

def test_api_handlers_lists_every_host_and_a_crashed_hosts_handlers_go_lapsed_then_lost(pg, servers, tmp_path):
    """Each stack's GET /api/handlers lists the handlers of both hosts (its own and the other's), with their host,
    pid, pools and lease. hostB crashes: its handlers show `lapsed` once their lease runs out (the test holds their
    rows locked, so that no takeover can end that state before it is seen), then `lost`, their epoch moved on."""
    psycopg2 = pytest.importorskip("psycopg2")
    url = pg.new_database()
    hosts = Hosts(servers, tmp_path, url, 'echo "$MULETEER_JOB_ID" >> OUT')
    a, b = hosts.start("hostA"), hosts.start("hostB")
    names = HANDLER_NAMES("hostA") | HANDLER_NAMES("hostB")
    pids = {n: p["pid"] for s in (a, b) for n, p in s.by_name().items()}
    for s in (a, b):
        listed = wait_for(lambda: (lambda h: h if names <= set(h) else None)(api_handlers(s)), 20,
                          what="every handler in %s's /api/handlers" % s.host)
        for n in names:
            h = listed[n]
            assert (h["state"], h["host"], h["pid"], h["pools"]) == ("running", n.split(".")[0], pids[n],
                                                                    ["job-handlers"]), h
            assert 0 < h["lease_left_s"] <= LEASE and h["epoch"] >= 1, h
    epochs = {n: h["epoch"] for n, h in api_handlers(a).items()}
    lock = psycopg2.connect(url, connect_timeout=10)
    try:
        with lock.cursor() as cur:  # no takeover of hostB's handlers while this transaction lasts
            cur.execute("SELECT name FROM handler WHERE name LIKE 'hostB.%' FOR UPDATE")
        t_kill = crash(hosts, "hostB")
        dead = HANDLER_NAMES("hostB") | {"hostB.web.1"}

        def lapsed():
            h = api_handlers(a)
            return h if all(h[n]["state"] == "lapsed" and h[n]["lease_left_s"] < 0 for n in dead) else None
        seen = wait_for(lapsed, LEASE + 10, interval=0.1, what="hostB's handlers to show lapsed")
        lapsed_after = time.time() - t_kill
        assert all(seen[n]["state"] == "running" for n in HANDLER_NAMES("hostA")), seen
    finally:
        lock.rollback()
        lock.close()

    def lost():
        h = api_handlers(a)
        return h if all(h[n]["state"] == "lost" for n in dead) else None
    seen = wait_for(lost, LEASE + 10, interval=0.1, what="hostB's handlers to show lost")
    for n in dead:
        assert seen[n]["epoch"] == epochs[n] + 1 and seen[n]["host"] == "hostB" and seen[n]["pid"] == pids[n], seen[n]
    for n in HANDLER_NAMES("hostA"):
        assert seen[n]["state"] == "running" and seen[n]["epoch"] == epochs[n], seen[n]
    print("\nHOSTS api-handlers: lapsed seen %.1f s after the crash (lease %d s), then lost" % (lapsed_after, LEASE))


# ---------------------------------------------------------------------------------------------------------------
# 3. A partition: one host's path to the database cut for 3 leases, then restored
# ---------------------------------------------------------------------------------------------------------------

class Watch:
    """Records, every 20 ms, when the command processes of a host's jobs were last seen alive."""

    def __init__(self, data_dir):
        self.data_dir, self.last_seen, self.stop = data_dir, {}, threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        known, n = {}, 0
        while not self.stop.is_set():
            if n % 10 == 0:
                known.update(commands_of(self.data_dir))  # new ones
            now = time.time()
            for p, jid in list(known.items()):
                if alive(p):
                    self.last_seen[jid] = now
                else:
                    del known[p]
            n += 1
            time.sleep(0.02)

    def close(self):
        self.stop.set()
        self.thread.join(5)


def pg_port(url):
    return urllib.parse.urlsplit(url).port


def test_a_partitioned_host_fences_itself_the_others_take_its_jobs_and_it_writes_nothing_stale(
        pg, servers, tmp_path):
    """hostC reaches the database through a proxy, which stops relaying (connections held open) for 3 leases:
    hostC's waiters stop its commands before its lease runs out, hostA and hostB take its jobs over and run them
    again, no job's command finishes twice; the path back, hostC's handlers find their names taken over, write
    nothing (no history row of theirs after the takeover), and come back under a new epoch. Meanwhile a POST to
    hostC is answered 503 once its statement has had no reply for the busy timeout + 5 s, not held for the cut."""
    url = pg.new_database()
    proxy = TcpProxy("127.0.0.1", pg_port(url))
    try:
        partition(servers, tmp_path, url, proxy)
    finally:
        proxy.close()


def partition(servers, tmp_path, url, proxy):
    hosts = Hosts(servers, tmp_path, url, 'sleep 4; echo "$MULETEER_JOB_ID" >> OUT', workers=2)
    parts = urllib.parse.urlsplit(url)
    via_proxy = urllib.parse.urlunsplit(parts._replace(netloc="%s@127.0.0.1:%d" % (parts.username, proxy.port)))
    hosts.start("hostA")
    hosts.start("hostB")
    c = hosts.start("hostC", url=via_proxy)
    cut_off = HANDLER_NAMES("hostC")
    wait_for(lambda: cut_off <= set(hosts.handlers()), 20, what="hostC's handlers to register")
    ids = [str(post(s)[2]["id"]) for s in hosts.stacks.values() for _ in range(8)]

    def c_runs_on_both():
        rows = hosts.sql("SELECT id, handler FROM job WHERE state = 'running' AND handler LIKE 'hostC.%' "
                         "AND external_id IS NOT NULL")
        return dict((str(i), h) for i, h in rows) if {h for _, h in rows} == cut_off else None
    wait_for(c_runs_on_both, 30, what="both of hostC's handlers to run jobs")
    watch = Watch(hosts.data_dir("hostC"))
    before = hosts.handlers()
    proxy.cut()
    t_cut = time.time()
    try:
        # a POST to the cut-off host: no hang for as long as the cut, but 503 once its statement had no reply in
        # the busy timeout (10 s) + 5 s
        t0 = time.time()
        refused = post(c, timeout=40)
        refused_after = time.time() - t0
        assert refused[0] == 503 and refused[1].get("Retry-After", "").isdigit(), refused
        assert refused_after < 25, refused_after
        taken = wait_lost(hosts, cut_off, timeout=LEASE * 3 + 10)
        held = {str(i): h for i, h in hosts.sql(
            "SELECT DISTINCT job_id, handler FROM job_state_history WHERE state = 'running' AND handler LIKE "
            "'hostC.%'")}
        wait_for(lambda: time.time() - t_cut >= 3 * LEASE, 3 * LEASE + 1, what="3 leases")
        states = hosts.all_ended(ids, 60)  # while hostC is still cut off
        watermark = hosts.sql("SELECT MAX(id) FROM job_state_history")[0][0]
        # the fence: every command hostC ran had stopped before its handler's lease ran out
        late = {j: round(watch.last_seen.get(j, 0) - taken[h][0], 2) for j, h in held.items()
                if watch.last_seen.get(j, 0) >= taken[h][0]}
        assert not late, "hostC's commands still alive after its lease ran out (s after): %s" % late
        stopped_before = {j: taken[h][0] - watch.last_seen[j] for j, h in held.items() if j in watch.last_seen}
    finally:
        proxy.restore()
        t_back = time.time()
        watch.close()
    assert states and all(states[i] == "ok" for i in ids), states
    # hostC comes back: each handler saw its name taken over, exited, and took it again under a new epoch
    def back():
        h = hosts.handlers()
        return h if all(h[n][0] == "running" and h[n][1] > before[n][1] + 1 for n in cut_off | {"hostC.web.1"}) \
            else None
    again = wait_for(back, 30, what="hostC's handlers to register again: %s" % hosts.handlers())
    c.wait_ready(30)  # its web worker, a handler too, exited as well when it found its name taken over
    listed = api_handlers(c)
    for n in cut_off:
        assert listed[n]["state"] == "running" and listed[n]["epoch"] == again[n][1], listed[n]
    assert "its name was taken over" in c.log(), c.log()[-3000:]
    assert "no reply from the database server within 15.0 s" in c.log(), c.log()[-3000:]
    # and works again: jobs posted to it end ok
    more = [str(post(c)[2]["id"]) for _ in range(4)]
    hosts.all_ended(more, 60)
    hosts.check_once(ids + more)
    stale = hosts.sql("SELECT job_id, state, handler, info FROM job_state_history WHERE id > ? AND handler LIKE "
                      "'hostC.%' AND job_id <= ?", (watermark, max(int(i) for i in ids)))
    assert not stale, "hostC wrote after its handlers were taken over: %s" % stale
    reran = check_reruns(hosts)
    c.known_pids.update(p["pid"] for p in c.stack()["processes"] if p["pid"])
    print("\nHOSTS partition: cut %.1f s (lease %d s); a POST to hostC got 503 after %.1f s; hostC ran %d jobs: "
          "commands stopped %s s before the lease ran "
          "out; taken over %s s after the cut; rerun elsewhere %d; stale writes 0; back under epochs %s in %.1f s"
          % (t_back - t_cut, LEASE, refused_after, len(held),
             ",".join("%.2f" % v for v in sorted(stopped_before.values())),
             ",".join("%.2f" % (t - t_cut) for _, t, _ in taken.values()), len(reran),
             {n: again[n][1] for n in cut_off}, time.time() - t_back))


# ---------------------------------------------------------------------------------------------------------------
# 5. PostgreSQL restarted mid-burst
# ---------------------------------------------------------------------------------------------------------------

def test_postgresql_restarted_mid_burst_posts_get_503_and_every_acknowledged_job_ends_ok_once(pg, servers, tmp_path):
    """`pg_ctl restart -m fast` while 8 clients post to two hosts: a POST that meets the outage gets 503 with
    Retry-After at once (not a hang, not a 500); handlers and web workers connect again by themselves; every
    job that got 201 ends ok, its command finished exactly once. The lease (5 s) outlasts the restart."""
    url = pg.new_database()
    hosts = Hosts(servers, tmp_path, url, 'sleep 0.2; echo "$MULETEER_JOB_ID" >> OUT', lease=5)
    stacks = [hosts.start("hostA"), hosts.start("hostB")]
    wait_for(lambda: HANDLER_NAMES("hostA") | HANDLER_NAMES("hostB") <= set(hosts.handlers()), 20,
             what="the handlers to register")
    epochs = {n: v[1] for n, v in hosts.handlers().items()}
    answers, lock, stop = [], threading.Lock(), threading.Event()

    def client(k):
        while not stop.is_set():
            s = stacks[k % 2]
            k += 1
            t = time.time()
            status, headers, doc = post(s, timeout=20)
            with lock:
                answers.append((t, time.time() - t, s.host, status, headers, doc))
            if status != 201:
                time.sleep(0.02)

    threads = [threading.Thread(target=client, args=(k,), daemon=True) for k in range(8)]
    for t in threads:
        t.start()
    wait_for(lambda: sum(1 for a in answers if a[3] == 201) >= 100, 60, what="100 jobs acknowledged")
    t_restart = time.time()
    pg.restart()
    restarted = time.time() - t_restart
    wait_for(lambda: sum(1 for a in answers if a[3] == 201 and a[0] > t_restart + restarted) >= 100, 60,
             what="100 jobs acknowledged after the restart")
    stop.set()
    for t in threads:
        t.join(30)
    statuses = {}
    for a in answers:
        statuses[a[3]] = statuses.get(a[3], 0) + 1
    refused = [a for a in answers if a[3] != 201]
    assert refused, "no POST met the outage (%.1f s)" % restarted
    assert set(statuses) <= {201, 503}, "answers other than 201 and 503: %s %s" % (
        statuses, [(a[2], a[3], a[5]) for a in refused if a[3] != 503][:5])
    assert all(a[4].get("Retry-After", "").isdigit() for a in refused), [a[4] for a in refused][:5]
    slowest = max(a[1] for a in refused)
    assert slowest < 10, "a POST during the outage took %.1f s" % slowest
    acked = [str(a[5]["id"]) for a in answers if a[3] == 201]
    states = hosts.all_ended(acked, 120)
    hosts.check_once(acked, states)
    # the handlers reconnected: no lease was lost, and both hosts ran jobs posted after the restart
    table = hosts.handlers()
    assert all(table[n][:2] == ("running", epochs[n]) for n in HANDLER_NAMES("hostA") | HANDLER_NAMES("hostB")), \
        table
    later = {h.split(".")[0] for h, in hosts.sql("SELECT handler FROM job WHERE create_time > ?",
                                                 (int((t_restart + restarted) * 1e6),))}
    assert later == {"hostA", "hostB"}, later
    print("\nHOSTS pg-restart: restart took %.1f s; answers %s; slowest refusal %.2f s; acked %d, all ok once"
          % (restarted, statuses, slowest, len(acked)))


# ---------------------------------------------------------------------------------------------------------------
# 4. A whole host paused (SIGSTOP) for 3 leases, then resumed
# ---------------------------------------------------------------------------------------------------------------

# 4 s of the command's own running time: 40 sleeps of 0.1 s, so that time spent stopped does not count (a single
# `sleep 4` would be due the moment it resumes)
STEPS = 'i=0; while [ $i -lt 40 ]; do sleep 0.1; i=$((i+1)); done; echo "$MULETEER_JOB_ID" >> OUT'


def stale_rows(hosts, host, after_id, old_ids, new_ids):
    """History rows written by host's handlers after row after_id for old_ids (any), or for new_ids before the
    handler that wrote them registered again (its new incarnation's start time)."""
    started = {n: t for n, t in hosts.sql("SELECT name, start_time FROM handler WHERE name LIKE ?", (host + ".%",))}
    rows = hosts.sql("SELECT id, job_id, state, time, handler, info FROM job_state_history WHERE id > ? "
                     "AND handler LIKE ? ORDER BY id", (after_id, host + ".%"))
    return [r for r in rows if str(r[1]) in old_ids or (str(r[1]) in new_ids and r[3] < started[r[4]])]


def test_a_paused_host_resumed_after_its_lease_writes_nothing_stale_and_comes_back_under_a_new_epoch(
        pg, servers, tmp_path):
    """hostC, its processes and its commands, SIGSTOPped for 3 leases: hostA and hostB take its jobs over and run
    them again. SIGCONT: its waiters find their fence lapsed and stop their commands (which had most of their work
    left), its handlers find their names taken over, write nothing (no history row of theirs for any earlier job,
    even for jobs waiting in the pool as it resumes), and register again under a new epoch."""
    url = pg.new_database()
    hosts = Hosts(servers, tmp_path, url, STEPS, workers=2)
    a, b, c = hosts.start("hostA"), hosts.start("hostB"), hosts.start("hostC")
    paused = HANDLER_NAMES("hostC")
    wait_for(lambda: paused <= set(hosts.handlers()), 20, what="hostC's handlers to register")
    ids = [str(post(s)[2]["id"]) for s in hosts.stacks.values() for _ in range(8)]

    def c_runs_on_both():
        rows = hosts.sql("SELECT id, handler FROM job WHERE state = 'running' AND handler LIKE 'hostC.%' "
                         "AND external_id IS NOT NULL")
        return dict((str(i), h) for i, h in rows) if {h for _, h in rows} == paused else None
    wait_for(c_runs_on_both, 30, what="both of hostC's handlers to run jobs")
    before = hosts.handlers()
    stopped = freeze(hosts, "hostC")
    t_stop = time.time()
    held = {str(i): h for i, h in hosts.sql(
        "SELECT DISTINCT job_id, handler FROM job_state_history WHERE state = 'running' AND handler LIKE 'hostC.%'")}
    try:
        taken = wait_lost(hosts, paused, timeout=LEASE * 3 + 10)
        wait_for(lambda: time.time() - t_stop >= 3 * LEASE, 3 * LEASE + 1, what="3 leases")
        states = hosts.all_ended(ids, 60)
        watermark = hosts.sql("SELECT MAX(id) FROM job_state_history")[0][0]
        # jobs waiting in the pool as hostC resumes: hostA's and hostB's handlers paused a moment so none takes them
        others = [p for s in (a, b) for n, p in s.by_name().items() if n.split(".")[1] == "job-handlers"]
        signal_all([p["pid"] for p in others], signal.SIGSTOP)
        try:
            waiting = [str(post(a)[2]["id"]) for _ in range(4)]
        finally:
            signal_all(stopped, signal.SIGCONT)
            t_cont = time.time()
    finally:
        signal_all(stopped, signal.SIGCONT)

    def back():
        h = hosts.handlers()
        return h if all(h[n][0] == "running" and h[n][1] > before[n][1] + 1 for n in paused | {"hostC.web.1"}) \
            else None
    try:
        again = wait_for(back, 30, what="hostC's handlers to register again: %s" % hosts.handlers())
    finally:
        signal_all([p["pid"] for p in others], signal.SIGCONT)
    c.wait_ready(30)  # its web worker, a handler too, exited as well when it found its name taken over
    assert all(states[i] == "ok" for i in ids), states
    listed = api_handlers(c)
    for n in paused:
        assert listed[n]["state"] == "running" and listed[n]["epoch"] == again[n][1], listed[n]
    hosts.all_ended(waiting, 60)
    hosts.check_once(ids + waiting)
    stale = stale_rows(hosts, "hostC", watermark, set(ids), set(waiting))
    assert not stale, "hostC wrote after its handlers were taken over: %s" % stale
    reran = check_reruns(hosts)
    c.known_pids.update(p["pid"] for p in c.stack()["processes"] if p["pid"])
    print("\nHOSTS pause: stopped %.1f s (lease %d s), %d processes; hostC ran %d jobs, taken over %s s after the "
          "stop, run again elsewhere %d; after SIGCONT: stale writes 0, back under epochs %s"
          % (t_cont - t_stop, LEASE, len(stopped), len(held),
             ",".join("%.2f" % (t - t_stop) for _, t, _ in taken.values()), len(reran),
             {n: again[n][1] for n in paused}))


@pytest.mark.chaos
def test_chaos_paused_host_how_often_a_resumed_command_finishes_once_more(pg, servers, tmp_path):
    """20 pauses of hostC (SIGSTOP of every process of it, 3 leases) while it runs jobs whose command is a plain
    `sleep 3`, due while the host is stopped: resumed, such a command is at its last step, racing its waiter,
    which finds its fence lapsed and stops it. hostA has run each of those jobs again meanwhile. Counts how often
    a resumed command finishes once more (its id twice in the file): what the design allows, a paused host
    being unable to stop its own commands. Everything else is as in the test above: no job ends but ok, no
    stale write."""
    rounds = int(os.environ.get("CHAOS_PAUSES", "20"))
    url = pg.new_database()
    hosts = Hosts(servers, tmp_path, url, 'sleep 3; echo "$MULETEER_JOB_ID" >> OUT', workers=2)
    a, c = hosts.start("hostA"), hosts.start("hostC")
    resumed, twice, all_ids = [], [], []
    for r in range(rounds):
        paused = HANDLER_NAMES("hostC")
        wait_for(lambda: all(hosts.handlers().get(n, ("",))[0] == "running" for n in paused), 30,
                 what="hostC's handlers running")
        ids = [str(post(s)[2]["id"]) for s in (a, c) for _ in range(4)]
        all_ids += ids

        def c_runs():
            rows = hosts.sql("SELECT id FROM job WHERE state = 'running' AND handler LIKE 'hostC.%%' "
                             "AND external_id IS NOT NULL AND id IN (%s)" % ",".join(ids))
            return [str(i) for i, in rows] if len(rows) >= 2 else None
        wait_for(c_runs, 30, what="hostC to run jobs")
        before = hosts.handlers()
        stopped = freeze(hosts, "hostC")
        t_stop = time.time()
        on_c = {str(i) for i, in hosts.sql("SELECT id FROM job WHERE state = 'running' AND handler LIKE 'hostC.%'")}
        try:
            wait_lost(hosts, paused, timeout=LEASE * 3 + 10)
            wait_for(lambda: time.time() - t_stop >= 3 * LEASE, 3 * LEASE + 1, what="3 leases")
            hosts.all_ended(ids, 60)
        finally:
            signal_all(stopped, signal.SIGCONT)
        wait_for(lambda: all(hosts.handlers()[n][1] > before[n][1] + 1 for n in paused | {"hostC.web.1"}), 30,
                 what="hostC's handlers to register again")
        c.wait_ready(30)
        # its resumed commands are gone (finished or stopped) once their waiters are
        wait_for(lambda: not waiters_of(hosts.data_dir("hostC")) or not set(commands_of(hosts.data_dir("hostC"))
                                                                             .values()) & on_c, 20,
                 what="hostC's resumed commands to end")
        counts = hosts.counts()
        resumed += sorted(on_c)
        twice += [i for i in on_c if counts.get(i, 0) > 1]
    states = hosts.all_ended(all_ids, 60)
    assert all(states[i] == "ok" for i in all_ids), states
    counts = hosts.counts()
    assert all(counts.get(i, 0) in (1, 2) for i in all_ids), {i: counts.get(i) for i in all_ids if counts.get(i) != 1}
    assert all(counts[i] == 1 for i in all_ids if i not in resumed), "a job not resumed finished twice"
    c.known_pids.update(p["pid"] for p in c.stack()["processes"] if p["pid"])
    print("\nCHAOS hosts-pause: pauses=%d commands-resumed-after-their-lease=%d finished-once-more=%d (%s)"
          % (rounds, len(resumed), len(twice), ",".join(twice)))


# ---------------------------------------------------------------------------------------------------------------
# Cluster jobs outlive their host: a crashed host's Slurm jobs are handed over, never submitted twice
# ---------------------------------------------------------------------------------------------------------------

SLURM_CONF_YAML = """handling:
  assign: [db-skip-locked]
runners:
  local:
    load: galaxy.jobs.runners.local:LocalJobRunner
  slurm:
    load: galaxy.jobs.runners.slurm:SlurmJobRunner
execution:
  default: cluster
  environments:
    cluster:
      runner: slurm
"""


@pytest.mark.slurm
def test_a_crashed_hosts_running_cluster_jobs_are_handed_over_and_end_with_their_real_exit_codes(
        pg, servers, tmp_path, slurm):
    """hostA's handlers have 20 jobs running in Slurm when hostA crashes (every process SIGKILLed, never
    restarted). hostB takes its handlers over once their lease lapses: the 20 jobs become hostB's handlers', which
    watch them in Slurm -- none submitted again (the cluster's job count), each ending with its command's own exit
    code, its command finished once."""
    url = pg.new_database()
    hosts = Hosts(servers, tmp_path, url, 'sleep 8; echo "$MULETEER_JOB_ID" >> OUT; exit $((MULETEER_JOB_ID % 4))',
                  job_conf=SLURM_CONF_YAML)
    hosts.env = slurm.env
    a = hosts.start("hostA")
    before = slurm.sbatch_count()
    ids = []
    for _ in range(20):
        status, _, doc = post(a)
        assert status == 201, doc
        ids.append(str(doc["id"]))
    wait_for(lambda: hosts.sql("SELECT COUNT(*) FROM job WHERE state = 'running' AND handler LIKE 'hostA.%'")[0][0]
             == 20, 60, what="hostA's handlers to run the 20 jobs in Slurm")
    hosts.start("hostB")
    dead = HANDLER_NAMES("hostA")
    wait_for(lambda: HANDLER_NAMES("hostB") <= set(hosts.handlers()), 20, what="hostB's handlers to register")
    crash(hosts, "hostA")
    wait_lost(hosts, dead)
    states = hosts.all_ended(ids, 90)
    rows = {str(i): (st, code, h, att) for i, st, code, h, att in
            hosts.sql("SELECT id, state, exit_code, handler, attempt FROM job")}
    for jid in ids:
        st, code, handler, attempt = rows[jid]
        assert code == int(jid) % 4 and st == ("ok" if code == 0 else "error"), rows[jid]
        assert handler.startswith("hostB.") and attempt == 1, rows[jid]
    assert slurm.sbatch_count() == before + 20, "a cluster job was submitted again after the takeover"
    assert all(n == 1 for n in hosts.counts().values()) and set(hosts.counts()) == set(ids), hosts.counts()
    handed = hosts.sql("SELECT COUNT(*) FROM job_state_history WHERE info LIKE '%its cluster job is now hostB.%'")
    assert handed[0][0] == 20, handed
    print("\nHOSTS slurm-takeover: 20 cluster jobs handed over, all ended: %s" % sorted(set(states.values())))
