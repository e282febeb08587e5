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

func TestClearFromFirstFrom(t *testing.T) {
	for _, n := range []uint64{0, 1, 63, 64, 65, 127, 128, 200} {
		s := New(200)
		for _, i := range []uint64{0, 5, 63, 64, 100, 127, 128, 199} {
			s.Add(i)
		}
		want := uint64(0)
		var first uint64
		found := false
		for i := uint64(0); i < 200; i++ {
			if s.Has(i) && i >= n {
				if !found {
					first, found = i, true
				}
				want++
			}
		}
		got, ok := s.FirstFrom(n)
		if ok != found || got != first {
			t.Fatalf("FirstFrom(%d) = %d, %v; want %d, %v", n, got, ok, first, found)
		}
		before := s.Count()
		if s.ClearFrom(n) != (want > 0) || s.Count() != before-want {
			t.Fatalf("ClearFrom(%d): count %d -> %d, want %d cleared", n, before, s.Count(), want)
		}
		if _, ok := s.FirstFrom(n); ok {
			t.Fatalf("ClearFrom(%d) left a bit", n)
		}
	}
}
