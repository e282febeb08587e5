package bitset

import "testing"

func TestSet(t *testing.T) {
	s := New(130)
	if len(s) != 3 {
		t.Fatalf("New(130) has %d words", len(s))
	}
	for _, i := range []uint64{0, 63, 64, 129} {
		if !s.Add(i) || s.Add(i) || !s.Has(i) {
			t.Fatalf("bit %d: Add/Has inconsistent", i)
		}
	}
	c := s.Clone()
	c.Add(5)
	if s.Has(5) || !c.Has(5) || s.Count() != 4 || c.Count() != 5 {
		t.Fatalf("Clone shares storage or Count is wrong: %d %d", s.Count(), c.Count())
	}
}
