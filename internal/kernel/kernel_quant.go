package kernel

import "math"

// The row quantiser behind quant.Encode (issue 13): every written row is
// turned into int8 codes, so its speed is part of Add's. The float64 sum
// of squared residuals is accumulated in a fixed order that the vector
// kernels reproduce exactly, so every implementation returns the same
// bits and a row's code and metadata never depend on the CPU that wrote
// it.

// QuantLanes is the number of float64 accumulators of QuantizeInt8's sum
// of squared residuals: element i is added to lane i%QuantLanes (two ZMM
// or four YMM registers, enough independent chains to hide the latency of
// a fused multiply-add).
const QuantLanes = 16

// MaxAbsBits returns the largest of math.Float32bits(x)&0x7fffffff over
// the elements x of row, or 0 if row is empty. For finite x these bits
// order like |x|, so the result is the bit pattern of max|x|.
func MaxAbsBits(row []float32) uint32 { return cur.MaxAbsBits(row) }

// QuantizeInt8 writes the int8 code of every element of row to
// codes[:len(row)] (as bit patterns) and returns, for e_i = float64(x_i) -
// float64(s)*float64(c_i) (exact in float64 for the codes quant.Encode
// makes), the sum of e_i^2, and the exact sums of c_i^2 and of c_i:
//
//	c_i = clamp(round-half-even(fl32(x_i * r)), -127, 127)
//
// fl32 the float32 product. The sum of squares is computed in this order,
// bit for bit, by every implementation: QuantLanes float64 accumulators,
// starting at zero, lane j = math.FMA(e_i, e_i, lane j) for i = j, j+16,
// ... in increasing i; then lane j += lane j+h for h = 8, 4, 2, 1 and j <
// h; the result is lane 0. Every step rounds to nearest, each term passes
// through at most d roundings, so the sum is within a factor (1 +/-
// 2^-53)^d of the real one, as for any order of plain float64 additions.
//
// It needs len(row) <= MaxInt8Dim (so the integer sums are exact in
// int32 lanes), len(codes) >= len(row), r*x_i finite. It does not
// allocate, and it never reads or writes outside row and codes[:len(row)].
func QuantizeInt8(row []float32, r, s float32, codes []byte) (ssErr float64, ssCode, sum int64) {
	return cur.QuantizeInt8(row, r, s, codes)
}

// Quantizer is one implementation's MaxAbsBits and QuantizeInt8, for
// code and tests that compare implementations (quant's tests check that
// every implementation encodes a row to the same bytes).
type Quantizer struct{ k *impl }

// Quantizers lists the quantisers of the implementations this CPU and
// build can run, best first.
func Quantizers() []Quantizer {
	var l []Quantizer
	for _, k := range available() {
		l = append(l, Quantizer{k})
	}
	return l
}

// SelectedQuantizer is the quantiser of the implementation selected at
// init, the one MaxAbsBits and QuantizeInt8 use.
func SelectedQuantizer() Quantizer { return Quantizer{cur} }

// Name names the implementation: "avx512", "avx2" or "go".
func (q Quantizer) Name() string { return q.k.name }

// MaxAbsBits is the package-level MaxAbsBits of this implementation.
func (q Quantizer) MaxAbsBits(row []float32) uint32 { return q.k.MaxAbsBits(row) }

// QuantizeInt8 is the package-level QuantizeInt8 of this implementation.
func (q Quantizer) QuantizeInt8(row []float32, r, s float32, codes []byte) (ssErr float64, ssCode, sum int64) {
	return q.k.QuantizeInt8(row, r, s, codes)
}

// MaxAbsBits is the package-level MaxAbsBits for implementation k.
func (k *impl) MaxAbsBits(row []float32) uint32 {
	done, m := maxAbsAsm(k, row)
	return max(m, maxAbsGo(row[done:]))
}

// QuantizeInt8 is the package-level QuantizeInt8 for implementation k.
func (k *impl) QuantizeInt8(row []float32, r, s float32, codes []byte) (ssErr float64, ssCode, sum int64) {
	if len(row) > MaxInt8Dim {
		panic("kernel: QuantizeInt8: row longer than MaxInt8Dim")
	}
	codes = codes[:len(row)]
	var acc [QuantLanes]float64
	done, ssCode, sum := quantAsm(k, row, r, s, codes, &acc)
	c2, c := quantGo(row, done, r, float64(s), codes, &acc)
	for h := QuantLanes / 2; h >= 1; h /= 2 {
		for j := 0; j < h; j++ {
			acc[j] += acc[j+h]
		}
	}
	return acc[0], ssCode + c2, sum + c
}

// maxAbsGo is MaxAbsBits in Go.
func maxAbsGo(row []float32) uint32 {
	var m uint32
	for _, x := range row {
		m = max(m, math.Float32bits(x)&0x7fffffff)
	}
	return m
}

// quantGo is QuantizeInt8 in Go from element from (a multiple of
// QuantLanes) on, adding into the lanes acc: the reference the assembly
// is tested against, and the tail of the AVX2 kernel's whole registers.
func quantGo(row []float32, from int, r float32, sd float64, codes []byte, acc *[QuantLanes]float64) (ssCode, sum int64) {
	codes = codes[:len(row)]
	for i := from; i < len(row); i++ {
		x := row[i]
		c := int32(math.RoundToEven(float64(x * r)))
		c = min(max(c, -127), 127)
		codes[i] = byte(int8(c))
		// Exact: see quant.Encode.
		e := float64(x) - sd*float64(c)
		j := i & (QuantLanes - 1)
		acc[j] = math.FMA(e, e, acc[j])
		ssCode += int64(c * c)
		sum += int64(c)
	}
	return ssCode, sum
}
