// Package textmark keeps what issuemesh must remember about a text (a
// comment's global ID and author, an issue's twin ID) inside the text
// itself, for trackers that have no field for it.
//
// A marker is the text's last line, after a blank line, in one of two
// styles: Hidden, an HTML comment ("<!-- issuemesh:comment ID -->") that
// Redmine's Textile and CommonMark renderers do not show, and Visible, a
// bracketed line ("[issuemesh:comment ID]") for plain-text trackers such as
// Request Tracker. Both styles are recognised when reading. A comment that
// came by sync also starts with who wrote it, as trackers that cannot set a
// comment's author show it: "**Alice (partner) wrote:**" (Hidden style, bold
// in Markdown and Textile) or "Alice (partner) wrote:" (Visible style). The
// author line is only recognised in a text that carries a marker, so a
// person's own "X wrote:" is left alone.
package textmark

import (
	"fmt"
	"strings"
)

// Style selects how markers and authors are written.
type Style int

// The styles.
const (
	Hidden  Style = iota // HTML comment; bold author line
	Visible              // bracketed line; plain author line
)

// Marker kinds.
const (
	Comment     = "comment"     // a synced comment's global ID
	Twin        = "twin"        // an issue's twin ID
	Edit        = "edit"        // the tracker-native ID of the comment this one replaces
	Description = "description" // this message replaces the description
	File        = "file"        // this text carries a file: the file's global ID (empty for a file written on that tracker)
	Digest      = "sha256"      // the SHA-256 of the file this text carries, lowercase hex
)

// Valid reports whether v can be carried by a marker: not empty, printable,
// at most 200 bytes, without spaces, brackets or "--".
func Valid(v string) error {
	if v == "" || len(v) > 200 || strings.Contains(v, "--") || strings.ContainsAny(v, " \t\r\n[]<>") {
		return fmt.Errorf("%q cannot be kept in a marker: it must be 1 to 200 characters without spaces, brackets, '<', '>' or \"--\"", v)
	}
	return nil
}

// Line is the marker line of that kind and value (empty value: kind only).
func Line(s Style, kind, value string) string {
	body := "issuemesh:" + kind
	if value != "" {
		body += " " + value
	}
	if s == Hidden {
		return "<!-- " + body + " -->"
	}
	return "[" + body + "]"
}

// Add appends the marker line to text after a blank line.
func Add(s Style, text, kind, value string) string {
	return text + "\n\n" + Line(s, kind, value)
}

// Normalize turns CRLF and CR line ends into LF.
func Normalize(text string) string {
	if !strings.Contains(text, "\r") {
		return text
	}
	return strings.ReplaceAll(strings.ReplaceAll(text, "\r\n", "\n"), "\r", "\n")
}

// Split removes the trailing marker lines, each with the blank line Add put
// before it, from text (after normalizing line ends) and returns the text,
// exactly as given to Add, and the markers by kind.
func Split(text string) (string, map[string]string) {
	text = Normalize(text)
	marks := map[string]string{}
	for {
		trimmed := strings.TrimRight(text, " \n")
		i := strings.LastIndexByte(trimmed, '\n')
		kind, value, ok := parseLine(trimmed[i+1:])
		if !ok {
			return text, marks
		}
		if _, dup := marks[kind]; !dup {
			marks[kind] = value
		}
		if i < 0 {
			return "", marks
		}
		text = strings.TrimSuffix(trimmed[:i], "\n")
	}
}

// ParseLine parses one marker line (either style) into its kind and value.
func ParseLine(l string) (kind, value string, ok bool) { return parseLine(l) }

func parseLine(l string) (kind, value string, ok bool) {
	l = strings.TrimSpace(l)
	var body string
	switch {
	case strings.HasPrefix(l, "<!-- issuemesh:") && strings.HasSuffix(l, "-->"):
		body = strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(l, "<!-- issuemesh:"), "-->"))
	case strings.HasPrefix(l, "[issuemesh:") && strings.HasSuffix(l, "]"):
		body = strings.TrimSuffix(strings.TrimPrefix(l, "[issuemesh:"), "]")
	default:
		return "", "", false
	}
	kind, value, _ = strings.Cut(body, " ")
	if kind == "" {
		return "", "", false
	}
	return kind, strings.TrimSpace(value), true
}

// WithAuthor puts the author line before body.
func WithAuthor(s Style, author, body string) string {
	if author == "" {
		return body
	}
	author = strings.Join(strings.Fields(author), " ")
	if s == Hidden {
		return "**" + strings.ReplaceAll(author, "*", "") + " wrote:**\n\n" + body
	}
	return author + " wrote:\n\n" + body
}

// CutAuthor removes an author line written by WithAuthor (either style)
// from the start of body and returns the author and the rest.
func CutAuthor(body string) (author, rest string, ok bool) {
	first, rest, found := strings.Cut(body, "\n")
	if !found {
		return "", body, false
	}
	first = strings.TrimSpace(first)
	switch {
	case strings.HasPrefix(first, "**") && strings.HasSuffix(first, " wrote:**") && len(first) > len("** wrote:**"):
		author = first[2 : len(first)-len(" wrote:**")]
	case strings.HasSuffix(first, " wrote:") && len(first) > len(" wrote:"):
		author = first[:len(first)-len(" wrote:")]
	default:
		return "", body, false
	}
	return author, strings.TrimPrefix(rest, "\n"), true // the blank line WithAuthor put
}
