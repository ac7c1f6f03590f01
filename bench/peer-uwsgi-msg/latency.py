"""Latency mule: for each farm message (a send time in microseconds) appends receive time - send time, in
microseconds, as one line to $OUT_DIR/latency_<mule id>. One write per message, taken after the time is read:
a mule that waits for a quiet second before reporting (as the counting mule does) sometimes never reports."""
import os, time, uwsgi
fd = None
while True:
    m = uwsgi.mule_get_msg(False, True, 65536, 1)
    if m:
        lat = max(0, int(time.time() * 1e6 - float(m)))
        if fd is None:
            fd = os.open(os.path.join(os.environ.get("OUT_DIR", "/tmp"), "latency_%d" % uwsgi.mule_id()),
                         os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        os.write(fd, b"%d\n" % lat)
