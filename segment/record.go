package segment

import (
	"encoding/binary"
	"fmt"

	"github.com/cespare/xxhash/v2"
	"github.com/memvec/memvec/internal/errs"
)

const (
	recordSize   = 64         // versions 3 and 4
	recordSizeV2 = 48         // versions 1 and 2
	recordMagic  = 0x5442564d // "MVBT" little-endian
)

// Record is one batch commit record: it makes rows [FirstRow, FirstRow+Rows)
// visible, with IDs starting at FirstID. BlobOff and BlobLen (version 3)
// place the batch's blob: its keys, payloads and superseded IDs.
type Record struct {
	Rows     uint32
	FirstRow uint64
	FirstID  uint64
	Synced   uint64
	Index    uint64
	BlobOff  uint64
	BlobLen  uint64
	Sum      uint64
}

// encode writes r (with r.Sum already computed) into b[:recordSize] in
// the version 3 layout.
func (r Record) encode(b []byte) {
	r.encodeHead(b)
	binary.LittleEndian.PutUint64(b[40:], r.BlobOff)
	binary.LittleEndian.PutUint64(b[48:], r.BlobLen)
	binary.LittleEndian.PutUint64(b[56:], r.Sum)
}

// encodeV2 writes r into b[:recordSizeV2] in the layout of versions 1
// and 2, which have no blob.
func (r Record) encodeV2(b []byte) {
	r.encodeHead(b)
	binary.LittleEndian.PutUint64(b[40:], r.Sum)
}

func (r Record) encodeHead(b []byte) {
	binary.LittleEndian.PutUint32(b[0:], recordMagic)
	binary.LittleEndian.PutUint32(b[4:], r.Rows)
	binary.LittleEndian.PutUint64(b[8:], r.FirstRow)
	binary.LittleEndian.PutUint64(b[16:], r.FirstID)
	binary.LittleEndian.PutUint64(b[24:], r.Synced)
	binary.LittleEndian.PutUint64(b[32:], r.Index)
}

// encodeFor writes r in the layout of the given version and returns the
// bytes its checksum covers (all but the checksum).
func (r Record) encodeFor(version uint32, b []byte) (covered []byte) {
	if version < 3 {
		r.encodeV2(b)
		return b[:40]
	}
	r.encode(b)
	return b[:56]
}

// DecodeRecord parses the structure of one batch record of the current
// version (versions 3 and 4 share it). It does
// not check the checksum, which covers row data the record does not hold;
// see Segment.checkRecord.
func DecodeRecord(b []byte) (Record, error) {
	return decodeRecordFor(Version, b)
}

// decodeRecordFor parses a record of the given format version.
func decodeRecordFor(version uint32, b []byte) (Record, error) {
	size, sumAt := recordSize, 56
	if version < 3 {
		size, sumAt = recordSizeV2, 40
	}
	if len(b) < size {
		return Record{}, fmt.Errorf("record: %d bytes: %w", len(b), errs.ErrCorrupt)
	}
	if binary.LittleEndian.Uint32(b) != recordMagic {
		return Record{}, fmt.Errorf("record: bad magic: %w", errs.ErrCorrupt)
	}
	r := Record{
		Rows:     binary.LittleEndian.Uint32(b[4:]),
		FirstRow: binary.LittleEndian.Uint64(b[8:]),
		FirstID:  binary.LittleEndian.Uint64(b[16:]),
		Synced:   binary.LittleEndian.Uint64(b[24:]),
		Index:    binary.LittleEndian.Uint64(b[32:]),
		Sum:      binary.LittleEndian.Uint64(b[sumAt:]),
	}
	if version >= 3 {
		r.BlobOff = binary.LittleEndian.Uint64(b[40:])
		r.BlobLen = binary.LittleEndian.Uint64(b[48:])
		if r.BlobOff > maxBlobEnd || r.BlobLen > maxBlobEnd-r.BlobOff {
			return Record{}, fmt.Errorf("record: blob at %d of %d bytes out of range: %w", r.BlobOff, r.BlobLen, errs.ErrCorrupt)
		}
	}
	if r.Rows == 0 {
		return Record{}, fmt.Errorf("record: empty batch: %w", errs.ErrCorrupt)
	}
	if r.FirstID+uint64(r.Rows) < r.FirstID {
		return Record{}, fmt.Errorf("record: ID range overflows: %w", errs.ErrCorrupt)
	}
	return r, nil
}

// maxBlobEnd bounds the end of the blob area (and of the sealed tables
// after it) so that offsets never overflow an int64.
const maxBlobEnd = 1 << 60

// recordSum is the checksum a record carries: it binds the file's salt, the
// record's fields (covered: all bytes before the checksum) and parts, the
// batch's bytes in the file's order: its rows, norms, codes and metas
// (version 4; empty before) and blob (version 3; empty before). The
// lengths of the parts follow from the record and the layout, so their
// concatenation is unambiguous.
func recordSum(salt uint64, covered []byte, parts ...[]byte) uint64 {
	d := xxhash.New()
	var s [8]byte
	binary.LittleEndian.PutUint64(s[:], salt)
	d.Write(s[:])
	d.Write(covered)
	for _, p := range parts {
		d.Write(p)
	}
	return d.Sum64()
}

func isZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
