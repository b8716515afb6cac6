package rules

import (
	"fmt"

	"go.starlark.net/syntax"
)

// The syntax-tree rewrite that puts the memory budget's guards (limits.go)
// into a rule file or trigger before it is resolved and compiled: x + y
// becomes __guard_binop(PLUS, x, y), x += y becomes
// x = __guard_inplace(PLUS, x, y), f(a, b=c) becomes
// __guard_call(f, a, b=c). The new calls keep the positions of the
// operators and calls they replace, so that errors name the same
// file:line:col.

// guardFile rewrites a parsed file so that its operators and calls go
// through the guards (see the package's memory budget).
func guardFile(f *syntax.File) {
	for _, s := range f.Stmts {
		guardStmt(s)
	}
}

func guardStmts(ss []syntax.Stmt) {
	for _, s := range ss {
		guardStmt(s)
	}
}

func guardStmt(s syntax.Stmt) {
	switch s := s.(type) {
	case *syntax.AssignStmt:
		s.RHS = guardExpr(s.RHS)
		if s.Op != syntax.EQ {
			if lhs, ok := cloneTarget(s.LHS); ok {
				op := s.Op - syntax.PLUS_EQ + syntax.PLUS
				s.RHS = guardCallExpr(guardInplace, s.OpPos, opLiteral(op, s.OpPos), lhs, s.RHS)
				s.Op = syntax.EQ
			}
		}
		guardTarget(s.LHS)
	case *syntax.ExprStmt:
		s.X = guardExpr(s.X)
	case *syntax.IfStmt:
		s.Cond = guardExpr(s.Cond)
		guardStmts(s.True)
		guardStmts(s.False)
	case *syntax.ForStmt:
		s.X = guardExpr(s.X)
		guardTarget(s.Vars)
		guardStmts(s.Body)
	case *syntax.WhileStmt:
		s.Cond = guardExpr(s.Cond)
		guardStmts(s.Body)
	case *syntax.DefStmt:
		guardParams(s.Params)
		guardStmts(s.Body)
	case *syntax.ReturnStmt:
		if s.Result != nil {
			s.Result = guardExpr(s.Result)
		}
	}
}

func guardParams(ps []syntax.Expr) {
	for _, p := range ps {
		if b, ok := p.(*syntax.BinaryExpr); ok && b.Op == syntax.EQ {
			b.Y = guardExpr(b.Y) // a default value
		}
	}
}

// guardTarget guards the expressions inside an assignment target (an
// index, the object of a dot) and leaves the target's shape.
func guardTarget(e syntax.Expr) {
	switch e := e.(type) {
	case *syntax.IndexExpr:
		e.X = guardExpr(e.X)
		e.Y = guardExpr(e.Y)
	case *syntax.DotExpr:
		e.X = guardExpr(e.X)
	case *syntax.TupleExpr:
		for _, x := range e.List {
			guardTarget(x)
		}
	case *syntax.ListExpr:
		for _, x := range e.List {
			guardTarget(x)
		}
	case *syntax.ParenExpr:
		guardTarget(e.X)
	}
}

// cloneTarget copies the target of an augmented assignment to read it as
// an operand: a name, or a dot or index over names and literals (an
// operand with calls would be evaluated twice, so it is left as it is).
func cloneTarget(e syntax.Expr) (syntax.Expr, bool) {
	switch e := e.(type) {
	case *syntax.Ident:
		return &syntax.Ident{NamePos: e.NamePos, Name: e.Name}, true
	case *syntax.Literal:
		c := *e
		return &c, true
	case *syntax.DotExpr:
		x, ok := cloneTarget(e.X)
		if !ok {
			return nil, false
		}
		return &syntax.DotExpr{X: x, Dot: e.Dot, NamePos: e.NamePos, Name: &syntax.Ident{NamePos: e.Name.NamePos, Name: e.Name.Name}}, true
	case *syntax.IndexExpr:
		x, ok1 := cloneTarget(e.X)
		y, ok2 := cloneTarget(e.Y)
		if !ok1 || !ok2 {
			return nil, false
		}
		return &syntax.IndexExpr{X: x, Lbrack: e.Lbrack, Y: y, Rbrack: e.Rbrack}, true
	case *syntax.ParenExpr:
		return cloneTarget(e.X)
	}
	return nil, false
}

func opLiteral(op syntax.Token, pos syntax.Position) syntax.Expr {
	return &syntax.Literal{Token: syntax.INT, TokenPos: pos, Raw: fmt.Sprint(int(op)), Value: int64(op)}
}

// guardCallExpr is a call of the guard name at pos.
func guardCallExpr(name string, pos syntax.Position, args ...syntax.Expr) syntax.Expr {
	return &syntax.CallExpr{Fn: &syntax.Ident{NamePos: pos, Name: name}, Lparen: pos, Args: args, Rparen: pos}
}

func guardExpr(e syntax.Expr) syntax.Expr {
	switch e := e.(type) {
	case *syntax.BinaryExpr:
		e.X, e.Y = guardExpr(e.X), guardExpr(e.Y)
		switch e.Op {
		case syntax.PLUS, syntax.STAR, syntax.PERCENT, syntax.PIPE:
			return guardCallExpr(guardBinop, e.OpPos, opLiteral(e.Op, e.OpPos), e.X, e.Y)
		}
		return e
	case *syntax.CallExpr:
		for i, a := range e.Args {
			switch a := a.(type) {
			case *syntax.BinaryExpr:
				if a.Op == syntax.EQ { // name=value
					a.Y = guardExpr(a.Y)
					continue
				}
			case *syntax.UnaryExpr:
				if a.Op == syntax.STAR || a.Op == syntax.STARSTAR {
					a.X = guardExpr(a.X)
					continue
				}
			}
			e.Args[i] = guardExpr(a)
		}
		fn := guardExpr(e.Fn)
		return &syntax.CallExpr{Fn: &syntax.Ident{NamePos: e.Lparen, Name: guardCall}, Lparen: e.Lparen, Args: append([]syntax.Expr{fn}, e.Args...), Rparen: e.Rparen}
	case *syntax.ParenExpr:
		e.X = guardExpr(e.X)
	case *syntax.UnaryExpr:
		if e.X != nil {
			e.X = guardExpr(e.X)
		}
	case *syntax.CondExpr:
		e.Cond, e.True, e.False = guardExpr(e.Cond), guardExpr(e.True), guardExpr(e.False)
	case *syntax.DotExpr:
		e.X = guardExpr(e.X)
	case *syntax.IndexExpr:
		e.X, e.Y = guardExpr(e.X), guardExpr(e.Y)
	case *syntax.SliceExpr:
		e.X = guardExpr(e.X)
		if e.Lo != nil {
			e.Lo = guardExpr(e.Lo)
		}
		if e.Hi != nil {
			e.Hi = guardExpr(e.Hi)
		}
		if e.Step != nil {
			e.Step = guardExpr(e.Step)
		}
	case *syntax.ListExpr:
		for i, x := range e.List {
			e.List[i] = guardExpr(x)
		}
	case *syntax.TupleExpr:
		for i, x := range e.List {
			e.List[i] = guardExpr(x)
		}
	case *syntax.DictExpr:
		for _, x := range e.List {
			if d, ok := x.(*syntax.DictEntry); ok {
				d.Key, d.Value = guardExpr(d.Key), guardExpr(d.Value)
			}
		}
	case *syntax.Comprehension:
		e.Body = guardExpr(e.Body)
		for _, c := range e.Clauses {
			switch c := c.(type) {
			case *syntax.ForClause:
				c.X = guardExpr(c.X)
				guardTarget(c.Vars)
			case *syntax.IfClause:
				c.Cond = guardExpr(c.Cond)
			}
		}
	case *syntax.DictEntry: // the body of a dict comprehension
		e.Key, e.Value = guardExpr(e.Key), guardExpr(e.Value)
	case *syntax.LambdaExpr:
		guardParams(e.Params)
		e.Body = guardExpr(e.Body)
	}
	return e
}
