package engine

import (
	"context"
	"math/rand"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/memvec/memvec/internal/memvectest"
)

// A search on a reopened store (sealed segments: vectors advised random,
// rows prefetched before rescoring, float32 chunks prefetched before a
// scan) returns exactly what Exhaustive does, and its first search warms
// the codes of every sealed segment and, with LockCodes, locks them.
func TestPageCacheSearchMatchesExhaustive(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "s")
	const dim, n = 64, 6000
	cfg := Config{Dimension: dim, SegmentBytes: 256 << 10, NoSync: true}
	e, err := Open(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewSource(1))
	vec := func() []float32 {
		v := make([]float32, dim)
		for j := range v {
			v[j] = float32(rng.NormFloat64())
		}
		return v
	}
	var vecs [][]float32
	for range n {
		vecs = append(vecs, vec())
	}
	if _, err := e.Add(vecs); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	cfg.LockCodes = true
	if e, err = Open(dir, cfg); err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	st, _ := e.Stats()
	if st.Segments < 3 || st.LockedCodeBytes != 0 {
		t.Fatalf("%d segments, %d code bytes locked before any search", st.Segments, st.LockedCodeBytes)
	}
	var queries [][]float32
	for i := range 16 {
		q := slices.Clone(vecs[rng.Intn(n)])
		if i%2 == 0 {
			q = vec()
		}
		queries = append(queries, q)
	}
	for _, k := range []int{1, 10, 100} {
		p := SearchParams{K: k, MinScore: -1}
		got, err := e.SearchBatchParams(context.Background(), queries, p)
		if err != nil {
			t.Fatal(err)
		}
		p.Exhaustive = true
		want, err := e.SearchBatchParams(context.Background(), queries, p)
		if err != nil {
			t.Fatal(err)
		}
		for q := range want {
			same := slices.EqualFunc(got[q], want[q], func(a, b Hit) bool { return a.ID == b.ID && a.Score == b.Score })
			if !same {
				t.Fatalf("k %d query %d: prefiltered %v, exhaustive %v", k, q, got[q], want[q])
			}
		}
	}
	e.jobs.Wait() // the warm-up goroutine
	st, _ = e.Stats()
	if st.RescoredRows <= uint64(len(queries)) {
		t.Fatalf("only %d rows rescored: the prefetch of candidates was not exercised", st.RescoredRows)
	}
	v := e.acquire()
	defer v.release()
	var locked int64
	for _, s := range v.segs.all() {
		seg := s.ref.seg
		if seg.Sealed() && !seg.CodesAdvised() {
			t.Fatalf("segment %d: codes not advised after a search", seg.Number())
		}
		locked += seg.LockedBytes()
	}
	if locked != st.LockedCodeBytes {
		t.Fatalf("Stats.LockedCodeBytes %d, segments %d", st.LockedCodeBytes, locked)
	}
	if mlockWorks() && st.LockedCodeBytes < st.CodeBytes/2 {
		t.Fatalf("LockCodes: %d of %d code bytes locked", st.LockedCodeBytes, st.CodeBytes)
	}
}

// A search's allocations do not grow with the store: the page-cache work
// (warmCodes' look at each segment, the prefetch of candidates) allocates
// nothing per segment or row once the codes are warm.
func TestSearchAllocsIndependentOfN(t *testing.T) {
	const dim = 64
	e, err := Open(filepath.Join(t.TempDir(), "s"), Config{Dimension: dim, SegmentBytes: 64 << 10, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	rng := rand.New(rand.NewSource(1))
	add := func(n int) {
		if _, err := e.Add(memvectest.RandVecs(rng, n, dim)); err != nil {
			t.Fatal(err)
		}
	}
	q := [][]float32{make([]float32, dim)}
	for j := range q[0] {
		q[0][j] = float32(rng.NormFloat64())
	}
	allocs := func() (float64, int) {
		search := func() {
			if _, err := e.SearchBatchParams(context.Background(), q, SearchParams{K: 10, MinScore: -1}); err != nil {
				t.Fatal(err)
			}
		}
		search() // the version's plan, the warm-up of its codes
		e.jobs.Wait()
		st, _ := e.Stats()
		return testing.AllocsPerRun(20, search), st.Segments
	}
	add(4000)
	small, segs1 := allocs()
	add(28000)
	large, segs2 := allocs()
	if segs2 < 4*segs1 || large > small+16 {
		t.Fatalf("allocations per search: %v with %d segments, %v with %d", small, segs1, large, segs2)
	}
	t.Logf("allocations per search: %v with %d segments, %v with %d", small, segs1, large, segs2)
}

// A SearchIn whose rows are out of the page cache (its cold path: asks
// shared among goroutines, more workers) answers as it does warm.
func TestColdSearchInMatchesWarm(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "s")
	const dim, n = 64, 6000
	e, err := Open(dir, Config{Dimension: dim, SegmentBytes: 256 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	rng := rand.New(rand.NewSource(2))
	vecs := memvectest.RandVecs(rng, n, dim)
	if _, err := e.Add(vecs); err != nil {
		t.Fatal(err)
	}
	ids := make([]uint64, 2000)
	for i := range ids {
		ids[i] = uint64(rng.Intn(n))
	}
	q := vecs[7]
	warm, err := e.SearchInWith(context.Background(), q, ids, 50, -1, false)
	if err != nil {
		t.Fatal(err)
	}
	v := e.acquire()
	defer v.release()
	for _, s := range v.segs.all() {
		if seg := s.ref.seg; seg.Sealed() {
			seg.DropVectors(0, s.rows)
		}
	}
	e.warm.forget() // the warm SearchIn above must not stand for this one
	if si, row, _ := v.index.Find(ids[0]); v.segs.at(si).ref.seg.VectorCached(row) {
		t.Skip("the rows stay in the page cache here: the cold path cannot be reached")
	}
	cold, err := e.SearchInWith(context.Background(), q, ids, 50, -1, false)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.EqualFunc(cold, warm, func(a, b Hit) bool { return a.ID == b.ID && a.Score == b.Score }) {
		t.Fatalf("cold SearchIn %v, warm %v", cold, warm)
	}
}

// The warm hint skips samples only after two warm ones in a row, only for
// warmHintFor, and not after a cold one or forget.
func TestWarmHint(t *testing.T) {
	var h warmHint
	calls := 0
	sample := func(cold bool) func() bool { return func() bool { calls++; return cold } }
	step := func(at time.Duration, cold, wantCold bool, wantCalls int) {
		t.Helper()
		if got := h.sampledColdAt(at, sample(cold)); got != wantCold || calls != wantCalls {
			t.Fatalf("at %v: cold %v after %d samples, want %v after %d", at, got, calls, wantCold, wantCalls)
		}
	}
	ms := time.Millisecond
	step(0, false, false, 1)
	step(1*ms, true, true, 2)   // a cold sample is taken and believed
	step(2*ms, false, false, 3) // one warm sample after it: not yet a hint
	step(3*ms, false, false, 4) // the second: the hint holds until 3ms+warmHintFor
	step(4*ms, true, false, 4)  // skipped, taken as warm
	step(3*ms+warmHintFor, true, true, 5)
	step(20*ms, false, false, 6)
	step(21*ms, false, false, 7)
	h.forget()
	step(22*ms, true, true, 8)
}
