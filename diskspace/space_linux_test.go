package diskspace

import (
	"strings"
	"syscall"
	"testing"
)

// backFile backs the written part and the next n bytes of a sparse file
// with blocks, and does not grow further while nothing more is written.
func TestBackFileAhead(t *testing.T) {
	p, f := sparseFile(t, "00001.mem")
	if _, err := f.WriteAt([]byte(strings.Repeat("x", 1<<20)), 0); err != nil {
		t.Fatal(err)
	}
	allocated := func() int64 {
		var st syscall.Stat_t
		if err := syscall.Stat(p, &st); err != nil {
			t.Fatal(err)
		}
		return st.Blocks * 512
	}
	to, err := backFile(p, 8<<20, 0)
	if err != nil {
		t.Fatal(err)
	}
	if to != 9<<20 {
		t.Fatalf("backed to %d, want %d", to, 9<<20)
	}
	if got := allocated(); got < 9<<20 {
		t.Skipf("the filesystem does not allocate on fallocate (%d bytes allocated)", got)
	}
	again, err := backFile(p, 8<<20, to)
	if err != nil || again != to {
		t.Fatalf("second call: %d, %v; want %d unchanged", again, err, to)
	}
	if got := allocated(); got > 10<<20 {
		t.Fatalf("the file grew to %d bytes allocated without writes", got)
	}
}
