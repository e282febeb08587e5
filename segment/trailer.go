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
const (
	trailerOff   = 128
	trailerSize  = 96
	trailerMagic = "MVSL"
	maxBloomK    = 32
)

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
}

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

func encodeTrailer(salt uint64, t trailer) []byte {
	b := make([]byte, trailerSize)
	copy(b, trailerMagic)
	binary.LittleEndian.PutUint32(b[4:], t.k)
	for i, v := range []uint64{t.rows, t.blobEnd, t.rowDirOff, t.rowDirLen, t.keyTabOff, t.keyTabLen,
		t.bloomOff, t.bloomLen, t.tablesSum, t.blobSum} {
		binary.LittleEndian.PutUint64(b[8+8*i:], v)
	}
	binary.LittleEndian.PutUint64(b[88:], trailerSum(salt, b[:88]))
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

// decodeTrailer parses and checks a seal trailer of a file with the given
// salt: its checksum, and that its tables follow the blob area, one after
// the other, with sizes that fit their entries. Damage wraps ErrCorrupt.
func decodeTrailer(salt uint64, b []byte) (trailer, error) {
	if len(b) < trailerSize {
		return trailer{}, fmt.Errorf("seal trailer: %d bytes: %w", len(b), errs.ErrCorrupt)
	}
	if string(b[:4]) != trailerMagic {
		return trailer{}, fmt.Errorf("seal trailer: bad magic: %w", errs.ErrCorrupt)
	}
	if trailerSum(salt, b[:88]) != binary.LittleEndian.Uint64(b[88:]) {
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
	return t, nil
}
