package p2p

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/crypto/pb"
	"github.com/libp2p/go-libp2p/core/peer"
)

func TestIdentity(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "home")
	path := filepath.Join(dir, "identity.key")

	if _, err := LoadIdentity(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("LoadIdentity of a missing file: got %v, want an error wrapping fs.ErrNotExist", err)
	}

	key, err := LoadOrCreateIdentity(path)
	if err != nil {
		t.Fatalf("LoadOrCreateIdentity: %v", err)
	}
	if key.Type() != pb.KeyType_Ed25519 {
		t.Errorf("key type %v, want Ed25519", key.Type())
	}
	assertMode(t, path, 0o600)
	assertMode(t, dir, 0o700)
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("home holds %d entries after creation, want only the key file", len(entries))
	}

	want := idOf(t, key)
	for name, load := range map[string]func(string) (crypto.PrivKey, error){
		"LoadIdentity": LoadIdentity, "LoadOrCreateIdentity": LoadOrCreateIdentity,
	} {
		again, err := load(path)
		if err != nil {
			t.Fatalf("%s after creation: %v", name, err)
		}
		if got := idOf(t, again); got != want {
			t.Errorf("%s: peer ID %s, want %s", name, got, want)
		}
	}

	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	for name, load := range map[string]func(string) (crypto.PrivKey, error){
		"LoadIdentity": LoadIdentity, "LoadOrCreateIdentity": LoadOrCreateIdentity,
	} {
		_, err := load(path)
		if err == nil {
			t.Fatalf("%s accepted a 0644 key file", name)
		}
		if msg := err.Error(); !strings.Contains(msg, "chmod 600 "+path) || !strings.Contains(msg, "0644") {
			t.Errorf("%s: error %q should name the mode and the fix `chmod 600 %s`", name, msg, path)
		}
	}
	assertMode(t, path, 0o644) // refused, not silently "fixed" or replaced
}

func TestLoadIdentityGarbage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "identity.key")
	if err := os.WriteFile(path, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := LoadOrCreateIdentity(path)
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("garbage key file: got %v, want an error naming %s", err, path)
	}
	if b, _ := os.ReadFile(path); string(b) != "not a key" {
		t.Error("LoadOrCreateIdentity overwrote an unreadable key file")
	}
}

func assertMode(t *testing.T, path string, want fs.FileMode) {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := info.Mode().Perm(); got != want {
		t.Errorf("%s has mode %04o, want %04o", path, got, want)
	}
}

func idOf(t *testing.T, k crypto.PrivKey) peer.ID {
	t.Helper()
	id, err := peer.IDFromPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return id
}
