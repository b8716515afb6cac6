package contract

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// Latencies records how long a tracker takes to answer, per method, for the
// reports of the tests that run against real trackers.
type Latencies struct {
	mu   sync.Mutex
	by   map[string][]time.Duration
	Next http.RoundTripper // nil: http.DefaultTransport
}

// RoundTrip times one request (until its headers arrive).
func (l *Latencies) RoundTrip(r *http.Request) (*http.Response, error) {
	next := l.Next
	if next == nil {
		next = http.DefaultTransport
	}
	start := time.Now()
	resp, err := next.RoundTrip(r)
	d := time.Since(start)
	l.mu.Lock()
	if l.by == nil {
		l.by = map[string][]time.Duration{}
	}
	l.by[r.Method] = append(l.by[r.Method], d)
	l.mu.Unlock()
	return resp, err
}

// Client is an http.Client that records into l.
func (l *Latencies) Client() *http.Client { return &http.Client{Transport: l} }

// String summarises the latencies: count, p50, p95 and max per method.
func (l *Latencies) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	methods := make([]string, 0, len(l.by))
	for m := range l.by {
		methods = append(methods, m)
	}
	slices.Sort(methods)
	var b strings.Builder
	for _, m := range methods {
		ds := slices.Clone(l.by[m])
		slices.Sort(ds)
		q := func(p float64) time.Duration { return ds[int(p*float64(len(ds)-1))].Round(100 * time.Microsecond) }
		fmt.Fprintf(&b, "%s n=%d p50=%v p95=%v max=%v; ", m, len(ds), q(0.5), q(0.95), ds[len(ds)-1].Round(100*time.Microsecond))
	}
	return strings.TrimSuffix(b.String(), "; ")
}
