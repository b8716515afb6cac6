package jira

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/adapters/jira/jirafake"
)

func tctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return c
}

func ptr[T any](v T) *T { return &v }

// syncWriter serialises writes to w (a log handler may write from several
// goroutines).
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(b)
}

// TestTransitionPaths: a status one, two or three transitions away is
// reached; a status no transition leads to is a clear ErrRejected.
func TestTransitionPaths(t *testing.T) {
	for _, cloud := range []bool{true, false} {
		f := jirafake.New(t)
		tr := newOnFake(t, f, cloud, nil)
		c := tctx(t)
		is, err := tr.Create(c, adapters.Issue{Summary: "walk"})
		if err != nil {
			t.Fatal(err)
		}
		// To Do -> Done is two transitions (Start work, Finish); the
		// others are known paths once the first walk has seen them.
		for _, step := range []struct {
			to    string
			moves int
		}{{"Done", 2}, {"In Review", 3}, {"To Do", 2}, {"In Review", 2}} {
			f.Mu.Lock()
			before := f.Count("POST", "/issue/"+is.Key+"/transitions")
			f.Mu.Unlock()
			got, err := tr.Update(c, is.Key, adapters.Patch{Status: ptr(step.to)})
			if err != nil || got.Status != step.to {
				t.Fatalf("to %q: status %q, err %v", step.to, got.Status, err)
			}
			f.Mu.Lock()
			moves := f.Count("POST", "/issue/"+is.Key+"/transitions") - before
			f.Mu.Unlock()
			if moves != step.moves {
				t.Errorf("cloud %v: to %q took %d transitions, want %d", cloud, step.to, moves, step.moves)
			}
		}
		_, err = tr.Update(c, is.Key, adapters.Patch{Status: ptr("Archived")})
		if !errors.Is(err, adapters.ErrRejected) || !strings.Contains(err.Error(), `"Archived"`) || !strings.Contains(err.Error(), "no workflow transition") {
			t.Errorf("to Archived (no transition leads there): %v", err)
		}
	}
}

// TestTimeZone: JQL dates are read in the user's zone; a cursor written
// as UTC would ask for the future on a user west of Greenwich.
func TestTimeZone(t *testing.T) {
	for _, zone := range []string{"America/New_York", "Asia/Kolkata"} {
		f := jirafake.New(t)
		f.TZ, _ = time.LoadLocation(zone)
		tr := newOnFake(t, f, true, nil)
		c := tctx(t)
		a, _ := tr.Create(c, adapters.Issue{Summary: "a"})
		_, cur, err := tr.Changes(c, "", 50)
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(1100 * time.Millisecond) // past the settle time, so the cursor moves on
		_, cur, _ = tr.Changes(c, cur, 50)
		if _, err := tr.Update(c, a.Key, adapters.Patch{Summary: ptr("a2")}); err != nil {
			t.Fatal(err)
		}
		is, _, err := tr.Changes(c, cur, 50)
		if err != nil || len(is) != 1 || is[0].Summary != "a2" {
			t.Errorf("%s: changes after an update: %+v, %v", zone, is, err)
		}
	}
}

// TestReconcile: an issue the search did not show while the cursor moved
// past its stamp is returned by the reconciliation pass.
func TestReconcile(t *testing.T) {
	for _, recon := range []time.Duration{-1, time.Millisecond} {
		f := jirafake.New(t)
		tr := newOnFake(t, f, true, func(o *Options) { o.Reconcile = recon })
		c := tctx(t)
		b, _ := tr.Create(c, adapters.Issue{Summary: "late"})
		f.Mu.Lock()
		f.Hidden[b.Key] = true
		f.Mu.Unlock()
		time.Sleep(1100 * time.Millisecond) // b's stamp is a second before a's
		a, _ := tr.Create(c, adapters.Issue{Summary: "seen"})
		is, cur, err := tr.Changes(c, "", 50)
		if err != nil || len(is) != 1 || is[0].Key != a.Key {
			t.Fatalf("first changes: %+v %v", is, err)
		}
		time.Sleep(1100 * time.Millisecond)
		_, cur, _ = tr.Changes(c, cur, 50) // settles past b's stamp
		f.Mu.Lock()
		delete(f.Hidden, b.Key)
		f.Mu.Unlock()
		time.Sleep(2 * time.Millisecond)
		is, _, err = tr.Changes(c, cur, 50)
		got := len(is) == 1 && is[0].Key == b.Key
		if err != nil || got != (recon > 0) {
			t.Errorf("reconcile every %v: after the late issue showed up, changes gave %+v (%v)", recon, is, err)
		}
	}
}

// TestRateLimits: 429 with Retry-After is waited out; the headers are
// recorded; the request budget paces requests.
func TestRateLimits(t *testing.T) {
	f := jirafake.New(t)
	tr := newOnFake(t, f, true, nil)
	c := tctx(t)
	is, err := tr.Create(c, adapters.Issue{Summary: "x"})
	if err != nil {
		t.Fatal(err)
	}
	f.Mu.Lock()
	f.Throttle = 2
	f.Mu.Unlock()
	start := time.Now()
	if _, err := tr.Get(c, is.Key); err != nil {
		t.Fatalf("get through two 429s: %v", err)
	}
	if d := time.Since(start); d < 2*time.Second {
		t.Errorf("two Retry-After: 1 waited %v in all", d)
	}
	rl := tr.RateLimit()
	if !rl.Seen || rl.Throttled != 2 || rl.Limit != 1000 || rl.Remaining <= 0 || rl.Reason != "jira-quota-tenant-based" {
		t.Errorf("rate limit as recorded: %+v", rl)
	}

	slow := newOnFake(t, f, true, func(o *Options) { o.RequestsPerMinute = 60 })
	start = time.Now()
	for range 3 {
		if _, err := slow.myself(c); err != nil {
			t.Fatal(err)
		}
	}
	if d := time.Since(start); d < 1900*time.Millisecond {
		t.Errorf("3 requests on a budget of 60 a minute took %v, want about 2s", d)
	}
}

// TestAuth: Cloud sends email:token as Basic, Data Center the PAT as Bearer;
// refused credentials are a permanent credentials error.
func TestAuth(t *testing.T) {
	f := jirafake.New(t)
	f.Auth = "Basic " + base64.StdEncoding.EncodeToString([]byte("mia@example.com:api-token"))
	if _, err := newOnFake(t, f, true, nil).myself(tctx(t)); err != nil {
		t.Errorf("cloud: %v", err)
	}
	f.Auth = "Bearer pat-token"
	if _, err := newOnFake(t, f, false, nil).myself(tctx(t)); err != nil {
		t.Errorf("data center: %v", err)
	}
	_, err := newOnFake(t, f, true, nil).myself(tctx(t))
	if cl, _ := adapters.Classify(err); cl != adapters.ClassCredentials {
		t.Errorf("wrong credentials: class %q, err %v", cl, err)
	}
}

// TestInternalRole: with InternalRole an internal comment is restricted to
// that role as well as marked for Service Management.
func TestInternalRole(t *testing.T) {
	f := jirafake.New(t)
	tr := newOnFake(t, f, true, func(o *Options) { o.InternalRole = "Developers" })
	is, err := tr.Create(tctx(t), adapters.Issue{Summary: "x", Comments: []adapters.Comment{{Body: "secret", Internal: true}, {Body: "public"}}})
	if err != nil {
		t.Fatal(err)
	}
	f.Mu.Lock()
	cs := f.Issues[is.Key].Comments
	f.Mu.Unlock()
	if cs[0].Visibility["value"] != "Developers" || cs[1].Visibility != nil {
		t.Errorf("visibility: %v, %v", cs[0].Visibility, cs[1].Visibility)
	}
	if !is.Comments[0].Internal || is.Comments[1].Internal {
		t.Errorf("internal flags read back: %+v", is.Comments)
	}
}

// TestADFRoundTrip: what both sides hold survives text -> ADF -> text
// and text -> wiki markup -> text.
func TestADFRoundTrip(t *testing.T) {
	for _, s := range []string{
		"",
		"one line",
		"First line\nsecond line with <b>markup</b> & \"quotes\" -- and ünïcödé\n\n* a list item",
		"# Title\n\nSome **bold** and `code` here.\n\n1. first\n2. second\n\n- dash\n- items read back as stars",
		"```go\nfunc main() {\n\n}\n```\n\nafter",
		"unclosed **bold and `tick",
		"2*3*4 and {braces} and a*b",
		"Steps: **log in**, <click> & wait -- then 500",
	} {
		want := strings.ReplaceAll(s, "\n- ", "\n* ")
		want = strings.Replace(want, "- dash", "* dash", 1)
		if got := fromADF(toADF(s)); got != want {
			t.Errorf("ADF round trip of %q gave %q", s, got)
		}
		if got := fromWiki(toWiki(s)); got != want {
			t.Errorf("wiki round trip of %q gave %q (wiki %q)", s, got, toWiki(s))
		}
	}
}

// TestADFFromDocs reads an ADF body taken from Atlassian's documentation.
func TestADFFromDocs(t *testing.T) {
	// From https://developer.atlassian.com/cloud/jira/platform/apis/document/structure/
	// (the example document) and the node pages linked from it (mention, emoji, link mark).
	const doc = `{"version":1,"type":"doc","content":[
	 {"type":"paragraph","content":[{"type":"text","text":"Hello "},{"type":"text","text":"world","marks":[{"type":"strong"}]}]},
	 {"type":"paragraph","content":[{"type":"mention","attrs":{"id":"ABCDE-ABCDE-ABCDE-ABCDE","text":"@Bradley Ayers","userType":"APP"}},
	   {"type":"text","text":" see "},{"type":"text","text":"Atlassian","marks":[{"type":"link","attrs":{"href":"http://atlassian.com"}}]},
	   {"type":"text","text":" "},{"type":"emoji","attrs":{"shortName":":grinning:","text":"😀"}}]},
	 {"type":"blockquote","content":[{"type":"paragraph","content":[{"type":"text","text":"Hello world"}]}]},
	 {"type":"panel","attrs":{"panelType":"info"},"content":[{"type":"paragraph","content":[{"type":"text","text":"Hello world","marks":[{"type":"em"}]}]}]}
	]}`
	var d adfNode
	if err := json.Unmarshal([]byte(doc), &d); err != nil {
		t.Fatal(err)
	}
	want := "Hello **world**\n\n@Bradley Ayers see Atlassian (http://atlassian.com) 😀\n\nHello world\n\n_Hello world_"
	if got := fromADF(&d); got != want {
		t.Errorf("got %q\nwant %q", got, want)
	}
}

// TestCheck: tracker check reports each finding; a missing permission is
// named.
func TestCheck(t *testing.T) {
	f := jirafake.New(t)
	tr := newOnFake(t, f, true, nil)
	if _, err := tr.Create(tctx(t), adapters.Issue{Summary: "x"}); err != nil {
		t.Fatal(err)
	}
	byName := func() map[string]string {
		m := map[string]string{}
		for _, r := range tr.Check(tctx(t)) {
			m[r.Name] = fmt.Sprintf("%v %s", r.OK, r.Detail)
		}
		return m
	}
	got := byName()
	for name, want := range map[string]string{
		"credentials": "true", "project": "true PROJ", "issue types": "true Task, Bug, Story, Epic, Sub-task", "permissions": "true",
		"statuses": "true Task issues: To Do, In Progress, In Review, Done, Archived", "priorities": "true Highest",
		"transitions": `true from "To Do" (PROJ-1): Start work -> In Progress`, "change feed": "true", "rate limit": "true",
		"fields":     "true synced by name: Components (options), Fix versions (options), Affects versions (options), Customer (text), Tier (option), Effort (number), Shipped (date), Platforms (options), Reviewer (user), Notes (text);",
		"not synced": "true start: Jira has no system start date",
	} {
		if !strings.HasPrefix(got[name], want) {
			t.Errorf("%s: %q, want it to start %q", name, got[name], want)
		}
	}
	if !strings.Contains(got["credentials"], "America/New_York") || !strings.Contains(got["rate limit"], "of 1000 requests left") {
		t.Errorf("credentials %q; rate limit %q", got["credentials"], got["rate limit"])
	}
	f.Mu.Lock()
	f.Denied = []string{"TRANSITION_ISSUES"}
	f.Mu.Unlock()
	if p := byName()["permissions"]; !strings.HasPrefix(p, "false") || !strings.Contains(p, "TRANSITION_ISSUES") {
		t.Errorf("a missing permission: %q", p)
	}
}

// TestRequestCost: a first sync costs one search per 100 issues plus one
// comment listing per issue; an unchanged poll costs one search.
func TestRequestCost(t *testing.T) {
	f := jirafake.New(t)
	f.PageMax = 100
	fast := func(o *Options) { o.RequestsPerMinute = 60000 }
	tr := newOnFake(t, f, true, fast)
	c := tctx(t)
	const n = 450
	for i := range n {
		if _, err := tr.Create(c, adapters.Issue{Summary: fmt.Sprintf("issue %d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	// Spread over the last 10 minutes (a second apart), as a real
	// project's are: the minute overlap of a poll re-reads only the
	// issues of the cursor's minute.
	f.Mu.Lock()
	base := time.Now().Add(-10 * time.Minute)
	for i := range n {
		is := f.Issues[fmt.Sprintf("PROJ-%d", i+1)]
		is.Created = base.Add(time.Duration(i) * time.Second)
		is.Updated = is.Created
	}
	f.Mu.Unlock()
	count := func() int { f.Mu.Lock(); defer f.Mu.Unlock(); return f.Requests }
	fresh := newOnFake(t, f, true, fast)
	before := count()
	var cur adapters.Cursor
	seen := 0
	for {
		is, next, err := fresh.Changes(c, cur, 500)
		if err != nil {
			t.Fatal(err)
		}
		seen += len(is)
		cur = next
		if len(is) < 500 {
			break
		}
	}
	first := count() - before
	// myself, the field list, 5 search pages, one comment listing per issue.
	if seen != n || first != 2+5+n {
		t.Errorf("first sync of %d issues: %d seen, %d requests, want %d", n, seen, first, 2+5+n)
	}
	time.Sleep(1100 * time.Millisecond) // settle
	fresh.Changes(c, cur, 500)
	_, cur, _ = fresh.Changes(c, cur, 500)
	before = count()
	is, _, err := fresh.Changes(c, cur, 500)
	if poll := count() - before; err != nil || len(is) != 0 || poll != 1 {
		t.Errorf("an unchanged poll: %d issues, %d requests (%v), want 0 and 1", len(is), poll, err)
	}
	t.Logf("first sync of %d issues: %d requests; unchanged poll: 1 request", n, first)
	// Read in batches of 200, the first sync's progress is logged after
	// each full batch.
	var logged strings.Builder
	prog := newOnFake(t, f, true, func(o *Options) {
		fast(o)
		o.Logger = slog.New(slog.NewTextHandler(&syncWriter{w: &logged}, nil))
	})
	for pcur := adapters.Cursor(""); ; {
		is, next, err := prog.Changes(c, pcur, 200)
		if err != nil {
			t.Fatal(err)
		}
		pcur = next
		if len(is) < 200 {
			break
		}
	}
	if l := logged.String(); strings.Count(l, "jira: catching up") != 2 || !strings.Contains(l, "issues_read=400") {
		t.Errorf("the first sync's progress, as logged:\n%s", l)
	}

	// Steady state: what one change costs, read and written.
	cost := func(what string, want int, do func() error) {
		t.Helper()
		before := count()
		if err := do(); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		got := count() - before
		if got != want {
			t.Errorf("%s: %d requests, want %d", what, got, want)
		}
		t.Logf("%s: %d requests", what, got)
	}
	time.Sleep(1100 * time.Millisecond)
	f.Mu.Lock()
	f.Touch("PROJ-7")
	f.Mu.Unlock()
	cost("a poll that finds one changed issue", 2, func() error { // the search, its comments
		is, next, err := fresh.Changes(c, cur, 500)
		if err == nil && (len(is) != 1 || is[0].Key != "PROJ-7") {
			err = fmt.Errorf("changes %+v", is)
		}
		cur = next
		return err
	})
	cost("an edit written to Jira (summary and a custom field)", 4, func() error { // read, PUT, read back with comments
		_, err := fresh.Update(c, "PROJ-8", adapters.Patch{Summary: ptr("edited"), Fields: map[string]adapters.FieldValue{"Customer": {Text: "ACME"}}})
		return err
	})
	cost("a comment written to Jira", 5, func() error { // read, comments, POST, read back with comments
		_, err := fresh.Update(c, "PROJ-8", adapters.Patch{AddComments: []adapters.Comment{{Body: "hi", SyncID: "peer/1"}}})
		return err
	})
	cost("a status two transitions away (To Do -> Done)", 9, func() error { // read, the statuses (once), status, 2 x (transitions, POST), read back with comments
		_, err := fresh.Update(c, "PROJ-9", adapters.Patch{Status: ptr("Done")})
		return err
	})
}

// TestWiki: the text's formatting becomes wiki markup, and wiki written on
// Jira reads back as text.
func TestWiki(t *testing.T) {
	for _, c := range []struct{ text, wiki string }{
		{"# Title\n\nSome **bold**, `code` and 2*3.\n\n1. one\n2. two\n\n* dot", "h1. Title\n\nSome *bold*, {{code}} and 2\\*3.\n\n# one\n# two\n\n* dot"},
		{"```sql\nselect 1;\n```", "{code:sql}\nselect 1;\n{code}"},
	} {
		if got := toWiki(c.text); got != c.wiki {
			t.Errorf("toWiki(%q) = %q, want %q", c.text, got, c.wiki)
		}
		if got := fromWiki(c.wiki); got != c.text {
			t.Errorf("fromWiki(%q) = %q, want %q", c.wiki, got, c.text)
		}
	}
	// Written on Jira by a person.
	if got := fromWiki("h2. Steps\n- *first* step\n{noformat}\nraw *text*\n{noformat}"); got != "## Steps\n* **first** step\n```\nraw *text*\n```" {
		t.Errorf("fromWiki of a person's wiki: %q", got)
	}
}
