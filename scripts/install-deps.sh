#!/bin/sh
# Install the Debian packages muleteer needs to build, test and benchmark.
# Idempotent: only packages that are missing are installed, so `make run`
# and `make test` stay fast on a machine that already has them.
#
# usage: scripts/install-deps.sh [build|test|bench|fuzz]
set -eu
want="build-essential pkg-config libuv1-dev node-llhttp libjansson-dev libfyaml-dev libinih-dev libsqlite3-dev libexpat1-dev libpq-dev"
case "${1:-build}" in
  build) ;;
  # postgresql: the server the tests start themselves (scripts/pg-server.sh); python3-psycopg2: their client;
  # slurmctld slurmd slurm-client munge: the one-node Slurm cluster they start themselves (scripts/slurm-cluster.sh);
  # prometheus: promtool, which checks GET /metrics, and the server the metrics test starts itself;
  # chromium chromium-driver python3-selenium: the headless browser the dashboard's tests drive;
# strace (bench): the system calls of a Slurm poll (bench/slurm_bench.py)
# uwsgi-core uwsgi-plugin-python3 (bench): the reference peer (bench/peer-uwsgi-jobs) and uWSGI's farm messaging
#   (bench/peer-uwsgi-msg); wrk nginx-light (bench): the HTTP load and its reference
  test)  want="$want libcriterion-dev python3-pytest procps nginx-light postgresql python3-psycopg2 slurmctld slurmd slurm-client munge prometheus chromium chromium-driver python3-selenium" ;;
  bench) want="$want libcriterion-dev python3-pytest procps wrk nginx-light uwsgi-core uwsgi-plugin-python3 postgresql python3-psycopg2 slurmctld slurmd slurm-client munge prometheus strace" ;;
  fuzz)  want="$want clang libclang-rt-dev" ;;  # libFuzzer + sanitizers (make fuzz)
  *) echo "install-deps: unknown set '$1' (build, test, bench or fuzz)" >&2; exit 2 ;;
esac
missing=""
for p in $want; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "install-deps: installing$missing"
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
# Packages with a service (postgresql, nginx, munge, slurmctld, slurmd, prometheus: their postinst runs invoke-rc.d) would
# start it on install: the tests start their own servers in temporary directories and stop them, so keep Debian
# from starting the system ones (policy-rc.d, 101 = "action forbidden"), unless the machine already has a policy
# of its own.
policy=/usr/sbin/policy-rc.d
own_policy=
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null && $SUDO chmod 755 "$policy" && own_policy=1
fi
# shellcheck disable=SC2086
status=0
$SUDO apt-get install -y -q --no-install-recommends $missing || status=$?
[ -n "$own_policy" ] && $SUDO rm -f "$policy"
exit $status
