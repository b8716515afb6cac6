package syncproto

// The attach protocol moves the bytes of a shared file; its metadata rides
// in the replica (replica.Attachment). The asker sends one request naming
// the twin, the file's global ID and digest; the owner answers with the
// size (or why not), then the bytes in frames of at most
// replica.MaxAttachChunk, then an empty frame.

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/issuemesh/issuemesh/p2p"
	"github.com/issuemesh/issuemesh/replica"
)

// ProtoAttach fetches the bytes of a shared file from the peer that shared
// it (request, reply, chunks; see replica.AttachRequest).
const ProtoAttach protocol.ID = "/issuemesh/attach/1.0.0"

// AttachIdle bounds the wait for each frame of a file transfer, and for
// opening the stream.
const AttachIdle = 30 * time.Second

var (
	// ErrFetch marks a file transfer that failed on the way (peer
	// unreachable, stream cut, the peer cannot serve the file yet):
	// transient.
	ErrFetch = errors.New("fetching a file from the peer failed")
	// ErrBadFile is a peer offering or sending other bytes than the file
	// shared: not worth retrying.
	ErrBadFile = errors.New("the peer's file is not the one shared")
)

// FileRef names a shared file: its twin, global ID and digest, and the
// size agreed in the replica.
type FileRef struct {
	Twin, ID, Digest string
	Size             int64
}

// Fetch asks peer from for file f over h and writes its bytes to w. It
// returns their size and SHA-256 (hex); the caller checks them against
// the file shared. Errors on the way wrap [ErrFetch], bytes that cannot
// be the file wrap [ErrBadFile]. The bytes are counted in t while they
// move (t may be nil).
func Fetch(ctx context.Context, h host.Host, t *Transfers, from peer.ID, f FileRef, w io.Writer) (_ int64, _ string, err error) {
	req, err := replica.MarshalAttachRequest(&replica.AttachRequest{V: replica.Version, Twin: f.Twin, ID: f.ID, Digest: f.Digest})
	if err != nil {
		return 0, "", fmt.Errorf("the file cannot be asked for: %w", err)
	}
	octx, cancel := context.WithTimeout(ctx, AttachIdle)
	raw, err := p2p.OpenStream(octx, h, from, ProtoAttach)
	cancel()
	if err != nil {
		return 0, "", fmt.Errorf("%w: %w", ErrFetch, err)
	}
	s := p2p.Guard(ctx, raw)
	defer s.End(&err)
	_ = s.SetWriteDeadline(time.Now().Add(AttachIdle))
	if err := replica.WriteFrame(s, req); err != nil {
		return 0, "", fmt.Errorf("%w: send the request: %w", ErrFetch, err)
	}
	if err := s.CloseWrite(); err != nil {
		return 0, "", fmt.Errorf("%w: send the request: %w", ErrFetch, err)
	}
	br := bufio.NewReaderSize(s, 64<<10)
	_ = s.SetReadDeadline(time.Now().Add(AttachIdle))
	frame, err := replica.ReadFrame(br, 64<<10)
	if err != nil {
		return 0, "", fmt.Errorf("%w: read the reply: %w", ErrFetch, err)
	}
	rep, err := replica.UnmarshalAttachReply(frame)
	if err != nil {
		return 0, "", fmt.Errorf("%w: %w", ErrFetch, err)
	}
	if rep.Error != "" {
		return 0, "", fmt.Errorf("%w: the peer answered: %s", ErrFetch, rep.Error)
	}
	if rep.Size != f.Size {
		return 0, "", fmt.Errorf("the peer offers %d bytes, not the %d shared: %w", rep.Size, f.Size, ErrBadFile)
	}
	hash := sha256.New()
	var size int64
	tr := t.begin(from, Receiving, f.Size)
	defer tr.end()
	for {
		_ = s.SetReadDeadline(time.Now().Add(AttachIdle))
		chunk, err := replica.ReadFrame(br, replica.MaxAttachChunk)
		if err != nil {
			if ctx.Err() != nil {
				return size, "", ctx.Err()
			}
			return size, "", fmt.Errorf("%w: after %d of %d bytes: %w", ErrFetch, size, f.Size, err)
		}
		if len(chunk) == 0 {
			break
		}
		size += int64(len(chunk))
		if size > f.Size {
			return size, "", fmt.Errorf("the peer sends more than the %d bytes shared: %w", f.Size, ErrBadFile)
		}
		hash.Write(chunk)
		if _, err := w.Write(chunk); err != nil {
			return size, "", fmt.Errorf("write the temporary file: %w", err)
		}
		tr.add(int64(len(chunk)))
	}
	return size, hex.EncodeToString(hash.Sum(nil)), nil
}

// Files opens the bytes of files this node shares (implemented by the
// node over its tracker and twins).
type Files interface {
	// OpenShared checks that file q.ID of twin q.Twin was shared with
	// peer remote (with that digest) and opens its bytes, of the size
	// returned. The error is sent to the peer as the reason.
	OpenShared(ctx context.Context, remote peer.ID, q replica.AttachRequest) (io.ReadCloser, int64, error)
}

// AttachHandler serves the bytes of shared files: register its Handle with
// p2p.Handle for [ProtoAttach].
type AttachHandler struct {
	Files Files
	// Run is the node's run context: its end resets transfers.
	Run    func() context.Context
	Logger *slog.Logger
	// Transfers counts the bytes being sent (nil: not counted).
	Transfers *Transfers
}

// Handle serves one request.
func (h *AttachHandler) Handle(raw network.Stream) {
	remote := raw.Conn().RemotePeer()
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	s := p2p.Guard(h.Run(), raw)
	var err error
	defer s.End(&err)
	br := bufio.NewReaderSize(s, 4<<10)
	_ = s.SetReadDeadline(time.Now().Add(AttachIdle))
	frame, err := replica.ReadFrame(br, 64<<10)
	var q replica.AttachRequest
	if err == nil {
		q, err = replica.UnmarshalAttachRequest(frame)
	}
	if err != nil {
		StreamError(h.Logger, raw, "attach", err)
		return
	}
	reply := func(r replica.AttachReply) error {
		r.V = replica.Version
		b, err := replica.MarshalAttachReply(&r)
		if err != nil {
			return err
		}
		_ = s.SetWriteDeadline(time.Now().Add(AttachIdle))
		return replica.WriteFrame(s, b)
	}
	body, size, oerr := h.Files.OpenShared(ctx, remote, q)
	if oerr != nil {
		h.Logger.Info("refused to send a file", "peer", remote, "twin", q.Twin, "file", q.ID, "err", oerr)
		err = reply(replica.AttachReply{Error: oerr.Error()})
		return
	}
	defer body.Close()
	if err = reply(replica.AttachReply{Size: size}); err != nil {
		return
	}
	start := time.Now()
	var sent int64
	if sent, err = h.send(s, body, size, q, remote); err != nil {
		return
	}
	_ = s.SetWriteDeadline(time.Now().Add(AttachIdle))
	if err = replica.WriteFrame(s, nil); err != nil {
		return
	}
	h.Logger.Info("file sent", "peer", remote, "twin", q.Twin, "file", q.ID, "bytes", sent, "took", time.Since(start).Round(time.Millisecond))
}

// send copies exactly size bytes of body to s in chunks. An error resets
// the stream (the asker retries); it is logged here.
func (h *AttachHandler) send(s *p2p.Exchange, body io.Reader, size int64, q replica.AttachRequest, remote peer.ID) (int64, error) {
	buf := make([]byte, replica.MaxAttachChunk)
	var sent int64
	tr := h.Transfers.begin(remote, Sending, size)
	defer tr.end()
	for {
		k, rerr := io.ReadFull(body, buf)
		if k > 0 {
			if sent+int64(k) > size {
				rerr = fmt.Errorf("the tracker gives more than the %d bytes agreed", size)
			} else {
				_ = s.SetWriteDeadline(time.Now().Add(AttachIdle))
				if err := replica.WriteFrame(s, buf[:k]); err != nil {
					h.Logger.Debug("sending a file failed", "peer", remote, "file", q.ID, "err", err)
					return sent, err
				}
				sent += int64(k)
				tr.add(int64(k))
			}
		}
		if errors.Is(rerr, io.EOF) || errors.Is(rerr, io.ErrUnexpectedEOF) {
			break
		}
		if rerr != nil {
			h.Logger.Warn("reading a file from the tracker to send it failed", "peer", remote, "twin", q.Twin, "file", q.ID, "err", rerr)
			return sent, rerr
		}
	}
	if sent != size {
		h.Logger.Warn("the tracker gave fewer bytes than the file has", "peer", remote, "twin", q.Twin, "file", q.ID, "sent", sent, "size", size)
		return sent, fmt.Errorf("%d of %d bytes", sent, size)
	}
	return sent, nil
}
