package mesh

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/issuemesh/issuemesh/api"
	"github.com/issuemesh/issuemesh/internal/backoff"
	"github.com/issuemesh/issuemesh/p2p"
	"github.com/issuemesh/issuemesh/replica"
	"github.com/issuemesh/issuemesh/store"
)

// Catch-up of a network (ProtoNetSync, see the package doc). The asker sends one
// request frame: the network and, per author, its complete mark (every
// event of the author up to it is in its archive or superseded there). The
// member asked answers with chunk frames of archived events above those
// marks, membership events first, then one last chunk with its own complete
// marks, which the asker adopts for the authors it knows as members. Frames
// are replica.WriteFrame frames of msgpack, within MaxSyncFrame.

const (
	SyncVersion = 1
	// netSyncTimeout bounds one catch-up exchange.
	netSyncTimeout = 2 * time.Minute
	// netSyncChunkSize is about how many bytes of events one answer frame holds.
	netSyncChunkSize = 1 << 20
	// MaxSyncFrame bounds one frame: a chunk, or one event of the largest
	// size with the chunk's envelope.
	MaxSyncFrame = replica.DefaultMaxFrame + 64<<10
	// netSyncMaxAuthors bounds the marks in a request or answer.
	netSyncMaxAuthors = replica.MaxListLen
	// netSyncTries and netSyncRetry: a failed catch-up is tried up to
	// netSyncTries times, the first retry after about netSyncRetry, then
	// doubling.
	netSyncTries = 4
	netSyncRetry = 500 * time.Millisecond
)

type SyncRequest struct {
	V   int               `msgpack:"v"`
	Net string            `msgpack:"net"`
	Had map[string]uint64 `msgpack:"had"`
	// Refused reports the asked member's own events the asker refused
	// (clocks too far ahead), at most maxRefusalReports.
	Refused []netRefusal `msgpack:"refused,omitempty"`
}

type SyncChunk struct {
	V      int               `msgpack:"v"`
	Events [][]byte          `msgpack:"ev,omitempty"`
	Done   bool              `msgpack:"done,omitempty"`
	Marks  map[string]uint64 `msgpack:"marks,omitempty"`
	Error  string            `msgpack:"error,omitempty"`
}

// netSyncPeer starts a catch-up with id in every running network it is a
// member of (it just connected).
func (n *Mesh) netSyncPeer(id peer.ID) {
	n.nets.mu.Lock()
	var nets []*netState
	for _, ns := range n.nets.running {
		if id != n.self && ns.isJoined(id) {
			nets = append(nets, ns)
		}
	}
	n.nets.mu.Unlock()
	for _, ns := range nets {
		n.netSyncLater(ns, id)
	}
}

// netSyncAll starts a catch-up with every connected member of every running
// network.
func (n *Mesh) netSyncAll() {
	n.nets.mu.Lock()
	h := n.nets.h
	var nets []*netState
	for _, ns := range n.nets.running {
		nets = append(nets, ns)
	}
	n.nets.mu.Unlock()
	for _, ns := range nets {
		for _, id := range ns.members() {
			if id != n.self && p2p.IsConnected(h, id) {
				n.netSyncLater(ns, id)
			}
		}
	}
}

// netGap is an author's gap in a network: the complete mark when it was
// seen, the newest sequence seen above it, and since when it is open.
type netGap struct {
	mark, seen uint64
	since      time.Time
}

// netSyncGap notes that gossip delivered events of author up to seq while
// its complete mark is below (an earlier one is missing). Gossip delivers
// out of order (a message takes several paths, and a publisher validates
// its messages concurrently), so the author is asked only if a gap stays
// open for netGapWait.
func (n *Mesh) netSyncGap(ns *netState, author peer.ID, mark, seen uint64) {
	key := ns.id + "/" + author.String()
	n.nets.mu.Lock()
	defer n.nets.mu.Unlock()
	if n.nets.ctx == nil || n.nets.ctx.Err() != nil {
		return
	}
	if g := n.nets.gaps[key]; g != nil {
		if g.seen <= mark { // that gap is closed: this is a new one
			g.mark, g.since = mark, time.Now()
		}
		g.seen = max(g.seen, seen)
		return
	}
	n.nets.gaps[key] = &netGap{mark: mark, seen: seen, since: time.Now()}
	ctx := n.nets.ctx
	var check func()
	check = func() {
		if ctx.Err() != nil {
			return
		}
		var mark uint64
		err := n.store.View(func(tx *store.Tx) (err error) { mark, err = tx.NetMark(ns.id, author.String()); return })
		n.nets.mu.Lock()
		g := n.nets.gaps[key]
		switch {
		case err == nil && mark >= g.seen: // filled by gossip
			delete(n.nets.gaps, key)
			n.nets.mu.Unlock()
			return
		case err == nil && mark > g.mark: // moved: give the rest its time
			g.mark, g.since = mark, time.Now()
		}
		if wait := netGapWait - time.Since(g.since); wait > 0 {
			n.nets.mu.Unlock()
			time.AfterFunc(wait, check)
			return
		}
		delete(n.nets.gaps, key)
		n.nets.mu.Unlock()
		n.log.Debug("an author's event is still missing; asking the author", "network", ns.name, "author", author, "complete_to", mark, "seen", g.seen)
		n.netSyncLater(ns, author)
	}
	time.AfterFunc(netGapWait, check)
}

// netSyncLater runs a catch-up with id in the background, at most one per
// network and member at a time; one asked for while another runs runs
// right after it (the member may have written more meanwhile).
func (n *Mesh) netSyncLater(ns *netState, id peer.ID) {
	key := ns.id + "/" + id.String()
	n.nets.mu.Lock()
	if n.nets.ctx == nil || n.nets.ctx.Err() != nil {
		n.nets.mu.Unlock()
		return
	}
	if _, running := n.nets.syncing[key]; running {
		n.nets.syncing[key] = true // again
		n.nets.mu.Unlock()
		return
	}
	n.nets.syncing[key] = false
	ctx := n.nets.ctx
	n.nets.mu.Unlock()
	n.goRun(ctx, "network catch-up", func(ctx context.Context) error {
		for {
			// A failed exchange (often a connection the member's restart
			// left dead) is tried again a few times, soon.
			b := backoff.New(netSyncRetry, netSyncRetry<<netSyncTries)
			for try := 1; ; try++ {
				err := n.catchUp(ctx, ns, id)
				if err == nil || ctx.Err() != nil || errors.Is(err, errForged) {
					break // a forger is not asked again until the next occasion
				}
				n.log.Debug("network catch-up failed", "network", ns.name, "peer", id, "try", try, "err", err)
				if try == netSyncTries || !b.Wait(ctx) {
					break
				}
			}
			n.nets.mu.Lock()
			again := n.nets.syncing[key] && ctx.Err() == nil
			if !again {
				delete(n.nets.syncing, key)
			} else {
				n.nets.syncing[key] = false
			}
			n.nets.mu.Unlock()
			if !again {
				return nil
			}
		}
	})
}

// CatchUps counts the catch-ups running or due (api.Status.CatchUps): one
// per network and member running, and those due after a member joined a
// topic.
func (n *Mesh) CatchUps() int {
	n.nets.mu.Lock()
	defer n.nets.mu.Unlock()
	return len(n.nets.syncing) + n.nets.settles
}

// CatchUp asks member id of a running network for the events this node
// lacks (as on connect).
func (n *Mesh) CatchUp(ctx context.Context, netID string, id peer.ID) error {
	ns := n.netByID(netID)
	if ns == nil {
		return fmt.Errorf("%w: network %s does not run here", api.ErrBadRequest, netID)
	}
	return n.catchUp(ctx, ns, id)
}

// catchUp asks member id for the events of the network this node lacks and
// logs them like events received by gossip.
func (n *Mesh) catchUp(ctx context.Context, ns *netState, id peer.ID) (err error) {
	h := n.host()
	if h == nil {
		return errors.New("node is not running")
	}
	req := SyncRequest{V: SyncVersion, Net: ns.id, Refused: n.takeReports(ns, id)}
	delivered := false
	defer func() {
		if !delivered {
			n.giveBackReports(ns, id, req.Refused)
		}
	}()
	if err := n.store.View(func(tx *store.Tx) (err error) { req.Had, err = tx.NetMarks(ns.id); return }); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, netSyncTimeout)
	defer cancel()
	// A read waits for the deadline, not for ctx: a node shutting down (or
	// a member dead behind a connection not yet timed out) must not keep
	// this exchange, and with it the node's shutdown, waiting; so the
	// exchange resets the stream when ctx ends.
	s, err := p2p.Dial(ctx, h, id, p2p.ProtoNetSync)
	if err != nil {
		return err
	}
	defer s.End(&err)
	b, err := msgpack.Marshal(&req)
	if err != nil {
		return err
	}
	if err := replica.WriteFrame(s, b); err != nil {
		return fmt.Errorf("catch-up request to %s: %w", id, err)
	}
	if err := s.CloseWrite(); err != nil {
		return err
	}
	br := bufio.NewReaderSize(s, 64<<10)
	delivered = true
	seen := map[string]uint64{} // per author, the greatest seq the answer held
	got := 0
	for {
		frame, err := replica.ReadFrame(br, MaxSyncFrame)
		if err != nil {
			return fmt.Errorf("catch-up answer from %s: %w", id, err)
		}
		var chunk SyncChunk
		if err := replica.Unmarshal(frame, &chunk); err != nil {
			return fmt.Errorf("catch-up answer from %s: %w", id, err)
		}
		switch {
		case chunk.V != SyncVersion:
			return fmt.Errorf("catch-up answer from %s of version %d, this node speaks %d: %w", id, chunk.V, SyncVersion, replica.ErrVersion)
		case chunk.Error != "":
			return fmt.Errorf("%s refused the catch-up: %s", id, chunk.Error)
		case len(chunk.Marks) > netSyncMaxAuthors:
			return fmt.Errorf("catch-up answer from %s with %d marks: %w", id, len(chunk.Marks), replica.ErrMalformed)
		}
		// Each event is verified as a gossiped one (verifyNetEvent): an
		// event its author did not sign refuses the whole answer and
		// scores the member down; one clocked too far ahead is left out.
		items := make([]netItem, 0, len(chunk.Events))
		for _, f := range chunk.Events {
			it, err := n.verifyNetEvent(ns, f)
			switch {
			case errors.Is(err, replica.ErrClockAhead):
				n.refusedNet(ns, id, &it.ev, err)
				seen[it.ev.Origin] = max(seen[it.ev.Origin], it.ev.Seq) // authentic: refused, not missing
				continue
			case errors.Is(err, errForged):
				n.forgery(ns, id, err)
				return fmt.Errorf("catch-up answer from %s: %w", id, err)
			case err != nil:
				return fmt.Errorf("catch-up answer from %s: %w", id, err)
			}
			items = append(items, it)
			seen[it.ev.Origin] = max(seen[it.ev.Origin], it.ev.Seq)
		}
		if len(items) > 0 {
			if _, err := n.netIngest(ctx, ns, items, true); err != nil {
				return err
			}
			got += len(items)
		}
		if chunk.Done {
			if err := n.adoptMarks(ctx, ns, capMarks(chunk.Marks, req.Had, seen)); err != nil {
				return err
			}
			if got > 0 {
				n.log.Info("caught up from a member", "network", ns.name, "peer", id, "events", got)
			}
			return nil
		}
	}
}

// capMarks bounds the marks a member answered with: a member vouches
// that it held every event of an author up to its mark, and it served
// every one above the asker's mark (had) it holds, so a mark above both
// had and the greatest seq served (seen) claims events that do not exist,
// and adopting it would keep this node from ever fetching the author's
// next events. An honest member's marks pass unchanged.
func capMarks(marks, had, seen map[string]uint64) map[string]uint64 {
	out := make(map[string]uint64, len(marks))
	for author, m := range marks {
		out[author] = min(m, max(had[author], seen[author]))
	}
	return out
}

// adoptMarks raises this node's complete marks to the answering member's,
// for the authors that are or were members here: it now holds all their
// events up to those marks (or newer ones of the same twins).
func (n *Mesh) adoptMarks(ctx context.Context, ns *netState, marks map[string]uint64) error {
	self := n.self.String()
	return n.store.Update(ctx, func(tx *store.Tx) error {
		rec, err := tx.GetNetwork(ns.id)
		if err != nil {
			return err
		}
		for author, m := range marks {
			if author == self || rec.Member(author) == nil {
				continue
			}
			if _, err := tx.SetNetMark(ns.id, author, netSource(ns.id, author), m); err != nil {
				return err
			}
		}
		return nil
	})
}

// handleNetSync answers a member's catch-up request from the archive.
func (n *Mesh) handleNetSync(s network.Stream) {
	remote := s.Conn().RemotePeer()
	s.SetDeadline(time.Now().Add(netSyncTimeout))
	br := bufio.NewReaderSize(s, 16<<10)
	frame, err := replica.ReadFrame(br, MaxSyncFrame)
	var req SyncRequest
	if err == nil {
		err = replica.Unmarshal(frame, &req)
	}
	if err == nil && len(req.Had) > netSyncMaxAuthors {
		err = fmt.Errorf("%w: %d marks, the limit is %d", replica.ErrMalformed, len(req.Had), netSyncMaxAuthors)
	}
	if err != nil {
		n.streamError(s, "netsync", err)
		return
	}
	w := bufio.NewWriterSize(s, 64<<10)
	send := func(c *SyncChunk) error {
		c.V = SyncVersion
		b, err := msgpack.Marshal(c)
		if err != nil {
			return err
		}
		if err := replica.WriteFrame(w, b); err != nil {
			return err
		}
		return w.Flush()
	}
	refuse := func(reason string) {
		n.log.Warn("refused a catch-up request", "peer", remote, "network", req.Net, "reason", reason)
		if err := send(&SyncChunk{Error: reason}); err != nil {
			s.Reset()
			return
		}
		s.CloseWrite()
		s.Close()
	}
	if req.V != SyncVersion {
		refuse(fmt.Sprintf("catch-up request of version %d; this node speaks version %d", req.V, SyncVersion))
		return
	}
	var (
		entries []store.NetEntry
		marks   map[string]uint64
		rec     *store.Network
	)
	err = n.store.View(func(tx *store.Tx) error {
		var err error
		if rec, err = tx.GetNetwork(req.Net); err != nil {
			return err
		}
		if entries, _, err = tx.NetArchive(req.Net, MemberTwin, req.Had, 1<<30); err != nil {
			return err
		}
		marks, err = tx.NetMarks(req.Net)
		return err
	})
	switch {
	case errors.Is(err, store.ErrNotFound):
		refuse("this node is not in that network")
		return
	case err != nil:
		n.log.Error("reading the network archive failed", "network", req.Net, "err", err)
		refuse("this node could not read its archive; ask another member")
		return
	case rec.Left:
		refuse("this node has left the network")
		return
	case !rec.Member(remote.String()).Joined():
		refuse("you are not a member of the network here (yet)")
		return
	}
	n.reportedRefusals(req.Net, remote, req.Refused)
	var chunk SyncChunk
	size := 0
	for _, e := range entries {
		var frame []byte
		err := n.store.View(func(tx *store.Tx) (err error) { frame, err = tx.NetFrame(req.Net, e.Author, e.Seq); return })
		if errors.Is(err, store.ErrNotFound) {
			continue // superseded meanwhile; the newer one goes next time
		}
		if err != nil {
			n.log.Error("reading the network archive failed", "network", req.Net, "err", err)
			s.Reset()
			return
		}
		if frame, err = n.servable(e.Author, frame); err != nil {
			// No author's signature: the asker would refuse it as forged.
			// Nor may it count it as held (adoptMarks): the author's mark
			// sent stays below it.
			if m, ok := marks[e.Author]; ok && m >= e.Seq {
				marks[e.Author] = e.Seq - 1
			}
			continue
		}
		if size > 0 && size+len(frame) > netSyncChunkSize {
			if err := send(&chunk); err != nil {
				n.streamError(s, "netsync", err)
				return
			}
			chunk, size = SyncChunk{}, 0
		}
		chunk.Events = append(chunk.Events, frame)
		size += len(frame)
	}
	if size > 0 {
		if err := send(&chunk); err != nil {
			n.streamError(s, "netsync", err)
			return
		}
	}
	if err := send(&SyncChunk{Done: true, Marks: marks}); err != nil {
		n.streamError(s, "netsync", err)
		return
	}
	s.CloseWrite()
	s.Close()
}

// servable returns an archived event as catch-up serves it: its author's
// signed envelope. Events archived before envelopes existed are bare
// frames: this node's own are signed now, other authors' cannot be and
// are not served (their authors serve them).
func (n *Mesh) servable(author string, archived []byte) ([]byte, error) {
	if p2p.IsEnvelope(archived) {
		return archived, nil
	}
	if author != n.self.String() {
		return nil, p2p.ErrNotEnvelope
	}
	return n.signNet(archived)
}
