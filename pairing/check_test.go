package pairing

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/issuemesh/issuemesh/store"
)

func newPeerID(t *testing.T) peer.ID {
	t.Helper()
	key, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// Claim is the one check of a stored invitation: every refusal is a
// Refusal that names its reason, a refused claim leaves the invitation as
// it was, and a claim marks it used by the acceptor.
func TestClaim(t *testing.T) {
	st, err := store.Open(t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ctx := context.Background()
	now := time.Now()
	remote := newPeerID(t)
	open, used, expired := []byte("open-secret-0123"), []byte("used-secret-0123"), []byte("expired-secret-01")
	err = st.Update(ctx, func(tx *store.Tx) error {
		for _, inv := range []store.Invite{
			{Hash: SecretHash(open), Name: "bob", Expires: now.Add(time.Hour)},
			{Hash: SecretHash(used), Expires: now.Add(time.Hour), UsedBy: "someone", UsedAt: now.Add(-time.Minute)},
			{Hash: SecretHash(expired), Expires: now.Add(-time.Minute)},
		} {
			if err := tx.PutInvite(inv); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name   string
		secret []byte
		want   string // a refusal's words; "" for a claim
	}{
		{"unknown", []byte("never-issued-0123"), "unknown invitation"},
		{"empty", nil, "unknown invitation"},
		{"oversized", make([]byte, maxSecret+1), "unknown invitation"},
		{"used", used, "invitation already used"},
		{"expired", expired, "invitation expired at"},
		{"open", open, ""},
		{"open, again", open, "invitation already used"},
	} {
		err := st.Update(ctx, func(tx *store.Tx) error {
			inv, err := Claim(tx, tt.secret, remote, now)
			if err == nil && (inv.UsedBy != remote.String() || inv.Name != "bob") {
				t.Errorf("%s: claimed %+v", tt.name, inv)
			}
			return err
		})
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s: %v", tt.name, err)
		case tt.want != "" && (!IsRefusal(err) || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%s: %v, want a refusal saying %q", tt.name, err, tt.want)
		}
	}
	var inv store.Invite
	if err := st.View(func(tx *store.Tx) (err error) { inv, err = tx.GetInvite(SecretHash(expired)); return }); err != nil || inv.UsedBy != "" {
		t.Errorf("a refused claim changed the invitation: %+v, %v", inv, err)
	}
}

func TestInvitationCheck(t *testing.T) {
	self, other := newPeerID(t), newPeerID(t)
	now := time.Now()
	for _, tt := range []struct {
		name string
		inv  Invitation
		want string
	}{
		{"open", Invitation{Peer: other, Expires: now.Add(time.Hour)}, ""},
		{"own", Invitation{Peer: self, Expires: now.Add(time.Hour)}, "issued by this node"},
		{"expired", Invitation{Peer: other, Expires: now.Add(-time.Hour)}, "this invitation expired at"},
	} {
		err := tt.inv.Check(self, now)
		var r Refusal
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s: %v", tt.name, err)
		case tt.want != "" && (!errors.As(err, &r) || !strings.Contains(r.Reason, tt.want)):
			t.Errorf("%s: %v, want a refusal saying %q", tt.name, err, tt.want)
		}
	}
}
