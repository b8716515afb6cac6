package p2p

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Signed network events (DESIGN 5.6, 5.10). The author of a network event
// signs its frame with its identity key, and the envelope, not the bare
// frame, is what travels: published on the topic, archived by every member
// and served by catch-up. A member serving another author's events thus
// serves that author's signatures, and the asker checks them exactly as a
// gossiped event is checked, so no member can forge another's event.
//
// Envelope: the 4 bytes "IMS1", a uvarint signature length (at most
// MaxSignature), the signature, then the event frame. The signature is over
// signPrefix followed by the frame.

const (
	envMagic   = "IMS1"
	signPrefix = "issuemesh-net-event:"
	// MaxSignature bounds an envelope's signature (an Ed25519 one is 64
	// bytes).
	MaxSignature = 512
)

// ErrBadSignature is wrapped by VerifyEvent when the signature is not the
// author's.
var ErrBadSignature = errors.New("signature does not verify")

// ErrNotEnvelope is wrapped by OpenEvent for data that is no signed
// envelope (a bare event frame, as nodes before signed envelopes sent).
var ErrNotEnvelope = errors.New("not a signed event envelope")

// SignEvent wraps an event frame in an envelope signed with key.
func SignEvent(key crypto.PrivKey, frame []byte) ([]byte, error) {
	sig, err := key.Sign(append([]byte(signPrefix), frame...))
	if err != nil {
		return nil, fmt.Errorf("sign network event: %w", err)
	}
	out := make([]byte, 0, len(envMagic)+binary.MaxVarintLen64+len(sig)+len(frame))
	out = append(out, envMagic...)
	out = binary.AppendUvarint(out, uint64(len(sig)))
	out = append(out, sig...)
	return append(out, frame...), nil
}

// IsEnvelope reports whether b starts like a signed envelope.
func IsEnvelope(b []byte) bool { return bytes.HasPrefix(b, []byte(envMagic)) }

// OpenEvent splits an envelope into the event frame and its signature,
// without verifying it (the author is in the frame: VerifyEvent).
func OpenEvent(env []byte) (frame, sig []byte, err error) {
	if !IsEnvelope(env) {
		return nil, nil, ErrNotEnvelope
	}
	rest := env[len(envMagic):]
	n, k := binary.Uvarint(rest)
	if k <= 0 || n == 0 || n > MaxSignature || uint64(len(rest)-k) < n {
		return nil, nil, fmt.Errorf("%w: bad signature length", ErrNotEnvelope)
	}
	rest = rest[k:]
	return rest[n:], rest[:n], nil
}

// VerifyEvent checks that sig is author's signature of frame. The public
// key is the one inlined in the peer ID (Ed25519 identities).
func VerifyEvent(author peer.ID, frame, sig []byte) error {
	pub, err := author.ExtractPublicKey()
	if err != nil {
		return fmt.Errorf("%w: no public key in author %s: %v", ErrBadSignature, author, err)
	}
	ok, err := pub.Verify(append([]byte(signPrefix), frame...), sig)
	if err != nil || !ok {
		return fmt.Errorf("%w: not signed by its author %s", ErrBadSignature, author)
	}
	return nil
}

// Bundles. One gossipsub message may carry several envelopes of one
// author, so that a burst of events pays the per-message costs (gossipsub's
// signature and bookkeeping, the stream frames, the copies forwarded) once:
// the 4 bytes "IMB1", a uvarint count (1 to MaxBundleEnvelopes), then per
// envelope a uvarint length and the envelope. Every envelope keeps its own
// signature, so members archive and serve them one by one as before; a
// message that is one bare envelope (IsEnvelope) is still a message.

const (
	bundleMagic = "IMB1"
	// MaxBundleEnvelopes bounds the envelopes of one bundle.
	MaxBundleEnvelopes = 1024
	// MaxBundle bounds the envelopes of one bundle with their
	// BundleEntryOverhead (well under MaxPubSubMessage); an envelope too
	// large to share a bundle travels alone.
	MaxBundle = 1 << 20
)

// ErrNotBundle is wrapped by OpenBundle for data that is no well-formed
// bundle.
var ErrNotBundle = errors.New("not a bundle of event envelopes")

// IsBundle reports whether b starts like a bundle.
func IsBundle(b []byte) bool { return bytes.HasPrefix(b, []byte(bundleMagic)) }

// BundleEntryOverhead is at most what one envelope adds to a bundle
// beyond its own bytes (its length).
const BundleEntryOverhead = binary.MaxVarintLen64

// Bundle packs envelopes into one bundle (at least one, at most
// MaxBundleEnvelopes; the caller keeps it under MaxBundle).
func Bundle(envs [][]byte) []byte {
	size := len(bundleMagic) + binary.MaxVarintLen64
	for _, e := range envs {
		size += BundleEntryOverhead + len(e)
	}
	out := make([]byte, 0, size)
	out = append(out, bundleMagic...)
	out = binary.AppendUvarint(out, uint64(len(envs)))
	for _, e := range envs {
		out = binary.AppendUvarint(out, uint64(len(e)))
		out = append(out, e...)
	}
	return out
}

// OpenBundle splits a bundle into its envelopes (sub-slices of b), without
// opening or verifying them. Trailing bytes, an empty bundle or one of more
// than MaxBundleEnvelopes are refused.
func OpenBundle(b []byte) ([][]byte, error) {
	if !IsBundle(b) {
		return nil, ErrNotBundle
	}
	rest := b[len(bundleMagic):]
	count, k := binary.Uvarint(rest)
	if k <= 0 || count == 0 || count > MaxBundleEnvelopes {
		return nil, fmt.Errorf("%w: bad count", ErrNotBundle)
	}
	rest = rest[k:]
	envs := make([][]byte, 0, count)
	for range count {
		n, k := binary.Uvarint(rest)
		if k <= 0 || n == 0 || uint64(len(rest)-k) < n {
			return nil, fmt.Errorf("%w: envelope %d: bad length", ErrNotBundle, len(envs))
		}
		envs = append(envs, rest[k:k+int(n)])
		rest = rest[k+int(n):]
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("%w: %d bytes after the last envelope", ErrNotBundle, len(rest))
	}
	return envs, nil
}
