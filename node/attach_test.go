package node

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/adapters/local"
	"github.com/issuemesh/issuemesh/store"

	"github.com/issuemesh/issuemesh/internal/testutil"
)

// fileBytes reads a file of an issue back from a node's tracker.
func (tn *testNode) fileBytes(t *testing.T, key string, a adapters.Attachment) []byte {
	t.Helper()
	rc, err := tn.tracker.(adapters.Attachments).OpenAttachment(context.Background(), key, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func testData(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/251)
	}
	return b
}

// A file attached on A crosses to B (a file of several chunks), with its
// name, author and bytes; B's copy carries A's global ID. Later changes of
// the issue, either way, neither fetch the file again nor add a copy, and
// nothing echoes.
func TestAttachmentCrosses(t *testing.T) {
	ctx := context.Background()
	a, b := startNode(t, "a", Options{}), startNode(t, "b", Options{})
	pairNodes(t, a, b)

	is, err := a.tracker.Create(ctx, adapters.Issue{Summary: "with a file", Status: "Open"})
	if err != nil {
		t.Fatal(err)
	}
	data := testData(2<<20 + 12345) // three chunks on the wire
	att, err := a.local.AddAttachment(ctx, is.Key, adapters.Attachment{Filename: "dump ü.bin", ContentType: "application/octet-stream", Author: "alice"}, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	var onB adapters.Issue
	testutil.WaitFor(t, 20*time.Second, "B has the issue with its file", func() bool {
		var ok bool
		onB, ok = b.issueBySummary(t, "with a file")
		if ok {
			onB, err = b.tracker.Get(ctx, onB.Key)
		}
		return ok && err == nil && len(onB.Attachments) == 1 && a.count(t, "o/") == 0
	})
	got := onB.Attachments[0]
	wantID := a.ID().String() + "/" + att.ID
	if got.SyncID != wantID || got.Filename != "dump ü.bin" || got.Size != int64(len(data)) || got.Digest != att.Digest || got.Author != "alice (a)" {
		t.Errorf("file on B: %+v; want sync ID %s, A's name, size and digest, author \"alice (a)\"", got, wantID)
	}
	if !bytes.Equal(b.fileBytes(t, onB.Key, got), data) {
		t.Fatal("the bytes on B differ from A's")
	}

	// Changes either way: the file is not fetched again, nor copied back.
	if _, err := a.tracker.Update(ctx, is.Key, adapters.Patch{Summary: ptr("with a file, edited on A")}); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 10*time.Second, "B has A's edit", func() bool {
		got, err := b.tracker.Get(ctx, onB.Key)
		return err == nil && got.Summary == "with a file, edited on A"
	})
	if _, err := b.tracker.Update(ctx, onB.Key, adapters.Patch{Status: ptr("Done")}); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 10*time.Second, "A has B's edit and both settled", func() bool {
		got, err := a.tracker.Get(ctx, is.Key)
		return err == nil && got.Status == "Done" && a.count(t, "o/") == 0 && b.count(t, "o/") == 0 && a.settled(t) && b.settled(t)
	})
	ga, _ := a.tracker.Get(ctx, is.Key)
	gb, _ := b.tracker.Get(ctx, onB.Key)
	if len(ga.Attachments) != 1 || len(gb.Attachments) != 1 {
		t.Errorf("files: A has %d, B has %d; want one each", len(ga.Attachments), len(gb.Attachments))
	}
	if n := strings.Count(a.logs.String(), "file sent"); n != 1 {
		t.Errorf("A sent the file %d times, want once", n)
	}
	if n := strings.Count(b.logs.String(), "file sent"); n != 0 {
		t.Errorf("B sent a file %d times, want never", n)
	}
	if a.count(t, "i/") != 0 || b.count(t, "i/") != 0 {
		t.Error("events left in an incoming log")
	}
}

// flakyFiles is a local tracker whose files cannot be read the first
// times, or whose bytes are corrupted.
type flakyFiles struct {
	*local.Tracker
	failures atomic.Int32 // reads that fail (tracker unavailable) before they work
	corrupt  bool
}

func (f *flakyFiles) OpenAttachment(ctx context.Context, key, id string) (io.ReadCloser, error) {
	if f.failures.Add(-1) >= 0 {
		return nil, fmt.Errorf("test: the tracker is down: %w", adapters.ErrUnavailable)
	}
	rc, err := f.Tracker.OpenAttachment(ctx, key, id)
	if err != nil || !f.corrupt {
		return rc, err
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	b[len(b)/2] ^= 0xff
	return io.NopCloser(bytes.NewReader(b)), nil
}

func flakyNode(t *testing.T, name string, failures int32, corrupt bool) *testNode {
	t.Helper()
	lt, err := local.Open(filepath.Join(t.TempDir(), "tracker"), local.Options{Prefix: "FL"})
	if err != nil {
		t.Fatal(err)
	}
	f := &flakyFiles{Tracker: lt, corrupt: corrupt}
	f.failures.Store(failures)
	return startNode(t, name, Options{Tracker: f})
}

// A file that cannot be fetched yet (the sender's tracker is down) is
// fetched on a later try; bytes that do not match the shared digest block
// the twin with an error naming the file, and nothing is attached.
func TestAttachmentFetchFailures(t *testing.T) {
	ctx := context.Background()
	t.Run("transient", func(t *testing.T) {
		a, b := flakyNode(t, "a", 3, false), startNode(t, "b", Options{})
		pairNodes(t, a, b)
		is, err := a.tracker.Create(ctx, adapters.Issue{Summary: "flaky file"})
		if err != nil {
			t.Fatal(err)
		}
		data := []byte("the bytes")
		if _, err := a.tracker.(adapters.Attachments).AddAttachment(ctx, is.Key, adapters.Attachment{Filename: "f.txt"}, bytes.NewReader(data)); err != nil {
			t.Fatal(err)
		}
		testutil.WaitFor(t, 20*time.Second, "B has the file after retries", func() bool {
			onB, ok := b.issueBySummary(t, "flaky file")
			if !ok {
				return false
			}
			onB, err := b.tracker.Get(ctx, onB.Key)
			return err == nil && len(onB.Attachments) == 1 && bytes.Equal(b.fileBytes(t, onB.Key, onB.Attachments[0]), data)
		})
		if !strings.Contains(b.logs.String(), "the tracker is down") {
			t.Error("B's log does not show the failed fetch")
		}
	})
	t.Run("corrupt", func(t *testing.T) {
		a, b := flakyNode(t, "a", 0, true), startNode(t, "b", Options{})
		pairNodes(t, a, b)
		is, err := a.tracker.Create(ctx, adapters.Issue{Summary: "bad file"})
		if err != nil {
			t.Fatal(err)
		}
		data := []byte("0123456789")
		if _, err := a.tracker.(adapters.Attachments).AddAttachment(ctx, is.Key, adapters.Attachment{Filename: "bad.txt"}, bytes.NewReader(data)); err != nil {
			t.Fatal(err)
		}
		var blocked []store.Blocked
		testutil.WaitFor(t, 20*time.Second, "B blocks the twin", func() bool {
			if err := b.store.View(func(tx *store.Tx) (err error) { blocked, err = tx.BlockedTwins(); return }); err != nil {
				t.Fatal(err)
			}
			return len(blocked) == 1
		})
		sum := sha256.Sum256(data)
		if e := blocked[0].Error; !strings.Contains(e, `"bad.txt"`) || !strings.Contains(e, hex.EncodeToString(sum[:])) {
			t.Errorf("blocked with %q; want the file's name and digest", e)
		}
		if onB, ok := b.issueBySummary(t, "bad file"); ok {
			if got, _ := b.tracker.Get(ctx, onB.Key); len(got.Attachments) != 0 {
				t.Errorf("a corrupted file was attached: %+v", got.Attachments)
			}
		}
	})
}
