// Package configcheck validates a parsed config.yaml beyond its syntax,
// before a node applies it (a reload) and offline (`issuemesh config
// check`): rule files and triggers load, and the status and priority maps
// name values the tracker really has. It guards the config step that
// precedes the sync path; it does not import node.
package configcheck

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/adapters/check"
	"github.com/issuemesh/issuemesh/config"
	"github.com/issuemesh/issuemesh/node/rules"
)

// Check validates a parsed config beyond its syntax, as a reload
// does before applying it and `issuemesh config check` does offline: the
// rule files and triggers of every connection, and the keys of every
// status and priority map against the values the tracker really has (tr
// may be nil: the maps are then not checked against the tracker). It
// reports every finding; a result that is not OK refuses the config.
func Check(ctx context.Context, home string, cfg *config.Config, tr adapters.Tracker, log *slog.Logger) []check.Result {
	if log == nil {
		log = slog.Default()
	}
	var out []check.Result
	names := slices.Sorted(maps.Keys(cfg.Connections))
	for _, name := range names {
		if _, err := rules.NewLoader(home, cfg.Connections[name], rules.Options{Log: log}); err != nil {
			out = append(out, check.Result{Name: "connections." + name, OK: false, Detail: err.Error()})
		}
	}
	var vals *check.Values
	if voc, ok := tr.(check.Vocabulary); ok && tr != nil && hasMaps(cfg) {
		v, err := voc.Values(ctx)
		if err != nil {
			out = append(out, check.Result{Name: "maps", OK: true, Warning: true,
				Detail: fmt.Sprintf("the maps were not checked against the tracker, which could not list its values: %v", err)})
		} else {
			vals = &v
		}
	}
	for _, name := range names {
		cc := cfg.Connections[name]
		if vals != nil {
			out = append(out, checkMap(name, "status_map", "status", cc.StatusMap, vals.Statuses, false)...)
			out = append(out, checkMap(name, "priority_map", "priority", cc.PriorityMap, vals.Priorities, vals.PriorityNumbers)...)
		}
	}
	if vals != nil {
		out = append(out, checkCustomFields(cfg, names, vals.CustomFields)...) // fields.go
	}
	if len(out) == 0 || !slices.ContainsFunc(out, func(r check.Result) bool { return !r.OK }) {
		detail := fmt.Sprintf("%d connection entries; rule files and triggers load", len(names))
		if vals != nil {
			detail += "; every map names values the tracker has"
		}
		out = append([]check.Result{{Name: "config", OK: true, Detail: detail}}, out...)
	}
	return out
}

func hasMaps(cfg *config.Config) bool {
	for _, cc := range cfg.Connections {
		if len(cc.StatusMap) > 0 || len(cc.PriorityMap) > 0 || len(cc.FieldMap) > 0 {
			return true
		}
	}
	return false
}

// checkMap checks that every key of a map (this tracker's values) is one
// the tracker has, and suggests the closest one for a typo.
func checkMap(conn, key, what string, m map[string]string, have []string, numbers bool) []check.Result {
	if have == nil {
		return nil // the tracker takes any value
	}
	var out []check.Result
	for _, local := range slices.Sorted(maps.Keys(m)) {
		if slices.ContainsFunc(have, func(h string) bool { return strings.EqualFold(h, strings.TrimSpace(local)) }) {
			continue
		}
		if n, err := strconv.Atoi(local); numbers && err == nil && n >= 0 && n <= 100 {
			continue
		}
		detail := fmt.Sprintf("%q is not a %s of this tracker (it has %s)", local, what, quoteList(have))
		if s := didYouMean(local, have); s != "" {
			detail += fmt.Sprintf("; did you mean %q?", s)
		}
		out = append(out, check.Result{Name: "connections." + conn + "." + key, OK: false, Detail: detail})
	}
	return out
}

func quoteList(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = strconv.Quote(s)
	}
	return strings.Join(q, ", ")
}

// didYouMean is the value of have closest to s, when it is close enough to
// be a typo of it (an edit distance of at most a third of its length).
func didYouMean(s string, have []string) string {
	best, bestD := "", -1
	ls := strings.ToLower(s)
	for _, h := range have {
		d := editDistance(ls, strings.ToLower(h))
		if bestD < 0 || d < bestD {
			best, bestD = h, d
		}
	}
	if bestD < 0 || bestD > max(1, len([]rune(best))/3) {
		return ""
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, in runes.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
