package engine

import (
	"context"
	"fmt"
	"runtime"
	"slices"

	"golang.org/x/sync/errgroup"

	"github.com/memvec/memvec/internal/errs"
	"github.com/memvec/memvec/internal/kernel"
)

// blockRows is how many rows a scan scores between two checks of its
// context.
const blockRows = 4096

// prepareQuery validates q and returns it scaled to unit length; a
// cancelled ctx is reported before any work.
func (e *Engine) prepareQuery(ctx context.Context, q []float32, k int) ([]float32, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if k <= 0 {
		return nil, fmt.Errorf("top-k %d: %w", k, errs.ErrInvalidArgument)
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
// push the cosine of parallel vectors a hair past ±1; it is clamped so that
// MinScore 1 finds exact matches.
func score(dot, inv float32) float32 {
	s := dot * inv
	if s > 1 {
		return 1
	}
	if s < -1 {
		return -1
	}
	return s
}

// Search returns the k live vectors most cosine-similar to q with score at
// least minScore, best first, ties by ascending ID.
func (e *Engine) Search(ctx context.Context, q []float32, k int, minScore float32) ([]Hit, error) {
	if err := e.begin(); err != nil {
		return nil, err
	}
	defer e.opMu.RUnlock()
	qn, err := e.prepareQuery(ctx, q, k)
	if err != nil {
		return nil, err
	}
	v := e.acquire()
	defer v.release()

	parts := make([][]Hit, len(v.segs))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(runtime.GOMAXPROCS(0))
	for i := range v.segs {
		s := &v.segs[i]
		if s.rows == s.deleted {
			continue
		}
		g.Go(func() error {
			hits, err := scanSegment(gctx, s, qn, k, minScore, e.dim)
			parts[i] = hits
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return merge(k, parts...), nil
}

// scanSegment scores every live row of s.
func scanSegment(ctx context.Context, s *segView, qn []float32, k int, minScore float32, dim int) ([]Hit, error) {
	if err := s.ref.verify(); err != nil {
		return nil, err
	}
	top := newTopK(k, s.rows-s.deleted)
	seg := s.ref.seg
	runIdx := 0
	for from := uint64(0); from < s.rows; from += blockRows {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		to := min(from+blockRows, s.rows)
		vecs := seg.Vectors(from, to)
		inv := seg.InvNorms(from, to)
		for r := from; r < to; r++ {
			if s.tomb.Has(r) {
				continue
			}
			j := int(r - from)
			sc := score(kernel.Dot(qn, vecs[j*dim:(j+1)*dim]), inv[j])
			if sc < minScore {
				continue
			}
			if worst, full := top.threshold(); full && sc < worst.Score {
				continue
			}
			for r >= s.runs[runIdx].FirstRow+s.runs[runIdx].Count {
				runIdx++
			}
			run := s.runs[runIdx]
			top.offer(Hit{ID: run.FirstID + (r - run.FirstRow), Score: sc})
		}
	}
	return top.hits, nil
}

// SearchIn is Search restricted to ids; unknown, deleted and repeated IDs
// are ignored. Its cost follows len(ids), not the size of the store.
func (e *Engine) SearchIn(ctx context.Context, q []float32, ids []uint64, k int, minScore float32) ([]Hit, error) {
	if err := e.begin(); err != nil {
		return nil, err
	}
	defer e.opMu.RUnlock()
	qn, err := e.prepareQuery(ctx, q, k)
	if err != nil {
		return nil, err
	}
	sorted := slices.Clone(ids)
	slices.Sort(sorted)
	sorted = slices.Compact(sorted)

	v := e.acquire()
	defer v.release()
	top := newTopK(k, uint64(len(sorted)))
	for i, id := range sorted {
		if i%blockRows == blockRows-1 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		si, row, ok := v.index.Find(id)
		if !ok {
			continue
		}
		s := &v.segs[si]
		if s.tomb.Has(row) {
			continue
		}
		if err := s.ref.verify(); err != nil {
			return nil, err
		}
		sc := score(kernel.Dot(qn, s.ref.seg.Vectors(row, row+1)), s.ref.seg.InvNorms(row, row+1)[0])
		if sc >= minScore {
			top.offer(Hit{ID: id, Score: sc})
		}
	}
	return merge(k, top.hits), nil
}
