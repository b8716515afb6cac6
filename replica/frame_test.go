package replica

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"
)

// countingWriter counts Write calls.
type countingWriter struct {
	bytes.Buffer
	writes int
}

func (w *countingWriter) Write(p []byte) (int, error) {
	w.writes++
	return w.Buffer.Write(p)
}

func TestFrameRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		size int
		max  int
	}{
		{"empty", 0, 10},
		{"one byte", 1, 10},
		{"127 bytes, one-byte length", 127, 1000},
		{"128 bytes, two-byte length", 128, 1000},
		{"exactly the limit", 1000, 1000},
		{"above the chunk size", frameChunk*3 + 17, DefaultMaxFrame},
		{"default limit", DefaultMaxFrame, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg := make([]byte, tt.size)
			for i := range msg {
				msg[i] = byte(i * 7)
			}
			var w countingWriter
			for range 3 {
				if err := WriteFrame(&w, msg); err != nil {
					t.Fatal(err)
				}
			}
			if w.writes != 3 {
				t.Fatalf("WriteFrame made %d Write calls for 3 frames, want one each", w.writes)
			}
			r := bufio.NewReader(&w.Buffer)
			for i := range 3 {
				got, err := ReadFrame(r, tt.max)
				if err != nil {
					t.Fatalf("frame %d: %v", i, err)
				}
				if got == nil || !bytes.Equal(got, msg) {
					t.Fatalf("frame %d: got %d bytes, want %d equal bytes", i, len(got), len(msg))
				}
			}
			if _, err := ReadFrame(r, tt.max); err != io.EOF {
				t.Fatalf("after the last frame: %v, want io.EOF", err)
			}
		})
	}
}

func TestReadFrameErrors(t *testing.T) {
	tests := []struct {
		name    string
		in      []byte
		max     int
		wantErr error
		wantMsg string
	}{
		{"clean end", nil, 10, io.EOF, "EOF"},
		{"cut inside the length", []byte{0x80}, 10, io.ErrUnexpectedEOF, "reading frame length"},
		{"cut inside the body", []byte{5, 1, 2}, 10, io.ErrUnexpectedEOF, "frame cut short after 2 of 5 bytes"},
		{"over the limit", []byte{11}, 10, ErrFrameTooLarge, "frame of 11 bytes exceeds the 10-byte limit"},
		{"default limit", []byte{0x81, 0x80, 0x80, 0x02}, 0, ErrFrameTooLarge, "frame of 4194305 bytes exceeds the 4194304-byte limit: frame too large"},
		{"2^64-1", []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, 10, ErrFrameTooLarge, "frame of 18446744073709551615 bytes"},
		{"overflowing varint", []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02}, 10, ErrMalformed, "not a valid uvarint"},
		{"11-byte varint", []byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00}, 10, ErrMalformed, "not a valid uvarint"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadFrame(bufio.NewReader(bytes.NewReader(tt.in)), tt.max)
			if !errors.Is(err, tt.wantErr) || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Fatalf("got %v, want %v mentioning %q", err, tt.wantErr, tt.wantMsg)
			}
		})
	}
}

// TestReadFrameCleanEOFIsUnwrapped: callers may compare with ==.
func TestReadFrameCleanEOFIsUnwrapped(t *testing.T) {
	if _, err := ReadFrame(bufio.NewReader(strings.NewReader("")), 0); err != io.EOF {
		t.Fatalf("got %#v, want io.EOF itself", err)
	}
}

type failingReader struct{ err error }

func (r failingReader) Read([]byte) (int, error) { return 0, r.err }

type failingWriter struct{ err error }

func (w failingWriter) Write([]byte) (int, error) { return 0, w.err }

func TestFrameIOErrorsPropagate(t *testing.T) {
	boom := errors.New("stream reset")
	if _, err := ReadFrame(bufio.NewReader(failingReader{boom}), 10); !errors.Is(err, boom) {
		t.Errorf("ReadFrame: %v, want the reader's error", err)
	}
	r := bufio.NewReader(io.MultiReader(bytes.NewReader([]byte{4, 1}), failingReader{boom}))
	if _, err := ReadFrame(r, 10); !errors.Is(err, boom) {
		t.Errorf("ReadFrame inside the body: %v, want the reader's error", err)
	}
	if err := WriteFrame(failingWriter{boom}, []byte("x")); !errors.Is(err, boom) {
		t.Errorf("WriteFrame: %v, want the writer's error", err)
	}
}

// allocatedBytes returns how many bytes f allocates.
func allocatedBytes(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

func TestOversizedFrameRefusedWithoutAllocating(t *testing.T) {
	// The header declares 1 GiB, and the limit is 1 GiB - 1: nothing of the
	// body may be allocated.
	hdr := []byte{0x80, 0x80, 0x80, 0x80, 0x04}
	var err error
	n := allocatedBytes(func() {
		_, err = ReadFrame(bufio.NewReaderSize(bytes.NewReader(hdr), 16), 1<<30-1)
	})
	if !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("got %v, want ErrFrameTooLarge", err)
	}
	if n > 64<<10 {
		t.Fatalf("refusing an oversized frame allocated %d bytes", n)
	}
}

func TestShortFrameAllocatesWhatArrives(t *testing.T) {
	// A peer declares the full 4 MiB and sends 10 bytes: the reader commits
	// memory in step with the data, not with the claim.
	in := append([]byte{0x80, 0x80, 0x80, 0x02}, make([]byte, 10)...)
	var err error
	n := allocatedBytes(func() {
		_, err = ReadFrame(bufio.NewReaderSize(bytes.NewReader(in), 16), DefaultMaxFrame)
	})
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("got %v, want io.ErrUnexpectedEOF", err)
	}
	if n > 2*frameChunk {
		t.Fatalf("a 10-byte frame body claiming 4 MiB allocated %d bytes", n)
	}
}
