#!/usr/bin/env bash
# scripts/rt.sh (make rt): a Request Tracker test server for issuemesh.
#
# As root on Debian 12: installs Request Tracker 5.0 from Debian's packages on
# sqlite3, serves it with rt-server (Starlet, 2 workers) on 127.0.0.1:$RT_PORT
# (REST2 at /REST/2.0), creates the queue $RT_QUEUE, the ticket custom
# fields "issuemesh twin" and "issuemesh labels" and the transaction custom
# field "issuemesh marker" (freeform, one value, applied to every queue), and writes an auth token of root to $ISSUEMESH_TEST_DIR/rt.token
# (mode 0600; header "Authorization: token <TOKEN>").
#
# Idempotent: a second run installs nothing and, if the server answers and the
# token still works, only says so; otherwise it (re)configures and starts the
# server, keeping the data (and replacing the token).
#
# Env: RT_PORT (8080), RT_QUEUE (issuemesh), RT_ROOT_PASSWORD (rtpassword123),
#      ISSUEMESH_TEST_DIR (/var/lib/issuemesh-test)
# Prints the shell variables the tests read (ISSUEMESH_TEST_RT_URL,
# ISSUEMESH_TEST_RT_TOKEN_FILE), so: eval "$(scripts/rt.sh | grep ^export)"
set -euo pipefail
PORT="${RT_PORT:-8080}"
QUEUE="${RT_QUEUE:-issuemesh}"
ROOT_PW="${RT_ROOT_PASSWORD:-rtpassword123}"
DIR="${ISSUEMESH_TEST_DIR:-/var/lib/issuemesh-test}"
URL="http://127.0.0.1:$PORT"
TOKENFILE="$DIR/rt.token"
ETC=/etc/request-tracker5
export DEBIAN_FRONTEND=noninteractive

say() { echo "rt.sh: $*" >&2; }
die() { say "$*"; exit 1; }

[ "$(id -u)" = 0 ] || die "run me as root: I install Debian packages and start the server as www-data"
install -d -m 0755 "$DIR"

print_usage() {
	cat <<EOF
Request Tracker is running at $URL (root / $ROOT_PW; log: $DIR/rt-server.log)
Auth token in $TOKENFILE; queue "$QUEUE".
Use it in a node:  issuemesh init --tracker rt --url $URL --token-file $TOKENFILE --queue $QUEUE
Run the tests against it:
export ISSUEMESH_TEST_RT_URL=$URL
export ISSUEMESH_TEST_RT_TOKEN_FILE=$TOKENFILE
EOF
}

# The transaction custom field "issuemesh marker" keeps the markers of the
# messages issuemesh writes (a synced comment's ID, ...) out of their text,
# so requestors never receive them in mail. Freeform, one value, applied to
# every queue; no right to see it is granted, so only superusers (such as
# the token's user) see it in the history.
ensure_marker_field() {
	setpriv --reuid=www-data --regid=www-data --init-groups perl -e '
  use strict; use warnings;
  use lib "/usr/local/share/request-tracker5/lib", "/usr/share/request-tracker5/lib";
  use RT; RT::LoadConfig(); RT::Init();
  my $name = "issuemesh marker";
  my $type = RT::Transaction->CustomFieldLookupType;
  my $cf = RT::CustomField->new(RT->SystemUser);
  $cf->LoadByName(Name => $name, LookupType => $type, IncludeGlobal => 1);
  unless ($cf->id) {
    my ($ok, $msg) = $cf->Create(Name => $name, Type => "Freeform", MaxValues => 1,
      LookupType => $type, Description => "kept by issuemesh: markers of the messages it writes");
    $ok or die "custom field $name: $msg";
  }
  unless ($cf->IsGlobal) {
    my ($ok, $msg) = $cf->AddToObject(RT::Queue->new(RT->SystemUser));
    $ok or die "apply custom field $name globally: $msg";
  }' 2>"$DIR/rt-marker.log" || { tail -20 "$DIR/rt-marker.log" >&2; die "could not create the transaction custom field \"issuemesh marker\""; }
}

# The ticket custom field "Customer" (freeform, one value, global) is a
# field of the tested kind for the contract suite's custom-field test
# (adapters/rt maps every ticket custom field by its name).
ensure_test_field() {
	setpriv --reuid=www-data --regid=www-data --init-groups perl -e '
  use strict; use warnings;
  use lib "/usr/local/share/request-tracker5/lib", "/usr/share/request-tracker5/lib";
  use RT; RT::LoadConfig(); RT::Init();
  my $name = "Customer";
  my $type = RT::Ticket->CustomFieldLookupType;
  my $cf = RT::CustomField->new(RT->SystemUser);
  $cf->LoadByName(Name => $name, LookupType => $type, IncludeGlobal => 1);
  unless ($cf->id) {
    my ($ok, $msg) = $cf->Create(Name => $name, Type => "Freeform", MaxValues => 1,
      LookupType => $type, Description => "a test field of issuemesh");
    $ok or die "custom field $name: $msg";
  }
  unless ($cf->IsGlobal) {
    my ($ok, $msg) = $cf->AddToObject(RT::Queue->new(RT->SystemUser));
    $ok or die "apply custom field $name globally: $msg";
  }' 2>"$DIR/rt-testcf.log" || { tail -20 "$DIR/rt-testcf.log" >&2; die "could not create the ticket custom field \"Customer\""; }
}

# Fast path: the server answers and the token works -> nothing to do but
# add the marker field to an RT set up before it existed.
if [ -s "$TOKENFILE" ] && command -v curl >/dev/null &&
	QJSON=$(curl -sf -m 5 -H "Authorization: token $(cat "$TOKENFILE")" "$URL/REST/2.0/queue/$QUEUE"); then
	if ! grep -q '"issuemesh marker"' <<<"$QJSON"; then
		say "adding the transaction custom field \"issuemesh marker\""
		ensure_marker_field
	fi
	if ! grep -q '"Customer"' <<<"$QJSON"; then
		say "adding the test ticket custom field \"Customer\""
		ensure_test_field
	fi
	say "already running"
	print_usage
	exit 0
fi

# 1. Install. dbconfig-common preseeded for sqlite3: the postinst creates and
#    fills the database. dma: a tiny MTA for "default-mta | mail-transport-agent".
if ! dpkg-query -W -f='${Status}' request-tracker5 2>/dev/null | grep -q 'install ok installed'; then
	say "installing request-tracker5, rt5-db-sqlite, rt5-standalone (about 100 s; log: $DIR/rt-apt.log)"
	debconf-set-selections <<EOF
request-tracker5 request-tracker5/dbconfig-install boolean true
request-tracker5 request-tracker5/database-type select sqlite3
request-tracker5 request-tracker5/initial-root-password password $ROOT_PW
request-tracker5 request-tracker5/rtname string rt.localhost
request-tracker5 request-tracker5/organization string rt.localhost
request-tracker5 request-tracker5/webbaseurl string $URL
request-tracker5 request-tracker5/handle-siteconfig-permissions boolean true
request-tracker5 request-tracker5/install-cronjobs boolean false
EOF
	{ apt-get update -qq && apt-get install -y -qq --no-install-recommends request-tracker5 rt5-db-sqlite rt5-standalone dma curl; } \
		>"$DIR/rt-apt.log" 2>&1 || { tail -30 "$DIR/rt-apt.log" >&2; die "apt-get install failed (full log: $DIR/rt-apt.log)"; }
fi
[ -s "$ETC/RT_SiteConfig.d/51-dbconfig-common.pm" ] ||
	die "dbconfig-common did not configure RT's database (stale dbconfig state from an earlier purge? try: apt-get purge request-tracker5 rt5-db-sqlite; rm -rf /var/lib/dbconfig-common/sqlite3/request-tracker5)"

# 2. Let www-data read the main config; test-server overrides.
chgrp www-data "$ETC/RT_SiteConfig.pm"
chmod 0640 "$ETC/RT_SiteConfig.pm"
cat >"$ETC/RT_SiteConfig.d/99-issuemesh-test.pm" <<EOF
Set(\$WebPath, "");
Set(\$WebDomain, "127.0.0.1");
Set(\$WebPort, $PORT);
Set(\$WebBaseURL, "$URL");
Set(@ReferrerWhitelist, qw(127.0.0.1:$PORT localhost:$PORT));
Set(\$MailCommand, "mbox");   # outgoing mail goes to a file: no MTA needed
Set(\$LogToSyslog, undef);
Set(\$LogToSTDERR, "warning");
Set(\$BcryptCost, 4);         # test only: the default costs ~250 ms of bcrypt on every REST2 request
1;
EOF
chown root:www-data "$ETC/RT_SiteConfig.d/99-issuemesh-test.pm"
chmod 0640 "$ETC/RT_SiteConfig.d/99-issuemesh-test.pm"

# 3. Queue, custom fields, root's password at the low cost, a fresh token.
say "configuring (queue $QUEUE, custom fields, auth token)"
TOKEN=$(setpriv --reuid=www-data --regid=www-data --init-groups env ROOT_PW="$ROOT_PW" IM_QUEUE="$QUEUE" perl -e '
  use strict; use warnings;
  use lib "/usr/local/share/request-tracker5/lib", "/usr/share/request-tracker5/lib";
  use RT; RT::LoadConfig(); RT::Init();
  my $q = RT::Queue->new(RT->SystemUser);
  $q->Load($ENV{IM_QUEUE});
  unless ($q->id) {
    my ($ok, $msg) = $q->Create(Name => $ENV{IM_QUEUE}, Description => "synced by issuemesh");
    $ok or die "queue: $msg";
  }
  for my $name ("issuemesh twin", "issuemesh labels") {
    my $cf = RT::CustomField->new(RT->SystemUser);
    $cf->LoadByName(Name => $name, LookupType => RT::Ticket->CustomFieldLookupType, IncludeGlobal => 1);
    unless ($cf->id) {
      my ($ok, $msg) = $cf->Create(Name => $name, Type => "Freeform", MaxValues => 1,
        LookupType => RT::Ticket->CustomFieldLookupType, Description => "kept by issuemesh");
      $ok or die "custom field $name: $msg";
    }
    unless ($cf->IsGlobal) {
      my ($ok, $msg) = $cf->AddToObject(RT::Queue->new(RT->SystemUser));
      $ok or die "apply custom field $name globally: $msg";
    }
  }
  my $u = RT::User->new(RT->SystemUser); $u->Load("root") or die "no root user";
  my ($ok, $msg) = $u->SetPassword($ENV{ROOT_PW}); $ok or $msg =~ /already/i or die "password: $msg";
  my $ts = RT::AuthTokens->new(RT->SystemUser); $ts->LimitOwner(VALUE => $u->Id);
  while (my $t = $ts->Next) { $t->Delete }
  my $t = RT::AuthToken->new(RT->SystemUser);
  my ($id, $m, $auth) = $t->Create(Owner => $u->Id, Description => "issuemesh tests");
  $id or die "token: $m"; print "$auth\n";' 2>"$DIR/rt-config.log" | tail -1)
[ -n "$TOKEN" ] || { tail -20 "$DIR/rt-config.log" >&2; die "could not configure RT or create the auth token"; }
ensure_marker_field
ensure_test_field
umask 077
echo "$TOKEN" >"$TOKENFILE"
umask 022

# 4. Start rt-server (Starlet prefork) on loopback unless the port answers.
#    A running server reads the configuration only at start: restart it if it
#    runs but refused the (new) token.
if curl -s -o /dev/null -m 5 "$URL/" &&
	! curl -sf -o /dev/null -m 10 -H "Authorization: token $TOKEN" "$URL/REST/2.0/queue/$QUEUE" &&
	[ -s "$DIR/rt.pid" ] && kill -0 "$(cat "$DIR/rt.pid")" 2>/dev/null; then
	say "restarting rt-server (pid $(cat "$DIR/rt.pid"))"
	kill "$(cat "$DIR/rt.pid")"
	for _ in $(seq 1 40); do curl -s -o /dev/null -m 1 "$URL/" || break; sleep 0.25; done
fi
if ! curl -s -o /dev/null -m 5 "$URL/"; then
	say "starting rt-server on $URL"
	setsid setpriv --reuid=www-data --regid=www-data --init-groups env HOME=/var/lib/request-tracker5 \
		/usr/share/request-tracker5/libexec/rt-server --server Starlet --host 127.0.0.1 --port "$PORT" --max-workers 2 \
		>"$DIR/rt-server.log" 2>&1 </dev/null &
	echo $! >"$DIR/rt.pid"
	for _ in $(seq 1 240); do
		curl -s -o /dev/null -m 5 "$URL/" && break
		kill -0 "$(cat "$DIR/rt.pid")" 2>/dev/null || { tail -30 "$DIR/rt-server.log" >&2; die "rt-server exited"; }
		sleep 0.25
	done
fi
curl -sf -o /dev/null -m 10 -H "Authorization: token $TOKEN" "$URL/REST/2.0/queue/$QUEUE" ||
	die "the server does not answer REST2 at $URL/REST/2.0 with the token (is another server on port $PORT?)"
print_usage
