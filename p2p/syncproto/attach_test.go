package syncproto

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/issuemesh/issuemesh/internal/testutil"
	"github.com/issuemesh/issuemesh/replica"
)

type testFiles struct {
	body []byte
	size int64 // the size claimed
	err  error
}

func (f testFiles) OpenShared(ctx context.Context, remote peer.ID, q replica.AttachRequest) (io.ReadCloser, int64, error) {
	if f.err != nil {
		return nil, 0, f.err
	}
	return io.NopCloser(bytes.NewReader(f.body)), f.size, nil
}

func TestFetch(t *testing.T) {
	body := bytes.Repeat([]byte("0123456789"), replica.MaxAttachChunk/5) // two chunks
	sum := sha256.Sum256(body)
	size := int64(len(body))
	for _, tc := range []struct {
		name    string
		files   testFiles
		want    int64 // the size agreed in the replica
		wantErr error
	}{
		{"whole file", testFiles{body: body, size: size}, size, nil},
		{"refused", testFiles{err: errors.New("twin is not synced with you here")}, size, ErrFetch},
		{"other size offered", testFiles{body: body, size: size}, size - 1, ErrBadFile},
		{"tracker gives more than it offered", testFiles{body: body, size: size - 1}, size - 1, ErrFetch},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hs := linked(t, 2)
			ah := &AttachHandler{Files: tc.files, Run: context.Background, Logger: discard()}
			hs[1].SetStreamHandler(ProtoAttach, ah.Handle)
			var got bytes.Buffer
			n, digest, err := Fetch(context.Background(), hs[0], nil, hs[1].ID(), FileRef{Twin: "t", ID: "f", Digest: hex.EncodeToString(sum[:]), Size: tc.want}, &got)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("Fetch = %v, want an error wrapping %v", err, tc.wantErr)
				}
				return
			}
			if err != nil || n != size || digest != hex.EncodeToString(sum[:]) || !bytes.Equal(got.Bytes(), body) {
				t.Fatalf("Fetch = %d bytes, %s, %v; want %d bytes with their SHA-256", n, digest, err, size)
			}
		})
	}
}

// stallFiles serves body, holding its reader after the first chunk until
// release is closed.
type stallFiles struct {
	body    []byte
	release chan struct{}
}

func (f stallFiles) OpenShared(ctx context.Context, remote peer.ID, q replica.AttachRequest) (io.ReadCloser, int64, error) {
	first := bytes.NewReader(f.body[:replica.MaxAttachChunk])
	rest := bytes.NewReader(f.body[replica.MaxAttachChunk:])
	return io.NopCloser(io.MultiReader(first, stall(f.release), rest)), int64(len(f.body)), nil
}

// stall is a reader that gives nothing until release is closed.
type stall chan struct{}

func (s stall) Read([]byte) (int, error) {
	<-s
	return 0, io.EOF
}

// TestTransfersCountFilesMoving: while a file moves, both sides count it
// (one file, its size, the bytes so far) for queue and the progress bars;
// once it has moved, nothing is left counted.
func TestTransfersCountFilesMoving(t *testing.T) {
	body := bytes.Repeat([]byte("0123456789"), replica.MaxAttachChunk/2) // five chunks
	sum := sha256.Sum256(body)
	size := int64(len(body))
	hs := linked(t, 2)
	var sending, receiving Transfers
	release := make(chan struct{})
	ah := &AttachHandler{Files: stallFiles{body: body, release: release}, Run: context.Background, Logger: discard(), Transfers: &sending}
	hs[1].SetStreamHandler(ProtoAttach, ah.Handle)
	var got bytes.Buffer
	done := make(chan error, 1)
	go func() {
		_, _, err := Fetch(context.Background(), hs[0], &receiving, hs[1].ID(), FileRef{Twin: "t", ID: "f", Digest: hex.EncodeToString(sum[:]), Size: size}, &got)
		done <- err
	}()
	first := FileProgress{Files: 1, Done: replica.MaxAttachChunk, Total: size}
	testutil.WaitFor(t, 10*time.Second, "both sides to count the first chunk of one file", func() bool {
		return sending.Of(hs[0].ID(), Sending) == first && receiving.Of(hs[1].ID(), Receiving) == first
	})
	if fp := sending.Of(hs[0].ID(), Receiving); fp != (FileProgress{}) {
		t.Errorf("the sender counts a file it does not receive: %+v", fp)
	}
	close(release)
	if err := <-done; err != nil || int64(got.Len()) != size {
		t.Fatalf("Fetch = %d bytes, %v; want %d", got.Len(), err, size)
	}
	testutil.WaitFor(t, 10*time.Second, "both sides to count nothing once the file has moved", func() bool {
		return sending.Of(hs[0].ID(), Sending) == FileProgress{} && receiving.Of(hs[1].ID(), Receiving) == FileProgress{}
	})
}
