package memvec

import (
	"context"
	"math/rand"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/memvec/memvec/internal/memvectest"
)

// BenchmarkConcurrentSearch times Search called by many goroutines at once
// (they share cyclic scans: engine/shared.go) beside SearchBatch of as many
// queries on the same store, in the same run, and Search while compactions
// rewrite the store. Each sub-benchmark reports queries/s and the p50 and
// p99 latency of one call in ms. Reproduce BENCHMARKS.md's figures with
//
//	go test -run '^$' -bench 'ConcurrentSearch/1M' -benchtime 320x -count 5 .
func BenchmarkConcurrentSearch(b *testing.B) {
	for _, c := range scanSizes {
		b.Run(c.name+"/batch=16", func(b *testing.B) {
			db := openBenchStore(b, c.n, c.dim)
			queries := randVecs(rand.New(rand.NewSource(memvectest.BenchQuerySeed)), 16, c.dim)
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				t := time.Now()
				if _, err := db.SearchBatch(context.Background(), queries, SearchOptions{}); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(t))
			}
			b.ReportMetric(float64(b.N*len(queries))/b.Elapsed().Seconds(), "queries/s")
			reportLatency(b, lat)
		})
		for _, clients := range []int{1, 16} {
			b.Run(c.name+"/clients="+strconv.Itoa(clients), func(b *testing.B) {
				db := openBenchStore(b, c.n, c.dim)
				searchClients(b, db, c.dim, clients)
			})
		}
		// The same under compaction: a store of its own (the loop deletes
		// and moves rows), rewritten from start to end of the timing.
		for _, clients := range []int{1, 16} {
			b.Run(c.name+"/clients="+strconv.Itoa(clients)+"/compacting", func(b *testing.B) {
				skip1M(b, c.n)
				db, err := openT(b, cachedStoreTagged(b, c.n, c.dim, "compacting"), Options{DisableAutoCompaction: true})
				if err != nil {
					b.Fatal(err)
				}
				defer db.Close()
				stop := make(chan struct{})
				done := make(chan error, 1)
				var compactions atomic.Int64
				go func() { done <- compactLoop(db, stop, &compactions) }()
				searchClients(b, db, c.dim, clients)
				close(stop)
				if err := <-done; err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(compactions.Load()), "compactions")
			})
		}
	}
}

// searchClients times b.N Searches made by clients goroutines at once,
// each with its own random queries.
func searchClients(b *testing.B, db *DB, dim, clients int) {
	b.Helper()
	lat := make([]time.Duration, b.N)
	var next atomic.Int64
	var wg sync.WaitGroup
	errc := make(chan error, clients)
	b.ResetTimer()
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			queries := randVecs(rand.New(rand.NewSource(memvectest.BenchQuerySeed+int64(c))), 8, dim)
			for j := 0; ; j++ {
				i := next.Add(1) - 1
				if i >= int64(b.N) {
					return
				}
				t := time.Now()
				if _, err := db.Search(context.Background(), queries[j%len(queries)], SearchOptions{}); err != nil {
					errc <- err
					return
				}
				lat[i] = time.Since(t)
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	close(errc)
	if err := <-errc; err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "queries/s")
	reportLatency(b, lat)
}

// compactLoop deletes a few rows spread over the store and compacts it,
// again and again, until stop is closed. It follows a sample of IDs
// through each compaction's map, so that every round deletes live rows
// and the compaction has work.
func compactLoop(db *DB, stop chan struct{}, n *atomic.Int64) error {
	rng := rand.New(rand.NewSource(7))
	live := db.Stats().Live
	sample := make([]uint64, 0, 4096)
	for i := 0; i < cap(sample); i++ {
		sample = append(sample, uint64(rng.Int63n(int64(live)))) // a fresh store's IDs are 0..live-1
	}
	for len(sample) >= 64 {
		select {
		case <-stop:
			return nil
		default:
		}
		if _, err := db.Delete(sample[:64]); err != nil {
			return err
		}
		sample = sample[64:]
		m, err := db.Compact(context.Background())
		if err != nil {
			return err
		}
		kept := sample[:0]
		for _, id := range sample {
			if nid, ok := m.Lookup(id); ok {
				id = nid // moved; otherwise its segment was not rewritten
			}
			kept = append(kept, id)
		}
		sample = kept
		n.Add(1)
	}
	<-stop
	return nil
}

// reportLatency reports the median and p99 of lat in ms.
func reportLatency(b *testing.B, lat []time.Duration) {
	slices.Sort(lat)
	q := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))]) / 1e6 }
	b.ReportMetric(q(0.5), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
}

// cachedStoreTagged is cachedStore for a store of its own, named by tag,
// for benchmarks that change it.
func cachedStoreTagged(b *testing.B, n, dim int, tag string) string {
	key := struct {
		n, dim int
		tag    string
	}{n, dim, tag}
	if dir, ok := storeCache.Load(key); ok {
		return dir.(string)
	}
	dir, err := os.MkdirTemp("", "memvec-bench-")
	if err != nil {
		b.Fatal(err)
	}
	dir = filepath.Join(dir, "store")
	fillStore(b, dir, n, dim)
	storeCache.Store(key, dir)
	return dir
}
