#!/usr/bin/env bash
# Installs GitHub's OpenAPI descriptions (@octokit/openapi, and
# @octokit/openapi-webhooks) from the npm registry into a cache outside the
# repository, once per version, and prints the variables the tests of
# adapters/github use. Idempotent; exits non-zero (tests skip, naming why)
# when npm is missing or the registry cannot be reached.
set -euo pipefail
CACHE=${ISSUEMESH_OCTOKIT_CACHE:-/var/cache/issuemesh-test/octokit}
if ! mkdir -p "$CACHE" 2>/dev/null || [ ! -w "$CACHE" ]; then
	CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/issuemesh-test/octokit # not root
fi
PKGS=(@octokit/openapi @octokit/openapi-webhooks)
need=0
for p in "${PKGS[@]}"; do
	[ -f "$CACHE/node_modules/$p/package.json" ] || need=1
done
if [ "$need" = 1 ]; then
	command -v npm >/dev/null || { echo "github-openapi.sh: npm is not installed (apt-get install npm)" >&2; exit 1; }
	mkdir -p "$CACHE"
	start=$(date +%s)
	(cd "$CACHE" && npm install --no-audit --no-fund --silent "${PKGS[@]}" >&2) ||
		{ echo "github-openapi.sh: npm install ${PKGS[*]} into $CACHE failed" >&2; exit 1; }
	echo "github-openapi.sh: installed ${PKGS[*]} in $(( $(date +%s) - start ))s" >&2
fi
ver() { sed -n 's/^  "version": "\(.*\)",$/\1/p' "$CACHE/node_modules/$1/package.json"; }
echo "# @octokit/openapi $(ver @octokit/openapi), @octokit/openapi-webhooks $(ver @octokit/openapi-webhooks)"
echo "export ISSUEMESH_TEST_OCTOKIT_OPENAPI=$CACHE/node_modules/@octokit/openapi"
echo "export ISSUEMESH_TEST_OCTOKIT_WEBHOOKS=$CACHE/node_modules/@octokit/openapi-webhooks"
