// Package rules runs a connection's sync rules: the outgoing rule that turns
// a tracker issue into the replica that leaves the node, the incoming rule
// that turns a received replica into a create or a patch of the local issue,
// and the trigger that decides which issues a connection shares.
//
// # Defaults
//
// A connection without rule files uses the built-in defaults, written in Go:
// outgoing, summary, description, status, priority (strings), labels (a
// sorted list) and every comment that is not internal; incoming, on the first
// sync an issue with every shared field and comment, afterwards a patch of
// the fields the merge changed (and whose value differs from the issue) and
// of the comments the merge changed (an edit when the comment is there, an
// add otherwise). Received comments keep their global ID as SyncID and get
// the author "Author (PeerName)". Files go as comments do (see attach.go):
// outgoing every file with a known digest, incoming the new ones, fetched
// by the sync engine. DefaultOutgoingScript and DefaultIncomingScript are
// the same rules in Starlark for those fields, a starting point for a
// connection's own rules; the defaults also carry people, type, dates,
// custom fields and relations (fields.go), which a rule file writes as the
// README's "The new fields in rule files" shows (TestREADMEFieldRules).
//
// # Value maps
//
// Options.StatusMap and Options.PriorityMap map this tracker's values to the
// shared values (outgoing); their inverse maps shared values back (incoming).
// Values not in a map pass unchanged. A map in which two local values map to
// the same shared value cannot be inverted and is refused by Load.
//
// The default rules apply the maps. A rule file does not get them applied
// behind its back: it stays in control and applies them itself, with
// connection.status_map / connection.priority_map (local to shared) and
// connection.status_map_inverse / connection.priority_map_inverse (shared to
// local), e.g. replica.status = map_value(issue.status, connection.status_map).
//
// # Outgoing rule files
//
// Predeclared: issue (read-only: key, summary, description, status, priority,
// labels, extra, comments, created, updated; times in Unix milliseconds;
// and assignee, reporter, watchers, type, due, start, fields, relations:
// see starfields.go),
// replica (writable, starts empty: only what the rule sets leaves the node),
// connection (name, peer_id, self_id, and the maps above, with user_map,
// type_map, field_map and their inverses), skip([reason]),
// map_value(value, mapping, default), map_user(person, mapping, default),
// user(...) and field(kind, value) (starfields.go). The attributes summary, description,
// status and priority of replica take strings, labels a list of strings
// (sent sorted), comments a list of comments; any other name (or
// replica["any-name"]) is a custom field holding a string or a list of
// strings. Assigning None removes a field. A comment is one of issue.comments
// (it leaves with its global ID, as in the defaults) or a dict with the keys
// id (the global ID, required), body, author, created, internal.
//
// A comment of issue.comments has id (the tracker's), sync_id (its global
// ID: the one it came with by sync, or self_id + "/" + id for a comment
// written here), author, body, created, updated and internal. Files are
// issue.attachments and replica.attachments (see attach.go).
//
// # Incoming rule files
//
// Predeclared: replica (read-only: fields as attributes, None when the peer
// does not share a field; replica["name"] for any name; comments),
// issue (writable: a copy of the local issue, empty on the first sync),
// first_sync, previous (the replica received before this one, or None),
// changed (fields, comments and attachments: what the merge changed), connection, skip,
// map_value, map_user, user, field, note(key, text) (notes.go),
// merge_relations(issue, replica, previous=None) (infields.go),
// merge_comments(issue, replica, ids=None) (a comment deleted at the peer
// lands as the note DeletedNote; replica comments have deleted),
// merge_labels(issue, replica, previous=None) (the issue's labels with the
// labels added to and removed from the replica's set since previous) and
// merge_attachments(issue, replica, ids=None). first_sync is true
// when the node has no issue for the twin yet (Incoming.Issue is nil).
// A comment of the issue is one of issue.comments, one of replica.comments
// (added as the default rule adds it), or a dict with the keys id (the
// tracker's, to edit that comment), sync_id, author, body, created, internal.
// Assigning None to an
// issue field leaves the field as it is, so that issue.x = replica.x does
// nothing when the peer does not share x; an unknown attribute is a key of
// issue.extra. The result is the difference between the issue after the rule
// and before it: changed fields and labels, extra keys (a removed key is
// patched to ""), comments without an id are added (or, when their sync_id is
// that of a comment the issue has, edit it), comments whose body changed are
// edited; comments left out of the list are not deleted. Note that a rule
// that copies every field on every event also copies fields the event did
// not change; test `name in changed.fields` to touch only what changed.
//
// # Sandbox
//
// No load, no clock or randomness, print goes to Options.Log at debug level,
// every run stops after Options.MaxSteps steps, and what a run builds is
// bounded by a memory budget (one value, and all values of a run; see
// limits.go): an operation that would build more fails before it does,
// with an error at its file:line. Assigning a list to the
// replica or the issue stores a copy of it. Top-level if, for and
// while are allowed; recursion is not. Every error a rule file or trigger
// causes is an *Error that wraps ErrRule and names file:line:col (the file
// alone for what is only found after the run, such as a list that was made
// invalid after it was assigned). A rule that fails fails every time on the
// same input, so the caller treats ErrRule as permanent.
//
// # Reloading
//
// A Loader holds a connection's Set and Trigger and reloads the rule files
// when they change; a version that does not compile is refused and the one
// in force keeps running.
package rules

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"unicode/utf8"

	"go.starlark.net/resolve"
	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"
	"go.starlark.net/syntax"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/replica"
)

// DefaultMaxSteps is the step limit of one run when Options.MaxSteps is 0.
const DefaultMaxSteps = 1_000_000

// ErrRule is wrapped by every error that a rule file or trigger causes:
// compile errors and failed runs. The sync engine treats it as permanent.
var ErrRule = errors.New("rule error")

// Error is an error in a rule file or trigger, with its position.
type Error struct {
	Rule      string // "outgoing rules", "incoming rules" or "trigger"
	Pos       string // file:line:col, or the file alone when no line is known
	Msg       string
	Backtrace string // the Starlark call stack of a runtime error; may be empty
	cause     error
}

func (e *Error) Error() string { return e.Rule + ": " + e.Pos + ": " + e.Msg }

// Unwrap returns ErrRule and the underlying Starlark error, if any.
func (e *Error) Unwrap() []error {
	if e.cause == nil {
		return []error{ErrRule}
	}
	return []error{ErrRule, e.cause}
}

// Options are the connection's settings that rules see.
type Options struct {
	Self        string            // this node's peer ID (comment IDs of local comments are Self+"/"+comment.ID)
	PeerName    string            // the peer's display name, for "Alice (partner)" authors
	PeerID      string            // the peer's ID
	StatusMap   map[string]string // local value -> shared value (outgoing); inverse for incoming
	PriorityMap map[string]string
	// UserMap, TypeMap and FieldMap map this tracker's people (email or
	// login), issue types and custom field names to the partner's (and
	// back); see fields.go.
	UserMap, TypeMap, FieldMap map[string]string
	// NotesInExtra says that this node's tracker keeps any issue.extra
	// key (adapters.ExtraNotes), so the default rules keep their notes
	// there; otherwise a note is an internal comment (notes.go).
	NotesInExtra bool
	MaxSteps     uint64 // Starlark step limit per run; 0 = DefaultMaxSteps
	// MaxValueBytes and MaxRunBytes are the memory budget of a run (see
	// limits.go): the size of one value a rule builds, and of all it
	// builds in one run; 0 = DefaultMaxValueBytes, DefaultMaxRunBytes.
	MaxValueBytes, MaxRunBytes int64
	Log                        *slog.Logger // receives print() output at debug level; nil discards it
}

// Source is a rule file's name (used in error messages) and text.
type Source struct {
	Name string
	Text []byte
}

// Set is one connection's compiled rules. It is immutable and safe for
// concurrent use.
type Set struct {
	self, peerName     string
	statusOut, prioOut map[string]string
	statusIn, prioIn   map[string]string
	fields             fieldMaps // user, type and field maps (fields.go)
	notesInExtra       bool      // notes in issue.extra, not comments (notes.go)
	maxSteps           uint64
	limits             budget // the memory budget of a run (used is 0)
	log                *slog.Logger
	out, in            *program // nil: the default rule
	connection         starlark.Value
	builtins           starlark.StringDict // frozen; shared by every run
}

type program struct {
	rule, name string
	prog       *starlark.Program
	loops      []loopSpan
}

// loopSpan is where a loop statement is in a rule file.
type loopSpan struct {
	start, end syntax.Position
	while      bool
}

func before(a, b syntax.Position) bool {
	return a.Line < b.Line || a.Line == b.Line && a.Col < b.Col
}

// loopsOf lists the loops of a file, in file order.
func loopsOf(f *syntax.File) []loopSpan {
	var loops []loopSpan
	syntax.Walk(f, func(n syntax.Node) bool {
		switch n.(type) {
		case *syntax.WhileStmt, *syntax.ForStmt:
			start, end := n.Span()
			_, w := n.(*syntax.WhileStmt)
			loops = append(loops, loopSpan{start: start, end: end, while: w})
		}
		return true
	})
	return loops
}

// loopAt returns the best guess of where a run stuck at pos loops. The
// line table maps a loop head without positioned instructions (e.g. while
// True: pass) to an earlier position; so a position in no loop body points
// to the first while loop after it.
func loopAt(loops []loopSpan, pos syntax.Position) syntax.Position {
	for _, l := range loops {
		if !before(pos, l.start) && before(pos, l.end) {
			return pos
		}
	}
	for _, l := range loops {
		if l.while && before(pos, l.start) {
			return l.start
		}
	}
	return pos
}

const (
	ruleOutgoing = "outgoing rules"
	ruleIncoming = "incoming rules"
	ruleTrigger  = "trigger"
)

// Names predeclared in each kind of rule file.
var (
	outgoingNames = []string{"issue", "replica", "connection", "skip", "map_value", "map_user", "user", "field"}
	incomingNames = []string{"issue", "replica", "first_sync", "previous", "changed", "connection", "skip", "map_value", "map_user", "user", "field", "note", "merge_comments", "merge_labels", "merge_attachments", "merge_relations"}
)

// fileOptions are the Starlark dialect of rule files.
func fileOptions() *syntax.FileOptions {
	return &syntax.FileOptions{Set: true, While: true, TopLevelControl: true, GlobalReassign: true}
}

// Load compiles the outgoing and incoming rule files; an empty path selects
// the default rule for that direction. Relative paths are resolved against
// baseDir; errors name the path as given.
func Load(baseDir, outPath, inPath string, o Options) (*Set, error) {
	out, err := readSource(baseDir, outPath, ruleOutgoing)
	if err != nil {
		return nil, err
	}
	in, err := readSource(baseDir, inPath, ruleIncoming)
	if err != nil {
		return nil, err
	}
	return Compile(out, in, o)
}

func readSource(baseDir, path, rule string) (*Source, error) {
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(resolvePath(baseDir, path))
	if err != nil {
		return nil, fmt.Errorf("%s: read the rule file: %w", rule, err)
	}
	return &Source{Name: path, Text: b}, nil
}

func resolvePath(baseDir, path string) string {
	if path == "" || filepath.IsAbs(path) {
		return path
	}
	return filepath.Join(baseDir, path)
}

// Compile compiles rules from their text; a nil Source selects the default
// rule for that direction.
func Compile(out, in *Source, o Options) (*Set, error) {
	s := &Set{
		self:         o.Self,
		peerName:     o.PeerName,
		notesInExtra: o.NotesInExtra,
		statusOut:    copyMap(o.StatusMap),
		prioOut:      copyMap(o.PriorityMap),
		maxSteps:     o.MaxSteps,
		log:          o.Log,
	}
	if s.maxSteps == 0 {
		s.maxSteps = DefaultMaxSteps
	}
	s.limits = o.budget()
	var err error
	if s.statusIn, err = invert("status_map", s.statusOut); err != nil {
		return nil, err
	}
	if s.prioIn, err = invert("priority_map", s.prioOut); err != nil {
		return nil, err
	}
	if err := s.fields.compile(o); err != nil {
		return nil, err
	}
	s.connection = starlarkstruct.FromStringDict(starlark.String("connection"), starlark.StringDict{
		"name":                 starlark.String(o.PeerName),
		"peer_id":              starlark.String(o.PeerID),
		"self_id":              starlark.String(o.Self),
		"status_map":           dictOf(s.statusOut),
		"priority_map":         dictOf(s.prioOut),
		"status_map_inverse":   dictOf(s.statusIn),
		"priority_map_inverse": dictOf(s.prioIn),
		"user_map":             dictOf(s.fields.userOut),
		"user_map_inverse":     dictOf(s.fields.userIn),
		"type_map":             dictOf(s.fields.typeOut),
		"type_map_inverse":     dictOf(s.fields.typeIn),
		"field_map":            dictOf(s.fields.fieldOut),
		"field_map_inverse":    dictOf(s.fields.fieldIn),
	})
	s.builtins = starlark.StringDict{
		"connection":        s.connection,
		"skip":              starlark.NewBuiltin("skip", skipBuiltin),
		"map_value":         starlark.NewBuiltin("map_value", mapValue),
		"merge_comments":    starlark.NewBuiltin("merge_comments", s.mergeComments),
		"merge_labels":      starlark.NewBuiltin("merge_labels", s.mergeLabels),
		"merge_attachments": starlark.NewBuiltin("merge_attachments", s.mergeAttachments),
		"merge_relations":   starlark.NewBuiltin("merge_relations", s.mergeRelations),
		"map_user":          starlark.NewBuiltin("map_user", mapUserBuiltin),
		"user":              starlark.NewBuiltin("user", userBuiltin),
		"field":             starlark.NewBuiltin("field", fieldBuiltin),
		"note":              starlark.NewBuiltin("note", noteBuiltin),
	}
	for name, g := range guards() {
		s.builtins[name] = g
	}
	s.builtins.Freeze()
	if out != nil {
		if s.out, err = compileFile(ruleOutgoing, out, outgoingNames); err != nil {
			return nil, err
		}
	}
	if in != nil {
		if s.in, err = compileFile(ruleIncoming, in, incomingNames); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// copyMap copies m so that the caller's later changes do not reach the Set.
func copyMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// invert returns the shared -> local map, or an error naming two local
// values that map to the same shared value.
func invert(name string, m map[string]string) (map[string]string, error) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	back := make(map[string]string, len(m))
	for _, local := range keys {
		shared := m[local]
		if other, dup := back[shared]; dup {
			return nil, fmt.Errorf("%s: %q and %q both map to %q, so a received %q could not be mapped back", name, other, local, shared, shared)
		}
		back[shared] = local
	}
	return back, nil
}

func dictOf(m map[string]string) *starlark.Dict {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	d := starlark.NewDict(len(m))
	for _, k := range keys {
		_ = d.SetKey(starlark.String(k), starlark.String(m[k])) // cannot fail: new dict, string keys
	}
	d.Freeze()
	return d
}

// mapThrough maps v through m; values not in m pass unchanged.
func mapThrough(m map[string]string, v string) string {
	if w, ok := m[v]; ok {
		return w
	}
	return v
}

func compileFile(rule string, src *Source, names []string) (*program, error) {
	isPredeclared := func(name string) bool { return slices.Contains(names, name) || slices.Contains(guardNames, name) }
	f, err := fileOptions().Parse(src.Name, src.Text, 0)
	if err != nil {
		return nil, compileError(rule, src.Name, src.Text, err)
	}
	guardFile(f)
	prog, err := starlark.FileProgram(f, isPredeclared)
	if err != nil {
		return nil, compileError(rule, src.Name, src.Text, err)
	}
	if prog.NumLoads() > 0 {
		module, pos := prog.Load(0)
		return nil, &Error{Rule: rule, Pos: pos.String(), Msg: fmt.Sprintf("load is not allowed in rules (load(%q, ...)): write the rule in one file", module)}
	}
	return &program{rule: rule, name: src.Name, prog: prog, loops: loopsOf(f)}, nil
}

// compileError turns a Starlark syntax or resolve error into an *Error.
func compileError(rule, name string, src []byte, err error) error {
	var (
		se syntax.Error
		rl resolve.ErrorList
	)
	switch {
	case errors.As(err, &se):
		return &Error{Rule: rule, Pos: newlinePos(se, src), Msg: se.Msg, cause: err}
	case errors.As(err, &rl) && len(rl) > 0:
		msg := rl[0].Msg
		if len(rl) > 1 {
			more := make([]string, 0, len(rl)-1)
			for _, e := range rl[1:] {
				more = append(more, e.Error())
			}
			msg += " (also " + strings.Join(more, "; ") + ")"
		}
		return &Error{Rule: rule, Pos: rl[0].Pos.String(), Msg: msg, cause: err}
	}
	return &Error{Rule: rule, Pos: name, Msg: err.Error(), cause: err}
}

// newlinePos is the position of a syntax error. Starlark puts an
// unexpected end of line (e.g. a missing ':') at the start of the next
// line; it is reported at the end of the line it ends.
func newlinePos(se syntax.Error, src []byte) string {
	pos := se.Pos
	if !strings.HasPrefix(se.Msg, "got newline") || pos.Col != 1 || pos.Line < 2 {
		return pos.String()
	}
	lines := strings.Split(string(src), "\n")
	if int(pos.Line-1) > len(lines) {
		return pos.String()
	}
	line := strings.TrimRight(lines[pos.Line-2], "\r")
	return fmt.Sprintf("%s:%d:%d", pos.Filename(), pos.Line-1, utf8.RuneCountInString(line)+1)
}

// runState is a run's thread-local state.
type runState struct {
	skipped    bool
	reason     string
	stepsLimit bool
	extraSteps int
	loopPos    syntax.Position // where the run was looping at the step limit
	loopDepth  int
	budget     budget      // memory (limits.go)
	notes      [][2]string // note(key, text) calls of an incoming run (starfields.go)
}

// budget is the memory budget of one run under o.
func (o Options) budget() budget {
	b := budget{maxValue: o.MaxValueBytes, maxRun: o.MaxRunBytes}
	if b.maxValue <= 0 {
		b.maxValue = DefaultMaxValueBytes
	}
	if b.maxRun <= 0 {
		b.maxRun = DefaultMaxRunBytes
	}
	return b
}

// extraStepsAtLimit is how many steps past the limit a run is watched to
// tell where it loops.
const extraStepsAtLimit = 256

// noteLoopPos records the innermost Starlark position of t if it is deeper
// in the call stack, or later in the same function, than the one recorded.
func (st *runState) noteLoopPos(t *starlark.Thread) {
	n := t.CallStackDepth()
	for i := 0; i < n; i++ {
		pos := t.CallFrame(i).Pos
		if pos.Filename() == "<builtin>" {
			continue
		}
		depth := n - i
		if depth > st.loopDepth || depth == st.loopDepth &&
			(pos.Line > st.loopPos.Line || pos.Line == st.loopPos.Line && pos.Col > st.loopPos.Col) {
			st.loopPos, st.loopDepth = pos, depth
		}
		return
	}
}

const runKey = "issuemesh.rules.run"

// exec runs p with the predeclared values; it reports whether skip() was
// called.
func (s *Set) exec(p *program, predeclared starlark.StringDict) (*runState, error) {
	st := &runState{budget: s.limits}
	for _, name := range guardNames {
		predeclared[name] = s.builtins[name]
	}
	thread := s.newThread(p.rule, st)
	_, err := p.prog.Init(thread, predeclared)
	if st.skipped {
		return st, nil
	}
	if err != nil {
		return st, runError(p.rule, p.name, s.maxSteps, p.loops, st, err)
	}
	return st, nil
}

func (s *Set) newThread(rule string, st *runState) *starlark.Thread {
	return newThread(rule, s.maxSteps, s.log, st)
}

func newThread(rule string, maxSteps uint64, log *slog.Logger, st *runState) *starlark.Thread {
	thread := &starlark.Thread{
		Name: rule,
		Print: func(t *starlark.Thread, msg string) {
			if log != nil {
				log.Debug("rule print", "rule", rule, "at", callerPos(t), "msg", msg)
			}
		},
		OnMaxSteps: func(t *starlark.Thread) {
			// Starlark's line table is sparse (a loop head often maps to an
			// earlier line), so the position of the one step at the limit
			// may name the wrong line. Run a few more steps to see where the
			// run is looping and report the deepest, latest position seen.
			st.stepsLimit = true
			st.noteLoopPos(t)
			if st.extraSteps++; st.extraSteps >= extraStepsAtLimit {
				t.Cancel("step limit reached")
			}
		},
	}
	thread.SetMaxExecutionSteps(maxSteps)
	thread.SetLocal(runKey, st)
	return thread
}

func callerPos(t *starlark.Thread) string {
	for i := 0; i < t.CallStackDepth(); i++ {
		if pos := t.CallFrame(i).Pos; pos.Filename() != "<builtin>" {
			return pos.String()
		}
	}
	return ""
}

// runError turns an error of a run into an *Error naming the innermost
// position in the rule file.
func runError(rule, name string, maxSteps uint64, loops []loopSpan, st *runState, err error) error {
	var ee *starlark.EvalError
	if !errors.As(err, &ee) {
		var re *Error
		if errors.As(err, &re) {
			return err
		}
		return &Error{Rule: rule, Pos: name, Msg: err.Error(), cause: err}
	}
	e := &Error{Rule: rule, Pos: name, Msg: ee.Msg, Backtrace: ee.Backtrace(), cause: err}
	stack := ee.CallStack
	if n := len(stack); n > 0 && stack[n-1].Pos.Filename() == "<builtin>" {
		if fn := stack[n-1].Name; !isGuard(fn) && !strings.HasPrefix(e.Msg, fn+":") {
			e.Msg = fn + ": " + e.Msg
		}
	}
	for i := len(stack) - 1; i >= 0; i-- {
		if stack[i].Pos.Filename() != "<builtin>" {
			e.Pos = stack[i].Pos.String()
			break
		}
	}
	if st.stepsLimit {
		if st.loopPos.IsValid() {
			e.Pos = loopAt(loops, st.loopPos).String()
		}
		e.Msg = fmt.Sprintf("stopped at the step limit of %d steps: the rule runs too long (an endless loop?)", maxSteps)
	}
	return e
}

// skipBuiltin implements skip([reason]): the run stops and the issue or
// change is not synced.
func skipBuiltin(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var reason string
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "reason?", &reason); err != nil {
		return nil, err
	}
	st, _ := thread.Local(runKey).(*runState)
	if st == nil {
		return nil, errors.New("skip: called outside a rule run")
	}
	st.skipped, st.reason = true, reason
	return nil, errors.New("skip() called")
}

// mapValue implements map_value(value, mapping, default): mapping.get(value,
// default) when default is given, else mapping.get(value, value).
func mapValue(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var value, mappingV, def starlark.Value
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "value", &value, "mapping", &mappingV, "default?", &def); err != nil {
		return nil, err
	}
	mapping, ok := mappingV.(starlark.Mapping)
	if !ok {
		return nil, fmt.Errorf("map_value: the mapping must be a dict, got %s", mappingV.Type())
	}
	if def == nil {
		def = value
	}
	if _, err := value.Hash(); err != nil {
		return def, nil // an unhashable value is in no mapping
	}
	v, found, err := mapping.Get(value)
	if err != nil {
		return nil, fmt.Errorf("map_value: %w", err)
	}
	if !found {
		return def, nil
	}
	return v, nil
}

// Outgoing runs the outgoing rule on an issue: the replica to share
// (without clocks), or skip when the rule chose not to share the issue.
func (s *Set) Outgoing(is adapters.Issue) (r replica.Replica, skip bool, err error) {
	if s.out == nil {
		return s.defaultOutgoing(is), false, nil
	}
	view := &issueView{is: &is, self: s.self, rule: ruleOutgoing}
	rb := &outReplica{}
	pre := make(starlark.StringDict, len(outgoingNames))
	for _, n := range outgoingNames {
		if v, ok := s.builtins[n]; ok {
			pre[n] = v
		}
	}
	pre["issue"] = view
	pre["replica"] = rb
	st, err := s.exec(s.out, pre)
	if err != nil {
		return replica.Replica{}, false, err
	}
	if st.skipped {
		return replica.Replica{}, true, nil
	}
	r, err = s.buildReplica(rb)
	if err != nil {
		return replica.Replica{}, false, &Error{Rule: ruleOutgoing, Pos: s.out.name, Msg: err.Error(), cause: err}
	}
	return r, false, nil
}

// Incoming is what the incoming rule runs on.
type Incoming struct {
	Replica  replica.Replica  // the merged replica (read-only to rules)
	Changed  replica.Changes  // what the merge changed
	Issue    *adapters.Issue  // the current local issue; nil on first sync (create)
	Previous *replica.Replica // the last replica received for this twin before this one; nil on first sync
	// Resolve finds the local key of a relation's other issue (by twin ID,
	// or a reference by the sender's key); nil or false: not here (yet).
	Resolve func(replica.Relation) (key string, ok bool)
}

// Result is what the incoming rule decided.
type Result struct {
	Skip   bool
	Reason string          // the reason given to skip(), if any
	Create *adapters.Issue // on first sync: the issue to create (TwinID is set by the caller)
	Patch  adapters.Patch  // otherwise
	// Attach lists the replica's files to attach to the issue (after the
	// create or patch): SyncID is the file's global ID; Size and Digest
	// say what the sync engine fetches from the peer and checks.
	Attach []adapters.Attachment
}

// Incoming runs the incoming rule: on the first sync (in.Issue == nil) the
// issue to create, otherwise the patch to apply (possibly empty).
func (s *Set) Incoming(in Incoming) (Result, error) {
	if s.in == nil {
		return s.defaultIncoming(in), nil
	}
	ib := s.newInIssue(in.Issue)
	ib.f16.resolve = in.Resolve
	pre := make(starlark.StringDict, len(incomingNames))
	for _, n := range incomingNames {
		if v, ok := s.builtins[n]; ok {
			pre[n] = v
		}
	}
	pre["issue"] = ib
	pre["replica"] = &replicaView{r: &in.Replica}
	pre["first_sync"] = starlark.Bool(in.Issue == nil)
	pre["previous"] = starlark.None
	if in.Previous != nil {
		pre["previous"] = &replicaView{r: in.Previous}
	}
	pre["changed"] = starlarkstruct.FromStringDict(starlark.String("changes"), starlark.StringDict{
		"fields":      frozenStrings(in.Changed.Fields),
		"comments":    frozenStrings(in.Changed.Comments),
		"attachments": frozenStrings(in.Changed.Attachments),
	})
	st, err := s.exec(s.in, pre)
	if err != nil {
		return Result{}, err
	}
	if st.skipped {
		return Result{Skip: true, Reason: st.reason}, nil
	}
	res, err := s.diff(in.Issue, ib)
	if err != nil {
		return Result{}, &Error{Rule: ruleIncoming, Pos: s.in.name, Msg: err.Error(), cause: err}
	}
	s.applyNotes(in.Issue, &res, st.notes)
	return res, nil
}

// commentSyncID is the global ID of a tracker comment: the ID it came with,
// or the one this node mints for a comment written here.
func commentSyncID(self string, c adapters.Comment) string {
	if c.SyncID != "" {
		return c.SyncID
	}
	return self + "/" + c.ID
}
