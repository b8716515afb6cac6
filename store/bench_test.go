package store

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/issuemesh/issuemesh/replica"
)

// benchEvent is an outgoing event of about 1 KiB encoded: the default
// fields with a 1,000-byte description.
func benchEvent(i int) replica.Event {
	const peer = "12D3KooWA1b2c3d4e5f6g7h8i9j0kLmNoPqRsTuVwXyZaBcDeFgH"
	clk := replica.Clock{Wall: 1_750_000_000_000 + int64(i), Peer: peer}
	return replica.Event{
		V: replica.Version, ID: fmt.Sprintf("ev%08d", i), Twin: fmt.Sprintf("tw%04d", i%1000), Origin: peer,
		SourceKey: fmt.Sprintf("LOCAL-%d", i%1000+1), Sent: clk.Wall * 1e6,
		Replica: replica.Replica{Fields: map[string]replica.Value{
			replica.FieldSummary:     {S: fmt.Sprintf("issue %d", i%1000), Clock: clk},
			replica.FieldDescription: {S: strings.Repeat("lorem ipsum ", 84)[:1000], Clock: clk},
			replica.FieldStatus:      {S: "Open", Clock: clk},
			replica.FieldPriority:    {S: "Normal", Clock: clk},
			replica.FieldLabels:      {L: []string{"bench"}, Clock: clk},
		}},
	}
}

// BenchmarkAppend measures appending events of about 1 KiB to the outgoing
// log, durable (SyncWrites, as a node runs) and not, with batch events per
// Update call (one Update is one commit unless concurrent callers share it).
// One op is one event; events/s is reported too.
func BenchmarkAppend(b *testing.B) {
	for _, durable := range []bool{true, false} {
		for _, batch := range []int{1, 16, 256} {
			b.Run(fmt.Sprintf("durable=%t/batch=%d", durable, batch), func(b *testing.B) {
				s, err := Open(b.TempDir(), Options{SyncWrites: durable})
				if err != nil {
					b.Fatal(err)
				}
				defer s.Close()
				evs := make([]replica.Event, batch)
				for i := range evs {
					evs[i] = benchEvent(i)
				}
				ctx := context.Background()
				b.ReportAllocs()
				b.SetBytes(int64(len(mustMarshal(b, &evs[0]))))
				b.ResetTimer()
				for i := 0; i < b.N; i += batch {
					k := min(batch, b.N-i)
					err := s.Update(ctx, func(tx *Tx) error {
						for j := range k {
							ev := evs[j]
							if _, err := tx.Append("peer", &ev); err != nil {
								return err
							}
						}
						return nil
					})
					if err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
			})
		}
	}
}

func mustMarshal(b *testing.B, ev *replica.Event) []byte {
	buf, err := replica.MarshalEvent(ev)
	if err != nil {
		b.Fatal(err)
	}
	return buf
}
