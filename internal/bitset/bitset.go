// Package bitset is a fixed-size bitset of tombstones. A Set shared with
// readers is never modified: writers Clone it, change the clone and publish.
package bitset

import "math/bits"

// Set holds one bit per row.
type Set []uint64

// New returns a set able to hold n bits.
func New(n uint64) Set { return make(Set, (n+63)/64) }

// Has reports whether bit i is set.
func (s Set) Has(i uint64) bool { return s[i/64]&(1<<(i%64)) != 0 }

// Add sets bit i and reports whether it was clear before.
func (s Set) Add(i uint64) bool {
	w, m := i/64, uint64(1)<<(i%64)
	if s[w]&m != 0 {
		return false
	}
	s[w] |= m
	return true
}

// Clone returns an independent copy.
func (s Set) Clone() Set { return append(Set(nil), s...) }

// Count returns the number of bits set.
func (s Set) Count() uint64 {
	var n int
	for _, w := range s {
		n += bits.OnesCount64(w)
	}
	return uint64(n)
}

// ClearFrom clears every bit at or past n and reports whether any was set.
func (s Set) ClearFrom(n uint64) bool {
	cleared := false
	for w := n / 64; w < uint64(len(s)); w++ {
		mask := ^uint64(0)
		if w == n/64 {
			mask <<= n % 64
		}
		if s[w]&mask != 0 {
			cleared = true
			s[w] &^= mask
		}
	}
	return cleared
}

// FirstFrom returns the lowest set bit at or past n, and false when there
// is none.
func (s Set) FirstFrom(n uint64) (uint64, bool) {
	for w := n / 64; w < uint64(len(s)); w++ {
		word := s[w]
		if w == n/64 {
			word &= ^uint64(0) << (n % 64)
		}
		if word != 0 {
			return w*64 + uint64(bits.TrailingZeros64(word)), true
		}
	}
	return 0, false
}
