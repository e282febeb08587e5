package segment

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/cespare/xxhash/v2"
	"github.com/memvec/memvec/internal/errs"
)

// The seal trailer (format version 3) sits in the header page at
// trailerOff; Seal writes it with the key tables it describes (see the
// package doc for its layout). It is derived data: it is read only when
// the manifest says the segment is sealed, and a bad one makes the
// segment rebuild its key index from the blobs.
//
// Its first byte (the "M" of the magic) commits it: Seal writes the rest
// first and that byte last, in a write of one byte, which lands whole or
// not at all. A trailer whose first byte is zero is absent: a seal that
// could not write its tables (a full disk), not damage. The open of an
// active segment zeroes that byte, so that the trailer of a seal that no
// manifest recorded cannot be half-overwritten by the next seal and then
// committed by its stale first byte.
//
// Format version 5 extends it by the place of the sum table (sums.go)
// after the key tables: 16 bytes before its checksum, which covers them.
const (
	trailerOff    = 128
	trailerSize   = 96  // versions 3 and 4
	trailerSizeV5 = 112 // version 5: with the sum table's place
	trailerMagic  = "MVSL"
	maxBloomK     = 32
)

// trailerLen is the size of the seal trailer of a file of the given
// version.
func trailerLen(version uint32) int {
	if version >= 5 {
		return trailerSizeV5
	}
	return trailerSize
}

// trailer places a sealed segment's blob area and key tables.
type trailer struct {
	k                    uint32 // bloom probes per key
	rows                 uint64
	blobEnd              uint64
	rowDirOff, rowDirLen uint64
	keyTabOff, keyTabLen uint64
	bloomOff, bloomLen   uint64
	tablesSum            uint64 // xxhash64 of [rowDirOff, bloomOff+bloomLen)
	blobSum              uint64 // xxhash64 of the blob area [fixed size, blobEnd)
	// Version 5: the sum table, at align8(tablesEnd()); both 0 before.
	sumOff, sumLen uint64
}

func (t trailer) sumEnd() uint64 { return t.sumOff + t.sumLen }

func (t trailer) tablesEnd() uint64 { return t.bloomOff + t.bloomLen }

// trailerAbsent reports whether the trailer bytes b were never committed.
func trailerAbsent(b []byte) bool { return len(b) > 0 && b[0] == 0 }

// ErrTables is wrapped, with errs.ErrCorrupt, by the errors Verify returns
// for damage to a sealed segment's seal trailer or key tables: derived
// data, rebuilt from the blobs on use, so the rows, keys and payloads are
// intact (Verify checks them first). A reader may serve the segment anyway.
var ErrTables = errors.New("damaged key tables (derived data)")

// tablesAt is where the tables of a segment whose blobs end at blobEnd
// start.
func tablesAt(blobEnd uint64) uint64 { return uint64(align(int64(blobEnd), 8)) }

// encodeTrailer encodes a trailer of versions 3 and 4.
func encodeTrailer(salt uint64, t trailer) []byte { return encodeTrailerFor(4, salt, t) }

// encodeTrailerFor encodes t in the layout of the given version: from
// version 5 with the sum table's place.
func encodeTrailerFor(version uint32, salt uint64, t trailer) []byte {
	size := trailerLen(version)
	b := make([]byte, size)
	copy(b, trailerMagic)
	binary.LittleEndian.PutUint32(b[4:], t.k)
	for i, v := range []uint64{t.rows, t.blobEnd, t.rowDirOff, t.rowDirLen, t.keyTabOff, t.keyTabLen,
		t.bloomOff, t.bloomLen, t.tablesSum, t.blobSum} {
		binary.LittleEndian.PutUint64(b[8+8*i:], v)
	}
	if version >= 5 {
		binary.LittleEndian.PutUint64(b[88:], t.sumOff)
		binary.LittleEndian.PutUint64(b[96:], t.sumLen)
	}
	binary.LittleEndian.PutUint64(b[size-8:], trailerSum(salt, b[:size-8]))
	return b
}

func trailerSum(salt uint64, b []byte) uint64 {
	d := xxhash.New()
	var s [8]byte
	binary.LittleEndian.PutUint64(s[:], salt)
	d.Write(s[:])
	d.Write(b)
	return d.Sum64()
}

// decodeTrailer parses and checks a seal trailer of versions 3 and 4.
func decodeTrailer(salt uint64, b []byte) (trailer, error) { return decodeTrailerFor(4, salt, b) }

// decodeTrailerFor parses and checks a seal trailer of a file of the
// given version and salt: its checksum, and that its tables (and from
// version 5 its sum table) follow the blob area, one after the other,
// with sizes that fit their entries. Damage wraps ErrCorrupt.
func decodeTrailerFor(version uint32, salt uint64, b []byte) (trailer, error) {
	size := trailerLen(version)
	if len(b) < size {
		return trailer{}, fmt.Errorf("seal trailer: %d bytes: %w", len(b), errs.ErrCorrupt)
	}
	if string(b[:4]) != trailerMagic {
		return trailer{}, fmt.Errorf("seal trailer: bad magic: %w", errs.ErrCorrupt)
	}
	if trailerSum(salt, b[:size-8]) != binary.LittleEndian.Uint64(b[size-8:]) {
		return trailer{}, fmt.Errorf("seal trailer: checksum mismatch: %w", errs.ErrCorrupt)
	}
	u := func(i int) uint64 { return binary.LittleEndian.Uint64(b[8+8*i:]) }
	t := trailer{k: binary.LittleEndian.Uint32(b[4:]), rows: u(0), blobEnd: u(1), rowDirOff: u(2), rowDirLen: u(3),
		keyTabOff: u(4), keyTabLen: u(5), bloomOff: u(6), bloomLen: u(7), tablesSum: u(8), blobSum: u(9)}
	bad := func(what string) (trailer, error) {
		return trailer{}, fmt.Errorf("seal trailer: %s: %w", what, errs.ErrCorrupt)
	}
	switch {
	case t.blobEnd < HeaderSize || t.blobEnd > maxBlobEnd:
		return bad(fmt.Sprintf("blob end %d", t.blobEnd))
	case t.rowDirLen > maxBlobEnd || t.keyTabLen > maxBlobEnd || t.bloomLen > maxBlobEnd:
		return bad("table length out of range")
	case t.rowDirOff != tablesAt(t.blobEnd) || t.keyTabOff != t.rowDirOff+t.rowDirLen || t.bloomOff != t.keyTabOff+t.keyTabLen:
		return bad("tables out of place")
	case t.tablesEnd() > maxBlobEnd:
		return bad("tables end out of range")
	case t.rows > maxBlobEnd/rowDirEntry || t.rowDirLen != 0 && t.rows > maxKeyedRows:
		return bad(fmt.Sprintf("%d rows", t.rows))
	case t.rowDirLen != 0 && t.rowDirLen != t.rows*rowDirEntry:
		return bad(fmt.Sprintf("row directory of %d bytes for %d rows", t.rowDirLen, t.rows))
	case t.keyTabLen%keyTabEntry != 0 || t.keyTabLen/keyTabEntry > t.rows:
		return bad(fmt.Sprintf("key table of %d bytes for %d rows", t.keyTabLen, t.rows))
	case t.bloomLen%8 != 0:
		return bad(fmt.Sprintf("bloom filter of %d bytes", t.bloomLen))
	case (t.rowDirLen == 0) != (t.keyTabLen == 0) || (t.keyTabLen == 0) != (t.bloomLen == 0):
		return bad("tables partly empty")
	case t.bloomLen == 0 && t.k != 0 || t.bloomLen != 0 && (t.k == 0 || t.k > maxBloomK):
		return bad(fmt.Sprintf("%d bloom probes", t.k))
	}
	if version < 5 {
		return t, nil
	}
	t.sumOff, t.sumLen = binary.LittleEndian.Uint64(b[88:]), binary.LittleEndian.Uint64(b[96:])
	switch {
	case t.sumOff != tablesAt(t.tablesEnd()):
		return bad("sum table out of place")
	case t.sumLen%8 != 0 || t.sumLen/8 < t.rows || t.sumLen/8-t.rows > sumBlocks(t.rows):
		return bad(fmt.Sprintf("sum table of %d bytes for %d rows", t.sumLen, t.rows))
	case t.sumLen > maxBlobEnd || t.sumEnd() > maxBlobEnd:
		return bad("sum table end out of range")
	}
	return t, nil
}
