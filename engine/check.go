package engine

import (
	"fmt"

	"github.com/memvec/memvec/internal/bitset"
	"github.com/memvec/memvec/internal/errs"
	"github.com/memvec/memvec/manifest"
)

// check verifies the structural invariants of a version that every count
// relies on: no tombstone lies at or past its segment's rows (so Deleted
// never exceeds Total and no count can wrap), and each segment's deleted
// count is its tombstones'.
func (v *version) check() error {
	for _, s := range v.segs.all() {
		if row, ok := s.tomb.FirstFrom(s.rows); ok {
			return fmt.Errorf("segment %d: row %d is tombstoned but the segment holds %d rows: %w",
				s.ref.seg.Number(), row, s.rows, errs.ErrCorrupt)
		}
		if n := s.tomb.Count(); n != s.deleted {
			return fmt.Errorf("segment %d: %d tombstones counted as %d: %w", s.ref.seg.Number(), n, s.deleted, errs.ErrCorrupt)
		}
	}
	return nil
}

// checkTombsFile verifies that the tombstone checkpoint on disk names only
// rows its segments hold (see recovery's tombsPastRows for why a
// checkpoint could once name rows a power cut took).
func (v *version) checkTombsFile(tombs []manifest.SegmentTombs, gen uint64) error {
	rows := make(map[uint64]uint64, v.segs.len())
	for _, s := range v.segs.all() {
		rows[s.ref.seg.Number()] = s.rows
	}
	for _, t := range tombs {
		n, ok := rows[t.Number]
		if !ok {
			continue // retired by a compaction since
		}
		if row, ok := bitset.Set(t.Bits).FirstFrom(n); ok {
			return fmt.Errorf("%s: segment %d: row %d is tombstoned but the segment holds %d rows: %w",
				manifest.TombsFileName(gen), t.Number, row, n, errs.ErrCorrupt)
		}
	}
	return nil
}
