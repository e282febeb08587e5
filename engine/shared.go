package engine

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/memvec/memvec/internal/quant"
)

// Shared search passes. Every Search reads the whole store, so searches
// that overlap in time compete for memory bandwidth and add up. A
// SearchShared that arrives while a pass of its kind is running waits for
// the next pass and is scanned with every query that arrived meanwhile, as
// a group commit does for writes: each block of rows is read once for the
// whole group (SearchBatch's kernels), and each query keeps its own k,
// minimum score, payload flag and context. A search that arrives when no
// pass of its kind runs starts at once on its own goroutine: a lone caller
// pays two mutex sections.
//
// Exactness: a pass scans with the group's largest k and lowest minimum
// score, and each query then keeps the hits at or above its own minimum,
// at most its own k of them. The rows at or above a score form a prefix of
// the order the scan sorts by (score, then ID), so that is exactly the
// answer the query would get alone; the kernels give every (query, row)
// pair the same bits whatever the group.
//
// Snapshots: a pass acquires the current version when it starts, after
// every query of its group arrived, so no query sees a version older than
// the one current at its call.
//
// Cancellation: a waiting caller whose context ends returns at once; its
// slot in the group is dropped if its pass has not started, and otherwise
// computed and discarded. A pass is cancelled only when every caller of
// its group has gone (or by Close). An invalid query fails before it joins
// a group, so it never touches another caller's search.
//
// Life cycle: the first caller of a pass holds the engine's operation lock
// (begin) for it. When its pass ends with callers waiting, it hands the
// lock to a runner goroutine that serves groups until none waits, then
// releases it; so Close, which cancels passes and then takes the lock,
// returns once the runner has failed the waiting callers with ErrClosed,
// and no goroutine outlives the last search.

// maxGroup bounds the queries one pass carries (the batch kernels' score
// buffers grow with it); later arrivals wait for the following pass.
const maxGroup = 32

// searchReq is one caller's query in a group.
type searchReq struct {
	ctx  context.Context
	q    []float32 // unit length
	seq  uint64    // the version current at the call (tests)
	p    SearchParams
	done chan struct{} // closed once hits and err are set
	hits []Hit
	err  error
}

// searchGroup queues the searches of one kind (through the codes, or
// Exhaustive) while a pass of that kind runs.
type searchGroup struct {
	mu      sync.Mutex
	running bool // a pass of this kind is running or about to
	pending []*searchReq
}

// sharedPasses are the engine's two groups.
type sharedPasses struct {
	groups [2]searchGroup // [0] through the codes, [1] float32 only
	// passes and grouped count passes and the queries they carried that
	// waited for a pass (Stats, tests).
	passes, grouped atomic.Uint64
	// runners counts the runner goroutines, for tests to wait on.
	runners sync.WaitGroup
	// onPass, when a test sets it before the first search, runs after
	// each pass with its version (still held) and requests.
	onPass func(v *version, reqs []*searchReq)
	// onWait, when a test sets it, runs when a caller joins the queue.
	onWait func()
}

// SearchShared is SearchWithParams through the shared passes above: the
// same answer, bit for bit, as SearchWithParams, from a snapshot at least
// as recent as the call.
func (e *Engine) SearchShared(ctx context.Context, q []float32, p SearchParams) ([]Hit, error) {
	if err := e.begin(); err != nil {
		return nil, err
	}
	qn, err := e.prepareQuery(ctx, q, p.K)
	if err != nil {
		e.opMu.RUnlock()
		return nil, err
	}
	r := &searchReq{ctx: ctx, q: qn, p: p, seq: e.cur.Load().seq}
	g := &e.shared.groups[e.kind(p)]
	g.mu.Lock()
	if !g.running {
		// Nothing of this kind runs: this caller's pass starts now.
		g.running = true
		g.mu.Unlock()
		e.runPass(ctx, []*searchReq{r})
		e.handOff(g)
		return r.hits, r.err
	}
	r.done = make(chan struct{})
	g.pending = append(g.pending, r)
	g.mu.Unlock()
	if e.shared.onWait != nil {
		e.shared.onWait()
	}
	e.opMu.RUnlock() // the pass that serves r runs under its runner's
	select {
	case <-r.done:
		return r.hits, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// kind is the group a search belongs to.
func (e *Engine) kind(p SearchParams) int {
	if p.Exhaustive || e.dim > quant.MaxDim {
		return 1
	}
	return 0
}

// handOff ends a pass held under begin: with callers waiting, a runner
// goroutine takes over the operation lock and serves them; otherwise the
// group goes idle and the lock is released.
func (e *Engine) handOff(g *searchGroup) {
	g.mu.Lock()
	if len(g.pending) == 0 {
		g.running = false
		g.mu.Unlock()
		e.opMu.RUnlock()
		return
	}
	g.mu.Unlock()
	e.shared.runners.Add(1)
	go e.runGroups(g)
}

// runGroups serves g's waiting callers, a group of at most maxGroup per
// pass, until none waits; it owns the operation lock handed to it and
// releases it at the end.
func (e *Engine) runGroups(g *searchGroup) {
	defer e.shared.runners.Done()
	defer e.opMu.RUnlock()
	for {
		g.mu.Lock()
		var batch []*searchReq
		n := 0
		for n < len(g.pending) && len(batch) < maxGroup {
			r := g.pending[n]
			n++
			if r.ctx.Err() != nil {
				close(r.done) // its caller has returned ctx.Err()
				continue
			}
			batch = append(batch, r)
		}
		g.pending = g.pending[n:]
		if len(batch) == 0 && len(g.pending) == 0 {
			g.running, g.pending = false, nil
			g.mu.Unlock()
			return
		}
		g.mu.Unlock()
		if len(batch) == 0 {
			continue
		}
		ctx, stop := groupContext(batch)
		e.runPass(ctx, batch)
		stop()
		e.shared.grouped.Add(uint64(len(batch)))
		for _, r := range batch {
			close(r.done)
		}
	}
}

// groupContext returns a context that ends when every caller of batch has
// gone, and its release.
func groupContext(batch []*searchReq) (context.Context, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var live atomic.Int64
	live.Store(int64(len(batch)))
	stops := make([]func() bool, len(batch))
	for i, r := range batch {
		stops[i] = context.AfterFunc(r.ctx, func() {
			if live.Add(-1) == 0 {
				cancel()
			}
		})
	}
	return ctx, func() {
		for _, s := range stops {
			s()
		}
		cancel()
	}
}

// runPass runs one pass for reqs, all of one kind, under ctx, on the
// current version, and sets each request's hits and error. The caller
// holds the operation lock.
func (e *Engine) runPass(ctx context.Context, reqs []*searchReq) {
	e.shared.passes.Add(1)
	k, minScore := reqs[0].p.K, reqs[0].p.MinScore
	qs := make([]float32, 0, len(reqs)*e.dim)
	for _, r := range reqs {
		k, minScore = max(k, r.p.K), min(minScore, r.p.MinScore)
		qs = append(qs, r.q...)
	}
	v := e.acquire()
	defer v.release()
	scan := e.prefilterScan
	if e.kind(reqs[0].p) == 1 {
		scan = e.scan
	}
	res, err := scan(ctx, v, qs, len(reqs), e.dim, k, minScore)
	for i, r := range reqs {
		if err != nil {
			r.err = err
			continue
		}
		r.hits = trimHits(res[i], r.p.K, r.p.MinScore)
		r.err = v.attachKeys(r.hits, r.p.Payload)
		if r.err != nil {
			r.hits = nil
		}
	}
	if e.shared.onPass != nil {
		e.shared.onPass(v, reqs)
	}
}

// trimHits keeps the hits of a best-first list scoring at least minScore,
// at most k of them: the answer of a search for k and minScore, given
// that of one for a larger k and a lower minimum.
func trimHits(hits []Hit, k int, minScore float32) []Hit {
	n := 0
	for n < len(hits) && n < k && hits[n].Score >= minScore {
		n++
	}
	return hits[:n:n]
}
