package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// TestRunLogger: `run` logs JSON lines when stderr is not a terminal (a
// buffer here, as under systemd), text when asked, and refuses an unknown
// format by naming the flag.
func TestRunLogger(t *testing.T) {
	tests := []struct {
		format string
		json   bool
	}{
		{"", true},
		{"json", true},
		{"text", false},
	}
	for _, tt := range tests {
		var b bytes.Buffer
		log, _, err := runLogger(&b, tt.format, "info")
		if err != nil {
			t.Fatalf("%q: %v", tt.format, err)
		}
		log.Info("hello", "peer", "x")
		log.Debug("hidden")
		var rec map[string]any
		isJSON := json.Unmarshal(b.Bytes(), &rec) == nil && rec["msg"] == "hello" && rec["peer"] == "x"
		if isJSON != tt.json || strings.Contains(b.String(), "hidden") {
			t.Errorf("--log-format %q: wrote %q, want json %v at level info", tt.format, b.String(), tt.json)
		}
	}
	if _, _, err := runLogger(&bytes.Buffer{}, "xml", "info"); err == nil || !strings.Contains(err.Error(), "--log-format") {
		t.Errorf("xml: %v, want an error naming --log-format", err)
	}
}
