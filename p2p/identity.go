package p2p

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"

	"github.com/libp2p/go-libp2p/core/crypto"
)

// maxKeyFileSize caps how much of a key file is read; a marshalled Ed25519
// key is 68 bytes.
const maxKeyFileSize = 64 << 10

// LoadOrCreateIdentity loads the node's private key from path, or, when the
// file does not exist, creates a new Ed25519 key there with mode 0600 (and
// the parent directory with mode 0700 if it is missing). Creation never
// overwrites an existing file: if another process created the key first,
// that key is loaded.
func LoadOrCreateIdentity(path string) (crypto.PrivKey, error) {
	key, err := LoadIdentity(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return key, err
	}
	if err := createIdentity(path); err != nil {
		return nil, err
	}
	return LoadIdentity(path)
}

// LoadIdentity loads the node's private key from path. It fails if the file
// is missing (the error wraps fs.ErrNotExist), cannot be parsed, or is
// accessible by group or others.
func LoadIdentity(path string) (crypto.PrivKey, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read identity key: %w", err)
	}
	defer f.Close()

	info, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("read identity key: %w", err)
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("identity key %s is not a regular file", path)
	}
	if perm := info.Mode().Perm(); runtime.GOOS != "windows" && perm&0o077 != 0 {
		return nil, fmt.Errorf("identity key %s has mode %04o, so other users can access it; refusing to use it: run `chmod 600 %s`",
			path, perm, path)
	}

	data, err := io.ReadAll(io.LimitReader(f, maxKeyFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read identity key %s: %w", path, err)
	}
	if len(data) > maxKeyFileSize {
		return nil, fmt.Errorf("identity key %s is larger than %d bytes: not a key file", path, maxKeyFileSize)
	}
	key, err := crypto.UnmarshalPrivateKey(data)
	if err != nil {
		return nil, fmt.Errorf("identity key %s is not a valid libp2p private key: %w", path, err)
	}
	return key, nil
}

// createIdentity writes a new Ed25519 key to path without ever exposing a
// partial file: it writes and syncs a temporary file in the same directory,
// then hard-links it into place, which fails rather than overwrites if path
// appeared in the meantime.
func createIdentity(path string) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create directory for identity key: %w", err)
	}

	key, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		return fmt.Errorf("generate Ed25519 identity key: %w", err)
	}
	data, err := crypto.MarshalPrivateKey(key)
	if err != nil {
		return fmt.Errorf("encode identity key: %w", err)
	}

	tmp, err := os.CreateTemp(dir, ".identity-*.tmp") // mode 0600
	if err != nil {
		return fmt.Errorf("create identity key %s: %w", path, err)
	}
	tmpName := tmp.Name()
	defer os.Remove(tmpName)

	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("create identity key %s: %w", path, err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write identity key %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write identity key %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write identity key %s: %w", path, err)
	}

	if err := os.Link(tmpName, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil // someone else created it first; the caller loads theirs
		}
		return fmt.Errorf("create identity key %s: %w", path, err)
	}
	syncDir(dir)
	return nil
}

// syncDir makes a new directory entry durable. It is best effort: not every
// platform can sync a directory, and the key file itself is already synced.
func syncDir(dir string) {
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	_ = d.Sync()
	_ = d.Close()
}
