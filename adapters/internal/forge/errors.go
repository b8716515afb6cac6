package forge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/issuemesh/issuemesh/adapters"
)

// Errors classifies the errors of a forge's client library whose errors
// are text only (the Gitea SDK, GitLab's client-go): the class comes from
// the answer's HTTP status, never from a message. One value per adapter
// names the forge and what to tell the reader for a refused token or a
// missing permission.
type Errors struct {
	// Prefix starts every message ("gitea").
	Prefix string
	// Name is the forge as the reader knows it ("Gitea").
	Name string
	// Credentials is said of a 401 (where the token comes from).
	Credentials string
	// Permission is said of a 403 (the scopes and role the token needs).
	Permission string
	// TooLarge, when set, is the error of an answer over the adapter's
	// size cap: such an answer is garbage.
	TooLarge error
}

// Classify turns err, the failure of op, into one the sync engine
// understands: an *adapters.TrackerError wrapping ErrNotFound, ErrRejected
// or ErrUnavailable. resp is the answer (nil when none came):
//
//   - 401: credentials (permanent); 403: permission (permanent).
//   - 429: rate_limited, with RetryAt from Retry-After, else from
//     RateLimit-Reset (Unix seconds), else a minute from now.
//   - 404 and 410: not_found. Other 4xx (400, 409, 413, 422): rejected,
//     with the forge's message. 5xx: server_error.
//   - No answer: unreachable; an answer that is not the forge's JSON, or
//     over the size cap: garbage.
//
// An error that is a TrackerError already is returned as it is, and so
// is the end of ctx (wrapped with op).
func (e Errors) Classify(ctx context.Context, op string, resp *http.Response, err error) error {
	if err == nil {
		return nil
	}
	if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		return fmt.Errorf("%s: %s: %w", e.Prefix, op, err)
	}
	var te *adapters.TrackerError
	if errors.As(err, &te) {
		return err
	}
	mk := func(class adapters.ErrorClass, status int, kind error, retry time.Time, detail string) error {
		return &adapters.TrackerError{Class: class, Status: status, RetryAt: retry,
			Err: fmt.Errorf("%s: %s: %s: %w: %w", e.Prefix, op, detail, kind, err)}
	}
	st := 0
	if resp != nil {
		st = resp.StatusCode
	}
	if e.TooLarge != nil && errors.Is(err, e.TooLarge) {
		return mk(adapters.ClassGarbage, st, adapters.ErrUnavailable, time.Time{}, "the answer is too large")
	}
	switch {
	case st == http.StatusUnauthorized:
		return mk(adapters.ClassCredentials, st, adapters.ErrUnavailable, time.Time{}, e.Credentials)
	case st == http.StatusForbidden:
		return mk(adapters.ClassPermission, st, adapters.ErrUnavailable, time.Time{}, e.Permission)
	case st == http.StatusTooManyRequests:
		retry := time.Now().Add(retryWait(resp.Header))
		return mk(adapters.ClassRateLimited, st, adapters.ErrUnavailable, retry, "rate limited until "+retry.UTC().Format(time.RFC3339))
	case st == http.StatusNotFound || st == http.StatusGone:
		return mk(adapters.ClassNotFound, st, adapters.ErrNotFound, time.Time{}, "not found")
	case st >= 500:
		return mk(adapters.ClassServer, st, adapters.ErrUnavailable, time.Time{}, e.Name+" failed")
	case st >= 400:
		return mk(adapters.ClassRejected, st, adapters.ErrRejected, time.Time{}, e.Name+" refused it")
	}
	var se *json.SyntaxError
	var ue *json.UnmarshalTypeError
	if st >= 200 && st < 300 || errors.As(err, &se) || errors.As(err, &ue) {
		return mk(adapters.ClassGarbage, st, adapters.ErrUnavailable, time.Time{}, "the answer is not "+e.Name+"'s JSON")
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, context.DeadlineExceeded) {
		return mk(adapters.ClassUnreachable, st, adapters.ErrUnavailable, time.Time{}, "no answer in time")
	}
	return mk(adapters.ClassUnreachable, st, adapters.ErrUnavailable, time.Time{}, "no answer")
}

// retryWait is how long a 429 asks to wait: Retry-After (seconds), else
// until RateLimit-Reset (Unix seconds), else a minute.
func retryWait(h http.Header) time.Duration {
	if s, err := strconv.Atoi(h.Get("Retry-After")); err == nil && s > 0 {
		return time.Duration(s) * time.Second
	}
	if r, err := strconv.ParseInt(h.Get("RateLimit-Reset"), 10, 64); err == nil && time.Until(time.Unix(r, 0)) > 0 {
		return time.Until(time.Unix(r, 0))
	}
	return time.Minute
}

// Rejected is a refusal of the adapter itself (before any request).
func (e Errors) Rejected(format string, args ...any) error {
	return &adapters.TrackerError{Class: adapters.ClassRejected, Err: fmt.Errorf(e.Prefix+": "+format+": %w", append(args, adapters.ErrRejected)...)}
}

// NotFound is an issue (or part of one) the adapter knows is not there.
func (e Errors) NotFound(format string, args ...any) error {
	return &adapters.TrackerError{Class: adapters.ClassNotFound, Err: fmt.Errorf(e.Prefix+": "+format+": %w", append(args, adapters.ErrNotFound)...)}
}

// Unreachable is a failure while reading an answer's body.
func (e Errors) Unreachable(op string, err error) error {
	return &adapters.TrackerError{Class: adapters.ClassUnreachable, Err: fmt.Errorf("%s: %s: %w: %w", e.Prefix, op, adapters.ErrUnavailable, err)}
}

// LackingDetail is what tracker check says of the fields a forge has no
// place for: each feature with its reason, sorted.
func LackingDetail(name string, lacks map[adapters.Feature]string) string {
	var parts []string
	for f, why := range lacks {
		parts = append(parts, string(f)+" ("+why+")")
	}
	slices.Sort(parts)
	return name + " has no place for: " + strings.Join(parts, "; ") + "; a change of these fields is not applied here"
}
