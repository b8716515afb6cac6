package node

// Files (attachments) between nodes.
//
// A file's metadata travels in the replica like a comment (replica.Attachment,
// ID global, metadata never changing); its bytes never ride in events. A node
// applying an event whose rules attach a file it does not have (by global ID
// or digest) fetches the bytes from the event's origin over the attach
// protocol (/issuemesh/attach/1.0.0, p2p/syncproto/attach.go): a request
// naming the twin, the file's global ID and digest; a reply with the size (or why not); the bytes in
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
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/api"
	"github.com/issuemesh/issuemesh/mesh"
	"github.com/issuemesh/issuemesh/node/rules"
	"github.com/issuemesh/issuemesh/p2p/syncproto"
	"github.com/issuemesh/issuemesh/replica"
	"github.com/issuemesh/issuemesh/store"
)

const (
	// maxFetch is the largest file a node fetches (it is held on disk
	// meanwhile); trackers have their own, usually smaller, limits.
	maxFetch = 256 << 20
	// attachTmp is the home's folder for files being fetched.
	attachTmp = "tmp"
)

// errFetch marks a file transfer that failed on the way: transient.
var errFetch = syncproto.ErrFetch

// attachFiles fetches the files the incoming rules attach and that the
// issue does not have yet, attaches them, and returns the issue as it is
// afterwards. A tracker without adapters.Attachments keeps no files: the
// files are left out.
func (f nodeFiles) attachFiles(ctx context.Context, ev replica.Event, issue adapters.Issue, files []adapters.Attachment) (adapters.Issue, error) {
	n := f.n
	at, ok := n.tracker.(adapters.Attachments)
	if !ok {
		n.log.Debug("the tracker keeps no files; received files are left out", "key", issue.Key, "files", len(files))
		return issue, nil
	}
	added := 0
	for _, file := range files {
		if rules.HasFile(n.self.String(), issue.Attachments, file.SyncID, file.Digest) {
			continue
		}
		if err := f.fetchAndAttach(ctx, at, ev, issue.Key, file); err != nil {
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
func (nf nodeFiles) fetchAndAttach(ctx context.Context, at adapters.Attachments, ev replica.Event, key string, f adapters.Attachment) error {
	n := nf.n
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
	var size int64
	var digest string
	if h := n.hostOrNil(); h == nil {
		err = fmt.Errorf("the node is not running: %w", errFetch)
	} else {
		ref := syncproto.FileRef{Twin: ev.Twin, ID: f.SyncID, Digest: f.Digest, Size: f.Size}
		size, digest, err = syncproto.Fetch(ctx, h, &n.transfers, from, ref, tmp)
	}
	switch {
	case errors.Is(err, errFetch): // transient: the applier retries
		return fmt.Errorf("%s from peer %s: %w: %w", what, shortID(from), err, adapters.ErrUnavailable)
	case errors.Is(err, syncproto.ErrBadFile):
		return fmt.Errorf("%s from peer %s: %w: %w", what, shortID(from), err, adapters.ErrRejected)
	case err != nil:
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

// sharedFiles is the node's tracker as syncproto.Files: the bytes of the
// files it shares, for the attach protocol's serving side.
type sharedFiles struct{ n *Node }

// OpenShared checks that file q.ID of twin q.Twin was shared with peer
// remote (with that digest) and opens its bytes in the tracker.
func (f sharedFiles) OpenShared(ctx context.Context, remote peer.ID, q replica.AttachRequest) (io.ReadCloser, int64, error) {
	n := f.n
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
		if l == nil || l.Unsynced || !linkHas(n.mesh, link, remote) {
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
func linkHas(m *mesh.Mesh, link string, remote peer.ID) bool {
	if !isNetLink(link) {
		return link == remote.String()
	}
	return m.IsMember(link, remote)
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

// filesMoving is what queue shows of the files moving to or from peer id
// now (nil: none).
func (n *Node) filesMoving(id string, dir syncproto.Direction) *api.FileProgress {
	p, err := peer.Decode(id)
	if err != nil {
		return nil
	}
	fp := n.transfers.Of(p, dir)
	if fp.Files == 0 {
		return nil
	}
	return &api.FileProgress{Files: fp.Files, Bytes: fp.Done, Total: fp.Total}
}
