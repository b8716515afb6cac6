package pairing

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// TestNetworkInvitationCode: a code carries the network as an optional
// trailing field; a code in the format from before networks (built here
// byte by byte) still decodes, as a pairing.
func TestNetworkInvitationCode(t *testing.T) {
	key, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := peer.IDFromPrivateKey(key)
	addr, _ := ma.NewMultiaddr("/ip4/192.0.2.7/tcp/4001")
	secret := bytes.Repeat([]byte{7}, SecretSize)
	exp := time.Unix(2_000_000_000, 0)

	old := []byte{CodeVersion}
	old = AppendBytes(old, []byte(id))
	old = AppendBytes(old, secret)
	old = binary.AppendUvarint(old, uint64(exp.Unix()))
	old = binary.AppendUvarint(old, 1)
	old = AppendBytes(old, addr.Bytes())
	old = binary.BigEndian.AppendUint32(old, crc32.ChecksumIEEE(old))
	oldCode := Prefix + strings.ToLower(encoding.EncodeToString(old))

	pairing := Invitation{Peer: id, Addrs: []ma.Multiaddr{addr}, Secret: secret, Expires: exp}
	if got := pairing.Encode(); got != oldCode {
		t.Fatalf("a pairing code changed format:\n got %s\nwant %s", got, oldCode)
	}
	inv, err := Decode(oldCode)
	if err != nil || inv.Network != "" || inv.Peer != id || !bytes.Equal(inv.Secret, secret) {
		t.Fatalf("old code: %+v, %v", inv, err)
	}

	withNet := pairing
	withNet.Network, withNet.NetName = "0123456789abcdef01234567", "team-1"
	inv, err = Decode(withNet.Encode())
	if err != nil || inv.Network != withNet.Network || inv.NetName != "team-1" || inv.Peer != id {
		t.Fatalf("network code: %+v, %v", inv, err)
	}
	bad := pairing
	bad.Network, bad.NetName = "x", "no spaces allowed"
	if _, err := Decode(bad.Encode()); !errors.Is(err, ErrBadCode) {
		t.Fatalf("code with a bad network name: %v, want ErrBadCode", err)
	}
}
