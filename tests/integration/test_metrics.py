"""GET /metrics end to end: counters that move by exactly what was done, the real promtool's check, a real
Prometheus server scraping the stack, metrics off, and the API keys.

promtool and prometheus come from Debian's `prometheus` package (scripts/install-deps.sh test); without them
those tests skip, unless MULETEER_TEST_PROMETHEUS=required (.ci/run), where they fail."""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.parse
import urllib.request

import pytest

from conftest import wait_for, write

TERMINAL = ("ok", "error", "deleted")
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
INSTALL = "apt-get install -y prometheus (scripts/install-deps.sh test)"
ADMIN = "root-key-0123456789abcdefXYZ"
USER = "alice-key-0123456789abcdef"

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def tool(name):
    path = shutil.which(name)
    if path:
        return path
    reason = "%s is not installed: %s" % (name, INSTALL)
    if os.environ.get("MULETEER_TEST_PROMETHEUS", "") == "required":
        pytest.fail(reason + "\n(MULETEER_TEST_PROMETHEUS=required: not skipped)", pytrace=False)
    pytest.skip(reason)


def parse(text):
    """{(name, frozenset(labels.items())): value}, and {name: type} from the TYPE lines."""
    samples, types = {}, {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            types[name] = kind
            continue
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        assert m, "not a sample line: %r" % line
        labels = frozenset(LABEL.findall(m.group(2) or ""))
        key = (m.group(1), labels)
        assert key not in samples, "sample given twice: %r" % line
        samples[key] = float(m.group(3))
    return samples, types


def scrape(s, key=None, headers=None):
    h = dict(headers or {})
    if key:
        h["X-API-Key"] = key
    status, hdrs, data = s.request("GET", "/metrics", headers=h)
    assert status == 200, data
    assert hdrs["Content-Type"] == CONTENT_TYPE
    return data.decode()


def value(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())), 0.0)


def total(samples, name, **labels):
    """Sum over every sample of `name` whose labels include these."""
    want = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and want <= set(ls))


def post_job(s, tool_id, inputs=None, key=None):
    headers = {"Content-Type": "application/json"}
    if key:
        headers["X-API-Key"] = key
    status, _, data = s.request("POST", "/api/jobs", body=json.dumps({"tool_id": tool_id, "inputs": inputs or {}}),
                                headers=headers)
    assert status == 201, data
    return json.loads(data)["id"]


def wait_terminal(s, ids, timeout=30):
    def done():
        states = [s.get_json("/api/jobs/%s" % j)[1]["state"] for j in ids]
        return states if all(st in TERMINAL for st in states) else None
    return wait_for(done, timeout, what="jobs %s to end" % ids)


def stack_args():
    return ["--processes", "2", "--threads", "2", "--mules", "2", "--farm", "job-handlers:1,2"]


def test_counters_move_by_what_was_done(servers):
    s = servers(stack_args())
    before, types = parse(scrape(s))
    for name, kind in types.items():
        assert name.startswith("muleteer_"), name
        assert kind != "counter" or name.endswith("_total"), name
    assert types["muleteer_http_request_duration_seconds"] == "histogram"
    assert types["muleteer_jobs"] == "gauge"

    for _ in range(25):
        assert s.request("GET", "/api/health")[0] == 200
    for _ in range(5):
        assert s.request("GET", "/no/such/route")[0] == 404
    ids = [post_job(s, "true") for _ in range(6)] + [post_job(s, "sleep", {"seconds": 0.2}) for _ in range(2)]
    assert wait_terminal(s, ids) == ["ok"] * 8

    def settled():
        after, _ = parse(scrape(s))
        # the handlers count a job's end once its row says so: wait for the last of them
        return after if value(after, "muleteer_jobs_finished_total", state="ok") - \
            value(before, "muleteer_jobs_finished_total", state="ok") >= 8 else None
    after = wait_for(settled, 10, what="the finished counter to reach 8")

    def delta(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("muleteer_http_requests_total", route="/api/health", method="GET", code="200") == 25
    assert delta("muleteer_http_requests_total", route="(none)", method="(any)", code="404") == 5
    assert delta("muleteer_http_requests_total", route="/api/jobs", method="(any)", code="201") == 8
    assert delta("muleteer_http_request_duration_seconds_count", route="/api/health", method="GET") == 25
    assert delta("muleteer_http_request_duration_seconds_bucket", route="/api/health", method="GET", le="+Inf") == 25
    assert value(after, "muleteer_http_request_duration_seconds_sum", route="/api/health", method="GET") > 0
    # the first scrape was answered (and counted) before the second one
    assert value(after, "muleteer_http_requests_total", route="/metrics", method="GET", code="200") >= 1

    assert delta("muleteer_jobs_created_total") == 8
    assert delta("muleteer_jobs_started_total") == 8
    assert delta("muleteer_jobs_finished_total", state="ok") == 8
    assert delta("muleteer_jobs_finished_total", state="error") == 0
    assert delta("muleteer_job_wait_seconds_count") == 8
    assert delta("muleteer_job_run_seconds_count") == 8
    for state in ("new", "queued", "running", "deleting"):
        assert value(after, "muleteer_jobs", state=state) == 0, state

    # each job is announced to the farm once; its mules took them all off the queue
    sent = delta("muleteer_farm_messages_sent_total", farm="job-handlers")
    assert sent >= 8
    assert delta("muleteer_farm_messages_received_total", farm="job-handlers") == sent
    assert delta("muleteer_farm_messages_failed_total", farm="job-handlers") == 0
    assert value(after, "muleteer_farm_queue_messages", farm="job-handlers") == 0
    assert ("muleteer_farm_queue_bytes", frozenset({("farm", "job-handlers")})) in after
    handled = total(after, "muleteer_process_messages_handled_total", role="mule")
    assert handled >= sent
    assert total(after, "muleteer_process_up", role="web") == 2
    assert total(after, "muleteer_process_up", role="mule") == 2
    # every job's writes are transactions or single statements: at least the histogram is there, counting
    assert ("muleteer_db_transaction_seconds_count", frozenset({("backend", "sqlite")})) in after or \
        ("muleteer_db_transaction_seconds_count", frozenset({("backend", "postgresql")})) in after
    assert value(after, "muleteer_reloads_total") == 0
    assert value(after, "muleteer_log_records_dropped_total") == 0


def test_reloads_and_respawns_are_counted(servers):
    s = servers(stack_args())
    st = s.by_name()
    mule = st["main.job-handlers.1"]["pid"]
    os.kill(mule, signal.SIGKILL)
    wait_for(lambda: s.by_name()["main.job-handlers.1"]["pid"] not in (None, mule), 15, what="the mule's respawn")
    samples, _ = parse(scrape(s))
    assert value(samples, "muleteer_process_respawns_total", server_name="main.job-handlers.1", role="mule",
                 pool="job-handlers") == 1
    assert value(samples, "muleteer_process_respawns_total", server_name="main.job-handlers.2", role="mule",
                 pool="job-handlers") == 0
    for _ in range(10):
        assert s.request("GET", "/api/health")[0] == 200
    health = dict(route="/api/health", method="GET", code="200")
    counted = value(parse(scrape(s))[0], "muleteer_http_requests_total", **health)
    assert counted >= 10
    web_pids = {n: p["pid"] for n, p in s.by_name().items() if p["role"] == "web"}
    s.send(signal.SIGHUP)
    wait_for(lambda: "reload: every process restarted" in s.log(), 60, what="the reload to end\n" + s.log())
    now = s.by_name()
    assert all(now[n]["pid"] not in (None, pid) for n, pid in web_pids.items()), (web_pids, now)
    samples, _ = parse(scrape(s))
    assert value(samples, "muleteer_reloads_total") == 1
    # the request counters outlived the processes that counted them (the blocks are per slot, not per process),
    # and the new processes count on top of them
    assert value(samples, "muleteer_http_requests_total", **health) == counted
    for _ in range(5):
        assert s.request("GET", "/api/health")[0] == 200
    assert value(parse(scrape(s))[0], "muleteer_http_requests_total", **health) == counted + 5


def test_promtool_accepts_the_output(servers):
    promtool = tool("promtool")
    s = servers(stack_args())
    post_job(s, "true")
    s.request("GET", "/api/health")
    s.request("GET", "/nope")
    text = scrape(s)
    r = subprocess.run([promtool, "check", "metrics"], input=text.encode(), capture_output=True, timeout=30)
    assert r.returncode == 0, (r.stdout + r.stderr).decode() + "\n" + text
    assert not (r.stdout + r.stderr).strip(), (r.stdout + r.stderr).decode()


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def prom_query(port, expr):
    url = "http://127.0.0.1:%d/api/v1/query?%s" % (port, urllib.parse.urlencode({"query": expr}))
    with urllib.request.urlopen(url, timeout=5) as r:
        doc = json.loads(r.read())
    assert doc["status"] == "success", doc
    return doc["data"]["result"]


@pytest.mark.parametrize("keyed", [False, True], ids=["open", "bearer"])
def test_a_real_prometheus_sees_the_counters_move(servers, tmp_path, keyed):
    prometheus = tool("prometheus")
    if keyed:
        ini = write(tmp_path, "keys.ini", "[muleteer]\napi-key = %s:root\napi-key = %s:alice\nadmin-users = root\n"
                    % (ADMIN, USER))
        s = servers(stack_args() + ["--ini", ini], start=False)
        s.api_key = ADMIN
        s.start()
    else:
        s = servers(stack_args())
    port = free_port()
    auth = "    authorization:\n      credentials: %s\n" % ADMIN if keyed else ""
    conf = write(tmp_path, "prometheus.yml", """\
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: muleteer
    metrics_path: /metrics
%s    static_configs:
      - targets: ["127.0.0.1:%d"]
""" % (auth, s.port))
    data = tmp_path / "prometheus-data"
    log = open(str(tmp_path / "prometheus.log"), "wb")
    proc = subprocess.Popen([prometheus, "--config.file=" + conf, "--storage.tsdb.path=" + str(data),
                             "--web.listen-address=127.0.0.1:%d" % port, "--log.level=warn"],
                            stdout=log, stderr=subprocess.STDOUT, cwd=str(tmp_path))
    expr = 'sum(muleteer_http_requests_total{route="/api/health",code="200"}) or vector(0)'
    try:
        def up():
            try:
                res = prom_query(port, 'up{job="muleteer"}')
            except OSError:
                return None
            return res if res and res[0]["value"][1] == "1" else None
        wait_for(up, 30, what="Prometheus to scrape the stack (up == 1)\n" +
                 (tmp_path / "prometheus.log").read_text())
        first = float(prom_query(port, expr)[0]["value"][1])
        for _ in range(40):
            assert s.request("GET", "/api/health")[0] == 200
        jid = post_job(s, "true", key=ADMIN if keyed else None)

        def moved():
            v = float(prom_query(port, expr)[0]["value"][1])
            return v if v >= first + 40 else None
        seen = wait_for(moved, 20, interval=0.5, what="Prometheus to see 40 more requests")
        assert seen == first + 40, "Prometheus saw %s more /api/health requests, 40 were made" % (seen - first)

        def created():
            res = prom_query(port, "muleteer_jobs_created_total")
            return res and float(res[0]["value"][1]) >= 1
        wait_for(created, 20, interval=0.5, what="Prometheus to see the job created (%s)" % jid)
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def test_metrics_off_answers_404_and_changes_nothing_else(servers):
    s = servers(stack_args() + ["--set", "metrics=false"])
    status, _, data = s.request("GET", "/metrics")
    assert status == 404
    assert "option metrics" in json.loads(data)["err_msg"]
    assert s.request("GET", "/api/health")[0] == 200
    jid = post_job(s, "true")
    assert wait_terminal(s, [jid]) == ["ok"]
    assert s.request("GET", "/metrics")[0] == 404


def test_api_keys_guard_metrics(servers, tmp_path):
    ini = write(tmp_path, "keys.ini", "[muleteer]\napi-key = %s:root\napi-key = %s:alice\nadmin-users = root\n"
                % (ADMIN, USER))
    s = servers(["--ini", ini], start=False)
    s.api_key = ADMIN
    s.start()
    status, _, data = s.request("GET", "/metrics")
    assert status == 401, data
    status, _, data = s.request("GET", "/metrics", headers={"X-API-Key": USER})
    assert status == 403 and b"admin" in data, data
    status, _, data = s.request("GET", "/metrics", headers={"Authorization": "Bearer " + USER})
    assert status == 403, data
    status, _, data = s.request("GET", "/metrics", headers={"Authorization": "Bearer not-a-key-0123456789abc"})
    assert status == 403, data
    assert "muleteer_http_requests_total" in scrape(s, key=ADMIN)
    assert "muleteer_http_requests_total" in scrape(s, headers={"Authorization": "Bearer " + ADMIN})
    # the Bearer form is an API key everywhere, not only for /metrics
    status, _, data = s.request("GET", "/api/jobs", headers={"Authorization": "bearer " + USER})
    assert status == 200, data
    # a scheme that is not Bearer is no key at all
    status, _, _ = s.request("GET", "/metrics", headers={"Authorization": "Basic " + ADMIN})
    assert status == 401


def test_log_records_dropped_are_counted(servers, tmp_path):
    """A second log handler on /dev/full: every record it is given is dropped (ENOSPC) and counted."""
    ini = write(tmp_path, "log.ini", """\
[muleteer]
processes = 1

[loggers]
keys = root

[handlers]
keys = console, full

[formatters]
keys = generic

[logger_root]
level = INFO
handlers = console, full

[handler_console]
class = StreamHandler
args = (sys.stderr,)
formatter = generic

[handler_full]
class = FileHandler
args = ('/dev/full',)
formatter = generic

[formatter_generic]
format = %(levelname)s %(name)s %(message)s
""")
    s = servers(["--ini", ini])
    before = value(parse(scrape(s))[0], "muleteer_log_records_dropped_total")
    for _ in range(20):
        assert s.request("GET", "/api/health")[0] == 200
    # each request's access-log record reached the console and was dropped by the /dev/full handler
    wait_for(lambda: "muleteer.access GET /api/health 200" in s.log(), 5, what="the access log on the console")
    after = value(parse(scrape(s))[0], "muleteer_log_records_dropped_total")
    assert after - before >= 20, (before, after)
