package pairing

import (
	"crypto/sha256"
	"encoding/base32"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"regexp"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

const (
	// Prefix starts every invitation code.
	Prefix = "im1"
	// CodeVersion is the version byte of the codes this node writes.
	CodeVersion = 1
	// SecretSize is the length of an invitation's secret in bytes.
	SecretSize = 16
	// MaxAddrs is the most addresses of the inviter a code carries.
	MaxAddrs = 12
	// MaxTTL bounds how long an invitation may stay open.
	MaxTTL = 30 * 24 * time.Hour
	// Keep is how long used or expired invitations are kept (for clear
	// refusals of reused codes) before they are forgotten.
	Keep = 7 * 24 * time.Hour
	// maxSecret bounds the secret a code or a pair request may carry.
	maxSecret = 64
)

var encoding = base32.StdEncoding.WithPadding(base32.NoPadding)

var netNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// ValidNetworkName reports whether name may name a network: 1 to 64
// letters, digits, '.', '_' or '-', starting with a letter or digit.
func ValidNetworkName(name string) bool { return netNameRE.MatchString(name) }

// Invitation is the content of an invitation code.
type Invitation struct {
	Peer    peer.ID
	Addrs   []ma.Multiaddr
	Secret  []byte
	Expires time.Time
	// Network and NetName name the network the code joins; empty for a
	// pairing.
	Network, NetName string
}

// Encode is the invitation's code (see the package doc).
func (inv Invitation) Encode() string {
	b := []byte{CodeVersion}
	b = AppendBytes(b, []byte(inv.Peer))
	b = AppendBytes(b, inv.Secret)
	b = binary.AppendUvarint(b, uint64(inv.Expires.Unix()))
	b = binary.AppendUvarint(b, uint64(len(inv.Addrs)))
	for _, a := range inv.Addrs {
		b = AppendBytes(b, a.Bytes())
	}
	if inv.Network != "" {
		b = AppendBytes(b, []byte(inv.Network))
		b = AppendBytes(b, []byte(inv.NetName))
	}
	b = binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(b))
	return Prefix + strings.ToLower(encoding.EncodeToString(b))
}

// AppendBytes appends v to b with its uvarint length first, as a code's
// fields are.
func AppendBytes(b, v []byte) []byte {
	return append(binary.AppendUvarint(b, uint64(len(v))), v...)
}

// ErrBadCode is wrapped by Decode's errors.
var ErrBadCode = errors.New("not a valid invitation code")

// Decode parses a code. Blanks and line breaks inside it (from copying)
// are ignored.
func Decode(code string) (Invitation, error) {
	code = strings.Join(strings.Fields(code), "")
	if len(code) > 4096 {
		return Invitation{}, fmt.Errorf("%w: it is %d characters long", ErrBadCode, len(code))
	}
	if !strings.HasPrefix(strings.ToLower(code), Prefix) {
		return Invitation{}, fmt.Errorf("%w: it does not start with %q", ErrBadCode, Prefix)
	}
	b, err := encoding.DecodeString(strings.ToUpper(code[len(Prefix):]))
	if err != nil {
		return Invitation{}, fmt.Errorf("%w: %v (copied incompletely?)", ErrBadCode, err)
	}
	if len(b) < 5 {
		return Invitation{}, fmt.Errorf("%w: too short", ErrBadCode)
	}
	body, sum := b[:len(b)-4], binary.BigEndian.Uint32(b[len(b)-4:])
	if crc32.ChecksumIEEE(body) != sum {
		return Invitation{}, fmt.Errorf("%w: checksum mismatch (copied incompletely or changed?)", ErrBadCode)
	}
	if body[0] != CodeVersion {
		return Invitation{}, fmt.Errorf("%w: version %d; this node reads version %d (upgrade issuemesh?)", ErrBadCode, body[0], CodeVersion)
	}
	r := &byteReader{b: body[1:]}
	var inv Invitation
	idb := r.bytes(128)
	secret := r.bytes(maxSecret)
	expires := r.uvarint()
	n := r.uvarint()
	if r.err == nil && n > 32 {
		r.err = fmt.Errorf("%d addresses", n)
	}
	for i := uint64(0); r.err == nil && i < n; i++ {
		ab := r.bytes(512)
		if r.err != nil {
			break
		}
		a, err := ma.NewMultiaddrBytes(ab)
		if err != nil {
			r.err = fmt.Errorf("address %d: %v", i, err)
			break
		}
		inv.Addrs = append(inv.Addrs, a)
	}
	if r.err == nil && len(r.b) != 0 {
		inv.Network = string(r.bytes(64))
		inv.NetName = string(r.bytes(64))
		if r.err == nil && (inv.Network == "" || !ValidNetworkName(inv.NetName)) {
			r.err = errors.New("bad network")
		}
	}
	if r.err == nil && len(r.b) != 0 {
		r.err = errors.New("trailing bytes")
	}
	if r.err != nil {
		return Invitation{}, fmt.Errorf("%w: %v", ErrBadCode, r.err)
	}
	if inv.Peer, err = peer.IDFromBytes(idb); err != nil {
		return Invitation{}, fmt.Errorf("%w: peer ID: %v", ErrBadCode, err)
	}
	if len(secret) < SecretSize {
		return Invitation{}, fmt.Errorf("%w: secret too short", ErrBadCode)
	}
	inv.Secret = secret
	inv.Expires = time.Unix(int64(expires), 0)
	return inv, nil
}

type byteReader struct {
	b   []byte
	err error
}

func (r *byteReader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = errors.New("truncated")
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *byteReader) bytes(max int) []byte {
	n := r.uvarint()
	if r.err != nil {
		return nil
	}
	if n > uint64(max) || n > uint64(len(r.b)) {
		r.err = errors.New("truncated or oversized field")
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

// SecretHash is what the inviter stores of an invitation's secret.
func SecretHash(secret []byte) string {
	h := sha256.Sum256(secret)
	return hex.EncodeToString(h[:])
}
