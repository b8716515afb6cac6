package e2e

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/internal/testutil"
)

// TestUnknownPeopleBetweenRedmineAndRT runs two real nodes, one beside a
// real Redmine and one beside a real RT, each with a user_map that knows
// none of the other side's people. Redmine's reporter lands in RT and RT's
// owner lands in Redmine unassigned, each with the name kept visible in an
// internal comment (neither tracker keeps free extra fields), written
// once; the twin is never blocked for it.
func TestUnknownPeopleBetweenRedmineAndRT(t *testing.T) {
	rmURL, rmKeyFile, rtURL, rtTokenFile := realTrackers(t)
	rmHdr := http.Header{"X-Redmine-Api-Key": {secret(t, rmKeyFile)}}
	rtHdr := http.Header{"Authorization": {"token " + secret(t, rtTokenFile)}}
	project, queue := redmineProject(t, rmURL, rmHdr), rtQueue(t, rtURL, rtHdr)
	rm, rtq := trackerClients(t, rmURL, rmKeyFile, project, rtURL, rtTokenFile, queue)

	a := newNode(t, "redmine", "--tracker", "redmine", "--url", rmURL, "--api-key-file", rmKeyFile, "--project", project)
	b := newNode(t, "rt", "--tracker", "rt", "--url", rtURL, "--token-file", rtTokenFile, "--queue", queue)
	a.appendConfig("connections:\n  \"*\":\n    user_map: {carol@redmine.example: carol@rt.example}\n" +
		"    priority_map: {Low: low, Normal: medium, High: high}\n")
	b.appendConfig("connections:\n  \"*\":\n    user_map: {carol@rt.example: carol@redmine.example}\n" +
		"    priority_map: {Low: low, Medium: medium, High: high}\n")
	for _, p := range []*proc{a, b} {
		p.pollEvery("1s")
	}
	a.start()
	b.start()
	pair(a, b)
	t.Cleanup(func() {
		if t.Failed() {
			for _, p := range []*proc{a, b} {
				out, err := p.cli("errors")
				t.Logf("%s: issuemesh errors: %s %v", p.name, out, err)
			}
		}
	})
	notes := func(is adapters.Issue, prefix string) []adapters.Comment {
		var out []adapters.Comment
		for _, c := range is.Comments {
			if strings.HasPrefix(c.Body, prefix) {
				out = append(out, c)
			}
		}
		return out
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	src, err := rm.Create(ctx, adapters.Issue{Summary: "Invoice totals are wrong"})
	if err != nil {
		t.Fatal(err)
	}
	if src.Reporter == nil {
		t.Fatalf("Redmine gave the issue no author: %+v", src)
	}
	twin := twinOf(t, a, src.Key)

	// Redmine -> RT: the reporter is nobody RT's map knows.
	var tk adapters.Issue
	testutil.WaitFor(t, 60*time.Second, "the ticket is in RT with a note naming Redmine's reporter", func() bool {
		tk, err = rtq.FindByTwin(ctx, twin)
		return err == nil && len(notes(tk, "reporter at redmine: ")) == 1
	})
	if n := notes(tk, "reporter at redmine: ")[0]; !n.Internal || !strings.Contains(n.Body, src.Reporter.Label()) {
		t.Errorf("the note in RT: %+v; want an internal comment naming %q", n, src.Reporter.Label())
	}

	// RT -> Redmine: RT's owner is nobody Redmine's map knows.
	if _, err := rtq.Update(ctx, tk.Key, adapters.Patch{Assignee: &adapters.User{Login: "root"}}); err != nil {
		t.Fatal(err)
	}
	var is adapters.Issue
	testutil.WaitFor(t, 60*time.Second, "Redmine has a note naming RT's owner", func() bool {
		is, err = rm.Get(ctx, src.Key)
		return err == nil && len(notes(is, "assignee at rt: ")) == 1
	})
	if is.Assignee != nil || !notes(is, "assignee at rt: ")[0].Internal || !strings.Contains(notes(is, "assignee at rt: ")[0].Body, "root") {
		t.Errorf("Redmine issue: assignee %+v, notes %+v; want unassigned and an internal note naming root", is.Assignee, notes(is, "assignee at rt: "))
	}

	// Another change crosses after it: no second note, nothing blocked.
	if _, err := rtq.Update(ctx, tk.Key, adapters.Patch{Summary: ptr("Invoice totals are wrong (EU)")}); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 60*time.Second, "the summary is in Redmine", func() bool {
		is, err = rm.Get(ctx, src.Key)
		return err == nil && is.Summary == "Invoice totals are wrong (EU)"
	})
	for _, p := range []*proc{a, b} {
		var st struct{ Pending, Incoming, Blocked int }
		testutil.WaitFor(t, 60*time.Second, p.name+"'s queues are empty and nothing is blocked", func() bool {
			return p.cliJSON(&st, "status") == nil && st.Pending == 0 && st.Incoming == 0 && st.Blocked == 0
		})
	}
	is, _ = rm.Get(ctx, src.Key)
	tk, _ = rtq.Get(ctx, tk.Key)
	if n := notes(is, "assignee at rt: "); len(n) != 1 {
		t.Errorf("Redmine has %d notes of RT's owner, want 1: %+v", len(n), n)
	}
	if n := notes(tk, "reporter at redmine: "); len(n) != 1 {
		t.Errorf("RT has %d notes of Redmine's reporter, want 1: %+v", len(n), n)
	}
	if slices.ContainsFunc(is.Comments, func(c adapters.Comment) bool { return strings.HasPrefix(c.Body, "reporter at redmine") }) {
		t.Errorf("RT's note came back to Redmine: %+v", is.Comments)
	}
}
