"""A TCP proxy for the tests: 127.0.0.1:PORT forwarded to a target address, which a test can cut and restore.

Cut, it relays no byte in either direction but keeps every connection open, and accepts new ones without
relaying for them either: to the processes on its far side, the path looks as a dead network does (nothing comes
back, nothing is refused or closed). Restored, what was held flows again, in order.

Note that the kernel still acknowledges what a client sends into the proxy's socket: TCP keepalives and
TCP_USER_TIMEOUT see a live peer. Only a timeout of the client's own (or the lease a handler holds) notices the cut.
"""
import select
import socket
import threading


class TcpProxy:
    def __init__(self, target_host, target_port):
        self.target = (target_host, target_port)
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(128)
        self.port = self.listener.getsockname()[1]
        self.forwarding = threading.Event()
        self.forwarding.set()
        self.closed = threading.Event()
        self.lock = threading.Lock()
        self.sockets = []
        self.connections = 0  # accepted so far
        self.threads = [threading.Thread(target=self._accept, daemon=True)]
        self.threads[0].start()

    def cut(self):
        """Stop relaying, holding every connection open."""
        self.forwarding.clear()

    def restore(self):
        self.forwarding.set()

    def close(self):
        self.closed.set()
        self.forwarding.set()
        try:
            self.listener.close()
        except OSError:
            pass
        with self.lock:
            socks, self.sockets = self.sockets, []
        for s in socks:
            try:
                s.close()
            except OSError:
                pass
        for t in self.threads:
            t.join(5)

    def _accept(self):
        while not self.closed.is_set():
            r, _, _ = select.select([self.listener], [], [], 0.1)
            if not r:
                continue
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._connect, args=(client,), daemon=True).start()

    def _connect(self, client):
        # A connection made while cut waits for the path before it reaches the server.
        while not self.forwarding.wait(0.1):
            if self.closed.is_set():
                client.close()
                return
        try:
            server = socket.create_connection(self.target, timeout=10)
        except OSError:
            client.close()
            return
        server.settimeout(None)
        with self.lock:
            if self.closed.is_set():
                client.close()
                server.close()
                return
            self.sockets += [client, server]
            self.connections += 1
        for src, dst in ((client, server), (server, client)):
            t = threading.Thread(target=self._pump, args=(src, dst), daemon=True)
            t.start()

    def _pump(self, src, dst):
        while not self.closed.is_set():
            if not self.forwarding.is_set():
                self.forwarding.wait(0.1)
                continue
            try:
                r, _, _ = select.select([src], [], [], 0.1)
                if not r:
                    continue
                data = src.recv(65536)
                if not data:
                    break
                # Cut while this was read: hold it until the path is back.
                while not self.forwarding.wait(0.1):
                    if self.closed.is_set():
                        return
                dst.sendall(data)
            except (OSError, ValueError):
                break
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
