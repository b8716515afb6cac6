package e2e

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/issuemesh/issuemesh/internal/testutil"
)

// realRedmine returns the test Redmine's URL and API key file, or skips.
func realRedmine(t *testing.T) (string, string) {
	t.Helper()
	u, f := os.Getenv("ISSUEMESH_TEST_REDMINE_URL"), os.Getenv("ISSUEMESH_TEST_REDMINE_KEY_FILE")
	if u == "" || f == "" {
		t.Skip("no real Redmine: set ISSUEMESH_TEST_REDMINE_URL and ISSUEMESH_TEST_REDMINE_KEY_FILE (scripts/redmine.sh prints them)")
	}
	return u, f
}

// redmineProject creates a fresh project, deleted when the test ends.
func redmineProject(t *testing.T, rmURL string, hdr http.Header) string {
	t.Helper()
	project := randomName("e2e-")
	var trackers struct{ Trackers []struct{ ID int } }
	rawJSON(t, "GET", rmURL+"/trackers.json", hdr, nil, &trackers)
	var tids []int
	for _, x := range trackers.Trackers {
		tids = append(tids, x.ID)
	}
	rawJSON(t, "POST", rmURL+"/projects.json", hdr, map[string]any{"project": map[string]any{
		"name": project, "identifier": project, "enabled_module_names": []string{"issue_tracking"}, "tracker_ids": tids}}, nil)
	t.Cleanup(func() { rawJSON(t, "DELETE", rmURL+"/projects/"+project+".json", hdr, nil, nil) })
	return project
}

// rtQueue creates a fresh RT queue for one test, deleted after it.
func rtQueue(t *testing.T, rtURL string, hdr http.Header) string {
	t.Helper()
	queue := randomName("e2e-")
	var q struct{ ID json.Number }
	rawJSON(t, "POST", rtURL+"/REST/2.0/queue", hdr, map[string]any{"Name": queue}, &q)
	t.Cleanup(func() { rawJSON(t, "DELETE", rtURL+"/REST/2.0/queue/"+q.ID.String(), hdr, nil, nil) })
	return queue
}

// countingProxy forwards to target and counts the requests.
func countingProxy(t *testing.T, target string) (string, *atomic.Int64) {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	var n atomic.Int64
	rp := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, &n
}

type trackerStatus struct {
	Tracker struct {
		State    string    `json:"state"`
		LastPoll time.Time `json:"last_poll"`
		Error    *struct {
			Class     string    `json:"class"`
			Permanent bool      `json:"permanent"`
			Message   string    `json:"message"`
			Since     time.Time `json:"since"`
		} `json:"error"`
	} `json:"tracker"`
	Config *struct {
		Applied []string `json:"applied"`
		Refused *struct {
			Error string `json:"error"`
		} `json:"refused"`
	} `json:"config"`
}

func (p *proc) trackerStatus() trackerStatus {
	p.t.Helper()
	var st trackerStatus
	if err := p.cliJSON(&st, "status"); err != nil {
		p.t.Fatal(err)
	}
	return st
}

// A wrong Redmine API key is a permanent tracker error in status --json
// within one poll, after which the node sends Redmine nothing; writing the
// right key into the key file recovers the running node.
func TestWrongRedmineKeyStopsThenRecovers(t *testing.T) {
	rmURL, keyFile := realRedmine(t)
	good := secret(t, keyFile)
	project := redmineProject(t, rmURL, http.Header{"X-Redmine-Api-Key": {good}})
	proxy, requests := countingProxy(t, rmURL)

	bad := filepath.Join(t.TempDir(), "redmine.key")
	if err := os.WriteFile(bad, []byte(strings.Repeat("0", 40)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	a := newNode(t, "redmine", "--tracker", "redmine", "--url", proxy, "--api-key-file", bad, "--project", project)
	a.pollEvery("1s")
	start := time.Now()
	a.start()

	var st trackerStatus
	testutil.WaitFor(t, 15*time.Second, "status --json shows a permanent credentials error", func() bool {
		st = a.trackerStatus()
		return st.Tracker.State == "stopped" && st.Tracker.Error != nil && st.Tracker.Error.Class == "credentials" && st.Tracker.Error.Permanent
	})
	t.Logf("permanent error shown %v after start (poll interval 1s): %s", time.Since(start).Round(time.Millisecond), st.Tracker.Error.Message)
	if text := a.mustCLI("status"); !strings.Contains(text, "credentials") || !strings.Contains(text, "no requests until") {
		t.Errorf("status text does not say the tracker is stopped:\n%s", text)
	}

	// Without the stop, the trigger retries the 401 with its backoff
	// (200 ms doubling) and each poll costs several requests: over this
	// window of five poll intervals the old node sent about a dozen. The
	// window is the measurement itself, not a wait for a condition.
	before := requests.Load()
	time.Sleep(5 * time.Second)
	if n := requests.Load() - before; n != 0 {
		t.Fatalf("%d requests reached Redmine in 5s after the credentials were refused; want none", n)
	}

	if err := os.WriteFile(bad, []byte(good+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	fixed := time.Now()
	testutil.WaitFor(t, 20*time.Second, "the node polls Redmine again with the fixed key", func() bool {
		st = a.trackerStatus()
		return st.Tracker.State == "ok" && st.Tracker.LastPoll.After(fixed)
	})
	t.Logf("recovered %v after the key file was fixed, without a restart", time.Since(fixed).Round(time.Millisecond))
}

// A map edited in config.yaml takes effect on retry, without a restart: a
// status Redmine does not have blocks the twin; a typo'd fix is refused
// with "did you mean" and the running map stays; the right fix and retry
// apply it.
func TestMapEditedInConfigAppliesOnRetry(t *testing.T) {
	rmURL, keyFile := realRedmine(t)
	hdr := http.Header{"X-Redmine-Api-Key": {secret(t, keyFile)}}
	project := redmineProject(t, rmURL, hdr)

	a := newNode(t, "alice")
	b := newNode(t, "redmine", "--tracker", "redmine", "--url", rmURL, "--api-key-file", keyFile, "--project", project)
	b.pollEvery("1s")
	b.appendConfig("connections:\n  \"*\":\n    status_map: {New: Todo}\n")
	a.start()
	b.start()
	pair(a, b)

	a.mustCLI("issue", "create", "--summary", "needs a mapped status", "--status", "Doing")
	var blocked []struct {
		Key   string `json:"key"`
		Error string `json:"error"`
	}
	testutil.WaitFor(t, 60*time.Second, "the twin is blocked on the Redmine node: Doing is no Redmine status", func() bool {
		return b.cliJSON(&blocked, "errors") == nil && len(blocked) == 1 && strings.Contains(blocked[0].Error, "Doing")
	})

	// A typo: refused, with the name it was probably meant to be.
	cfg := readFile(t, filepath.Join(b.home, "config.yaml"))
	b.writeHome("config.yaml", strings.Replace(cfg, "{New: Todo}", "{New: Todo, In Progres: Doing}", 1))
	testutil.WaitFor(t, 20*time.Second, "status shows the typo'd config.yaml refused with did you mean", func() bool {
		st := b.trackerStatus()
		return st.Config != nil && st.Config.Refused != nil && strings.Contains(st.Config.Refused.Error, `did you mean "In Progress"?`)
	})
	b.writeHome("config.yaml", strings.Replace(cfg, "{New: Todo}", "{New: Todo, In Progress: Doing}", 1))
	out := b.mustCLI("retry", "--all")
	t.Logf("retry: %s", strings.TrimSpace(out))
	testutil.WaitFor(t, 30*time.Second, "the Redmine issue exists with status In Progress", func() bool {
		var list struct {
			Issues []struct {
				Subject string
				Status  struct{ Name string }
			}
		}
		rawJSON(t, "GET", rmURL+"/issues.json?status_id=*&project_id="+project, hdr, nil, &list)
		return len(list.Issues) == 1 && list.Issues[0].Status.Name == "In Progress"
	})
	st := b.trackerStatus()
	if st.Config == nil || st.Config.Refused != nil || !strings.Contains(strings.Join(st.Config.Applied, ","), "connections") {
		js, _ := json.Marshal(st.Config)
		t.Errorf("status config after the fix: %s", js)
	}
}

// config check (and tracker check) pass a good config and fail a map with
// a typo, naming the value it was probably meant to be; they exit non-zero.
func TestConfigCheckDidYouMean(t *testing.T) {
	rmURL, keyFile := realRedmine(t)
	project := redmineProject(t, rmURL, http.Header{"X-Redmine-Api-Key": {secret(t, keyFile)}})
	a := newNode(t, "redmine", "--tracker", "redmine", "--url", rmURL, "--api-key-file", keyFile, "--project", project)
	a.appendConfig("connections:\n  \"*\":\n    status_map: {New: Todo, Closed: Done}\n    priority_map: {Urgent: urgent}\n")
	if out, err := a.cli("config", "check"); err != nil || strings.Contains(out, "FAIL") {
		t.Fatalf("config check of a good config: %v\n%s", err, out)
	}
	cfg := readFile(t, filepath.Join(a.home, "config.yaml"))
	a.writeHome("config.yaml", strings.Replace(cfg, "Closed: Done", "Closd: Done", 1))
	for _, cmd := range []string{"config", "tracker"} {
		out, err := a.cli(cmd, "check")
		if err == nil || !strings.Contains(out, "FAIL connections.*.status_map") || !strings.Contains(out, `did you mean "Closed"?`) {
			t.Fatalf("%s check of a typo'd map: err %v\n%s", cmd, err, out)
		}
	}
	var results []struct {
		Name   string `json:"name"`
		OK     bool   `json:"ok"`
		Detail string `json:"detail"`
	}
	out, _ := a.cli("config", "check", "--json")
	if err := json.Unmarshal([]byte(out), &results); err != nil {
		t.Fatalf("config check --json: %v: %s", err, out)
	}
	failed := 0
	for _, r := range results {
		if !r.OK {
			failed++
		}
	}
	if failed != 1 {
		t.Fatalf("config check --json: want one failure: %+v", results)
	}
}

// SIGHUP reloads config.yaml at once; status says what was applied and
// what needs a restart.
func TestSIGHUPReloadsConfig(t *testing.T) {
	a := newNode(t, "alice")
	a.start()
	cfg := readFile(t, filepath.Join(a.home, "config.yaml"))
	cfg = strings.Replace(cfg, "log: info", "log: debug", 1)
	cfg = strings.Replace(cfg, "mdns: true", "mdns: false", 1)
	a.writeHome("config.yaml", cfg+"connections:\n  \"*\":\n    status_map: {Open: Todo}\n")
	a.mu.Lock()
	a.cmd.Process.Signal(syscall.SIGHUP)
	a.mu.Unlock()
	testutil.WaitFor(t, 10*time.Second, "the log says the signal reloaded config.yaml", func() bool {
		return strings.Contains(a.log.String(), "reloading config.yaml (signal)")
	})
	var st struct {
		Config struct {
			Applied      []string `json:"applied"`
			NeedsRestart []string `json:"needs_restart"`
		} `json:"config"`
	}
	testutil.WaitFor(t, 10*time.Second, "status shows the reload", func() bool {
		return a.cliJSON(&st, "status") == nil && len(st.Config.Applied) > 0
	})
	applied := strings.Join(st.Config.Applied, ", ")
	if !strings.Contains(applied, "connections") || !strings.Contains(applied, "log debug") || strings.Join(st.Config.NeedsRestart, ",") != "mdns" {
		t.Fatalf("status after SIGHUP: applied %q, needs restart %v", applied, st.Config.NeedsRestart)
	}
	if text := a.mustCLI("status"); !strings.Contains(text, "needs a restart: mdns") {
		t.Errorf("status text:\n%s", text)
	}
}
