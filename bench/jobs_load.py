#!/usr/bin/env python3
"""A job load over HTTP: N jobs from C keep-alive clients, then wait for every one to end.

Speaks the job API that muleteer and the reference peer (bench/peer-uwsgi-jobs)
both answer: POST /api/jobs {"tool_id": T} (201 with the job's "id"), and
GET /api/jobs/{id} (its "state", "handler" and times: "create_time",
"start_time", "end_time", as seconds since the epoch or ISO 8601 text).

The C clients submit in a closed loop (each sends its next job once the
previous one is answered) or, with --rate R, in an open loop (each paces
its jobs so that all together send R a second). Once every job is
submitted, one client reads every job not yet ended, pass after pass 50 ms
apart, until all have ended or --timeout seconds have passed. It prints
one JSON line:

  submitted, submit_errors, done, ok, stuck   jobs answered 201 / refused / ended / ended ok / never ended
  submit_per_s                                jobs submitted per second of the submission phase
  jobs_per_s                                  jobs ended / (last end_time - start of the submissions)
  start_ms_p50, _p99; end_ms_p50, _p99        create->start and create->end, from the jobs' own times
  handlers                                    jobs ended by each handler
  server_cpu_ms_per_job (--server-pid PID)    CPU the server used per job ended (user + system); also
                                              server_cpu_user_ms_per_job, server_cpu_sys_ms_per_job

The server's CPU is the utime + stime (/proc/PID/stat) of PID and of its
descendants in PID's session, from just before the first submission to
the end of the last reading pass in which a job ended (so a server that
loses jobs is not charged for answering about them until the timeout).
The jobs' commands are left out: muleteer runs them in sessions of their
own, and a command that has ended and been reaped is counted only in its
parent's cutime / cstime, which are not read. Neither is any other
process of another session (muleteer's per-job waiter, say). A server
process that exits during the run takes its CPU time with it.

usage: jobs_load.py --port PORT [-n 2000] [-c 8] [--rate R] [--tool true] [--timeout 120]
                    [--server-pid PID] [--host 127.0.0.1] [--header 'Name: value' ...]
Exit status 0 when every job was submitted and ended, 1 otherwise, 2 on bad arguments.
"""
import argparse
import datetime
import http.client
import json
import os
import sys
import threading
import time

TERMINAL = ("ok", "error", "failed", "deleted", "cancelled")


def seconds(v):
    """A job's time as seconds since the epoch: a number, or ISO 8601 text (UTC when it names no zone)."""
    if v is None or isinstance(v, (int, float)):
        return v
    d = datetime.datetime.fromisoformat(str(v).replace("Z", "+00:00"))
    return (d if d.tzinfo else d.replace(tzinfo=datetime.timezone.utc)).timestamp()


def percentile(xs, p):
    """The nearest-rank percentile p of xs (None when empty)."""
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p / 100.0 * len(xs)))] if xs else None


def session_cpu(root):
    """(user, system) seconds used so far by root and its descendants in root's session; None if root is gone."""
    tick = os.sysconf("SC_CLK_TCK")
    children, stat = {}, {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name) as f:
                fields = f.read().rsplit(")", 1)[1].split()  # the command name may hold spaces and parentheses
        except OSError:
            continue  # ended meanwhile
        pid = int(name)
        children.setdefault(int(fields[1]), []).append(pid)
        stat[pid] = (int(fields[3]), int(fields[11]), int(fields[12]))  # session, utime, stime
    if root not in stat:
        return None
    session, user, system, todo = stat[root][0], 0, 0, [root]
    while todo:
        pid = todo.pop()
        todo += children.get(pid, [])
        if pid in stat and stat[pid][0] == session:
            user += stat[pid][1]
            system += stat[pid][2]
    return user / tick, system / tick


class Client:
    """One keep-alive HTTP connection; reconnects after a failure."""

    def __init__(self, o, headers):
        self.o, self.headers, self.conn = o, headers, None

    def request(self, method, path, body=None):
        if self.conn is None:
            self.conn = http.client.HTTPConnection(self.o.host, self.o.port, timeout=30)
        try:
            self.conn.request(method, path, body, self.headers)
            r = self.conn.getresponse()
            return r.status, r.read()
        except (OSError, http.client.HTTPException):
            self.conn.close()
            self.conn = None
            raise


def parse_args(argv):
    a = argparse.ArgumentParser(description="submit N jobs from C clients, wait for them to end, print one JSON line")
    a.add_argument("--host", default="127.0.0.1")
    a.add_argument("--port", type=int, required=True)
    a.add_argument("-n", type=int, default=2000, help="jobs to submit (default 2000)")
    a.add_argument("-c", type=int, default=8, help="clients, each on a keep-alive connection (default 8)")
    a.add_argument("--rate", type=float, default=0, help="open loop: jobs submitted per second by all clients "
                                                          "together (default 0: closed loop, as fast as answered)")
    a.add_argument("--tool", default="true", help="the jobs' tool_id (default true)")
    a.add_argument("--timeout", type=float, default=120, help="seconds to wait for the jobs once all are submitted")
    a.add_argument("--header", action="append", default=[], help="'Name: value', added to every request")
    a.add_argument("--server-pid", type=int, default=0, help="report the CPU this server process and its "
                                                                "descendants in its session used per job")
    o = a.parse_args(argv)
    if o.n < 1 or o.c < 1:
        a.error("-n and -c must be at least 1 (got -n %d, -c %d)" % (o.n, o.c))
    if o.rate < 0 or o.timeout < 0:
        a.error("--rate and --timeout must not be negative")
    for h in o.header:
        if ":" not in h:
            a.error("--header %r is not 'Name: value'" % h)
    if o.server_pid and not os.path.exists("/proc/%d" % o.server_pid):
        a.error("--server-pid %d: no such process" % o.server_pid)
    return o


def main(argv=None):
    o = parse_args(argv)
    headers = {"Content-Type": "application/json"}
    headers.update((k.strip(), v.strip()) for k, v in (h.split(":", 1) for h in o.header))
    body = json.dumps({"tool_id": o.tool})
    ids, errors, lock = [], [], threading.Lock()

    def submit(count, first_at):
        client, gap = Client(o, headers), (o.c / o.rate if o.rate else 0)
        for k in range(count):
            if o.rate:
                delay = first_at + k * gap - time.time()
                if delay > 0:
                    time.sleep(delay)
            try:
                status, data = client.request("POST", "/api/jobs", body)
                with lock:
                    (ids.append(json.loads(data)["id"]) if status in (200, 201) else errors.append(status))
            except (OSError, http.client.HTTPException, ValueError, KeyError) as e:
                with lock:
                    errors.append(repr(e))

    shares = [o.n // o.c + (1 if i < o.n % o.c else 0) for i in range(o.c)]
    cpu0 = session_cpu(o.server_pid) if o.server_pid else None
    t0 = time.time()
    # Open loop: the clients' first jobs are spread over one gap, so that the rate is steady from the start.
    threads = [threading.Thread(target=submit, args=(k, t0 + i / o.rate if o.rate else t0))
               for i, k in enumerate(shares)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    t1 = time.time()

    client, done, pending = Client(o, headers), {}, list(ids)
    cpu1, deadline = cpu0, time.time() + o.timeout
    while pending and time.time() < deadline:
        still, ended = [], False
        for jid in pending:
            try:
                status, data = client.request("GET", "/api/jobs/%s" % jid)
                job = json.loads(data) if status == 200 else {}
            except (OSError, http.client.HTTPException, ValueError):
                job = {}
            if job.get("state") in TERMINAL:
                done[jid], ended = job, True
            else:
                still.append(jid)
        pending = still
        if ended and o.server_pid:
            cpu1 = session_cpu(o.server_pid) or cpu1
        if pending:
            time.sleep(0.05)
    if o.server_pid and not pending:
        cpu1 = session_cpu(o.server_pid) or cpu1

    jobs = list(done.values())
    created = {id(j): seconds(j.get("create_time")) for j in jobs}
    starts = [seconds(j["start_time"]) - created[id(j)] for j in jobs if j.get("start_time") is not None]
    ends = [seconds(j["end_time"]) for j in jobs if j.get("end_time") is not None]
    e2e = [seconds(j["end_time"]) - created[id(j)] for j in jobs if j.get("end_time") is not None]
    handlers = {}
    for j in jobs:
        handlers[str(j.get("handler"))] = handlers.get(str(j.get("handler")), 0) + 1
    ms = lambda v: None if v is None else round(1000 * v, 3)
    span = max(ends) - t0 if ends else None
    out = {"submitted": len(ids), "submit_errors": len(errors), "done": len(done),
           "ok": sum(1 for j in jobs if j.get("state") == "ok"), "stuck": len(pending),
           "submit_per_s": round(len(ids) / (t1 - t0), 1) if t1 > t0 else None,
           "jobs_per_s": round(len(done) / span, 1) if span and span > 0 else None,
           "start_ms_p50": ms(percentile(starts, 50)), "start_ms_p99": ms(percentile(starts, 99)),
           "end_ms_p50": ms(percentile(e2e, 50)), "end_ms_p99": ms(percentile(e2e, 99)),
           "server_cpu_ms_per_job": None, "handlers": handlers}
    if o.server_pid and done and cpu0 and cpu1:
        user, system = cpu1[0] - cpu0[0], cpu1[1] - cpu0[1]
        out["server_cpu_ms_per_job"] = round(1000 * (user + system) / len(done), 3)
        out["server_cpu_user_ms_per_job"] = round(1000 * user / len(done), 3)
        out["server_cpu_sys_ms_per_job"] = round(1000 * system / len(done), 3)
    if errors:
        out["submit_error_sample"] = [str(e) for e in errors[:3]]
    print(json.dumps(out), flush=True)
    return 0 if not pending and not errors else 1


if __name__ == "__main__":
    sys.exit(main())
