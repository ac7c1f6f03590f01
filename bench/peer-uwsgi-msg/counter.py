"""Counting mule: counts farm messages; after a quiet second (and every 10,000 messages) writes
"count first last" (receive times, seconds since the epoch) to $OUT_DIR/count_<mule id>, then starts over."""
import os
import time

import uwsgi

path = os.path.join(os.environ.get("OUT_DIR", "/tmp"), "count_%d" % uwsgi.mule_id())
n, first, last = 0, None, None
while True:
    m = uwsgi.mule_get_msg(False, True, 65536, 1)  # signals: no; farms: yes; buffer; timeout 1 s
    if m:
        last = time.time()
        first = first or last
        n += 1
    if n and (not m or n % 10000 == 0):
        with open(path + ".tmp", "w") as f:
            f.write("%d %.6f %.6f\n" % (n, first, last))
        os.rename(path + ".tmp", path)
        if not m:
            n, first = 0, None
