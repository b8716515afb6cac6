package forge

import (
	"fmt"
	"net/http"
	"testing"
	"time"
)

// TestPacing: with fewer requests left than the reserve, requests are
// spaced so that what is left lasts until the reset.
func TestPacing(t *testing.T) {
	tp := NewTransport(nil, 100)
	at := time.Unix(1_000_000, 0)
	tp.now = func() time.Time { return at }
	h := http.Header{}
	h.Set("X-RateLimit-Remaining", "500")
	h.Set("X-RateLimit-Reset", fmt.Sprint(at.Add(time.Hour).Unix()))
	tp.noteRate(h)
	tp.last = at
	if d := tp.pace(); d != 0 {
		t.Errorf("500 left of a reserve of 100: wait %v, want none", d)
	}
	h.Set("X-RateLimit-Remaining", "9")
	tp.noteRate(h)
	if d := tp.pace(); d != 6*time.Minute {
		t.Errorf("9 left for an hour: wait %v, want 6m (an hour over 10)", d)
	}
}
