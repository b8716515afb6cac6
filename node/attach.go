package node

// Files (attachments) between nodes.
//
// A file's metadata travels in the replica like a comment (replica.Attachment,
// ID global, metadata never changing); its bytes never ride in events. A node
// applying an event whose rules attach a file it does not have (by global ID
// or digest) fetches the bytes from the event's origin over the attach
// protocol (/issuemesh/attach/1.0.0): a request naming the twin, the file's
// global ID and digest; a reply with the size (or why not); the bytes in
// frames of at most replica.MaxAttachChunk; an empty frame. The bytes go to a
// temporary file in the home's tmp folder, are checked against the agreed
// size and SHA-256, and are then attached through the tracker's
// adapters.Attachments. A failed fetch (peer unreachable, stream cut, the
// peer cannot serve the file yet) is transient: the event is retried with the
// applier's backoff. Bytes that do not match are refused with an error that
// names the file, and the twin is blocked like for any refused change.
//
// The serving side answers only for a twin linked with the asking peer
// (directly, or through a network the peer is a member of), for a file in
// that link's agreed replica with that digest, reading it from its tracker.

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/node/rules"
	"github.com/issuemesh/issuemesh/p2p"
	"github.com/issuemesh/issuemesh/replica"
	"github.com/issuemesh/issuemesh/store"
)

const (
	// attachIdle bounds the wait for each frame of a file transfer, and
	// for opening the stream.
	attachIdle = 30 * time.Second
	// maxFetch is the largest file a node fetches (it is held on disk
	// meanwhile); trackers have their own, usually smaller, limits.
	maxFetch = 256 << 20
	// attachTmp is the home's folder for files being fetched.
	attachTmp = "tmp"
)

// errFetch marks a file transfer that failed on the way: transient.
var errFetch = errors.New("fetching a file from the peer failed")

// attachFiles fetches the files the incoming rules attach and that the
// issue does not have yet, attaches them, and returns the issue as it is
// afterwards. A tracker without adapters.Attachments keeps no files: the
// files are left out.
func (n *Node) attachFiles(ctx context.Context, ev replica.Event, issue adapters.Issue, files []adapters.Attachment) (adapters.Issue, error) {
	at, ok := n.tracker.(adapters.Attachments)
	if !ok {
		n.log.Debug("the tracker keeps no files; received files are left out", "key", issue.Key, "files", len(files))
		return issue, nil
	}
	added := 0
	for _, f := range files {
		if rules.HasFile(n.self.String(), issue.Attachments, f.SyncID, f.Digest) {
			continue
		}
		if err := n.fetchAndAttach(ctx, at, ev, issue.Key, f); err != nil {
			return issue, err
		}
		added++
	}
	if added == 0 {
		return issue, nil
	}
	after, err := n.tracker.Get(ctx, issue.Key)
	if err != nil {
		return issue, fmt.Errorf("read %s back after attaching %d files: %w", issue.Key, added, err)
	}
	return after, nil
}

// fetchAndAttach fetches one file from the event's origin into a temporary
// file, checks it and attaches it to the issue with that key.
func (n *Node) fetchAndAttach(ctx context.Context, at adapters.Attachments, ev replica.Event, key string, f adapters.Attachment) error {
	what := fmt.Sprintf("file %q (%s) of %s", f.Filename, f.SyncID, key)
	if f.Size > maxFetch {
		return fmt.Errorf("%s: %d bytes, over this node's limit of %d: %w", what, f.Size, maxFetch, adapters.ErrRejected)
	}
	from, err := peer.Decode(ev.Origin)
	if err != nil {
		return fmt.Errorf("%s: the event's origin %q is not a peer ID: %w", what, ev.Origin, adapters.ErrRejected)
	}
	dir := filepath.Join(n.home, attachTmp)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("%s: create the folder for files being fetched: %w", what, err)
	}
	tmp, err := os.CreateTemp(dir, "fetch-*")
	if err != nil {
		return fmt.Errorf("%s: create a temporary file: %w", what, err)
	}
	defer func() {
		tmp.Close()
		os.Remove(tmp.Name())
	}()
	start := time.Now()
	size, digest, err := n.fetchFile(ctx, from, ev.Twin, f, tmp)
	if err != nil {
		if errors.Is(err, errFetch) {
			return fmt.Errorf("%s from peer %s: %w: %w", what, shortID(from), err, adapters.ErrUnavailable)
		}
		return fmt.Errorf("%s from peer %s: %w", what, shortID(from), err)
	}
	if size != f.Size || digest != f.Digest {
		return fmt.Errorf("%s from peer %s: the bytes received (%d, SHA-256 %s) are not the file shared (%d, SHA-256 %s): %w",
			what, shortID(from), size, digest, f.Size, f.Digest, adapters.ErrRejected)
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("%s: rewind the temporary file: %w", what, err)
	}
	got, err := at.AddAttachment(ctx, key, f, bufio.NewReaderSize(tmp, 256<<10))
	if err != nil {
		return fmt.Errorf("attach %s: %w", what, err)
	}
	n.log.Info("file received and attached", "key", key, "file", f.Filename, "id", f.SyncID, "bytes", size,
		"from", from, "tracker_id", got.ID, "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// fetchFile asks peer from for file f of twin and writes its bytes to w. It
// returns their size and SHA-256; errors on the way wrap errFetch.
func (n *Node) fetchFile(ctx context.Context, from peer.ID, twin string, f adapters.Attachment, w io.Writer) (_ int64, _ string, err error) {
	h := n.hostOrNil()
	if h == nil {
		return 0, "", fmt.Errorf("the node is not running: %w", errFetch)
	}
	req, err := replica.MarshalAttachRequest(&replica.AttachRequest{V: replica.Version, Twin: twin, ID: f.SyncID, Digest: f.Digest})
	if err != nil {
		return 0, "", fmt.Errorf("the file cannot be asked for: %w", err)
	}
	octx, cancel := context.WithTimeout(ctx, attachIdle)
	raw, err := p2p.OpenStream(octx, h, from, p2p.ProtoAttach)
	cancel()
	if err != nil {
		return 0, "", fmt.Errorf("%w: %w", errFetch, err)
	}
	s := p2p.Guard(ctx, raw)
	defer s.End(&err)
	s.SetWriteDeadline(time.Now().Add(attachIdle))
	if err := replica.WriteFrame(s, req); err != nil {
		return 0, "", fmt.Errorf("%w: send the request: %w", errFetch, err)
	}
	if err := s.CloseWrite(); err != nil {
		return 0, "", fmt.Errorf("%w: send the request: %w", errFetch, err)
	}
	br := bufio.NewReaderSize(s, 64<<10)
	s.SetReadDeadline(time.Now().Add(attachIdle))
	frame, err := replica.ReadFrame(br, 64<<10)
	if err != nil {
		return 0, "", fmt.Errorf("%w: read the reply: %w", errFetch, err)
	}
	rep, err := replica.UnmarshalAttachReply(frame)
	if err != nil {
		return 0, "", fmt.Errorf("%w: %w", errFetch, err)
	}
	if rep.Error != "" {
		return 0, "", fmt.Errorf("%w: the peer answered: %s", errFetch, rep.Error)
	}
	if rep.Size != f.Size {
		return 0, "", fmt.Errorf("the peer offers %d bytes, not the %d shared: %w", rep.Size, f.Size, adapters.ErrRejected)
	}
	hash := sha256.New()
	var size int64
	for {
		s.SetReadDeadline(time.Now().Add(attachIdle))
		chunk, err := replica.ReadFrame(br, replica.MaxAttachChunk)
		if err != nil {
			if ctx.Err() != nil {
				return size, "", ctx.Err()
			}
			return size, "", fmt.Errorf("%w: after %d of %d bytes: %w", errFetch, size, f.Size, err)
		}
		if len(chunk) == 0 {
			break
		}
		size += int64(len(chunk))
		if size > f.Size {
			return size, "", fmt.Errorf("the peer sends more than the %d bytes shared: %w", f.Size, adapters.ErrRejected)
		}
		hash.Write(chunk)
		if _, err := w.Write(chunk); err != nil {
			return size, "", fmt.Errorf("write the temporary file: %w", err)
		}
	}
	return size, hex.EncodeToString(hash.Sum(nil)), nil
}

// handleAttach serves the bytes of a file to a peer that the file was
// shared with.
func (n *Node) handleAttach(s network.Stream) {
	remote := s.Conn().RemotePeer()
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	stop := context.AfterFunc(n.runContext(), func() { s.Reset() })
	defer stop()
	br := bufio.NewReaderSize(s, 4<<10)
	s.SetReadDeadline(time.Now().Add(attachIdle))
	frame, err := replica.ReadFrame(br, 64<<10)
	var q replica.AttachRequest
	if err == nil {
		q, err = replica.UnmarshalAttachRequest(frame)
	}
	if err != nil {
		n.streamError(s, "attach", err)
		return
	}
	reply := func(r replica.AttachReply) error {
		r.V = replica.Version
		b, err := replica.MarshalAttachReply(&r)
		if err != nil {
			return err
		}
		s.SetWriteDeadline(time.Now().Add(attachIdle))
		return replica.WriteFrame(s, b)
	}
	body, size, err := n.openShared(ctx, remote, q)
	if err != nil {
		n.log.Info("refused to send a file", "peer", remote, "twin", q.Twin, "file", q.ID, "err", err)
		if rerr := reply(replica.AttachReply{Error: err.Error()}); rerr != nil {
			s.Reset()
			return
		}
		s.CloseWrite()
		s.Close()
		return
	}
	defer body.Close()
	if err := reply(replica.AttachReply{Size: size}); err != nil {
		s.Reset()
		return
	}
	start := time.Now()
	buf := make([]byte, replica.MaxAttachChunk)
	var sent int64
	for {
		k, rerr := io.ReadFull(body, buf)
		if k > 0 {
			if sent+int64(k) > size {
				rerr = fmt.Errorf("the tracker gives more than the %d bytes agreed", size)
			} else {
				s.SetWriteDeadline(time.Now().Add(attachIdle))
				if err := replica.WriteFrame(s, buf[:k]); err != nil {
					n.log.Debug("sending a file failed", "peer", remote, "file", q.ID, "err", err)
					s.Reset()
					return
				}
				sent += int64(k)
			}
		}
		if errors.Is(rerr, io.EOF) || errors.Is(rerr, io.ErrUnexpectedEOF) {
			break
		}
		if rerr != nil {
			n.log.Warn("reading a file from the tracker to send it failed", "peer", remote, "twin", q.Twin, "file", q.ID, "err", rerr)
			s.Reset()
			return
		}
	}
	if sent != size {
		n.log.Warn("the tracker gave fewer bytes than the file has", "peer", remote, "twin", q.Twin, "file", q.ID, "sent", sent, "size", size)
		s.Reset()
		return
	}
	s.SetWriteDeadline(time.Now().Add(attachIdle))
	if err := replica.WriteFrame(s, nil); err != nil {
		s.Reset()
		return
	}
	s.CloseWrite()
	s.Close()
	n.log.Info("file sent", "peer", remote, "twin", q.Twin, "file", q.ID, "bytes", sent, "took", time.Since(start).Round(time.Millisecond))
}

// openShared checks that file q.ID of twin q.Twin was shared with peer
// remote (with that digest) and opens its bytes in the tracker.
func (n *Node) openShared(ctx context.Context, remote peer.ID, q replica.AttachRequest) (io.ReadCloser, int64, error) {
	at, ok := n.tracker.(adapters.Attachments)
	if !ok {
		return nil, 0, errors.New("this node's tracker keeps no files")
	}
	var tw *store.Twin
	err := n.store.View(func(tx *store.Tx) (err error) { tw, err = tx.GetTwin(q.Twin); return })
	if err != nil || tw.LocalKey == "" {
		return nil, 0, fmt.Errorf("twin %s is not synced with you here", q.Twin)
	}
	shared := false
	for link, l := range tw.Links {
		if l == nil || l.Unsynced || !n.linkHas(link, remote) {
			continue
		}
		if a, ok := l.Agreed.Attachment(q.ID); ok && a.Digest == q.Digest {
			shared = true
			break
		}
	}
	if !shared {
		return nil, 0, fmt.Errorf("file %s with SHA-256 %s was not shared with you on twin %s", q.ID, q.Digest, q.Twin)
	}
	is, err := n.tracker.Get(ctx, tw.LocalKey)
	if err != nil {
		return nil, 0, fmt.Errorf("read %s: %w", tw.LocalKey, err)
	}
	for _, a := range is.Attachments {
		if rules.FileSyncID(n.self.String(), a) == q.ID && a.Digest == q.Digest {
			body, err := at.OpenAttachment(ctx, is.Key, a.ID)
			if err != nil {
				return nil, 0, fmt.Errorf("open file %s of %s: %w", a.Filename, is.Key, err)
			}
			return body, a.Size, nil
		}
	}
	return nil, 0, fmt.Errorf("%s no longer has file %s with SHA-256 %s", is.Key, q.ID, q.Digest)
}

// linkHas reports whether link (a peer ID, or "net:<network ID>") is
// remote's: the peer itself, or a network that remote is a member of.
func (n *Node) linkHas(link string, remote peer.ID) bool {
	if !isNetLink(link) {
		return link == remote.String()
	}
	return n.mesh.IsMember(link, remote)
}

// runContext is the context of the running node (cancelled when Run
// returns), or a cancelled one when it does not run.
func (n *Node) runContext() context.Context {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.runCtx != nil {
		return n.runCtx
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}
