package gitea

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"time"
)

// confirm401 makes sure a 401 means a refused token before the node takes
// it as one (a permanent error: the node stops asking Gitea until the
// token file changes). Gitea shutting down answers 401 for a valid token
// (its token lookup sees the request's context cancelled: "userFromToken:
// context canceled" in its log). So on a 401 it waits a moment and asks
// GET /api/v1/user with the same token: a second 401 confirms; any other
// outcome (Gitea gone, 5xx, or the token accepted) turns the answer into a
// 503, a transient error the node retries.
type confirm401 struct {
	next  http.RoundTripper
	probe string // URL of GET /api/v1/user
	wait  time.Duration
}

func (c confirm401) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := c.next.RoundTrip(r)
	if err != nil || resp.StatusCode != http.StatusUnauthorized || r.Header.Get("Authorization") == "" {
		return resp, err
	}
	if c.refused(r.Context(), r.Header.Get("Authorization")) {
		return resp, nil
	}
	resp.Body.Close()
	msg := `{"message":"Gitea answered 401 for a token it did not refuse a moment later (Gitea restarting?): retried"}`
	resp.StatusCode, resp.Status = http.StatusServiceUnavailable, "503 Service Unavailable"
	resp.Body = io.NopCloser(bytes.NewReader([]byte(msg)))
	resp.ContentLength = int64(len(msg))
	resp.Header = resp.Header.Clone()
	resp.Header.Set("Content-Type", "application/json")
	return resp, nil
}

// refused reports whether the probe is answered 401 too.
func (c confirm401) refused(ctx context.Context, auth string) bool {
	t := time.NewTimer(c.wait)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return true // the caller gave up: keep Gitea's answer
	case <-t.C:
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.probe, nil)
	if err != nil {
		return true
	}
	req.Header.Set("Authorization", auth)
	resp, err := c.next.RoundTrip(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusUnauthorized
}
