package segment

import "math/bits"

// bloom is a sealed segment's bloom filter (see the package doc): bit i
// of the k bits of a key hash h is (h + i*delta) mod nbits, delta =
// rotl(h, 31) | 1 (double hashing). A Put of new keys asks the filter of
// every sealed segment about every key, so the modulo, a 64-bit division,
// is done as a multiplication by a precomputed reciprocal.
type bloom struct {
	bits []byte
	k    uint32
	n    modulus // len(bits) * 8
}

func newBloom(b []byte, k uint32) bloom {
	f := bloom{bits: b, k: k}
	if len(b) > 0 {
		f.n = newModulus(uint64(len(b)) * 8)
	}
	return f
}

// add sets the bits of h.
func (f bloom) add(h uint64) {
	delta := bits.RotateLeft64(h, 31) | 1
	for i := uint32(0); i < f.k; i++ {
		bit := f.n.mod(h)
		f.bits[bit/8] |= 1 << (bit % 8)
		h += delta
	}
}

// mayHold reports whether every bit of h is set; false for an empty
// filter.
func (f bloom) mayHold(h uint64) bool {
	if len(f.bits) == 0 {
		return false
	}
	delta := bits.RotateLeft64(h, 31) | 1
	for i := uint32(0); i < f.k; i++ {
		bit := f.n.mod(h)
		if f.bits[bit/8]&(1<<(bit%8)) == 0 {
			return false
		}
		h += delta
	}
	return true
}

// modulus computes x mod d for a fixed d > 0 with one 64x64->128-bit
// multiplication: m = floor((2^64-1)/d) makes q = floor(x*m/2^64) at most
// floor(x/d) and more than x/d - 1, so x - q*d is below 2d and one
// subtraction corrects it.
type modulus struct{ d, m uint64 }

func newModulus(d uint64) modulus { return modulus{d: d, m: ^uint64(0) / d} }

func (c modulus) mod(x uint64) uint64 {
	q, _ := bits.Mul64(x, c.m)
	r := x - q*c.d
	if r >= c.d {
		r -= c.d
	}
	return r
}

// touch loads the byte of h's first bit, and returns it: see probeAhead.
func (f bloom) touch(h uint64) uint64 {
	if len(f.bits) == 0 {
		return 0
	}
	return uint64(f.bits[f.n.mod(h)/8])
}
