package memvec

import (
	"math"
	"math/rand"
	"sort"
	"testing"
)

// oracle is a float64 brute-force model of a store: what it holds, what is
// deleted, and what an exact search must return.
type oracle struct {
	dim  int
	vecs map[uint64][]float32
	next uint64
	// skipped counts IDs below next that no vector ever had (a NoSync
	// store's reservation left behind by a crash); gapOK says such a jump
	// is expected at the next open.
	skipped uint64
	gapOK   bool
}

func newOracle(dim int) *oracle { return &oracle{dim: dim, vecs: map[uint64][]float32{}} }

func (o *oracle) add(ids []uint64, vecs [][]float32) {
	for i, id := range ids {
		o.vecs[id] = append([]float32(nil), vecs[i]...)
		o.next = id + 1
	}
}

func (o *oracle) delete(ids []uint64) int {
	n := 0
	for _, id := range ids {
		if _, ok := o.vecs[id]; ok {
			delete(o.vecs, id)
			n++
		}
	}
	return n
}

func cosine64(a, b []float32) float64 {
	var dot, na, nb float64
	for i := range a {
		dot += float64(a[i]) * float64(b[i])
		na += float64(a[i]) * float64(a[i])
		nb += float64(b[i]) * float64(b[i])
	}
	return dot / math.Sqrt(na) / math.Sqrt(nb)
}

// search returns every candidate with its exact score, best first.
func (o *oracle) search(q []float32, ids []uint64, minScore float32) []Result {
	var out []Result
	consider := func(id uint64) {
		v, ok := o.vecs[id]
		if !ok {
			return
		}
		s := cosine64(q, v)
		if float32(s) >= minScore-1e-5 {
			out = append(out, Result{ID: id, Score: float32(s)})
		}
	}
	if ids == nil {
		for id := range o.vecs {
			consider(id)
		}
	} else {
		seen := map[uint64]bool{}
		for _, id := range ids {
			if !seen[id] {
				seen[id] = true
				consider(id)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Score != out[j].Score {
			return out[i].Score > out[j].Score
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// checkResults asserts that got is a correct top-k answer: sorted, scores
// within tol of the exact ones, and no better candidate left out.
func checkResults(t *testing.T, o *oracle, q []float32, ids []uint64, k int, minScore float32, got []Result) {
	t.Helper()
	const tol = 1e-4
	want := o.search(q, ids, minScore)
	for i, r := range got {
		v, ok := o.vecs[r.ID]
		if !ok {
			t.Fatalf("result %d: ID %d is not live", i, r.ID)
		}
		if exact := cosine64(q, v); math.Abs(exact-float64(r.Score)) > tol {
			t.Fatalf("result %d: ID %d score %v, exact %v", i, r.ID, r.Score, exact)
		}
		if r.Score < minScore {
			t.Fatalf("result %d: score %v below MinScore %v", i, r.Score, minScore)
		}
		if i > 0 {
			p := got[i-1]
			if p.Score < r.Score || (p.Score == r.Score && p.ID > r.ID) {
				t.Fatalf("results %d,%d out of order: %+v %+v", i-1, i, p, r)
			}
		}
	}
	// Count: the oracle's list trimmed at k, allowing near-ties at the
	// MinScore and k boundaries.
	strict := 0
	for _, w := range want {
		if w.Score >= minScore+tol {
			strict++
		}
	}
	if len(got) > k || len(got) < min(k, strict) {
		t.Fatalf("got %d results, want %d (k=%d, %d candidates)", len(got), min(k, len(want)), k, len(want))
	}
	if len(got) == 0 {
		return
	}
	last := got[len(got)-1].Score
	inGot := map[uint64]bool{}
	for _, r := range got {
		inGot[r.ID] = true
	}
	for _, w := range want {
		if w.Score > last+tol && !inGot[w.ID] {
			t.Fatalf("ID %d (score %v) missing; last returned score %v", w.ID, w.Score, last)
		}
	}
}

func randVec(rng *rand.Rand, dim int) []float32 {
	v := make([]float32, dim)
	for {
		nonzero := false
		for i := range v {
			v[i] = float32(rng.NormFloat64())
			nonzero = nonzero || v[i] != 0
		}
		if nonzero {
			return v
		}
	}
}

func randVecs(rng *rand.Rand, n, dim int) [][]float32 {
	out := make([][]float32, n)
	for i := range out {
		out[i] = randVec(rng, dim)
	}
	return out
}
