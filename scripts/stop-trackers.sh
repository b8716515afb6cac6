#!/usr/bin/env bash
# scripts/stop-trackers.sh (make redmine-stop, rt-stop, stop-trackers): stop
# the test Redmine, RT and/or Gitea that scripts/redmine.sh, scripts/rt.sh and
# scripts/gitea.sh started. Their data stays; `make redmine` / `make rt` start them again.
#
# Usage: scripts/stop-trackers.sh [redmine|rt|gitea]...   (no argument: all)
# Env: REDMINE_PORT (3000), RT_PORT (8080), GITEA_PORT (3300), ISSUEMESH_TEST_DIR (/var/lib/issuemesh-test)
#
# Each server was started in its own session (setsid) and its PID written to
# $ISSUEMESH_TEST_DIR/NAME.pid: this sends SIGTERM to that process group (the
# server and its workers), waits up to 15 s for the port to close, then sends
# SIGKILL. A server this script did not start (no live PID in the file) is
# not touched: it says which process listens on the port instead.
set -uo pipefail
DIR="${ISSUEMESH_TEST_DIR:-/var/lib/issuemesh-test}"

say() { echo "stop-trackers.sh: $*" >&2; }

answers() { curl -s -o /dev/null -m 2 "http://127.0.0.1:$1/"; }

stop_one() {
	local name=$1 port=$2 pidfile="$DIR/$1.pid" pid
	pid=$(cat "$pidfile" 2>/dev/null || true)
	if ! [[ "$pid" =~ ^[0-9]+$ ]] || ! kill -0 "$pid" 2>/dev/null; then
		if answers "$port"; then
			say "$name: $pidfile names no live process, but something answers on 127.0.0.1:$port; not stopping it:"
			ss -ltnpH "sport = :$port" >&2 || true
			return 1
		fi
		say "$name: not running"
		rm -f "$pidfile"
		return 0
	fi
	say "$name: stopping process group $pid (port $port)"
	kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid"
	local i
	for i in $(seq 1 60); do
		if ! kill -0 "$pid" 2>/dev/null && ! answers "$port"; then break; fi
		sleep 0.25
	done
	if kill -0 "$pid" 2>/dev/null || answers "$port"; then
		say "$name: still there after 15 s; SIGKILL"
		kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null
		for i in $(seq 1 20); do answers "$port" || break; sleep 0.25; done
	fi
	if answers "$port"; then
		say "$name: 127.0.0.1:$port still answers"
		return 1
	fi
	rm -f "$pidfile"
	say "$name: stopped"
}

names=("$@")
[ ${#names[@]} -gt 0 ] || names=(redmine rt gitea)
rc=0
for n in "${names[@]}"; do
	case "$n" in
	redmine) stop_one redmine "${REDMINE_PORT:-3000}" || rc=1 ;;
	rt) stop_one rt "${RT_PORT:-8080}" || rc=1 ;;
	gitea) stop_one gitea "${GITEA_PORT:-3300}" || rc=1 ;;
	*) say "unknown tracker $n: give redmine, rt or gitea"; rc=2 ;;
	esac
done
exit $rc
