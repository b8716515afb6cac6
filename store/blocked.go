package store

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// ---- blocked twins ----
//
// A twin is blocked per link and direction: one record under
// b/<twin>/<dir>/<link>, so that a twin blocked one way with one peer
// (its rules fail there, say) keeps syncing every other way. A record
// written by an older version under b/<twin> alone is read as the record
// of the direction its flags say, and deleted with it.

// BlockDir is the way a twin is blocked on a link.
type BlockDir string

const (
	// BlockIn: applying an event received by the link failed here; that
	// event and the twin's later events from the link wait in the incoming
	// log until retried.
	BlockIn BlockDir = "in"
	// BlockOut: this node refused to share the twin with the link (its
	// outgoing rules failed, or the event would be over the size limit);
	// nothing of the twin goes to the link until retried.
	BlockOut BlockDir = "out"
	// BlockAtPeer: the peer answered an event of the twin with a failed
	// ack; its applied ack (after a retry there) clears the record.
	BlockAtPeer BlockDir = "peer"
)

// Blocked is a twin that is blocked on one link in one direction until an
// operator retries it.
type Blocked struct {
	Twin     string `msgpack:"twin" json:"twin"`
	LocalKey string `msgpack:"key" json:"key,omitempty"`
	// Peer is the link: a peer ID, "net:<network ID>" for what this node
	// sends to a network, or "net:<network ID>/<author>" for what it
	// received from one author.
	Peer string   `msgpack:"peer" json:"peer"`
	Dir  BlockDir `msgpack:"dir" json:"direction"`
	// Seq is the sequence of the event that failed (BlockIn: the oldest
	// held here; BlockAtPeer: the one the peer refused).
	Seq      uint64    `msgpack:"seq" json:"seq"`
	Remote   bool      `msgpack:"remote" json:"remote"`          // Dir == BlockAtPeer
	Outgoing bool      `msgpack:"out" json:"outgoing,omitempty"` // Dir == BlockOut
	Error    string    `msgpack:"err" json:"error"`
	Since    time.Time `msgpack:"since" json:"since"`
	Attempts int       `msgpack:"n" json:"attempts"`
	// PeerName is the name of Peer in the peer list, filled in by the
	// admin API; never stored.
	PeerName string `msgpack:"-" json:"peer_name,omitempty"`
	// PeerKey and Agreed are the peer's side as this node knows it: the
	// twin's key at the peer and the twin's last agreed replica with the
	// link (what both sides last agreed on; field -> value as text), not
	// read from the peer. Filled in by the admin API; never stored.
	PeerKey string            `msgpack:"-" json:"peer_key,omitempty"`
	Agreed  map[string]string `msgpack:"-" json:"agreed,omitempty"`
}

func blockedKey(twin string, dir BlockDir, link string) string {
	return "b/" + twin + "/" + string(dir) + "/" + link
}

// dirOf is the direction of a record written before records had one.
func (b *Blocked) dirOf() BlockDir {
	switch {
	case b.Dir != "":
		return b.Dir
	case b.Remote:
		return BlockAtPeer
	case b.Outgoing:
		return BlockOut
	}
	return BlockIn
}

// PutBlocked writes a blocked record (replacing the one of the same twin,
// direction and link). Remote and Outgoing are set from Dir.
func (t *Tx) PutBlocked(b Blocked) error {
	if b.Twin == "" || b.Peer == "" || strings.Contains(b.Twin, "/") {
		return fmt.Errorf("blocked record: twin %q and link %q: both are required, and a twin ID has no '/'", b.Twin, b.Peer)
	}
	switch b.Dir {
	case BlockIn, BlockOut, BlockAtPeer:
	default:
		return fmt.Errorf("blocked record of twin %s: unknown direction %q", b.Twin, b.Dir)
	}
	b.Remote, b.Outgoing = b.Dir == BlockAtPeer, b.Dir == BlockOut
	return t.setMsg(blockedKey(b.Twin, b.Dir, b.Peer), &b)
}

// DeleteBlocked removes the record of a twin on a link in a direction.
func (t *Tx) DeleteBlocked(twin string, dir BlockDir, link string) {
	t.delIfPresent(blockedKey(twin, dir, link))
	if old, err := t.legacyBlocked(twin); err == nil && old.dirOf() == dir && old.Peer == link {
		t.del("b/" + twin)
	}
}

func (t *Tx) legacyBlocked(twin string) (Blocked, error) {
	var b Blocked
	if err := t.getMsg("b/"+twin, &b); err != nil {
		return Blocked{}, err
	}
	b.Dir = b.dirOf()
	return b, nil
}

// GetBlocked returns the record of a twin on a link in a direction, or
// ErrNotFound.
func (t *Tx) GetBlocked(twin string, dir BlockDir, link string) (Blocked, error) {
	var b Blocked
	if err := t.getMsg(blockedKey(twin, dir, link), &b); err == nil {
		return b, nil
	} else if old, lerr := t.legacyBlocked(twin); lerr == nil && old.Dir == dir && old.Peer == link {
		return old, nil
	} else {
		return Blocked{}, err
	}
}

// BlockedOf lists the records of one twin, oldest first.
func (t *Tx) BlockedOf(twin string) ([]Blocked, error) {
	out, err := t.scanBlocked("b/" + twin + "/")
	if old, lerr := t.legacyBlocked(twin); lerr == nil {
		out = append(out, old)
		sortBlocked(out)
	}
	return out, err
}

// BlockedTwins lists every blocked record, oldest first: a twin blocked on
// several links or both ways has one record each.
func (t *Tx) BlockedTwins() ([]Blocked, error) { return t.scanBlocked("b/") }

func (t *Tx) scanBlocked(prefix string) ([]Blocked, error) {
	var out []Blocked
	err := t.scan(prefix, false, func(key string, val []byte) (bool, error) {
		var b Blocked
		if err := msgpack.Unmarshal(val, &b); err != nil {
			return false, fmt.Errorf("decode %s: %w", key, err)
		}
		b.Dir = b.dirOf()
		out = append(out, b)
		return true, nil
	})
	sortBlocked(out)
	return out, err
}

func sortBlocked(bs []Blocked) {
	sort.SliceStable(bs, func(i, j int) bool { return bs[i].Since.Before(bs[j].Since) })
}
