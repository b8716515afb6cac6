// Package diskspace keeps a node alive on a filling disk.
//
// Badger writes its write-ahead logs (.mem), value logs (.vlog) and tables
// through memory maps of files it creates sparse (ftruncate to their full
// size). When the filesystem has no block left for a page the kernel
// cannot report ENOSPC to a memory write: it sends SIGBUS and the process
// dies in the middle of a write (badger issues 1682 and 1801; seen here in
// writeEntry on a 64 MB filesystem). Nothing can catch that, so the node
// must never let Badger write without room:
//
//   - Before every write to the sync log and the local tracker, Check looks
//     at the filesystem's free space (statfs). Below the reserve, the write
//     is refused with an *Error (errors.Is ErrLow) that names the home, the
//     free space and the reserve. The reserve is room for what Badger writes
//     on its own after a refused write: a memtable flushed to a table,
//     compactions, the flush on close.
//   - While the free space is within a few reserves of the limit, Check
//     also backs the next 3 MiB of the files Badger is writing into
//     (the newest .mem and .vlog of each watched folder) with real blocks
//     (fallocate), so that a disk filled by someone else between the check
//     and the write cannot fault the write; a fallocate that finds no room
//     is reported as low space, like statfs.
//
// Once refused, the state stays low until the free space is back over the
// reserve plus a margin (hysteresis), then the node resumes by itself.
package diskspace

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// ErrLow is matched (errors.Is) by every refusal for lack of space.
var ErrLow = errors.New("not enough free disk space")

// DefaultReserve is the free space kept for Badger's own writes.
const DefaultReserve = 16 << 20

// ahead is how much of a file being written is backed by blocks in
// advance: more than one commit writes to it (every commit is checked
// first, and a transaction is at most 15% of a memtable: 2.4 MiB in the
// sync log, 1.2 MiB in the local tracker). Four files are backed (a log and
// a value log in each database): 12 MiB at most.
const ahead = 3 << 20

// fillRate is how fast a disk is assumed to fill at most: with that much
// headroom per second over the level where checks get careful, statfs is
// skipped for up to maxSkip (a statfs costs microseconds; commits without
// fsync come every few tens of them).
const (
	fillRate = 1 << 30
	maxSkip  = time.Second
)

// Error is a write refused for lack of space.
type Error struct {
	Path    string // the folder whose filesystem is full
	Free    int64  // bytes free for this process
	Reserve int64  // bytes kept free
	Err     error  // a fallocate refusal, if that is how it was found
}

func (e *Error) Error() string {
	s := fmt.Sprintf("not enough free disk space for %s: %s free, %s must stay free; writes are refused until space is freed", e.Path, Size(e.Free), Size(e.Reserve))
	if e.Err != nil {
		s += " (" + e.Err.Error() + ")"
	}
	return s
}

func (e *Error) Unwrap() error { return ErrLow }

// Size formats a byte count for people.
func Size(b int64) string {
	switch {
	case b >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(b)/(1<<30))
	case b >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20))
	case b >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(b)/(1<<10))
	}
	return fmt.Sprintf("%d B", b)
}

// Status is the guard's state, for status and errors.
type Status struct {
	Path    string    `json:"path"`
	Free    int64     `json:"free_bytes"`
	Reserve int64     `json:"reserve_bytes"`
	Low     bool      `json:"low"`
	Since   time.Time `json:"since,omitzero"` // when it became low
	Error   string    `json:"error,omitempty"`
}

// Guard watches the free space of one filesystem (the node's home).
type Guard struct {
	path    string
	reserve int64
	log     *slog.Logger

	mu      sync.Mutex
	dirs    []string // Badger folders whose files are backed ahead
	low     bool
	since   time.Time
	free    int64
	lastErr *Error
	resume  chan struct{}     // closed when space is back
	backed  map[string]backed // by folder + extension
	skip    time.Time         // no statfs needed before this (plenty of room)
}

// New returns a guard for the filesystem of path with the given reserve
// (DefaultReserve when <= 0).
func New(path string, reserve int64, log *slog.Logger) *Guard {
	if reserve <= 0 {
		reserve = DefaultReserve
	}
	if log == nil {
		log = slog.Default()
	}
	return &Guard{path: path, reserve: reserve, log: log, resume: make(chan struct{}), backed: map[string]backed{}}
}

// SetReserve changes the reserve; the next Check uses it.
func (g *Guard) SetReserve(reserve int64) {
	if reserve <= 0 {
		reserve = DefaultReserve
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.reserve, g.skip = reserve, time.Time{}
}

// Watch adds a Badger folder whose files are backed ahead of its writes.
func (g *Guard) Watch(dir string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.dirs = append(g.dirs, dir)
}

// Check returns nil when a write may go ahead, else an *Error. It is safe
// for concurrent use and costs one statfs while space is plentiful.
func (g *Guard) Check() error {
	now := time.Now()
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.low && now.Before(g.skip) {
		return nil
	}
	free, err := freeBytes(g.path)
	if err != nil {
		return nil // unknown: never refuse on a failed statfs
	}
	g.free = free
	limit := g.reserve
	if g.low {
		limit += g.margin()
	}
	if free < limit {
		return g.setLow(&Error{Path: g.path, Free: free, Reserve: g.reserve})
	}
	careful := 4*g.reserve + ahead*int64(2*len(g.dirs))
	if head := free - careful; head > 0 {
		g.skip = now.Add(min(maxSkip, time.Duration(float64(head)/fillRate*float64(time.Second))))
	} else {
		for _, d := range g.dirs {
			if err := g.backAhead(d); err != nil {
				if errors.Is(err, errNoSpace) {
					return g.setLow(&Error{Path: g.path, Free: free, Reserve: g.reserve, Err: err})
				}
				g.log.Debug("backing the files being written failed", "dir", d, "err", err)
			}
		}
	}
	if g.low {
		g.low = false
		g.lastErr = nil
		close(g.resume)
		g.log.Info("free disk space is back; writes resume", "path", g.path, "free", Size(free), "reserve", Size(g.reserve))
	}
	return nil
}

// margin is how much over the reserve the space must be back before
// writes resume, so that a node at the edge does not flap.
func (g *Guard) margin() int64 { return max(g.reserve/4, 1<<20) }

func (g *Guard) setLow(e *Error) error {
	if !g.low {
		g.low = true
		g.since = time.Now()
		g.resume = make(chan struct{})
		g.log.Error("the disk is nearly full; the node accepts no new work until space is freed (it keeps serving what it has)", "path", g.path, "free", Size(e.Free), "reserve", Size(e.Reserve), "err", e.Err)
	}
	g.lastErr = e
	return e
}

// Low reports whether writes are refused now (as of the last check).
func (g *Guard) Low() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.low
}

// Resumed returns a channel closed once space is back (at once if it is
// not low). Callers that were refused wait on it and call Check meanwhile,
// or let Poll do so.
func (g *Guard) Resumed() <-chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.low {
		c := make(chan struct{})
		close(c)
		return c
	}
	return g.resume
}

// Status returns the guard's state, checking the free space first.
func (g *Guard) Status() Status {
	_ = g.Check()
	g.mu.Lock()
	defer g.mu.Unlock()
	st := Status{Path: g.path, Free: g.free, Reserve: g.reserve, Low: g.low}
	if g.low {
		st.Since = g.since
		if g.lastErr != nil {
			st.Error = g.lastErr.Error()
		}
	}
	return st
}

// backAhead backs with blocks the next ahead bytes of the newest .mem and
// .vlog files in dir (the files Badger writes into).
func (g *Guard) backAhead(dir string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	newest := map[string]string{}
	for _, e := range ents {
		n := e.Name()
		ext := filepath.Ext(n)
		if n == "DISCARD" {
			// Badger's discard statistics: a small mapped file written in
			// place by compactions; backed whole.
			newest[n] = n
			continue
		}
		if ext != ".mem" && ext != ".vlog" {
			continue
		}
		if n > newest[ext] { // zero-padded numbers: the name orders them
			newest[ext] = n
		}
	}
	var errs []error
	for ext, n := range newest {
		p := filepath.Join(dir, n)
		key := dir + ext
		if g.backed[key].path != p {
			g.backed[key] = backed{path: p}
		}
		room := int64(ahead)
		if ext == "DISCARD" {
			room = 1 << 30 // the whole file (backFile stops at its size)
		}
		to, err := backFile(p, room, g.backed[key].to)
		g.backed[key] = backed{path: p, to: to}
		if err != nil && !os.IsNotExist(err) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// backed is how far the file Badger writes into of one kind in one folder
// was backed by blocks.
type backed struct {
	path string
	to   int64
}
