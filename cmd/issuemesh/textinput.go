package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"unicode/utf8"

	"github.com/urfave/cli/v2"

	"github.com/issuemesh/issuemesh/replica"
)

// Long texts (a description, a comment's body) can come from a file or
// standard input instead of the command line, whose length the system
// limits ("Argument list too long").

// maxTextFile is the largest text read from a file: the most one value can
// carry to a peer.
const maxTextFile = replica.MaxStringLen

// textFileFlag is the --NAME-file flag that goes with the text flag NAME.
func textFileFlag(name, what string) cli.Flag {
	return &cli.StringFlag{Name: name + "-file", Usage: "read the " + what + " from `FILE` (- for standard input) instead of --" + name}
}

// textValue returns the text given with --NAME or read from --NAME-file,
// or nil when neither is set.
func textValue(c *cli.Context, name string) (*string, error) {
	fileFlag := name + "-file"
	if !c.IsSet(fileFlag) {
		if !c.IsSet(name) {
			return nil, nil
		}
		s := c.String(name)
		return &s, nil
	}
	if c.IsSet(name) {
		return nil, fmt.Errorf("give either --%s or --%s, not both", name, fileFlag)
	}
	s, err := readText(c.App.Reader, c.String(fileFlag))
	if err != nil {
		return nil, fmt.Errorf("--%s: %w", fileFlag, err)
	}
	return &s, nil
}

// readText reads the whole of path ("-" for stdin), at most maxTextFile
// bytes of valid UTF-8.
func readText(stdin io.Reader, path string) (string, error) {
	r, where := stdin, "standard input"
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return "", fmt.Errorf("read the text: %w", err)
		}
		defer f.Close()
		r, where = f, path
	}
	if r == nil {
		return "", errors.New("no standard input to read the text from")
	}
	b, err := io.ReadAll(io.LimitReader(r, maxTextFile+1))
	if err != nil {
		return "", fmt.Errorf("read the text from %s: %w", where, err)
	}
	if len(b) > maxTextFile {
		return "", fmt.Errorf("%s holds more than %d bytes, the most one text can carry to a peer", where, maxTextFile)
	}
	if !utf8.Valid(b) {
		return "", fmt.Errorf("%s is not UTF-8 text", where)
	}
	return string(b), nil
}
