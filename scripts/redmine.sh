#!/usr/bin/env bash
# scripts/redmine.sh (make redmine): a Redmine test server for issuemesh.
#
# As root on Debian 12: installs Redmine 5.0 from Debian's packages on sqlite3,
# serves it with thin on 127.0.0.1:$REDMINE_PORT, enables the REST API, creates
# the project $REDMINE_PROJECT and the issue custom fields "issuemesh twin" and
# "issuemesh labels" (string, for all projects and trackers, usable as filters)
# and "issuemesh marker" (long text, for all projects and trackers, visible only
# to a role given to no one: only administrators see it), and writes the admin's API key to $ISSUEMESH_TEST_DIR/redmine.key (mode 0600).
#
# Idempotent: a second run installs nothing and, if the server answers and the
# key file still works, only says so; otherwise it (re)configures and starts
# the server, keeping the data.
#
# Env: REDMINE_PORT (3000), REDMINE_PROJECT (issuemesh),
#      REDMINE_ADMIN_PASSWORD (admin12345), ISSUEMESH_TEST_DIR (/var/lib/issuemesh-test)
# Prints the shell variables the tests read (ISSUEMESH_TEST_REDMINE_URL,
# ISSUEMESH_TEST_REDMINE_KEY_FILE), so: eval "$(scripts/redmine.sh | grep ^export)"
set -euo pipefail
PORT="${REDMINE_PORT:-3000}"
PROJECT="${REDMINE_PROJECT:-issuemesh}"
ADMIN_PW="${REDMINE_ADMIN_PASSWORD:-admin12345}"
DIR="${ISSUEMESH_TEST_DIR:-/var/lib/issuemesh-test}"
URL="http://127.0.0.1:$PORT"
KEYFILE="$DIR/redmine.key"
export DEBIAN_FRONTEND=noninteractive

say() { echo "redmine.sh: $*" >&2; }
die() { say "$*"; exit 1; }

[ "$(id -u)" = 0 ] || die "run me as root: I install Debian packages and start the server as www-data"
install -d -m 0755 "$DIR"

print_usage() {
	cat <<EOF
Redmine is running at $URL (admin / $ADMIN_PW; log: $DIR/redmine-server.log)
API key in $KEYFILE; project "$PROJECT".
Use it in a node:  issuemesh init --tracker redmine --url $URL --api-key-file $KEYFILE --project $PROJECT
Run the tests against it:
export ISSUEMESH_TEST_REDMINE_URL=$URL
export ISSUEMESH_TEST_REDMINE_KEY_FILE=$KEYFILE
EOF
}

as_www() { (cd /usr/share/redmine && setpriv --reuid=www-data --regid=www-data --init-groups \
	env HOME=/var/lib/redmine REDMINE_INSTANCE=default RAILS_ENV=production "$@"); }

# The issue custom field "issuemesh marker" keeps the markers of the notes
# issuemesh writes (a synced comment's ID) out of their text: set in the
# same request as the note, it is a detail of the note's journal, which
# Redmine shows (web pages, mail, API) only to those who may see the field.
# Long text, for all projects and trackers, not visible but to the role
# "issuemesh marker readers", which is given to no one (Redmine wants a
# role for a hidden field): only administrators (such as the key's user)
# see it.
MARKER_RB='
  cf = IssueCustomField.find_by_name("issuemesh marker") || IssueCustomField.new(name: "issuemesh marker")
  cf.field_format = "text"
  cf.is_for_all = true
  cf.is_filter = false
  cf.visible = false
  r = Role.find_by_name("issuemesh marker readers") || Role.create!(name: "issuemesh marker readers", assignable: false, permissions: [])
  cf.role_ids = [r.id]
  cf.editable = true
  cf.searchable = false
  cf.description = "kept by issuemesh: markers of the notes it writes"
  cf.tracker_ids = Tracker.pluck(:id)
  cf.save!'

# The issue custom fields "Customer" (text), "Effort" (integer) and "Tier"
# (a list: Gold, Silver), all projects and trackers, are fields of the
# tested kinds for the contract suite's custom-field tests (adapters/redmine
# maps every issue custom field by its name).
TESTCF_RB='
  [["Customer", "string", nil], ["Effort", "int", nil], ["Tier", "list", ["Gold", "Silver"]]].each do |name, format, values|
    cf = IssueCustomField.find_by_name(name) || IssueCustomField.new(name: name)
    cf.field_format = format
    cf.possible_values = values if values
    cf.is_for_all = true
    cf.is_filter = false
    cf.visible = true
    cf.searchable = false
    cf.tracker_ids = Tracker.pluck(:id)
    cf.save!
  end'

# Fast path: the server answers and the key works -> nothing to do but
# add the marker field to a Redmine set up before it existed.
if [ -s "$KEYFILE" ] && command -v curl >/dev/null &&
	curl -sf -o /dev/null -m 5 -H "X-Redmine-API-Key: $(cat "$KEYFILE")" "$URL/projects/$PROJECT.json"; then
	if ! curl -sf -m 5 -H "X-Redmine-API-Key: $(cat "$KEYFILE")" "$URL/custom_fields.json" | grep -q '"issuemesh marker"'; then
		say "adding the issue custom field \"issuemesh marker\""
		as_www bundle exec rails runner "$MARKER_RB" >"$DIR/redmine-marker.log" 2>&1 ||
			{ tail -20 "$DIR/redmine-marker.log" >&2; die "could not create the issue custom field \"issuemesh marker\""; }
	fi
	if ! curl -sf -m 5 -H "X-Redmine-API-Key: $(cat "$KEYFILE")" "$URL/custom_fields.json" | grep -q '"Tier"'; then
		say "adding the test issue custom fields \"Customer\", \"Effort\" and \"Tier\""
		as_www bundle exec rails runner "$TESTCF_RB" >"$DIR/redmine-testcf.log" 2>&1 ||
			{ tail -20 "$DIR/redmine-testcf.log" >&2; die "could not create the test issue custom fields"; }
	fi
	say "already running"
	print_usage
	exit 0
fi

# 1. Install (dbconfig-common preseeded for sqlite3: the postinst creates,
#    migrates and loads the default data).
if ! dpkg-query -W -f='${Status}' redmine 2>/dev/null | grep -q 'install ok installed'; then
	say "installing redmine, redmine-sqlite, thin (about 100 s; log: $DIR/redmine-apt.log)"
	debconf-set-selections <<'EOF'
redmine redmine/current-instances string default
redmine redmine/instances/default/dbconfig-install boolean true
redmine redmine/instances/default/database-type select sqlite3
redmine redmine/instances/default/default-language select en
redmine redmine/instances/default/db/dbname string redmine_default
redmine redmine/instances/default/db/basepath string /var/lib/dbconfig-common/sqlite3/redmine/instances/default
EOF
	{ apt-get update -qq && apt-get install -y -qq --no-install-recommends redmine redmine-sqlite thin curl; } \
		>"$DIR/redmine-apt.log" 2>&1 || { tail -30 "$DIR/redmine-apt.log" >&2; die "apt-get install failed (full log: $DIR/redmine-apt.log)"; }
fi

# dbconfig-common may not write database.yml (stale state after a purge): write it.
DBYML=/etc/redmine/default/database.yml
if [ ! -s "$DBYML" ]; then
	DBDIR=/var/lib/dbconfig-common/sqlite3/redmine/instances/default
	install -d -o root -g www-data -m 0770 "$DBDIR"
	printf 'production:\n  adapter: sqlite3\n  database: %s/redmine_default\n  encoding: utf8\n' "$DBDIR" >"$DBYML"
	chown root:www-data "$DBYML"
	chmod 0640 "$DBYML"
fi

cd /usr/share/redmine

# 2. Schema (a no-op when the postinst migrated).
as_www SCHEMA=/dev/null bundle exec rake db:migrate redmine:plugins:migrate >/dev/null

# 3. Default data, REST on, admin password, project, custom fields; print the key.
say "configuring (REST API, project $PROJECT, custom fields)"
KEY=$(as_www IM_PW="$ADMIN_PW" IM_PROJECT="$PROJECT" IM_MARKER_RB="$MARKER_RB" IM_TESTCF_RB="$TESTCF_RB" bundle exec rails runner '
  Redmine::DefaultData::Loader.load("en") if Redmine::DefaultData::Loader.no_data?
  Setting.rest_api_enabled = "1"
  u = User.find_by_login("admin")
  u.password = u.password_confirmation = ENV["IM_PW"]
  u.must_change_passwd = false
  u.save!
  ["issuemesh twin", "issuemesh labels"].each do |name|
    cf = IssueCustomField.find_by_name(name) || IssueCustomField.new(name: name)
    cf.field_format = "string"
    cf.is_for_all = true
    cf.is_filter = true
    cf.visible = true
    cf.editable = true
    cf.searchable = false
    cf.tracker_ids = Tracker.pluck(:id)
    cf.save!
  end
  eval(ENV["IM_MARKER_RB"])
  eval(ENV["IM_TESTCF_RB"])
  p = Project.find_by_identifier(ENV["IM_PROJECT"]) || Project.new(name: ENV["IM_PROJECT"], identifier: ENV["IM_PROJECT"])
  p.is_public = false
  p.enabled_module_names = (p.enabled_module_names | ["issue_tracking"])
  p.tracker_ids = Tracker.pluck(:id)
  p.save!
  print u.api_key' 2>"$DIR/redmine-runner.log" | tail -1)
[ -n "$KEY" ] || { tail -20 "$DIR/redmine-runner.log" >&2; die "could not configure Redmine or read the admin API key"; }
umask 077
echo "$KEY" >"$KEYFILE"
umask 022

# 4. Start thin on loopback unless something answers on the port already.
#    (rails server fails as www-data: it insists on mkdir /usr/share/redmine/tmp.)
if ! curl -sf -o /dev/null -m 5 "$URL/"; then
	say "starting thin on $URL"
	setsid setpriv --reuid=www-data --regid=www-data --init-groups \
		env HOME=/var/lib/redmine REDMINE_INSTANCE=default RAILS_ENV=production \
		bundle exec thin start -R config.ru -a 127.0.0.1 -p "$PORT" -e production \
		>"$DIR/redmine-server.log" 2>&1 </dev/null &
	echo $! >"$DIR/redmine.pid"
	for _ in $(seq 1 240); do
		curl -sf -o /dev/null -m 5 "$URL/" && break
		kill -0 "$(cat "$DIR/redmine.pid")" 2>/dev/null || { tail -30 "$DIR/redmine-server.log" >&2; die "thin exited"; }
		sleep 0.25
	done
fi
curl -sf -o /dev/null -m 10 -H "X-Redmine-API-Key: $KEY" "$URL/projects/$PROJECT.json" ||
	die "the server does not answer the REST API at $URL with the admin key (is another server on port $PORT?)"
print_usage
