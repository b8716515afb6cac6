package e2e

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/issuemesh/issuemesh/internal/testutil"
)

type historyRecord struct {
	Dir      string   `json:"dir"`
	What     string   `json:"what"`
	Peer     string   `json:"peer"`
	PeerName string   `json:"peer_name"`
	Fields   []string `json:"fields"`
}

func (p *proc) history(key string) []historyRecord {
	p.t.Helper()
	var h struct {
		Records []historyRecord `json:"records"`
	}
	if err := p.cliJSON(&h, "history", key); err != nil {
		p.t.Fatal(err)
	}
	return h.Records
}

// hasPart reports whether a record of dir and what lists a part with prefix.
func hasPart(rs []historyRecord, dir, what, prefix, peerName string) bool {
	return slices.ContainsFunc(rs, func(r historyRecord) bool {
		return r.Dir == dir && r.What == what && r.PeerName == peerName &&
			slices.ContainsFunc(r.Fields, func(f string) bool { return strings.HasPrefix(f, prefix) })
	})
}

// The history of both sides lists every part of a change: a change that is
// only a comment, or only a file, shows as such on the receiver too, and
// peers show by the names they have in the peer list.
func TestHistoryListsEveryPartWithPeerNames(t *testing.T) {
	a, b := newNode(t, "alice"), newNode(t, "bob")
	a.start()
	b.start()
	pair(a, b)

	keyA := trim(a.mustCLI("issue", "create", "--summary", "history of every part"))
	var keyB string
	testutil.WaitFor(t, 10*time.Second, "the issue is on B", func() bool {
		is, ok := b.findBySummary("history of every part")
		keyB = is.Key
		return ok
	})
	a.mustCLI("issue", "comment", keyA, "--author", "alice", "--body", "only a comment")
	file := filepath.Join(t.TempDir(), "notes.txt")
	if err := os.WriteFile(file, []byte("only a file"), 0o644); err != nil {
		t.Fatal(err)
	}
	a.mustCLI("issue", "attach", keyA, file)
	testutil.WaitFor(t, 10*time.Second, "B's history lists the comment and the file as applied, from alice", func() bool {
		rs := b.history(keyB)
		return hasPart(rs, "in", "applied", "comment:", "alice") && hasPart(rs, "in", "applied", "attachment:", "alice")
	})
	testutil.WaitFor(t, 10*time.Second, "A's history lists the comment and the file as queued, for bob", func() bool {
		rs := a.history(keyA)
		return hasPart(rs, "out", "queued", "comment:", "bob") && hasPart(rs, "out", "queued", "attachment:", "bob")
	})
	text := b.mustCLI("history", keyB)
	if !strings.Contains(text, "peer alice ") || !strings.Contains(text, "comment:") {
		t.Fatalf("B's history text names no peer alice or no comment:\n%s", text)
	}
}
