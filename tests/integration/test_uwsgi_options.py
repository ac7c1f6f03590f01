"""uWSGI options of Galaxy's galaxy.yml samples (18.01-21.01) and of site playbooks, run as written.

One test per family: the options muleteer honours show their effect (files created under the umask, the
pidfile's pid, chdir, the logto file, daemonize, hook-master-start's signal actions, static-safe,
reload-mercy, the master FIFO's commands); the options with no counterpart start the stack and log exactly
one notice; the refused ones stop it before anything forks, naming file:line:option and why. Real
samples are fed whole, and must start and serve.
"""
import json
import os
import re
import signal
import socket
import stat
import subprocess
import time

import pytest

from conftest import MULETEER, alive, children_of, wait_for, write

# Galaxy's sample uwsgi: section as lib/galaxy/config/sample/galaxy.yml.sample ships it (20.01-21.01),
# comments shortened, with static-safe and the two job handler mules of the Galaxy training material's
# 19.09 playbook. The harness adds --http 127.0.0.1:0, which wins over the file's http.
GALAXY_SAMPLE = """\
uwsgi:

  # The address and port on which to listen.
  http: 127.0.0.1:8080

  # By default uWSGI allocates a very small buffer (4096 bytes) for the
  # headers of each request.
  buffer-size: 16384

  # Number of web server (worker) processes to fork after the
  # application has loaded.
  processes: 1

  # Number of threads for each web server process.
  threads: 4

  # Number of threads for serving static content and handling internal
  # routing requests.
  offload-threads: 2

  # Mapping to serve style content.
  static-map: /static/style=static/style/blue

  # Mapping to serve the remainder of the static content.
  static-map: /static=static

  # Mapping to serve the favicon.
  static-map: /favicon.ico=static/favicon.ico

  # Allow serving images, stylesheets, scripts, and other static content
  # from symlinks into client/galaxy/images.
  static-safe: client/galaxy/images

  # Enable the master process manager.
  master: false

  # Path to the application's Python virtual environment.
  virtualenv: .venv

  # Path to the application's Python library.
  pythonpath: lib

  # The entry point which returns the web application.
  module: galaxy.webapps.galaxy.buildapp:uwsgi_app()

  # Mount the web application at the given URL prefix.
  #mount: /galaxy=galaxy.webapps.galaxy.buildapp:uwsgi_app()

  # Make uWSGI rewrite PATH_INFO and SCRIPT_NAME according to mount-points.
  manage-script-name: false

  # It is usually a good idea to set this to ``true`` if processes is
  # greater than 1.
  thunder-lock: false

  # Cause uWSGI to respect the traditional behavior of dying on SIGTERM
  die-on-term: true

  # Cause uWSGI to gracefully reload workers and mules upon receipt of SIGINT
  hook-master-start: unix_signal:2 gracefully_kill_them_all

  # Cause uWSGI to gracefully reload workers and mules upon receipt of SIGTERM
  hook-master-start: unix_signal:15 gracefully_kill_them_all

  # Feature necessary for proper mule signal handling
  py-call-osafterfork: true

  # Ensure application threads will run if `threads` is unset.
  enable-threads: true

  # Job handlers (usegalaxy training material)
  mule: lib/galaxy/main.py
  mule: lib/galaxy/main.py
  farm: job-handlers:1,2

galaxy:
  admin_users: admin@example.org
"""

# Galaxy 18.01's config/galaxy.yml.sample uwsgi: section, as shipped (comments shortened).
GALAXY_1801 = """\
uwsgi:
  # The address and port on which to listen.
  http: 127.0.0.1:8080
  buffer-size: 16384
  processes: 1
  threads: 4
  offload-threads: 2
  # Mapping to serve style content.
  static-map: /static/style=static/style/blue
  # Mapping to serve the remainder of the static content.
  static-map: /static=static
  master: false
  virtualenv: .venv
  pythonpath: lib
  module: galaxy.webapps.galaxy.buildapp:uwsgi_app()
  thunder-lock: false
  die-on-term: true
  hook-master-start: unix_signal:2 gracefully_kill_them_all
  hook-master-start: unix_signal:15 gracefully_kill_them_all
  py-call-osafterfork: true
  enable-threads: true
"""

# Galaxy 21.01's lib/galaxy/config/sample/galaxy.yml.sample uwsgi: section, with the interactive tools
# proxy of config/galaxy.yml.interactivetools, as a site running interactive tools has it.
GALAXY_2101_IT = """\
uwsgi:
  http: 127.0.0.1:8080
  buffer-size: 16384
  processes: 1
  threads: 4
  offload-threads: 2
  static-map: /static=static
  static-map: /favicon.ico=static/favicon.ico
  static-safe: client/src/assets
  master: false
  virtualenv: .venv
  pythonpath: lib
  module: galaxy.webapps.galaxy.buildapp:uwsgi_app()
  manage-script-name: false
  thunder-lock: false
  die-on-term: true
  hook-master-start: unix_signal:2 gracefully_kill_them_all
  hook-master-start: unix_signal:15 gracefully_kill_them_all
  py-call-osafterfork: true
  enable-threads: true
  umask: '022'
  http-raw-body: true
  interactivetools_map: database/interactivetools_map.sqlite
  python-raw: scripts/interactivetools/key_type_token_mapping.py
  route-host: ^([A-Za-z0-9]+(?:-[A-Za-z0-9]+)*)-([A-Za-z0-9]+(?:-[A-Za-z0-9]+)*)\\.([A-Za-z0-9]+(?:-[A-Za-z0-9]+)*)\\.(interactivetool\\.localhost:8080)$ goto:interactivetool
  route-run: goto:endendend
  route-label: interactivetool
  route-host: ^([A-Za-z0-9]+(?:-[A-Za-z0-9]+)*)-([A-Za-z0-9]+(?:-[A-Za-z0-9]+)*)\\.([A-Za-z0-9]+(?:-[A-Za-z0-9]+)*)\\.(interactivetool\\.localhost:8080)$ rpcvar:TARGET_HOST rtt_key_type_token_mapper_cached $1 $3 $2 $4 $0 5
  route-if-not: empty:${TARGET_HOST} httpdumb:${TARGET_HOST}
  route: .* break:404 Not Found
  route-label: endendend
"""


def line_of(text, start):
    """1-based number of the first line of text that starts with `start` (after indentation)."""
    for n, line in enumerate(text.splitlines(), 1):
        if line.strip().startswith(start):
            return n
    raise AssertionError(start)


def notices(s):
    return [l for l in s.log_lines if "[notice]" in l and "has no effect here" in l]


def notices_for(s, option):
    return [l for l in notices(s) if "option '%s'" % option in l]


def make_static_tree(tmp_path):
    (tmp_path / "static" / "style" / "blue").mkdir(parents=True)
    (tmp_path / "static" / "style" / "blue" / "base.css").write_text("body{}")
    (tmp_path / "static" / "welcome.html").write_text("<p>welcome</p>")
    (tmp_path / "static" / "favicon.ico").write_bytes(b"\x00\x00\x01\x00ico")
    (tmp_path / "client" / "galaxy" / "images").mkdir(parents=True)
    (tmp_path / "client" / "src" / "assets").mkdir(parents=True)


def pids_now(s):
    """{server name: pid} of the web workers and mules, or None while no web worker answers (a restart)."""
    import http.client
    try:
        return {n: p["pid"] for n, p in s.by_name().items() if p["role"] in ("web", "mule")}
    except (OSError, http.client.HTTPException, ValueError, AssertionError):
        return None


def all_replaced(s, old):
    now = pids_now(s)
    return now is not None and all(now.get(n) not in (None, 0, old[n]) for n in old)


def post_job(s, tool_id="true"):
    status, _, data = s.request("POST", "/api/jobs", body=json.dumps({"tool_id": tool_id}),
                                headers={"Content-Type": "application/json"})
    assert status == 201, data
    return json.loads(data)["id"]


def wait_job(s, jid):
    def done():
        status, doc = s.get_json("/api/jobs/%s" % jid)
        return doc if doc["state"] in ("ok", "error") else None
    return wait_for(done, 20, what="job %s to end" % jid)


# ------------------------------------------------------------------ samples

def test_galaxy_1801_sample_starts_and_serves(servers, tmp_path):
    make_static_tree(tmp_path)
    cfg = write(tmp_path, "galaxy.yml", GALAXY_1801)
    s = servers(["--yaml", cfg])
    assert s.request("GET", "/static/style/base.css")[2] == b"body{}"
    assert s.request("GET", "/static/welcome.html")[2] == b"<p>welcome</p>"
    assert wait_job(s, post_job(s))["state"] == "ok"
    assert len([l for l in notices(s) if "muleteer runs no Python" in l]) == 1
    assert len(notices(s)) == 5, "offload-threads, Python, master false, thunder-lock, enable-threads:\n" + s.log()


def test_galaxy_sample_starts_serves_and_runs_jobs_on_its_mules(servers, tmp_path):
    make_static_tree(tmp_path)
    cfg = write(tmp_path, "galaxy.yml", GALAXY_SAMPLE)
    s = servers(["--yaml", cfg])
    status, headers, body = s.request("GET", "/favicon.ico")
    assert status == 200 and body == b"\x00\x00\x01\x00ico" and headers["Content-Type"] == "image/x-icon"
    assert s.request("GET", "/static/style/base.css")[2] == b"body{}"
    assert s.request("GET", "/static/welcome.html")[2] == b"<p>welcome</p>"
    assert s.request("GET", "/api/health")[0] == 200
    names = s.by_name()
    assert names["main.job-handlers.1"]["state"] == "running" and names["main.job-handlers.2"]["state"] == "running"
    handlers = {wait_job(s, post_job(s))["handler"] for _ in range(4)}
    assert handlers <= {"main.job-handlers.1", "main.job-handlers.2"} and handlers, handlers
    # One notice per option without effect (the four Python options share one), none for the honoured ones.
    log = s.log()
    assert len(notices_for(s, "offload-threads")) == 1
    assert len(notices_for(s, "thunder-lock")) == 1
    assert len(notices_for(s, "enable-threads")) == 1
    python = [l for l in notices(s) if "muleteer runs no Python" in l]
    assert len(python) == 1, python
    assert "galaxy.yml:%d: option 'virtualenv'" % line_of(GALAXY_SAMPLE, "virtualenv:") in python[0], python
    assert len([l for l in notices(s) if "option 'master' = false" in l]) == 1
    assert log.count("is a Python program") == 1
    assert "galaxy.yml:%d: mule 'lib/galaxy/main.py'" % line_of(GALAXY_SAMPLE, "mule:") in log
    for honoured in ("buffer-size", "static-map", "static-safe", "hook-master-start", "die-on-term", "farm",
                     "manage-script-name"):
        assert not notices_for(s, honoured), honoured
    assert s.stop(signal.SIGINT) == 0  # unix_signal:2 gracefully_kill_them_all: an orderly stop
    assert "shutting down: stopping web workers, then mules" in s.log()


def test_galaxy_2101_interactive_tools_section_starts_with_one_routing_notice(servers, tmp_path):
    make_static_tree(tmp_path)
    cfg = write(tmp_path, "galaxy.yml", GALAXY_2101_IT)
    s = servers(["--yaml", cfg])
    assert s.request("GET", "/favicon.ico")[0] == 200
    assert s.request("GET", "/api/health")[0] == 200
    routing = [l for l in notices(s) if "internal routing" in l]
    assert len(routing) == 1, routing
    assert "galaxy.yml:%d: option 'interactivetools-map'" % line_of(GALAXY_2101_IT, "interactivetools_map:") \
        in routing[0], routing
    assert len(notices_for(s, "http-raw-body")) == 1
    assert not notices_for(s, "umask")


# ------------------------------------------------------------------ mule: lib/galaxy/main.py

def test_python_mule_runs_the_built_in_job_handler_loop(servers, tmp_path):
    cfg = write(tmp_path, "galaxy.ini", "[uwsgi]\nmule = lib/galaxy/main.py\nmule = lib/galaxy/main.py\n"
                                        "farm = job-handlers:1,2\n")
    s = servers(["--ini", cfg])
    log = s.log()
    assert log.count("is a Python program") == 1, log
    assert "galaxy.ini:2: mule 'lib/galaxy/main.py'" in log
    assert "exec of mule program" not in log
    mules = [p for p in s.stack()["processes"] if p["role"] == "mule"]
    assert len(mules) == 2 and all(p["state"] == "running" for p in mules)
    assert wait_job(s, post_job(s))["handler"] in ("main.job-handlers.1", "main.job-handlers.2")


# ------------------------------------------------------------------ umask, pidfile, chdir, vacuum

def test_umask_applies_to_everything_the_stack_creates(servers, tmp_path):
    s = servers(["--umask", "027", "--pidfile", "master.pid", "--set", "jobs.data-dir=fresh"])
    mode = lambda p: stat.S_IMODE(os.stat(str(tmp_path / p)).st_mode)
    assert mode("master.pid") == 0o640
    assert mode("fresh") == 0o750 and mode("fresh/jobs") == 0o750
    wait_job(s, post_job(s))
    assert mode("fresh/jobs.sqlite") == 0o640


def test_pidfile_holds_the_master_pid_and_vacuum_removes_it(servers, tmp_path):
    s = servers(["--pidfile", "a.pid", "--pidfile2", "b.pid", "--vacuum"])
    assert (tmp_path / "a.pid").read_text() == "%d\n" % s.proc.pid
    assert (tmp_path / "b.pid").read_text() == "%d\n" % s.proc.pid
    assert s.stop() == 0
    assert not (tmp_path / "a.pid").exists() and not (tmp_path / "b.pid").exists()


def test_pidfile_stays_without_vacuum(servers, tmp_path):
    s = servers(["--pidfile", "a.pid"])
    assert s.stop() == 0
    assert (tmp_path / "a.pid").read_text() == "%d\n" % s.proc.pid


def test_pidfile_in_a_missing_directory_is_an_error_naming_the_option(tmp_path):
    cfg = write(tmp_path, "galaxy.yml", "uwsgi:\n  processes: 1\n  pidfile: /nonexistent/dir/galaxy.pid\n")
    r = subprocess.run([MULETEER, "--http", "127.0.0.1:0", "--yaml", cfg], capture_output=True, text=True,
                       cwd=str(tmp_path), timeout=20)
    assert r.returncode != 0
    assert "galaxy.yml:3: option 'pidfile': cannot create /nonexistent/dir/galaxy.pid" in r.stderr, r.stderr
    assert "stack up" not in r.stderr


def test_chdir_makes_relative_paths_start_there(servers, tmp_path):
    site = tmp_path / "site"
    (site / "static").mkdir(parents=True)
    (site / "static" / "hello.txt").write_text("from site")
    cfg = write(tmp_path, "galaxy.ini", "[uwsgi]\nchdir = %s\nstatic-map = /static=static\npidfile = galaxy.pid\n"
                % site)
    s = servers(["--ini", cfg])
    assert s.request("GET", "/static/hello.txt")[2] == b"from site"
    assert (site / "galaxy.pid").read_text() == "%d\n" % s.proc.pid
    assert (site / "data" / "jobs").is_dir() and not (tmp_path / "data").exists()


def test_chdir_after_reading_relative_config_files(servers, tmp_path):
    """--yaml galaxy.yml --chdir site: the file is read where the command was given, with its logging section."""
    (tmp_path / "site" / "static").mkdir(parents=True)
    (tmp_path / "site" / "static" / "hello.txt").write_text("from site")
    write(tmp_path, "galaxy.yml", "uwsgi:\n  static-map: /static=static\n"
                                  "logging:\n  version: 1\n  root:\n    level: INFO\n    handlers: [console]\n"
                                  "  handlers:\n    console:\n      class: logging.StreamHandler\n"
                                  "      stream: ext://sys.stderr\n")
    s = servers(["--yaml", "galaxy.yml", "--chdir", "site"])
    assert s.request("GET", "/static/hello.txt")[2] == b"from site"


def test_chdir_to_a_missing_directory_fails_before_anything_starts(tmp_path):
    r = subprocess.run([MULETEER, "--http", "127.0.0.1:0", "--chdir", str(tmp_path / "nope")],
                       capture_output=True, text=True, cwd=str(tmp_path), timeout=20)
    assert r.returncode != 0
    assert "command line: option '--chdir': cannot change to" in r.stderr and "No such file" in r.stderr


# ------------------------------------------------------------------ logto, daemonize

def start_quiet(tmp_path, args):
    """Start the master without the harness (its log is not on stdout); returns the Popen."""
    return subprocess.Popen([MULETEER, "--http", "127.0.0.1:0"] + args, cwd=str(tmp_path),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def port_in(path):
    def find():
        try:
            m = re.search(r"HTTP on [^ \n]*:(\d+)", open(path).read())
        except OSError:
            return None
        return int(m.group(1)) if m else None
    return wait_for(find, 15, what="the port in " + str(path))


def get(port, path):
    import http.client
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def stop_pid(pid, sig=signal.SIGTERM, timeout=20):
    kids = children_of(pid)
    os.kill(pid, sig)
    wait_for(lambda: not alive(pid), timeout, what="pid %d to exit" % pid)
    wait_for(lambda: not any(alive(k) for k in kids), 10, what="its children to exit")


def test_logto_sends_every_process_log_to_the_file_and_reopens_on_sigusr1(tmp_path):
    p = start_quiet(tmp_path, ["--logto", "galaxy.log", "--mules", "1", "--stats", "127.0.0.1:9191"])
    try:
        log = tmp_path / "galaxy.log"
        port = port_in(str(log))
        wait_for(lambda: "ready: mule 1" in log.read_text() and "serving on" in log.read_text(), 15,
                 what="the workers to log")
        assert get(port, "/api/health")[0] == 200
        text = log.read_text()
        assert "main.web.1[" in text and "main.mule.1[" in text and "main.master[" in text
        # The notice comes after logto, so it is in the file too.
        assert text.count("option '--stats' is accepted and has no effect here") == 1 and "/api/stack" in text
        os.rename(str(log), str(tmp_path / "galaxy.log.1"))
        p.send_signal(signal.SIGUSR1)
        wait_for(lambda: log.exists() and "log files reopened" in log.read_text(), 10, what="a new log file")
        get(port, "/api/health")
        wait_for(lambda: "GET /api/health" in log.read_text(), 10, what="the web worker to write the new file")
    finally:
        p.send_signal(signal.SIGTERM)
        out, _ = p.communicate(timeout=30)
    assert p.returncode == 0
    assert b"HTTP on" not in out, "nothing of the log on the terminal once logto is in place"


def test_daemonize_returns_once_up_and_the_stack_keeps_serving(tmp_path):
    r = subprocess.run([MULETEER, "--http", "127.0.0.1:0", "--daemonize", "daemon.log", "--pidfile", "galaxy.pid",
                        "--mules", "1", "--farm", "job-handlers:1"],
                       cwd=str(tmp_path), capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr
    pid = int((tmp_path / "galaxy.pid").read_text())
    try:
        assert "running in the background, pid %d" % pid in r.stdout
        assert alive(pid)
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        assert int(fields[3]) == pid, "the daemon leads a session of its own"
        port = port_in(str(tmp_path / "daemon.log"))
        assert get(port, "/api/health")[0] == 200
        text = (tmp_path / "daemon.log").read_text()
        assert "master pid %d" % pid in text and "stack up" in text
    finally:
        stop_pid(pid)
    assert "stopped" in (tmp_path / "daemon.log").read_text()


def test_daemonize_that_cannot_start_fails_in_the_terminal(tmp_path):
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    try:
        r = subprocess.run([MULETEER, "--http", "127.0.0.1:%d" % busy.getsockname()[1], "--daemonize",
                            "daemon.log"], cwd=str(tmp_path), capture_output=True, text=True, timeout=30)
    finally:
        busy.close()
    assert r.returncode != 0
    assert "option '--http'" in r.stderr or "option 'http'" in r.stderr, r.stderr
    assert "running in the background" not in r.stdout


def test_daemonize_to_an_unwritable_log_fails_in_the_terminal(tmp_path):
    r = subprocess.run([MULETEER, "--http", "127.0.0.1:0", "--daemonize", str(tmp_path / "nodir" / "d.log")],
                       cwd=str(tmp_path), capture_output=True, text=True, timeout=30)
    assert r.returncode != 0
    assert "command line: option '--daemonize': cannot open %s for the log" % (tmp_path / "nodir" / "d.log") \
        in r.stderr, r.stderr
    assert "running in the background" not in r.stdout


# ------------------------------------------------------------------ hook-master-start

def test_hook_kill_them_all_stops_at_once_and_gracefully_kill_them_all_in_order(servers, tmp_path):
    cfg = write(tmp_path, "galaxy.yml", "uwsgi:\n  mules: 1\n"
                                        "  hook-master-start: unix_signal:2 kill_them_all\n"
                                        "  hook-master-start: unix_signal:15 gracefully_kill_them_all\n")
    s = servers(["--yaml", cfg])
    assert s.stop(signal.SIGINT) == 0
    log = s.log()
    assert "Interrupt received: stopping now, killing every web worker and mule" in log
    assert "main.web.1" in log and "killed by signal 9" in log
    assert "shutting down: stopping web workers, then mules" not in log

    s2 = servers(["--yaml", cfg])
    assert s2.stop(signal.SIGTERM) == 0
    log2 = s2.log()
    assert "shutting down: stopping web workers, then mules" in log2 and "killed by signal 9" not in log2


def test_hook_reload_actions(servers, tmp_path):
    cfg = write(tmp_path, "galaxy.yml", "uwsgi:\n  mules: 1\n  processes: 2\n"
                                        "  hook-master-start: unix_signal:1 reload_them_all\n"
                                        "  hook-master-start: unix_signal:3 grace_them_all\n")
    s = servers(["--yaml", cfg])
    before = pids_now(s)
    s.send(signal.SIGHUP)
    wait_for(lambda: all_replaced(s, before), 15, what="every child restarted")
    assert "Hangup received: restarting every web worker and mule now" in s.log()
    s.wait_ready()
    middle = pids_now(s)
    s.send(signal.SIGQUIT)  # grace_them_all: the rolling reload, not a stop
    wait_for(lambda: "reload: every process restarted" in s.log(), 20, what="the rolling reload")
    s.wait_ready()
    assert all_replaced(s, middle)
    assert s.proc.poll() is None


def test_bad_hook_is_refused_naming_file_line_and_why(tmp_path):
    cfg = write(tmp_path, "galaxy.ini", "[uwsgi]\nhook-master-start = unix_signal:15 gracefully_kill_them_all\n"
                                        "hook-master-start = exec:/usr/bin/touch /tmp/x\n")
    r = subprocess.run([MULETEER, "--http", "127.0.0.1:0", "--ini", cfg], capture_output=True, text=True,
                       cwd=str(tmp_path), timeout=20)
    assert r.returncode != 0
    assert "galaxy.ini:3: option 'hook-master-start': 'exec:/usr/bin/touch /tmp/x': only unix_signal:N ACTION" \
        in r.stderr, r.stderr


# ------------------------------------------------------------------ static-safe, static-map of a file

def test_static_safe_serves_symlinks_into_it_and_nowhere_else(servers, tmp_path):
    make_static_tree(tmp_path)
    (tmp_path / "client" / "galaxy" / "images" / "logo.png").write_bytes(b"PNG")
    (tmp_path / "secret.txt").write_text("secret")
    os.symlink(str(tmp_path / "client" / "galaxy" / "images"), str(tmp_path / "static" / "images"))
    os.symlink(str(tmp_path / "secret.txt"), str(tmp_path / "static" / "secret.txt"))
    cfg = write(tmp_path, "galaxy.yml", "uwsgi:\n  static-map: /static=static\n"
                                        "  static-safe: client/galaxy/images\n")
    s = servers(["--yaml", cfg])
    status, headers, body = s.request("GET", "/static/images/logo.png")
    assert status == 200 and body == b"PNG" and headers["Content-Type"] == "image/png"
    assert s.request("GET", "/static/secret.txt")[0] == 403
    assert s.request("GET", "/static/../secret.txt")[0] in (400, 403, 404)

    assert s.stop() == 0
    s2 = servers(["--static-map", "/static=static"])
    assert s2.request("GET", "/static/images/logo.png")[0] == 403, "without static-safe the symlink is refused"


def test_static_map_naming_a_file_serves_exactly_that_url(servers, tmp_path):
    make_static_tree(tmp_path)
    s = servers(["--static-map", "/favicon.ico=static/favicon.ico", "--static-map", "/static=static"])
    status, headers, body = s.request("GET", "/favicon.ico")
    assert status == 200 and body == b"\x00\x00\x01\x00ico" and headers["Content-Type"] == "image/x-icon"
    assert s.request("GET", "/favicon.ico?v=2")[0] == 200
    assert s.request("GET", "/favicon.ico/x")[0] == 404
    assert s.request("GET", "/static/welcome.html")[0] == 200


# ------------------------------------------------------------------ reload-mercy

def test_reload_mercy_bounds_the_wait_for_a_mule_that_ignores_sigterm(servers, tmp_path):
    stubborn = write(tmp_path, "stubborn.sh", "#!/bin/sh\ntrap '' TERM\nwhile :; do sleep 0.05; done\n")
    os.chmod(stubborn, 0o755)
    s = servers(["--mule=%s" % stubborn, "--reload-mercy", "1"])
    t0 = time.time()
    assert s.stop() == 0
    took = time.time() - t0
    assert "mules still alive after mule-reload-mercy: killing them" in s.log()
    assert 0.9 <= took < 6, took


# ------------------------------------------------------------------ master-fifo

def test_master_fifo_commands(servers, tmp_path):
    s = servers(["--master-fifo", "master.fifo", "--mules", "1", "--vacuum"])
    fifo = str(tmp_path / "master.fifo")
    assert stat.S_ISFIFO(os.stat(fifo).st_mode) and stat.S_IMODE(os.stat(fifo).st_mode) == 0o600

    def command(c):
        fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        os.write(fd, c)
        os.close(fd)

    before = pids_now(s)
    command(b"r\n")
    wait_for(lambda: "reload: every process restarted" in s.log(), 20, what="r: a rolling reload")
    s.wait_ready()
    middle = pids_now(s)
    assert all_replaced(s, before)
    command(b"R")
    wait_for(lambda: all_replaced(s, middle), 15, what="R: every child restarted now")
    assert "master-fifo: R: restarting every web worker and mule now" in s.log()
    s.wait_ready()
    command(b"l")
    wait_for(lambda: "master-fifo: l: log files reopened" in s.log(), 10, what="l")
    command(b"x")
    wait_for(lambda: "master-fifo: unknown command 'x' (known: q Q r R l)" in s.log(), 10, what="x")
    command(b"q")
    assert s.proc.wait(20) == 0
    assert "master-fifo: q: stopping" in s.log() and "shutting down" in s.log()
    assert not os.path.exists(fifo), "vacuum removes the FIFO it made"


def test_master_fifo_capital_q_stops_now(servers, tmp_path):
    s = servers(["--master-fifo", "master.fifo", "--mules", "1"])
    fd = os.open(str(tmp_path / "master.fifo"), os.O_WRONLY | os.O_NONBLOCK)
    os.write(fd, b"Q")
    os.close(fd)
    assert s.proc.wait(20) == 0
    assert "master-fifo: Q: stopping now, killing every web worker and mule" in s.log()
    assert os.path.exists(str(tmp_path / "master.fifo")), "without vacuum the FIFO stays"


def test_master_fifo_path_taken_by_a_file_is_an_error(tmp_path):
    (tmp_path / "master.fifo").write_text("not a fifo")
    r = subprocess.run([MULETEER, "--http", "127.0.0.1:0", "--master-fifo", "master.fifo"], capture_output=True,
                       text=True, cwd=str(tmp_path), timeout=20)
    assert r.returncode != 0
    assert "command line: option '--master-fifo': master.fifo: exists and is not a FIFO" in r.stderr, r.stderr


# ------------------------------------------------------------------ accepted with one notice

NOTICED = [
    ("offload-threads", "2", "no offload threads"),
    ("single-interpreter", "true", "muleteer runs no Python"),
    ("post-buffering", "65536", "read whole before the route runs"),
    ("log-master-bufsize", "65536", "no master log pipe"),
    ("logdate", "true", "ISO 8601"),
    ("memory-report", "true", "GET /api/stack"),
    ("lazy-apps", "true", "loaded once, in the master"),
    ("stats", "127.0.0.1:9191", "GET /api/stack"),
    ("http-raw-body", "true", "parse HTTP themselves"),
    ("thunder-lock", "true", "no accept lock"),
    ("route-uri", "^/x$ break:404", "internal routing"),
]


@pytest.mark.parametrize("option,value,why", NOTICED, ids=[n[0] for n in NOTICED])
def test_accepted_option_logs_exactly_one_notice(servers, tmp_path, option, value, why):
    cfg = write(tmp_path, "galaxy.ini", "[uwsgi]\nprocesses = 1\n%s = %s\n%s = %s\n" % (option, value, option, value))
    s = servers(["--ini", cfg])
    lines = notices_for(s, option)
    assert len(lines) == 1, s.log()
    assert "galaxy.ini:3: option '%s' is accepted and has no effect here" % option in lines[0]
    assert why in lines[0], lines[0]
    assert s.request("GET", "/api/health")[0] == 200


# ------------------------------------------------------------------ refused

REFUSED = [
    ("https", ":8443,server.crt,server.key", "plain HTTP only"),
    ("http-to-https", ":8080", "plain HTTP only"),
    ("mount", "/galaxy=galaxy.webapps.galaxy.buildapp:uwsgi_app()", "served at / only"),
    ("zerg", "/var/run/galaxy-zerg.sock", "no zerg server"),
]


@pytest.mark.parametrize("option,value,why", REFUSED, ids=[r[0] for r in REFUSED])
def test_refused_option_stops_before_anything_forks(tmp_path, option, value, why):
    cfg = write(tmp_path, "galaxy.yml", "uwsgi:\n  processes: 1\n  %s: %s\n" % (option, value))
    r = subprocess.run([MULETEER, "--http", "127.0.0.1:0", "--yaml", cfg], capture_output=True, text=True,
                       cwd=str(tmp_path), timeout=20)
    assert r.returncode != 0
    assert "galaxy.yml:3: option '%s': not supported: " % option in r.stderr, r.stderr
    assert why in r.stderr
    assert "stack up" not in r.stderr and "serving on" not in r.stderr


def test_standalone_handler_takes_pidfile_and_logto(tmp_path):
    p = subprocess.Popen([MULETEER, "--attach-to-pool", "job-handlers", "--server-name", "handler0", "--pidfile",
                          "handler0.pid", "--logto", "handler0.log", "--vacuum"], cwd=str(tmp_path),
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        log = tmp_path / "handler0.log"
        wait_for(lambda: log.exists() and "standalone process ready" in log.read_text(), 15, what="the handler")
        assert (tmp_path / "handler0.pid").read_text() == "%d\n" % p.pid
        assert "handler0[%d]" % p.pid in log.read_text()
    finally:
        p.send_signal(signal.SIGTERM)
        out, _ = p.communicate(timeout=30)
    assert p.returncode == 0, out
    assert not (tmp_path / "handler0.pid").exists()
