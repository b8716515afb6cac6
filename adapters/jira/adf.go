package jira

// Atlassian Document Format (Jira Cloud's rich text) to and from the
// replica's text. Reference:
// https://developer.atlassian.com/cloud/jira/platform/apis/document/structure/
//
// The text side is light Markdown. What both sides hold is kept both ways:
// paragraphs (blank line), line breaks (hardBreak), headings ("# "),
// bullet lists ("* " or "- "), ordered lists ("1. "), code blocks
// ("```lang"), and the strong ("**x**") and code ("`x`") marks. ADF that
// text cannot hold is flattened when read: emphasis becomes "_x_", a link
// its text followed by " (URL)", a mention "@name", a panel or quote its
// paragraphs, a table its cells separated by " | ", media "[attachment]".
// A text written here and read back is the same text.

import (
	"strconv"
	"strings"
)

// adfNode is one node of an ADF document.
type adfNode struct {
	Type    string         `json:"type"`
	Version int            `json:"version,omitempty"`
	Text    string         `json:"text,omitempty"`
	Attrs   map[string]any `json:"attrs,omitempty"`
	Marks   []adfMark      `json:"marks,omitempty"`
	Content []adfNode      `json:"content,omitempty"`
}

type adfMark struct {
	Type  string         `json:"type"`
	Attrs map[string]any `json:"attrs,omitempty"`
}

// toADF converts text to an ADF document ("doc", version 1). An empty text
// is an empty document.
func toADF(text string) *adfNode {
	doc := &adfNode{Type: "doc", Version: 1, Content: []adfNode{}}
	lines := strings.Split(text, "\n")
	for i := 0; i < len(lines); {
		l := lines[i]
		switch {
		case l == "":
			i++
		case strings.HasPrefix(l, "```"):
			lang := strings.TrimPrefix(l, "```")
			var body []string
			i++
			for i < len(lines) && lines[i] != "```" {
				body = append(body, lines[i])
				i++
			}
			i++ // the closing fence
			n := adfNode{Type: "codeBlock"}
			if lang != "" {
				n.Attrs = map[string]any{"language": lang}
			}
			if s := strings.Join(body, "\n"); s != "" {
				n.Content = []adfNode{{Type: "text", Text: s}}
			}
			doc.Content = append(doc.Content, n)
		case headingLevel(l) > 0:
			lv := headingLevel(l)
			doc.Content = append(doc.Content, adfNode{Type: "heading", Attrs: map[string]any{"level": lv}, Content: inline(l[lv+1:])})
			i++
		case bullet(l) != "":
			list := adfNode{Type: "bulletList"}
			for i < len(lines) && bullet(lines[i]) != "" {
				list.Content = append(list.Content, listItem(bullet(lines[i])))
				i++
			}
			doc.Content = append(doc.Content, list)
		case ordered(l) != "":
			list := adfNode{Type: "orderedList"}
			for i < len(lines) && ordered(lines[i]) != "" {
				list.Content = append(list.Content, listItem(ordered(lines[i])))
				i++
			}
			doc.Content = append(doc.Content, list)
		default:
			var para []string
			for i < len(lines) && lines[i] != "" && !strings.HasPrefix(lines[i], "```") && headingLevel(lines[i]) == 0 && bullet(lines[i]) == "" && ordered(lines[i]) == "" {
				para = append(para, lines[i])
				i++
			}
			p := adfNode{Type: "paragraph"}
			for j, pl := range para {
				if j > 0 {
					p.Content = append(p.Content, adfNode{Type: "hardBreak"})
				}
				p.Content = append(p.Content, inline(pl)...)
			}
			doc.Content = append(doc.Content, p)
		}
	}
	return doc
}

func headingLevel(l string) int {
	n := 0
	for n < len(l) && l[n] == '#' {
		n++
	}
	if n == 0 || n > 6 || len(l) <= n+1 || l[n] != ' ' {
		return 0
	}
	return n
}

// bullet is the item text of a bullet-list line, or "".
func bullet(l string) string {
	for _, p := range []string{"* ", "- "} {
		if strings.HasPrefix(l, p) && len(l) > 2 {
			return l[2:]
		}
	}
	return ""
}

// ordered is the item text of an ordered-list line ("1. x"), or "".
func ordered(l string) string {
	d := 0
	for d < len(l) && l[d] >= '0' && l[d] <= '9' {
		d++
	}
	if d == 0 || !strings.HasPrefix(l[d:], ". ") || len(l) <= d+2 {
		return ""
	}
	return l[d+2:]
}

func listItem(s string) adfNode {
	return adfNode{Type: "listItem", Content: []adfNode{{Type: "paragraph", Content: inline(s)}}}
}

// inline splits a line into text nodes with the strong and code marks.
func inline(s string) []adfNode {
	var out []adfNode
	add := func(t string, mark string) {
		if t == "" {
			return
		}
		n := adfNode{Type: "text", Text: t}
		if mark != "" {
			n.Marks = []adfMark{{Type: mark}}
		}
		out = append(out, n)
	}
	for s != "" {
		bi, ci := strings.Index(s, "**"), strings.Index(s, "`")
		switch {
		case bi >= 0 && (ci < 0 || bi < ci):
			end := strings.Index(s[bi+2:], "**")
			if end <= 0 {
				add(s, "")
				return out
			}
			add(s[:bi], "")
			add(s[bi+2:bi+2+end], "strong")
			s = s[bi+2+end+2:]
		case ci >= 0:
			end := strings.Index(s[ci+1:], "`")
			if end <= 0 {
				add(s, "")
				return out
			}
			add(s[:ci], "")
			add(s[ci+1:ci+1+end], "code")
			s = s[ci+1+end+1:]
		default:
			add(s, "")
			return out
		}
	}
	return out
}

// fromADF converts an ADF document to text (see the file comment).
func fromADF(doc *adfNode) string {
	if doc == nil {
		return ""
	}
	var blocks []string
	for _, n := range doc.Content {
		if b := block(n); b != "" {
			blocks = append(blocks, b)
		}
	}
	return strings.Join(blocks, "\n\n")
}

func block(n adfNode) string {
	switch n.Type {
	case "paragraph":
		return inlineText(n.Content)
	case "heading":
		lv := 1
		if f, ok := n.Attrs["level"].(float64); ok && f >= 1 && f <= 6 {
			lv = int(f)
		} else if i, ok := n.Attrs["level"].(int); ok && i >= 1 && i <= 6 {
			lv = i
		}
		return strings.Repeat("#", lv) + " " + inlineText(n.Content)
	case "bulletList", "orderedList":
		var ls []string
		for i, it := range n.Content {
			prefix := "* "
			if n.Type == "orderedList" {
				prefix = strconv.Itoa(i+1) + ". "
			}
			var parts []string
			for _, c := range it.Content {
				parts = append(parts, block(c))
			}
			ls = append(ls, prefix+strings.Join(parts, " "))
		}
		return strings.Join(ls, "\n")
	case "codeBlock":
		lang, _ := n.Attrs["language"].(string)
		var b strings.Builder
		for _, c := range n.Content {
			b.WriteString(c.Text)
		}
		return "```" + lang + "\n" + b.String() + "\n```"
	case "rule":
		return "---"
	case "table":
		var rows []string
		for _, r := range n.Content {
			var cells []string
			for _, c := range r.Content {
				cells = append(cells, fromADF(&adfNode{Content: c.Content}))
			}
			rows = append(rows, strings.Join(cells, " | "))
		}
		return strings.Join(rows, "\n")
	case "mediaSingle", "mediaGroup", "media":
		return "[attachment]"
	default: // blockquote, panel, expand, ...: their blocks
		if len(n.Content) > 0 && n.Content[0].Type == "text" {
			return inlineText(n.Content)
		}
		return fromADF(&adfNode{Content: n.Content})
	}
}

func inlineText(ns []adfNode) string {
	var b strings.Builder
	for _, n := range ns {
		switch n.Type {
		case "text":
			t := n.Text
			for _, m := range n.Marks {
				switch m.Type {
				case "strong":
					t = "**" + t + "**"
				case "code":
					t = "`" + t + "`"
				case "em":
					t = "_" + t + "_"
				case "link":
					if href, _ := m.Attrs["href"].(string); href != "" && href != n.Text {
						t += " (" + href + ")"
					}
				}
			}
			b.WriteString(t)
		case "hardBreak":
			b.WriteString("\n")
		case "mention":
			name, _ := n.Attrs["text"].(string)
			if !strings.HasPrefix(name, "@") {
				name = "@" + name
			}
			b.WriteString(name)
		case "emoji":
			s, _ := n.Attrs["text"].(string)
			if s == "" {
				s, _ = n.Attrs["shortName"].(string)
			}
			b.WriteString(s)
		case "inlineCard":
			u, _ := n.Attrs["url"].(string)
			b.WriteString(u)
		default:
			b.WriteString(inlineText(n.Content))
		}
	}
	return b.String()
}
