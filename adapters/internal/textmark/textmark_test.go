package textmark

import "testing"

func TestRoundTrip(t *testing.T) {
	for _, s := range []Style{Hidden, Visible} {
		for _, body := range []string{"", "one line", "two\nlines\n", "ends with blank\n\n", "**Bob wrote:**\n\nnot a marker", "[issuemesh:comment x] in the middle\nof text"} {
			for _, author := range []string{"", "Alice (partner)"} {
				text := Add(s, WithAuthor(s, author, body), Comment, "peer/7")
				rest, marks := Split(text)
				if marks[Comment] != "peer/7" {
					t.Errorf("style %d, %q: marker lost: %q -> %v", s, body, text, marks)
				}
				gotAuthor, gotBody := "", rest
				if a, r, ok := CutAuthor(rest); ok && author != "" {
					gotAuthor, gotBody = a, r
				}
				if gotAuthor != author || gotBody != body {
					t.Errorf("style %d: (%q, %q) came back as (%q, %q) from %q", s, author, body, gotAuthor, gotBody, text)
				}
			}
		}
	}
}

func TestSplit(t *testing.T) {
	text := "desc\r\nline\r\n\r\n<!-- issuemesh:twin abc -->\r\n"
	rest, marks := Split(text)
	if rest != "desc\nline" || marks[Twin] != "abc" {
		t.Fatalf("Split(%q) = %q, %v", text, rest, marks)
	}
	rest, marks = Split("no marker\n")
	if rest != "no marker\n" || len(marks) != 0 {
		t.Fatalf("plain text changed: %q %v", rest, marks)
	}
	rest, marks = Split(Add(Visible, "d", Description, ""))
	if _, ok := marks[Description]; !ok || rest != "d" {
		t.Fatalf("kind-only marker: %q %v", rest, marks)
	}
	rest, marks = Split("x\n\n[issuemesh:edit 12]\n\n<!-- issuemesh:comment p/1 -->")
	if rest != "x" || marks[Edit] != "12" || marks[Comment] != "p/1" {
		t.Fatalf("two markers: %q %v", rest, marks)
	}
}

func TestValid(t *testing.T) {
	for _, v := range []string{"", "a b", "a-->", "x]", "a\nb", string(make([]byte, 201))} {
		if Valid(v) == nil {
			t.Errorf("Valid(%q) passed", v)
		}
	}
	for _, v := range []string{"12D3KooWabc/7", "0123abcd", "twin-1"} {
		if err := Valid(v); err != nil {
			t.Errorf("Valid(%q): %v", v, err)
		}
	}
}
