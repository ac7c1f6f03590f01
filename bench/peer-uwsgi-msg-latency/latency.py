"""Latency mule: for each farm message (a send time in microseconds) records receive time - send time;
after a quiet second writes them, one a line, to $OUT_DIR/latency_<mule id>."""
import os, time, uwsgi
lat = []
while True:
    m = uwsgi.mule_get_msg(False, True, 65536, 1)
    if m:
        lat.append(max(0, int(time.time() * 1e6 - float(m))))
    elif lat:
        with open(os.path.join(os.environ.get("OUT_DIR", "/tmp"), "latency_%d" % uwsgi.mule_id()), "w") as f:
            f.write("".join("%d\n" % x for x in lat))
        lat = []
