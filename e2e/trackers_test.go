package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/adapters/redmine"
	"github.com/issuemesh/issuemesh/adapters/rt"

	"github.com/issuemesh/issuemesh/internal/testutil"
)

// realTrackers returns the test Redmine's and RT's URLs and credential
// files (scripts/redmine.sh and scripts/rt.sh print them), or skips.
func realTrackers(t *testing.T) (rmURL, rmKeyFile, rtURL, rtTokenFile string) {
	t.Helper()
	env := []string{"ISSUEMESH_TEST_REDMINE_URL", "ISSUEMESH_TEST_REDMINE_KEY_FILE", "ISSUEMESH_TEST_RT_URL", "ISSUEMESH_TEST_RT_TOKEN_FILE"}
	vals := make([]string, len(env))
	for i, e := range env {
		if vals[i] = os.Getenv(e); vals[i] == "" {
			t.Skipf("no real Redmine and RT: set %s (scripts/redmine.sh and scripts/rt.sh, run as root, install them and print the variables)", strings.Join(env, ", "))
		}
	}
	return vals[0], vals[1], vals[2], vals[3]
}

func secret(t *testing.T, file string) string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// rawJSON makes one JSON request for test set-up.
func rawJSON(t *testing.T, method, url string, hdr http.Header, in, out any) {
	t.Helper()
	var body io.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header = hdr.Clone()
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		t.Fatalf("%s %s: %s: %s", method, url, resp.Status, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v: %s", method, url, err, b)
		}
	}
}

func randomName(prefix string) string {
	b := make([]byte, 4)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// TestRedmineAndRT runs two real nodes, one beside a real Redmine and one
// beside a real RT, each with a status and priority map to a shared
// vocabulary (Todo, Doing, Done; low, medium, high). An issue created in
// Redmine lands in RT with its fields, labels and comment; RT's answer
// (resolved, with a reply) lands back in Redmine as Closed; a file attached
// in Redmine lands in RT with the same bytes; nothing echoes.
func TestRedmineAndRT(t *testing.T) {
	rmURL, rmKeyFile, rtURL, rtTokenFile := realTrackers(t)
	rmHdr := http.Header{"X-Redmine-Api-Key": {secret(t, rmKeyFile)}}
	rtHdr := http.Header{"Authorization": {"token " + secret(t, rtTokenFile)}}

	// A fresh project and queue, so that nothing else is synced.
	project, queue := redmineProject(t, rmURL, rmHdr), rtQueue(t, rtURL, rtHdr)

	// The trackers as the test sees them (and as a user would change them).
	rm, rtq := trackerClients(t, rmURL, rmKeyFile, project, rtURL, rtTokenFile, queue)

	a := newNode(t, "redmine", "--tracker", "redmine", "--url", rmURL, "--api-key-file", rmKeyFile, "--project", project)
	b := newNode(t, "rt", "--tracker", "rt", "--url", rtURL, "--token-file", rtTokenFile, "--queue", queue)
	a.appendConfig("connections:\n  \"*\":\n" +
		"    status_map: {New: Todo, In Progress: Doing, Closed: Done}\n" +
		"    priority_map: {Low: low, Normal: medium, High: high}\n")
	for _, p := range []*proc{a, b} { // poll faster than the 5 s default
		p.pollEvery("1s")
	}
	b.appendConfig("connections:\n  \"*\":\n" +
		"    status_map: {new: Todo, open: Doing, resolved: Done}\n" +
		"    priority_map: {Low: low, Medium: medium, High: high}\n")
	for _, p := range []*proc{a, b} {
		p.mustCheckTracker()
	}
	a.start()
	b.start()
	pair(a, b)
	logStateOnFailure(t, a, b)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	start := time.Now()
	src, err := rm.Create(ctx, adapters.Issue{
		Summary: "Checkout fails for EU cards", Description: "Since 10:00.\nAll EU cards.",
		Priority: "High", Labels: []string{"payments", "eu"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rm.Update(ctx, src.Key, adapters.Patch{AddComments: []adapters.Comment{{Body: "Seen by three customers."}}}); err != nil {
		t.Fatal(err)
	}

	// Redmine -> RT: fields, mapped status and priority, labels, comment.
	var tk adapters.Issue
	twin := twinOf(t, a, src.Key)
	testutil.WaitFor(t, 60*time.Second, "the issue is in RT with its comment, status new", func() bool {
		// RT opens a ticket on a public reply; the adapter puts the status
		// the sync asked for back: wait for both steps.
		tk, err = rtq.FindByTwin(ctx, twin)
		return err == nil && len(tk.Comments) == 1 && tk.Status == "new"
	})
	t.Logf("Redmine -> RT, create with a comment: %v", time.Since(start).Round(time.Millisecond))
	if tk.Summary != src.Summary || tk.Description != src.Description || tk.Status != "new" || tk.Priority != "High" ||
		!slices.Equal(tk.Labels, []string{"eu", "payments"}) {
		t.Errorf("ticket in RT: %+v", tk)
	}
	if c := tk.Comments[0]; c.Body != "Seen by three customers." || c.Author != "Redmine Admin (redmine)" || c.Internal {
		t.Errorf("comment in RT: %+v", c)
	}

	// RT -> Redmine: resolved with a reply arrives as Closed (both maps).
	start = time.Now()
	resolved := "resolved"
	if _, err := rtq.Update(ctx, tk.Key, adapters.Patch{Status: &resolved, Priority: ptr("Medium"),
		AddComments: []adapters.Comment{{Body: "Fixed by the payment provider."}}}); err != nil {
		t.Fatal(err)
	}
	var back adapters.Issue
	testutil.WaitFor(t, 60*time.Second, "RT's status, priority and reply are in Redmine", func() bool {
		back, err = rm.Get(ctx, src.Key)
		return err == nil && back.Status == "Closed" && back.Priority == "Normal" && len(back.Comments) == 2
	})
	t.Logf("RT -> Redmine, status, priority and a reply: %v", time.Since(start).Round(time.Millisecond))
	if c := back.Comments[1]; c.Body != "Fixed by the payment provider." || c.Author != "root (rt)" {
		t.Errorf("reply in Redmine: %+v", c)
	}

	// Redmine edits its comment; RT shows the edit.
	if _, err := rm.Update(ctx, src.Key, adapters.Patch{EditComments: []adapters.Comment{{ID: back.Comments[0].ID, Body: "Seen by four customers."}}}); err != nil {
		t.Fatal(err)
	}
	// Redmine does not bump updated_on for a note edit: a field change
	// carries it (see the redmine package documentation).
	if _, err := rm.Update(ctx, src.Key, adapters.Patch{Summary: ptr("Checkout failed for EU cards")}); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 60*time.Second, "the edit and the new summary are in RT", func() bool {
		tk, err = rtq.Get(ctx, tk.Key)
		return err == nil && tk.Summary == "Checkout failed for EU cards" && len(tk.Comments) == 2 && tk.Comments[0].Body == "Seen by four customers."
	})

	// A file attached in Redmine crosses to RT: RT's node fetches its bytes
	// from Redmine's node and attaches them; neither side gets a copy back.
	start = time.Now()
	har := make([]byte, 200<<10)
	for i := range har {
		har[i] = byte(i*31 + i>>9)
	}
	file, err := rm.AddAttachment(ctx, src.Key, adapters.Attachment{Filename: "checkout.har", ContentType: "application/json"}, bytes.NewReader(har))
	if err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 60*time.Second, "the file is in RT", func() bool {
		tk, err = rtq.Get(ctx, tk.Key)
		// Another reader may see the file a moment before RT records its
		// markers (the transaction custom field comes second).
		return err == nil && len(tk.Attachments) == 1 && tk.Attachments[0].SyncID != ""
	})
	t.Logf("Redmine -> RT, a file of %d KiB: %v", len(har)>>10, time.Since(start).Round(time.Millisecond))
	if f := tk.Attachments[0]; f.Filename != "checkout.har" || f.Digest != file.Digest || f.Size != int64(len(har)) || f.Author != "Redmine Admin (redmine)" {
		t.Errorf("file in RT: %+v; want Redmine's name, size and digest (%s), author \"Redmine Admin (redmine)\"", f, file.Digest)
	}
	rc, err := rtq.OpenAttachment(ctx, tk.Key, tk.Attachments[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || !bytes.Equal(got, har) {
		t.Fatalf("the file's bytes in RT differ from Redmine's (%d bytes read, %v)", len(got), err)
	}
	if len(tk.Comments) != 2 {
		t.Errorf("the file added comments in RT: %+v", tk.Comments)
	}

	// Redmine goes down: a change made in RT meanwhile waits in the Redmine
	// node's incoming log (retried with backoff) and lands once Redmine is
	// back. Nothing is lost.
	stopRedmine(t, filepath.Join(filepath.Dir(rmKeyFile), "redmine.pid"), rmURL)
	if _, err := rtq.Update(ctx, tk.Key, adapters.Patch{Priority: ptr("Low"),
		AddComments: []adapters.Comment{{Body: "Still on it while Redmine is down."}}}); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 60*time.Second, "the Redmine node holds the change while Redmine is down", func() bool {
		var st struct{ Incoming int }
		return a.cliJSON(&st, "status") == nil && st.Incoming > 0
	})
	restart := exec.Command("bash", "../scripts/redmine.sh")
	if out, err := restart.CombinedOutput(); err != nil {
		t.Fatalf("restarting Redmine: %v\n%s", err, out)
	}
	testutil.WaitFor(t, 3*time.Minute, "the change made while Redmine was down lands in Redmine", func() bool {
		is, err := rm.Get(ctx, src.Key)
		return err == nil && is.Priority == "Low" && len(is.Comments) == 3 && is.Comments[2].Body == "Still on it while Redmine is down."
	})

	// Settled: queues empty, nothing blocked, and no echo keeps changing
	// either tracker.
	for _, p := range []*proc{a, b} {
		var st struct{ Pending, Incoming, Blocked int }
		testutil.WaitFor(t, 60*time.Second, p.name+"'s queues are empty", func() bool {
			return p.cliJSON(&st, "status") == nil && st.Pending == 0 && st.Incoming == 0 && st.Blocked == 0
		})
	}
	r1, _ := rm.Get(ctx, src.Key)
	t1, _ := rtq.Get(ctx, tk.Key)
	// A sync point each way: a marker issue created after the settle
	// crosses over. Each node handles its tracker's changes in order, so
	// an echo of the earlier changes would have been sent before it.
	for _, m := range []struct {
		from, to adapters.Tracker
		name     string
	}{{rm, rtq, "Redmine to RT"}, {rtq, rm, "RT to Redmine"}} {
		summary := "echo marker " + m.name + " " + start.Format("150405.000")
		if _, err := m.from.Create(ctx, adapters.Issue{Summary: summary}); err != nil {
			t.Fatal(err)
		}
		testutil.WaitFor(t, 60*time.Second, "the marker crossed "+m.name, func() bool {
			is, _, err := m.to.Changes(ctx, "", 1000)
			return err == nil && slices.ContainsFunc(is, func(i adapters.Issue) bool { return i.Summary == summary })
		})
	}
	r2, _ := rm.Get(ctx, src.Key)
	t2, _ := rtq.Get(ctx, tk.Key)
	if len(r2.Attachments) != 1 || len(t2.Attachments) != 1 {
		t.Errorf("files after sync settled: %d in Redmine, %d in RT; want one each", len(r2.Attachments), len(t2.Attachments))
	}
	if !r1.Updated.Equal(r2.Updated) || len(r2.Comments) != 3 || !t1.Updated.Equal(t2.Updated) || len(t2.Comments) != 3 {
		t.Errorf("the issue keeps changing after sync settled (an echo?): Redmine %v -> %v, %d comments; RT %v -> %v, %d comments",
			r1.Updated, r2.Updated, len(r2.Comments), t1.Updated, t2.Updated, len(t2.Comments))
	}
	if r2.Status != "Closed" || t2.Status != "resolved" {
		t.Errorf("final statuses: Redmine %q, RT %q; want Closed and resolved", r2.Status, t2.Status)
	}
}

func ptr[T any](v T) *T { return &v }

// twinOf reads the twin ID that node p gave the issue with that key.
func twinOf(t *testing.T, p *proc, key string) string {
	t.Helper()
	var twin string
	testutil.WaitFor(t, 60*time.Second, fmt.Sprintf("%s shares %s", p.name, key), func() bool {
		var h struct {
			Twin string `json:"twin"`
		}
		if err := p.cliJSON(&h, "history", key); err != nil {
			return false
		}
		twin = h.Twin
		return twin != ""
	})
	return twin
}

// trackerClients opens the test's own adapters on the project and queue,
// closed after the test.
func trackerClients(t *testing.T, rmURL, rmKeyFile, project, rtURL, rtTokenFile, queue string) (*redmine.Tracker, *rt.Tracker) {
	t.Helper()
	rm, err := redmine.New(redmine.Options{URL: rmURL, APIKey: secret(t, rmKeyFile), Project: project})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rm.Close() })
	rtq, err := rt.New(rt.Options{URL: rtURL, Token: secret(t, rtTokenFile), Queue: queue})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rtq.Close() })
	return rm, rtq
}

// stopRedmine kills the Redmine server started by scripts/redmine.sh and
// waits until it no longer answers.
func stopRedmine(t *testing.T, pidFile, url string) {
	t.Helper()
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Skipf("cannot stop Redmine (no %s from scripts/redmine.sh): %v", pidFile, err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("%s: %v", pidFile, err)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatalf("kill Redmine (pid %d): %v", pid, err)
	}
	testutil.WaitFor(t, 30*time.Second, "Redmine stops answering", func() bool {
		resp, err := http.Get(url + "/")
		if err == nil {
			resp.Body.Close()
		}
		return err != nil
	})
}
