package gitlab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	gl "gitlab.com/gitlab-org/api/client-go/v2"

	"github.com/issuemesh/issuemesh/adapters"
)

// classify turns an error of the SDK into one the sync engine understands:
// an *adapters.TrackerError wrapping ErrNotFound, ErrRejected or
// ErrUnavailable, named by what was being done. The SDK's errors are text
// only, so the class comes from the answer's HTTP status:
//
//   - 401: credentials (permanent); 403: permission (permanent).
//   - 429 (GitLab.com and instances with rate limits on):
//     rate_limited, with RetryAt from Retry-After (a minute when absent).
//   - 404 and 410: not_found. Other 4xx (400, 409, 413, 422): rejected,
//     with GitLab's message. 5xx: server_error.
//   - No answer: unreachable; an answer that is not GitLab's JSON, or over
//     the size cap: garbage.
func classify(ctx context.Context, op string, resp *gl.Response, err error) error {
	if err == nil {
		return nil
	}
	if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		return fmt.Errorf("gitlab: %s: %w", op, err)
	}
	var te *adapters.TrackerError
	if errors.As(err, &te) {
		return err
	}
	mk := func(class adapters.ErrorClass, status int, kind error, retry time.Time, detail string) error {
		return &adapters.TrackerError{Class: class, Status: status, RetryAt: retry,
			Err: fmt.Errorf("gitlab: %s: %s: %w: %w", op, detail, kind, err)}
	}
	st := 0
	if resp != nil && resp.Response != nil {
		st = resp.StatusCode
	}
	switch {
	case st == http.StatusUnauthorized:
		return mk(adapters.ClassCredentials, st, adapters.ErrUnavailable, time.Time{}, "GitLab refused the token (revoked or expired?): check tracker.token_file or "+EnvToken)
	case st == http.StatusForbidden:
		return mk(adapters.ClassPermission, st, adapters.ErrUnavailable, time.Time{}, "the token may not do this: it needs the api scope and at least the Reporter role (Planner or Developer to edit issues) in the project")
	case st == http.StatusTooManyRequests:
		wait := time.Minute
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
			wait = time.Duration(s) * time.Second
		} else if r, err := strconv.ParseInt(resp.Header.Get("RateLimit-Reset"), 10, 64); err == nil && time.Until(time.Unix(r, 0)) > 0 {
			wait = time.Until(time.Unix(r, 0))
		}
		retry := time.Now().Add(wait)
		return mk(adapters.ClassRateLimited, st, adapters.ErrUnavailable, retry, "rate limited until "+retry.UTC().Format(time.RFC3339))
	case st == http.StatusNotFound || st == http.StatusGone:
		return mk(adapters.ClassNotFound, st, adapters.ErrNotFound, time.Time{}, "not found")
	case st >= 500:
		return mk(adapters.ClassServer, st, adapters.ErrUnavailable, time.Time{}, "GitLab failed")
	case st >= 400:
		return mk(adapters.ClassRejected, st, adapters.ErrRejected, time.Time{}, "GitLab refused it")
	}
	var se *json.SyntaxError
	var ue *json.UnmarshalTypeError
	if st >= 200 && st < 300 || errors.As(err, &se) || errors.As(err, &ue) {
		return mk(adapters.ClassGarbage, st, adapters.ErrUnavailable, time.Time{}, "the answer is not GitLab's JSON")
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, context.DeadlineExceeded) {
		return mk(adapters.ClassUnreachable, st, adapters.ErrUnavailable, time.Time{}, "no answer in time")
	}
	return mk(adapters.ClassUnreachable, st, adapters.ErrUnavailable, time.Time{}, "no answer")
}

// rejected is a refusal of the adapter itself (before any request).
func rejected(format string, args ...any) error {
	return &adapters.TrackerError{Class: adapters.ClassRejected, Err: fmt.Errorf("gitlab: "+format+": %w", append(args, adapters.ErrRejected)...)}
}

func notFound(format string, args ...any) error {
	return &adapters.TrackerError{Class: adapters.ClassNotFound, Err: fmt.Errorf("gitlab: "+format+": %w", append(args, adapters.ErrNotFound)...)}
}
