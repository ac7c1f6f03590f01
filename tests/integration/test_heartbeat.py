"""Heartbeats and mule-harakiri: a hung mule is killed and respawned.

Every event loop of the stack beats into the shared process table (a timer
every 0.5 s on the loop itself); /api/stack shows each process's
"beat_age_s" and "beating" (false after 1.5 s of silence). With
mule-harakiri = N the master SIGKILLs a built-in mule whose loop has not
beaten for N seconds, logs it at warning level, and respawns it like any
dead child. The hangs here are real: SIGSTOP of the mule's process, a
message handler that holds the mule's loop (the example application's
target "hold"), and a job handler stopped while its job runs. Waits are
bounded polls with generous timeouts, so the tests hold with both cores
kept busy.
"""
import json
import os
import re
import signal
import subprocess
import time

from conftest import EXAMPLE, MULE_ECHO, MULETEER, alive, wait_for, write

HARAKIRI = 3
KILL_LINE = (r"\[warn\] main\.master\[\d+\] muleteer\.stack\.master: mule-harakiri: %s \(pid %d\) has not beaten "
             r"for (\d+\.\d) s, over mule-harakiri = %d s: killing it")


def farm_stack(servers, *extra):
    """Two mules in farm f under mule-harakiri, once both have beaten."""
    s = servers(["--mules", "2", "--farm", "f:1,2", "--mule-harakiri", str(HARAKIRI)] + list(extra),
                binary=EXAMPLE)
    wait_for(lambda: all(s.by_name()[n]["beat_age_s"] is not None for n in ("main.f.1", "main.f.2")), timeout=10,
             what="the mules' first beats")
    return s


def log_search(s, pattern):
    """Wait for a line in the log: the pipe is read by another thread, so a line can lag behind what
    /api/stack already shows."""
    return wait_for(lambda: re.search(pattern, s.log()), timeout=10, what="%s in the log\n%s" % (pattern, s.log()))


def proc(s, name):
    return s.by_name()[name]


def wait_respawned(s, name, old_pid, timeout=20):
    """Wait until `name` runs again under a new pid and beats; return its /api/stack entry."""
    def again():
        p = proc(s, name)
        if p["pid"] and p["pid"] != old_pid and p["state"] == "running" and p["beating"] and \
                p["beat_age_s"] is not None:
            return p
        return None
    p = wait_for(again, timeout=timeout, what="%s respawned and beating\n%s" % (name, s.log()))
    s.known_pids.add(p["pid"])
    return p


def test_every_process_reports_its_heartbeat(servers):
    s = servers(["--processes", "2", "--threads", "2", "--mules", "1"], binary=EXAMPLE)
    # a process just started counts as beating; its first beat comes with its loop's first turn
    st = wait_for(lambda: (lambda st: st if all(p["beat_age_s"] is not None for p in st["processes"]) else None)(
        s.stack()), timeout=10, what="every process's first beat")
    assert st["mule_harakiri"] == 0, "off unless configured"
    for p in st["processes"]:
        assert p["beating"] is True, p
        assert isinstance(p["beat_age_s"], float) and 0 <= p["beat_age_s"] < 1.5, p
    # every field the page had before is still there
    for key in ("server_name", "pool", "instance_id", "role", "pid", "state", "respawns", "started",
                "messages_sent", "messages_handled", "messages_failed"):
        assert all(key in p for p in st["processes"]), key


def test_a_sigstopped_mule_stops_beating_then_is_killed_and_respawned(servers):
    s = farm_stack(servers)
    assert s.stack()["mule_harakiri"] == HARAKIRI
    before = s.by_name()
    victim, other = before["main.f.1"], before["main.f.2"]
    assert victim["beating"] and other["beating"]
    pid = victim["pid"]
    handled = victim["messages_handled"]

    t0 = time.monotonic()
    os.kill(pid, signal.SIGSTOP)
    # The page shows it silent while the master has not acted yet (silent for 1.5 s, killed at 3 s).
    silent = wait_for(lambda: (lambda p: p if p["pid"] == pid and p["beating"] is False else None)(
        proc(s, "main.f.1")), timeout=HARAKIRI + 5, interval=0.05, what="the stopped mule shown not beating\n" +
        s.log())
    assert silent["state"] == "running" and silent["beat_age_s"] >= 1.4, silent
    assert proc(s, "main.f.2")["beating"] is True, "the other mule beats on"

    wait_for(lambda: not alive(pid), timeout=HARAKIRI + 15, interval=0.05,
             what="the stopped mule killed\n" + s.log())
    killed_after = time.monotonic() - t0
    # its last beat came at most 0.5 s before the SIGSTOP: never killed before harakiri - 0.5 s
    assert killed_after >= HARAKIRI - 0.6, killed_after

    after = wait_respawned(s, "main.f.1", pid)
    assert after["respawns"] == 1 and after["beat_age_s"] < 1.5
    m = log_search(s, KILL_LINE % (r"main\.f\.1", pid, HARAKIRI))  # the mule, its pid and its silence
    assert float(m.group(1)) >= HARAKIRI
    log_search(s, r"main\.f\.1 \(pid %d\) killed by signal 9 .*sent by mule-harakiri; respawning" % pid)
    assert len(re.findall(r"mule-harakiri: main\.f\.\d", s.log())) == 1, "one kill only"

    still = proc(s, "main.f.2")
    assert still["pid"] == other["pid"] and still["respawns"] == 0, "the other mule is left alone"

    # The new mule takes messages on its own channel.
    assert s.request("POST", "/example/send?mule=1&target=count&count=5")[0] == 200
    wait_for(lambda: proc(s, "main.f.1")["messages_handled"] >= handled + 5, timeout=10,
             what="the respawned mule handling messages")


def test_a_mule_held_by_its_handler_is_killed(servers):
    s = farm_stack(servers)
    pid = proc(s, "main.f.2")["pid"]
    assert s.request("POST", "/example/message?mule=2&target=hold", body=b"60")[0] == 202
    wait_for(lambda: not alive(pid), timeout=HARAKIRI + 15, what="the held mule killed\n" + s.log())
    wait_respawned(s, "main.f.2", pid)
    log_search(s, KILL_LINE % (r"main\.f\.2", pid, HARAKIRI))


def test_an_idle_mule_is_not_killed_and_a_long_task_that_beats_is_not_either(servers):
    s = farm_stack(servers)
    before = s.by_name()
    pids = {n: before[n]["pid"] for n in ("main.f.1", "main.f.2")}
    # mule 2 works for 2 x harakiri, calling mt_heartbeat() between steps; mule 1 idles
    assert s.request("POST", "/example/message?mule=2&target=hold", body=b"%d beat" % (2 * HARAKIRI))[0] == 202
    end = time.monotonic() + 2 * HARAKIRI + 0.5
    samples = 0
    while time.monotonic() < end:
        for n, p in s.by_name().items():
            if n in pids:
                assert p["pid"] == pids[n] and p["state"] == "running", (n, p, s.log())
                if n == "main.f.1":
                    assert p["beating"] is True and p["beat_age_s"] < 1.5, (n, p)
        samples += 1
        time.sleep(0.2)
    assert samples >= 10
    # the held mule has finished its task: it beats from its loop again
    wait_for(lambda: proc(s, "main.f.2")["messages_handled"] >= 1 and proc(s, "main.f.2")["beat_age_s"] < 1.0,
             timeout=10, what="mule 2 done with its task")
    after = s.by_name()
    for n in pids:
        assert after[n]["pid"] == pids[n] and after[n]["respawns"] == 0
    assert "mule-harakiri: main" not in s.log()


def test_without_mule_harakiri_a_stopped_mule_is_only_reported(servers):
    s = servers(["--mules", "1"], binary=EXAMPLE)
    pid = wait_for(lambda: (lambda p: p["pid"] if p["beat_age_s"] is not None else None)(proc(s, "main.mule.1")),
                   timeout=10, what="its first beat")
    os.kill(pid, signal.SIGSTOP)
    try:
        wait_for(lambda: proc(s, "main.mule.1")["beating"] is False, timeout=10, what="not beating")
        # well past any harakiri it could have: still there, still the same process
        deadline = time.monotonic() + 4
        while time.monotonic() < deadline:
            p = proc(s, "main.mule.1")
            assert p["pid"] == pid and p["beating"] is False and p["beat_age_s"] >= 1.4, p
            time.sleep(0.2)
    finally:
        os.kill(pid, signal.SIGCONT)
    wait_for(lambda: proc(s, "main.mule.1")["beating"] is True, timeout=10, what="beating again after SIGCONT")
    assert proc(s, "main.mule.1")["respawns"] == 0
    assert "mule-harakiri" not in s.log()


def test_a_stopped_web_worker_is_shown_not_beating_and_not_killed(servers):
    s = servers(["--processes", "2", "--mules", "1", "--mule-harakiri", "2"], binary=EXAMPLE)
    pid = wait_for(lambda: (lambda p: p["pid"] if p["beat_age_s"] is not None else None)(proc(s, "main.web.1")),
                   timeout=10, what="its first beat")

    def web1():
        """main.web.1 as the other worker reports it: a connection the stopped worker took as the
        SIGSTOP landed (one accept batch) stays unanswered until SIGCONT, so give up on it and ask again."""
        try:
            status, _, data = s.request("GET", "/api/stack", timeout=2)
        except OSError:
            return None
        assert status == 200
        return {p["server_name"]: p for p in json.loads(data)["processes"]}["main.web.1"]

    os.kill(pid, signal.SIGSTOP)
    try:
        p = wait_for(lambda: (lambda p: p if p and p["beating"] is False else None)(web1()), timeout=15,
                     what="the stopped web worker shown not beating")
        assert p["pid"] == pid and p["state"] == "running"
        time.sleep(2 + 1)  # past mule-harakiri: web workers are not its business
        p = wait_for(web1, timeout=15, what="an answer from the other worker")
        assert p["pid"] == pid and p["beating"] is False and p["beat_age_s"] >= 3, p
    finally:
        os.kill(pid, signal.SIGCONT)
    wait_for(lambda: (lambda p: p and p["beating"] is True)(web1()), timeout=10, what="beating again")
    assert proc(s, "main.web.1")["respawns"] == 0
    assert "mule-harakiri: main.web" not in s.log()


def test_an_external_mule_program_is_not_watched_and_says_so(servers):
    s = servers(["--mule=" + MULE_ECHO, "--mules", "1", "--mule-harakiri", "2"], binary=EXAMPLE)
    ext = proc(s, "main.mule.1")
    assert ext["program"] == MULE_ECHO and ext["beating"] is None and ext["beat_age_s"] is None
    assert re.search(r"\[notice\] .*mule-harakiri does not watch main\.mule\.1 \(mule 1\): it runs the program "
                     + re.escape(MULE_ECHO) + ", which has no heartbeat", s.log()), s.log()
    time.sleep(2 + 1.5)  # past mule-harakiri and the start-up grace: a program that never beats is not killed
    assert proc(s, "main.mule.1")["pid"] == ext["pid"]
    assert proc(s, "main.mule.2")["beating"] is True


def test_mule_harakiri_in_files_and_print_config(servers, tmp_path):
    ini = write(tmp_path, "stack.ini", "[uwsgi]\nmules = 1\nmule-harakiri = 7\n")
    s = servers(["--ini", ini], binary=EXAMPLE)
    assert s.stack()["mule_harakiri"] == 7
    assert "mule-harakiri: a mule whose loop has not beaten for 7 s is killed and respawned (1 mule watched)" in s.log()

    yml = write(tmp_path, "stack.yml", "uwsgi:\n  mules: 1\n  mule-harakiri: 5\n")
    out = subprocess.run([EXAMPLE, "--yaml", yml, "--print-config"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert re.search(r"^mule-harakiri = 5 +# .*stack\.yml:3$", out.stdout, re.M), out.stdout

    bad = write(tmp_path, "bad.yml", "uwsgi:\n  mules: 1\n  mule-harakiri: -1\n")
    out = subprocess.run([EXAMPLE, "--yaml", bad], capture_output=True, text=True, timeout=30)
    assert out.returncode != 0
    assert re.search(r"bad\.yml:3: option 'mule-harakiri': -1 is out of range", out.stderr), out.stderr


def test_no_builtin_mule_to_watch_is_said(servers):
    s = servers(["--mule-harakiri", "4"], binary=EXAMPLE)
    assert re.search(r"\[notice\] .*mule-harakiri = 4 has no effect: this stack has no built-in mule to watch",
                     s.log()), s.log()


def test_a_job_whose_mule_is_stopped_ends_ok_after_the_mule_is_killed(servers):
    """The job application on top: the respawned handler (same server name) takes up the stopped one's job."""
    s = servers(["--mules", "2", "--farm", "job-handlers:1,2", "--mule-harakiri", str(HARAKIRI)], binary=MULETEER)
    status, _, data = s.request("POST", "/api/jobs", body=json.dumps({"tool_id": "sleep", "inputs": {"seconds": 8}}),
                                headers={"Content-Type": "application/json"})
    assert status == 201, data
    jid = json.loads(data)["id"]

    def job():
        st, doc = s.get_json("/api/jobs/%s" % jid)
        assert st == 200, doc
        return doc
    running = wait_for(lambda: (lambda j: j if j["state"] == "running" and j["handler"] else None)(job()),
                       timeout=20, what="the job running")
    name = running["handler"]
    pid = proc(s, name)["pid"]
    os.kill(pid, signal.SIGSTOP)
    wait_for(lambda: not alive(pid), timeout=HARAKIRI + 15, what="the handler killed\n" + s.log())
    wait_respawned(s, name, pid)
    done = wait_for(lambda: (lambda j: j if j["state"] in ("ok", "error", "deleted") else None)(job()), timeout=60,
                    what="the job to end\n" + s.log())
    assert done["state"] == "ok", (done, s.log())
    log_search(s, KILL_LINE % (re.escape(name), pid, HARAKIRI))


def test_a_mule_that_never_reaches_its_loop_is_killed_after_mule_harakiri_from_its_fork(servers):
    # the example application's mule_start holds 30 s: the mule never beats
    s = servers(["--mules", "1", "--mule-harakiri", "2", "--example.hold-start", "30", "--mule-reload-mercy", "1"],
                binary=EXAMPLE)
    pid = proc(s, "main.mule.1")["pid"]
    m = wait_for(lambda: re.search(r"\[warn\] .*mule-harakiri: main\.mule\.1 \(pid %d\) has not beaten since it was "
                                   r"started (\d+\.\d) s ago, over mule-harakiri = 2 s: killing it" % pid, s.log()),
                 timeout=20, what="the starting mule killed\n" + s.log())
    assert float(m.group(1)) >= 2.0, "a starting mule gets mule-harakiri from its fork"
    wait_for(lambda: proc(s, "main.mule.1")["respawns"] >= 1, timeout=10, what="respawned")
    s.known_pids.add(proc(s, "main.mule.1")["pid"])


def test_a_mule_slow_to_start_but_beating_within_mule_harakiri_is_left_alone(servers):
    s = servers(["--mules", "1", "--mule-harakiri", "2", "--example.hold-start", "1.2"], binary=EXAMPLE)
    pid = proc(s, "main.mule.1")["pid"]
    wait_for(lambda: proc(s, "main.mule.1")["beat_age_s"] is not None, timeout=10, what="its first beat")
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        p = proc(s, "main.mule.1")
        assert p["pid"] == pid and p["beating"] is True, p
        time.sleep(0.2)
    assert "mule-harakiri: main" not in s.log()


def run_standalone(*extra):
    return subprocess.Popen([EXAMPLE, "--attach-to-pool", "p", "--server-name", "h0", "--mule-harakiri", "2"] +
                            list(extra), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_a_standalone_whose_loop_never_beats_kills_itself(tmp_path):
    p = run_standalone("--example.hold-start", "30")
    try:
        out, _ = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == -signal.SIGKILL, out
    m = re.search(r"\[error\] h0\[%d\] .*mule-harakiri: h0 \(pid %d\) has not beaten since its loop started "
                  r"(\d+\.\d) s, over mule-harakiri = 2 s: killing itself" % (p.pid, p.pid), out)
    assert m and float(m.group(1)) >= 2.0, out


def test_a_standalone_that_beats_is_left_alone(tmp_path):
    p = run_standalone()
    lines = []
    try:
        wait_for(lambda: lines.append(p.stdout.readline()) or "standalone process ready" in lines[-1], 10,
                 what="the standalone ready")
        assert any("kills itself if its loop has not beaten for 2 s" in l for l in lines), lines
        time.sleep(2 * 2)  # twice mule-harakiri
        assert p.poll() is None, "".join(lines)
        p.send_signal(signal.SIGTERM)
        out, _ = p.communicate(timeout=10)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 0, "".join(lines) + out
    assert "killing itself" not in out
