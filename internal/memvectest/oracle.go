package memvectest

import (
	"math"
	"math/rand"
	"sort"
	"testing"
)

// Hit is one search result: the fields of memvec.Result, so that a
// []memvec.Result converts element by element.
type Hit struct {
	ID    uint64
	Score float32
}

// Cosine64 is the cosine similarity of a and b computed in float64: the
// exact score a float32 search is checked against.
func Cosine64(a, b []float32) float64 {
	var dot, na, nb float64
	for i := range a {
		dot += float64(a[i]) * float64(b[i])
		na += float64(a[i]) * float64(a[i])
		nb += float64(b[i]) * float64(b[i])
	}
	return dot / math.Sqrt(na) / math.Sqrt(nb)
}

// Exact returns every candidate of vecs with its exact score at least
// minScore (less a rounding margin), best first and ties by ascending ID:
// the brute-force answer of a search. ids nil means every vector;
// otherwise only those IDs (repeats once, unknown ones skipped).
func Exact(vecs map[uint64][]float32, q []float32, ids []uint64, minScore float32) []Hit {
	var out []Hit
	consider := func(id uint64) {
		v, ok := vecs[id]
		if !ok {
			return
		}
		s := Cosine64(q, v)
		if float32(s) >= minScore-1e-5 {
			out = append(out, Hit{ID: id, Score: float32(s)})
		}
	}
	if ids == nil {
		for id := range vecs {
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

// CheckHits fails t unless got is a correct top-k answer of a search of q
// over vecs (restricted to ids when not nil): sorted, scores within 1e-4
// of the exact ones, at least minScore, and no better candidate left out
// (near-ties at the MinScore and k boundaries may go either way).
func CheckHits(t testing.TB, vecs map[uint64][]float32, q []float32, ids []uint64, k int, minScore float32, got []Hit) {
	t.Helper()
	const tol = 1e-4
	want := Exact(vecs, q, ids, minScore)
	for i, r := range got {
		v, ok := vecs[r.ID]
		if !ok {
			t.Fatalf("result %d: ID %d is not live", i, r.ID)
		}
		if exact := Cosine64(q, v); math.Abs(exact-float64(r.Score)) > tol {
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

// RandVec returns a random normal vector of dim components, never all
// zero (a zero vector has no cosine).
func RandVec(rng *rand.Rand, dim int) []float32 {
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

// RandVecs returns n vectors of RandVec.
func RandVecs(rng *rand.Rand, n, dim int) [][]float32 {
	out := make([][]float32, n)
	for i := range out {
		out[i] = RandVec(rng, dim)
	}
	return out
}

// BitsEqual reports whether a and b hold the same float32 bit patterns: a
// vector read back must be the one written, to the bit (NaN payloads and
// the sign of zero included), which == does not check.
func BitsEqual(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return true
}

// EqualRows fails t unless got holds the rows of want, bit for bit (see
// BitsEqual), naming what and the first row and component that differ.
func EqualRows(t testing.TB, what string, got, want [][]float32) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d rows, want %d", what, len(got), len(want))
	}
	for i := range want {
		if len(got[i]) != len(want[i]) {
			t.Fatalf("%s: row %d has %d components, want %d", what, i, len(got[i]), len(want[i]))
		}
		for j := range want[i] {
			if math.Float32bits(got[i][j]) != math.Float32bits(want[i][j]) {
				t.Fatalf("%s: row %d component %d is %v, want %v", what, i, j, got[i][j], want[i][j])
			}
		}
	}
}
