"""HTTP in the web workers: the stack's routes, keep-alive, pipelining, limits, static files."""
import json
import os
import socket
import time

import pytest


@pytest.fixture
def web(servers, tmp_path):
    root = tmp_path / "static"
    (root / "sub").mkdir(parents=True)
    (root / "index.txt").write_text("hello static\n")
    (root / "sub" / "style.css").write_text("body{}\n")
    (tmp_path / "secret.txt").write_text("outside\n")
    os.symlink(str(tmp_path / "secret.txt"), str(root / "leak.txt"))
    os.symlink("index.txt", str(root / "alias.txt"))
    big = root / "big.bin"
    big.write_bytes(os.urandom(3 * 1024 * 1024 + 17))
    return servers(["--processes", "2", "--threads", "2", "--static-map", "/static=%s" % root,
                    "--buffer-size", "4096", "--limit-post", "1000", "--http-timeout", "1"])


def test_health(web):
    status, headers, body = web.request("GET", "/api/health")
    assert status == 200
    assert json.loads(body) == {"status": "ok"}
    assert headers["Content-Type"] == "application/json"


def test_stack_lists_every_process(web):
    st = web.stack()
    roles = [p["role"] for p in st["processes"]]
    assert roles == ["master", "web", "web"]
    for p in st["processes"]:
        for key in ("server_name", "pool", "instance_id", "pid", "role", "state", "respawns",
                    "messages_sent", "messages_handled"):
            assert key in p
        assert p["state"] == "running" and p["pid"] > 0


def test_unknown_route_is_404_json(web):
    status, _, body = web.request("GET", "/no/such/thing")
    assert status == 404
    doc = json.loads(body)
    assert doc["err_code"] == 404 and doc["err_msg"]


def test_wrong_method_is_405(web):
    status, _, body = web.request("DELETE", "/api/health")
    assert status == 405 and json.loads(body)["err_code"] == 405


def test_keep_alive_serves_many_requests_on_one_connection(web):
    c = web.conn()
    for _ in range(50):
        c.request("GET", "/api/health")
        r = c.getresponse()
        assert r.status == 200 and r.read() == b'{"status":"ok"}'
    c.close()


def test_pipelined_requests_are_answered_in_order(web):
    req = b"GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n"
    last = b"GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    data = web.raw(req * 3 + last)
    assert data.count(b"HTTP/1.1 200 ") == 3
    assert data.index(b"HTTP/1.1 404 ") > data.rindex(b"HTTP/1.1 200 ")


def test_malformed_request_is_400_and_closed(web):
    data = web.raw(b"GARBAGE\x01 / HTTP/1.1\r\n\r\n")
    assert data.startswith(b"HTTP/1.1 400 ")
    assert b'"err_code":400' in data.replace(b" ", b"")


def test_headers_too_large_is_431(web):
    data = web.raw(b"GET /api/health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 8000 + b"\r\n\r\n")
    assert data.startswith(b"HTTP/1.1 431 ")


def test_body_too_large_is_413(web):
    status, _, body = web.request("POST", "/api/health", body=b"z" * 5000)
    assert status == 413
    assert json.loads(body)["err_code"] == 413


def test_idle_client_is_closed_after_timeout(web):
    s = socket.create_connection(("127.0.0.1", web.port), timeout=5)
    t0 = time.time()
    assert s.recv(100) == b""  # closed by the server, not by our 5 s timeout
    assert 0.5 < time.time() - t0 < 3
    s.close()


def test_slow_client_is_cut_off(web):
    s = socket.create_connection(("127.0.0.1", web.port), timeout=5)
    t0 = time.time()
    got = b""
    try:
        for ch in b"GET /api/health HTTP/1.1\r\nHost: slowloris\r\n":
            s.send(bytes([ch]))
            time.sleep(0.1)
            if time.time() - t0 > 4:
                break
    except (BrokenPipeError, ConnectionResetError):
        pass
    try:
        got = s.recv(1000)
    except (ConnectionResetError, socket.timeout):
        pass
    assert time.time() - t0 < 4, "a client sending a byte per 100 ms kept the connection for 4 s"
    assert got == b"" or got.startswith(b"HTTP/1.1 408 ")
    s.close()


def test_static_file(web):
    status, headers, body = web.request("GET", "/static/index.txt")
    assert status == 200 and body == b"hello static\n"
    assert headers["Content-Type"].startswith("text/plain")
    status, headers, body = web.request("GET", "/static/sub/style.css")
    assert status == 200 and headers["Content-Type"].startswith("text/css")
    status, headers, body = web.request("HEAD", "/static/index.txt")
    assert status == 200 and body == b"" and headers["Content-Length"] == "13"
    status, _, body = web.request("GET", "/static/alias.txt")
    assert status == 200 and body == b"hello static\n"


def test_large_static_file_streams_whole(web, tmp_path):
    status, headers, body = web.request("GET", "/static/big.bin")
    assert status == 200
    assert body == (tmp_path / "static" / "big.bin").read_bytes()


@pytest.mark.parametrize("path", [
    "/static/../secret.txt",
    "/static/%2e%2e/secret.txt",
    "/static/%2E%2E/secret.txt",
    "/static/sub/../../secret.txt",
    "/static/sub/%2e%2e/%2e%2e/secret.txt",
    "/static//etc/passwd",
    "/static/%2fetc%2fpasswd",
    "/static/leak.txt",
    "/static/index.txt%00.css",
])
def test_static_cannot_escape_its_directory(web, path):
    data = web.raw(("GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % path).encode())
    head = data.split(b"\r\n", 1)[0]
    assert head.split()[1] in (b"400", b"403", b"404"), data[:200]
    assert b"outside" not in data and b"root:" not in data


def test_static_missing_file_is_404(web):
    status, _, body = web.request("GET", "/static/nothing-here.txt")
    assert status == 404 and json.loads(body)["err_code"] == 404
