// Package idindex maps IDs to (segment, row) through the ID runs of a set of
// segments. Runs never overlap: an ID is handed out once, so at most one run
// of one segment holds it.
//
// An Index is a value that many snapshots share. Build makes one in
// O(runs log runs); Append extends one in O(1) amortised, for a batch whose
// IDs lie above every ID it holds (an Add), leaving the original unchanged,
// so a write that only adds rows or only deletes some does not rebuild it.
package idindex

import (
	"iter"
	"sort"

	"github.com/memvec/memvec/internal/idmap"
	"github.com/memvec/memvec/segment"
)

// Entry is one run, tagged with the position of its segment in the slice
// the index was built from.
type Entry struct {
	FirstID, FirstRow, Count uint64
	Seg                      int
}

// Index is a set of runs sorted by FirstID: head, then last (the run with
// the largest IDs, kept by value so that growing it copies nothing that
// another Index shares). head's backing array is shared with the Index it
// was appended from; only the newest Index of such a lineage may Append,
// which writes past the end of every older one's head.
type Index struct {
	head    []Entry
	last    Entry
	hasLast bool
}

// Build indexes runs[i], the runs of segment i, restricted to rows below
// rows[i] (rows of an active segment beyond a snapshot are not yet visible).
func Build(runs [][]segment.Run, rows []uint64) Index {
	var n int
	for _, r := range runs {
		n += len(r)
	}
	x := make([]Entry, 0, n)
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
	if len(x) == 0 {
		return Index{}
	}
	// Clipping the capacity keeps a later Append from writing into the
	// slot last came from (harmless, but it would alias nothing useful).
	return Index{head: x[: len(x)-1 : len(x)-1], last: x[len(x)-1], hasLast: true}
}

// Append returns x with count rows of segment seg added, the first of them
// at row firstRow with ID firstID. firstID must be at least MaxID: the
// IDs of an Add are above every ID handed out before. A batch that
// continues the last run (same segment, next row, next ID) extends it.
// x itself is unchanged, but x must not be appended to again (see Index).
func (x Index) Append(seg int, firstID, firstRow, count uint64) Index {
	if count == 0 {
		return x
	}
	if x.hasLast && firstID < x.last.FirstID+x.last.Count {
		panic("idindex: Append below MaxID")
	}
	l := x.last
	if x.hasLast && l.Seg == seg && l.FirstID+l.Count == firstID && l.FirstRow+l.Count == firstRow {
		x.last.Count += count
		return x
	}
	if x.hasLast {
		x.head = append(x.head, l)
	}
	x.last, x.hasLast = Entry{FirstID: firstID, FirstRow: firstRow, Count: count, Seg: seg}, true
	return x
}

// Len returns the number of runs.
func (x Index) Len() int {
	if !x.hasLast {
		return 0
	}
	return len(x.head) + 1
}

// All yields the runs by ascending FirstID.
func (x Index) All() iter.Seq[Entry] {
	return func(yield func(Entry) bool) {
		for _, e := range x.head {
			if !yield(e) {
				return
			}
		}
		if x.hasLast {
			yield(x.last)
		}
	}
}

// Find returns the segment position and row holding id.
func (x Index) Find(id uint64) (seg int, row uint64, ok bool) {
	if !x.hasLast {
		return 0, 0, false
	}
	e := x.last
	if id < e.FirstID {
		i, ok := idmap.Search(x.head, id, entryIDs)
		if !ok {
			return 0, 0, false
		}
		e = x.head[i]
	} else if id >= e.FirstID+e.Count {
		return 0, 0, false
	}
	return e.Seg, e.FirstRow + (id - e.FirstID), true
}

// entryIDs gives an entry's IDs to idmap.Search.
func entryIDs(e Entry) (first, n uint64) { return e.FirstID, e.Count }

// MaxID returns one past the largest ID in the index, or 0 when empty.
func (x Index) MaxID() uint64 {
	if !x.hasLast {
		return 0
	}
	return x.last.FirstID + x.last.Count
}
