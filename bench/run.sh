#!/bin/sh
# Run every side-by-side benchmark (see bench/bench.py for what and why).
set -eu
cd "$(dirname "$0")/.."
exec /usr/bin/python3 bench/bench.py "$@"
