package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/adapters/local"
	"github.com/issuemesh/issuemesh/adapters/redmine"
	"github.com/issuemesh/issuemesh/adapters/rt"
	"github.com/issuemesh/issuemesh/api"
	"github.com/issuemesh/issuemesh/config"
	"github.com/issuemesh/issuemesh/internal/reqcount"
	"github.com/issuemesh/issuemesh/node"
)

// requests: figure 8, tracker requests per synced change. A node whose
// tracker is counted is paired with a local node; changes are made on one
// side's tracker directly (not counted), and once the other side has them
// and both nodes are quiet, the requests each node made of its tracker are
// divided by the number of changes: per created twin, per field update
// (the summary), per comment and per file, on the source (the tracker the
// change was made in) and on the destination. The change feed's list
// polls are counted apart (they are made whatever changes).
//
// Trackers: the local tracker (a counting wrapper, calls by method), and
// the real Redmine and RT that scripts/redmine.sh and scripts/rt.sh
// install (a counting HTTP transport, internal/reqcount), when their
// environment is set; otherwise the figure says it skipped them and why.
func requests(ctx context.Context, e *env) error {
	n := 5
	settle := 5 * time.Second // the adapters' default (feed.DefaultSettle)
	if e.quick {
		settle = time.Second
	}
	poll := time.Second
	kinds := []struct {
		name string
		open func(ctx context.Context, c *reqcount.Counter) (counted, direct adapters.Tracker, cleanup func(), err error)
		// poll reports whether a request key is a change feed poll.
		poll func(key string) bool
	}{
		{"local", nil, func(k string) bool { return k == "Changes" }},
		{"redmine", func(ctx context.Context, c *reqcount.Counter) (adapters.Tracker, adapters.Tracker, func(), error) {
			return openRedmine(ctx, c, settle)
		}, func(k string) bool { return k == "GET /issues.json" }},
		{"rt", func(ctx context.Context, c *reqcount.Counter) (adapters.Tracker, adapters.Tracker, func(), error) {
			return openRT(ctx, c, settle)
		}, func(k string) bool { return k == "GET /REST/2.0/tickets" }},
	}
	var errs []error
	for _, k := range kinds {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if e.trackers != "" && !slices.Contains(strings.Split(e.trackers, ","), k.name) {
			continue
		}
		err := requestsOf(ctx, e, k.name, k.open, k.poll, n, settle, poll)
		var skip skipped
		if errors.As(err, &skip) {
			fmt.Fprintf(os.Stderr, "   requests: %s skipped: %s\n", k.name, skip.why)
			e.add(result{"requests_" + k.name + "_skipped", 0, "", "", "skipped: " + skip.why})
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", k.name, err))
		}
	}
	return errors.Join(errs...)
}

type skipped struct{ why string }

func (s skipped) Error() string { return "skipped: " + s.why }

// countingLocal is a local tracker counting the calls a node makes of it,
// by method, in a reqcount.Counts.
type countingLocal struct {
	*local.Tracker
	c *callCounter
}

type callCounter struct{ c *reqcount.Counter }

func (c callCounter) add(m string) { c.c.Add(m) }

func (t countingLocal) Get(ctx context.Context, key string) (adapters.Issue, error) {
	t.c.add("Get")
	return t.Tracker.Get(ctx, key)
}
func (t countingLocal) Create(ctx context.Context, in adapters.Issue) (adapters.Issue, error) {
	t.c.add("Create")
	return t.Tracker.Create(ctx, in)
}
func (t countingLocal) Update(ctx context.Context, key string, p adapters.Patch) (adapters.Issue, error) {
	t.c.add("Update")
	return t.Tracker.Update(ctx, key, p)
}
func (t countingLocal) FindByTwin(ctx context.Context, twin string) (adapters.Issue, error) {
	t.c.add("FindByTwin")
	return t.Tracker.FindByTwin(ctx, twin)
}
func (t countingLocal) Changes(ctx context.Context, since adapters.Cursor, limit int) ([]adapters.Issue, adapters.Cursor, error) {
	t.c.add("Changes")
	return t.Tracker.Changes(ctx, since, limit)
}
func (t countingLocal) AddAttachment(ctx context.Context, key string, a adapters.Attachment, r io.Reader) (adapters.Attachment, error) {
	t.c.add("AddAttachment")
	return t.Tracker.AddAttachment(ctx, key, a, r)
}
func (t countingLocal) OpenAttachment(ctx context.Context, key, id string) (io.ReadCloser, error) {
	t.c.add("OpenAttachment")
	return t.Tracker.OpenAttachment(ctx, key, id)
}

// trackerNode is a node running on a given tracker adapter.
type trackerNode struct {
	name string
	n    *node.Node
	stop func() error
}

func (t *trackerNode) status() (api.Status, error) {
	return t.n.Backend().Status(context.Background())
}

// get calls the node's admin API in-process.
func (t *trackerNode) get(path string, out any) error {
	rec := httptest.NewRecorder()
	t.n.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	if rec.Code != http.StatusOK {
		return fmt.Errorf("%s: GET %s: %d %s", t.name, path, rec.Code, strings.TrimSpace(rec.Body.String()))
	}
	return json.Unmarshal(rec.Body.Bytes(), out)
}

func startTrackerNode(dir, name string, tr adapters.Tracker, pollEvery time.Duration, e *env) (*trackerNode, error) {
	home := filepath.Join(dir, name)
	cfg := benchConfig()
	cfg.Tracker.PollInterval = config.Duration(pollEvery)
	if _, err := node.Init(home, cfg); err != nil {
		return nil, err
	}
	n, err := node.Open(home, node.Options{Logger: e.log.With("node", name), Tracker: tr, NoSync: true})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	tn := &trackerNode{name: name, n: n, stop: func() error {
		cancel()
		var err error
		select {
		case err = <-done:
		case <-time.After(30 * time.Second):
			err = fmt.Errorf("%s did not stop within 30s", name)
		}
		return errors.Join(err, n.Close())
	}}
	err = poll(20*time.Second, name+" runs", nil, cheap, func() (bool, error) {
		st, err := tn.status()
		return err == nil && st.Running && loopback(n) != "", nil
	})
	if err != nil {
		tn.stop()
		return nil, err
	}
	return tn, nil
}

func loopback(n *node.Node) string {
	for _, a := range n.Addrs() {
		if strings.HasPrefix(a, "/ip4/127.0.0.1/tcp/") && !strings.HasPrefix(a, "/ip4/127.0.0.1/tcp/0/") {
			return a
		}
	}
	return ""
}

// requestsOf measures one tracker kind: X (counted) paired with L, a
// counted local tracker. For "local", X is a counted local tracker too.
func requestsOf(ctx context.Context, e *env, kind string,
	open func(context.Context, *reqcount.Counter) (adapters.Tracker, adapters.Tracker, func(), error),
	isPoll func(string) bool, n int, settle, pollEvery time.Duration) (err error) {
	dir, err := e.dir("requests-" + kind)
	if err != nil {
		return err
	}
	xc, lc := reqcount.New(), reqcount.New()
	var xTracker, xDirect adapters.Tracker
	if open == nil {
		lt, err := local.Open(filepath.Join(dir, "x-tracker"), local.Options{})
		if err != nil {
			return err
		}
		defer lt.Close()
		xTracker, xDirect = countingLocal{lt, &callCounter{xc}}, lt
	} else {
		var cleanup func()
		xTracker, xDirect, cleanup, err = open(ctx, xc)
		if err != nil {
			return err
		}
		defer cleanup()
	}
	lt, err := local.Open(filepath.Join(dir, "l-tracker"), local.Options{})
	if err != nil {
		return err
	}
	defer lt.Close()
	x, err := startTrackerNode(dir, "x", xTracker, pollEvery, e)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, x.stop()) }()
	l, err := startTrackerNode(dir, "l", countingLocal{lt, &callCounter{lc}}, pollEvery, e)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, l.stop()) }()
	if _, err := l.n.AddPeer(ctx, loopback(x.n), "x"); err != nil {
		return err
	}
	if _, err := x.n.AddPeer(ctx, loopback(l.n), "l"); err != nil {
		return err
	}
	// quiet waits for done, then for both nodes to have nothing queued,
	// then a settle time and two polls more, so that late re-reads count.
	quiet := func(what string, done func() (bool, error)) error {
		err := poll(2*time.Minute, what, nil, 100*time.Millisecond, func() (bool, error) {
			ok, err := done()
			if !ok || err != nil {
				return false, err
			}
			for _, tn := range []*trackerNode{x, l} {
				st, err := tn.status()
				if err != nil {
					return false, err
				}
				if st.Blocked > 0 {
					return false, fmt.Errorf("%s has %d blocked twins", tn.name, st.Blocked)
				}
				if st.Pending > 0 || st.Incoming > 0 {
					return false, nil
				}
			}
			return true, nil
		})
		if err != nil {
			return err
		}
		select {
		case <-time.After(settle + 2*pollEvery):
		case <-ctx.Done():
			return ctx.Err()
		}
		return nil
	}
	if err := quiet("both nodes run", func() (bool, error) { return true, nil }); err != nil {
		return err
	}
	xc.Take()
	lc.Take()
	polls := time.Now()
	note := fmt.Sprintf("%d changes; poll every %v, feed settle %v", n, pollEvery, settle)
	report := func(side, change string, c reqcount.Counts, poll func(string) bool) {
		var feed, rest reqcount.Counts = reqcount.Counts{}, reqcount.Counts{}
		for k, v := range c {
			if poll(k) {
				feed[k] = v
			} else {
				rest[k] = v
			}
		}
		v := float64(rest.Total(nil)) / float64(n)
		e.add(result{fmt.Sprintf("requests_%s_%s_%s", kind, side, change), v, "req/change", "",
			fmt.Sprintf("%s; feed polls %d apart; %s", rest.Per(n), feed.Total(nil), note)})
	}
	isLocalPoll := func(k string) bool { return k == "Changes" }
	// phase runs one kind of change on the source's tracker and reports
	// both sides.
	phase := func(change string, srcIsX bool, do func() error, done func() (bool, error)) error {
		xc.Take()
		lc.Take()
		if err := do(); err != nil {
			return fmt.Errorf("%s: %w", change, err)
		}
		if err := quiet(change+" crossed", done); err != nil {
			return fmt.Errorf("%s: %w", change, err)
		}
		xs, ls := xc.Take(), lc.Take()
		if srcIsX {
			report("source", change, xs, isPoll)
			report("local_destination", change, ls, isLocalPoll)
		} else {
			report("destination", change, xs, isPoll)
			report("local_source", change, ls, isLocalPoll)
		}
		return nil
	}

	// X as the source: changes made in X reach L.
	lIssues := func() ([]adapters.Issue, error) { return lt.List(ctx) }
	var xKeys []string
	err = phase("create", true, func() error {
		for i := range n {
			is, err := xDirect.Create(ctx, adapters.Issue{Summary: fmt.Sprintf("req %d", i), Description: "counted", Status: openStatus(kind), Priority: "High"})
			if err != nil {
				return err
			}
			xKeys = append(xKeys, is.Key)
		}
		return nil
	}, func() (bool, error) {
		is, err := lIssues()
		return len(is) >= n, err
	})
	if err != nil {
		return err
	}
	if err := phase("update", true, func() error {
		for i, k := range xKeys {
			if _, err := xDirect.Update(ctx, k, adapters.Patch{Summary: ptr(fmt.Sprintf("req %d edited", i))}); err != nil {
				return err
			}
		}
		return nil
	}, func() (bool, error) {
		return countL(lIssues, func(is adapters.Issue) bool { return strings.HasSuffix(is.Summary, "edited") }, n)
	}); err != nil {
		return err
	}
	if err := phase("comment", true, func() error {
		for _, k := range xKeys {
			if _, err := xDirect.Update(ctx, k, adapters.Patch{AddComments: []adapters.Comment{{Body: "a counted comment"}}}); err != nil {
				return err
			}
		}
		return nil
	}, func() (bool, error) {
		return countL(lIssues, func(is adapters.Issue) bool { return len(is.Comments) > 0 }, n)
	}); err != nil {
		return err
	}
	if xa, ok := xDirect.(adapters.Attachments); ok {
		if err := phase("file", true, func() error {
			for _, k := range xKeys {
				if _, err := xa.AddAttachment(ctx, k, adapters.Attachment{Filename: "counted.txt", ContentType: "text/plain"}, strings.NewReader("a counted file\n")); err != nil {
					return err
				}
			}
			return nil
		}, func() (bool, error) {
			return countLFull(ctx, lt, func(is adapters.Issue) bool { return len(is.Attachments) > 0 }, n)
		}); err != nil {
			return err
		}
	}

	// X as the destination: changes made in L reach X.
	var lKeys, xOf []string
	if err := phase("create", false, func() error {
		for i := range n {
			is, err := lt.Create(ctx, adapters.Issue{Summary: fmt.Sprintf("back %d", i), Description: "counted", Status: openStatus(kind), Priority: "High"})
			if err != nil {
				return err
			}
			lKeys = append(lKeys, is.Key)
		}
		return nil
	}, func() (bool, error) {
		xOf = xOf[:0]
		for _, k := range lKeys {
			var v api.IssueView
			if err := l.get("/v1/issues/"+k, &v); err != nil {
				return false, nil
			}
			for _, tw := range v.Twins {
				if tw.Key != "" {
					xOf = append(xOf, tw.Key)
				}
			}
		}
		return len(xOf) == n, nil
	}); err != nil {
		return err
	}
	xHas := func(ok func(adapters.Issue) bool) func() (bool, error) {
		return func() (bool, error) {
			for _, k := range xOf {
				is, err := xDirect.Get(ctx, k)
				if err != nil || !ok(is) {
					return false, nil
				}
			}
			return true, nil
		}
	}
	if err := phase("update", false, func() error {
		for i, k := range lKeys {
			if _, err := lt.Update(ctx, k, adapters.Patch{Summary: ptr(fmt.Sprintf("back %d edited", i))}); err != nil {
				return err
			}
		}
		return nil
	}, xHas(func(is adapters.Issue) bool { return strings.HasSuffix(is.Summary, "edited") })); err != nil {
		return err
	}
	if err := phase("comment", false, func() error {
		for _, k := range lKeys {
			if _, err := lt.Update(ctx, k, adapters.Patch{AddComments: []adapters.Comment{{Body: "a counted comment"}}}); err != nil {
				return err
			}
		}
		return nil
	}, xHas(func(is adapters.Issue) bool { return len(is.Comments) > 0 })); err != nil {
		return err
	}
	if _, ok := xDirect.(adapters.Attachments); ok {
		if err := phase("file", false, func() error {
			for _, k := range lKeys {
				if _, err := lt.AddAttachment(ctx, k, adapters.Attachment{Filename: "counted.txt", ContentType: "text/plain"}, strings.NewReader("a counted file\n")); err != nil {
					return err
				}
			}
			return nil
		}, xHas(func(is adapters.Issue) bool { return len(is.Attachments) > 0 })); err != nil {
			return err
		}
	}
	fmt.Fprintf(os.Stderr, "   %s: measured over %.0fs\n", kind, time.Since(polls).Seconds())
	return nil
}

func ptr[T any](v T) *T { return &v }

func openStatus(kind string) string {
	switch kind {
	case "redmine":
		return "New"
	case "rt":
		return "open"
	}
	return "Open"
}

func countL(list func() ([]adapters.Issue, error), ok func(adapters.Issue) bool, n int) (bool, error) {
	is, err := list()
	if err != nil {
		return false, err
	}
	c := 0
	for _, i := range is {
		if ok(i) {
			c++
		}
	}
	return c >= n, nil
}

// countLFull is countL on whole issues (List may leave files out).
func countLFull(ctx context.Context, lt *local.Tracker, ok func(adapters.Issue) bool, n int) (bool, error) {
	is, err := lt.List(ctx)
	if err != nil {
		return false, err
	}
	c := 0
	for _, i := range is {
		full, err := lt.Get(ctx, i.Key)
		if err != nil {
			return false, err
		}
		if ok(full) {
			c++
		}
	}
	return c >= n, nil
}

// openRedmine makes a fresh project on the test Redmine and returns an
// adapter on it counted by c, and one not counted (the bench's own edits).
func openRedmine(ctx context.Context, c *reqcount.Counter, settle time.Duration) (adapters.Tracker, adapters.Tracker, func(), error) {
	u, keyFile := os.Getenv("ISSUEMESH_TEST_REDMINE_URL"), os.Getenv("ISSUEMESH_TEST_REDMINE_KEY_FILE")
	if u == "" || keyFile == "" {
		return nil, nil, nil, skipped{"no real Redmine: ISSUEMESH_TEST_REDMINE_URL and ISSUEMESH_TEST_REDMINE_KEY_FILE unset (eval \"$(scripts/redmine.sh | grep ^export)\", as root, installs one)"}
	}
	kb, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, nil, nil, skipped{fmt.Sprintf("Redmine key: %v", err)}
	}
	key := strings.TrimSpace(string(kb))
	call := func(method, path string, in, out any) error {
		var body bytes.Buffer
		if in != nil {
			if err := json.NewEncoder(&body).Encode(in); err != nil {
				return err
			}
		}
		req, err := http.NewRequestWithContext(ctx, method, u+path, &body)
		if err != nil {
			return err
		}
		req.Header.Set("X-Redmine-API-Key", key)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			return fmt.Errorf("%s %s: %s", method, path, resp.Status)
		}
		if out != nil {
			return json.NewDecoder(resp.Body).Decode(out)
		}
		return nil
	}
	var trackers struct{ Trackers []struct{ ID int } }
	if err := call("GET", "/trackers.json", nil, &trackers); err != nil {
		return nil, nil, nil, skipped{fmt.Sprintf("Redmine at %s does not answer: %v", u, err)}
	}
	var tids []int
	for _, x := range trackers.Trackers {
		tids = append(tids, x.ID)
	}
	project := "bench-" + randHex()
	if err := call("POST", "/projects.json", map[string]any{"project": map[string]any{
		"name": project, "identifier": project, "enabled_module_names": []string{"issue_tracking"}, "tracker_ids": tids}}, nil); err != nil {
		return nil, nil, nil, err
	}
	cleanup := func() { _ = call("DELETE", "/projects/"+project+".json", nil, nil) }
	o := redmine.Options{URL: u, APIKey: key, Project: project, Settle: settle}
	direct, err := redmine.New(o)
	if err != nil {
		cleanup()
		return nil, nil, nil, err
	}
	o.HTTP.WrapTransport = c.Wrap
	counted, err := redmine.New(o)
	if err != nil {
		cleanup()
		return nil, nil, nil, err
	}
	return counted, direct, func() { counted.Close(); direct.Close(); cleanup() }, nil
}

// openRT makes a fresh queue on the test RT (as contract_test does) and
// returns an adapter on it counted by c, and one not counted.
func openRT(ctx context.Context, c *reqcount.Counter, settle time.Duration) (adapters.Tracker, adapters.Tracker, func(), error) {
	u, tf := os.Getenv("ISSUEMESH_TEST_RT_URL"), os.Getenv("ISSUEMESH_TEST_RT_TOKEN_FILE")
	if u == "" || tf == "" {
		return nil, nil, nil, skipped{"no real RT: ISSUEMESH_TEST_RT_URL and ISSUEMESH_TEST_RT_TOKEN_FILE unset (eval \"$(scripts/rt.sh | grep ^export)\", as root, installs one)"}
	}
	tb, err := os.ReadFile(tf)
	if err != nil {
		return nil, nil, nil, skipped{fmt.Sprintf("RT token: %v", err)}
	}
	tok := strings.TrimSpace(string(tb))
	call := func(method, path string, in, out any) error {
		var body bytes.Buffer
		if in != nil {
			if err := json.NewEncoder(&body).Encode(in); err != nil {
				return err
			}
		}
		req, err := http.NewRequestWithContext(context.Background(), method, u+"/REST/2.0"+path, &body)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "token "+tok)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			return fmt.Errorf("%s %s: %s", method, path, resp.Status)
		}
		if out != nil {
			return json.NewDecoder(resp.Body).Decode(out)
		}
		return nil
	}
	name := "bench-" + randHex()
	var out struct {
		ID json.RawMessage `json:"id"`
	}
	if err := call(http.MethodPost, "/queue", map[string]any{"Name": name}, &out); err != nil {
		return nil, nil, nil, skipped{fmt.Sprintf("RT at %s: create a queue: %v", u, err)}
	}
	id := strings.Trim(string(out.ID), `"`)
	cleanup := func() { _ = call(http.MethodDelete, "/queue/"+id, nil, nil) }
	o := rt.Options{URL: u, Token: tok, Queue: name, Settle: settle}
	direct, err := rt.New(o)
	if err != nil {
		cleanup()
		return nil, nil, nil, err
	}
	o.HTTP.WrapTransport = c.Wrap
	counted, err := rt.New(o)
	if err != nil {
		cleanup()
		return nil, nil, nil, err
	}
	return counted, direct, func() { counted.Close(); direct.Close(); cleanup() }, nil
}

func randHex() string {
	b := make([]byte, 4)
	rand.Read(b)
	return hex.EncodeToString(b)
}
