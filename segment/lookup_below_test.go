package segment

import (
	"fmt"
	"testing"
)

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

// TestIndexAheadVisible: a batch large enough to be indexed on its own
// goroutine (indexAhead) is in the index once its rows are visible, and a
// reader beside the appends never finds a key of a visible row missing
// nor a row that is not visible yet.
func TestIndexAheadVisible(t *testing.T) {
	const dim, batch, batches = 1, indexAhead + 3, 6
	s := mustCreate(t, t.TempDir(), 1, dim, batch*batches)
	defer s.Close()
	key := func(row int) []byte { return []byte(fmt.Sprintf("k%06d", row)) }
	done := make(chan struct{})
	errc := make(chan error, 1)
	go func() {
		defer close(errc)
		for {
			select {
			case <-done:
				return
			default:
			}
			rows := s.Rows()
			// The first and last key of every visible batch.
			for r := 0; r < int(rows); r += batch {
				for _, row := range []int{r, r + batch - 1} {
					got, ok := s.LookupKeyBelow(key(row), rows)
					if !ok || got != uint64(row) {
						errc <- fmt.Errorf("rows %d: LookupKeyBelow(%s) = %d, %v", rows, key(row), got, ok)
						return
					}
				}
			}
			if _, ok := s.LookupKeyBelow(key(int(rows)), rows); ok {
				errc <- fmt.Errorf("rows %d: found the key of an invisible row", rows)
				return
			}
		}
	}()
	for b := 0; b < batches; b++ {
		vecs, norms := make([][]float32, batch), make([]float32, batch)
		keys := make([][]byte, batch)
		for i := range vecs {
			vecs[i], norms[i], keys[i] = []float32{1}, 1, key(b*batch+i)
		}
		if err := s.AppendRecords(uint64(b*batch), vecs, norms, keys, nil, nil, false); err != nil {
			t.Fatal(err)
		}
	}
	close(done)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}
