package local

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/issuemesh/issuemesh/adapters"
)

// BenchmarkUpdate measures effective updates (each changes the summary) of
// 1,000 issues of about 1 KiB, serially (one caller: one commit per update)
// and in parallel (callers share group commits), with and without fsync.
func BenchmarkUpdate(b *testing.B) {
	const issues = 1000
	for _, sync := range []bool{true, false} {
		for _, parallel := range []bool{false, true} {
			name := fmt.Sprintf("sync=%t/parallel=%t", sync, parallel)
			b.Run(name, func(b *testing.B) {
				tr := openTest(b, b.TempDir(), Options{SyncWrites: sync})
				ctx := context.Background()
				desc := string(make([]byte, 900))
				for i := range issues {
					create(b, tr, adapters.Issue{Summary: fmt.Sprint(i), Description: desc, Labels: []string{"bench"}})
				}
				var n atomic.Int64
				update := func() {
					i := n.Add(1)
					key := fmt.Sprintf("LOCAL-%d", i%issues+1)
					if _, err := tr.Update(ctx, key, adapters.Patch{Summary: new(fmt.Sprint("u", i))}); err != nil {
						b.Error(err)
					}
				}
				b.ReportAllocs()
				b.ResetTimer()
				if parallel {
					b.SetParallelism(32) // 32 x GOMAXPROCS callers
					b.RunParallel(func(pb *testing.PB) {
						for pb.Next() {
							update()
						}
					})
				} else {
					for b.Loop() {
						update()
					}
				}
				b.StopTimer()
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "updates/s")
			})
		}
	}
}
