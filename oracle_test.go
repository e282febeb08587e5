package memvec

import (
	"errors"
	"math/rand"
	"testing"

	"github.com/memvec/memvec/internal/memvectest"
)

// oracle is a float64 brute-force model of a store: what it holds, what is
// deleted, and what an exact search must return (memvectest.Exact).
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

// search returns every candidate with its exact score, best first.
func (o *oracle) search(q []float32, ids []uint64, minScore float32) []memvectest.Hit {
	return memvectest.Exact(o.vecs, q, ids, minScore)
}

// checkResults asserts that got is a correct top-k answer: sorted, scores
// within tol of the exact ones, and no better candidate left out.
func checkResults(t *testing.T, o *oracle, q []float32, ids []uint64, k int, minScore float32, got []Result) {
	t.Helper()
	memvectest.CheckHits(t, o.vecs, q, ids, k, minScore, hits(got))
}

// modelOps returns functions that add n random vectors to db and delete
// ids from it, doing the same to the model o and failing t on an error or
// a delete count the model does not predict.
func modelOps(t *testing.T, db *DB, o *oracle, rng *rand.Rand) (add func(n int), del func(ids ...uint64)) {
	add = func(n int) {
		vecs := randVecs(rng, n, o.dim)
		ids, err := db.Add(vecs)
		if err != nil {
			t.Fatal(err)
		}
		o.add(ids, vecs)
	}
	del = func(ids ...uint64) {
		want := o.delete(ids)
		if n, err := db.Delete(ids); err != nil || n != want {
			t.Fatalf("Delete(%v) = %d, %v; want %d", ids, n, err, want)
		}
	}
	return add, del
}

// checkGets asserts that Get of every ID below end returns the model's
// vector, bit-exact, or ErrNotFound where the model holds none.
func checkGets(t *testing.T, db *DB, o *oracle, end uint64) {
	t.Helper()
	for id := uint64(0); id < end; id++ {
		got, err := db.Get(id)
		want, ok := o.vecs[id]
		if !ok {
			if !errors.Is(err, ErrNotFound) {
				t.Fatalf("Get(%d) of an ID the model does not hold: %v, %v", id, got, err)
			}
			continue
		}
		if err != nil || !bitsEqual(got, want) {
			t.Fatalf("Get(%d) = %v, %v; want %v", id, got, err, want)
		}
	}
}

// remapped returns vecs with every ID the compaction of m moved at its new
// ID.
func remapped(vecs map[uint64][]float32, m IDMap) map[uint64][]float32 {
	moved := make(map[uint64][]float32, len(vecs))
	for id, v := range vecs {
		if nid, ok := m.Lookup(id); ok {
			id = nid
		}
		moved[id] = v
	}
	return moved
}

// hits converts results for memvectest.
func hits(rs []Result) []memvectest.Hit {
	out := make([]memvectest.Hit, len(rs))
	for i, r := range rs {
		out[i] = memvectest.Hit{ID: r.ID, Score: r.Score}
	}
	return out
}

// The shared helpers, under the names this package's tests use.
var (
	randVec   = memvectest.RandVec
	randVecs  = memvectest.RandVecs
	bitsEqual = memvectest.BitsEqual
)
