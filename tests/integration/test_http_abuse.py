"""HTTP under abuse: many idle and slow clients, ten thousand keep-alive connections, broken framing."""
import resource
import selectors
import socket
import threading
import time

import pytest

from conftest import wait_for

HEALTH = b"GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n"


@pytest.fixture(autouse=True)
def many_descriptors():
    """Room for the client side of 10,000 connections (the server raises its own limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, 30000)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def read_response(sock, timeout=10):
    """One whole response (headers and a Content-Length body), or b'' if the server closed first."""
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


def status_of(response):
    return int(response.split(b" ", 2)[1]) if response.startswith(b"HTTP/1.1 ") else None


def closed_after(sock, timeout=10):
    """True if the server closes the connection (EOF or reset) within timeout, whatever it sends before."""
    sock.settimeout(timeout)
    try:
        while sock.recv(65536):
            pass
        return True
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


def test_idle_and_slow_header_clients_do_not_keep_others_waiting(servers):
    s = servers(["--processes", "2", "--threads", "2"])
    idle = [socket.create_connection(("127.0.0.1", s.port)) for _ in range(1000)]
    slow = [socket.create_connection(("127.0.0.1", s.port)) for _ in range(50)]
    stop = threading.Event()

    def dribble():
        # One byte of a header at a time, never finishing it.
        text = b"GET /api/health HTTP/1.1\r\nX-Slow: " + b"a" * 10000
        i = 0
        while not stop.is_set():
            for c in slow:
                try:
                    c.send(text[i:i + 1])
                except OSError:
                    pass
            i = (i + 1) % len(text)
            time.sleep(0.05)

    t = threading.Thread(target=dribble, daemon=True)
    t.start()
    try:
        time.sleep(0.5)
        for _ in range(20):
            # Served while 1,050 connections sit there (they would hold a thread-per-connection server
            # until its 30 s timeout; the socket gives up after 10 s).
            with socket.create_connection(("127.0.0.1", s.port), timeout=10) as c:
                c.sendall(HEALTH)
                assert status_of(read_response(c)) == 200
    finally:
        stop.set()
        t.join(5)
        for c in idle + slow:
            c.close()


def test_ten_thousand_keep_alive_connections_are_held_and_served(servers):
    s = servers(["--processes", "2", "--threads", "2"])
    n = 10000
    conns = []
    try:
        for _ in range(n):
            c = socket.socket()
            c.setblocking(False)
            c.connect_ex(("127.0.0.1", s.port))
            conns.append(c)
        sel = selectors.DefaultSelector()
        for rnd in range(2):  # two requests on each connection: they are kept alive in between
            for c in conns:
                sel.register(c, selectors.EVENT_WRITE, {"out": HEALTH, "in": b""})
            done, errors = 0, 0
            deadline = time.time() + 120
            while done + errors < n and time.time() < deadline:
                for key, ev in sel.select(timeout=1):
                    st, c = key.data, key.fileobj
                    try:
                        if ev & selectors.EVENT_WRITE and st["out"]:
                            sent = c.send(st["out"])
                            st["out"] = st["out"][sent:]
                            if not st["out"]:
                                sel.modify(c, selectors.EVENT_READ, st)
                        elif ev & selectors.EVENT_READ:
                            chunk = c.recv(4096)
                            if not chunk:
                                errors += 1
                                sel.unregister(c)
                                continue
                            st["in"] += chunk
                            head, sep, body = st["in"].partition(b"\r\n\r\n")
                            if sep:
                                length = int([l.split(b":")[1] for l in head.split(b"\r\n")
                                              if l.lower().startswith(b"content-length")][0])
                                if len(body) >= length:
                                    assert status_of(st["in"]) == 200, st["in"][:200]
                                    done += 1
                                    sel.unregister(c)
                    except (BlockingIOError, InterruptedError):
                        pass
                    except OSError:
                        errors += 1
                        sel.unregister(c)
            assert errors == 0 and done == n, "round %d: %d answered, %d errors of %d" % (rnd + 1, done, errors, n)
        sel.close()
        assert s.request("GET", "/api/health")[0] == 200
    finally:
        for c in conns:
            c.close()


def test_broken_chunked_encoding_is_400_and_closed(servers):
    s = servers([])
    for body in (b"zz\r\nhello\r\n0\r\n\r\n",            # not a hex size
                 b"5\r\nhelloXX0\r\n\r\n",                # data longer than its size (llhttp 8 alone accepts it)
                 b"5\r\nhello\n0\r\n\r\n",               # a bare LF after the data
                 b"-5\r\nhello\r\n0\r\n\r\n",           # a negative size
                 b"ffffffffffffffffff\r\n"):              # a size that overflows
        with socket.create_connection(("127.0.0.1", s.port), timeout=10) as c:
            c.sendall(b"POST /api/jobs HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                      b"Content-Type: application/json\r\n\r\n" + body)
            r = read_response(c)
            assert status_of(r) == 400, (body, r[:200])
            assert closed_after(c), body


def test_garbage_after_a_good_request_gets_its_answer_then_400_and_close(servers):
    s = servers([])
    with socket.create_connection(("127.0.0.1", s.port), timeout=10) as c:
        c.sendall(HEALTH + b"\x00\x01\x02 NOT HTTP AT ALL\r\n\r\n" + HEALTH)
        everything = b""
        c.settimeout(10)
        try:
            while True:  # until the server closes: it must, after the garbage
                chunk = c.recv(65536)
                if not chunk:
                    break
                everything += chunk
        except socket.timeout:
            pytest.fail("the connection stays open after garbage: %r" % everything[:300])
    responses = [b"HTTP/1.1 " + r for r in everything.split(b"HTTP/1.1 ")[1:]]
    assert [status_of(r) for r in responses] == [200, 400], everything[:500]
    assert b"Connection: close" in responses[1]
    # And the server goes on serving.
    assert s.request("GET", "/api/health")[0] == 200


def test_a_good_chunked_body_is_accepted_in_one_piece_and_byte_by_byte(servers):
    s = servers([])
    body = b'{"tool_id": "echo", "inputs": {"text": "chunked"}}'
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 7]), body[i:i + 7]) for i in range(0, len(body), 7))
    request = (b"POST /api/jobs HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
               b"Content-Type: application/json\r\n\r\n" + chunks + b"0\r\n\r\n")
    for one_byte_at_a_time in (False, True):
        with socket.create_connection(("127.0.0.1", s.port), timeout=10) as c:
            c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if one_byte_at_a_time:
                for b in request:
                    c.send(bytes([b]))
                    time.sleep(0.001)
            else:
                c.sendall(request)
            r = read_response(c)
            assert status_of(r) == 201, r[:300]
            assert b'"tool_id":"echo"' in r
