package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/issuemesh/issuemesh/api"
	"github.com/urfave/cli/v2"
)

// attachCommand is `issuemesh issue attach KEY FILE`.
func attachCommand() *cli.Command {
	return &cli.Command{
		Name: "attach", Usage: "attach a file to an issue", ArgsUsage: "KEY FILE",
		Description: "The node reads FILE and keeps it with the issue (the local tracker takes files of up to 64 MiB).\n" +
			"Under the default rules the file is shared with the issue's twins; the same bytes are never attached twice to one issue.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "name", Usage: "the file's name in the tracker (default: FILE's base name)"},
			&cli.StringFlag{Name: "type", Usage: "the content type (default: from the name's extension, else from the first bytes)"},
			&cli.StringFlag{Name: "author", Usage: "who attaches it (default: $USER)"},
			&cli.BoolFlag{Name: "json", Usage: "print JSON"},
		},
		Action: cmdIssueAttach,
	}
}

func cmdIssueAttach(c *cli.Context) error {
	if c.NArg() != 2 {
		return fmt.Errorf("issue attach takes an issue key and a file, e.g. issuemesh issue attach LOCAL-7 ./trace.log")
	}
	key, file := c.Args().Get(0), c.Args().Get(1)
	path, err := filepath.Abs(file)
	if err != nil {
		return fmt.Errorf("file %s: %w", file, err)
	}
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("file to attach: %w", err)
	}
	author := c.String("author")
	if author == "" {
		author = os.Getenv("USER")
	}
	in := api.AttachInput{Path: path, Filename: c.String("name"), ContentType: c.String("type"), Author: author}
	var v api.IssueView
	if err := call(c, "POST", "/v1/issues/"+api.PathEscape(key)+"/attachments", in, &v); err != nil {
		return err
	}
	if c.Bool("json") {
		return printJSON(c.App.Writer, v)
	}
	fmt.Fprintln(c.App.Writer, v.Key)
	printAttachments(c.App.Writer, v)
	return nil
}

// printAttachments lists an issue's files: name, size, author and date.
func printAttachments(w io.Writer, v api.IssueView) {
	if len(v.Attachments) == 0 {
		return
	}
	fmt.Fprintln(w, "\nfiles:")
	for _, a := range v.Attachments {
		by := ""
		if a.Author != "" {
			by = " by " + a.Author
		}
		fmt.Fprintf(w, "  %s  %s  (%s%s, %s)\n", a.ID, a.Filename, api.HumanSize(a.Size), by, a.Created.Local().Format("2006-01-02 15:04"))
	}
}
