package idmap

import "testing"

func TestLookup(t *testing.T) {
	m := Map{Epoch: 1, Runs: []Run{{Old: 0, New: 100, Len: 3}, {Old: 5, New: 103, Len: 2}}}
	for _, c := range []struct {
		old, new uint64
		ok       bool
	}{
		{0, 100, true}, {2, 102, true}, {3, 0, false}, {4, 0, false}, {5, 103, true}, {6, 104, true}, {7, 0, false}, {1 << 63, 0, false},
	} {
		if got, ok := m.Lookup(c.old); ok != c.ok || got != c.new {
			t.Errorf("Lookup(%d) = %d, %v; want %d, %v", c.old, got, ok, c.new, c.ok)
		}
	}
	if _, ok := Lookup(nil, 0); ok {
		t.Error("Lookup in no runs found something")
	}
}

func TestSearch(t *testing.T) {
	type span struct{ first, n uint64 }
	keys := func(s span) (uint64, uint64) { return s.first, s.n }
	runs := []span{{10, 5}, {15, 1}, {20, 10}}
	for key, want := range map[uint64]int{0: -1, 9: -1, 10: 0, 14: 0, 15: 1, 16: -1, 19: -1, 20: 2, 29: 2, 30: -1} {
		i, ok := Search(runs, key, keys)
		if (want < 0 && ok) || (want >= 0 && (!ok || i != want)) {
			t.Errorf("Search(%d) = %d, %v; want %d", key, i, ok, want)
		}
	}
}
