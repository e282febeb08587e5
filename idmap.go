package memvec

import "sort"

// IDRun says that old IDs [Old, Old+Len) now live at [New, New+Len).
type IDRun struct {
	Old, New, Len uint64
}

// IDMap is the old-to-new ID map of one compaction: Epoch is the
// compaction's number (Stats.Epoch after it committed), Runs are sorted by
// Old and do not overlap.
type IDMap struct {
	Epoch uint64
	Runs  []IDRun
}

// Lookup returns the new ID of old, with ok false unless this compaction
// moved old. It is a binary search over the runs.
func (m IDMap) Lookup(old uint64) (newID uint64, ok bool) {
	i := sort.Search(len(m.Runs), func(i int) bool { return m.Runs[i].Old+m.Runs[i].Len > old })
	if i == len(m.Runs) || old < m.Runs[i].Old {
		return 0, false
	}
	r := m.Runs[i]
	return r.New + (old - r.Old), true
}
