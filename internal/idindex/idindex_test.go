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

func TestAppend(t *testing.T) {
	x := Build([][]segment.Run{{{FirstID: 0, FirstRow: 0, Count: 5}}, {{FirstID: 5, FirstRow: 0, Count: 2}}}, []uint64{5, 2})
	// Continues segment 1's run: extends it.
	y := x.Append(1, 7, 2, 3)
	// A gap in the IDs (a compaction reserved some): a new run.
	z := y.Append(1, 20, 5, 1)
	// Another segment: a new run.
	w := z.Append(2, 21, 0, 4)
	check := func(name string, x Index, id uint64, seg int, row uint64, ok bool) {
		t.Helper()
		s, r, o := x.Find(id)
		if o != ok || (ok && (s != seg || r != row)) {
			t.Errorf("%s.Find(%d) = %d, %d, %v; want %d, %d, %v", name, id, s, r, o, seg, row, ok)
		}
	}
	check("x", x, 7, 0, 0, false)
	check("y", y, 7, 1, 2, true)
	check("y", y, 9, 1, 4, true)
	check("y", y, 20, 0, 0, false)
	check("z", z, 20, 1, 5, true)
	check("z", z, 3, 0, 3, true)
	check("w", w, 24, 2, 3, true)
	check("w", w, 10, 0, 0, false)
	// The older indexes are unchanged by the appends that followed.
	if x.MaxID() != 7 || y.MaxID() != 10 || z.MaxID() != 21 || w.MaxID() != 25 {
		t.Errorf("MaxID %d %d %d %d", x.MaxID(), y.MaxID(), z.MaxID(), w.MaxID())
	}
	if x.Len() != 2 || y.Len() != 2 || z.Len() != 3 || w.Len() != 4 {
		t.Errorf("Len %d %d %d %d", x.Len(), y.Len(), z.Len(), w.Len())
	}
	var prev uint64
	n := 0
	for e := range w.All() {
		if n > 0 && e.FirstID < prev {
			t.Errorf("All out of order at %+v", e)
		}
		prev = e.FirstID
		n++
	}
	if n != 4 {
		t.Errorf("All yielded %d runs", n)
	}
	if (Index{}).Find(0); (Index{}).MaxID() != 0 || (Index{}).Len() != 0 {
		t.Error("empty index")
	}
	if e := (Index{}).Append(3, 0, 0, 1); e.MaxID() != 1 {
		t.Error("append to the empty index")
	}
}
