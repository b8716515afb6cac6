package syncproto

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"

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
			n, digest, err := Fetch(context.Background(), hs[0], hs[1].ID(), FileRef{Twin: "t", ID: "f", Digest: hex.EncodeToString(sum[:]), Size: tc.want}, &got)
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
