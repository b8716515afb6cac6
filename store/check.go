package store

import (
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/issuemesh/issuemesh/replica"
)

// Consistency checks of an opened sync log, for `issuemesh doctor`: what
// the keys say about each other, without the tracker.

// Inconsistency is one thing wrong in the sync log.
type Inconsistency struct {
	// Check is the group: "links", "queues" or "cursors".
	Check string `json:"check"`
	// Key is the sync log key concerned.
	Key string `json:"key"`
	// What says what is wrong.
	What string `json:"what"`
}

// LocalKeys calls fn for every local key index entry (k/<key> to twin ID).
func (t *Tx) LocalKeys(fn func(key, twin string) error) error {
	return t.scan("k/", false, func(k string, v []byte) (bool, error) {
		return true, fn(strings.TrimPrefix(k, "k/"), string(v))
	})
}

// Check reads every twin, local key index entry, queued event and cursor
// and returns what does not hold together: a twin whose local key does not
// lead back to it, an index entry for a missing twin, a record that does
// not decode, an event queued for a peer that is not in the address book,
// an outgoing log whose last sequence is behind its events.
func (t *Tx) Check() ([]Inconsistency, error) {
	var out []Inconsistency
	add := func(check, key, f string, a ...any) {
		out = append(out, Inconsistency{Check: check, Key: key, What: fmt.Sprintf(f, a...)})
	}
	// Links: t/ and k/ point at each other.
	twins := map[string]string{} // twin ID -> local key
	err := t.scan("t/", false, func(key string, val []byte) (bool, error) {
		tw := &Twin{}
		if err := unpackTwin(val, tw); err != nil {
			add("links", key, "the twin does not decode: %v", err)
			return true, nil
		}
		twins[tw.ID] = tw.LocalKey
		if tw.ID != strings.TrimPrefix(key, "t/") {
			add("links", key, "the twin calls itself %s", tw.ID)
		}
		if tw.LocalKey == "" {
			return true, nil
		}
		id, err := t.get("k/" + tw.LocalKey)
		switch {
		case err != nil:
			add("links", key, "its issue %s has no index entry (k/%s): the issue would be taken for unshared", tw.LocalKey, tw.LocalKey)
		case string(id) != tw.ID:
			add("links", key, "its issue %s is indexed as twin %s", tw.LocalKey, id)
		}
		return true, nil
	})
	if err != nil {
		return out, err
	}
	err = t.LocalKeys(func(key, twin string) error {
		lk, ok := twins[twin]
		switch {
		case !ok:
			add("links", "k/"+key, "issue %s is indexed as twin %s, which the sync log does not have: its link is lost", key, twin)
		case lk != key:
			add("links", "k/"+key, "issue %s is indexed as twin %s, whose issue is %s", key, twin, lk)
		}
		return nil
	})
	if err != nil {
		return out, err
	}
	// Queues: every queued event decodes and goes to a known peer.
	peers := map[string]bool{}
	if ps, err := t.Peers(); err == nil {
		for _, p := range ps {
			peers[p.ID] = true
		}
	} else {
		add("queues", "p/", "the address book does not decode: %v", err)
	}
	last := map[string]uint64{}
	unknown := map[string]int{}
	err = t.scan("o/", false, func(key string, val []byte) (bool, error) {
		peer, seq := key[2:len(key)-9], seqOf(key)
		if _, err := unpackEvent(val); err != nil {
			add("queues", fmt.Sprintf("o/%s/%d", peer, seq), "the queued event does not decode: %v", err)
		}
		if !peers[peer] && !strings.HasPrefix(peer, "net:") {
			unknown[peer]++
		}
		last[peer] = max(last[peer], seq)
		return true, nil
	})
	if err != nil {
		return out, err
	}
	for peer, n := range unknown {
		add("queues", "o/"+peer, "%d events are queued for %s, which is not in the address book", n, peer)
	}
	for peer, seq := range last {
		b, err := t.get("os/" + peer)
		if err != nil || len(b) != 8 || binary.BigEndian.Uint64(b) < seq {
			add("queues", "os/"+peer, "the last sequence of the outgoing log is behind its events (%d queued): new events would overwrite queued ones", seq)
		}
	}
	err = t.scan("i/", false, func(key string, val []byte) (bool, error) {
		peer, seq := key[2:len(key)-9], seqOf(key)
		if _, err := unpackEvent(val); err != nil {
			add("queues", fmt.Sprintf("i/%s/%d", peer, seq), "the received event does not decode: %v", err)
		}
		if _, err := t.get(seqKey("r/", peer, seq)); err != nil {
			add("queues", fmt.Sprintf("i/%s/%d", peer, seq), "the received event has no received marker: a retransmission would be applied twice")
		}
		return true, nil
	})
	if err != nil {
		return out, err
	}
	err = t.scan("r/", false, func(key string, val []byte) (bool, error) {
		if len(val) == 0 {
			return true, nil
		}
		var a replica.Ack
		if err := msgpack.Unmarshal(val, &a); err != nil {
			add("queues", fmt.Sprintf("r/%s/%d", key[2:len(key)-9], seqOf(key)), "the remembered ack does not decode: %v", err)
		}
		return true, nil
	})
	if err != nil {
		return out, err
	}
	// Cursors are opaque strings to the store; the tracker's is checked by
	// the node, which knows whose it is.
	return out, nil
}

// indexRemoteKeys records, for each peer link of the twin with a remote
// key, which twin the peer's issue belongs to (rk/<peer>/<key>). An entry
// left behind by a link that changed key is harmless: TwinByRemoteKey
// checks the twin it names.
func (t *Tx) indexRemoteKeys(tw *Twin) {
	for peer, l := range tw.Links {
		if l != nil && l.RemoteKey != "" && !strings.HasPrefix(peer, "net:") {
			t.setIndex("rk/"+peer+"/"+l.RemoteKey, tw.ID)
		}
	}
}

// TwinByRemoteKey returns the twin whose link with peer holds the peer's
// issue with that key (and is not unsynced), or an error wrapping
// ErrNotFound. It finds the twins written since the index exists.
func (t *Tx) TwinByRemoteKey(peer, key string) (*Twin, error) {
	id, err := t.get("rk/" + peer + "/" + key)
	if err != nil {
		return nil, fmt.Errorf("%s at %s is not linked here: %w", key, peer, err)
	}
	tw, err := t.GetTwin(string(id))
	if err != nil {
		return nil, err
	}
	if l := tw.Links[peer]; l == nil || l.RemoteKey != key || l.Unsynced {
		return nil, fmt.Errorf("%s at %s is no longer linked here: %w", key, peer, ErrNotFound)
	}
	return tw, nil
}

// DeleteTwin removes a twin and its local key index entry (the way a lost
// link looks; for tests and repairs).
func (t *Tx) DeleteTwin(tw *Twin) {
	if tw.LocalKey != "" {
		t.del("k/" + tw.LocalKey)
	}
	t.del("t/" + tw.ID)
}

// unpackEvent decodes a stored event (twinpack.go).
func unpackEvent(b []byte) (replica.Event, error) {
	raw, err := unpackFrame(b)
	if err != nil {
		return replica.Event{}, err
	}
	return replica.UnmarshalEvent(raw)
}
