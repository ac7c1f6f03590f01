"""What every benchmark section shares: starting and stopping servers, wrk, and the figures table.

A section returns a list of Figure: one row of the final table each, holding
muleteer's value of every round and, where there is one, the reference's
value of the same rounds. The table shows medians, and the ratio is the
median of the per-round ratios: each ratio compares two figures measured
minutes apart at most, on the same machine in the same state.
"""
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROOT = os.path.dirname(HERE)
BUILD = os.environ.get("MULETEER_BUILD", os.path.join(ROOT, "build"))
# The reference peer: a directory whose run.sh PORT starts it on a fresh database named by PEER_DB and
# speaks the job API (see bench/peer-uwsgi-jobs/README.md). BENCH_PEER_DIR may name another such peer to
# compare with (the table's first line then names it).
PEER_DIR = os.path.abspath(os.environ.get("BENCH_PEER_DIR") or os.path.join(HERE, "peer-uwsgi-jobs"))
JOBS_LOAD = os.path.join(HERE, "jobs_load.py")
PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable


# ---------------------------------------------------------------- figures

class Figure:
    """One row: name, unit, muleteer's per-round values, the reference's, and the target.

    target is (text, kind, bound): kind "ratio>=" / "ratio<=" compare the median
    per-round ratio, "<=" / ">=" compare muleteer's median, None reports only.
    """

    def __init__(self, name, unit, ours, ref=None, ref_name="", target=None, digits=0, note="",
                 show_ratio=True, absent="–"):
        self.name, self.unit, self.ours, self.ref, self.ref_name = name, unit, list(ours), list(ref or []), ref_name
        self.target, self.digits, self.note, self.show_ratio = target, digits, note, show_ratio
        self.absent = absent  # what the table shows for muleteer's value when there is none

    def median(self):
        vals = [v for v in self.ours if v is not None]
        return statistics.median(vals) if vals else None

    def ref_median(self):
        vals = [v for v in self.ref if v is not None]
        return statistics.median(vals) if vals else None

    def ratio(self):
        if not self.show_ratio:
            return None
        pairs = [(a, b) for a, b in zip(self.ours, self.ref) if a is not None and b]
        if pairs and len(self.ours) == len(self.ref):
            return statistics.median(a / b for a, b in pairs)
        a, b = self.median(), self.ref_median()
        return a / b if a is not None and b else None

    def met(self):
        if not self.target or self.target[1] is None:
            return None
        _, kind, bound = self.target
        value = self.ratio() if kind.startswith("ratio") else self.median()
        if value is None:
            return None
        return value >= bound if kind.endswith(">=") else value <= bound

    def as_dict(self):
        return {"name": self.name, "unit": self.unit, "muleteer": self.ours, "reference": self.ref_name,
                "reference_values": self.ref, "median": self.median(), "reference_median": self.ref_median(),
                "ratio": None if self.ratio() is None else round(self.ratio(), 3),
                "target": self.target[0] if self.target else "", "met": self.met(), "note": self.note}


def fmt_num(v, digits):
    if v is None:
        return "–"
    return "{:,.{d}f}".format(v, d=digits)


def table(figures):
    """The figures as a markdown table (printed at the end and written to build/bench/results.md)."""
    rows = ["| figure | muleteer | reference | ratio | target | met? |", "|---|---:|---|---:|---|:---:|"]
    for f in figures:
        ours = (fmt_num(f.median(), f.digits) + (" " + f.unit if f.unit else "")) if f.median() is not None \
            else f.absent
        # A reference that did not run (the peer without uWSGI, say) shows its name and "–".
        ref = ("%s %s" % (f.ref_name, fmt_num(f.ref_median(), f.digits))).strip() if f.ref or f.ref_name else "–"
        ratio = "%.2f×" % f.ratio() if f.ref and f.ratio() is not None else "–"
        met = {True: "yes", False: "**no**", None: "–"}[f.met()]
        name = f.name + (" (%s)" % f.note if f.note else "")
        rows.append("| %s | %s | %s | %s | %s | %s |" % (name, ours, ref, ratio, f.target[0] if f.target else "",
                                                          met))
    return "\n".join(rows) + "\n"


# ---------------------------------------------------------------- processes

def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_http(port, path="/", timeout=20):
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


def stop_group(proc):
    """Stop a process started with start_new_session=True and everything in its session."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(20)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()


def start_muleteer(args, binary="muleteer", env=None):
    port = free_port()
    proc = subprocess.Popen([os.path.join(BUILD, binary), "--http", "127.0.0.1:%d" % port] + args,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(os.environ, **(env or {})))
    wait_http(port, "/api/health")
    return proc, port


def jobs_stack_args(data_dir, accept_sync="full", mules=2, extra=()):
    """The jobs stack of the reference peer's shape: 2 web workers x 4 threads, a job-handlers farm of 2 mules.

    The peer runs uWSGI with --disable-logging (no request log): so does muleteer.
    """
    args = ["--processes", "2", "--threads", "4", "--disable-logging",
            "--set", "jobs.data-dir=%s" % data_dir, "--set", "jobs.accept-sync=%s" % accept_sync]
    if mules:
        args += ["--mules", str(mules), "--farm", "job-handlers:%s" % ",".join(str(i) for i in range(1, mules + 1))]
    return args + list(extra)


_peer_said = []


def peer_available():
    """True when the reference peer can run: uWSGI installed and PEER_DIR/run.sh there (else says why, once)."""
    import shutil
    why = None
    if not shutil.which("uwsgi"):
        why = "no uwsgi on PATH (scripts/install-deps.sh bench installs uwsgi-core and uwsgi-plugin-python3)"
    elif not os.path.exists(os.path.join(PEER_DIR, "run.sh")):
        why = "no run.sh in %s (BENCH_PEER_DIR)" % PEER_DIR
    if why and not _peer_said:
        _peer_said.append(why)
        say("the reference peer is left out: " + why)
    return why is None


def start_peer(tmp, log=None, peer_dir=None):
    """The reference peer (PEER_DIR, or peer_dir) on a fresh database; stop it with stop_group."""
    port = free_port()
    out = open(log, "w") if log else subprocess.DEVNULL
    proc = subprocess.Popen(["sh", os.path.join(peer_dir or PEER_DIR, "run.sh"), str(port)], stdout=out,
                            stderr=subprocess.STDOUT,
                            env=dict(os.environ, PEER_DB=os.path.join(tempfile.mkdtemp(dir=tmp), "peer.sqlite")),
                            start_new_session=True)
    if log:
        out.close()
    wait_http(port, "/api/health")
    return proc, port


def wrk(port, path, duration, threads=2, conns=32, script=None):
    cmd = ["wrk", "-t%d" % threads, "-c%d" % conns, "-d%ds" % duration]
    if script:
        cmd += ["-s", script]
    out = subprocess.run(cmd + ["http://127.0.0.1:%d%s" % (port, path)], capture_output=True, text=True).stdout
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if not m:
        raise RuntimeError("wrk printed no rate:\n" + out)
    if errors:
        raise RuntimeError("wrk saw %s error responses:\n%s" % (errors.group(1), out))
    return float(m.group(1))


def http_json(port, method, path, body=None, timeout=30):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    return json.loads(urllib.request.urlopen(req, timeout=timeout).read())


def jobs_load(port, extra):
    """bench/jobs_load.py against port with the arguments extra; its JSON result."""
    r = subprocess.run([PYTHON, JOBS_LOAD, "--port", str(port)] + extra, capture_output=True, text=True,
                       timeout=900)
    line = [l for l in r.stdout.splitlines() if l.startswith("{")]
    if not line:
        raise RuntimeError("jobs_load.py printed no result:\n" + r.stdout + r.stderr)
    return json.loads(line[-1])




def metric(port, name):
    """The sum of the samples of metric name in GET /metrics, or None when the server does not expose it."""
    try:
        text = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=10).read().decode()
    except (OSError, ValueError):
        return None
    total, seen = 0.0, False
    for line in text.splitlines():
        if line.startswith(name) and line[len(name):len(name) + 1] in (" ", "{"):
            try:
                total += float(line.rsplit(None, 1)[1])
                seen = True
            except (IndexError, ValueError):
                pass
    return total if seen else None


def rss_kib(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p / 100.0 * len(xs)))] if xs else None


def say(*args):
    print(" ", *args, flush=True)
