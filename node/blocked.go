package node

import (
	"time"

	"github.com/issuemesh/issuemesh/store"
)

// Blocked state has this one writer: every read and write of the sync
// log's blocked records (store.Blocked, one per twin, direction and link)
// goes through these functions, so that what blocks a twin one way on one
// link never touches its other records.
//
//   - blockIn: applying an event from a link failed here (fail); the twin's
//     events from that link wait (applyPending) until retried; finish
//     clears it when one of them applies.
//   - blockOut: the outgoing rules, or the event's size, refused the twin
//     for a link (share); nothing of it goes to that link until retried.
//   - blockAtPeer: the peer's ack said failed (recordAcks); its applied ack
//     clears it.

// blockIn records that an event received from link failed here. An
// existing record keeps its oldest event and its start.
func blockIn(tx *store.Tx, twin, localKey, link string, seq uint64, msg string) error {
	return putBlock(tx, store.Blocked{Twin: twin, LocalKey: localKey, Peer: link, Dir: store.BlockIn, Seq: seq, Error: msg})
}

// blockOut records that this node refused to share the twin with link.
func blockOut(tx *store.Tx, tw *store.Twin, link string, err error) error {
	return putBlock(tx, store.Blocked{Twin: tw.ID, LocalKey: tw.LocalKey, Peer: link, Dir: store.BlockOut, Error: err.Error()})
}

// blockAtPeer records that the peer failed to apply an event of the twin.
func blockAtPeer(tx *store.Tx, twin, localKey, link string, seq uint64, msg string) error {
	return putBlock(tx, store.Blocked{Twin: twin, LocalKey: localKey, Peer: link, Dir: store.BlockAtPeer, Seq: seq, Error: msg})
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

// unblock removes one record, if there is one.
func unblock(tx *store.Tx, twin string, dir store.BlockDir, link string) {
	tx.DeleteBlocked(twin, dir, link)
}

// isBlocked reports whether the twin is blocked on link in direction dir.
func isBlocked(tx *store.Tx, twin string, dir store.BlockDir, link string) bool {
	_, err := tx.GetBlocked(twin, dir, link)
	return err == nil
}

// blockedIn returns the twins whose events from link wait for a retry.
func blockedIn(tx *store.Tx, link string) (map[string]bool, error) {
	bs, err := tx.BlockedTwins()
	held := map[string]bool{}
	for _, b := range bs {
		if b.Dir == store.BlockIn && b.Peer == link {
			held[b.Twin] = true
		}
	}
	return held, err
}

// blockedAll lists every record, oldest first.
func blockedAll(tx *store.Tx) ([]store.Blocked, error) { return tx.BlockedTwins() }

// unblockLink removes every record of a link (a peer that was removed),
// including those of a network's authors under link + "/".
func unblockLink(tx *store.Tx, link string) error {
	bs, err := tx.BlockedTwins()
	if err != nil {
		return err
	}
	for _, b := range bs {
		if b.Peer == link {
			unblock(tx, b.Twin, b.Dir, b.Peer)
		}
	}
	return nil
}

// blockedCounts counts blocked twins (a twin blocked several ways counts
// once) and records.
func blockedCounts(tx *store.Tx) (twins, records int, err error) {
	bs, err := tx.BlockedTwins()
	seen := map[string]bool{}
	for _, b := range bs {
		seen[b.Twin] = true
	}
	return len(seen), len(bs), err
}
