"""Per-process logging end to end: the proposal's two configurations, a file per process, logrotate, JSON lines."""
import json
import os
import re
import signal
import subprocess
import time

from conftest import MULETEER, wait_for, write

GENERIC = ("%(name)s %(levelname)-5.5s %(asctime)s [p:%(process)s,w:%(worker_id)s,m:%(mule_id)s] "
           "[%(threadName)s] %(message)s")
GENERIC_LINE = re.compile(r"^(muleteer[\w.]*) (DEBUG|INFO |NOTIC|WARNI|ERROR|CRITI) "
                          r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} \[p:(\d+),w:(\d+),m:(\d+)\] \[([\w-]+)\] (.*)$")

PROPOSAL_YAML = """\
logging:
  version: 1
  root:
    # root logger
    level: INFO
    handlers:
      - console
      - files
  loggers:
    muleteer:
      level: DEBUG
      handlers:
        - console
        - files
      qualname: muleteer
      propagate: 0
  handlers:
    console:
      class: logging.StreamHandler
      level: DEBUG
      formatter: generic
      stream: ext://sys.stderr
    files:
      class: logging.FileHandler
      level: DEBUG
      formatter: generic
      filename: muleteer_default.log
      filename_template: muleteer_{pool_name}_{server_id}.log
  formatters:
    generic:
      format: "%s"
""" % GENERIC

PROPOSAL_INI = """\
[muleteer]
processes = 2
threads = 2
mules = 1

[loggers]
keys = root, muleteer

[handlers]
keys = console

[formatters]
keys = generic

[logger_root]
level = INFO
handlers = console

[logger_muleteer]
level = DEBUG
handlers = console
qualname = muleteer
propagate = 0

[handler_console]
class = StreamHandler
args = (sys.stderr,)
level = DEBUG
formatter = generic

[formatter_generic]
format = %s
""" % GENERIC


def parse(lines):
    out = []
    for line in lines:
        m = GENERIC_LINE.match(line.rstrip("\n"))
        assert m, "not in the configured format: %r" % line
        out.append({"logger": m.group(1), "pid": int(m.group(3)), "w": int(m.group(4)), "m": int(m.group(5)),
                    "thread": m.group(6), "message": m.group(7)})
    return out


def read_lines(path):
    with open(path) as f:
        return [l for l in f.read().splitlines(True)]


def test_proposal_yaml_gives_each_mule_its_own_file(servers, tmp_path):
    conf = write(tmp_path, "muleteer.yml", PROPOSAL_YAML)
    s = servers(["--yaml", str(conf), "--processes", "2", "--threads", "2", "--mules", "2",
                 "--farm", "job-handlers:1,2"])
    status, _, _ = s.request("POST", "/api/jobs", body=json.dumps({"tool_id": "true"}),
                             headers={"Content-Type": "application/json"})
    assert status == 201
    procs = s.by_name()
    mules = {name: p for name, p in procs.items() if p["role"] == "mule"}
    webs = [p for p in procs.values() if p["role"] == "web"]
    assert sorted(mules) == ["main.job-handlers.1", "main.job-handlers.2"]
    # Every process says who it is when it starts; wait until each file has its lines.
    for name, p in mules.items():
        path = tmp_path / ("muleteer_job-handlers_%s.log" % name.rsplit(".", 1)[1])
        wait_for(lambda: path.exists() and any("handling jobs" in l for l in read_lines(path)), 10,
                 what="%s's own log file" % name)
        recs = parse(read_lines(path))
        assert {r["pid"] for r in recs} == {p["pid"]}, "only %s's lines in %s" % (name, path.name)
        assert {r["m"] for r in recs} == {p["mule_id"]} and {r["w"] for r in recs} == {0}
    web_file = tmp_path / "muleteer_web_0.log"
    recs = parse(read_lines(web_file))
    master = s.proc.pid
    web_pids = {p["pid"] for p in webs}
    assert web_pids <= {r["pid"] for r in recs}, "each web worker's lines are in the web file"
    assert {r["pid"] for r in recs} <= web_pids | {master}, "nothing but the master and web workers there"
    assert {r["w"] for r in recs if r["pid"] in web_pids} == {p["worker_id"] for p in webs}
    assert any(r["thread"].startswith("WebThread-") for r in recs)
    assert not (tmp_path / "muleteer_default.log").exists(), "the template replaces the plain file name"
    # The console handler got everything too, in the same format.
    want = web_pids | {p["pid"] for p in mules.values()}
    wait_for(lambda: {r["pid"] for r in parse([l for l in list(s.log_lines) if l.startswith("muleteer")])} >= want,
             10, what="the console lines of every process")


def test_proposal_ini_form_formats_every_line(servers, tmp_path):
    conf = write(tmp_path, "muleteer.ini", PROPOSAL_INI)
    s = servers(["--ini", str(conf)])
    s.request("GET", "/api/health")
    wait_for(lambda: any("GET /api/health 200 " in l for l in list(s.log_lines)), 10, what="the access line")
    lines = [l for l in s.log_lines if l.strip()]
    recs = parse(lines)
    loggers = {r["logger"] for r in recs}
    assert {"muleteer.stack.master", "muleteer.access"} <= loggers, loggers
    assert any(r["message"].startswith("GET /api/health 200 ") for r in recs)


def test_sigusr1_reopens_every_process_file_and_no_line_is_lost(servers, tmp_path):
    conf = write(tmp_path, "muleteer.yml", """\
logging:
  version: 1
  root: {level: INFO, handlers: [console, file]}
  handlers:
    console: {class: logging.StreamHandler, stream: ext://sys.stderr}
    file: {class: logging.FileHandler, filename: access.log}
""")
    s = servers(["--yaml", str(conf), "--processes", "2"])
    for i in range(20):
        assert s.request("GET", "/api/health?n=before%d" % i)[0] == 200
    os.rename(tmp_path / "access.log", tmp_path / "access.log.1")
    s.send(signal.SIGUSR1)
    wait_for(lambda: (tmp_path / "access.log").exists(), 10, what="the master to reopen its file")
    time.sleep(0.5)  # the web workers reopen before their next record
    for i in range(20):
        assert s.request("GET", "/api/health?n=after%d" % i)[0] == 200
    def access(path, tag):
        return [l for l in read_lines(path) if "GET /api/health?n=%s" % tag in l]
    wait_for(lambda: len(access(tmp_path / "access.log", "after")) == 20, 10, what="20 lines in the new file")
    assert len(access(tmp_path / "access.log.1", "before")) == 20
    assert access(tmp_path / "access.log.1", "after") == [], "nothing written to the rotated file after SIGUSR1"
    assert access(tmp_path / "access.log", "before") == []
    assert all(p["state"] == "running" for p in s.stack()["processes"] if p["role"] != "master")


def test_json_lines_for_log_shippers(servers, tmp_path):
    s = servers(["--log-format", "json", "--mules", "1"])
    s.request("GET", "/api/health")
    wait_for(lambda: any('"muleteer.access"' in l and "GET /api/health" in l for l in list(s.log_lines)), 10,
             what="the access line of GET /api/health")
    names = lambda: {json.loads(l)["server_name"] for l in list(s.log_lines) if l.strip()}
    wait_for(lambda: names() >= {"main.master", "main.web.1", "main.mule.1"}, 10, what="a line from each process")
    docs = [json.loads(l) for l in s.log_lines if l.strip()]
    keys = {"time", "level", "logger", "pid", "worker_id", "mule_id", "server_name", "pool_name", "thread", "message"}
    assert all(keys <= set(d) for d in docs)
    assert any(d["logger"] == "muleteer.access" and d["message"].startswith("GET /api/health 200") for d in docs)


def test_access_log_is_on_by_default_and_off_with_disable_logging(servers, tmp_path):
    s = servers([])
    s.request("GET", "/api/health")
    wait_for(lambda: any("muleteer.access: GET /api/health 200 " in l for l in s.log_lines), 10,
             what="the access line")
    line = [l for l in s.log_lines if "muleteer.access: GET /api/health" in l][0]
    assert re.search(r"GET /api/health 200 \d+ \d+us$", line.rstrip()), line
    quiet = servers(["--disable-logging", "--set", "jobs.data-dir=%s" % (tmp_path / "quiet")])
    quiet.request("GET", "/api/health")
    time.sleep(0.3)
    assert not any("muleteer.access" in l for l in quiet.log_lines)


def test_bad_logging_configuration_is_refused_before_anything_forks(tmp_path):
    conf = write(tmp_path, "muleteer.yml", """\
logging:
  version: 1
  root: {level: LOUD, handlers: [console]}
  handlers:
    console: {class: logging.StreamHandler}
""")
    r = subprocess.run([MULETEER, "--http", "127.0.0.1:0", "--yaml", str(conf)], capture_output=True, text=True,
                       timeout=30, cwd=str(tmp_path))
    assert r.returncode != 0
    assert re.search(r"muleteer\.yml:3: .*level.*LOUD", r.stderr), r.stderr
    assert "HTTP on" not in r.stderr, "nothing started"
