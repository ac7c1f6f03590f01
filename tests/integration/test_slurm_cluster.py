"""The Slurm test harness itself: scripts/slurm-cluster.sh and the `slurm` fixture of conftest.py.

The cluster the Slurm runner's tests use must really run batch jobs and report their exit codes, names, time
limits and partitions as the tests read them; its job count must be exact; a slurmctld stopped and started
again must keep the running jobs and the results of those that ended meanwhile, and take new ones; and a
stopped cluster must leave no daemon, slurmstepd or job process behind, not even one that left its job's
process group. None of this starts muleteer.
"""
import os
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

from conftest import ROOT, SLURM_CLUSTER, SlurmCluster, alive, wait_for

pytestmark = pytest.mark.slurm


def script(*args, env=None, timeout=120):
    return subprocess.run([SLURM_CLUSTER] + list(args), capture_output=True, text=True, timeout=timeout,
                          env=dict(os.environ, **(env or {})))


def environ(pid):
    try:
        with open("/proc/%d/environ" % pid, "rb") as f:
            return f.read().decode(errors="replace").split("\0")
    except OSError:
        return []


def processes_of(d):
    """Live processes of the cluster in d: its SLURM_CONF in their environment or d in their command line."""
    conf = "SLURM_CONF=%s/etc/slurm.conf" % d
    found = {}
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        pid = int(name)
        try:
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
            with open("/proc/%d/comm" % pid) as f:
                comm = f.read().strip()
        except OSError:
            continue
        if (conf in environ(pid) or d + "/" in cmdline) and alive(pid):
            found[pid] = "%s: %s" % (comm, cmdline)
    return found


@pytest.fixture
def own_cluster_dir():
    """A directory for a cluster of the test's own (short, under /tmp), stopped and removed at the end."""
    r = script("check")
    if r.returncode != 0:
        SlurmCluster().unavailable(r.stderr.strip().replace("slurm-cluster: ", "", 1))
    d = tempfile.mkdtemp(prefix=SlurmCluster.PREFIX + "t-", dir="/tmp")
    with open(os.path.join(d, "owner"), "w") as f:  # reaped by a later session should this one be killed
        f.write("%d\n" % os.getpid())
    yield d
    script("stop", d)
    shutil.rmtree(d, ignore_errors=True)


def sbatch(slurm, *args):
    """Submit; the Slurm job id."""
    return int(slurm.run(["sbatch", "--parsable"] + list(args)).strip().split(";")[0])


def test_a_batch_job_runs_with_its_name_partition_and_time_limit_and_its_exit_code_is_seen(slurm, tmp_path):
    job_script = tmp_path / "job.sh"
    job_script.write_text("#!/bin/sh\necho \"ran in $SLURM_JOB_PARTITION as $SLURM_JOB_NAME with $SLURM_CONF\"\n"
                          "echo oops >&2\nexit 3\n")
    out, err = tmp_path / "out", tmp_path / "err"
    before = slurm.sbatch_count()
    jid = sbatch(slurm, "-J", "harness-exit3", "-p", "batch", "--time=2", "-o", str(out), "-e", str(err),
                 "-D", str(tmp_path), str(job_script))
    job = slurm.wait_job(jid)
    assert job["state"] == "FAILED" and job["exit_code"] == 3 and job["signal"] == 0, job
    assert job["name"] == "harness-exit3" and job["partition"] == "batch", job
    assert job["time_limit"] == "00:02:00" and job["time_limit_minutes"] == 2, job
    assert job["command"] == str(job_script) and job["work_dir"] == str(tmp_path), job
    assert job["std_out"] == str(out) and job["std_err"] == str(err), job
    assert out.read_text() == "ran in batch as harness-exit3 with %s\n" % slurm.conf, "not run by this cluster"
    assert err.read_text() == "oops\n"
    ok = sbatch(slurm, "-J", "harness-ok", "-o", "/dev/null", "--wrap", "exit 0")
    job = slurm.wait_job(ok)
    assert (job["state"], job["exit_code"], job["partition"], job["time_limit_minutes"]) == \
        ("COMPLETED", 0, "debug", None), job
    assert job["command"] is None, "sbatch --wrap has no script path"
    # a rejected submission makes no job
    r = slurm.run(["sbatch", "-p", "no-such-partition", "--wrap", "true"], check=False)
    assert r.returncode != 0 and "Invalid partition name specified" in r.stderr, r.stderr
    assert slurm.sbatch_count() == before + 2
    listed = {j["id"]: j for j in slurm.jobs()}
    assert listed[jid]["name"] == "harness-exit3" and listed[ok]["state"] == "COMPLETED"
    assert list(listed) == sorted(listed), "oldest first"
    assert slurm.job(10 ** 9) is None
    # each finished job has its line in the jobcomp file
    lines = open(slurm.jobcomp).read().splitlines()
    mine = [l for l in lines if l.startswith("JobId=%d " % jid)]
    assert len(mine) == 1 and "JobState=FAILED" in mine[0] and "ExitCode=3:0" in mine[0], mine


def test_the_cluster_runs_many_jobs_at_once(slurm):
    """64 advertised CPUs: 24 sleeping jobs run side by side, and a burst of 60 trivial jobs goes through."""
    before = slurm.sbatch_count()
    sleepers = [sbatch(slurm, "-J", "harness-sleep", "-o", "/dev/null", "--wrap", "sleep 30") for _ in range(24)]
    wait_for(lambda: all(slurm.job(j)["state"] == "RUNNING" for j in sleepers), 20, 0.1,
             what="24 jobs running at once")
    started = time.time()
    quick = [sbatch(slurm, "-J", "harness-quick", "-o", "/dev/null", "--wrap", "exit %d" % (i % 7))
             for i in range(60)]
    for i, jid in enumerate(quick):
        job = slurm.wait_job(jid, timeout=60)
        assert job["exit_code"] == i % 7 and job["state"] == ("COMPLETED" if i % 7 == 0 else "FAILED"), job
    elapsed = time.time() - started
    assert elapsed < 30, "60 trivial jobs took %.1fs" % elapsed
    assert slurm.sbatch_count() == before + 84
    assert sorted(slurm.cancel_all()) == sorted(str(j) for j in sleepers)
    for jid in sleepers:
        assert slurm.wait_job(jid)["state"] == "CANCELLED"


def job_processes(slurm, jid, comm):
    """The pids of job jid's processes once one of them is comm (from /proc: `scontrol listpids` asked before the
    job's batch step has its process group lists every process of group 0, the kernel's threads)."""
    mark = ["SLURM_CONF=%s" % slurm.conf, "SLURM_JOB_ID=%d" % jid]

    def found():
        pids = {}
        for name in os.listdir("/proc"):
            if name.isdigit() and all(m in environ(int(name)) for m in mark):
                try:
                    with open("/proc/%s/comm" % name) as f:
                        pids[int(name)] = f.read().strip()
                except OSError:
                    pass
        return [p for p, c in pids.items() if c != "slurmstepd"] if comm in pids.values() else None
    return wait_for(found, 10, 0.05, what="job %d's %s process" % (jid, comm))


def test_jobs_survive_a_stopped_controller_and_new_ones_are_taken_after_it(slurm):
    long = sbatch(slurm, "-J", "harness-long", "-o", "/dev/null", "--wrap", "sleep 120")
    short = sbatch(slurm, "-J", "harness-short", "-o", "/dev/null", "--wrap", "sleep 2; exit 5")
    for jid in (long, short):
        slurm.wait_job(jid, ("RUNNING",))
    pids, short_pids = job_processes(slurm, long, "sleep"), job_processes(slurm, short, "sleep")
    count = slurm.sbatch_count()
    slurm.stop_ctld()
    try:
        # a client gives up after MessageTimeout (10 s) of connection attempts
        started = time.time()
        r = slurm.run(["sbatch", "--wrap", "true"], check=False)
        assert r.returncode != 0 and "Unable to contact slurm controller" in r.stderr, r.stderr
        assert time.time() - started > 5, "sbatch gave up at once"
        wait_for(lambda: not any(alive(p) for p in short_pids), 10, what="the short job to end, unheard")
        assert all(alive(p) for p in pids), "a running job's processes died with slurmctld: %s of %s\n%s" % (
            [p for p in pids if not alive(p)], pids, slurm.log_tails())
    finally:
        slurm.start_ctld()
    assert slurm.sbatch_count() == count, "jobs lost or added by the restart"
    assert slurm.job(long)["state"] == "RUNNING" and all(alive(p) for p in pids)
    # slurmstepd retries the result it could not deliver: up to about 15 s later
    job = slurm.wait_job(short, timeout=45)
    assert job["state"] == "FAILED" and job["exit_code"] == 5, job
    after = sbatch(slurm, "-J", "harness-after", "-o", "/dev/null", "--wrap", "exit 0")
    assert slurm.wait_job(after)["state"] == "COMPLETED"
    assert slurm.sbatch_count() == count + 1
    assert slurm.job(long)["state"] == "RUNNING"
    slurm.run(["scancel", str(long)])
    assert slurm.wait_job(long)["state"] == "CANCELLED"
    wait_for(lambda: not any(alive(p) for p in pids), 10, what="the cancelled job's processes to end")


def test_stop_leaves_nothing_of_the_cluster_behind(own_cluster_dir):
    d = own_cluster_dir
    started = time.time()
    r = script("start", d, env={"SLURM_CLUSTER_CPUS": "4"})
    assert r.returncode == 0, r.stderr
    start_s = time.time() - started
    conf = d + "/etc/slurm.conf"
    assert r.stdout.splitlines()[-1] == "SLURM_CONF=" + conf
    assert script("env", d).stdout == "SLURM_CONF=%s\n" % conf
    env = dict(os.environ, SLURM_CONF=conf)

    def run(*args):
        return subprocess.run(list(args), capture_output=True, text=True, timeout=30, env=env, cwd=d)
    assert run("sinfo", "-h", "-o", "%c %t").stdout.split() == ["4", "idle"], "4 CPUs advertised, node idle"
    r2 = script("start", d)
    assert r2.returncode == 1 and "already running" in r2.stderr, r2.stderr
    # a job still running, one that left its process group (setsid: scancel misses it), one ignoring SIGTERM
    jobs = [run("sbatch", "--parsable", "-o", "/dev/null", "--wrap", w).stdout.strip()
            for w in ("sleep 300", "setsid sleep 301 & sleep 302", "trap '' TERM; sleep 303")]
    assert all(j.isdigit() for j in jobs), jobs
    wait_for(lambda: run("squeue", "-h", "-t", "R", "-o", "%i").stdout.split() == jobs or None, 20, 0.1,
             what="the three jobs to run")
    wait_for(lambda: sum("sleep 30" in v for v in processes_of(d).values()) == 4, 10, 0.05,
             what="the jobs' sleep processes")
    before = processes_of(d)
    comms = sorted(v.split(":")[0] for v in before.values())
    for daemon in ("munged", "slurmctld", "slurmd", "slurmstepd"):
        assert daemon in comms, "no %s among the cluster's processes: %s" % (daemon, before)
    started = time.time()
    r = script("stop", d)
    stop_s = time.time() - started
    assert r.returncode == 0, r.stderr
    left = processes_of(d)
    assert not left, "left running after stop: %s" % left
    assert not [p for p in before if alive(p)]
    assert script("stop", d).returncode == 0, "stopping a stopped cluster is not an error"
    assert os.path.exists(os.path.join(d, "log", "slurmctld.log")), "the logs are kept"
    print("own cluster: start %.2fs, stop with 3 running jobs %.2fs" % (start_s, stop_s))


def test_a_cluster_left_by_a_killed_session_is_reaped(slurm):
    d = tempfile.mkdtemp(prefix=SlurmCluster.PREFIX, dir="/tmp")
    try:
        dead = subprocess.Popen(["true"])
        dead.wait()
        with open(os.path.join(d, "owner"), "w") as f:
            f.write("%d\n" % dead.pid)
        r = script("start", d, env={"SLURM_CLUSTER_CPUS": "2"})
        assert r.returncode == 0, r.stderr
        assert processes_of(d)
        SlurmCluster.reap_orphans()
        assert not processes_of(d) and not os.path.exists(d), "the orphaned cluster was left running"
        assert slurm.dir and processes_of(slurm.dir), "the session's own cluster was reaped"
        assert slurm.wait_job(sbatch(slurm, "-o", "/dev/null", "--wrap", "true"))["state"] == "COMPLETED"
    finally:
        script("stop", d)
        shutil.rmtree(d, ignore_errors=True)


def test_the_script_refuses_what_it_cannot_do(own_cluster_dir):
    long_dir = "/tmp/" + "d" * 80
    r = script("start", long_dir)
    assert r.returncode == 1 and "too long for the cluster's Unix sockets" in r.stderr, r.stderr
    assert not os.path.exists(long_dir + "/etc"), "nothing made"
    shutil.rmtree(long_dir, ignore_errors=True)
    closed = tempfile.mkdtemp(prefix="mt-s-", dir="/tmp")  # 0700: munged would refuse a socket below it
    try:
        r = script("start", os.path.join(closed, "c"))
        assert r.returncode == 1 and "searchable by all, and %s is not" % closed in r.stderr, r.stderr
    finally:
        shutil.rmtree(closed, ignore_errors=True)
    for args in ([], ["start"], ["start", "a", "b"], ["frobnicate", "x"]):
        r = script(*args)
        assert r.returncode == 2 and "usage:" in r.stderr, (args, r.stderr)
    r = script("start", own_cluster_dir, env={"SLURM_CLUSTER_CPUS": "many"})
    assert r.returncode == 2 and "SLURM_CLUSTER_CPUS=many" in r.stderr, r.stderr
    for cmd in ("env", "stop-ctld", "start-ctld"):
        r = script(cmd, own_cluster_dir)
        assert r.returncode == 1 and "no cluster in %s" % own_cluster_dir in r.stderr, (cmd, r.stderr)


def child_session(tmp_path, test_text, env):
    """One test file in a pytest session of its own with this harness as a plugin: (exit status, output)."""
    (tmp_path / "test_child.py").write_text(test_text)
    env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "tests", "integration"), **env)
    r = subprocess.run(["/usr/bin/python3", "-m", "pytest", "-q", "-rsf", "-p", "no:cacheprovider", "-p", "conftest",
                        "--rootdir", str(tmp_path), str(tmp_path / "test_child.py")],
                       cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=120)
    return r.returncode, r.stdout + r.stderr


def test_without_slurm_its_tests_skip_saying_why_unless_slurm_is_required(tmp_path):
    # PATH without /usr/bin: the client commands (sbatch...) are not found, as on a machine without slurm-client
    no_client = {"PATH": "/nonexistent", "MULETEER_TEST_SLURM": ""}
    text = "def test_x(slurm):\n    pass\n\ndef test_y():\n    pass\n"
    rc, out = child_session(tmp_path, text, no_client)
    assert rc == 0 and "1 passed, 1 skipped" in out, out
    assert "Slurm is not installed" in out and "sbatch" in out and "slurmctld slurmd slurm-client munge" in out, out
    rc, out = child_session(tmp_path, text, dict(no_client, MULETEER_TEST_SLURM="required"))
    assert rc != 0 and "1 passed, 1 error" in out and "Slurm is not installed" in out, out
    assert "MULETEER_TEST_SLURM=required: not skipped" in out, out
    # the marker selects the tests that take the fixture, whoever wrote them
    rc, out = child_session(tmp_path, text + "\ndef test_z(slurm):\n    pass\n",
                            dict(no_client, PYTEST_ADDOPTS="-m slurm"))
    assert "2 skipped, 1 deselected" in out, out


def test_between_tests_the_cluster_is_mended_and_an_interrupted_session_stops_it(tmp_path):
    """A session of its own: a test that leaves slurmctld stopped and a job running finds, in the next test, a
    controller up and its job cancelled; a SIGTERM to pytest then stops the cluster and removes its directory."""
    if script("check").returncode != 0:
        pytest.skip("Slurm is not installed")
    ready = tmp_path / "ready"
    (tmp_path / "test_child.py").write_text(
        "import subprocess, time\n"
        "def test_a(slurm):\n"
        "    out = slurm.run(['sbatch', '--parsable', '-J', 'left', '-o', '/dev/null', '--wrap', 'sleep 300'])\n"
        "    slurm.wait_job(int(out), ('RUNNING',))\n"
        "    slurm.stop_ctld()\n"
        "def test_b(slurm):\n"
        "    assert 'is UP' in slurm.run(['scontrol', 'ping'])\n"
        "    left = [j for j in slurm.jobs() if j['name'] == 'left']\n"
        "    assert len(left) == 1 and left[0]['state'] in ('CANCELLED', 'COMPLETING'), left\n"
        "    open(%r, 'w').write(slurm.dir)\n"
        "    time.sleep(120)\n" % str(ready))
    env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "tests", "integration"))
    child = subprocess.Popen(["/usr/bin/python3", "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "conftest",
                              "--rootdir", str(tmp_path), str(tmp_path / "test_child.py")],
                             cwd=str(tmp_path), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: ready.exists() and ready.read_text(), 90, 0.1, what="the child session's second test")
        d = ready.read_text()
        procs = processes_of(d)
        assert procs, "the child session's cluster runs nothing"
        child.send_signal(signal.SIGTERM)
        out = child.communicate(timeout=60)[0].decode(errors="replace")
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert "1 passed" in out, out
    assert not processes_of(d) and not [p for p in procs if alive(p)], "the cluster outlived its session:\n" + out
    assert not os.path.exists(d), "the cluster's directory was left:\n" + out
