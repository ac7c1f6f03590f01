"""The job configuration's elements beyond handlers, run by the real stack.

Galaxy's <macros> building a destination, a local destination's <env> lines
and local_slots reaching the job's command (a tool that prints its
environment), the same in job_conf.yml, the walltime limit stopping a local
job, a job whose destination is a cluster this muleteer has no runner for
(drmaa) never running (refused with the reason), Galaxy's advanced sample
starting as shipped with its unrunnable destinations named in the log, and
a broken macro refused with file:line.
"""
import json
import os
import subprocess

import pytest

from conftest import MULETEER, wait_for, write

TERMINAL = ("ok", "error", "deleted")
GALAXY_ADVANCED_SAMPLE = "/work/shared/reference/galaxy-job_conf.xml.sample_advanced-21.01"


def tools_dir(tmp_path):
    """printenv: the job's environment on stdout; touch: leaves a mark in the job's directory; slow: sleeps."""
    d = tmp_path / "tools"
    d.mkdir(exist_ok=True)
    (d / "printenv.yml").write_text('id: printenv\nversion: "1"\nname: Print the environment\n'
                                    'command: ["/usr/bin/env"]\noutputs:\n  - name: out\n    from: stdout\n')
    (d / "touch.yml").write_text('id: touch\nversion: "1"\nname: Leave a mark\ncommand: ["/usr/bin/touch", "ran"]\n')
    (d / "slow.yml").write_text('id: slow\nversion: "1"\nname: Slow\ncommand: ["/bin/sleep", "30"]\nwalltime: 60\n')
    return str(d)


def start(servers, tmp_path, job_conf_name, job_conf_text, extra=()):
    conf = write(tmp_path, job_conf_name, job_conf_text)
    return servers(["--set", "jobs.tools-dir=%s" % tools_dir(tmp_path), "--set", "jobs.job-config=%s" % conf,
                    "--set", "jobs.cancel-grace=1"] + list(extra))


def post(s, tool_id):
    status, _, data = s.request("POST", "/api/jobs", body=json.dumps({"tool_id": tool_id}),
                                headers={"Content-Type": "application/json"})
    return status, json.loads(data)


def get_job(s, jid):
    status, job = s.get_json("/api/jobs/%s" % jid)
    assert status == 200, job
    return job


def run_to_end(s, tool_id, timeout=20):
    status, job = post(s, tool_id)
    assert status == 201, job
    return wait_for(lambda: (lambda j: j if j["state"] in TERMINAL else None)(get_job(s, job["id"])), timeout,
                    what="job %s to end" % job["id"])


def stdout_of(s, jid):
    status, _, data = s.request("GET", "/api/jobs/%s/stdout" % jid)
    assert status == 200, data
    return data.decode()


def env_lines(text):
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


LOCAL_PLUGIN = '<plugin id="local" type="runner" load="galaxy.jobs.runners.local:LocalJobRunner" workers="4"/>'


def test_a_local_destination_made_by_a_macro_gives_the_command_its_env_and_slots(servers, tmp_path):
    site = write(tmp_path, "site.sh", "SITE_SOURCED=yes; export SITE_SOURCED\n")
    s = start(servers, tmp_path, "job_conf.xml", """<?xml version="1.0"?>
<job_conf>
    <plugins>%s</plugins>
    <destinations default="multicore_local">
        <expand macro="local_dest" id="multicore_local" slots="3"/>
    </destinations>
    <macros>
        <token name="@SITE@">%s</token>
        <xml name="local_dest" tokens="id,slots">
            <destination id="@ID@" runner="local">
                <param id="local_slots">@SLOTS@</param>
                <env id="_JAVA_OPTIONS">-Xmx6G</env>
                <env id="TOOL_PATH">/opt/tools:$PATH</env>
                <env file="@SITE@"/>
                <env exec="FROM_EXEC=$SITE_SOURCED; export FROM_EXEC"/>
            </destination>
        </xml>
    </macros>
</job_conf>
""" % (LOCAL_PLUGIN, site))
    job = run_to_end(s, "printenv")
    assert job["state"] == "ok", job
    env = env_lines(stdout_of(s, job["id"]))
    assert env["GALAXY_SLOTS"] == "3", env
    assert env["GALAXY_SLOTS_CONFIGURED"] == "1", env
    assert env["_JAVA_OPTIONS"] == "-Xmx6G", env
    assert env["TOOL_PATH"] == "/opt/tools:/usr/local/bin:/usr/bin:/bin", "a value's $PATH expands, as in Galaxy"
    assert env["SITE_SOURCED"] == "yes" and env["FROM_EXEC"] == "yes", env
    assert env["MULETEER_JOB_DIR"].endswith("/%s" % job["id"]), env


def test_the_same_in_job_conf_yml(servers, tmp_path):
    s = start(servers, tmp_path, "job_conf.yml", """runners:
  local:
    load: galaxy.jobs.runners.local:LocalJobRunner
execution:
  default: multicore_local
  environments:
    multicore_local:
      runner: local
      local_slots: 2
      env:
        - name: GREETING
          value: hello world
        - name: RAW
          raw: true
          value: "'5'"
""")
    job = run_to_end(s, "printenv")
    assert job["state"] == "ok", job
    env = env_lines(stdout_of(s, job["id"]))
    assert env["GALAXY_SLOTS"] == "2", env
    assert env["GREETING"] == "hello world", env
    assert env["RAW"] == "5", env


def test_without_destinations_a_job_runs_as_before(servers, tmp_path):
    s = start(servers, tmp_path, "job_conf.yml", "handling:\n  assign: [db-self]\n")
    job = run_to_end(s, "printenv")
    assert job["state"] == "ok", job
    env = env_lines(stdout_of(s, job["id"]))
    assert "GALAXY_SLOTS" not in env, env
    assert "SHLVL" not in env, "no shell runs when a destination has no env lines"


def test_the_walltime_limit_stops_a_local_job(servers, tmp_path):
    s = start(servers, tmp_path, "job_conf.xml", """<job_conf>
    <plugins>%s</plugins>
    <destinations><destination id="local" runner="local"/></destinations>
    <limits><limit type="walltime">00:00:01</limit></limits>
</job_conf>
""" % LOCAL_PLUGIN)
    job = run_to_end(s, "slow")
    assert job["state"] == "error", job
    assert "walltime of 1 s exceeded" in job["info"], job


def test_a_job_whose_destination_is_a_cluster_never_runs(servers, tmp_path):
    s = start(servers, tmp_path, "job_conf.xml", """<job_conf>
    <plugins>
        %s
        <plugin id="sge" type="runner" load="galaxy.jobs.runners.drmaa:DRMAAJobRunner"/>
    </plugins>
    <destinations default="cluster">
        <destination id="cluster" runner="sge"/>
        <destination id="local" runner="local"/>
    </destinations>
    <tools><tool id="printenv" destination="local"/></tools>
</job_conf>
""" % LOCAL_PLUGIN)
    reason = ("tool 'touch' goes to destination 'cluster' (runner plugin 'sge', type drmaa), which this muleteer "
              "cannot run: only the local and slurm runners exist")
    status, job = post(s, "touch")
    if status == 201:  # refused when its handler takes it
        job = wait_for(lambda: (lambda j: j if j["state"] in TERMINAL else None)(get_job(s, job["id"])), 20,
                       what="the job to end")
        assert job["state"] == "error" and reason in job["info"], job
        assert not os.path.exists(os.path.join(str(tmp_path), "data", "jobs", str(job["id"]), "ran"))
    else:  # refused at submit
        assert 400 <= status < 500 and reason in job["err_msg"], (status, job)
    # The tool mapped to the local destination runs.
    assert run_to_end(s, "printenv")["state"] == "ok"


def test_start_up_names_what_cannot_run_and_what_is_not_done(servers, tmp_path):
    s = start(servers, tmp_path, "job_conf.xml", """<job_conf>
    <plugins>
        %s
        <plugin id="sge" type="runner" load="galaxy.jobs.runners.drmaa:DRMAAJobRunner"/>
    </plugins>
    <destinations default="cluster">
        <destination id="cluster" runner="sge"/>
        <destination id="local" runner="local"><param id="embed_metadata_in_job">True</param></destination>
    </destinations>
    <limits><limit type="registered_user_concurrent_jobs">2</limit></limits>
</job_conf>
""" % LOCAL_PLUGIN)
    log = s.log()
    assert "job_conf.xml:7: destination 'cluster' (runner plugin 'sge', type drmaa: only the local and slurm " \
           "runners exist) cannot run here; jobs routed to it are refused" in log, log
    assert "job_conf.xml:6: the default destination 'cluster' cannot run here" in log, log
    assert "job_conf.xml:3: runner plugin 'local': workers=4 is not read" in log, log
    assert "job_conf.xml:8: destination 'local': params not honoured by the local runner here: embed_metadata_in_job" in log, log
    assert "job_conf.xml:10: limits not enforced here (only walltime is): registered_user_concurrent_jobs" in log, log
    assert "destination 'local' (" not in log, "a local destination is not named as unable to run"


@pytest.mark.skipif(not os.path.exists(GALAXY_ADVANCED_SAMPLE), reason="Galaxy's advanced sample is not here")
def test_galaxys_advanced_sample_starts_and_names_what_cannot_run(servers, tmp_path):
    with open(GALAXY_ADVANCED_SAMPLE) as f:
        sample = f.read()
    s = start(servers, tmp_path, "job_conf.xml", sample)
    log = s.log()
    for dest in ("pbs", "java_cluster", "clean_tmp_by_job", "dynamic", "foo_small", "docker_local"):
        assert "destination '%s' (" % dest in log and "cannot run here" in log, (dest, log)
    assert "destination 'multicore_local' (" not in log
    assert "limits not enforced here (only walltime is): registered_user_concurrent_jobs" in log, log


def test_a_broken_macro_is_refused_with_file_and_line(tmp_path):
    conf = write(tmp_path, "job_conf.xml", "<job_conf>\n  <destinations>\n    <expand macro=\"nope\"/>\n"
                                           "  </destinations>\n</job_conf>\n")
    r = subprocess.run([MULETEER, "--http", "127.0.0.1:0", "--set", "jobs.job-config=%s" % conf,
                        "--set", "jobs.data-dir=%s" % (tmp_path / "data")],
                       capture_output=True, text=True, timeout=20, cwd=str(tmp_path))
    assert r.returncode != 0
    assert "%s:3: <expand macro=\"nope\">: no macro of that name" % conf in r.stderr, r.stderr
