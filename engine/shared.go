package engine

import (
	"context"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/memvec/memvec/internal/kernel"
	"github.com/memvec/memvec/internal/quant"
)

// Shared cyclic scans. Every Search reads the whole store, so searches
// that overlap in time compete for memory bandwidth and add up. Instead,
// a running scan of one kind (through the codes, or Exhaustive) cycles
// through the chunks of one version, and a search that arrives while it
// runs joins it at the next chunk: each chunk is read once for every
// member of the scan (SearchBatch's kernels), and each member is scanned
// over exactly the version's n chunks, starting where it joined and
// wrapping around, after which it leaves. A member keeps its own k,
// minimum score, payload flag and context (the kernels take them per
// query). A search that finds no scan running starts one at chunk 0, with
// one worker per core as SearchBatch does: a lone caller pays a few mutex
// sections.
//
// Exactness: a member's state (its top k, or its code pass's bounds and
// candidates) is built from its own rows only, each chunk of the version
// exactly once, so the prefilter's argument (prefilter.go) holds for it as
// for a search alone, and the kernels give every (query, row) pair the
// same bits whatever the other members. Its result is exactly that of the
// same search alone on the scan's version.
//
// Snapshots: a caller joins a running scan only if the scan's version is
// the current one, so it never sees a version older than the one current
// at its call. Otherwise, or when the scan already carries maxGroup
// members, it starts a new scan on the current version beside the old one,
// which drains and ends; so a store written to while searched degrades to
// scans of fewer members, never to a wait for another scan.
//
// Work: each worker takes (sequence number, roster) together under the
// kind's mutex per chunk. The roster (packed queries, int8 query codes and
// sums) is immutable and republished only when a member joins or leaves.
// Each member has a state per worker, touched by that worker only; the
// worker that completes a member's n-th chunk (an atomic count) wakes its
// caller, which merges the states and rescores on its own goroutine (it
// was idle), so rescoring never stalls the scan, and then attaches keys.
// Each caller holds its own reference to the version until then.
//
// Cancellation: a caller whose context ends returns ctx.Err() at once;
// its member is dropped from the roster at the next chunk and its state
// discarded. An invalid query fails before it joins, so it never touches
// another caller's search. A chunk's read error fails the members scanned
// with it (as it fails a SearchBatch).
//
// Life cycle: callers hold the engine's operation lock (begin) until they
// return, and workers stop at the next chunk once Close begins, failing
// every member with ErrClosed; a scan's workers exit when its roster is
// empty, releasing its version, and Close waits for them.

// maxGroup bounds the members of one scan (the batch kernels' buffers
// grow with it); a search arriving at a full scan starts another.
const maxGroup = 32

// searchReq is one caller's search, as the tests see it (onDone).
type searchReq struct {
	ctx  context.Context
	q    []float32 // unit length
	seq  uint64    // the version current at the call
	p    SearchParams
	hits []Hit
	err  error
}

// member is a search in a scan.
type member struct {
	r     *searchReq
	query quant.Query // its int8 codes (through the codes)
	end   uint64      // the sequence number after its last chunk
	todo  atomic.Int64
	pf    []*pfQuery // per worker (through the codes)
	tops  []*topK    // per worker (Exhaustive)
	state atomic.Int32
	done  chan struct{} // closed by finish
	err   error         // set by finish before done closes
}

// finish ends m's scan with err (nil: scanned) and wakes its caller, once.
func (m *member) finish(err error) {
	if m.state.CompareAndSwap(0, 1) {
		m.err = err
		close(m.done)
	}
}

// roster is the members of a scan and their packed queries: immutable.
type roster struct {
	ms      []*member
	qs      []float32
	queries []quant.Query // through the codes
	qc      int8Queries
}

// newRoster packs ms' queries.
func newRoster(ms []*member, codes bool, dim int) *roster {
	r := &roster{ms: ms, qs: make([]float32, 0, len(ms)*dim)}
	for _, m := range ms {
		r.qs = append(r.qs, m.r.q...)
	}
	if codes && len(ms) > 0 {
		r.queries = make([]quant.Query, len(ms))
		for i, m := range ms {
			r.queries[i] = m.query
			r.qc.codes = append(r.qc.codes, m.query.Codes...)
		}
		r.qc.sums = kernel.Int8Sums(r.qc.codes, len(ms), dim)
	}
	return r
}

// cyclicScan is a running scan of one kind over one version.
type cyclicScan struct {
	e       *Engine
	kind    int
	v       *version // a reference held until the last worker exits
	chunks  []chunk
	workers int // started

	// Guarded by the kind's mutex.
	next   uint64 // sequence number of the next chunk handed out
	roster *roster
	live   int  // workers running
	ended  bool // the roster was empty: joins start a new scan
}

// sharedScans are the engine's scans.
type sharedScans struct {
	mu  [2]sync.Mutex // [0] through the codes, [1] float32 only
	cur [2]*cyclicScan
	// scans and joined count the scans started and the searches that
	// joined a running one (tests).
	scans, joined atomic.Uint64
	// workers counts the scans' workers: Close waits for them.
	workers sync.WaitGroup
	// onDone, when a test sets it before the first search, runs after
	// each search with its version (still held).
	onDone func(v *version, r *searchReq)
	// onJoin, when a test sets it, runs after a caller joined a running
	// scan.
	onJoin func()
}

// SearchShared is SearchWithParams through the shared scans above: the
// same answer, bit for bit, as SearchWithParams, from a snapshot at least
// as recent as the call.
func (e *Engine) SearchShared(ctx context.Context, q []float32, p SearchParams) ([]Hit, error) {
	if err := e.begin(); err != nil {
		return nil, err
	}
	defer e.opMu.RUnlock()
	e.searching.Add(1)
	defer e.searching.Add(-1)
	qn, err := e.prepareQuery(ctx, q, p.K)
	if err != nil {
		return nil, err
	}
	r := &searchReq{ctx: ctx, q: qn, p: p, seq: e.cur.Load().seq}
	m := &member{r: r, done: make(chan struct{})}
	kind := e.kind(p)
	if kind == 0 {
		m.query = quant.NewQuery(qn)
	}
	v := e.join(kind, m)
	defer v.release()
	select {
	case <-m.done:
	case <-ctx.Done():
		return nil, ctx.Err() // m is dropped at its scan's next chunk
	}
	if m.err != nil {
		return nil, m.err
	}
	r.hits, r.err = e.finishSearch(ctx, v, kind, m)
	if e.shared.onDone != nil {
		e.shared.onDone(v, r)
	}
	return r.hits, r.err
}

// kind is the scan a search belongs to.
func (e *Engine) kind(p SearchParams) int {
	if p.Exhaustive || e.dim > quant.MaxDim {
		return 1
	}
	return 0
}

// join adds m to the running scan of its kind, or starts a scan for it,
// and returns the scan's version with a reference for the caller.
func (e *Engine) join(kind int, m *member) *version {
	sp := &e.shared
	mu := &sp.mu[kind]
	mu.Lock()
	if c := sp.cur[kind]; c != nil && !c.ended && c.v == e.cur.Load() && len(c.roster.ms) < maxGroup {
		c.enroll(m, c.next)
		c.roster = newRoster(append(slices.Clip(c.roster.ms), m), kind == 0, e.dim)
		c.v.refs.Add(1)
		mu.Unlock()
		sp.joined.Add(1)
		if sp.onJoin != nil {
			sp.onJoin()
		}
		return c.v
	}
	v := e.acquire() // the scan's reference
	v.refs.Add(1)    // the caller's
	if kind == 0 {
		e.warmCodes(v) // as prefilterScan: the codes read ahead, once
	}
	chunks := v.chunks()
	if len(chunks) == 0 { // nothing to scan: an empty answer
		mu.Unlock()
		m.finish(nil)
		v.release()
		return v
	}
	c := &cyclicScan{e: e, kind: kind, v: v, chunks: chunks, workers: min(runtime.GOMAXPROCS(0), len(chunks))}
	c.enroll(m, 0)
	c.roster = newRoster([]*member{m}, kind == 0, e.dim)
	c.live = c.workers
	sp.cur[kind] = c
	mu.Unlock()
	sp.scans.Add(1)
	sp.workers.Add(c.workers)
	for w := 0; w < c.workers; w++ {
		go c.work(w)
	}
	return v
}

// enroll sets m up to be scanned over the n chunks from sequence number
// first on.
func (c *cyclicScan) enroll(m *member, first uint64) {
	n := len(c.chunks)
	m.end = first + uint64(n)
	m.todo.Store(int64(n))
	if c.kind == 0 {
		m.pf = make([]*pfQuery, c.workers)
	} else {
		m.tops = make([]*topK, c.workers)
	}
}

// work is worker w of c: it takes chunks in turn, each with the roster of
// its turn, until the roster is empty.
func (c *cyclicScan) work(w int) {
	e := c.e
	defer e.shared.workers.Done()
	var (
		pw   *pfWorker // its buffers, grown to the roster
		seen *roster
	)
	for {
		s, r, ok := c.take(e.stopped(context.Background()))
		if !ok {
			return
		}
		if r != seen {
			pw = c.setUp(w, pw, r)
			seen = r
		}
		ch := c.chunks[s%uint64(len(c.chunks))]
		sv := c.v.segs.at(ch.seg)
		nq := len(r.ms)
		var err error
		if c.kind == 0 {
			err = pw.chunk(e, sv, ch, r.queries, r.qc, r.qs, nq, e.dim)
		} else {
			err = scanChunk(sv, ch.from, ch.to, r.qs, nq, e.dim, pw.mins, pw.scores, pw.tops)
			if err == nil {
				e.pf.fullRows.Add(ch.to - ch.from)
			}
		}
		finished := false
		for _, m := range r.ms {
			if err != nil {
				m.finish(err)
			} else if m.todo.Add(-1) == 0 {
				m.finish(nil)
				finished = true
			}
		}
		if finished {
			// The woken callers wait to run on this P (its next
			// goroutine); the workers never block, so without this
			// they would wait for the scheduler's preemption (10ms)
			// to rescore and return.
			runtime.Gosched()
		}
	}
}

// take hands out the next chunk's sequence number with the roster to scan
// it for, under the kind's mutex. stop (Close) fails every member. Members
// that are done (a read error) or whose caller has gone leave the roster,
// as do those for which this is the last chunk (after it). With an empty
// roster the scan ends and the worker exits: ok is false.
func (c *cyclicScan) take(stop error) (seq uint64, r *roster, ok bool) {
	mu := &c.e.shared.mu[c.kind]
	mu.Lock()
	r = c.roster
	gone := func(m *member) bool {
		if stop != nil {
			m.finish(stop)
		} else if err := m.r.ctx.Err(); err != nil {
			m.finish(err)
		}
		return m.state.Load() != 0
	}
	if slices.ContainsFunc(r.ms, gone) {
		r = newRoster(slices.DeleteFunc(slices.Clone(r.ms), gone), c.kind == 0, c.e.dim)
		c.roster = r
	}
	if len(r.ms) == 0 {
		c.ended = true
		c.live--
		last := c.live == 0
		mu.Unlock()
		if last {
			c.v.release()
		}
		return 0, nil, false
	}
	seq = c.next
	c.next++
	// Members handed their n-th chunk leave the roster now: they are
	// scanned with r for this chunk.
	if slices.ContainsFunc(r.ms, func(m *member) bool { return m.end == c.next }) {
		c.roster = newRoster(slices.DeleteFunc(slices.Clone(r.ms), func(m *member) bool { return m.end == c.next }), c.kind == 0, c.e.dim)
	}
	mu.Unlock()
	return seq, r, true
}

// setUp points worker w's buffers pw (nil at first) at the states of r's
// members, making the states of the members it has not scanned for yet,
// and returns them.
func (c *cyclicScan) setUp(w int, pw *pfWorker, r *roster) *pfWorker {
	nq := len(r.ms)
	pw = pw.resize(nq)
	for i, m := range r.ms {
		p := m.r.p
		if c.kind == 0 {
			if m.pf[w] == nil {
				m.pf[w] = newPFQuery(p.K, p.MinScore)
			}
			pw.set(i, m.pf[w])
		} else {
			if m.tops[w] == nil {
				m.tops[w] = newTopK(p.K, 64)
			}
			pw.tops[i], pw.mins[i] = m.tops[w], p.MinScore
		}
	}
	return pw
}

// resize returns buffers for nq queries: pw's (nil: none), resliced, or
// new ones if they are too small.
func (pw *pfWorker) resize(nq int) *pfWorker {
	if pw == nil || cap(pw.qs) < nq {
		size := nq
		if pw != nil {
			size = max(nq, 2*cap(pw.qs))
		}
		return newPFWorker(size).resize(nq)
	}
	pw.qs, pw.tops, pw.mins, pw.marks = pw.qs[:nq], pw.tops[:nq], pw.mins[:nq], pw.marks[:nq]
	pw.dots, pw.scores = pw.dots[:nq*codeBlockRows], pw.scores[:nq*blockRows]
	return pw
}

// finishSearch merges the workers' states of m, scanned over every chunk
// of v: rescored through the codes, or the top k of Exhaustive; then
// attaches keys.
func (e *Engine) finishSearch(ctx context.Context, v *version, kind int, m *member) ([]Hit, error) {
	p := m.r.p
	var (
		hits []Hit
		err  error
	)
	if kind == 0 {
		states := slices.DeleteFunc(m.pf, func(q *pfQuery) bool { return q == nil })
		hits, err = e.rescoreOne(ctx, v, states, m.r.q, p.K, p.MinScore)
		if slices.ContainsFunc(states, func(q *pfQuery) bool { return q.fellBack }) {
			e.pf.fallbacks.Add(1)
		}
	} else {
		// Cancellation after the last chunk still counts, as in scan.
		err = e.stopped(ctx)
		parts := make([][]Hit, 0, len(m.tops))
		for _, t := range m.tops {
			if t != nil {
				parts = append(parts, t.hits)
			}
		}
		hits = merge(p.K, parts...)
	}
	if err != nil {
		return nil, err
	}
	if err := v.attachKeys(hits, p.Payload); err != nil {
		return nil, err
	}
	return hits, nil
}
