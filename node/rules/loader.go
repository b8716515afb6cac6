package rules

import (
	"bytes"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/issuemesh/issuemesh/config"
)

// Loader keeps a connection's rules current: Reload re-reads the rule files
// when their modification time or size changed and swaps in the new Set. A
// version that does not compile is refused: the running Set stays current
// and the error is returned and kept (Err) for display.
//
// The trigger is compiled once, from the connection's config.
type Loader struct {
	baseDir string
	conn    config.Connection
	opts    Options

	cur atomic.Pointer[loaded]

	mu   sync.Mutex // serialises Reload
	seen [2]fileStamp
	err  error
}

type loaded struct {
	set  *Set
	trig *Trigger
	src  [2][]byte // the texts the Set was compiled from
}

type fileStamp struct {
	mod     time.Time
	size    int64
	missing bool
}

// NewLoader compiles the connection's rules (conn.Outgoing and conn.Incoming,
// relative to baseDir) and trigger. The value maps are conn's: they replace
// o.StatusMap and o.PriorityMap.
func NewLoader(baseDir string, conn config.Connection, o Options) (*Loader, error) {
	o.StatusMap, o.PriorityMap = conn.StatusMap, conn.PriorityMap
	o.UserMap, o.TypeMap, o.FieldMap = conn.UserMap, conn.TypeMap, conn.FieldMap
	l := &Loader{baseDir: baseDir, conn: conn, opts: o}
	trig, err := CompileTriggerOptions(conn.Trigger, o)
	if err != nil {
		return nil, err
	}
	l.seen = l.stamps()
	out, err := readSource(baseDir, conn.Outgoing, ruleOutgoing)
	if err != nil {
		return nil, err
	}
	in, err := readSource(baseDir, conn.Incoming, ruleIncoming)
	if err != nil {
		return nil, err
	}
	set, err := Compile(out, in, o)
	if err != nil {
		return nil, err
	}
	l.cur.Store(&loaded{set: set, trig: trig, src: [2][]byte{text(out), text(in)}})
	return l, nil
}

func text(s *Source) []byte {
	if s == nil {
		return nil
	}
	return s.Text
}

// Current returns the rules and trigger in force.
func (l *Loader) Current() (*Set, *Trigger) {
	c := l.cur.Load()
	return c.set, c.trig
}

// Same reports whether two loaders run the same rule texts (the trigger
// and maps are the config's, compared by the caller if it needs to).
func (l *Loader) Same(o *Loader) bool {
	a, b := l.cur.Load(), o.cur.Load()
	return bytes.Equal(a.src[0], b.src[0]) && bytes.Equal(a.src[1], b.src[1])
}

// Err returns why the rule files on disk are not the ones running (the
// error of the last refused version), or nil.
func (l *Loader) Err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

func (l *Loader) stamps() [2]fileStamp {
	var st [2]fileStamp
	for i, p := range [2]string{l.conn.Outgoing, l.conn.Incoming} {
		if p == "" {
			continue
		}
		fi, err := os.Stat(resolvePath(l.baseDir, p))
		if err != nil {
			st[i] = fileStamp{missing: true}
			continue
		}
		st[i] = fileStamp{mod: fi.ModTime(), size: fi.Size()}
	}
	return st
}

// Reload re-reads the rule files if their modification time or size
// changed since the last look. It reports whether new rules are now in
// force. Its error is nil exactly when the files on disk are the ones
// running: while a refused version stays on disk, every Reload returns its
// error again.
func (l *Loader) Reload() (changed bool, err error) { return l.reload(false) }

// ReloadNow is Reload without the look at modification times and sizes:
// the files are read and compared with the rules in force (SIGHUP; a file
// rewritten within the same second at the same size, or copied with its
// old time, is picked up too).
func (l *Loader) ReloadNow() (changed bool, err error) { return l.reload(true) }

func (l *Loader) reload(force bool) (changed bool, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	st := l.stamps()
	if st == l.seen && !force {
		return false, l.err
	}
	l.seen = st
	out, err := readSource(l.baseDir, l.conn.Outgoing, ruleOutgoing)
	if err != nil {
		l.err = fmt.Errorf("the rules in force are kept: %w", err)
		return false, l.err
	}
	in, err := readSource(l.baseDir, l.conn.Incoming, ruleIncoming)
	if err != nil {
		l.err = fmt.Errorf("the rules in force are kept: %w", err)
		return false, l.err
	}
	cur := l.cur.Load()
	if bytes.Equal(text(out), cur.src[0]) && bytes.Equal(text(in), cur.src[1]) {
		l.err = nil // touched, or changed back to what runs
		return false, nil
	}
	set, err := Compile(out, in, l.opts)
	if err != nil {
		l.err = fmt.Errorf("the rules in force are kept: %w", err)
		return false, l.err
	}
	l.cur.Store(&loaded{set: set, trig: cur.trig, src: [2][]byte{text(out), text(in)}})
	l.err = nil
	return true, nil
}
