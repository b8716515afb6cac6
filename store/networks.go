package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/issuemesh/issuemesh/replica"
)

// Networks (multi-party sync groups, see package node).
//
// Key layout (in addition to the package documentation's):
//
//	n/<net>                       Network: name, members
//	na/<net>/<author>/<seq>       archived event of the network by author
//	nt/<net>/<author>/<twin>      seq of the archived event kept for (author, twin)
//	nm/<net>/<author>             complete mark of author (see NetMark)
//
// This node's own events for a network are appended with Append under the
// link key "net:<net>" (o/ holds them until published) and archived; the
// events received from an author are logged with ReceiveNet under the
// source key "net:<net>/<author>" (r/ and i/ as for a peer). The archive
// keeps, for each author and twin, only the newest event: every event
// carries the twin's whole agreed state, so an older one adds nothing. Any
// member can thus serve any other's catch-up.

// Network is a network this node is (or was) a member of.
type Network struct {
	ID      string    `msgpack:"id" json:"id"`
	Name    string    `msgpack:"name" json:"name"`
	Created time.Time `msgpack:"created" json:"created"`
	// Left is set once this node left the network: nothing flows any more.
	Left bool `msgpack:"left,omitempty" json:"left,omitempty"`
	// Members holds every peer that ever joined, by peer ID, this node
	// included.
	Members map[string]*Member `msgpack:"members" json:"members"`
}

// Member is one member of a network as the membership events said.
type Member struct {
	ID    string   `msgpack:"id" json:"id"`
	Name  string   `msgpack:"name,omitempty" json:"name,omitempty"`
	Addrs []string `msgpack:"addrs,omitempty" json:"addrs,omitempty"`
	// State is replica.MemberJoined or replica.MemberLeft with the clock of
	// the membership event that said so; the newest statement wins.
	State replica.Value `msgpack:"state" json:"-"`
}

// Joined reports whether the member is in the network now.
func (m *Member) Joined() bool { return m != nil && m.State.S == replica.MemberJoined }

// Member returns the member with that peer ID, or nil.
func (n *Network) Member(id string) *Member {
	if n == nil {
		return nil
	}
	return n.Members[id]
}

// PutNetwork adds or replaces a network.
func (t *Tx) PutNetwork(n *Network) error { return t.setMsg("n/"+n.ID, n) }

// GetNetwork returns the network, or an error wrapping ErrNotFound.
func (t *Tx) GetNetwork(id string) (*Network, error) {
	n := &Network{}
	if err := t.getMsg("n/"+id, n); err != nil {
		return nil, fmt.Errorf("network %s: %w", id, err)
	}
	return n, nil
}

// Networks lists every network, by name.
func (t *Tx) Networks() ([]*Network, error) {
	var out []*Network
	err := t.scan("n/", false, func(key string, val []byte) (bool, error) {
		n := &Network{}
		if err := msgpack.Unmarshal(val, n); err != nil {
			return false, fmt.Errorf("decode %s: %w", key, err)
		}
		out = append(out, n)
		return true, nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Name+out[i].ID < out[j].Name+out[j].ID })
	return out, err
}

// ArchiveNet keeps an event of network net (own or received) for catch-up,
// unless the archive holds a newer event of the same author and twin; an
// older one is dropped. It reports whether the event was kept.
func (t *Tx) ArchiveNet(net string, ev *replica.Event, frame []byte) (bool, error) {
	ix := "nt/" + net + "/" + ev.Origin + "/" + ev.Twin
	if b, err := t.get(ix); err == nil && len(b) == 8 {
		old := binary.BigEndian.Uint64(b)
		if old >= ev.Seq {
			return false, nil
		}
		t.del(seqKey("na/"+net+"/", ev.Origin, old))
	} else if err != nil && !errors.Is(err, ErrNotFound) {
		return false, err
	}
	var sb [8]byte
	binary.BigEndian.PutUint64(sb[:], ev.Seq)
	t.set(ix, sb[:])
	t.set(seqKey("na/"+net+"/", ev.Origin, ev.Seq), frame)
	return true, nil
}

// NetEntry is one archived event.
type NetEntry struct {
	Author string
	Seq    uint64
	Twin   string
}

// NetArchive lists the archived events of network net whose seq is above
// after[author], in two groups: membership events (twins starting with
// memberPrefix) first, then the others, each ordered by author and seq. At
// most limit events are listed; more reports whether some were left out.
// Frames are not read (see NetFrame).
func (t *Tx) NetArchive(net, memberPrefix string, after map[string]uint64, limit int) (out []NetEntry, more bool, err error) {
	prefix := "nt/" + net + "/"
	var members, others []NetEntry
	err = t.scan(prefix, false, func(key string, val []byte) (bool, error) {
		author, twin, ok := strings.Cut(key[len(prefix):], "/")
		if !ok || len(val) != 8 {
			return true, nil
		}
		seq := binary.BigEndian.Uint64(val)
		if seq <= after[author] {
			return true, nil
		}
		e := NetEntry{Author: author, Seq: seq, Twin: twin}
		if strings.HasPrefix(twin, memberPrefix) {
			members = append(members, e)
		} else {
			others = append(others, e)
		}
		return true, nil
	})
	if err != nil {
		return nil, false, err
	}
	byAuthorSeq := func(s []NetEntry) {
		sort.Slice(s, func(i, j int) bool {
			if s[i].Author != s[j].Author {
				return s[i].Author < s[j].Author
			}
			return s[i].Seq < s[j].Seq
		})
	}
	byAuthorSeq(members)
	byAuthorSeq(others)
	all := append(members, others...)
	if len(all) > limit {
		all, more = all[:limit], true
	}
	return all, more, nil
}

// NetFrame returns one archived event of network net, or an error wrapping
// ErrNotFound once a newer event of its author and twin replaced it.
func (t *Tx) NetFrame(net, author string, seq uint64) ([]byte, error) {
	b, err := t.get(seqKey("na/"+net+"/", author, seq))
	if err != nil {
		return nil, fmt.Errorf("archived event %d of %s in network %s: %w", seq, author, net, err)
	}
	return b, nil
}

// EnqueueIn puts a received event in the incoming log for the applier.
func (t *Tx) EnqueueIn(src string, seq uint64, frame []byte) {
	t.set(seqKey("i/", src, seq), pack(frame)) // twinpack.go
}

// NetMark returns the complete mark of author in network net: every event
// of author up to it is in the archive or superseded there by a newer event
// of the same twin. 0 if none.
func (t *Tx) NetMark(net, author string) (uint64, error) {
	b, err := t.get("nm/" + net + "/" + author)
	if errors.Is(err, ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	if len(b) != 8 {
		return 0, fmt.Errorf("complete mark of %s in network %s: %d bytes, want 8", author, net, len(b))
	}
	return binary.BigEndian.Uint64(b), nil
}

// SetNetMark raises the complete mark of author in network net to at least
// mark, then past every event of author received since (see ReceiveNet)
// under the source key src. It returns the new mark.
func (t *Tx) SetNetMark(net, author, src string, mark uint64) (uint64, error) {
	cur, err := t.NetMark(net, author)
	if err != nil {
		return 0, err
	}
	m := max(cur, mark)
	for src != "" {
		if _, err := t.get(seqKey("r/", src, m+1)); err != nil {
			if errors.Is(err, ErrNotFound) {
				break
			}
			return 0, err
		}
		m++
	}
	if m != cur {
		var b [8]byte
		binary.BigEndian.PutUint64(b[:], m)
		t.set("nm/"+net+"/"+author, b[:])
	}
	return m, nil
}

// NetMarks returns the complete marks of every author of network net.
func (t *Tx) NetMarks(net string) (map[string]uint64, error) {
	prefix := "nm/" + net + "/"
	out := map[string]uint64{}
	err := t.scan(prefix, false, func(key string, val []byte) (bool, error) {
		if len(val) == 8 {
			out[key[len(prefix):]] = binary.BigEndian.Uint64(val)
		}
		return true, nil
	})
	return out, err
}

// ReceiveNet records the received marker of a network event under the
// source key src (see EnqueueIn for the incoming log). It reports dup=true,
// writing nothing, for an event received before.
func (t *Tx) ReceiveNet(src string, seq uint64) (dup bool, err error) {
	rk := seqKey("r/", src, seq)
	switch _, err := t.get(rk); {
	case err == nil:
		return true, nil
	case !errors.Is(err, ErrNotFound):
		return false, err
	}
	t.set(rk, []byte{})
	return false, nil
}

// InSources lists the source keys under prefix (e.g. "net:<id>/") that
// have received events waiting to be applied.
func (t *Tx) InSources(prefix string) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	err := t.scan("i/"+prefix, true, func(key string, _ []byte) (bool, error) {
		src := key[2 : len(key)-9]
		if !seen[src] {
			seen[src] = true
			out = append(out, src)
		}
		return true, nil
	})
	return out, err
}
