package engine

import (
	"context"
	"math"
	"math/bits"
	"runtime"
	"sync/atomic"

	"golang.org/x/sync/errgroup"

	"github.com/memvec/memvec/internal/bitset"
	"github.com/memvec/memvec/internal/kernel"
	"github.com/memvec/memvec/segment"
)

// A full scan is cut into chunks (row ranges of one segment) that a fixed
// set of workers, one per core, take in turn, so that every core works
// even on a store of one segment. A worker keeps one bounded top-k per
// query and one score buffer, allocated once per search: nothing is
// allocated per row or per block.
const (
	chunkRows = 8192 // rows per work item; the context is checked per chunk
	blockRows = 256  // rows per kernel call: a 512-d block is 512 KiB, L2-sized
)

type chunk struct {
	seg      int
	from, to uint64
}

// eachChunk runs the chunks of v's plan on one worker per core (at most
// one per chunk): worker w is set up by start(w), then takes chunks in
// turn and calls do(w, c, s) with each chunk's segment, which checks
// what it reads (scanChunk, codeChunk). It stops at the first error,
// cancellation of ctx or Close, and returns how many workers ran.
func (e *Engine) eachChunk(ctx context.Context, v *version, start func(w int), do func(w int, c chunk, s *segView) error) (int, error) {
	chunks := v.chunks()
	workers := min(runtime.GOMAXPROCS(0), len(chunks))
	var next atomic.Int64
	g, gctx := errgroup.WithContext(ctx)
	for w := 0; w < workers; w++ {
		g.Go(func() error {
			start(w)
			for {
				i := int(next.Add(1) - 1)
				if i >= len(chunks) {
					return nil
				}
				if err := e.stopped(gctx); err != nil {
					return err
				}
				c := chunks[i]
				if err := do(w, c, v.segs.at(c.seg)); err != nil {
					return err
				}
			}
		})
	}
	return workers, g.Wait()
}

// scan scores every live row of v against the nq unit queries packed in qs
// and returns each query's top k, best first.
func (e *Engine) scan(ctx context.Context, v *version, qs []float32, nq, dim, k int, minScore float32) ([][]Hit, error) {
	parts := make([][]*topK, runtime.GOMAXPROCS(0))
	scores := make([][]float32, len(parts))
	mins := make([]float32, nq)
	for i := range mins {
		mins[i] = minScore
	}
	workers, err := e.eachChunk(ctx, v, func(w int) {
		parts[w] = make([]*topK, nq)
		for i := range parts[w] {
			parts[w][i] = newTopK(k, 64)
		}
		scores[w] = make([]float32, nq*blockRows)
	}, func(w int, c chunk, s *segView) error {
		if err := scanChunk(s, c.from, c.to, qs, nq, dim, mins, scores[w], parts[w]); err != nil {
			return err
		}
		e.pf.fullRows.Add(c.to - c.from)
		return nil
	})
	if err != nil {
		return nil, err
	}
	parts = parts[:workers]
	// Cancellation between the last chunk and here still counts.
	if err := e.stopped(ctx); err != nil {
		return nil, err
	}
	out := make([][]Hit, nq)
	hits := make([][]Hit, workers)
	for q := range out {
		for w := range parts {
			hits[w] = parts[w][q].hits
		}
		out[q] = merge(k, hits...)
	}
	return out, nil
}

// scanChunk scores rows [from, to) of s block by block, once they have
// passed their checks (checkRows: after the first search, a few loads of
// its bitmap). Query q keeps its top tops[q].k of scores at least mins[q].
func scanChunk(s *segView, from, to uint64, qs []float32, nq, dim int, mins []float32, scores []float32, tops []*topK) error {
	// Asked for first: the checks read the rows too, and the random
	// advice on sealed vectors would make that a page at a time.
	prefetchChunk(s, from, to)
	if err := s.ref.checkRows(from, to); err != nil {
		return err
	}
	seg := s.ref.seg
	for b := from; b < to; b += blockRows {
		e := min(b+blockRows, to)
		n := int(e - b)
		vecs := seg.Vectors(b, e)
		inv := seg.InvNorms(b, e)
		// All queries score the block while it is in cache; the kernel
		// gives every (query, row) pair the same bits whatever nq and the
		// row's place in the block, so each result is exactly Search's.
		kernel.DotBlockMulti(qs, nq, dim, vecs, dim, n, scores, blockRows)
		maskDeleted(s.tomb.bits, b, e, scores, nq)
		for q := 0; q < nq; q++ {
			top, minScore := tops[q], mins[q]
			thr := top.floor(minScore)
			for j, d := range scores[q*blockRows : q*blockRows+n] {
				sc := score(d, inv[j])
				if !(sc >= thr) { // also skips NaN: deleted rows
					continue
				}
				id, _ := segment.RowID(s.runs, b+uint64(j)) // a visible row: its runs cover it
				top.offer(Hit{ID: id, Score: sc})
				thr = top.floor(minScore)
			}
		}
	}
	return nil
}

// maskDeleted sets the scores of tombstoned rows in [from, to) to NaN, so
// the scoring loop drops them with the comparison it makes anyway. It
// visits set bits only: a block without deletes costs a few word loads.
func maskDeleted(tomb bitset.Set, from, to uint64, scores []float32, nq int) {
	nan := float32(math.NaN())
	for w := from / 64; w*64 < to; w++ {
		word := tomb[w]
		for word != 0 {
			row := w*64 + uint64(bits.TrailingZeros64(word))
			word &= word - 1
			if row < from || row >= to {
				continue
			}
			for q := 0; q < nq; q++ {
				scores[q*blockRows+int(row-from)] = nan
			}
		}
	}
}

// chunks returns the version's work plan, computed once per version so
// that a search allocates nothing in proportion to the store.
func (v *version) chunks() []chunk {
	v.planOnce.Do(func() {
		for i, s := range v.segs.all() {
			if s.rows == s.tomb.count() {
				continue
			}
			for from := uint64(0); from < s.rows; from += chunkRows {
				v.plan = append(v.plan, chunk{seg: i, from: from, to: min(from+chunkRows, s.rows)})
			}
		}
	})
	return v.plan
}
