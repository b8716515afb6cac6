package engine

import (
	"slices"
	"time"

	"github.com/issuemesh/issuemesh/replica"
	"github.com/issuemesh/issuemesh/store"
)

// Outcome is what happened to an event, as its history record says
// (store.Record.What; `issuemesh history` prints it as it is).
type Outcome string

// The outcomes of outgoing events (Dir "out").
const (
	Queued       Outcome = "queued"        // appended to a link's outgoing log
	QueuedLink   Outcome = "queued link"   // a manual link, appended
	QueuedUnsync Outcome = "queued unsync" // a manual unsync, appended
	AckApplied   Outcome = "acked"         // the peer applied it
	AckSkipped   Outcome = "skipped"       // the peer's rules skipped it
	AckFailed    Outcome = "failed"        // the peer failed to apply it
	PeerRemoved  Outcome = "unsynced"      // the peer was removed: the link stops
)

// The outcomes of incoming events (Dir "in").
const (
	Applied  Outcome = "applied"  // merged and applied to the tracker
	Skipped  Outcome = "skipped"  // the incoming rules skipped it
	Failed   Outcome = "failed"   // applying it failed: the twin is blocked
	Unsynced Outcome = "unsynced" // the peer stopped syncing the twin
	Refused  Outcome = "refused"  // refused unapplied (a clock too far ahead)
)

// QueuedOutcome is the outcome of an appended event with operation op.
func QueuedOutcome(op string) Outcome {
	switch op {
	case replica.OpLink:
		return QueuedLink
	case replica.OpUnsync:
		return QueuedUnsync
	}
	return Queued
}

// Sent is the history record of an event appended to link's outgoing log,
// or of the peer's answer to it.
type Sent struct {
	Link     LinkKey
	Seq      uint64
	EventID  string
	What     Outcome
	Fields   []string // what changed: fields, "comment:ID", "attachment:ID"
	LocalKey string
	Error    string
	Changes  []store.Change // old and new values of Fields (queued)
	Changed  time.Time      // the tracker's change the trigger saw (queued)
}

// Received is the history record of an event from a source.
type Received struct {
	Source   SourceKey
	Seq      uint64
	EventID  string
	What     Outcome
	Fields   []string
	LocalKey string
	Error    string
	Changes  []store.Change // old and new values of Fields (applied)
}

// AddSent adds an outgoing record to the twin's history; the caller stores
// the twin afterwards (PutTwin).
func AddSent(tx *store.Tx, tw *store.Twin, now time.Time, r Sent) error {
	return tx.AddHistory(tw, store.Record{Time: now, Dir: "out", Peer: string(r.Link), Seq: r.Seq, EventID: r.EventID, What: string(r.What), Fields: r.Fields, LocalKey: r.LocalKey, Error: r.Error, Changes: r.Changes, Changed: r.Changed})
}

// AddReceived adds an incoming record to the twin's history; the caller
// stores the twin afterwards (PutTwin).
func AddReceived(tx *store.Tx, tw *store.Twin, now time.Time, r Received) error {
	return tx.AddHistory(tw, store.Record{Time: now, Dir: "in", Peer: string(r.Source), Seq: r.Seq, EventID: r.EventID, What: string(r.What), Fields: r.Fields, LocalKey: r.LocalKey, Error: r.Error, Changes: r.Changes})
}

// ChangeNames lists every part of an incoming change for the history, as
// stamp does for an outgoing one: the fields, "comment:ID" for each comment
// and "attachment:ID" for each file it adds or changes.
func ChangeNames(ch replica.Changes) []string {
	out := slices.Clone(ch.Fields)
	for _, id := range ch.Comments {
		out = append(out, "comment:"+id)
	}
	for _, id := range ch.Attachments {
		out = append(out, "attachment:"+id)
	}
	slices.Sort(out)
	return slices.Compact(out)
}
