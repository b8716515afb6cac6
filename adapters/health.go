package adapters

import (
	"context"
	"errors"
	"time"
)

// ErrorClass says what kind of trouble a tracker is in, so that the node
// can tell the operator what to fix and decide whether asking again helps.
type ErrorClass string

// The classes of tracker errors.
const (
	// ClassCredentials: the tracker refused the API key or token (401).
	// Permanent: nothing works until the key file or config changes.
	ClassCredentials ErrorClass = "credentials"
	// ClassPermission: the key is valid but may not do this (403).
	// Permanent, as credentials.
	ClassPermission ErrorClass = "permission"
	// ClassNotFound: the issue, project or queue does not exist (404).
	ClassNotFound ErrorClass = "not_found"
	// ClassUnreachable: no answer (refused connection, DNS, timeout).
	ClassUnreachable ErrorClass = "unreachable"
	// ClassRateLimited: the tracker asks to slow down (429); RetryAt says
	// when it said to come back.
	ClassRateLimited ErrorClass = "rate_limited"
	// ClassServer: the tracker failed on its side (5xx).
	ClassServer ErrorClass = "server_error"
	// ClassGarbage: the answer is not what the API promises (a proxy's
	// HTML page, truncated or oversized JSON, a missing list).
	ClassGarbage ErrorClass = "garbage"
	// ClassRejected: the tracker refused the data of one change (400,
	// 409, 422, an unknown status name).
	ClassRejected ErrorClass = "rejected"
	// ClassInternal: the adapter itself failed (the local tracker's
	// database, a closed adapter).
	ClassInternal ErrorClass = "internal"
)

// Permanent reports whether errors of this class repeat until the
// operator changes the configuration or the credentials: the node stops
// asking the tracker until then.
func (c ErrorClass) Permanent() bool { return c == ClassCredentials || c == ClassPermission }

// TrackerError is a tracker failure with its class. Adapters return errors
// that errors.As finds a *TrackerError in (the REST layer of Redmine and
// RT does), besides ErrNotFound, ErrUnavailable or ErrRejected.
type TrackerError struct {
	Class ErrorClass
	// Status is the HTTP status, or 0 when there was no answer.
	Status int
	// RetryAt is when a rate-limited tracker said to come back (zero when
	// it did not say).
	RetryAt time.Time
	// Err is the whole error, with its message.
	Err error
}

func (e *TrackerError) Error() string { return e.Err.Error() }

// Unwrap gives errors.Is the error it classifies.
func (e *TrackerError) Unwrap() error { return e.Err }

// Classify returns the class of an adapter's error: the class of the
// *TrackerError it wraps, else one read from the adapters errors it wraps
// (the local tracker's errors carry no HTTP status). It returns "" for nil
// and for a cancelled context (the caller gave up: not the tracker's
// fault).
func Classify(err error) (ErrorClass, *TrackerError) {
	if err == nil {
		return "", nil
	}
	if te, ok := errors.AsType[*TrackerError](err); ok {
		return te.Class, te
	}
	switch {
	case errors.Is(err, context.Canceled):
		return "", nil
	case errors.Is(err, context.DeadlineExceeded):
		return ClassUnreachable, nil
	case errors.Is(err, ErrNotFound):
		return ClassNotFound, nil
	case errors.Is(err, ErrRejected):
		return ClassRejected, nil
	case errors.Is(err, ErrUnavailable):
		return ClassUnreachable, nil
	}
	return ClassInternal, nil
}

// ErrBadAnswer is what adapters wrap when the tracker answered, but not
// what its API promises (a list missing from the JSON, an issue without
// its ID). It wraps ErrUnavailable and classifies as ClassGarbage.
var ErrBadAnswer error = &TrackerError{Class: ClassGarbage, Err: ErrUnavailable}
