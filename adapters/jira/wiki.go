package jira

// Jira wiki markup (Data Center's descriptions and comments) to and from
// the replica's text, keeping what both hold as adf.go does: paragraphs,
// line breaks, headings ("# x" is "h1. x"), bullet lists, ordered lists
// ("1. x" is "# x"), code blocks ("```lang" is "{code:lang}"), strong
// ("**x**" is "*x*") and code ("`x`" is "{{x}}"). A literal "*" or "{" of
// the text is escaped ("\*", "\{") so that it is not read as markup.
// Reference: https://jira.atlassian.com/secure/WikiRendererHelpAction.jspa?section=all

import (
	"strconv"
	"strings"
	"unicode"
)

func toWiki(text string) string {
	lines := strings.Split(text, "\n")
	var out []string
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		switch {
		case strings.HasPrefix(l, "```"):
			lang := strings.TrimPrefix(l, "```")
			open := "{code}"
			if lang != "" {
				open = "{code:" + lang + "}"
			}
			out = append(out, open)
			for i++; i < len(lines) && lines[i] != "```"; i++ {
				out = append(out, lines[i])
			}
			out = append(out, "{code}")
		case headingLevel(l) > 0:
			lv := headingLevel(l)
			out = append(out, "h"+strconv.Itoa(lv)+". "+wikiInline(l[lv+1:]))
		case bullet(l) != "":
			out = append(out, "* "+wikiInline(bullet(l)))
		case ordered(l) != "":
			out = append(out, "# "+wikiInline(ordered(l)))
		default:
			out = append(out, wikiInline(l))
		}
	}
	return strings.Join(out, "\n")
}

// wikiInline writes the strong and code marks and escapes the rest.
func wikiInline(s string) string {
	var b strings.Builder
	esc := func(t string) {
		t = strings.ReplaceAll(t, "*", `\*`)
		b.WriteString(strings.ReplaceAll(t, "{", `\{`))
	}
	for _, n := range inline(s) {
		switch {
		case len(n.Marks) > 0 && n.Marks[0].Type == "strong":
			b.WriteString("*")
			esc(n.Text)
			b.WriteString("*")
		case len(n.Marks) > 0 && n.Marks[0].Type == "code":
			b.WriteString("{{")
			esc(n.Text)
			b.WriteString("}}")
		default:
			esc(n.Text)
		}
	}
	return b.String()
}

func fromWiki(w string) string {
	lines := strings.Split(w, "\n")
	var out []string
	num := 0
	for i := 0; i < len(lines); i++ {
		l := strings.TrimSuffix(lines[i], "\r")
		if !strings.HasPrefix(l, "# ") {
			num = 0
		}
		switch {
		case l == "{code}" || strings.HasPrefix(l, "{code:") && strings.HasSuffix(l, "}") || l == "{noformat}":
			closing := "{code}"
			lang := strings.TrimSuffix(strings.TrimPrefix(l, "{code:"), "}")
			if l == "{code}" {
				lang = ""
			} else if l == "{noformat}" {
				lang, closing = "", "{noformat}"
			}
			out = append(out, "```"+lang)
			for i++; i < len(lines) && lines[i] != closing; i++ {
				out = append(out, lines[i])
			}
			out = append(out, "```")
		case len(l) > 4 && l[0] == 'h' && l[1] >= '1' && l[1] <= '6' && l[2:4] == ". ":
			out = append(out, strings.Repeat("#", int(l[1]-'0'))+" "+textInline(l[4:]))
		case strings.HasPrefix(l, "* ") || strings.HasPrefix(l, "- "):
			out = append(out, "* "+textInline(l[2:]))
		case strings.HasPrefix(l, "# "):
			num++
			out = append(out, strconv.Itoa(num)+". "+textInline(l[2:]))
		default:
			out = append(out, textInline(l))
		}
	}
	return strings.Join(out, "\n")
}

func isWord(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }

// textInline reads *strong*, {{code}} and the escapes back.
func textInline(s string) string {
	rs := []rune(s)
	var b strings.Builder
	for i := 0; i < len(rs); i++ {
		switch {
		case rs[i] == '\\' && i+1 < len(rs) && (rs[i+1] == '*' || rs[i+1] == '{'):
			b.WriteRune(rs[i+1])
			i++
		case rs[i] == '{' && i+1 < len(rs) && rs[i+1] == '{':
			end := strings.Index(string(rs[i+2:]), "}}")
			if end < 0 {
				b.WriteRune(rs[i])
				continue
			}
			inner := []rune(string(rs[i+2:])[:end])
			b.WriteString("`" + unescape(string(inner)) + "`")
			i += 2 + len(inner) + 1
		case rs[i] == '*' && (i == 0 || !isWord(rs[i-1])) && i+1 < len(rs) && rs[i+1] != ' ':
			j := i + 1
			for ; j < len(rs); j++ {
				if rs[j] == '*' && rs[j-1] != '\\' && rs[j-1] != ' ' && (j+1 == len(rs) || !isWord(rs[j+1])) {
					break
				}
			}
			if j >= len(rs) || j == i+1 {
				b.WriteRune(rs[i])
				continue
			}
			b.WriteString("**" + unescape(string(rs[i+1:j])) + "**")
			i = j
		default:
			b.WriteRune(rs[i])
		}
	}
	return b.String()
}

func unescape(s string) string {
	return strings.NewReplacer(`\*`, "*", `\{`, "{").Replace(s)
}
