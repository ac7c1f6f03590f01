"""Fault injection: processes of a running stack killed with SIGKILL (run by `make chaos`).

Each scenario prints one summary line (CHAOS ...) with its numbers; docs/reliability.md quotes them.
"""
import http.client
import json
import os
import random
import signal
import sqlite3
import threading
import time

import pytest

from conftest import alive, wait_for, write

pytestmark = pytest.mark.chaos

TERMINAL = ("ok", "error", "deleted")


def append_tool(tmp_path, name, script, walltime=None):
    """A tools-dir holding one tool whose command is `sh -c script` (the job's id is in $MULETEER_JOB_ID)."""
    tools = tmp_path / "tools"
    tools.mkdir(exist_ok=True)
    doc = {"id": name, "version": "1.0", "name": name, "command": ["/bin/sh", "-c", script]}
    if walltime is not None:
        doc["walltime"] = walltime
    write(tools, name + ".yml", json.dumps(doc))  # JSON is YAML
    return str(tools)


def post(s, tool_id, timeout=30):
    """POST one job; (status, doc) or (None, error) when the connection failed."""
    try:
        status, _, data = s.request("POST", "/api/jobs", body=json.dumps({"tool_id": tool_id}),
                                    headers={"Content-Type": "application/json"}, timeout=timeout)
    except (OSError, http.client.HTTPException) as e:
        return None, e
    try:
        return status, json.loads(data)
    except ValueError:
        return status, data


def db_jobs(data_dir):
    """{id: state} of every job, read from SQLite directly (read-only)."""
    con = sqlite3.connect("file:%s?mode=ro" % os.path.join(data_dir, "jobs.sqlite"), uri=True, timeout=30)
    try:
        return {str(i): st for i, st in con.execute("SELECT id, state FROM job")}
    finally:
        con.close()


def lines_of(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return f.read().split()


def environ_of(pid):
    try:
        with open("/proc/%d/environ" % pid, "rb") as f:
            return f.read().split(b"\0")
    except OSError:
        return []


def job_processes(jobs_dir):
    """Live processes whose MULETEER_JOB_DIR lies under jobs_dir."""
    prefix = ("MULETEER_JOB_DIR=" + jobs_dir + "/").encode()
    return [int(d) for d in os.listdir("/proc")
            if d.isdigit() and alive(int(d)) and any(e.startswith(prefix) for e in environ_of(int(d)))]


def stack_children(s):
    """Pids of the stack's web workers and mules, from /proc (children of the master)."""
    from conftest import children_of
    return children_of(s.proc.pid)


# ---------------------------------------------------------------------------
# 1. Jobs posted while web workers and mules are killed at random
# ---------------------------------------------------------------------------

def test_jobs_survive_random_sigkills_of_web_workers_and_mules(servers, tmp_path):
    """5,000 jobs append their id to one file while workers and mules die at random: nothing acknowledged is
    lost, and every `ok` job's command ran exactly once.

    accept-sync stays at its default (full): the test is about process deaths, which `normal` survives too,
    but the default is what operators run.
    """
    total = int(os.environ.get("CHAOS_JOBS", "5000"))
    out = str(tmp_path / "ids.txt")
    tools = append_tool(tmp_path, "append", 'echo "$MULETEER_JOB_ID" >> %s' % out)
    data_dir = str(tmp_path / "data")
    s = servers(["--processes", "2", "--threads", "4", "--mules", "3", "--farm", "job-handlers:1,2,3",
                 "--set", "jobs.tools-dir=%s" % tools, "--set", "jobs.data-dir=%s" % data_dir,
                 "--set", "jobs.cancel-grace=1"])

    acked = []               # ids of 201 responses
    tries = [0]
    failures = {}            # what a try that got no 201 got instead
    lock = threading.Lock()
    todo = list(range(total))

    def client():
        while True:
            with lock:
                if not todo:
                    return
                todo.pop()
            while s.proc.poll() is None:  # a dead master fails the test below, not by a hang here
                with lock:
                    tries[0] += 1
                status, doc = post(s, "append")
                if status == 201:
                    with lock:
                        acked.append(doc["id"])
                    break
                key = status if status is not None else type(doc).__name__
                with lock:
                    failures[key] = failures.get(key, 0) + 1
                time.sleep(0.05)

    kills = {"web": 0, "mule": 0}
    stop_killing = threading.Event()

    def killer():
        rnd = random.Random(os.environ.get("CHAOS_SEED"))
        while not stop_killing.wait(rnd.uniform(0.1, 0.5)):
            try:
                procs = [(p["pid"], p["role"]) for p in s.stack()["processes"]
                         if p["role"] in ("web", "mule") and p["pid"]]
            except (OSError, http.client.HTTPException, ValueError):
                continue  # the worker that answered was killed: next time
            victim, role = rnd.choice(procs)
            if victim not in stack_children(s):
                continue  # gone already
            try:
                os.kill(victim, signal.SIGKILL)
            except ProcessLookupError:
                continue
            kills[role] += 1

    clients = [threading.Thread(target=client) for _ in range(8)]
    k = threading.Thread(target=killer)
    t0 = time.time()
    k.start()
    for c in clients:
        c.start()
    for c in clients:
        c.join()
    stop_killing.set()
    k.join()
    posted_s = time.time() - t0
    assert s.proc.poll() is None, "the master died (%s)\n%s" % (s.proc.returncode, s.log())

    def all_terminal():
        states = db_jobs(data_dir)
        return states if all(states.get(i) in TERMINAL for i in acked) else None
    states = wait_for(all_terminal, 600, interval=1, what="every acknowledged job to end")
    written = lines_of(out)
    counts = {}
    for jid in written:
        counts[jid] = counts.get(jid, 0) + 1
    ok = [i for i, st in states.items() if st == "ok"]
    lost = [i for i in acked if states.get(i) not in TERMINAL]
    twice = [i for i in ok if counts.get(i, 0) != 1]
    by_state = {}
    for st in states.values():
        by_state[st] = by_state.get(st, 0) + 1
    print("\nCHAOS random-sigkills: jobs=%d tries=%d acked=%d in-db=%d kills(web=%d mule=%d) states=%s "
          "not-201=%s lost=%d ok-not-exactly-once=%d posting=%.0fs total=%.0fs"
          % (total, tries[0], len(acked), len(states), kills["web"], kills["mule"], by_state, failures,
             len(lost), len(twice), posted_s, time.time() - t0))
    assert len(set(acked)) == total
    assert not lost, "acknowledged jobs not terminal: %s" % lost[:20]
    assert not twice, "ok jobs whose id is not in the file exactly once: %s" % [(i, counts.get(i, 0))
                                                                                 for i in twice[:20]]
    assert kills["web"] + kills["mule"] > 0
    # no job's command ran without its job: every id in the file is a job of the database
    assert set(counts) <= set(states)
    s.wait_ready(60)  # the stack is whole again



# ---------------------------------------------------------------------------
# 2. The master killed mid-run, then the stack started again
# ---------------------------------------------------------------------------

def test_master_killed_mid_run_leaves_no_process_and_every_job_completes_after_restart(servers, tmp_path):
    """SIGKILL to the master while jobs run: its workers and mules go with it; the jobs' commands and what those
    put in the background are stopped by their waiters once the handlers' fences lapse (10 s), as nobody answers
    for them; started again, the stack runs every job to `ok`, once, the stopped ones as their attempt 2."""
    out = str(tmp_path / "ids.txt")
    # a background grandchild that outlives its parent shell, then the real work after a while
    tools = append_tool(tmp_path, "slow", '(sleep 1000 &); sleep 15; echo "$MULETEER_JOB_ID" >> %s' % out)
    data_dir = str(tmp_path / "data")
    jobs_dir = os.path.join(os.path.realpath(data_dir), "jobs")
    args = ["--processes", "2", "--threads", "2", "--mules", "2", "--farm", "job-handlers:1,2",
            "--set", "jobs.tools-dir=%s" % tools, "--set", "jobs.data-dir=%s" % data_dir,
            "--set", "jobs.workers=3", "--set", "jobs.cancel-grace=1"]
    s = servers(args)
    ids = []
    for _ in range(8):  # 6 run at once (2 mules x 3), 2 wait in a queue
        status, doc = post(s, "slow")
        assert status == 201, doc
        ids.append(doc["id"])
    wait_for(lambda: sum(1 for i in ids if db_jobs(data_dir)[i] == "running") == 6, 30, what="6 jobs running")
    # each running job: its shell, its sleep 30 and the orphaned sleep 1000
    wait_for(lambda: len(job_processes(jobs_dir)) >= 18, 30, what="the jobs' processes")
    before = set(job_processes(jobs_dir)) | set(stack_children(s))
    tries = len(before)

    os.kill(s.proc.pid, signal.SIGKILL)
    s.proc.wait(10)
    s.expect_signal = signal.SIGKILL
    t0 = time.time()
    wait_for(lambda: not any(alive(p) for p in before) and not job_processes(jobs_dir), 20,
             what="every process of the killed stack to end: %s" % [p for p in before if alive(p)])
    gone_s = time.time() - t0
    assert lines_of(out) == [], "a job finished though it was killed 15 s early"

    s2 = servers(args)
    t1 = time.time()
    done = {i: wait_for(lambda i=i: (lambda st: st if st in TERMINAL else None)(db_jobs(data_dir)[i]), 120,
                        interval=0.2, what="job %s to end" % i) for i in ids}
    assert set(done.values()) == {"ok"}, done
    counts = {}
    for jid in lines_of(out):
        counts[jid] = counts.get(jid, 0) + 1
    assert counts == {i: 1 for i in ids}, counts
    reruns = 0
    for i in ids:
        status, hist = s2.get_json("/api/jobs/%s/history" % i)
        infos = [h["info"] or "" for h in hist["history"]]
        reruns += any(x.startswith("attempt 2: ") and "fence lapsed" in x for x in infos)
    assert reruns == 6, reruns
    print("\nCHAOS master-sigkill: jobs=%d running-at-kill=6 processes-at-kill=%d left-after-kill=0 "
          "(all gone in %.1fs) rerun=%d ok=%d lost=0 after-restart=%.0fs"
          % (len(ids), tries, gone_s, reruns, len(done), time.time() - t1))


# ---------------------------------------------------------------------------
# 5. A command that forks grandchildren and ignores SIGTERM
# ---------------------------------------------------------------------------

# TERM-deaf: the shell, a subshell's sleep, a double-forked sleep; not: a double-forked sleep, and one that
# left the process group and session (setsid) -- found by its MULETEER_JOB_DIR
STUBBORN = ('trap "" TERM; (trap "" TERM; sleep 1000) & (sleep 1000 &); '
            '(trap "" TERM; (trap "" TERM; sleep 1000 &) ); (setsid sleep 1000 &); sleep 1000; echo done')


def stubborn_stack(servers, tmp_path, walltime=None):
    tools = append_tool(tmp_path, "stubborn", STUBBORN, walltime=walltime)
    data_dir = str(tmp_path / "data")
    s = servers(["--mules", "1", "--farm", "job-handlers:1", "--set", "jobs.tools-dir=%s" % tools,
                 "--set", "jobs.data-dir=%s" % data_dir, "--set", "jobs.cancel-grace=1"])
    return s, os.path.join(os.path.realpath(data_dir), "jobs")


def job_dir_processes(jobs_dir, jid):
    return [p for p in job_processes(jobs_dir) if ("MULETEER_JOB_DIR=%s/%s" % (jobs_dir, jid)).encode()
            in environ_of(p)]


def sessions_of(pids):
    out = set()
    for p in pids:
        try:
            out.add(os.getsid(p))
        except OSError:
            pass
    return out


def stubborn_started(jobs_dir, jid):
    """Its 6 processes, once all are there and one has left the job's session."""
    procs = job_dir_processes(jobs_dir, jid)
    return procs if len(procs) >= 6 and len(sessions_of(procs)) > 1 else None


def test_cancel_ends_a_stubborn_command_and_every_grandchild(servers, tmp_path):
    s, jobs_dir = stubborn_stack(servers, tmp_path)
    status, job = post(s, "stubborn")
    assert status == 201, job
    # the shell, its TERM-deaf subshell's sleep, two orphaned sleeps (one TERM-deaf), the setsid one, its own sleep
    procs = wait_for(lambda: stubborn_started(jobs_dir, job["id"]), 20, what="the command and its grandchildren")
    status, _, data = s.request("DELETE", "/api/jobs/%s" % job["id"])
    assert status in (200, 202), data
    t0 = time.time()
    done = wait_for(lambda: (lambda j: j if j["state"] in TERMINAL else None)(s.get_json("/api/jobs/%s" % job["id"])[1]),
                    30, what="the job to end")
    assert done["state"] == "deleted", done
    wait_for(lambda: not job_dir_processes(jobs_dir, job["id"]) and not any(alive(p) for p in procs), 10,
             what="every process of the cancelled job to end")
    print("\nCHAOS stubborn-cancel: processes=%d left=0 state=%s ended-in=%.1fs"
          % (len(procs), done["state"], time.time() - t0))


def test_walltime_ends_a_stubborn_command_and_every_grandchild(servers, tmp_path):
    s, jobs_dir = stubborn_stack(servers, tmp_path, walltime=2)
    status, job = post(s, "stubborn")
    assert status == 201, job
    procs = wait_for(lambda: stubborn_started(jobs_dir, job["id"]), 20, what="the command and its grandchildren")
    done = wait_for(lambda: (lambda j: j if j["state"] in TERMINAL else None)(s.get_json("/api/jobs/%s" % job["id"])[1]),
                    30, what="the job to end")
    assert done["state"] == "error" and "walltime of 2 s exceeded" in (done.get("info") or ""), done
    wait_for(lambda: not job_dir_processes(jobs_dir, job["id"]) and not any(alive(p) for p in procs), 10,
             what="every process of the job to end")
    print("\nCHAOS stubborn-walltime: processes=%d left=0 state=%s info=%r" % (len(procs), done["state"], done["info"]))


def test_command_that_ended_while_its_handler_was_dead_is_not_run_again(servers, tmp_path):
    """Its leader exited while its handler was stopped: the command ran to its end, its waiter killed what it
    left in the background and wrote its status, and the handler's next life records that result -- running it
    again would do its work twice."""
    out = str(tmp_path / "ids.txt")
    tools = append_tool(tmp_path, "leaves", 'echo "$MULETEER_JOB_ID" >> %s; sleep 1000 & sleep 1' % out)
    data_dir = str(tmp_path / "data")
    jobs_dir = os.path.join(os.path.realpath(data_dir), "jobs")
    s = servers(["--mules", "1", "--farm", "job-handlers:1", "--set", "jobs.tools-dir=%s" % tools,
                 "--set", "jobs.data-dir=%s" % data_dir, "--set", "jobs.cancel-grace=1"])
    status, job = post(s, "leaves")
    assert status == 201, job
    pid = int(wait_for(lambda: s.get_json("/api/jobs/%s" % job["id"])[1]["external_id"], 10, what="the job's pid"))
    mule = s.by_name()["main.job-handlers.1"]["pid"]
    os.kill(mule, signal.SIGSTOP)  # the handler cannot see its command end
    try:
        wait_for(lambda: not alive(pid), 10, what="the command's leader to exit")
        wait_for(lambda: not job_dir_processes(jobs_dir, job["id"]), 10,
                 what="its waiter to kill the background sleep")
    finally:
        os.kill(mule, signal.SIGKILL)
    done = wait_for(lambda: (lambda j: j if j["state"] in TERMINAL else None)(s.get_json("/api/jobs/%s" % job["id"])[1]),
                    30, what="the job to end")
    assert done["state"] == "ok" and done["exit_code"] == 0 and done["attempt"] == 1, done
    assert lines_of(out) == [job["id"]]
    wait_for(lambda: not job_dir_processes(jobs_dir, job["id"]), 10, what="the leftover sleep to be stopped")
    s.known_pids.add(s.by_name()["main.job-handlers.1"]["pid"])


def test_recorded_pid_reused_by_another_session_is_left_alone(servers, tmp_path):
    """The pid recorded for a run went to another process (pids wrap; another job's command is a session
    leader too): recovery must neither stop that process nor take it for the run."""
    import subprocess
    data_dir = str(tmp_path / "data")
    s = servers(["--mules", "1", "--farm", "job-handlers:1", "--set", "jobs.data-dir=%s" % data_dir,
                 "--set", "jobs.cancel-grace=1"])
    status, job = post(s, "sleep")  # the sample tool: sleep 1 s by default
    assert status == 201, job
    pid = int(wait_for(lambda: s.get_json("/api/jobs/%s" % job["id"])[1]["external_id"], 10, what="the job's pid"))
    stranger = subprocess.Popen(["setsid", "sleep", "100"])  # a session leader, as a job's command is
    try:
        wait_for(lambda: alive(stranger.pid) and os.getsid(stranger.pid) == stranger.pid, 10, what="setsid")
        mule = s.by_name()["main.job-handlers.1"]["pid"]
        os.kill(mule, signal.SIGSTOP)
        try:
            os.killpg(pid, signal.SIGKILL)  # the run ends unseen...
            con = sqlite3.connect(os.path.join(data_dir, "jobs.sqlite"), timeout=30)
            with con:  # ...and its pid now names the stranger
                con.execute("UPDATE job SET external_id = ? WHERE id = ?", (str(stranger.pid), int(job["id"])))
            con.close()
        finally:
            os.kill(mule, signal.SIGKILL)
        done = wait_for(lambda: (lambda j: j if j["state"] in TERMINAL else None)(
            s.get_json("/api/jobs/%s" % job["id"])[1]), 30, what="the job to end")
        assert done["state"] == "error" and "killed by signal 9" in done["info"], done  # what its waiter saw
        assert stranger.poll() is None, "recovery killed a process that was not the job's"
        assert alive(stranger.pid) and open("/proc/%d/stat" % stranger.pid).read().rsplit(")", 1)[1].split()[0] != "T"
    finally:
        stranger.kill()
        stranger.wait()
    s.known_pids.add(s.by_name()["main.job-handlers.1"]["pid"])


# ---------------------------------------------------------------------------
# 6. SQLite, one host: the whole stack SIGKILLed mid-burst, then started again
# ---------------------------------------------------------------------------

def cmdline_of(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().split(b"\0")
    except OSError:
        return []


def process_tree(root):
    """root and every live descendant, from /proc."""
    parent = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open("/proc/%s/stat" % d) as f:
                    parent[int(d)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                pass
    tree, todo = [], [root]
    while todo:
        p = todo.pop()
        tree.append(p)
        todo.extend(c for c, pp in parent.items() if pp == p)
    return [p for p in tree if alive(p)]


def is_waiter(pid):
    argv = cmdline_of(pid)
    return bool(argv) and argv[0].endswith(b"/muleteer-waiter")


def waiters_of(jobs_dir):
    """Live muleteer-waiter processes of runs under jobs_dir (their command line names the job's directory)."""
    prefix = (jobs_dir + "/").encode()
    return [int(d) for d in os.listdir("/proc") if d.isdigit() and is_waiter(int(d)) and alive(int(d))
            and len(cmdline_of(int(d))) > 2 and cmdline_of(int(d))[2].startswith(prefix)]


def crash(pids):
    """Freeze them all, then SIGKILL them all: as close to one instant as signals get."""
    for p in pids:
        try:
            os.kill(p, signal.SIGSTOP)
        except ProcessLookupError:
            pass
    for p in pids:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass


def whole_stack_sigkill_mid_burst(servers, tmp_path, with_commands):
    """200 jobs from 4 clients; at about half of them acknowledged, SIGKILL every process of the stack (master,
    undertaker, web workers, mules) -- and, as a machine crash would, every waiter and command too when
    with_commands. Then start it again: every acknowledged job ends `ok` exactly once (the append file proves
    it: a run is repeated only if its command never finished), none stays unfinished, nothing is left behind."""
    out = str(tmp_path / "ids.txt")
    tools = append_tool(tmp_path, "append", 'sleep 0.3; echo "$MULETEER_JOB_ID" >> %s' % out)
    data_dir = str(tmp_path / "data")
    jobs_dir = os.path.join(os.path.realpath(data_dir), "jobs")
    args = ["--processes", "2", "--threads", "2", "--mules", "2", "--farm", "job-handlers:1,2",
            "--set", "jobs.tools-dir=%s" % tools, "--set", "jobs.data-dir=%s" % data_dir,
            "--set", "jobs.workers=4", "--set", "jobs.cancel-grace=1", "--set", "jobs.sweep-delay=500"]
    s = servers(args)
    acked, lock, killed = [], threading.Lock(), threading.Event()

    def client():
        for _ in range(50):
            if killed.is_set():
                return
            status, doc = post(s, "append", timeout=10)
            if status != 201:
                return  # the stack is gone
            with lock:
                acked.append(doc["id"])

    threads = [threading.Thread(target=client) for _ in range(4)]
    for t in threads:
        t.start()
    wait_for(lambda: len(acked) >= 100, 60, what="100 jobs acknowledged")
    tree = process_tree(s.proc.pid)
    waiters_before = [p for p in tree if is_waiter(p)]
    if with_commands:
        victims = tree
    else:
        waiter_trees = set()
        for w in waiters_before:
            waiter_trees.update(process_tree(w))
        victims = [p for p in tree if p not in waiter_trees]
    crash(victims)
    while with_commands:
        # what a mule was starting between the listing and its SIGSTOP goes too, as in a real crash
        stragglers = waiters_of(jobs_dir) + job_processes(jobs_dir)
        if not stragglers:
            break
        crash(stragglers)
        victims += stragglers
    killed.set()
    s.proc.wait(10)
    s.expect_signal = signal.SIGKILL
    for t in threads:
        t.join(30)
    acked_at_kill = len(acked)
    spared = waiters_of(jobs_dir)  # waiting still (the others' commands had ended and they had written why)
    if with_commands:
        assert not spared, "a crash leaves no waiter"

    t0 = time.time()
    s2 = servers(args)
    every = wait_for(lambda: (lambda jobs: jobs if jobs and all(st in TERMINAL for st in jobs.values()) else None)(
        db_jobs(data_dir)), 120, interval=0.2, what="every job to end")
    took = time.time() - t0
    bad = {i: every.get(i) for i in acked if every.get(i) != "ok"}
    assert not bad, "acknowledged jobs not ok: %s" % bad
    counts = {}
    for jid in lines_of(out):
        counts[jid] = counts.get(jid, 0) + 1
    twice = {i: n for i, n in counts.items() if n != 1}
    assert not twice, "commands that finished more than once: %s" % twice
    missing = [i for i in every if every[i] == "ok" and i not in counts]
    assert not missing, "ok jobs whose command never finished: %s" % missing
    attempts = s2.sql("SELECT attempt, COUNT(*) FROM job GROUP BY attempt")
    s2.stop()
    wait_for(lambda: not job_processes(jobs_dir) and not waiters_of(jobs_dir), 10,
             what="no command and no waiter left after the normal stop")
    print("\nCHAOS whole-stack-sigkill%s: acked=%d killed=%d waiters-at-kill=%d spared=%d jobs=%d ok=%d "
          "attempts=%s all-ended-in=%.1fs left=0"
          % ("+commands" if with_commands else "", acked_at_kill, len(victims), len(waiters_before), len(spared),
             len(every), sum(1 for v in every.values() if v == "ok"), dict(attempts), took))


def test_whole_stack_sigkill_mid_burst_then_restart_every_job_ok_once(servers, tmp_path):
    whole_stack_sigkill_mid_burst(servers, tmp_path, with_commands=False)


def test_machine_crash_mid_burst_then_restart_every_job_ok_once(servers, tmp_path):
    whole_stack_sigkill_mid_burst(servers, tmp_path, with_commands=True)
