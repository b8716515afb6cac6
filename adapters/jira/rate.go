package jira

import (
	"encoding/json"
	"net/http"
	"strconv"
	"sync"
	"time"
)

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
func jsonMarshal(v any) ([]byte, error)   { return json.Marshal(v) }

// rateNote keeps the last rate-limit headers Jira sent: X-RateLimit-Limit,
// -Remaining, -Reset and RateLimit-Reason
// (https://developer.atlassian.com/cloud/jira/platform/rate-limiting/).
type rateNote struct {
	mu        sync.Mutex
	limit     int
	remaining int
	reset     time.Time
	reason    string
	limited   int // 429 answers seen
	seen      bool
}

// RateLimit is what Jira last said about the request quota.
type RateLimit struct {
	Seen             bool
	Limit, Remaining int
	Reset            time.Time
	Reason           string
	Throttled        int // 429 answers since the adapter opened
}

type rateTransport struct {
	next http.RoundTripper
	note *rateNote
}

func (r rateTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.next.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	h := resp.Header
	r.note.mu.Lock()
	defer r.note.mu.Unlock()
	if v := h.Get("X-RateLimit-Remaining"); v != "" {
		r.note.seen = true
		r.note.remaining, _ = strconv.Atoi(v)
		if l, err := strconv.Atoi(h.Get("X-RateLimit-Limit")); err == nil {
			r.note.limit = l
		}
		// ISO 8601, with or without seconds ("2026-03-14T15:00Z").
		for _, l := range []string{time.RFC3339, "2006-01-02T15:04Z07:00"} {
			if t, err := time.Parse(l, h.Get("X-RateLimit-Reset")); err == nil {
				r.note.reset = t
				break
			}
		}
	}
	if v := h.Get("RateLimit-Reason"); v != "" {
		r.note.reason = v
	}
	if resp.StatusCode == http.StatusTooManyRequests {
		r.note.limited++
	}
	return resp, nil
}

// RateLimit reports the last rate-limit headers seen.
func (t *Tracker) RateLimit() RateLimit {
	n := t.rate
	n.mu.Lock()
	defer n.mu.Unlock()
	return RateLimit{Seen: n.seen, Limit: n.limit, Remaining: n.remaining, Reset: n.reset, Reason: n.reason, Throttled: n.limited}
}
