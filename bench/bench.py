#!/usr/bin/env python3
"""Side-by-side benchmarks for muleteer (run by `make bench`).

Every figure is measured against its reference in the same run, in
alternating rounds, and the medians are compared, because these machines
are shared and noisy:

  http      wrk against muleteer's GET /api/health and against nginx with the
            same number of worker processes returning a short 200.
            Target: muleteer >= 0.8x nginx requests/s.
  messages  one web worker sends N messages to a farm of 3 counting mules,
            in muleteer (build/muleteer-example) and in uWSGI
            (../shared/bench/peer-uwsgi-msg, the sender retrying on a full
            queue). Target: muleteer >= uWSGI messages/s, none lost.
  memory    resident memory (VmRSS) of an idle built-in mule, and of the
            reference peer's Python mule. Target: <= 4 MiB.
  jobs      `true` jobs through POST /api/jobs with ../shared/bench/jobs_bench.py:
            a burst (-n 2000 -c 8): jobs/s end to end vs the peer (target
            1.6x) and vs the floor, posix_spawn+wait of /bin/true on every
            core (target 0.75x), and no job stuck; a steady 200 jobs/s:
            create->start p50/p99 with accept-sync=normal (the peer's
            durability; targets 0.3 ms / 2 ms) and with the default full.

usage: bench/bench.py [--rounds 3] [--duration 5] [--messages 200000] [--only http,messages,memory]
"""
import argparse
import glob
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
BUILD = os.environ.get("MULETEER_BUILD", os.path.join(ROOT, "build"))
SHARED_BENCH = os.environ.get("PEER_BENCH_DIR", os.path.join(ROOT, "..", "shared", "bench"))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_http(port, path="/", timeout=15):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=1).read()
            return True
        except urllib.error.HTTPError:
            return True
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("nothing answered on port %d" % port)


def stop(proc):
    if proc and proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wrk(port, path, duration, threads=2, conns=32):
    out = subprocess.run(["wrk", "-t%d" % threads, "-c%d" % conns, "-d%ds" % duration,
                          "http://127.0.0.1:%d%s" % (port, path)], capture_output=True, text=True).stdout
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if not m:
        raise RuntimeError("wrk printed no rate:\n" + out)
    if errors:
        raise RuntimeError("wrk saw %s error responses:\n%s" % (errors.group(1), out))
    return float(m.group(1))


def start_muleteer(args, binary="muleteer", env=None):
    port = free_port()
    proc = subprocess.Popen([os.path.join(BUILD, binary), "--http", "127.0.0.1:%d" % port] + args,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(os.environ, **(env or {})))
    wait_http(port, "/api/health")
    return proc, port


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


def bench_http(o, tmp):
    workers = 2
    # nginx runs with access_log off: so does muleteer (its access log is on by default).
    mt, mt_port = start_muleteer(["--processes", str(workers), "--threads", "1", "--disable-logging"])
    ng, ng_port = start_nginx(workers, tmp)
    ours, theirs = [], []
    try:
        for r in range(o.rounds):
            ours.append(wrk(mt_port, "/api/health", o.duration))
            theirs.append(wrk(ng_port, "/", o.duration))
            print("  round %d: muleteer %.0f req/s, nginx %.0f req/s" % (r + 1, ours[-1], theirs[-1]), flush=True)
    finally:
        stop(mt)
        stop(ng)
    a, b = statistics.median(ours), statistics.median(theirs)
    return {"muleteer_rps": round(a), "nginx_rps": round(b), "ratio": round(a / b, 3), "target": 0.8,
            "met": a / b >= 0.8, "workers": workers}


def read_counts(d, prefix):
    n, first, last = 0, None, None
    for path in glob.glob(os.path.join(d, prefix + "*")):
        if path.endswith(".tmp"):
            continue
        with open(path) as f:
            parts = f.read().split()
        if len(parts) != 3:
            continue
        n += int(parts[0])
        first = float(parts[1]) if first is None else min(first, float(parts[1]))
        last = float(parts[2]) if last is None else max(last, float(parts[2]))
    return n, first, last


def wait_counts(d, prefix, want, timeout=30):
    deadline, seen, stable_since = time.time() + timeout, -1, time.time()
    while time.time() < deadline:
        n, first, last = read_counts(d, prefix)
        if n != seen:
            seen, stable_since = n, time.time()
        if n >= want or time.time() - stable_since > 3:
            time.sleep(0.3)
            return read_counts(d, prefix)
        time.sleep(0.05)
    return read_counts(d, prefix)


def muleteer_messages(n, tmp):
    d = tempfile.mkdtemp(dir=tmp)
    proc, port = start_muleteer(["--processes", "1", "--mules", "3", "--farm", "counters:1,2,3",
                                 "--example.out-dir", d], binary="muleteer-example")
    try:
        time.sleep(0.5)
        req = urllib.request.Request("http://127.0.0.1:%d/example/send?farm=counters&target=count&count=%d"
                                     % (port, n), method="POST")
        doc = json.loads(urllib.request.urlopen(req, timeout=120).read())
        got, first, last = wait_counts(d, "count.", n)
        return {"sent": doc["sent"], "received": got, "send_s": doc["elapsed"],
                "deliver_s": (last - doc["started"]) if last else None, "retries": 0}
    finally:
        stop(proc)


def uwsgi_messages(n, tmp):
    run = os.path.join(SHARED_BENCH, "peer-uwsgi-msg", "run.sh")
    if not os.path.exists(run) or not shutil.which("uwsgi"):
        return None
    d = tempfile.mkdtemp(dir=tmp)
    port = free_port()
    proc = subprocess.Popen(["sh", run, str(port)], env=dict(os.environ, OUT_DIR=d), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_http(port, "/?n=1")
        time.sleep(1.5)  # the warm-up message is counted and reported after a quiet second
        for p in glob.glob(os.path.join(d, "count_*")):
            os.unlink(p)
        t0 = time.time()
        body = urllib.request.urlopen("http://127.0.0.1:%d/?n=%d" % (port, n), timeout=120).read().decode()
        sent, retries, elapsed = body.split()
        got, first, last = wait_counts(d, "count_", n)
        return {"sent": int(sent), "received": got, "send_s": float(elapsed),
                "deliver_s": (last - t0) if last else None, "retries": int(retries)}
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(proc.pid, signal.SIGKILL)


def bench_messages(o, tmp):
    ours, theirs = [], []
    for r in range(o.rounds):
        m = muleteer_messages(o.messages, tmp)
        ours.append(m)
        u = uwsgi_messages(o.messages, tmp)
        if u:
            theirs.append(u)
        print("  round %d: muleteer %s | uWSGI %s" % (r + 1, m, u), flush=True)
    rate = lambda runs: statistics.median(x["received"] / x["deliver_s"] for x in runs if x["deliver_s"])
    res = {"messages": o.messages, "muleteer_msgs_per_s": round(rate(ours)),
           "muleteer_lost": max(x["sent"] - x["received"] for x in ours)}
    if theirs:
        res["uwsgi_msgs_per_s"] = round(rate(theirs))
        res["uwsgi_lost"] = max(x["sent"] - x["received"] for x in theirs)
        res["uwsgi_retries_median"] = statistics.median(x["retries"] for x in theirs)
        res["ratio"] = round(res["muleteer_msgs_per_s"] / res["uwsgi_msgs_per_s"], 3)
        res["met"] = res["ratio"] >= 1.0 and res["muleteer_lost"] == 0
    return res


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return None


def bench_memory(o, tmp):
    proc, port = start_muleteer(["--mules", "2", "--farm", "job-handlers:1,2"])
    try:
        time.sleep(1.0)
        st = json.loads(urllib.request.urlopen("http://127.0.0.1:%d/api/stack" % port).read())
        mules = [p["pid"] for p in st["processes"] if p["role"] == "mule"]
        webs = [p["pid"] for p in st["processes"] if p["role"] == "web"]
        ours = [rss_kib(p) for p in mules]
        res = {"mule_rss_kib": ours, "web_worker_rss_kib": [rss_kib(p) for p in webs],
               "master_rss_kib": rss_kib(proc.pid), "target_kib": 4096, "met": max(ours) <= 4096}
    finally:
        stop(proc)
    run = os.path.join(SHARED_BENCH, "peer-uwsgi", "run.sh")
    if os.path.exists(run) and shutil.which("uwsgi"):
        port = free_port()
        log = os.path.join(tmp, "peer-memory.log")
        with open(log, "w") as logf:
            peer = subprocess.Popen(["sh", run, str(port)], stdout=logf, stderr=subprocess.STDOUT,
                                    env=dict(os.environ, PEER_DB=os.path.join(tmp, "peer.sqlite")),
                                    start_new_session=True)
        try:
            time.sleep(3)
            with open(log) as f:
                pids = [int(p) for p in re.findall(r"spawned uWSGI mule \d+ \(pid: (\d+)\)", f.read())]
            res["peer_mule_rss_kib"] = [rss_kib(p) for p in pids]
        finally:
            os.killpg(peer.pid, signal.SIGTERM)
            try:
                peer.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(peer.pid, signal.SIGKILL)
    return res


def spawn_floor(seconds=3.0):
    """posix_spawn + wait of /bin/true on every core, side by side: the ceiling for running `true` jobs."""
    code = ("import os,time\nn=0\nt=time.time()+%f\n"
            "while time.time()<t:\n os.waitpid(os.posix_spawn('/bin/true',['/bin/true'],{}),0); n+=1\n"
            "print(n)\n" % seconds)
    procs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
             for _ in range(os.cpu_count() or 1)]
    return round(sum(int(p.communicate()[0]) for p in procs) / seconds)


def jobs_bench(port, extra):
    script = os.path.join(SHARED_BENCH, "jobs_bench.py")
    out = subprocess.run([sys.executable, script, "--port", str(port)] + extra, capture_output=True, text=True,
                         timeout=600).stdout
    line = [l for l in out.splitlines() if l.startswith("{")]
    if not line:
        raise RuntimeError("jobs_bench printed no result:\n" + out)
    return json.loads(line[-1])


def start_muleteer_jobs(tmp, accept_sync):
    d = tempfile.mkdtemp(dir=tmp)
    # The peer runs uWSGI with --disable-logging (no request log): so does muleteer.
    return start_muleteer(["--processes", "2", "--threads", "4", "--mules", "2", "--farm", "job-handlers:1,2",
                           "--disable-logging",
                           "--set", "jobs.data-dir=%s" % d, "--set", "jobs.accept-sync=%s" % accept_sync])


def start_peer_jobs(tmp):
    run = os.path.join(SHARED_BENCH, "peer-uwsgi", "run.sh")
    port = free_port()
    proc = subprocess.Popen(["sh", run, str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=dict(os.environ, PEER_DB=os.path.join(tempfile.mkdtemp(dir=tmp), "peer.sqlite")),
                            start_new_session=True)
    wait_http(port, "/api/health")
    return proc, port


def stop_group(proc):
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(20)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(proc.pid, signal.SIGKILL)


def bench_jobs(o, tmp):
    """`true` jobs at burst (-n 2000 -c 8) and at a steady 200/s, against the reference peer in the same run.

    Each figure is measured with the default, durable acceptance (accept-sync=full) and with the peer's
    durability (accept-sync=normal: WAL, synchronous=NORMAL); the spawn floor is measured in every round.
    """
    if not os.path.exists(os.path.join(SHARED_BENCH, "jobs_bench.py")):
        return {"skipped": "no jobs_bench.py in %s" % SHARED_BENCH}
    peer_available = shutil.which("uwsgi") and os.path.exists(os.path.join(SHARED_BENCH, "peer-uwsgi", "run.sh"))
    burst = ["-n", "2000", "-c", "8", "--timeout", "60"]  # the peer loses messages: its stuck jobs never end
    steady = ["-n", "1000", "-c", "4", "--rate", "200"]
    res = {}
    floors = []
    rounds = {"burst_full": [], "burst_normal": [], "burst_peer": [], "steady_normal": [], "steady_full": [],
              "steady_peer": []}
    for r in range(o.rounds):
        floors.append(spawn_floor())
        for accept, runs in (("full", [("burst_full", burst), ("steady_full", steady)]),
                             ("normal", [("burst_normal", burst), ("steady_normal", steady)])):
            proc, port = start_muleteer_jobs(tmp, accept)
            try:
                for key, args in runs:
                    rounds[key].append(jobs_bench(port, args))
            finally:
                stop(proc)
        if peer_available:
            proc, port = start_peer_jobs(tmp)
            try:
                rounds["burst_peer"].append(jobs_bench(port, burst))
                rounds["steady_peer"].append(jobs_bench(port, steady))
            finally:
                stop_group(proc)
        print("  round %d: floor %d spawns/s, %s" % (r + 1, floors[-1], {k: v[-1] if v else None for k, v in rounds.items()}),
              flush=True)
    med = lambda key, field: statistics.median(x[field] for x in rounds[key]) if rounds[key] and all(
        x.get(field) is not None for x in rounds[key]) else None
    res["floor_spawns_per_s"] = statistics.median(floors)
    for accept in ("full", "normal"):
        res["burst_%s_jobs_per_s" % accept] = med("burst_" + accept, "jobs_per_s")
        res["burst_%s_stuck_max" % accept] = max(x["stuck"] for x in rounds["burst_" + accept])
        res["steady_%s_start_ms_p50" % accept] = med("steady_" + accept, "start_ms_p50")
        res["steady_%s_start_ms_p99" % accept] = med("steady_" + accept, "start_ms_p99")
    if rounds["burst_peer"]:
        res["peer_burst_jobs_per_s"] = med("burst_peer", "jobs_per_s")
        res["peer_burst_stuck_max"] = max(x["stuck"] for x in rounds["burst_peer"])
        res["peer_steady_start_ms_p50"] = med("steady_peer", "start_ms_p50")
        res["peer_steady_start_ms_p99"] = med("steady_peer", "start_ms_p99")
    for accept in ("full", "normal"):
        mine = res["burst_%s_jobs_per_s" % accept]
        if mine and res.get("peer_burst_jobs_per_s"):
            res["burst_%s_ratio_vs_peer" % accept] = round(mine / res["peer_burst_jobs_per_s"], 3)
        if mine:
            res["burst_%s_ratio_vs_floor" % accept] = round(mine / res["floor_spawns_per_s"], 3)
    res["targets"] = {"burst_vs_peer": 1.6, "burst_vs_floor": 0.75, "start_ms_p50": 0.3, "start_ms_p99": 2.0}
    return res


def main():
    a = argparse.ArgumentParser()
    a.add_argument("--rounds", type=int, default=3)
    a.add_argument("--duration", type=int, default=5)
    a.add_argument("--messages", type=int, default=200000)
    a.add_argument("--only", default="http,messages,memory,jobs")
    o = a.parse_args()
    tmp = tempfile.mkdtemp(prefix="muleteer-bench-")
    results = {}
    try:
        for name in o.only.split(","):
            print("== %s" % name, flush=True)
            results[name] = {"http": bench_http, "messages": bench_messages, "memory": bench_memory,
                             "jobs": bench_jobs}[name](o, tmp)
            print("  " + json.dumps(results[name]), flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
