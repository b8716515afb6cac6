package engine

import (
	"time"

	"github.com/issuemesh/issuemesh/replica"
	"github.com/issuemesh/issuemesh/store"
)

// Conflicts (issue 16, DESIGN 5.11): a merge of a received event that
// finds two concurrent edits of one field (replica.Conflict) leaves one
// history record per conflict on the twin, with both values, their clocks
// (who and when) and the winner, which is the convergent one every node
// keeps. The record's conflict ID is the same on every node.

// Conflict is the outcome of a conflict's history record (Dir "in").
const Conflict Outcome = "conflict"

// recordConflicts adds a history record per conflict the merge of link's
// event found; the caller stores the twin afterwards.
func recordConflicts(tx *store.Tx, tw *store.Twin, link LinkKey, seq uint64, eventID string, cs []replica.Conflict) error {
	for _, c := range cs {
		rec := store.Record{Time: time.Now(), Dir: "in", Peer: string(link), Seq: seq, EventID: eventID,
			What: string(Conflict), Fields: []string{c.Field}, LocalKey: tw.LocalKey, Conflict: &c}
		if err := tx.AddHistory(tw, rec); err != nil {
			return err
		}
	}
	return nil
}

// conflictText is one line about a conflict, for logs.
func conflictText(c replica.Conflict) string {
	return c.Field + ": kept \"" + c.Winner.Text() + "\" over \"" + c.Loser.Text() + "\""
}
