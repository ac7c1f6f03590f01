#!/bin/sh
# uWSGI's own farm messaging, the reference of the messages section: 1 web worker sends, 3 mules in the
# farm "counters" receive, under the real uWSGI (Debian uwsgi-core + uwsgi-plugin-python3).
#   count:   the mules count messages (counter.py); after a quiet second each writes "n first last" to
#            $OUT_DIR/count_<mule id>
#   latency: the mules append receive time - send time, in microseconds, to $OUT_DIR/latency_<mule id>
#            (latency.py); send with stamp=1
# usage: OUT_DIR=/tmp/x run.sh PORT [count|latency]; then GET /?n=N[&rate=R][&stamp=1] (sender.py)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
port=${1:?usage: run.sh PORT [count|latency]}
case "${2:-count}" in
  count) mule=counter.py ;;
  latency) mule=latency.py ;;
  *) echo "run.sh: mode '$2' is not count or latency" >&2; exit 2 ;;
esac
exec uwsgi --plugin python3 --master --http-socket "127.0.0.1:$port" --processes 1 --chdir "$here" \
  --wsgi-file sender.py --mule=$mule --mule=$mule --mule=$mule --farm counters:1,2,3 \
  --enable-threads --die-on-term --disable-logging
