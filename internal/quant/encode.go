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
func Encode(row []float32, codes []byte) Meta {
	codes = codes[:len(row)]
	var m float64
	for _, x := range row {
		m = max(m, math.Abs(float64(x)))
	}
	s := float32(m / 127)
	if s == 0 { // unreachable for accepted rows; keeps the code defined
		s = math.SmallestNonzeroFloat32
	}
	sd := float64(s)
	var ssErr float64
	var ssCode, sum int64
	for i, x := range row {
		c := math.RoundToEven(float64(x) / sd)
		c = min(max(c, -127), 127)
		codes[i] = byte(int8(c))
		// sd*c is exact (24 by 8 significant bits), and so is the
		// difference: if c == 0 it is x; otherwise |x| >= s/2, so x and
		// s*c are both multiples of ulp(s)/4 (or of 2^-149), and their
		// difference, at most about s/2, has at most 26 significant bits.
		e := float64(x) - sd*c
		ssErr += e * e
		ssCode += int64(c) * int64(c)
		sum += int64(c)
	}
	return Meta{
		Scale:    s,
		ErrNorm:  up(math.Sqrt(ssErr) * sumSlack),
		CodeNorm: up(sd * math.Sqrt(float64(ssCode)) * sumSlack),
		Sum:      int32(sum),
	}
}
