package replica

import (
	"fmt"

	"github.com/vmihailenco/msgpack/v5"
)

// allocFactor and allocSlack bound what Unmarshal lets a message allocate:
// allocFactor times its size plus allocSlack, as estimated by the pre-scan.
// Real messages stay well below (their strings dominate); a frame of empty
// arrays or nils, which a decoder blows up 16-fold, does not.
const (
	allocFactor = 4
	allocSlack  = 64 << 10
)

// Unmarshal decodes one msgpack message b into v, as msgpack.Unmarshal
// would, but only after the pre-scan (prescan.go) found it well-formed and
// within the codec's limits: nesting at most MaxDepth levels (so the
// library's recursive decoder cannot exhaust the stack), no declared length
// beyond what the bytes can hold or beyond MaxStringLen and MaxListLen, no
// trailing bytes, and an estimated allocation of at most allocFactor times
// len(b) plus allocSlack. With the frame limit of the stream, this bounds
// the memory any message from the network can cost.
//
// Every message read from the network by reflection goes through here; the
// hand-written decoders (UnmarshalEvent, UnmarshalAcks, the attachment
// messages) run the same pre-scan. It does not check a version: the caller
// compares the message's own version field. Errors wrap ErrMalformed.
func Unmarshal(b []byte, v any) error {
	_, alloc, err := scan(b)
	if err != nil {
		return err
	}
	if limit := allocFactor*len(b) + allocSlack; alloc > limit {
		return malformed("message of %d bytes would allocate about %d bytes, over the %d-byte budget", len(b), alloc, limit)
	}
	if err := msgpack.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return nil
}
