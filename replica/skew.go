package replica

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"
)

// DefaultMaxSkew is how far ahead of a receiver's wall clock an event's
// clocks may be, unless the node's config says otherwise (max_clock_skew).
// A clock further ahead would win its field against every real edit until
// the wall clocks catch up with it, so such an event is refused.
const DefaultMaxSkew = 5 * time.Minute

// ErrClockAhead is wrapped by the error CheckSkew returns.
var ErrClockAhead = errors.New("clock too far ahead")

// SkewError is an event clock further ahead of the receiver's wall clock
// than the allowed skew.
type SkewError struct {
	What  string // "field status", "label x of field labels", "comment ID", "attachment ID"
	Clock Clock
	Ahead time.Duration
	Max   time.Duration
}

func (e *SkewError) Error() string {
	return fmt.Sprintf("%s has clock %s, %s ahead of this node's clock (max_clock_skew %s): the event is refused; check the system clock of node %s",
		e.What, e.Clock, e.Ahead.Round(time.Millisecond), e.Max, e.Clock.Peer)
}

func (e *SkewError) Unwrap() error { return ErrClockAhead }

// CheckSkew returns a *SkewError for the first clock of r (fields, list
// elements, comments, attachments) more than max ahead of now, or nil. A
// max of zero or less means DefaultMaxSkew.
func CheckSkew(r *Replica, now time.Time, max time.Duration) error {
	if max <= 0 {
		max = DefaultMaxSkew
	}
	limit := now.Add(max).UnixMilli()
	if !anyAfter(r, limit) { // the usual case, without allocating
		return nil
	}
	ahead := func(what string, c Clock) error {
		if c.Wall <= limit {
			return nil
		}
		return &SkewError{What: what, Clock: c, Ahead: time.UnixMilli(c.Wall).Sub(now), Max: max}
	}
	for _, name := range slices.Sorted(maps.Keys(r.Fields)) {
		v := r.Fields[name]
		if err := ahead("field "+name, v.Clock); err != nil {
			return err
		}
		for _, el := range slices.Sorted(maps.Keys(v.E)) {
			if err := ahead(fmt.Sprintf("element %q of field %s", el, name), v.E[el].Clock); err != nil {
				return err
			}
		}
	}
	for i := range r.Comments {
		if err := ahead("comment "+r.Comments[i].ID, r.Comments[i].Clock); err != nil {
			return err
		}
	}
	for i := range r.Attachments {
		if err := ahead("attachment "+r.Attachments[i].ID, r.Attachments[i].Clock); err != nil {
			return err
		}
	}
	return nil
}

// anyAfter reports whether a clock of r has a wall time after limit.
func anyAfter(r *Replica, limit int64) bool {
	for _, v := range r.Fields {
		if v.Clock.Wall > limit {
			return true
		}
		for _, e := range v.E {
			if e.Clock.Wall > limit {
				return true
			}
		}
	}
	for i := range r.Comments {
		if r.Comments[i].Clock.Wall > limit {
			return true
		}
	}
	for i := range r.Attachments {
		if r.Attachments[i].Clock.Wall > limit {
			return true
		}
	}
	return false
}
