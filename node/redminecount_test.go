package node

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/adapters/redmine"
)

// countingTransport counts the HTTP requests made through it, by method
// and kind of path: the issue list (the change feed and searches), one
// issue, other paths.
type countingTransport struct {
	mu     sync.Mutex
	counts map[string]int
}

var oneIssue = regexp.MustCompile(`^/issues/\d+\.json$`)

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	kind := r.URL.Path
	switch {
	case r.URL.Path == "/issues.json":
		kind = "issues list"
	case oneIssue.MatchString(r.URL.Path):
		kind = "one issue"
	}
	c.mu.Lock()
	c.counts[r.Method+" "+kind]++
	c.mu.Unlock()
	return http.DefaultTransport.RoundTrip(r)
}

func (c *countingTransport) take() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.counts
	c.counts = map[string]int{}
	return out
}

func perChange(m map[string]int, n int) string {
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d (%.2f per change)", k, m[k], float64(m[k])/float64(n)))
	}
	return strings.Join(parts, "; ")
}

// TestRedmineRequestsPerChange measures, against a real Redmine
// (ISSUEMESH_TEST_REDMINE_URL, ISSUEMESH_TEST_REDMINE_KEY_FILE;
// scripts/redmine.sh), the HTTP requests a node makes of Redmine per
// synced change: as the sender of new issues and edits, and as the
// receiver of edits. The change feed's polls are counted apart ("GET
// issues list"); reads of one issue ("GET one issue") are what share and
// apply add per change.
func TestRedmineRequestsPerChange(t *testing.T) {
	rmURL, keyFile := os.Getenv("ISSUEMESH_TEST_REDMINE_URL"), os.Getenv("ISSUEMESH_TEST_REDMINE_KEY_FILE")
	if rmURL == "" || keyFile == "" {
		t.Skip("no real Redmine: set ISSUEMESH_TEST_REDMINE_URL and ISSUEMESH_TEST_REDMINE_KEY_FILE (scripts/redmine.sh prints them)")
	}
	kb, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	key := strings.TrimSpace(string(kb))
	project := fmt.Sprintf("count-%d", time.Now().UnixNano())
	call := func(method, path string, in, out any) {
		t.Helper()
		var body bytes.Buffer
		if in != nil {
			_ = json.NewEncoder(&body).Encode(in)
		}
		req, _ := http.NewRequest(method, rmURL+path, &body)
		req.Header.Set("X-Redmine-API-Key", key)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			t.Fatalf("%s %s: %s", method, path, resp.Status)
		}
		if out != nil {
			_ = json.NewDecoder(resp.Body).Decode(out)
		}
	}
	var trackers struct{ Trackers []struct{ ID int } }
	call("GET", "/trackers.json", nil, &trackers)
	var tids []int
	for _, x := range trackers.Trackers {
		tids = append(tids, x.ID)
	}
	call("POST", "/projects.json", map[string]any{"project": map[string]any{
		"name": project, "identifier": project, "enabled_module_names": []string{"issue_tracking"}, "tracker_ids": tids}}, nil)
	t.Cleanup(func() { call("DELETE", "/projects/"+project+".json", nil, nil) })

	ct := &countingTransport{counts: map[string]int{}}
	o := redmine.Options{URL: rmURL, APIKey: key, Project: project, Settle: time.Second}
	direct, err := redmine.New(o) // the test's own edits, not counted
	if err != nil {
		t.Fatal(err)
	}
	o.HTTP.HTTPClient = &http.Client{Transport: ct, Timeout: 30 * time.Second}
	counted, err := redmine.New(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	a, b := startNode(t, "a", Options{Tracker: counted}), startNode(t, "b", Options{})
	pairNodes(t, a, b)
	const n = 5
	idle := func(what string, done func() bool) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for !(done() && a.count(t, "o/") == 0 && b.count(t, "o/") == 0 && a.count(t, "i/") == 0 && b.count(t, "i/") == 0) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting until %s", what)
			}
			time.Sleep(50 * time.Millisecond)
		}
		time.Sleep(8 * time.Second) // a poll or two past the settle time: late rereads count too
	}
	idle("both idle", func() bool { return true })
	ct.take()
	keys := make([]string, n)
	for i := range keys {
		is, err := direct.Create(ctx, adapters.Issue{Summary: fmt.Sprintf("count %d", i)})
		if err != nil {
			t.Fatal(err)
		}
		keys[i] = is.Key
	}
	idle("B has every issue", func() bool { return b.count(t, "t/") >= n })
	t.Logf("Redmine as the sender, first share of %d issues: %s", n, perChange(ct.take(), n))
	for i, k := range keys {
		if _, err := direct.Update(ctx, k, adapters.Patch{Summary: ptr(fmt.Sprintf("count %d edited", i))}); err != nil {
			t.Fatal(err)
		}
	}
	idle("B has every edit", func() bool {
		_, ok := b.issueBySummary(t, fmt.Sprintf("count %d edited", n-1))
		return ok
	})
	t.Logf("Redmine as the sender, edit of %d issues: %s", n, perChange(ct.take(), n))
	for i := range keys {
		is, ok := b.issueBySummary(t, fmt.Sprintf("count %d edited", i))
		if !ok {
			t.Fatalf("B lacks issue %d", i)
		}
		if _, err := b.tracker.Update(ctx, is.Key, adapters.Patch{Summary: ptr(fmt.Sprintf("count %d from b", i))}); err != nil {
			t.Fatal(err)
		}
	}
	idle("Redmine has every edit of B", func() bool {
		is, err := direct.Get(ctx, keys[n-1])
		return err == nil && is.Summary == fmt.Sprintf("count %d from b", n-1)
	})
	t.Logf("Redmine as the receiver, edit of %d issues: %s", n, perChange(ct.take(), n))
}
