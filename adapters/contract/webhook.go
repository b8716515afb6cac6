package contract

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/issuemesh/issuemesh/adapters"
)

// Signing is how a webhook delivery the suite sends is signed.
type Signing int

const (
	// Signed: as the tracker signs it, with the secret the listener has.
	Signed Signing = iota
	// BadSignature: signed with another secret (a forgery).
	BadSignature
	// Unsigned: without the signature header.
	Unsigned
)

func (s Signing) String() string {
	return [...]string{"signed", "bad signature", "unsigned"}[s]
}

// Webhook is a tracker with its webhook listener running, as the
// WebhookDedup test drives it (Profile.Webhook opens one).
type Webhook struct {
	// Tracker is a fresh, empty tracker whose listener runs once
	// OnChange is registered (the suite registers it first).
	Tracker adapters.Tracker
	// Change makes a change to the issue key in the tracker itself, as
	// a person would (a comment), not through Tracker.
	Change func(c context.Context, key string) error
	// Deliver sends the listener the delivery the tracker sends for the
	// last change made, under delivery ID id, signed as s says, and
	// returns the HTTP status the listener answered.
	Deliver func(c context.Context, id string, s Signing) (int, error)
}

// doorbell is what a tracker with webhooks offers the node.
type doorbell interface{ OnChange(fn func()) }

// testWebhookDedup: a change made in the tracker and its signed delivery
// sent twice yields the change in the feed once (one ring; after the
// change has settled, the feed does not report it again); a delivery with
// a bad signature and an unsigned one are refused (401), ring nothing and
// change nothing.
func testWebhookDedup(t *testing.T, p Profile) {
	w := p.Webhook(t)
	tr := w.Tracker
	bell, ok := tr.(doorbell)
	if !ok {
		t.Fatalf("%T has a webhook profile but no OnChange", tr)
	}
	var rings atomic.Int32
	bell.OnChange(func() { rings.Add(1) })
	c := ctx(t)
	is := must[adapters.Issue](t, "create")(tr.Create(c, adapters.Issue{Summary: "webhook dedup"}))
	time.Sleep(p.Settle + time.Second)
	_, cur := drain(t, c, tr, "")
	if again, _ := drain(t, c, tr, cur); len(again) != 0 {
		t.Fatalf("settled feed repeats before any delivery: %v", keysOf(again))
	}

	if err := w.Change(c, is.Key); err != nil {
		t.Fatalf("change %s in the tracker: %v", is.Key, err)
	}
	send := func(id string, s Signing, want int, wantRings int32) {
		t.Helper()
		st, err := w.Deliver(c, id, s)
		if err != nil {
			t.Fatalf("delivery %s (%v): %v", id, s, err)
		}
		if st != want {
			t.Errorf("delivery %s (%v): HTTP %d, want %d", id, s, st, want)
		}
		// The listener rings before it answers.
		if got := rings.Load(); got != wantRings {
			t.Errorf("after delivery %s (%v): %d rings, want %d", id, s, got, wantRings)
		}
	}
	send("contract-d1", Signed, 202, 1)
	time.Sleep(p.Settle + time.Second)
	seen, cur2 := drain(t, c, tr, cur)
	if _, ok := seen[is.Key]; !ok {
		t.Fatalf("after the delivery the feed does not report the change to %s: %v", is.Key, keysOf(seen))
	}
	before := must[adapters.Issue](t, "get")(tr.Get(c, is.Key))

	send("contract-d1", Signed, 200, 1) // the same delivery again
	send("contract-d2", BadSignature, 401, 1)
	send("contract-d3", Unsigned, 401, 1)
	time.Sleep(p.Settle + time.Second)
	if again, _ := drain(t, c, tr, cur2); len(again) != 0 {
		t.Errorf("the change was reported again after a repeated or forged delivery: %v", keysOf(again))
	}
	after := must[adapters.Issue](t, "get")(tr.Get(c, is.Key))
	if after.Summary != before.Summary || after.Status != before.Status || len(after.Comments) != len(before.Comments) {
		t.Errorf("the issue changed after a repeated or forged delivery: %+v, was %+v", after, before)
	}
}
