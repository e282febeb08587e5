package compactor

// DefaultGarbageRatio is the default of memvec.Options.CompactionGarbageRatio
// (the deleted share of a sealed segment at which the background compactor
// rewrites it), which resolves it; New applies no default.
const DefaultGarbageRatio = 0.2

// Tiered merge: when at least mergeMin sealed segments each hold less than
// a quarter of a full segment, the background compactor merges them.
const (
	mergeMin      = 4
	smallFraction = 4
)

// pickManual chooses every segment, sealed or active, that holds a deleted
// row: a manual compaction reclaims everything.
func pickManual(segs []SegmentInfo) []uint64 {
	var out []uint64
	for _, s := range segs {
		if s.Deleted > 0 {
			out = append(out, s.Number)
		}
	}
	return out
}

// pickAuto chooses the sealed segments whose deleted share is at least
// ratio, plus, when there are enough of them, the small sealed segments
// (a tiered merge, so that compaction output and partly filled seals do
// not pile up into many tiny files).
func pickAuto(segs []SegmentInfo, ratio float64, segCap uint64) []uint64 {
	var out, small []uint64
	var smallRows uint64
	for _, s := range segs {
		if !s.Sealed || s.Rows == 0 {
			continue
		}
		if float64(s.Deleted) >= ratio*float64(s.Rows) {
			out = append(out, s.Number)
			continue
		}
		if (s.Rows-s.Deleted)*smallFraction < segCap && smallRows+s.Rows-s.Deleted <= segCap {
			small = append(small, s.Number)
			smallRows += s.Rows - s.Deleted
		}
	}
	if len(small) >= mergeMin {
		out = append(out, small...)
	}
	return out
}
