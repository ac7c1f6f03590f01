#!/bin/sh
# A throwaway PostgreSQL server for the tests: one cluster in one directory,
# created, started and stopped by the test suite itself, so that nothing
# needs a server left running by hand.
#
# usage: scripts/pg-server.sh start DIR [PORT]   initdb (first time) and start; print the URL
#        scripts/pg-server.sh stop DIR           stop (fast), wait; nothing left running
#        scripts/pg-server.sh restart DIR        pg_ctl restart -m fast (same port); print the URL
#        scripts/pg-server.sh url DIR            print the URL of the running server in DIR
#        scripts/pg-server.sh bindir             print the server binaries' directory (exit 3: none)
#
# The cluster lives in DIR/data, its unix socket in DIR, its log in DIR/server.log. It trusts
# every local connection (tests only: never point this at data you care about), has a superuser
# role `muleteer`, listens on 127.0.0.1 on PORT (a free one is picked when none is given), and
# trades durability for speed (fsync off). The URL printed is
# postgresql://muleteer@127.0.0.1:PORT/postgres.
#
# PostgreSQL refuses to run as root. Run as root, the server runs as the system user
# `muleteer-pg` (created, with no login shell and no home, when missing) and DIR is given to it.
# A user of its own rather than `nobody`: `nobody` must own no files (NFS maps unknown users to
# it, other daemons run as it), and a name of its own shows in ps whose processes these are.
# DIR must then be reachable by that user: a directory under /tmp is.
#
# Environment: PG_BIN overrides the binaries' directory (default: the newest
# /usr/lib/postgresql/*/bin holding initdb).
set -eu

PG_USER=muleteer-pg
ROLE=muleteer

die() { echo "pg-server: $*" >&2; exit "${EXIT:-1}"; }

bindir() {
    if [ -n "${PG_BIN:-}" ]; then
        { [ -x "$PG_BIN/initdb" ] && [ -x "$PG_BIN/pg_ctl" ] && [ -x "$PG_BIN/postgres" ]; } ||
            EXIT=3 die "PG_BIN=$PG_BIN holds no PostgreSQL server binaries (initdb, pg_ctl, postgres)"
        echo "$PG_BIN"; return
    fi
    best=$(ls -d /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sed 's|/bin/initdb$||; s|.*/||' | sort -V | tail -n 1)
    { [ -n "$best" ] && [ -x "/usr/lib/postgresql/$best/bin/pg_ctl" ]; } ||
        EXIT=3 die "no PostgreSQL server binaries in /usr/lib/postgresql/*/bin (install the Debian package postgresql: scripts/install-deps.sh test)"
    echo "/usr/lib/postgresql/$best/bin"
}

# as_server CMD...: run CMD as the user that owns the cluster (root cannot run PostgreSQL).
as_server() {
    if [ "$(id -u)" -eq 0 ]; then
        setpriv --reuid="$PG_USER" --regid="$PG_USER" --init-groups env HOME="$DIR" "$@"
    else
        "$@"
    fi
}

ensure_user() {
    [ "$(id -u)" -eq 0 ] || return 0
    id -u "$PG_USER" >/dev/null 2>&1 && return 0
    command -v useradd >/dev/null || die "cannot create the user $PG_USER: no useradd"
    # Two test runs may race to create it: the loser finds it made.
    useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin \
        --comment "muleteer test PostgreSQL servers" "$PG_USER" 2>/dev/null || id -u "$PG_USER" >/dev/null 2>&1 ||
        die "cannot create the system user $PG_USER (useradd failed)"
}

free_port() {
    /usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' \
        2>/dev/null || echo $((20000 + $(od -An -N2 -tu2 /dev/urandom) % 40000))
}

postmaster_pid() {
    if [ -f "$DIR/data/postmaster.pid" ]; then head -n 1 "$DIR/data/postmaster.pid"; fi
}

running() {
    pid=$(postmaster_pid)
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}

url() { echo "postgresql://$ROLE@127.0.0.1:$(cat "$DIR/port")/postgres"; }

start() {
    BIN=$(bindir)
    [ -d "$DIR" ] || mkdir -p "$DIR"
    DIR=$(cd "$DIR" && pwd)
    if running; then die "a server is already running in $DIR (pid $(postmaster_pid))"; fi
    # the socket's path, $DIR/.s.PGSQL.PORT, must fit in sun_path (108 bytes)
    [ "${#DIR}" -le 90 ] || die "$DIR is too long for a unix socket's path (${#DIR} characters, at most 90)"
    ensure_user
    if [ "$(id -u)" -eq 0 ]; then
        chown -R "$PG_USER:$PG_USER" "$DIR"
        chmod 755 "$DIR"  # the socket is for every local user (a stack run with --uid too); data/ stays 0700
        as_server test -w "$DIR" -a -x "$DIR" ||
            die "$DIR cannot be reached by the user $PG_USER (a parent directory is not searchable): use a directory under /tmp"
    fi
    cd "$DIR"  # the server's user may not be able to enter the caller's working directory
    if [ ! -f "$DIR/data/PG_VERSION" ]; then
        as_server "$BIN/initdb" -D "$DIR/data" --auth=trust --username="$ROLE" --encoding=UTF8 --locale=C \
            --no-sync >"$DIR/initdb.log" 2>&1 || { cat "$DIR/initdb.log" >&2; die "initdb failed in $DIR/data"; }
        echo "include 'muleteer.conf'" >>"$DIR/data/postgresql.conf"
    fi
    tries=0
    while :; do
        port=${PORT:-$(free_port)}
        cat >"$DIR/data/muleteer.conf" <<EOF
# written by scripts/pg-server.sh at each start: a throwaway test server
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$DIR'
max_connections = 500
shared_buffers = 64MB
fsync = off
synchronous_commit = off
full_page_writes = off
log_line_prefix = '%m [%p] %d '
EOF
        [ "$(id -u)" -ne 0 ] || chown "$PG_USER:$PG_USER" "$DIR/data/muleteer.conf"
        echo "$port" >"$DIR/port"
        : >"$DIR/server.log"
        [ "$(id -u)" -ne 0 ] || chown "$PG_USER:$PG_USER" "$DIR/server.log" "$DIR/port"
        if as_server "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -t 60 start >"$DIR/pg_ctl.log" 2>&1; then
            break
        fi
        tries=$((tries + 1))
        # The port picked may have been taken in between: pick another, unless it was given.
        if [ -z "${PORT:-}" ] && [ "$tries" -lt 5 ] && grep -q "could not bind\|Address already in use" "$DIR/server.log"; then
            continue
        fi
        cat "$DIR/pg_ctl.log" "$DIR/server.log" >&2
        die "the server in $DIR did not start on 127.0.0.1:$port"
    done
    for where in 127.0.0.1 "$DIR"; do
        n=0
        until "$BIN/pg_isready" -q -h "$where" -p "$port" -U "$ROLE" -d postgres; do
            n=$((n + 1))
            [ "$n" -lt 100 ] || { cat "$DIR/server.log" >&2; die "the server in $DIR accepts no connections on $where"; }
            sleep 0.1
        done
    done
    url
}

stop() {
    [ -d "$DIR" ] || return 0
    DIR=$(cd "$DIR" && pwd)
    cd "$DIR"
    running || return 0
    pid=$(postmaster_pid)
    kids=$(pgrep -P "$pid" || true)
    BIN=$(bindir)
    if ! as_server "$BIN/pg_ctl" -D "$DIR/data" -m fast -w -t 30 stop >/dev/null 2>&1; then
        as_server "$BIN/pg_ctl" -D "$DIR/data" -m immediate -w -t 10 stop >/dev/null 2>&1 || true
    fi
    # pg_ctl returns once the postmaster is gone; its children follow it at once. Make sure.
    n=0
    while left=$(for p in $pid $kids; do kill -0 "$p" 2>/dev/null && echo "$p"; done; true) && [ -n "$left" ]; do
        n=$((n + 1))
        if [ "$n" -ge 100 ]; then
            # shellcheck disable=SC2086
            kill -KILL $left 2>/dev/null || true
            echo "pg-server: the server in $DIR did not stop within 10 s: killed $(echo $left)" >&2
            break
        fi
        sleep 0.1
    done
}

restart() {
    [ -d "$DIR" ] && DIR=$(cd "$DIR" && pwd)
    running || die "no server is running in $DIR"
    cd "$DIR"
    BIN=$(bindir)
    as_server "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -m fast -w -t 60 restart >"$DIR/pg_ctl.log" 2>&1 ||
        { cat "$DIR/pg_ctl.log" >&2; die "the server in $DIR did not restart"; }
    url
}

cmd=${1:-}
case "$cmd" in
    start) { [ $# -ge 2 ] && [ $# -le 3 ]; } || EXIT=2 die "usage: $0 start DIR [PORT]"
           DIR=$2; PORT=${3:-}
           case "$PORT" in *[!0-9]*) EXIT=2 die "start: PORT '$PORT' is not a number" ;; esac
           if [ -n "$PORT" ] && { [ "$PORT" -lt 1 ] || [ "$PORT" -gt 65535 ]; }; then
               EXIT=2 die "start: PORT $PORT is not in 1-65535"
           fi
           start ;;
    stop)  [ $# -eq 2 ] || EXIT=2 die "usage: $0 stop DIR"
           DIR=$2; stop ;;
    url)   [ $# -eq 2 ] || EXIT=2 die "usage: $0 url DIR"
           DIR=$2
           [ -d "$DIR" ] && DIR=$(cd "$DIR" && pwd)
           running || die "no server is running in $DIR"
           url ;;
    restart) [ $# -eq 2 ] || EXIT=2 die "usage: $0 restart DIR"
           DIR=$2; restart ;;
    bindir) bindir ;;
    *) EXIT=2 die "usage: $0 start DIR [PORT] | stop DIR | restart DIR | url DIR | bindir" ;;
esac
