package store

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestGCReclaimsValueLog fills small value-log files with values that are
// then deleted, and checks that GC gives the space back.
func TestGCReclaimsValueLog(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{test: &sizes{valueThreshold: 256, valueLogFile: 1 << 20, memTable: 1 << 20}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	big := strings.Repeat("v", 4<<10)
	put := func(prefix string, n int, val string) {
		t.Helper()
		for i := 0; i < n; i += 100 {
			err := s.Update(ctx, func(tx *Tx) error {
				for j := i; j < i+100 && j < n; j++ {
					tx.set(fmt.Sprintf("%s/%08d", prefix, j), []byte(val))
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	put("x", 4000, big) // 16 MB in the value log
	for i := 0; i < 4000; i += 100 {
		err = s.Update(ctx, func(tx *Tx) error {
			for j := i; j < i+100; j++ {
				tx.del(fmt.Sprintf("x/%08d", j))
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	full, _ := DirSize(dir)
	if full < 16<<20 {
		t.Fatalf("the value log holds %d bytes, want at least 16 MiB", full)
	}
	// Small writes fill memtables, whose flushes and compactions count the
	// deleted values as garbage.
	put("y", 40000, "small")
	deadline := time.Now().Add(30 * time.Second)
	var res GCResult
	for {
		res, err = s.GC(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if res.After < full/2 || time.Now().After(deadline) {
			break
		}
		put("y", 10000, "small")
	}
	t.Logf("home %d bytes full, %d after GC (%d files rewritten in the last run)", full, res.After, res.Rewrites)
	if res.After >= full/2 {
		t.Fatalf("GC left %d of %d bytes: the deleted values were not reclaimed", res.After, full)
	}
}

// TestCheckpointedUpdateOverTxnLimit commits an update that is too big for
// one Badger transaction in its parts, and refuses one without parts.
func TestCheckpointedUpdateOverTxnLimit(t *testing.T) {
	s, err := Open(t.TempDir(), Options{test: &sizes{valueThreshold: 64 << 10, valueLogFile: 1 << 20, memTable: 1 << 20}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	val := []byte(strings.Repeat("v", 4<<10))
	write := func(prefix string, parts bool) error {
		return s.Update(ctx, func(tx *Tx) error {
			for i := range 100 { // 400 KB, the limit is 150 KB
				tx.set(fmt.Sprintf("%s/%03d", prefix, i), val)
				if parts {
					tx.Checkpoint()
				}
			}
			return nil
		})
	}
	if err := write("whole", false); err == nil {
		t.Fatal("an update over the transaction limit without parts was committed")
	}
	if err := write("parts", true); err != nil {
		t.Fatalf("an update over the transaction limit in parts: %v", err)
	}
	var n, whole int
	s.View(func(tx *Tx) error {
		n, _ = tx.Count("parts/")
		whole, _ = tx.Count("whole/")
		return nil
	})
	if n != 100 || whole != 0 {
		t.Fatalf("%d of 100 parts written, %d of the refused update: want 100 and 0", n, whole)
	}
}
