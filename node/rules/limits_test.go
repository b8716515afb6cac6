package rules

import (
	"runtime"
	"testing"
)

// TestMemoryBudget: rules that would build huge values in few steps are
// refused with an error at the file:line of the operation, and the run
// allocates a small part of what the rule asked for (DESIGN 5.7, 5.9).
func TestMemoryBudget(t *testing.T) {
	for _, tc := range []struct {
		name, rule string
		want       []string
		maxAlloc   uint64 // bytes the run may allocate
	}{
		{"a 100 MB string", "replica.description = \"x\" * 100000000\n",
			[]string{"out.star:1:27", "would be 100.0 MB; the limit for one value built by a rule is 16 MiB"}, 4 << 20},
		{"doubling", "s = \"x\"\nfor i in range(40):\n    s = s + s\nreplica.description = s\n",
			[]string{"out.star:3:11", "the limit for one value built by a rule"}, 40 << 20},
		{"doubling in place", "s = \"x\"\nfor i in range(40):\n    s += s\nreplica.description = s\n",
			[]string{"out.star:3:7", "the limit for one value built by a rule"}, 40 << 20},
		{"join", "l = [\"x\" * 1000000] * 200\nreplica.description = \"\".join(l)\n",
			[]string{"out.star:2:30", "the result of join()"}, 4 << 20},
		{"replace", "s = \"x\" * 1000000\nreplica.description = s.replace(\"x\", \"y\" * 40)\n",
			[]string{"out.star:2:32", "the result of replace()"}, 4 << 20},
		{"list of a range", "l = list(range(100000000))\n",
			[]string{"out.star:1:9", "the result of list()"}, 1 << 20},
		{"format with %", "f = \"%s\" * 10000\nreplica.description = f % tuple([\"x\" * 10000] * 10000)\n",
			[]string{"out.star:2:25", "the result of string % tuple"}, 4 << 20},
		{"format()", "f = \"{0}\" * 10000\nreplica.description = f.format(\"x\" * 10000)\n",
			[]string{"out.star:2:31", "the result of format()"}, 4 << 20},
		{"many values", "l = [(\"x\" * 1000000) + str(i) for i in range(1000)]\n",
			[]string{"out.star:1:", "the limit for one run is 64 MiB"}, 80 << 20},
		{"list growing in place", "l = [1]\nfor i in range(40):\n    l.extend(l)\n",
			[]string{"out.star:3:13", "the result of extend()"}, 40 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := mustCompile(t, tc.rule, "", testOptions())
			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, _, err := s.Outgoing(fullIssue())
			runtime.ReadMemStats(&after)
			wantRuleError(t, err, tc.want...)
			if got := after.TotalAlloc - before.TotalAlloc; got > tc.maxAlloc {
				t.Errorf("the run allocated %d bytes; want at most %d", got, tc.maxAlloc)
			}
		})
	}
}

// TestMemoryBudgetLeavesOrdinaryRules: values well within the budget are
// built as before, += on a list still extends it in place, and |= on a
// dict still updates it.
func TestMemoryBudgetLeavesOrdinaryRules(t *testing.T) {
	rule := `l = [1]
m = l
l += [2, 3]
d = {"a": "1"}
e = d
d |= {"b": "2"}
n = 2
n *= 3
s = "ab" * 3 + "%s-%d" % ("x", n) + "{}".format("y") + ",".join(["p", "q"])
replica.summary = s + "/" + str(len(m)) + "/" + ",".join(sorted(e.keys()))
`
	s := mustCompile(t, rule, "", testOptions())
	r, _, err := s.Outgoing(fullIssue())
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := r.Str("summary"); got != "ababab"+"x-6"+"y"+"p,q"+"/3/a,b" {
		t.Fatalf("summary %q", got)
	}
	// A trigger is guarded the same way.
	if _, err := CompileTrigger(`len("x" * 100000000) > 0`); err != nil {
		t.Fatal(err)
	}
	trig, _ := CompileTrigger(`len("x" * 100000000) > 0`)
	_, err = trig.Match(fullIssue())
	wantRuleError(t, err, "trigger:1:9", "the limit for one value built by a rule")
}
