package node

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/config"
	"github.com/issuemesh/issuemesh/node/backup"
	"github.com/issuemesh/issuemesh/store"
)

// TestDoctorLinksAgainstMarkers: doctor passes a consistent home, then
// finds a lost link (an issue marked with a twin the sync log does not
// have), a twin whose issue is gone, and an issue marked as another twin
// than the one it is linked as.
func TestDoctorLinksAgainstMarkers(t *testing.T) {
	ctx := context.Background()
	home := filepath.Join(t.TempDir(), "h")
	cfg := config.Default()
	cfg.Listen = []string{"/ip4/127.0.0.1/tcp/0"}
	if _, err := Init(home, cfg); err != nil {
		t.Fatal(err)
	}
	n, err := Open(home, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	create := func(twin string) string {
		is, err := n.tracker.Create(ctx, adapters.Issue{Summary: "s " + twin, TwinID: twin})
		if err != nil {
			t.Fatal(err)
		}
		return is.Key
	}
	put := func(tws ...*store.Twin) {
		err := n.store.Update(ctx, func(tx *store.Tx) error {
			for _, tw := range tws {
				if err := tx.PutTwin(tw); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	k1 := create("tw1")
	put(&store.Twin{ID: "tw1", LocalKey: k1})
	n.Close()
	r, err := Doctor(ctx, home, nil)
	if err != nil || !r.OK {
		t.Fatalf("doctor on a consistent home: %v %+v", err, r)
	}

	if n, err = Open(home, Options{NoSync: true}); err != nil {
		t.Fatal(err)
	}
	lost := create("tw2")  // its twin is not in the sync log
	other := create("twX") // linked below as tw5
	put(&store.Twin{ID: "tw3", LocalKey: "LOCAL-99"}, &store.Twin{ID: "tw5", LocalKey: other})
	n.Close()
	if r, err = Doctor(ctx, home, nil); err != nil {
		t.Fatal(err)
	}
	if r.OK {
		t.Fatalf("doctor found nothing wrong: %+v", r)
	}
	var markers backup.DoctorCheck
	for _, c := range r.Checks {
		if c.Name == "markers" {
			markers = c
		} else if !c.OK {
			t.Errorf("check %s: %+v", c.Name, c.Problems)
		}
	}
	want := map[string]string{lost: "its link is lost", "LOCAL-99": "not in the tracker", other: "marker of twin twX"}
	for _, p := range markers.Problems {
		if w, ok := want[p.Key]; ok && strings.Contains(p.What, w) && p.Fix != "" {
			delete(want, p.Key)
		}
	}
	if len(want) > 0 {
		t.Fatalf("doctor missed %v; it found %+v", want, markers.Problems)
	}
}

// TestCorruptLocalTrackerRefused: a flipped byte in the embedded tracker's
// database stops the open with an error naming the file, as in the sync log.
func TestCorruptLocalTrackerRefused(t *testing.T) {
	home := filepath.Join(t.TempDir(), "h")
	cfg := config.Default()
	cfg.Listen = []string{"/ip4/127.0.0.1/tcp/0"}
	if _, err := Init(home, cfg); err != nil {
		t.Fatal(err)
	}
	n, err := Open(home, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		if _, err := n.tracker.Create(context.Background(), adapters.Issue{Summary: strings.Repeat("s", i+10)}); err != nil {
			t.Fatal(err)
		}
	}
	n.Close()
	files, _ := filepath.Glob(filepath.Join(home, TrackerDir, "*.sst"))
	if len(files) == 0 {
		t.Fatal("no table in the tracker's database")
	}
	b, _ := os.ReadFile(files[0])
	b[40] ^= 0xff
	os.WriteFile(files[0], b, 0o600)
	_, err = Open(home, Options{NoSync: true})
	if !errors.Is(err, store.ErrCorrupt) || !strings.Contains(err.Error(), files[0]) {
		t.Fatalf("open with a flipped byte in %s: %v", files[0], err)
	}
}
