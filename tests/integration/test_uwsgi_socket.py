"""socket, chmod-socket, shared-socket: the uwsgi protocol a web server's uwsgi_pass speaks.

A client here builds uwsgi packets by hand (modifier1, datasize u16 LE,
modifier2, then the vars as (u16 LE length, bytes) pairs, then the body)
and reads until the server closes, as nginx does. The same routes answer
as over HTTP; malformed packets get a warning naming what is wrong and a
closed connection, and the stack goes on serving.
"""
import json
import os
import re
import shutil
import socket
import stat
import struct
import subprocess
import tempfile
import threading

import pytest

from conftest import EXAMPLE, MULETEER, Server, children_of, wait_for
from test_privileges import (assert_is_nobody_for_good, free_privileged_port, needs_nobody, needs_root, nobody_dir,
                             open_dir)

NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)


def var(key, value):
    key = key.encode() if isinstance(key, str) else key
    value = value.encode() if isinstance(value, str) else value
    return struct.pack("<H", len(key)) + key + struct.pack("<H", len(value)) + value


def packet(method, uri, body=b"", headers=None, extra=None, modifier1=0):
    """A request as nginx's uwsgi_params build it."""
    path, _, query = uri.partition("?")
    vs = [("QUERY_STRING", query), ("REQUEST_METHOD", method), ("CONTENT_TYPE", "application/json" if body else ""),
          ("CONTENT_LENGTH", str(len(body)) if body else ""), ("REQUEST_URI", uri), ("PATH_INFO", path),
          ("DOCUMENT_ROOT", "/usr/share/nginx/html"), ("SERVER_PROTOCOL", "HTTP/1.1"), ("REQUEST_SCHEME", "http"),
          ("REMOTE_ADDR", "127.0.0.1"), ("REMOTE_PORT", "40000"), ("SERVER_PORT", "80"),
          ("SERVER_NAME", "galaxy.example.org"), ("HTTP_HOST", "galaxy.example.org")]
    for k, v in (headers or {}).items():
        vs.append(("HTTP_" + k.upper().replace("-", "_"), v))
    vs += extra or []
    block = b"".join(var(k, v) for k, v in vs)
    return struct.pack("<BHB", modifier1, len(block), 0) + block + body


def exchange(addr, data, shut=False, timeout=10):
    """Send data; read until the server closes. Returns the bytes read."""
    family = socket.AF_UNIX if isinstance(addr, str) else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(addr)
        s.sendall(data)
        if shut:
            s.shutdown(socket.SHUT_WR)
        out = b""
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            out += chunk
        return out
    finally:
        s.close()


def parse_response(raw):
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    m = re.match(r"HTTP/1\.[01] (\d{3}) ", lines[0])
    assert m, "not an HTTP response: %r" % raw[:200]
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    assert int(headers["content-length"]) == len(body), raw
    return int(m.group(1)), headers, body


def uwsgi(addr, method, uri, body=b"", headers=None):
    status, hdrs, data = parse_response(exchange(addr, packet(method, uri, body, headers)))
    assert hdrs["connection"] == "close"
    return status, data


def uwsgi_port(s):
    return int(wait_for(lambda: re.search(r"uwsgi on 127\.0\.0\.1:(\d+)", s.log()), what="the uwsgi port").group(1))


def listening_tcp_ports(pid):
    """The TCP ports process pid listens on (its socket inodes matched in /proc/net/tcp*)."""
    inodes = set()
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            target = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            for line in f.readlines()[1:]:
                fields = line.split()
                if fields[3] == "0A" and fields[9] in inodes:
                    ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.fixture
def sock_dir():
    """A short directory for unix sockets (sun_path is 108 bytes; pytest's tmp_path can be long)."""
    d = tempfile.mkdtemp(prefix="mt-uwsgi-", dir="/tmp")
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def test_health_and_jobs_over_tcp_and_a_unix_socket(servers, sock_dir):
    path = os.path.join(sock_dir, "uwsgi.sock")
    s = servers(["--socket", "127.0.0.1:0", "--socket", path, "--chmod-socket=660"])
    assert "uwsgi on " + path in s.log()
    tcp = ("127.0.0.1", uwsgi_port(s))
    assert stat.S_ISSOCK(os.stat(path).st_mode)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o660
    for addr in (tcp, path):
        status, data = uwsgi(addr, "GET", "/api/health")
        assert status == 200 and json.loads(data) == json.loads(s.request("GET", "/api/health")[2])
        status, data = uwsgi(addr, "POST", "/api/jobs", json.dumps({"tool_id": "true", "inputs": {}}).encode())
        assert status == 201, data
        job = json.loads(data)
        assert job["tool_id"] == "true"

        def done():
            st, d = uwsgi(addr, "GET", "/api/jobs/%s" % job["id"])
            return st == 200 and json.loads(d)["state"] == "ok"
        wait_for(done, what="the job posted over uwsgi to end ok")
        # the same job over HTTP: one application behind both
        assert s.get_json("/api/jobs/%s" % job["id"])[1]["state"] == "ok"
        # errors are the API's own JSON errors
        status, data = uwsgi(addr, "POST", "/api/jobs", b'{"tool_id": "nope", "inputs": {}}')
        assert status in (400, 404) and "err_msg" in json.loads(data)
        status, data = uwsgi(addr, "GET", "/no/such/route")
        assert status == 404
    # the access log has the uwsgi requests like the HTTP ones
    assert re.search(r"muleteer\.access: POST /api/jobs 201 ", s.log())
    assert s.stop() == 0
    assert not os.path.exists(path), "the socket file is removed at a clean exit"


def test_chmod_socket_with_no_value_is_666_and_a_stale_socket_file_is_taken_over(servers, sock_dir):
    path = os.path.join(sock_dir, "u.sock")
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(path)
    stale.close()  # a file nobody accepts on, as a SIGKILLed stack leaves
    s = servers(["--socket", path, "--chmod-socket"])
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o666
    assert uwsgi(path, "GET", "/api/health")[0] == 200


def test_headers_query_and_body_reach_the_handler(servers):
    s = servers(["--socket", "127.0.0.1:0"], binary=EXAMPLE)
    addr = ("127.0.0.1", uwsgi_port(s))
    status, data = uwsgi(addr, "POST", "/example/echo?a=1&b=%20x", b'{"x": 1}', {"X-Example": "from nginx"})
    assert status == 200
    doc = json.loads(data)
    assert doc == {"body": '{"x": 1}', "method": "POST", "path": "/example/echo", "query": "a=1&b=%20x",
                   "content_type": "application/json", "x_example": "from nginx"}
    # without REQUEST_URI: PATH_INFO (decoded by the web server) and QUERY_STRING
    block = b"".join([var("REQUEST_METHOD", "POST"), var("PATH_INFO", "/example/echo"),
                      var("QUERY_STRING", "q=1"), var("CONTENT_LENGTH", "2"), var("CONTENT_TYPE", "text/plain")])
    raw = exchange(addr, struct.pack("<BHB", 0, len(block), 0) + block + b"hi")
    status, _, body = parse_response(raw)
    assert status == 200 and json.loads(body)["query"] == "q=1" and json.loads(body)["body"] == "hi"
    # a HEAD gets the GET's headers and no body
    raw = exchange(addr, packet("HEAD", "/api/health"))
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ") and b"Content-Length: 15" in head and body == b"", raw


MALFORMED = [
    # name, bytes, shut the write side, the warning expected
    ("short header", b"\x00\x10", True, "the peer closed the connection after 2 bytes of a packet header"),
    ("vars over buffer-size", struct.pack("<BHB", 0, 2000, 0) + b"x" * 2000, False,
     "a vars block of 2000 bytes is over buffer-size (1024)"),
    ("truncated vars", struct.pack("<BHB", 0, 100, 0) + var("REQUEST_METHOD", "GET"), True,
     "the peer closed the connection after 21 of the 100 bytes of a vars block"),
    ("lengths past the end", struct.pack("<BHB", 0, 9, 0) + struct.pack("<H", 1) + b"A" + struct.pack("<H", 500)
     + b"xxxx", False, "bad request packet: at offset 0: the value of var 'A' (500 bytes) runs past the end"),
    ("no method", struct.pack("<BHB", 0, 17, 0) + var("REQUEST_URI", "/x"), False,
     "bad request packet: no REQUEST_METHOD var"),
    ("body shorter than CONTENT_LENGTH", packet("POST", "/api/jobs", b"x" * 50)[:-20], True,
     "POST /api/jobs: the peer closed the connection after 30 of the 50 body bytes of CONTENT_LENGTH"),
    ("another modifier1", packet("GET", "/api/health", modifier1=5), False,
     "a packet with modifier1 5: only requests (modifier1 0) are served"),
]


@pytest.mark.parametrize("name,data,shut,warning", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_a_malformed_packet_is_logged_and_closed_and_the_stack_goes_on(servers, name, data, shut, warning):
    s = servers(["--socket", "127.0.0.1:0", "--buffer-size", "1024", "--processes", "2"])
    addr = ("127.0.0.1", uwsgi_port(s))
    pids = {p["server_name"]: p["pid"] for p in s.stack()["processes"]}
    assert exchange(addr, data, shut=shut) == b"", "answered instead of closed"
    line = wait_for(lambda: [l for l in s.log_lines if warning in l], what="the warning: " + warning + "\n" + s.log())
    assert "[warn]" in line[0]
    # still serving, over uwsgi and HTTP, with the same processes
    for _ in range(4):
        assert uwsgi(addr, "GET", "/api/health")[0] == 200
        assert s.request("GET", "/api/health")[0] == 200
    assert {p["server_name"]: p["pid"] for p in s.stack()["processes"]} == pids


def test_a_body_over_limit_post_gets_413(servers):
    s = servers(["--socket", "127.0.0.1:0", "--limit-post", "100"])
    addr = ("127.0.0.1", uwsgi_port(s))
    status, hdrs, body = parse_response(exchange(addr, packet("POST", "/api/jobs", b"{" + b" " * 200 + b"}")))
    assert status == 413 and json.loads(body)["err_code"] == 413
    assert uwsgi(addr, "POST", "/api/jobs", b'{"tool_id": "true", "inputs": {}}')[0] == 201


class SocketOnlyServer(Server):
    """Started without conftest's --http: the log names the uwsgi port instead."""

    def launch(self, workers=1):
        self.proc = subprocess.Popen([self.binary] + self.args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     env=self.env, cwd=str(self.tmp))
        self._reader = threading.Thread(target=self._read_log, daemon=True)
        self._reader.start()
        wait_for(lambda: self.log().count("serving on") >= workers, what="the web workers\n" + self.log())
        return self

    def start(self, wait_ready=True):
        self.launch()
        self.uwsgi = ("127.0.0.1", uwsgi_port(self))
        return self


def test_with_socket_and_no_http_no_http_port_is_opened(tmp_path):
    s = SocketOnlyServer(tmp_path, MULETEER, ["--socket", "127.0.0.1:0"]).start()
    try:
        assert "HTTP on" not in s.log() and "(HTTP)" not in s.log()
        assert listening_tcp_ports(s.proc.pid) == {s.uwsgi[1]}
        for pid in children_of(s.proc.pid):
            assert listening_tcp_ports(pid) <= {s.uwsgi[1]}
        assert uwsgi(s.uwsgi, "GET", "/api/health")[0] == 200
    finally:
        assert s.stop() == 0
    s.check_log()


def test_http_and_socket_on_shared_sockets(servers):
    http_port, uwsgi_tcp = free_port(), free_port()
    s = servers(["--shared-socket", "127.0.0.1:%d" % http_port, "--shared-socket", "127.0.0.1:%d" % uwsgi_tcp,
                 "--http", "=0", "--socket", "=1"])
    assert s.port == http_port
    assert "HTTP on 127.0.0.1:%d (shared socket 0), uwsgi on 127.0.0.1:%d (shared socket 1)" % (
        http_port, uwsgi_tcp) in s.log()
    assert s.request("GET", "/api/health")[0] == 200
    assert uwsgi(("127.0.0.1", uwsgi_tcp), "GET", "/api/health")[0] == 200


def test_a_shared_socket_nothing_serves_is_warned_about(servers):
    port = free_port()
    s = servers(["--shared-socket", "127.0.0.1:%d" % port])
    assert "shared socket 0 (127.0.0.1:%d) is bound but served by nothing" % port in s.log()


@needs_root
@needs_nobody
def test_a_privileged_shared_socket_is_served_by_workers_running_as_nobody(servers, open_dir):
    port = free_privileged_port()
    s = servers(["--shared-socket", ":%d" % port, "--http", "=0", "--uid", "nobody", "--processes", "2",
                 "--jobs.data-dir", nobody_dir(open_dir, "data")])
    assert s.port == port
    assert "privileges dropped" in s.log()
    for pid in children_of(s.proc.pid):
        assert_is_nobody_for_good(pid)  # nobody could never have bound it
    for _ in range(4):
        assert s.request("GET", "/api/health")[0] == 200


@pytest.mark.parametrize("args,message", [
    (["--socket", "=0"], "option 'socket': \"=0\": there is no shared socket 0 (0 shared-socket options given)"),
    (["--shared-socket", "127.0.0.1:0", "--http", "=0", "--socket", "=0"],
     "option 'socket': \"=0\": shared socket 0 is already served by another option"),
    (["--shared-socket", "=1"], "option 'shared-socket': \"=1\": a shared socket is an address, not =N"),
    (["--socket", "127.0.0.1:http"], "option 'socket': \"127.0.0.1:http\" has no valid port"),
    (["--socket", "/nonexistent-dir/u.sock"], "option 'socket': cannot listen on /nonexistent-dir/u.sock: No such file"),
    (["--socket", "/tmp/" + "x" * 120], "option 'socket': \"/tmp/xxx"),
    (["--socket", "127.0.0.1:0", "--chmod-socket=rw"], "option 'chmod-socket': \"rw\" is not an octal mode"),
])
def test_socket_errors_name_the_option_and_start_nothing(tmp_path, args, message):
    r = subprocess.run([MULETEER, "--http", "127.0.0.1:0"] + args, cwd=str(tmp_path), capture_output=True,
                       text=True, timeout=30)
    assert r.returncode != 0
    assert "command line: " + message.replace("option '", "option '--", 1) in r.stderr, r.stderr
    assert "serving on" not in r.stderr and "stack up" not in r.stderr


def test_a_socket_path_in_use_or_not_a_socket_is_refused(servers, sock_dir):
    path = os.path.join(sock_dir, "u.sock")
    s = servers(["--socket", path])
    r = subprocess.run([MULETEER, "--http", "127.0.0.1:0", "--socket", path], cwd=sock_dir, capture_output=True,
                       text=True, timeout=30)
    assert r.returncode != 0
    assert "option '--socket': cannot listen on %s: another process accepts connections on it" % path in r.stderr
    assert uwsgi(path, "GET", "/api/health")[0] == 200, "the running stack keeps its socket"
    regular = os.path.join(sock_dir, "file")
    open(regular, "w").close()
    r = subprocess.run([MULETEER, "--http", "127.0.0.1:0", "--socket", regular], cwd=sock_dir, capture_output=True,
                       text=True, timeout=30)
    assert "cannot listen on %s: the file exists and is not a socket" % regular in r.stderr
    assert os.path.exists(regular), "a file that is not a socket is left alone"


@pytest.mark.skipif(NGINX is None, reason="nginx is not installed (scripts/install-deps.sh bench installs nginx-light)")
@pytest.mark.parametrize("kind", ["unix", "tcp"])
def test_nginx_uwsgi_pass(servers, sock_dir, kind):
    path = os.path.join(sock_dir, "uwsgi.sock")
    tcp_port = free_port()
    s = servers(["--socket", path if kind == "unix" else "127.0.0.1:%d" % tcp_port, "--chmod-socket=666",
                 "--api-key", "s3cret-0123456789abcdef:alice", "--admin-users", "alice"], start=False)
    s.api_key = "s3cret-0123456789abcdef"
    s.start()
    port = free_port()
    conf = os.path.join(sock_dir, "nginx.conf")
    with open(conf, "w") as f:
        f.write("""
daemon off;
master_process off;
pid %(d)s/nginx.pid;
error_log %(d)s/error.log;
events {}
http {
    access_log off;
    client_body_temp_path %(d)s/body;
    uwsgi_temp_path %(d)s/uwsgi;
    proxy_temp_path %(d)s/proxy;
    fastcgi_temp_path %(d)s/fastcgi;
    scgi_temp_path %(d)s/scgi;
    server {
        listen 127.0.0.1:%(port)d;
        location / {
            uwsgi_pass %(upstream)s;
            include /etc/nginx/uwsgi_params;
        }
    }
}
""" % {"d": sock_dir, "port": port, "upstream": "unix:" + path if kind == "unix" else "127.0.0.1:%d" % tcp_port})
    nginx = subprocess.Popen([NGINX, "-c", conf, "-p", sock_dir], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        import http.client

        def get(method, url, body=None, headers=None):
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            try:
                c.request(method, url, body=body, headers=headers or {})
                r = c.getresponse()
                return r.status, r.read()
            finally:
                c.close()

        def up():
            try:
                return get("GET", "/api/health")[0] == 200
            except OSError:
                return False
        wait_for(up, what="nginx to pass /api/health")
        key = {"X-API-Key": "s3cret-0123456789abcdef"}
        assert get("POST", "/api/jobs", json.dumps({"tool_id": "true", "inputs": {}}))[0] == 401
        status, data = get("POST", "/api/jobs", json.dumps({"tool_id": "true", "inputs": {}}),
                           dict(key, **{"Content-Type": "application/json"}))
        assert status == 201, data
        job = json.loads(data)
        # the key in the query this time: REQUEST_URI carries it through
        wait_for(lambda: json.loads(get("GET", "/api/jobs/%s?key=s3cret-0123456789abcdef" % job["id"])[1])["state"]
                 == "ok", what="the job to end ok")
        # a body larger than nginx's in-memory buffer: nginx sends it from a temporary file
        status, data = get("POST", "/api/jobs", json.dumps({"tool_id": "true", "inputs": {}, "pad": "x" * 200000}),
                           dict(key, **{"Content-Type": "application/json"}))
        assert status == 400 and "pad" in json.loads(data)["err_msg"], data
    finally:
        nginx.terminate()
        nginx.wait(10)


def test_every_socket_error_is_reported_in_one_run_and_by_print_config(tmp_path):
    conf = tmp_path / "galaxy.yml"
    conf.write_text("uwsgi:\n  chmod-socket: 9\n  shared-socket: =1\n  socket: =2\n  socket: 1.2.3.4:x\n"
                    "  http: =0\n")
    for extra in ([], ["--print-config"]):
        r = subprocess.run([MULETEER, "--yaml", str(conf)] + extra, cwd=str(tmp_path), capture_output=True,
                           text=True, timeout=30)
        assert r.returncode == 1, r.stderr
        for message in ["galaxy.yml:2: option 'chmod-socket': \"9\" is not an octal mode",
                        "galaxy.yml:3: option 'shared-socket': \"=1\": a shared socket is an address, not =N",
                        "galaxy.yml:4: option 'socket': \"=2\": there is no shared socket 2 (1 shared-socket option",
                        "galaxy.yml:5: option 'socket': \"1.2.3.4:x\" has no valid port"]:
            assert message in r.stderr, r.stderr
        assert "serving on" not in r.stderr
    r = subprocess.run([MULETEER, "--shared-socket", "127.0.0.1:1", "--socket", "=0", "--print-config"],
                       cwd=str(tmp_path), capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr  # checked, not bound: port 1 is not needed here
    assert "socket = =0" in r.stdout


def test_a_daemonized_stack_keeps_its_socket_file_until_it_stops(tmp_path, sock_dir):
    path = os.path.join(sock_dir, "uwsgi.sock")
    r = subprocess.run([MULETEER, "--socket", path, "--daemonize", "daemon.log"], cwd=str(tmp_path),
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr
    pid = int(re.search(r"running in the background, pid (\d+)", r.stdout).group(1))
    try:
        # the parent that returned to the terminal must not have removed the daemon's socket file
        assert stat.S_ISSOCK(os.stat(path).st_mode)
        assert uwsgi(path, "GET", "/api/health")[0] == 200
    finally:
        os.kill(pid, 15)
        wait_for(lambda: not os.path.exists("/proc/%d" % pid) or
                 open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()[0] == "Z", what="the daemon to stop")
    wait_for(lambda: not os.path.exists(path), what="the daemon to remove its socket file at its clean exit")
    assert "stopped" in (tmp_path / "daemon.log").read_text()


def test_a_galaxy_yml_uwsgi_section_as_sites_write_it(tmp_path, sock_dir):
    path = os.path.join(sock_dir, "uwsgi.sock")
    conf = tmp_path / "galaxy.yml"
    conf.write_text("uwsgi:\n  socket: %s\n  chmod-socket:\n  harakiri: 600\n  buffer-size: 16384\n"
                    "  processes: 2\n  threads: 4\n  master: true\n" % path)
    s = SocketOnlyServer(tmp_path, MULETEER, ["--yaml", str(conf)]).launch(workers=2)
    try:
        assert "uwsgi on %s" % path in s.log() and "HTTP on" not in s.log()
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o666
        assert listening_tcp_ports(s.proc.pid) == set()
        for _ in range(8):
            assert uwsgi(path, "GET", "/api/health")[0] == 200
    finally:
        assert s.stop() == 0
    s.check_log()
    assert not os.path.exists(path)
