package engine

import "github.com/memvec/memvec/internal/bitset"

// tombs is one segment's tombstones as a version shows them: the bit of
// each deleted row and how many are set. The count is part of the value,
// changed only by add together with its bit, so it is never recomputed
// (a search skips a fully deleted segment by it) and can never drift from
// the bits (check verifies it all the same).
//
// A published tombs is immutable: a writer clones it, adds to its copy and
// publishes that.
type tombs struct {
	bits bitset.Set
	n    uint64
}

// newTombs returns no tombstones for a segment of capacity rows.
func newTombs(capacity uint64) tombs { return tombs{bits: bitset.New(capacity)} }

// tombsOf wraps bits that recovery loaded.
func tombsOf(bits bitset.Set) tombs { return tombs{bits: bits, n: bits.Count()} }

// has reports whether row is deleted.
func (t tombs) has(row uint64) bool { return t.bits.Has(row) }

// count returns how many rows are deleted.
func (t tombs) count() uint64 { return t.n }

// add deletes row in t, which must be the caller's own copy, and reports
// whether it was live.
func (t *tombs) add(row uint64) bool {
	if !t.bits.Add(row) {
		return false
	}
	t.n++
	return true
}

// clone returns a copy the caller may add to.
func (t tombs) clone() tombs { return tombs{bits: t.bits.Clone(), n: t.n} }
