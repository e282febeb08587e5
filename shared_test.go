package memvec

import (
	"context"
	"errors"
	"math"
	"math/rand"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// Concurrent Searches share scans (engine/shared.go; each result is
// checked against the same search alone on its snapshot by the engine's
// TestSharedMatchesAlone). Here, through the public API: searches of
// mixed TopK, MinScore and Exhaustive, some cancelled and some invalid,
// beside Add, Delete and Compact (and the background compactor), and a
// Close that comes while searches run and wait. Every call returns a
// result or the error it should, Close returns, and no goroutine is left.
func TestConcurrentSearchesAndClose(t *testing.T) {
	const dim = 16
	before := runtime.NumGoroutine()
	dir := filepath.Join(t.TempDir(), "store")
	db, err := openT(t, dir, Options{Dimension: dim, SegmentBytes: testSegmentBytes})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewSource(1))
	if _, err := db.Add(randVecs(rng, 2000, dim)); err != nil {
		t.Fatal(err)
	}
	// A Search that failed with ErrClosed says Close has begun; the test
	// closes once every searcher has made some calls.
	var (
		wg      sync.WaitGroup
		started sync.WaitGroup // each searcher's first 5 calls
		fail    = make(chan error, 64)
	)
	report := func(err error) {
		select {
		case fail <- err:
		default:
		}
	}
	const searchers = 24
	started.Add(searchers)
	for s := 0; s < searchers; s++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewSource(int64(100 + s)))
			for i := 0; ; i++ {
				if i == 5 {
					started.Done()
				}
				q := randVecs(r, 1, dim)[0]
				opts := SearchOptions{TopK: 1 + r.Intn(20), MinScore: []float32{-1, 0, 0.5}[r.Intn(3)], Exhaustive: r.Intn(4) == 0}
				ctx, cancel := context.WithCancel(context.Background())
				want := error(nil)
				switch r.Intn(10) {
				case 0:
					q[1] = float32(math.Inf(1))
					want = ErrInvalidVector
				case 1:
					cancel()
					want = context.Canceled
				}
				res, err := db.Search(ctx, q, opts)
				cancel()
				switch {
				case errors.Is(err, ErrClosed):
					if i < 5 {
						started.Done() // Close came first: do not hold the test
					}
					return
				case want != nil && !errors.Is(err, want):
					report(errors.New("search: " + errString(err) + ", want " + want.Error()))
				case want == nil && err != nil:
					report(errors.New("search: " + err.Error()))
				case want == nil && (len(res) > opts.TopK || !slices.IsSortedFunc(res, func(a, b Result) int { return cmpScore(b.Score, a.Score) })):
					report(errors.New("search: a result longer than TopK or out of order"))
				}
				for _, h := range res {
					if h.Score < opts.MinScore {
						report(errors.New("search: a result below MinScore"))
					}
				}
			}
		}()
	}
	wg.Add(1)
	go func() { // writes and compactions until Close
		defer wg.Done()
		w := rand.New(rand.NewSource(2))
		for {
			ids, err := db.Add(randVecs(w, 40, dim))
			if err == nil {
				_, err = db.Delete(ids[:10])
			}
			if err == nil {
				_, err = db.Compact(context.Background())
			}
			if errors.Is(err, ErrClosed) {
				return
			}
			if err != nil {
				report(errors.New("write: " + err.Error()))
				return
			}
		}
	}()
	started.Wait()
	closed := make(chan error, 1)
	go func() { closed <- db.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatalf("Close: %v", err)
		}
	case <-time.After(30 * time.Second): // a hang, not a timing
		t.Fatal("Close did not return with searches running")
	}
	// Close waited for the store's own goroutines (the scans' workers,
	// the compactor): none is left once it has returned. The callers'
	// goroutines (this test's) may still be on their way out.
	buf := make([]byte, 1<<22)
	for _, g := range strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n") {
		if !strings.Contains(g, "TestConcurrentSearchesAndClose") && strings.Contains(g, "github.com/memvec/memvec/") {
			t.Fatalf("a goroutine of the store is still running after Close:\n%s", g)
		}
	}
	wg.Wait()
	close(fail)
	for err := range fail {
		t.Error(err)
	}
	// Every goroutine the store started has ended: Close waited for the
	// scans' workers and the compactor. Goroutines of the runtime and
	// of the test framework may still be on their way out.
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		runtime.Gosched()
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Fatalf("%d goroutines after Close, %d before Open:\n%s", n, before, buf[:runtime.Stack(buf, true)])
	}
}

func errString(err error) string {
	if err == nil {
		return "nil"
	}
	return err.Error()
}

func cmpScore(a, b float32) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
