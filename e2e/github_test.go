package e2e

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/issuemesh/issuemesh/adapters/github/ghfake"
	"github.com/issuemesh/issuemesh/internal/testutil"
)

// TestGitHubAndLocal: a node on GitHub (the stateful fake, served by the
// test on loopback, every exchange validated against GitHub's OpenAPI
// description) and a node on the local tracker, as real processes:
//   - an issue opened on GitHub reaches the local tracker on the webhook
//     delivery (the GitHub node polls only hourly meanwhile);
//   - a comment and a status change made locally reach GitHub, and
//     GitHub's close comes back as the mapped status;
//   - a change whose webhook is missed (GitHub does not redeliver) and a
//     forged delivery: the forged one changes nothing, the missed change
//     comes by polling;
//   - a rate limit (403, X-RateLimit-Remaining 0) holds the queue with the
//     reset time shown by queue and errors, then drains.
//
// Every webhook delivery the test sends is validated against GitHub's
// webhooks description (@octokit/openapi-webhooks).
func TestGitHubAndLocal(t *testing.T) {
	spec, err := ghfake.LoadSpec()
	if err != nil {
		t.Skipf("GitHub's OpenAPI description (@octokit/openapi, scripts/github-openapi.sh) is not available: %v", err)
	}
	f := ghfake.New(t, spec, "octo/widgets")
	srv := f.Start()
	defer srv.Close()
	rp := f.Repo("octo/widgets")

	dir := t.TempDir()
	tokFile, secretFile := filepath.Join(dir, "github.token"), filepath.Join(dir, "webhook.secret")
	os.WriteFile(tokFile, []byte(f.Token+"\n"), 0o600)
	const secret = "webhook-s3cret"
	os.WriteFile(secretFile, []byte(secret+"\n"), 0o600)
	hookAddr := freeTCPAddr(t)

	g := newNode(t, "github", "--tracker", "github", "--url", f.URL()+"/api/v3/", "--repo", "octo/widgets", "--token-file", tokFile)
	l := newNode(t, "local")
	cfgPath := filepath.Join(g.home, "config.yaml")
	hourly := strings.Replace(readFile(t, cfgPath), "tracker:\n", fmt.Sprintf("tracker:\n    poll_interval: 1h\n    webhook: {listen: %q, secret_file: %q}\n", hookAddr, secretFile), 1)
	g.writeHome("config.yaml", hourly)
	g.appendConfig("connections:\n  \"*\":\n" +
		"    status_map: {open: Open, closed: Done}\n" +
		"    priority_map: {low: Low, medium: Normal, high: High, urgent: Urgent}\n")
	if out := g.mustCLI("tracker", "check"); strings.Contains(out, "FAIL") {
		t.Fatalf("tracker check:\n%s", out)
	}
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
	testutil.WaitFor(t, 20*time.Second, "the webhook listener runs", func() bool {
		out, _ := g.cli("tracker", "check")
		return strings.Contains(out, "listening on "+hookAddr) || deliver(t, hookAddr, secret, "ping", "ping-0", map[string]any{"zen": "hi", "hook_id": 1}) == 200
	})

	// 1. Opened on GitHub, announced by a signed delivery.
	f.Mu.Lock()
	is := f.CreateIssue(rp, "Printer on fire", "Third floor.\nSmoke.")
	opened := f.Delivery(rp, "opened", is)
	f.Mu.Unlock()
	start := time.Now()
	if st := deliver(t, hookAddr, secret, "issues", "d-1", opened); st != 202 {
		t.Fatalf("signed delivery answered %d", st)
	}
	var local issue
	testutil.WaitFor(t, 20*time.Second, "the GitHub issue reaches the local tracker", func() bool {
		var ok bool
		local, ok = l.findBySummary("Printer on fire")
		return ok
	})
	t.Logf("GitHub -> local on the webhook: %v", time.Since(start).Round(time.Millisecond))
	if local.Description != "Third floor.\nSmoke." || local.Status != "Open" {
		t.Errorf("on the local tracker: %+v", local)
	}
	if st := deliver(t, hookAddr, secret, "issues", "d-1", opened); st != 200 {
		t.Errorf("the same delivery again answered %d, want 200 (seen before)", st)
	}

	// 2. A comment and a status change made locally reach GitHub.
	l.mustCLI("issue", "comment", local.Key, "--body", "Extinguisher is on its way.")
	l.mustCLI("issue", "edit", local.Key, "--status", "Done")
	testutil.WaitFor(t, 20*time.Second, "the comment and the close reach GitHub", func() bool {
		f.Mu.Lock()
		defer f.Mu.Unlock()
		return len(rp.Comments) == 1 && strings.Contains(rp.Comments[0]["body"].(string), "Extinguisher is on its way.") &&
			rp.Issues[1]["state"] == "closed" && rp.Issues[1]["state_reason"] == "completed"
	})

	// GitHub reopens it and a person comments; the delivery rings the node.
	f.Mu.Lock()
	ghfake.SetState(rp.Issues[1], "open", "reopened")
	c := f.AddComment(rp, rp.Issues[1], "alice", "Still smoking.")
	cd := f.Delivery(rp, "created", rp.Issues[1])
	cm, _ := json.Marshal(c)
	var comment map[string]any
	json.Unmarshal(cm, &comment)
	comment["reactions"] = cd["issue"].(map[string]any)["reactions"]
	cd["comment"] = comment
	f.Mu.Unlock()
	start = time.Now()
	if st := deliver(t, hookAddr, secret, "issue_comment", "d-2", cd); st != 202 {
		t.Fatalf("comment delivery answered %d", st)
	}
	testutil.WaitFor(t, 20*time.Second, "GitHub's comment and reopen reach the local tracker", func() bool {
		got, err := l.issue(local.Key)
		if err != nil || len(got.Comments) != 2 {
			return false
		}
		local = got
		return got.Comments[1].Body == "Still smoking." && got.Status == "reopened"
	})
	t.Logf("GitHub -> local on the webhook, a comment and a reopen: %v", time.Since(start).Round(time.Millisecond))

	// 3. A forged delivery changes nothing; a missed one loses nothing.
	f.Mu.Lock()
	rp.Issues[1]["title"], rp.Issues[1]["updated_at"] = "Printer on fire (forged)", ghfake.Now()
	forged := f.Delivery(rp, "edited", rp.Issues[1])
	forged["changes"] = map[string]any{"title": map[string]any{"from": "Printer on fire"}}
	rp.Issues[1]["title"] = "Printer on fire" // the API never says so
	f.Mu.Unlock()
	if st := deliverSigned(t, hookAddr, "guess", "issues", "d-3", forged); st != 401 {
		t.Errorf("forged delivery answered %d, want 401", st)
	}
	f.Mu.Lock()
	rp.Issues[1]["title"], rp.Issues[1]["updated_at"] = "Printer fire: third floor", ghfake.Now()
	f.Mu.Unlock()
	// No delivery (GitHub failed to reach the node). Polling finds it:
	// the operator sets a poll interval, applied without a restart.
	g.writeHome("config.yaml", strings.Replace(readFile(t, cfgPath), "poll_interval: 1h", "poll_interval: 2s", 1))
	testutil.WaitFor(t, 30*time.Second, "the change whose webhook was missed reaches the local tracker by polling", func() bool {
		got, err := l.issue(local.Key)
		return err == nil && got.Summary == "Printer fire: third floor"
	})
	if _, ok := l.findBySummary("Printer on fire (forged)"); ok {
		t.Error("the forged delivery's title reached the local tracker")
	}

	// 4. Rate limited: the change waits, queue and errors say until when.
	f.Mu.Lock()
	f.LimitFor = time.Now().Add(8 * time.Second)
	f.Mu.Unlock()
	l.mustCLI("issue", "edit", local.Key, "--summary", "Printer fire: out")
	var queueOut, errorsOut string
	testutil.WaitFor(t, 8*time.Second, "queue shows the rate limit", func() bool {
		queueOut, _ = g.cli("queue")
		return strings.Contains(queueOut, "rate-limited until")
	})
	errorsOut, _ = g.cli("errors")
	if !strings.Contains(errorsOut, "rate-limited until") || !strings.Contains(errorsOut, "nothing is lost") {
		t.Errorf("errors during the rate limit:\n%s", errorsOut)
	}
	t.Logf("queue during the rate limit:\n%s", queueOut)
	testutil.WaitFor(t, 40*time.Second, "the held change reaches GitHub after the reset", func() bool {
		f.Mu.Lock()
		defer f.Mu.Unlock()
		return rp.Issues[1]["title"] == "Printer fire: out"
	})
	checked := f.Checked()
	f.Mu.Lock()
	t.Logf("GitHub fake: %d requests (%d answered 304, free), %d exchanges validated against %s",
		f.Requests, f.NotMod, checked, filepath.Base(spec.File))
	f.Mu.Unlock()
}

// deliver posts a webhook delivery signed with secret, after checking it
// against GitHub's webhooks description; it returns the HTTP status.
func deliver(t *testing.T, addr, secret, event, id string, payload map[string]any) int {
	t.Helper()
	return deliverSigned(t, addr, secret, event, id, payload)
}

func deliverSigned(t *testing.T, addr, key, event, id string, payload map[string]any) int {
	t.Helper()
	body, _ := json.Marshal(payload)
	if schema := webhookSchema(event, payload); schema != "" {
		errs, err := ghfake.CheckDelivery(schema, body)
		if err != nil {
			t.Skipf("GitHub's webhooks description (@octokit/openapi-webhooks) is not available: %v", err)
		}
		for _, e := range errs {
			t.Error(e)
		}
	}
	req, _ := http.NewRequest("POST", "http://"+addr+"/", bytes.NewReader(body))
	m := hmac.New(sha256.New, []byte(key))
	m.Write(body)
	req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(m.Sum(nil)))
	req.Header.Set("X-GitHub-Event", event)
	req.Header.Set("X-GitHub-Delivery", id)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// webhookSchema names the description's schema of a delivery.
func webhookSchema(event string, payload map[string]any) string {
	action, _ := payload["action"].(string)
	switch event {
	case "issues":
		return "webhook-issues-" + action
	case "issue_comment":
		return "webhook-issue-comment-" + action
	}
	return ""
}
