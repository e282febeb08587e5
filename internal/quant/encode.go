package quant

import (
	"encoding/binary"
	"math"

	"github.com/memvec/memvec/internal/kernel"
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
// within a unit of the nearest, and deterministic: the kernel package's
// MaxAbsBits and QuantizeInt8 do the work, vectorised, in an order that
// gives the same bits on every implementation (see QuantizeInt8).
func Encode(row []float32, codes []byte) Meta {
	return encode(kernel.SelectedQuantizer(), row, codes)
}

// encode is Encode with the given implementation's kernels.
func encode(q kernel.Quantizer, row []float32, codes []byte) Meta {
	codes = codes[:len(row)]
	// The bits of |x| order like |x| for finite x: one integer max.
	s := float32(float64(math.Float32frombits(q.MaxAbsBits(row))) / 127)
	if s == 0 { // unreachable for accepted rows; keeps the code defined
		s = math.SmallestNonzeroFloat32
	}
	r := 1 / s
	if math.IsInf(float64(r), 0) { // s subnormal: every code 0, e = x
		r = 0
	}
	// e_i = x_i - s*c_i is exact in float64, fused or not: s*c is exact
	// (24 by 8 significant bits), and so is the difference: if c == 0 it
	// is x; otherwise |x| >= s/4 (x*r rounded to at least 0.5), so x and
	// s*c are both multiples of ulp(s)/8 (or of 2^-149), and their
	// difference, at most about s, has at most 28 significant bits. The
	// sum of e_i^2 is a float64 sum of d exact terms in a fixed order
	// with at most d roundings on any term's path (QuantizeInt8), which
	// sumSlack covers like any other order.
	// A row past MaxDim (which has no codes in a store, but may still be
	// encoded) goes to the kernel, which takes at most MaxDim elements a
	// call, in pieces: any implementation sums them alike.
	var ssErr float64
	var ssCode, sum int64
	for i := 0; i < len(row); i += MaxDim {
		j := min(i+MaxDim, len(row))
		e, c2, c := q.QuantizeInt8(row[i:j], r, s, codes[i:j])
		ssErr, ssCode, sum = ssErr+e, ssCode+c2, sum+c
	}
	return Meta{
		Scale:    s,
		ErrNorm:  up(math.Sqrt(ssErr) * sumSlack),
		CodeNorm: up(float64(s) * math.Sqrt(float64(ssCode)) * sumSlack),
		Sum:      int32(sum),
	}
}
