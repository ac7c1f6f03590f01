#!/bin/bash
# A throwaway one-node Slurm cluster for the tests: munged, slurmctld and slurmd with every file in one
# directory, started and stopped by the test suite itself -- no systemd, no /etc/slurm, no system munged.
#
# usage: scripts/slurm-cluster.sh start DIR       configure (first time), start the three daemons, wait until
#                                                 the node takes jobs; last stdout line: SLURM_CONF=DIR/etc/slurm.conf
#        scripts/slurm-cluster.sh stop DIR        cancel every job, stop the daemons, kill what is left of the
#                                                 jobs: nothing of the cluster runs afterwards (DIR and its logs stay)
#        scripts/slurm-cluster.sh stop-ctld DIR   stop slurmctld alone: jobs keep running; a client (sbatch,
#                                                 squeue) fails after 9 s of connection attempts (MessageTimeout)
#        scripts/slurm-cluster.sh start-ctld DIR  start it again on the same port; it recovers its jobs from DIR/state
#        scripts/slurm-cluster.sh env DIR         print SLURM_CONF=DIR/etc/slurm.conf (exit 1: no cluster in DIR)
#        scripts/slurm-cluster.sh check           exit 0 when the Slurm and munge programs are installed
#
# Exit status: 0 done; 1 failed (the daemons' log tails on stderr); 2 usage; 3 Slurm or munge is not installed
# (Debian packages slurmctld slurmd slurm-client munge: scripts/install-deps.sh test).
#
# Environment: SLURM_CLUSTER_CPUS     CPUs the node advertises whatever the machine has (default 64), so that
#                                     that many one-CPU jobs run at once (SlurmdParameters=config_overrides)
#              SLURM_CLUSTER_TIMEOUT  seconds to wait for a daemon or for the node (default 30)
#
# The cluster (DIR/etc/slurm.conf): its own munge key and socket (DIR/munge), slurmctld and slurmd on free TCP
# ports of 127.0.0.1 below the ephemeral range, run as the calling user (also as root: SlurmUser=slurm would
# need DIR to be slurm's), partitions `debug` (the default) and `batch` on the one node. Tuned for tests:
# jobs are scheduled as soon as they are submitted (batch_sched_delay=0), finished jobs stay visible to
# `scontrol show job` for a day (MinJobAge; there is no accounting database, so no sacct), and each finished
# job adds a line to DIR/log/jobcomp.txt (jobcomp/filetxt). Job processes are tracked by process group
# (proctrack/pgid: no cgroups needed; proctrack/linuxproc missed a fresh child on scancel now and then), so a
# job that leaves its group escapes scancel: `stop` finds such processes by the SLURM_CONF in their environment.
# slurmctld's first scheduling pass comes about 3 s after it starts: a first job runs only then.
#
# Sizes: Unix socket paths hold at most 108 bytes, and slurmd makes DIR/spool/NODE_JOBID.4294967291: DIR plus
# the host name may take at most 80 characters (a longer one makes every job fail to launch). munged wants
# every directory above its socket searchable by all (a directory under /tmp is).
set -u

PROGRAMS="munged mungekey slurmctld slurmd sbatch squeue scontrol scancel sinfo"
CPUS=${SLURM_CLUSTER_CPUS:-64}
TIMEOUT=${SLURM_CLUSTER_TIMEOUT:-30}
KILL_WAIT=5  # slurm.conf KillWait: seconds between a cancelled job's SIGTERM and its SIGKILL
PATH=$PATH:/usr/sbin:/sbin

die() { echo "slurm-cluster: $*" >&2; exit "${EXIT:-1}"; }
say() { echo "slurm-cluster: $*" >&2; }

check() {
    local p missing=
    for p in $PROGRAMS; do command -v "$p" >/dev/null 2>&1 || missing="$missing $p"; done
    [ -z "$missing" ] || EXIT=3 die "Slurm is not installed: no$missing (install the Debian packages slurmctld slurmd slurm-client munge: scripts/install-deps.sh test)"
}

# set_dir DIR: DIR absolute, and the paths of its cluster.
set_dir() {
    DIR=$1
    [ -d "$DIR" ] && DIR=$(cd "$DIR" && pwd)
    CONF=$DIR/etc/slurm.conf
    KEY=$DIR/munge/munge.key
    SOCK=$DIR/munge/munge.sock
}

# -- processes ----------------------------------------------------------------------------------------------------
# Every daemon is started with SLURM_CONF=$CONF in its environment, and slurmstepd and the job processes
# inherit it (Slurm puts it into a job's environment even under --export=NONE): so "ours" is decided from
# /proc/PID/environ, never from a name alone -- other clusters, and servers given this SLURM_CONF to submit
# jobs, are left alone.

# alive PID: exists and is not a zombie (kill -0 succeeds on a zombie; an init that reaps late leaves them).
alive() {
    local s
    s=$({ awk '{ sub(/.*\) /, ""); print $1 }' "/proc/$1/stat"; } 2>/dev/null) && [ -n "$s" ] && [ "$s" != Z ] &&
        [ "$s" != X ]
}

# ours PID: the process carries this cluster's SLURM_CONF.
ours() { grep -qzxF "SLURM_CONF=$CONF" "/proc/$1/environ" 2>/dev/null; }

# cluster_procs KIND: the live pids of this cluster: KIND daemons (munged, slurmctld with its slurmscriptd,
# slurmd, slurmstepd) or jobs (processes of a job: SLURM_JOB_ID in the environment).
cluster_procs() {
    local f p comm
    # one grep for all of /proc: -z reads the environment's NUL-separated entries as lines
    # shellcheck disable=SC2013  # /proc/PID/environ: no space in these names
    for f in $(grep -lzxF "SLURM_CONF=$CONF" /proc/[0-9]*/environ 2>/dev/null); do
        p=${f#/proc/}
        p=${p%/environ}
        [ "$p" = $$ ] && continue
        comm=$(cat "/proc/$p/comm" 2>/dev/null) || continue
        case $1:$comm in
            daemons:munged | daemons:slurmctld | daemons:slurmscriptd | daemons:slurmd | daemons:slurmstepd) ;;
            jobs:munged | jobs:slurmctld | jobs:slurmscriptd | jobs:slurmd | jobs:slurmstepd) continue ;;
            jobs:*) grep -qz '^SLURM_JOB_ID=' "$f" 2>/dev/null || continue ;;
            *) continue ;;
        esac
        alive "$p" && echo "$p"
    done
}

# daemon_pid NAME: the pid in NAME's pid file when that process is still this cluster's NAME.
daemon_pid() {
    local p
    p=$(cat "$DIR/run/$1.pid" 2>/dev/null) || return 1
    case $p in '' | *[!0-9]*) return 1 ;; esac
    alive "$p" && [ "$(cat "/proc/$p/comm" 2>/dev/null)" = "$1" ] && ours "$p" && echo "$p"
}

# wait_gone SECONDS PID...: 0 when every PID is gone in time.
wait_gone() {
    local end=$((SECONDS + $1)) p left
    shift
    while :; do
        left=
        for p in "$@"; do alive "$p" && left="$left $p"; done
        [ -z "$left" ] && return 0
        [ "$SECONDS" -ge "$end" ] && return 1
        sleep 0.05
    done
}

# stop_daemon NAME: SIGTERM (slurmctld saves its state on it), SIGKILL after 10 s.
stop_daemon() {
    local p
    p=$(daemon_pid "$1") || return 0
    kill -TERM "$p" 2>/dev/null
    wait_gone 10 "$p" && return 0
    say "$1 (pid $p) ignored SIGTERM for 10 s: killed"
    kill -KILL "$p" 2>/dev/null
    wait_gone 5 "$p"
}

# wait_pid_file NAME: a daemon writes its pid file after its parent has returned: wait for it.
wait_pid_file() {
    local end=$((SECONDS + TIMEOUT))
    until daemon_pid "$1" >/dev/null; do
        [ "$SECONDS" -ge "$end" ] && fail "$1 wrote no pid file in ${TIMEOUT}s"
        sleep 0.02
    done
}

# fail MESSAGE: say why, show the daemons' log tails, stop what `start` started (start-ctld leaves the rest of
# the cluster running), exit 1.
fail() {
    local f
    say "$*"
    for f in "$DIR"/log/munged.log "$DIR"/log/slurmctld.log "$DIR"/log/slurmd.log "$DIR"/log/*.stderr; do
        [ -s "$f" ] || continue
        echo "---- last lines of $f" >&2
        tail -n 15 "$f" >&2
    done
    [ "$cmd" = start ] && stop_all >/dev/null 2>&1
    exit 1
}

# run_daemon NAME ARGS...: start a daemon (it forks into the background) with a clean environment holding
# this cluster's SLURM_CONF, in DIR/log (where a core file would land), its stderr in DIR/log/NAME.stderr.
run_daemon() {
    local name=$1
    shift
    (cd "$DIR/log" && env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C HOME="$DIR" SLURM_CONF="$CONF" \
        "$@" </dev/null >/dev/null 2>>"$DIR/log/$name.stderr") || fail "$name did not start (exit $?)"
    wait_pid_file "$name"
}

# -- configuration ------------------------------------------------------------------------------------------------

# free_ports N: N TCP ports no socket of this machine uses now, between 20000 and the ephemeral range (where an
# outgoing connection could take one while slurmctld is stopped).
free_ports() {
    local used low h p n=0 tries=0
    low=$(awk '{ print $1 }' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null)
    [ -n "$low" ] && [ "$low" -gt 21000 ] || low=32768
    # awk without strtonum (mawk): the hex port is converted by the shell
    used=" $(cat /proc/net/tcp /proc/net/tcp6 2>/dev/null | awk '$1 ~ /^[0-9]+:$/ { n = split($2, a, ":"); print a[n] }' |
        while read -r h; do echo $((16#$h)); done | tr '\n' ' ')"
    while [ "$n" -lt "$1" ] && [ "$tries" -lt 1000 ]; do
        tries=$((tries + 1))
        p=$((20000 + (RANDOM * 32768 + RANDOM) % (low - 20000)))
        case $used in *" $p "*) continue ;; esac
        used="$used$p "
        echo "$p"
        n=$((n + 1))
    done
    [ "$n" -eq "$1" ]
}

# write_conf CTLD_PORT SLURMD_PORT
write_conf() {
    local node=$NODE mem user
    # slurmd drains a node whose RealMemory is above what it finds: take its own figure
    mem=$(slurmd -C 2>/dev/null | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p')
    [ -n "$mem" ] || mem=$(awk '/^MemTotal:/ { print int($2 / 1024) }' /proc/meminfo)
    user=$(id -un)
    : >"$DIR/etc/plugstack.conf"  # not /etc/slurm/plugstack.conf
    cat >"$CONF" <<EOF
# A one-node test cluster, written by scripts/slurm-cluster.sh: every file it uses is under $DIR.
ClusterName=muleteer
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$1
SlurmdPort=$2
# as whoever started it (root included): slurmctld refuses a state directory its SlurmUser does not own
SlurmUser=$user
SlurmdUser=$user
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$SOCK
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/run/slurmctld.pid
SlurmdPidFile=$DIR/run/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
PlugStackConfig=$DIR/etc/plugstack.conf
MailProg=/bin/true
ProctrackType=proctrack/pgid
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
# the default waits 3 s before scheduling a batch job
SchedulerParameters=batch_sched_delay=0
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$DIR/log/jobcomp.txt
MpiDefault=none
# the node advertises $CPUS CPUs whatever the machine has
SlurmdParameters=config_overrides
ReturnToService=2
MinJobAge=86400
MaxJobCount=100000
KillWait=$KILL_WAIT
SlurmdTimeout=30
NodeName=$node NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$node Default=YES MaxTime=INFINITE State=UP
PartitionName=batch Nodes=$node Default=NO MaxTime=INFINITE State=UP
EOF
}

conf_value() { sed -n "s/^$1=//p" "$CONF" | head -n 1; }

# node_state: the node's state as sinfo shows it (idle, mix, alloc; a trailing * = not responding).
node_state() { SLURM_CONF=$CONF sinfo -h -n "$NODE" -o %t 2>/dev/null; }

wait_node() {
    local end=$((SECONDS + TIMEOUT))
    until case $(node_state) in idle | mix | alloc) true ;; *) false ;; esac; do
        [ "$SECONDS" -ge "$end" ] &&
            fail "the node takes no jobs after ${TIMEOUT}s: $(SLURM_CONF=$CONF sinfo -h -N -o '%N %t %E' 2>&1)"
        sleep 0.05
    done
}

ctld_responds() { SLURM_CONF=$CONF scontrol ping 2>/dev/null | grep -q 'is UP'; }

start_munged() {
    if [ ! -s "$KEY" ]; then
        mungekey --create --keyfile="$KEY" || fail "mungekey could not create $KEY"
    fi
    chmod 0600 "$KEY"
    rm -f "$DIR/run/munged.pid"
    run_daemon munged munged --key-file="$KEY" --socket="$SOCK" --pid-file="$DIR/run/munged.pid" \
        --log-file="$DIR/log/munged.log" --seed-file="$DIR/munge/munged.seed"
    munge -n -S "$SOCK" 2>/dev/null | unmunge -S "$SOCK" >/dev/null 2>&1 || fail "munged answers no credential request"
}

start_slurmctld() {
    local end=$((SECONDS + TIMEOUT))
    rm -f "$DIR/run/slurmctld.pid"
    run_daemon slurmctld slurmctld -f "$CONF"
    until ctld_responds; do
        daemon_pid slurmctld >/dev/null || fail "slurmctld exited"
        [ "$SECONDS" -ge "$end" ] && fail "slurmctld does not answer after ${TIMEOUT}s"
        sleep 0.02
    done
}

# -- commands -----------------------------------------------------------------------------------------------------

start() {
    local ports node_dir
    check
    case $DIR in /*) ;; *) DIR=$PWD/$DIR ;; esac
    NODE=$(hostname -s 2>/dev/null || hostname)
    [ $((${#DIR} + ${#NODE})) -le 80 ] ||
        die "$DIR is too long for the cluster's Unix sockets (${#DIR} characters + host name ${#NODE} > 80): use a shorter directory"
    mkdir -p "$DIR" || die "cannot make $DIR"
    set_dir "$DIR"
    node_dir=$DIR
    while [ "$node_dir" != / ]; do
        node_dir=$(dirname "$node_dir")
        case $(stat -c %A "$node_dir") in
            ?????????[xt]) ;;
            *) die "munged needs every directory above its socket searchable by all, and $node_dir is not: use a directory under /tmp" ;;
        esac
    done
    if p=$(daemon_pid munged) || p=$(daemon_pid slurmctld) || p=$(daemon_pid slurmd); then
        die "a cluster is already running in $DIR (pid $p; scripts/slurm-cluster.sh stop $DIR)"
    fi
    umask 022
    mkdir -p "$DIR/etc" "$DIR/munge" "$DIR/state" "$DIR/spool" "$DIR/log" "$DIR/run" || die "cannot make $DIR/*"
    chmod 0755 "$DIR" "$DIR/munge"  # munged refuses a socket directory not searchable by all
    ports=$(free_ports 2) || die "no free TCP ports"
    # shellcheck disable=SC2086
    write_conf $ports
    start_munged
    start_slurmctld
    rm -f "$DIR/run/slurmd.pid"
    run_daemon slurmd slurmd -f "$CONF" -N "$NODE"
    wait_node
    say "cluster up in $DIR: slurmctld on 127.0.0.1:$(conf_value SlurmctldPort), node $NODE with $CPUS CPUs"
    echo "SLURM_CONF=$CONF"
}

# job_leftovers: slurmstepd and job processes of this cluster.
job_leftovers() {
    local p
    for p in $(cluster_procs daemons); do [ "$(cat "/proc/$p/comm" 2>/dev/null)" = slurmstepd ] && echo "$p"; done
    cluster_procs jobs
}

# kill_job_leftovers: SIGKILL slurmstepd and the job processes (those that left their process group or
# outlived their slurmstepd too); new ones may be forked meanwhile: a few rounds.
kill_job_leftovers() {
    local left
    for _ in 1 2 3 4 5; do
        left=$(job_leftovers)
        [ -z "$left" ] && return 0
        # shellcheck disable=SC2086
        kill -KILL $left 2>/dev/null
        # shellcheck disable=SC2086
        wait_gone 5 $left
    done
}

# stop_all: cancel, stop, kill; 0 when nothing of the cluster is left.
stop_all() {
    local ids left p
    if daemon_pid slurmctld >/dev/null && ctld_responds; then
        ids=$(SLURM_CONF=$CONF squeue -h -o %i 2>/dev/null)
        if [ -n "$ids" ]; then
            # shellcheck disable=SC2086
            SLURM_CONF=$CONF scancel $ids 2>/dev/null
            # the job processes get SIGTERM: a second to end (not KillWait: this is a teardown); what is left
            # then is killed below with slurmstepd (which lingers a few seconds in COMPLETING anyway), as are
            # processes that left their job's process group
            if daemon_pid slurmd >/dev/null; then
                for _ in $(seq 20); do
                    SLURM_CONF=$CONF scontrol listpids 2>/dev/null | grep -q '^[0-9]' || break
                    sleep 0.05
                done
            fi
        fi
    fi
    # slurmstepd lingers a few seconds after its job's processes are gone (proctrack/pgid), and slurmd waits
    # for it on SIGTERM: kill the steps first
    kill_job_leftovers
    stop_daemon slurmd
    stop_daemon slurmctld
    kill_job_leftovers
    stop_daemon munged
    left=$(cluster_procs daemons; cluster_procs jobs)
    if [ -n "$left" ]; then
        for p in $left; do echo "$p $(tr '\0' ' ' </proc/"$p"/cmdline 2>/dev/null)"; done >&2
        return 1
    fi
    return 0
}

stop() {
    [ -d "$DIR" ] || return 0
    set_dir "$DIR"
    [ -f "$CONF" ] || return 0
    stop_all || die "processes of the cluster in $DIR are still running (listed above)"
}

stop_ctld() {
    set_dir "$DIR"
    [ -f "$CONF" ] || die "no cluster in $DIR"
    daemon_pid slurmctld >/dev/null || die "slurmctld of $DIR is not running"
    stop_daemon slurmctld || die "slurmctld of $DIR did not stop"
}

start_ctld() {
    check
    set_dir "$DIR"
    [ -f "$CONF" ] || die "no cluster in $DIR"
    NODE=$(sed -n 's/^NodeName=\([^ ]*\).*/\1/p' "$CONF")
    p=$(daemon_pid slurmctld) && die "slurmctld of $DIR is already running (pid $p)"
    daemon_pid munged >/dev/null || die "munged of $DIR is not running: start the whole cluster"
    start_slurmctld
    # it recovers the node from its state: wait until slurmd has registered again
    wait_node
    echo "SLURM_CONF=$CONF"
}

cmd=${1:-}
case $cmd in
    start | stop | stop-ctld | start-ctld | env)
        { [ $# -eq 2 ] && [ -n "$2" ]; } || EXIT=2 die "usage: $0 $cmd DIR"
        set_dir "$2" ;;
    check) [ $# -eq 1 ] || EXIT=2 die "usage: $0 check" ;;
    *) EXIT=2 die "usage: $0 start DIR | stop DIR | stop-ctld DIR | start-ctld DIR | env DIR | check" ;;
esac
case $CPUS in '' | *[!0-9]* | 0) EXIT=2 die "SLURM_CLUSTER_CPUS=$CPUS: expected a positive number" ;; esac
case $TIMEOUT in '' | *[!0-9]* | 0) EXIT=2 die "SLURM_CLUSTER_TIMEOUT=$TIMEOUT: expected a positive number of seconds" ;; esac
case $cmd in
    start) start ;;
    stop) stop ;;
    stop-ctld) stop_ctld ;;
    start-ctld) start_ctld ;;
    env) [ -f "$CONF" ] || die "no cluster in $DIR (no $CONF)"
         echo "SLURM_CONF=$CONF" ;;
    check) check ;;
esac
