package idindex

import (
	"testing"

	"github.com/memvec/memvec/segment"
)

func TestFind(t *testing.T) {
	runs := [][]segment.Run{
		{{FirstID: 0, FirstRow: 0, Count: 5}, {FirstID: 20, FirstRow: 5, Count: 5}},
		{{FirstID: 10, FirstRow: 0, Count: 5}},
	}
	// Segment 0 shows only 7 rows: IDs 22..24 are not visible yet.
	x := Build(runs, []uint64{7, 5})
	cases := []struct {
		id  uint64
		seg int
		row uint64
		ok  bool
	}{
		{0, 0, 0, true}, {4, 0, 4, true}, {5, 0, 0, false}, {10, 1, 0, true}, {14, 1, 4, true},
		{15, 0, 0, false}, {20, 0, 5, true}, {21, 0, 6, true}, {22, 0, 0, false}, {1 << 62, 0, 0, false},
	}
	for _, c := range cases {
		seg, row, ok := x.Find(c.id)
		if ok != c.ok || (ok && (seg != c.seg || row != c.row)) {
			t.Errorf("Find(%d) = %d, %d, %v; want %d, %d, %v", c.id, seg, row, ok, c.seg, c.row, c.ok)
		}
	}
	if m := x.MaxID(); m != 22 {
		t.Errorf("MaxID = %d, want 22", m)
	}
}
