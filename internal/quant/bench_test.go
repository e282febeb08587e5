package quant

import (
	"math/rand/v2"
	"testing"

	"github.com/memvec/memvec/internal/kernel"
)

// benchRows are the metas and integer dots of 4096 random 512-d rows
// against one query: what the scan feeds DotBounds.
func benchRows(b *testing.B) (Query, []Meta, []int32) {
	r := rand.New(rand.NewPCG(1, 1))
	qn, _ := normalize(gauss(r, 512))
	q := NewQuery(qn)
	metas := make([]Meta, 4096)
	dots := make([]int32, 4096)
	codes := make([]byte, 512)
	for j := range metas {
		metas[j] = Encode(gauss(r, 512), codes)
		dots[j] = intDot(q.Codes, codes)
	}
	b.ResetTimer()
	return q, metas, dots
}

// BenchmarkDotBounds measures the per-row cost of the interval, on a
// block of rows as the scan calls it.
func BenchmarkDotBounds(b *testing.B) {
	q, metas, dots := benchRows(b)
	lo, hi := make([]float32, len(metas)), make([]float32, len(metas))
	for b.Loop() {
		for j := range metas {
			lo[j], hi[j] = q.DotBounds(metas[j], dots[j])
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(metas)), "ns/row")
}

// BenchmarkUpperBound measures UpperBound the same way.
func BenchmarkUpperBound(b *testing.B) {
	q, metas, dots := benchRows(b)
	hi := make([]float32, len(metas))
	for b.Loop() {
		for j := range metas {
			hi[j] = q.UpperBound(metas[j], dots[j])
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(metas)), "ns/row")
}

// BenchmarkEncode measures Encode on a 512-d row, with each
// implementation of the kernels: the cost every written row pays (issue
// 13 allows Add 20% slower).
func BenchmarkEncode(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	row := gauss(r, 512)
	codes := make([]byte, 512)
	for _, q := range kernel.Quantizers() {
		b.Run(q.Name(), func(b *testing.B) {
			for b.Loop() {
				encode(q, row, codes)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(row)), "ns/element")
		})
	}
}
