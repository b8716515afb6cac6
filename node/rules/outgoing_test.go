package rules

import (
	"bytes"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/replica"
)

const briefOutgoing = `replica.summary = issue.summary
replica.status = issue.status
replica.labels = ["ext-" + l for l in issue.labels]
replica.comments = [c for c in issue.comments if not c.internal]
if "secret" in issue.labels:
    skip()
`

func TestOutgoingBriefExample(t *testing.T) {
	s := mustCompile(t, briefOutgoing, "", testOptions())
	is := fullIssue()
	r, skip, err := s.Outgoing(is)
	if err != nil || skip {
		t.Fatalf("Outgoing: skip=%v err=%v", skip, err)
	}
	def := oracleOutgoing(testSelf, is)
	want := replica.Replica{
		Fields: map[string]replica.Value{
			"summary": {S: "Printer on fire"},
			"status":  {S: "Resolved"},
			"labels":  {L: []string{"ext-b", "ext-hardware", "ext-sync"}},
		},
		Comments: def.Comments, // as the default: global IDs, no internal ones
	}
	if !reflect.DeepEqual(r, want) {
		t.Errorf("got\n%s\nwant\n%s", jsonOf(t, r), jsonOf(t, want))
	}

	is.Labels = append(is.Labels, "secret")
	r, skip, err = s.Outgoing(is)
	if err != nil || !skip {
		t.Fatalf("with label secret: skip=%v err=%v replica=%v", skip, err, r)
	}
}

// Each predeclared name and helper of outgoing rules, read through a custom
// field.
func TestOutgoingPredeclared(t *testing.T) {
	o := testOptions()
	o.StatusMap = map[string]string{"Resolved": "Done"}
	o.PriorityMap = map[string]string{"High": "P1"}
	tests := []struct {
		expr, want string
	}{
		{`issue.key`, "LOCAL-7"},
		{`issue.summary`, "Printer on fire"},
		{`issue.description`, "It smokes.\nSecond line."},
		{`issue.status`, "Resolved"},
		{`issue.priority`, "High"},
		{`",".join(issue.labels)`, "sync,hardware,b"},
		{`issue.extra["project"] + issue.extra.get("none", "-")`, "OPS-"},
		{`str(issue.created)`, "1740823200000"},
		{`str(issue.updated - issue.created)`, "3600000"},
		{`str(len(issue.comments))`, "4"},
		{`issue.comments[0].id + " " + issue.comments[0].sync_id`, "1 " + testSelf + "/1"},
		{`issue.comments[1].sync_id`, testPeer + "/9"},
		{`issue.comments[1].author + ": " + issue.comments[1].body`, "bob (partner): From the peer"},
		{`str(issue.comments[0].created) + " " + str(issue.comments[0].updated)`, "1740823200000 1740823200000"},
		{`str([c.internal for c in issue.comments])`, "[False, False, True, False]"},
		{`type(issue) + " " + type(issue.comments[0])`, "issue comment"},
		{`connection.name + " " + connection.peer_id + " " + connection.self_id`, testPeerName + " " + testPeer + " " + testSelf},
		{`connection.status_map["Resolved"] + connection.priority_map["High"]`, "DoneP1"},
		{`connection.status_map_inverse["Done"] + connection.priority_map_inverse["P1"]`, "ResolvedHigh"},
		{`map_value(issue.status, connection.status_map)`, "Done"},
		{`map_value("Unmapped", connection.status_map)`, "Unmapped"},
		{`map_value("Unmapped", {}, "fallback")`, "fallback"},
		{`str(map_value("Unmapped", {}, None))`, "None"},
		{`map_value("Unmapped", {}, default="kw")`, "kw"},
		{`map_value(value="a", mapping={"a": "b"})`, "b"},
		{`str(map_value([1], {"a": "b"}))`, "[1]"},
		{`str(replica.summary)`, "None"},
		{`str("summary" in replica)`, "False"},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			s := mustCompile(t, "replica.out = "+tt.expr+"\n", "", o)
			r, _, err := s.Outgoing(fullIssue())
			if err != nil {
				t.Fatal(err)
			}
			if got, _ := r.Str("out"); got != tt.want {
				t.Errorf("%s = %q, want %q", tt.expr, got, tt.want)
			}
		})
	}
}

// What an outgoing rule can put in the replica.
func TestOutgoingReplica(t *testing.T) {
	tests := []struct {
		name   string
		script string
		want   replica.Replica
	}{
		{"empty rule shares nothing", `x = 1`, replica.Replica{}},
		{"core fields", `
replica.summary = issue.summary
replica.description = ""
replica.priority = issue.priority.lower()
`, replica.Replica{Fields: map[string]replica.Value{"summary": {S: "Printer on fire"}, "description": {}, "priority": {S: "high"}}}},
		{"labels are sent sorted, from any sequence", `replica.labels = ("z", "a")`,
			replica.Replica{Fields: map[string]replica.Value{"labels": {L: []string{"a", "z"}}}}},
		{"custom fields", `
replica.customer = "ACME"
replica.tags = ["y", "x"]
replica["with-dash"] = issue.extra["team"]
`, replica.Replica{Fields: map[string]replica.Value{"customer": {S: "ACME"}, "tags": {L: []string{"y", "x"}}, "with-dash": {S: "infra"}}}},
		{"None removes a field", `
replica.summary = "x"
replica.customer = "y"
replica.summary = None
replica["customer"] = None
`, replica.Replica{}},
		{"read back and modify", `
l = ["a"]
replica.labels = l
l.append("not in the replica")
replica.labels.append("b")
replica.summary = "s"
replica.summary += "!"
replica.copy = replica["summary"]
replica.has = str("summary" in replica) + str("nope" in replica)
`, replica.Replica{Fields: map[string]replica.Value{"labels": {L: []string{"a", "b"}}, "summary": {S: "s!"}, "copy": {S: "s!"}, "has": {S: "TrueFalse"}}}},
		{"comments from the issue keep their global ID, internal ones only when chosen", `
replica.comments = [issue.comments[2], issue.comments[1]]
`, replica.Replica{Comments: []replica.Comment{
			{ID: testSelf + "/3", Author: "alice", Body: "internal note", Created: t0.Add(2 * time.Minute).UnixMilli(), Internal: true},
			{ID: testPeer + "/9", Author: "bob (partner)", Body: "From the peer", Created: t0.Add(time.Minute).UnixMilli()},
		}}},
		{"comments as dicts", `
c = issue.comments[0]
replica.comments = [
    {"id": c.sync_id, "author": c.author.upper(), "body": "[ext] " + c.body, "created": c.created},
    {"sync_id": "custom/1", "body": "made up", "internal": True},
]
`, replica.Replica{Comments: []replica.Comment{
			{ID: testSelf + "/1", Author: "ALICE", Body: "[ext] First!", Created: t0.UnixMilli()},
			{ID: "custom/1", Body: "made up", Internal: true},
		}}},
		{"comments None or empty", `
replica.comments = [issue.comments[0]]
replica.comments = None
`, replica.Replica{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mustCompile(t, tt.script, "", testOptions())
			r, skip, err := s.Outgoing(fullIssue())
			if err != nil || skip {
				t.Fatalf("Outgoing: skip=%v err=%v", skip, err)
			}
			if !reflect.DeepEqual(r, tt.want) {
				t.Errorf("got\n%s\nwant\n%s", jsonOf(t, r), jsonOf(t, tt.want))
			}
		})
	}
}

func TestSkip(t *testing.T) {
	tests := []struct {
		name, script string
		skip         bool
	}{
		{"skip at top level", "replica.summary = 'x'\nskip()\nreplica.status = 1\n", true},
		{"skip with a reason", `skip("not for the partner")`, true},
		{"skip in a function", "def f():\n    skip()\nif issue.status == 'Resolved':\n    f()\n", true},
		{"no skip", "if issue.status == 'Open':\n    skip()\n", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := mustCompile(t, tt.script, "", testOptions())
			r, skip, err := out.Outgoing(fullIssue())
			if err != nil || skip != tt.skip {
				t.Fatalf("Outgoing: skip=%v err=%v, want skip=%v", skip, err, tt.skip)
			}
			if skip && (r.Fields != nil || r.Comments != nil) {
				t.Errorf("a skipped run returned a replica: %v", r)
			}
			in := mustCompile(t, "", strings.ReplaceAll(tt.script, "replica.", "issue."), testOptions())
			cur := fullIssue()
			res, err := in.Incoming(Incoming{Replica: mergedReplica(), Issue: &cur})
			if err != nil || res.Skip != tt.skip {
				t.Fatalf("Incoming: %+v %v, want skip=%v", res, err, tt.skip)
			}
			if tt.name == "skip with a reason" && res.Reason != "not for the partner" {
				t.Errorf("reason %q", res.Reason)
			}
		})
	}
}

func TestOutgoingErrors(t *testing.T) {
	tests := []struct {
		name, script string
		want         []string
	}{
		{"issue is read-only", "x = 1\nissue.summary = 'x'\n",
			[]string{"outgoing rules: out.star:2:6: issue is read-only in outgoing rules: set replica.summary"}},
		{"core field must be a string", "replica.summary = 5\n",
			[]string{"out.star:1:8: replica.summary must be a string, got int"}},
		{"labels must be strings", "replica.labels = ['a', 1]\n",
			[]string{"out.star:1:8: replica.labels[1] must be a string, got int"}},
		{"labels must be a list", "replica.labels = 'a'\n",
			[]string{"replica.labels must be a list of strings, got string"}},
		{"custom field type", "replica['x-y'] = {}\n",
			[]string{`out.star:1:8: replica["x-y"] must be a string or a list of strings, got dict`}},
		{"comment made bad after assignment", "d = {'id': 'x/1'}\nreplica.comments = [d]\nd['body'] = 3\n",
			[]string{`outgoing rules: out.star: after the rule ran: replica.comments[0]["body"]: got int, want a string`}},
		{"dict comment without id", "replica.comments = [{'body': 'x'}]\n",
			[]string{`out.star:1:8: replica.comments[0] needs an "id"`}},
		{"dict comment with a typo", "replica.comments = [{'id': 'a/1', 'bdy': 'x'}]\n",
			[]string{`replica.comments[0]: a comment has no key "bdy"`}},
		{"comments must be comments", "replica.comments = ['x']\n",
			[]string{"replica.comments[0] must be a comment (from issue.comments) or a dict, got string"}},
		{"unknown issue field", "replica.x = issue.sumary\n",
			[]string{`out.star:1:18: issue has no field "sumary"`, "did you mean .summary?"}},
		{"runtime error in a function", "def f(n):\n    return 1 // n\nreplica.x = str(f(0))\n",
			[]string{"out.star:2:14: floored division by zero"}},
		{"builtin error", "replica.x = map_value('a')\n",
			[]string{"out.star:1:22: map_value: missing argument for mapping"}},
		{"map_value wants a mapping", "replica.x = map_value('a', ['a'])\n",
			[]string{"out.star:1:22: map_value: the mapping must be a dict, got list"}},
		{"merge_comments is not predeclared outgoing", "merge_comments(issue, replica)\n",
			[]string{"out.star:1:1: undefined: merge_comments"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Compile(&Source{Name: "out.star", Text: []byte(tt.script)}, nil, testOptions())
			if err == nil {
				_, _, err = s.Outgoing(fullIssue())
			}
			wantRuleError(t, err, tt.want...)
		})
	}
}

func TestPrintGoesToTheLog(t *testing.T) {
	var buf bytes.Buffer
	o := testOptions()
	o.Log = slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s := mustCompile(t, "print('hello from', issue.key)\n", "", o)
	if _, _, err := s.Outgoing(fullIssue()); err != nil {
		t.Fatal(err)
	}
	if got := buf.String(); !strings.Contains(got, `msg="hello from LOCAL-7"`) || !strings.Contains(got, "at=out.star:1:6") {
		t.Errorf("log %q does not hold the print", got)
	}
	// Without a logger print is discarded.
	s = mustCompile(t, "print('x')\n", "", testOptions())
	if _, _, err := s.Outgoing(adapters.Issue{}); err != nil {
		t.Fatal(err)
	}
}
