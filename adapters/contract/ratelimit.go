package contract

import (
	"testing"

	"github.com/issuemesh/issuemesh/adapters"
)

// testRateLimit: answers of "too many requests" are waited out, not
// turned into an error: a read and a write made while the tracker
// throttles succeed once it stops.
func testRateLimit(t *testing.T, tr adapters.Tracker, p Profile) {
	c := ctx(t)
	is := must[adapters.Issue](t, "create")(tr.Create(c, adapters.Issue{Summary: "throttled"}))
	p.Throttle(tr, 2)
	if got := must[adapters.Issue](t, "get while throttled")(tr.Get(c, is.Key)); got.Summary != "throttled" {
		t.Errorf("get while throttled: %+v", got)
	}
	p.Throttle(tr, 2)
	if got := must[adapters.Issue](t, "update while throttled")(tr.Update(c, is.Key, adapters.Patch{Summary: ptr("after the limit")})); got.Summary != "after the limit" {
		t.Errorf("update while throttled: %+v", got)
	}
}
