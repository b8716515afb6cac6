package config

import (
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
)

// Console is the console section: the operator's web console that
// `issuemesh run` serves (package console). Off unless Listen is set.
type Console struct {
	// Listen is the TCP address of the console, e.g. 127.0.0.1:7447.
	// Empty: no console. Any address but a loopback one needs TLSCert and
	// TLSKey, so that the login cookie never crosses a network in clear.
	Listen string `yaml:"listen,omitempty"`
	// TLSCert and TLSKey are PEM files (relative to the home) of the
	// console's certificate and key; with them it serves HTTPS only.
	TLSCert string `yaml:"tls_cert,omitempty"`
	TLSKey  string `yaml:"tls_key,omitempty"`
}

// ValidateConsole checks a console address and its TLS files as the
// config names them; run --console ADDR is checked by the same rule.
func ValidateConsole(c Console) error {
	if c.Listen == "" {
		if c.TLSCert != "" || c.TLSKey != "" {
			return fmt.Errorf("console: tls_cert and tls_key are set but console.listen is not; set listen, e.g. 127.0.0.1:7447")
		}
		return nil
	}
	host, port, err := net.SplitHostPort(c.Listen)
	if err != nil || port == "" {
		return fmt.Errorf("console.listen: %q is not a host:port, e.g. 127.0.0.1:7447", c.Listen)
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return fmt.Errorf("console: tls_cert and tls_key go together; set both or neither")
	}
	if c.TLSCert == "" && !IsLoopback(host) {
		return fmt.Errorf("console.listen: %q is not a loopback address; the console serves another address only with TLS: set console.tls_cert and console.tls_key", c.Listen)
	}
	return nil
}

// IsLoopback says whether a listen host is a loopback address (an empty
// host or 0.0.0.0 listens on every interface, so it is not).
func IsLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}

// ConsolePath resolves a console file named in the config against home.
func ConsolePath(home, file string) string {
	if file == "" || filepath.IsAbs(file) {
		return file
	}
	return filepath.Join(home, file)
}
