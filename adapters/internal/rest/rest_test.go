package rest

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/issuemesh/issuemesh/adapters"
)

func newClient(t *testing.T, url string, mod func(*Options)) *Client {
	t.Helper()
	o := Options{BaseURL: url, Name: "Tracker", Timeout: 2 * time.Second, RetryMin: 5 * time.Millisecond, RetryMax: 20 * time.Millisecond, Rate: 1000, Burst: 100}
	if mod != nil {
		mod(&o)
	}
	c, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

type thing struct {
	Name string `json:"name"`
	N    int    `json:"n"`
}

func TestDecodes(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Key") != "secret" || r.URL.Path != "/base/things.json" || r.URL.Query().Get("q") != "a b" {
			http.Error(w, "bad request", 400)
			return
		}
		w.Write([]byte(`{"name":"x","n":3}`))
	}))
	defer srv.Close()
	c := newClient(t, srv.URL+"/base/", func(o *Options) { o.Header = http.Header{"X-Key": {"secret"}} })
	var out thing
	resp, err := c.Do(context.Background(), Request{Method: "GET", Path: "/things.json", Query: map[string][]string{"q": {"a b"}}}, &out)
	if err != nil || out != (thing{"x", 3}) || resp.Date.IsZero() {
		t.Fatalf("got %+v %+v %v", out, resp, err)
	}
}

// TestGarbage: answers that are not the JSON asked for are clear errors
// naming the URL, wrapping ErrUnavailable, never a panic.
func TestGarbage(t *testing.T) {
	for name, body := range map[string]string{
		"html":        "<html><body>Please log in</body></html>",
		"truncated":   `{"name": "x", "n"`,
		"wrong shape": `{"name": ["not", "a", "string"], "n": "three"}`,
		"binary":      "\x00\x01\x02\xff\xfe",
		"empty":       "",
	} {
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/html")
				w.Write([]byte(body))
			}))
			defer srv.Close()
			c := newClient(t, srv.URL, nil)
			var out thing
			_, err := c.Do(context.Background(), Request{Method: "GET", Path: "/x.json"}, &out)
			if !errors.Is(err, adapters.ErrUnavailable) || !strings.Contains(err.Error(), srv.URL+"/x.json") || !strings.Contains(err.Error(), "not the JSON expected") {
				t.Fatalf("err = %v", err)
			}
		})
	}
}

func TestTooLarge(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"name":"` + strings.Repeat("x", 2000) + `"}`))
	}))
	defer srv.Close()
	c := newClient(t, srv.URL, func(o *Options) { o.MaxBody = 1000 })
	_, err := c.Do(context.Background(), Request{Method: "GET", Path: "/"}, &thing{})
	if !errors.Is(err, adapters.ErrUnavailable) || !strings.Contains(err.Error(), "larger than 1000 bytes") {
		t.Fatalf("err = %v", err)
	}
}

// TestClientErrors: 4xx carry the tracker's message and the right kind.
func TestClientErrors(t *testing.T) {
	for _, tc := range []struct {
		status int
		body   string
		kind   error
		msg    string
	}{
		{404, ``, adapters.ErrNotFound, "404 Not Found: no message"},
		{422, `{"errors":["Subject cannot be blank","Status is invalid"]}`, adapters.ErrRejected, "Subject cannot be blank; Status is invalid"},
		{400, `{"message":"Status 'bogus' isn't a valid status"}`, adapters.ErrRejected, "Status 'bogus' isn't a valid status"},
		{403, `<html>Forbidden</html>`, adapters.ErrUnavailable, "<html>Forbidden</html>"},
		{401, `{"error":"bad token"}`, adapters.ErrUnavailable, "refused the credentials"},
		{409, `{"errors":{"lock":"stale"}}`, adapters.ErrRejected, `{"lock":"stale"}`},
	} {
		var calls atomic.Int32
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			calls.Add(1)
			w.WriteHeader(tc.status)
			w.Write([]byte(tc.body))
		}))
		c := newClient(t, srv.URL, nil)
		_, err := c.Do(context.Background(), Request{Method: "PUT", Path: "/issues/1.json", Body: map[string]int{"a": 1}, Idempotent: true}, nil)
		srv.Close()
		if !errors.Is(err, tc.kind) || !strings.Contains(err.Error(), tc.msg) || !strings.Contains(err.Error(), "PUT "+srv.URL+"/issues/1.json") {
			t.Errorf("%d: err = %v; want %v with %q", tc.status, err, tc.kind, tc.msg)
		}
		if calls.Load() != 1 {
			t.Errorf("%d: %d calls; a 4xx must not be retried", tc.status, calls.Load())
		}
		var e *Error
		if !errors.As(err, &e) || e.Status != tc.status {
			t.Errorf("%d: not an *Error with the status: %#v", tc.status, err)
		}
	}
}

// Test429: 429 is retried after the Retry-After the server asks for, for
// any method (the request was not processed).
func Test429(t *testing.T) {
	var calls atomic.Int32
	var first time.Time
	var waited time.Duration
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			first = time.Now()
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(429)
			return
		}
		waited = time.Since(first)
		w.Write([]byte(`{"name":"ok"}`))
	}))
	defer srv.Close()
	c := newClient(t, srv.URL, nil)
	var out thing
	if _, err := c.Do(context.Background(), Request{Method: "POST", Path: "/issues.json", Body: 1}, &out); err != nil || out.Name != "ok" {
		t.Fatalf("%v %+v", err, out)
	}
	if calls.Load() != 2 || waited < 900*time.Millisecond {
		t.Fatalf("%d calls, second after %v; want 2, after Retry-After: 1", calls.Load(), waited)
	}
}

func TestRetryAfterTooLong(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set("Retry-After", time.Now().Add(time.Hour).UTC().Format(http.TimeFormat))
		w.WriteHeader(503)
	}))
	defer srv.Close()
	c := newClient(t, srv.URL, nil)
	start := time.Now()
	_, err := c.Do(context.Background(), Request{Method: "GET", Path: "/"}, nil)
	if !errors.Is(err, adapters.ErrUnavailable) || !strings.Contains(err.Error(), "asks to retry after") || calls.Load() != 1 || time.Since(start) > 10*time.Second { // it must not wait the hour
		t.Fatalf("err = %v after %d calls, %v", err, calls.Load(), time.Since(start))
	}
}

// Test5xx: idempotent requests are retried after 5xx and then fail with
// ErrUnavailable; a POST is not retried (it may have been done).
func Test5xx(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.WriteHeader(502)
		w.Write([]byte("<html>Bad Gateway</html>"))
	}))
	defer srv.Close()
	c := newClient(t, srv.URL, func(o *Options) { o.MaxRetries = 3 })
	_, err := c.Do(context.Background(), Request{Method: "GET", Path: "/x"}, nil)
	if !errors.Is(err, adapters.ErrUnavailable) || !strings.Contains(err.Error(), "gave up after 4 attempts") || calls.Load() != 4 {
		t.Fatalf("GET: err = %v after %d calls", err, calls.Load())
	}
	calls.Store(0)
	_, err = c.Do(context.Background(), Request{Method: "POST", Path: "/x", Body: 1}, nil)
	if !errors.Is(err, adapters.ErrUnavailable) || calls.Load() != 1 {
		t.Fatalf("POST: err = %v after %d calls; want one call", err, calls.Load())
	}
}

// Test5xxThenOK: a passing hiccup is invisible.
func Test5xxThenOK(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) < 3 {
			w.WriteHeader(500)
			return
		}
		w.Write([]byte(`{"n":1}`))
	}))
	defer srv.Close()
	var out thing
	if _, err := newClient(t, srv.URL, nil).Do(context.Background(), Request{Method: "GET", Path: "/"}, &out); err != nil || out.N != 1 {
		t.Fatalf("%v %+v", err, out)
	}
}

// TestTimeout: a server that does not answer within the timeout is
// ErrUnavailable; the caller's own deadline is reported as such.
func TestTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	c := newClient(t, srv.URL, func(o *Options) { o.Timeout = 100 * time.Millisecond; o.MaxRetries = 1 })
	start := time.Now()
	_, err := c.Do(context.Background(), Request{Method: "GET", Path: "/slow"}, nil)
	if !errors.Is(err, adapters.ErrUnavailable) || !strings.Contains(err.Error(), "no answer from Tracker within 100ms") {
		t.Fatalf("err = %v", err)
	}
	if d := time.Since(start); d > 10*time.Second { // the handler never answers: without the timeout this hangs
		t.Fatalf("took %v", d)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	c = newClient(t, srv.URL, func(o *Options) { o.Timeout = 10 * time.Second })
	_, err = c.Do(ctx, Request{Method: "GET", Path: "/slow"}, nil)
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, adapters.ErrUnavailable) {
		t.Fatalf("caller's deadline: err = %v", err)
	}
}

// TestRefused: nobody listening is ErrUnavailable after retries, for POST
// too (nothing was sent).
func TestRefused(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	c := newClient(t, "http://"+addr, func(o *Options) { o.MaxRetries = 2 })
	_, err = c.Do(context.Background(), Request{Method: "POST", Path: "/issues.json", Body: 1}, nil)
	if !errors.Is(err, adapters.ErrUnavailable) || !strings.Contains(err.Error(), "cannot reach Tracker") || !strings.Contains(err.Error(), "gave up after 3 attempts") {
		t.Fatalf("err = %v", err)
	}
}

func TestBadURL(t *testing.T) {
	for _, u := range []string{"", "ftp://x", "127.0.0.1:3000", "http://user:pw@host/"} {
		if _, err := New(Options{BaseURL: u}); err == nil {
			t.Errorf("New(%q) succeeded", u)
		}
	}
}

func TestRateLimit(t *testing.T) {
	l := newLimiter(20, 2) // 50 ms apart after a burst of 2
	start := time.Now()
	for range 6 {
		if err := l.wait(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if d := time.Since(start); d < 180*time.Millisecond || d > 600*time.Millisecond {
		t.Fatalf("6 requests at 20/s with burst 2 took %v, want about 200ms", d)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for range 10 {
		_ = l.wait(context.Background()) // fill the bucket
	}
	if err := l.wait(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("wait with a cancelled context: %v", err)
	}
}

func TestRetryAfterParse(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for h, want := range map[string]time.Duration{
		"": 0, "3": 3 * time.Second, "-1": 0, "soon": 0,
		now.Add(90 * time.Second).Format(http.TimeFormat): 90 * time.Second,
		now.Add(-time.Minute).Format(http.TimeFormat):     time.Millisecond,
	} {
		if got := retryAfter(h, now); got != want {
			t.Errorf("retryAfter(%q) = %v, want %v", h, got, want)
		}
	}
}
