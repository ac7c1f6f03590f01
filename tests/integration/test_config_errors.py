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
