package console

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/issuemesh/issuemesh/config"
	"github.com/issuemesh/issuemesh/store"
)

// fakeNode answers the admin API routes the console reads with canned
// JSON and records the actions it is sent.
type fakeNode struct {
	mu    sync.Mutex
	calls []string
	twins int
}

func (f *fakeNode) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.calls = append(f.calls, r.Method+" "+r.URL.Path)
		twins := f.twins
		f.mu.Unlock()
		var v any
		switch {
		case r.Method == "POST" && r.URL.Path == "/v1/networks":
			v = map[string]any{"id": "n1", "name": "ops", "running": true}
		case r.URL.Path == "/v1/status":
			v = map[string]any{"peer_id": "12D3KooWself", "twins": twins, "peers": []any{map[string]any{"id": "12D3KooWpeer", "name": "bob", "connected": true}}, "tracker": map[string]any{"type": "local", "state": "ok"},
				"held": []any{map[string]any{"key": "LOCAL-1", "field": "status", "link": "12D3KooWpeer", "link_name": "bob"}}}
		case r.URL.Path == "/v1/issues":
			v = []any{map[string]any{"key": "LOCAL-1", "summary": "Printer on fire", "twin": "t1", "updated": time.Now()}}
		case strings.HasPrefix(r.URL.Path, "/v1/issues/"):
			v = map[string]any{"key": "LOCAL-1", "summary": "Printer on fire", "twin": "t1", "twins": []any{map[string]any{"peer": "12D3KooWpeer", "peer_name": "bob", "key": "LOCAL-9", "synced": true}}}
		case strings.HasPrefix(r.URL.Path, "/v1/history/"):
			v = map[string]any{"key": "LOCAL-1", "twin": "t1", "records": []any{
				map[string]any{"time": time.Now().Add(-time.Second), "dir": "out", "peer": "12D3KooWpeer", "seq": 1, "what": "queued", "fields": []string{"summary"},
					"changes": []any{map[string]any{"field": "summary", "old": "Printer jammed", "new": "Printer on fire"}}, "changed": time.Now().Add(-3500 * time.Millisecond)},
				map[string]any{"time": time.Now(), "dir": "out", "peer": "12D3KooWpeer", "seq": 1, "what": "acked", "key": "LOCAL-9"},
			}}
		case r.URL.Path == "/v1/peers":
			v = []any{map[string]any{"id": "12D3KooWpeer", "name": "bob", "connected": true, "latency_ms": 1.5, "paused": true},
				map[string]any{"id": "12D3KooWdown", "name": "carol", "pending": 4, "send_error": "failed to dial 12D3KooWdown: connection refused", "send_error_since": time.Now().Add(-time.Minute), "send_failures": 5}}
		case r.URL.Path == "/v1/queue":
			v = []any{map[string]any{"peer": "12D3KooWpeer", "peer_name": "bob", "pending": 2, "age": "3s", "oldest": time.Now(),
				"files_out": map[string]any{"files": 1, "bytes": 1 << 20, "total": 5 << 20}}}
		case r.URL.Path == "/v1/errors":
			v = []any{
				map[string]any{"twin": "t1", "key": "LOCAL-1", "peer": "12D3KooWpeer", "peer_name": "bob", "direction": "in", "error": "in.star:3: fail", "since": time.Now(), "attempts": 2,
					"peer_key": "LOCAL-9", "agreed": map[string]string{"summary": "Printer jammed", "status": "Open"}},
				map[string]any{"twin": "t2", "peer": "12D3KooWpeer", "direction": "peer", "error": "refused there", "since": time.Now()},
			}
		case r.URL.Path == "/v1/networks":
			v = []any{map[string]any{"id": "n1", "name": "ops", "running": true, "members": []any{map[string]any{"id": "12D3KooWself", "self": true, "state": "joined"}}}}
		case r.URL.Path == "/v1/networks/ops/invites":
			v = map[string]any{"code": "NETCODE-1", "name": "carol", "network": "ops", "expires": time.Now().Add(time.Hour)}
		case r.URL.Path == "/v1/accept":
			v = map[string]any{"id": "12D3KooWinviter", "network": "ops", "network_id": "n1", "members": 3}
		case r.URL.Path == "/v1/invites":
			v = []any{map[string]any{"code": "x", "name": "dave", "expires": time.Now()}}
		case r.URL.Path == "/metrics":
			io.WriteString(w, "issuemesh_twins 1\n")
			return
		default:
			v = map[string]any{}
		}
		json.NewEncoder(w).Encode(v)
	})
}

func (f *fakeNode) called(call string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.calls {
		if c == call {
			return true
		}
	}
	return false
}

func newTestConsole(t *testing.T) (*Server, *fakeNode, *httptest.Server) {
	t.Helper()
	f := &fakeNode{}
	s, err := New(Options{Node: f, Home: t.TempDir(), Config: config.Console{Listen: "127.0.0.1:0"}, Tick: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	s.base = ts.URL
	return s, f, ts
}

var (
	pagesToCheck   = []string{"/", "/peers", "/connections", "/connections?key=LOCAL-1&peer=12D3KooWpeer", "/queue", "/errors", "/issues/LOCAL-1", "/search?q=printer", "/events?page=/", "/no-such-page"}
	actionsToCheck = []string{"/peers/12D3KooWpeer/pause", "/peers/12D3KooWpeer/resume", "/peers/12D3KooWpeer/remove", "/invite", "/accept", "/retry", "/networks/create", "/networks/invite", "/networks/leave", "/logout"}
)

func noRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

func answer(t *testing.T, c *http.Client, method, u string, form url.Values, hdr http.Header) int {
	t.Helper()
	req, _ := http.NewRequest(method, u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range hdr {
		req.Header[k] = v
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := c.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	return resp.StatusCode
}

// login opens a session with a fresh login link and returns its client and
// CSRF token.
func login(t *testing.T, s *Server, ts *httptest.Server) (*http.Client, string) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: noRedirect}
	if code := answer(t, c, "GET", s.LoginURL(), nil, nil); code != http.StatusSeeOther {
		t.Fatalf("login link: %d, want 303", code)
	}
	resp, err := c.Get(ts.URL + "/peers")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindSubmatch(b)
	if m == nil {
		t.Fatalf("no CSRF token on /peers (%d):\n%s", resp.StatusCode, b)
	}
	return c, string(m[1])
}

func TestEveryPageAndActionNeedsTheSecret(t *testing.T) {
	s, f, ts := newTestConsole(t)
	anon := &http.Client{CheckRedirect: noRedirect}
	for _, p := range pagesToCheck {
		if code := answer(t, anon, "GET", ts.URL+p, nil, nil); code != http.StatusUnauthorized {
			t.Errorf("GET %s without a session: %d, want 401", p, code)
		}
	}
	for _, p := range actionsToCheck {
		if code := answer(t, anon, "POST", ts.URL+p, url.Values{"csrf": {"x"}, "all": {"1"}}, nil); code != http.StatusUnauthorized {
			t.Errorf("POST %s without a session: %d, want 401", p, code)
		}
	}
	if f.called("POST /v1/retry") || f.called("POST /v1/peers/12D3KooWpeer/pause") {
		t.Fatal("an action reached the node without a session")
	}

	c, csrf := login(t, s, ts)
	other, _ := login(t, s, ts) // another browser's session has another token
	_ = other
	for _, tc := range []struct {
		name string
		form url.Values
		hdr  http.Header
	}{
		{"no CSRF token", url.Values{"all": {"1"}}, nil},
		{"a wrong CSRF token", url.Values{"all": {"1"}, "csrf": {csrf + "x"}}, nil},
		{"another origin", url.Values{"all": {"1"}, "csrf": {csrf}}, http.Header{"Origin": {"http://evil.example"}}},
		{"origin null", url.Values{"all": {"1"}, "csrf": {csrf}}, http.Header{"Origin": {"null"}}},
	} {
		for _, p := range actionsToCheck {
			if code := answer(t, c, "POST", ts.URL+p, tc.form, tc.hdr); code != http.StatusForbidden {
				t.Errorf("POST %s with %s: %d, want 403", p, tc.name, code)
			}
		}
	}
	if f.called("POST /v1/retry") {
		t.Fatal("an action without a valid CSRF token reached the node")
	}
	for _, p := range pagesToCheck[:8] {
		if p == "/events?page=/" {
			continue
		}
		if code := answer(t, c, "GET", ts.URL+p, nil, nil); code != http.StatusOK {
			t.Errorf("GET %s logged in: %d, want 200", p, code)
		}
	}
	if code := answer(t, c, "POST", ts.URL+"/retry", url.Values{"all": {"1"}, "csrf": {csrf}}, http.Header{"Origin": {ts.URL}}); code != http.StatusSeeOther || !f.called("POST /v1/retry") {
		t.Errorf("POST /retry with the token: %d (node called: %v), want 303 and a retry", code, f.called("POST /v1/retry"))
	}
	if code := answer(t, c, "POST", ts.URL+"/peers/12D3KooWpeer/pause", url.Values{"csrf": {csrf}}, nil); code != http.StatusSeeOther || !f.called("POST /v1/peers/12D3KooWpeer/pause") {
		t.Errorf("POST pause with the token: %d, want 303 and a pause", code)
	}
	if code := answer(t, anon, "GET", ts.URL+"/metrics", nil, nil); code != http.StatusOK {
		t.Errorf("GET /metrics: %d, want 200 without a secret", code)
	}
	if code := answer(t, c, "POST", ts.URL+"/logout", url.Values{"csrf": {csrf}}, nil); code != http.StatusOK {
		t.Errorf("logout: %d", code)
	}
	if code := answer(t, c, "GET", ts.URL+"/", nil, nil); code != http.StatusUnauthorized {
		t.Errorf("GET / after logout: %d, want 401", code)
	}
}

func TestLoginLinkIsOneTimeAndExpires(t *testing.T) {
	s, _, ts := newTestConsole(t)
	anon := &http.Client{CheckRedirect: noRedirect}
	link := s.LoginURL()
	if code := answer(t, anon, "GET", link, nil, nil); code != http.StatusSeeOther {
		t.Fatalf("first use: %d, want 303", code)
	}
	if code := answer(t, anon, "GET", link, nil, nil); code != http.StatusForbidden {
		t.Errorf("second use: %d, want 403", code)
	}
	for _, tok := range []string{"", "guess", strings.Repeat("A", 43)} {
		if code := answer(t, anon, "GET", ts.URL+"/login?token="+tok, nil, nil); code != http.StatusForbidden {
			t.Errorf("token %q: %d, want 403", tok, code)
		}
	}
	now := time.Now()
	s.auth.now = func() time.Time { return now }
	late := s.LoginURL()
	s.auth.now = func() time.Time { return now.Add(loginTTL + time.Second) }
	if code := answer(t, anon, "GET", late, nil, nil); code != http.StatusForbidden {
		t.Errorf("expired link: %d, want 403", code)
	}
}

func TestSessionExpires(t *testing.T) {
	s, _, ts := newTestConsole(t)
	c, _ := login(t, s, ts)
	now := time.Now()
	s.auth.now = func() time.Time { return now.Add(sessionTTL + time.Minute) }
	if code := answer(t, c, "GET", ts.URL+"/", nil, nil); code != http.StatusUnauthorized {
		t.Errorf("an idle session past its lifetime: %d, want 401", code)
	}
}

// TestLiveUpdate: the event stream sends the page's live part at once and
// again when what it shows changes.
func TestLiveUpdate(t *testing.T) {
	s, f, ts := newTestConsole(t)
	c, _ := login(t, s, ts)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", ts.URL+"/events?page=/", nil)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	r := bufio.NewReader(resp.Body)
	next := func() string {
		var b strings.Builder
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("reading the stream: %v", err)
			}
			if line == "\n" && b.Len() > 0 {
				return b.String()
			}
			b.WriteString(line)
		}
	}
	first := next()
	if !strings.HasPrefix(first, "event: live\n") || !strings.Contains(first, `id="count-twins">0<`) || !strings.Contains(first, "Printer on fire") {
		t.Fatalf("first event:\n%s", first)
	}
	f.mu.Lock()
	f.twins = 7
	f.mu.Unlock()
	second := next()
	if !strings.Contains(second, `id="count-twins">7<`) {
		t.Fatalf("after a change:\n%s", second)
	}
}

func TestTimelineSteps(t *testing.T) {
	t0 := time.Date(2026, 12, 4, 1, 0, 0, 0, time.UTC)
	recs := []record{
		{Time: t0, Dir: "out", Peer: "p", Seq: 1, What: "queued", Fields: []string{"summary"}, Changed: t0.Add(-2 * time.Second),
			Changes: []store.Change{store.NewChange("summary", "old", "new")}},
		{Time: t0.Add(5 * time.Millisecond), Dir: "in", Peer: "p", Seq: 1, What: "applied", Fields: []string{"status"}},
		{Time: t0.Add(12 * time.Millisecond), Dir: "out", Peer: "p", Seq: 1, What: "acked", LocalKey: "LOCAL-9"},
		{Time: t0.Add(20 * time.Millisecond), Dir: "out", Peer: "p", Seq: 2, What: "queued", Fields: []string{"priority"}},
	}
	st := steps(recs)
	if len(st) != 3 {
		t.Fatalf("%d steps, want 3: %+v", len(st), st)
	}
	if st[0].Seq != 2 || len(st[0].Results) != 0 || st[0].AckAfter != 0 {
		t.Errorf("newest: %+v, want the unacked seq 2", st[0])
	}
	if st[2].Dir != "out" || st[2].AckAfter != 12*time.Millisecond || len(st[2].Results) != 1 || st[2].Results[0].LocalKey != "LOCAL-9" {
		t.Errorf("oldest: %+v, want seq 1 out acked after 12ms as LOCAL-9", st[2])
	}
	if st[2].ChangeToAck != 2012*time.Millisecond || len(st[2].Changes) != 1 || st[2].Changes[0].Old != "old" || st[2].Changes[0].New != "new" {
		t.Errorf("oldest: change to ack %v, changes %+v, want 2.012s and summary old -> new", st[2].ChangeToAck, st[2].Changes)
	}
	if st[0].ChangeToAck != 0 {
		t.Errorf("newest: change to ack %v before any ack", st[0].ChangeToAck)
	}
	if st[1].Dir != "in" || st[1].Fields[0] != "status" {
		t.Errorf("middle: %+v, want the received event", st[1])
	}
}

func TestControlSocketGivesALoginLink(t *testing.T) {
	f := &fakeNode{}
	home := t.TempDir()
	s, err := New(Options{Node: f, Home: home, Config: config.Console{Listen: "127.0.0.1:0"}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := s.Listen(ctx); err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	go func() { done <- s.Serve(ctx) }()
	ts := httptest.NewUnstartedServer(s.controlHandler())
	ts.Start()
	defer ts.Close()
	resp, err := http.Post(ts.URL+"/login-link", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	var link LoginLink
	json.NewDecoder(resp.Body).Decode(&link)
	resp.Body.Close()
	if !strings.HasPrefix(link.URL, s.URL()+"/login?token=") || strings.Contains(s.URL(), ":0") {
		t.Fatalf("link %q, console at %q", link.URL, s.URL())
	}
	anon := &http.Client{CheckRedirect: noRedirect}
	if code := answer(t, anon, "GET", link.URL, nil, nil); code != http.StatusSeeOther {
		t.Fatalf("the link on the real listener: %d", code)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// The timeline page shows each change's old and new value and the time
// from the tracker's change to the peer's ack.
func TestTimelineShowsValuesAndChangeToAck(t *testing.T) {
	s, _, ts := newTestConsole(t)
	c, _ := login(t, s, ts)
	resp, err := c.Get(ts.URL + "/issues/LOCAL-1")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	page := string(b)
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`<del class="old">Printer jammed</del> → <ins class="new">Printer on fire</ins>`),
		regexp.MustCompile(`<td class="change-to-ack" title="tracker change at [^"]+">3\.[45]\d*s</td>`),
	} {
		if !want.MatchString(page) {
			t.Errorf("the timeline lacks %s:\n%s", want, page)
		}
	}
}

// The errors page shows the peer's side of a blocked twin as the twin's
// last agreed replica, with its key at the peer, labelled as such.
func TestErrorsShowPeerSideAsLastAgreed(t *testing.T) {
	s, _, ts := newTestConsole(t)
	c, _ := login(t, s, ts)
	resp, err := c.Get(ts.URL + "/errors")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	page := string(b)
	for _, want := range []string{
		`<code>LOCAL-9</code> at bob`,
		`the twin's last agreed replica: what both sides last agreed on`,
		`<tr><th>status</th><td>Open</td></tr><tr><th>summary</th><td>Printer jammed</td></tr>`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the errors page lacks %q:\n%s", want, page)
		}
	}
}

// The queue page shows the files moving to a peer, as queue does.
func TestQueueShowsFilesMoving(t *testing.T) {
	s, _, ts := newTestConsole(t)
	c, _ := login(t, s, ts)
	resp, err := c.Get(ts.URL + "/queue")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := "<td>sending 1 file, 1.0 MiB of 5.0 MiB</td>"; !strings.Contains(string(b), want) {
		t.Errorf("the queue page lacks %q:\n%s", want, b)
	}
}

// The peers page shows a peer that cannot be sent to, with why and how
// many sessions failed, as status does.
func TestPeersShowSendFailure(t *testing.T) {
	s, _, ts := newTestConsole(t)
	c, _ := login(t, s, ts)
	resp, err := c.Get(ts.URL + "/peers")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`<span class="pill bad send-error">sending fails</span> since `, ", 5 in a row: <code>failed to dial 12D3KooWdown: connection refused</code>"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("the peers page lacks %q:\n%s", want, b)
		}
	}
	if n := strings.Count(string(b), "sending fails"); n != 1 {
		t.Errorf("%d peers shown failing, want 1 (bob is healthy)", n)
	}
}

// The peers page creates a network, invites into it, accepts a network's
// code and leaves a network, through the admin API's network routes.
func TestNetworkActions(t *testing.T) {
	s, f, ts := newTestConsole(t)
	c, csrf := login(t, s, ts)
	page := func() string {
		resp, err := c.Get(ts.URL + "/peers")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return string(b)
	}
	if p := page(); !strings.Contains(p, `id="network-invite"`) || !strings.Contains(p, `<option>ops</option>`) || !strings.Contains(p, `id="network-create"`) {
		t.Fatalf("the peers page has no network forms:\n%s", p)
	}
	cases := []struct {
		action string
		form   url.Values
		call   string
		flash  string
	}{
		{"/networks/create", url.Values{"name": {"ops"}}, "POST /v1/networks", "Created network ops"},
		{"/networks/invite", url.Values{"network": {"ops"}, "member": {"carol"}, "ttl": {"1h"}}, "POST /v1/networks/ops/invites", "NETCODE-1"},
		{"/accept", url.Values{"code": {"NETCODE-1"}}, "POST /v1/accept", "Joined network ops (3 members)"},
		{"/networks/leave", url.Values{"network": {"ops"}}, "POST /v1/networks/ops/leave", "Left network ops"},
		{"/networks/invite", url.Values{"member": {"carol"}}, "", "Choose the network first."},
	}
	for _, tc := range cases {
		tc.form.Set("csrf", csrf)
		if code := answer(t, c, "POST", ts.URL+tc.action, tc.form, nil); code != http.StatusSeeOther {
			t.Errorf("POST %s: %d, want 303", tc.action, code)
		}
		if tc.call != "" && !f.called(tc.call) {
			t.Errorf("POST %s did not call %s on the node", tc.action, tc.call)
		}
		if p := page(); !strings.Contains(p, tc.flash) {
			t.Errorf("after POST %s the page does not say %q:\n%s", tc.action, tc.flash, p)
		}
	}
}
