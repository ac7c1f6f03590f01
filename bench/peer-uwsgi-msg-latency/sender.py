"""Sender: GET /?n=N&rate=R sends N messages to the farm "counters", R per second, each payload its send time
in microseconds, retrying while the queue is full (as ../shared/bench/peer-uwsgi-msg/sender.py does)."""
import time, uwsgi
def application(env, sr):
    q = dict(kv.split("=") for kv in env.get("QUERY_STRING", "n=1000").split("&") if "=" in kv)
    n, rate = int(q.get("n", 1000)), float(q.get("rate", 0))
    t = time.time(); retries = 0
    for i in range(n):
        if rate:
            d = t + i / rate - time.time()
            if d > 0: time.sleep(d)
        while not uwsgi.mule_msg(b"%.0f" % (time.time() * 1e6), b"counters"):
            retries += 1
    sr("200 OK", [("Content-Type", "text/plain")])
    return [("%d %d %.6f" % (n, retries, time.time() - t)).encode()]
