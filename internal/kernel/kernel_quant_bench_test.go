package kernel

import (
	"math/rand"
	"testing"
)

// BenchmarkQuantize measures MaxAbsBits and QuantizeInt8 on a 512-d row,
// per implementation (quant.Encode is one call of each).
func BenchmarkQuantize(b *testing.B) {
	rng := rand.New(rand.NewSource(1))
	row := make([]float32, 512)
	for i := range row {
		row[i] = float32(rng.NormFloat64())
	}
	codes := make([]byte, len(row))
	for _, k := range available() {
		b.Run("maxabs/"+k.name, func(b *testing.B) {
			for b.Loop() {
				k.MaxAbsBits(row)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(row)), "ns/element")
		})
		b.Run("quantize/"+k.name, func(b *testing.B) {
			for b.Loop() {
				k.QuantizeInt8(row, 30, 1.0/30, codes)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(row)), "ns/element")
		})
	}
}
