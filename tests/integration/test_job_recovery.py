"""A job's result survives its handler: each command is watched by a waiter (muleteer-waiter) that outlives the
handler, writes how the command ended beside its outputs, and stops it itself once the handler's fence lapses.

Real binary, real signals: mules SIGKILLed and SIGSTOPped, commands and waiters killed, the whole stack killed.
Tools append their job id to a file when their work is done, so the file proves how often each command finished.
"""
import functools
import json
import os
import signal
import subprocess
import time

from conftest import MULETEER, alive, wait_for, write
from job_api import post_job as post, job_doc as job, job_history as history, wait_job_end

ended = functools.partial(wait_job_end, timeout=40)

MULE = "main.job-handlers.1"


def tool(tmp_path, name, script):
    """A tools-dir tool whose command is `sh -c script` ($MULETEER_JOB_ID is the job's id)."""
    tools = tmp_path / "tools"
    tools.mkdir(exist_ok=True)
    write(tools, name + ".yml", json.dumps({"id": name, "version": "1.0", "name": name,
                                            "command": ["/bin/sh", "-c", script]}))
    return str(tools)


def stack_args(tmp_path, tools, *more):
    return ["--mules", "1", "--farm", "job-handlers:1", "--set", "jobs.tools-dir=%s" % tools,
            "--set", "jobs.data-dir=%s" % (tmp_path / "data"), "--set", "jobs.cancel-grace=1"] + list(more)


def ids_in(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return f.read().split()


def job_dir(tmp_path, jid):
    return os.path.join(os.path.realpath(str(tmp_path / "data")), "jobs", jid)


def waiter_of(tmp_path, jid):
    """(waiter pid, command pid) from the job's `waiter` file."""
    with open(os.path.join(job_dir(tmp_path, jid), "waiter")) as f:
        words = f.read().split()
    return int(words[1]), int(words[5])


def waiters_under(data_dir):
    """Live muleteer-waiter processes of jobs under data_dir."""
    prefix = os.path.join(os.path.realpath(data_dir), "jobs") + "/"
    found = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % d, "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"/muleteer-waiter") and len(argv) > 2 and \
                argv[2].decode(errors="replace").startswith(prefix) and alive(int(d)):
            found.append(int(d))
    return found


def running_with_pid(s, jid):
    j = job(s, jid)
    return j if j["state"] == "running" and j["external_id"] else None


def respawned(s, old_pid):
    p = s.by_name()[MULE]
    return p if p["pid"] and p["pid"] != old_pid and p["state"] == "running" else None


def kill_mule(s, sig=signal.SIGKILL):
    pid = s.by_name()[MULE]["pid"]
    os.kill(pid, sig)
    return pid


def test_mule_sigkilled_while_its_commands_run_each_job_ends_once_with_its_real_exit_code(servers, tmp_path):
    out = str(tmp_path / "ids.txt")
    tools = tool(tmp_path, "append", 'sleep 2; echo "$MULETEER_JOB_ID" >> %s' % out)
    tool(tmp_path, "append3", 'sleep 2; echo "$MULETEER_JOB_ID" >> %s; exit 3' % out)
    s = servers(stack_args(tmp_path, tools, "--set", "jobs.workers=4"))
    ids = [post(s, "append") for _ in range(3)] + [post(s, "append3")]
    pids = {jid: int(wait_for(lambda jid=jid: running_with_pid(s, jid), 20, what="job running")["external_id"])
            for jid in ids}
    old = kill_mule(s)
    wait_for(lambda: respawned(s, old), 20, what="the mule respawned")
    done = {jid: ended(s, jid) for jid in ids}
    for jid in ids[:3]:
        assert done[jid]["state"] == "ok" and done[jid]["exit_code"] == 0, done[jid]
    last = done[ids[3]]
    assert last["state"] == "error" and last["exit_code"] == 3 and "status 3" in last["info"], last
    assert sorted(ids_in(out)) == sorted(ids), "each command ran exactly once: %s" % ids_in(out)
    for jid in ids:
        assert done[jid]["attempt"] == 1 and int(done[jid]["external_id"]) == pids[jid], done[jid]
        states = [h["state"] for h in history(s, jid)]
        assert states == ["new", "queued", "running", done[jid]["state"]], states
    s.known_pids.add(s.by_name()[MULE]["pid"])


def test_command_that_finished_while_its_mule_was_stopped_then_killed_gets_its_real_result(servers, tmp_path):
    out = str(tmp_path / "ids.txt")
    tools = tool(tmp_path, "append", 'sleep 1; echo "$MULETEER_JOB_ID" >> %s; exit 5' % out)
    s = servers(stack_args(tmp_path, tools))
    jid = post(s, "append")
    pid = int(wait_for(lambda: running_with_pid(s, jid), 20, what="job running")["external_id"])
    old = kill_mule(s, signal.SIGSTOP)  # the handler cannot see its command end
    try:
        wait_for(lambda: not alive(pid), 20, what="the command to end")
        status_file = os.path.join(job_dir(tmp_path, jid), "exit_status")
        wait_for(lambda: os.path.exists(status_file), 10, what="the waiter's status file")
        with open(status_file) as f:
            assert f.read().split()[:2] == ["exit", "5"]
        assert job(s, jid)["state"] == "running"
    finally:
        os.kill(old, signal.SIGKILL)
    wait_for(lambda: respawned(s, old), 20, what="the mule respawned")
    done = ended(s, jid)
    assert done["state"] == "error" and done["exit_code"] == 5 and done["attempt"] == 1, done
    assert ids_in(out) == [jid]
    s.known_pids.add(s.by_name()[MULE]["pid"])


def test_command_killed_while_its_handler_was_down_is_that_result(servers, tmp_path):
    """Only the command killed (its waiter saw it): the job ends as a live handler would have recorded it."""
    s = servers(["--mules", "1", "--farm", "job-handlers:1", "--set", "jobs.data-dir=%s" % (tmp_path / "data")])
    status, _, data = s.request("POST", "/api/jobs", body=json.dumps({"tool_id": "sleep", "inputs": {"seconds": 30}}),
                                headers={"Content-Type": "application/json"})
    jid = json.loads(data)["id"]
    pid = int(wait_for(lambda: running_with_pid(s, jid), 20, what="job running")["external_id"])
    old = kill_mule(s, signal.SIGSTOP)
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not alive(pid), 5, what="the command to end")
    os.kill(old, signal.SIGKILL)
    done = ended(s, jid)
    assert done["state"] == "error" and "killed by signal 9" in done["info"] and done["attempt"] == 1, done
    s.known_pids.add(s.by_name()[MULE]["pid"])


def kill_run_while_handler_down(s, tmp_path, jid):
    """SIGSTOP the mule, SIGKILL the job's command and its waiter (as a lost host takes both), SIGKILL the mule."""
    pid = int(wait_for(lambda: running_with_pid(s, jid), 20, what="job running")["external_id"])
    waiter, command = waiter_of(tmp_path, jid)
    assert command == pid
    old = kill_mule(s, signal.SIGSTOP)
    os.kill(waiter, signal.SIGKILL)
    os.killpg(pid, signal.SIGKILL)
    wait_for(lambda: not alive(pid) and not alive(waiter), 5, what="the run to die")
    os.kill(old, signal.SIGKILL)
    wait_for(lambda: respawned(s, old), 20, what="the mule respawned")
    return pid


def test_run_lost_with_its_waiter_while_the_handler_was_down_runs_again_as_attempt_2(servers, tmp_path):
    out = str(tmp_path / "ids.txt")
    marks = tmp_path / "marks"
    marks.mkdir()
    # the first run waits long (and dies with its waiter); the second finishes at once
    tools = tool(tmp_path, "once", 'if [ -e %s/$MULETEER_JOB_ID ]; then :; else touch %s/$MULETEER_JOB_ID; sleep 60; fi; '
                 'echo "$MULETEER_JOB_ID" >> %s' % (marks, marks, out))
    s = servers(stack_args(tmp_path, tools))
    jid = post(s, "once")
    first = kill_run_while_handler_down(s, tmp_path, jid)
    done = ended(s, jid)
    assert done["state"] == "ok" and done["attempt"] == 2 and int(done["external_id"]) != first, done
    assert ids_in(out) == [jid]
    hist = history(s, jid)
    assert [h["state"] for h in hist] == ["new", "queued", "running", "queued", "running", "ok"], hist
    assert hist[3]["info"].startswith("attempt 2: ") and "gone" in hist[3]["info"], hist[3]
    s.known_pids.add(s.by_name()[MULE]["pid"])


def test_max_attempts_spent_ends_the_job_in_error_naming_them(servers, tmp_path):
    tools = tool(tmp_path, "long", "sleep 60")
    s = servers(stack_args(tmp_path, tools, "--set", "jobs.max-attempts=2"))
    jid = post(s, "long")
    kill_run_while_handler_down(s, tmp_path, jid)
    wait_for(lambda: (lambda j: j if j["attempt"] == 2 and j["state"] == "running" and j["external_id"] else None)(
        job(s, jid)), 20, what="attempt 2 running")
    kill_run_while_handler_down(s, tmp_path, jid)
    done = ended(s, jid)
    assert done["state"] == "error" and done["attempt"] == 2, done
    assert "gave up after 2 attempts" in done["info"] and "jobs.max-attempts" in done["info"], done
    s.known_pids.add(s.by_name()[MULE]["pid"])


def test_max_attempts_below_one_is_refused_naming_file_line_and_option(tmp_path):
    ini = write(tmp_path, "stack.ini", "[jobs]\nmax-attempts = 0\n")
    r = subprocess.run([MULETEER, "--ini", ini, "--print-config"], capture_output=True, text=True,
                       cwd=str(tmp_path), timeout=30)
    assert r.returncode != 0, r
    assert "%s:2: option 'max-attempts': 0 is out of range [1, 1000]" % ini in r.stdout + r.stderr, r


def test_whole_stack_sigkilled_mid_job_is_adopted_after_restart_not_run_again(servers, tmp_path):
    out = str(tmp_path / "ids.txt")
    tools = tool(tmp_path, "append", 'sleep 3; echo "$MULETEER_JOB_ID" >> %s' % out)
    args = stack_args(tmp_path, tools)
    s = servers(args)
    jid = post(s, "append")
    pid = int(wait_for(lambda: running_with_pid(s, jid), 20, what="job running")["external_id"])
    os.kill(s.proc.pid, signal.SIGKILL)
    s.proc.wait(5)
    s.expect_signal = signal.SIGKILL
    assert alive(pid), "the command must outlive the stack: its waiter answers for it"
    s2 = servers(args)
    done = ended(s2, jid)
    assert done["state"] == "ok" and int(done["external_id"]) == pid and done["attempt"] == 1, done
    assert ids_in(out) == [jid]
    assert [h["state"] for h in history(s2, jid)] == ["new", "queued", "running", "ok"]


def test_mule_killed_before_the_pid_was_written_adopts_the_command_and_records_its_pid(servers, tmp_path):
    out = str(tmp_path / "ids.txt")
    tools = tool(tmp_path, "append", 'sleep 3; echo "$MULETEER_JOB_ID" >> %s' % out)
    s = servers(stack_args(tmp_path, tools, "--set", "jobs.poll-interval=60000"))  # no poll writes the pid
    jid = post(s, "append")
    running = wait_for(lambda: (lambda j: j if j["state"] == "running" else None)(job(s, jid)), 20, what="running")
    assert running["external_id"] is None, running
    status_dir = job_dir(tmp_path, jid)
    wait_for(lambda: os.path.exists(os.path.join(status_dir, "waiter")), 10, what="the waiter")
    waiter, command = waiter_of(tmp_path, jid)
    old = kill_mule(s)
    wait_for(lambda: respawned(s, old), 20, what="the mule respawned")
    done = ended(s, jid)
    assert done["state"] == "ok" and int(done["external_id"]) == command and done["attempt"] == 1, done
    assert ids_in(out) == [jid]
    s.known_pids.add(s.by_name()[MULE]["pid"])


def test_a_stopped_handler_is_fenced_its_command_stopped_and_the_job_runs_again(servers, tmp_path):
    """SIGSTOP the mule: nobody renews its fence, so the waiter stops the command within the lease (10 s) plus
    the cancel grace; once the mule is killed and respawned, the job runs again as attempt 2."""
    out = str(tmp_path / "ids.txt")
    marks = tmp_path / "marks"
    marks.mkdir()
    tools = tool(tmp_path, "once", 'if [ -e %s/$MULETEER_JOB_ID ]; then :; else touch %s/$MULETEER_JOB_ID; sleep 60; fi; '
                 'echo "$MULETEER_JOB_ID" >> %s' % (marks, marks, out))
    s = servers(stack_args(tmp_path, tools))
    jid = post(s, "once")
    pid = int(wait_for(lambda: running_with_pid(s, jid), 20, what="job running")["external_id"])
    old = kill_mule(s, signal.SIGSTOP)
    t0 = time.time()
    try:
        wait_for(lambda: not alive(pid), 10 + 1 + 10, what="the waiter to stop the command of a hung handler")
        fenced_after = time.time() - t0
        status_file = os.path.join(job_dir(tmp_path, jid), "exit_status")
        wait_for(lambda: os.path.exists(status_file), 5, what="the status file")
        with open(status_file) as f:
            assert f.read().startswith("fenced "), "the waiter says why it stopped the command"
        assert fenced_after <= 10 + 1 + 2, fenced_after
    finally:
        os.kill(old, signal.SIGKILL)
    wait_for(lambda: respawned(s, old), 20, what="the mule respawned")
    done = ended(s, jid)
    assert done["state"] == "ok" and done["attempt"] == 2, done
    assert ids_in(out) == [jid]
    assert "fence lapsed" in history(s, jid)[3]["info"]
    s.known_pids.add(s.by_name()[MULE]["pid"])


def test_cancel_of_an_adopted_command_stops_it(servers, tmp_path):
    tools = tool(tmp_path, "long", "sleep 60")
    s = servers(stack_args(tmp_path, tools))
    jid = post(s, "long")
    pid = int(wait_for(lambda: running_with_pid(s, jid), 20, what="job running")["external_id"])
    old = kill_mule(s)
    wait_for(lambda: respawned(s, old), 20, what="the mule respawned")
    assert alive(pid)
    status, _, data = s.request("DELETE", "/api/jobs/%s" % jid)
    assert status in (200, 202), data
    done = ended(s, jid)
    assert done["state"] == "deleted", done
    wait_for(lambda: not alive(pid), 10, what="the adopted command to be stopped")
    s.known_pids.add(s.by_name()[MULE]["pid"])


def test_a_normal_stop_leaves_no_command_and_no_waiter(servers, tmp_path):
    tools = tool(tmp_path, "long", "sleep 60")
    s = servers(stack_args(tmp_path, tools, "--set", "jobs.workers=3"))
    ids = [post(s, "long") for _ in range(3)]
    pids = [int(wait_for(lambda jid=jid: running_with_pid(s, jid), 20, what="job running")["external_id"])
            for jid in ids]
    assert len(waiters_under(str(tmp_path / "data"))) == 3
    assert s.stop() == 0
    assert not [p for p in pids if alive(p)], "a command outlived a normal stop"
    assert not waiters_under(str(tmp_path / "data")), "a waiter outlived a normal stop"
    assert not os.path.exists(tmp_path / "data" / "handlers" / (MULE + ".fence")), "the fence is removed"
    for jid in ids:  # put back in the queue as the same attempt: nothing of the stopped run may stand for the next
        assert not os.path.exists(os.path.join(job_dir(tmp_path, jid), "exit_status")), jid
