#!/usr/bin/env bash
# The whole test suite: lint, then every Go test (unit, fuzz seed corpora,
# e2e with real node processes). Tests that need something this machine
# lacks skip with a reason; the summary lists every skip.
# The full go test -v output is kept in a file named at the start and the
# end ($TEST_LOG, or /tmp/issuemesh-test-DATE.log).
# Usage: scripts/test.sh [lint]
set -uo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
export PATH="$PATH:$($GO env GOPATH)/bin"

lint() {
	echo "== lint: gofmt, go vet, staticcheck"
	local bad
	bad=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
	if [ -n "$bad" ]; then
		echo "gofmt would change:"; echo "$bad"; return 1
	fi
	$GO vet ./... || return 1
	if ! command -v staticcheck >/dev/null 2>&1; then
		echo "installing staticcheck (honnef.co/go/tools v0.8.2) from the Go module proxy"
		$GO install honnef.co/go/tools/cmd/staticcheck@v0.8.2 || { echo "SKIPPED staticcheck: could not install it"; return 0; }
	fi
	staticcheck ./... || return 1
	echo "lint: clean"
}

if [ "${1:-}" = "lint" ]; then
	lint
	exit $?
fi

# The full output of go test -v stays in this file (TEST_LOG overrides):
# the summary below shows only failures and skips.
log=${TEST_LOG:-${TMPDIR:-/tmp}/issuemesh-test-$(date +%Y%m%d-%H%M%S).log}
: >"$log" || { echo "cannot write the test log $log"; exit 1; }
echo "== full log of go test: $log"

lint || { echo "FAIL: lint"; exit 1; }

# == system packages for NAT tests: the e2e NAT tests build NAT routers in
# network namespaces with iptables and flush their state with conntrack
# (Debian packages). Installed as root only; if that fails, those tests skip
# with a reason and the rest of the suite runs.
nat_packages() {
	echo "== system packages for NAT tests (iptables, conntrack)"
	if command -v iptables >/dev/null 2>&1 && command -v conntrack >/dev/null 2>&1; then
		echo "present"
		return 0
	fi
	if [ "$(id -u)" != 0 ]; then
		echo "SKIPPED: not root, so no install; the NAT tests will skip"
		return 0
	fi
	local aptlog
	aptlog=$(mktemp)
	if { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends iptables conntrack; } >"$aptlog" 2>&1; then
		echo "installed iptables and conntrack"
	else
		tail -5 "$aptlog"
		echo "SKIPPED: apt-get could not install iptables and conntrack; the NAT tests will skip"
	fi
	rm -f "$aptlog"
}
nat_packages

# == real trackers: as root, install (Debian packages) and start a test
# Redmine and a test RT, and build (once, cached by version) and start a
# test Gitea (scripts/redmine.sh, scripts/rt.sh, scripts/gitea.sh; idempotent, so
# a second run only checks they run) and export the variables that make
# the adapter contract tests and e2e/trackers_test.go run against them.
# Without root, or if an install fails, those tests skip, and this says why.
real_trackers() {
	echo "== real trackers (Redmine, Request Tracker, Gitea)"
	if [ "$(id -u)" != 0 ]; then
		echo "SKIPPED: not root, so no install; the tests against real trackers will skip"
		return 0
	fi
	local name out
	for name in redmine rt gitea; do
		if out=$(bash "scripts/$name.sh" 2>&1); then
			eval "$(echo "$out" | grep -E '^export ISSUEMESH_TEST_[A-Z_]+=[^ ;]+$')"
			echo "$name: $(echo "$out" | grep -E 'is running at' | head -1)"
			echo "$out" | grep -E '^gitea.sh: (built|using the cached)' | sed 's/^/  /' || true
		else
			echo "$out" | tail -8 | sed 's/^/  /'
			echo "SKIPPED $name: scripts/$name.sh failed (above); the tests against a real $name will skip"
		fi
	done
}
real_trackers

# == GitHub's OpenAPI descriptions (npm), for the validated fake GitHub of
# adapters/github; without them those tests skip, saying why.
echo "== GitHub OpenAPI descriptions (@octokit/openapi)"
if out=$(bash scripts/github-openapi.sh 2>&1); then
	eval "$(echo "$out" | grep -E '^export ISSUEMESH_TEST_[A-Z_]+=[^ ;]+$')"
	echo "$out" | grep '^#' || true
else
	echo "$out" | tail -3 | sed 's/^/  /'
	echo "SKIPPED: scripts/github-openapi.sh failed; the validated GitHub tests will skip"
fi

# == Chromium (Debian's) for the console's browser tests; they skip, saying
# why, without it. Screenshots of every page: e2e/artefacts/console/.
echo "== Chromium for the console's browser tests"
if [ "$(id -u)" != 0 ] && ! command -v chromium >/dev/null 2>&1; then
	echo "SKIPPED: not root, so no install; the console's browser test will skip"
elif ! bash scripts/chromium.sh; then
	echo "SKIPPED: scripts/chromium.sh failed; the console's browser test will skip"
fi

# == the .deb's test (e2e/package_test.go): dpkg -i of `make package` on
# this machine and the unit checked with systemd-analyze (the systemd
# package; no systemd runs as PID 1 here); it skips, saying why, without
# root or without these tools.
echo "== systemd-analyze for the package test"
if command -v systemd-analyze >/dev/null 2>&1; then
	echo "present"
elif [ "$(id -u)" != 0 ]; then
	echo "SKIPPED: not root, so no install; the package test will skip"
elif { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends systemd; } >/dev/null 2>&1; then
	echo "installed systemd (for systemd-analyze)"
else
	echo "SKIPPED: apt-get could not install systemd; the package test will skip"
fi

echo "== go test (race detector on; e2e runs real issuemesh processes)"
start=$SECONDS
$GO test -count=1 -race -timeout 20m -v ./... >"$log" 2>&1
rc=$?
# Show package results, failures with their output, and skips with reasons.
grep -E '^(ok|FAIL|---|panic:|\s+--- FAIL)' "$log" | grep -v -- '--- PASS' || true
if [ $rc -ne 0 ]; then
	echo "== output of failing tests"
	awk '/^=== RUN/{buf=""} {buf=buf"\n"$0} /^\s*--- FAIL/{print buf}' "$log" | tail -300
	grep -E -A30 '^panic:' "$log" | head -80 || true
fi
passed=$(grep -cE '^\s*--- PASS' "$log")
failed=$(grep -cE '^\s*--- FAIL' "$log")
skipped=$(grep -cE '^\s*--- SKIP' "$log")
if [ "$skipped" -gt 0 ]; then
	echo "== skipped tests and why"
	# A skip's reason is the last line the test logged: go test -v prints
	# it under the test's "=== RUN" (or "=== CONT") line, and for a
	# top-level test just before its "--- SKIP" line.
	awk '
		/^=== (RUN|CONT|PAUSE|NAME)/ { cur=$3; next }
		/^[[:space:]]*--- SKIP/ { r=last[$3]; if (r == "") r="(no reason printed)"; print "  " $3 ": " r; next }
		/^[[:space:]]*--- / { next }
		/^[[:space:]]+[^[:space:]]+\.go:[0-9]+:/ && cur != "" { l=$0; sub(/^[[:space:]]+/, "", l); last[cur]=l }' "$log"
fi
echo "== took $((SECONDS - start))s"
echo "== full log of go test: $log"
echo "$passed passed, $failed failed, $skipped skipped"
exit $rc
