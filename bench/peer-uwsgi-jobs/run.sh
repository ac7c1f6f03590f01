#!/bin/sh
# The reference peer: muleteer's job design written as a Python WSGI application on the real uWSGI
# (Debian uwsgi-core + uwsgi-plugin-python3): 2 web workers x 4 threads, a farm "job-handlers" of 2 mules.
# See README.md here for what it does and how it compares.
#
# usage: PEER_DB=/tmp/x/peer.sqlite run.sh PORT
#   PEER_DB         the SQLite database, removed and created afresh (default: peer.sqlite in a new temporary directory)
#   PEER_JOBS_DIR   the jobs' working directories (default: $PEER_DB.jobs)
#   PEER_CLEANUP    never (default) | always | onsuccess: remove a job's working directory once it has ended
set -eu
here=$(cd "$(dirname "$0")" && pwd)
port=${1:?usage: run.sh PORT}
case "$port" in *[!0-9]*|'') echo "run.sh: PORT must be a number, not '$port'" >&2; exit 2 ;; esac
if [ -z "${PEER_DB:-}" ]; then
  PEER_DB="$(mktemp -d -t peer-uwsgi-jobs.XXXXXX)/peer.sqlite"
fi
export PEER_DB
export PEER_JOBS_DIR="${PEER_JOBS_DIR:-$PEER_DB.jobs}"
rm -rf "$PEER_DB" "$PEER_DB-wal" "$PEER_DB-shm" "$PEER_JOBS_DIR"
/usr/bin/python3 "$here/schema.py"
exec uwsgi --plugin python3 --master --http-socket "127.0.0.1:$port" --processes 2 --threads 4 \
  --chdir "$here" --wsgi-file web.py --mule=mule.py --mule=mule.py --farm job-handlers:1,2 \
  --enable-threads --die-on-term --disable-logging --need-app
