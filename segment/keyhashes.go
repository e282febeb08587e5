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
