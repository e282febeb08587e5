package compactor

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/memvec/memvec/internal/idmap"
	"github.com/memvec/memvec/manifest"
)

// Options configure a Compactor.
type Options struct {
	// GarbageRatio is the deleted share that makes a sealed segment worth
	// rewriting in the background, in (0, 1]. It is taken as given: the
	// caller resolves the default (memvec.Options, DefaultGarbageRatio).
	GarbageRatio float64
	// SegCap is the capacity, in rows, of a full segment (for the tiered
	// merge).
	SegCap uint64
	// OnCompact is called after every committed compaction, from the
	// goroutine that ran it, with no lock of the store held, one call at a
	// time in epoch order. It may use the store and even close it (see
	// Stop); it must not call Compact, which would wait for it. While the
	// store closes, the background goroutine skips the call (the map stays
	// readable from disk).
	OnCompact func(epoch uint64, runs []manifest.IDRun)
}

// Compactor runs compactions of one store, one at a time.
type Compactor struct {
	store Store
	opts  Options
	mu    sync.Mutex // one compaction at a time
	// cb is held (a one-slot semaphore) while OnCompact runs; inCallback
	// says the background goroutine is in OnCompact.
	cb         chan struct{}
	inCallback atomic.Bool

	wake   chan struct{}
	cancel context.CancelFunc
	done   chan struct{}
}

// New returns a compactor for store; call Start for background work.
func New(store Store, opts Options) *Compactor {
	return &Compactor{store: store, opts: opts, wake: make(chan struct{}, 1), cb: make(chan struct{}, 1)}
}

// Start launches the background goroutine, which runs a compaction pass
// each time Notify is called (and once at start, for work left from
// before a restart).
func (c *Compactor) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	c.done = make(chan struct{})
	c.Notify()
	go c.loop(ctx)
}

// Notify wakes the background goroutine; it never blocks.
func (c *Compactor) Notify() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// Stop stops the background goroutine and waits for it; a compaction in
// progress is abandoned and its files removed. Called while the goroutine
// runs OnCompact (from the callback itself, typically), it does not wait:
// the goroutine returns as soon as the callback does, touching nothing of
// the store after it.
func (c *Compactor) Stop() {
	if c.cancel == nil {
		return
	}
	c.cancel()
	if !c.inCallback.Load() {
		<-c.done
	}
	c.cancel = nil
}

func (c *Compactor) loop(ctx context.Context) {
	defer close(c.done)
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.wake:
		}
		// Run until nothing qualifies; an error (the store closing, a
		// failed write that made it read-only) ends this pass and the
		// next Notify tries again.
		for ctx.Err() == nil {
			res, err := c.run(ctx, false)
			if err != nil || res == nil {
				break
			}
		}
	}
}

// Result describes a committed compaction: its epoch and ID map.
type Result = idmap.Map

// Compact runs one manual compaction, which rewrites every segment holding
// a deleted row. It returns nil when there was nothing to reclaim.
func (c *Compactor) Compact(ctx context.Context) (*Result, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return c.run(ctx, true)
}

// Exclusive runs f while no compaction runs, and keeps compactions from
// starting until f returns: for work that replaces segments outside a
// compaction (memvec.DB.Upgrade).
func (c *Compactor) Exclusive(f func() error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return f()
}

func (c *Compactor) run(ctx context.Context, manual bool) (*Result, error) {
	c.mu.Lock()
	res, err := c.runLocked(ctx, manual)
	if err != nil || res == nil || c.opts.OnCompact == nil {
		c.mu.Unlock()
		return res, err
	}
	// Callbacks run one at a time, in epoch order (cb is taken before mu
	// is let go), and without mu, so that a callback may Close the store.
	// The background goroutine gives up its callback when the store is
	// closing rather than wait behind a manual one that is closing it:
	// the map is durable, and IDMapsSince returns it after a reopen.
	if manual {
		c.cb <- struct{}{}
	} else {
		select {
		case c.cb <- struct{}{}:
		case <-ctx.Done():
			c.mu.Unlock()
			return res, nil
		}
	}
	c.mu.Unlock()
	defer func() { <-c.cb }()
	if !manual {
		// Stop must not wait for this goroutine while it runs the
		// callback: the callback may be what called Stop.
		c.inCallback.Store(true)
		defer c.inCallback.Store(false)
	}
	c.opts.OnCompact(res.Epoch, res.Runs)
	return res, nil
}

// runLocked picks, copies and commits one compaction; c.mu is held.
func (c *Compactor) runLocked(ctx context.Context, manual bool) (*Result, error) {
	segs, err := c.store.Segments()
	if err != nil {
		return nil, err
	}
	var pick []uint64
	if manual {
		pick = pickManual(segs)
	} else {
		pick = pickAuto(segs, c.opts.GarbageRatio, c.opts.SegCap)
	}
	if len(pick) == 0 {
		return nil, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	job, err := c.store.Prepare(pick)
	if err != nil || job == nil {
		return nil, err
	}
	return c.copyAndCommit(ctx, job)
}

func (c *Compactor) copyAndCommit(ctx context.Context, job *Job) (*Result, error) {
	defer job.Release()
	out, err := Copy(ctx, job)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		out.Remove()
		return nil, err
	}
	epoch, err := c.store.Commit(job, out)
	if err != nil {
		return nil, err
	}
	return &Result{Epoch: epoch, Runs: out.Runs}, nil
}
