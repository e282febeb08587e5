package segment

import (
	"encoding/binary"
	"fmt"

	"github.com/memvec/memvec/internal/errs"
)

// KeyHashes calls f with the hash (HashKey) of every distinct key of a
// sealed segment, once each, in no particular order: the entries of its
// key table, or of the index rebuilt from its blobs when the tables are
// damaged. A caller builds a filter of the keys of many segments from it
// without reading a key. It fails, having called f for none or some of the
// keys, with IndexErr when the segment has no key index, and with
// ErrInvalidArgument on a segment that is not sealed (its keys still
// change). A segment without keys calls f for none.
func (s *Segment) KeyHashes(f func(h uint64)) error {
	if !s.lay.keyed() {
		return nil
	}
	if !s.Sealed() {
		return fmt.Errorf("segment %s: key hashes of an active segment: %w", s.path, errs.ErrInvalidArgument)
	}
	return s.withIndex(func(m *memIndex, d *diskIndex) error {
		if m != nil {
			m.distinct(func(h, _ uint64) { f(h) })
			return nil
		}
		for e := d.keyTab; len(e) >= keyTabEntry; e = e[keyTabEntry:] {
			f(binary.LittleEndian.Uint64(e))
		}
		return nil
	})
}

// KeyCount returns at least the number of distinct keys of a sealed
// segment, without loading its key index: the entries of the key table
// its seal trailer describes (checked to be at most its rows), or its rows
// when it was sealed without tables or the trailer is damaged. It is 0 for
// a segment without keys or not sealed. A caller sizes a filter for
// KeyHashes by it.
func (s *Segment) KeyCount() uint64 {
	// Seal publishes s.seal after it set s.trailer, and s.trailer of a
	// segment opened sealed is set before the segment is shared.
	if !s.lay.keyed() || !s.Sealed() {
		return 0
	}
	if s.trailer == nil {
		return s.rows.Load()
	}
	return s.trailer.keyTabLen / keyTabEntry
}
