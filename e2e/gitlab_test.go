package e2e

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/issuemesh/issuemesh/adapters/gitlab/glfake"
	"github.com/issuemesh/issuemesh/internal/testutil"
)

// TestGitLabAndLocal: a node on GitLab (the stateful fake, served by the
// test on loopback, every answer and request checked against GitLab's
// documented example bodies) and a node on the local tracker, as real
// processes. The GitLab node polls only hourly, so what comes from GitLab
// comes on a webhook delivery (X-Gitlab-Token):
//   - an issue opened on GitLab with a scoped label, a comment and a file
//     reaches the local tracker; a confidential issue does not;
//   - a comment, a close, a label and a file made locally reach GitLab
//     (the file as an upload linked from a note, same bytes), and GitLab's
//     reopen comes back;
//   - GitLab down (the fake stopped, its connections cut): what is made
//     locally meanwhile waits and lands when it is back;
//   - a forged delivery (wrong token) is refused and changes nothing.
func TestGitLabAndLocal(t *testing.T) {
	f := glfake.New(t)
	dir := t.TempDir()
	tokFile, secretFile := filepath.Join(dir, "gitlab.token"), filepath.Join(dir, "webhook.secret")
	os.WriteFile(tokFile, []byte(glfake.Token+"\n"), 0o600)
	const secret = "gitlab-hook-s3cret"
	os.WriteFile(secretFile, []byte(secret+"\n"), 0o600)
	hookAddr := freeTCPAddr(t)

	g := newNode(t, "gitlab", "--tracker", "gitlab", "--url", f.URL(), "--project", f.Project, "--token-file", tokFile)
	l := newNode(t, "local")
	cfgPath := filepath.Join(g.home, "config.yaml")
	g.writeHome("config.yaml", strings.Replace(readFile(t, cfgPath), "tracker:\n",
		fmt.Sprintf("tracker:\n    poll_interval: 1h\n    webhook: {listen: %q, secret_file: %q}\n", hookAddr, secretFile), 1))
	g.appendConfig("connections:\n  \"*\":\n" +
		"    status_map: {opened: Open, closed: Done}\n" +
		"    priority_map: {low: Low, medium: Normal, high: High, urgent: Urgent}\n")
	out := g.mustCLI("tracker", "check")
	if strings.Contains(out, "FAIL") || !strings.Contains(out, "confidential issues") || !strings.Contains(out, "rate limit") {
		t.Fatalf("tracker check:\n%s", out)
	}
	t.Logf("tracker check:\n%s", out)
	g.start()
	l.start()
	pair(g, l)
	t.Cleanup(func() {
		if t.Failed() {
			for _, p := range []*proc{g, l} {
				for _, cmd := range []string{"errors", "queue", "status"} {
					out, err := p.cli(cmd)
					t.Logf("%s: issuemesh %s: %s %v", p.name, cmd, out, err)
				}
			}
		}
	})
	seq := 0
	ring := func(event string) {
		t.Helper()
		seq++
		body := fmt.Sprintf(`{"object_kind":"issue","event_type":"issue","project":{"path_with_namespace":%q}}`, f.Project)
		if st := deliverGitLab(t, hookAddr, secret, event, fmt.Sprintf("key-%d", seq), body); st != 202 {
			t.Fatalf("a delivery with the right token answered %d, want 202", st)
		}
	}
	testutil.WaitFor(t, 20*time.Second, "the webhook listener runs", func() bool {
		return deliverGitLab(t, hookAddr, secret, "Issue Hook", "probe", `{"object_kind":"issue"}`) != 0
	})

	// 1. Opened on GitLab by alice, with a scoped label, a comment and a
	// file; a confidential issue beside it.
	f.Mu.Lock()
	sec := f.CreateIssue("alice", "Security hole in login", "Do not share.")
	sec.Confidential = true
	is := f.CreateIssue("alice", "Printer on fire", "Third floor.\nSmoke.")
	is.Labels = []string{"bug", "team::facilities"}
	f.AddNote(is, "bob", "Smoke alarm went off at 9.", false)
	photo := []byte("\x89PNG not really a photo of the printer")
	f.AttachAsPerson(is, "alice", "printer.png", photo)
	f.Mu.Unlock()
	start := time.Now()
	ring("Issue Hook")
	var local localIssue
	testutil.WaitFor(t, 30*time.Second, "the GitLab issue, its comment and its file reach the local tracker", func() bool {
		found, ok := l.findBySummary("Printer on fire")
		if !ok {
			return false
		}
		local = showLocal(t, l, found.Key)
		return len(local.Comments) == 2 && len(local.Attachments) == 1 // the note that links the file is a comment too
	})
	t.Logf("GitLab -> local on the webhook: %v", time.Since(start).Round(time.Millisecond))
	if local.Description != "Third floor.\nSmoke." || local.Status != "Open" || !slices.Equal(local.Labels, []string{"bug", "team::facilities"}) {
		t.Errorf("on the local tracker: %+v", local)
	}
	if c := local.Comments[0]; !strings.Contains(c.Body, "Smoke alarm went off at 9.") {
		t.Errorf("GitLab's comment on the local tracker: %+v", c)
	}
	if a := local.Attachments[0]; a.Filename != "printer.png" || a.Digest != sha(photo) {
		t.Errorf("GitLab's file on the local tracker: %+v, want printer.png with SHA-256 %s", a, sha(photo))
	}

	// 2. Locally: a comment, a label, a file and a close.
	l.mustCLI("issue", "comment", local.Key, "--body", "Extinguisher is on its way.")
	l.mustCLI("issue", "edit", local.Key, "--label", "bug", "--label", "team::facilities", "--label", "customer")
	report := []byte("incident report\nline two\n")
	rf := filepath.Join(dir, "report.txt")
	os.WriteFile(rf, report, 0o644)
	l.mustCLI("issue", "attach", local.Key, rf)
	l.mustCLI("issue", "edit", local.Key, "--status", "Done")
	testutil.WaitFor(t, 30*time.Second, "the comment, label, file and close reach GitLab", func() bool {
		f.Mu.Lock()
		defer f.Mu.Unlock()
		return is.State == "closed" && slices.Contains(is.Labels, "customer") && hasNote(is, "Extinguisher is on its way.") && fileNote(f, is, report)
	})

	// GitLab reopens it; the delivery rings the node.
	f.Mu.Lock()
	is.State, is.UpdatedAt = "opened", f.Now()
	f.Mu.Unlock()
	ring("Issue Hook")
	testutil.WaitFor(t, 30*time.Second, "GitLab's reopen reaches the local tracker", func() bool {
		got, err := l.issue(local.Key)
		return err == nil && got.Status == "Open"
	})

	// 3. GitLab goes down: what is made locally meanwhile waits, then lands.
	f.Mu.Lock()
	f.Stop()
	f.Mu.Unlock()
	l.mustCLI("issue", "comment", local.Key, "--body", "Written while GitLab was down.")
	l.mustCLI("issue", "edit", local.Key, "--summary", "Printer fire: out")
	testutil.WaitFor(t, 60*time.Second, "the GitLab node holds the change while GitLab is down", func() bool {
		var st struct{ Incoming int }
		return g.cliJSON(&st, "status") == nil && st.Incoming > 0
	})
	f.Mu.Lock()
	f.Start()
	f.Mu.Unlock()
	testutil.WaitFor(t, 2*time.Minute, "what was made while GitLab was down lands on GitLab", func() bool {
		f.Mu.Lock()
		defer f.Mu.Unlock()
		return is.Title == "Printer fire: out" && hasNote(is, "Written while GitLab was down.")
	})

	// 4. A forged delivery changes nothing.
	f.Mu.Lock()
	forged := fmt.Sprintf(`{"object_kind":"issue","project":{"path_with_namespace":%q},"object_attributes":{"iid":%d,"title":"Printer on fire (forged)"}}`, f.Project, is.IID)
	f.Mu.Unlock()
	if st := deliverGitLab(t, hookAddr, "guess", "Issue Hook", "forged-1", forged); st != 401 {
		t.Errorf("a forged delivery answered %d, want 401", st)
	}

	// Settled: queues empty, one issue each side, nothing forged, nothing
	// confidential.
	for _, p := range []*proc{g, l} {
		var st struct{ Pending, Incoming, Blocked int }
		testutil.WaitFor(t, 60*time.Second, p.name+"'s queues are empty", func() bool {
			return p.cliJSON(&st, "status") == nil && st.Pending == 0 && st.Incoming == 0 && st.Blocked == 0
		})
	}
	if got := l.issues(); len(got) != 1 || got[0].Summary != "Printer fire: out" {
		t.Errorf("the local tracker has %+v, want the one public issue, its title from the local edit (not the forged one)", got)
	}
	f.Mu.Lock()
	t.Logf("GitLab fake: %d requests in all, by route %v", f.Requests, f.ByRoute)
	f.Mu.Unlock()
}

// localIssue is what `issue show --json` gives of files besides issue.
type localIssue struct {
	issue
	Attachments []struct {
		Filename string `json:"filename"`
		Digest   string `json:"digest"`
	} `json:"attachments"`
}

func showLocal(t *testing.T, p *proc, key string) localIssue {
	t.Helper()
	var is localIssue
	if err := p.cliJSON(&is, "issue", "show", key); err != nil {
		t.Fatal(err)
	}
	return is
}

func sha(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func hasNote(is *glfake.Issue, text string) bool {
	return slices.ContainsFunc(is.Notes, func(n *glfake.Note) bool { return strings.Contains(n.Body, text) })
}

// fileNote reports whether a note of is links an upload holding data.
func fileNote(f *glfake.Fake, is *glfake.Issue, data []byte) bool {
	for _, n := range is.Notes {
		if b, ok := f.UploadData(n.Body); ok && bytes.Equal(b, data) && strings.Contains(n.Body, "issuemesh:sha256 "+sha(data)) {
			return true
		}
	}
	return false
}

// deliverGitLab posts a GitLab webhook delivery with token as
// X-Gitlab-Token; it returns the HTTP status (0: nothing listens).
func deliverGitLab(t *testing.T, addr, token, event, key, body string) int {
	t.Helper()
	req, _ := http.NewRequest("POST", "http://"+addr+"/", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Gitlab-Token", token)
	req.Header.Set("X-Gitlab-Event", event)
	req.Header.Set("X-Gitlab-Event-UUID", key+"-uuid")
	req.Header.Set("Idempotency-Key", key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}
