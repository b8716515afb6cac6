package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestProgress: off a terminal (a buffer, as in a script or a pipe) the
// bar draws nothing; the bar itself (what a terminal gets) shows the count
// against the total.
func TestProgress(t *testing.T) {
	var b bytes.Buffer
	p := newProgress(&b, "sharing issues")
	p.show(5, 10)
	p.done()
	if p != nil || b.Len() != 0 {
		t.Fatalf("drew %q off a terminal", b.String())
	}
	bar := newBar(&b, 10, "sharing issues")
	bar.Set(5)
	bar.RenderBlank()
	if out := b.String(); !strings.Contains(out, "sharing issues") || !strings.Contains(out, "5/10") {
		t.Errorf("the bar shows %q, want its description and 5/10", out)
	}
}
