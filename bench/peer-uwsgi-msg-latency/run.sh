#!/bin/sh
# Farm message latency on the real uWSGI: 1 web worker sends time-stamped messages at a steady rate,
# 3 mules in farm "counters" record send->receive latency. A copy of ../../../shared/bench/peer-uwsgi-msg
# (same processes and options) whose sender paces and stamps and whose mules record latencies.
# usage: OUT_DIR=/tmp/x run.sh PORT ; curl "127.0.0.1:PORT/?n=2000&rate=1000"; read $OUT_DIR/latency_* (one line a message)
here=$(cd "$(dirname "$0")" && pwd)
exec uwsgi --plugin python3 --master --http-socket 127.0.0.1:${1:-9393} --processes 1 --chdir "$here" \
  --wsgi-file sender.py --mule=latency.py --mule=latency.py --mule=latency.py --farm counters:1,2,3 \
  --enable-threads --die-on-term --disable-logging
