package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/issuemesh/issuemesh/p2p"
	"github.com/issuemesh/issuemesh/replica"
)

// protoPipe is the baseline's own protocol: frames of events one way, an
// 8-byte ack (the last sequence of a committed batch) the other way.
const protoPipe protocol.ID = "/issuemesh-bench/pipe/1.0.0"

const (
	pipeBatch  = 256  // records per sender transaction (the sync log's sendBatch)
	pipeWindow = 4096 // records sent and not acked (syncproto.SendWindow)
)

// baselineDB opens Badger with the sync log's options (store.Open), durable.
func baselineDB(dir string) (*badger.DB, error) {
	return badger.Open(badger.DefaultOptions(dir).
		WithSyncWrites(true).
		WithLogger(nil).
		WithMemTableSize(16 << 20).
		WithNumMemtables(2).
		WithValueLogFileSize(64 << 20).
		WithBlockCacheSize(8 << 20).
		WithIndexCacheSize(8 << 20).
		WithNumCompactors(2).
		WithValueThreshold(1 << 10))
}

// baseline: figure 6. Two bare go-libp2p hosts built by p2p.NewHost (the
// node's transports, security and allowlist gater) on loopback TCP. The
// sender appends events of about 1 KiB durably to its Badger, a batch per
// transaction, and streams them; the receiver decodes them, appends each
// batch it has read durably in one transaction and acks it. Appending,
// sending, receiving and committing are pipelined. This is the ceiling of
// the stack issuemesh is built on; figure 2 is printed as a ratio of it.
func baseline(ctx context.Context, e *env) (err error) {
	dir, err := e.dir("baseline")
	if err != nil {
		return err
	}
	ka, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		return err
	}
	kb, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		return err
	}
	ida, _ := peer.IDFromPrivateKey(ka)
	idb, _ := peer.IDFromPrivateKey(kb)
	ha, err := p2p.NewHost(p2p.Config{Key: ka, Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Allow: p2p.NewAllowlist(idb)})
	if err != nil {
		return err
	}
	defer ha.Close()
	allowB := p2p.NewAllowlist(ida)
	hb, err := p2p.NewHost(p2p.Config{Key: kb, Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Allow: allowB})
	if err != nil {
		return err
	}
	defer hb.Close()
	dba, err := baselineDB(filepath.Join(dir, "a"))
	if err != nil {
		return err
	}
	defer dba.Close()
	dbb, err := baselineDB(filepath.Join(dir, "b"))
	if err != nil {
		return err
	}
	defer dbb.Close()
	p2p.Handle(hb, allowB, protoPipe, nil, func(s network.Stream) { receivePipe(s, dbb) })
	ha.Peerstore().AddAddrs(idb, hb.Addrs(), peerstore.PermanentAddrTTL)

	snd := &pipeSender{h: ha, to: idb, db: dba, origin: ida.String(), txt: e.txt}
	// Throughput: records streamed until the last one is acked.
	n := e.c.baseRecords
	m := startMeter()
	elapsed, err := snd.stream(ctx, n)
	cost := m.end()
	if err != nil {
		return err
	}
	e.baseline = float64(n) / elapsed.Seconds()
	e.add(result{"baseline_records", e.baseline, "records/s", "", fmt.Sprintf("%d records of ~1 KiB, durable Badger on both sides, batches of up to %d, window %d; CPU %.2f cores", n, pipeBatch, pipeWindow, cost.cpuCores)})

	// Round trip: one record at a time, durable on both sides.
	lat, err := snd.roundTrips(ctx, e.c.baseRTT)
	if err != nil {
		return err
	}
	s := summarise(lat)
	note := fmt.Sprintf("%d round trips: durable append, send, durable append, ack", s.n)
	e.add(result{"baseline_rtt_p50", ms(s.p50), "ms", "", note})
	e.add(result{"baseline_rtt_p99", ms(s.p99), "ms", "", note})
	return nil
}

type pipeSender struct {
	h      host.Host
	to     peer.ID
	db     *badger.DB
	origin string
	txt    *text
	seq    uint64
}

// appendBatch makes count events and appends them durably in one
// transaction; it returns their frames.
func (p *pipeSender) appendBatch(count int) ([][]byte, error) {
	frames := make([][]byte, 0, count)
	txn := p.db.NewTransaction(true)
	defer txn.Discard()
	now := time.Now()
	clk := replica.Clock{Wall: now.UnixMilli(), Peer: p.origin}
	for range count {
		p.seq++
		ev := replica.Event{
			V: replica.Version, ID: fmt.Sprintf("ev%d", p.seq), Twin: fmt.Sprintf("tw%d", p.seq%1000), Origin: p.origin,
			Seq: p.seq, SourceKey: fmt.Sprintf("LOCAL-%d", p.seq%1000+1), Sent: now.UnixNano(),
			Replica: replica.Replica{Fields: map[string]replica.Value{
				replica.FieldSummary:     {S: fmt.Sprintf("tp-%d r%d", p.seq%1000, p.seq/1000), Clock: clk},
				replica.FieldDescription: {S: p.txt.get(1000), Clock: clk},
				replica.FieldStatus:      {S: "Open", Clock: clk},
				replica.FieldPriority:    {S: "Normal", Clock: clk},
				replica.FieldLabels:      {L: []string{"bench"}, Clock: clk},
			}},
		}
		b, err := replica.MarshalEvent(&ev)
		if err != nil {
			return nil, err
		}
		if err := txn.Set(seqBytes("o/", p.seq), b); err != nil {
			return nil, err
		}
		frames = append(frames, b)
	}
	return frames, txn.Commit()
}

func seqBytes(prefix string, seq uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte(prefix), seq)
}

// open opens a pipe stream and starts reading its acks into acked.
func (p *pipeSender) open(ctx context.Context) (network.Stream, *atomic.Uint64, chan struct{}, chan error, error) {
	s, err := p2p.OpenStream(ctx, p.h, p.to, protoPipe)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	acked := &atomic.Uint64{}
	kick := make(chan struct{}, 1)
	failed := make(chan error, 1)
	go func() {
		br := bufio.NewReader(s)
		for {
			s.SetReadDeadline(time.Now().Add(time.Minute))
			f, err := replica.ReadFrame(br, 64)
			if err == nil && len(f) != 8 {
				err = fmt.Errorf("ack of %d bytes", len(f))
			}
			if err != nil {
				failed <- err
				return
			}
			acked.Store(binary.BigEndian.Uint64(f))
			select {
			case kick <- struct{}{}:
			default:
			}
		}
	}()
	return s, acked, kick, failed, nil
}

// waitAcked waits until acked reaches seq.
func waitAcked(ctx context.Context, acked *atomic.Uint64, kick chan struct{}, failed chan error, seq uint64) error {
	t := time.NewTimer(time.Minute)
	defer t.Stop()
	for acked.Load() < seq {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-failed:
			return fmt.Errorf("reading acks: %w", err)
		case <-t.C:
			return fmt.Errorf("no ack for record %d within a minute", seq)
		case <-kick:
		}
	}
	return nil
}

// stream sends n records, pipelined, and returns the time until the last
// one is acked.
func (p *pipeSender) stream(ctx context.Context, n int) (time.Duration, error) {
	s, acked, kick, failed, err := p.open(ctx)
	if err != nil {
		return 0, err
	}
	defer s.Close()
	start := time.Now()
	type batch struct {
		frames [][]byte
		last   uint64
		err    error
	}
	batches := make(chan batch, 4)
	go func() { // the appender runs ahead of the sender
		defer close(batches)
		for left := n; left > 0 && ctx.Err() == nil; {
			k := min(pipeBatch, left)
			frames, err := p.appendBatch(k)
			batches <- batch{frames, p.seq, err}
			if err != nil {
				return
			}
			left -= k
		}
	}()
	w := bufio.NewWriterSize(s, 64<<10)
	var last uint64
	for b := range batches {
		if b.err != nil {
			return 0, b.err
		}
		if b.last > pipeWindow {
			if err := waitAcked(ctx, acked, kick, failed, b.last-pipeWindow); err != nil {
				return 0, err
			}
		}
		s.SetWriteDeadline(time.Now().Add(time.Minute))
		for _, f := range b.frames {
			if err := replica.WriteFrame(w, f); err != nil {
				return 0, err
			}
		}
		if err := w.Flush(); err != nil {
			return 0, err
		}
		last = b.last
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if err := waitAcked(ctx, acked, kick, failed, last); err != nil {
		return 0, err
	}
	return time.Since(start), s.CloseWrite()
}

// roundTrips sends n records one at a time (append, send, wait for the
// ack) and returns each round trip's duration.
func (p *pipeSender) roundTrips(ctx context.Context, n int) ([]time.Duration, error) {
	s, acked, kick, failed, err := p.open(ctx)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	w := bufio.NewWriter(s)
	lat := make([]time.Duration, 0, n)
	for range n {
		t0 := time.Now()
		frames, err := p.appendBatch(1)
		if err != nil {
			return nil, err
		}
		s.SetWriteDeadline(time.Now().Add(time.Minute))
		if err := replica.WriteFrame(w, frames[0]); err != nil {
			return nil, err
		}
		if err := w.Flush(); err != nil {
			return nil, err
		}
		if err := waitAcked(ctx, acked, kick, failed, p.seq); err != nil {
			return nil, err
		}
		lat = append(lat, time.Since(t0))
	}
	return lat, s.CloseWrite()
}

// receivePipe is the receiving side: it reads frames and decodes them; a
// committer appends whatever has been read meanwhile in one durable
// transaction and acks the last sequence of it.
func receivePipe(s network.Stream, db *badger.DB) {
	type rx struct {
		seq   uint64
		frame []byte
	}
	batches := make(chan []rx, 16)
	done := make(chan error, 1)
	go func() {
		w := bufio.NewWriter(s)
		var err error
		for b := range batches {
			if err != nil {
				continue // drain
			}
		more: // take whatever else is queued: one transaction for all of it
			for len(b) < 4*pipeBatch {
				select {
				case nb, ok := <-batches:
					if !ok {
						break more
					}
					b = append(b, nb...)
				default:
					break more
				}
			}
			txn := db.NewTransaction(true)
			for _, r := range b {
				if err = txn.Set(seqBytes("i/", r.seq), r.frame); err != nil {
					break
				}
			}
			if err == nil {
				err = txn.Commit()
			}
			txn.Discard()
			if err == nil {
				s.SetWriteDeadline(time.Now().Add(time.Minute))
				if err = replica.WriteFrame(w, binary.BigEndian.AppendUint64(nil, b[len(b)-1].seq)); err == nil {
					err = w.Flush()
				}
			}
		}
		done <- err
	}()
	br := bufio.NewReaderSize(s, 64<<10)
	var readErr error
	for readErr == nil {
		var b []rx
		for len(b) < pipeBatch && (len(b) == 0 || br.Buffered() > 0) {
			s.SetReadDeadline(time.Now().Add(time.Minute))
			f, err := replica.ReadFrame(br, replica.DefaultMaxFrame)
			if err == nil {
				var ev replica.Event
				if ev, err = replica.UnmarshalEvent(f); err == nil {
					b = append(b, rx{ev.Seq, f})
				}
			}
			if err != nil {
				readErr = err
				break
			}
		}
		if len(b) > 0 {
			batches <- b
		}
	}
	close(batches)
	if err := <-done; err != nil || !errors.Is(readErr, io.EOF) {
		s.Reset()
		return
	}
	s.Close()
}
