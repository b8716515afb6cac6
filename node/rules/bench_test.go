package rules

import (
	"testing"
)

func BenchmarkOutgoingDefault(b *testing.B) {
	s := mustCompile(b, "", "", testOptions())
	is := fullIssue()
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := s.Outgoing(is); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOutgoingScript(b *testing.B) {
	o := testOptions()
	o.StatusMap = map[string]string{"Resolved": "Done"}
	s := mustCompile(b, DefaultOutgoingScript, "", o)
	is := fullIssue()
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := s.Outgoing(is); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkIncomingDefault(b *testing.B) {
	s := mustCompile(b, "", "", testOptions())
	m := mergedReplica()
	ch := allChanges(m)
	cur := fullIssue()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Incoming(Incoming{Replica: m, Changed: ch, Issue: &cur}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkIncomingScript(b *testing.B) {
	s := mustCompile(b, "", briefIncoming, testOptions())
	m := mergedReplica()
	ch := allChanges(m)
	cur := fullIssue()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Incoming(Incoming{Replica: m, Changed: ch, Issue: &cur, Previous: &m}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkTrigger(b *testing.B) {
	trig, err := CompileTriggerOptions(`"sync" in issue.labels and issue.status != "Closed"`, testOptions())
	if err != nil {
		b.Fatal(err)
	}
	is := fullIssue()
	b.ReportAllocs()
	for b.Loop() {
		if ok, err := trig.Match(is); err != nil || !ok {
			b.Fatal(ok, err)
		}
	}
}
