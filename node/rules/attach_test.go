package rules

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/replica"
)

var (
	dgA = strings.Repeat("a", 64)
	dgB = strings.Repeat("b", 64)
	dgC = strings.Repeat("c", 64)
)

func filesIssue() adapters.Issue {
	return adapters.Issue{Key: "LOCAL-5", Summary: "files", Attachments: []adapters.Attachment{
		{ID: "1", Filename: "a.log", ContentType: "text/plain", Size: 10, Digest: dgA, Author: "alice", Created: t0},
		{ID: "2", SyncID: testPeer + "/7", Filename: "b.bin", Size: 20, Digest: dgB, Author: "bob (partner)", Created: t0.Add(time.Minute)},
		{ID: "3", Filename: "unreadable", Size: 5}, // no digest: not offered
	}}
}

func mergedFiles() replica.Replica {
	return replica.Replica{Attachments: []replica.Attachment{
		{ID: testPeer + "/7", Filename: "b.bin", Size: 20, Digest: dgB, Author: "bob", Clock: clk(1)},                                       // the issue has it
		{ID: testPeer + "/8", Filename: "same bytes.log", Size: 10, Digest: dgA, Author: "bob", Clock: clk(2)},                              // the issue has its bytes
		{ID: testPeer + "/9", Filename: "new.png", ContentType: "image/png", Size: 30, Digest: dgC, Created: t0.UnixMilli(), Clock: clk(3)}, // new
	}}
}

// The default rules, in Go and in Starlark, share the files that have a
// digest, with their global IDs, and attach the received files the issue
// has neither by ID nor by bytes.
func TestDefaultFiles(t *testing.T) {
	def := mustCompile(t, "", "", testOptions())
	scr := mustCompile(t, DefaultOutgoingScript, DefaultIncomingScript, testOptions())
	want := []replica.Attachment{
		{ID: testSelf + "/1", Filename: "a.log", ContentType: "text/plain", Size: 10, Digest: dgA, Author: "alice", Created: t0.UnixMilli()},
		{ID: testPeer + "/7", Filename: "b.bin", Size: 20, Digest: dgB, Author: "bob (partner)", Created: t0.Add(time.Minute).UnixMilli()},
	}
	for name, s := range map[string]*Set{"go": def, "script": scr} {
		t.Run(name, func(t *testing.T) {
			out, _, err := s.Outgoing(filesIssue())
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(out.Attachments, want) {
				t.Errorf("outgoing files\n%s\nwant\n%s", jsonOf(t, out.Attachments), jsonOf(t, want))
			}

			m := mergedFiles()
			created := []adapters.Attachment{
				{SyncID: testPeer + "/7", Filename: "b.bin", Size: 20, Digest: dgB, Author: "bob (partner)"},
				{SyncID: testPeer + "/8", Filename: "same bytes.log", Size: 10, Digest: dgA, Author: "bob (partner)"},
				{SyncID: testPeer + "/9", Filename: "new.png", ContentType: "image/png", Size: 30, Digest: dgC, Author: "someone (partner)", Created: t0},
			}
			res, err := s.Incoming(Incoming{Replica: m, Changed: allChanges(m)})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(res.Attach, created) {
				t.Errorf("files attached on create\n%s\nwant\n%s", jsonOf(t, res.Attach), jsonOf(t, created))
			}
			cur := filesIssue()
			res, err = s.Incoming(Incoming{Replica: m, Changed: allChanges(m), Issue: &cur, Previous: &replica.Replica{}})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(res.Attach, created[2:]) {
				t.Errorf("files attached to an issue\n%s\nwant\n%s", jsonOf(t, res.Attach), jsonOf(t, created[2:]))
			}
			// Files the merge did not change are left alone.
			res, err = s.Incoming(Incoming{Replica: m, Changed: replica.Changes{Fields: []string{"summary"}}, Issue: &cur, Previous: &replica.Replica{}})
			if err != nil || len(res.Attach) != 0 {
				t.Errorf("files attached when none changed: %+v, %v", res.Attach, err)
			}
		})
	}
}

// Rule files choose files; values of the wrong kind are errors naming the
// rule and what was wrong.
func TestRuleFiles(t *testing.T) {
	s := mustCompile(t,
		"replica.attachments = [f for f in issue.attachments if f.size < 15 and f.digest]\n",
		"issue.attachments = issue.attachments + [f for f in replica.attachments if f.filename.endswith('.png')]\n",
		testOptions())
	out, _, err := s.Outgoing(filesIssue())
	if err != nil || len(out.Attachments) != 1 || out.Attachments[0].ID != testSelf+"/1" {
		t.Errorf("outgoing: %+v, %v", out.Attachments, err)
	}
	cur := filesIssue()
	res, err := s.Incoming(Incoming{Replica: mergedFiles(), Issue: &cur, Previous: &replica.Replica{}})
	if err != nil || len(res.Attach) != 1 || res.Attach[0].SyncID != testPeer+"/9" || !res.Patch.Empty() {
		t.Errorf("incoming: %+v, %v", res, err)
	}
	for _, tc := range []struct{ out, in, want string }{
		{"replica.attachments = ['x']\n", "", "replica.attachments[0] must be a file of issue.attachments, got string"},
		{"", "issue.attachments = [1]\n", "issue.attachments[0] must be a file of issue.attachments or replica.attachments, got int"},
		{"", "issue.attachments = merge_attachments(replica, issue)\n", "merge_attachments: the first argument must be the issue"},
	} {
		s := mustCompile(t, tc.out, tc.in, testOptions())
		var err error
		if tc.out != "" {
			_, _, err = s.Outgoing(filesIssue())
		} else {
			_, err = s.Incoming(Incoming{Replica: mergedFiles(), Issue: &cur, Previous: &replica.Replica{}})
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("error %v, want it to say %q", err, tc.want)
		}
	}
}
