"""Server names and the process table, from every configuration form."""
import subprocess

from conftest import MULETEER, write

GALAXY_NAMES = {
    "galaxy.web.1", "galaxy.web.2", "galaxy.web.3", "galaxy.web.4",
    "galaxy.job-handlers.1", "galaxy.job-handlers.2", "galaxy.something-else.1",
}

# The proposal's galaxy.yml layout: repeated keys, empty mule values (built-in loop).
GALAXY_YML = """\
uwsgi:
  processes: 4
  mule:
  mule:
  mule:
  farm: job-handlers:2,3
  farm: something-else:1
  server-name: galaxy
"""


def workers(st):
    return {p["server_name"]: p for p in st["processes"] if p["role"] in ("web", "mule")}


def check_galaxy(st):
    procs = workers(st)
    assert set(procs) == GALAXY_NAMES
    jh1, jh2, se1 = procs["galaxy.job-handlers.1"], procs["galaxy.job-handlers.2"], procs["galaxy.something-else.1"]
    # The job-handlers farm holds mules 2 and 3; instance ids are positions in the farm.
    assert (jh1["mule_id"], jh1["instance_id"], jh1["pool"]) == (2, 1, "job-handlers")
    assert (jh2["mule_id"], jh2["instance_id"], jh2["pool"]) == (3, 2, "job-handlers")
    assert (se1["mule_id"], se1["instance_id"], se1["pool"]) == (1, 1, "something-else")
    for i in range(1, 5):
        w = procs["galaxy.web.%d" % i]
        assert (w["pool"], w["instance_id"], w["role"]) == ("web", i, "web")
    assert len({p["pid"] for p in procs.values()}) == 7
    farms = {f["name"]: f["mules"] for f in st["farms"]}
    assert farms == {"job-handlers": [2, 3], "something-else": [1]}


def test_proposal_yaml_example(servers, tmp_path):
    cfg = write(tmp_path, "galaxy.yml", GALAXY_YML)
    s = servers(["--yaml", cfg])
    check_galaxy(s.stack())


def test_yaml_list_form_and_server_name_on_command_line(servers, tmp_path):
    cfg = write(tmp_path, "galaxy.yml", "uwsgi:\n  processes: 4\n  mule: ['', '', '']\n"
                "  farm: ['job-handlers:2,3', 'something-else:1']\n")
    s = servers(["--yaml", cfg, "--server-name", "galaxy"])
    check_galaxy(s.stack())


def test_ini_form(servers, tmp_path):
    cfg = write(tmp_path, "galaxy.ini", "[app:main]\nignored = yes\n\n[uwsgi]\nprocesses = 4\nmule =\nmule =\nmule =\n"
                "farm = job-handlers:2,3\nfarm = something-else:1\nserver-name = galaxy\n")
    s = servers(["--ini", cfg])
    check_galaxy(s.stack())


def test_command_line_form(servers):
    s = servers(["--processes", "4", "--mule", "--mule", "--mule", "--farm", "job-handlers:2,3",
                 "--farm", "something-else:1", "--set", "server-name=galaxy"])
    check_galaxy(s.stack())


def test_default_is_one_web_worker_named_main(servers):
    s = servers([])
    st = s.stack()
    assert [p["server_name"] for p in st["processes"]] == ["main.master", "main.web.1"]
    assert st["processes"][0]["pid"] == s.proc.pid


def print_table(args, cwd):
    r = subprocess.run([MULETEER, "--print-config"] + args, capture_output=True, text=True, cwd=cwd, timeout=10)
    assert r.returncode == 0, r.stderr
    return [l for l in r.stdout.splitlines() if l.startswith("# ") and not l.startswith("# process table")]


def test_pools_form_compiles_to_the_same_table(tmp_path):
    flat = write(tmp_path, "flat.yml", "muleteer:\n  processes: 2\n  mule: ['', '', '', '', '', '', '']\n"
                 "  farm: ['default-job-handlers:1,2,3,4', 'special-job-handlers:5,6', 'spam-spam-spam:7']\n")
    pools = write(tmp_path, "pools.yml", """\
muleteer:
  processes: 2
stack:
  workers:
    - name: default-job-handlers
      purpose: handle_jobs
      processes: 4
      server_name: "{server_name}.{pool_name}.{process_num}"
    - name: special-job-handlers
      purpose: handle_jobs
      processes: 2
      server_name: "{server_name}.{pool_name}.{process_num}"
    - name: spam-spam-spam
""")
    flat_rows = print_table(["--yaml", flat], str(tmp_path))
    pool_rows = print_table(["--yaml", pools], str(tmp_path))
    strip = lambda rows: [r.split(" purpose=")[0] for r in rows]
    assert strip(pool_rows) == strip(flat_rows)
    names = [r.split()[2] for r in flat_rows if r.split()[1] in ("web", "mule")]
    assert names == ["main.web.1", "main.web.2"] + ["main.default-job-handlers.%d" % i for i in range(1, 5)] + \
        ["main.special-job-handlers.1", "main.special-job-handlers.2", "main.spam-spam-spam.1"]
    assert any("purpose=handle_jobs" in r for r in pool_rows)


def test_pools_form_runs_and_lists_standalone(servers, tmp_path):
    cfg = write(tmp_path, "pools.yml", "stack:\n  workers:\n    - name: job-handlers\n      processes: 2\n"
                "    - name: eggs\n      type: standalone\n")
    s = servers(["--yaml", cfg])
    procs = s.by_name()
    assert procs["main.job-handlers.1"]["state"] == "running"
    assert procs["main.job-handlers.2"]["mule_id"] == 2
    assert procs["main.eggs.1"]["role"] == "standalone"
    assert procs["main.eggs.1"]["state"] == "external" and procs["main.eggs.1"]["pid"] is None


def test_mule_in_two_farms_is_named_after_the_first(servers):
    s = servers(["--mules", "2", "--farm", "a:2", "--farm", "b:1,2"])
    procs = s.by_name()
    assert set(n for n in procs if ".web." not in n and n != "main.master") == {"main.a.1", "main.b.1"}
    assert procs["main.a.1"]["farms"] == ["a", "b"]
    assert procs["main.b.1"]["mule_id"] == 1


def test_hostname_template(servers):
    import socket
    s = servers(["--server-name-template", "{server_name}@{hostname}.{pool_name}.{instance_id}"])
    assert "main@%s.web.1" % socket.gethostname() in s.by_name()


def test_print_config_shows_values_and_sources(tmp_path):
    cfg = write(tmp_path, "galaxy.yml", GALAXY_YML)
    r = subprocess.run([MULETEER, "--yaml", cfg, "--threads", "3", "--print-config"], capture_output=True,
                       text=True, timeout=10)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    lines = out.splitlines()
    def line_for(key):
        found = [l for l in lines if l.startswith(key + " =")]
        assert found, "no line for %s in:\n%s" % (key, out)
        return found
    assert "galaxy.yml:2" in line_for("processes")[0]
    assert "command line" in line_for("threads")[0] and "3" in line_for("threads")[0]
    assert "default" in line_for("listen")[0]
    farms = line_for("farm")
    assert "job-handlers:2,3" in farms[0] and "galaxy.yml:6" in farms[0]
    assert "something-else:1" in farms[1] and "galaxy.yml:7" in farms[1]
    assert len(line_for("mule")) == 3
    assert "galaxy.job-handlers.2" in out
