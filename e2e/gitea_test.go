package e2e

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	neturl "net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/adapters/gitea"
	"github.com/issuemesh/issuemesh/internal/testutil"
)

// realGitea returns the test Gitea's URL, token file and user, or skips.
func realGitea(t *testing.T) (url, tokenFile, user string) {
	t.Helper()
	env := []string{"ISSUEMESH_TEST_GITEA_URL", "ISSUEMESH_TEST_GITEA_TOKEN_FILE", "ISSUEMESH_TEST_GITEA_USER"}
	vals := make([]string, len(env))
	for i, e := range env {
		if vals[i] = os.Getenv(e); vals[i] == "" {
			t.Skipf("no real Gitea: set %s (scripts/gitea.sh, run as root, builds and starts one and prints them)", strings.Join(env, ", "))
		}
	}
	return vals[0], vals[1], vals[2]
}

func freeTCP(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// hookRelay stands between Gitea and the node's webhook listener: it
// notes when each delivery reached it, then passes it on, so the test can
// measure from the delivery rather than from the change.
type hookRelay struct {
	srv        *http.Server
	deliveries chan delivery
}

type delivery struct {
	at    time.Time
	event string
}

func newHookRelay(t *testing.T, listen, node string) *hookRelay {
	t.Helper()
	to, _ := neturl.Parse("http://" + node + "/")
	proxy := httputil.NewSingleHostReverseProxy(to)
	r := &hookRelay{deliveries: make(chan delivery, 64)}
	r.srv = &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		d := delivery{at: time.Now(), event: req.Header.Get("X-Gitea-Event")}
		proxy.ServeHTTP(w, req)
		select {
		case r.deliveries <- d:
		default:
		}
	})}
	l, err := net.Listen("tcp", listen)
	if err != nil {
		t.Fatal(err)
	}
	go r.srv.Serve(l)
	t.Cleanup(func() { r.srv.Close() })
	return r
}

// drain forgets the deliveries seen so far.
func (r *hookRelay) drain() {
	for {
		select {
		case <-r.deliveries:
		default:
			return
		}
	}
}

// next waits for the next delivery of event.
func (r *hookRelay) next(t *testing.T, event string, within time.Duration) delivery {
	t.Helper()
	deadline := time.After(within)
	for {
		select {
		case d := <-r.deliveries:
			if d.event == event {
				return d
			}
		case <-deadline:
			t.Fatalf("no %q delivery from Gitea within %v", event, within)
		}
	}
}

// TestGiteaAndLocal runs a node beside the real Gitea, with a webhook
// (polling every 30 s, so a quick arrival is the webhook's doing), and a
// node with the local tracker. An issue opened in Gitea is on the local
// node within a second of the webhook's delivery (its creation stamp
// there, against the delivery's arrival at a relay in front of the
// node's listener); a comment and a status change made there come back to
// Gitea (status mapped both ways); a comment deleted in Gitea reaches the
// local node by its webhook (the feed lists nothing for it); Gitea
// stopped in the middle loses nothing; a forged webhook delivery is
// refused and changes nothing.
func TestGiteaAndLocal(t *testing.T) {
	url, tokenFile, user := realGitea(t)
	hdr := http.Header{"Authorization": {"token " + secret(t, tokenFile)}}
	name := randomName("e2e-")
	rawJSON(t, "POST", url+"/api/v1/user/repos", hdr, map[string]any{"name": name, "auto_init": true}, nil)
	repo := user + "/" + name
	t.Cleanup(func() {
		req, _ := http.NewRequest("DELETE", url+"/api/v1/repos/"+repo, nil)
		req.Header = hdr.Clone()
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	})
	// Gitea delivers to relayAddr, the relay to the node's hookAddr; the
	// hook names hookAddr until tracker check has probed it.
	hookAddr, relayAddr, hookSecret := freeTCP(t), freeTCP(t), "e2e-hook-secret"
	secretFile := filepath.Join(t.TempDir(), "hook.secret")
	if err := os.WriteFile(secretFile, []byte(hookSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var hook struct{ ID int64 }
	rawJSON(t, "POST", url+"/api/v1/repos/"+repo+"/hooks", hdr, map[string]any{
		"type": "gitea", "active": true, "events": []string{"issues", "issue_comment"},
		"config": map[string]string{"url": "http://" + hookAddr + "/", "content_type": "json", "secret": hookSecret},
	}, &hook)

	// The repository as the test sees it (as a user would change it).
	gt, err := gitea.New(gitea.Options{URL: url, Token: secret(t, tokenFile), Repo: repo})
	if err != nil {
		t.Fatal(err)
	}
	defer gt.Close()

	a := newNode(t, "gitea", "--tracker", "gitea", "--url", url, "--repo", repo, "--token-file", tokenFile)
	b := newNode(t, "local")
	a.writeHome("config.yaml", strings.Replace(readFile(t, filepath.Join(a.home, "config.yaml")), "tracker:\n",
		fmt.Sprintf("tracker:\n    poll_interval: 30s\n    webhook:\n        listen: %s\n        secret_file: %s\n", hookAddr, secretFile), 1))
	a.appendConfig("connections:\n  \"*\":\n    status_map: {open: Todo, closed: Done}\n")
	b.appendConfig("connections:\n  \"*\":\n    status_map: {New: Todo, Resolved: Done}\n")
	if out := a.mustCLI("tracker", "check"); strings.Contains(out, "FAIL") || !strings.Contains(out, "test delivery of webhook") || !strings.Contains(out, "reached it") {
		t.Fatalf("tracker check (want no failure, and Gitea's test delivery reaching the listener):\n%s", out)
	} else {
		t.Logf("tracker check:\n%s", out)
	}
	relay := newHookRelay(t, relayAddr, hookAddr)
	rawJSON(t, "PATCH", fmt.Sprintf("%s/api/v1/repos/%s/hooks/%d", url, repo, hook.ID), hdr, map[string]any{
		"active": true, "events": []string{"issues", "issue_comment"}, // Gitea resets what a PATCH leaves out
		"config": map[string]string{"url": "http://" + relayAddr + "/", "content_type": "json", "secret": hookSecret},
	}, nil)
	a.start()
	b.start()
	pair(a, b)
	logStateOnFailure(t, a, b)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	// Gitea -> local, driven by the webhook: on the local node within a
	// second of the delivery.
	relay.drain()
	start := time.Now()
	src, err := gt.Create(ctx, adapters.Issue{Summary: "Build fails on arm64", Description: "Since the Go upgrade.", Labels: []string{"ci"}})
	if err != nil {
		t.Fatal(err)
	}
	delivered := relay.next(t, "issues", 20*time.Second)
	var local issue
	testutil.WaitFor(t, 20*time.Second, "the Gitea issue is on the local node", func() bool {
		var ok bool
		local, ok = b.findBySummary(src.Summary)
		return ok
	})
	var stamp struct {
		Created time.Time `json:"created"`
	}
	if err := b.cliJSON(&stamp, "issue", "show", local.Key); err != nil {
		t.Fatal(err)
	}
	took := stamp.Created.Sub(delivered.at)
	t.Logf("Gitea -> local node: created there %v after the webhook delivery, which came %v after the create call started; polling is every 30 s",
		took.Round(time.Millisecond), delivered.at.Sub(start).Round(time.Millisecond))
	if took > time.Second {
		t.Errorf("the issue was created on the local node %v after the webhook delivery, want within a second", took)
	}
	if local.Description != src.Description || local.Status != "New" {
		t.Errorf("on the local node: %+v", local)
	}

	// local -> Gitea: a comment, then the status.
	start = time.Now()
	b.mustCLI("issue", "comment", local.Key, "--author", "carol", "--body", "Reproduced on the CI runner.")
	var back adapters.Issue
	testutil.WaitFor(t, 30*time.Second, "the local comment is in Gitea", func() bool {
		back, err = gt.Get(ctx, src.Key)
		return err == nil && len(back.Comments) == 1
	})
	t.Logf("local node -> Gitea, a comment: %v", time.Since(start).Round(time.Millisecond))
	if c := back.Comments[0]; c.Body != "Reproduced on the CI runner." || !strings.Contains(c.Author, "carol") {
		t.Errorf("comment in Gitea: %+v", c)
	}
	b.mustCLI("issue", "edit", local.Key, "--status", "Resolved")
	testutil.WaitFor(t, 30*time.Second, "Resolved on the local node is closed in Gitea", func() bool {
		back, err = gt.Get(ctx, src.Key)
		return err == nil && back.Status == "closed"
	})
	// Gitea reopens; the local node sees New again (Todo both ways).
	if _, err := gt.Update(ctx, src.Key, adapters.Patch{Status: ptr("open")}); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 20*time.Second, "reopened in Gitea is New on the local node", func() bool {
		is, err := b.issue(local.Key)
		return err == nil && is.Status == "New"
	})

	// A comment made in Gitea, then deleted there: the deletion changes
	// nothing Gitea's feeds list, so only the webhook delivery that names
	// the issue brings it (polling is every 30 s and would not see it).
	made, err := gt.Update(ctx, src.Key, adapters.Patch{AddComments: []adapters.Comment{{Body: "Wrong issue, sorry."}}})
	if err != nil {
		t.Fatal(err)
	}
	lastChange := time.Now()
	testutil.WaitFor(t, 20*time.Second, "the Gitea comment is on the local node", func() bool {
		is, err := b.issue(local.Key)
		return err == nil && len(is.Comments) == 2
	})
	var gone string
	for _, c := range made.Comments {
		if c.Body == "Wrong issue, sorry." {
			gone = c.ID
		}
	}
	// The node's feed lists an issue again until a read of the feed made
	// gitea.DefaultSettle after its last change (the overlap). Past that,
	// a second issue opened in Gitea makes the node read the feed (by its
	// webhook): from then on the feed alone would miss the deletion.
	testutil.WaitFor(t, 30*time.Second, "the issue's last change is out of the feed's overlap", func() bool {
		return time.Since(lastChange) > gitea.DefaultSettle+2*time.Second
	})
	second, err := gt.Create(ctx, adapters.Issue{Summary: "Flaky test on arm64"})
	if err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 20*time.Second, "the second Gitea issue is on the local node", func() bool {
		_, ok := b.findBySummary(second.Summary)
		return ok
	})
	relay.drain()
	start = time.Now()
	req, _ := http.NewRequest("DELETE", url+"/api/v1/repos/"+repo+"/issues/comments/"+gone, nil)
	req.Header = hdr.Clone()
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("deleting comment %s in Gitea: %v %v", gone, resp, err)
	}
	relay.next(t, "issue_comment", 20*time.Second)
	testutil.WaitFor(t, 20*time.Second, "the comment deleted in Gitea is marked deleted on the local node", func() bool {
		is, err := b.issue(local.Key)
		return err == nil && len(is.Comments) == 2 && strings.HasPrefix(is.Comments[1].Body, "[deleted at ")
	})
	t.Logf("a comment deleted in Gitea: marked on the local node %v after the delete", time.Since(start).Round(time.Millisecond))

	// A forged delivery (wrong secret) is refused; one with no signature
	// too; nothing changes on either side.
	body := []byte(fmt.Sprintf(`{"action":"opened","issue":{"number":99,"title":"forged"},"repository":{"full_name":%q}}`, repo))
	m := hmac.New(sha256.New, []byte("not the secret"))
	m.Write(body)
	for _, sig := range []string{hex.EncodeToString(m.Sum(nil)), ""} {
		req, _ := http.NewRequest("POST", "http://"+hookAddr+"/", bytes.NewReader(body)) // to the node's listener itself
		req.Header.Set("X-Gitea-Event", "issues")
		req.Header.Set("X-Gitea-Delivery", randomName("forged-"))
		if sig != "" {
			req.Header.Set("X-Gitea-Signature", sig)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("a forged delivery (signature %q) answered %d, want 401", sig, resp.StatusCode)
		}
	}

	// Gitea stops: a comment made on the local node meanwhile waits in the
	// Gitea node's incoming log and lands once Gitea is back.
	if out, err := exec.Command("bash", "../scripts/stop-trackers.sh", "gitea").CombinedOutput(); err != nil {
		t.Fatalf("stopping Gitea: %v\n%s", err, out)
	}
	b.mustCLI("issue", "comment", local.Key, "--author", "carol", "--body", "Still failing while Gitea is down.")
	testutil.WaitFor(t, 60*time.Second, "the Gitea node holds the change while Gitea is down", func() bool {
		var st struct{ Incoming int }
		return a.cliJSON(&st, "status") == nil && st.Incoming > 0
	})
	if out, err := exec.Command("bash", "../scripts/gitea.sh").CombinedOutput(); err != nil {
		t.Fatalf("restarting Gitea: %v\n%s", err, out)
	}
	testutil.WaitFor(t, 3*time.Minute, "the comment made while Gitea was down lands in Gitea", func() bool {
		back, err = gt.Get(ctx, src.Key)
		return err == nil && len(back.Comments) == 2 && back.Comments[1].Body == "Still failing while Gitea is down."
	})

	// Settled: queues empty, and the forged delivery made nothing.
	for _, p := range []*proc{a, b} {
		var st struct{ Pending, Incoming, Blocked int }
		testutil.WaitFor(t, 60*time.Second, p.name+"'s queues are empty", func() bool {
			return p.cliJSON(&st, "status") == nil && st.Pending == 0 && st.Incoming == 0 && st.Blocked == 0
		})
	}
	if is := b.issues(); len(is) != 2 {
		t.Errorf("the local node has %d issues, want the two synced: %+v", len(is), is)
	}
	all, _, err := gt.Changes(ctx, "", 1000)
	if err != nil || len(all) != 2 {
		t.Errorf("Gitea has %d issues (%v), want the two", len(all), err)
	}
}
