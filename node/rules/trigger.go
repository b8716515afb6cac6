package rules

import (
	"fmt"
	"log/slog"
	"slices"

	"go.starlark.net/starlark"
	"go.starlark.net/syntax"

	"github.com/issuemesh/issuemesh/adapters"
)

// Trigger decides which issues a connection shares: a Starlark expression
// over the read-only `issue` that gives True or False, e.g.
// `"sync" in issue.labels and issue.status != "Closed"`. It is immutable and
// safe for concurrent use; a nil or empty Trigger matches every issue.
type Trigger struct {
	expr     string
	prog     *starlark.Program // nil: matches everything
	self     string
	maxSteps uint64
	limits   budget
	log      *slog.Logger
}

// triggerName is the file name of a trigger in positions.
const triggerName = "trigger"

// triggerResult is the global the compiled expression is assigned to.
const triggerResult = "trigger result"

// CompileTrigger compiles a trigger expression with the default step limit;
// "" matches every issue.
func CompileTrigger(expr string) (*Trigger, error) {
	return CompileTriggerOptions(expr, Options{})
}

// CompileTriggerOptions compiles a trigger expression with the step limit
// and comment IDs (issue.comments[i].sync_id) of o.
func CompileTriggerOptions(expr string, o Options) (*Trigger, error) {
	t := &Trigger{expr: expr, self: o.Self, maxSteps: o.MaxSteps, limits: o.budget(), log: o.Log}
	if t.maxSteps == 0 {
		t.maxSteps = DefaultMaxSteps
	}
	if expr == "" {
		return t, nil
	}
	opts := fileOptions()
	e, err := opts.ParseExpr(triggerName, expr, 0)
	if err != nil {
		return nil, compileError(ruleTrigger, triggerName, []byte(expr), err)
	}
	// Compile the expression as the file `<result> = <expr>`, so that it is
	// compiled once and each Match only binds `issue`. The expression keeps
	// its own positions; the result's name is not an identifier, so the
	// expression cannot refer to it.
	f, err := opts.Parse(triggerName, "", 0)
	if err != nil {
		return nil, compileError(ruleTrigger, triggerName, []byte(expr), err)
	}
	start, _ := e.Span()
	f.Stmts = []syntax.Stmt{&syntax.AssignStmt{
		OpPos: start,
		Op:    syntax.EQ,
		LHS:   &syntax.Ident{NamePos: start, Name: triggerResult},
		RHS:   guardExpr(e),
	}}
	prog, err := starlark.FileProgram(f, func(name string) bool { return name == "issue" || slices.Contains(guardNames, name) })
	if err != nil {
		return nil, compileError(ruleTrigger, triggerName, []byte(expr), err)
	}
	t.prog = prog
	return t, nil
}

// String returns the expression.
func (t *Trigger) String() string {
	if t == nil {
		return ""
	}
	return t.expr
}

// Match reports whether the connection shares the issue.
func (t *Trigger) Match(is adapters.Issue) (bool, error) {
	if t == nil || t.prog == nil {
		return true, nil
	}
	st := &runState{budget: t.limits}
	thread := newThread(ruleTrigger, t.maxSteps, t.log, st)
	pre := guards()
	pre["issue"] = &issueView{is: &is, self: t.self, rule: ruleTrigger}
	globals, err := t.prog.Init(thread, pre)
	if err != nil {
		return false, runError(ruleTrigger, triggerName, t.maxSteps, nil, st, err)
	}
	switch v := globals[triggerResult].(type) {
	case starlark.Bool:
		return bool(v), nil
	case nil:
		return false, &Error{Rule: ruleTrigger, Pos: triggerName, Msg: "the expression gave no value"}
	default:
		return false, &Error{Rule: ruleTrigger, Pos: triggerName, Msg: fmt.Sprintf("the expression gave %s %s, want True or False (e.g. bool(...) or a comparison)", v.Type(), v.String())}
	}
}
