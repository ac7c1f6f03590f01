"""Sender: GET /?n=N[&rate=R][&stamp=1] sends N messages to the farm "counters", R a second (0: as fast as it
can), retrying while the queue is full (uWSGI drops a message then and only says so in its log). Each payload
is its number, or with stamp=1 its send time in microseconds. Answers "N retries seconds"."""
import time

import uwsgi


def application(env, sr):
    q = dict(kv.split("=", 1) for kv in env.get("QUERY_STRING", "").split("&") if "=" in kv)
    n, rate, stamp = int(q.get("n", 1000)), float(q.get("rate", 0)), q.get("stamp") == "1"
    t = time.time()
    retries = 0
    for i in range(n):
        if rate:
            d = t + i / rate - time.time()
            if d > 0:
                time.sleep(d)
        while not uwsgi.mule_msg(b"%.0f" % (time.time() * 1e6) if stamp else b"%d" % i, b"counters"):
            retries += 1
    sr("200 OK", [("Content-Type", "text/plain")])
    return [("%d %d %.6f" % (n, retries, time.time() - t)).encode()]
