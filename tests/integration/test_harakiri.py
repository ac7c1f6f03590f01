"""harakiri: a web worker whose handler runs too long is killed and respawned.

The example application's GET /example/sleep?seconds=S holds its web thread
S seconds, as a stuck handler would. With harakiri = N the worker's
watchdog logs the request (method, path, seconds, worker) and kills the
worker; the master respawns it under the same name, and the other workers
serve meanwhile. A client that is slow to send its request is not the
handler's fault: http-timeout covers it, harakiri does not count it.
"""
import re
import socket
import threading
import time

from conftest import EXAMPLE, wait_for

HARAKIRI_LINE = re.compile(r"\[error\] (main\.web\.\d)\[(\d+)\] .*harakiri: GET /example/sleep has run for "
                           r"(\d+\.\d) s on (main\.web\.\d) \(pid (\d+), thread (\d)\), over harakiri = 2 s: "
                           r"killing the worker")


def in_background(s, path, timeout=60):
    """Request path in a thread; the result dict gets 'status' or 'error'."""
    result = {}

    def run():
        t0 = time.time()
        try:
            result["status"] = s.request("GET", path, timeout=timeout)[0]
        except Exception as e:  # the connection is cut when the worker dies
            result["error"] = e
        result["seconds"] = time.time() - t0
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, result



def test_a_handler_over_harakiri_gets_its_worker_killed_and_respawned(servers):
    s = servers(["--processes", "2", "--harakiri", "2"], binary=EXAMPLE)
    before = {p["server_name"]: p["pid"] for p in s.stack()["processes"] if p["role"] == "web"}
    t, result = in_background(s, "/example/sleep?seconds=30")
    # The other worker goes on serving while the sleeper runs and dies. The stuck worker may have
    # accepted one of these connections in the same accept batch as the sleeper's: that one is
    # cut with it (as with uWSGI), every other one is answered.
    t0 = time.time()
    served, cut = 0, 0
    while time.time() - t0 < 2.5:
        try:
            assert s.request("GET", "/api/health", timeout=5)[0] == 200
            served += 1
        except (ConnectionError, OSError):
            cut += 1
        time.sleep(0.05)
    assert served >= 5 and cut <= 1, (served, cut)
    m = wait_for(lambda: HARAKIRI_LINE.search(s.log()), timeout=5, what="the harakiri line\n" + s.log())
    name, pid, seconds = m.group(4), int(m.group(5)), float(m.group(3))
    assert m.group(1) == name and int(m.group(2)) == pid and before[name] == pid
    assert 2.0 <= seconds < 3.0
    t.join(10)
    assert "error" in result and result["seconds"] < 5, "the sleeper's connection is cut with its worker: %s" % result
    # respawned under the same name, with a new pid
    wait_for(lambda: re.search(r"%s \(pid %d\) killed by signal 9" % (re.escape(name), pid), s.log()) or
             re.search(r"%s \(pid %d\) .*(SIGKILL|Killed|signal 9)" % (re.escape(name), pid), s.log()),
             what="the master to see the worker killed\n" + s.log())
    st = s.wait_ready()
    after = {p["server_name"]: p for p in st["processes"] if p["role"] == "web"}
    assert after[name]["pid"] != pid and after[name]["state"] == "running"
    other = [n for n in before if n != name][0]
    assert after[other]["pid"] == before[other], "only the stuck worker is killed"
    for _ in range(6):
        assert s.request("GET", "/api/health")[0] == 200
    # a request within the limit is left alone
    assert s.request("GET", "/example/sleep?seconds=1")[0] == 200
    assert len(HARAKIRI_LINE.findall(s.log())) == 1


def test_a_client_slow_to_send_its_request_is_not_killed(servers):
    s = servers(["--processes", "1", "--harakiri", "1", "--http-timeout", "10"], binary=EXAMPLE)
    pid = [p["pid"] for p in s.stack()["processes"] if p["role"] == "web"][0]
    c = socket.create_connection(("127.0.0.1", s.port), timeout=10)
    try:
        c.sendall(b"GET /example/sleep?seconds=0.1 HTTP/1.1\r\nHost: x\r\n")
        time.sleep(2.5)  # well over harakiri: the handler has not started
        c.sendall(b"Connection: close\r\n\r\n")
        data = b""
        while True:
            chunk = c.recv(65536)
            if not chunk:
                break
            data += chunk
    finally:
        c.close()
    assert data.startswith(b"HTTP/1.1 200 "), data
    assert "harakiri" not in s.log()
    assert [p["pid"] for p in s.stack()["processes"] if p["role"] == "web"] == [pid]


def test_harakiri_verbose_names_the_other_requests_cut(servers):
    s = servers(["--processes", "1", "--threads", "2", "--harakiri", "2", "--harakiri-verbose"], binary=EXAMPLE)
    first, r1 = in_background(s, "/example/sleep?seconds=30")
    time.sleep(0.8)
    second, r2 = in_background(s, "/example/sleep?seconds=20")
    m = wait_for(lambda: HARAKIRI_LINE.search(s.log()), timeout=6, what="the harakiri line\n" + s.log())
    cut = wait_for(lambda: re.search(r"\[notice\] .*harakiri: GET /example/sleep \(running for (\d+\.\d) s on "
                                     r"thread (\d)\) is cut with it", s.log()), what="the notice\n" + s.log())
    assert cut.group(2) != m.group(6)
    assert 0.5 < float(cut.group(1)) < 4.5  # the others get min(harakiri, worker-reload-mercy) to finish first
    first.join(10)
    second.join(10)
    assert "error" in r1 and "error" in r2
    s.wait_ready()
    assert s.request("GET", "/api/health")[0] == 200


def test_harakiri_over_the_uwsgi_socket(servers):
    from test_uwsgi_socket import exchange, packet, uwsgi, uwsgi_port
    s = servers(["--processes", "2", "--harakiri", "2", "--socket", "127.0.0.1:0"], binary=EXAMPLE)
    addr = ("127.0.0.1", uwsgi_port(s))
    t0 = time.time()
    assert exchange(addr, packet("GET", "/example/sleep?seconds=30")) == b"", "cut, not answered"
    assert time.time() - t0 < 5
    wait_for(lambda: HARAKIRI_LINE.search(s.log()), timeout=5, what="the harakiri line\n" + s.log())
    s.wait_ready()
    assert uwsgi(addr, "GET", "/api/health")[0] == 200
