package main

import (
	"io"
	"time"

	"github.com/schollz/progressbar/v3"
)

// progress is a progress bar (schollz/progressbar) for the CLI's bulk
// work, drawn only when w is a terminal: scripts and pipes get the
// summary line alone. A nil *progress draws nothing.
type progress struct {
	bar *progressbar.ProgressBar
}

// newProgress returns the bar of a bulk job described by what; the total
// is set by the first show (unknown until then: a spinner).
func newProgress(w io.Writer, what string) *progress {
	if !isTerminal(w) {
		return nil
	}
	return &progress{bar: newBar(w, -1, what)}
}

func newBar(w io.Writer, total int64, what string) *progressbar.ProgressBar {
	return progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(what),
		progressbar.OptionShowCount(),
		progressbar.OptionShowElapsedTimeOnFinish(),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish(),
	)
}

// show sets how much of total is done (total <= 0: unknown).
func (p *progress) show(done, total int) {
	if p == nil {
		return
	}
	if total > 0 && p.bar.GetMax64() != int64(total) {
		p.bar.ChangeMax64(int64(total))
	}
	_ = p.bar.Set(done)
}

// describe sets the words before the bar (the files moving, say).
func (p *progress) describe(what string) {
	if p == nil {
		return
	}
	p.bar.Describe(what)
}

// done removes the bar, so that what follows starts on a clean line.
func (p *progress) done() {
	if p == nil {
		return
	}
	_ = p.bar.Finish()
	_ = p.bar.Clear()
}
