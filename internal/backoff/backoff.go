// Package backoff is the one retry policy of issuemesh's long-lived loops
// (the change-feed trigger, the per-peer sender, applier and ack sender,
// the resync asker, the service supervisor): after each failure the wait
// doubles from Min up to Max, each wait is spread over [d/2, d) so that
// loops that failed together do not retry together, and a success starts
// again from Min.
//
// [Backoff] is the policy's state for loops that need their own shape;
// [Retry] is the common loop (a pass, then on success an idle wait, on
// failure a backoff) that most services are.
package backoff

import (
	"context"
	"math/rand/v2"
	"time"
)

// Backoff is the wait before the next retry of one loop. The zero value is
// not usable: make it with [New]. Not safe for concurrent use; each loop
// owns its own.
type Backoff struct {
	min, max, cur time.Duration
}

// New returns a backoff that starts at lo and doubles up to hi. A lo of 0
// or less is taken as 1 ms, a hi below lo as lo.
func New(lo, hi time.Duration) *Backoff {
	if lo <= 0 {
		lo = time.Millisecond
	}
	hi = max(hi, lo)
	return &Backoff{min: lo, max: hi, cur: lo}
}

// Current is the wait (before jitter) that the next failure gets.
func (b *Backoff) Current() time.Duration { return b.cur }

// Next returns the wait for this failure, jittered, and doubles the one
// after it (up to max).
func (b *Backoff) Next() time.Duration {
	d := b.cur
	b.cur = min(2*b.cur, b.max)
	return Jitter(d)
}

// Wait sleeps for [Backoff.Next]; false if ctx ended first.
func (b *Backoff) Wait(ctx context.Context) bool { return Sleep(ctx, b.Next()) }

// Reset starts the waits from min again (after a success).
func (b *Backoff) Reset() { b.cur = b.min }

// Retry runs pass until ctx ends, then returns nil (a service's Run ends
// with its context, not with an error).
//
// After a pass that returned nil the backoff is reset and idle waits for
// the next reason to run (a wake-up, a tick); idle returning false ends the
// loop. A nil idle ends the loop after the first successful pass.
//
// After a failed pass, failed decides how to wait (log the error, wait for
// something else than time, ...); returning false ends the loop. A nil
// failed waits the backoff ([Backoff.Wait]).
func Retry(ctx context.Context, b *Backoff, pass func(context.Context) error, idle func(context.Context) bool, failed func(context.Context, error, *Backoff) bool) error {
	for {
		err := pass(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			ok := false
			if failed != nil {
				ok = failed(ctx, err, b)
			} else {
				ok = b.Wait(ctx)
			}
			if !ok {
				return nil
			}
			continue
		}
		b.Reset()
		if idle == nil || !idle(ctx) {
			return nil
		}
	}
}

// OnWake is an idle for [Retry] that waits for a signal on wake (or the end
// of ctx).
func OnWake(wake <-chan struct{}) func(context.Context) bool {
	return func(ctx context.Context) bool {
		select {
		case <-ctx.Done():
			return false
		case <-wake:
			return true
		}
	}
}

// Sleep waits for d; false if ctx ended first.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// Jitter spreads a wait d over [d/2, d].
func Jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return d/2 + rand.N(d/2+1)
}
