package engine

import (
	"context"
	"fmt"
	"runtime"

	"golang.org/x/sync/errgroup"

	"github.com/memvec/memvec/internal/errs"
	"github.com/memvec/memvec/internal/kernel"
	"github.com/memvec/memvec/internal/quant"
)

// prepareQuery validates q and returns it scaled to unit length; a
// cancelled ctx is reported before any work.
func (e *Engine) prepareQuery(ctx context.Context, q []float32, k int) ([]float32, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	inv, err := e.checkVector(q)
	if err != nil {
		return nil, fmt.Errorf("query: %w", err)
	}
	qn := make([]float32, len(q))
	for i, x := range q {
		qn[i] = x * inv
	}
	return qn, nil
}

// score turns a dot product with a unit query into a cosine. Rounding can
// push the cosine of parallel vectors a hair past ±1 (or below it: see
// SearchOptions.MinScore); it is clamped to [-1, 1] so that no score is
// outside the range of a cosine and MinScore -1 keeps opposite vectors.
// NaN (a masked, deleted row) stays NaN.
func score(dot, inv float32) float32 {
	return min(max(dot*inv, -1), 1)
}

// Search returns the k live vectors most cosine-similar to q with score at
// least minScore, best first, ties by ascending ID. k must be at least 1:
// memvec.SearchOptions resolves and validates it, once, so the engine's
// search methods do not check it again.
func (e *Engine) Search(ctx context.Context, q []float32, k int, minScore float32) ([]Hit, error) {
	return e.SearchWith(ctx, q, k, minScore, false)
}

// SearchWith is Search that also fills each hit's payload when payload is
// set. Every hit carries its key either way: k small reads, not a pass.
func (e *Engine) SearchWith(ctx context.Context, q []float32, k int, minScore float32, payload bool) ([]Hit, error) {
	res, err := e.SearchBatchWith(ctx, [][]float32{q}, k, minScore, payload)
	if err != nil {
		return nil, err
	}
	return res[0], nil
}

// SearchWithParams is SearchBatchParams for one query.
func (e *Engine) SearchWithParams(ctx context.Context, q []float32, p SearchParams) ([]Hit, error) {
	res, err := e.SearchBatchParams(ctx, [][]float32{q}, p)
	if err != nil {
		return nil, err
	}
	return res[0], nil
}

// SearchBatch runs Search for every query in one pass over the data:
// each block of rows is scored against all queries while it is in cache.
func (e *Engine) SearchBatch(ctx context.Context, queries [][]float32, k int, minScore float32) ([][]Hit, error) {
	return e.SearchBatchWith(ctx, queries, k, minScore, false)
}

// SearchBatchWith is SearchBatch with payloads, as SearchWith.
func (e *Engine) SearchBatchWith(ctx context.Context, queries [][]float32, k int, minScore float32, payload bool) ([][]Hit, error) {
	return e.SearchBatchParams(ctx, queries, SearchParams{K: k, MinScore: minScore, Payload: payload})
}

// SearchParams are a search's resolved options (memvec.SearchOptions).
type SearchParams struct {
	K          int     // results wanted, at least 1
	MinScore   float32 // lowest score returned
	Payload    bool    // fill each hit's payload
	Exhaustive bool    // scan every float32 row, ignoring the codes
}

// SearchBatchParams runs one search per query in one pass over the data,
// through the int8 codes (prefilterScan) unless p.Exhaustive; both give
// the same answer, bit for bit.
func (e *Engine) SearchBatchParams(ctx context.Context, queries [][]float32, p SearchParams) ([][]Hit, error) {
	k, minScore, payload := p.K, p.MinScore, p.Payload
	if err := e.begin(); err != nil {
		return nil, err
	}
	defer e.opMu.RUnlock()
	if len(queries) == 0 {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		return [][]Hit{}, nil
	}
	qs := make([]float32, 0, len(queries)*e.dim)
	for i, q := range queries {
		qn, err := e.prepareQuery(ctx, q, k)
		if err != nil {
			if len(queries) > 1 {
				return nil, fmt.Errorf("query %d: %w", i, err)
			}
			return nil, err
		}
		qs = append(qs, qn...)
	}
	v := e.acquire()
	defer v.release()
	scan := e.prefilterScan
	if p.Exhaustive || e.dim > quant.MaxDim { // no segment has codes
		scan = e.scan
	}
	res, err := scan(ctx, v, qs, len(queries), e.dim, k, minScore)
	if err != nil {
		return nil, err
	}
	for _, hits := range res {
		if err := v.attachKeys(hits, payload); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// stopped returns the error that ends a search under ctx: ctx's own error
// once it is done, ErrClosed once Close has begun (Close cancels searches
// rather than wait for them), nil otherwise. Searches check it between
// units of work of bounded size (a chunk of rows, a block of IDs).
func (e *Engine) stopped(ctx context.Context) error {
	if testHookStopped != nil {
		testHookStopped()
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if e.closeCtx.Err() != nil {
		return errs.ErrClosed
	}
	return nil
}

// testHookStopped, when a test sets it, runs at the start of every stopped
// call: at every point where a search checks for cancellation.
var testHookStopped func()

// closable returns a context derived from ctx that Close also cancels, for
// the callees that take a context (segment.Verify), and its release.
// After such a callee fails, stopped(ctx) tells ErrClosed from ctx's own
// cancellation.
func (e *Engine) closable(ctx context.Context) (context.Context, func()) {
	c, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(e.closeCtx, cancel)
	return c, func() {
		stop()
		cancel()
	}
}

// SearchIn is Search restricted to ids; unknown, deleted and repeated IDs
// are ignored. Its cost follows len(ids), not the size of the store.
func (e *Engine) SearchIn(ctx context.Context, q []float32, ids []uint64, k int, minScore float32) ([]Hit, error) {
	return e.SearchInWith(ctx, q, ids, k, minScore, false)
}

// SearchInWith is SearchIn with payloads, as SearchWith.
func (e *Engine) SearchInWith(ctx context.Context, q []float32, ids []uint64, k int, minScore float32, payload bool) ([]Hit, error) {
	v, done, err := e.reading()
	if err != nil {
		return nil, err
	}
	defer done()
	return e.searchIn(ctx, v, q, ids, k, minScore, payload)
}

// searchIn is SearchInWith on the snapshot v.
func (e *Engine) searchIn(ctx context.Context, v *version, q []float32, ids []uint64, k int, minScore float32, payload bool) ([]Hit, error) {
	qn, err := e.prepareQuery(ctx, q, k)
	if err != nil {
		return nil, err
	}
	// IDs at or above every ID the snapshot holds are dropped before the
	// sort, which checks ctx (and Close) as it goes: sorting millions of
	// IDs takes a while.
	sorted, err := sortIDs(ids, v.index.MaxID(), func() error { return e.stopped(ctx) })
	if err != nil {
		return nil, err
	}
	cold := prefetchIDs(v, sorted, &e.warm)
	// Random rows cost memory latency, not bandwidth: the IDs are split
	// over the cores so that several rows are in flight at once. Small
	// sets stay on the calling goroutine. Rows out of the page cache
	// cost the disk's latency: more workers then, each waiting on its
	// own reads (and the first checks of their segments).
	workers := min(runtime.GOMAXPROCS(0), (len(sorted)+searchInMinPerWorker-1)/searchInMinPerWorker)
	if cold {
		workers = min(searchInColdWorkers, (len(sorted)+prefetchPerAsker-1)/prefetchPerAsker)
	}
	if workers <= 1 {
		hits, err := e.scoreIDs(ctx, v, qn, sorted, k, minScore)
		if err == nil {
			err = e.stopped(ctx)
		}
		if err != nil {
			return nil, err
		}
		top := merge(k, hits)
		return top, v.attachKeys(top, payload)
	}
	parts := make([][]Hit, workers)
	g, gctx := errgroup.WithContext(ctx)
	per := (len(sorted) + workers - 1) / workers
	for w := 0; w < workers; w++ {
		part := sorted[min(w*per, len(sorted)):min((w+1)*per, len(sorted))]
		g.Go(func() error {
			var err error
			parts[w], err = e.scoreIDs(gctx, v, qn, part, k, minScore)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	// Cancellation after the last check still counts, as in scan.
	if err := e.stopped(ctx); err != nil {
		return nil, err
	}
	top := merge(k, parts...)
	return top, v.attachKeys(top, payload)
}

// searchInMinPerWorker is the smallest share of a SearchIn worth a goroutine.
const searchInMinPerWorker = 256

// searchInColdWorkers bounds the workers of a SearchIn whose rows are out
// of the page cache.
const searchInColdWorkers = 8

// scoreIDs scores the live rows among ids (sorted, distinct) and returns
// their top k. Sorted IDs visit each segment's rows in ascending order, so
// IDs of consecutive live rows of one segment are gathered into one run
// and scored by one block-kernel call (up to blockRows rows); a scattered
// ID is a run of one.
func (e *Engine) scoreIDs(ctx context.Context, v *version, qn []float32, ids []uint64, k int, minScore float32) ([]Hit, error) {
	top := newTopK(k, uint64(len(ids)))
	scores := make([]float32, min(len(ids), blockRows))
	var (
		runSeg   *segView
		runFirst uint64 // first row of the pending run
		runLen   int
		runID    uint64 // ID of its first row
	)
	flush := func() error {
		if runLen == 0 {
			return nil
		}
		// The run's rows, checked before they are read.
		if err := runSeg.ref.checkRows(runFirst, runFirst+uint64(runLen)); err != nil {
			return err
		}
		seg := runSeg.ref.seg
		out := scores[:runLen]
		kernel.DotBlock(qn, seg.Vectors(runFirst, runFirst+uint64(runLen)), seg.Dim(), out)
		inv := seg.InvNorms(runFirst, runFirst+uint64(runLen))
		for j, d := range out {
			if sc := score(d, inv[j]); sc >= minScore {
				top.offer(Hit{ID: runID + uint64(j), Score: sc})
			}
		}
		runLen = 0
		return nil
	}
	for i, id := range ids {
		if i%chunkRows == chunkRows-1 {
			if err := e.stopped(ctx); err != nil {
				return nil, err
			}
		}
		si, row, ok := v.index.Find(id)
		if !ok {
			continue
		}
		s := v.segs.at(si)
		if s.tomb.has(row) {
			continue
		}
		if s != runSeg || row != runFirst+uint64(runLen) || id != runID+uint64(runLen) || runLen == len(scores) {
			if err := flush(); err != nil {
				return nil, err
			}
			runSeg, runFirst, runID = s, row, id
		}
		runLen++
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return top.hits, nil
}
