package segment

import (
	"encoding/binary"
	"fmt"

	"github.com/cespare/xxhash/v2"
	"github.com/memvec/memvec/internal/errs"
)

// The parts of a sum table (format version 5). The table is cut into
// parts of sumPart bytes (one page, or more for a table of over
// maxSumParts pages), and the xxhash64 of each part is listed in the
// header page at sumPartsOff, which Open has read anyway. The manifest's
// checksum of the segment is that of the row count and this list
// (sealSum), so the list authenticates each part and each part its
// entries: the first read of a row of a cold segment reads one page of
// the table, not the whole table (about 200 KB for a segment of 64 MiB),
// and a search that reads rows of hundreds of cold segments reads as
// many pages. Like the table, the list is derived data, written at Seal
// with the trailer: when it does not match the manifest, or a part does
// not match it, the whole table is checked instead, and then recomputed
// from the rows (sums.go).

const (
	// sumPartsOff is where the list of part checksums starts in the
	// header page, after the seal trailer of version 5 (128 to 240).
	sumPartsOff = 256
	// maxSumParts is the most entries the list holds: the rest of the
	// header page.
	maxSumParts = (HeaderSize - sumPartsOff) / 8
	// sumPageSize is the unit of a part: a part is a whole number of
	// them.
	sumPageSize = 4096
)

// sumPart returns the size in bytes of the parts of a sum table of tabLen
// bytes: one page, or as many pages as keep the parts to maxSumParts.
func sumPart(tabLen uint64) uint64 {
	pages := (tabLen + sumPageSize - 1) / sumPageSize
	return sumPageSize * max(1, (pages+maxSumParts-1)/maxSumParts)
}

// sumParts returns the number of parts of a sum table of tabLen bytes.
func sumParts(tabLen uint64) uint64 {
	p := sumPart(tabLen)
	return (tabLen + p - 1) / p
}

// partList returns the list of part checksums of table tab, encoded as it
// lies in the header page: one little-endian xxhash64 per part.
func partList(tab []byte) []byte {
	p := sumPart(uint64(len(tab)))
	out := make([]byte, 0, sumParts(uint64(len(tab)))*8)
	for off := uint64(0); off < uint64(len(tab)); off += p {
		out = binary.LittleEndian.AppendUint64(out, xxhash.Sum64(tab[off:min(off+p, uint64(len(tab)))]))
	}
	return out
}

// sealSum is the manifest's checksum of a version 5 segment of rows rows
// with sum table tab: the xxhash64 of the row count (8 bytes) then the
// list of its parts' checksums (partList).
func sealSum(rows uint64, tab []byte) uint64 { return listSum(rows, partList(tab)) }

// listSum is sealSum given the encoded part list.
func listSum(rows uint64, list []byte) uint64 {
	var d xxhash.Digest
	d.Reset()
	var n [8]byte
	binary.LittleEndian.PutUint64(n[:], rows)
	d.Write(n[:])
	d.Write(list)
	return d.Sum64()
}

// checkPart makes sure the part of c's table holding entry i (row i, or
// code block i-rows) has matched its checksum in the authenticated list,
// once. A part that does not match means a damaged table: the whole
// table is then recomputed from the rows (c.fix), and the checks pass or
// fail as that says.
func (s *Segment) checkPart(c *checks, i uint64) error {
	if c.list == nil {
		return nil // the table matched as a whole
	}
	p := i * 8 / c.part
	w, bit := &c.parts[p/64], uint64(1)<<(p%64)
	if w.Load()&bit != 0 {
		return nil
	}
	off, end := p*c.part, min((p+1)*c.part, uint64(len(c.tab)))
	if c.part > sumPageSize {
		adviseTable(c.m, int64(s.trailer.sumOff+off), int64(s.trailer.sumOff+end))
	}
	if xxhash.Sum64(c.tab[off:end]) == binary.LittleEndian.Uint64(c.list[p*8:]) {
		w.Or(bit)
		return nil
	}
	c.fix.Do(func() {
		seal := s.seal.Load()
		c.tabErr = fmt.Errorf("segment %s: offset %d: sum table part %d fails its checksum: %w: %w", s.path, s.trailer.sumOff+off, p, ErrTables, errs.ErrCorrupt)
		if sealSum(seal.Rows, s.sumTable(seal.Rows, true)) != seal.Checksum {
			c.fixErr = fmt.Errorf("segment %s: offset %d: rows 0..%d fail the sealed checksum (its sum table is damaged too): %w", s.path, HeaderSize, seal.Rows, errs.ErrCorrupt)
			return
		}
		c.fixed.Store(true)
	})
	return c.fixErr
}

// keepSumList keeps the list of part checksums of a segment of format 5
// sealed with rows rows from its header page, read by Open: a few hundred
// bytes, so that the first check of a row reads no page but its table's
// and its own.
func (s *Segment) keepSumList(page []byte, rows uint64) {
	if s.hdr.Version < 5 {
		return
	}
	if n := sumParts(s.lay.sumTabLen(rows)); sumPartsOff+8*n <= uint64(len(page)) {
		s.sumList = append([]byte(nil), page[sumPartsOff:sumPartsOff+8*n]...)
	}
}
