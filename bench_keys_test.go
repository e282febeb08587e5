package memvec

import (
	"context"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

// The figures of issue 12 (keyed records), each against its baseline in
// the same run:
//
//	go test -run '^$' -bench 'PutVsAdd|DeleteKeysVsDelete' -benchtime 200x -count 5 .
//	go test -run '^$' -bench 'GetRecord/1M' -benchtime 100000x -count 5 .
//	go test -run '^$' -bench 'SearchKeyed/100k' -benchtime 20x -count 5 .

// benchKey is the key of record i: 24 bytes, as the figures
// assume.
func benchKey(i int) string { return fmt.Sprintf("doc-%020d", i) }

// benchPayload is a payload of about 20 bytes.
func benchPayload(i int) []byte { return []byte(fmt.Sprintf("label=%d;src=bench", i%10)) }

// BenchmarkPutVsAdd times Put beside Add of the same vectors: a durable
// write of one record (a new key, and a replacement of a live one), and a
// NoSync batch of 10,000.
func BenchmarkPutVsAdd(b *testing.B) {
	for _, c := range []struct {
		name   string
		noSync bool
		batch  int
		dim    int
	}{
		{"sync/batch=1", false, 1, 512},
		{"nosync/batch=10000", true, 10_000, 512},
		// Small vectors: the keys' share of the work is largest.
		{"nosync/batch=10000/dim=64", true, 10_000, 64},
	} {
		dim := c.dim
		vecs := randVecs(rand.New(rand.NewSource(1)), c.batch, dim)
		for _, op := range []string{"add", "put", "put-replace"} {
			b.Run(c.name+"/"+op, func(b *testing.B) {
				db, err := openT(b, filepath.Join(b.TempDir(), "s"), Options{Dimension: dim, NoSync: c.noSync, DisableAutoCompaction: true})
				if err != nil {
					b.Fatal(err)
				}
				defer db.Close()
				// Every batch is built before the clock starts, so that
				// making keys does not leave garbage for the timed calls'
				// collector to sweep (Add's batches make none).
				batch := func(first int) []Record {
					recs := make([]Record, c.batch)
					for i := range recs {
						recs[i] = Record{Key: benchKey(first + i), Vector: vecs[i], Payload: benchPayload(first + i)}
					}
					return recs
				}
				var batches [][]Record
				if op != "add" {
					batches = make([][]Record, b.N)
					for i := range batches {
						if op == "put-replace" {
							batches[i] = batch(0)
						} else {
							batches[i] = batch(i * c.batch)
						}
					}
				}
				if op == "put-replace" {
					if _, err := db.Put(batch(0)); err != nil {
						b.Fatal(err)
					}
				}
				runtime.GC()
				b.SetBytes(int64(c.batch * dim * 4))
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					var err error
					if op == "add" {
						_, err = db.Add(vecs)
					} else {
						_, err = db.Put(batches[i])
					}
					if err != nil {
						b.Fatal(err)
					}
				}
				if err := db.Sync(); err != nil {
					b.Fatal(err)
				}
			})
		}
	}
}

// BenchmarkDeleteKeysVsDelete times a durable DeleteKeys of one key beside
// a durable Delete of one ID, on the same store.
func BenchmarkDeleteKeysVsDelete(b *testing.B) {
	const dim, n = 64, 20_000
	for _, op := range []string{"delete", "delete-keys"} {
		b.Run(op, func(b *testing.B) {
			db, err := openT(b, filepath.Join(b.TempDir(), "s"), Options{Dimension: dim, DisableAutoCompaction: true})
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			vecs := randVecs(rand.New(rand.NewSource(1)), n, dim)
			recs := make([]Record, n)
			for i := range recs {
				recs[i] = Record{Key: benchKey(i), Vector: vecs[i]}
			}
			ids, err := db.Put(recs)
			if err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				var err error
				if op == "delete" {
					_, err = db.Delete([]uint64{ids[i%n]})
				} else {
					_, err = db.DeleteKeys([]string{benchKey(i % n)})
				}
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// keyedStore returns a store of n keyed records of dimension dim (keys of
// 24 bytes, payloads of about 20), in segments of segBytes, built once per
// process.
func keyedStore(b *testing.B, n, dim int, segBytes int64) string {
	key := fmt.Sprintf("keyed/%d/%d/%d", n, dim, segBytes)
	if dir, ok := storeCache.Load(key); ok {
		return dir.(string)
	}
	dir, err := os.MkdirTemp("", "memvec-bench-keyed-")
	if err != nil {
		b.Fatal(err)
	}
	dir = filepath.Join(dir, "store")
	start := time.Now()
	db, err := Open(dir, Options{Dimension: dim, NoSync: true, SegmentBytes: segBytes, DisableAutoCompaction: true})
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewSource(3))
	const batch = 10_000
	for at := 0; at < n; at += batch {
		recs := make([]Record, min(batch, n-at))
		for i := range recs {
			recs[i] = Record{Key: benchKey(at + i), Vector: randVec(rng, dim), Payload: benchPayload(at + i)}
		}
		if _, err := db.Put(recs); err != nil {
			b.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		b.Fatal(err)
	}
	b.Logf("built %d keyed records of dimension %d in %v", n, dim, time.Since(start))
	storeCache.Store(key, dir)
	return dir
}

// BenchmarkGetRecord times GetRecord of random keys, warm, on a store of a
// million keyed records in about 30 segments (as a 1M x 512 store of 64
// MiB segments has), and reports the Go heap in use after opening it.
func BenchmarkGetRecord(b *testing.B) {
	for _, c := range []benchSize{{"100k", 100_000, 16}, {"1M", 1_000_000, 16}} {
		b.Run(c.name, func(b *testing.B) {
			skip1M(b, c.n)
			segBytes := int64(c.n/30+1) * int64(c.dim*4+80)
			dir := keyedStore(b, c.n, c.dim, segBytes)
			runtime.GC()
			debug.FreeOSMemory()
			// A writer's open, as an application's: it also indexes the
			// keys of the active segment in memory.
			db, err := Open(dir, Options{DisableAutoCompaction: true})
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			heap := float64(ms.HeapInuse) / 1e6
			rng := rand.New(rand.NewSource(5))
			for i := 0; i < 10_000; i++ { // warm the key tables
				if _, err := db.GetRecord(benchKey(rng.Intn(c.n))); err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := db.GetRecord(benchKey(rng.Intn(c.n))); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(heap, "heap-MB-after-open")
			b.ReportMetric(float64(db.Stats().Segments), "segments")
		})
	}
}

// BenchmarkSearchKeyed times Search over a store of keyed records beside
// the same search over a store of the same size without keys: a search
// that asks for no payload must cost what it did.
func BenchmarkSearchKeyed(b *testing.B) {
	const n, dim = 100_000, 512
	for _, c := range []struct {
		name    string
		keyed   bool
		payload bool
	}{{"100k/512/unkeyed", false, false}, {"100k/512/keyed", true, false}, {"100k/512/keyed/payload", true, true}} {
		b.Run(c.name, func(b *testing.B) {
			var dir string
			if c.keyed {
				dir = keyedStore(b, n, dim, 64<<20)
			} else {
				dir = cachedStore(b, n, dim)
			}
			db, err := Open(dir, Options{ReadOnly: true})
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			q := randVec(rand.New(rand.NewSource(9)), dim)
			opts := SearchOptions{WithPayload: c.payload}
			ctx := context.Background()
			if _, err := db.Search(ctx, q, opts); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(n * dim * 4))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := db.Search(ctx, q, opts); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
