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
		if row, ok := s.tomb.bits.FirstFrom(s.rows); ok {
			return fmt.Errorf("segment %d: row %d is tombstoned but the segment holds %d rows: %w",
				s.ref.seg.Number(), row, s.rows, errs.ErrCorrupt)
		}
		if n := s.tomb.bits.Count(); n != s.tomb.count() {
			return fmt.Errorf("segment %d: %d tombstones counted as %d: %w", s.ref.seg.Number(), n, s.tomb.count(), errs.ErrCorrupt)
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

// checkManifest verifies that v and m, the engine's current version and
// manifest, describe one store: the same segments in the same order, each
// sealed exactly when m says so, a sealed one with the rows of its seal
// and the active one with at least the rows m records as durable, and the
// same epoch. apply produces both from one edit; this is the check that it
// did.
func (v *version) checkManifest(m *manifest.Manifest) error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("the segments in memory disagree with %s: %s: %w", manifest.FileName, fmt.Sprintf(format, a...), errs.ErrCorrupt)
	}
	if v.segs.len() != len(m.Segments) {
		return bad("%d segments, the manifest names %d", v.segs.len(), len(m.Segments))
	}
	for i, s := range v.segs.all() {
		ms := m.Segments[i]
		switch {
		case ms.Number != s.ref.seg.Number():
			return bad("segment %d at position %d, the manifest names %d", s.ref.seg.Number(), i, ms.Number)
		case ms.Sealed != s.ref.seg.Sealed():
			return bad("segment %d sealed %v, the manifest says %v", ms.Number, s.ref.seg.Sealed(), ms.Sealed)
		case ms.Sealed && ms.Rows != s.rows, ms.Rows > s.rows:
			return bad("segment %d holds %d rows, the manifest says %d", ms.Number, s.rows, ms.Rows)
		}
	}
	if v.epoch != m.Epoch {
		return bad("epoch %d, the manifest's %d", v.epoch, m.Epoch)
	}
	return nil
}
