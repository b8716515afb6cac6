package rules

import (
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/issuemesh/issuemesh/adapters"
)

// withDeadline runs f and fails the test if it does not return in time: a
// broken step limit must not hang the test run.
func withDeadline(t *testing.T, d time.Duration, f func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case err := <-done:
		return err
	case <-timer.C:
		t.Fatalf("still running after %v", d)
		return nil
	}
}

func TestStepLimit(t *testing.T) {
	tests := []struct {
		name     string
		maxSteps uint64
		out, in  string
		trigger  string
		want     []string
	}{
		{name: "outgoing while loop", maxSteps: 10_000, out: "x = 0\nwhile True:\n    x += 1\n",
			want: []string{"outgoing rules: out.star:3:", "stopped at the step limit of 10000 steps", "endless loop"}},
		{name: "default limit", out: "while True:\n    pass\n",
			want: []string{"out.star:", "step limit of 1000000 steps"}},
		{name: "in a function", maxSteps: 10_000, out: "def f():\n    n = 0\n    while True:\n        n += 1\nf()\n",
			want: []string{"out.star:4:"}},
		{name: "in a called function", maxSteps: 10_000, out: "def g(x):\n    return x + 1\n\nn = 0\nwhile True:\n    n = g(n)\n",
			want: []string{"out.star:5:1:"}},
		{name: "an empty loop", maxSteps: 10_000, out: "replica.summary = issue.summary\n\nwhile True:\n    pass\n",
			want: []string{"out.star:3:1:"}},
		{name: "an empty loop in a function", maxSteps: 10_000, out: "def f():\n    x = 1\n    while x:\n        pass\n\nf()\n",
			want: []string{"out.star:3:"}},
		{name: "a long for loop", maxSteps: 10_000, out: "x = 0\nfor i in range(1000000):\n    pass\n",
			want: []string{"out.star:2:1:"}},
		{name: "incoming", maxSteps: 10_000, in: "while True:\n    issue.summary = 'x'\n",
			want: []string{"incoming rules: in.star:2:", "step limit of 10000"}},
		{name: "trigger", maxSteps: 1_000, trigger: "len([x for x in range(100000000)]) > 0",
			want: []string{"trigger: trigger:1:", "step limit of 1000"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := testOptions()
			o.MaxSteps = tt.maxSteps
			err := withDeadline(t, 60*time.Second, func() error {
				if tt.trigger != "" {
					trig, err := CompileTriggerOptions(tt.trigger, o)
					if err != nil {
						return err
					}
					_, err = trig.Match(fullIssue())
					return err
				}
				s := mustCompile(t, tt.out, tt.in, o)
				if tt.out != "" {
					_, _, err := s.Outgoing(fullIssue())
					return err
				}
				cur := fullIssue()
				_, err := s.Incoming(Incoming{Issue: &cur})
				return err
			})
			wantRuleError(t, err, tt.want...)
		})
	}
}

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		name     string
		out, in  string
		want     []string
		wantFile bool
	}{
		{name: "load outgoing", out: "replica.summary = 'x'\nload('lib.star', 'f')\n",
			want: []string{"outgoing rules: out.star:2:6: load is not allowed in rules"}},
		{name: "load incoming", in: "load('x', 'y')\n",
			want: []string{"incoming rules: in.star:1:6: load is not allowed in rules"}},
		{name: "syntax error", out: "replica.summary = 'x'\nif issue.status == 'Open'\n    skip()\n",
			want: []string{"outgoing rules: out.star:2:26: got newline, want ':'"}},
		{name: "unterminated string", in: "issue.summary = 'x\n",
			want: []string{"incoming rules: in.star:1:17: unexpected newline in string"}},
		{name: "undefined name", out: "replica.summary = summary\n",
			want: []string{"out.star:1:19: undefined: summary"}},
		{name: "several undefined names", out: "a\nb\n",
			want: []string{"out.star:1:1: undefined: a (also out.star:2:1: undefined: b)"}},
		{name: "no clock", out: "replica.t = str(time.now())\n", want: []string{"out.star:1:17: undefined: time"}},
		{name: "no randomness", out: "replica.t = random.choice(['a'])\n", want: []string{"out.star:1:13: undefined: random"}},
		{name: "incoming names are not outgoing", out: "if first_sync:\n    pass\n", want: []string{"out.star:1:4: undefined: first_sync"}},
		{name: "outgoing names differ from incoming", in: "x = changed\ny = merge_comments\nz = zzz\n", want: []string{"in.star:3:5: undefined: zzz"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, in *Source
			if tt.out != "" {
				out = &Source{Name: "out.star", Text: []byte(tt.out)}
			}
			if tt.in != "" {
				in = &Source{Name: "in.star", Text: []byte(tt.in)}
			}
			_, err := Compile(out, in, testOptions())
			wantRuleError(t, err, tt.want...)
		})
	}
}

func TestRuntimeErrorDetails(t *testing.T) {
	s := mustCompile(t, "def f(x):\n    return x.nope\n\nreplica.s = f(issue)\n", "", testOptions())
	_, _, err := s.Outgoing(fullIssue())
	var re *Error
	if !errors.As(err, &re) {
		t.Fatalf("error %v is not an *Error", err)
	}
	if re.Rule != ruleOutgoing || re.Pos != "out.star:2:13" || !strings.Contains(re.Msg, `issue has no field "nope"`) {
		t.Errorf("error %+v", re)
	}
	if !strings.Contains(re.Backtrace, "out.star:4:14: in <toplevel>") || !strings.Contains(re.Backtrace, "out.star:2:13: in f") {
		t.Errorf("backtrace %q lacks the call stack", re.Backtrace)
	}
	if !errors.Is(err, ErrRule) {
		t.Error("not ErrRule")
	}
}

func TestRecursionRefused(t *testing.T) {
	s := mustCompile(t, "def f(n):\n    return f(n)\nf(1)\n", "", testOptions())
	err := withDeadline(t, 60*time.Second, func() error { _, _, err := s.Outgoing(adapters.Issue{}); return err })
	wantRuleError(t, err, "out.star:2:13: function f called recursively")
}

// A Set and a Trigger serve many goroutines at once (run with -race).
func TestConcurrentUse(t *testing.T) {
	o := testOptions()
	o.StatusMap = map[string]string{"Resolved": "Done"}
	s := mustCompile(t, DefaultOutgoingScript, briefIncoming, o)
	trig, err := CompileTriggerOptions(`"sync" in issue.labels and issue.comments[0].sync_id != ""`, o)
	if err != nil {
		t.Fatal(err)
	}
	wantOut, _, err := s.Outgoing(fullIssue())
	if err != nil {
		t.Fatal(err)
	}
	m := mergedReplica()
	cur := fullIssue()
	wantIn, err := s.Incoming(Incoming{Replica: m, Changed: allChanges(m), Issue: &cur})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				out, _, err := s.Outgoing(fullIssue())
				if err != nil || !reflect.DeepEqual(out, wantOut) {
					errs <- errors.New("outgoing differs under concurrency")
					return
				}
				cur := fullIssue()
				in, err := s.Incoming(Incoming{Replica: m, Changed: allChanges(m), Issue: &cur})
				if err != nil || !reflect.DeepEqual(in, wantIn) {
					errs <- errors.New("incoming differs under concurrency")
					return
				}
				if ok, err := trig.Match(fullIssue()); err != nil || !ok {
					errs <- errors.New("trigger differs under concurrency")
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
