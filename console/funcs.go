package console

import (
	"fmt"
	"html/template"
	"strings"
	"time"

	"github.com/issuemesh/issuemesh/store"
)

var funcs = template.FuncMap{
	"issuePath": issuePath,
	"changeMax": func() int { return store.ChangeMax },
	"join":      strings.Join,
	// ago is a moment that the page's script shows as how long ago it
	// was ("3m12s ago") and keeps current; the server renders the clock
	// time, so that a live part changes only when the state does.
	"ago": func(t time.Time) template.HTML {
		if t.IsZero() {
			return "never"
		}
		return template.HTML(`<time class="ago" datetime="` + t.UTC().Format(time.RFC3339Nano) + `" title="` + t.Local().Format("2006-01-02 15:04:05.000 MST") + `">` + t.Local().Format("15:04:05") + `</time>`)
	},
	// when is a time for a title attribute.
	"when": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.Local().Format("2006-01-02 15:04:05.000 MST")
	},
	// short is the tail of a peer ID, enough to tell peers apart.
	"short": func(id string) string {
		if len(id) > 12 {
			return "…" + id[len(id)-8:]
		}
		return id
	},
	"dur": func(d time.Duration) string {
		switch {
		case d <= 0:
			return ""
		case d < time.Millisecond:
			return d.String()
		case d < time.Second:
			return d.Round(100 * time.Microsecond).String()
		default:
			return d.Round(time.Millisecond).String()
		}
	},
	"ms": func(f float64) string {
		if f == 0 {
			return "–"
		}
		return fmt.Sprintf("%.1f ms", f)
	},
	"dirWord": func(dir any) string {
		d := fmt.Sprint(dir)
		switch d {
		case "in":
			return "here (events from the peer wait)"
		case "out":
			return "here (not sent to the peer)"
		case "peer":
			return "at the peer"
		case "rules":
			return "rules of the link"
		case "refused":
			return "refused here"
		case "disk":
			return "disk"
		}
		return d
	},
}
