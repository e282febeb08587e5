package quant

import (
	"encoding/binary"
	"math"
)

// MetaSize is the size in bytes of an encoded Meta.
const MetaSize = 16

// MaxDim is the largest dimension that has codes: d*255*127 < 2^31 keeps
// every integer dot product exact in an int32.
const MaxDim = 65536

// Meta is what a row's code needs beside its bytes (see the package doc).
type Meta struct {
	Scale    float32 // s: x ≈ s*c
	ErrNorm  float32 // >= ||x - s*c||
	CodeNorm float32 // >= s*||c||
	Sum      int32   // sum of the code bytes
}

// Put writes m into b[:MetaSize].
func (m Meta) Put(b []byte) {
	_ = b[MetaSize-1]
	binary.LittleEndian.PutUint32(b[0:], math.Float32bits(m.Scale))
	binary.LittleEndian.PutUint32(b[4:], math.Float32bits(m.ErrNorm))
	binary.LittleEndian.PutUint32(b[8:], math.Float32bits(m.CodeNorm))
	binary.LittleEndian.PutUint32(b[12:], uint32(m.Sum))
}

// DecodeMeta reads a Meta written by Put.
func DecodeMeta(b []byte) Meta {
	_ = b[MetaSize-1]
	return Meta{
		Scale:    math.Float32frombits(binary.LittleEndian.Uint32(b[0:])),
		ErrNorm:  math.Float32frombits(binary.LittleEndian.Uint32(b[4:])),
		CodeNorm: math.Float32frombits(binary.LittleEndian.Uint32(b[8:])),
		Sum:      int32(binary.LittleEndian.Uint32(b[12:])),
	}
}

// sumSlack covers the float64 rounding of a sum of at most MaxDim
// non-negative terms and of its square root ((d+2)*2^-53 < 2^-36).
const sumSlack = 1 + 0x1p-30

// up returns the smallest float32 not below v (v >= 0, finite).
func up(v float64) float32 {
	f := float32(v)
	if float64(f) < v {
		f = math.Nextafter32(f, float32(math.Inf(1)))
	}
	return f
}

// Encode writes the code of row into codes[:len(row)] (as int8 bit
// patterns) and returns its Meta. row must be finite and not all zero,
// with len(row) <= MaxDim; the engine checks both before it encodes.
//
// The code of x_i is round-half-even of fl32(x_i * r), r = fl32(1/s),
// clamped to [-127, 127]: a multiply rather than a division per element
// (Encode runs on every written row). Any code is correct, since the
// Meta's norms are computed from the code actually chosen; this one is
// within a unit of the nearest, and deterministic.
func Encode(row []float32, codes []byte) Meta {
	codes = codes[:len(row)]
	// The bits of |x| order like |x| for finite x: one integer max.
	var mb uint32
	for _, x := range row {
		mb = max(mb, math.Float32bits(x)&0x7fffffff)
	}
	s := float32(float64(math.Float32frombits(mb)) / 127)
	if s == 0 { // unreachable for accepted rows; keeps the code defined
		s = math.SmallestNonzeroFloat32
	}
	r := 1 / s
	if math.IsInf(float64(r), 0) { // s subnormal: every code 0, e = x
		r = 0
	}
	sd := float64(s)
	var ssErr0, ssErr1 float64
	var ssCode, sum int64
	i := 0
	// Two elements a step, with two error accumulators: the float64
	// adds are the loop's latency chain.
	for ; i+1 < len(row); i += 2 {
		c0, c1 := code(row[i], r), code(row[i+1], r)
		codes[i], codes[i+1] = byte(int8(c0)), byte(int8(c1))
		// sd*c is exact (24 by 8 significant bits), and so is the
		// difference: if c == 0 it is x; otherwise |x| >= s/4 (x*r
		// rounded to at least 0.5), so x and s*c are both multiples of
		// ulp(s)/8 (or of 2^-149), and their difference, at most about
		// s, has at most 28 significant bits.
		e0 := float64(row[i]) - sd*float64(c0)
		e1 := float64(row[i+1]) - sd*float64(c1)
		ssErr0 += e0 * e0
		ssErr1 += e1 * e1
		ssCode += int64(c0*c0 + c1*c1)
		sum += int64(c0 + c1)
	}
	for ; i < len(row); i++ {
		c := code(row[i], r)
		codes[i] = byte(int8(c))
		e := float64(row[i]) - sd*float64(c)
		ssErr0 += e * e
		ssCode += int64(c * c)
		sum += int64(c)
	}
	return Meta{
		Scale:    s,
		ErrNorm:  up(math.Sqrt(ssErr0+ssErr1) * sumSlack),
		CodeNorm: up(sd * math.Sqrt(float64(ssCode)) * sumSlack),
		Sum:      int32(sum),
	}
}

// code is round-half-even(fl32(x*r)) clamped to [-127, 127].
func code(x, r float32) int32 {
	c := int32(math.RoundToEven(float64(x * r)))
	return min(max(c, -127), 127)
}
