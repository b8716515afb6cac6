package node

import (
	"context"
	"testing"
	"time"

	"github.com/issuemesh/issuemesh/config"
)

// TestAdmitForgetsCachedRules: A knows B as "old" and has loaded B's rules
// (the default entry). B is then admitted again under the name "new",
// whose connection entry has a trigger: by peer add, and by accepting an
// invitation that names it "new". Either way A's rules for B are those of
// "new" from then on. Admission has one path (admitPeer); before, only
// peer add forgot the cached rules and an accepted invitation kept B on
// the old entry's rules.
func TestAdmitForgetsCachedRules(t *testing.T) {
	const trigger = `"new" in issue.labels`
	for _, tt := range []struct {
		name  string
		admit func(t *testing.T, a, b *testNode)
	}{
		{"peer add", func(t *testing.T, a, b *testNode) {
			if _, err := a.AddPeer(context.Background(), b.loopbackAddr(t), "new"); err != nil {
				t.Fatal(err)
			}
		}},
		{"accept", func(t *testing.T, a, b *testNode) {
			ctx := context.Background()
			res, err := a.Invite(ctx, "new", time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := b.Accept(ctx, res.Code, "a"); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := startRestartable(t, "a", Options{}, func(c *config.Config) {
				c.Connections = map[string]config.Connection{"new": {Trigger: trigger}}
			}).testNode
			b := startNode(t, "b", Options{})
			if _, err := a.AddPeer(context.Background(), b.loopbackAddr(t), "old"); err != nil {
				t.Fatal(err)
			}
			if _, trig, err := a.rules.Link(b.ID().String()); err != nil || trig.String() != "" {
				t.Fatalf("rules for B as \"old\": trigger %q, %v; want the default", trig.String(), err)
			}
			tt.admit(t, a, b)
			if got := a.peer(b.ID()).name(); got != "new" {
				t.Fatalf("B is called %q at A, want \"new\"", got)
			}
			if _, trig, err := a.rules.Link(b.ID().String()); err != nil || trig.String() != trigger {
				t.Fatalf("rules for B as \"new\": trigger %q, %v; want %q (the cached rules of \"old\" were kept)", trig.String(), err, trigger)
			}
		})
	}
}
