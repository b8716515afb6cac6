#!/usr/bin/env bash
# scripts/gitea.sh (make gitea): a Gitea test server for issuemesh.
#
# As root: builds Gitea $GITEA_VERSION from the Go module proxy once (go mod
# download, copy the module out, CGO_ENABLED=0 go build: about 12 minutes on
# 2 cores, a 158 MB binary), cached by version in
# /var/cache/issuemesh-test/gitea/VERSION/ outside the clone, and prints
# what the build cost; later runs reuse the binary. Then it runs it
# headless on 127.0.0.1:$GITEA_PORT as the unprivileged user issuemesh-gitea
# (Gitea refuses root): app.ini with INSTALL_LOCK=true, sqlite, the issue
# indexer on the database (no indexing lag), any attachment type, webhooks
# allowed to loopback and sent from an in-memory queue (no polling delay), STATIC_ROOT_PATH at the module's source (its
# templates/ and options/; the web UI's assets are absent, the REST API
# works); `gitea migrate`; the admin user issuemesh (`gitea admin user
# create`); an access token (`gitea admin user generate-access-token
# --raw`) in $ISSUEMESH_TEST_DIR/gitea.token (mode 0600).
#
# Idempotent: a second run builds nothing and, if the server answers and
# the token still works, only says so; otherwise it (re)configures and
# starts the server, keeping the data.
#
# Env: GITEA_VERSION (v1.27.3), GITEA_PORT (3300), ISSUEMESH_TEST_DIR
# (/var/lib/issuemesh-test), GITEA_CACHE (/var/cache/issuemesh-test/gitea)
# Prints the shell variables the tests read (ISSUEMESH_TEST_GITEA_URL,
# ISSUEMESH_TEST_GITEA_TOKEN_FILE, ISSUEMESH_TEST_GITEA_USER), so:
#   eval "$(bash scripts/gitea.sh | grep ^export)"
# Stop it with scripts/stop-trackers.sh gitea (make gitea-stop).
set -euo pipefail
V="${GITEA_VERSION:-v1.27.3}"
PORT="${GITEA_PORT:-3300}"
DIR="${ISSUEMESH_TEST_DIR:-/var/lib/issuemesh-test}"
CACHE="${GITEA_CACHE:-/var/cache/issuemesh-test/gitea}/$V"
BIN="$CACHE/gitea"
SRC="$CACHE/src"
HOME_DIR="$DIR/gitea"
INI="$HOME_DIR/app.ini"
URL="http://127.0.0.1:$PORT"
TOKENFILE="$DIR/gitea.token"
RUNAS=issuemesh-gitea
ADMIN=issuemesh
ADMIN_PW="${GITEA_ADMIN_PASSWORD:-issuemesh-admin-12345}"

say() { echo "gitea.sh: $*" >&2; }
die() { say "$*"; exit 1; }

[ "$(id -u)" = 0 ] || die "run me as root: I create the user $RUNAS and start Gitea as it"
command -v curl >/dev/null || die "curl is needed"
install -d -m 0755 "$DIR"

print_usage() {
	cat <<EOF
Gitea $V is running at $URL (admin $ADMIN / $ADMIN_PW; log: $HOME_DIR/log/gitea.log, stdout: $DIR/gitea-server.log)
Token in $TOKENFILE (user $ADMIN, all scopes).
Use it in a node:  issuemesh init --tracker gitea --url $URL --repo $ADMIN/REPO --token-file $TOKENFILE
Run the tests against it:
export ISSUEMESH_TEST_GITEA_URL=$URL
export ISSUEMESH_TEST_GITEA_TOKEN_FILE=$TOKENFILE
export ISSUEMESH_TEST_GITEA_USER=$ADMIN
EOF
}

token_works() {
	[ -s "$TOKENFILE" ] && curl -sf -o /dev/null -m 5 -H "Authorization: token $(cat "$TOKENFILE")" "$URL/api/v1/user"
}

# Fast path: the server answers and the token works.
if token_works; then
	say "already running"
	print_usage
	exit 0
fi

# 1. The binary, built once per version.
build() {
	local start=$SECONDS tmp
	command -v go >/dev/null || die "go is needed to build Gitea"
	say "building Gitea $V from the Go module proxy into $BIN (about 12 minutes on 2 cores; log: $CACHE/build.log)"
	install -d -m 0755 "$CACHE"
	tmp=$(mktemp -d)
	(
		cd "$tmp"
		export GOFLAGS=-mod=mod
		go mod init x >/dev/null 2>&1
		dir=$(go mod download -json "code.gitea.io/gitea@$V" | sed -n 's/^\s*"Dir": "\(.*\)",$/\1/p')
		[ -n "$dir" ] || exit 1
		rm -rf "$SRC"
		cp -r "$dir" "$SRC"
		chmod -R u+w,go+rX "$SRC"
		cd "$SRC"
		CGO_ENABLED=0 nice -n 10 go build -trimpath -ldflags "-X main.Version=${V#v}" -o "$BIN.tmp" . && mv "$BIN.tmp" "$BIN"
	) >"$CACHE/build.log" 2>&1 || { rm -rf "$tmp"; tail -20 "$CACHE/build.log" >&2; die "the build failed (log: $CACHE/build.log)"; }
	rm -rf "$tmp"
	say "built Gitea $V in $((SECONDS - start)) s ($(du -m "$BIN" | cut -f1) MB)"
}
# Another build of the same version (make gitea twice, or a build started
# by hand) is waited for, not repeated.
while [ ! -x "$BIN" ] && pgrep -f -- "-o $BIN.tmp" >/dev/null; do
	say "a build of $BIN is under way; waiting for it"
	sleep 15
done
if [ -x "$BIN" ]; then
	say "using the cached build $BIN (no build needed)"
else
	build
fi
[ -d "$SRC/templates" ] && [ -d "$SRC/options" ] || die "$SRC lacks templates/ and options/ (remove $BIN to build again)"

# 2. The user, the directories, app.ini.
id "$RUNAS" >/dev/null 2>&1 || useradd --system --home-dir "$HOME_DIR" --shell /usr/sbin/nologin "$RUNAS"
install -d -o "$RUNAS" -g "$RUNAS" -m 0750 "$HOME_DIR" "$HOME_DIR/data" "$HOME_DIR/log" "$HOME_DIR/repos" "$HOME_DIR/custom"
as_gitea() { (cd "$HOME_DIR" && setpriv --reuid="$RUNAS" --regid="$RUNAS" --init-groups env HOME="$HOME_DIR" USER="$RUNAS" GITEA_WORK_DIR="$HOME_DIR" "$@"); }
if [ ! -s "$INI" ]; then
	say "writing $INI"
	secret=$(as_gitea "$BIN" generate secret SECRET_KEY)
	internal=$(as_gitea "$BIN" generate secret INTERNAL_TOKEN)
	jwt=$(as_gitea "$BIN" generate secret JWT_SECRET)
	cat >"$INI" <<EOF
APP_NAME = issuemesh test Gitea
RUN_USER = $RUNAS
RUN_MODE = prod
WORK_PATH = $HOME_DIR

[server]
PROTOCOL = http
HTTP_ADDR = 127.0.0.1
HTTP_PORT = $PORT
ROOT_URL = $URL/
DOMAIN = 127.0.0.1
DISABLE_SSH = true
START_SSH_SERVER = false
OFFLINE_MODE = true
STATIC_ROOT_PATH = $SRC
APP_DATA_PATH = $HOME_DIR/data
LFS_START_SERVER = false

[database]
DB_TYPE = sqlite3
PATH = $HOME_DIR/data/gitea.db
SQLITE_JOURNAL_MODE = WAL

[security]
INSTALL_LOCK = true
SECRET_KEY = $secret
INTERNAL_TOKEN = $internal
PASSWORD_HASH_ALGO = pbkdf2_hi

[oauth2]
JWT_SECRET = $jwt

[service]
DISABLE_REGISTRATION = true
REQUIRE_SIGNIN_VIEW = false
DEFAULT_ALLOW_CREATE_ORGANIZATION = true

[repository]
ROOT = $HOME_DIR/repos

[indexer]
ISSUE_INDEXER_TYPE = db
REPO_INDEXER_ENABLED = false

[attachment]
ENABLED = true
ALLOWED_TYPES = */*
MAX_SIZE = 64

[webhook]
ALLOWED_HOST_LIST = loopback,private
DELIVER_TIMEOUT = 5
SKIP_TLS_VERIFY = true

[mailer]
ENABLED = false

[log]
MODE = file
LEVEL = Warn
ROOT_PATH = $HOME_DIR/log

[cron.update_checker]
ENABLED = false
EOF
	chown "$RUNAS:$RUNAS" "$INI"
	chmod 0640 "$INI"
fi
# Gitea's default (level) queue polls with a backoff of up to 2 s when
# idle, which delays each webhook delivery by as much; an in-memory queue
# delivers at once (undelivered hooks are lost on a restart: polling
# catches up). Added to an app.ini written before this line existed; takes
# effect at the next start.
if ! grep -q '^\[queue.webhook_sender\]' "$INI"; then
	printf '\n[queue.webhook_sender]\nTYPE = channel\n' >>"$INI"
fi

# 3. Schema (a no-op when current).
say "migrating the database"
as_gitea "$BIN" --config "$INI" --work-path "$HOME_DIR" migrate >"$DIR/gitea-migrate.log" 2>&1 ||
	{ tail -20 "$DIR/gitea-migrate.log" >&2; die "gitea migrate failed (log: $DIR/gitea-migrate.log)"; }

# 4. The server (its own session, PID in $DIR/gitea.pid for stop-trackers.sh).
if ! curl -s -o /dev/null -m 2 "$URL/api/v1/version"; then
	say "starting Gitea on $URL"
	start=$SECONDS
	cd "$HOME_DIR"
	setsid setpriv --reuid="$RUNAS" --regid="$RUNAS" --init-groups \
		env HOME="$HOME_DIR" USER="$RUNAS" GITEA_WORK_DIR="$HOME_DIR" \
		"$BIN" --config "$INI" --work-path "$HOME_DIR" web >"$DIR/gitea-server.log" 2>&1 </dev/null &
	echo $! >"$DIR/gitea.pid"
	cd - >/dev/null
	for _ in $(seq 1 240); do
		curl -sf -o /dev/null -m 2 "$URL/api/v1/version" && break
		kill -0 "$(cat "$DIR/gitea.pid")" 2>/dev/null || { tail -20 "$DIR/gitea-server.log" >&2; die "Gitea exited (log: $DIR/gitea-server.log)"; }
		sleep 0.25
	done
	curl -sf -o /dev/null -m 2 "$URL/api/v1/version" || { tail -20 "$DIR/gitea-server.log" >&2; die "Gitea does not answer on $URL after 60 s"; }
	say "Gitea answers after $((SECONDS - start)) s"
fi

# 5. The admin user and its token.
gitea_admin() { as_gitea "$BIN" --config "$INI" --work-path "$HOME_DIR" admin user "$@"; }
if ! gitea_admin list 2>/dev/null | awk '{print $2}' | grep -qx "$ADMIN"; then
	say "creating the admin user $ADMIN"
	gitea_admin create --username "$ADMIN" --password "$ADMIN_PW" --email "$ADMIN@example.invalid" --admin --must-change-password=false >/dev/null
fi
if ! token_works; then
	say "generating an access token for $ADMIN"
	tok=$(gitea_admin generate-access-token --username "$ADMIN" --token-name "issuemesh-test-$(date +%s)" --scopes all --raw)
	umask 077
	printf '%s\n' "$tok" >"$TOKENFILE.tmp"
	mv "$TOKENFILE.tmp" "$TOKENFILE"
	token_works || die "the new token does not work against $URL/api/v1/user"
fi
print_usage
