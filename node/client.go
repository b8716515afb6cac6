package node

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"github.com/issuemesh/issuemesh/store"
)

// Client talks to a node's admin API: over the unix socket while the node
// runs, or in-process over the opened home while it does not.
type Client struct {
	hc      *http.Client
	offline *Node // non-nil when the node is not running
}

// Dial connects to the node in home. If no node answers on the socket, it
// opens the home itself; Close releases it.
func Dial(home string, log *slog.Logger) (*Client, error) {
	path := filepath.Join(home, SocketFile)
	// A node that is starting holds its files before it answers on the
	// socket: wait for one or the other for a while.
	deadline := time.Now().Add(lockWait)
	for {
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, "unix", path)
			}}
			return &Client{hc: &http.Client{Transport: tr}}, nil
		}
		n, err := Open(home, Options{Logger: log})
		if err == nil {
			return &Client{hc: &http.Client{Transport: handlerTransport{n.Handler()}}, offline: n}, nil
		}
		if !IsLocked(err) || time.Now().After(deadline) {
			if pid, ok := RunningPID(home); ok && IsLocked(err) {
				return nil, fmt.Errorf("a node runs on %s (PID %d) but does not answer on %s yet; wait until it has started, or read its log: %w", home, pid, path, err)
			}
			return nil, err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// lockWait is how long a command waits for a node's files held by another
// process (a node starting or stopping, or another command).
const lockWait = 10 * time.Second

// IsLocked reports whether opening a home failed because another process
// holds its databases.
func IsLocked(err error) bool {
	return err != nil && (errors.Is(err, store.ErrLocked) || strings.Contains(err.Error(), "Cannot acquire directory lock"))
}

// Running reports whether a node process answered.
func (c *Client) Running() bool { return c.offline == nil }

// Close releases the home when it was opened in-process.
func (c *Client) Close() error {
	if c.offline != nil {
		return c.offline.Close()
	}
	return nil
}

// handlerTransport serves requests with an in-process handler.
type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	t.h.ServeHTTP(rec, r)
	return rec.Result(), nil
}

// Do sends a request to the admin API and decodes the JSON answer into out
// (when out is not nil). An error answer becomes an error with its message.
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
			return errors.New(e.Error)
		}
		return fmt.Errorf("admin API: %s: %s", resp.Status, bytes.TrimSpace(b))
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
