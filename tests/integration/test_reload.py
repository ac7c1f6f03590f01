"""Reloads that keep jobs: the real binary, real signals.

A graceful reload (SIGHUP, master-fifo r, touch-reload) restarts the web workers and mules one at a time. A
reloading handler starts nothing more and leaves its running commands to their waiters; its successor of the same
server name adopts them (no command is stopped, none runs twice) and takes up the jobs queued under its name. The
reload also reads the job configuration, the tools and the workflows again (checked first: a broken file keeps the
old ones). touch-reload and touch-chain-reload start a reload when a file's modification time changes. And a full
stop (SIGTERM) gives a command that had already finished its real result instead of running it again.

Tools append their job id to a file when their work is done, so the file proves how often each command finished.
"""
import functools
import json
import os
import pathlib
import re
import signal
import threading
import time

from conftest import wait_for, write
from job_api import post_job as post, job_doc as job, wait_job_end

ended = functools.partial(wait_job_end, timeout=30)


def tool(tools_dir, name, script, walltime=None):
    """A tools-dir tool whose command is `sh -c script` ($MULETEER_JOB_ID is the job's id)."""
    os.makedirs(tools_dir, exist_ok=True)
    doc = {"id": name, "version": "1.0", "name": name, "command": ["/bin/sh", "-c", script],
           "outputs": [{"name": "out", "from": "stdout"}]}
    if walltime:
        doc["walltime"] = walltime
    with open(os.path.join(tools_dir, name + ".yml"), "w") as f:
        f.write(json.dumps(doc))
    return tools_dir


def stdout_of(s, jid):
    status, _, data = s.request("GET", "/api/jobs/%s/stdout" % jid)
    assert status == 200, data
    return data.decode()


def ids_in(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return f.read().split()


def child_pids(s):
    return {n: p["pid"] for n, p in s.by_name().items() if p["role"] in ("web", "mule")}


def reloads_done(s, n, what="reload: every process restarted"):
    wait_for(lambda: s.log().count(what) >= n, 60, what="%d reload(s) to finish\n%s" % (n, s.log()[-4000:]))
    s.wait_ready()


# ------------------------------------------------------------------ the acceptance test


class Submitter:
    """Threads POSTing jobs of one tool, each on a new connection, counting every failed request. The last
    `held` jobs wait for release(), so that submissions go on for as long as the test needs them to."""

    def __init__(self, s, tool_id, total, nthreads, held=0):
        self.ids, self.failures = [], []
        self._lock = threading.Lock()
        self._left = total
        self._held = held
        self._gate = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(s, tool_id)) for _ in range(nthreads)]
        for t in self._threads:
            t.start()

    def release(self):
        self._gate.set()

    def _take(self):
        while True:
            with self._lock:
                if self._left == 0:
                    return False
                if self._left > self._held or self._gate.is_set():
                    self._left -= 1
                    return True
            self._gate.wait()

    def _run(self, s, tool_id):
        while self._take():
            try:
                status, _, data = s.request("POST", "/api/jobs", body=json.dumps({"tool_id": tool_id}),
                                            headers={"Content-Type": "application/json"}, timeout=30)
                if status == 201:
                    with self._lock:
                        self.ids.append(json.loads(data)["id"])
                else:
                    self.failures.append("HTTP %d: %r" % (status, data[:200]))
            except OSError as e:  # refused, reset, timed out: a request that failed
                self.failures.append("%s: %s" % (type(e).__name__, e))

    def submitted(self):
        return len(self.ids) + len(self.failures)

    def join(self):
        for t in self._threads:
            t.join()


def test_1000_jobs_through_two_sighup_reloads_each_end_ok_once_and_no_request_fails(servers, tmp_path):
    out = str(tmp_path / "ids.txt")
    tools = tool(str(tmp_path / "tools"), "append", 'sleep 2; echo "$MULETEER_JOB_ID" >> %s' % out)
    s = servers(["--processes", "2", "--threads", "2", "--mules", "3", "--farm", "job-handlers:1,2,3",
                 "--set", "jobs.tools-dir=%s" % tools, "--set", "jobs.data-dir=%s" % (tmp_path / "data"),
                 "--set", "jobs.workers=150"])
    total = 1000
    started = time.time()
    # The last 100 wait until both reloads are over: every reload runs while jobs are submitted and run.
    sub = Submitter(s, "append", total, 4, held=100)
    wait_for(lambda: sub.submitted() >= 100, 30, what="the first 100 submissions")
    s.send(signal.SIGHUP)
    reloads_done(s, 1)
    s.send(signal.SIGHUP)
    reloads_done(s, 2)
    sub.release()
    sub.join()
    assert not sub.failures, "%d requests failed: %s" % (len(sub.failures), sub.failures[:10])
    assert len(sub.ids) == total

    def all_ended():
        rows = s.sql("SELECT count(*) FROM job WHERE state IN ('ok', 'error', 'deleted')")
        return rows[0][0] == total
    wait_for(all_ended, 90, interval=0.5, what="every job to end\n" + s.log()[-4000:])
    rows = s.sql("SELECT id, state, attempt FROM job")
    not_ok = [r for r in rows if r[1] != "ok"]
    again = [r for r in rows if r[2] != 1]
    in_file = ids_in(out)
    twice = sorted({i for i in in_file if in_file.count(i) > 1})
    missing = sorted(set(str(i) for i in sub.ids) - set(in_file))
    elapsed = time.time() - started
    log = s.log()
    print("RELOAD 1000 jobs, 2 SIGHUPs: %d ok, %d not ok, %d run again (attempt > 1), %d twice in the file, "
          "%d missing, %d requests failed, %.1f s; commands left to their successors: %s" % (
              len(rows) - len(not_ok), len(not_ok), len(again), len(twice), len(missing), len(sub.failures),
              elapsed, re.findall(r"reloading: (\d+) running job", log)))
    assert not not_ok, not_ok[:10]
    assert not again, again[:10]
    assert not twice and not missing, (twice[:10], missing[:10])
    assert len(in_file) == total
    # The mules did leave running commands to their successors, which adopted them, and stopped none.
    assert any(int(n) > 0 for n in re.findall(r"reloading: (\d+) running job", log)), log[-4000:]
    assert "put back in the queue" not in log
    assert "stopping job process group" not in log


def test_web_workers_handling_jobs_leave_them_to_their_successors_too(servers, tmp_path):
    """No mules: the web workers' own handlers run the jobs, and a reload restarts them with their commands."""
    out = str(tmp_path / "ids.txt")
    tools = tool(str(tmp_path / "tools"), "append", 'sleep 2; echo "$MULETEER_JOB_ID" >> %s' % out)
    s = servers(["--processes", "2", "--set", "jobs.tools-dir=%s" % tools,
                 "--set", "jobs.data-dir=%s" % (tmp_path / "data"), "--set", "jobs.workers=20"])
    ids = [post(s, "append") for _ in range(30)]
    wait_for(lambda: s.sql("SELECT count(*) FROM job WHERE state = 'running'")[0][0] >= 10, 20,
             what="jobs to run")
    s.send(signal.SIGHUP)
    reloads_done(s, 1)
    for jid in ids:
        assert ended(s, jid)["state"] == "ok"
    assert s.sql("SELECT count(*) FROM job WHERE attempt <> 1")[0][0] == 0
    assert sorted(ids_in(out)) == sorted(str(i) for i in ids)
    log = s.log()
    assert any(int(n) > 0 for n in re.findall(r"main\.web\.\d\[\d+\] muleteer\.jobs\.handler: reloading: (\d+) "
                                               r"running job", log)), log[-4000:]
    assert "put back in the queue" not in log


# ------------------------------------------------------------------ the configuration is read again

JOB_CONF = """runners:
  local:
    load: galaxy.jobs.runners.local:LocalJobRunner
execution:
  default: here
  environments:
    here:
      runner: local
      env:
        - name: GREETING
          value: %s
"""


def test_a_reload_picks_up_a_changed_job_configuration_and_a_broken_one_keeps_the_old(servers, tmp_path):
    tools = tool(str(tmp_path / "tools"), "greet", 'echo "greeting=$GREETING"')
    conf = write(tmp_path, "job_conf.yml", JOB_CONF % "one")
    s = servers(["--processes", "1", "--mules", "1", "--farm", "job-handlers:1",
                 "--set", "jobs.tools-dir=%s" % tools, "--set", "jobs.job-config=%s" % conf])
    j = ended(s, post(s, "greet"))
    assert j["state"] == "ok" and "greeting=one" in stdout_of(s, j["id"])

    write(tmp_path, "job_conf.yml", JOB_CONF % "two")
    s.send(signal.SIGHUP)
    reloads_done(s, 1)
    assert re.search(r"reload: job configuration %s, 1 tools from \S+, \d+ workflows reloaded" % re.escape(conf),
                     s.log()), s.log()[-3000:]
    j = ended(s, post(s, "greet"))
    assert j["state"] == "ok" and "greeting=two" in stdout_of(s, j["id"]), stdout_of(s, j["id"])

    # Broken: local_slots that is not a number, on line 9. The old configuration stays.
    write(tmp_path, "job_conf.yml", (JOB_CONF % "three").replace("runner: local", "runner: local\n      local_slots: many"))
    s.send(signal.SIGHUP)
    reloads_done(s, 2)
    log = s.log()
    err = [l for l in log.splitlines() if "the application's configuration was not reloaded" in l]
    assert err, log[-3000:]
    assert "[error]" in err[0] and "option 'jobs.job-config'" in err[0], err
    assert re.search(re.escape(conf) + r":9: destination 'here': local_slots 'many'", err[0]), err
    j = ended(s, post(s, "greet"))
    assert j["state"] == "ok" and "greeting=two" in stdout_of(s, j["id"]), stdout_of(s, j["id"])


def test_a_reload_picks_up_a_new_tool_and_a_broken_tool_keeps_the_old_ones(servers, tmp_path):
    tools = tool(str(tmp_path / "tools"), "first", "echo first")
    s = servers(["--processes", "2", "--mules", "1", "--farm", "job-handlers:1", "--set", "jobs.tools-dir=%s" % tools])
    status, _, data = s.request("POST", "/api/jobs", body=json.dumps({"tool_id": "second"}),
                                headers={"Content-Type": "application/json"})
    assert status == 400, data

    tool(tools, "second", "echo second")
    s.send(signal.SIGHUP)
    reloads_done(s, 1)
    assert re.search(r"reload: .*2 tools from %s \(added second\)" % re.escape(tools), s.log()), s.log()[-3000:]
    status, doc = s.get_json("/api/tools")
    assert status == 200
    assert "second" in json.dumps(doc)
    j = ended(s, post(s, "second"))
    assert j["state"] == "ok" and stdout_of(s, j["id"]).strip() == "second"

    # A broken tool file: named with its line; the two tools stay, the third is not there.
    write(pathlib.Path(tools), "third.yml", 'id: third\nversion: "1"\nname: third\ncommand: ["/bin/true"]\nbogus_key: 1\n')
    s.send(signal.SIGHUP)
    reloads_done(s, 2)
    err = [l for l in s.log().splitlines() if "the application's configuration was not reloaded" in l]
    assert err and "option 'jobs.tools-dir'" in err[0] and re.search(r"third\.yml:\d+", err[0]), err
    j = ended(s, post(s, "second"))
    assert j["state"] == "ok"
    status, _, _ = s.request("POST", "/api/jobs", body=json.dumps({"tool_id": "third"}),
                             headers={"Content-Type": "application/json"})
    assert status == 400


# ------------------------------------------------------------------ touch-reload, touch-chain-reload


def changed(before, after, names):
    return all(after[n] not in (None, before[n]) for n in names)


def test_touch_reload_restarts_everything_and_touch_chain_reload_the_web_workers_only(servers, tmp_path):
    full = tmp_path / "reload.touch"
    chain = tmp_path / "chain.touch"
    chain.write_text("")
    s = servers(["--processes", "2", "--mules", "2", "--farm", "job-handlers:1,2",
                 "--touch-reload", str(full), "--touch-chain-reload", str(chain)])
    log = s.log()
    assert "touch-reload: %s does not exist (yet): its creation will count as a change" % full in log, log
    web = ["main.web.1", "main.web.2"]
    mules = ["main.job-handlers.1", "main.job-handlers.2"]
    before = child_pids(s)
    assert "reload" not in "".join(l for l in s.log_lines if "restarting" in l)

    # The chain file touched (a new mtime): the web workers restart, one at a time; the mules do not.
    os.utime(str(chain), (time.time() + 5, time.time() + 5))
    reloads_done(s, 1, "reload: every web worker restarted")
    after = child_pids(s)
    assert changed(before, after, web), (before, after)
    assert all(after[m] == before[m] for m in mules), (before, after)
    assert "touch-chain-reload: %s modified: restarting every web worker, one at a time" % chain in s.log()

    # The full file created: everything restarts.
    full.write_text("now")
    reloads_done(s, 1)
    final = child_pids(s)
    assert changed(after, final, web + mules), (after, final)
    assert "touch-reload: %s created: restarting every web worker and mule, one at a time" % full in s.log(), \
        [l for l in s.log_lines if "reload" in l]
    # Untouched since: no more reloads. A negative, so it takes waiting: two of the master's checks (1 s each).
    time.sleep(2.5)
    assert s.log().count("reload: every process restarted") == 1
    assert s.log().count("reload: every web worker restarted") == 1
    assert child_pids(s) == final


def test_master_fifo_r_reloads_the_configuration_too(servers, tmp_path):
    tools = tool(str(tmp_path / "tools"), "first", "echo first")
    fifo = tmp_path / "master.fifo"
    s = servers(["--mules", "1", "--farm", "job-handlers:1", "--set", "jobs.tools-dir=%s" % tools,
                 "--master-fifo", str(fifo)])
    tool(tools, "second", "echo second")
    with open(str(fifo), "w") as f:
        f.write("r")
    reloads_done(s, 1)
    assert "(added second)" in s.log()
    assert ended(s, post(s, "second"))["state"] == "ok"


# ------------------------------------------------------------------ a full stop


def test_a_full_stop_gives_a_command_that_had_finished_its_result_and_does_not_run_it_again(servers, tmp_path):
    """Two jobs on one mule. At the stop, the mule stops the later one first (it ignores SIGTERM: that takes the
    cancel grace, 4 s), and meanwhile the earlier one's command finishes by itself. It must end ok, once."""
    out = str(tmp_path / "ids.txt")
    done = tmp_path / "stubborn.done"
    tools = str(tmp_path / "tools")
    tool(tools, "append", 'sleep 2; echo "$MULETEER_JOB_ID" >> %s' % out)
    tool(tools, "stubborn", 'trap "" TERM; [ -e %s ] && exit 0; sleep 60' % done)
    args = ["--mules", "1", "--farm", "job-handlers:1", "--set", "jobs.tools-dir=%s" % tools,
            "--set", "jobs.data-dir=%s" % (tmp_path / "data"), "--set", "jobs.cancel-grace=4"]
    s = servers(args)
    first = post(s, "append")
    wait_for(lambda: job(s, first)["state"] == "running" and job(s, first)["external_id"], 10,
             what="the first job to run")
    second = post(s, "stubborn")
    wait_for(lambda: job(s, second)["state"] == "running" and job(s, second)["external_id"], 10,
             what="the second job to run")
    assert s.stop() == 0
    log = s.log()
    assert "stopping: job %s: its command had ended when the stop came: ok" % first in log, log[-3000:]
    assert ids_in(out) == [str(first)]

    done.write_text("")
    s2 = servers(args)
    assert ended(s2, second)["state"] == "ok"
    j = job(s2, first)
    assert j["state"] == "ok" and j["exit_code"] == 0, j
    # Ended at attempt 1 before the restart: nothing puts it back in a queue, so it cannot run again.
    assert s2.sql("SELECT attempt FROM job WHERE id = ?", (int(first),))[0][0] == 1
    assert ids_in(out) == [str(first)]


def test_a_reload_says_that_a_changed_config_file_is_not_read_again(servers, tmp_path):
    cfg = write(tmp_path, "galaxy.yml", "uwsgi:\n  processes: 1\n  mules: 1\n")
    s = servers(["--yaml", cfg])
    s.send(signal.SIGHUP)
    reloads_done(s, 1)
    assert "was modified since the stack started" not in s.log()
    write(tmp_path, "galaxy.yml", "uwsgi:\n  processes: 2\n  mules: 1\n")
    os.utime(cfg, (time.time() + 2, time.time() + 2))
    s.send(signal.SIGHUP)
    reloads_done(s, 2)
    assert ("reload: %s was modified since the stack started: a reload does not read the stack's options (nor the "
            "[jobs] options) again; a stop and a start does" % cfg) in s.log()
    assert len([p for p in s.stack()["processes"] if p["role"] == "web"]) == 1


def test_a_reload_that_would_take_a_handler_away_keeps_the_old_configuration(servers, tmp_path):
    conf = write(tmp_path, "job_conf.xml", '<job_conf>\n  <handlers>\n    <handler id="main.mule.1"/>\n'
                                           '  </handlers>\n</job_conf>\n')
    s = servers(["--processes", "1", "--mules", "2", "--set", "jobs.job-config=%s" % conf])
    write(tmp_path, "job_conf.xml", '<job_conf>\n  <handlers>\n    <handler id="main.mule.2"/>\n'
                                    '  </handlers>\n</job_conf>\n')
    s.send(signal.SIGHUP)
    reloads_done(s, 1)
    err = [l for l in s.log().splitlines() if "the application's configuration was not reloaded" in l]
    assert err and ("option 'jobs.job-config': %s: handler main.mule.1 is no longer named" % conf) in err[0], \
        s.log()[-3000:]
    # The old one stands: main.mule.1 handles jobs again after its restart, main.mule.2 still does not.
    wait_for(lambda: len(re.findall(r"main\.mule\.1\[\d+\] muleteer\.jobs\.handler: handling jobs", s.log())) == 2,
             10, what="main.mule.1 to handle jobs again\n" + s.log()[-3000:])
    assert not re.search(r"main\.mule\.2\[\d+\] muleteer\.jobs\.handler: handling jobs", s.log())
