package segment

import "testing"

// LookupKeyBelow answers as of a row count: the last row below it holding
// the key, so a reader's older snapshot finds the row it shows, not the
// one an append since put after it.
func TestLookupKeyBelow(t *testing.T) {
	const dim, capacity = 1, 8
	s := mustCreate(t, t.TempDir(), 1, dim, capacity)
	defer s.Close()
	for i, k := range []string{"a", "b", "a"} { // rows 0, 1, 2
		if err := s.AppendRecords(uint64(i), [][]float32{{1}}, []float32{1}, [][]byte{[]byte(k)}, nil, nil, false); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		key  string
		rows uint64
		row  uint64
		ok   bool
	}{
		{"a", 3, 2, true}, {"a", 2, 0, true}, {"a", 1, 0, true}, {"a", 0, 0, false},
		{"b", 3, 1, true}, {"b", 1, 0, false},
	} {
		if row, ok := s.LookupKeyBelow([]byte(tc.key), tc.rows); row != tc.row || ok != tc.ok {
			t.Errorf("LookupKeyBelow(%q, %d) = %d, %v; want %d, %v", tc.key, tc.rows, row, ok, tc.row, tc.ok)
		}
	}
	if _, err := s.Seal(); err != nil {
		t.Fatal(err)
	}
	if row, ok := s.LookupKeyBelow([]byte("a"), 3); !ok || row != 2 {
		t.Errorf("sealed: LookupKeyBelow(a, 3) = %d, %v; want 2", row, ok)
	}
}
