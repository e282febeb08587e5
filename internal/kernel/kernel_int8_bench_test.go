package kernel

import (
	"fmt"
	"testing"
)

// The int8 benchmarks score the same 256-row blocks as the float32 ones
// (benchCases: "l2" is one block that stays in L2, "stream" walks blocks
// through a 64 MiB buffer, the bytes BenchmarkStream reads), once as int8
// codes and once as float32 rows, side by side. b.SetBytes counts the
// bytes of the rows, so MB/s is the rate at which rows are read; ns/pair
// is the time per (query, row).

// int8Codes returns n codes in [-127, 127].
func int8Codes(n int) []int8 {
	c := make([]int8, n)
	for i := range c {
		c[i] = int8(i*37%255 - 127)
	}
	return c
}

func BenchmarkInt8DotBlock(b *testing.B) {
	benchImpls(b, func(b *testing.B, k *impl) {
		for _, c := range benchCases {
			if c.name == "unaligned" {
				continue
			}
			b.Run(fmt.Sprintf("d=%d/%s/int8", benchD, c.name), func(b *testing.B) {
				benchInt8(b, k, 1, benchD, c)
			})
			b.Run(fmt.Sprintf("d=%d/%s/float32", benchD, c.name), func(b *testing.B) {
				benchFloat(b, k, 1, benchD, c)
			})
		}
	})
}

func BenchmarkInt8DotBlockMulti(b *testing.B) {
	benchImpls(b, func(b *testing.B, k *impl) {
		for _, nq := range []int{1, 8, 32} {
			for _, c := range benchCases {
				if c.name == "unaligned" {
					continue
				}
				b.Run(fmt.Sprintf("nq=%d/d=%d/%s/int8", nq, benchD, c.name), func(b *testing.B) {
					benchInt8(b, k, nq, benchD, c)
				})
				b.Run(fmt.Sprintf("nq=%d/d=%d/%s/float32", nq, benchD, c.name), func(b *testing.B) {
					benchFloat(b, k, nq, benchD, c)
				})
			}
		}
	})
}

// benchInt8 scores 256-row blocks of codes against nq queries (nq == 1
// calls Int8DotBlock): one block for "l2", else a buffer of the bytes of
// c's floats.
func benchInt8(b *testing.B, k *impl, nq, d int, c benchCase) {
	total := c.total * 4
	if c.name == "l2" {
		total = benchRows * d
	}
	buf := int8Codes(total)
	qs := int8Codes(nq * d)
	out := make([]int32, nq*benchRows)
	blocks := len(buf) / (benchRows * d)
	b.SetBytes(int64(benchRows * d))
	for i := 0; b.Loop(); i++ {
		codes := buf[(i%blocks)*benchRows*d:]
		if nq == 1 {
			k.Int8DotBlock(qs, codes, d, out)
		} else {
			k.Int8DotBlockMulti(qs, nq, d, codes, d, benchRows, out, benchRows)
		}
	}
	reportPairs(b, benchRows*d, nq)
}

// benchFloat is benchInt8 for float32 rows (DotBlock, DotBlockMulti).
func benchFloat(b *testing.B, k *impl, nq, d int, c benchCase) {
	buf := alignedFloats(c.total)
	qs := alignedFloats(nq * d)
	out := make([]float32, nq*benchRows)
	blocks := len(buf) / (benchRows * d)
	b.SetBytes(int64(benchRows * d * 4))
	for i := 0; b.Loop(); i++ {
		rows := buf[(i%blocks)*benchRows*d:]
		if nq == 1 {
			k.DotBlock(qs, rows, d, out)
		} else {
			k.DotBlockMulti(qs, nq, d, rows, d, benchRows, out, benchRows)
		}
	}
	reportPairs(b, benchRows*d*4, nq)
}

// reportPairs reports GB/s of rows and ns per (query, row) pair.
func reportPairs(b *testing.B, bytesPerOp, nq int) {
	reportGB(b, bytesPerOp)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(nq*benchRows), "ns/pair")
}
