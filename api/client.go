package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
)

// Client talks to a node's admin API: over the unix socket while the node
// runs (NewSocketClient), or in-process over the opened home while it does
// not (NewLocalClient). node.Dial picks one.
type Client struct {
	hc      *http.Client
	offline io.Closer // non-nil when the node is not running
}

// NewSocketClient talks to the node that serves the unix socket at path.
func NewSocketClient(path string) *Client {
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", path)
	}}
	return &Client{hc: &http.Client{Transport: tr}}
}

// NewLocalClient serves every request with h in-process (a node that is
// not running, opened by the command); Close closes home.
func NewLocalClient(h http.Handler, home io.Closer) *Client {
	return &Client{hc: &http.Client{Transport: handlerTransport{h}}, offline: home}
}

// Running reports whether a node process answered.
func (c *Client) Running() bool { return c.offline == nil }

// Close releases the home when it was opened in-process, or the
// connections to the node's socket.
func (c *Client) Close() error {
	if c.offline != nil {
		return c.offline.Close()
	}
	c.hc.CloseIdleConnections()
	return nil
}

// handlerTransport serves requests with an in-process handler.
type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	t.h.ServeHTTP(rec, r)
	return rec.Result(), nil
}

// Error is an error answer of the admin API. Its text is the node's
// message, which the command line prints as it is.
type Error struct {
	Status  int // the HTTP status: 400 the caller's mistake, 404 not found, ...
	Message string
}

func (e *Error) Error() string { return e.Message }

// Do sends a request to the admin API and decodes the JSON answer into out
// (when out is not nil). An error answer becomes an *Error with the node's
// message.
func (c *Client) Do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://issuemesh"+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("admin API: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("admin API: %w", err)
	}
	if resp.StatusCode >= 300 {
		var e apiError
		if json.Unmarshal(b, &e) == nil && e.Error != "" {
			return &Error{Status: resp.StatusCode, Message: e.Error}
		}
		return &Error{Status: resp.StatusCode, Message: fmt.Sprintf("admin API: %s: %s", resp.Status, bytes.TrimSpace(b))}
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("admin API answer: %w", err)
		}
	}
	return nil
}

// PathEscape escapes one path segment (an issue key, a peer ID).
func PathEscape(s string) string { return url.PathEscape(s) }
