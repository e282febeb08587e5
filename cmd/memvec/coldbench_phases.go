package main

import (
	"context"
	"fmt"
	"math/rand"
	"runtime"
	"slices"
	"time"

	"github.com/memvec/memvec"
)

// coldRun runs coldbench's phases on a built store.
type coldRun struct {
	ctx   context.Context
	b     coldArgs
	first uint64 // the store's IDs are [first, first+n)
	drop  func() error
	res   *coldResult
	rng   *rand.Rand
}

func (r *coldRun) add(p coldPhase) { r.res.Phases = append(r.res.Phases, p) }

// open drops the page cache and opens the store, timed.
func (r *coldRun) open() (*memvec.DB, time.Duration, error) {
	if err := r.drop(); err != nil {
		return nil, 0, err
	}
	t := time.Now()
	db, err := memvec.Open(r.b.store, memvec.Options{DisableAutoCompaction: true})
	return db, time.Since(t), err
}

func (r *coldRun) run() error {
	r.rng = rand.New(rand.NewSource(r.b.seed + 1))
	// Cold Opens; the heap is measured after the last, with the store
	// open and nothing read yet.
	var opens []time.Duration
	var db *memvec.DB
	for i := 0; i < r.b.opens; i++ {
		d, t, err := r.open()
		if err != nil {
			return err
		}
		opens = append(opens, t)
		if i < r.b.opens-1 {
			if err := d.Close(); err != nil {
				return err
			}
		}
		db = d
	}
	r.res.Segments = db.Stats().Segments
	r.add(coldPhase{Name: "open", Op: "cold Open", Calls: len(opens), MedianMs: ms(median(opens)), P90Ms: ms(quantileD(opens, 0.9))})
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	r.add(coldPhase{Name: "heap", Op: "heap in use after Open (HeapInuse after a GC)", Calls: 1, Bytes: int64(m.HeapInuse)})
	err := r.reads(db)
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	// A fresh cold Open for the searches: the first one pays for what
	// Open left to first use.
	db, _, err = r.open()
	if err != nil {
		return err
	}
	err = r.searches(db)
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	return err
}

// randomIDs returns k distinct random IDs of the store.
func (r *coldRun) randomIDs(k int) []uint64 {
	k = min(k, r.b.n)
	seen := make(map[uint64]bool, k)
	ids := make([]uint64, 0, k)
	for len(ids) < k {
		id := r.first + uint64(r.rng.Int63n(int64(r.b.n)))
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	return ids
}

// reads times cold Gets and cold SearchIns.
func (r *coldRun) reads(db *memvec.DB) error {
	if err := r.drop(); err != nil {
		return err
	}
	var gets []time.Duration
	for _, id := range r.randomIDs(r.b.gets) {
		if err := r.ctx.Err(); err != nil {
			return err
		}
		t := time.Now()
		if _, err := db.Get(id); err != nil {
			return fmt.Errorf("get %d: %w", id, err)
		}
		gets = append(gets, time.Since(t))
	}
	r.add(coldPhase{Name: "get", Op: "cold Get of a random ID (one drop, then distinct IDs)", Calls: len(gets),
		MedianMs: ms(median(gets)), P90Ms: ms(quantileD(gets, 0.9))})
	var in []time.Duration
	opts := memvec.SearchOptions{TopK: r.b.k, MinScore: -1}
	for i := 0; i < r.b.inRuns; i++ {
		ids, q := r.randomIDs(r.b.in), randomQuery(r.rng, r.b.dim)
		if err := r.drop(); err != nil {
			return err
		}
		t := time.Now()
		if _, err := db.SearchIn(r.ctx, q, ids, opts); err != nil {
			return err
		}
		in = append(in, time.Since(t))
	}
	r.add(coldPhase{Name: "search_in", Op: fmt.Sprintf("SearchIn of %d random IDs, top %d (a drop before each)", r.b.in, r.b.k),
		Calls: len(in), MedianMs: ms(median(in)), P90Ms: ms(quantileD(in, 0.9))})
	return nil
}

// searches times the first Search after a cold Open, then later ones with
// the page cache as the earlier ones left it, then Exhaustive.
func (r *coldRun) searches(db *memvec.DB) error {
	opts := memvec.SearchOptions{TopK: r.b.k}
	t := time.Now()
	if _, err := db.Search(r.ctx, randomQuery(r.rng, r.b.dim), opts); err != nil {
		return err
	}
	r.add(coldPhase{Name: "first_search", Op: fmt.Sprintf("first Search after a cold Open, top %d", r.b.k), Calls: 1, MedianMs: ms(time.Since(t))})
	queries := make([][]float32, r.b.searches)
	results := make([][]memvec.Result, r.b.searches)
	var times []time.Duration
	var bytes, mallocs []uint64
	var before, after runtime.MemStats
	for i := range queries {
		queries[i] = randomQuery(r.rng, r.b.dim)
		runtime.ReadMemStats(&before)
		t := time.Now()
		res, err := db.Search(r.ctx, queries[i], opts)
		d := time.Since(t)
		runtime.ReadMemStats(&after)
		if err != nil {
			return err
		}
		results[i] = res
		times = append(times, d)
		bytes = append(bytes, after.TotalAlloc-before.TotalAlloc)
		mallocs = append(mallocs, after.Mallocs-before.Mallocs)
	}
	r.add(coldPhase{Name: "search", Op: fmt.Sprintf("later Searches, random queries, top %d (no drop)", r.b.k), Calls: len(times),
		MedianMs: ms(median(times)), P90Ms: ms(quantileD(times, 0.9))})
	r.add(coldPhase{Name: "alloc", Op: "allocation per Search (median)", Calls: len(bytes),
		Bytes: int64(medianU(bytes)), Mallocs: medianU(mallocs)})
	if r.b.exhaustive == 0 {
		r.add(coldPhase{Name: "exhaustive", Op: "Search = Exhaustive", Note: "skipped (--exhaustive 0)"})
		return nil
	}
	ex := opts
	ex.Exhaustive = true
	var extimes []time.Duration
	for i := 0; i < r.b.exhaustive; i++ {
		t := time.Now()
		want, err := db.Search(r.ctx, queries[i], ex)
		if err != nil {
			return err
		}
		extimes = append(extimes, time.Since(t))
		if !sameResults(results[i], want) {
			r.res.Identical = false
		}
	}
	note := "identical results"
	if !r.res.Identical {
		note = "RESULTS DIFFER"
	}
	r.add(coldPhase{Name: "exhaustive", Op: fmt.Sprintf("Exhaustive, the first %d of those queries (no drop)", len(extimes)), Calls: len(extimes),
		MedianMs: ms(median(extimes)), Note: note})
	return nil
}

// sameResults reports whether two result lists agree in IDs and scores,
// bit for bit.
func sameResults(a, b []memvec.Result) bool {
	return slices.EqualFunc(a, b, func(x, y memvec.Result) bool { return x.ID == y.ID && x.Score == y.Score })
}

// quantileD returns the p-quantile of ds by nearest rank (it sorts ds).
func quantileD(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	i := int(p*float64(len(ds))+0.5) - 1
	return ds[min(max(i, 0), len(ds)-1)]
}

// medianU returns the median of xs (which it sorts).
func medianU(xs []uint64) uint64 {
	if len(xs) == 0 {
		return 0
	}
	slices.Sort(xs)
	return xs[len(xs)/2]
}
