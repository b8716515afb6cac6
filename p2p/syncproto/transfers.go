package syncproto

import (
	"sync"

	"github.com/libp2p/go-libp2p/core/peer"
)

// Files moving now, per peer and direction, for `queue` and the CLI's
// progress bars: a first sync with large files spends most of its time
// here, while the events that carry them wait for their ack.

// Direction says which way a file moves.
type Direction int

const (
	// Sending is a file this node serves to a peer.
	Sending Direction = iota
	// Receiving is a file this node fetches from a peer.
	Receiving
)

// FileProgress sums the transfers of one peer and direction: how many
// files move now, the bytes moved so far and the bytes they have in all.
type FileProgress struct {
	Files       int
	Done, Total int64
}

// Transfers counts the files moving now. The zero value is ready to use;
// a nil *Transfers counts nothing.
type Transfers struct {
	mu  sync.Mutex
	now map[transferKey]FileProgress
}

type transferKey struct {
	peer peer.ID
	dir  Direction
}

// Of returns what moves now between this node and p in direction dir.
func (t *Transfers) Of(p peer.ID, dir Direction) FileProgress {
	if t == nil {
		return FileProgress{}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.now[transferKey{p, dir}]
}

// begin counts a file of size bytes starting to move; the returned
// transfer counts its bytes and must be ended.
func (t *Transfers) begin(p peer.ID, dir Direction, size int64) *transfer {
	if t == nil {
		return nil
	}
	k := transferKey{p, dir}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.now == nil {
		t.now = map[transferKey]FileProgress{}
	}
	fp := t.now[k]
	fp.Files++
	fp.Total += size
	t.now[k] = fp
	return &transfer{t: t, k: k, size: size}
}

// transfer is one file moving; a nil *transfer counts nothing.
type transfer struct {
	t          *Transfers
	k          transferKey
	size, done int64
}

// add counts n more bytes moved.
func (tr *transfer) add(n int64) {
	if tr == nil {
		return
	}
	tr.t.mu.Lock()
	defer tr.t.mu.Unlock()
	tr.done += n
	fp := tr.t.now[tr.k]
	fp.Done += n
	tr.t.now[tr.k] = fp
}

// end removes the file from the sums, whether it moved whole or not.
func (tr *transfer) end() {
	if tr == nil {
		return
	}
	tr.t.mu.Lock()
	defer tr.t.mu.Unlock()
	fp := tr.t.now[tr.k]
	fp.Files--
	fp.Done -= tr.done
	fp.Total -= tr.size
	if fp.Files <= 0 {
		delete(tr.t.now, tr.k)
		return
	}
	tr.t.now[tr.k] = fp
}
