package e2e

import (
	"context"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/issuemesh/issuemesh/adapters"

	"github.com/issuemesh/issuemesh/internal/testutil"
)

// readmeConfig returns the YAML block that follows the line naming file
// (e.g. "`~/rm/config.yaml`") in README.md, as a user would copy it.
func readmeConfig(t *testing.T, file string) string {
	t.Helper()
	readme := readFile(t, "../README.md")
	re := regexp.MustCompile("(?s)\n`" + regexp.QuoteMeta(file) + "`[^\n]*\n\n```yaml\n(.*?)```\n")
	m := re.FindAllStringSubmatch(readme, -1)
	if len(m) != 1 {
		t.Fatalf("README.md has %d yaml blocks for %s; want exactly one", len(m), file)
	}
	return m[0][1]
}

// TestREADMEWorkedExample copies the worked example's config files from the
// README, block by block, and syncs a Redmine issue and its RT ticket through
// every status and priority the two trackers ship with, both ways, with no
// blocked twin. The only edits to the blocks: a fresh project and queue (so
// nothing else is synced) and listen port 0 (so parallel runs do not clash).
func TestREADMEWorkedExample(t *testing.T) {
	rmURL, rmKeyFile, rtURL, rtTokenFile := realTrackers(t)
	if rmURL != "http://127.0.0.1:3000" || rtURL != "http://127.0.0.1:8080" || rmKeyFile != "/var/lib/issuemesh-test/redmine.key" || rtTokenFile != "/var/lib/issuemesh-test/rt.token" {
		t.Skip("the README's worked example names the trackers of scripts/redmine.sh and scripts/rt.sh at their default places")
	}
	rmHdr := http.Header{"X-Redmine-Api-Key": {secret(t, rmKeyFile)}}
	rtHdr := http.Header{"Authorization": {"token " + secret(t, rtTokenFile)}}
	project, queue := redmineProject(t, rmURL, rmHdr), rtQueue(t, rtURL, rtHdr)

	adapt := func(block, from, to string) string {
		if !strings.Contains(block, from) {
			t.Fatalf("the README block has no %q:\n%s", from, block)
		}
		block = strings.Replace(block, from, to, 1)
		return regexp.MustCompile(`/tcp/\d+`).ReplaceAllString(block, "/tcp/0")
	}
	a, b := newNode(t, "redmine"), newNode(t, "rt")
	a.writeHome("config.yaml", adapt(readmeConfig(t, "~/rm/config.yaml"), "project: issuemesh", "project: "+project))
	b.writeHome("config.yaml", adapt(readmeConfig(t, "~/rt/config.yaml"), "queue: issuemesh", "queue: "+queue))
	for _, p := range []*proc{a, b} {
		p.mustCheckTracker()
	}
	a.start()
	b.start()
	pair(a, b)

	rm, rtq := trackerClients(t, rmURL, rmKeyFile, project, rtURL, rtTokenFile, queue)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	src, err := rm.Create(ctx, adapters.Issue{Summary: "every status and priority"})
	if err != nil {
		t.Fatal(err)
	}
	twin := twinOf(t, a, src.Key)
	var tk adapters.Issue
	testutil.WaitFor(t, 60*time.Second, "the issue is in RT", func() bool {
		tk, err = rtq.FindByTwin(ctx, twin)
		return err == nil
	})
	noneBlocked := func() {
		t.Helper()
		for _, p := range []*proc{a, b} {
			var st struct{ Blocked int }
			if err := p.cliJSON(&st, "status"); err != nil || st.Blocked != 0 {
				out, _ := p.cli("errors")
				t.Fatalf("%s has %d blocked twins (%v):\n%s", p.name, st.Blocked, err, out)
			}
		}
	}
	// Redmine -> RT: each of Redmine's values, and what RT shows for it.
	for _, c := range []struct{ status, priority, rtStatus, rtPriority string }{
		{"In Progress", "Low", "open", "Low"},
		{"Feedback", "Normal", "stalled", "Medium"},
		{"Resolved", "High", "resolved", "High"},
		{"Rejected", "Urgent", "rejected", "Medium"}, // 90
		{"Closed", "Immediate", "deleted", "High"},   // 100
		{"New", "Normal", "new", "Medium"},
	} {
		if _, err := rm.Update(ctx, src.Key, adapters.Patch{Status: ptr(c.status), Priority: ptr(c.priority)}); err != nil {
			t.Fatal(err)
		}
		testutil.WaitFor(t, 60*time.Second, "Redmine's "+c.status+", "+c.priority+" is "+c.rtStatus+", "+c.rtPriority+" in RT", func() bool {
			noneBlocked()
			tk, err = rtq.Get(ctx, tk.Key)
			return err == nil && tk.Status == c.rtStatus && tk.Priority == c.rtPriority
		})
	}
	// RT -> Redmine: each of RT's values.
	for _, c := range []struct{ status, priority, rmStatus, rmPriority string }{
		{"open", "High", "In Progress", "High"},
		{"stalled", "Low", "Feedback", "Low"},
		{"resolved", "Medium", "Resolved", "Normal"},
		{"rejected", "High", "Rejected", "High"},
		{"deleted", "Low", "", ""}, // RT leaves deleted tickets out of every search: it does not travel
		{"new", "Medium", "New", "Normal"},
	} {
		if _, err := rtq.Update(ctx, tk.Key, adapters.Patch{Status: ptr(c.status), Priority: ptr(c.priority)}); err != nil {
			t.Fatal(err)
		}
		if c.rmStatus == "" {
			continue
		}
		testutil.WaitFor(t, 60*time.Second, "RT's "+c.status+", "+c.priority+" is "+c.rmStatus+", "+c.rmPriority+" in Redmine", func() bool {
			noneBlocked()
			is, err := rm.Get(ctx, src.Key)
			return err == nil && is.Status == c.rmStatus && is.Priority == c.rmPriority
		})
	}
	noneBlocked()
}
