#!/usr/bin/env bash
# Installs Debian's headless-capable Chromium for the console's browser
# tests (e2e/console_test.go drives it with chromedp). Idempotent: a second
# run only says it is there. Needs root; prints what it cost.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
	echo "chromium present: $(chromium --version 2>/dev/null | head -1)"
	exit 0
fi
if [ "$(id -u)" != 0 ]; then
	echo "not root: cannot install chromium (apt-get install -y chromium)" >&2
	exit 1
fi
start=$SECONDS
before=$(df -k --output=used / | tail -1)
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null 2>&1 || {
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
}
after=$(df -k --output=used / | tail -1)
echo "installed $(chromium --version 2>/dev/null | head -1) in $((SECONDS - start)) s, $(((after - before) / 1024)) MB"
