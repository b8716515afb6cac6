package rules

import (
	"errors"
	"fmt"
	"strings"

	"go.starlark.net/starlark"
	"go.starlark.net/syntax"
)

// # Memory budget
//
// The step limit bounds how long a rule runs, not what it builds: one step
// of "x" * 100_000_000 makes a 100 MB string. So every operation that can
// build a large value is checked before it runs, against two limits:
//
//   - Options.MaxValueBytes (DefaultMaxValueBytes): the size of one value a
//     rule builds, a string or bytes by its length, a list, tuple, dict or
//     set at 16 bytes per element;
//   - Options.MaxRunBytes (DefaultMaxRunBytes): the sum of the sizes of
//     every value one run builds, so that a loop building many values
//     within the first limit is stopped too.
//
// The checks are put in at compile time: in the syntax tree of a rule file
// (and a trigger), the operators +, *, % and | and their augmented forms
// become calls of guard builtins that estimate the result's size from the
// operands and refuse it before it is built, and every call goes through a
// guard that does the same for the builtins that build from their
// arguments (join, replace, format, str, list, ...) and checks what any
// call returned. A refused value is an *Error at the file:line of the
// operator or call, worded "... would be N bytes; the limit for one value
// built by a rule is M".

// Defaults of the memory budget.
const (
	DefaultMaxValueBytes = 16 << 20
	DefaultMaxRunBytes   = 64 << 20
)

// elemBytes is what one element of a collection counts as.
const elemBytes = 16

// Names of the guard builtins. They start with "__" so that they do not
// collide with what a rule file names.
const (
	guardBinop   = "__guard_binop"
	guardInplace = "__guard_inplace"
	guardCall    = "__guard_call"
)

var guardNames = []string{guardBinop, guardInplace, guardCall}

func isGuard(name string) bool { return strings.HasPrefix(name, "__guard_") }

// budget is a run's memory budget (part of its runState).
type budget struct {
	maxValue, maxRun int64
	used             int64
}

// errBudget marks a refused value.
var errBudget = errors.New("over the memory budget of a rule")

// charge books a value of size bytes, or refuses it.
func (b *budget) charge(what string, size int64) error {
	if b == nil || b.maxValue == 0 {
		return nil
	}
	if size > b.maxValue {
		return fmt.Errorf("%w: %s would be %s; the limit for one value built by a rule is %s", errBudget, what, SizeText(size), SizeText(b.maxValue))
	}
	if b.used+size > b.maxRun {
		return fmt.Errorf("%w: %s would bring what this run built to %s; the limit for one run is %s", errBudget, what, SizeText(b.used+size), SizeText(b.maxRun))
	}
	b.used += size
	return nil
}

// SizeText writes a size as the errors of rules (and of the sync engine's
// size limits) word it: 16 MiB for a limit, 1.5 MB, 2.0 kB, 300 bytes.
func SizeText(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1_000_000:
		return fmt.Sprintf("%.1f MB", float64(n)/1e6)
	case n >= 1_000:
		return fmt.Sprintf("%.1f kB", float64(n)/1e3)
	}
	return fmt.Sprintf("%d bytes", n)
}

// shallowSize is the size a value counts as when it is built: a string's
// length, or 16 bytes per element of a collection.
func shallowSize(v starlark.Value) int64 {
	switch v := v.(type) {
	case starlark.String:
		return int64(len(v))
	case starlark.Bytes:
		return int64(len(v))
	case starlark.Int:
		if _, ok := v.Int64(); ok {
			return 0
		}
		return int64(v.BigInt().BitLen() / 8)
	case starlark.Sequence: // list, tuple, dict, set, range
		if v.Type() == "range" {
			return 0 // a range is not materialised
		}
		return int64(v.Len()) * elemBytes
	case starlark.IterableMapping:
		if l, ok := v.(interface{ Len() int }); ok {
			return int64(l.Len()) * elemBytes
		}
	}
	return 0
}

// textBound bounds the length of str(v) or repr(v), giving up (returning
// more than limit) once it is over limit.
func textBound(v starlark.Value, limit int64) int64 {
	switch v := v.(type) {
	case starlark.String:
		return int64(len(v)) + 2
	case starlark.Bytes:
		return int64(len(v))*4 + 3
	case starlark.Int:
		if _, ok := v.Int64(); ok {
			return 20
		}
		return int64(v.BigInt().BitLen())/3 + 2
	case starlark.Iterable:
		if v.Type() == "range" {
			return 64
		}
		var n int64 = 2
		iter := v.Iterate()
		defer iter.Done()
		var x starlark.Value
		for iter.Next(&x) {
			n += textBound(x, limit) + 2
			if n > limit {
				return n
			}
		}
		if m, ok := v.(starlark.IterableMapping); ok {
			for _, kv := range m.Items() {
				n += textBound(kv[1], limit) + 2
				if n > limit {
					return n
				}
			}
		}
		return n
	}
	return int64(len(v.String()))
}

// seqLen is the number of elements an iterable yields, if cheap to tell.
func seqLen(v starlark.Value) (int64, bool) {
	if s, ok := v.(starlark.Sequence); ok {
		return int64(s.Len()), true
	}
	return 0, false
}

// binopSize estimates the size of x op y before it is computed; ok is
// false when the operation builds nothing large.
func binopSize(op syntax.Token, x, y starlark.Value) (int64, bool) {
	switch op {
	case syntax.PLUS, syntax.PIPE:
		switch x.(type) {
		case starlark.String, starlark.Bytes, *starlark.List, starlark.Tuple, *starlark.Dict, *starlark.Set:
			return shallowSize(x) + shallowSize(y), true
		}
	case syntax.STAR:
		seq, n := x, y
		if _, ok := x.(starlark.Int); ok {
			seq, n = y, x
		}
		ni, isInt := n.(starlark.Int)
		if !isInt {
			return 0, false
		}
		k, ok := ni.Int64()
		if _, seqIsInt := seq.(starlark.Int); seqIsInt {
			return shallowSize(x) + shallowSize(y), true // bits of a product
		}
		unit := shallowSize(seq)
		if unit == 0 || k <= 0 {
			return 0, false
		}
		if !ok || k > 1<<40 {
			return 1 << 62, true
		}
		if unit > (1<<62)/k {
			return 1 << 62, true
		}
		return unit * k, true
	case syntax.PERCENT:
		f, ok := x.(starlark.String)
		if !ok {
			return 0, false
		}
		directives := int64(strings.Count(string(f), "%"))
		var arg int64
		limit := int64(1) << 40
		if t, ok := y.(starlark.Tuple); ok {
			for _, a := range t {
				arg = max(arg, textBound(a, limit))
			}
		} else {
			arg = textBound(y, limit)
		}
		return int64(len(f)) + directives*arg, true
	}
	return 0, false
}

// callSize estimates the size of what a builtin builds from its
// arguments, before it runs; ok is false when nothing is known.
func callSize(b *starlark.Builtin, args starlark.Tuple, limit int64) (int64, bool) {
	recv := b.Receiver()
	switch b.Name() {
	case "join":
		sep, isStr := recv.(starlark.String)
		if !isStr || len(args) != 1 {
			return 0, false
		}
		n, ok := seqLen(args[0])
		if !ok {
			return 0, false
		}
		total := int64(len(sep)) * n
		iter := starlark.Iterate(args[0])
		if iter == nil {
			return 0, false
		}
		defer iter.Done()
		var x starlark.Value
		for iter.Next(&x) {
			total += shallowSize(x)
			if total > limit {
				break
			}
		}
		return total, true
	case "replace":
		s, isStr := recv.(starlark.String)
		if !isStr || len(args) < 2 {
			return 0, false
		}
		oldS, ok1 := args[0].(starlark.String)
		newS, ok2 := args[1].(starlark.String)
		if !ok1 || !ok2 {
			return 0, false
		}
		count := int64(len(s) + 1)
		if oldS != "" {
			count = int64(strings.Count(string(s), string(oldS)))
		}
		return int64(len(s)) + count*max(0, int64(len(newS)-len(oldS))), true
	case "format":
		f, isStr := recv.(starlark.String)
		if !isStr {
			return 0, false
		}
		var arg int64
		for _, a := range args {
			arg = max(arg, textBound(a, limit))
		}
		return int64(len(f)) + int64(strings.Count(string(f), "{"))*arg, true
	case "extend", "update":
		if recv == nil || len(args) != 1 {
			return 0, false
		}
		return shallowSize(recv) + shallowSize(args[0]), true
	case "append", "insert":
		if recv == nil {
			return 0, false
		}
		return shallowSize(recv) + elemBytes, true
	case "str", "repr":
		if recv == nil && len(args) == 1 {
			return textBound(args[0], limit), true
		}
	case "list", "tuple", "sorted", "set", "dict", "enumerate", "reversed", "bytes":
		if recv == nil && len(args) >= 1 {
			if r, ok := args[0].(starlark.Sequence); ok {
				return int64(r.Len()) * elemBytes, true // a range too
			}
		}
	}
	return 0, false
}

// guards are the builtins the rewritten syntax tree calls.
func guards() starlark.StringDict {
	return starlark.StringDict{
		guardBinop:   starlark.NewBuiltin(guardBinop, binopGuard),
		guardInplace: starlark.NewBuiltin(guardInplace, inplaceGuard),
		guardCall:    starlark.NewBuiltin(guardCall, callGuard),
	}
}

func budgetOf(t *starlark.Thread) *budget {
	if st, _ := t.Local(runKey).(*runState); st != nil {
		return &st.budget
	}
	return nil
}

func opArgs(args starlark.Tuple) (syntax.Token, starlark.Value, starlark.Value, error) {
	if len(args) != 3 {
		return 0, nil, nil, errors.New("internal: a guard takes three arguments")
	}
	n, ok := args[0].(starlark.Int)
	if !ok {
		return 0, nil, nil, errors.New("internal: a guard's operator is an int")
	}
	op, _ := n.Int64()
	return syntax.Token(op), args[1], args[2], nil
}

// binopGuard computes x op y once the budget allows its size.
func binopGuard(t *starlark.Thread, _ *starlark.Builtin, args starlark.Tuple, _ []starlark.Tuple) (starlark.Value, error) {
	op, x, y, err := opArgs(args)
	if err != nil {
		return nil, err
	}
	if size, ok := binopSize(op, x, y); ok {
		if err := budgetOf(t).charge(fmt.Sprintf("the result of %s %s %s", x.Type(), op, y.Type()), size); err != nil {
			return nil, err
		}
	}
	return starlark.Binary(op, x, y)
}

// inplaceGuard is x op= y: a list extended (or a dict updated) in place,
// as Starlark does, else x op y.
func inplaceGuard(t *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kw []starlark.Tuple) (starlark.Value, error) {
	op, x, y, err := opArgs(args)
	if err != nil {
		return nil, err
	}
	switch xv := x.(type) {
	case *starlark.List:
		if op != syntax.PLUS {
			break
		}
		yi, ok := y.(starlark.Iterable)
		if !ok {
			break
		}
		if err := budgetOf(t).charge("the list after +=", shallowSize(xv)+shallowSize(y)); err != nil {
			return nil, err
		}
		var elems []starlark.Value // collected first: y may be x
		iter := yi.Iterate()
		var e starlark.Value
		for iter.Next(&e) {
			elems = append(elems, e)
		}
		iter.Done()
		for _, e := range elems {
			if err := xv.Append(e); err != nil {
				return nil, fmt.Errorf("cannot apply += to %s", err)
			}
		}
		return xv, nil
	case *starlark.Dict:
		yd, ok := y.(*starlark.Dict)
		if op != syntax.PIPE || !ok {
			break
		}
		if err := budgetOf(t).charge("the dict after |=", shallowSize(xv)+shallowSize(yd)); err != nil {
			return nil, err
		}
		for _, kv := range yd.Items() {
			if err := xv.SetKey(kv[0], kv[1]); err != nil {
				return nil, fmt.Errorf("cannot apply |= to dict: %w", err)
			}
		}
		return xv, nil
	}
	return binopGuard(t, b, args, kw)
}

// callGuard calls args[0] with the other arguments, checking the size of
// what a builtin would build first and of what any call returned.
func callGuard(t *starlark.Thread, _ *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if len(args) == 0 {
		return nil, errors.New("internal: the call guard needs a function")
	}
	fn, rest := args[0], args[1:]
	bud := budgetOf(t)
	if b, ok := fn.(*starlark.Builtin); ok && bud != nil {
		if size, ok := callSize(b, rest, bud.maxValue); ok {
			if err := bud.charge("the result of "+b.Name()+"()", size); err != nil {
				return nil, err
			}
			v, err := starlark.Call(t, fn, rest, kwargs)
			return v, err
		}
	}
	v, err := starlark.Call(t, fn, rest, kwargs)
	if err != nil {
		return nil, err
	}
	if _, isFunc := fn.(*starlark.Function); !isFunc && bud != nil {
		// A value a builtin made: check it after the fact (what a rule's
		// own function returns was checked as it was built).
		if size := shallowSize(v); size > 0 {
			if err := bud.charge("the result of "+fnName(fn)+"()", size); err != nil {
				return nil, err
			}
		}
	}
	return v, nil
}

func fnName(fn starlark.Value) string {
	if c, ok := fn.(starlark.Callable); ok {
		return c.Name()
	}
	return fn.Type()
}
