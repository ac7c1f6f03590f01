"""The peer's web workers: the HTTP contract of muleteer's job API, the part the benchmarks use.

  GET  /api/health        200 "ok"
  POST /api/jobs          {"tool_id": "true"} -> 201 {"id": "7", "state": "new"}; the job row is inserted
                          with no handler, and its id sent to the farm "job-handlers" (uwsgi.farm_msg)
  GET  /api/jobs/{id}     200 the job (id as a string, times in seconds since the epoch), or 404

uWSGI drops a farm message when the mules' queue is full (it says so only in
its log): such a job stays 'new' for ever. That is the design measured, and
the benchmarks count those jobs as stuck.
"""
import json
import threading
import time

import uwsgi

import schema
from mule import TOOLS

_local = threading.local()


def db():
    """This thread's connection (sqlite3 connections are not shared between threads)."""
    c = getattr(_local, "c", None)
    if c is None:
        c = _local.c = schema.connect()
    return c


def reply(start_response, status, body, ctype="application/json"):
    # No Content-Length: uWSGI's http-socket closes the connection after each response, so the body ends there
    # (a length would tell the client it may send its next request on the same connection).
    start_response(status, [("Content-Type", ctype)])
    return [body if isinstance(body, bytes) else json.dumps(body).encode()]


def create_job(env, start_response):
    try:
        n = int(env.get("CONTENT_LENGTH") or 0)
        body = json.loads(env["wsgi.input"].read(n) or b"{}")
    except ValueError as e:
        return reply(start_response, "400 Bad Request", {"err": "the body is not JSON: %s" % e})
    tool = body.get("tool_id") if isinstance(body, dict) else None
    if tool not in TOOLS:
        return reply(start_response, "400 Bad Request",
                     {"err": "tool_id %s is not one of %s" % (json.dumps(tool), ", ".join(sorted(TOOLS)))})
    jid = db().execute("INSERT INTO job (tool_id, state, create_time) VALUES (?, 'new', ?)",
                       (tool, time.time())).lastrowid
    uwsgi.farm_msg("job-handlers", b"%d" % jid)
    return reply(start_response, "201 Created", {"id": str(jid), "state": "new"})


def read_job(jid, start_response):
    row = db().execute("SELECT %s FROM job WHERE id = ?" % ", ".join(schema.COLUMNS), (jid,)).fetchone()
    if row is None:
        return reply(start_response, "404 Not Found", {"err": "no job %d" % jid})
    job = dict(zip(schema.COLUMNS, row))
    job["id"] = str(job["id"])
    return reply(start_response, "200 OK", job)


def application(env, start_response):
    path, method = env["PATH_INFO"], env["REQUEST_METHOD"]
    if path == "/api/health":
        return reply(start_response, "200 OK", b"ok", "text/plain")
    if path == "/api/jobs" and method == "POST":
        return create_job(env, start_response)
    if path.startswith("/api/jobs/") and method == "GET":
        tail = path[len("/api/jobs/"):]
        if tail.isdigit():
            return read_job(int(tail), start_response)
    return reply(start_response, "404 Not Found", {"err": "no route for %s %s" % (method, path)})
