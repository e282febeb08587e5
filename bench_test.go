package memvec

import (
	"bytes"
	"context"
	"flag"
	"math/rand"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// Benchmarks. The 1M-row ones build a store of 0.5 to 2 GB and run only
// when -bench names them (e.g. -bench 'Search/1M'). Reproduce the figures
// in README.md with:
//
//	go test -run '^$' -bench 'Add|Open|Search' -benchtime 20x -count 5 . | tee bench.txt
//	go test -run '^$' -bench 'Open/1M|Search/1M' -benchtime 10x -count 5 .

// explicit reports whether the -bench pattern names part explicitly, so
// that `-bench .` does not build gigabyte stores by accident.
func explicit(part string) bool {
	f := flag.Lookup("test.bench")
	return f != nil && strings.Contains(f.Value.String(), part)
}

// fillStore adds n random vectors of dimension dim in NoSync batches.
func fillStore(tb testing.TB, dir string, n, dim int) {
	tb.Helper()
	db, err := Open(dir, Options{Dimension: dim, NoSync: true})
	if err != nil {
		tb.Fatal(err)
	}
	rng := rand.New(rand.NewSource(42))
	const batch = 4096
	buf := make([]float32, batch*dim)
	vecs := make([][]float32, batch)
	for done := 0; done < n; {
		m := min(batch, n-done)
		for i := range buf[:m*dim] {
			buf[i] = rng.Float32()*2 - 1
		}
		for i := 0; i < m; i++ {
			vecs[i] = buf[i*dim : (i+1)*dim]
		}
		if _, err := db.Add(vecs[:m]); err != nil {
			tb.Fatal(err)
		}
		done += m
	}
	if err := db.Close(); err != nil {
		tb.Fatal(err)
	}
}

// cachedStore returns a store of n x dim random vectors, built once per
// process in the system temp dir and reused across benchmarks.
var storeCache sync.Map

func cachedStore(b *testing.B, n, dim int) string {
	key := [2]int{n, dim}
	if dir, ok := storeCache.Load(key); ok {
		return dir.(string)
	}
	dir, err := os.MkdirTemp("", "memvec-bench-")
	if err != nil {
		b.Fatal(err)
	}
	dir = filepath.Join(dir, "store")
	start := time.Now()
	fillStore(b, dir, n, dim)
	b.Logf("built %d x %d store in %v", n, dim, time.Since(start))
	storeCache.Store(key, dir)
	return dir
}

func TestMain(m *testing.M) {
	code := m.Run()
	storeCache.Range(func(_, dir any) bool {
		os.RemoveAll(filepath.Dir(dir.(string)))
		return true
	})
	os.Exit(code)
}

// openBenchStore opens the cached n x dim store for a benchmark and closes
// it at the end; a 1M-row store only when -bench names 1M.
func openBenchStore(b *testing.B, n, dim int) *DB {
	b.Helper()
	if n >= 1_000_000 && !explicit("1M") {
		b.Skip("1M benchmarks run only when -bench names 1M")
	}
	db, err := Open(cachedStore(b, n, dim), Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	return db
}

func BenchmarkAdd(b *testing.B) {
	for _, c := range []struct {
		name   string
		noSync bool
		batch  int
	}{{"sync/batch=100", false, 100}, {"sync/batch=1", false, 1}, {"nosync/batch=100", true, 100}} {
		b.Run(c.name, func(b *testing.B) {
			const dim = 512
			db, err := Open(filepath.Join(b.TempDir(), "s"), Options{Dimension: dim, NoSync: c.noSync})
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			vecs := randVecs(rand.New(rand.NewSource(1)), c.batch, dim)
			b.SetBytes(int64(c.batch * dim * 4))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := db.Add(vecs); err != nil {
					b.Fatal(err)
				}
			}
			if c.noSync {
				if err := db.Sync(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkOpen(b *testing.B) {
	for _, c := range []struct {
		name   string
		n, dim int
	}{{"100k/128", 100_000, 128}, {"1M/128", 1_000_000, 128}} {
		b.Run(c.name, func(b *testing.B) {
			if c.n >= 1_000_000 && !explicit("1M") {
				b.Skip("1M benchmarks run only when -bench names 1M")
			}
			dir := cachedStore(b, c.n, c.dim)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				db, err := Open(dir, Options{})
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				db.Close()
				b.StartTimer()
			}
		})
	}
}

func BenchmarkSearch(b *testing.B) {
	for _, c := range []struct {
		name   string
		n, dim int
	}{{"100k/512", 100_000, 512}, {"1M/512", 1_000_000, 512}} {
		b.Run(c.name, func(b *testing.B) {
			db := openBenchStore(b, c.n, c.dim)
			q := randVec(rand.New(rand.NewSource(7)), c.dim)
			ctx := context.Background()
			if _, err := db.Search(ctx, q, SearchOptions{}); err != nil { // warm the page cache
				b.Fatal(err)
			}
			bytes := int64(c.n) * int64(c.dim*4+4)
			b.SetBytes(bytes)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := db.Search(ctx, q, SearchOptions{TopK: 10}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "queries/s")
		})
	}
}

// BenchmarkSearchBatch runs 32 queries per call; queries/s is comparable
// with BenchmarkSearch's.
func BenchmarkSearchBatch(b *testing.B) {
	for _, c := range []struct {
		name   string
		n, dim int
	}{{"100k/512/q=32", 100_000, 512}, {"1M/512/q=32", 1_000_000, 512}} {
		b.Run(c.name, func(b *testing.B) {
			db := openBenchStore(b, c.n, c.dim)
			queries := randVecs(rand.New(rand.NewSource(7)), 32, c.dim)
			ctx := context.Background()
			if _, err := db.SearchBatch(ctx, queries, SearchOptions{}); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(c.n) * int64(c.dim*4+4))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := db.SearchBatch(ctx, queries, SearchOptions{TopK: 10}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*len(queries))/b.Elapsed().Seconds(), "queries/s")
		})
	}
}

// BenchmarkSearchIn scores 1,000 random IDs of a store.
func BenchmarkSearchIn(b *testing.B) {
	for _, c := range []struct {
		name   string
		n, dim int
	}{{"100k/512/ids=1000", 100_000, 512}, {"1M/512/ids=1000", 1_000_000, 512}} {
		b.Run(c.name, func(b *testing.B) {
			db := openBenchStore(b, c.n, c.dim)
			rng := rand.New(rand.NewSource(8))
			ids := make([]uint64, 1000)
			for i := range ids {
				ids[i] = uint64(rng.Intn(c.n))
			}
			q := randVec(rng, c.dim)
			ctx := context.Background()
			if _, err := db.Search(ctx, q, SearchOptions{}); err != nil { // verify and warm every segment
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := db.SearchIn(ctx, q, ids, SearchOptions{TopK: 10}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkBandwidthFloor reads the same number of bytes as a Search of
// the store of the same name, from a RAM buffer, with every core, using the
// standard library's vectorized bytes.IndexByte (a search for a byte that
// is not there): the floor any scan of that data can reach on this machine.
// The buffer is written first so that its pages are real memory, not the
// shared zero page.
func BenchmarkBandwidthFloor(b *testing.B) {
	for _, c := range []struct {
		name   string
		n, dim int
	}{{"100k/512", 100_000, 512}, {"1M/512", 1_000_000, 512}} {
		b.Run(c.name, func(b *testing.B) {
			if c.n >= 1_000_000 && !explicit("1M") {
				b.Skip("1M benchmarks run only when -bench names 1M")
			}
			buf := make([]byte, c.n*(c.dim*4+4))
			for i := range buf {
				buf[i] = 2
			}
			b.SetBytes(int64(len(buf)))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if readParallel(buf) {
					b.Fatal("found a byte that is not there")
				}
			}
		})
	}
}

// readParallel streams buf once with every core.
func readParallel(buf []byte) bool {
	workers := runtime.GOMAXPROCS(0)
	found := make([]bool, workers)
	var wg sync.WaitGroup
	chunk := (len(buf) + workers - 1) / workers
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			part := buf[min(w*chunk, len(buf)):min((w+1)*chunk, len(buf))]
			found[w] = bytes.IndexByte(part, 1) >= 0
		}(w)
	}
	wg.Wait()
	return slices.Contains(found, true)
}

// TestHeapAfterOpen measures the Go heap in use after opening a 1M x 512
// store: the vectors stay in the page cache, so it must stay under 64 MB.
// It builds a 2 GB store, so it runs only with MEMVEC_HEAP_TEST=1.
func TestHeapAfterOpen(t *testing.T) {
	if os.Getenv("MEMVEC_HEAP_TEST") == "" {
		t.Skip("set MEMVEC_HEAP_TEST=1 to build a 1M x 512 store and measure the heap after Open")
	}
	dir := filepath.Join(t.TempDir(), "store")
	fillStore(t, dir, 1_000_000, 512)
	runtime.GC()
	debug.FreeOSMemory()
	db, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Search(context.Background(), randVec(rand.New(rand.NewSource(1)), 512), SearchOptions{}); err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	t.Logf("after Open+Search of 1M x 512: HeapInuse %.1f MB, HeapAlloc %.1f MB, Sys %.1f MB",
		float64(ms.HeapInuse)/1e6, float64(ms.HeapAlloc)/1e6, float64(ms.Sys)/1e6)
	if ms.HeapInuse > 64<<20 {
		t.Fatalf("HeapInuse %d bytes > 64 MiB", ms.HeapInuse)
	}
}
