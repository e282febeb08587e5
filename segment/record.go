package segment

import (
	"encoding/binary"
	"fmt"

	"github.com/cespare/xxhash/v2"
	"github.com/memvec/memvec/internal/errs"
)

const (
	recordSize  = 48
	recordMagic = 0x5442564d // "MVBT" little-endian
)

// Record is one batch commit record: it makes rows [FirstRow, FirstRow+Rows)
// visible, with IDs starting at FirstID.
type Record struct {
	Rows     uint32
	FirstRow uint64
	FirstID  uint64
	Synced   uint64
	Index    uint64
	Sum      uint64
}

// encode writes r (with r.Sum already computed) into b[:recordSize].
func (r Record) encode(b []byte) {
	binary.LittleEndian.PutUint32(b[0:], recordMagic)
	binary.LittleEndian.PutUint32(b[4:], r.Rows)
	binary.LittleEndian.PutUint64(b[8:], r.FirstRow)
	binary.LittleEndian.PutUint64(b[16:], r.FirstID)
	binary.LittleEndian.PutUint64(b[24:], r.Synced)
	binary.LittleEndian.PutUint64(b[32:], r.Index)
	binary.LittleEndian.PutUint64(b[40:], r.Sum)
}

// DecodeRecord parses the structure of one batch record. It does not check
// the checksum, which covers row data the record does not hold; see
// Segment.checkRecord.
func DecodeRecord(b []byte) (Record, error) {
	if len(b) < recordSize {
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
		Sum:      binary.LittleEndian.Uint64(b[40:]),
	}
	if r.Rows == 0 {
		return Record{}, fmt.Errorf("record: empty batch: %w", errs.ErrCorrupt)
	}
	if r.FirstID+uint64(r.Rows) < r.FirstID {
		return Record{}, fmt.Errorf("record: ID range overflows: %w", errs.ErrCorrupt)
	}
	return r, nil
}

// recordSum is the checksum a record carries: it binds the record's fields,
// the file's salt and the bytes of the batch's rows and norms.
func recordSum(salt uint64, head []byte, vecs, norms []byte) uint64 {
	d := xxhash.New()
	var s [8]byte
	binary.LittleEndian.PutUint64(s[:], salt)
	d.Write(s[:])
	d.Write(head[:40])
	d.Write(vecs)
	d.Write(norms)
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
