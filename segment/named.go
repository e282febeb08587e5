package segment

import (
	"encoding/binary"

	"github.com/cespare/xxhash/v2"
)

// The named record (format version 2 and later) sits in the header page at
// namedOff:
//
//	0   4  magic "MVNM"
//	4   4  zero
//	8   8  generation of the first manifest that named the file
//	16  8  xxhash64 of bytes 0..16
//
// It is written once, after that manifest was renamed into place, and is
// evidence only: recovery that finds a file it would take for an orphan
// but that says a manifest newer than the one on disk named it knows the
// manifest was rolled back, and refuses to delete acknowledged rows. A
// missing or damaged record proves nothing either way and harms nothing.
const (
	namedOff   = 64
	namedSize  = 24
	namedMagic = "MVNM"
)

func encodeNamed(gen uint64) []byte {
	b := make([]byte, namedSize)
	copy(b, namedMagic)
	binary.LittleEndian.PutUint64(b[8:], gen)
	binary.LittleEndian.PutUint64(b[16:], xxhash.Sum64(b[:16]))
	return b
}

// decodeNamed returns the generation of a valid named record, or 0.
func decodeNamed(b []byte) uint64 {
	if len(b) < namedSize || string(b[:4]) != namedMagic ||
		binary.LittleEndian.Uint64(b[16:]) != xxhash.Sum64(b[:16]) {
		return 0
	}
	return binary.LittleEndian.Uint64(b[8:])
}

// MarkNamed records, after the fact, that the manifest of generation gen
// names the segment (see the named record above), and syncs it. The
// caller ignores a failure: the record is evidence, never data.
func (s *Segment) MarkNamed(gen uint64) error {
	if s.readOnly {
		return nil
	}
	if _, err := s.f.WriteAt(encodeNamed(gen), namedOff); err != nil {
		return err
	}
	return s.f.Datasync()
}
