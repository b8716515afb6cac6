package forge

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Mentions finds the issues a text refers to the way GitHub and Gitea
// link them: #N, owner/repo#N, and links to issues (or pull requests)
// under the forge's web root.
type Mentions struct{ re *regexp.Regexp }

// NewMentions returns the finder for a forge whose web pages are under
// webRoot ("https://github.com", "https://gitea.example.com").
func NewMentions(webRoot string) Mentions {
	root := regexp.QuoteMeta(strings.TrimRight(webRoot, "/"))
	return Mentions{regexp.MustCompile(`(?:^|[^\w/#&])(?:([A-Za-z0-9][A-Za-z0-9_.-]*)/([A-Za-z0-9_.-]+))?#([0-9]+)\b|` +
		root + `/([A-Za-z0-9][A-Za-z0-9_.-]*)/([A-Za-z0-9_.-]+)/(?:issues|pulls?)/([0-9]+)`)}
}

// Keys lists the issues body mentions as keys "owner/repo#N", sorted,
// without repeats and without the issue itself (self in owner/repo); ""
// when none. A bare #N is in owner/repo.
func (m Mentions) Keys(owner, repo string, self int, body string) string {
	var keys []string
	for _, g := range m.re.FindAllStringSubmatch(body, -1) {
		o, r, num := g[1], g[2], g[3]
		if g[6] != "" {
			o, r, num = g[4], g[5], g[6]
		}
		if o == "" {
			o, r = owner, repo
		}
		n, err := strconv.Atoi(num)
		if err != nil || n <= 0 {
			continue
		}
		if strings.EqualFold(o+"/"+r, owner+"/"+repo) && n == self {
			continue
		}
		keys = append(keys, o+"/"+r+"#"+strconv.Itoa(n))
	}
	slices.Sort(keys)
	return strings.Join(slices.Compact(keys), ",")
}
