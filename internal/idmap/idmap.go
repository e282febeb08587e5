// Package idmap is the one description of a compaction's old-to-new ID map
// (Run, Map) and the one lookup over runs of consecutive keys (Search),
// which every run list of the store is searched with: a map's runs by old
// ID (Lookup), a segment's runs by row (segment.RowID) and the ID index's
// runs by ID (idindex.Index.Find). The public memvec.IDRun is an alias of
// Run, and memvec.IDMap.Lookup is Lookup.
package idmap

// Run says that old IDs [Old, Old+Len) now live at [New, New+Len). The
// manifest package documents how runs are stored (manifest.IDRun is this
// type).
type Run struct{ Old, New, Len uint64 }

// Map is the old-to-new ID map of one compaction: Epoch is the
// compaction's number, Runs are sorted by Old and do not overlap.
type Map struct {
	Epoch uint64
	Runs  []Run
}

// Lookup returns the new ID of old, with ok false unless this compaction
// moved old.
func (m Map) Lookup(old uint64) (newID uint64, ok bool) { return Lookup(m.Runs, old) }

// Lookup returns the new ID of old under runs sorted by Old and disjoint,
// with ok false unless a run moves old.
func Lookup(runs []Run, old uint64) (newID uint64, ok bool) {
	i, ok := Search(runs, old, oldIDs)
	if !ok {
		return 0, false
	}
	r := runs[i]
	return r.New + (old - r.Old), true
}

func oldIDs(r Run) (first, n uint64) { return r.Old, r.Len }

// Search returns the index of the run holding key, with ok false if none
// does. runs are sorted by their first key and disjoint; keys gives a run's
// keys as [first, first+n). It is a binary search, kept small enough to be
// inlined with keys (it is on the Get and scan paths).
func Search[R any](runs []R, key uint64, keys func(R) (first, n uint64)) (i int, ok bool) {
	lo, hi := 0, len(runs)
	for lo < hi {
		h := int(uint(lo+hi) >> 1)
		first, n := keys(runs[h])
		switch {
		case key < first:
			hi = h
		case key-first < n:
			return h, true
		default:
			lo = h + 1
		}
	}
	return lo, false
}
