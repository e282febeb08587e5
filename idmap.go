package memvec

import "github.com/memvec/memvec/internal/idmap"

// IDRun says that old IDs [Old, Old+Len) now live at [New, New+Len): a
// struct of three uint64 fields, Old, New and Len. It is the store's one
// run type, shared with the ID-map files (see package manifest).
type IDRun = idmap.Run

// IDMap is the old-to-new ID map of one compaction: Epoch is the
// compaction's number (Stats.Epoch after it committed), Runs are sorted by
// Old and do not overlap.
type IDMap struct {
	Epoch uint64
	Runs  []IDRun
}

// Lookup returns the new ID of old, with ok false unless this compaction
// moved old. It is a binary search over the runs.
func (m IDMap) Lookup(old uint64) (newID uint64, ok bool) { return idmap.Lookup(m.Runs, old) }
