package segment

import "testing"

// TestRowID: rows map through the run holding them; rows outside every run
// (past a snapshot) are reported as such.
func TestRowID(t *testing.T) {
	runs := []Run{{FirstID: 100, FirstRow: 0, Count: 3}, {FirstID: 7, FirstRow: 3, Count: 2}, {FirstID: 500, FirstRow: 5, Count: 1}}
	for row, want := range map[uint64]uint64{0: 100, 2: 102, 3: 7, 4: 8, 5: 500} {
		if id, ok := RowID(runs, row); !ok || id != want {
			t.Errorf("RowID(%d) = %d, %v; want %d", row, id, ok, want)
		}
	}
	for _, row := range []uint64{6, 1 << 40} {
		if id, ok := RowID(runs, row); ok {
			t.Errorf("RowID(%d) = %d, true; want no run", row, id)
		}
	}
	if _, ok := RowID(nil, 0); ok {
		t.Error("RowID with no runs found a row")
	}
}
