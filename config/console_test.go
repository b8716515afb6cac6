package config

import (
	"strings"
	"testing"
)

func TestConsoleConfig(t *testing.T) {
	for _, tc := range []struct {
		name, yaml, wantErr string
	}{
		{"off by default", "", ""},
		{"loopback", "console:\n  listen: 127.0.0.1:7447\n", ""},
		{"localhost", "console:\n  listen: localhost:7447\n", ""},
		{"ipv6 loopback", "console:\n  listen: '[::1]:7447'\n", ""},
		{"other address with tls", "console:\n  listen: 0.0.0.0:7447\n  tls_cert: c.pem\n  tls_key: k.pem\n", ""},
		{"other address without tls", "console:\n  listen: 0.0.0.0:7447\n", "not a loopback address"},
		{"every interface without tls", "console:\n  listen: :7447\n", "not a loopback address"},
		{"no port", "console:\n  listen: 127.0.0.1\n", "console.listen"},
		{"cert without key", "console:\n  listen: 127.0.0.1:7447\n  tls_cert: c.pem\n", "go together"},
		{"tls without listen", "console:\n  tls_cert: c.pem\n  tls_key: k.pem\n", "console.listen is not"},
		{"unknown key", "console:\n  listne: 127.0.0.1:7447\n", "listne"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("config.yaml", []byte(tc.yaml))
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("error %v, want none", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("error %v, want one saying %q", err, tc.wantErr)
			}
		})
	}
}
