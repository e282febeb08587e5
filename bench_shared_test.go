package memvec

import (
	"context"
	"math/rand"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/memvec/memvec/internal/memvectest"
)

// BenchmarkConcurrentSearch times Search called by many goroutines at once
// (they share cyclic scans: engine/shared.go). Each figure is measured
// beside its baseline, in alternating rounds of the same run, so that both
// see the same machine:
//
//   - clients=16: b.N Searches from 16 goroutines, against as many queries
//     in SearchBatch calls of 16. It reports queries/s, batch-queries/s and
//     their ratio x-batch; the p50 and p99 of a Search's latency (ms), the
//     median time of one batch (batch-ms) and p99-x-batch, the p99 over it.
//   - clients=1: a lone caller's Search, p50 and p99.
//   - compacting/clients=N: b.N compactions, each rewriting most of the
//     store, with N callers searching until it commits, and after each as
//     many Searches on the idle store: p99-ms and idle-p99-ms, and their
//     ratio p99-x-idle.
//
// Reproduce BENCHMARKS.md's figures with
//
//	go test -run '^$' -bench 'ConcurrentSearch/1M/512/clients' -benchtime 640x -count 3 .
//	go test -run '^$' -bench 'ConcurrentSearch/1M/512/compacting/clients=16' -benchtime 3x -count 2 .
func BenchmarkConcurrentSearch(b *testing.B) {
	for _, c := range scanSizes {
		b.Run(c.name+"/clients=16", func(b *testing.B) {
			db := openBenchStore(b, c.n, c.dim)
			benchBesideBatch(b, db, c.dim, 16)
		})
		b.Run(c.name+"/clients=1", func(b *testing.B) {
			db := openBenchStore(b, c.n, c.dim)
			lat, elapsed := roundsOf(b, db, c.dim, 1, nil)
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "queries/s")
			reportLatency(b, lat, "")
		})
		// A store of its own: the loop deletes and moves rows.
		for _, clients := range []int{1, 16} {
			b.Run(c.name+"/compacting/clients="+strconv.Itoa(clients), func(b *testing.B) {
				skip1M(b, c.n)
				db, err := openT(b, cachedStoreTagged(b, c.n, c.dim, "compacting"), Options{DisableAutoCompaction: true})
				if err != nil {
					b.Fatal(err)
				}
				defer db.Close()
				benchBesideCompaction(b, db, c.dim, clients)
			})
		}
	}
}

// benchRounds is how many rounds a measurement alternates with its
// baseline.
const benchRounds = 8

// benchBesideBatch times b.N Searches from clients goroutines and as many
// queries in SearchBatch calls of clients queries, in alternating rounds.
func benchBesideBatch(b *testing.B, db *DB, dim, clients int) {
	queries := randVecs(rand.New(rand.NewSource(memvectest.BenchQuerySeed)), clients, dim)
	var batch []time.Duration
	lat, elapsed := roundsOf(b, db, dim, clients, func(n int) {
		for done := 0; done < n; done += clients {
			t := time.Now()
			if _, err := db.SearchBatch(context.Background(), queries, SearchOptions{}); err != nil {
				b.Fatal(err)
			}
			batch = append(batch, time.Since(t))
		}
	})
	qps := float64(b.N) / elapsed.Seconds()
	slices.Sort(batch)
	bt := batch[len(batch)/2]
	batchQPS := float64(clients) / bt.Seconds()
	b.ReportMetric(qps, "queries/s")
	b.ReportMetric(batchQPS, "batch-queries/s")
	b.ReportMetric(qps/batchQPS, "x-batch")
	b.ReportMetric(float64(bt)/1e6, "batch-ms")
	p99 := reportLatency(b, lat, "")
	b.ReportMetric(float64(p99)/float64(bt), "p99-x-batch")
}

// benchBesideCompaction makes b.N compactions (each after deleting 64
// random live rows, so that it rewrites most of the store) while clients
// goroutines search until it has committed; after each, as many Searches
// from clients goroutines on the idle store.
func benchBesideCompaction(b *testing.B, db *DB, dim, clients int) {
	var (
		busy, idle []time.Duration
		rng        = rand.New(rand.NewSource(7))
	)
	b.ResetTimer()
	for r := 0; r < b.N; r++ {
		if err := deleteRandom(db, rng, 64); err != nil {
			b.Fatal(err)
		}
		var compacting atomic.Bool
		compacting.Store(true)
		done := make(chan error, 1)
		go func() {
			_, err := db.Compact(context.Background())
			compacting.Store(false)
			done <- err
		}()
		l := searchWhile(b, db, dim, clients, compacting.Load)
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		busy = append(busy, l...)
		l, _ = searchClients(b, db, dim, clients, len(l))
		idle = append(idle, l...)
	}
	b.StopTimer()
	p99 := reportLatency(b, busy, "")
	idleP99 := reportLatency(b, idle, "idle-")
	b.ReportMetric(float64(p99)/float64(idleP99), "p99-x-idle")
	b.ReportMetric(float64(len(busy))/float64(b.N), "searches/compaction")
}

// deleteRandom deletes n random live rows. Compaction moves rows to new
// IDs, so they are drawn below the store's next ID until Get finds them.
func deleteRandom(db *DB, rng *rand.Rand, n int) error {
	ids := make([]uint64, n)
	next := db.Stats().NextID
	for i := range ids {
		for {
			ids[i] = uint64(rng.Int63n(int64(next)))
			if _, err := db.Get(ids[i]); err == nil {
				break
			}
		}
	}
	_, err := db.Delete(ids)
	return err
}

// searchWhile makes Searches from clients goroutines while more() holds
// (each client checks it before each call) and returns their latencies.
func searchWhile(b *testing.B, db *DB, dim, clients int, more func() bool) []time.Duration {
	b.Helper()
	var (
		mu  sync.Mutex
		lat []time.Duration
		wg  sync.WaitGroup
	)
	errc := make(chan error, clients)
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			queries := randVecs(rand.New(rand.NewSource(memvectest.BenchQuerySeed+int64(c))), 8, dim)
			var mine []time.Duration
			for j := 0; more(); j++ {
				t := time.Now()
				if _, err := db.Search(context.Background(), queries[j%len(queries)], SearchOptions{}); err != nil {
					errc <- err
					return
				}
				mine = append(mine, time.Since(t))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	close(errc)
	if err := <-errc; err != nil {
		b.Fatal(err)
	}
	return lat
}

// roundsOf makes b.N Searches from clients goroutines in benchRounds
// rounds, calling between(n), when given, after each round of n Searches
// (a baseline). It returns the Searches' latencies and the rounds' total
// time.
func roundsOf(b *testing.B, db *DB, dim, clients int, between func(n int)) ([]time.Duration, time.Duration) {
	b.Helper()
	var (
		lat     []time.Duration
		elapsed time.Duration
	)
	b.ResetTimer()
	for r := 0; r < benchRounds; r++ {
		n := b.N*(r+1)/benchRounds - b.N*r/benchRounds // the rounds share b.N evenly
		if n == 0 {
			continue
		}
		l, d := searchClients(b, db, dim, clients, n)
		lat = append(lat, l...)
		elapsed += d
		if between != nil {
			between(n)
		}
	}
	return lat, elapsed
}

// searchClients makes n Searches from clients goroutines at once, each
// with its own random queries, and returns their latencies and the time
// they took together.
func searchClients(b *testing.B, db *DB, dim, clients, n int) ([]time.Duration, time.Duration) {
	b.Helper()
	lat := make([]time.Duration, n)
	var (
		next atomic.Int64
		wg   sync.WaitGroup
	)
	errc := make(chan error, clients)
	start := time.Now()
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			queries := randVecs(rand.New(rand.NewSource(memvectest.BenchQuerySeed+int64(c))), 8, dim)
			for j := 0; ; j++ {
				i := next.Add(1) - 1
				if i >= int64(n) {
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
	elapsed := time.Since(start)
	close(errc)
	if err := <-errc; err != nil {
		b.Fatal(err)
	}
	return lat, elapsed
}

// reportLatency reports the median and p99 of lat in ms, their names
// prefixed, and returns the p99.
func reportLatency(b *testing.B, lat []time.Duration, prefix string) time.Duration {
	slices.Sort(lat)
	q := func(p float64) time.Duration { return lat[int(p*float64(len(lat)-1))] }
	b.ReportMetric(float64(q(0.5))/1e6, prefix+"p50-ms")
	b.ReportMetric(float64(q(0.99))/1e6, prefix+"p99-ms")
	return q(0.99)
}
