package engine

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

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
// beside Adds, Deletes and compactions: the model of each is the same
// search run alone on its scan's version (checkAlone), which must be no
// older than the version current at the call. With more callers than a
// scan carries, and no writes, scans run full and side by side.
func TestSharedMatchesAlone(t *testing.T) {
	t.Run("writes", func(t *testing.T) { sharedModel(t, 16, true) })
	t.Run("callers=48", func(t *testing.T) { sharedModel(t, 48, false) })
}

func sharedModel(t *testing.T, nCallers int, writes bool) {
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
	var checked atomic.Int64
	e.shared.onDone = func(v *version, r *searchReq) {
		checkAlone(t, e, v, r)
		checked.Add(1)
	}
	stop := make(chan struct{})
	var writers sync.WaitGroup
	writers.Add(1)
	go func() {
		if !writes {
			writers.Done()
			return
		} // writes and compactions beside the searches
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
				if err := copyAndCommit(e, prepareAll(t, e)); err != nil {
					t.Error(err)
					return
				}
			}
		}
	}()
	var callers sync.WaitGroup
	for c := 0; c < nCallers; c++ {
		callers.Add(1)
		go func() {
			defer callers.Done()
			cr := rand.New(rand.NewPCG(uint64(c), 9))
			for i := 0; i < 30; i++ {
				q := randVecs(cr, 1, dim)[0]
				p := SearchParams{K: 1 + cr.IntN(20), MinScore: []float32{-1, 0, 0.45, 0.55, 0.65}[cr.IntN(5)], Payload: cr.IntN(2) == 0, Exhaustive: cr.IntN(4) == 0}
				ctx, cancel := context.WithCancel(context.Background())
				switch cr.IntN(12) {
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
				case 2:
					// Ends at some point of its scan, or after it.
					tctx, tcancel := context.WithTimeout(ctx, time.Duration(cr.IntN(2000))*time.Microsecond)
					if _, err := e.SearchShared(tctx, q, p); err != nil && !errors.Is(err, context.DeadlineExceeded) {
						t.Errorf("search with a deadline: %v", err)
					}
					tcancel()
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
	waitWorkers(t, e)
	if checked.Load() == 0 || e.shared.joined.Load() == 0 {
		t.Fatalf("%d searches checked, %d joined a running scan", checked.Load(), e.shared.joined.Load())
	}
	t.Logf("%d searches checked in %d scans, %d of them joined a running scan", checked.Load(), e.shared.scans.Load(), e.shared.joined.Load())
}

// checkAlone checks r, done on v, against the same search alone on v.
func checkAlone(t *testing.T, e *Engine, v *version, r *searchReq) {
	t.Helper()
	if v.seq < r.seq {
		t.Errorf("search on version %d, older than %d current at the call", v.seq, r.seq)
	}
	if r.err != nil {
		if r.ctx.Err() == nil {
			t.Errorf("search failed: %v", r.err)
		}
		return
	}
	if want := aloneOn(t, e, v, r); !reflect.DeepEqual(r.hits, want) && !(len(r.hits) == 0 && len(want) == 0) {
		t.Errorf("K %d MinScore %v Exhaustive %v: shared %v, alone %v", r.p.K, r.p.MinScore, r.p.Exhaustive, r.hits, want)
	}
}

// waitWorkers waits for every scan to end: a scan whose roster never
// empties (a member that never leaves) fails the test.
func waitWorkers(t *testing.T, e *Engine) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		e.shared.workers.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("a shared scan's workers are still running")
	}
}

// blockScan makes the nth cancellation check from now (1-based) wait
// until release is closed; started is closed once it waits. With one
// worker (GOMAXPROCS 1) and a lone search running, check c+1 is the one
// before chunk c: the scan is held at a chunk boundary. Each check after
// the held one calls *after, if set, with its number.
func blockScan(t *testing.T, nth int64, after *func(call int64)) (started, release chan struct{}) {
	started, release = make(chan struct{}), make(chan struct{})
	var calls atomic.Int64
	testHookStopped = func() {
		switch n := calls.Add(1); {
		case n == nth:
			close(started)
			<-release
		case n > nth && *after != nil:
			(*after)(n)
		}
	}
	t.Cleanup(func() { testHookStopped = nil })
	return started, release
}

// midScan is a store of several chunks whose lone search, started by
// begin, is held before its third chunk, with every search checked
// against the same search alone (checked counts them).
type midScan struct {
	e       *Engine
	vecs    [][]float32
	ids     []uint64
	release chan struct{}
	first   chan result
	joined  chan struct{}
	checked atomic.Int64
	after   func(call int64) // set before release: see blockScan
}

func newMidScan(t *testing.T, exhaustive bool) *midScan {
	prev := runtime.GOMAXPROCS(1) // one worker: chunks in sequence order
	t.Cleanup(func() { runtime.GOMAXPROCS(prev) })
	ms := &midScan{e: openEngine(t, 8), joined: make(chan struct{}, 2*maxGroup)}
	ms.vecs = randVecs(rand.New(rand.NewPCG(1, 1)), 500, 8)
	var err error
	if ms.ids, err = ms.e.Add(ms.vecs); err != nil {
		t.Fatal(err)
	}
	if n := len(ms.e.cur.Load().chunks()); n < 4 {
		t.Fatalf("%d chunks, want at least 4", n)
	}
	ms.e.shared.onDone = func(v *version, r *searchReq) {
		checkAlone(t, ms.e, v, r)
		ms.checked.Add(1)
	}
	ms.e.shared.onJoin = func() { ms.joined <- struct{}{} }
	var started chan struct{}
	started, ms.release = blockScan(t, 3, &ms.after)
	release := ms.release
	var once sync.Once
	ms.release = make(chan struct{})
	go func() {
		<-ms.release
		once.Do(func() { close(release) })
	}()
	t.Cleanup(func() { once.Do(func() { close(release) }) }) // a failed test lets the scan go on
	ms.first = ms.search(context.Background(), len(ms.vecs)-1, SearchParams{K: 3, MinScore: -1, Exhaustive: exhaustive})
	<-started
	return ms
}

type result struct {
	hits []Hit
	err  error
}

// search starts a search of row i's vector (in chunk 0 for small i).
func (ms *midScan) search(ctx context.Context, i int, p SearchParams) chan result {
	c := make(chan result, 1)
	go func() {
		hits, err := ms.e.SearchShared(ctx, ms.vecs[i], p)
		c <- result{hits, err}
	}()
	return c
}

// wait returns c's result; a search that never returns (a member never
// handed its last chunk) fails the test.
func wait(t *testing.T, c chan result) result {
	t.Helper()
	select {
	case r := <-c:
		return r
	case <-time.After(20 * time.Second):
		t.Fatal("a search never returned")
		return result{}
	}
}

// TestSharedJoinsMidScan: searches made while a scan is held before its
// third chunk join it there, wrap around to the chunks before it (each
// finds its own row, in chunk 0), and get exactly their answer alone,
// with their own K, MinScore and payload flag; an invalid query fails
// without joining. The scan ends when its last member leaves.
func TestSharedJoinsMidScan(t *testing.T) {
	for _, exhaustive := range []bool{false, true} {
		t.Run(fmt.Sprintf("exhaustive=%v", exhaustive), func(t *testing.T) {
			ms := newMidScan(t, exhaustive)
			e := ms.e
			bad := make([]float32, 8)
			bad[2] = float32(math.Inf(1))
			if _, err := e.SearchShared(context.Background(), bad, SearchParams{K: 1, Exhaustive: exhaustive}); !errors.Is(err, errs.ErrInvalidVector) {
				t.Fatalf("invalid query: %v", err)
			}
			out := make([]chan result, 6)
			for i := range out {
				p := SearchParams{K: 1 + i, MinScore: []float32{-1, 0.3}[i%2], Payload: i%3 == 0, Exhaustive: exhaustive}
				out[i] = ms.search(context.Background(), i, p)
			}
			for range out {
				<-ms.joined
			}
			close(ms.release)
			for i, c := range out {
				r := wait(t, c)
				if r.err != nil {
					t.Fatal(r.err)
				}
				if len(r.hits) == 0 || r.hits[0].ID != ms.ids[i] {
					t.Errorf("search %d joined at chunk 2 and missed its own row in chunk 0: %v", i, r.hits)
				}
			}
			if err := wait(t, ms.first).err; err != nil {
				t.Fatal(err)
			}
			waitWorkers(t, e)
			if s, j, c := e.shared.scans.Load(), e.shared.joined.Load(), ms.checked.Load(); s != 1 || j != 6 || c != 7 {
				t.Fatalf("%d scans, %d joined, %d checked; want 1, 6, 7", s, j, c)
			}
		})
	}
}

// TestSharedCancelMidScan: a member whose context ends returns at once,
// while its scan is held; it leaves the roster at the next chunk, the
// others get their answers, and the scan ends.
func TestSharedCancelMidScan(t *testing.T) {
	ms := newMidScan(t, false)
	ctx, cancel := context.WithCancel(context.Background())
	gone := ms.search(ctx, 0, SearchParams{K: 2})
	stays := ms.search(context.Background(), 1, SearchParams{K: 2})
	<-ms.joined
	<-ms.joined
	cancel()
	if r := <-gone; !errors.Is(r.err, context.Canceled) {
		t.Fatalf("cancelled member: %v", r.err) // returned while the scan is held
	}
	var members atomic.Int64 // in the roster before chunk 3
	ms.after = func(call int64) {
		if call == 4 {
			mu := &ms.e.shared.mu[0]
			mu.Lock()
			members.Store(int64(len(ms.e.shared.cur[0].roster.ms)))
			mu.Unlock()
		}
	}
	close(ms.release)
	if r := wait(t, stays); r.err != nil || len(r.hits) != 2 {
		t.Fatalf("member: %v %v", r.hits, r.err)
	}
	if err := wait(t, ms.first).err; err != nil {
		t.Fatal(err)
	}
	waitWorkers(t, ms.e)
	if c, m := ms.checked.Load(), members.Load(); c != 2 || m != 2 {
		t.Fatalf("%d searches finished, %d members after the cancellation; want 2, 2", c, m)
	}
}

// TestSharedNewVersionStartsScan: a search made after a write, while a
// scan of the older version is held, does not join it: it starts its own
// scan on the current version and returns without waiting for the other.
func TestSharedNewVersionStartsScan(t *testing.T) {
	ms := newMidScan(t, false)
	e := ms.e
	row := randVecs(rand.New(rand.NewPCG(9, 9)), 1, 8)
	ids, err := e.Add(row)
	if err != nil {
		t.Fatal(err)
	}
	hits, err := e.SearchShared(context.Background(), row[0], SearchParams{K: 1})
	if err != nil || len(hits) != 1 || hits[0].ID != ids[0] {
		t.Fatalf("search after Add: %v %v", hits, err)
	}
	close(ms.release)
	if err := wait(t, ms.first).err; err != nil {
		t.Fatal(err)
	}
	waitWorkers(t, e)
	if s, j := e.shared.scans.Load(), e.shared.joined.Load(); s != 2 || j != 0 {
		t.Fatalf("%d scans, %d joined; want 2, 0", s, j)
	}
}

// TestSharedBoundedRoster: a scan carries at most maxGroup members; the
// next search starts a scan of its own (and does not wait for the full
// one).
func TestSharedBoundedRoster(t *testing.T) {
	ms := newMidScan(t, false)
	var out []chan result
	for i := 0; i < maxGroup-1; i++ {
		out = append(out, ms.search(context.Background(), i, SearchParams{K: 1}))
		<-ms.joined
	}
	if r := wait(t, ms.search(context.Background(), maxGroup, SearchParams{K: 1})); r.err != nil || r.hits[0].ID != ms.ids[maxGroup] {
		t.Fatalf("search beyond a full scan: %v %v", r.hits, r.err)
	}
	close(ms.release)
	for _, c := range out {
		if r := wait(t, c); r.err != nil {
			t.Fatal(r.err)
		}
	}
	wait(t, ms.first)
	waitWorkers(t, ms.e)
	if s, j, c := ms.e.shared.scans.Load(), ms.e.shared.joined.Load(), ms.checked.Load(); s != 2 || j != maxGroup-1 || c != maxGroup+1 {
		t.Fatalf("%d scans, %d joined, %d checked; want 2, %d, %d", s, j, c, maxGroup-1, maxGroup+1)
	}
}

// TestSharedClose: Close with a scan held and members in it fails them
// all with ErrClosed, returns, and leaves no goroutine behind.
func TestSharedClose(t *testing.T) {
	ms := newMidScan(t, false)
	e := ms.e
	var out []chan result
	for i := 0; i < 5; i++ {
		out = append(out, ms.search(context.Background(), i, SearchParams{K: 3, Exhaustive: false}))
		<-ms.joined
	}
	closed := make(chan error, 1)
	go func() { closed <- e.Close() }()
	for !e.closed.Load() { // Close has cancelled the searches
		runtime.Gosched()
	}
	close(ms.release)
	if err := wait(t, ms.first).err; !errors.Is(err, errs.ErrClosed) {
		t.Fatalf("first member: %v", err)
	}
	for _, c := range out {
		if r := wait(t, c); !errors.Is(r.err, errs.ErrClosed) {
			t.Fatalf("member: %v", r.err)
		}
	}
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	if _, err := e.SearchShared(context.Background(), make([]float32, 8), SearchParams{K: 1}); !errors.Is(err, errs.ErrClosed) {
		t.Fatalf("search after Close: %v", err)
	}
	// Close has waited for the workers: no goroutine is left inside the
	// shared scans.
	buf := make([]byte, 1<<20)
	stacks := string(buf[:runtime.Stack(buf, true)])
	for _, fn := range []string{"(*cyclicScan).work", "(*Engine).SearchShared"} {
		if strings.Contains(stacks, fn) {
			t.Fatalf("a goroutine is still in %s after Close:\n%s", fn, stacks)
		}
	}
}

// TestSharedLone: a lone search starts a scan at once and gets the answer
// of SearchWithParams; on an empty store, an empty answer.
func TestSharedLone(t *testing.T) {
	e := openEngine(t, 8)
	q := randVecs(rand.New(rand.NewPCG(3, 3)), 1, 8)[0]
	if hits, err := e.SearchShared(context.Background(), q, SearchParams{K: 4, MinScore: -1}); err != nil || len(hits) != 0 {
		t.Fatalf("empty store: %v %v", hits, err)
	}
	if _, err := e.Add(randVecs(rand.New(rand.NewPCG(1, 1)), 500, 8)); err != nil {
		t.Fatal(err)
	}
	for _, exhaustive := range []bool{false, true} {
		p := SearchParams{K: 7, MinScore: -1, Exhaustive: exhaustive}
		got, err := e.SearchShared(context.Background(), q, p)
		if err != nil {
			t.Fatal(err)
		}
		want, err := e.SearchWithParams(context.Background(), q, p)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("exhaustive %v: shared %v, alone %v", exhaustive, got, want)
		}
	}
	waitWorkers(t, e)
	if s, j := e.shared.scans.Load(), e.shared.joined.Load(); s != 2 || j != 0 {
		t.Fatalf("%d scans, %d joined; want 2, 0", s, j)
	}
}
