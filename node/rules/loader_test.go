package rules

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/config"
	"github.com/issuemesh/issuemesh/replica"
)

func TestLoaderReload(t *testing.T) {
	dir := t.TempDir()
	path := writeFile(t, dir, "out.star", "replica.summary = 'v1'\n")
	conn := config.Connection{
		Outgoing:  "out.star",
		Trigger:   `"sync" in issue.labels`,
		StatusMap: map[string]string{"Resolved": "Done"},
	}
	l, err := NewLoader(dir, conn, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	summary := func() string {
		t.Helper()
		s, _ := l.Current()
		r, _, err := s.Outgoing(fullIssue())
		if err != nil {
			t.Fatalf("Outgoing: %v", err)
		}
		v, _ := r.Str("summary")
		return v
	}

	// The trigger and maps come from the connection; the incoming rule is
	// the default.
	s, trig := l.Current()
	if ok, err := trig.Match(fullIssue()); !ok || err != nil {
		t.Errorf("trigger on a sync issue: %v %v", ok, err)
	}
	if ok, err := trig.Match(adapters.Issue{}); ok || err != nil {
		t.Errorf("trigger on another issue: %v %v", ok, err)
	}
	m := replica.Replica{Fields: map[string]replica.Value{"status": str("Done")}}
	if res, err := s.Incoming(Incoming{Replica: m, Changed: allChanges(m)}); err != nil || res.Create.Status != "Resolved" {
		t.Errorf("default incoming with the connection's map: %+v %v", res, err)
	}

	mtime := time.Now().Add(-time.Hour)
	steps := []struct {
		name        string
		write       *string // new content; nil leaves the file
		remove      bool
		wantChanged bool
		wantErr     []string
		wantSummary string
	}{
		{name: "unchanged", wantSummary: "v1"},
		{name: "new version", write: ptr("replica.summary = 'v2, longer'\n"), wantChanged: true, wantSummary: "v2, longer"},
		{name: "touched", write: ptr("replica.summary = 'v2, longer'\n"), wantSummary: "v2, longer"},
		{name: "broken", write: ptr("replica.summary = 'v3'\nif True\n"),
			wantErr: []string{"the rules in force are kept: outgoing rules: out.star:2:8: got newline, want ':'"}, wantSummary: "v2, longer"},
		{name: "still broken", wantErr: []string{"out.star:2:8"}, wantSummary: "v2, longer"},
		{name: "load refused", write: ptr("load('x.star', 'y')\n"), wantErr: []string{"load is not allowed"}, wantSummary: "v2, longer"},
		{name: "fixed", write: ptr("replica.summary = 'v3'\n"), wantChanged: true, wantSummary: "v3"},
		{name: "removed", remove: true, wantErr: []string{"read the rule file", "out.star"}, wantSummary: "v3"},
		{name: "back as it runs", write: ptr("replica.summary = 'v3'\n"), wantSummary: "v3"},
	}
	for _, st := range steps {
		switch {
		case st.remove:
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
		case st.write != nil:
			writeFile(t, dir, "out.star", *st.write)
			// A distinct mtime for each version, without sleeping.
			mtime = mtime.Add(time.Second)
			if err := os.Chtimes(path, mtime, mtime); err != nil {
				t.Fatal(err)
			}
		}
		changed, err := l.Reload()
		if changed != st.wantChanged {
			t.Errorf("%s: changed = %v, want %v", st.name, changed, st.wantChanged)
		}
		if st.wantErr == nil {
			if err != nil || l.Err() != nil {
				t.Errorf("%s: Reload error %v, Err %v", st.name, err, l.Err())
			}
		} else {
			for _, e := range []error{err, l.Err()} {
				if e == nil {
					t.Errorf("%s: no error, want %q", st.name, st.wantErr)
					continue
				}
				for _, w := range st.wantErr {
					if !strings.Contains(e.Error(), w) {
						t.Errorf("%s: error %q does not contain %q", st.name, e, w)
					}
				}
			}
		}
		if got := summary(); got != st.wantSummary {
			t.Errorf("%s: the rules in force give %q, want %q", st.name, got, st.wantSummary)
		}
	}
}

func TestLoaderIncomingFile(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "in.star", "issue.summary = 'from the rule'\n")
	l, err := NewLoader(dir, config.Connection{Incoming: filepath.Join(dir, "in.star")}, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	s, trig := l.Current()
	res, err := s.Incoming(Incoming{})
	if err != nil || res.Create == nil || res.Create.Summary != "from the rule" {
		t.Errorf("incoming: %+v %v", res, err)
	}
	if ok, _ := trig.Match(adapters.Issue{}); !ok {
		t.Error("an empty trigger does not match")
	}
	r, _, _ := s.Outgoing(fullIssue())
	if !replica.SameValues(r, oracleOutgoing(testSelf, fullIssue())) {
		t.Error("the outgoing rule is not the default")
	}
}

func TestNewLoaderErrors(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "bad.star", "replica.summary = \n")
	writeFile(t, dir, "good.star", "replica.summary = 'x'\n")
	tests := []struct {
		name    string
		conn    config.Connection
		want    string
		ruleErr bool
	}{
		{"broken outgoing", config.Connection{Outgoing: "bad.star"}, "outgoing rules: bad.star:1:19:", true},
		{"broken incoming", config.Connection{Incoming: "bad.star"}, "incoming rules: bad.star:1:19:", true},
		{"missing file", config.Connection{Outgoing: "good.star", Incoming: "nope.star"}, "incoming rules: read the rule file: open " + filepath.Join(dir, "nope.star"), false},
		{"broken trigger", config.Connection{Trigger: "issue.labels +"}, "trigger: trigger:1:15:", true},
		{"map not invertible", config.Connection{PriorityMap: map[string]string{"a": "x", "b": "x"}}, `priority_map: "a" and "b" both map to "x"`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewLoader(dir, tt.conn, testOptions())
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want %q", err, tt.want)
			}
			if errors.Is(err, ErrRule) != tt.ruleErr {
				t.Errorf("errors.Is(err, ErrRule) = %v, want %v", !tt.ruleErr, tt.ruleErr)
			}
		})
	}
}

// Current may be called while Reload swaps the rules (run with -race).
func TestLoaderConcurrentReload(t *testing.T) {
	dir := t.TempDir()
	path := writeFile(t, dir, "out.star", "replica.summary = 'v0'\n")
	l, err := NewLoader(dir, config.Connection{Outgoing: "out.star"}, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			s, _ := l.Current()
			if _, _, err := s.Outgoing(fullIssue()); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	mtime := time.Now()
	for i := 1; i <= 20; i++ {
		writeFile(t, dir, "out.star", "replica.summary = 'v"+strings.Repeat("x", i)+"'\n")
		mtime = mtime.Add(time.Second)
		if err := os.Chtimes(path, mtime, mtime); err != nil {
			t.Fatal(err)
		}
		if changed, err := l.Reload(); !changed || err != nil {
			t.Errorf("version %d: %v %v", i, changed, err)
		}
	}
	close(stop)
	wg.Wait()
}
