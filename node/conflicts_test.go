package node

import (
	"context"
	"testing"
	"time"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/internal/testutil"
)

// Two nodes: the new fields cross (people, type, dates, custom fields);
// then both nodes, paused from each other, edit one field; resumed, both
// keep the same winner and each records the same one conflict.
func TestFieldsCrossAndConcurrentEditsConflict(t *testing.T) {
	ctx := context.Background()
	a, b := startNode(t, "a", Options{}), startNode(t, "b", Options{})
	pairNodes(t, a, b)
	ann := adapters.User{Email: "ann@example.com", Name: "Ann"}
	is, err := a.tracker.Create(ctx, adapters.Issue{Summary: "fields", Assignee: &ann, Type: "Bug", Due: "2027-01-31",
		Fields: map[string]adapters.FieldValue{"Tier": {Kind: adapters.KindOption, Text: "Gold"}, "Effort": {Kind: adapters.KindNumber, Text: "3"}}})
	if err != nil {
		t.Fatal(err)
	}
	var onB adapters.Issue
	testutil.WaitFor(t, 10*time.Second, "B has the issue with its fields", func() bool {
		got, ok := b.issueBySummary(t, "fields")
		onB = got
		return ok && got.Assignee != nil && got.Assignee.Email == ann.Email && got.Type == "Bug" && got.Due == "2027-01-31" &&
			got.Fields["Tier"].Text == "Gold" && got.Fields["Effort"].Kind == adapters.KindNumber
	})
	testutil.WaitFor(t, 10*time.Second, "both settled", func() bool {
		return a.count(t, "o/") == 0 && b.count(t, "o/") == 0 && a.settled(t) && b.settled(t)
	})

	if err := (adminBackend{a.Node}).setPaused(ctx, b.self, true); err != nil {
		t.Fatal(err)
	}
	if err := (adminBackend{b.Node}).setPaused(ctx, a.self, true); err != nil {
		t.Fatal(err)
	}
	if _, err := a.tracker.Update(ctx, is.Key, adapters.Patch{Status: ptr("Done")}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.tracker.Update(ctx, onB.Key, adapters.Patch{Status: ptr("Blocked")}); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 10*time.Second, "both queued their edit", func() bool {
		return a.count(t, "o/") == 1 && b.count(t, "o/") == 1
	})
	if err := (adminBackend{a.Node}).setPaused(ctx, b.self, false); err != nil {
		t.Fatal(err)
	}
	if err := (adminBackend{b.Node}).setPaused(ctx, a.self, false); err != nil {
		t.Fatal(err)
	}
	var final string
	testutil.WaitFor(t, 10*time.Second, "both converged on one of the edits", func() bool {
		ga, err1 := a.tracker.Get(ctx, is.Key)
		gb, err2 := b.tracker.Get(ctx, onB.Key)
		final = ga.Status
		return err1 == nil && err2 == nil && ga.Status == gb.Status && ga.Status != "Open" && a.count(t, "o/") == 0 && b.count(t, "o/") == 0
	})
	ca, err := adminBackend{a.Node}.Conflicts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cb, err := adminBackend{b.Node}.Conflicts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ca) != 1 || len(cb) != 1 {
		t.Fatalf("conflicts: A %+v, B %+v; want one each", ca, cb)
	}
	x, y := ca[0], cb[0]
	loser, loserPeer, winnerPeer := "Done", a.self.String(), b.self.String()
	if final == "Done" {
		loser, loserPeer, winnerPeer = "Blocked", winnerPeer, loserPeer
	}
	// The same record on both nodes (what is only local aside: when it was
	// recorded, through which link, the peers' names here).
	if x.ID != y.ID || x.Winner.Value != y.Winner.Value || x.Loser.Value != y.Loser.Value || x.Winner.Peer != y.Winner.Peer ||
		!x.Winner.Time.Equal(y.Winner.Time) || x.Field != "status" || x.Winner.Value != final || x.Loser.Value != loser || !x.Open {
		t.Fatalf("A records %+v, B records %+v (the issues hold %q)", x, y, final)
	}
	if x.Winner.Peer != winnerPeer || x.Loser.Peer != loserPeer {
		t.Fatalf("authors: winner %s loser %s", x.Winner.Peer, x.Loser.Peer)
	}
}
