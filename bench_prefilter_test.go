package memvec

import (
	"context"
	"math/rand"
	"sort"
	"testing"
	"time"

	"github.com/memvec/memvec/internal/memvectest"
)

// BenchmarkPrefilterRescored runs 101 random queries (top 10) one by one,
// each through the codes and then Exhaustive, and reports the median and
// p99 of the rows each rescored in float32 (from Stats) and the median
// ratio of the two search times. b.N is ignored beyond the first round:
// the figures are per query.
//
//	go test -run '^$' -bench 'PrefilterRescored/100k' -benchtime 1x .
func BenchmarkPrefilterRescored(b *testing.B) {
	for _, c := range scanSizes {
		b.Run(c.name, func(b *testing.B) {
			db := openBenchStore(b, c.n, c.dim)
			queries := randVecs(rand.New(rand.NewSource(memvectest.BenchQuerySeed)), 101, c.dim)
			rescored, ratio := prefilterFigures(b, db, queries)
			b.ReportMetric(percentile(rescored, 0.5), "rescored-p50")
			b.ReportMetric(percentile(rescored, 0.99), "rescored-p99")
			b.ReportMetric(percentile(ratio, 0.5), "x-exhaustive")
		})
	}
}

// prefilterFigures runs each query through the codes and Exhaustive and
// returns the rows each rescored and its time ratio to Exhaustive.
func prefilterFigures(b *testing.B, db *DB, queries [][]float32) (rescored, ratio []float64) {
	ctx := context.Background()
	for i := 0; i < b.N; i++ {
		rescored, ratio = rescored[:0], ratio[:0]
		for _, q := range queries {
			before := db.Stats().RescoredRows
			start := time.Now()
			if _, err := db.Search(ctx, q, SearchOptions{TopK: 10}); err != nil {
				b.Fatal(err)
			}
			tc := time.Since(start)
			rescored = append(rescored, float64(db.Stats().RescoredRows-before))
			start = time.Now()
			if _, err := db.Search(ctx, q, SearchOptions{TopK: 10, Exhaustive: true}); err != nil {
				b.Fatal(err)
			}
			ratio = append(ratio, float64(tc)/float64(time.Since(start)))
		}
	}
	return rescored, ratio
}

// percentile returns the p-quantile of xs (nearest rank; xs is sorted).
func percentile(xs []float64, p float64) float64 {
	sort.Float64s(xs)
	i := int(p*float64(len(xs))+0.5) - 1
	return xs[min(max(i, 0), len(xs)-1)]
}
