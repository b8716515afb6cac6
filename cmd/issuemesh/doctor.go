package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/issuemesh/issuemesh/node"
	"github.com/issuemesh/issuemesh/node/backup"
)

// `issuemesh doctor`: an offline check of a home (node/doctor.go).

func doctorCommands() []*cli.Command {
	return []*cli.Command{{
		Name:  "doctor",
		Usage: "check a home offline: checksums of the sync log, links against the tracker's markers, queues, cursors; exits 1 on a problem",
		Flags: []cli.Flag{&cli.BoolFlag{Name: "json", Usage: "print JSON"}},
		Action: func(c *cli.Context) error {
			r, err := node.Doctor(c.Context, home(c), logger(c.App.ErrWriter, "error"))
			if err != nil {
				return err
			}
			if c.Bool("json") {
				if err := printJSON(c.App.Writer, r); err != nil {
					return err
				}
			} else {
				printDoctor(c, r)
			}
			if !r.OK {
				return cli.Exit("", 1)
			}
			return nil
		},
	}}
}

func printDoctor(c *cli.Context, r *backup.DoctorReport) {
	w := c.App.Writer
	for _, ch := range r.Checks {
		mark := "ok  "
		switch {
		case !ch.OK && len(ch.Problems) > 0:
			mark = "FAIL"
		case !ch.OK:
			mark = "--  "
		}
		fmt.Fprintf(w, "%s %s: %s\n", mark, ch.Name, ch.Summary)
		for _, p := range ch.Problems {
			where := ""
			if p.File != "" {
				where = p.File + ": "
			}
			fmt.Fprintf(w, "     %s%s\n       what to do: %s\n", where, p.What, p.Fix)
		}
	}
	if r.OK {
		fmt.Fprintf(w, "home %s: no problem found\n", r.Home)
	} else {
		fmt.Fprintf(w, "home %s: problems found (see above)\n", r.Home)
	}
}
