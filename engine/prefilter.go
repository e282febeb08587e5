package engine

import (
	"context"
	"math"
	mbits "math/bits"
	"runtime"
	"slices"
	"sync/atomic"

	"github.com/memvec/memvec/internal/kernel"
	"github.com/memvec/memvec/internal/quant"
	"github.com/memvec/memvec/segment"
)

// The certified int8 prefilter (issue 13). A search first scans each
// segment's int8 codes and gets, for every row, an interval [lo, hi] that
// provably holds the score the float32 kernel would give it (see package
// quant). A row can be in the top k only if its hi reaches the k-th best
// lo seen: the others are dropped without reading their float32 bytes.
// The survivors are then rescored with the float32 kernel, and the top k
// is taken from exact scores only, so the answer is bit for bit the one
// of the full float32 scan (scan): same IDs, scores, order and MinScore
// cut.
//
// Why the answer is the full scan's. Let T be the k-th largest lower bound
// among rows whose bound was computed, or the k-th largest exact score
// among rows scored exactly, whichever is larger (-Inf with fewer than k
// of either). Each is at most the k-th largest exact score s_k of the
// store, as every bound is at most its row's exact score and the rows
// counted are distinct. A row of the full scan's answer has exact score at
// least max(s_k, MinScore) >= max(T, MinScore), so its hi is too: it is
// rescored (ties included, as the comparison is >=) and ranked by the same
// comparison as in scan. Rows scored exactly (segments without codes, and
// chunks that fell back) enter the same final ranking.
//
// Fallback. When one chunk would leave more than chunkFallback candidates
// for a query (adversarial near-ties, or the start of a search with a
// large k), the chunk's candidates are dropped and the chunk is scanned in
// float32 instead, so a search never costs much more than Exhaustive.
//
// Cost. A block of codeBlockRows rows costs one int8 kernel call
// (kernel.Int8DotBlockSums, at the memory's bandwidth), then per query
// one screen of every row's upper bound against the cut in force at the
// block's start (quant.Query.Screen, AVX-512 eight rows a step), then Go
// only for the few rows the screen keeps: their upper bound against the
// current cut, their full interval, the candidate list. The screen reads
// the metas where they lie in the mapping (quant.DecodeMetas).

// prefilterStats counts the prefilter's work since Open (Stats).
type prefilterStats struct {
	codeRows  atomic.Uint64 // rows bounded by their codes
	rescored  atomic.Uint64 // candidates rescored in float32
	fullRows  atomic.Uint64 // rows scored in float32 without codes
	fallbacks atomic.Uint64 // searches with a chunk that fell back
}

// cand is a row that survived the code pass for one query.
type cand struct {
	seg int
	row uint64
	hi  float32 // upper bound of its score
}

// lowHeap keeps the k largest lower bounds seen: a min-heap of float32.
type lowHeap struct {
	k int
	v []float32
}

func (h *lowHeap) push(x float32) {
	if len(h.v) < h.k {
		h.v = append(h.v, x)
		for i := len(h.v) - 1; i > 0; {
			p := (i - 1) / 2
			if h.v[p] <= h.v[i] {
				break
			}
			h.v[p], h.v[i] = h.v[i], h.v[p]
			i = p
		}
		return
	}
	if x <= h.v[0] {
		return
	}
	h.v[0] = x
	for i := 0; ; {
		l, m := 2*i+1, i
		if l < len(h.v) && h.v[l] < h.v[m] {
			m = l
		}
		if r := l + 1; r < len(h.v) && h.v[r] < h.v[m] {
			m = r
		}
		if m == i {
			return
		}
		h.v[i], h.v[m] = h.v[m], h.v[i]
		i = m
	}
}

// floor is the threshold a row's upper bound must reach: minScore, raised
// to the k-th largest lower bound once there are k.
func (h *lowHeap) floor(minScore float32) float32 {
	if len(h.v) < h.k {
		return minScore
	}
	return max(minScore, h.v[0])
}

// pfQuery is one worker's state for one query: its own k (lb.k, exact.k)
// and minimum score, so that queries of different options share a pass.
type pfQuery struct {
	lb       lowHeap // lower bounds of code-scanned rows
	exact    *topK   // rows scored in float32 during the pass
	cands    []cand
	minScore float32
	fellBack bool // a chunk fell back for this query (Stats)
}

// newPFQuery returns an empty state for a query of k and minScore.
func newPFQuery(k int, minScore float32) *pfQuery {
	return &pfQuery{lb: lowHeap{k: k}, exact: newTopK(k, 64), minScore: minScore}
}

// floor is the threshold of the query's upper bounds in this worker.
func (p *pfQuery) floor() float32 {
	return max(p.lb.floor(p.minScore), p.exact.floor(p.minScore))
}

// prune drops the candidates that can no longer reach the threshold.
func (p *pfQuery) prune() {
	thr := p.floor()
	p.cands = slices.DeleteFunc(p.cands, func(c cand) bool { return c.hi < thr })
}

// pfWorker is one worker of a prefiltered scan: the states of the queries
// it scans for, and its buffers, sized for as many queries.
type pfWorker struct {
	qs     []*pfQuery
	dots   []int32
	metas  []quant.Meta // where a big-endian machine decodes metas
	pass   []byte       // the rows of a block the screen keeps, a bit each
	scores []float32    // for fallback chunks
	tops   []*topK      // exact tops, one per query (qs[i].exact)
	mins   []float32    // minimum scores, one per query (qs[i].minScore)
	marks  []int
}

// newPFWorker returns a worker for nq queries, without their states.
func newPFWorker(nq int) *pfWorker {
	return &pfWorker{
		qs:     make([]*pfQuery, nq),
		dots:   make([]int32, nq*codeBlockRows),
		metas:  make([]quant.Meta, codeBlockRows),
		pass:   make([]byte, codeBlockRows/8),
		scores: make([]float32, nq*blockRows),
		tops:   make([]*topK, nq),
		mins:   make([]float32, nq),
		marks:  make([]int, nq),
	}
}

// set makes q the state of the worker's i-th query.
func (pw *pfWorker) set(i int, q *pfQuery) {
	pw.qs[i], pw.tops[i], pw.mins[i] = q, q.exact, q.minScore
}

// codeBlockRows is the rows per int8 kernel call: codes are a quarter of
// the float32 bytes, so a block of as many bytes holds four times the rows.
const codeBlockRows = 4 * blockRows

// chunkFallback is the number of candidates one chunk may leave for one
// query before the chunk is scanned in float32 instead: a quarter of the
// chunk (the code pass then costs at most what scanning it costs), plus k
// (a search's first k rows are all candidates).
func chunkFallback(rows uint64, k int) int { return int(rows/4) + k }

// int8Queries are the queries' int8 codes, packed, and their sums
// (kernel.Int8DotBlockSums), made once per search.
type int8Queries struct {
	codes []int8
	sums  []int32
}

// prefilterScan is scan through the codes; see the comment at the top of
// this file.
func (e *Engine) prefilterScan(ctx context.Context, v *version, qs []float32, nq, dim, k int, minScore float32) ([][]Hit, error) {
	e.warmCodes(v)
	queries := make([]quant.Query, nq)
	var qc int8Queries
	for i := range queries {
		queries[i] = quant.NewQuery(qs[i*dim : (i+1)*dim])
		qc.codes = append(qc.codes, queries[i].Codes...)
	}
	qc.sums = kernel.Int8Sums(qc.codes, nq, dim)
	parts := make([]*pfWorker, runtime.GOMAXPROCS(0))
	workers, err := e.eachChunk(ctx, v, func(w int) {
		pw := newPFWorker(nq)
		for i := range pw.qs {
			pw.set(i, newPFQuery(k, minScore))
		}
		parts[w] = pw
	}, func(w int, c chunk, s *segView) error {
		return parts[w].chunk(e, s, c, queries, qc, qs, nq, dim)
	})
	if err != nil {
		return nil, err
	}
	parts = parts[:workers]
	out, err := e.rescore(ctx, v, parts, qs, nq, dim, k, minScore)
	if err != nil {
		return nil, err
	}
	for _, pw := range parts {
		if slices.ContainsFunc(pw.qs, func(p *pfQuery) bool { return p.fellBack }) {
			e.pf.fallbacks.Add(1)
			break
		}
	}
	return out, nil
}

// chunk scans chunk c for the worker's nq queries: through the codes, or
// in float32 where the segment has none.
func (pw *pfWorker) chunk(e *Engine, s *segView, c chunk, queries []quant.Query, qc int8Queries, qs []float32, nq, dim int) error {
	if !s.ref.seg.HasCodes() {
		if err := scanChunk(s, c.from, c.to, qs, nq, dim, pw.mins, pw.scores, pw.tops); err != nil {
			return err
		}
		e.pf.fullRows.Add(c.to - c.from)
		return nil
	}
	return pw.codeChunk(e, s, c, queries, qc, qs, nq, dim)
}

// codeChunk runs the code pass over one chunk, or falls back to scanning
// it in float32 when it leaves too many candidates. Each block's codes,
// metas and norms are checked before they are read (checkCodes).
func (pw *pfWorker) codeChunk(e *Engine, s *segView, c chunk, queries []quant.Query, qc int8Queries, qs []float32, nq, dim int) error {
	seg := s.ref.seg
	stride := seg.CodeStride()
	for q := range pw.qs {
		pw.marks[q] = len(pw.qs[q].cands)
	}
	for b := c.from; b < c.to; b += codeBlockRows {
		end := min(b+codeBlockRows, c.to)
		n := int(end - b)
		if err := s.ref.checkCodes(b, end); err != nil {
			return err
		}
		codes := seg.Codes(b, end)
		kernel.Int8DotBlockSums(qc.codes, nq, dim, qc.sums, codes, stride, n, pw.dots, codeBlockRows)
		metaBytes := seg.CodeMeta(b, end)
		metas := quant.DecodeMetas(metaBytes, pw.metas)
		inv := seg.InvNorms(b, end)
		dead := anyDeleted(s.tomb, b, end)
		inv = inv[:n]
		for q := range pw.qs {
			p := pw.qs[q]
			qq := &queries[q]
			thr := p.floor()
			cut := rawCut(thr)
			dots := pw.dots[q*codeBlockRows : q*codeBlockRows+n]
			// Most rows stop in the screen: fl(hi*inv) is score(hi,
			// inv) before its clamp, which cut accounts for. cut only
			// rises during the block, so a row the screen drops would
			// fail every later test too; a row it keeps is tested
			// again with the cut of its turn.
			qq.Screen(metaBytes, dots, inv, cut, pw.pass)
			for i, bits := range pw.pass[:(n+7)/8] {
				for ; bits != 0; bits &= bits - 1 {
					j := 8*i + mbits.TrailingZeros8(bits)
					dot := dots[j]
					if qq.UpperBound(metas[j], dot)*inv[j] < cut {
						continue
					}
					lo, hi := qq.DotBounds(metas[j], dot)
					sup := score(hi, inv[j])
					if sup < thr {
						continue
					}
					row := b + uint64(j)
					if dead && s.tomb.has(row) {
						continue
					}
					p.cands = append(p.cands, cand{seg: c.seg, row: row, hi: sup})
					p.lb.push(score(lo, inv[j]))
					thr = p.floor()
					cut = rawCut(thr)
				}
			}
			if len(p.cands)-pw.marks[q] > chunkFallback(c.to-c.from, p.lb.k) {
				return pw.fallBack(e, s, c, qs, nq, dim)
			}
		}
		e.pf.codeRows.Add(uint64(n))
	}
	for _, p := range pw.qs {
		if len(p.cands) > 2*p.lb.k+4096 {
			p.prune()
		}
	}
	return nil
}

// fallBack drops the candidates of chunk c and scans it in float32. The
// lower bounds its rows left stay valid: they are of distinct rows, and
// the exact scores go to another heap (see the file comment).
func (pw *pfWorker) fallBack(e *Engine, s *segView, c chunk, qs []float32, nq, dim int) error {
	for q, p := range pw.qs {
		p.cands = p.cands[:pw.marks[q]]
		p.fellBack = true
	}
	if err := scanChunk(s, c.from, c.to, qs, nq, dim, pw.mins, pw.scores, pw.tops); err != nil {
		return err
	}
	e.pf.fullRows.Add(c.to - c.from)
	return nil
}

// rawCut is the threshold of an unclamped score for a threshold thr of
// clamped ones: a score below thr in (-1, 1] is one whose unclamped value
// is below thr, and no score is below -1 (or at most -1: none is cut).
func rawCut(thr float32) float32 {
	if thr <= -1 {
		return float32(math.Inf(-1))
	}
	return thr
}

// anyDeleted reports whether a row of [from, to) is tombstoned, a word of
// the bitset at a time (as maskDeleted reads it).
func anyDeleted(t tombs, from, to uint64) bool {
	if t.count() == 0 {
		return false
	}
	for w := from / 64; w*64 < to && w < uint64(len(t.bits)); w++ {
		word := t.bits[w]
		if w == from/64 {
			word &= ^uint64(0) << (from % 64)
		}
		if end := (w + 1) * 64; end > to {
			word &= ^uint64(0) >> (end - to)
		}
		if word != 0 {
			return true
		}
	}
	return false
}

// rescore merges the workers' passes, a query at a time (rescoreOne).
func (e *Engine) rescore(ctx context.Context, v *version, parts []*pfWorker, qs []float32, nq, dim, k int, minScore float32) ([][]Hit, error) {
	out := make([][]Hit, nq)
	states := make([]*pfQuery, len(parts))
	for q := 0; q < nq; q++ {
		for w, pw := range parts {
			states[w] = pw.qs[q]
		}
		var err error
		if out[q], err = e.rescoreOne(ctx, v, states, qs[q*dim:(q+1)*dim], k, minScore); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// rescoreOne merges the workers' states of one query qn: the final
// threshold from every worker's bounds and exact scores, then the float32
// score of each surviving candidate, and the top k of exact scores.
func (e *Engine) rescoreOne(ctx context.Context, v *version, states []*pfQuery, qn []float32, k int, minScore float32) ([]Hit, error) {
	if err := e.stopped(ctx); err != nil {
		return nil, err
	}
	all := lowHeap{k: k}
	var cands []cand
	exact := make([][]Hit, len(states))
	for w, p := range states {
		for _, x := range p.lb.v {
			all.push(x)
		}
		exact[w] = p.exact.hits
		cands = append(cands, p.cands...)
	}
	exactTop := merge(k, exact...)
	thr := all.floor(minScore)
	if len(exactTop) == k {
		thr = max(thr, exactTop[k-1].Score)
	}
	cands = slices.DeleteFunc(cands, func(c cand) bool { return c.hi < thr })
	// Segment then row order: rows are read in file order.
	slices.SortFunc(cands, func(a, b cand) int {
		if a.seg != b.seg {
			return a.seg - b.seg
		}
		return int(a.row) - int(b.row)
	})
	prefetchCands(v, cands)
	top := newTopK(k, uint64(len(cands)))
	for _, c := range cands {
		s := v.segs.at(c.seg)
		seg := s.ref.seg
		// The row's own check, not its segment's: a rescored row
		// is read alone (once per process).
		if err := s.ref.checkRows(c.row, c.row+1); err != nil {
			return nil, err
		}
		sc := score(kernel.Dot(qn, seg.Vectors(c.row, c.row+1)), seg.InvNorms(c.row, c.row+1)[0])
		if sc >= minScore {
			id, _ := segment.RowID(s.runs, c.row)
			top.offer(Hit{ID: id, Score: sc})
		}
	}
	e.pf.rescored.Add(uint64(len(cands)))
	return merge(k, exactTop, top.hits), nil
}
