package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// plainInterval is how often a progress line is printed when stderr is not
// a terminal.
const plainInterval = 3 * time.Second

// progress reports a long operation on stderr: a progress bar on a
// terminal, a plain line every plainInterval otherwise. A nil *progress
// (from -q or --json) reports nothing.
type progress struct {
	bar *progressbar.ProgressBar

	mu      sync.Mutex
	w       io.Writer
	desc    string
	total   int64 // -1: unknown (a spinner)
	unit    string
	cur     int64
	start   time.Time
	last    time.Time
	stop    chan struct{}
	stopped sync.Once
}

// isTerminal reports whether w is a terminal that can draw a bar.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok || os.Getenv("TERM") == "dumb" {
		return false
	}
	return term.IsTerminal(int(f.Fd()))
}

// newProgress starts reporting an operation of total units ("bytes" or a
// count such as "rows"; total -1 when unknown). It returns nil under -q or
// when machine-readable output is asked for.
func (c *cli) newProgress(desc string, total int64, unit string, jsonOut bool) *progress {
	if c.quiet || jsonOut {
		return nil
	}
	now := time.Now()
	p := &progress{w: c.stderr, desc: desc, total: total, unit: unit, start: now, last: now}
	if isTerminal(c.stderr) {
		opts := []progressbar.Option{
			progressbar.OptionSetWriter(c.stderr),
			progressbar.OptionSetDescription(desc),
			progressbar.OptionSetWidth(30),
			progressbar.OptionThrottle(100 * time.Millisecond),
			progressbar.OptionClearOnFinish(),
			progressbar.OptionSetPredictTime(total > 0),
			progressbar.OptionSetElapsedTime(true),
		}
		if unit == "bytes" {
			opts = append(opts, progressbar.OptionShowBytes(true))
		} else if total > 0 {
			opts = append(opts, progressbar.OptionShowCount(), progressbar.OptionSetItsString(unit), progressbar.OptionShowIts())
		}
		if total <= 0 {
			opts = append(opts, progressbar.OptionSpinnerType(14))
			total = -1
		}
		p.bar = progressbar.NewOptions64(total, opts...)
		p.bar.Add64(0)
		return p
	}
	if total < 0 {
		// Nothing counts the work: a ticker prints the elapsed time.
		p.stop = make(chan struct{})
		go func() {
			t := time.NewTicker(plainInterval)
			defer t.Stop()
			for {
				select {
				case <-p.stop:
					return
				case <-t.C:
					p.mu.Lock()
					fmt.Fprintf(p.w, "%s: %s\n", p.desc, fmtDuration(time.Since(p.start)))
					p.mu.Unlock()
				}
			}
		}()
	}
	return p
}

// Add records n more units done.
func (p *progress) Add(n int64) {
	if p == nil {
		return
	}
	if p.bar != nil {
		p.bar.Add64(n)
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cur += n
	now := time.Now()
	if now.Sub(p.last) < plainInterval {
		return
	}
	p.last = now
	elapsed := fmtDuration(now.Sub(p.start))
	switch {
	case p.unit == "bytes" && p.total > 0:
		fmt.Fprintf(p.w, "%s: %s of %s (%.0f%%), %s\n", p.desc, fmtBytes(p.cur), fmtBytes(p.total), 100*float64(p.cur)/float64(p.total), elapsed)
	case p.total > 0:
		fmt.Fprintf(p.w, "%s: %d of %d %s (%.0f%%), %s\n", p.desc, p.cur, p.total, p.unit, 100*float64(p.cur)/float64(p.total), elapsed)
	case p.unit == "bytes":
		fmt.Fprintf(p.w, "%s: %s, %s\n", p.desc, fmtBytes(p.cur), elapsed)
	default:
		fmt.Fprintf(p.w, "%s: %d %s, %s\n", p.desc, p.cur, p.unit, elapsed)
	}
}

// Done ends the report; the bar is cleared from the terminal.
func (p *progress) Done() {
	if p == nil {
		return
	}
	p.stopped.Do(func() {
		if p.bar != nil {
			p.bar.Finish()
			p.bar.Exit()
		}
		if p.stop != nil {
			close(p.stop)
		}
	})
}
