// Package reqcount counts the HTTP requests an adapter makes of its
// tracker, by method and path shape ("GET /issues/N.json"): the
// measurement side of "tracker requests per synced change" (bench's
// requests figure, docs/performance.md). One Counter wraps the transport of
// any adapter that takes an http.RoundTripper or an http.Client (redmine
// and rt through rest.Options.WrapTransport; github, gitea, gitlab and
// jira through their HTTP client).
package reqcount

import (
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// Counter counts the requests made through the transports it wraps.
type Counter struct {
	mu     sync.Mutex
	counts map[string]int
	keep   bool    // record each request's times (Keep)
	events []Event // since the last Take
}

// Event is one request with the times it started and its answer's
// headers arrived.
type Event struct {
	Key        string
	Start, End time.Time
}

// Keep makes the counter record every request's times, for Events.
func (c *Counter) Keep() {
	c.mu.Lock()
	c.keep = true
	c.mu.Unlock()
}

// Events returns the requests recorded since the last Take (Keep).
func (c *Counter) Events() []Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.events)
}

// New returns an empty Counter.
func New() *Counter { return &Counter{counts: map[string]int{}} }

// Wrap returns a transport that counts every request, then passes it to
// next (nil: http.DefaultTransport). Its signature is rest.Options'
// WrapTransport.
func (c *Counter) Wrap(next http.RoundTripper) http.RoundTripper {
	if next == nil {
		next = http.DefaultTransport
	}
	return roundTripper{c: c, next: next}
}

// Client is an HTTP client whose transport counts into c.
func (c *Counter) Client() *http.Client { return &http.Client{Transport: c.Wrap(nil)} }

type roundTripper struct {
	c    *Counter
	next http.RoundTripper
}

func (r roundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	k := req.Method + " " + Shape(req.URL.Path)
	r.c.Add(k)
	r.c.mu.Lock()
	keep := r.c.keep
	r.c.mu.Unlock()
	if !keep {
		return r.next.RoundTrip(req)
	}
	start := time.Now()
	resp, err := r.next.RoundTrip(req)
	r.c.mu.Lock()
	r.c.events = append(r.c.events, Event{Key: k, Start: start, End: time.Now()})
	r.c.mu.Unlock()
	return resp, err
}

// Add counts one request (or call) under key: what counting wrappers of
// trackers without HTTP (the local one) count by.
func (c *Counter) Add(key string) {
	c.mu.Lock()
	c.counts[key]++
	c.mu.Unlock()
}

// Shape is a path with every segment that is a number (or a number with
// an extension, "42.json") written N, so that the requests about different
// issues count together: /issues/42.json is /issues/N.json.
func Shape(path string) string {
	segs := strings.Split(path, "/")
	for i, s := range segs {
		j := 0
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
		}
		rest := s[j:]
		if j > 0 && (rest == "" || (rest[0] == '.' && strings.Trim(rest[1:], "abcdefghijklmnopqrstuvwxyz") == "" && len(rest) > 1)) {
			segs[i] = "N" + rest
		}
	}
	return strings.Join(segs, "/")
}

// Take returns the counts since the last Take (or New) and starts again.
func (c *Counter) Take() Counts {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.counts
	c.counts = map[string]int{}
	c.events = nil
	return out
}

// Counts is requests by "METHOD shape".
type Counts map[string]int

// Total is the number of requests, leaving out those whose key one of
// skip says to.
func (c Counts) Total(skip func(key string) bool) int {
	n := 0
	for k, v := range c {
		if skip == nil || !skip(k) {
			n += v
		}
	}
	return n
}

// Per formats the counts divided by n (changes), sorted by key:
// "GET /issues/N.json 1.20; PUT /issues/N.json 1.00".
func (c Counts) Per(n int) string {
	if len(c) == 0 {
		return "none"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(c)) {
		parts = append(parts, fmt.Sprintf("%s %.2f", k, float64(c[k])/float64(n)))
	}
	return strings.Join(parts, "; ")
}
