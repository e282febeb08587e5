// Package idindex maps IDs to (segment, row) through the ID runs of a set of
// segments. Runs never overlap: an ID is handed out once, so at most one run
// of one segment holds it.
package idindex

import (
	"sort"

	"github.com/memvec/memvec/segment"
)

// Entry is one run, tagged with the position of its segment in the slice
// the index was built from.
type Entry struct {
	FirstID, FirstRow, Count uint64
	Seg                      int
}

// Index is a set of runs sorted by FirstID.
type Index []Entry

// Build indexes runs[i], the runs of segment i, restricted to rows below
// rows[i] (rows of an active segment beyond a snapshot are not yet visible).
func Build(runs [][]segment.Run, rows []uint64) Index {
	var n int
	for _, r := range runs {
		n += len(r)
	}
	x := make(Index, 0, n)
	for i, rs := range runs {
		for _, r := range rs {
			if r.FirstRow >= rows[i] {
				continue
			}
			if end := r.FirstRow + r.Count; end > rows[i] {
				r.Count = rows[i] - r.FirstRow
			}
			x = append(x, Entry{FirstID: r.FirstID, FirstRow: r.FirstRow, Count: r.Count, Seg: i})
		}
	}
	sort.Slice(x, func(a, b int) bool { return x[a].FirstID < x[b].FirstID })
	return x
}

// Find returns the segment position and row holding id.
func (x Index) Find(id uint64) (seg int, row uint64, ok bool) {
	i := sort.Search(len(x), func(i int) bool { return x[i].FirstID+x[i].Count > id })
	if i == len(x) || id < x[i].FirstID {
		return 0, 0, false
	}
	e := x[i]
	return e.Seg, e.FirstRow + (id - e.FirstID), true
}

// MaxID returns one past the largest ID in the index, or 0 when empty.
func (x Index) MaxID() uint64 {
	var m uint64
	for _, e := range x {
		if end := e.FirstID + e.Count; end > m {
			m = end
		}
	}
	return m
}
