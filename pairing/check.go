package pairing

import (
	"errors"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/issuemesh/issuemesh/store"
)

// Refusal is an invitation refused for a reason the person is told: by
// the inviter (the reason travels in the pair protocol's answer) or by the
// acceptor before it dials. Match it with errors.As.
type Refusal struct{ Reason string }

func (r Refusal) Error() string { return r.Reason }

// IsRefusal reports whether err is (or wraps) a Refusal: the person's
// invitation or code is the problem, not the node.
func IsRefusal(err error) bool {
	var r Refusal
	return errors.As(err, &r)
}

// refuseUnknown is the answer to a secret this node did not issue.
var refuseUnknown = Refusal{"unknown invitation: this node did not issue it (forged or mistyped code)"}

// Check is the inviter's check of a stored invitation at redeem time: it
// must be unused and unexpired. Every kind of invitation is checked by it
// (through Claim), so the reasons read the same.
func Check(inv store.Invite, now time.Time) error {
	switch {
	case inv.UsedBy != "":
		return Refusal{fmt.Sprintf("invitation already used (at %s); ask the inviter for a new one", inv.UsedAt.UTC().Format(time.RFC3339))}
	case !now.Before(inv.Expires):
		return Refusal{fmt.Sprintf("invitation expired at %s; ask the inviter for a new one", inv.Expires.UTC().Format(time.RFC3339))}
	}
	return nil
}

// Claim finds the invitation of secret in tx, checks it (Check) and marks
// it used by remote, in the caller's write: if that write fails, the
// invitation stays open.
func Claim(tx *store.Tx, secret []byte, remote peer.ID, now time.Time) (store.Invite, error) {
	if len(secret) == 0 || len(secret) > maxSecret {
		return store.Invite{}, refuseUnknown
	}
	inv, err := tx.GetInvite(SecretHash(secret))
	if errors.Is(err, store.ErrNotFound) {
		return store.Invite{}, refuseUnknown
	}
	if err != nil {
		return store.Invite{}, err
	}
	if err := Check(inv, now); err != nil {
		return store.Invite{}, err
	}
	inv.UsedBy, inv.UsedAt = remote.String(), now.UTC()
	if err := tx.PutInvite(inv); err != nil {
		return store.Invite{}, err
	}
	return inv, nil
}

// Check is the acceptor's check of a code before it dials the inviter:
// not its own, not expired.
func (inv Invitation) Check(self peer.ID, now time.Time) error {
	if inv.Peer == self {
		return Refusal{"this invitation was issued by this node; accept it on the other node"}
	}
	if !now.Before(inv.Expires) {
		return Refusal{fmt.Sprintf("this invitation expired at %s (%s ago); ask the inviter for a new one",
			inv.Expires.UTC().Format(time.RFC3339), now.Sub(inv.Expires).Round(time.Second))}
	}
	return nil
}
