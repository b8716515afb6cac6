package rest

// Requests whose body is not JSON: file uploads and downloads.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/issuemesh/issuemesh/adapters"
)

// statusKind is the adapters error a non-2xx status stands for (see the
// package documentation).
func statusKind(st int) error {
	switch {
	case st == http.StatusNotFound:
		return adapters.ErrNotFound
	case st == http.StatusUnauthorized, st == http.StatusForbidden, st == http.StatusTooManyRequests, st >= 500:
		return adapters.ErrUnavailable
	case st >= 400:
		return adapters.ErrRejected
	}
	return adapters.ErrUnavailable
}

// rawError is the *Error of a non-2xx answer whose body has been read.
func (c *Client) rawError(method, full string, st int, data []byte) *Error {
	msg := c.opts.ErrorMessage(data)
	if msg == "" {
		msg = "no message"
	}
	switch {
	case st == http.StatusUnauthorized:
		msg = c.opts.Name + " refused the credentials (check the API key or token): " + msg
	case st == http.StatusForbidden:
		msg = c.opts.Name + " refused the request: the key's user lacks a permission (check its roles in the project or queue): " + msg
	case st < 400:
		msg = "unexpected answer: " + msg
	}
	return &Error{Method: method, URL: full, Status: st, Message: msg, Kind: statusKind(st), Class: classOf(st)}
}

func (c *Client) fullURL(path string, q url.Values) string {
	u := *c.base
	u.Path = c.base.Path + path
	if q != nil {
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// Upload sends body as the raw request body (Content-Type contentType) and
// decodes a JSON answer into out. It makes one attempt, after the rate
// limiter (the body is a stream and cannot be sent again): a failure wraps
// adapters.ErrUnavailable or ErrRejected as Do's do, and the caller retries
// the whole operation. size, when not negative, is sent as Content-Length.
// Only the time to the answer's headers is bounded by Options.Timeout
// after the body is sent; ctx bounds the whole request.
func (c *Client) Upload(ctx context.Context, method, path string, q url.Values, contentType string, body io.Reader, size int64, out any) (*Response, error) {
	full := c.fullURL(path, q)
	if err := c.lim.wait(ctx); err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, full, err)
	}
	hr, err := http.NewRequestWithContext(ctx, method, full, body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, full, err)
	}
	if size >= 0 {
		hr.ContentLength = size
	}
	for k, vs := range c.opts.Header {
		hr.Header[k] = vs
	}
	hr.Header.Set("Accept", "application/json")
	hr.Header.Set("Content-Type", contentType)
	start := time.Now()
	hresp, err := c.hc.Do(hr)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%s %s: %w", method, full, ctx.Err())
		}
		return nil, &Error{Method: method, URL: full, Message: "cannot reach " + c.opts.Name, Kind: adapters.ErrUnavailable, Cause: unwrapURLError(err), Class: adapters.ClassUnreachable}
	}
	defer hresp.Body.Close()
	data, rerr := io.ReadAll(io.LimitReader(hresp.Body, c.opts.MaxBody+1))
	lat := time.Since(start)
	c.log.Debug("tracker request", "tracker", c.opts.Name, "method", method, "url", full, "status", hresp.StatusCode, "took", lat)
	if rerr != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%s %s: %w", method, full, ctx.Err())
		}
		return nil, &Error{Method: method, URL: full, Message: fmt.Sprintf("reading the answer (status %d) failed", hresp.StatusCode), Kind: adapters.ErrUnavailable, Cause: unwrapURLError(rerr), Class: adapters.ClassUnreachable}
	}
	if hresp.StatusCode < 200 || hresp.StatusCode >= 300 {
		return nil, c.rawError(method, full, hresp.StatusCode, data)
	}
	resp := &Response{Status: hresp.StatusCode, Header: hresp.Header, Latency: lat}
	if out == nil || hresp.StatusCode == http.StatusNoContent {
		return resp, nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return nil, &Error{Method: method, URL: full, Status: hresp.StatusCode, Kind: adapters.ErrUnavailable, Class: adapters.ClassGarbage,
			Message: fmt.Sprintf("the answer is not the JSON expected (Content-Type %q, starts %q)", hresp.Header.Get("Content-Type"), snippet(data, 80)), Cause: err}
	}
	return resp, nil
}

// Download GETs path and returns the answer's body as a stream, which the
// caller reads and closes. Failures before the body (refused connections,
// 5xx, 429, timeouts to the headers) are retried as Do retries a GET. The
// body is bounded by ctx, not by Options.Timeout, so that large files can
// take their time.
func (c *Client) Download(ctx context.Context, path string, q url.Values) (io.ReadCloser, *Response, error) {
	full := c.fullURL(path, q)
	for attempt := 0; ; attempt++ {
		if err := c.lim.wait(ctx); err != nil {
			return nil, nil, fmt.Errorf("GET %s: %w", full, err)
		}
		body, resp, retryAfter, err := c.downloadOnce(ctx, full)
		if err == nil {
			return body, resp, nil
		}
		var e *Error
		if !errors.As(err, &e) || !c.retryable(e, true) || attempt >= c.opts.MaxRetries {
			return nil, nil, err
		}
		delay := c.backoff(attempt)
		if retryAfter > 0 {
			if retryAfter > c.opts.MaxRetryAfter {
				return nil, nil, err
			}
			delay = retryAfter
		}
		c.log.Warn("tracker request failed; retrying", "tracker", c.opts.Name, "method", "GET", "url", full,
			"status", e.Status, "err", e.Message, "attempt", attempt+1, "in", delay)
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, nil, fmt.Errorf("GET %s: %w (while waiting to retry after: %v)", full, ctx.Err(), e)
		case <-t.C:
		}
	}
}

func (c *Client) downloadOnce(ctx context.Context, full string) (io.ReadCloser, *Response, time.Duration, error) {
	// The timeout bounds the wait for the headers only.
	hctx, cancel := context.WithCancel(ctx)
	timer := time.AfterFunc(c.opts.Timeout, cancel)
	hr, err := http.NewRequestWithContext(hctx, http.MethodGet, full, nil)
	if err != nil {
		timer.Stop()
		cancel()
		return nil, nil, 0, fmt.Errorf("GET %s: %w", full, err)
	}
	for k, vs := range c.opts.Header {
		hr.Header[k] = vs
	}
	start := time.Now()
	hresp, err := c.hc.Do(hr)
	headersInTime := timer.Stop()
	if err != nil {
		cancel()
		if ctx.Err() != nil {
			return nil, nil, 0, fmt.Errorf("GET %s: %w", full, ctx.Err())
		}
		if !headersInTime {
			return nil, nil, 0, &Error{Method: "GET", URL: full, Message: fmt.Sprintf("no answer from %s within %v", c.opts.Name, c.opts.Timeout), Kind: adapters.ErrUnavailable, Class: adapters.ClassUnreachable}
		}
		return nil, nil, 0, &Error{Method: "GET", URL: full, Message: "cannot reach " + c.opts.Name, Kind: adapters.ErrUnavailable, Cause: unwrapURLError(err), Class: adapters.ClassUnreachable}
	}
	c.log.Debug("tracker request", "tracker", c.opts.Name, "method", "GET", "url", full, "status", hresp.StatusCode, "took", time.Since(start))
	if hresp.StatusCode < 200 || hresp.StatusCode >= 300 {
		data, _ := io.ReadAll(io.LimitReader(hresp.Body, 64<<10))
		hresp.Body.Close()
		cancel()
		return nil, nil, retryAfter(hresp.Header.Get("Retry-After"), time.Now()), c.rawError("GET", full, hresp.StatusCode, data)
	}
	resp := &Response{Status: hresp.StatusCode, Header: hresp.Header, Latency: time.Since(start)}
	return &cancelBody{ReadCloser: hresp.Body, cancel: cancel, what: "GET " + full}, resp, 0, nil
}

// cancelBody releases the request's context when the body is closed, and
// names the request in read errors.
type cancelBody struct {
	io.ReadCloser
	cancel context.CancelFunc
	what   string
}

func (b *cancelBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		err = fmt.Errorf("%s: reading the body: %w: %w", b.what, err, adapters.ErrUnavailable)
	}
	return n, err
}

func (b *cancelBody) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}
