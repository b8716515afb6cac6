package backup

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/config"
	"github.com/issuemesh/issuemesh/store"
)

// `issuemesh doctor`: an offline check of a home. It reads every file of
// the sync log (and of the embedded tracker) against its checksums, then
// what the sync log's links, queues and cursors say against each other and
// against the tracker's twin markers, and says for each problem what to do.

// DoctorReport is what doctor found in a home.
type DoctorReport struct {
	Home   string        `json:"home"`
	OK     bool          `json:"ok"`
	Checks []DoctorCheck `json:"checks"`
}

// DoctorCheck is one group of checks.
type DoctorCheck struct {
	// Name is checksums, links, markers, queues or cursors.
	Name string `json:"name"`
	OK   bool   `json:"ok"`
	// Summary says what was looked at (or why the check was skipped).
	Summary  string          `json:"summary"`
	Problems []DoctorProblem `json:"problems,omitempty"`
}

// DoctorProblem is one thing wrong, and what to do about it.
type DoctorProblem struct {
	What string `json:"what"`
	File string `json:"file,omitempty"`
	Key  string `json:"key,omitempty"`
	Fix  string `json:"fix"`
}

const (
	fixRestore = "restore the home from a backup; the node refuses to start on a sync log that fails its checksums"
	fixLinks   = "restore the home from a backup; running on as it is, the issue is not synced (or its next edit creates it a second time at the peer)"
	fixMarker  = "check which twin the issue belongs to (issuemesh issue show KEY on both nodes); unsync the wrong one (issuemesh unsync) and link it again (issuemesh link)"
	fixQueue   = "restore the home from a backup, or remove the peer (issuemesh peer remove) and add it again, which drops and rebuilds its queue"
)

// Doctor checks the home h offline; the node must not be running. The
// error is for a home that cannot be checked at all (no home, a node
// running).
func Doctor(ctx context.Context, h Home, log *slog.Logger) (*DoctorReport, error) {
	home := h.Dir
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if c, err := net.DialTimeout("unix", filepath.Join(home, h.SocketFile), time.Second); err == nil {
		c.Close()
		return nil, fmt.Errorf("a node is running in %s: stop it first (doctor checks a home offline)", home)
	}
	cfg, err := config.Load(home)
	if err != nil {
		return nil, err
	}
	r := &DoctorReport{Home: home}
	sum := doctorChecksums(h, cfg)
	r.Checks = append(r.Checks, sum)
	if !sum.OK {
		for _, name := range []string{"links", "markers", "queues", "cursors"} {
			r.Checks = append(r.Checks, DoctorCheck{Name: name, Summary: "skipped: a file of the home fails its checksums"})
		}
		return r, nil
	}
	st, err := store.Open(filepath.Join(home, h.StoreDir), store.Options{Logger: log})
	if err != nil {
		if h.Locked(err) {
			return nil, fmt.Errorf("the sync log in %s is in use by another process: stop the node first: %w", home, err)
		}
		return nil, err
	}
	defer st.Close()
	var found []store.Inconsistency
	var twins []*store.Twin
	var cursors map[string]string
	err = st.View(func(tx *store.Tx) error {
		var err error
		if found, err = tx.Check(); err != nil {
			return err
		}
		if cursors, err = tx.Cursors(""); err != nil {
			return err
		}
		return tx.Twins(func(tw *store.Twin) error { twins = append(twins, tw); return nil })
	})
	if err != nil {
		return nil, fmt.Errorf("read the sync log in %s: %w", home, err)
	}
	links := DoctorCheck{Name: "links", Summary: fmt.Sprintf("%d twins and their local key index", len(twins))}
	queues := DoctorCheck{Name: "queues", Summary: "outgoing and incoming logs, received markers"}
	for _, in := range found {
		p := DoctorProblem{What: in.What, Key: in.Key, Fix: fixLinks}
		if in.Check == "queues" {
			p.Fix = fixQueue
			queues.Problems = append(queues.Problems, p)
			continue
		}
		links.Problems = append(links.Problems, p)
	}
	tr, err := h.OpenTracker(cfg, log)
	markers := DoctorCheck{Name: "markers", Summary: "the twins' issues in the tracker and the tracker's twin markers"}
	curs := DoctorCheck{Name: "cursors", Summary: fmt.Sprintf("%d cursors", len(cursors))}
	if err != nil {
		p := DoctorProblem{What: fmt.Sprintf("the tracker cannot be opened: %v", err), Fix: "run issuemesh tracker check"}
		markers.Problems = append(markers.Problems, p)
		curs.Problems = append(curs.Problems, p)
	} else {
		defer tr.Close()
		doctorMarkers(ctx, tr, twins, &markers)
		doctorCursor(ctx, tr, h.FeedCursor, cursors, &curs)
	}
	r.Checks = append(r.Checks, links, markers, queues, curs)
	r.OK = true
	for i := range r.Checks {
		c := &r.Checks[i]
		c.OK = len(c.Problems) == 0
		r.OK = r.OK && c.OK
	}
	return r, nil
}

// doctorChecksums verifies the files of the sync log and of the embedded
// tracker's database.
func doctorChecksums(h Home, cfg *config.Config) DoctorCheck {
	c := DoctorCheck{Name: "checksums"}
	dirs := []string{filepath.Join(h.Dir, h.StoreDir)}
	if cfg.Tracker.Type == "local" {
		dirs = append(dirs, filepath.Join(h.Dir, h.TrackerDir))
	}
	files := 0
	for _, d := range dirs {
		for _, pat := range []string{"*.sst", "*.vlog", "*.mem"} {
			m, _ := filepath.Glob(filepath.Join(d, pat))
			files += len(m)
		}
		if _, err := os.Stat(d); err != nil {
			continue
		}
		for _, err := range store.Verify(d) {
			p := DoctorProblem{What: err.Error(), Fix: fixRestore}
			switch {
			case errors.Is(err, store.ErrLocked):
				p.Fix = "stop the node or command using the home, then run doctor again"
			case d != dirs[0]:
				p.Fix = "restore the home from a backup: the embedded tracker's database is damaged"
			}
			var ce *store.CorruptError
			if errors.As(err, &ce) {
				p.File, p.What = ce.File, strings.TrimSpace(strings.SplitN(ce.Error(), ";", 2)[0])
			}
			c.Problems = append(c.Problems, p)
		}
	}
	c.Summary = fmt.Sprintf("%d files of the sync log and the tracker's database", files)
	c.OK = len(c.Problems) == 0
	return c
}

// doctorMarkers looks up every twin's issue and the twin marker it
// carries, then lists the tracker's issues for markers of twins the sync
// log does not have (a lost link).
func doctorMarkers(ctx context.Context, tr adapters.Tracker, twins []*store.Twin, c *DoctorCheck) {
	known := map[string]bool{}
	byKey := map[string]bool{}
	for _, tw := range twins {
		known[tw.ID] = true
		if tw.LocalKey == "" {
			continue
		}
		byKey[tw.LocalKey] = true
		is, err := tr.Get(ctx, tw.LocalKey)
		switch {
		case errors.Is(err, adapters.ErrNotFound):
			c.Problems = append(c.Problems, DoctorProblem{Key: tw.LocalKey, What: fmt.Sprintf("issue %s of twin %s is not in the tracker", tw.LocalKey, tw.ID), Fix: "if it was deleted on purpose, unsync it (issuemesh unsync)"})
		case err != nil:
			c.Problems = append(c.Problems, DoctorProblem{Key: tw.LocalKey, What: fmt.Sprintf("issue %s: %v", tw.LocalKey, err), Fix: "run issuemesh tracker check"})
			return
		case is.TwinID != "" && is.TwinID != tw.ID:
			c.Problems = append(c.Problems, DoctorProblem{Key: tw.LocalKey, What: fmt.Sprintf("issue %s carries the marker of twin %s, but the sync log links it as twin %s", tw.LocalKey, is.TwinID, tw.ID), Fix: fixMarker})
		}
	}
	var cur adapters.Cursor
	n := 0
	for {
		issues, next, err := tr.Changes(ctx, cur, 500)
		if err != nil {
			c.Problems = append(c.Problems, DoctorProblem{What: fmt.Sprintf("the tracker's issues cannot be listed: %v", err), Fix: "run issuemesh tracker check"})
			return
		}
		for _, is := range issues {
			n++
			if is.TwinID != "" && !known[is.TwinID] && !byKey[is.Key] {
				known[is.TwinID] = true // report once
				c.Problems = append(c.Problems, DoctorProblem{Key: is.Key, What: fmt.Sprintf("issue %s carries the marker of twin %s, which the sync log does not have: its link is lost", is.Key, is.TwinID), Fix: fixLinks})
			}
		}
		if len(issues) < 500 || next == cur {
			break
		}
		cur = next
	}
	c.Summary = fmt.Sprintf("%d linked issues looked up, %d issues' markers read", len(byKey), n)
	slices.SortFunc(c.Problems, func(a, b DoctorProblem) int { return strings.Compare(a.Key, b.Key) })
}

// doctorCursor checks that the tracker accepts the change-feed cursor.
func doctorCursor(ctx context.Context, tr adapters.Tracker, triggerName string, cursors map[string]string, c *DoctorCheck) {
	cur, ok := cursors[triggerName]
	if !ok {
		return
	}
	if _, _, err := tr.Changes(ctx, adapters.Cursor(cur), 1); err != nil {
		c.Problems = append(c.Problems, DoctorProblem{Key: "c/" + triggerName, What: fmt.Sprintf("the tracker refuses the change-feed cursor %q: %v", cur, err), Fix: "run issuemesh tracker check; if the tracker was replaced, restore the home from a backup"})
	}
}
