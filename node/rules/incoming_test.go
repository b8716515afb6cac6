package rules

import (
	"reflect"
	"testing"
	"time"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/replica"
)

const briefIncoming = `if first_sync:
    issue.priority = "Low"
issue.summary = replica.summary
issue.status = map_value(replica.status, {"Done": "Resolved"})
issue.comments = merge_comments(issue, replica)
`

// newComments are the comments of mergedReplica that fullIssue lacks, as
// the rules add them.
func newComments() []adapters.Comment {
	return []adapters.Comment{
		{SyncID: testPeer + "/10", Author: "carol (partner)", Body: "New one", Created: t0.Add(3 * time.Minute)},
		{SyncID: testPeer + "/11", Author: "someone (partner)", Body: "Anonymous"},
	}
}

func TestIncomingBriefExample(t *testing.T) {
	s := mustCompile(t, "", briefIncoming, testOptions())
	m := mergedReplica()

	res, err := s.Incoming(Incoming{Replica: m, Changed: allChanges(m)})
	if err != nil || res.Skip {
		t.Fatalf("first sync: %+v %v", res, err)
	}
	var wantComments []adapters.Comment
	for _, c := range m.Comments {
		wantComments = append(wantComments, incomingComment(testPeerName, c))
	}
	want := adapters.Issue{Summary: "Printer on fire!", Status: "Resolved", Priority: "Low", Comments: wantComments}
	if res.Create == nil || !reflect.DeepEqual(*res.Create, want) {
		t.Errorf("create\n%s\nwant\n%s", jsonOf(t, res.Create), jsonOf(t, want))
	}

	cur := fullIssue()
	prev := replica.Replica{}
	res, err = s.Incoming(Incoming{Replica: m, Changed: allChanges(m), Issue: &cur, Previous: &prev})
	if err != nil || res.Skip || res.Create != nil {
		t.Fatalf("update: %+v %v", res, err)
	}
	wantPatch := adapters.Patch{
		Summary: ptr("Printer on fire!"),
		EditComments: []adapters.Comment{
			{ID: "2", Body: "From the peer, edited"},
			{ID: "3", Body: "internal note, edited there", Internal: true},
		},
		AddComments: newComments(),
	}
	if !reflect.DeepEqual(res.Patch, wantPatch) {
		t.Errorf("patch\n%s\nwant\n%s", jsonOf(t, res.Patch), jsonOf(t, wantPatch))
	}

	// Applied: the same event again changes nothing.
	applied := fullIssue()
	applied.Summary = "Printer on fire!"
	applied.Comments[1].Body = "From the peer, edited"
	applied.Comments[2].Body = "internal note, edited there"
	for i, c := range newComments() {
		c.ID = string(rune('a' + i))
		applied.Comments = append(applied.Comments, c)
	}
	res, err = s.Incoming(Incoming{Replica: m, Changed: allChanges(m), Issue: &applied, Previous: &m})
	if err != nil || !res.Patch.Empty() {
		t.Errorf("after applying: %s %v", jsonOf(t, res.Patch), err)
	}
}

// Each predeclared name of incoming rules, read through issue.extra.
func TestIncomingPredeclared(t *testing.T) {
	o := testOptions()
	o.StatusMap = map[string]string{"Resolved": "Done"}
	prev := replica.Replica{Fields: map[string]replica.Value{"summary": str("Old summary")}}
	changes := replica.Changes{Fields: []string{"status", "summary"}, Comments: []string{testPeer + "/10"}}
	tests := []struct {
		expr, want string
		first      bool
	}{
		{expr: `replica.summary`, want: "Printer on fire!"},
		{expr: `str(replica.nope)`, want: "None"},
		{expr: `replica["customer"] + replica.customer`, want: "ACMEACME"},
		{expr: `str("customer" in replica) + str("nope" in replica)`, want: "TrueFalse"},
		{expr: `",".join(replica.labels)`, want: "b,hardware,sync"},
		{expr: `" ".join([replica.comments[1].id, replica.comments[1].sync_id, replica.comments[1].author, replica.comments[1].body])`,
			want: testPeer + "/9 " + testPeer + "/9 bob From the peer, edited"},
		{expr: `str(replica.comments[1].created) + str(replica.comments[0].internal)`, want: "1740823260000False"},
		{expr: `type(replica) + " " + type(replica.comments[0])`, want: "replica replica_comment"},
		{expr: `str(first_sync)`, want: "False"},
		{expr: `str(first_sync)`, want: "True", first: true},
		{expr: `previous.summary + str(previous.status)`, want: "Old summaryNone"},
		{expr: `str(previous)`, want: "None", first: true},
		{expr: `",".join(changed.fields) + " " + ",".join(changed.comments)`, want: "status,summary " + testPeer + "/10"},
		{expr: `connection.name + connection.peer_id + connection.status_map_inverse["Done"]`, want: testPeerName + testPeer + "Resolved"},
		{expr: `map_value(replica.status, connection.status_map_inverse)`, want: "Resolved"},
		{expr: `issue.key + " " + issue.summary + " " + str(issue.created)`, want: "LOCAL-7 Printer on fire 1740823200000"},
		{expr: `issue.key + issue.summary + str(issue.created)`, want: "0", first: true},
		{expr: `issue.project + issue.extra["team"]`, want: "OPSinfra"},
		{expr: `issue.comments[1].sync_id + " " + issue.comments[1].id`, want: testPeer + "/9 2"},
		{expr: `str(len(merge_comments(issue, replica)))`, want: "6"},
		{expr: `str(len(merge_comments(issue, replica, changed.comments)))`, want: "5"},
		{expr: `merge_comments(issue, replica)[4].author`, want: "carol (partner)"},
		{expr: `merge_comments(issue, replica)[1].body`, want: "From the peer, edited"},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			s := mustCompile(t, "", "issue.extra['out'] = "+tt.expr+"\n", o)
			in := Incoming{Replica: mergedReplica(), Changed: changes}
			if !tt.first {
				cur := fullIssue()
				in.Issue, in.Previous = &cur, &prev
			}
			res, err := s.Incoming(in)
			if err != nil {
				t.Fatal(err)
			}
			got := res.Patch.Extra["out"]
			if tt.first {
				got = res.Create.Extra["out"]
			}
			if got != tt.want {
				t.Errorf("%s = %q, want %q", tt.expr, got, tt.want)
			}
		})
	}
}

// What an incoming rule's edits of the issue become.
func TestIncomingIssue(t *testing.T) {
	pc := mergedReplica().Comments
	tests := []struct {
		name, script string
		want         adapters.Patch
	}{
		{"no change", `x = 1`, adapters.Patch{}},
		{"scalars", "issue.summary = 'new'\nissue.description = 'd'\nissue.status = 'Open'\nissue.priority = 'Low'\n",
			adapters.Patch{Summary: ptr("new"), Description: ptr("d"), Status: ptr("Open"), Priority: ptr("Low")}},
		{"same values", "issue.summary = issue.summary + ''\nissue.status = 'Resolved'\n", adapters.Patch{}},
		{"None leaves a field alone", "issue.summary = None\nissue.status = replica.nope\nissue.labels = None\nissue.comments = None\n", adapters.Patch{}},
		{"append a label", `issue.labels.append("new")`,
			adapters.Patch{Labels: &[]string{"sync", "hardware", "b", "new"}}},
		{"append to labels assigned from the replica", "issue.labels = replica.labels\nissue.labels.append('local')\n",
			adapters.Patch{Labels: &[]string{"b", "hardware", "sync", "local"}}},
		{"append to comments assigned from the issue", "issue.comments = replica.comments[2:3]\nissue.comments.append({'body': 'x'})\n",
			adapters.Patch{AddComments: []adapters.Comment{incomingComment(testPeerName, pc[2]), {Body: "x"}}}},
		{"reorder labels", `issue.labels = sorted(issue.labels)`, adapters.Patch{}},
		{"clear labels", `issue.labels = []`, adapters.Patch{Labels: new([]string)}},
		{"extra", "issue.extra['team'] = 'ops'\nissue.customer = 'ACME'\n",
			adapters.Patch{Extra: map[string]string{"team": "ops", "customer": "ACME"}}},
		{"extra key removed", `issue.extra.pop("team")`, adapters.Patch{Extra: map[string]string{"team": ""}}},
		{"extra replaced", `issue.extra = {"project": "OPS", "new": "x"}`, adapters.Patch{Extra: map[string]string{"team": "", "new": "x"}}},
		{"new comment", `issue.comments.append({"body": "hi", "author": "bot", "internal": True, "created": 1740823200000})`,
			adapters.Patch{AddComments: []adapters.Comment{{Author: "bot", Body: "hi", Internal: true, Created: t0}}}},
		{"new comment with the sync ID of one the issue has edits it", `issue.comments.append({"sync_id": "12D3Peer/9", "body": "x"})`,
			adapters.Patch{EditComments: []adapters.Comment{{ID: "2", Body: "x"}}}},
		{"edit by id; comments left out stay", `issue.comments = [{"id": "1", "body": "changed"}]`,
			adapters.Patch{EditComments: []adapters.Comment{{ID: "1", Body: "changed"}}}},
		{"edit back and forth cancels", "issue.comments = [{'id': '1', 'body': 'changed'}, {'id': '1', 'body': 'First!'}]\n", adapters.Patch{}},
		{"a replica comment is added as the default adds it", `issue.comments.append(replica.comments[2])`,
			adapters.Patch{AddComments: []adapters.Comment{incomingComment(testPeerName, pc[2])}}},
		{"a replica comment the issue has edits it", `issue.comments.append(replica.comments[1])`,
			adapters.Patch{EditComments: []adapters.Comment{{ID: "2", Body: "From the peer, edited"}}}},
		{"the same new comment twice is added once", "issue.comments += [replica.comments[2], replica.comments[2]]\n",
			adapters.Patch{AddComments: []adapters.Comment{incomingComment(testPeerName, pc[2])}}},
		{"merge_comments with ids", `issue.comments = merge_comments(issue, replica, ids=["12D3Peer/10"])`,
			adapters.Patch{AddComments: []adapters.Comment{incomingComment(testPeerName, pc[2])}}},
		{"merge_comments is idempotent", "issue.comments = merge_comments(issue, replica, ['12D3Peer/10', '12D3Peer/9'])\nissue.comments = merge_comments(issue, replica, ['12D3Peer/10', '12D3Peer/9'])\n",
			adapters.Patch{EditComments: []adapters.Comment{{ID: "2", Body: "From the peer, edited"}}, AddComments: []adapters.Comment{incomingComment(testPeerName, pc[2])}}},
		{"merge_labels: nothing changed since previous", "issue.labels = merge_labels(issue, replica, previous)\n", adapters.Patch{}},
		{"merge_labels keeps the issue's own labels", "issue.labels.append('mine')\nissue.labels = merge_labels(issue, replica, previous)\n",
			adapters.Patch{Labels: &[]string{"sync", "hardware", "b", "mine"}}},
		{"merge_comments over dict comments", "issue.comments = [{'sync_id': '12D3Peer/9', 'id': '2', 'body': 'old'}]\nissue.comments = merge_comments(issue, replica, ['12D3Peer/9'])\n",
			adapters.Patch{EditComments: []adapters.Comment{{ID: "2", Body: "From the peer, edited"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mustCompile(t, "", tt.script, testOptions())
			cur := fullIssue()
			m := mergedReplica()
			res, err := s.Incoming(Incoming{Replica: m, Changed: allChanges(m), Issue: &cur, Previous: &m})
			if err != nil || res.Skip || res.Create != nil {
				t.Fatalf("Incoming: %+v %v", res, err)
			}
			if !reflect.DeepEqual(res.Patch, tt.want) {
				t.Errorf("got\n%s\nwant\n%s", jsonOf(t, res.Patch), jsonOf(t, tt.want))
			}
			if !reflect.DeepEqual(cur, fullIssue()) {
				t.Errorf("the rule changed the caller's issue")
			}
		})
	}
}

func TestIncomingCreate(t *testing.T) {
	s := mustCompile(t, "", `
if first_sync:
    issue.project = "SUP"
issue.summary = replica.summary
issue.labels = replica.labels
issue.comments = [{"id": "ignored", "body": "from the rule"}]
`, testOptions())
	m := mergedReplica()
	res, err := s.Incoming(Incoming{Replica: m, Changed: allChanges(m)})
	if err != nil {
		t.Fatal(err)
	}
	want := adapters.Issue{
		Summary: "Printer on fire!", Labels: []string{"b", "hardware", "sync"},
		Extra:    map[string]string{"project": "SUP"},
		Comments: []adapters.Comment{{Body: "from the rule"}},
	}
	if res.Create == nil || !reflect.DeepEqual(*res.Create, want) {
		t.Errorf("got\n%s\nwant\n%s", jsonOf(t, res.Create), jsonOf(t, want))
	}
}

func TestIncomingErrors(t *testing.T) {
	tests := []struct {
		name, script string
		want         []string
	}{
		{"key is read-only", "issue.key = 'x'\n", []string{"incoming rules: in.star:1:6: issue.key is read-only"}},
		{"summary must be a string", "issue.summary = 1\n", []string{"in.star:1:6: issue.summary must be a string, got int"}},
		{"labels must be strings", "issue.labels = [1]\n", []string{"in.star:1:6: issue.labels[0] must be a string, got int"}},
		{"extra must be a dict", "issue.extra = []\n", []string{"issue.extra must be a dict of strings, got list"}},
		{"custom field must be a string", "issue.foo = 1\n", []string{`issue.foo is a tracker-specific field (issue.extra["foo"]) and must be a string, got int`}},
		{"unknown field read", "x = issue.foo\n", []string{`in.star:1:10: issue has no field "foo"`}},
		{"replica is read-only", "replica.summary = 'x'\n", []string{"in.star:1:8: replica is read-only in incoming rules: set issue.summary instead"}},
		{"missing replica key", "x = replica['nope']\n", []string{"in.star:1:12:", `key "nope" not in replica`}},
		{"previous is read-only", "previous.summary = 'x'\n", []string{"in.star:1:9: replica is read-only"}},
		{"unknown comment id", "issue.comments = [{'id': '99', 'body': 'x'}]\n",
			[]string{`incoming rules: in.star: after the rule ran: issue.comments[0] has id "99", which no comment of LOCAL-7 has`}},
		{"extra value made bad", "issue.extra['x'] = 1\n", []string{`after the rule ran: issue.extra["x"] must be a string, got int`}},
		{"comments must be comments", "issue.comments = [1]\n", []string{"in.star:1:6: issue.comments[0] must be a comment or a dict, got int"}},
		{"merge_comments wants the issue", "merge_comments('x', replica)\n", []string{"in.star:1:15: merge_comments: the first argument must be the issue, got string"}},
		{"merge_comments wants a replica", "merge_comments(issue, {})\n", []string{"merge_comments: the second argument must be a received replica, got dict"}},
		{"merge_comments ids", "merge_comments(issue, replica, 'x')\n", []string{"merge_comments: ids must be a list of strings, got string"}},
		{"merge_labels wants the issue", "merge_labels(1, replica)\n", []string{"merge_labels: the first argument must be the issue, got int"}},
		{"merge_labels wants a replica", "merge_labels(issue, [])\n", []string{"merge_labels: the second argument must be a received replica, got list"}},
		{"merge_labels wants a previous replica", "merge_labels(issue, replica, 'x')\n", []string{"merge_labels: the third argument must be the previous replica or None, got string"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Compile(nil, &Source{Name: "in.star", Text: []byte(tt.script)}, testOptions())
			if err == nil {
				cur := fullIssue()
				m := mergedReplica()
				_, err = s.Incoming(Incoming{Replica: m, Changed: allChanges(m), Issue: &cur, Previous: &m})
			}
			wantRuleError(t, err, tt.want...)
		})
	}
}

// The examples of DESIGN.md section 6 run as written.
func TestDesignExamples(t *testing.T) {
	s := mustCompile(t, `# outgoing: issue -> replica
replica.summary = issue.summary
replica.description = issue.description
replica.status = issue.status
replica.comments = [c for c in issue.comments if not c.internal]
`, `# incoming: replica -> issue
if first_sync:
    issue.project = "SUP"
issue.summary = replica.summary
issue.status = {"Done": "Resolved"}.get(replica.status, replica.status)
issue.comments = merge_comments(issue, replica)
`, testOptions())
	r, skip, err := s.Outgoing(fullIssue())
	if err != nil || skip {
		t.Fatalf("outgoing: %v %v", skip, err)
	}
	if len(r.Fields) != 3 || len(r.Comments) != 3 {
		t.Errorf("outgoing replica %s", jsonOf(t, r))
	}
	res, err := s.Incoming(Incoming{Replica: r, Changed: allChanges(r)})
	if err != nil || res.Create == nil {
		t.Fatalf("incoming: %+v %v", res, err)
	}
	if c := res.Create; c.Extra["project"] != "SUP" || c.Summary != "Printer on fire" || c.Status != "Resolved" || len(c.Comments) != 3 {
		t.Errorf("create %s", jsonOf(t, c))
	}
}
