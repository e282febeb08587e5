package engine

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/memvec/memvec/compactor"
	"github.com/memvec/memvec/internal/errs"
)

// randVecs returns n random vectors of dimension dim.
func randVecs(rng *rand.Rand, n, dim int) [][]float32 {
	vecs := make([][]float32, n)
	for i := range vecs {
		vecs[i] = make([]float32, dim)
		for j := range vecs[i] {
			vecs[i][j] = float32(rng.NormFloat64())
		}
	}
	return vecs
}

// aloneOn is the answer of r's search run by itself on v.
func aloneOn(t *testing.T, e *Engine, v *version, r *searchReq) []Hit {
	t.Helper()
	scan := e.prefilterScan
	if e.kind(r.p) == 1 {
		scan = e.scan
	}
	res, err := scan(context.Background(), v, r.q, 1, e.dim, r.p.K, r.p.MinScore)
	if err != nil {
		t.Errorf("alone: %v", err)
		return nil
	}
	if err := v.attachKeys(res[0], r.p.Payload); err != nil {
		t.Errorf("alone keys: %v", err)
	}
	return res[0]
}

// TestSharedMatchesAlone runs many concurrent searches of mixed TopK,
// MinScore, Exhaustive and payload, some cancelled and some invalid,
// beside Adds, Deletes and compactions. Every pass checks each of its
// searches against the same search run alone on the pass's snapshot, and
// that the snapshot is no older than the one current at the call.
func TestSharedMatchesAlone(t *testing.T) {
	const dim = 16
	e, err := Open(filepath.Join(t.TempDir(), "s"), Config{Dimension: dim, SegmentBytes: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	if _, err := e.Add(randVecs(rng, 3000, dim)); err != nil {
		t.Fatal(err)
	}
	var checked, grouped sync.Map // passes seen; queries that shared one
	e.shared.onPass = func(v *version, reqs []*searchReq) {
		for _, r := range reqs {
			if v.seq < r.seq {
				t.Errorf("pass on version %d, older than %d current at the call", v.seq, r.seq)
			}
			if r.err != nil {
				if r.ctx.Err() == nil {
					t.Errorf("search failed: %v", r.err)
				}
				continue
			}
			if want := aloneOn(t, e, v, r); !reflect.DeepEqual(r.hits, want) && !(len(r.hits) == 0 && len(want) == 0) {
				t.Errorf("K %d MinScore %v Exhaustive %v: shared %v, alone %v", r.p.K, r.p.MinScore, r.p.Exhaustive, r.hits, want)
			}
			checked.Store(r, true)
			if len(reqs) > 1 {
				grouped.Store(r, true)
			}
		}
	}
	stop := make(chan struct{})
	var writers sync.WaitGroup
	writers.Add(1)
	go func() { // writes and compactions beside the searches
		defer writers.Done()
		wr := rand.New(rand.NewPCG(3, 4))
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			ids, err := e.Add(randVecs(wr, 50, dim))
			if err != nil {
				t.Error(err)
				return
			}
			if _, err := e.Delete(ids[:10]); err != nil {
				t.Error(err)
				return
			}
			if i%5 == 4 {
				job := prepareAll(t, e)
				out, err := compactor.Copy(context.Background(), job)
				if err == nil {
					_, err = e.Commit(job, out)
				}
				job.Release()
				if err != nil {
					t.Error(err)
					return
				}
			}
		}
	}()
	var callers sync.WaitGroup
	for c := 0; c < 16; c++ {
		callers.Add(1)
		go func() {
			defer callers.Done()
			cr := rand.New(rand.NewPCG(uint64(c), 9))
			for i := 0; i < 30; i++ {
				q := randVecs(cr, 1, dim)[0]
				p := SearchParams{K: 1 + cr.IntN(20), MinScore: []float32{-1, 0, 0.45, 0.55, 0.65}[cr.IntN(5)], Payload: cr.IntN(2) == 0, Exhaustive: cr.IntN(4) == 0}
				ctx, cancel := context.WithCancel(context.Background())
				switch cr.IntN(10) {
				case 0:
					q[3] = float32(math.NaN()) // invalid: fails alone
					if _, err := e.SearchShared(ctx, q, p); !errors.Is(err, errs.ErrInvalidVector) {
						t.Errorf("NaN query: %v", err)
					}
				case 1:
					cancel() // cancelled before or while it waits
					if _, err := e.SearchShared(ctx, q, p); !errors.Is(err, context.Canceled) {
						t.Errorf("cancelled search: %v", err)
					}
				default:
					if _, err := e.SearchShared(ctx, q, p); err != nil {
						t.Errorf("search: %v", err)
					}
				}
				cancel()
			}
		}()
	}
	callers.Wait()
	close(stop)
	writers.Wait()
	e.shared.runners.Wait()
	n, g := 0, 0
	checked.Range(func(any, any) bool { n++; return true })
	grouped.Range(func(any, any) bool { g++; return true })
	if n == 0 {
		t.Fatal("no search was checked")
	}
	t.Logf("%d searches checked in %d passes, %d of them in shared passes", n, e.shared.passes.Load(), g)
}

// blockFirstPass makes e's next pass wait, at its first cancellation
// check, until release is closed; started is closed once it waits.
func blockFirstPass(e *Engine) (started chan struct{}, release chan struct{}) {
	started, release = make(chan struct{}), make(chan struct{})
	var once sync.Once
	testHookStopped = func() {
		once.Do(func() {
			close(started)
			<-release
		})
	}
	return started, release
}

// queueSearches starts n searches that join the queue behind a blocked
// pass and returns their results' channel once all n wait.
func queueSearches(t *testing.T, e *Engine, ctxs []context.Context, p SearchParams) chan error {
	t.Helper()
	waiting := make(chan struct{}, len(ctxs))
	e.shared.onWait = func() { waiting <- struct{}{} }
	errc := make(chan error, len(ctxs))
	rng := rand.New(rand.NewPCG(5, 6))
	for _, ctx := range ctxs {
		q := randVecs(rng, 1, e.dim)[0]
		go func() {
			_, err := e.SearchShared(ctx, q, p)
			errc <- err
		}()
	}
	for range ctxs {
		<-waiting
	}
	return errc
}

func TestSharedGroupsWaiters(t *testing.T) {
	e := openEngine(t, 8)
	if _, err := e.Add(randVecs(rand.New(rand.NewPCG(1, 1)), 500, 8)); err != nil {
		t.Fatal(err)
	}
	started, release := blockFirstPass(e)
	defer func() { testHookStopped = nil }()
	p := SearchParams{K: 5, MinScore: -1}
	first := make(chan error, 1)
	go func() {
		_, err := e.SearchShared(context.Background(), make([]float32, 7), p)
		first <- err // wrong dimension: fails before any pass
	}()
	if err := <-first; !errors.Is(err, errs.ErrDimension) {
		t.Fatalf("short query: %v", err)
	}
	go func() {
		_, err := e.SearchShared(context.Background(), randVecs(rand.New(rand.NewPCG(2, 2)), 1, 8)[0], p)
		first <- err
	}()
	<-started
	ctxs := make([]context.Context, 10)
	for i := range ctxs {
		ctxs[i] = context.Background()
	}
	errc := queueSearches(t, e, ctxs, p)
	close(release)
	for range ctxs {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	e.shared.runners.Wait()
	if p, g := e.shared.passes.Load(), e.shared.grouped.Load(); p != 2 || g != 10 {
		t.Fatalf("%d passes carried %d waiting searches, want 2 passes, 10", p, g)
	}
}

// TestSharedCancelWhileWaiting: a waiting caller whose context ends
// returns at once, while the pass ahead of it still runs, and the others
// get their answers.
func TestSharedCancelWhileWaiting(t *testing.T) {
	e := openEngine(t, 8)
	if _, err := e.Add(randVecs(rand.New(rand.NewPCG(1, 1)), 500, 8)); err != nil {
		t.Fatal(err)
	}
	started, release := blockFirstPass(e)
	defer func() { testHookStopped = nil }()
	p := SearchParams{K: 3}
	first := make(chan error, 1)
	go func() {
		_, err := e.SearchShared(context.Background(), randVecs(rand.New(rand.NewPCG(2, 2)), 1, 8)[0], p)
		first <- err
	}()
	<-started
	ctx, cancel := context.WithCancel(context.Background())
	errc := queueSearches(t, e, []context.Context{ctx, context.Background()}, p)
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled waiter: %v", err) // returned while the pass is blocked
	}
	close(release)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	e.shared.runners.Wait()
	if g := e.shared.grouped.Load(); g != 1 {
		t.Fatalf("%d waiting searches ran, want 1 (the cancelled one is dropped)", g)
	}
}

// TestSharedClose: Close with a pass running and callers waiting fails
// them all with ErrClosed, returns, and leaves no goroutine behind.
func TestSharedClose(t *testing.T) {
	e, err := Open(filepath.Join(t.TempDir(), "s"), Config{Dimension: 8, SegmentBytes: 8 << 10})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Add(randVecs(rand.New(rand.NewPCG(1, 1)), 500, 8)); err != nil {
		t.Fatal(err)
	}
	started, release := blockFirstPass(e)
	defer func() { testHookStopped = nil }()
	first := make(chan error, 1)
	go func() {
		_, err := e.SearchShared(context.Background(), randVecs(rand.New(rand.NewPCG(2, 2)), 1, 8)[0], SearchParams{K: 3})
		first <- err
	}()
	<-started
	ctxs := make([]context.Context, 5)
	for i := range ctxs {
		ctxs[i] = context.Background()
	}
	errc := queueSearches(t, e, ctxs, SearchParams{K: 3})
	closed := make(chan error, 1)
	go func() { closed <- e.Close() }()
	for !e.closed.Load() { // Close has cancelled the searches
		runtime.Gosched()
	}
	close(release)
	if err := <-first; !errors.Is(err, errs.ErrClosed) {
		t.Fatalf("running search: %v", err)
	}
	for range ctxs {
		if err := <-errc; !errors.Is(err, errs.ErrClosed) {
			t.Fatalf("waiting search: %v", err)
		}
	}
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	e.shared.runners.Wait()
	if _, err := e.SearchShared(context.Background(), make([]float32, 8), SearchParams{K: 1}); !errors.Is(err, errs.ErrClosed) {
		t.Fatalf("search after Close: %v", err)
	}
	// Every caller has had its answer, and the runner is done: no
	// goroutine is left inside the shared passes.
	buf := make([]byte, 1<<20)
	stacks := string(buf[:runtime.Stack(buf, true)])
	for _, fn := range []string{"(*Engine).runGroups", "(*Engine).SearchShared", "(*Engine).runPass"} {
		if strings.Contains(stacks, fn) {
			t.Fatalf("a goroutine is still in %s after Close:\n%s", fn, stacks)
		}
	}
}

func TestTrimHits(t *testing.T) {
	hits := []Hit{{ID: 1, Score: 0.9}, {ID: 2, Score: 0.5}, {ID: 0, Score: 0.5}, {ID: 3, Score: -0.2}}
	for _, c := range []struct {
		k    int
		min  float32
		want int
	}{{10, -1, 4}, {2, -1, 2}, {10, 0, 3}, {10, 0.6, 1}, {1, 0.95, 0}} {
		if got := trimHits(hits, c.k, c.min); len(got) != c.want {
			t.Errorf("trimHits(k %d, min %v) kept %d, want %d", c.k, c.min, len(got), c.want)
		}
	}
}
