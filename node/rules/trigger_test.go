package rules

import (
	"testing"

	"github.com/issuemesh/issuemesh/adapters"
)

func TestTriggerMatch(t *testing.T) {
	full := fullIssue()
	closed := fullIssue()
	closed.Status = "Closed"
	bare := adapters.Issue{Key: "LOCAL-1"}
	tests := []struct {
		expr  string
		issue adapters.Issue
		want  bool
	}{
		{``, bare, true},
		{`"sync" in issue.labels and issue.status != "Closed"`, full, true},
		{`"sync" in issue.labels and issue.status != "Closed"`, closed, false},
		{`"sync" in issue.labels and issue.status != "Closed"`, bare, false},
		{`issue.key.startswith("LOCAL-")`, bare, true},
		{`issue.extra.get("project") == "OPS"`, full, true},
		{`issue.extra.get("project") == "OPS"`, bare, false},
		{`any([c.internal for c in issue.comments])`, full, true},
		{`len(issue.comments) > 0 and issue.comments[0].sync_id == "` + testSelf + `/1"`, full, true},
		{`issue.priority in ("High", "Urgent")`, full, true},
		{`issue.created > 0 and issue.updated >= issue.created`, full, true},
		{"(issue.summary != ''\n and True)", full, true},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			trig, err := CompileTriggerOptions(tt.expr, testOptions())
			if err != nil {
				t.Fatal(err)
			}
			got, err := trig.Match(tt.issue)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("Match = %v, want %v", got, tt.want)
			}
			if trig.String() != tt.expr {
				t.Errorf("String() = %q", trig.String())
			}
		})
	}
	var none *Trigger
	if ok, err := none.Match(bare); !ok || err != nil {
		t.Errorf("nil trigger: %v %v", ok, err)
	}
	empty, err := CompileTrigger("")
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := empty.Match(bare); !ok || err != nil {
		t.Errorf("empty trigger: %v %v", ok, err)
	}
}

func TestTriggerErrors(t *testing.T) {
	tests := []struct {
		name, expr string
		compile    bool // the error comes from CompileTrigger
		want       []string
	}{
		{"syntax", `"sync" in issue.labels and`, true, []string{"trigger: trigger:1:27: got end of file, want primary expression"}},
		{"statement", `x = 1`, true, []string{"trigger: trigger:1:4: got '=' after expression, want EOF"}},
		{"undefined", `issue.status == Closed`, true, []string{"trigger: trigger:1:17: undefined: Closed"}},
		{"no helpers", `skip()`, true, []string{"undefined: skip"}},
		{"not a bool", `issue.summary`, false, []string{`trigger: trigger: the expression gave string "Printer on fire", want True or False`}},
		{"None is not a bool", `issue.extra.get("none")`, false, []string{"the expression gave NoneType None"}},
		{"runtime error", `issue.summary + 1`, false, []string{"trigger: trigger:1:15: unknown binary op: string + int"}},
		{"unknown field", `issue.lables`, false, []string{`trigger:1:6: issue has no field "lables"`, "did you mean .labels?"}},
		{"the result name is out of reach", `trigger_result`, true, []string{"undefined: trigger_result"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			trig, err := CompileTrigger(tt.expr)
			if (err != nil) != tt.compile {
				t.Fatalf("CompileTrigger error %v, want an error: %v", err, tt.compile)
			}
			if err == nil {
				_, err = trig.Match(fullIssue())
			}
			wantRuleError(t, err, tt.want...)
		})
	}
}
