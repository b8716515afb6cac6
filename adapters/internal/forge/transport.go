package forge

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Transport sits under a forge's client library (go-github, the Gitea SDK).
// It does two things those libraries leave to their user:
//
//   - Conditional requests. A GET whose last answer carried an ETag is sent
//     again with If-None-Match; a 304 (which GitHub does not count against
//     the rate limit) is answered from the kept body, with the 304's own
//     headers (its Date, its rate-limit figures). An unchanged poll of the
//     change feed therefore costs nothing on GitHub. (Gitea sends no ETag
//     on its issue listings: there the cache stays empty.)
//   - Pacing. It reads X-RateLimit-Remaining and X-RateLimit-Reset of every
//     answer and, once fewer than reserve requests are left before the
//     reset, spaces requests so that what is left lasts until the reset
//     instead of running into the limit. (Gitea sends no such headers
//     unless an administrator puts a rate-limiting proxy in front of it.)
//
// It is safe for concurrent use.
type Transport struct {
	next    http.RoundTripper
	reserve int
	now     func() time.Time
	sleep   func(ctx context.Context, d time.Duration) error

	mu        sync.Mutex
	cache     map[string]cached // by URL
	order     []string          // URLs, oldest first, for eviction
	remaining int               // -1: unknown
	reset     time.Time
	last      time.Time // when the last request was sent
	notMod    int       // 304s answered from the cache (for tests and check)
}

type cached struct {
	etag   string
	body   []byte
	status int
}

// cacheSize bounds the kept answers: the feed polls a handful of URLs.
const cacheSize = 64

// maxCachedBody: larger answers are not kept.
const maxCachedBody = 8 << 20

// NewTransport wraps next (nil: http.DefaultTransport). Below reserve
// requests left before the reset, requests are spaced out.
func NewTransport(next http.RoundTripper, reserve int) *Transport {
	if next == nil {
		next = http.DefaultTransport
	}
	return &Transport{next: next, reserve: reserve, now: time.Now, sleep: sleepCtx, cache: map[string]cached{}, remaining: -1}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// pace is how long to wait before the next request.
func (t *Transport) pace() time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	if t.remaining < 0 || t.remaining >= t.reserve || !t.reset.After(now) {
		return 0
	}
	gap := t.reset.Sub(now) / time.Duration(t.remaining+1)
	if wait := t.last.Add(gap).Sub(now); wait > 0 {
		return wait
	}
	return 0
}

// Reserve is the number of requests below which requests are spaced.
func (t *Transport) Reserve() int { return t.reserve }

// RateLeft is the rate-limit figures of the last answer (remaining -1
// when no answer said).
func (t *Transport) RateLeft() (remaining int, reset time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.remaining, t.reset
}

// NotModified is how many answers came from the cache after a 304.
func (t *Transport) NotModified() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.notMod
}

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(r *http.Request) (*http.Response, error) {
	if d := t.pace(); d > 0 {
		if err := t.sleep(r.Context(), d); err != nil {
			return nil, err
		}
	}
	key := r.URL.String()
	get := r.Method == http.MethodGet && r.Header.Get("Range") == ""
	var old cached
	var have bool
	if get {
		t.mu.Lock()
		old, have = t.cache[key]
		t.mu.Unlock()
		if have {
			r = r.Clone(r.Context())
			r.Header.Set("If-None-Match", old.etag)
		}
	}
	t.mu.Lock()
	t.last = t.now()
	t.mu.Unlock()
	resp, err := t.next.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	t.noteRate(resp.Header)
	if !get {
		return resp, nil
	}
	if resp.StatusCode == http.StatusNotModified && have {
		resp.Body.Close()
		t.mu.Lock()
		t.notMod++
		t.mu.Unlock()
		resp.StatusCode, resp.Status = old.status, strconv.Itoa(old.status)+" "+http.StatusText(old.status)
		resp.Body = io.NopCloser(bytes.NewReader(old.body))
		resp.ContentLength = int64(len(old.body))
		resp.Header = resp.Header.Clone()
		resp.Header.Set("Content-Type", "application/json; charset=utf-8")
		return resp, nil
	}
	etag := resp.Header.Get("ETag")
	if resp.StatusCode != http.StatusOK || etag == "" || resp.ContentLength > maxCachedBody {
		return resp, nil
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxCachedBody+1))
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if len(body) <= maxCachedBody {
		t.mu.Lock()
		if _, ok := t.cache[key]; !ok {
			t.order = append(t.order, key)
			if len(t.order) > cacheSize {
				delete(t.cache, t.order[0])
				t.order = t.order[1:]
			}
		}
		t.cache[key] = cached{etag: etag, body: body, status: resp.StatusCode}
		t.mu.Unlock()
	}
	return resp, nil
}

func (t *Transport) noteRate(h http.Header) {
	rem, err1 := strconv.Atoi(h.Get("X-RateLimit-Remaining"))
	reset, err2 := strconv.ParseInt(h.Get("X-RateLimit-Reset"), 10, 64)
	if err1 != nil || err2 != nil { // GitLab's names
		rem, err1 = strconv.Atoi(h.Get("RateLimit-Remaining"))
		reset, err2 = strconv.ParseInt(h.Get("RateLimit-Reset"), 10, 64)
	}
	if err1 != nil || err2 != nil {
		return
	}
	t.mu.Lock()
	t.remaining, t.reset = rem, time.Unix(reset, 0)
	t.mu.Unlock()
}

// DateOf is the forge's clock as its answer's Date header gives it (zero
// when resp is nil or has none): what the change feed settles against.
func DateOf(resp *http.Response) time.Time {
	if resp == nil {
		return time.Time{}
	}
	d, err := http.ParseTime(resp.Header.Get("Date"))
	if err != nil {
		return time.Time{}
	}
	return d
}
