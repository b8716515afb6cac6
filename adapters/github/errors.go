package github

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	gh "github.com/google/go-github/v93/github"

	"github.com/issuemesh/issuemesh/adapters"
)

// classify turns an error of go-github into one the sync engine
// understands: an *adapters.TrackerError wrapping ErrNotFound, ErrRejected
// or ErrUnavailable, named by what was being done.
//
//   - 401: credentials (permanent). 403 without a rate-limit sign:
//     permission (permanent).
//   - Primary rate limit (403/429 with X-RateLimit-Remaining: 0) and
//     secondary limits (403/429 with Retry-After, or GitHub's "secondary
//     rate limit" message): rate_limited, with RetryAt the reset time or
//     now plus Retry-After; the engine waits and retries.
//   - 404 and 410 (deleted or transferred): not_found. 400, 409, 422:
//     rejected. 5xx: server_error. No answer: unreachable. JSON that does
//     not decode: garbage.
func classify(op string, resp *gh.Response, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) {
		return fmt.Errorf("github: %s: %w", op, err)
	}
	var te *adapters.TrackerError
	if errors.As(err, &te) {
		return err
	}
	mk := func(class adapters.ErrorClass, status int, kind error, retry time.Time, detail string) error {
		msg := fmt.Sprintf("github: %s: %s", op, detail)
		return &adapters.TrackerError{Class: class, Status: status, RetryAt: retry,
			Err: fmt.Errorf("%s: %w: %w", msg, kind, err)}
	}
	var rl *gh.RateLimitError
	if errors.As(err, &rl) {
		st := 403
		if rl.Response != nil {
			st = rl.Response.StatusCode
		}
		reset := rl.Rate.Reset.Time
		return mk(adapters.ClassRateLimited, st, adapters.ErrUnavailable, reset,
			fmt.Sprintf("the rate limit of %d requests is used up until %s", rl.Rate.Limit, reset.UTC().Format(time.RFC3339)))
	}
	var ab *gh.AbuseRateLimitError
	if errors.As(err, &ab) {
		st := 403
		if ab.Response != nil {
			st = ab.Response.StatusCode
		}
		retry := time.Now().Add(time.Minute) // GitHub: wait at least a minute when it does not say
		if ab.RetryAfter != nil {
			retry = time.Now().Add(*ab.RetryAfter)
		}
		return mk(adapters.ClassRateLimited, st, adapters.ErrUnavailable, retry,
			"GitHub's secondary rate limit: come back at "+retry.UTC().Format(time.RFC3339))
	}
	var er *gh.ErrorResponse
	if errors.As(err, &er) && er.Response != nil {
		st := er.Response.StatusCode
		detail := er.Message
		for _, e := range er.Errors {
			detail += "; " + strings.TrimSpace(e.Field+" "+e.Code+" "+e.Message)
		}
		switch {
		case st == http.StatusUnauthorized:
			return mk(adapters.ClassCredentials, st, adapters.ErrUnavailable, time.Time{}, "GitHub refused the token ("+detail+"): check the token file or ISSUEMESH_GITHUB_TOKEN")
		case st == http.StatusForbidden || st == http.StatusTooManyRequests:
			if ra, err := strconv.Atoi(er.Response.Header.Get("Retry-After")); err == nil || st == http.StatusTooManyRequests {
				return mk(adapters.ClassRateLimited, st, adapters.ErrUnavailable, time.Now().Add(time.Duration(max(ra, 60))*time.Second), detail)
			}
			return mk(adapters.ClassPermission, st, adapters.ErrUnavailable, time.Time{}, "the token may not do this ("+detail+"): it needs Issues read and write on the repository")
		case st == http.StatusNotFound || st == http.StatusGone:
			return mk(adapters.ClassNotFound, st, adapters.ErrNotFound, time.Time{}, detail)
		case st >= 500:
			return mk(adapters.ClassServer, st, adapters.ErrUnavailable, time.Time{}, detail)
		case st >= 400:
			return mk(adapters.ClassRejected, st, adapters.ErrRejected, time.Time{}, detail)
		}
		return mk(adapters.ClassGarbage, st, adapters.ErrUnavailable, time.Time{}, detail)
	}
	var se *json.SyntaxError
	var ue *json.UnmarshalTypeError
	if errors.As(err, &se) || errors.As(err, &ue) {
		st := 0
		if resp != nil {
			st = resp.StatusCode
		}
		return mk(adapters.ClassGarbage, st, adapters.ErrUnavailable, time.Time{}, "the answer is not GitHub's JSON")
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return mk(adapters.ClassUnreachable, 0, adapters.ErrUnavailable, time.Time{}, "no answer in time")
	}
	return mk(adapters.ClassUnreachable, 0, adapters.ErrUnavailable, time.Time{}, "no answer")
}

// rejected is a refusal of the adapter itself (before any request).
func rejected(format string, args ...any) error {
	return &adapters.TrackerError{Class: adapters.ClassRejected, Err: fmt.Errorf("github: "+format+": %w", append(args, adapters.ErrRejected)...)}
}

func notFound(format string, args ...any) error {
	return &adapters.TrackerError{Class: adapters.ClassNotFound, Err: fmt.Errorf("github: "+format+": %w", append(args, adapters.ErrNotFound)...)}
}
