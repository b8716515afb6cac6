package console

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/issuemesh/issuemesh/config"
)

// writeCert writes a self-signed certificate for 127.0.0.1 into home.
func writeCert(t *testing.T, home string) *x509.CertPool {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "console"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	os.WriteFile(filepath.Join(home, "c.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(filepath.Join(home, "k.pem"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return pool
}

// TestTLS: with tls_cert and tls_key the console serves HTTPS only, its
// links say https, and its cookie is Secure.
func TestTLS(t *testing.T) {
	home := t.TempDir()
	pool := writeCert(t, home)
	s, err := New(Options{Node: &fakeNode{}, Home: home, Config: config.Console{Listen: "127.0.0.1:0", TLSCert: "c.pem", TLSKey: "k.pem"}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := s.Listen(ctx); err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	go func() { done <- s.Serve(ctx) }()
	link := s.LoginURL()
	if !strings.HasPrefix(link, "https://127.0.0.1:") {
		t.Fatalf("login link %q, want https", link)
	}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, CheckRedirect: noRedirect}
	resp, err := c.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || len(resp.Cookies()) != 1 || !resp.Cookies()[0].Secure || !resp.Cookies()[0].HttpOnly {
		t.Fatalf("login over TLS: %d, cookies %v; want 303 and one Secure HttpOnly cookie", resp.StatusCode, resp.Cookies())
	}
	plain := &http.Client{Timeout: 5 * time.Second}
	if resp, err := plain.Get("http://" + strings.TrimPrefix(s.URL(), "https://") + "/"); err == nil && resp.StatusCode < 400 {
		t.Fatalf("plain HTTP answered %d on the TLS console", resp.StatusCode)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestNonLoopbackNeedsTLS(t *testing.T) {
	for _, listen := range []string{"0.0.0.0:0", ":0", "192.0.2.1:7447"} {
		if _, err := New(Options{Node: &fakeNode{}, Home: t.TempDir(), Config: config.Console{Listen: listen}}); err == nil || !strings.Contains(err.Error(), "TLS") {
			t.Errorf("listen %s without TLS: %v, want an error asking for TLS", listen, err)
		}
	}
	home := t.TempDir()
	s, err := New(Options{Node: &fakeNode{}, Home: home, Config: config.Console{Listen: "127.0.0.1:0", TLSCert: "missing.pem", TLSKey: "missing.key"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Listen(context.Background()); err == nil || !strings.Contains(err.Error(), "tls_cert") {
		t.Fatalf("missing TLS files: %v, want an error naming tls_cert", err)
	}
}
