//go:build linux

package engine

import (
	"context"
	"math/rand"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/memvec/memvec/internal/kernel"
)

// TestColdRescore measures, on a store built beforehand (MEMVEC_COLD_DIR;
// run as root, which may drop the page cache), what the prefetch of the
// rows to rescore buys when the codes are in the page cache and the rows
// are not: 100 random rows read one fault at a time, or asked for first
// (prefetchCands); and whole searches with and without it. Opt-in.
func TestColdRescore(t *testing.T) {
	e, v := openCold(t)
	rng := rand.New(rand.NewSource(1))
	q := make([]float32, e.dim)
	query := func() []float32 {
		for i := range q {
			q[i] = float32(rng.NormFloat64())
		}
		return q
	}
	ctx := context.Background()
	if _, err := e.SearchBatchParams(ctx, [][]float32{query()}, SearchParams{K: 10}); err != nil {
		t.Fatal(err) // the codes into the page cache (and checked)
	}
	e.jobs.Wait()
	segs := v.segs.len()
	cold := func() {
		for _, s := range v.segs.all() {
			s.ref.seg.DropVectors(0, s.rows)
		}
		os.WriteFile("/proc/sys/vm/drop_caches", []byte("1"), 0)
	}
	rescore := func(prefetch bool) time.Duration {
		cands := make([]cand, 100)
		for i := range cands {
			s := rng.Intn(segs)
			cands[i] = cand{seg: s, row: uint64(rng.Int63n(int64(v.segs.at(s).rows)))}
		}
		slices.SortFunc(cands, func(a, b cand) int {
			if a.seg != b.seg {
				return a.seg - b.seg
			}
			return int(a.row) - int(b.row)
		})
		cold()
		qn := query()
		start := time.Now()
		if prefetch {
			prefetchCands(v, cands)
		}
		var sum float32
		for _, c := range cands {
			sum += kernel.Dot(qn, v.segs.at(c.seg).ref.seg.Vectors(c.row, c.row+1))
		}
		return time.Since(start)
	}
	search := func(prefetch bool) (time.Duration, uint64) {
		rescorePrefetch = prefetch
		defer func() { rescorePrefetch = true }()
		cold()
		st0, _ := e.Stats()
		start := time.Now()
		if _, err := e.SearchBatchParams(ctx, [][]float32{query()}, SearchParams{K: 10}); err != nil {
			t.Fatal(err)
		}
		d := time.Since(start)
		st1, _ := e.Stats()
		return d, st1.RescoredRows - st0.RescoredRows
	}
	const runs = 7
	var with, without, sWith, sWithout []time.Duration
	var rows []uint64
	for range runs {
		without = append(without, rescore(false))
		with = append(with, rescore(true))
		d, n := search(false)
		sWithout = append(sWithout, d)
		rows = append(rows, n)
		d, n = search(true)
		sWith = append(sWith, d)
		rows = append(rows, n)
	}
	med := func(d []time.Duration) time.Duration { slices.Sort(d); return d[len(d)/2] }
	slices.Sort(rows)
	t.Logf("%d segments; 100 cold random rows: %v one fault at a time, %v prefetched (medians of %d; all %v / %v)",
		segs, med(without), med(with), runs, without, with)
	t.Logf("search, codes cached, rows cold (median %d rows rescored): %v without prefetch, %v with (all %v / %v)",
		rows[len(rows)/2], med(sWithout), med(sWith), sWithout, sWith)
}

// TestColdSearchIn measures a SearchIn of 1,000 random IDs with the rows
// out of the page cache, with and without prefetchIDs (as
// TestColdRescore; opt-in).
func TestColdSearchIn(t *testing.T) {
	e, v := openCold(t)
	rng := rand.New(rand.NewSource(2))
	q := make([]float32, e.dim)
	for i := range q {
		q[i] = float32(rng.NormFloat64())
	}
	ctx := context.Background()
	total, _ := v.totals()
	run := func(prefetch bool) time.Duration {
		rescorePrefetch = prefetch
		defer func() { rescorePrefetch = true }()
		ids := make([]uint64, 1000)
		for i := range ids {
			ids[i] = uint64(rng.Int63n(int64(total)))
		}
		for _, s := range v.segs.all() {
			s.ref.seg.DropVectors(0, s.rows)
		}
		start := time.Now()
		if _, err := e.SearchIn(ctx, q, ids, 10, -1); err != nil {
			t.Fatal(err)
		}
		return time.Since(start)
	}
	run(true) // the serve gate's checks
	var with, without []time.Duration
	for range 7 {
		without = append(without, run(false))
		with = append(with, run(true))
	}
	med := func(d []time.Duration) time.Duration { slices.Sort(d); return d[len(d)/2] }
	t.Logf("SearchIn of 1,000 random IDs, rows cold: %v without prefetch, %v with (medians of 7; all %v / %v)",
		med(without), med(with), without, with)
}

// openCold opens the store MEMVEC_COLD_DIR names, read-only, and acquires
// its current version, both released at the end of the test; it skips
// the test without it.
func openCold(t *testing.T) (*Engine, *version) {
	t.Helper()
	dir := os.Getenv("MEMVEC_COLD_DIR")
	if dir == "" {
		t.Skip("set MEMVEC_COLD_DIR to a store (and run as root)")
	}
	e, err := Open(dir, Config{SegmentBytes: DefaultSegmentBytes, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	v := e.acquire()
	t.Cleanup(v.release)
	return e, v
}
