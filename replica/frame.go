package replica

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
)

// DefaultMaxFrame is the largest frame a node accepts unless configured
// otherwise: 4 MiB. Attachments travel in chunks below this limit.
const DefaultMaxFrame = 4 << 20

// Sentinel errors. Errors returned by this package wrap them with details, so
// test them with errors.Is.
var (
	// ErrFrameTooLarge reports a frame whose declared length is above the
	// reader's limit.
	ErrFrameTooLarge = errors.New("frame too large")
	// ErrMalformed reports bytes that are not a well-formed frame or
	// message, or a message that breaks a limit or lacks a required field.
	ErrMalformed = errors.New("malformed message")
	// ErrVersion reports a message of a major wire version this node does
	// not speak.
	ErrVersion = errors.New("unsupported message version")
)

// frameChunk bounds the memory ReadFrame commits ahead of the bytes that
// actually arrive: a frame longer than this is read in growing steps, so a
// peer that declares 4 MiB and sends 10 bytes costs 64 KiB, not 4 MiB.
const frameChunk = 64 << 10

// WriteFrame writes msg as one frame: its length as a uvarint, then its bytes.
// The frame goes out in a single Write call, so a bufio.Writer batches
// consecutive frames and a stream sees no partial header on its own.
//
// WriteFrame does not enforce a size limit; the reader does (see ReadFrame).
func WriteFrame(w io.Writer, msg []byte) error {
	buf := make([]byte, 0, binary.MaxVarintLen64+len(msg))
	buf = binary.AppendUvarint(buf, uint64(len(msg)))
	buf = append(buf, msg...)
	if _, err := w.Write(buf); err != nil {
		return fmt.Errorf("writing frame of %d bytes: %w", len(msg), err)
	}
	return nil
}

// ReadFrame reads one frame written by WriteFrame and returns its message.
// max is the largest message accepted; max <= 0 means DefaultMaxFrame.
//
// It returns io.EOF, unwrapped, when the stream ends cleanly before the first
// byte of a frame; an error wrapping io.ErrUnexpectedEOF when the stream ends
// inside a frame; an error wrapping ErrMalformed for a length prefix that is
// not a valid uvarint; and an error wrapping ErrFrameTooLarge, naming the
// limit, for a declared length above max. An oversized frame is refused from
// its header alone: nothing is allocated or read for its body, and the stream
// should then be reset since it is no longer aligned on a frame boundary.
func ReadFrame(r *bufio.Reader, max int) ([]byte, error) {
	if max <= 0 {
		max = DefaultMaxFrame
	}
	n, err := readUvarint(r)
	if err != nil {
		return nil, err
	}
	if n > uint64(max) {
		return nil, fmt.Errorf("frame of %d bytes exceeds the %d-byte limit: %w", n, max, ErrFrameTooLarge)
	}
	size := int(n)
	if size <= frameChunk {
		msg := make([]byte, size)
		if got, err := io.ReadFull(r, msg); err != nil {
			return nil, bodyError(got, size, err)
		}
		return msg, nil
	}
	// Large frame: grow with the data that arrives rather than trusting the
	// declared length up front.
	msg := make([]byte, 0, frameChunk)
	for len(msg) < size {
		if len(msg) == cap(msg) {
			msg = slices.Grow(msg, min(cap(msg), size-len(msg)))
		}
		want := min(cap(msg), size)
		got, err := io.ReadFull(r, msg[len(msg):want])
		msg = msg[:len(msg)+got]
		if err != nil {
			return nil, bodyError(len(msg), size, err)
		}
	}
	return msg, nil
}

// bodyError describes a failure while reading the body of a frame.
func bodyError(got, size int, err error) error {
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("frame cut short after %d of %d bytes: %w", got, size, err)
}

// readUvarint reads a frame's length prefix. Unlike binary.ReadUvarint it
// reports an overlong or overflowing varint as ErrMalformed.
func readUvarint(r io.ByteReader) (uint64, error) {
	var x uint64
	var s uint
	for i := range binary.MaxVarintLen64 {
		b, err := r.ReadByte()
		if err != nil {
			if i == 0 && err == io.EOF {
				return 0, io.EOF
			}
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return 0, fmt.Errorf("reading frame length: %w", err)
		}
		if b < 0x80 {
			if i == binary.MaxVarintLen64-1 && b > 1 {
				break // overflows 64 bits
			}
			return x | uint64(b)<<s, nil
		}
		x |= uint64(b&0x7f) << s
		s += 7
	}
	return 0, fmt.Errorf("frame length is not a valid uvarint (longer than %d bytes or above 2^64-1): %w",
		binary.MaxVarintLen64, ErrMalformed)
}
