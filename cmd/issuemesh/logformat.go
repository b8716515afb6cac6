package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"
)

// logFormatFlag chooses how `run` logs: JSON lines for journald and log
// shippers, text for a person at a terminal.
var logFormatFlag = &cli.StringFlag{
	Name:    "log-format",
	Usage:   "json or text (default: text when stderr is a terminal, json otherwise)",
	EnvVars: []string{"ISSUEMESH_LOG_FORMAT"},
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// runLogger is the logger of `run`: format "json", "text", or "" to choose
// by whether w is a terminal; its level is the one a reload of config.yaml
// changes.
func runLogger(w io.Writer, format, level string) (*slog.Logger, *slog.LevelVar, error) {
	if format == "" {
		format = "json"
		if isTerminal(w) {
			format = "text"
		}
	}
	lv := new(slog.LevelVar)
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err == nil {
		lv.Set(l)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), lv, nil
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), lv, nil
	default:
		return nil, nil, fmt.Errorf("--log-format %q: want json or text", format)
	}
}
