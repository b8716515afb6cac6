#!/usr/bin/env bash
# make demo: two real issuemesh nodes on this machine sync an issue both ways.
# Node A (alice) creates an issue; it appears on node B (bob); bob changes its
# status and comments; both arrive back on A. Every wait polls with a deadline.
set -euo pipefail

BIN=${BIN:-$(pwd)/bin/issuemesh}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/issuemesh-demo.XXXXXX")
A=$WORK/alice
B=$WORK/bob
pids=()

cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	if [ "${KEEP:-}" = "" ]; then rm -rf "$WORK"; else echo "kept $WORK"; fi
}
trap cleanup EXIT

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { { printf '$'; printf ' %q' "$@"; echo; } | sed "s|$BIN|issuemesh|; s|$WORK/||g"; "$@"; }

# wait_for DESCRIPTION COMMAND...: run COMMAND until it succeeds, for 20s.
wait_for() {
	local what=$1; shift
	local deadline=$((SECONDS + 20))
	until "$@" >/dev/null 2>&1; do
		if [ $SECONDS -ge $deadline ]; then
			echo "demo: timed out waiting until $what" >&2
			echo "--- alice's log"; tail -20 "$WORK/alice.log" >&2
			echo "--- bob's log"; tail -20 "$WORK/bob.log" >&2
			exit 1
		fi
		sleep 0.1
	done
}
running() { "$BIN" --home "$1" status --json | grep -q '"running": true'; }
has_issue() { "$BIN" --home "$1" issue list --json | grep -q "\"summary\": \"$2\""; }
field_is() { "$BIN" --home "$1" issue show "$2" --json | grep -q "\"$3\": \"$4\""; }
has_comment() { "$BIN" --home "$1" issue show "$2" --json | grep -q "\"body\": \"$3\""; }
linked() { "$BIN" --home "$1" issue show "$2" --json | grep -q "\"key\": \"$3\""; }

say "Two nodes, each with its own embedded tracker (listening on loopback, random ports)"
run "$BIN" --home "$A" init --listen /ip4/127.0.0.1/tcp/0 --listen /ip4/127.0.0.1/udp/0/quic-v1
run "$BIN" --home "$B" init --listen /ip4/127.0.0.1/tcp/0 --listen /ip4/127.0.0.1/udp/0/quic-v1
"$BIN" --home "$A" run >"$WORK/alice.log" 2>&1 &
pids+=($!)
"$BIN" --home "$B" run >"$WORK/bob.log" 2>&1 &
pids+=($!)
wait_for "alice's node runs" running "$A"
wait_for "bob's node runs" running "$B"
ADDR_A=$("$BIN" --home "$A" id --json | grep -o '"/ip4/127.0.0.1/tcp/[0-9]*/p2p/[^"]*"' | head -1 | tr -d '"')
ADDR_B=$("$BIN" --home "$B" id --json | grep -o '"/ip4/127.0.0.1/tcp/[0-9]*/p2p/[^"]*"' | head -1 | tr -d '"')

say "Each side allowlists the other"
run "$BIN" --home "$A" peer add "$ADDR_B" --name bob
run "$BIN" --home "$B" peer add "$ADDR_A" --name alice

say "Alice creates an issue on node A"
KEY_A=$("$BIN" --home "$A" issue create --summary "Printer on the 3rd floor is on fire" \
	--description "Smoke since 9am. Paper tray 2." --priority High --label hardware --label urgent)
echo "$ issuemesh --home alice issue create --summary ... -> $KEY_A"
t0=$(date +%s%N)
wait_for "the issue is on node B" has_issue "$B" "Printer on the 3rd floor is on fire"
t1=$(date +%s%N)
KEY_B=$("$BIN" --home "$B" issue list --json | grep -o '"key": "[^"]*"' | head -1 | cut -d'"' -f4)
echo "(arrived on B as $KEY_B; seen by the demo's polling after $(((t1 - t0) / 1000000)) ms)"

say "Node B has it"
run "$BIN" --home "$B" issue show "$KEY_B"

say "Bob changes the status and comments on node B"
run "$BIN" --home "$B" issue edit "$KEY_B" --status "In Progress"
run "$BIN" --home "$B" issue comment "$KEY_B" --author bob --body "Fire is out. Replacing the fuser unit."
wait_for "bob's status is on node A" field_is "$A" "$KEY_A" status "In Progress"
wait_for "bob's comment is on node A" has_comment "$A" "$KEY_A" "Fire is out. Replacing the fuser unit."
wait_for "A knows B's key" linked "$A" "$KEY_A" "$KEY_B"

say "Node A shows bob's status and comment, and its twin at bob"
run "$BIN" --home "$A" issue show "$KEY_A"

say "Both nodes list the issue with its twin"
run "$BIN" --home "$A" issue list
run "$BIN" --home "$B" issue list
run "$BIN" --home "$A" status

say "Demo finished: the issue went A -> B and the change came back B -> A"
