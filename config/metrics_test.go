package config

import (
	"strings"
	"testing"
)

func TestMetricsListen(t *testing.T) {
	c, err := Parse("config.yaml", []byte("metrics:\n  listen: 127.0.0.1:9447\n"))
	if err != nil || c.Metrics.Listen != "127.0.0.1:9447" {
		t.Fatalf("metrics.listen: %v, %v", c, err)
	}
	if c, _ := Parse("config.yaml", nil); c.Metrics.Listen != "" {
		t.Fatalf("default metrics.listen %q, want none (off)", c.Metrics.Listen)
	}
	bad := Default()
	bad.Metrics.Listen = "9447"
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "metrics.listen") {
		t.Fatalf("metrics.listen 9447: %v, want an error naming metrics.listen", err)
	}
}
