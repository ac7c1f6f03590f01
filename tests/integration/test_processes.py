"""Supervision: respawn, fatal exits, shutdown, and no orphans."""
import os
import signal
import threading
import time

from conftest import alive, children_of, wait_for, write


class HealthLoad:
    """Threads sending GET /api/health until stopped, counting answers (200) and failures."""

    def __init__(self, server, nthreads):
        self.results = {"ok": 0, "fail": 0}
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(server,)) for _ in range(nthreads)]
        for t in self._threads:
            t.start()

    def _run(self, server):
        while not self._stop.is_set():
            try:
                status, _, _ = server.request("GET", "/api/health", timeout=5)
                self.results["ok" if status == 200 else "fail"] += 1
            except OSError:
                self.results["fail"] += 1

    def stop(self):
        self._stop.set()
        for t in self._threads:
            t.join()


def test_killed_mule_is_respawned_with_the_same_name(servers):
    s = servers(["--mules", "2", "--farm", "job-handlers:1,2"])
    before = s.by_name()["main.job-handlers.2"]
    os.kill(before["pid"], signal.SIGKILL)
    def respawned():
        p = s.by_name()["main.job-handlers.2"]
        return p if p["pid"] and p["pid"] != before["pid"] and p["state"] == "running" else None
    after = wait_for(respawned, 10, what="respawn of main.job-handlers.2")
    s.known_pids.add(after["pid"])
    assert after["respawns"] == before["respawns"] + 1
    assert after["mule_id"] == 2 and after["instance_id"] == 2
    assert not alive(before["pid"])
    assert "main.job-handlers.2 (pid %d) killed by signal 9" % before["pid"] in s.log()
    # the other mule was not touched
    assert s.by_name()["main.job-handlers.1"]["respawns"] == 0


def test_killed_web_worker_under_load_keeps_serving(servers):
    s = servers(["--processes", "2", "--threads", "2"])
    load = HealthLoad(s, 4)
    results = load.results
    time.sleep(0.3)
    victim = s.by_name()["main.web.1"]
    os.kill(victim["pid"], signal.SIGKILL)
    new = wait_for(lambda: (lambda p: p if p["pid"] not in (None, victim["pid"]) and p["state"] == "running"
                            else None)(s.by_name()["main.web.1"]), 10, what="web worker respawn")
    s.known_pids.add(new["pid"])
    ok_at_respawn = results["ok"]
    time.sleep(0.5)
    load.stop()
    assert results["ok"] > ok_at_respawn, "no request served after the respawn"
    # Connections held by the killed worker may fail; the server as a whole keeps serving.
    assert results["ok"] > 20 * max(1, results["fail"]), results
    status, _, _ = s.request("GET", "/api/health")
    assert status == 200


def test_sigterm_exits_cleanly_with_no_child_left(servers):
    s = servers(["--processes", "2", "--mules", "2", "--farm", "f:1,2"])
    pids = [p["pid"] for p in s.stack()["processes"] if p["role"] in ("web", "mule")]
    assert len(pids) == 4
    t0 = time.time()
    assert s.stop(signal.SIGTERM) == 0
    # idle mules react to shutdown at once: nobody waits out a mercy period
    assert time.time() - t0 < 3, "shutdown took %.1fs" % (time.time() - t0)
    assert not [p for p in pids if alive(p)]


def test_sigint_also_stops(servers):
    s = servers(["--mules", "1"])
    assert s.stop(signal.SIGINT) == 0


def test_in_flight_request_finishes_during_shutdown(servers, tmp_path):
    """A slow upload in flight when SIGTERM arrives still gets its answer."""
    s = servers(["--processes", "1", "--mules", "1", "--farm", "f:1"], binary=__import__("conftest").EXAMPLE)
    c = s.conn(timeout=10)
    body = b"x" * 1000
    c.putrequest("POST", "/example/message?farm=f&target=record")
    c.putheader("Content-Length", str(len(body)))
    c.endheaders()
    c.send(body[:10])
    time.sleep(0.3)
    s.send(signal.SIGTERM)
    time.sleep(0.3)
    c.send(body[10:])
    r = c.getresponse()
    assert r.status == 202, r.read()
    c.close()
    assert s.proc.wait(10) == 0


def test_killing_the_master_leaves_no_orphans(servers):
    s = servers(["--processes", "2", "--threads", "2", "--mules", "3", "--farm", "f:1,2,3"])
    pids = [p["pid"] for p in s.stack()["processes"] if p["role"] in ("web", "mule")]
    assert len(pids) == 5 and all(alive(p) for p in pids)
    os.kill(s.proc.pid, signal.SIGKILL)
    s.proc.wait(5)
    t0 = time.time()
    wait_for(lambda: not [p for p in pids if alive(p)], 2.0, what="children to die with the master")
    assert time.time() - t0 < 1.5
    s.expect_signal = signal.SIGKILL


def test_fatal_exit_status_stops_the_master(servers, tmp_path):
    prog = tmp_path / "fatal-mule"
    prog.write_text("#!/bin/sh\nsleep 0.3\necho 'fatal-mule: giving up' >&2\nexit 78\n")
    prog.chmod(0o755)
    s = servers(["--mule=%s" % prog], start=False)
    s.start(wait_ready=False)
    rc = s.proc.wait(15)
    assert rc != 0
    log = s.log()
    assert "exited with the fatal status 78" in log and "not respawning" in log
    assert log.count("fatal-mule: giving up") == 1


def test_exec_failure_is_reported(servers, tmp_path):
    prog = tmp_path / "not-really"
    prog.write_text("#!/nonexistent/interpreter\n")
    prog.chmod(0o755)
    s = servers(["--mule=%s" % prog], start=False)
    s.start(wait_ready=False)
    assert s.proc.wait(15) != 0
    assert "exec of mule program" in s.log() and "No such file or directory" in s.log()


def test_crash_loop_backs_off(servers, tmp_path):
    prog = tmp_path / "crashy"
    prog.write_text("#!/bin/sh\nexit 3\n")
    prog.chmod(0o755)
    s = servers(["--mule=%s" % prog], start=False)
    s.start(wait_ready=False)
    time.sleep(2.0)
    respawns = s.log().count("respawning in")
    # without backoff a crashing mule would respawn hundreds of times in 2 s
    assert 3 <= respawns <= 8, s.log()
    assert "respawning in 0.8 s" in s.log() or "respawning in 0.4 s" in s.log()
    s.expect_status = 0


def test_failed_respawn_is_retried_not_fatal(servers, tmp_path):
    """A mule program that vanished after start-up: respawning retries with backoff, the stack stays up."""
    prog = tmp_path / "worker"
    prog.write_text("#!/bin/sh\nexec sleep 3600\n")
    prog.chmod(0o755)
    s = servers(["--mule=%s" % prog, "--farm", "w:1"])
    old = s.by_name()["main.w.1"]["pid"]
    moved = tmp_path / "worker.away"
    prog.rename(moved)
    os.kill(old, signal.SIGKILL)
    wait_for(lambda: s.log().count("trying again in") >= 2, 10, what="two failed respawn attempts")
    status, _, _ = s.request("GET", "/api/health")
    assert status == 200
    assert s.by_name()["main.w.1"]["state"] == "respawning"
    moved.rename(prog)
    new = wait_for(lambda: (lambda p: p if p["state"] == "running" and p["pid"] not in (None, old) else None)(
        s.by_name()["main.w.1"]), 15, what="the respawn to succeed once the program is back")
    s.known_pids.add(new["pid"])


def test_sighup_restarts_every_child_one_at_a_time_while_serving(servers):
    s = servers(["--processes", "2", "--mules", "2", "--farm", "f:1,2"])
    before = {n: p["pid"] for n, p in s.by_name().items() if p["role"] in ("web", "mule")}
    load = HealthLoad(s, 2)
    results = load.results
    time.sleep(0.2)
    s.send(signal.SIGHUP)
    wait_for(lambda: "reload: every process restarted" in s.log(), 15, what="the reload to finish")
    time.sleep(0.2)
    load.stop()
    after = s.by_name()
    for name, pid in before.items():
        assert after[name]["pid"] not in (None, pid), "%s was not restarted" % name
        assert after[name]["state"] == "running"
        assert after[name]["respawns"] == 0  # a reload is not a crash
        s.known_pids.add(after[name]["pid"])
    assert results["fail"] == 0, results
    assert results["ok"] > 0
    # one at a time: each restart is logged before the next begins
    log = s.log()
    order = [log.index("reload: restarting %s" % n) for n in ("main.web.1", "main.web.2", "main.f.1", "main.f.2")]
    assert order == sorted(order)
