package configcheck

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/issuemesh/issuemesh/adapters/check"
	"github.com/issuemesh/issuemesh/config"
)

// checkCustomFields reports, once per field, a custom field that a
// connection's field_map names (a key: this tracker's name) and that the
// tracker does not have, with the closest name it has. It is a warning,
// not a failure (issue 16: a field one side lacks is reported once and
// skipped, never fatal): the adapters skip the values of such a field
// (logged once) and the twin syncs the rest.
func checkCustomFields(cfg *config.Config, conns []string, have []string) []check.Result {
	if have == nil {
		return nil // the tracker takes any custom field
	}
	by := map[string][]string{} // missing field -> the field_maps naming it
	for _, name := range conns {
		for local := range cfg.Connections[name].FieldMap {
			if !slices.ContainsFunc(have, func(h string) bool { return strings.EqualFold(h, strings.TrimSpace(local)) }) {
				by[local] = append(by[local], "connections."+name+".field_map")
			}
		}
	}
	var out []check.Result
	for _, field := range slices.Sorted(maps.Keys(by)) {
		detail := fmt.Sprintf("%q is not a custom field of this tracker (it has %s)", field, orNone(quoteList(have)))
		if s := didYouMean(field, have); s != "" {
			detail += fmt.Sprintf("; did you mean %q?", s)
		}
		detail += fmt.Sprintf(" Named by %s: its values are skipped, not kept; the rest of each issue syncs", strings.Join(by[field], ", "))
		out = append(out, check.Result{Name: "custom field " + field, OK: true, Warning: true, Detail: detail})
	}
	return out
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
