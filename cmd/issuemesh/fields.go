package main

// The issue commands and flags for people, type, dates, custom fields,
// relations, comment edits and deletes, and file removal (issue 16).

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/issuemesh/issuemesh/api"
)

// fieldFlags are the flags of issue create and edit for the fields beyond
// the core ones.
func fieldFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "assignee", Usage: "the assignee: an email or a login (\"\" unassigns)"},
		&cli.StringFlag{Name: "reporter", Usage: "the reporter: an email or a login"},
		&cli.StringFlag{Name: "type", Usage: "the issue type (Bug, Task, ...)"},
		&cli.StringFlag{Name: "due", Usage: "the due date, YYYY-MM-DD (\"\" clears)"},
		&cli.StringFlag{Name: "start", Usage: "the start date, YYYY-MM-DD (\"\" clears)"},
		&cli.StringSliceFlag{Name: "field", Usage: "a custom field NAME=VALUE or NAME:KIND=VALUE (repeatable; NAME= clears; KIND text, number, date, option, options (comma-separated), user)"},
	}
}

// fieldInput reads fieldFlags.
func fieldInput(c *cli.Context) api.IssueFields {
	str := func(name string) *string {
		if !c.IsSet(name) {
			return nil
		}
		s := c.String(name)
		return &s
	}
	return api.IssueFields{
		Assignee: str("assignee"), Reporter: str("reporter"), Type: str("type"),
		Due: str("due"), Start: str("start"), Fields: rejoin(c.StringSlice("field")),
	}
}

// rejoin undoes the comma splitting of a string slice flag for --field: a
// part without "=" continues the value before it (options are separated by
// commas).
func rejoin(parts []string) []string {
	var out []string
	for _, p := range parts {
		if n := len(out); n > 0 && !strings.Contains(p, "=") {
			out[n-1] += "," + p
			continue
		}
		out = append(out, p)
	}
	return out
}

func relationCommands() []*cli.Command {
	jsonFlag := &cli.BoolFlag{Name: "json", Usage: "print JSON"}
	return []*cli.Command{
		{
			Name: "relate", Usage: "relate an issue to another one", ArgsUsage: "KEY OTHER",
			Description: "KEY gets the relation to OTHER, e.g. `issue relate LOCAL-1 LOCAL-2 --kind blocks`: LOCAL-1 blocks LOCAL-2.\n" +
				"Relations between synced issues land as the same relation between their twins.",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "kind", Value: "relates", Usage: "blocks, blocked-by, relates, duplicates, duplicated-by, parent (OTHER is KEY's parent) or child"},
				jsonFlag,
			},
			Action: cmdIssueRelate,
		},
		{Name: "unrelate", Usage: "remove the relations of an issue to another one", ArgsUsage: "KEY OTHER", Flags: []cli.Flag{jsonFlag}, Action: cmdIssueUnrelate},
		{Name: "detach", Usage: "remove a file from an issue", ArgsUsage: "KEY FILE_NAME", Flags: []cli.Flag{jsonFlag}, Action: cmdIssueDetach},
	}
}

// commentFlags are the flags of issue comment that edit or delete a comment.
func commentFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "edit", Usage: "edit the comment with this ID (issue show lists them) to --body"},
		&cli.StringFlag{Name: "delete", Usage: "delete the comment with this ID"},
	}
}

func twoKeys(c *cli.Context, example string) (string, string, error) {
	if c.NArg() != 2 {
		return "", "", fmt.Errorf("%s takes two arguments, e.g. %s", c.Command.FullName(), example)
	}
	return c.Args().Get(0), c.Args().Get(1), nil
}

func printKeyOrJSON(c *cli.Context, v api.IssueView) error {
	if c.Bool("json") {
		return printJSON(c.App.Writer, v)
	}
	fmt.Fprintln(c.App.Writer, v.Key)
	return nil
}

func cmdIssueRelate(c *cli.Context) error {
	key, other, err := twoKeys(c, "issuemesh issue relate LOCAL-1 LOCAL-2 --kind blocks")
	if err != nil {
		return err
	}
	var v api.IssueView
	if err := call(c, "POST", "/v1/issues/"+api.PathEscape(key)+"/relations", api.RelateInput{Other: other, Kind: c.String("kind")}, &v); err != nil {
		return err
	}
	return printKeyOrJSON(c, v)
}

func cmdIssueUnrelate(c *cli.Context) error {
	key, other, err := twoKeys(c, "issuemesh issue unrelate LOCAL-1 LOCAL-2")
	if err != nil {
		return err
	}
	var v api.IssueView
	if err := call(c, "DELETE", "/v1/issues/"+api.PathEscape(key)+"/relations/"+api.PathEscape(other), nil, &v); err != nil {
		return err
	}
	return printKeyOrJSON(c, v)
}

func cmdIssueDetach(c *cli.Context) error {
	key, name, err := twoKeys(c, "issuemesh issue detach LOCAL-1 trace.log")
	if err != nil {
		return err
	}
	var v api.IssueView
	if err := call(c, "DELETE", "/v1/issues/"+api.PathEscape(key)+"/attachments/"+api.PathEscape(name), nil, &v); err != nil {
		return err
	}
	return printKeyOrJSON(c, v)
}

// commentEditOrDelete runs issue comment --edit or --delete; handled
// reports whether it was one of them.
func commentEditOrDelete(c *cli.Context, key string) (handled bool, err error) {
	edit, del := c.String("edit"), c.String("delete")
	path := "/v1/issues/" + api.PathEscape(key) + "/comments/"
	var v api.IssueView
	switch {
	case edit != "" && del != "":
		return true, errors.New("issue comment takes --edit or --delete, not both")
	case edit != "":
		body, err := textValue(c, "body")
		if err != nil {
			return true, err
		}
		if body == nil {
			return true, errors.New("issue comment --edit needs --body TEXT or --body-file FILE")
		}
		err = call(c, "PATCH", path+api.PathEscape(edit), api.CommentEdit{Body: *body}, &v)
		if err == nil {
			fmt.Fprintln(c.App.Writer, v.Key)
		}
		return true, err
	case del != "":
		err := call(c, "DELETE", path+api.PathEscape(del), nil, &v)
		if err == nil {
			fmt.Fprintln(c.App.Writer, v.Key)
		}
		return true, err
	}
	return false, nil
}

// printFields writes the fields of issue 16 in issue show.
func printFields(w io.Writer, v api.IssueView) {
	var parts []string
	add := func(name, val string) {
		if val != "" {
			parts = append(parts, name+": "+val)
		}
	}
	if v.Assignee != nil {
		add("assignee", userText(*v.Assignee))
	}
	if v.Reporter != nil {
		add("reporter", userText(*v.Reporter))
	}
	add("type", v.Type)
	add("start", v.Start)
	add("due", v.Due)
	if len(parts) > 0 {
		fmt.Fprintln(w, strings.Join(parts, "   "))
	}
	if len(v.Watchers) > 0 {
		ws := make([]string, len(v.Watchers))
		for i, u := range v.Watchers {
			ws[i] = userText(u)
		}
		fmt.Fprintf(w, "watchers: %s\n", strings.Join(ws, ", "))
	}
	names := make([]string, 0, len(v.Fields))
	for name := range v.Fields {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		f := v.Fields[name]
		val := f.Text
		switch {
		case f.User != nil:
			val = userText(*f.User)
		case f.Options != nil:
			val = strings.Join(f.Options, ", ")
		}
		fmt.Fprintf(w, "%s: %s\n", name, val)
	}
	for _, r := range v.Related {
		twins := make([]string, 0, len(r.Twins))
		for _, t := range r.Twins {
			if t.Key != "" {
				twins = append(twins, cmpOr(t.PeerName, t.Peer)+":"+t.Key)
			}
		}
		tw := ""
		if len(twins) > 0 {
			tw = "  [" + strings.Join(twins, " ") + "]"
		}
		fmt.Fprintf(w, "%s %s%s\n", r.Kind, r.Key, tw)
	}
}

func userText(u interface{ Label() string }) string { return u.Label() }

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func conflictsCommand() *cli.Command {
	return &cli.Command{
		Name: "conflicts", Usage: "list the conflicts of concurrent edits: both values, who made them and when, the one kept",
		Description: "When both sides edit one field before either saw the other's edit, the newest edit is kept\n" +
			"everywhere, and every node records the same conflict. open: no later edit settled the field yet.",
		Flags:  []cli.Flag{&cli.BoolFlag{Name: "json", Usage: "print JSON"}},
		Action: cmdConflicts,
	}
}

func cmdConflicts(c *cli.Context) error {
	var cs []api.ConflictView
	if err := call(c, "GET", "/v1/conflicts", nil, &cs); err != nil {
		return err
	}
	if c.Bool("json") {
		return printJSON(c.App.Writer, cs)
	}
	w := c.App.Writer
	if len(cs) == 0 {
		fmt.Fprintln(w, "no conflicts")
	}
	for _, x := range cs {
		state := "settled"
		switch {
		case x.Held:
			state = "held: each side keeps its value until issuemesh resolve " + x.Key + " " + x.Field + " --keep ours|theirs|VALUE"
		case x.Open:
			state = "open"
		}
		verb := "kept"
		if x.Held {
			verb = "newest"
		}
		fmt.Fprintf(w, "%s %s (%s): %s %q (%s, %s) over %q (%s, %s)", x.Key, x.Field, state, verb,
			x.Winner.Value, cmpOr(x.Winner.PeerName, short(x.Winner.Peer)), x.Winner.Time.Local().Format("2006-01-02 15:04:05"),
			x.Loser.Value, cmpOr(x.Loser.PeerName, short(x.Loser.Peer)), x.Loser.Time.Local().Format("2006-01-02 15:04:05"))
		if s := x.Settled; s != nil {
			fmt.Fprintf(w, "; settled (%s) with %q at %s, %s", s.How, s.Value, cmpOr(s.PeerName, short(s.Peer)), s.Time.Local().Format("2006-01-02 15:04:05"))
		}
		fmt.Fprintln(w)
	}
	return nil
}

func resolveCommand() *cli.Command {
	return &cli.Command{
		Name: "resolve", Usage: "settle a conflict: keep ours, theirs or a value on both sides",
		ArgsUsage: "KEY FIELD",
		Description: "Writes the value kept to the issue here and shares it as an edit made after both\n" +
			"conflicting edits, so both sides take it and record the conflict as settled. ours: the\n" +
			"value edited here; theirs: the partner's; anything else is the value itself (a list\n" +
			"field takes values separated by commas).",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "keep", Usage: "ours, theirs or the value to keep", Required: true},
			&cli.BoolFlag{Name: "json", Usage: "print JSON"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 2 {
				return fmt.Errorf("resolve needs KEY and FIELD, e.g. issuemesh resolve LOCAL-1 status --keep ours")
			}
			var res api.ResolveResult
			in := api.ResolveInput{Key: c.Args().Get(0), Field: c.Args().Get(1), Keep: c.String("keep")}
			if err := call(c, "POST", "/v1/conflicts/resolve", in, &res); err != nil {
				return err
			}
			if c.Bool("json") {
				return printJSON(c.App.Writer, res)
			}
			fmt.Fprintf(c.App.Writer, "%s %s: kept %q; shared with %s\n", res.Key, res.Field, res.Kept.Value, cmpOr(res.LinkName, short(res.Link)))
			return nil
		},
	}
}
