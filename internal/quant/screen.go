package quant

import "github.com/memvec/memvec/internal/kernel"

// Screen tests the upper bound of n = len(dots) rows against cut, the
// first step of the code pass: bit j of pass[i] is set unless row r = 8i+j
// surely misses, that is unless
//
//	q.UpperBound(DecodeMeta(metas[16r:]), dots[r]) * inv[r] < cut
//
// in float32, which is exactly what it computes: eight rows a step in
// AVX-512 assembly (kernel.ScreenUpper, the same operations in the same
// order) and the rest, or every row without that kernel, in Go. Bits of
// rows at or past n in pass[(n-1)/8] are zero; nothing after it is
// written. It needs len(metas) >= MetaSize*n, len(inv) >= n and
// len(pass) >= (n+7)/8, and does not allocate.
//
// A set bit is only a row the caller must look at: the caller tests it
// again with its own, possibly higher, cut.
func (q *Query) Screen(metas []byte, dots []int32, inv []float32, cut float32, pass []byte) {
	n := len(dots)
	if n == 0 {
		return
	}
	_, _, _ = metas[MetaSize*n-1], inv[n-1], pass[(n-1)/8]
	coef := [4]float64{q.a, q.b, q.w, q.t}
	done := kernel.ScreenUpper(metas, dots, inv, &coef, cut, pass)
	q.screenGo(metas, dots, inv, cut, pass, done)
}

// screenGo is Screen in Go for rows [from, len(dots)), from a multiple
// of 8.
func (q *Query) screenGo(metas []byte, dots []int32, inv []float32, cut float32, pass []byte, from int) {
	var bits byte
	for r := from; r < len(dots); r++ {
		if !(q.UpperBound(DecodeMeta(metas[r*MetaSize:]), dots[r])*inv[r] < cut) {
			bits |= 1 << (r % 8)
		}
		if r%8 == 7 || r == len(dots)-1 {
			pass[r/8] = bits
			bits = 0
		}
	}
}
