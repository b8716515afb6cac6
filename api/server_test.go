package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/adapters/local"
	"github.com/issuemesh/issuemesh/store"
)

// fakeBackend answers from fixed values and records the calls it got; a
// method with an error set fails with it.
type fakeBackend struct {
	tracker adapters.Tracker
	twins   map[string][]TwinRef // by issue key
	peers   []PeerInfo
	errs    []store.Blocked
	join    bool // Accept answers with a network join
	err     error
	calls   []string
}

var _ Backend = (*fakeBackend)(nil)

func (f *fakeBackend) call(format string, args ...any) error {
	f.calls = append(f.calls, fmt.Sprintf(format, args...))
	return f.err
}

func (f *fakeBackend) ID() IDInfo {
	return IDInfo{PeerID: "12D3KooWSelf", Addrs: []string{"/ip4/127.0.0.1/tcp/1"}}
}
func (f *fakeBackend) Status(ctx context.Context) (Status, error) {
	return Status{PeerID: "12D3KooWSelf", Twins: 3}, f.call("status")
}
func (f *fakeBackend) TrackerHealth() TrackerHealth { return TrackerHealth{Type: "local", State: "ok"} }
func (f *fakeBackend) Backup(ctx context.Context, dir string) (BackupInfo, error) {
	return BackupInfo{Dir: dir}, f.call("backup %s", dir)
}
func (f *fakeBackend) Metrics() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "issuemesh_twins 3") })
}
func (f *fakeBackend) Tracker() adapters.Tracker { return f.tracker }
func (f *fakeBackend) EachIssue(ctx context.Context, fn func([]adapters.Issue) error) error {
	issues, _, err := f.tracker.Changes(ctx, "", 1000)
	if err != nil {
		return err
	}
	// Two pages, to show that the list joins them.
	half := len(issues) / 2
	if err := fn(issues[:half]); err != nil {
		return err
	}
	return fn(issues[half:])
}
func (f *fakeBackend) Twins(ctx context.Context, key string) (string, []TwinRef, error) {
	refs, ok := f.twins[key]
	if !ok {
		return "", nil, nil
	}
	return "twin-" + key, slices.Clone(refs), nil
}
func (f *fakeBackend) History(ctx context.Context, key string) (HistoryView, error) {
	return HistoryView{Key: key}, f.call("history %s", key)
}
func (f *fakeBackend) Peers(ctx context.Context) ([]PeerInfo, error) { return f.peers, f.call("peers") }
func (f *fakeBackend) AddPeer(ctx context.Context, addr, name string) (store.Peer, error) {
	return store.Peer{ID: "12D3KooWB", Name: name}, f.call("add %s %s", addr, name)
}
func (f *fakeBackend) RemovePeer(ctx context.Context, peer string) (RemoveResult, error) {
	return RemoveResult{ID: peer}, f.call("remove %s", peer)
}
func (f *fakeBackend) PausePeer(ctx context.Context, peer string, pause bool) (PeerInfo, error) {
	return PeerInfo{ID: peer, Paused: pause}, f.call("pause %s %v", peer, pause)
}
func (f *fakeBackend) Invite(ctx context.Context, name string, ttl time.Duration) (InviteResult, error) {
	return InviteResult{Code: "im1code", Name: name}, f.call("invite %s %v", name, ttl)
}
func (f *fakeBackend) Invites(ctx context.Context) ([]store.Invite, error) {
	return nil, f.call("invites")
}
func (f *fakeBackend) Accept(ctx context.Context, in AcceptInput) (AcceptResult, error) {
	if err := f.call("accept %s %s", in.Code, in.Name); err != nil {
		return AcceptResult{}, err
	}
	if f.join {
		return AcceptResult{Join: &JoinResult{ID: "12D3KooWA", Network: "team", NetworkID: "n1", Members: 3}}, nil
	}
	return AcceptResult{Peer: &store.Peer{ID: "12D3KooWA", Name: in.Name}}, nil
}
func (f *fakeBackend) Queue(ctx context.Context) ([]QueueEntry, error) { return nil, f.call("queue") }
func (f *fakeBackend) Errors(ctx context.Context) ([]store.Blocked, error) {
	return f.errs, f.call("errors")
}
func (f *fakeBackend) Retry(ctx context.Context, in RetryInput) (RetryResult, error) {
	return RetryResult{}, f.call("retry %s %v", in.Key, in.All)
}
func (f *fakeBackend) Sync(ctx context.Context, in SyncInput) (SyncResult, error) {
	return SyncResult{Shared: 1, Done: true}, f.call("sync %s %s", in.Key, in.To)
}
func (f *fakeBackend) Unsync(ctx context.Context, in UnsyncInput) error {
	return f.call("unsync %s %s", in.Key, in.From)
}
func (f *fakeBackend) Link(ctx context.Context, in LinkInput) error {
	return f.call("link %s %s %s", in.Key, in.To, in.Remote)
}
func (f *fakeBackend) TestRules(ctx context.Context, in RulesTestInput) (RulesTestResult, error) {
	return RulesTestResult{Matches: true}, f.call("rules %s %s", in.Key, in.To)
}
func (f *fakeBackend) Conflicts(ctx context.Context) ([]ConflictView, error) {
	return nil, f.call("conflicts")
}
func (f *fakeBackend) Resolve(ctx context.Context, in ResolveInput) (ResolveResult, error) {
	return ResolveResult{Key: in.Key, Field: in.Field}, f.call("resolve %s %s %s", in.Key, in.Field, in.Keep)
}
func (f *fakeBackend) Networks(ctx context.Context) ([]NetworkInfo, error) {
	return nil, f.call("networks")
}
func (f *fakeBackend) CreateNetwork(ctx context.Context, name string) (NetworkInfo, error) {
	return NetworkInfo{Name: name}, f.call("create network %s", name)
}
func (f *fakeBackend) InviteNetwork(ctx context.Context, name, member string, ttl time.Duration) (InviteResult, error) {
	return InviteResult{Network: name, Name: member}, f.call("invite network %s %s %v", name, member, ttl)
}
func (f *fakeBackend) LeaveNetwork(ctx context.Context, name string) (NetworkInfo, error) {
	return NetworkInfo{Name: name, Left: true}, f.call("leave network %s", name)
}

// newFake is a backend over a local tracker holding issues with these
// summaries (keys T-1, T-2, ...).
func newFake(t *testing.T, summaries ...string) *fakeBackend {
	t.Helper()
	tr, err := local.Open(t.TempDir(), local.Options{Prefix: "T"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	for _, s := range summaries {
		if _, err := tr.Create(t.Context(), adapters.Issue{Summary: s}); err != nil {
			t.Fatal(err)
		}
	}
	return &fakeBackend{tracker: tr, twins: map[string][]TwinRef{}}
}

// do sends one request to the server over b and returns the status and
// the body.
func do(t *testing.T, b Backend, method, path, body string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	NewServer(b).ServeHTTP(rec, httptest.NewRequest(method, path, strings.NewReader(body)))
	return rec.Code, rec.Body.String()
}

// Every route reaches the backend with what the request says, and answers
// with the backend's value and the status the command line expects.
func TestRoutes(t *testing.T) {
	tests := []struct {
		method, path, body string
		code               int
		call               string // the backend call; "" for none recorded
		answer             string // a part of the answer
	}{
		{"GET", "/v1/id", "", 200, "", `"peer_id": "12D3KooWSelf"`},
		{"GET", "/v1/status", "", 200, "status", `"twins": 3`},
		{"GET", "/v1/tracker", "", 200, "", `"state": "ok"`},
		{"POST", "/v1/backup", `{"dir":"/tmp/b"}`, 200, "backup /tmp/b", `"dir": "/tmp/b"`},
		{"GET", "/v1/history/T-1", "", 200, "history T-1", `"records": []`},
		{"GET", "/v1/peers", "", 200, "peers", `[]`},
		{"POST", "/v1/peers", `{"addr":"/ip4/1.2.3.4/tcp/1/p2p/X","name":"bob"}`, 200, "add /ip4/1.2.3.4/tcp/1/p2p/X bob", `"name": "bob"`},
		{"DELETE", "/v1/peers/bob", "", 200, "remove bob", `"id": "bob"`},
		{"POST", "/v1/peers/bob/pause", "", 200, "pause bob true", `"paused": true`},
		{"POST", "/v1/peers/bob/resume", "", 200, "pause bob false", `"paused": false`},
		{"POST", "/v1/invites", `{"name":"carol"}`, 200, "invite carol 24h0m0s", `"code": "im1code"`},
		{"POST", "/v1/invites", `{"name":"carol","ttl":"30m"}`, 200, "invite carol 30m0s", `"code": "im1code"`},
		{"GET", "/v1/invites", "", 200, "invites", `[]`},
		{"POST", "/v1/accept", `{"code":"im1x","name":"alice"}`, 200, "accept im1x alice", `"name": "alice"`},
		{"GET", "/v1/queue", "", 200, "queue", `[]`},
		{"GET", "/v1/errors", "", 200, "errors", `[]`},
		{"POST", "/v1/retry", `{"all":true}`, 200, "retry  true", `"retried": []`},
		{"POST", "/v1/sync", `{"key":"T-1","to":"bob"}`, 200, "sync T-1 bob", `"shared": 1`},
		{"POST", "/v1/unsync", `{"key":"T-1","from":"bob"}`, 200, "unsync T-1 bob", `"key": "T-1"`},
		{"POST", "/v1/link", `{"key":"T-1","to":"bob","remote":"B-9"}`, 200, "link T-1 bob B-9", `"key": "T-1"`},
		{"POST", "/v1/rules/test", `{"key":"T-1","to":"bob"}`, 200, "rules T-1 bob", `"matches": true`},
		{"GET", "/v1/networks", "", 200, "networks", `[]`},
		{"POST", "/v1/networks", `{"name":"team"}`, 201, "create network team", `"name": "team"`},
		{"POST", "/v1/networks/team/invites", `{"member":"dave","ttl":"1h"}`, 200, "invite network team dave 1h0m0s", `"network": "team"`},
		{"POST", "/v1/networks/team/leave", "", 200, "leave network team", `"left": true`},
		{"GET", "/metrics", "", 200, "", "issuemesh_twins 3"},
	}
	b := newFake(t, "one")
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			b.calls = nil
			code, body := do(t, b, tc.method, tc.path, tc.body)
			if code != tc.code {
				t.Fatalf("status %d, want %d: %s", code, tc.code, body)
			}
			if !strings.Contains(body, tc.answer) {
				t.Fatalf("answer %s does not hold %s", body, tc.answer)
			}
			var want []string
			if tc.call != "" {
				want = []string{tc.call}
			}
			if !slices.Equal(b.calls, want) {
				t.Fatalf("backend calls %q, want %q", b.calls, want)
			}
		})
	}
}

// A backend's error answers with the status its kind says and the error's
// message as {"error": ...}, on every kind of route.
func TestErrorStatus(t *testing.T) {
	tests := []struct {
		err  error
		code int
	}{
		{fmt.Errorf("%w: no peer named bob", store.ErrNotFound), 404},
		{fmt.Errorf("issue T-9: %w", adapters.ErrNotFound), 404},
		{fmt.Errorf("%w: name an issue key", ErrBadRequest), 400},
		{fmt.Errorf("summary too long: %w", adapters.ErrRejected), 400},
		{fmt.Errorf("tracker down: %w", adapters.ErrUnavailable), 503},
		{errors.New("disk on fire"), 500},
	}
	routes := [][3]string{
		{"GET", "/v1/status", ""},
		{"POST", "/v1/retry", `{"key":"T-1"}`},
		{"POST", "/v1/unsync", `{"key":"T-1","from":"bob"}`},
		{"POST", "/v1/accept", `{"code":"x"}`},
		{"DELETE", "/v1/peers/bob", ""},
	}
	b := newFake(t, "one")
	for _, tc := range tests {
		for _, rt := range routes {
			b.err = tc.err
			code, body := do(t, b, rt[0], rt[1], rt[2])
			if code != tc.code {
				t.Errorf("%s %s with %q: status %d, want %d", rt[0], rt[1], tc.err, code, tc.code)
			}
			var e apiError
			if err := json.Unmarshal([]byte(body), &e); err != nil || e.Error != tc.err.Error() {
				t.Errorf("%s %s: answer %s, want the error %q", rt[0], rt[1], body, tc.err)
			}
		}
	}
}

// A body that is not the request's shape is refused (400) before the
// backend is called, naming what was wrong.
func TestBadBodies(t *testing.T) {
	tests := []struct {
		method, path, body, want string
	}{
		{"POST", "/v1/sync", `{"key":"T-1","too":"bob"}`, `unknown field \"too\"`},
		{"POST", "/v1/retry", `{"all":"yes"}`, "request body"},
		{"POST", "/v1/peers", `not json`, "request body"},
		{"POST", "/v1/invites", `{"ttl":"tomorrow"}`, `ttl \"tomorrow\"`},
		{"POST", "/v1/networks/team/invites", `{"ttl":"5"}`, `ttl \"5\"`},
		{"POST", "/v1/issues/T-1/comments", `{"body":"  "}`, "the comment body is empty"},
		{"POST", "/v1/issues/T-1/attachments", `{"path":"relative.txt"}`, "is not absolute"},
		{"POST", "/v1/issues/T-1/attachments", `{"path":"/nonexistent/x.txt"}`, "no such file"},
	}
	b := newFake(t, "one")
	for _, tc := range tests {
		b.calls = nil
		code, body := do(t, b, tc.method, tc.path, tc.body)
		if code != 400 || !strings.Contains(body, tc.want) {
			t.Errorf("%s %s %s: %d %s; want 400 naming %s", tc.method, tc.path, tc.body, code, body, tc.want)
		}
		if len(b.calls) != 0 {
			t.Errorf("%s %s: backend called (%q) for a bad request", tc.method, tc.path, b.calls)
		}
	}
}

// Issues list in key order (T-2 before T-10), over every page, each with
// its twins ordered by network and peer; create answers 201, edit and
// comment answer with the issue as changed.
func TestIssues(t *testing.T) {
	var summaries []string
	for i := 1; i <= 11; i++ {
		summaries = append(summaries, fmt.Sprintf("issue %d", i))
	}
	b := newFake(t, summaries...)
	b.twins["T-2"] = []TwinRef{{Peer: "p2", Network: "team"}, {Peer: "p9"}, {Peer: "p1", Network: "team"}}

	code, body := do(t, b, "GET", "/v1/issues", "")
	if code != 200 {
		t.Fatalf("list: %d %s", code, body)
	}
	var list []IssueView
	if err := json.Unmarshal([]byte(body), &list); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, v := range list {
		keys = append(keys, v.Key)
		if v.Twins == nil {
			t.Errorf("%s: twins null, want []", v.Key)
		}
	}
	if want := []string{"T-1", "T-2", "T-3", "T-4", "T-5", "T-6", "T-7", "T-8", "T-9", "T-10", "T-11"}; !slices.Equal(keys, want) {
		t.Fatalf("keys %v, want %v", keys, want)
	}
	v := list[1]
	var order []string
	for _, r := range v.Twins {
		order = append(order, r.Network+"/"+r.Peer)
	}
	if want := []string{"/p9", "team/p1", "team/p2"}; v.Twin != "twin-T-2" || !slices.Equal(order, want) {
		t.Fatalf("T-2: twin %q, twins %v; want twin-T-2, %v", v.Twin, order, want)
	}

	code, body = do(t, b, "POST", "/v1/issues", `{"summary":"new one","labels":["a"]}`)
	if code != 201 || !strings.Contains(body, `"key": "T-12"`) || !strings.Contains(body, `"summary": "new one"`) {
		t.Fatalf("create: %d %s", code, body)
	}
	code, body = do(t, b, "PATCH", "/v1/issues/T-12", `{"status":"closed"}`)
	if code != 200 || !strings.Contains(body, `"status": "closed"`) || !strings.Contains(body, `"summary": "new one"`) {
		t.Fatalf("edit: %d %s", code, body)
	}
	code, body = do(t, b, "POST", "/v1/issues/T-12/comments", `{"body":"seen","author":"ann"}`)
	if code != 200 || !strings.Contains(body, `"body": "seen"`) {
		t.Fatalf("comment: %d %s", code, body)
	}
	if code, body = do(t, b, "GET", "/v1/issues/T-99", ""); code != 404 {
		t.Fatalf("missing issue: %d %s, want 404", code, body)
	}
}

// A file of this machine is attached with its name and a type from its
// extension, and the answer is the issue with the file.
func TestIssueAttach(t *testing.T) {
	b := newFake(t, "one")
	p := filepath.Join(t.TempDir(), "log.txt")
	if err := os.WriteFile(p, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, body := do(t, b, "POST", "/v1/issues/T-1/attachments", `{"path":"`+p+`"}`)
	if code != 200 {
		t.Fatalf("attach: %d %s", code, body)
	}
	var v IssueView
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatal(err)
	}
	if len(v.Attachments) != 1 || v.Attachments[0].Filename != "log.txt" || v.Attachments[0].Size != 5 || !strings.HasPrefix(v.Attachments[0].ContentType, "text/plain") {
		t.Fatalf("attachments %+v, want log.txt, 5 bytes, text/plain", v.Attachments)
	}
}

// Accept answers with the peer for a peer's code, with the join for a
// network's.
func TestAcceptAnswers(t *testing.T) {
	b := newFake(t)
	for _, join := range []bool{false, true} {
		b.join = join
		code, body := do(t, b, "POST", "/v1/accept", `{"code":"im1x","name":"alice"}`)
		if code != 200 {
			t.Fatalf("accept: %d %s", code, body)
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(body), &m); err != nil {
			t.Fatal(err)
		}
		if _, isJoin := m["network_id"]; isJoin != join {
			t.Fatalf("join=%v: answer %s", join, body)
		}
	}
}

// The client in-process gets answers decoded and errors as the server's
// message.
func TestLocalClient(t *testing.T) {
	b := newFake(t, "one")
	closed := closer(false)
	c := NewLocalClient(NewServer(b), &closed)
	if c.Running() {
		t.Fatal("an in-process client says a node runs")
	}
	var v IssueView
	if err := c.Do(t.Context(), "GET", "/v1/issues/"+PathEscape("T-1"), nil, &v); err != nil || v.Summary != "one" {
		t.Fatalf("get: %+v, %v", v, err)
	}
	b.err = fmt.Errorf("%w: no peer with ID or name %q", store.ErrNotFound, "bob")
	err := c.Do(t.Context(), "POST", "/v1/sync", SyncInput{Key: "T-1", To: "bob"}, nil)
	var ae *Error
	if !errors.As(err, &ae) || ae.Status != 404 || err.Error() != b.err.Error() {
		t.Fatalf("error %#v, want a 404 saying %v", err, b.err)
	}
	if err := c.Close(); err != nil || !closed {
		t.Fatalf("Close: %v, home closed %v", err, closed)
	}
}

type closer bool

func (c *closer) Close() error { *c = true; return nil }

// The socket server answers the socket client; a second server on the same
// socket is refused while the first serves.
func TestSocket(t *testing.T) {
	dir, err := os.MkdirTemp("", "im") // short: a unix socket path is limited
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "admin.sock")
	b := newFake(t, "one")
	srv, err := ServeSocket(t.Context(), path, NewServer(b), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("socket mode: %v, %v; want 0600", st.Mode(), err)
	}
	c := NewSocketClient(path)
	if !c.Running() {
		t.Fatal("a socket client says no node runs")
	}
	var id IDInfo
	if err := c.Do(t.Context(), "GET", "/v1/id", nil, &id); err != nil || id.PeerID != "12D3KooWSelf" {
		t.Fatalf("id: %+v, %v", id, err)
	}
	if _, err := ServeSocket(t.Context(), path, NewServer(b), slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "already serves") {
		t.Fatalf("second server: %v, want refused", err)
	}
}
