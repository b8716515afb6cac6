package diskspace

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A reserve over the free space refuses, with an error that names the
// folder and matches ErrLow; a small one lets writes through.
func TestCheckRefusesBelowReserve(t *testing.T) {
	dir := t.TempDir()
	free, err := freeBytes(dir)
	if err != nil {
		t.Skipf("no statfs here: %v", err)
	}
	g := New(dir, free+1<<40, slog.New(slog.DiscardHandler))
	err = g.Check()
	var e *Error
	if !errors.Is(err, ErrLow) || !errors.As(err, &e) || !strings.Contains(err.Error(), dir) {
		t.Fatalf("Check = %v, want a low-space error naming %s", err, dir)
	}
	st := g.Status()
	if !st.Low || st.Since.IsZero() || st.Error == "" {
		t.Fatalf("status while low: %+v", st)
	}
	select {
	case <-g.Resumed():
		t.Fatal("Resumed is closed while low")
	default:
	}
	ok := New(dir, 1, slog.New(slog.DiscardHandler))
	if err := ok.Check(); err != nil {
		t.Fatalf("Check with a 1-byte reserve: %v", err)
	}
	<-ok.Resumed() // closed: not low
}

// dataEnd finds the end of what was written at the start of a sparse file.
func TestDataEnd(t *testing.T) {
	_, f := sparseFile(t, "000001.vlog")
	for _, n := range []int64{0, 1, 4096, 5000, 3 << 20} {
		if n > 0 {
			if _, err := f.WriteAt([]byte(strings.Repeat("x", int(n))), 0); err != nil {
				t.Fatal(err)
			}
		}
		end, err := dataEnd(f, 64<<20)
		if err != nil {
			t.Fatal(err)
		}
		if want := (n + 4095) / 4096 * 4096; end != want {
			t.Fatalf("%d bytes written: dataEnd = %d, want %d", n, end, want)
		}
	}
}

// BenchmarkCheck is the cost Check adds to every commit with room to spare.
func BenchmarkCheck(b *testing.B) {
	g := New(b.TempDir(), 1, slog.New(slog.DiscardHandler))
	for b.Loop() {
		if err := g.Check(); err != nil {
			b.Fatal(err)
		}
	}
}

// sparseFile creates a 64 MiB file with nothing written, as Badger does.
func sparseFile(t *testing.T, name string) (string, *os.File) {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	if err := f.Truncate(64 << 20); err != nil {
		t.Fatal(err)
	}
	return p, f
}
