"""Every configuration error names file, line and option, and nothing is forked."""
import socket
import subprocess

from conftest import MULETEER, write


def run_fail(args, cwd):
    r = subprocess.run([MULETEER, "--http", "127.0.0.1:0"] + args, capture_output=True, text=True, cwd=cwd,
                       timeout=10)
    assert r.returncode != 0, "expected failure, got 0:\n" + r.stdout + r.stderr
    assert "stack up" not in r.stderr and "serving on" not in r.stderr, "children were forked:\n" + r.stderr
    return r.stderr


def test_unknown_option_in_yaml(tmp_path):
    cfg = write(tmp_path, "bad.yml", "uwsgi:\n  processes: 2\n  procesess: 4\n")
    err = run_fail(["--yaml", cfg], str(tmp_path))
    assert "bad.yml:3" in err and "procesess" in err


def test_unknown_option_in_ini(tmp_path):
    cfg = write(tmp_path, "bad.ini", "[muleteer]\n\nthreads = 2\nfrobnicate = 1\n")
    err = run_fail(["--ini", cfg], str(tmp_path))
    assert "bad.ini:4" in err and "frobnicate" in err


def test_unknown_option_on_command_line(tmp_path):
    err = run_fail(["--procs", "2"], str(tmp_path))
    assert "command line" in err and "procs" in err


def test_bad_number(tmp_path):
    cfg = write(tmp_path, "bad.ini", "[uwsgi]\nprocesses = four\n")
    err = run_fail(["--ini", cfg], str(tmp_path))
    assert "bad.ini:2" in err and "processes" in err and "four" in err


def test_number_out_of_range(tmp_path):
    err = run_fail(["--threads", "0"], str(tmp_path))
    assert "threads" in err


def test_farm_naming_a_missing_mule(tmp_path):
    cfg = write(tmp_path, "bad.yml", "uwsgi:\n  mule:\n  mule:\n  farm: job-handlers:2,3\n")
    err = run_fail(["--yaml", cfg], str(tmp_path))
    assert "bad.yml:4" in err and "farm" in err and "mule 3 does not exist" in err


def test_malformed_farm(tmp_path):
    err = run_fail(["--mule", "--farm", "job-handlers"], str(tmp_path))
    assert "command line" in err and "farm" in err


def test_port_in_use(tmp_path):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    port = s.getsockname()[1]
    try:
        cfg = write(tmp_path, "port.ini", "[muleteer]\nhttp = 127.0.0.1:%d\n" % port)
        r = subprocess.run([MULETEER, "--ini", cfg], capture_output=True, text=True, timeout=10)
        assert r.returncode != 0
        assert "port.ini:2" in r.stderr and "http" in r.stderr and "in use" in r.stderr
    finally:
        s.close()


def test_yaml_syntax_error(tmp_path):
    cfg = write(tmp_path, "broken.yml", "uwsgi:\n  processes: [1, 2\n  threads: 2\n")
    err = run_fail(["--yaml", cfg], str(tmp_path))
    assert "broken.yml" in err


def test_missing_config_file(tmp_path):
    err = run_fail(["--yaml", str(tmp_path / "nope.yml")], str(tmp_path))
    assert "nope.yml" in err


def test_mule_program_not_executable(tmp_path):
    err = run_fail(["--mule=%s" % (tmp_path / "missing-program")], str(tmp_path))
    assert "mule" in err and "missing-program" in err


def test_unknown_template_placeholder(tmp_path):
    err = run_fail(["--server-name-template", "{server_name}.{pool}.{instance_id}"], str(tmp_path))
    assert "server-name-template" in err and "{pool}" in err


def test_static_map_to_missing_dir(tmp_path):
    err = run_fail(["--static-map", "/static=%s" % (tmp_path / "nodir")], str(tmp_path))
    assert "static-map" in err


def test_command_line_wins_over_file(servers, tmp_path):
    cfg = write(tmp_path, "two.ini", "[muleteer]\nprocesses = 3\n")
    s = servers(["--ini", cfg, "--processes", "2"])
    webs = [p for p in s.stack()["processes"] if p["role"] == "web"]
    assert len(webs) == 2


def test_help_and_version():
    r = subprocess.run([MULETEER, "--help"], capture_output=True, text=True, timeout=10)
    assert r.returncode == 0 and "--processes" in r.stdout and "--farm" in r.stdout
    r = subprocess.run([MULETEER, "--version"], capture_output=True, text=True, timeout=10)
    assert r.returncode == 0 and r.stdout.startswith("muleteer ")


def test_three_bad_options_of_one_file_in_one_run(tmp_path):
    cfg = write(tmp_path, "galaxy.yml", "uwsgi:\n  processes: 2\n  procesess: 4\n  threads: many\n"
                                        "  https: :443,server.crt,server.key\n  offload-threads: 2\n")
    err = run_fail(["--yaml", cfg], str(tmp_path))
    lines = [l for l in err.splitlines() if l.startswith("muleteer: ")]
    assert lines == [
        "muleteer: %s:3: unknown option 'procesess'" % cfg,
        "muleteer: %s:4: option 'threads': 'many' is not a number" % cfg,
        "muleteer: %s:5: option 'https': not supported: muleteer speaks plain HTTP only: terminate TLS in a proxy "
        "in front of it (nginx, Apache) and point the proxy at the http address" % cfg,
    ], err


def test_errors_of_several_files_and_the_command_line_in_one_run(tmp_path):
    ini = write(tmp_path, "galaxy.ini", "[uwsgi]\nzerg = /tmp/zerg.sock\n[jobs]\nworkers = 0\n")
    yml = write(tmp_path, "more.yml", "uwsgi:\n  umask: 0999\n  hook-master-start: unix_signal:15 nuke_them_all\n")
    err = run_fail(["--ini", ini, "--yaml", yml, "--procs", "2", "--static-map", "/s=%s" % (tmp_path / "nodir")],
                   str(tmp_path))
    assert "command line: unknown option '--procs'" in err
    assert "galaxy.ini:2: option 'zerg': not supported" in err
    assert "galaxy.ini:4: option 'workers': 0 is out of range" in err
    assert "more.yml:2: option 'umask': '0999' is not an octal mask" in err
    assert "more.yml:3: option 'hook-master-start': 'unix_signal:15 nuke_them_all': unknown action" in err
    assert len([l for l in err.splitlines() if l.startswith("muleteer: ")]) == 5, err


def test_every_missing_static_map_directory_in_one_run(tmp_path):
    cfg = write(tmp_path, "galaxy.yml", "uwsgi:\n  static-map: /a=nodir-a\n  static-map: /b=nodir-b\n"
                                        "  static-safe: nodir-c\n")
    err = run_fail(["--yaml", cfg], str(tmp_path))
    assert "galaxy.yml:2: option 'static-map': static-map '/a=nodir-a': cannot open directory" in err
    assert "galaxy.yml:3: option 'static-map': static-map '/b=nodir-b': cannot open directory" in err
    assert "galaxy.yml:4: option 'static-safe': 'nodir-c' is not a directory" in err


def print_config(args, cwd):
    return subprocess.run([MULETEER] + args + ["--print-config"], capture_output=True, text=True, cwd=cwd,
                          timeout=20)


def test_print_config_fails_on_a_broken_job_configuration(tmp_path):
    bad = write(tmp_path, "job_conf.xml", "<job_conf>\n  <handlers default=\"nope\">\n    <handler id=\"h1\"/>\n"
                                          "  </handlers>\n")
    r = print_config(["--set", "jobs.job-config=%s" % bad], str(tmp_path))
    assert r.returncode != 0
    assert "processes = 1" in r.stdout, "the configuration is still printed"
    assert "option 'jobs.job-config': %s:" % bad in r.stderr, r.stderr
    assert not (tmp_path / "data").exists(), "--print-config creates nothing"


def test_print_config_fails_on_a_missing_static_map_directory(tmp_path):
    cfg = write(tmp_path, "galaxy.ini", "[uwsgi]\nstatic-map = /static=static\n")
    r = print_config(["--ini", cfg], str(tmp_path))
    assert r.returncode != 0
    assert "galaxy.ini:2: option 'static-map': static-map '/static=static': cannot open directory 'static'" \
        in r.stderr, r.stderr
    (tmp_path / "static").mkdir()
    r = print_config(["--ini", cfg], str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert "static-map = /static=static    # %s:2" % cfg in r.stdout


def test_print_config_fails_on_a_broken_tools_directory(tmp_path):
    tools = tmp_path / "tools"
    tools.mkdir()
    (tools / "broken.yml").write_text("id: broken\ncommand: [\n")
    r = print_config(["--set", "jobs.tools-dir=%s" % tools], str(tmp_path))
    assert r.returncode != 0
    assert "option 'jobs.tools-dir': " in r.stderr and "broken.yml" in r.stderr, r.stderr


def test_print_config_of_a_good_configuration_exits_0(tmp_path):
    good = write(tmp_path, "job_conf.yml", "handling:\n  handlers:\n    main.job-handlers.1: {}\n")
    r = print_config(["--mule", "--farm", "job-handlers:1", "--set", "jobs.job-config=%s" % good], str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert "# farm job-handlers: mules 1" in r.stdout


def test_print_config_fails_on_a_pidfile_or_log_in_a_missing_directory(tmp_path):
    cfg = write(tmp_path, "galaxy.yml", "uwsgi:\n  pidfile: run/galaxy.pid\n  logto: log/galaxy.log\n")
    r = print_config(["--yaml", cfg], str(tmp_path))
    assert r.returncode != 0
    assert "galaxy.yml:2: option 'pidfile': cannot create files in run: No such file or directory" in r.stderr, r.stderr
    assert "galaxy.yml:3: option 'logto': cannot create files in log: No such file or directory" in r.stderr
    assert not (tmp_path / "run").exists() and not (tmp_path / "log").exists()
