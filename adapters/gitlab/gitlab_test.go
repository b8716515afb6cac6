package gitlab

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/adapters/gitlab/glfake"
)

func tctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return c
}

// drainAll reads the whole feed from the start.
func drainAll(t *testing.T, tr *Tracker) map[string]adapters.Issue {
	t.Helper()
	seen := map[string]adapters.Issue{}
	var cur adapters.Cursor
	for range 100 {
		is, next, err := tr.Changes(tctx(t), cur, 50)
		if err != nil {
			t.Fatal(err)
		}
		for _, i := range is {
			seen[i.Key] = i
		}
		if next == cur || len(is) == 0 {
			return seen
		}
		cur = next
	}
	return seen
}

// testConfidential: a confidential issue is in no change feed, no
// FindByTwin, no Get and no Update, unless ShareConfidential is set (open
// gives a tracker on the same project with it set or not).
func testConfidential(t *testing.T, open func(t *testing.T, share bool) *Tracker) {
	tr := open(t, false)
	c := tctx(t)
	twin := "twin-sec-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	pub, err := tr.Create(c, adapters.Issue{Summary: "public", TwinID: twin + "-pub"})
	if err != nil {
		t.Fatal(err)
	}
	sec, err := tr.Create(c, adapters.Issue{Summary: "security hole", TwinID: twin, Extra: map[string]string{"confidential": "true"}})
	if err != nil {
		t.Fatal(err)
	}
	seen := drainAll(t, tr)
	if _, ok := seen[pub.Key]; !ok {
		t.Errorf("the public issue %s is not in the feed", pub.Key)
	}
	if _, ok := seen[sec.Key]; ok {
		t.Errorf("the confidential issue %s left through the feed", sec.Key)
	}
	if _, err := tr.Get(c, sec.Key); !errors.Is(err, adapters.ErrNotFound) {
		t.Errorf("Get of the confidential issue: %v, want ErrNotFound", err)
	}
	if _, err := tr.FindByTwin(c, twin); !errors.Is(err, adapters.ErrNotFound) {
		t.Errorf("FindByTwin of the confidential issue: %v, want ErrNotFound", err)
	}
	if _, err := tr.Update(c, sec.Key, adapters.Patch{Summary: new("x")}); !errors.Is(err, adapters.ErrNotFound) {
		t.Errorf("Update of the confidential issue: %v, want ErrNotFound", err)
	}
	if _, err := tr.AddAttachment(c, sec.Key, adapters.Attachment{Filename: "x.txt"}, strings.NewReader("x")); !errors.Is(err, adapters.ErrNotFound) {
		t.Errorf("AddAttachment to the confidential issue: %v, want ErrNotFound", err)
	}

	shared := open(t, true)
	if is, ok := drainAll(t, shared)[sec.Key]; !ok || is.Extra["confidential"] != "true" {
		t.Errorf("with ShareConfidential the issue is %+v (present %v), want it marked confidential", is, ok)
	}
	if got, err := shared.FindByTwin(c, twin); err != nil || got.Key != sec.Key {
		t.Errorf("with ShareConfidential FindByTwin: %+v %v", got, err)
	}
}

// TestNotesAndFields: system notes are skipped, internal notes are
// Internal both ways, scoped labels are kept, priority is the
// priority:: label, and assignees, milestone, due date and weight round
// trip through Extra.
func TestNotesAndFields(t *testing.T) {
	f := glfake.New(t)
	tr := newOnFake(t, f, nil)
	c := tctx(t)
	in := adapters.Issue{Summary: "fields", Priority: "high", Labels: []string{"team::web", "bug"},
		Extra:    map[string]string{"assignees": "bob,alice", "milestone": "v1.0", "due_date": "2027-01-31", "weight": "3"},
		Comments: []adapters.Comment{{Body: "on-call only", Internal: true}, {Body: "public"}}}
	made, err := tr.Create(c, in)
	if err != nil {
		t.Fatal(err)
	}
	f.Mu.Lock()
	is := f.Issues[0]
	if !slices.Contains(is.Labels, "priority::high") || !slices.Contains(is.Labels, "team::web") {
		t.Errorf("labels on GitLab: %q", is.Labels)
	}
	if !is.Notes[0].Internal || is.Notes[1].Internal {
		t.Errorf("notes on GitLab: internal %v, %v; want true, false", is.Notes[0].Internal, is.Notes[1].Internal)
	}
	is.Notes = append(is.Notes, &glfake.Note{ID: 9, Body: "added ~bug label", System: true, CreatedAt: time.Now(), UpdatedAt: time.Now()})
	f.Mu.Unlock()
	got, err := tr.Get(c, made.Key)
	if err != nil {
		t.Fatal(err)
	}
	if got.Priority != "high" || !slices.Equal(got.Labels, []string{"bug", "team::web"}) {
		t.Errorf("priority %q labels %q", got.Priority, got.Labels)
	}
	if got.Extra["assignees"] != "alice,bob" || got.Assignee == nil || got.Assignee.Login != "alice" || got.Assignee.Name != "Alice Liddell" {
		t.Errorf("assignees %q, Assignee %+v: want alice,bob and alice first", got.Extra["assignees"], got.Assignee)
	}
	if got.Due != "2027-01-31" || got.Fields["milestone"].Text != "v1.0" || !got.Fields["weight"].Equal(adapters.FieldValue{Kind: adapters.KindNumber, Text: "3"}) {
		t.Errorf("due %q, fields %+v: want the due date, milestone v1.0 and weight 3 in the typed model", got.Due, got.Fields)
	}
	if got.Reporter == nil || got.Reporter.Login != "issuemesh-bot" || got.Type != "issue" {
		t.Errorf("reporter %+v type %q: want the token's user and issue", got.Reporter, got.Type)
	}
	if len(got.Comments) != 2 || !got.Comments[0].Internal || got.Comments[1].Internal {
		t.Errorf("comments (system note must be skipped): %+v", got.Comments)
	}
	up, err := tr.Update(c, made.Key, adapters.Patch{Extra: map[string]string{"due_date": "", "weight": "", "milestone": ""}})
	if err != nil {
		t.Fatal(err)
	}
	if up.Due != "" || len(up.Fields) != 0 {
		t.Errorf("after removing due date, weight and milestone: due %q fields %+v", up.Due, up.Fields)
	}
	// The typed model: set them again, then clear them, through the
	// replica's fields.
	up, err = tr.Update(c, made.Key, adapters.Patch{Due: new("2027-03-01"), Type: new("incident"),
		Fields: map[string]adapters.FieldValue{"milestone": {Text: "v1.0"}, "weight": {Kind: adapters.KindNumber, Text: "5"}, "Customer": {Text: "ACME"}}})
	if err != nil {
		t.Fatal(err)
	}
	if up.Due != "2027-03-01" || up.Type != "incident" || up.Fields["milestone"].Text != "v1.0" || up.Fields["weight"].Text != "5" || len(up.Fields) != 2 {
		t.Errorf("typed update: due %q type %q fields %+v (an unknown field is left out)", up.Due, up.Type, up.Fields)
	}
	up, err = tr.Update(c, made.Key, adapters.Patch{Due: new(""), Fields: map[string]adapters.FieldValue{"milestone": {}, "weight": {Kind: adapters.KindNumber}}})
	if err != nil || up.Due != "" || len(up.Fields) != 0 {
		t.Errorf("typed clear: %v, due %q fields %+v", err, up.Due, up.Fields)
	}
	// What GitLab cannot hold from a partner (Jira's "Bug" type, a
	// milestone the project lacks) is left out: it must not block the twin.
	if up, err := tr.Update(c, made.Key, adapters.Patch{Type: new("Bug"), Fields: map[string]adapters.FieldValue{"milestone": {Text: "Sprint 5"}}}); err != nil || up.Type != "incident" {
		t.Errorf("an unknown issue type and milestone: %v, type %q; want no error and the type kept", err, up.Type)
	}
	// A person GitLab does not know leaves the assignees as they are,
	// and the rules' note of the partner's value blocks nothing.
	up, err = tr.Update(c, made.Key, adapters.Patch{Assignee: &adapters.User{Login: "nobody"}, Extra: map[string]string{"assignee at partner": "Nobody <n@example.com>"}})
	if err != nil || up.Assignee == nil || up.Assignee.Login != "alice" {
		t.Errorf("an unknown assignee: %v, assignee %+v; want no error and alice kept", err, up.Assignee)
	}
	if _, err := tr.Update(c, made.Key, adapters.Patch{Extra: map[string]string{"assignees": "nobody"}}); !errors.Is(err, adapters.ErrRejected) {
		t.Errorf("an unknown assignee: %v, want ErrRejected", err)
	}
}

// TestRateLimited: a 429 with Retry-After is waited out by the client's
// retry (until the RateLimit-Reset GitLab sends with it), and the
// RateLimit-* headers reach the pacing transport.
func TestRateLimited(t *testing.T) {
	f := glfake.New(t)
	tr := newOnFake(t, f, nil)
	f.Mu.Lock()
	f.Throttle = 1
	f.Mu.Unlock()
	start := time.Now()
	if _, err := tr.Create(tctx(t), adapters.Issue{Summary: "after a 429"}); err != nil {
		t.Fatalf("create after one 429: %v", err)
	}
	if time.Since(start) < 900*time.Millisecond {
		t.Errorf("the 429's Retry-After of 1 s was not waited out (%v)", time.Since(start))
	}
	if rem, _ := tr.tr.RateLeft(); rem < 0 {
		t.Error("the transport did not read RateLimit-Remaining")
	}
}

// TestCheck: on the fake every finding is OK; a wrong token fails on the
// credentials, saying so.
func TestCheck(t *testing.T) {
	f := glfake.New(t)
	for _, r := range newOnFake(t, f, nil).Check(tctx(t)) {
		if !r.OK {
			t.Errorf("check %s failed: %s", r.Name, r.Detail)
		}
	}
	rs := newOnFake(t, f, func(o *Options) { o.Token = "wrong" }).Check(tctx(t))
	if len(rs) != 1 || rs[0].OK || !strings.Contains(rs[0].Detail, "refused the token") {
		t.Errorf("check with a wrong token: %+v", rs)
	}
}

// TestRequestCost measures the requests of a first sync of 250 issues
// (the feed read from the start, then Get of each) and of an unchanged
// poll, and holds them to the figures the README gives.
func TestRequestCost(t *testing.T) {
	f := glfake.New(t)
	tr := newOnFake(t, f, nil)
	f.Mu.Lock()
	for i := range 250 { // one a second, the last a minute ago
		now := time.Now().UTC().Truncate(time.Millisecond).Add(-time.Duration(310-i) * time.Second)
		f.Issues = append(f.Issues, &glfake.Issue{ID: int64(500 + i), IID: int64(i + 1), ProjectID: 1, Title: "seeded", State: "opened",
			Labels: []string{}, Assignees: []glfake.User{}, CreatedAt: now, UpdatedAt: now})
	}
	f.Requests = 0
	f.Mu.Unlock()
	count := func() int { f.Mu.Lock(); defer f.Mu.Unlock(); n := f.Requests; f.Requests = 0; return n }
	c := tctx(t)
	var cur adapters.Cursor
	var keys []string
	for range 100 {
		is, next, err := tr.Changes(c, cur, 1000)
		if err != nil {
			t.Fatal(err)
		}
		for _, i := range is {
			keys = append(keys, i.Key)
		}
		cur = next
		if len(is) < 1000 {
			break
		}
	}
	feedReqs := count()
	for _, k := range keys {
		if _, err := tr.Get(c, k); err != nil {
			t.Fatal(err)
		}
	}
	getReqs := count()
	time.Sleep(300 * time.Millisecond) // past the settle time
	tr.Changes(c, cur, 1000)
	count()
	if _, _, err := tr.Changes(c, cur, 1000); err != nil {
		t.Fatal(err)
	}
	idle := count()
	// Steady state: one issue changed on GitLab costs one poll and one
	// read; one change landing here (a status and a comment) costs the
	// update's reads and writes.
	f.Mu.Lock()
	f.Issue(7).Title, f.Issue(7).UpdatedAt = "changed", f.Now()
	f.Mu.Unlock()
	changed, _, err := tr.Changes(c, cur, 1000)
	if err != nil || len(changed) != 1 {
		t.Fatalf("after one change the feed gave %d issues (%v)", len(changed), err)
	}
	if _, err := tr.Get(c, changed[0].Key); err != nil {
		t.Fatal(err)
	}
	outgoing := count()
	if _, err := tr.Update(c, keys[0], adapters.Patch{Status: new("closed"), AddComments: []adapters.Comment{{SyncID: "peer/1", Author: "Ann", Body: "done"}}}); err != nil {
		t.Fatal(err)
	}
	incoming := count()
	t.Logf("first sync of %d issues: %d feed requests + %d for Get (issue, notes and links); an unchanged poll: %d; "+
		"one change on GitLab: %d (poll and read); one change landing on GitLab (status and comment): %d",
		len(keys), feedReqs, getReqs, idle, outgoing, incoming)
	if len(keys) != 250 || feedReqs > 8 || getReqs != 750 || idle != 1 || outgoing != 4 || incoming != 5 {
		t.Errorf("keys %d, feed %d (want ≤ 8), get %d (want 750: issue, notes, links), idle %d (want 1), outgoing %d (want 4), incoming %d (want 5)",
			len(keys), feedReqs, getReqs, idle, outgoing, incoming)
	}
}

// TestNoteDeleteIsAChange: deleting a note puts its issue in the change
// feed, without the note (so the engine can mark the comment deleted).
func TestNoteDeleteIsAChange(t *testing.T) {
	f := glfake.New(t)
	tr := newOnFake(t, f, nil)
	c := tctx(t)
	made, err := tr.Create(c, adapters.Issue{Summary: "notes", Comments: []adapters.Comment{{Body: "keep"}, {Body: "drop"}}})
	if err != nil {
		t.Fatal(err)
	}
	_, cur, err := tr.Changes(c, "", 100)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // past the settle time
	_, cur, _ = tr.Changes(c, cur, 100)
	if _, err := tr.Update(c, made.Key, adapters.Patch{DeleteComments: []string{made.Comments[1].ID}}); err != nil {
		t.Fatal(err)
	}
	is, _, err := tr.Changes(c, cur, 100)
	if err != nil || len(is) != 1 || is[0].Key != made.Key {
		t.Fatalf("after deleting a note the feed gave %+v (%v), want the issue", is, err)
	}
	got, err := tr.Get(c, made.Key)
	if err != nil || len(got.Comments) != 1 || got.Comments[0].Body != "keep" {
		t.Errorf("after the delete: %+v %v", got.Comments, err)
	}
}
