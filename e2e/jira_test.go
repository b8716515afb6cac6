package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/adapters/jira"
	"github.com/issuemesh/issuemesh/adapters/jira/jirafake"
	"github.com/issuemesh/issuemesh/internal/testutil"
)

// TestJiraAndLocal: a node on Jira Cloud (the stateful fake, served by the
// test on loopback; ADF bodies) and a node on the local tracker, as real
// processes. An issue created on Jira reaches the local tracker; a
// comment and a close made locally reach Jira (the close needs two
// workflow transitions, To Do -> In Progress -> Done); a transition and a
// comment made on Jira come back; a file and a custom field cross each
// way; Jira goes down mid-run, and what changed locally meanwhile lands
// once it is back, once.
func TestJiraAndLocal(t *testing.T) {
	f := jirafake.New(t)
	dir := t.TempDir()
	tokFile := filepath.Join(dir, "jira.token")
	if err := os.WriteFile(tokFile, []byte("api-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	j := newNode(t, "jira", "--tracker", "jira", "--url", f.URL(), "--project", "PROJ", "--email", "mia@example.com", "--token-file", tokFile)
	l := newNode(t, "local")
	j.pollEvery("1s")
	j.appendConfig("connections:\n  \"*\":\n" +
		"    status_map: {To Do: Open, Done: Done}\n" +
		"    priority_map: {Low: Low, Medium: Normal, High: High, Highest: Urgent}\n")
	j.mustCheckTracker()
	j.start()
	l.start()
	pair(j, l)

	// A person on Jira, through the same client.
	person, err := jira.New(jira.Options{URL: f.URL(), Project: "PROJ", Email: "mia@example.com", Token: "api-token", Reconcile: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer person.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// 1. Created on Jira.
	start := time.Now()
	made, err := person.Create(ctx, adapters.Issue{Summary: "Printer on fire", Description: "Third floor.\n\n* smoke\n* **alarm** on"})
	if err != nil {
		t.Fatal(err)
	}
	var local issue
	testutil.WaitFor(t, 30*time.Second, "the Jira issue reaches the local tracker", func() bool {
		var ok bool
		local, ok = l.findBySummary("Printer on fire")
		return ok
	})
	t.Logf("Jira -> local: %v", time.Since(start).Round(time.Millisecond))
	if local.Description != "Third floor.\n\n* smoke\n* **alarm** on" || local.Status != "Open" {
		t.Errorf("on the local tracker: %+v", local)
	}

	// 2. A comment and a close made locally.
	l.mustCLI("issue", "comment", local.Key, "--body", "Extinguisher is on its way.")
	l.mustCLI("issue", "edit", local.Key, "--status", "Done")
	testutil.WaitFor(t, 30*time.Second, "the comment and the close reach Jira", func() bool {
		got, err := person.Get(ctx, made.Key)
		return err == nil && got.Status == "Done" && len(got.Comments) == 1 && got.Comments[0].Body == "Extinguisher is on its way."
	})

	// 3. A transition and a comment made on Jira.
	if _, err := person.Update(ctx, made.Key, adapters.Patch{Status: ptrTo("In Progress"), AddComments: []adapters.Comment{{Body: "Reopened: still smoking."}}}); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 30*time.Second, "Jira's transition and comment reach the local tracker", func() bool {
		got, err := l.issue(local.Key)
		return err == nil && got.Status == "In Progress" && len(got.Comments) == 2 && got.Comments[1].Body == "Reopened: still smoking."
	})

	// 4. A file and a custom field each way.
	logFile := filepath.Join(dir, "smoke.log")
	if err := os.WriteFile(logFile, []byte("02:10 smoke detected\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	l.mustCLI("issue", "attach", local.Key, logFile)
	l.mustCLI("issue", "edit", local.Key, "--field", "Customer=ACME Printing")
	testutil.WaitFor(t, 30*time.Second, "the local file and custom field reach Jira", func() bool {
		got, err := person.Get(ctx, made.Key)
		return err == nil && len(got.Attachments) == 1 && got.Attachments[0].Filename == "smoke.log" && got.Fields["Customer"].Text == "ACME Printing"
	})
	if _, err := person.Update(ctx, made.Key, adapters.Patch{Fields: map[string]adapters.FieldValue{"Tier": {Kind: adapters.KindOption, Text: "Gold"}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := person.AddAttachment(ctx, made.Key, adapters.Attachment{Filename: "photo.txt", ContentType: "text/plain"}, strings.NewReader("a photo, in words")); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 30*time.Second, "Jira's file and custom field reach the local tracker", func() bool {
		var got adapters.Issue
		if err := l.cliJSON(&got, "issue", "show", local.Key); err != nil {
			return false
		}
		return len(got.Attachments) == 2 && got.Fields["Tier"].Text == "Gold" && got.Fields["Tier"].Kind == adapters.KindOption
	})

	// 5. Jira down mid-run: what changes locally meanwhile waits, and lands
	// once Jira is back; nothing is lost or doubled.
	f.Stop()
	l.mustCLI("issue", "comment", local.Key, "--body", "Written while Jira was down.")
	l.mustCLI("issue", "edit", local.Key, "--status", "Done", "--field", "Customer=ACME Printing Ltd")
	testutil.WaitFor(t, 30*time.Second, "the Jira node sees its tracker failing", func() bool {
		var st struct {
			Tracker struct {
				State string `json:"state"`
			} `json:"tracker"`
		}
		return j.cliJSON(&st, "status") == nil && st.Tracker.State == "failing"
	})
	if err := f.Start(); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 60*time.Second, "what was written while Jira was down reaches it", func() bool {
		got, err := person.Get(ctx, made.Key)
		return err == nil && got.Status == "Done" && got.Fields["Customer"].Text == "ACME Printing Ltd" &&
			len(got.Comments) == 3 && got.Comments[2].Body == "Written while Jira was down."
	})
	// A few more polls and pushes have run: nothing more arrives.
	f.Mu.Lock()
	seen := f.Count("POST", "/search/jql")
	f.Mu.Unlock()
	testutil.WaitFor(t, 30*time.Second, "three more polls of Jira", func() bool {
		f.Mu.Lock()
		defer f.Mu.Unlock()
		return f.Count("POST", "/search/jql") >= seen+3
	})
	got, err := person.Get(ctx, made.Key)
	if err != nil || len(got.Comments) != 3 || len(got.Attachments) != 2 {
		t.Errorf("after Jira came back: %d comments, %d files (%v); want 3 and 2", len(got.Comments), len(got.Attachments), err)
	}
	f.Mu.Lock()
	t.Logf("Jira fake: %d requests in all", f.Requests)
	f.Mu.Unlock()
}

func ptrTo[T any](v T) *T { return &v }
