package replica

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

var (
	digestA = strings.Repeat("ab", 32)
	digestB = strings.Repeat("0f", 32)
)

func file(id, name string, created int64, clk Clock) Attachment {
	return Attachment{ID: id, Filename: name, ContentType: "text/plain", Size: 42, Digest: digestA, Author: "alice", Created: created, Clock: clk}
}

// Attachments round-trip through our codec, and we write and read what the
// msgpack library writes and reads for them, byte for byte.
func TestAttachmentsCodec(t *testing.T) {
	e := Event{V: Version, ID: "e", Twin: "t", Origin: peerA, Replica: Replica{
		Fields: map[string]Value{FieldSummary: {S: "s", Clock: Clock{Wall: 1, Peer: peerA}}},
		Attachments: []Attachment{
			file(peerA+"/1", "trace dump ü.bin", 1_750_000_000_000, Clock{Wall: 5, Logical: 1, Peer: peerA}),
			{ID: peerB + "/2", Filename: "empty", Digest: digestB}, // zero size, no optional fields
		},
	}}
	b := mustMarshalEvent(t, e)
	got, err := UnmarshalEvent(b)
	if err != nil || !reflect.DeepEqual(got, e) {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	if lib := compactMarshal(t, e); !bytes.Equal(b, lib) {
		t.Errorf("we write\n%x\nmsgpack writes\n%x", b, lib)
	}
	var viaLib Event
	if err := msgpack.Unmarshal(b, &viaLib); err != nil || !reflect.DeepEqual(viaLib, e) {
		t.Errorf("msgpack reads our bytes as %+v (%v)", viaLib, err)
	}
	if got, err := UnmarshalEvent(rawMarshal(t, e)); err != nil || !reflect.DeepEqual(got, e) {
		t.Errorf("we read msgpack's bytes as %+v (%v)", got, err)
	}

	// An attachment with a field this node does not know: ignored.
	type futureFile struct {
		Attachment
		Thumb string `msgpack:"thumb"`
	}
	type futureReplica struct {
		Attachments []futureFile `msgpack:"at"`
	}
	type futureEvent struct {
		V       int           `msgpack:"v"`
		ID      string        `msgpack:"id"`
		Twin    string        `msgpack:"twin"`
		Origin  string        `msgpack:"o"`
		Replica futureReplica `msgpack:"r"`
	}
	fe := futureEvent{V: Version, ID: "e", Twin: "t", Origin: peerA, Replica: futureReplica{[]futureFile{{e.Replica.Attachments[0], "x"}}}}
	got, err = UnmarshalEvent(rawMarshal(t, fe))
	if err != nil || len(got.Replica.Attachments) != 1 || got.Replica.Attachments[0] != e.Replica.Attachments[0] {
		t.Errorf("an attachment with an unknown field: %+v, %v", got.Replica.Attachments, err)
	}
}

func TestAttachmentValidation(t *testing.T) {
	with := func(edit func(*Attachment)) Event {
		a := file("p/1", "f.txt", 1, Clock{Wall: 1, Peer: "p"})
		edit(&a)
		return Event{V: Version, ID: "e", Twin: "t", Origin: "p", Replica: Replica{Attachments: []Attachment{a}}}
	}
	many := Event{V: Version, ID: "e", Twin: "t", Origin: "p"}
	for range MaxAttachments + 1 {
		many.Replica.Attachments = append(many.Replica.Attachments, file("p/1", "f", 1, Clock{}))
	}
	tests := []struct {
		name    string
		e       Event
		wantMsg string
	}{
		{"no ID", with(func(a *Attachment) { a.ID = "" }), "attachment ID is empty"},
		{"long ID", with(func(a *Attachment) { a.ID = strings.Repeat("x", MaxIDLen+1) }), "attachment ID of 257 bytes"},
		{"no file name", with(func(a *Attachment) { a.Filename = "" }), "file name is empty"},
		{"long file name", with(func(a *Attachment) { a.Filename = strings.Repeat("n", MaxFilenameLen+1) }), "file name of 256 bytes exceeds the 255-byte limit"},
		{"negative size", with(func(a *Attachment) { a.Size = -1 }), "size -1 is negative"},
		{"short digest", with(func(a *Attachment) { a.Digest = "abc" }), `digest "abc" is not a SHA-256`},
		{"upper-case digest", with(func(a *Attachment) { a.Digest = strings.ToUpper(digestA) }), "is not a SHA-256 in lowercase hex"},
		{"too many", many, "1001 attachments, the limit is 1000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := UnmarshalEvent(rawMarshal(t, tt.e))
			if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("UnmarshalEvent: %v, want ErrMalformed mentioning %q", err, tt.wantMsg)
			}
			if _, err := MarshalEvent(&tt.e); !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("MarshalEvent: %v, want ErrMalformed mentioning %q", err, tt.wantMsg)
			}
		})
	}
}

// The attach protocol's messages round-trip, match the library's layout,
// and refuse other versions and bad digests.
func TestAttachMessages(t *testing.T) {
	q := AttachRequest{V: Version, Twin: "twin1", ID: peerA + "/7", Digest: digestA}
	b, err := MarshalAttachRequest(&q)
	if err != nil {
		t.Fatal(err)
	}
	if lib := compactMarshal(t, q); !bytes.Equal(b, lib) {
		t.Errorf("request: we write\n%x\nmsgpack writes\n%x", b, lib)
	}
	if got, err := UnmarshalAttachRequest(b); err != nil || got != q {
		t.Errorf("request round trip: %+v, %v", got, err)
	}
	for _, a := range []AttachReply{{V: Version, Size: 1 << 40}, {V: Version, Error: "no such file"}} {
		b, err := MarshalAttachReply(&a)
		if err != nil {
			t.Fatal(err)
		}
		if lib := compactMarshal(t, a); !bytes.Equal(b, lib) {
			t.Errorf("reply: we write\n%x\nmsgpack writes\n%x", b, lib)
		}
		if got, err := UnmarshalAttachReply(rawMarshal(t, a)); err != nil || got != a {
			t.Errorf("reply round trip: %+v, %v", got, err)
		}
	}
	if _, err := UnmarshalAttachRequest(rawMarshal(t, AttachRequest{V: 2, Twin: "t", ID: "i", Digest: digestA})); !errors.Is(err, ErrVersion) {
		t.Errorf("version 2 request: %v, want ErrVersion", err)
	}
	if _, err := UnmarshalAttachRequest(rawMarshal(t, AttachRequest{V: Version, Twin: "t", ID: "i", Digest: "x"})); !errors.Is(err, ErrMalformed) {
		t.Errorf("bad digest: %v, want ErrMalformed", err)
	}
	if _, err := UnmarshalAttachReply(rawMarshal(t, AttachReply{V: Version, Size: -1})); !errors.Is(err, ErrMalformed) {
		t.Errorf("negative size: %v, want ErrMalformed", err)
	}
	if _, err := UnmarshalAttachReply([]byte{0x81, 0xa1, 'v'}); !errors.Is(err, ErrMalformed) {
		t.Errorf("truncated reply: %v, want ErrMalformed", err)
	}
}

// Merge unites files by ID; the greater clock picks the copy; the merge is
// commutative, associative and idempotent; Changes names new files only.
func TestMergeAttachments(t *testing.T) {
	c := func(w int64, p string) Clock { return Clock{Wall: w, Peer: p} }
	x := file(peerA+"/1", "x.txt", 20, c(1, peerA))
	y := file(peerB+"/1", "y.txt", 10, c(2, peerB))
	x2 := x
	x2.Clock, x2.Author = c(3, peerB), "alice (a)" // a copy relayed with a newer clock
	a := Replica{Attachments: []Attachment{x}}
	b := Replica{Attachments: []Attachment{y, x2}}

	m, ch := Merge(a, b)
	if want := []Attachment{y, x2}; !reflect.DeepEqual(m.Attachments, want) {
		t.Errorf("merged files %+v, want %+v (sorted by created)", m.Attachments, want)
	}
	if want := []string{x.ID, y.ID}; !reflect.DeepEqual(ch.Attachments, want) || ch.Empty() {
		t.Errorf("changes %v, want %v", ch.Attachments, want)
	}
	m2, _ := Merge(b, a)
	if !reflect.DeepEqual(m, m2) {
		t.Errorf("not commutative: %+v vs %+v", m.Attachments, m2.Attachments)
	}
	again, ch := Merge(m, b)
	if !reflect.DeepEqual(again, m) || !ch.Empty() {
		t.Errorf("not idempotent: %+v, changes %+v", again.Attachments, ch)
	}
	abc, _ := Merge(mergeOf(a, b), Replica{Attachments: []Attachment{x}})
	acb, _ := Merge(a, mergeOf(b, Replica{Attachments: []Attachment{x}}))
	if !reflect.DeepEqual(abc, acb) {
		t.Errorf("not associative: %+v vs %+v", abc.Attachments, acb.Attachments)
	}
	if !SameValues(m, Replica{Attachments: []Attachment{x2, y}}) || SameValues(m, a) {
		t.Error("SameValues does not compare files")
	}
	if got, ok := m.Attachment(x.ID); !ok || got != x2 {
		t.Errorf("Attachment(%s) = %+v, %v", x.ID, got, ok)
	}
	cl := m.Clone()
	cl.Attachments[0].Filename = "changed"
	if m.Attachments[0].Filename == "changed" {
		t.Error("Clone shares the attachments")
	}
}

// mergeOf is Merge without the changes.
func mergeOf(a, b Replica) Replica {
	m, _ := Merge(a, b)
	return m
}
