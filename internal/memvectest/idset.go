package memvectest

import "math/rand"

// IDSet is a set of IDs with O(1) add, remove, move and random pick: what
// a test's child believes live, to choose the targets of its deletes and
// searches. The zero value is an empty set.
type IDSet struct {
	// IDs holds the members. Add appends; Remove moves the last member
	// into the gap; Move keeps the place. A pick from IDs with a seeded
	// generator is therefore the same in every run of the same calls.
	IDs []uint64
	pos map[uint64]int
}

// Add adds id if it is not a member.
func (s *IDSet) Add(id uint64) {
	if s.pos == nil {
		s.pos = map[uint64]int{}
	}
	if _, ok := s.pos[id]; !ok {
		s.pos[id] = len(s.IDs)
		s.IDs = append(s.IDs, id)
	}
}

// Remove removes id if it is a member.
func (s *IDSet) Remove(id uint64) {
	i, ok := s.pos[id]
	if !ok {
		return
	}
	last := s.IDs[len(s.IDs)-1]
	s.IDs[i], s.pos[last] = last, i
	s.IDs = s.IDs[:len(s.IDs)-1]
	delete(s.pos, id)
}

// Move replaces the member old by nw, in its place, and reports whether
// old was a member (a compaction moved its ID).
func (s *IDSet) Move(old, nw uint64) bool {
	i, ok := s.pos[old]
	if !ok {
		return false
	}
	delete(s.pos, old)
	s.IDs[i], s.pos[nw] = nw, i
	return true
}

// Pick returns a member drawn uniformly with rng, false if s is empty.
func (s *IDSet) Pick(rng *rand.Rand) (uint64, bool) {
	if len(s.IDs) == 0 {
		return 0, false
	}
	return s.IDs[rng.Intn(len(s.IDs))], true
}
