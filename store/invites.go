package store

import (
	"fmt"
	"sort"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// Invitations and peer removal.
//
// Key layout (in addition to the package documentation's):
//
//	v/<hash>              Invite: hex SHA-256 of an invitation's secret
//
// The secret itself is never stored: whoever reads the sync log cannot
// accept an open invitation.

// Invite is an invitation issued by this node.
type Invite struct {
	// Hash is the hex SHA-256 of the invitation's secret.
	Hash string `msgpack:"hash" json:"hash"`
	// Name is the name the accepting peer gets here.
	Name    string    `msgpack:"name" json:"name,omitempty"`
	Created time.Time `msgpack:"created" json:"created"`
	Expires time.Time `msgpack:"expires" json:"expires"`
	// UsedBy is the peer that accepted the invitation (empty while open).
	UsedBy string    `msgpack:"used_by,omitempty" json:"used_by,omitempty"`
	UsedAt time.Time `msgpack:"used_at,omitempty" json:"used_at,omitzero"`
	// Network is the ID of the network the invitation joins; empty for an
	// invitation to pair with this node.
	Network string `msgpack:"net,omitempty" json:"network,omitempty"`
}

// Open reports whether the invitation can still be accepted at now.
func (i Invite) Open(now time.Time) bool { return i.UsedBy == "" && now.Before(i.Expires) }

// PutInvite adds or replaces an invitation.
func (t *Tx) PutInvite(inv Invite) error { return t.setMsg("v/"+inv.Hash, &inv) }

// GetInvite returns the invitation with that secret hash, or an error
// wrapping ErrNotFound.
func (t *Tx) GetInvite(hash string) (Invite, error) {
	var inv Invite
	if err := t.getMsg("v/"+hash, &inv); err != nil {
		return Invite{}, fmt.Errorf("invitation: %w", err)
	}
	return inv, nil
}

// DeleteInvite forgets an invitation.
func (t *Tx) DeleteInvite(hash string) { t.del("v/" + hash) }

// Invites lists every stored invitation, oldest first.
func (t *Tx) Invites() ([]Invite, error) {
	var out []Invite
	err := t.scan("v/", false, func(key string, val []byte) (bool, error) {
		var inv Invite
		if err := msgpack.Unmarshal(val, &inv); err != nil {
			return false, fmt.Errorf("decode %s: %w", key, err)
		}
		out = append(out, inv)
		return true, nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Created.Before(out[j].Created) })
	return out, err
}

// DropOut deletes up to limit pending outgoing events to peer and returns
// how many it deleted; call it again (in a fresh update) until it returns
// 0. The peer's last sequence number (os/<peer>) is kept, so that events
// queued for it later never reuse a sequence number it has seen.
func (t *Tx) DropOut(peer string, limit int) (int, error) {
	return t.dropPrefix("o/"+peer+"/", limit)
}

// DropIn deletes up to limit received events from peer that wait to be
// applied, like DropOut. The received markers stay, so that the same events
// sent again are still recognised as duplicates.
func (t *Tx) DropIn(peer string, limit int) (int, error) {
	return t.dropPrefix("i/"+peer+"/", limit)
}

func (t *Tx) dropPrefix(prefix string, limit int) (int, error) {
	var keys []string
	err := t.scan(prefix, true, func(key string, _ []byte) (bool, error) {
		keys = append(keys, key)
		return len(keys) < limit, nil
	})
	if err != nil {
		return 0, err
	}
	for _, k := range keys {
		t.del(k)
	}
	return len(keys), nil
}
