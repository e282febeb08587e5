package engine

import (
	"context"
	"sync/atomic"
	"time"
)

// Compaction pacing. A compaction copies rows on one goroutine, flat out:
// on a machine of few cores it takes one of them from the searches, and
// Searches that share scans (shared.go) are CPU-bound, so their latency
// would double while it runs (measured: p99 2.1-2.7x idle, 16 concurrent
// callers at 1M x 512 on 2 cores). While Searches are running, the copy
// therefore works at most a third of the time: after each chunk it waits
// twice as long as the chunk took. Without searches it runs flat out, and
// under constant search load it still progresses at a third of its speed,
// so it is never starved. The wait ends at once when the store closes.

// paceIdle is how many times its work time a compaction waits after a
// chunk while searches run.
const paceIdle = 2

// pacer is the state of one compaction's pacing.
type pacer struct {
	searches *atomic.Int64 // Searches in progress (the engine's)
	last     time.Time     // when the copy last resumed work
	// wait waits for d or until ctx ends (waitFor; tests record it).
	wait func(ctx context.Context, d time.Duration) error
	now  func() time.Time
}

// newPacer returns the pacer of a compaction of e.
func (e *Engine) newPacer() *pacer {
	p := &pacer{searches: &e.searching, wait: waitFor, now: time.Now}
	if e.paceWait != nil {
		p.wait = e.paceWait
	}
	return p
}

// pace is compactor.Job.Pace: called after each chunk the job copies.
func (p *pacer) pace(ctx context.Context) error {
	now := p.now()
	if p.last.IsZero() || p.searches.Load() == 0 {
		p.last = now
		return nil
	}
	if err := p.wait(ctx, paceIdle*now.Sub(p.last)); err != nil {
		return err
	}
	p.last = p.now()
	return nil
}

// waitFor waits for d, or until ctx ends: then it returns ctx.Err().
func waitFor(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
