"""http: GET /api/health with wrk at equal process counts, against nginx and, for scale, the reference peer.

Two web workers of one thread each against nginx with two worker processes
returning a short 200; the reference peer (uWSGI + Python, 2 workers x 4
threads) answers its own GET /api/health. The three servers stay up and are
measured in turn within each round. Target: muleteer >= 0.8x nginx.

The cost of the metrics: the same muleteer with `metrics = false` (no
counter written, /metrics off) is measured in the same rounds; with them on
it must keep >= 0.97x of that.
"""
import os
import subprocess

from sections.common import Figure, free_port, peer_available, say, start_muleteer, start_peer, stop, stop_group, \
    wait_http, wrk


def start_nginx(workers, tmp):
    port = free_port()
    conf = os.path.join(tmp, "nginx.conf")
    with open(conf, "w") as f:
        f.write("""worker_processes %d;
daemon off;
pid %s/nginx.pid;
error_log %s/nginx-error.log;
events { worker_connections 1024; }
http {
  access_log off;
  keepalive_requests 1000000;
  client_body_temp_path %s;
  server { listen 127.0.0.1:%d; location / { return 200 "ok"; } }
}
""" % (workers, tmp, tmp, tmp, port))
    proc = subprocess.Popen(["nginx", "-c", conf, "-p", tmp], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_http(port)
    return proc, port


def run(o, tmp):
    workers = 2
    # nginx runs with access_log off: so does muleteer (its access log is on by default).
    mt, mt_port = start_muleteer(["--processes", str(workers), "--threads", "1", "--disable-logging",
                                  "--set", "jobs.data-dir=%s" % os.path.join(tmp, "http-data")])
    off, off_port = start_muleteer(["--processes", str(workers), "--threads", "1", "--disable-logging",
                                    "--set", "metrics=false", "--set", "jobs.data-dir=%s" % os.path.join(tmp, "http-off")])
    ng, ng_port = start_nginx(workers, tmp)
    peer, peer_port = start_peer(tmp) if peer_available() else (None, None)
    ours, nginx, theirs, unmetered = [], [], [], []
    try:
        for r in range(o.rounds):
            ours.append(wrk(mt_port, "/api/health", o.duration))
            unmetered.append(wrk(off_port, "/api/health", o.duration))
            nginx.append(wrk(ng_port, "/", o.duration))
            if peer:
                theirs.append(wrk(peer_port, "/api/health", o.duration))
            say("round %d: muleteer %.0f req/s (metrics off %.0f), nginx %.0f, peer %s" % (
                r + 1, ours[-1], unmetered[-1], nginx[-1], theirs[-1] if theirs else "-"))
    finally:
        stop(mt)
        stop(off)
        stop(ng)
        if peer:
            stop_group(peer)
    figs = [Figure("HTTP GET /api/health, 2 workers", "req/s", ours, nginx, "nginx", ("≥ 0.8× nginx", "ratio>=", 0.8)),
            Figure("HTTP GET /api/health, metrics on vs off", "req/s", ours, unmetered, "metrics off",
                   ("≥ 0.97× metrics off", "ratio>=", 0.97))]
    if theirs:
        figs.append(Figure("HTTP GET /api/health, 2 workers (peer: 2 × 4 threads)", "req/s", ours, theirs, "peer",
                           ("for scale", None, None)))
    return figs
