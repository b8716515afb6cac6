package engine

import (
	"time"

	"github.com/issuemesh/issuemesh/store"
)

// Blocked state has this one writer: every read and write of the sync
// log's blocked records (store.Blocked, one per twin, direction and link)
// goes through these functions, so that what blocks a twin one way on one
// link never touches its other records.
//
//   - BlockIn: applying an event from a source failed here; the twin's
//     events from that source wait until retried; the apply that succeeds
//     clears it.
//   - BlockOut: the outgoing rules, or the event's size, refused the twin
//     for a link (share); nothing of it goes to that link until retried.
//   - BlockAtPeer: the peer's ack said failed; its applied ack clears it.

// BlockIn records that an event received from src failed here. An
// existing record keeps its oldest event and its start.
func BlockIn(tx *store.Tx, twin, localKey string, src SourceKey, seq uint64, msg string) error {
	return putBlock(tx, store.Blocked{Twin: twin, LocalKey: localKey, Peer: string(src), Dir: store.BlockIn, Seq: seq, Error: msg})
}

// BlockOut records that this node refused to share the twin with link.
func BlockOut(tx *store.Tx, tw *store.Twin, link LinkKey, err error) error {
	return putBlock(tx, store.Blocked{Twin: tw.ID, LocalKey: tw.LocalKey, Peer: string(link), Dir: store.BlockOut, Error: err.Error()})
}

// BlockAtPeer records that the peer failed to apply an event of the twin.
func BlockAtPeer(tx *store.Tx, twin, localKey string, link LinkKey, seq uint64, msg string) error {
	return putBlock(tx, store.Blocked{Twin: twin, LocalKey: localKey, Peer: string(link), Dir: store.BlockAtPeer, Seq: seq, Error: msg})
}

func putBlock(tx *store.Tx, b store.Blocked) error {
	if old, err := tx.GetBlocked(b.Twin, b.Dir, b.Peer); err == nil {
		b.Since, b.Attempts = old.Since, old.Attempts
		if old.Seq != 0 && (b.Seq == 0 || old.Seq < b.Seq) {
			b.Seq = old.Seq
		}
		if b.LocalKey == "" {
			b.LocalKey = old.LocalKey
		}
	} else {
		b.Since = time.Now().UTC()
	}
	b.Attempts++
	return tx.PutBlocked(b)
}

// Unblock removes one record, if there is one. key is the record's link
// (BlockOut, BlockAtPeer) or source (BlockIn).
func Unblock(tx *store.Tx, twin string, dir store.BlockDir, key string) {
	tx.DeleteBlocked(twin, dir, key)
}

// IsBlockedOut reports whether the twin may not be shared with link.
func IsBlockedOut(tx *store.Tx, twin string, link LinkKey) bool {
	_, err := tx.GetBlocked(twin, store.BlockOut, string(link))
	return err == nil
}

// BlockedIn returns the twins whose events from src wait for a retry.
func BlockedIn(tx *store.Tx, src SourceKey) (map[string]bool, error) {
	bs, err := tx.BlockedTwins()
	held := map[string]bool{}
	for _, b := range bs {
		if b.Dir == store.BlockIn && b.Peer == string(src) {
			held[b.Twin] = true
		}
	}
	return held, err
}

// BlockedAll lists every record, oldest first.
func BlockedAll(tx *store.Tx) ([]store.Blocked, error) { return tx.BlockedTwins() }

// UnblockLink removes every record of a peer's link (a peer that was
// removed): what it refused, what was refused for it, and what failed
// from it.
func UnblockLink(tx *store.Tx, link LinkKey) error {
	bs, err := tx.BlockedTwins()
	if err != nil {
		return err
	}
	for _, b := range bs {
		if b.Peer == string(link) {
			Unblock(tx, b.Twin, b.Dir, b.Peer)
		}
	}
	return nil
}

// BlockedCounts counts blocked twins (a twin blocked several ways counts
// once) and records.
func BlockedCounts(tx *store.Tx) (twins, records int, err error) {
	bs, err := tx.BlockedTwins()
	seen := map[string]bool{}
	for _, b := range bs {
		seen[b.Twin] = true
	}
	return len(seen), len(bs), err
}
