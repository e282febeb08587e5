package memvec

import (
	"fmt"
	"path/filepath"
	"testing"
)

// BenchmarkDeleteManySegments times one Delete (of one live ID, NoSync so
// that the figure is the CPU cost, not an fsync) in a store of 10 and of
// 15,000 segments. The per-write work must not grow with the number of
// segments (issue 10, item 10):
//
//	go test -run '^$' -bench DeleteManySegments -count 5 .
func BenchmarkDeleteManySegments(b *testing.B) {
	top := b // the store outlives each round: its checks belong to the whole benchmark
	for _, n := range []int{10, 15000} {
		// The store is built once per size and kept across the rounds
		// the benchmark framework runs with growing b.N.
		dir := filepath.Join(b.TempDir(), "s") // outlives each round
		var (
			db       *DB
			next, hi uint64 // IDs [next, hi) are live and unused
		)
		b.Cleanup(func() {
			if db != nil {
				db.Close()
			}
		})
		b.Run(fmt.Sprintf("segments=%d", n), func(b *testing.B) {
			if db == nil {
				db = manySegments(top, dir, n)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if next == hi {
					b.StopTimer()
					next, hi = refill(b, db)
					b.StartTimer()
				}
				if d, err := db.Delete([]uint64{next}); d != 1 || err != nil {
					b.Fatalf("Delete(%d) = %d, %v", next, d, err)
				}
				next++
			}
		})
	}
}

// manySegments returns a NoSync store of dimension 8 with n one-row
// segments, reopened with the default SegmentBytes so that the rows later
// added go to large segments.
func manySegments(b *testing.B, dir string, n int) *DB {
	db, err := openT(b, dir, Options{Dimension: 8, NoSync: true, SegmentBytes: 1, DisableAutoCompaction: true})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := db.Add(benchVecs(n)); err != nil {
		b.Fatal(err)
	}
	if err := db.Close(); err != nil {
		b.Fatal(err)
	}
	if db, err = openT(b, dir, Options{NoSync: true, DisableAutoCompaction: true}); err != nil {
		b.Fatal(err)
	}
	if got := db.Stats().Segments; got != n {
		b.Fatalf("%d segments, want %d", got, n)
	}
	return db
}

// refill adds a batch of rows and returns the range of their IDs.
func refill(b *testing.B, db *DB) (uint64, uint64) {
	ids, err := db.Add(benchVecs(1 << 16))
	if err != nil {
		b.Fatal(err)
	}
	return ids[0], ids[len(ids)-1] + 1
}

func benchVecs(n int) [][]float32 {
	buf := make([]float32, n*8)
	vecs := make([][]float32, n)
	for i := range vecs {
		v := buf[i*8 : (i+1)*8]
		v[0], v[1+i%7] = 1, float32(i%1000+1)
		vecs[i] = v
	}
	return vecs
}
