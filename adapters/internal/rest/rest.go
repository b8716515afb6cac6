// Package rest is the HTTP+JSON client that the adapters of remote trackers
// (Redmine, Request Tracker) share: timeouts, client-side rate limiting,
// retries with backoff, and errors that tell the sync engine what to do.
//
// # Errors
//
// Every error names the method and the URL (never the credentials, which
// travel in headers) and wraps one of the adapters errors:
//
//   - 404 wraps adapters.ErrNotFound.
//   - 400, 409, 422 and every other 4xx but 401, 403 and 429 wrap
//     adapters.ErrRejected, with the tracker's own message: the same data
//     fails again, so the twin is blocked until an operator acts.
//   - 401 and 403 wrap adapters.ErrUnavailable: refused credentials or a
//     missing permission make the whole tracker unusable, not one change;
//     once the operator fixes the key the queued changes drain by
//     themselves.
//   - 429, 5xx, timeouts, refused connections, and answers that are not the
//     JSON asked for (a proxy's HTML page, a truncated body) wrap
//     adapters.ErrUnavailable, after the retries below.
//
// Every *Error also has a Class (adapters.ErrorClass: credentials,
// permission, not_found, unreachable, rate_limited with RetryAt,
// server_error, garbage, rejected), and errors.As finds it as an
// *adapters.TrackerError, which is how the node keeps the tracker's health.
//
// # Retries
//
// A request is retried, up to Options.MaxRetries times with exponential
// backoff and jitter, when the server answered 429, or when it could not
// have been processed (the connection was refused). Idempotent requests
// (GET, and any request marked Idempotent) are also retried after 5xx,
// timeouts and broken connections. A request that creates something (a POST,
// a PUT that adds a note) is not: the tracker may have done it, and the sync
// engine's own retry finds the result by its twin or comment marker instead
// of creating it twice. A Retry-After header (seconds or an HTTP date) is
// honoured up to Options.MaxRetryAfter; a longer one ends the request with
// ErrUnavailable at once, so that the engine's backoff takes over.
package rest

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
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/internal/backoff"
)

// Defaults of Options.
const (
	DefaultTimeout       = 30 * time.Second
	DefaultRate          = 20 // requests per second
	DefaultBurst         = 10
	DefaultMaxRetries    = 4
	DefaultRetryMin      = 250 * time.Millisecond
	DefaultRetryMax      = 8 * time.Second
	DefaultMaxRetryAfter = 30 * time.Second
	DefaultMaxBody       = 32 << 20
)

// Options configure a Client. Zero values take the defaults above.
type Options struct {
	// BaseURL is prefixed to every request path, e.g. http://127.0.0.1:3000.
	BaseURL string
	// Name of the tracker in error messages ("Redmine").
	Name string
	// Header is sent with every request (credentials go here).
	Header http.Header
	// Timeout bounds one attempt, from dialling to the end of the body.
	Timeout time.Duration
	// Rate and Burst limit the requests per second this client sends.
	Rate  float64
	Burst int
	// MaxRetries is how many times a retryable failure is retried; a
	// negative value means never.
	MaxRetries int
	// RetryMin and RetryMax bound the backoff between attempts.
	RetryMin, RetryMax time.Duration
	// MaxRetryAfter is the longest Retry-After waited for in place.
	MaxRetryAfter time.Duration
	// MaxBody is the largest answer read, in bytes.
	MaxBody int64
	// ErrorMessage extracts the tracker's message from an error answer's
	// body; nil uses the common shapes ({"errors": [...]}, {"message": ...},
	// {"error": ...}) or the start of the text.
	ErrorMessage func(body []byte) string
	// HTTPClient replaces the default client (tests; a custom transport).
	HTTPClient *http.Client
	// WrapTransport, if set, wraps the client's transport (the node's
	// request metrics).
	WrapTransport func(http.RoundTripper) http.RoundTripper
	// Logger receives a debug line per request and a warning per retry.
	Logger *slog.Logger
}

// Client is an HTTP+JSON client of one tracker. It is safe for concurrent
// use.
type Client struct {
	base *url.URL
	opts Options
	hc   *http.Client
	log  *slog.Logger
	lim  *limiter
}

// New returns a client of the tracker at opts.BaseURL.
func New(opts Options) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(opts.BaseURL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%q is not an http:// or https:// URL", opts.BaseURL)
	}
	if u.User != nil {
		return nil, fmt.Errorf("the URL %s carries credentials: give them in a key file instead", u.Redacted())
	}
	if opts.Name == "" {
		opts.Name = "tracker"
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Rate <= 0 {
		opts.Rate = DefaultRate
	}
	if opts.Burst <= 0 {
		opts.Burst = DefaultBurst
	}
	if opts.MaxRetries == 0 {
		opts.MaxRetries = DefaultMaxRetries
	}
	if opts.RetryMin <= 0 {
		opts.RetryMin = DefaultRetryMin
	}
	if opts.RetryMax <= 0 {
		opts.RetryMax = DefaultRetryMax
	}
	if opts.MaxRetryAfter <= 0 {
		opts.MaxRetryAfter = DefaultMaxRetryAfter
	}
	if opts.MaxBody <= 0 {
		opts.MaxBody = DefaultMaxBody
	}
	if opts.ErrorMessage == nil {
		opts.ErrorMessage = commonMessage
	}
	hc := opts.HTTPClient
	if hc == nil {
		hc = &http.Client{Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			TLSHandshakeTimeout:   10 * time.Second,
			ResponseHeaderTimeout: opts.Timeout,
			IdleConnTimeout:       90 * time.Second,
			MaxIdleConnsPerHost:   4,
			ForceAttemptHTTP2:     true,
		}}
	}
	if opts.WrapTransport != nil {
		c := *hc
		c.Transport = opts.WrapTransport(c.Transport)
		hc = &c
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Client{base: u, opts: opts, hc: hc, log: log, lim: newLimiter(opts.Rate, opts.Burst)}, nil
}

// BaseURL is the URL the request paths are relative to.
func (c *Client) BaseURL() string { return c.base.String() }

// Close releases idle connections.
func (c *Client) Close() { c.hc.CloseIdleConnections() }

// Request is one call.
type Request struct {
	Method string
	// Path is relative to the base URL, e.g. "/issues.json".
	Path  string
	Query url.Values
	// Body is sent as JSON when not nil.
	Body any
	// Idempotent allows retries after 5xx and timeouts for methods other
	// than GET and HEAD.
	Idempotent bool
}

// Response is what a successful call returned besides the decoded body.
type Response struct {
	Status int
	Header http.Header
	// Date is the server's clock when it answered (from the Date header),
	// or the zero time when it sent none.
	Date time.Time
	// Latency is the duration of the last attempt.
	Latency time.Duration
}

// Error is a failed call. It wraps one of the adapters errors (see the
// package documentation).
type Error struct {
	Method, URL string
	// Status is the HTTP status, or 0 when there was no answer.
	Status int
	// Message is the tracker's message, or what went wrong.
	Message string
	// Kind is adapters.ErrNotFound, ErrRejected or ErrUnavailable.
	Kind error
	// Cause is the underlying error, if any.
	Cause error
	// Class says what kind of trouble this is; errors.As also finds it as
	// an *adapters.TrackerError.
	Class adapters.ErrorClass
	// RetryAt is when a rate-limited tracker said to come back.
	RetryAt time.Time
}

// As lets errors.As find the error as an *adapters.TrackerError.
func (e *Error) As(target any) bool {
	if t, ok := target.(**adapters.TrackerError); ok {
		*t = &adapters.TrackerError{Class: e.Class, Status: e.Status, RetryAt: e.RetryAt, Err: e}
		return true
	}
	return false
}

// classOf is the class of a failed attempt by its status: with no answer
// (0), unreachable; a 2xx answer that failed is one that is not what was
// asked for.
func classOf(status int) adapters.ErrorClass {
	switch {
	case status == 0:
		return adapters.ClassUnreachable
	case status == http.StatusUnauthorized:
		return adapters.ClassCredentials
	case status == http.StatusForbidden:
		return adapters.ClassPermission
	case status == http.StatusNotFound:
		return adapters.ClassNotFound
	case status == http.StatusTooManyRequests:
		return adapters.ClassRateLimited
	case status >= 500:
		return adapters.ClassServer
	case status >= 400:
		return adapters.ClassRejected
	}
	return adapters.ClassGarbage // 2xx not as asked; 1xx, 3xx: not followed, not expected
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s: ", e.Method, e.URL)
	if e.Status != 0 {
		fmt.Fprintf(&b, "%d %s: ", e.Status, http.StatusText(e.Status))
	}
	b.WriteString(e.Message)
	if e.Cause != nil {
		fmt.Fprintf(&b, ": %v", e.Cause)
	}
	if e.Kind != adapters.ErrNotFound { // "issue not found" would mislead for other resources
		fmt.Fprintf(&b, " (%v)", e.Kind)
	}
	return b.String()
}

// Unwrap gives both the kind and the cause to errors.Is and errors.As.
func (e *Error) Unwrap() []error {
	if e.Cause != nil {
		return []error{e.Kind, e.Cause}
	}
	return []error{e.Kind}
}

// Do sends the request and decodes a JSON answer into out (which may be
// nil to ignore the body). It retries as the package documentation says.
func (c *Client) Do(ctx context.Context, req Request, out any) (*Response, error) {
	u := *c.base
	u.Path = c.base.Path + req.Path
	if req.Query != nil {
		u.RawQuery = req.Query.Encode()
	}
	full := u.String()
	var body []byte
	if req.Body != nil {
		var err error
		if body, err = json.Marshal(req.Body); err != nil {
			return nil, fmt.Errorf("%s %s: encode the request: %w", req.Method, full, err)
		}
	}
	idempotent := req.Idempotent || req.Method == http.MethodGet || req.Method == http.MethodHead
	for attempt := 0; ; attempt++ {
		if err := c.lim.wait(ctx); err != nil {
			return nil, fmt.Errorf("%s %s: %w", req.Method, full, err)
		}
		resp, retryAfter, err := c.once(ctx, req, full, body, out)
		if err == nil {
			return resp, nil
		}
		var e *Error
		if !errors.As(err, &e) || !c.retryable(e, idempotent) {
			return nil, err
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%s %s: %w", req.Method, full, ctx.Err())
		}
		if attempt >= c.opts.MaxRetries {
			if attempt > 0 {
				e.Message += fmt.Sprintf(" (gave up after %d attempts)", attempt+1)
			}
			return nil, e
		}
		delay := c.backoff(attempt)
		if retryAfter > 0 {
			if retryAfter > c.opts.MaxRetryAfter {
				e.Message += fmt.Sprintf(" (the server asks to retry after %v; later)", retryAfter)
				return nil, e
			}
			delay = retryAfter
		}
		c.log.Warn("tracker request failed; retrying", "tracker", c.opts.Name, "method", req.Method, "url", full,
			"status", e.Status, "err", e.Message, "attempt", attempt+1, "in", delay)
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("%s %s: %w (while waiting to retry after: %v)", req.Method, full, ctx.Err(), e)
		case <-t.C:
		}
	}
}

func (c *Client) retryable(e *Error, idempotent bool) bool {
	switch {
	case e.Status == http.StatusTooManyRequests:
		return true
	case e.Status == 0 && isRefused(e.Cause):
		return true // never reached the server
	case !idempotent:
		return false
	case e.Status >= 500, e.Status == 0:
		return true
	}
	return false
}

func (c *Client) backoff(attempt int) time.Duration {
	d := c.opts.RetryMin << min(attempt, 20)
	if d <= 0 || d > c.opts.RetryMax {
		d = c.opts.RetryMax
	}
	return backoff.Jitter(d)
}

// once makes one attempt. It returns the retry-after the server asked for.
func (c *Client) once(parent context.Context, req Request, full string, body []byte, out any) (*Response, time.Duration, error) {
	ctx, cancel := context.WithTimeout(parent, c.opts.Timeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	hr, err := http.NewRequestWithContext(ctx, req.Method, full, rd)
	if err != nil {
		return nil, 0, fmt.Errorf("%s %s: %w", req.Method, full, err)
	}
	for k, vs := range c.opts.Header {
		hr.Header[k] = vs
	}
	hr.Header.Set("Accept", "application/json")
	if body != nil {
		hr.Header.Set("Content-Type", "application/json")
	}
	start := time.Now()
	mkErr := func(status int, kind error, msg string, cause error) *Error {
		return &Error{Method: req.Method, URL: full, Status: status, Message: msg, Kind: kind, Cause: cause, Class: classOf(status)}
	}
	hresp, err := c.hc.Do(hr)
	if err != nil {
		if parent.Err() != nil { // the caller gave up: not the tracker's fault
			return nil, 0, fmt.Errorf("%s %s: %w", req.Method, full, parent.Err())
		}
		// The attempt's context and the transport's header timeout carry
		// the same limit; either may fire first.
		var ne net.Error
		if ctx.Err() != nil || (errors.As(err, &ne) && ne.Timeout()) {
			return nil, 0, mkErr(0, adapters.ErrUnavailable, fmt.Sprintf("no answer from %s within %v", c.opts.Name, c.opts.Timeout), nil)
		}
		return nil, 0, mkErr(0, adapters.ErrUnavailable, "cannot reach "+c.opts.Name, unwrapURLError(err))
	}
	defer hresp.Body.Close()
	data, rerr := io.ReadAll(io.LimitReader(hresp.Body, c.opts.MaxBody+1))
	lat := time.Since(start)
	c.log.Debug("tracker request", "tracker", c.opts.Name, "method", req.Method, "url", full, "status", hresp.StatusCode, "took", lat)
	if rerr != nil {
		if parent.Err() != nil {
			return nil, 0, fmt.Errorf("%s %s: %w", req.Method, full, parent.Err())
		}
		return nil, 0, mkErr(0, adapters.ErrUnavailable, fmt.Sprintf("reading the answer (status %d) failed", hresp.StatusCode), unwrapURLError(rerr))
	}
	if int64(len(data)) > c.opts.MaxBody {
		return nil, 0, mkErr(hresp.StatusCode, adapters.ErrUnavailable, fmt.Sprintf("the answer is larger than %d bytes", c.opts.MaxBody), nil)
	}
	resp := &Response{Status: hresp.StatusCode, Header: hresp.Header, Latency: lat}
	if d := hresp.Header.Get("Date"); d != "" {
		if t, err := http.ParseTime(d); err == nil {
			resp.Date = t.UTC()
		}
	}
	if hresp.StatusCode < 200 || hresp.StatusCode >= 300 {
		st := hresp.StatusCode
		msg := c.opts.ErrorMessage(data)
		if msg == "" {
			msg = "no message"
		}
		var kind error
		switch {
		case st == http.StatusNotFound:
			kind = adapters.ErrNotFound
		case st == http.StatusUnauthorized:
			kind = adapters.ErrUnavailable
			msg = c.opts.Name + " refused the credentials (check the API key or token): " + msg
		case st == http.StatusForbidden:
			kind = adapters.ErrUnavailable
			msg = c.opts.Name + " refused the request: the key's user lacks a permission (check its roles in the project or queue): " + msg
		case st == http.StatusTooManyRequests || st >= 500:
			kind = adapters.ErrUnavailable
		case st >= 400:
			kind = adapters.ErrRejected
		default: // 1xx, 3xx: not followed, not expected
			kind = adapters.ErrUnavailable
			msg = "unexpected answer: " + msg
		}
		ra := retryAfter(hresp.Header.Get("Retry-After"), time.Now())
		e := mkErr(st, kind, msg, nil)
		if st == http.StatusTooManyRequests && ra > 0 {
			e.RetryAt = time.Now().Add(ra).UTC()
		}
		return nil, ra, e
	}
	if out == nil || hresp.StatusCode == http.StatusNoContent {
		return resp, 0, nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		ct := hresp.Header.Get("Content-Type")
		return nil, 0, mkErr(hresp.StatusCode, adapters.ErrUnavailable,
			fmt.Sprintf("the answer is not the JSON expected (Content-Type %q, starts %q)", ct, snippet(data, 80)), err)
	}
	return resp, 0, nil
}

func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func isRefused(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, syscall.ECONNREFUSED) {
		return true
	}
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// retryAfter parses a Retry-After header: seconds or an HTTP date.
func retryAfter(h string, now time.Time) time.Duration {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0
	}
	if s, err := strconv.Atoi(h); err == nil {
		if s < 0 {
			return 0
		}
		return time.Duration(min(s, 86400)) * time.Second
	}
	if t, err := http.ParseTime(h); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
		return time.Millisecond
	}
	return 0
}

// commonMessage finds the message in the usual error bodies.
func commonMessage(body []byte) string {
	var v struct {
		Errors  any    `json:"errors"`
		Message string `json:"message"`
		Error   any    `json:"error"`
	}
	if json.Unmarshal(body, &v) == nil {
		switch {
		case v.Errors != nil:
			return joinAny(v.Errors)
		case v.Message != "":
			return v.Message
		case v.Error != nil:
			return joinAny(v.Error)
		}
	}
	return snippet(body, 200)
}

func joinAny(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case []any:
		parts := make([]string, 0, len(x))
		for _, e := range x {
			parts = append(parts, joinAny(e))
		}
		return strings.Join(parts, "; ")
	default:
		b, _ := json.Marshal(x)
		return string(b)
	}
}

// snippet is the start of a body as one printable line.
func snippet(b []byte, n int) string {
	s := strings.Join(strings.Fields(string(b)), " ")
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "?")
	}
	if len(s) > n {
		cut := n
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "..."
	}
	return s
}

// limiter is a GCRA rate limiter: rate requests per second on average,
// bursts of up to burst.
type limiter struct {
	mu       sync.Mutex
	interval time.Duration
	tol      time.Duration
	tat      time.Time // theoretical arrival time of the next request
}

func newLimiter(rate float64, burst int) *limiter {
	iv := time.Duration(float64(time.Second) / rate)
	return &limiter{interval: iv, tol: iv * time.Duration(burst-1)}
}

// wait blocks until a request may be sent.
func (l *limiter) wait(ctx context.Context) error {
	l.mu.Lock()
	now := time.Now()
	tat := l.tat
	if tat.Before(now) {
		tat = now
	}
	delay := tat.Add(-l.tol).Sub(now)
	l.tat = tat.Add(l.interval)
	l.mu.Unlock()
	if delay <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(delay)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// ReadSecret returns the credential kept in file (surrounding white space
// removed) or, when file is empty, the value of the environment variable
// env. fileKey names the config key in error messages. A file that others
// may read is used, but a warning says so.
func ReadSecret(file, env, fileKey string, log *slog.Logger) (string, error) {
	if file == "" {
		v := strings.TrimSpace(os.Getenv(env))
		if v == "" {
			return "", fmt.Errorf("%s: not set, and the environment variable %s is empty: give the file that holds the credential", fileKey, env)
		}
		return v, nil
	}
	st, err := os.Stat(file)
	if err != nil {
		return "", fmt.Errorf("%s: %w", fileKey, err)
	}
	if st.Mode().Perm()&0o077 != 0 && log != nil {
		log.Warn("the credential file can be read by other users; chmod 600 it", "file", file, "mode", st.Mode().Perm().String())
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("%s: %w", fileKey, err)
	}
	v := strings.TrimSpace(string(b))
	if v == "" {
		return "", fmt.Errorf("%s: %s is empty", fileKey, file)
	}
	if strings.ContainsAny(v, "\r\n\t ") {
		return "", fmt.Errorf("%s: %s holds more than one word; it should hold only the credential", fileKey, file)
	}
	return v, nil
}
