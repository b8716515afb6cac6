package engine

import (
	"context"

	"github.com/issuemesh/issuemesh/internal/backoff"
)

// Steps 5-6 as a service: one Applier per peer applies the events received
// from that source, in order (ApplyPending, apply.go). A transient error
// (tracker down) stops the pass and retries it after Failed's wait; a
// permanent error blocks only its twin.

// Applier is the apply loop of one source, a service of the node.
type Applier struct {
	Engine *Engine
	Source *Source
	// Wake is signalled when events arrive from the source.
	Wake <-chan struct{}
	// Backoff is the retry policy of failed passes.
	Backoff func() *backoff.Backoff
	// Failed waits after a failed pass (with b's backoff); false ends the
	// loop (ctx ended).
	Failed func(ctx context.Context, err error, b *backoff.Backoff) bool
}

// Run applies the source's pending events whenever woken, until ctx ends.
func (a Applier) Run(ctx context.Context) error {
	return backoff.Retry(ctx, a.Backoff(), func(ctx context.Context) error { return a.Engine.ApplyPending(ctx, a.Source) },
		backoff.OnWake(a.Wake), a.Failed)
}
