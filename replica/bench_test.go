package replica

import (
	"bufio"
	"bytes"
	"fmt"
	"testing"
)

func BenchmarkMarshalEvent(b *testing.B) {
	e := sampleEvent()
	b.ReportAllocs()
	size := 0
	for b.Loop() {
		buf, err := MarshalEvent(&e)
		if err != nil {
			b.Fatal(err)
		}
		size = len(buf)
	}
	b.SetBytes(int64(size))
}

func BenchmarkUnmarshalEvent(b *testing.B) {
	buf := mustMarshalEvent(b, sampleEvent())
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := UnmarshalEvent(buf); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMerge(b *testing.B) {
	base := sampleEvent().Replica
	in := base.Clone()
	c := Clock{Wall: 1_750_000_001_000, Peer: peerB}
	in.Set(FieldStatus, Value{S: "Done", Clock: c})
	in.Comments = append(in.Comments, Comment{ID: peerB + "/89", Author: "bob", Body: "Fixed.", Created: c.Wall, Clock: c})
	b.ReportAllocs()
	for b.Loop() {
		Merge(base, in)
	}
}

func BenchmarkReadFrame(b *testing.B) {
	msg := mustMarshalEvent(b, sampleEvent())
	const frames = 1000
	var stream bytes.Buffer
	for range frames {
		if err := WriteFrame(&stream, msg); err != nil {
			b.Fatal(err)
		}
	}
	data := stream.Bytes()
	src := bytes.NewReader(data)
	r := bufio.NewReader(src)
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if i%frames == 0 {
			src.Reset(data)
			r.Reset(src)
		}
		i++
		if _, err := ReadFrame(r, DefaultMaxFrame); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPrescan(b *testing.B) {
	buf := mustMarshalEvent(b, sampleEvent())
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := prescan(buf); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkHLCNow(b *testing.B) {
	h := NewHLC(peerA, nil)
	b.ReportAllocs()
	for b.Loop() {
		h.Now()
	}
}

// ExampleMerge shows two nodes' edits meeting.
func ExampleMerge() {
	a := NewHLC("peerA", nil)
	b := NewHLC("peerB", nil)

	var atA, atB Replica
	atA.Set(FieldStatus, Value{S: "In Progress", Clock: a.Now()})
	b.Observe(atA.Fields[FieldStatus].Clock) // B has seen A's edit
	atB.Set(FieldStatus, Value{S: "Done", Clock: b.Now()})

	merged, changes := Merge(atA, atB)
	status, _ := merged.Str(FieldStatus)
	fmt.Println(status, changes.Fields)
	// Output: Done [status]
}
