package quant

import (
	"math"
)

// The float32 dot products the bound must contain: memvec's kernels use
// some order and fused multiply-adds; these pure-Go ones cover the shapes
// any order can take (one chain, a balanced tree, several interleaved
// chains reduced at the end), each with separate rounded products and with
// fused ones.

// fma32 returns a*b+c rounded once to float32 (round to nearest even), as
// a float32 FMA instruction does. a*b is exact in float64; TwoSum gives
// the exact error of the float64 sum, which then is rounded to odd, and a
// round-to-odd value with 29 more bits than float32 rounds to float32
// exactly as the real number would (Boldo and Melquiond, "Emulation of FMA
// and correctly rounded sums: proved algorithms using rounding to odd").
func fma32(a, b, c float32) float32 {
	p := float64(a) * float64(b)
	cd := float64(c)
	s := p + cd
	bv := s - p
	e := (p - (s - bv)) + (cd - bv)
	if e != 0 {
		bits := math.Float64bits(s)
		if bits&1 == 0 {
			// Step one float64 ulp towards the real sum s+e: away from
			// zero when e has the sign of s, towards it otherwise (s != 0:
			// a zero float64 sum of these operands is exact).
			if (e > 0) == (s > 0) {
				bits++
			} else {
				bits--
			}
			s = math.Float64frombits(bits)
		}
	}
	return float32(s)
}

// prod is a float32 product, rounded (the explicit conversion forbids the
// compiler to fuse it into a following addition).
func prod(a, b float32) float32 { return float32(a * b) }

// order is one way of summing the products of a and b in float32.
type order struct {
	name string
	dot  func(a, b []float32) float32
}

// orders are the pure-Go summation orders every bound is checked against.
var orders = []order{
	{"seq", func(a, b []float32) float32 { return seqDot(a, b, false) }},
	{"seq-fma", func(a, b []float32) float32 { return seqDot(a, b, true) }},
	{"rev", revDot},
	{"pairwise", func(a, b []float32) float32 { return pairDot(a, b, false) }},
	{"pairwise-fma", func(a, b []float32) float32 { return pairDot(a, b, true) }},
	{"acc4", func(a, b []float32) float32 { return accDot(a, b, 4, false) }},
	{"acc4-fma", func(a, b []float32) float32 { return accDot(a, b, 4, true) }},
	{"acc16", func(a, b []float32) float32 { return accDot(a, b, 16, false) }},
	{"acc16-fma", func(a, b []float32) float32 { return accDot(a, b, 16, true) }},
	{"acc64-fma", func(a, b []float32) float32 { return accDot(a, b, 64, true) }},
}

func seqDot(a, b []float32, fused bool) float32 {
	var s float32
	for i := range a {
		if fused {
			s = fma32(a[i], b[i], s)
		} else {
			s += prod(a[i], b[i])
		}
	}
	return s
}

// revDot sums from the last product to the first, with FMA: a long chain
// whose large terms come last.
func revDot(a, b []float32) float32 {
	var s float32
	for i := len(a) - 1; i >= 0; i-- {
		s = fma32(a[i], b[i], s)
	}
	return s
}

// pairDot sums a balanced binary tree; fused, each leaf pair is
// fma(a0, b0, a1*b1).
func pairDot(a, b []float32, fused bool) float32 {
	switch n := len(a); n {
	case 1:
		return prod(a[0], b[0])
	case 2:
		if fused {
			return fma32(a[0], b[0], prod(a[1], b[1]))
		}
		return prod(a[0], b[0]) + prod(a[1], b[1])
	default:
		h := n / 2
		return pairDot(a[:h], b[:h], fused) + pairDot(a[h:], b[h:], fused)
	}
}

// accDot keeps k interleaved accumulators (like a k-lane SIMD register)
// and reduces them pairwise at the end, as the assembly kernels do.
func accDot(a, b []float32, k int, fused bool) float32 {
	var accs [64]float32
	acc := accs[:k]
	for i := range a {
		j := i % k
		if fused {
			acc[j] = fma32(a[i], b[i], acc[j])
		} else {
			acc[j] += prod(a[i], b[i])
		}
	}
	for w := k / 2; w >= 1; w /= 2 {
		for j := 0; j < w; j++ {
			acc[j] += acc[j+w]
		}
	}
	return acc[0]
}

// intDot is the exact integer dot product of two codes.
func intDot(p []int8, c []byte) int32 {
	var s int32
	for i, x := range p {
		s += int32(x) * int32(int8(c[i]))
	}
	return s
}
