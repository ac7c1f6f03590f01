"""Jobs on a real one-node Slurm cluster, chosen by the job configuration's destinations.

The `slurm` fixture (conftest.py) starts munged, slurmctld and slurmd in a temporary directory
(scripts/slurm-cluster.sh) and gives each stack the cluster's SLURM_CONF. What is checked is what Slurm
itself saw (scontrol show job: the job's name, its comment from the nativeSpecification, its time limit,
how many jobs it was ever given), what the job's command saw (its environment), and what the job API
says: runner, destination, external_id (the Slurm id), state, exit code, history.
"""
import functools
import json
import os
import signal
import subprocess
import threading
import time

import pytest

from conftest import MULETEER, wait_for, write
from job_api import job_doc as job, job_history as history, post_job, wait_job_end


def post(s, tool_id, **params):
    return post_job(s, tool_id, params)


ended = functools.partial(wait_job_end, timeout=60)

pytestmark = pytest.mark.slurm

MULE = "main.job-handlers.1"

PLUGINS = """<plugins>
        <plugin id="local" type="runner" load="galaxy.jobs.runners.local:LocalJobRunner" workers="4"/>
        <plugin id="slurm" type="runner" load="galaxy.jobs.runners.slurm:SlurmJobRunner" workers="4"/>
    </plugins>"""


def tools_dir(tmp_path):
    """printenv (its environment on stdout), nap SECONDS CODE (sleeps, then exits CODE), true, napenv (sleeps $NAP)."""
    d = tmp_path / "tools"
    d.mkdir(exist_ok=True)
    tools = {
        "printenv": {"command": ["/usr/bin/env"]},
        "true": {"command": ["/bin/true"]},
        "nap": {"command": ["/bin/sh", "-c", 'sleep "$1"; echo "$MULETEER_JOB_ID" >> "$2"; exit "$3"', "nap",
                            "{seconds}", "{ledger}", "{code}"],
                "inputs": [{"name": "seconds", "type": "float", "default": 1, "min": 0, "max": 3600},
                           {"name": "ledger", "type": "text", "default": "/dev/null"},
                           {"name": "code", "type": "integer", "default": 0, "min": 0, "max": 255}]},
        "napenv": {"command": ["/bin/sh", "-c", 'sleep "${{NAP:-0}}"']},
        "napenv_once": {"command": ["/bin/sh", "-c", 'sleep "${{NAP:-0}}"']},
        "napenv_limited": {"command": ["/bin/sh", "-c", 'sleep "${{NAP:-0}}"'], "walltime": 1},
        "local_touch": {"command": ["/usr/bin/touch", "ran-here"], "outputs": [{"name": "mark", "path": "ran-here"}]},
    }
    for name, spec in tools.items():
        doc = {"id": name, "version": "1", "name": name}
        doc.update(spec)
        (d / (name + ".yml")).write_text(json.dumps(doc))
    return str(d)


def stack(servers, tmp_path, slurm, job_conf, *more, mules=1):
    conf = write(tmp_path, "job_conf.xml", job_conf)
    args = ["--mules", str(mules), "--farm", "job-handlers:%d" % mules, "--set", "jobs.tools-dir=%s" % tools_dir(tmp_path),
            "--set", "jobs.job-config=%s" % conf, "--set", "jobs.data-dir=%s" % (tmp_path / "data"),
            "--set", "jobs.cancel-grace=1", "--set", "jobs.cluster-poll-interval=300"] + list(more)
    return servers(args, env=slurm.env)


def stdout_of(s, jid):
    status, _, data = s.request("GET", "/api/jobs/%s/stdout" % jid)
    assert status == 200, data
    return data.decode()


def slurm_job_of(slurm, external_id):
    for j in slurm.jobs():
        if str(j["id"]) == str(external_id):
            return j
    return None


def names_of(slurm, prefix):
    return [j["name"] for j in slurm.jobs() if j["name"].startswith(prefix)]


def test_tools_at_a_slurm_destination_run_through_slurm_with_its_env_and_native_specification(
        servers, tmp_path, slurm):
    s = stack(servers, tmp_path, slurm, """<?xml version="1.0"?>
<job_conf>
    %s
    <destinations default="cluster">
        <destination id="here" runner="local"/>
        <destination id="cluster" runner="slurm">
            <param id="nativeSpecification">--partition=batch --comment=from-the-native-spec</param>
            <param id="walltime">00:20:00</param>
            <env id="DEST_VAR">value from the destination</env>
        </destination>
    </destinations>
    <tools>
        <tool id="local_touch" destination="here"/>
    </tools>
</job_conf>""" % PLUGINS)
    before = slurm.sbatch_count()
    remote = post(s, "printenv")
    local = post(s, "local_touch")
    r, l = ended(s, remote), ended(s, local)
    assert r["state"] == "ok", r
    assert (r["runner"], r["destination"]) == ("slurm", "cluster"), r
    assert r["external_id"] and r["external_id"].isdigit(), r
    assert r["start_time"] and r["end_time"], r
    env = dict(line.split("=", 1) for line in stdout_of(s, remote).splitlines() if "=" in line)
    assert env.get("SLURM_JOB_ID") == r["external_id"], env
    assert env["DEST_VAR"] == "value from the destination"
    assert env["MULETEER_JOB_ID"] == remote
    assert "MULETEER_STACK_ID" not in env  # the stack's undertaker must never take a cluster job for its own
    seen = slurm_job_of(slurm, r["external_id"])
    assert seen, "Slurm never saw job %s: %s" % (r["external_id"], slurm.jobs())
    assert seen["partition"] == "batch" and (seen["raw"].get("Comment") or "").strip() == "from-the-native-spec", seen
    assert seen["time_limit"] == "00:20:00", seen
    assert seen["name"].startswith("muleteer-%s-1-" % remote), seen
    assert l["state"] == "ok" and (l["runner"], l["destination"]) == ("local", "here"), l
    assert slurm.sbatch_count() == before + 1, "only the cluster job went to Slurm"
    assert os.path.exists(str(tmp_path / "data" / "jobs" / local / "ran-here"))


def test_a_native_time_and_the_walltime_limit_the_smaller_is_submitted(servers, tmp_path, slurm):
    """Galaxy's sites put --time in the nativeSpecification beside a <limit type="walltime">: both hold."""
    s = stack(servers, tmp_path, slurm, """<?xml version="1.0"?>
<job_conf>
    %s
    <destinations default="long_native">
        <destination id="long_native" runner="slurm">
            <param id="nativeSpecification">--time=30 -p batch</param>
        </destination>
        <destination id="short_native" runner="slurm">
            <param id="nativeSpecification">-t 5</param>
        </destination>
    </destinations>
    <tools>
        <tool id="printenv" destination="short_native"/>
    </tools>
    <limits>
        <limit type="walltime">00:10:00</limit>
    </limits>
</job_conf>""" % PLUGINS)
    limited, native = ended(s, post(s, "true")), ended(s, post(s, "printenv"))
    assert limited["state"] == native["state"] == "ok", (limited, native)
    seen = slurm_job_of(slurm, limited["external_id"])
    assert (seen["time_limit"], seen["partition"]) == ("00:10:00", "batch"), seen
    assert slurm_job_of(slurm, native["external_id"])["time_limit"] == "00:05:00"


def test_200_jobs_from_8_clients_through_slurm_each_ok_once(servers, tmp_path, slurm):
    s = stack(servers, tmp_path, slurm, """<?xml version="1.0"?>
<job_conf>
    %s
    <destinations default="cluster">
        <destination id="cluster" runner="slurm"/>
    </destinations>
</job_conf>""" % PLUGINS, "--set", "jobs.workers=4", mules=2)
    ledger = str(tmp_path / "ledger")
    before = slurm.sbatch_count()
    ids, lock, errors = [], threading.Lock(), []

    def client():
        try:
            mine = [post(s, "nap", seconds=0, ledger=ledger, code=0) for _ in range(25)]
            with lock:
                ids.extend(mine)
        except Exception as e:  # noqa: BLE001 -- reported below
            errors.append(e)

    threads = [threading.Thread(target=client) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert len(ids) == 200
    deadline = time.time() + 240
    for jid in ids:
        j = ended(s, jid, timeout=max(1, deadline - time.time()))
        assert j["state"] == "ok" and j["runner"] == "slurm", j
    with open(ledger) as f:
        ran = f.read().split()
    assert sorted(ran, key=int) == sorted(ids, key=int), "each job's command must run exactly once"
    assert slurm.sbatch_count() == before + 200


def test_cancel_of_a_running_cluster_job_stops_it_in_slurm(servers, tmp_path, slurm):
    s = stack(servers, tmp_path, slurm, """<?xml version="1.0"?>
<job_conf>
    %s
    <destinations default="cluster">
        <destination id="cluster" runner="slurm"/>
    </destinations>
</job_conf>""" % PLUGINS)
    ledger = str(tmp_path / "ledger")
    jid = post(s, "nap", seconds=300, ledger=ledger, code=0)
    running = wait_for(lambda: (lambda j: j if j["state"] == "running" else None)(job(s, jid)), 60,
                       what="the job to run in Slurm\n" + s.log()[-2000:])
    status, _, data = s.request("DELETE", "/api/jobs/%s" % jid)
    assert status in (200, 202), data
    done = ended(s, jid, timeout=60)
    assert done["state"] == "deleted", done
    seen = slurm_job_of(slurm, running["external_id"])
    assert seen and seen["state"] == "CANCELLED", seen
    assert not os.path.exists(ledger)


def test_walltime_reached_ends_the_job_as_galaxy_would_and_resubmit_to_a_longer_walltime_succeeds(
        servers, tmp_path, slurm):
    """Slurm counts time limits in minutes and looks at them every 30 s: a job with a 1-minute limit is stopped
    60 to 90 s after it starts. Two jobs run at once: one at a destination without resubmit (it ends in error,
    naming Slurm's TIMEOUT), one at a destination that resubmits to `long`, whose env makes it quick."""
    s = stack(servers, tmp_path, slurm, """<?xml version="1.0"?>
<job_conf>
    %s
    <destinations default="short">
        <destination id="short" runner="slurm">
            <param id="walltime">00:01:00</param>
            <env id="NAP">600</env>
            <resubmit condition="walltime_reached" destination="long"/>
        </destination>
        <destination id="short_only" runner="slurm">
            <param id="walltime">00:01:00</param>
            <env id="NAP">600</env>
        </destination>
        <destination id="long" runner="slurm">
            <param id="walltime">00:10:00</param>
            <env id="NAP">1</env>
        </destination>
    </destinations>
    <tools>
        <tool id="napenv_once" destination="short_only"/>
    </tools>
</job_conf>""" % PLUGINS)
    resubmitted = post(s, "napenv")
    failed = post(s, "napenv_once")
    done = ended(s, resubmitted, timeout=200)
    assert done["state"] == "ok", done
    assert done["destination"] == "long" and done["attempt"] == 2, done
    events = history(s, resubmitted)
    infos = " ".join(e.get("info") or "" for e in events)
    assert "resubmitted to destination 'long'" in infos and "TIMEOUT" in infos, events
    assert slurm_job_of(slurm, done["external_id"])["time_limit"] == "00:10:00"

    f = ended(s, failed, timeout=60)
    assert f["state"] == "error", f
    assert "TIMEOUT" in f["info"] and "maximum allowed job run time" in f["info"], f
    assert f["attempt"] == 1 and f["destination"] == "short_only", f
    assert slurm_job_of(slurm, f["external_id"])["state"] == "TIMEOUT"


def test_a_local_job_past_its_walltime_is_resubmitted_to_the_cluster_and_succeeds_there(servers, tmp_path, slurm):
    s = stack(servers, tmp_path, slurm, """<?xml version="1.0"?>
<job_conf>
    %s
    <destinations default="here">
        <destination id="here" runner="local">
            <env id="NAP">30</env>
            <resubmit condition="walltime_reached and attempt == 1" destination="cluster"/>
        </destination>
        <destination id="cluster" runner="slurm">
            <env id="NAP">0</env>
        </destination>
    </destinations>
</job_conf>""" % PLUGINS)
    before = slurm.sbatch_count()
    jid = post(s, "napenv_limited")
    done = ended(s, jid, timeout=60)
    assert done["state"] == "ok", done
    assert (done["destination"], done["runner"], done["attempt"]) == ("cluster", "slurm", 2), done
    assert slurm.sbatch_count() == before + 1
    events = history(s, jid)
    again = [e for e in events if "resubmitted to destination 'cluster'" in (e.get("info") or "")]
    assert len(again) == 1 and again[0]["state"] == "queued", events
    assert "walltime" in again[0]["info"] and "attempt 2" in again[0]["info"], again


def twenty_cluster_jobs(s, ledger):
    """20 cluster jobs sleeping 6 s, exiting with 0, 1, 2 or 3; returns {id: expected exit code} once all run."""
    expect = {}
    for i in range(20):
        expect[post(s, "nap", seconds=6, ledger=ledger, code=i % 4)] = i % 4
    wait_for(lambda: all(job(s, jid)["state"] == "running" for jid in expect), 60,
             what="all 20 cluster jobs running\n" + s.log()[-3000:])
    return expect


CLUSTER_ONLY = """<?xml version="1.0"?>
<job_conf>
    %s
    <destinations default="cluster">
        <destination id="cluster" runner="slurm"/>
    </destinations>
</job_conf>""" % PLUGINS


def check_adopted(s, slurm, expect, ledger, before):
    for jid, code in expect.items():
        j = ended(s, jid, timeout=90)
        assert j["exit_code"] == code, j
        assert j["state"] == ("ok" if code == 0 else "error"), j
        assert j["attempt"] == 1, j
    assert slurm.sbatch_count() == before + 20, "a cluster job was submitted again"
    with open(ledger) as f:
        assert sorted(f.read().split(), key=int) == sorted(expect, key=int)


def test_sigkilled_mule_with_20_running_cluster_jobs_its_successor_adopts_them_all(servers, tmp_path, slurm):
    s = stack(servers, tmp_path, slurm, CLUSTER_ONLY)
    ledger = str(tmp_path / "ledger")
    before = slurm.sbatch_count()
    expect = twenty_cluster_jobs(s, ledger)
    old = s.by_name()[MULE]["pid"]
    os.kill(old, signal.SIGKILL)
    wait_for(lambda: (lambda p: p if p["pid"] and p["pid"] != old and p["state"] == "running" else None)(
        s.by_name()[MULE]), 20, what="the mule respawned")
    check_adopted(s, slurm, expect, ledger, before)
    assert "20 cluster job" in s.log() or s.log().count("recovery") >= 1


def test_whole_stack_sigkilled_and_restarted_adopts_its_20_cluster_jobs(servers, tmp_path, slurm):
    s = stack(servers, tmp_path, slurm, CLUSTER_ONLY)
    ledger = str(tmp_path / "ledger")
    before = slurm.sbatch_count()
    expect = twenty_cluster_jobs(s, ledger)
    os.kill(s.proc.pid, signal.SIGKILL)
    s.expect_signal = signal.SIGKILL
    s.proc.wait(10)
    # What the dead stack's processes were: its mule dies with the master (they share its death signal).
    wait_for(lambda: not any(os.path.exists("/proc/%d" % p) and open("/proc/%d/stat" % p).read().split()[2] != "Z"
                             for p in s.known_pids if p != s.proc.pid), 20, what="the dead stack's processes gone")
    again = stack(servers, tmp_path, slurm, CLUSTER_ONLY)
    check_adopted(again, slurm, expect, ledger, before)


def test_slurmctld_stopped_for_10_s_jobs_wait_and_go_through_none_lost_or_doubled(servers, tmp_path, slurm):
    s = stack(servers, tmp_path, slurm, CLUSTER_ONLY)
    ledger = str(tmp_path / "ledger")
    before = slurm.sbatch_count()
    first = [post(s, "nap", seconds=3, ledger=ledger, code=0) for _ in range(5)]
    wait_for(lambda: all(job(s, jid)["external_id"] for jid in first), 30, what="the first jobs submitted")
    slurm.stop_ctld()
    try:
        during = [post(s, "nap", seconds=1, ledger=ledger, code=0) for _ in range(5)]
        time.sleep(10)
        for jid in during:
            assert job(s, jid)["state"] == "queued", job(s, jid)  # waiting, not failed
    finally:
        slurm.start_ctld()
    for jid in first + during:
        j = ended(s, jid, timeout=120)
        assert j["state"] == "ok", j
    assert slurm.sbatch_count() == before + 10
    with open(ledger) as f:
        assert sorted(f.read().split(), key=int) == sorted(first + during, key=int)


def test_an_invalid_partition_ends_the_job_in_error_with_slurms_message(servers, tmp_path, slurm):
    s = stack(servers, tmp_path, slurm, """<?xml version="1.0"?>
<job_conf>
    %s
    <destinations default="nowhere">
        <destination id="nowhere" runner="slurm">
            <param id="nativeSpecification">--partition=no-such-partition</param>
        </destination>
    </destinations>
</job_conf>""" % PLUGINS)
    jid = post(s, "true")
    done = ended(s, jid, timeout=30)
    assert done["state"] == "error", done
    assert "Invalid partition name specified" in done["info"], done
    assert not done["external_id"]


@pytest.mark.parametrize("spec, refused", [
    ("-p debug -J mine", "--job-name is set by muleteer"),
    ("--output=/tmp/x.log", "--output is set by muleteer"),
    ("--wait", "--wait is set by muleteer"),
    ("--time=10", "gives --time, and so does the destination's walltime param"),
    ("--time=soon", "--time 'soon' is not a Slurm time"),
    ("--comment='never closed", "never closed"),
])
def test_a_native_specification_that_takes_what_muleteer_sets_is_refused_at_start_naming_file_and_line(
        tmp_path, spec, refused):
    """No cluster needed: the stack refuses to start (and --print-config to pass), naming the file, line and option."""
    conf = write(tmp_path, "job_conf.xml", """<?xml version="1.0"?>
<job_conf>
    %s
    <destinations default="cluster">
        <destination id="cluster" runner="slurm">
            <param id="walltime">00:05:00</param>
            <param id="nativeSpecification">%s</param>
        </destination>
    </destinations>
</job_conf>
""" % (PLUGINS, spec))
    for check in ([], ["--print-config"]):
        r = subprocess.run([MULETEER, "--http", "127.0.0.1:0", "--set", "jobs.job-config=%s" % conf,
                            "--set", "jobs.data-dir=%s" % (tmp_path / "data")] + check,
                           capture_output=True, text=True, timeout=20, cwd=str(tmp_path))
        assert r.returncode != 0, r
        assert "%s:10: destination 'cluster'" % conf in r.stderr and refused in r.stderr, r.stderr


def test_a_resubmit_rule_to_a_destination_that_cannot_run_leaves_the_job_failed_saying_why(servers, tmp_path):
    """No cluster needed: the rule holds (walltime reached), but its destination's runner (DRMAA) does not exist here:
    the job ends in error, its info naming the walltime and why it was not resubmitted, as the start-up warned."""
    conf = write(tmp_path, "job_conf.xml", """<?xml version="1.0"?>
<job_conf>
    <plugins>
        <plugin id="local" type="runner" load="galaxy.jobs.runners.local:LocalJobRunner"/>
        <plugin id="sge" type="runner" load="galaxy.jobs.runners.drmaa:DRMAAJobRunner"/>
    </plugins>
    <destinations default="here">
        <destination id="here" runner="local">
            <env id="NAP">30</env>
            <resubmit condition="walltime_reached" destination="grid"/>
        </destination>
        <destination id="grid" runner="sge"/>
    </destinations>
</job_conf>
""")
    s = servers(["--set", "jobs.tools-dir=%s" % tools_dir(tmp_path), "--set", "jobs.job-config=%s" % conf,
                 "--set", "jobs.data-dir=%s" % (tmp_path / "data"), "--set", "jobs.cancel-grace=1"])
    assert "resubmit to 'grid'" in s.log(), s.log()
    done = ended(s, post(s, "napenv_limited"), timeout=30)
    assert done["state"] == "error" and done["attempt"] == 1 and done["destination"] == "here", done
    assert "walltime" in done["info"], done
    assert "resubmit rule (line 10) could not be followed" in done["info"] and "drmaa" in done["info"], done
