package backup

// Backup and restore of a node's home.
//
// A backup is a folder: the sync log and, for the embedded tracker, the
// tracker, each in Badger's backup format (written online, from a
// consistent snapshot, while the node runs), the identity key, config.yaml
// and every other file of the home that is not runtime state, and last
// backup.json, whose presence marks a complete backup. The sync log is
// snapshotted before the tracker: a tracker that is newer than the sync log
// only holds changes that the change feed finds again (its cursor is in the
// sync log) and issues created by sync, which carry their twin's marker and
// are found by it, never created twice.
//
// Restore makes a new home from a backup. The restored node knows nothing
// of what happened after the backup was taken, while its peers do: they
// acked and dropped events the lost node had applied, and hold twins it had
// created. So restore (1) moves every outgoing sequence past any the lost
// node may have used (store.Restore), so that its peers take its new
// events for new, and (2) marks every peer for a resync: on its first runs
// the node asks each peer, over the resync protocol, to send again the
// whole agreed state of every twin they share. The peer appends one event
// per twin with every field, comment and file at its clock; merging them is
// idempotent, twins the restored node does not know are created once (by
// twin ID), and its acks give the peer the keys of the issues again. A
// peer is unmarked once it answered.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/issuemesh/issuemesh/adapters/local"
	"github.com/issuemesh/issuemesh/api"
	"github.com/issuemesh/issuemesh/config"
	"github.com/issuemesh/issuemesh/store"
)

const (
	backupManifest = "backup.json"
	backupSyncLog  = "synclog.backup"
	backupTracker  = "tracker.backup"
	backupHome     = "home" // the home's other files
	backupVersion  = 1

	// ResyncCursor prefixes the sync log's cursors of the peers a restored
	// node has still to ask for a resync.
	ResyncCursor = "resync/"
)

// Node is the running node whose home Write backs up.
type Node struct {
	PeerID string
	Online bool
	// SyncLog and Tracker write a backup of the sync log and of the
	// embedded tracker (nil: the node has none).
	SyncLog, Tracker func(io.Writer) error
	Log              *slog.Logger
}

// Write writes a backup of the home h of the running node n into dir,
// which must be an absolute path that does not exist or is an empty
// folder.
func Write(ctx context.Context, h Home, n Node, dir string) (api.BackupInfo, error) {
	info := api.BackupInfo{Version: backupVersion, Dir: dir, PeerID: n.PeerID, Created: time.Now().UTC(), Online: n.Online}
	if !filepath.IsAbs(dir) {
		return info, fmt.Errorf("%w: the backup folder %q is not an absolute path", api.ErrBadRequest, dir)
	}
	if ents, err := os.ReadDir(dir); err == nil && len(ents) > 0 {
		return info, fmt.Errorf("%w: the backup folder %s is not empty; choose a new one", api.ErrBadRequest, dir)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return info, fmt.Errorf("create the backup folder: %w", err)
	}
	var err error
	if info.SyncLogBytes, err = writeFileSync(filepath.Join(dir, backupSyncLog), n.SyncLog); err != nil {
		return info, err
	}
	if n.Tracker != nil {
		if info.TrackerBytes, err = writeFileSync(filepath.Join(dir, backupTracker), n.Tracker); err != nil {
			return info, err
		}
	}
	if info.Files, err = copyHome(h, h.Dir, filepath.Join(dir, backupHome)); err != nil {
		return info, err
	}
	if err := ctx.Err(); err != nil {
		return info, err
	}
	b, _ := json.MarshalIndent(info, "", "  ")
	if _, err := writeFileSync(filepath.Join(dir, backupManifest), func(w io.Writer) error { _, err := w.Write(b); return err }); err != nil {
		return info, err
	}
	n.Log.Info("backup written", "dir", dir, "synclog_bytes", info.SyncLogBytes, "tracker_bytes", info.TrackerBytes, "files", len(info.Files))
	return info, nil
}

// writeFileSync creates path, fills it with fill, syncs and closes it, and
// returns its size.
func writeFileSync(path string, fill func(io.Writer) error) (int64, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return 0, fmt.Errorf("backup: %w", err)
	}
	err = fill(f)
	if err == nil {
		err = f.Sync()
	}
	size, _ := f.Seek(0, io.SeekCurrent)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, fmt.Errorf("backup: write %s: %w", path, err)
	}
	return size, nil
}

// runtimeState is what a backup leaves out of the home: the databases
// (backed up on their own), the admin socket, the run lock, files being
// fetched and the last GC's record.
func runtimeState(h Home, rel string) bool {
	top := strings.SplitN(filepath.ToSlash(rel), "/", 2)[0]
	return slices.Contains(append([]string{h.StoreDir, h.TrackerDir, h.SocketFile}, h.Runtime...), top)
}

// copyHome copies the home's files other than runtime state from src to
// dst, keeping their modes, and returns their paths relative to src.
func copyHome(h Home, src, dst string) ([]string, error) {
	var files []string
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		if rel == "." {
			return os.MkdirAll(dst, 0o700)
		}
		if runtimeState(h, rel) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(target, info.Mode().Perm()|0o700)
		case !info.Mode().IsRegular():
			return nil // sockets and the like
		}
		if err := copyFile(path, target, info.Mode().Perm()); err != nil {
			return err
		}
		files = append(files, filepath.ToSlash(rel))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("copy the files of %s to %s: %w", src, dst, err)
	}
	return files, nil
}

func copyFile(src, dst string, mode fs.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	_, err = writeFileSync(dst, func(w io.Writer) error { _, err := io.Copy(w, in); return err })
	if err != nil {
		return err
	}
	return os.Chmod(dst, mode)
}

// Restore creates the home h from the backup in dir: the home must not
// hold a node. The restored node asks its peers for a resync when it runs
// (see the top of this file). noSync turns off synced writes (tests).
func Restore(h Home, dir string, noSync bool, log *slog.Logger) (api.BackupInfo, error) {
	home := h.Dir
	var info api.BackupInfo
	b, err := os.ReadFile(filepath.Join(dir, backupManifest))
	if err != nil {
		return info, fmt.Errorf("%s is not a complete issuemesh backup (no %s): %w", dir, backupManifest, err)
	}
	if err := json.Unmarshal(b, &info); err != nil {
		return info, fmt.Errorf("%s: %s is unreadable: %w", dir, backupManifest, err)
	}
	if info.Version != backupVersion {
		return info, fmt.Errorf("%s: backup version %d, this issuemesh reads version %d", dir, info.Version, backupVersion)
	}
	if _, err := os.Stat(filepath.Join(home, config.FileName)); err == nil {
		return info, fmt.Errorf("%s already holds a node (%s exists); restore into a new --home", home, config.FileName)
	}
	if ents, err := os.ReadDir(home); err == nil && len(ents) > 0 {
		return info, fmt.Errorf("%s is not empty; restore into a new --home", home)
	}
	if err := os.MkdirAll(home, 0o700); err != nil {
		return info, fmt.Errorf("create home: %w", err)
	}
	if _, err := copyHome(h, filepath.Join(dir, backupHome), home); err != nil {
		return info, err
	}
	if log == nil {
		log = slog.Default()
	}
	so := store.Options{SyncWrites: !noSync, Logger: log}
	if err := restoreFrom(filepath.Join(dir, backupSyncLog), func(r io.Reader) error {
		return store.Restore(filepath.Join(home, h.StoreDir), r, so)
	}); err != nil {
		return info, err
	}
	if info.TrackerBytes > 0 {
		err := restoreFrom(filepath.Join(dir, backupTracker), func(r io.Reader) error {
			return local.Restore(filepath.Join(home, h.TrackerDir), r, local.Options{SyncWrites: !noSync, Logger: log})
		})
		if err != nil {
			return info, err
		}
	}
	return info, markResync(h, so)
}

func restoreFrom(path string, fn func(io.Reader) error) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	defer f.Close()
	return fn(f)
}

// markResync marks every peer of the restored sync log for a resync.
func markResync(h Home, so store.Options) error {
	s, err := store.Open(filepath.Join(h.Dir, h.StoreDir), so)
	if err != nil {
		return err
	}
	err = s.Update(context.Background(), func(tx *store.Tx) error {
		peers, err := tx.Peers()
		if err != nil {
			return err
		}
		for _, p := range peers {
			tx.SetCursor(ResyncCursor+p.ID, time.Now().UTC().Format(time.RFC3339))
		}
		return nil
	})
	return errors.Join(err, s.Close())
}
