package main

import (
	"context"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/memvec/memvec"
)

// BenchmarkPrefilterMNIST is issue 13's real-data figure: the 60,000
// MNIST training digits (784-d grey levels, the demo's data) searched with
// the 10,000 test digits' first 200 as queries, top 10, each through the
// codes and then Exhaustive. It reports the median time of each, their
// ratio, and the rows rescored per query (median, p99).
//
//	go test -run '^$' -bench PrefilterMNIST -benchtime 1x ./cmd/memvec
func BenchmarkPrefilterMNIST(b *testing.B) {
	dir, err := findMNIST("")
	if err != nil {
		b.Skip(err)
	}
	train, err := readMNIST(dir, mnistTrainImages, mnistTrainLabels, 0, nil)
	if err != nil {
		b.Fatal(err)
	}
	test, err := readMNIST(dir, mnistTestImages, mnistTestLabels, 200, nil)
	if err != nil {
		b.Fatal(err)
	}
	db, err := memvec.Open(filepath.Join(b.TempDir(), "store"), memvec.Options{Dimension: mnistPixels, NoSync: true, DisableAutoCompaction: true})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	vecs := make([][]float32, train.n())
	for i := range vecs {
		vecs[i] = make([]float32, mnistPixels)
		pixelsToVector(vecs[i], train.pixels[i*mnistPixels:])
	}
	if _, err := db.Add(vecs); err != nil {
		b.Fatal(err)
	}
	queries := make([][]float32, test.n())
	for i := range queries {
		queries[i] = make([]float32, mnistPixels)
		pixelsToVector(queries[i], test.pixels[i*mnistPixels:])
	}
	ctx := context.Background()
	var codes, exhaustive, rescored []float64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		codes, exhaustive, rescored = codes[:0], exhaustive[:0], rescored[:0]
		for _, q := range queries {
			before := db.Stats().RescoredRows
			t := time.Now()
			if _, err := db.Search(ctx, q, memvec.SearchOptions{TopK: 10}); err != nil {
				b.Fatal(err)
			}
			codes = append(codes, float64(time.Since(t))/1e6)
			rescored = append(rescored, float64(db.Stats().RescoredRows-before))
			t = time.Now()
			if _, err := db.Search(ctx, q, memvec.SearchOptions{TopK: 10, Exhaustive: true}); err != nil {
				b.Fatal(err)
			}
			exhaustive = append(exhaustive, float64(time.Since(t))/1e6)
		}
	}
	mc, me := quantile(codes, 0.5), quantile(exhaustive, 0.5)
	b.ReportMetric(mc, "search-ms")
	b.ReportMetric(me, "exhaustive-ms")
	b.ReportMetric(mc/me, "x-exhaustive")
	b.ReportMetric(quantile(rescored, 0.5), "rescored-p50")
	b.ReportMetric(quantile(rescored, 0.99), "rescored-p99")
}

// quantile returns the p-quantile of xs by nearest rank (xs is sorted).
func quantile(xs []float64, p float64) float64 {
	sort.Float64s(xs)
	i := int(p*float64(len(xs))+0.5) - 1
	return xs[min(max(i, 0), len(xs)-1)]
}
