// Package contract is the behaviour that every adapters.Tracker shows,
// written as a test suite: Run it from an adapter's tests with a function
// that opens a fresh, empty tracker (a new local database, a new Redmine
// project, a new RT queue). The suite covers create, read, update, comments
// (add, edit, the round trip of a synced comment's ID and author, and a
// retransmitted add), attachments (for trackers that implement
// adapters.Attachments: add, read back, no second copy by sync ID or
// digest), the change feed (closed issues included, two changes
// within one second, a change in the very second of the cursor, no endless
// repeats), FindByTwin, the errors for an unknown key and an unknown
// status, rate limits (waited out, or reported with the reset time) and
// webhook deliveries (one ring per delivery, forgeries refused).
package contract

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/issuemesh/issuemesh/adapters"
)

// Profile describes what a tracker accepts, so that the suite can use
// valid values.
type Profile struct {
	// OpenStatus is an open status other than the default of a new issue,
	// ClosedStatus a closed one.
	OpenStatus, ClosedStatus string
	// Priorities are two valid priorities, neither the default.
	Priorities [2]string
	// Labels: the tracker keeps labels.
	Labels bool
	// RejectsUnknownStatus: an unknown status is an error wrapping
	// adapters.ErrRejected (the local tracker takes any status).
	RejectsUnknownStatus bool
	// MissingKey is a well-formed key of an issue that does not exist.
	MissingKey string
	// Settle is how long after a change the tracker's feed may still
	// return it again (0 for an exact feed).
	Settle time.Duration
	// Fields are the values of the fields of issue 16 (fields.go).
	Fields FieldsProfile
	// Throttle, when set, makes the tracker behind tr answer its next n
	// requests "too many requests" (a fake's rate limit; ratelimit.go);
	// nil: the suite has no rate-limit test for this tracker.
	Throttle func(tr adapters.Tracker, n int)
	// Limit, when set, is the rate limit of a tracker that reports it
	// rather than waiting it out inside the call (GitHub: its client
	// remembers the limit until the reset): it puts the tracker behind tr
	// over its limit until the reset time it returns, a few seconds
	// ahead (ratelimit.go).
	Limit func(tr adapters.Tracker) (reset time.Time)
	// Webhook, when set, opens a tracker with its webhook listener
	// running and says how to change an issue in the tracker and send
	// its deliveries (webhook.go); nil: no webhook test.
	Webhook func(t *testing.T) Webhook
}

// Local is the profile of the embedded local tracker.
var Local = Profile{
	OpenStatus: "In Progress", ClosedStatus: "Resolved", Priorities: [2]string{"Low", "High"},
	Labels: true, MissingKey: "LOCAL-999999",
}

// Run runs the suite; newTracker opens a fresh, empty tracker for each test
// and arranges its closing (t.Cleanup).
func Run(t *testing.T, newTracker func(t *testing.T) adapters.Tracker, p Profile) {
	t.Run("CreateGet", func(t *testing.T) { testCreateGet(t, newTracker(t), p) })
	t.Run("Update", func(t *testing.T) { testUpdate(t, newTracker(t), p) })
	t.Run("Comments", func(t *testing.T) { testComments(t, newTracker(t), p) })
	t.Run("Changes", func(t *testing.T) { testChanges(t, newTracker(t), p) })
	t.Run("SameSecond", func(t *testing.T) { testSameSecond(t, newTracker(t), p) })
	t.Run("FindByTwin", func(t *testing.T) { testFindByTwin(t, newTracker(t), p) })
	t.Run("Errors", func(t *testing.T) { testErrors(t, newTracker(t), p) })
	t.Run("Attachments", func(t *testing.T) { testAttachments(t, newTracker(t), p) })
	t.Run("Fields", func(t *testing.T) { testFields(t, newTracker, p) })
	if p.Throttle != nil {
		t.Run("RateLimit", func(t *testing.T) { testRateLimit(t, newTracker(t), p) })
	}
	if p.Limit != nil {
		t.Run("RateLimitReported", func(t *testing.T) { testRateLimitReported(t, newTracker(t), p) })
	}
	if p.Webhook != nil {
		t.Run("WebhookDedup", func(t *testing.T) { testWebhookDedup(t, p) })
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return c
}

func ptr[T any](v T) *T { return &v }

func must[T any](t *testing.T, what string) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return v
	}
}

func sorted(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	if c == nil {
		c = []string{}
	}
	return c
}

func testCreateGet(t *testing.T, tr adapters.Tracker, p Profile) {
	c := ctx(t)
	desc := "First line\nsecond line with <b>markup</b> & \"quotes\" -- and ünïcödé\n\n* a list item"
	in := adapters.Issue{Summary: "Login page returns 500 ✓", Description: desc, Priority: p.Priorities[1], TwinID: "contract-twin-create"}
	if p.Labels {
		in.Labels = []string{"web", "bug"}
	}
	made := must[adapters.Issue](t, "create")(tr.Create(c, in))
	if made.Key == "" {
		t.Fatal("create returned no key")
	}
	got := must[adapters.Issue](t, "get")(tr.Get(c, made.Key))
	for _, is := range []adapters.Issue{made, got} {
		if is.Key != made.Key || is.Summary != in.Summary || is.Description != desc || is.Priority != in.Priority || is.TwinID != in.TwinID {
			t.Errorf("issue differs from what was created:\n got %+v\nwant %+v", is, in)
		}
		if is.Status == "" {
			t.Errorf("a new issue has no status: %+v", is)
		}
		if p.Labels && !slices.Equal(sorted(is.Labels), []string{"bug", "web"}) {
			t.Errorf("labels %q, want [bug web]", is.Labels)
		}
		if is.Created.IsZero() || is.Updated.IsZero() {
			t.Errorf("created %v, updated %v: want both set", is.Created, is.Updated)
		}
	}
	// A new issue may be created closed.
	closed := must[adapters.Issue](t, "create closed")(tr.Create(c, adapters.Issue{Summary: "born closed", Status: p.ClosedStatus}))
	if got := must[adapters.Issue](t, "get closed")(tr.Get(c, closed.Key)); got.Status != p.ClosedStatus {
		t.Errorf("created with status %q, got %q", p.ClosedStatus, got.Status)
	}
}

func testUpdate(t *testing.T, tr adapters.Tracker, p Profile) {
	c := ctx(t)
	is := must[adapters.Issue](t, "create")(tr.Create(c, adapters.Issue{Summary: "before", Description: "old text"}))
	patch := adapters.Patch{
		Summary: ptr("after"), Description: ptr("new text\nline two"),
		Status: ptr(p.OpenStatus), Priority: ptr(p.Priorities[0]),
	}
	if p.Labels {
		patch.Labels = &[]string{"x", "y"}
	}
	up := must[adapters.Issue](t, "update")(tr.Update(c, is.Key, patch))
	got := must[adapters.Issue](t, "get")(tr.Get(c, is.Key))
	for _, g := range []adapters.Issue{up, got} {
		if g.Summary != "after" || g.Description != "new text\nline two" || g.Status != p.OpenStatus || g.Priority != p.Priorities[0] {
			t.Errorf("after update: %+v", g)
		}
		if p.Labels && !slices.Equal(sorted(g.Labels), []string{"x", "y"}) {
			t.Errorf("labels after update: %q", g.Labels)
		}
	}
	// Only what the patch names changes.
	got = must[adapters.Issue](t, "update status")(tr.Update(c, is.Key, adapters.Patch{Status: ptr(p.ClosedStatus)}))
	if got.Status != p.ClosedStatus || got.Summary != "after" || got.Description != "new text\nline two" || got.Priority != p.Priorities[0] {
		t.Errorf("after a status-only update: %+v", got)
	}
	if p.Labels {
		got = must[adapters.Issue](t, "clear labels")(tr.Update(c, is.Key, adapters.Patch{Labels: &[]string{}}))
		if len(got.Labels) != 0 {
			t.Errorf("labels after clearing: %q", got.Labels)
		}
	}
	// A patch that changes nothing in effect leaves the issue as it is.
	same := must[adapters.Issue](t, "no-op update")(tr.Update(c, is.Key, adapters.Patch{Summary: ptr("after"), Status: ptr(p.ClosedStatus)}))
	if same.Summary != "after" || same.Status != p.ClosedStatus {
		t.Errorf("after a no-op update: %+v", same)
	}
}

func testComments(t *testing.T, tr adapters.Tracker, p Profile) {
	c := ctx(t)
	in := adapters.Issue{Summary: "with comments", Comments: []adapters.Comment{
		{SyncID: "peerA/1", Author: "Alice (partner)", Body: "Seen in the EU region only.\n\nSteps: **log in**, <click> & wait -- then 500"},
		{Body: "our on-call notes", Internal: true},
	}}
	made := must[adapters.Issue](t, "create with comments")(tr.Create(c, in))
	got := must[adapters.Issue](t, "get")(tr.Get(c, made.Key))
	if len(got.Comments) != 2 {
		t.Fatalf("want 2 comments, got %+v", got.Comments)
	}
	c0, c1 := got.Comments[0], got.Comments[1]
	if c0.SyncID != "peerA/1" || c0.Author != "Alice (partner)" || c0.Body != in.Comments[0].Body || c0.Internal {
		t.Errorf("synced comment did not round-trip:\n got %+v\nwant %+v", c0, in.Comments[0])
	}
	if c1.SyncID != "" || c1.Body != "our on-call notes" || !c1.Internal {
		t.Errorf("internal comment: %+v", c1)
	}
	if c0.ID == "" || c1.ID == "" || c0.ID == c1.ID {
		t.Errorf("comment IDs %q and %q: want distinct, non-empty", c0.ID, c1.ID)
	}

	// Add two more, one synced; then the same synced one again (a
	// retransmission): no duplicate.
	up := must[adapters.Issue](t, "add comments")(tr.Update(c, made.Key, adapters.Patch{AddComments: []adapters.Comment{
		{Body: "plain reply"},
		{SyncID: "peerB/7", Author: "Bob (other)", Body: "from Bob"},
	}}))
	if len(up.Comments) != 4 {
		t.Fatalf("want 4 comments after adding two, got %+v", up.Comments)
	}
	up = must[adapters.Issue](t, "add again")(tr.Update(c, made.Key, adapters.Patch{AddComments: []adapters.Comment{
		{SyncID: "peerB/7", Author: "Bob (other)", Body: "from Bob"},
	}}))
	if len(up.Comments) != 4 {
		t.Fatalf("a retransmitted comment was added twice: %+v", up.Comments)
	}

	// Edit the synced comment by ID: body replaced, ID, author and SyncID kept.
	edited := "Seen in the EU region only (edited)."
	up = must[adapters.Issue](t, "edit comment")(tr.Update(c, made.Key, adapters.Patch{EditComments: []adapters.Comment{{ID: c0.ID, Body: edited}}}))
	got = must[adapters.Issue](t, "get after edit")(tr.Get(c, made.Key))
	for _, is := range []adapters.Issue{up, got} {
		var found bool
		for _, cm := range is.Comments {
			if cm.ID == c0.ID {
				found = true
				if cm.Body != edited || cm.SyncID != "peerA/1" || cm.Author != "Alice (partner)" {
					t.Errorf("edited comment: %+v", cm)
				}
			}
			if strings.Contains(cm.Body, "issuemesh:") {
				t.Errorf("a marker leaked into a comment body: %q", cm.Body)
			}
		}
		if !found || len(is.Comments) != 4 {
			t.Errorf("after the edit: %d comments, edited one found: %v: %+v", len(is.Comments), found, is.Comments)
		}
	}
	// A retransmitted add of an edited synced comment edits it.
	up = must[adapters.Issue](t, "add as edit")(tr.Update(c, made.Key, adapters.Patch{AddComments: []adapters.Comment{
		{SyncID: "peerB/7", Author: "Bob (other)", Body: "from Bob, corrected"},
	}}))
	n := 0
	for _, cm := range up.Comments {
		if cm.SyncID == "peerB/7" {
			n++
			if cm.Body != "from Bob, corrected" {
				t.Errorf("re-added synced comment: %+v", cm)
			}
		}
	}
	if n != 1 || len(up.Comments) != 4 {
		t.Errorf("after re-adding a synced comment with a new body: %d with its sync ID, %d in all", n, len(up.Comments))
	}
}

// drain reads the feed from since until it returns nothing new, waiting out
// the settle time, and returns every issue seen (latest state per key) and
// the final cursor.
func drain(t *testing.T, c context.Context, tr adapters.Tracker, since adapters.Cursor) (map[string]adapters.Issue, adapters.Cursor) {
	t.Helper()
	seen := map[string]adapters.Issue{}
	cur := since
	for range 1000 {
		is, next := mustFeed(t)(feed(c, tr, cur, 50))
		for _, i := range is {
			seen[i.Key] = i
		}
		if len(is) < 50 {
			return seen, next
		}
		cur = next
	}
	t.Fatal("the change feed never ends")
	return nil, ""
}

func mustFeed(t *testing.T) func([]adapters.Issue, adapters.Cursor, error) ([]adapters.Issue, adapters.Cursor) {
	return func(is []adapters.Issue, next adapters.Cursor, err error) ([]adapters.Issue, adapters.Cursor) {
		t.Helper()
		if err != nil {
			t.Fatalf("changes: %v", err)
		}
		return is, next
	}
}

// feed is one Changes call returning the next cursor as the second value.
func feed(c context.Context, tr adapters.Tracker, since adapters.Cursor, limit int) ([]adapters.Issue, adapters.Cursor, error) {
	is, next, err := tr.Changes(c, since, limit)
	if err != nil {
		return nil, since, err
	}
	if next == "" && len(is) > 0 {
		return nil, since, fmt.Errorf("changes returned %d issues and an empty cursor", len(is))
	}
	return is, next, nil
}

func testChanges(t *testing.T, tr adapters.Tracker, p Profile) {
	c := ctx(t)
	all, cur := drain(t, c, tr, "")
	if len(all) != 0 {
		t.Fatalf("a fresh tracker reports changes: %v", all)
	}
	a := must[adapters.Issue](t, "create a")(tr.Create(c, adapters.Issue{Summary: "feed a"}))
	b := must[adapters.Issue](t, "create b")(tr.Create(c, adapters.Issue{Summary: "feed b"}))
	seen, cur2 := drain(t, c, tr, cur)
	if _, ok := seen[a.Key]; !ok {
		t.Errorf("created issue %s is not in the feed: %v", a.Key, seen)
	}
	if _, ok := seen[b.Key]; !ok {
		t.Errorf("created issue %s is not in the feed: %v", b.Key, seen)
	}
	// Pages: a limit of 1 still returns everything, one at a time, in order.
	var keys []string
	pc := cur
	for range 20 {
		is, next := mustFeed(t)(feed(c, tr, pc, 1))
		if len(is) > 1 {
			t.Fatalf("limit 1 returned %d issues", len(is))
		}
		if len(is) == 0 {
			break
		}
		if !slices.Contains(keys, is[0].Key) {
			keys = append(keys, is[0].Key)
		}
		pc = next
	}
	if !slices.Equal(keys, []string{a.Key, b.Key}) {
		t.Errorf("paging with limit 1 gave %v, want [%s %s]", keys, a.Key, b.Key)
	}

	// A closed issue is a change like any other.
	must[adapters.Issue](t, "close a")(tr.Update(c, a.Key, adapters.Patch{Status: ptr(p.ClosedStatus)}))
	must[adapters.Issue](t, "comment b")(tr.Update(c, b.Key, adapters.Patch{AddComments: []adapters.Comment{{Body: "a comment is a change"}}}))
	seen, cur3 := drain(t, c, tr, cur2)
	if is, ok := seen[a.Key]; !ok || is.Status != p.ClosedStatus {
		t.Errorf("closing %s: feed gave %+v (present %v)", a.Key, is, ok)
	}
	if _, ok := seen[b.Key]; !ok {
		t.Errorf("commenting on %s is not in the feed", b.Key)
	}
	// Once the changes are settled, the feed stops repeating them.
	time.Sleep(p.Settle + time.Second)
	_, cur4 := drain(t, c, tr, cur3)
	if again, _ := drain(t, c, tr, cur4); len(again) != 0 {
		t.Errorf("settled changes are reported again and again: %v", keysOf(again))
	}
}

func keysOf(m map[string]adapters.Issue) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// testSameSecond: the one-second window of trackers whose update stamps
// have one-second resolution. (1) An issue changed twice within one second,
// the feed read between the two changes: the second change is reported.
// (2) Another issue changed in the very second of the cursor, after the
// cursor was taken: reported. Exact feeds pass trivially.
func testSameSecond(t *testing.T, tr adapters.Tracker, p Profile) {
	c := ctx(t)
	a := must[adapters.Issue](t, "create a")(tr.Create(c, adapters.Issue{Summary: "a0"}))
	b := must[adapters.Issue](t, "create b")(tr.Create(c, adapters.Issue{Summary: "b0"}))
	_, cur := drain(t, c, tr, "")
	hit := false
	for attempt := 1; attempt <= 8 && !hit; attempt++ {
		// Start just after a second begins, so that all three writes and
		// the read likely share it.
		time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second + 20*time.Millisecond)))
		s1 := fmt.Sprintf("a%d-first", attempt)
		u1 := must[adapters.Issue](t, "update a")(tr.Update(c, a.Key, adapters.Patch{Summary: &s1}))
		seen, mid := drain(t, c, tr, cur)
		if seen[a.Key].Summary != s1 {
			t.Fatalf("the feed does not report %s's change to %q: %+v", a.Key, s1, seen[a.Key])
		}
		s2, sb := fmt.Sprintf("a%d-second", attempt), fmt.Sprintf("b%d", attempt)
		u2 := must[adapters.Issue](t, "update a again")(tr.Update(c, a.Key, adapters.Patch{Summary: &s2}))
		ub := must[adapters.Issue](t, "update b")(tr.Update(c, b.Key, adapters.Patch{Summary: &sb}))
		seen, end := drain(t, c, tr, mid)
		if seen[a.Key].Summary != s2 {
			t.Errorf("attempt %d: %s changed twice (stamps %v, %v); the feed after the first change does not report the second: %+v",
				attempt, a.Key, u1.Updated, u2.Updated, seen[a.Key])
		}
		if seen[b.Key].Summary != sb {
			t.Errorf("attempt %d: %s changed at %v, in the cursor's second; the feed does not report it: %+v", attempt, b.Key, ub.Updated, seen[b.Key])
		}
		hit = u1.Updated.Unix() == u2.Updated.Unix() && u2.Updated.Unix() == ub.Updated.Unix()
		cur = end
		if t.Failed() {
			return
		}
	}
	if !hit {
		t.Log("note: the changes never fell within one second (slow tracker); the edge was not exercised")
	}
}

func testFindByTwin(t *testing.T, tr adapters.Tracker, p Profile) {
	c := ctx(t)
	x := must[adapters.Issue](t, "create x")(tr.Create(c, adapters.Issue{Summary: "twin x", TwinID: "0123abcd"}))
	must[adapters.Issue](t, "create x1")(tr.Create(c, adapters.Issue{Summary: "twin x1", TwinID: "0123abcd1"}))
	y := must[adapters.Issue](t, "create y")(tr.Create(c, adapters.Issue{Summary: "no twin yet", Status: p.ClosedStatus}))
	got := must[adapters.Issue](t, "find x")(tr.FindByTwin(c, "0123abcd"))
	if got.Key != x.Key || got.TwinID != "0123abcd" {
		t.Errorf("FindByTwin(0123abcd) = %s %q, want %s", got.Key, got.TwinID, x.Key)
	}
	if _, err := tr.FindByTwin(c, "0123abc"); !errors.Is(err, adapters.ErrNotFound) {
		t.Errorf("FindByTwin of a prefix of a marker: %v, want ErrNotFound", err)
	}
	must[adapters.Issue](t, "set y's twin")(tr.Update(c, y.Key, adapters.Patch{TwinID: ptr("feedbeef")}))
	got = must[adapters.Issue](t, "find y")(tr.FindByTwin(c, "feedbeef"))
	if got.Key != y.Key || got.Status != p.ClosedStatus {
		t.Errorf("FindByTwin of a closed issue marked by update: %+v", got)
	}
	if _, err := tr.FindByTwin(c, "nosuchtwin"); !errors.Is(err, adapters.ErrNotFound) {
		t.Errorf("FindByTwin(unknown): %v, want ErrNotFound", err)
	}
}

func testErrors(t *testing.T, tr adapters.Tracker, p Profile) {
	c := ctx(t)
	if _, err := tr.Get(c, p.MissingKey); !errors.Is(err, adapters.ErrNotFound) {
		t.Errorf("Get(%s): %v, want ErrNotFound", p.MissingKey, err)
	}
	if _, err := tr.Update(c, p.MissingKey, adapters.Patch{Summary: ptr("x")}); !errors.Is(err, adapters.ErrNotFound) {
		t.Errorf("Update(%s): %v, want ErrNotFound", p.MissingKey, err)
	}
	if _, err := tr.Get(c, "not a key"); !errors.Is(err, adapters.ErrNotFound) {
		t.Errorf("Get(malformed key): %v, want ErrNotFound", err)
	}
	if _, err := tr.Create(c, adapters.Issue{Summary: "  "}); !errors.Is(err, adapters.ErrRejected) {
		t.Errorf("Create with a blank summary: %v, want ErrRejected", err)
	}
	if !p.RejectsUnknownStatus {
		return
	}
	is := must[adapters.Issue](t, "create")(tr.Create(c, adapters.Issue{Summary: "status errors"}))
	_, err := tr.Update(c, is.Key, adapters.Patch{Status: ptr("Bogus Status")})
	if !errors.Is(err, adapters.ErrRejected) || !strings.Contains(err.Error(), "Bogus Status") || !strings.Contains(err.Error(), p.ClosedStatus) {
		t.Errorf("update to an unknown status: %v; want ErrRejected naming the value and the valid ones", err)
	}
	if _, err := tr.Create(c, adapters.Issue{Summary: "bad status", Status: "Bogus Status"}); !errors.Is(err, adapters.ErrRejected) {
		t.Errorf("create with an unknown status: %v, want ErrRejected", err)
	}
	if _, err := tr.Update(c, is.Key, adapters.Patch{Priority: ptr("Bogus Priority")}); !errors.Is(err, adapters.ErrRejected) || !strings.Contains(err.Error(), "Bogus Priority") {
		t.Errorf("update to an unknown priority: %v, want ErrRejected naming it", err)
	}
	if got := must[adapters.Issue](t, "get")(tr.Get(c, is.Key)); got.Status == "Bogus Status" || got.Priority == "Bogus Priority" {
		t.Errorf("a rejected value was stored: %+v", got)
	}
}
