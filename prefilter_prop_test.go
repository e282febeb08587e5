package memvec

import (
	"context"
	"fmt"
	"math"
	"math/rand"
	"testing"

	"github.com/memvec/memvec/internal/memvectest"
)

// The prefilter's contract (issue 13): for every store, query, TopK and
// MinScore, Search and SearchBatch return exactly what they return with
// Exhaustive, score bits included, on data built to break the bounds.

// prefilterKinds builds n rows of dimension dim of one kind of data.
var prefilterKinds = map[string]func(rng *rand.Rand, n, dim int) [][]float32{
	"random": func(rng *rand.Rand, n, dim int) [][]float32 { return memvectest.RandVecs(rng, n, dim) },
	"clustered": func(rng *rand.Rand, n, dim int) [][]float32 {
		centers := memvectest.RandVecs(rng, 4, dim)
		out := make([][]float32, n)
		for i := range out {
			c := centers[rng.Intn(len(centers))]
			v := make([]float32, dim)
			for j := range v {
				v[j] = c[j] + float32(rng.NormFloat64()*1e-3)
			}
			out[i] = nonZero(v)
		}
		return out
	},
	// Rows one ulp apart: near-ties everywhere, all inside every bound.
	"near-duplicate": func(rng *rand.Rand, n, dim int) [][]float32 {
		base := memvectest.RandVec(rng, dim)
		out := make([][]float32, n)
		for i := range out {
			v := append([]float32(nil), base...)
			j := rng.Intn(dim)
			for range i % 3 {
				v[j] = math.Nextafter32(v[j], float32(math.Inf(1)))
			}
			out[i] = v
		}
		return out
	},
	"duplicate": func(rng *rand.Rand, n, dim int) [][]float32 {
		distinct := memvectest.RandVecs(rng, 3, dim)
		out := make([][]float32, n)
		for i := range out {
			out[i] = append([]float32(nil), distinct[rng.Intn(len(distinct))]...)
		}
		return out
	},
	// One dimension far larger than the others: the scale is set by it,
	// and every other component quantises to a few levels.
	"outlier": func(rng *rand.Rand, n, dim int) [][]float32 {
		out := memvectest.RandVecs(rng, n, dim)
		for _, v := range out {
			v[0] *= 1e4
		}
		return out
	},
	// Norms from 1e-29 to 1e29, inside the accepted [1e-30, 1e30].
	"extreme-norm": func(rng *rand.Rand, n, dim int) [][]float32 {
		out := memvectest.RandVecs(rng, n, dim)
		for _, v := range out {
			var ss float64
			for _, x := range v {
				ss += float64(x) * float64(x)
			}
			f := math.Pow(10, rng.Float64()*58-29) / math.Sqrt(ss)
			for j := range v {
				v[j] = float32(float64(v[j]) * f)
			}
		}
		return out
	},
}

// nonZero returns v, or a unit vector when v rounded to all zeros.
func nonZero(v []float32) []float32 {
	for _, x := range v {
		if x != 0 {
			return v
		}
	}
	v[0] = 1
	return v
}

// checkPrefilter fails t unless every search of queries on db answers
// what its Exhaustive twin answers, bit for bit.
func checkPrefilter(t *testing.T, db *DB, queries [][]float32, what string) {
	t.Helper()
	ctx := context.Background()
	for _, k := range []int{1, 10, 1000} {
		for _, ms := range []float32{-1, 0, 0.5, 0.99} {
			opts := SearchOptions{TopK: k, MinScore: ms}
			ex := opts
			ex.Exhaustive = true
			want, err := db.SearchBatch(ctx, queries, ex)
			if err != nil {
				t.Fatal(err)
			}
			got, err := db.SearchBatch(ctx, queries, opts)
			if err != nil {
				t.Fatal(err)
			}
			for i, q := range queries {
				where := fmt.Sprintf("%s: query %d, TopK %d, MinScore %v", what, i, k, ms)
				sameResults(t, where+", batch", got[i], want[i])
				if i%4 == 0 { // Search alone too, for a sample
					one, err := db.Search(ctx, q, opts)
					if err != nil {
						t.Fatal(err)
					}
					sameResults(t, where, one, want[i])
				}
			}
		}
	}
}

// sameResults fails t unless got and want have the same IDs and the same
// score bits in the same order.
func sameResults(t *testing.T, where string, got, want []Result) {
	t.Helper()
	if !sameHits(got, want) {
		t.Fatalf("%s:\n got        %v\n Exhaustive %v", where, got, want)
	}
}

// prefilterQueries are stored rows, their negations, the same scaled by
// 1e20, and random directions.
func prefilterQueries(rng *rand.Rand, rows [][]float32, dim int) [][]float32 {
	var qs [][]float32
	for range 3 {
		r := rows[rng.Intn(len(rows))]
		neg := make([]float32, dim)
		big := make([]float32, dim)
		var ss float64
		for _, x := range r {
			ss += float64(x) * float64(x)
		}
		for j, x := range r {
			neg[j] = -x
			big[j] = float32(float64(x) / math.Sqrt(ss) * 1e20)
		}
		qs = append(qs, r, neg, nonZero(big))
	}
	return append(qs, memvectest.RandVecs(rng, 2, dim)...)
}

func TestPrefilterEqualsExhaustive(t *testing.T) {
	dims := []int{1, 2, 3, 17, 100, 512, 1000}
	if testing.Short() {
		dims = []int{3, 100}
	}
	for _, dim := range dims {
		for kind, gen := range prefilterKinds {
			t.Run(fmt.Sprintf("%s/dim=%d", kind, dim), func(t *testing.T) {
				t.Parallel()
				rng := rand.New(rand.NewSource(int64(dim*100 + len(kind))))
				n := max(300, 200_000/(dim+50))
				n = min(n, 3000)
				db, dir := openTest(t, dim, func(o *Options) { o.SegmentBytes = 1 << 20 })
				rows := gen(rng, n, dim)
				var ids []uint64
				for i := 0; i < n; i += 500 {
					got, err := db.Add(rows[i:min(i+500, n)])
					if err != nil {
						t.Fatal(err)
					}
					ids = append(ids, got...)
				}
				qs := prefilterQueries(rng, rows, dim)
				checkPrefilter(t, db, qs, "fresh")
				var dead []uint64
				for _, id := range ids {
					if rng.Intn(4) == 0 {
						dead = append(dead, id)
					}
				}
				if _, err := db.Delete(dead); err != nil {
					t.Fatal(err)
				}
				checkPrefilter(t, db, qs, "after deletes")
				if _, err := db.Compact(context.Background()); err != nil {
					t.Fatal(err)
				}
				db = reopen(t, db, dir)
				checkPrefilter(t, db, qs, "after compaction and reopen")
			})
		}
	}
}

// TestPrefilterSkipsRows is the prefilter's reason to exist: on random
// data most rows are never read in float32, and the counters say so.
func TestPrefilterSkipsRows(t *testing.T) {
	const dim, n = 64, 20000
	db, _ := openTest(t, dim, func(o *Options) { o.SegmentBytes = 4 << 20 })
	rng := rand.New(rand.NewSource(12))
	rows := memvectest.RandVecs(rng, n, dim)
	if _, err := db.Add(rows); err != nil {
		t.Fatal(err)
	}
	before := db.Stats()
	if before.CodeBytes != int64(n*(dim+16)) {
		t.Fatalf("CodeBytes %d, want %d", before.CodeBytes, n*(dim+16))
	}
	qs := memvectest.RandVecs(rng, 8, dim)
	checkPrefilter(t, db, qs[:1], "random")
	after := db.Stats()
	code := after.CodeRows - before.CodeRows
	rescored := after.RescoredRows - before.RescoredRows
	if code == 0 || rescored*4 > code {
		t.Fatalf("the prefilter bounded %d rows and rescored %d: it saves nothing", code, rescored)
	}
	t.Logf("bounded %d rows, rescored %d, scanned %d in float32, %d fallbacks", code, rescored,
		after.FullScanRows-before.FullScanRows, after.FallbackSearches-before.FallbackSearches)
}
