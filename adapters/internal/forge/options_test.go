package forge

import (
	"net/http"
	"slices"
	"testing"
	"time"
)

func TestResolve(t *testing.T) {
	if _, err := (Common{WebhookListen: "127.0.0.1:0"}).Resolve("x", "o/r", time.Second); err == nil {
		t.Fatal("a webhook listener without its secret was taken")
	}
	mine := &http.Client{Timeout: time.Minute}
	c, err := Common{HTTPClient: mine}.Resolve("x", "o/r", 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTPClient == mine || c.HTTPClient.Timeout != time.Minute || c.Settle != 3*time.Second || !slices.Equal(c.Priorities, DefaultPriorities()) || c.Logger == nil {
		t.Fatalf("defaults: %+v", c)
	}
	c, _ = Common{Priorities: []string{"p1"}, Settle: time.Millisecond}.Resolve("x", "o/r", time.Second)
	if c.HTTPClient.Timeout != 30*time.Second || c.Settle != time.Millisecond || !slices.Equal(c.Priorities, []string{"p1"}) {
		t.Fatalf("given values: %+v", c)
	}
}
